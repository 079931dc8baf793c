# setup.py exists only to hand cffi_modules to setuptools (cffi's documented hook);
# all metadata lives in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["fastnn/_cffi_build.py:ffibuilder"])
