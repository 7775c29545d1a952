"""Complex Hermitian input: every function, method and backend, against SciPy and the real case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg as sla
from conftest import to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import matfunc

EPS = {np.complex128: float(np.finfo(np.float64).eps), np.complex64: float(np.finfo(np.float32).eps)}
METHODS = ["eig", "newton-schulz", "pade", "taylor"]


def hpd(n, cond, *, batch=(), seed=0, dtype=np.complex128):
    """``A = U diag(w) U^H`` with ``U`` random unitary, ``w`` log-spaced from 1 to 1/cond; returns
    ``(A, A^{1/2}, A^{-1/2})``, the roots in complex128."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((*batch, n, n)) + 1j * rng.standard_normal((*batch, n, n)))
    w = np.logspace(0.0, -math.log10(cond), n)
    uh = np.conj(np.swapaxes(u, -1, -2))
    a = (u * w) @ uh
    a = (a + np.conj(np.swapaxes(a, -1, -2))) / 2
    return a.astype(dtype), (u * np.sqrt(w)) @ uh, (u / np.sqrt(w)) @ uh


def rel(x, ref):
    x = to_numpy(x).astype(np.complex128)
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


def _herm(x):
    return (x + np.conj(np.swapaxes(x, -1, -2))) / 2


# --- forward ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cond", [1e1, 1e4, 1e8])
@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_matches_scipy_complex128(xp, method, cond):
    """Exact methods: the accuracy of the real case (README table), against scipy.linalg.sqrtm."""
    a, _, _ = hpd(16, cond, batch=(3,), seed=1)
    ref = np.stack([sla.sqrtm(m) for m in a])
    y = matfunc.sqrtm(xp.asarray(a), method)
    assert rel(y, ref) <= 100 * EPS[np.complex128] * math.sqrt(cond) * 10
    w = matfunc.inv_sqrtm(xp.asarray(a), method)
    assert rel(w, np.linalg.inv(ref)) <= 100 * EPS[np.complex128] * cond * 10
    y = to_numpy(y)
    np.testing.assert_array_equal(y, np.conj(np.swapaxes(y, -1, -2)))  # Hermitian bit for bit
    np.testing.assert_allclose(y @ y, a, atol=100 * EPS[np.complex128] * 16)


@pytest.mark.parametrize("cond", [1e1, 1e3])
def test_complex64(xp, cond):
    a, root, inv_root = hpd(16, cond, batch=(2,), seed=2, dtype=np.complex64)
    eps = EPS[np.complex64]
    for method in ("eig", "newton-schulz"):
        y = matfunc.sqrtm(xp.asarray(a), method)
        assert to_numpy(y).dtype == np.complex64
        # torch/JAX compute a float32 eigh in float32 (NumPy in float64): error ~ eps cond for the inverse
        assert rel(y, root) <= 1000 * eps * math.sqrt(cond)
        assert rel(matfunc.inv_sqrtm(xp.asarray(a), method), inv_root) <= 1000 * eps * cond


@pytest.mark.parametrize("method", METHODS)
def test_real_and_complex_agree(method):
    """A real symmetric matrix given as complex: the same root (to rounding), imaginary part at rounding."""
    a, _, _ = hpd(8, 1e2, seed=3)
    a = a.real.copy()
    y_real = matfunc.sqrtm(a, method)
    y_cplx = matfunc.sqrtm(a.astype(np.complex128), method)
    np.testing.assert_allclose(y_cplx.real, y_real, atol=1e3 * EPS[np.complex128] * np.abs(y_real).max())
    assert np.abs(y_cplx.imag).max() <= 1e3 * EPS[np.complex128] * np.abs(y_real).max()


def test_polynomial_methods_have_the_real_accuracy():
    """Padé/Taylor are real rational functions of A: on Hermitian input their error is that of the real case."""
    a, root, _ = hpd(16, 1e2, seed=4)
    from conftest import spd

    ar, rr, _ = spd(16, 1e2, seed=4)
    for method in ("pade", "taylor"):
        assert rel(matfunc.sqrtm(a, method), root) == pytest.approx(
            rel(matfunc.sqrtm(ar, method), rr.astype(np.complex128)), rel=1e-3
        )


