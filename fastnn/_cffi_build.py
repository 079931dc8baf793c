"""cffi builder for fastnn._cfastnn, the C backend's extension module.

setup.py points ``cffi_modules`` here. The cdef is read from the block between
``CDEF-BEGIN`` and ``CDEF-END`` in csrc/fastnn.h, so the ABI is declared once.

Flags: -O3 -fopenmp and -fno-math-errno (lets sqrt compile to one instruction and
vectorise; results are unchanged). Never the unsafe-math, O-fast or native-CPU options
(tests/test_portable_build.py checks): ISA-specific code is compiled per function and
chosen at run time (csrc/runtime.c).

Portability: x86 SIMD code is compiled only on x86-64 (csrc/internal.h, FNN_X86);
a compiler without OpenMP (Apple's clang) builds a single-threaded extension with a
warning instead of failing. Environment knobs for the build:
FASTNN_PORTABLE_BUILD=1 compiles only the portable C (as on other CPUs) and
FASTNN_NO_OPENMP=1 leaves OpenMP out; both exist so CI can test those builds here.
"""
from __future__ import annotations

import glob
import os
import re
import tempfile
import warnings

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(HERE), "csrc")

BASE_ARGS = ["-O3", "-std=gnu11", "-fno-math-errno", "-fno-semantic-interposition"]
_OMP_PROBE = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def openmp_flags() -> list:
    """["-fopenmp"] when the C compiler builds and links an OpenMP program, else []."""
    if _env_flag("FASTNN_NO_OPENMP"):
        return []
    try:
        from setuptools._distutils.ccompiler import new_compiler
        from setuptools._distutils.sysconfig import customize_compiler
    except ImportError:  # no way to probe: assume the usual gcc/clang with OpenMP
        return ["-fopenmp"]
    cc = new_compiler()
    customize_compiler(cc)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_probe.c")
        with open(src, "w", encoding="utf-8") as f:
            f.write(_OMP_PROBE)
        try:
            objs = cc.compile([src], output_dir=tmp, extra_preargs=["-fopenmp"])
            cc.link_executable(objs, os.path.join(tmp, "omp_probe"), extra_preargs=["-fopenmp"])
        except Exception as exc:  # CompileError, LinkError, a missing compiler driver...
            warnings.warn(f"fastnn: the C compiler cannot build OpenMP code ({type(exc).__name__}); "
                          "the C backend is built single-threaded", stacklevel=1)
            return []
    return ["-fopenmp"]


OPENMP = openmp_flags()
COMPILE_ARGS = (BASE_ARGS + (OPENMP or ["-Wno-unknown-pragmas"])  # the pragmas are inert without OpenMP
                + (["-DFNN_PORTABLE_ONLY"] if _env_flag("FASTNN_PORTABLE_BUILD") else []))
LINK_ARGS = list(OPENMP)


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
    libraries=["m", "pthread"],  # pthread_atfork (runtime.c); part of libc on recent glibc
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
