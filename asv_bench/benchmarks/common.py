"""Shared helpers of the asv suite (the pattern of SciPy's ``benchmarks/benchmarks/common.py``).

Benchmarks take a ``backend`` parameter written ``name:device`` (``numpy:cpu``, ``torch:cuda`` ...). A
backend that is not installed, a device that is absent, or a size too large for the device makes ``setup``
raise ``NotImplementedError``, which asv reports as skipped (``SkipNotImplemented``). Inputs are built,
functions jitted and warmed up in ``setup``; the timed bodies synchronise GPU work.

Backends, functions under test and inputs come from :mod:`matfunc.bench`, so the asv suite and the
``python -m matfunc.bench`` report measure the same code.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

try:
    from matfunc import bench as _bench
except ImportError:  # an old commit without matfunc.bench: every benchmark is skipped
    _bench = None

ALL_BACKENDS = ["numpy:cpu", "torch:cpu", "torch:cuda", "jax:cpu", "jax:gpu", "cupy:cuda"]


def _present(spec: str) -> bool:
    # Decided without importing the frameworks (asv imports this module in every benchmark process):
    # installed packages, and an NVIDIA driver for the GPU entries. setup() still skips what fails.
    name, _, device = spec.partition(":")
    if importlib.util.find_spec(name) is None:
        return False
    return device == "cpu" or shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidiactl")


# Absent backends are left out of the parameter grid (each skipped combination costs asv a process);
# MATFUNC_BENCH_BACKENDS="numpy:cpu,torch:cpu" picks a subset.
BACKENDS = [b for b in os.environ.get("MATFUNC_BENCH_BACKENDS", ",".join(ALL_BACKENDS)).split(",") if b and _present(b)]
DTYPES = ["float32", "float64"]
SIZES = [16, 32, 64, 128, 256, 1024]
BATCHES = [1, 256]

_BACKENDS: dict = {}

# Import the installed frameworks once, here: with asv's forkserver launch method (asv.conf.json) every
# benchmark process is forked from one that has them loaded, instead of importing them again. Importing
# does not start JAX's runtime or torch's thread pools, so forking stays safe.
for _spec in BACKENDS:
    try:
        __import__(_spec.partition(":")[0])
    except Exception:  # a broken install: setup() reports it as a skip
        pass


class Benchmark:
    """Base class: asv options shared by the suite."""

    timeout = 600
    warmup_time = 0.1


def get_backend(spec: str):
    """The :class:`matfunc.bench.Backend` for ``name:device``, or NotImplementedError (asv: skipped)."""
    if _bench is None:
        raise NotImplementedError("matfunc.bench is not available in this version")
    if spec not in _BACKENDS:
        try:
            _BACKENDS[spec] = _bench.make_backend(spec)
        except Exception as exc:  # not installed, or no such device
            _BACKENDS[spec] = exc
    be = _BACKENDS[spec]
    if isinstance(be, Exception):
        raise NotImplementedError(f"{spec}: {be}")
    return be


def check_size(spec: str, n: int, batch: int) -> None:
    """Skip sizes that take too long on the device (``batch * n^3`` above matfunc.bench.MAX_WORK); called
    before the backend is imported, so a skipped size costs no framework import."""
    if _bench is None:
        raise NotImplementedError("matfunc.bench is not available in this version")
    on_gpu = not spec.endswith(":cpu")
    limit = float(os.environ.get("MATFUNC_BENCH_MAX_WORK", _bench.MAX_WORK["gpu" if on_gpu else "cpu"]))
    if batch * n**3 > limit:
        raise NotImplementedError(f"batch {batch} of {n}x{n} is too large for {spec}")


def get_method(label: str):
    if _bench is None:
        raise NotImplementedError("matfunc.bench is not available in this version")
    try:
        return next(m for m in _bench.METHODS if m.label == label)
    except StopIteration:
        raise NotImplementedError(f"no method {label!r} in this version") from None


def inputs(be, n: int, batch: int, dtype: str, cond: float = 1e2):
    """``(x, g)``: an SPD batch of condition ``cond`` and a symmetric cotangent, on the backend."""
    a, _, _ = _bench.spd_batch(n, batch, cond)
    return be.to(a.astype(dtype)), be.to(_bench.sym_cotangent(n, batch).astype(dtype))


def block(be, out) -> None:
    """Wait for asynchronous work (JAX dispatch, CUDA streams)."""
    _bench.wait(out)
    be.sync()


def to_numpy_or_torch(backend: str, a):
    """``a`` (NumPy) as an array of ``backend`` (``numpy:cpu``, ``torch:cpu``, ``torch:cuda``) without the bench's
    Backend objects; NotImplementedError (asv: skipped) where it is missing."""
    name, _, device = backend.partition(":")
    if name == "numpy":
        return a
    try:
        import torch
    except ImportError:
        raise NotImplementedError(backend) from None
    if device == "cuda" and not torch.cuda.is_available():
        raise NotImplementedError(backend)
    return torch.tensor(a, device=device)


def wait_cuda(x) -> None:
    """Wait for the CUDA work behind a torch tensor ``x`` (a no-op elsewhere)."""
    if hasattr(x, "device") and getattr(x.device, "type", "") == "cuda":
        import torch

        torch.cuda.synchronize()
