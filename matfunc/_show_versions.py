"""``matfunc.show_versions()``: the environment report to paste into a bug report.

Like ``sklearn.show_versions()`` and ``numpy.show_config()``: matfunc's version, Python, the platform, and the
version and state of every backend matfunc can use. A backend is imported only when it is installed
(:func:`importlib.util.find_spec` finds it); versions come from the installed distributions' metadata; every probe
of a backend's state is guarded, so a broken install (e.g. CuPy without a CUDA driver, whose array operations
raise) is reported, never raised.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import platform
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["show_versions"]

# Environment variables that change what matfunc's backends do (threads, devices, precision).
ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "JAX_PLATFORMS",
    "JAX_ENABLE_X64",
    "JAX_DEFAULT_MATMUL_PRECISION",
    "XLA_FLAGS",
    "NVIDIA_TF32_OVERRIDE",
    "CUPY_TF32",
)


_import = importlib.import_module  # one name for the tests to watch


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (a parent package is imported by
    find_spec only for dotted names, which are not asked here)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent, or a module whose __spec__ is None
        return False


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _guard(probe: Callable[[], Any]) -> Any:
    """The probe's value, or ``"error: <type>: <message>"`` when it raises (warnings of the probe are silenced:
    a report must not fail under ``-W error``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return probe()
    except Exception as exc:  # any failure of a backend is part of the report
        return f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def _numpy(np: Any) -> dict[str, Any]:
    return {"version": np.__version__}


def _scipy(scipy: Any) -> dict[str, Any]:
    return {"version": scipy.__version__}