def test_hermitian_check():
    a, _, _ = hpd(4, 10.0)
    bad = a.copy()
    bad[1, 1] += 1e-3j  # a non-real diagonal
    with pytest.raises(ValueError, match="not Hermitian.*real diagonal"):
        matfunc.sqrtm(bad)
    bad = a.copy()
    bad[0, 1] += 1e-3  # a^H != a off the diagonal
    with pytest.raises(ValueError, match="not Hermitian"):
        matfunc.inv_sqrtm(bad)
    with pytest.raises(ValueError, match="indefinite"):
        matfunc.sqrtm(np.array([[1.0, 2j], [-2j, 1.0]]))  # eigenvalues 3, -1
    with pytest.raises(matfunc.SingularMatrixError):
        matfunc.inv_sqrtm(np.array([[1.0, 1j], [-1j, 1.0]]))  # eigenvalues 2, 0


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental:UserWarning")  # torch's own, on creation
def test_torch_complex32_is_computed_in_complex64():
    torch = pytest.importorskip("torch")
    a, root, _ = hpd(4, 10.0, dtype=np.complex64)
    t = torch.tensor(a).to(torch.complex32)
    try:
        y = matfunc.sqrtm(t, "newton-schulz")
    except RuntimeError as exc:  # torch builds without complex32 kernels for the casts
        pytest.skip(f"torch complex32 unsupported here: {exc}")
    assert y.dtype == torch.complex32
    assert rel(y.to(torch.complex64), root) <= 1e-2  # float16 halves: 3 significant digits


# --- solve_lyapunov ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sign", "eig"])
def test_solve_lyapunov_complex(xp, method):
    s, _, _ = hpd(10, 1e2, batch=(2,), seed=5)
    rng = np.random.default_rng(6)
    g = rng.standard_normal((2, 10, 10)) + 1j * rng.standard_normal((2, 10, 10))
    ref = np.stack([sla.solve_continuous_lyapunov(s[i], g[i]) for i in range(2)])
    x = matfunc.solve_lyapunov(xp.asarray(s), xp.asarray(g), method)
    assert rel(x, ref) <= 100 * EPS[np.complex128] * 1e2 * 10


# --- gradients ---------------------------------------------------------------------------------------------


def _fd_vjp(fn, a, g, e, h=1e-6):
    """<G, dF(A)[E]> as Re tr(G^H dF): the real inner product the VJP is the adjoint for."""
    d = (fn(a + h * e) - fn(a - h * e)) / (2 * h)
    return float(np.real(np.vdot(g, d)))


@pytest.mark.parametrize(
    ("method", "backward"), [("eig", "eig"), ("eig", "lyapunov"), ("newton-schulz", "lyapunov"), ("eig", "svd-pade")]
)
@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_manual_vjp_convention(method, backward, inverse):
    """The manual VJP is the adjoint of the (real-linear) derivative for Re tr(X^H Y): for a real loss L and
    G = dL/dRe(Y) + i dL/dIm(Y), it returns dL/dRe(A) + i dL/dIm(A) (PyTorch's convention)."""
    a, _, _ = hpd(5, 10.0, seed=7)
    rng = np.random.default_rng(8)
    g = rng.standard_normal((5, 5)) + 1j * rng.standard_normal((5, 5))
    e = _herm(rng.standard_normal((5, 5)) + 1j * rng.standard_normal((5, 5)))
    vjp_fn = matfunc.inv_sqrtm_vjp if inverse else matfunc.sqrtm_vjp
    fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
    _, vjp = vjp_fn(a, method, backward=backward)
    lhs = float(np.real(np.vdot(vjp(g), e)))
    rhs = _fd_vjp(lambda x: fn(x, "eig", check=False), a, g, e)
    tol = 1e-6 if backward != "svd-pade" else 1e-5
    assert abs(lhs - rhs) <= tol * abs(rhs)


@pytest.mark.parametrize(
    ("method", "backward"),
    [
        ("eig", "eig"),
        ("eig", "lyapunov"),
        ("newton-schulz", "lyapunov"),
        ("eig", "svd-pade"),
        ("newton-schulz", "unrolled"),
    ],
)
@pytest.mark.parametrize("fn", [matfunc.sqrtm, matfunc.inv_sqrtm])
def test_torch_gradcheck_complex(method, backward, fn):
    torch = pytest.importorskip("torch")
    a, _, _ = hpd(4, 10.0, batch=(2,), seed=9)
    t = torch.tensor(a, requires_grad=True)

    def f(x):
        return fn((x + x.mH) / 2, method, backward=backward, check=False)

    assert torch.autograd.gradcheck(f, (t,), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    ("method", "backward"),
    [
        ("eig", "eig"),
        ("eig", "lyapunov"),
        ("newton-schulz", "lyapunov"),
        ("eig", "svd-pade"),
        ("newton-schulz", "unrolled"),
        ("pade", "lyapunov"),
    ],
)
@pytest.mark.parametrize("fn", [matfunc.sqrtm, matfunc.inv_sqrtm])
def test_jax_check_grads_complex(method, backward, fn):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    if fn is matfunc.inv_sqrtm and method == "pade":
        pytest.skip("inverse Padé is 1e-4 off at cond 10: its gradient is that of the exact root")
    a, _, _ = hpd(4, 10.0, batch=(2,), seed=10)
    if method == "pade":  # the Lyapunov gradient is the exact root's: compare at a well-conditioned point
        a, _, _ = hpd(4, 1.5, batch=(2,), seed=10)

    def f(x):
        return fn((x + jnp.conj(jnp.swapaxes(x, -1, -2))) / 2, method, backward=backward, check=False)

    tol = 1e-5 if method != "pade" else 1e-3
    check_grads(f, (jnp.asarray(a),), order=1, modes=("fwd", "rev"), atol=tol, rtol=tol, eps=1e-6)


