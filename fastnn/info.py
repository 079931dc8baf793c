"""``fastnn info``: what this installation runs on.

Prints the version, the backends available and the default, the ISA path the C
kernels chose, threads, the BLAS/OpenMP runtimes loaded in the process
(threadpoolctl), and numba's version and threading layer.
"""
from __future__ import annotations

import argparse
import json
import platform
from typing import Any, Dict

from . import __version__, backends
from .threads import get_num_threads


def collect() -> Dict[str, Any]:
    """Everything ``fastnn info`` reports, as a dict."""
    info: Dict[str, Any] = {
        "fastnn": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "backends": backends.available(),
        "default_backend": backends.current(),
        "unavailable": backends.unavailable(),
        "threads": get_num_threads(),
    }
    import numpy

    info["numpy"] = numpy.__version__
    if "c" in info["backends"]:
        c = backends.get("c")
        info["c_isa"] = c.isa_name()
        info["cpu_avx2_fma"] = c.cpu_has_avx2_fma()
        info["cpu_avx512f"] = c.cpu_has_avx512f()
        info["c_zmm_divide"] = c.get_zmm_divide()
        info["c_in_place_reuse"] = c.get_in_place_reuse()
        omp = c.openmp_version()
        info["openmp"] = omp if omp else "none (this build of the C backend is single-threaded)"
    if "numba" in info["backends"]:
        import numba

        info["numba"] = numba.__version__
        try:
            info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel function has run yet: the layer is chosen lazily
            info["numba_threading_layer"] = f"not chosen yet (configured: {numba.config.THREADING_LAYER})"
        # the threads fastnn's Numba kernels run on (they follow fastnn's knob); numba.get_num_threads()
        # is Numba's own default, and calling it starts Numba's threading layer, which this report
        # (and the fork guard in fastnn.threads) would then see as chosen and running
        info["numba_threads"] = backends.get("numba").get_num_threads()
    try:
        from threadpoolctl import threadpool_info

        info["runtimes"] = [
            {k: d.get(k) for k in ("user_api", "internal_api", "prefix", "version", "num_threads", "filepath")}
            for d in threadpool_info()
        ]
    except ImportError:
        info["runtimes"] = "threadpoolctl not installed"
    return info


def _runtime(rt: Dict[str, Any]) -> str:
    """A runtime as "openblas 0.3.30 (blas)" or "libgomp, version not reported (openmp)": threadpoolctl
    names an OpenMP runtime by its API alone ("openmp") and cannot read libgomp's version (None)."""
    name = rt["internal_api"]
    if name == rt["user_api"] and rt.get("prefix"):
        name = rt["prefix"]
    version = f" {rt['version']}" if rt["version"] else ", version not reported"
    return f"{name}{version} ({rt['user_api']})"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if key == "runtimes" and isinstance(value, list):
            print(f"{key:<{width}}  {len(value)} loaded")
            for rt in value:
                print(f"{'':<{width}}    {_runtime(rt)}, {rt['num_threads']} threads: {rt['filepath']}")
        elif key == "unavailable":
            for name, why in value.items():
                print(f"{'unavailable':<{width}}  {name}: {why}")
        else:
            print(f"{key:<{width}}  {value}")
    return 0
