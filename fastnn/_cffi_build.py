"""cffi builder for fastnn._cfastnn, the C backend's extension module.

setup.py points ``cffi_modules`` here. The cdef is read from the block between
``CDEF-BEGIN`` and ``CDEF-END`` in csrc/fastnn.h, so the ABI is declared once.

Flags: -O3 -fopenmp and -fno-math-errno (lets sqrt compile to one instruction and
vectorise; results are unchanged). Never -ffast-math, -Ofast or -march=native:
ISA-specific code is compiled per function and chosen at run time (csrc/runtime.c).
"""
from __future__ import annotations

import glob
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(HERE), "csrc")

COMPILE_ARGS = ["-O3", "-std=gnu11", "-fopenmp", "-fno-math-errno", "-fno-semantic-interposition"]
LINK_ARGS = ["-fopenmp"]


def read_cdef(header: str) -> str:
    text = open(header, encoding="utf-8").read()
    match = re.search(r"/\* CDEF-BEGIN \*/(.*)/\* CDEF-END \*/", text, re.S)
    if match is None:
        raise RuntimeError(f"{header}: missing the CDEF-BEGIN/CDEF-END block")
    return match.group(1)


ffibuilder = FFI()
ffibuilder.cdef(read_cdef(os.path.join(CSRC, "fastnn.h")))
ffibuilder.set_source(
    "fastnn._cfastnn",
    '#include "fastnn.h"',
    # relative paths: setuptools wants sources relative to setup.py
    sources=sorted(os.path.relpath(p, os.path.dirname(CSRC)) for p in glob.glob(os.path.join(CSRC, "*.c"))),
    include_dirs=[os.path.relpath(CSRC, os.path.dirname(CSRC))],
    # headers hold templates (gemm_engine.h, simd_math.h...): a change must rebuild
    depends=sorted(os.path.relpath(p, os.path.dirname(CSRC)) for p in glob.glob(os.path.join(CSRC, "*.h"))),
    extra_compile_args=COMPILE_ARGS,
    extra_link_args=LINK_ARGS,
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