# --- properties --------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), log_cond=st.floats(0.0, 6.0))
def test_unitary_similarity(seed, n, log_cond):
    """sqrtm(U A U^H) = U sqrtm(A) U^H for random unitary U, and the root is Hermitian PSD."""
    a, _, _ = hpd(n, 10.0**log_cond, seed=seed)
    rng = np.random.default_rng(seed + 1)
    u, _ = np.linalg.qr(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    uh = np.conj(u.T)
    y = matfunc.sqrtm(a)
    y2 = matfunc.sqrtm(_herm(u @ a @ uh))
    cond = 10.0**log_cond
    np.testing.assert_allclose(y2, u @ y @ uh, atol=100 * n * EPS[np.complex128] * math.sqrt(cond))
    assert np.linalg.eigvalsh(y).min() >= -100 * n * EPS[np.complex128]


@pytest.mark.parametrize("chunks", [(1, 8, 8), (2, 4, 4)], ids=["batch-chunked", "matrix-chunked"])
def test_dask_complex(chunks):
    da = pytest.importorskip("dask.array")
    a, root, inv_root = hpd(8, 1e2, batch=(2,), seed=11)
    x = da.from_array(a, chunks=chunks)
    for method in ("eig", "newton-schulz"):
        assert rel(matfunc.sqrtm(x, method).compute(), root) <= 1e3 * EPS[np.complex128] * 10
        assert rel(matfunc.inv_sqrtm(x, method).compute(), inv_root) <= 1e3 * EPS[np.complex128] * 100
    g = np.random.default_rng(12).standard_normal(a.shape) + 0j
    y, vjp = matfunc.sqrtm_vjp(x, "eig")
    ref = matfunc.sqrtm_vjp(a, "eig")[1](g)
    assert rel(vjp(da.from_array(g, chunks=chunks)).compute(), ref) <= 1e3 * EPS[np.complex128]
    s = da.from_array(a, chunks=chunks)
    ref = np.stack([sla.solve_continuous_lyapunov(a[i], g[i]) for i in range(2)])
    got = matfunc.solve_lyapunov(s, da.from_array(g, chunks=chunks)).compute()
    assert rel(got, ref) <= 1e3 * EPS[np.complex128] * 1e2


def test_nn_layers_reject_complex_features():
    pytest.importorskip("torch")
    import torch

    from matfunc.nn import CovariancePooling, ZCAWhitening

    x = torch.randn(2, 3, 4, 4, dtype=torch.complex64)
    with pytest.raises(TypeError, match="real features"):
        CovariancePooling()(x)
    with pytest.raises(TypeError, match="real features"):
        ZCAWhitening(3)(x)


@pytest.mark.parametrize(
    ("name", "call", "ref", "methods"),
    [
        (
            "powm-1/4",
            lambda x, m: matfunc.powm(x, -0.25, m),
            lambda x: sla.fractional_matrix_power(x, -0.25),
            ("eig", "newton-schulz", "newton"),
        ),
        ("powm0.7", lambda x, m: matfunc.powm(x, 0.7, m), lambda x: sla.fractional_matrix_power(x, 0.7), ("eig",)),
        ("logm", lambda x, m: matfunc.logm(x, m), sla.logm, ("eig", "iss")),
        ("expm", lambda x, m: matfunc.expm(x, m), sla.expm, ("eig", "taylor")),
    ],
)
def test_family_complex(xp, name, call, ref, methods):
    """The later functions take complex Hermitian input too (they are written with mH/sym throughout)."""
    a, _, _ = hpd(8, 1e2, batch=(2,), seed=13)
    refs = np.stack([ref(m) for m in a])
    for method in methods:
        y = call(xp.asarray(a), method)
        assert rel(y, refs) <= 1e3 * EPS[np.complex128] * 1e2


def test_polar_complex():
    a = np.random.default_rng(14).standard_normal((2, 7, 4)) + 1j * np.random.default_rng(15).standard_normal((2, 7, 4))
    for method in ("svd", "newton-schulz"):
        u, p = matfunc.polar(a, method)
        ref_u = np.stack([sla.polar(m)[0] for m in a])
        assert rel(u, ref_u) <= 1e-10
        np.testing.assert_allclose(u @ p, a, atol=1e-12 * np.abs(a).max())
