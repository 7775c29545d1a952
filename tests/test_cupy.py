"""CuPy: the glue (GPU tests skip without a CUDA device) and the fidelity example (runs on NumPy too).

The generic tests of every other file already run on CuPy through the ``xp`` fixture when a GPU is
present; the tests here cover what is specific to the CuPy glue: device placement, the registered
Cholesky ``spd_solve``, ``method="auto"`` on the GPU, and the import without CUDA.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import BACKENDS, rel_err, spd

import matfunc

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import fidelity  # noqa: E402  (examples/fidelity.py)

EPS64 = np.finfo(np.float64).eps


@pytest.fixture
def cupy():
    return BACKENDS["cupy"]()  # skips without CuPy or without a CUDA device


# --- without a GPU -----------------------------------------------------------------------------------


def test_import_matfunc_does_not_import_cupy():
    code = "import sys, numpy, matfunc; matfunc.sqrtm(numpy.eye(3)); print('cupy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_glue_registers_spd_solve_for_cupy_namespace():
    # Importing the glue needs CuPy but no GPU; the primitive must be registered under the name of the
    # namespace array-api-compat hands to the core, or the core would silently fall back to LU.
    pytest.importorskip("cupy")
    compat_cupy = pytest.importorskip("array_api_compat.cupy")
    from matfunc.backends import cupy as glue
    from matfunc.core import primitives

    assert primitives._override(compat_cupy, "spd_solve") is glue._spd_solve
    assert glue.is_traced(object()) is False


# --- the fidelity example (NumPy; CuPy below) ---------------------------------------------------------


def _states(batch, n, seed):
    # Mixed with the maximally mixed state: eigenvalues >= 1/(2n), so the square roots are differentiable
    # and finite differences are accurate.
    return 0.5 * fidelity.random_density(batch, n, seed=seed) + 0.5 * np.eye(n) / n


def test_fidelity_value_against_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rho, sigma = _states(3, 6, 1), _states(3, 6, 2)
    ref = np.array(
        [
            np.trace(scipy_linalg.sqrtm(scipy_linalg.sqrtm(p) @ q @ scipy_linalg.sqrtm(p))).real ** 2
            for p, q in zip(rho, sigma, strict=True)
        ]
    )
    for method in ("eig", "newton-schulz"):
        f = fidelity.fidelity(rho, sigma, method)
        assert np.max(np.abs(f - ref)) <= 100 * EPS64 * 6  # F <= 1; a few ulps per product of n terms
    np.testing.assert_allclose(fidelity.fidelity(rho, rho), 1.0, rtol=100 * EPS64 * 6)


@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_fidelity_gradient_finite_differences(method):
    rho, sigma = _states(2, 5, 3), _states(2, 5, 4)
    f, g_rho, g_sigma = fidelity.fidelity_and_grad(rho, sigma, method)
    np.testing.assert_allclose(f, fidelity.fidelity(rho, sigma, method), rtol=10 * EPS64)
    rng = np.random.default_rng(5)
    h = EPS64 ** (1 / 3)  # central differences: error ~ h^2 F''' + eps / h, balanced at eps^(1/3)
    for k, grad in ((0, g_rho), (1, g_sigma)):
        d = rng.standard_normal(rho.shape)
        d = (d + np.swapaxes(d, -1, -2)) / 2
        args_p = [rho, sigma]
        args_m = [rho, sigma]
        args_p[k] = args_p[k] + h * d
        args_m[k] = args_m[k] - h * d
        fd = (fidelity.fidelity(*args_p, method) - fidelity.fidelity(*args_m, method)) / (2 * h)
        an = np.sum(grad * d, axis=(-2, -1))
        # eps^(2/3) times the scale of the derivatives (eigenvalues >= 1/(2n) bound them by a few n^k)
        assert np.max(np.abs(fd - an)) <= 100 * EPS64 ** (2 / 3) * (1 + np.max(np.abs(an)))


# --- on the GPU ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["eig", "taylor", "pade", "newton-schulz", "auto"])
@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_cupy_matches_numpy_on_device(cupy, method, inverse):
    a, _, _ = spd(16, 100.0, batch=(4,), seed=6)
    fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
    x = cupy.asarray(a)
    y = fn(x, method)
    assert isinstance(y, cupy.ndarray) and y.device == x.device and y.dtype == x.dtype
    ref_method = "newton-schulz" if method == "auto" else method  # auto on a GPU: Newton-Schulz
    assert rel_err(y, fn(a, ref_method)) <= 100 * EPS64 * np.linalg.cond(a).max()


def test_cupy_spd_solve_batched(cupy):
    from matfunc.backends import cupy as glue

    a, _, _ = spd(12, 1e3, batch=(3, 2), seed=7)
    b = np.random.default_rng(8).standard_normal((2, 12, 5))  # broadcast against a's batch
    x = glue._spd_solve(cupy.asarray(a), cupy.asarray(b))
    assert isinstance(x, cupy.ndarray) and x.shape == (3, 2, 12, 5)
    assert rel_err(x, np.linalg.solve(a, np.broadcast_to(b, (3, 2, 12, 5)))) <= 100 * EPS64 * 1e3


@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_cupy_vjp_and_lyapunov(cupy, inverse):
    a, _, _ = spd(10, 30.0, batch=(3,), seed=9)
    g = np.random.default_rng(10).standard_normal(a.shape)
    fn = matfunc.inv_sqrtm_vjp if inverse else matfunc.sqrtm_vjp
    for method in ("eig", "newton-schulz"):
        y, vjp = fn(cupy.asarray(a), method)
        da = vjp(cupy.asarray(g))
        assert isinstance(da, cupy.ndarray)
        tol = 1e3 * EPS64 * np.linalg.cond(a).max() ** 2
        assert rel_err(da, fn(a, method)[1](g)) <= tol
    x = matfunc.solve_lyapunov(cupy.asarray(a), cupy.asarray(g))
    assert rel_err(x, matfunc.solve_lyapunov(a, g)) <= 100 * EPS64 * np.linalg.cond(a).max()


def test_cupy_fidelity_matches_numpy(cupy):
    rho, sigma = _states(4, 8, 11), _states(4, 8, 12)
    f, g_rho, g_sigma = fidelity.fidelity_and_grad(rho, sigma, "eig")
    f_gpu, g_rho_gpu, g_sigma_gpu = fidelity.fidelity_and_grad(cupy.asarray(rho), cupy.asarray(sigma))
    assert rel_err(f_gpu, f) <= 100 * EPS64 * 8
    assert rel_err(g_rho_gpu, g_rho) <= 1e3 * EPS64 * 8
    assert rel_err(g_sigma_gpu, g_sigma) <= 1e3 * EPS64 * 8