def _torch(torch: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"version": torch.__version__}
    info["threads"] = _guard(torch.get_num_threads)
    info["float32 matmul precision"] = _guard(torch.get_float32_matmul_precision)
    info["cuda built"] = _guard(lambda: torch.version.cuda)
    cuda = _guard(torch.cuda.is_available)
    info["cuda available"] = cuda
    if cuda is True:
        info["cuda devices"] = _guard(lambda: [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    info["mps available"] = _guard(mps.is_available) if mps is not None else False
    return info


def _jax(jax: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"version": jax.__version__, "jaxlib": _dist_version("jaxlib")}
    info["default backend"] = _guard(jax.default_backend)
    info["devices"] = _guard(lambda: [str(d) for d in jax.devices()])
    info["x64 enabled"] = _guard(lambda: bool(jax.config.jax_enable_x64))
    info["default matmul precision"] = _guard(lambda: jax.config.jax_default_matmul_precision)
    return info


def _cupy(cupy: Any) -> dict[str, Any]:
    # Importing CuPy works without a GPU, but array operations then raise: probe the runtime, never an array.
    info: dict[str, Any] = {"version": getattr(cupy, "__version__", None)}
    info["cuda runtime"] = _guard(lambda: cupy.cuda.runtime.runtimeGetVersion())
    available = _guard(cupy.cuda.is_available)
    info["cuda available"] = available
    if available is True:
        info["devices"] = _guard(
            lambda: [
                cupy.cuda.runtime.getDeviceProperties(i)["name"].decode()
                for i in range(cupy.cuda.runtime.getDeviceCount())
            ]
        )
    return info


def _version_only(module: Any) -> dict[str, Any]:
    return {"version": getattr(module, "__version__", None)}


# module name -> (distribution name, probe of the imported module)
BACKENDS: dict[str, tuple[str, Callable[[Any], dict[str, Any]]]] = {
    "numpy": ("numpy", _numpy),
    "scipy": ("scipy", _scipy),
    "torch": ("torch", _torch),
    "jax": ("jax", _jax),
    "cupy": ("cupy", _cupy),  # the distribution is cupy-cuda12x, cupy-cuda13x, ...: read from the module
    "dask": ("dask", _version_only),
    "distributed": ("distributed", _version_only),
    "array_api_compat": ("array-api-compat", _version_only),
    "array_api_strict": ("array-api-strict", _version_only),
    "threadpoolctl": ("threadpoolctl", _version_only),
}


def _backend(module: str) -> dict[str, Any]:
    dist, probe = BACKENDS[module]
    if not _installed(module):
        return {"version": None, "state": "not installed"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = _import(module)
    except Exception as exc:  # installed but cannot be imported: say so
        return {"version": _dist_version(dist), "state": f"import failed: {type(exc).__name__}: {exc}"}
    info = _guard(lambda: probe(mod))
    if isinstance(info, str):  # the probe itself failed
        return {"version": _dist_version(dist), "state": info}
    if info.get("version") is None:
        info["version"] = _dist_version(dist)
    return info


def _threadpools() -> Any:
    """threadpoolctl's view of the native thread pools loaded now (BLAS, OpenMP) and matfunc's own setting."""
    if not _installed("threadpoolctl"):
        return "threadpoolctl not installed"
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "architecture", "filepath")
    return _guard(lambda: [{k: pool[k] for k in keys if pool.get(k) is not None} for pool in threadpool_info()])


def _matfunc_threads() -> Any:
    from . import _threads

    return _guard(lambda: {"blas threads": _threads.blas_threads(), "thread split up to n": _threads.MAX_N})


def _collect() -> dict[str, Any]:
    import matfunc

    return {
        "matfunc": {"version": matfunc.__version__, "path": os.path.dirname(os.path.abspath(matfunc.__file__))},
        "system": {
            "python": sys.version.replace("\n", " "),
            "executable": sys.executable,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "backends": {module: _backend(module) for module in BACKENDS},
        "threadpools": _threadpools(),
        "matfunc threads": _matfunc_threads(),
        "environment": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
    }


def _format(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "none"
    return str(value)


def _render(info: dict[str, Any]) -> str:
    lines = [f"matfunc {info['matfunc']['version']} ({info['matfunc']['path']})", "", "System:"]
    width = max(map(len, info["system"]))
    lines += [f"  {k:>{width}}: {v}" for k, v in info["system"].items()]
    lines += ["", "Backends:"]
    width = max(map(len, info["backends"]))
    for name, entry in info["backends"].items():
        extra = "; ".join(f"{k} {_format(v)}" for k, v in entry.items() if k not in ("version", "state"))
        state = entry.get("state")
        text = " ".join(s for s in (entry["version"] or "", f"({state})" if state else "") if s)
        lines.append(f"  {name:>{width}}: {text}" + (f"; {extra}" if extra else ""))
    lines += ["", "Thread pools (threadpoolctl):"]
    pools = info["threadpools"]
    if isinstance(pools, str):
        lines.append(f"  {pools}")
    else:
        for pool in pools:
            head = f"{pool.get('internal_api', '?')} {pool.get('version', '')}".strip()
            rest = "; ".join(f"{k} {v}" for k, v in pool.items() if k not in ("internal_api", "version"))
            lines.append(f"  {head}: {rest}")
        if not pools:
            lines.append("  none loaded")
    mt = info["matfunc threads"]
    lines += [
        "",
        "matfunc CPU threads: " + ("; ".join(f"{k} {v}" for k, v in mt.items()) if isinstance(mt, dict) else mt),
    ]
    env = info["environment"]
    lines += [
        "",
        "Environment: "
        + (", ".join(f"{k}={v}" for k, v in env.items()) if env else "none of " + ", ".join(ENV_VARS) + " set"),
    ]
    return "\n".join(lines)


def show_versions(*, as_dict: bool = False) -> dict[str, Any] | None:
    """Print (or return) matfunc's version, Python, the platform and every backend's version and state.

    Paste its output into a bug report. A backend that is not installed is reported as such and never imported;
    an installed one is imported and asked for its state (PyTorch: threads, float32 matmul precision, CUDA and
    MPS availability; JAX: devices, x64 flag and default matmul precision; CuPy: CUDA runtime and device
    availability, without touching an array). The native thread pools (BLAS, OpenMP) come from
    ``threadpoolctl``.

    Parameters
    ----------
    as_dict : bool, default False
        Return the report as a nested ``dict`` instead of printing it.

    Returns
    -------
    dict or None
        With ``as_dict=True``: keys ``"matfunc"``, ``"system"``, ``"backends"`` (module name -> ``{"version":
        ..., ...}``, version ``None`` when not installed), ``"threadpools"``, ``"matfunc threads"`` and
        ``"environment"`` (those set of the variables that change the backends' threads, devices and precision:
        ``OMP_NUM_THREADS``, ``JAX_PLATFORMS``, ``XLA_FLAGS``, ``CUDA_VISIBLE_DEVICES``, ...). Otherwise ``None``.

    Examples
    --------
    >>> import matfunc
    >>> info = matfunc.show_versions(as_dict=True)
    >>> info["matfunc"]["version"] == matfunc.__version__
    True
    >>> import numpy as np
    >>> info["backends"]["numpy"]["version"] == np.__version__
    True
    >>> matfunc.show_versions()  # doctest: +ELLIPSIS
    matfunc ...
    System:
    ...
    Backends:
    ...numpy: ...
    """
    info = _collect()
    if as_dict:
        return info
    print(_render(info))
    return None
