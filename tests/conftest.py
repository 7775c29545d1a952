"""One ``xp`` fixture over every installed backend; array-api-strict is the conformance backend."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jnp


def _torch():
    torch = pytest.importorskip("torch")
    return torch


def _strict():
    return pytest.importorskip("array_api_strict")


def _cupy():
    cupy = pytest.importorskip("cupy")
    try:
        if not cupy.cuda.is_available():
            pytest.skip("cupy installed but no CUDA device")
    except Exception as exc:  # CUDARuntimeError without a driver
        pytest.skip(f"cupy has no usable CUDA device: {exc}")
    return cupy


BACKENDS = {"numpy": lambda: np, "strict": _strict, "torch-cpu": _torch, "jax-cpu": _jax, "cupy": _cupy}


@pytest.fixture(params=list(BACKENDS))
def xp(request):
    """The array module (not the compat namespace): tests build inputs as a user would."""
    return BACKENDS[request.param]()


@pytest.fixture(params=["numpy", "strict"])
def xp_core(request):
    """The backends on which the full accuracy sweeps run (pure core, no autodiff glue)."""
    return BACKENDS[request.param]()


def to_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    if hasattr(x, "get"):  # cupy
        return x.get()
    return np.asarray(x)


def spd(n, cond, *, batch=(), seed=0, dtype=np.float64):
    """``A = Q diag(w) Q^T`` with w log-spaced from 1 to 1/cond; returns (A, A^{1/2}, A^{-1/2}) in float64."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    w = np.logspace(0.0, -math.log10(cond), n) if n > 1 else np.ones(1)
    a = (q * w) @ np.swapaxes(q, -1, -2)
    a = (a + np.swapaxes(a, -1, -2)) / 2
    root = (q * np.sqrt(w)) @ np.swapaxes(q, -1, -2)
    inv_root = (q / np.sqrt(w)) @ np.swapaxes(q, -1, -2)
    return a.astype(dtype), root, inv_root


def rel_err(x, ref):
    x = to_numpy(x).astype(np.float64)
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


# The GPU check (`python -m matfunc.bench --gpu`) runs tests/test_torch.py with this set to "cuda": tensors the
# tests create land on the GPU. Unset (CI, every CPU run) nothing changes.
if os.environ.get("MATFUNC_TEST_TORCH_DEVICE"):
    import torch

    torch.set_default_device(os.environ["MATFUNC_TEST_TORCH_DEVICE"])
