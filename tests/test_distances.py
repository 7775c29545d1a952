"""root_fidelity / bures_wasserstein / frechet_distance: values against mpmath, the SciPy formula of pytorch-fid
and the nuclear norm of the data factors (rank-deficient covariances); gradients against finite differences,
gradcheck and check_grads, finite at repeated eigenvalues; every backend, batch broadcasting, dtypes, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from conftest import spd, to_numpy

import matfunc

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


def _asarray(xp, x):
    return xp.asarray(x)


def _factor_cov(n, k, *, seed, batch=()):
    """``(X X^T, X)`` with ``X`` of shape (..., n, k): a covariance of rank ``min(n, k)``."""
    x = np.random.default_rng(seed).standard_normal((*batch, n, k)) / math.sqrt(k)
    return x @ np.swapaxes(x, -1, -2), x


def _nuclear_reference(x, y):
    """``tr (A^{1/2} B A^{1/2})^{1/2} = ||A^{1/2} B^{1/2}||_* = ||X^T Y||_*`` for ``A = X X^T``, ``B = Y Y^T``:
    singular values of a product of the factors, no matrix square root (independent of matfunc's path)."""
    return np.linalg.svd(np.swapaxes(x, -1, -2) @ y, compute_uv=False).sum(axis=-1)


def _mp_root_fidelity(a, b, dps=40):
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(dps):
        w, q = mpmath.eigsy(mpmath.matrix(a.tolist()))
        r = q * mpmath.diag([mpmath.sqrt(max(x, 0)) for x in w]) * q.T
        m = r * mpmath.matrix(b.tolist()) * r
        wm, _ = mpmath.eigsy((m + m.T) / 2)
        return float(sum(mpmath.sqrt(max(x, 0)) for x in wm))


def _scipy_fid(mu1, s1, mu2, s2):
    """pytorch-fid's formula: the trace of the (non-symmetric) scipy.linalg.sqrtm(s1 @ s2), real part."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


# --- values ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cond", [1e1, 1e6])
def test_root_fidelity_against_mpmath(cond):
    """Eigenvalues of ``M`` to ``eps ||M||`` perturb ``sum sqrt(lambda)`` by at most ``n sqrt(n eps ||M||)``
    (the square root's worst case, at ``lambda ~ 0``); relative to ``F >= sqrt(||M||)``."""
    n = 6
    a, b = spd(n, cond, seed=1)[0], spd(n, 10.0, seed=2)[0]
    ref = _mp_root_fidelity(a, b)
    got = float(matfunc.root_fidelity(a, b))
    m_norm = np.linalg.norm(a, 2) * np.linalg.norm(b, 2)
    assert abs(got - ref) <= n * math.sqrt(n * EPS64 * m_norm) / math.sqrt(m_norm) * ref
    # well-conditioned: the usual eps bound
    if cond < 100:
        assert abs(got - ref) <= 10 * n * EPS64 * ref


def test_frechet_matches_scipy_formula(xp):
    """Full-rank, well-conditioned covariances: where sqrtm(s1 @ s2) is accurate, both agree to rounding."""
    n = 8
    rng = np.random.default_rng(3)
    s1, s2 = spd(n, 1e2, seed=4)[0], spd(n, 1e3, seed=5)[0]
    mu1, mu2 = rng.standard_normal(n), rng.standard_normal(n)
    ref = _scipy_fid(mu1, s1, mu2, s2)
    got = matfunc.frechet_distance(*(_asarray(xp, v) for v in (mu1, s1, mu2, s2)))
    assert tuple(got.shape) == ()
    # sqrt(lambda) of M = R B R (cond <= 1e5): eps * sqrt(cond(M)) relative error per term, n terms
    assert abs(float(to_numpy(got)) - ref) <= n * math.sqrt(1e5) * EPS64 * (np.trace(s1) + np.trace(s2))


def _rounding_bound(a, b, eps):
    """Singular values of ``C^H D`` (``C C^H = A``, ``D D^H = B``) to ``n eps ||C|| ||D||`` each, ``n`` of them,
    the factors themselves to ``n eps`` relative: ``n^2 eps sqrt(||A|| ||B||)`` for the sum. No ``sqrt(eps)``:
    the zero eigenvalues of rank-deficient covariances are removed before any square root."""
    n = a.shape[-1]
    return n * n * eps * math.sqrt(np.linalg.norm(a, 2) * np.linalg.norm(b, 2))


@pytest.mark.parametrize("ka,kb", [(3, 4), (6, 7), (5, 12)])
def test_rank_deficient_against_nuclear_norm(xp, ka, kb):
    """Fewer samples than features (rank k < n, as FID users have it): the nuclear norm of the data factors is
    the exact value, and the computed one is within rounding (not sqrt of rounding), float64 and float32."""
    n = 10
    a, x = _factor_cov(n, ka, seed=6)
    b, y = _factor_cov(n, kb, seed=7)
    ref = _nuclear_reference(x, y)
    got = float(to_numpy(matfunc.root_fidelity(_asarray(xp, a), _asarray(xp, b))))
    assert abs(got - ref) <= _rounding_bound(a, b, EPS64)
    got32 = float(
        to_numpy(matfunc.root_fidelity(_asarray(xp, a.astype(np.float32)), _asarray(xp, b.astype(np.float32))))
    )
    assert abs(got32 - ref) <= _rounding_bound(a, b, EPS32)


def test_different_null_spaces_symmetric():
    """Covariances with different exact null spaces (constant features, like the blank pixels of the digits):
    F(a, b) = F(b, a) to rounding, both equal to the nuclear-norm reference."""
    n = 8
    rng = np.random.default_rng(21)
    x, y = rng.standard_normal((n, 20)), rng.standard_normal((n, 20))
    x[[0, 3]] = 0.0  # features 0 and 3 constant in the first set
    y[[3, 5]] = 0.0  # features 3 and 5 in the second
    a, b = x @ x.T, y @ y.T
    ref = _nuclear_reference(x, y)
    for got in (matfunc.root_fidelity(a, b), matfunc.root_fidelity(b, a)):
        assert abs(float(got) - ref) <= _rounding_bound(a, b, EPS64)


def test_bures_wasserstein_closed_forms(xp):
    """Commuting (diagonal) covariances: d^2 = sum (sqrt(a_i) - sqrt(b_i))^2; c I: n (sqrt(c) - sqrt(d))^2."""
    a, b = np.diag([4.0, 1.0, 0.0]), np.diag([1.0, 9.0, 2.0])
    d2 = matfunc.bures_wasserstein(_asarray(xp, a), _asarray(xp, b), squared=True)
    assert abs(float(to_numpy(d2)) - (1.0 + 4.0 + 2.0)) <= 16 * EPS64 * 16
    d = matfunc.bures_wasserstein(_asarray(xp, 2.0 * np.eye(4)), _asarray(xp, 8.0 * np.eye(4)))
    assert abs(float(to_numpy(d)) - math.sqrt(4 * (math.sqrt(8) - math.sqrt(2)) ** 2)) <= 16 * EPS64 * 4
    zero = matfunc.bures_wasserstein(_asarray(xp, a), _asarray(xp, a))
    assert float(to_numpy(zero)) == 0.0 or float(to_numpy(zero)) <= math.sqrt(16 * EPS64 * 16)


def test_symmetric_in_its_arguments():
    a, b = spd(7, 1e3, seed=8)[0], spd(7, 1e2, seed=9)[0]
    f_ab, f_ba = float(matfunc.root_fidelity(a, b)), float(matfunc.root_fidelity(b, a))
    assert abs(f_ab - f_ba) <= 7 * math.sqrt(1e5) * EPS64 * f_ab


def test_batches_broadcast(xp):
    n = 5
    a = np.stack([spd(n, 10.0 * (i + 1), seed=i)[0] for i in range(3)])  # (3, n, n)
    b = np.stack([spd(n, 5.0, seed=10 + i)[0] for i in range(2)])[:, None]  # (2, 1, n, n)
    mu1, mu2 = np.zeros(n), np.ones((3, n))
    got = to_numpy(matfunc.frechet_distance(*(_asarray(xp, v) for v in (mu1, a, mu2, b))))
    assert got.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            ref = _scipy_fid(mu1, a[j], mu2[j], b[i, 0])
            assert abs(got[i, j] - ref) <= n * math.sqrt(1e3) * EPS64 * 10 * abs(ref)
    bw = to_numpy(matfunc.bures_wasserstein(_asarray(xp, a), _asarray(xp, b)))
    assert bw.shape == (2, 3)


def test_empty_and_shapes():
    assert matfunc.root_fidelity(np.zeros((0, 3, 3)), np.eye(3)).shape == (0,)
    assert float(matfunc.bures_wasserstein(np.zeros((0, 0)), np.zeros((0, 0)))) == 0.0
    assert matfunc.frechet_distance([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], np.eye(2)) == 0.0


def test_inputs_not_mutated(xp):
    n = 4
    vals = [np.ones(n), spd(n, 10.0, seed=1)[0], np.zeros(n), spd(n, 10.0, seed=2)[0]]
    arrs = [_asarray(xp, v) for v in vals]
    before = [to_numpy(v).copy() for v in arrs]
    matfunc.frechet_distance(*arrs, ridge=1e-3)
    for v, ref in zip(arrs, before, strict=True):
        np.testing.assert_array_equal(to_numpy(v), ref)


# --- dtypes ------------------------------------------------------------------------------------------------


def test_float32_error_within_bound(xp):
    """float32: the computed value vs float64, within n sqrt(n eps32) (rank-deficient: sqrt of rounding)."""
    n = 12
    a, _ = _factor_cov(n, 8, seed=11)
    b, _ = _factor_cov(n, 20, seed=12)
    mu = np.zeros(n)
    ref = float(matfunc.frechet_distance(mu, a, mu + 0.1, b))
    args32 = [_asarray(xp, v.astype(np.float32)) for v in (mu, a, mu + 0.1, b)]
    got = matfunc.frechet_distance(*args32)
    assert "float32" in str(got.dtype)
    scale = np.trace(a) + np.trace(b)
    assert abs(float(to_numpy(got)) - ref) <= n * math.sqrt(n * EPS32) * scale


def test_half_precision_computed_in_float32():
    torch = pytest.importorskip("torch")
    a = torch.tensor(spd(4, 10.0, seed=1)[0])
    b = torch.tensor(spd(4, 10.0, seed=2)[0])
    got = matfunc.bures_wasserstein(a.to(torch.float16), b.to(torch.float16), squared=True)
    assert got.dtype == torch.float16
    ref = matfunc.bures_wasserstein(a.to(torch.float16).double(), b.to(torch.float16).double(), squared=True)
    assert abs(float(got) - float(ref)) <= 8 * float(torch.finfo(torch.float16).eps) * float(ref) + 4 * 4 * EPS32 * 8


def test_mixed_dtypes_promote():
    a, b = spd(3, 10.0, seed=1)[0], spd(3, 10.0, seed=2)[0]
    assert matfunc.root_fidelity(a.astype(np.float32), b).dtype == np.float64
    assert matfunc.root_fidelity(a.astype(np.float32), b.astype(np.float32)).dtype == np.float32


def test_complex_density_matrices(xp):
    """Hermitian input (quantum states): root fidelity against SciPy's sqrtm in complex arithmetic."""
    rng = np.random.default_rng(13)
    w = rng.standard_normal((2, 4, 4)) + 1j * rng.standard_normal((2, 4, 4))
    rho = w @ np.conj(np.swapaxes(w, -1, -2))
    rho = rho / np.trace(rho, axis1=-2, axis2=-1).real[:, None, None]
    r = scipy.linalg.sqrtm(rho[0])
    ref = np.trace(scipy.linalg.sqrtm(r @ rho[1] @ r)).real
    got = matfunc.root_fidelity(_asarray(xp, rho[0]), _asarray(xp, rho[1]))
    assert "float64" in str(got.dtype)
    assert abs(float(to_numpy(got)) - ref) <= 4 * math.sqrt(1e3) * EPS64 * 10


def test_complex_pure_state_closed_form(xp):
    """A pure state rho = psi psi^H (rank 1, complex): F(rho, sigma) = sqrt(psi^H sigma psi), in both orders."""
    rng = np.random.default_rng(17)
    n = 5
    psi = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    psi /= np.linalg.norm(psi)
    rho = np.outer(psi, psi.conj())
    w = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    sigma = w @ w.conj().T
    sigma /= np.trace(sigma).real
    ref = math.sqrt((psi.conj() @ sigma @ psi).real)
    for a, b in ((rho, sigma), (sigma, rho)):
        got = float(to_numpy(matfunc.root_fidelity(_asarray(xp, a), _asarray(xp, b))))
        assert abs(got - ref) <= _rounding_bound(a, b, EPS64)


# --- gradients ---------------------------------------------------------------------------------------------


def _closed_grad_b(a, b):
    """d/dB tr(A^{1/2} B A^{1/2})^{1/2} = 1/2 A^{1/2} (A^{1/2} B A^{1/2})^{-1/2} A^{1/2} (positive definite A)."""
    r = scipy.linalg.sqrtm(a).real
    m = r @ b @ r
    w, v = np.linalg.eigh((m + m.T) / 2)
    return 0.5 * r @ (v / np.sqrt(w)) @ v.T @ r


def _fd_grad(f, a, h):
    """Central differences along symmetric unit directions E_ij + E_ji (the gradient of a function of
    symmetric matrices, symmetrised): g_ij = (f(a + hE) - f(a - hE)) / (2h) / (2 if i != j else 1)."""
    n = a.shape[-1]
    g = np.zeros_like(a)
    for i in range(n):
        for j in range(i, n):
            e = np.zeros_like(a)
            e[i, j] = e[j, i] = 1.0
            d = (f(a + h * e) - f(a - h * e)) / (2 * h)
            g[i, j] = g[j, i] = d if i == j else d / 2
    return g


def _fd_tol(h, lam_min, f_scale):
    """Central differences: truncation ``h^2 |f^(3)| / 6`` with ``f^(3) ~ lambda_min^(-5/2)`` (the third
    derivative of the square roots at the smallest eigenvalue involved; constants 3/8 / 6 < 1 dropped) plus
    rounding ``eps |f| / h``, times 10 for the accumulation over the terms."""
    return 10 * (h**2 * lam_min**-2.5 + EPS64 * f_scale / h)


def _lam_min(a, b):
    r = scipy.linalg.sqrtm(a).real
    return min(np.linalg.eigvalsh(a).min(), np.linalg.eigvalsh(b).min(), np.linalg.eigvalsh(r @ b @ r).min())


@pytest.mark.parametrize("case", ["random", "identity", "scaled-identity", "equal"])
def test_vjp_against_finite_differences(case):
    """Manual VJPs (NumPy) at distinct and repeated eigenvalues, against central differences (h = eps^(1/3))."""
    n = 4
    if case == "random":
        a, b = spd(n, 1e2, seed=1)[0], spd(n, 10.0, seed=2)[0]
    elif case == "identity":
        a, b = np.eye(n), np.eye(n)
    elif case == "scaled-identity":
        a, b = 2.0 * np.eye(n), 0.5 * np.eye(n)
    else:
        a = spd(n, 10.0, seed=3)[0]
        b = a.copy()
    h = EPS64 ** (1 / 3)
    for squared in (True, False):
        if not squared and case in ("identity", "equal"):
            continue  # d is not differentiable at a = b (tested below)
        val, vjp = matfunc.bures_wasserstein_vjp(a, b, squared=squared)
        ga, gb = vjp(np.ones(()))
        assert np.all(np.isfinite(ga)) and np.all(np.isfinite(gb))
        fa = _fd_grad(lambda x, sq=squared: float(matfunc.bures_wasserstein(x, b, squared=sq, check=False)), a, h)
        fb = _fd_grad(lambda y, sq=squared: float(matfunc.bures_wasserstein(a, y, squared=sq, check=False)), b, h)
        tol = _fd_tol(h, _lam_min(a, b), np.trace(a) + np.trace(b))
        assert np.abs(ga - fa).max() <= tol, (case, squared)
        assert np.abs(gb - fb).max() <= tol, (case, squared)
    # the closed form of the derivation page (positive definite a)
    f, vjp = matfunc.root_fidelity_vjp(a, b)
    np.testing.assert_allclose(vjp(np.ones(()))[1], _closed_grad_b(a, b), rtol=0, atol=1e3 * EPS64 * n)


def test_squared_bures_gradient_is_zero_at_equality():
    """d^2 has its minimum at a = b: the gradient vanishes (exactly, up to rounding), also at a = I."""
    for a in (np.eye(5), 3.0 * np.eye(5), spd(5, 1e2, seed=4)[0]):
        _, vjp = matfunc.bures_wasserstein_vjp(a, a, squared=True)
        ga, gb = vjp(np.ones(()))
        # I - A^{1/2} (A^2)^{-1/2} A^{1/2}: the products and the inverse root lose n eps cond(A), times 10
        tol = 10 * a.shape[-1] * EPS64 * np.linalg.cond(a)
        assert np.abs(ga).max() <= tol
        assert np.abs(gb).max() <= tol
        # d = sqrt(d^2) at its kink: zero gradient where d^2 <= 0; where rounding leaves d^2 ~ tol > 0, the
        # gradient of d^2 (<= tol) over 2 d (~ 2 sqrt(tol)) stays below sqrt(tol)
        d, vjp = matfunc.bures_wasserstein_vjp(a, a)
        ga, gb = vjp(np.ones(()))
        assert np.abs(ga).max() <= math.sqrt(tol) and np.abs(gb).max() <= math.sqrt(tol)
        if d == 0:
            assert np.all(ga == 0) and np.all(gb == 0)


def test_frechet_vjp_means_and_broadcast():
    n = 3
    s1 = np.stack([spd(n, 10.0, seed=i)[0] for i in range(2)])  # (2, n, n)
    s2 = spd(n, 10.0, seed=5)[0]
    mu1, mu2 = np.array([1.0, 2.0, 3.0]), np.zeros((2, n))
    val, vjp = matfunc.frechet_distance_vjp(mu1, s1, mu2, s2)
    g = np.array([1.0, 2.0])
    dmu1, ds1, dmu2, ds2 = vjp(g)
    assert dmu1.shape == (n,) and ds1.shape == (2, n, n) and dmu2.shape == (2, n) and ds2.shape == (n, n)
    np.testing.assert_allclose(dmu1, 2 * (g[:, None] * (mu1 - mu2)).sum(0), rtol=1e-14)
    np.testing.assert_allclose(dmu2, -2 * g[:, None] * (mu1 - mu2), rtol=1e-14)
    # ds2 sums the two batch members' gradients
    _, vjp0 = matfunc.frechet_distance_vjp(mu1, s1[0], mu2[0], s2)
    _, vjp1 = matfunc.frechet_distance_vjp(mu1, s1[1], mu2[1], s2)
    ref = g[0] * vjp0(np.ones(()))[3] + g[1] * vjp1(np.ones(()))[3]
    np.testing.assert_allclose(ds2, ref, rtol=0, atol=100 * EPS64)
    np.testing.assert_allclose(val, matfunc.frechet_distance(mu1, s1, mu2, s2), rtol=1e-13)


def _sym_t(x):
    return (x + x.mT) / 2


@pytest.mark.parametrize("case", ["random", "identity", "scaled-identity"])
def test_torch_gradcheck(case):
    torch = pytest.importorskip("torch")
    n = 3
    if case == "random":
        a, b = spd(n, 1e2, seed=1, batch=(2,))[0], spd(n, 10.0, seed=2)[0]
    elif case == "identity":
        a, b = np.eye(n), np.eye(n)
    else:
        a, b = 2.0 * np.eye(n), 0.5 * np.eye(n)
    at = torch.tensor(a, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    mu = torch.tensor(np.arange(n, dtype=np.float64), requires_grad=True)

    def fid(m, x, y):
        return matfunc.frechet_distance(m, _sym_t(x), torch.zeros(n, dtype=torch.float64), _sym_t(y))

    assert torch.autograd.gradcheck(fid, (mu, at, bt))
    assert torch.autograd.gradcheck(lambda x, y: matfunc.root_fidelity(_sym_t(x), _sym_t(y)), (at, bt))
    if case != "identity":
        assert torch.autograd.gradcheck(lambda x, y: matfunc.bures_wasserstein(_sym_t(x), _sym_t(y)), (at, bt))
    # same numbers as the manual VJP
    val = matfunc.bures_wasserstein(at, bt, squared=True)
    val.sum().backward()
    _, vjp = matfunc.bures_wasserstein_vjp(a, b, squared=True)
    ga, gb = vjp(np.ones(val.shape))
    np.testing.assert_allclose(at.grad.numpy(), ga, rtol=0, atol=1e3 * EPS64)
    np.testing.assert_allclose(bt.grad.numpy(), gb, rtol=0, atol=1e3 * EPS64)


def test_torch_eigh_autograd_is_nan_where_matfunc_is_finite():
    """The reason for the design: differentiating eigh at a = b = I gives NaN; matfunc's gradient is 0."""
    torch = pytest.importorskip("torch")
    a = torch.eye(4, dtype=torch.float64, requires_grad=True)
    w, v = torch.linalg.eigh(a)
    naive = (v * w.sqrt()) @ v.mT
    naive.trace().backward()
    assert not torch.isfinite(a.grad).all()
    a.grad = None
    matfunc.bures_wasserstein(a, torch.eye(4, dtype=torch.float64), squared=True).backward()
    assert torch.isfinite(a.grad).all() and float(a.grad.abs().max()) <= 1e3 * EPS64


@pytest.mark.parametrize("case", ["random", "scaled-identity"])
def test_jax_check_grads(case):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    n = 3
    if case == "random":
        a, b = spd(n, 1e2, seed=1)[0], spd(n, 10.0, seed=2)[0]
    else:
        a, b = 2.0 * np.eye(n), 0.5 * np.eye(n)

    def f(x, y):
        return matfunc.bures_wasserstein(_sym_t(x), _sym_t(y))

    check_grads(f, (jnp.asarray(a), jnp.asarray(b)), order=1, modes=["rev"])
    # differentiating the second argument only (the first one concrete)
    gb = jax.grad(lambda y: matfunc.bures_wasserstein(jnp.asarray(a), y, squared=True))(jnp.asarray(b))
    _, vjp = matfunc.bures_wasserstein_vjp(a, b, squared=True)
    np.testing.assert_allclose(np.asarray(gb), vjp(np.ones(()))[1], rtol=0, atol=1e3 * EPS64)
    g = jax.grad(lambda x: matfunc.bures_wasserstein(x, jnp.eye(n), squared=True))(jnp.eye(n))
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) <= 1e3 * EPS64
    jitted = jax.jit(lambda m, x, y: matfunc.frechet_distance(m, x, jnp.zeros(n), y))
    np.testing.assert_allclose(
        float(jitted(jnp.ones(n), jnp.asarray(a), jnp.asarray(b))),
        float(matfunc.frechet_distance(np.ones(n), a, np.zeros(n), b)),
        rtol=1e-12,
    )


def test_singular_gradient_finite_and_ridge_matches_fd():
    """Singular covariances: the gradient is finite (floored); with a ridge it is a true derivative."""
    n = 4
    a, _ = _factor_cov(n, 2, seed=14)
    b, _ = _factor_cov(n, 3, seed=15)
    _, vjp = matfunc.bures_wasserstein_vjp(a, b, squared=True)
    assert all(np.all(np.isfinite(g)) for g in vjp(np.ones(())))
    ridge = 1e-2
    _, vjp = matfunc.bures_wasserstein_vjp(a, b, squared=True, ridge=ridge)
    ga, gb = vjp(np.ones(()))
    h = EPS64 ** (1 / 3)
    fa = _fd_grad(lambda x: float(matfunc.bures_wasserstein(x, b, squared=True, ridge=ridge, check=False)), a, h)
    eye = np.eye(n)
    tol = _fd_tol(h, _lam_min(a + ridge * eye, b + ridge * eye), np.trace(a) + np.trace(b) + 2 * n * ridge)
    assert np.abs(ga - fa).max() <= tol


# --- Dask --------------------------------------------------------------------------------------------------


def test_dask_lazy_and_equal():
    da = pytest.importorskip("dask.array")
    n = 4
    a = np.stack([spd(n, 10.0, seed=i)[0] for i in range(4)])
    b = spd(n, 10.0, seed=9)[0]
    mu = np.zeros(n)
    got = matfunc.frechet_distance(
        da.from_array(mu), da.from_array(a, chunks=(2, n, n)), da.from_array(mu + 1), da.from_array(b)
    )
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), matfunc.frechet_distance(mu, a, mu + 1, b), rtol=1e-13)


# --- checks ------------------------------------------------------------------------------------------------


def test_errors_name_the_problem(xp):
    n = 3
    good = spd(n, 10.0, seed=1)[0]
    indefinite = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # eigenvalues 3, 1, -1
    with pytest.raises(ValueError, match=r"bures_wasserstein \(b\).*negative eigenvalue"):
        matfunc.bures_wasserstein(_asarray(xp, good), _asarray(xp, indefinite))
    asym = good.copy()
    asym[0, 1] += 0.1
    with pytest.raises(ValueError, match=r"frechet_distance \(sigma1\).*symmetric"):
        matfunc.frechet_distance(*(_asarray(xp, v) for v in (np.zeros(n), asym, np.zeros(n), good)))
    nan = good.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"root_fidelity \(a\).*NaN"):
        matfunc.root_fidelity(_asarray(xp, nan), _asarray(xp, good))
    with pytest.raises(ValueError, match=r"frechet_distance \(mu2\).*NaN"):
        matfunc.frechet_distance(*(_asarray(xp, v) for v in (np.zeros(n), good, np.full(n, np.nan), good)))
    with pytest.raises(ValueError, match="same size n"):
        matfunc.frechet_distance(*(_asarray(xp, v) for v in (np.zeros(n + 1), good, np.zeros(n), good)))
    with pytest.raises(ValueError, match="same size n"):
        matfunc.root_fidelity(_asarray(xp, good), _asarray(xp, np.eye(n + 1)))
    with pytest.raises(ValueError, match=r"\(\.\.\., n, n\)"):
        matfunc.root_fidelity(_asarray(xp, np.zeros((3, 2))), _asarray(xp, good))
    with pytest.raises(ValueError, match="do not broadcast"):
        matfunc.root_fidelity(_asarray(xp, np.stack([good] * 2)), _asarray(xp, np.stack([good] * 3)))


def test_option_errors():
    a = np.eye(2)
    with pytest.raises(ValueError, match="unknown method"):
        matfunc.root_fidelity(a, a, "schur")
    with pytest.raises(ValueError, match="ridge"):
        matfunc.bures_wasserstein(a, a, ridge=-1.0)
    with pytest.raises(TypeError, match="squared"):
        matfunc.bures_wasserstein(a, a, squared="yes")
    with pytest.raises(TypeError, match="floating"):
        matfunc.root_fidelity(np.eye(2).astype("U3"), a)
    _, vjp = matfunc.root_fidelity_vjp(a, a)
    with pytest.raises(ValueError, match="cotangent"):
        vjp(np.ones(2))


def test_check_false_skips_value_checks():
    """check=False: an indefinite b is not rejected (eig clips its root's negative eigenvalues)."""
    a, b = np.eye(2), np.diag([1.0, -1e-3])
    with pytest.raises(ValueError):
        matfunc.root_fidelity(a, b)
    assert np.isfinite(matfunc.root_fidelity(a, b, check=False))


def test_value_with_gradient_is_the_accurate_value():
    """PyTorch/JAX return the value of the accurate path also when a gradient is taken (straight-through), and
    JAX under jit (the thresholded-factor SVD route) agrees with the eager value to rounding."""
    torch = pytest.importorskip("torch")
    n = 10
    a, _ = _factor_cov(n, 4, seed=6)
    b, _ = _factor_cov(n, 5, seed=7)
    plain = matfunc.root_fidelity(torch.tensor(a), torch.tensor(b))
    with_grad = matfunc.root_fidelity(torch.tensor(a, requires_grad=True), torch.tensor(b))
    assert float(with_grad.detach()) == float(plain)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    jitted = jax.jit(matfunc.root_fidelity)(jnp.asarray(a), jnp.asarray(b))
    assert abs(float(jitted) - float(plain)) <= _rounding_bound(a, b, EPS64)


def test_newton_schulz_agrees_with_eig():
    """Newton–Schulz (the GPU default of method="auto") converges to rounding for the condition numbers its
    default steps cover (1.5e8 in float64): same value as "eig", and the same gradient through its Lyapunov
    backward."""
    n = 6
    a, b = spd(n, 10.0, seed=1)[0], spd(n, 3.0, seed=2)[0]
    ref = float(matfunc.root_fidelity(a, b, "eig"))
    assert abs(float(matfunc.root_fidelity(a, b, "newton-schulz")) - ref) <= 10 * n * EPS64 * math.sqrt(30) * ref
    ga, gb = matfunc.root_fidelity_vjp(a, b, "eig")[1](np.ones(()))
    na, nb = matfunc.root_fidelity_vjp(a, b, "newton-schulz")[1](np.ones(()))
    np.testing.assert_allclose(na, ga, rtol=0, atol=100 * n * EPS64 * 30 * np.abs(ga).max())
    np.testing.assert_allclose(nb, gb, rtol=0, atol=100 * n * EPS64 * 30 * np.abs(gb).max())


def test_bench_report_runs(capsys):
    """``python -m matfunc.bench.distances`` at a small size: one row per case, matfunc within rounding of the
    exact value (its F to ``n^2 eps``, amplified in the FID by the cancellation ``(tr S1 + tr S2) / FID``)."""
    from matfunc.bench import distances as bench_distances

    n = 16
    bench_distances.main(["--n", str(n), "--no-torch", "--threads", "1", "--all"])
    out = capsys.readouterr().out
    assert out.count("| n/2 samples") == 2 and "| full rank |" in out
    for case in bench_distances.CASES:
        args, (f1, f2) = bench_distances.make_case(n, case)
        exact = bench_distances.reference_fid(*args, f1, f2)
        amplification = (np.trace(args[1]) + np.trace(args[3])) / exact
        assert abs(float(matfunc.frechet_distance(*args)) - exact) <= n * n * EPS64 * amplification * exact


# --- issue 25: scale, float32 FID, methods, dtypes, scalar means, JAX traces --------------------------------


@pytest.mark.parametrize(
    "scale,dtype",
    [
        (1e-25, np.float32),
        (1e-30, np.float32),
        (1e25, np.float32),
        (1e-200, np.float64),
        (1e-300, np.float64),
        (1e200, np.float64),
    ],
)
@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_tiny_and_huge_covariances(scale, dtype, method):
    """F is homogeneous of degree 1 in (A, B) jointly: F(sA, sB) = s F(A, B), d^2 likewise. Before issue 25,
    s <= 1e-25 (float32) or 1e-200 (float64) gave F = 0 (L^H B L underflowed): 100-200% off."""
    torch = pytest.importorskip("torch")
    a, b = spd(5, 10.0, seed=70)[0], spd(5, 10.0, seed=71)[0]
    mu1, mu2 = np.zeros(5), np.full(5, 0.5)
    ref_f = _mp_root_fidelity(a, b)
    ref_bw = np.trace(a) + np.trace(b) - 2 * ref_f
    ref_fid = 5 * 0.25 + ref_bw
    eps = float(np.finfo(dtype).eps)
    tol = 5 * 5 * math.sqrt(10.0) * eps * 10  # n sqrt(cond) eps, with a factor for the Newton–Schulz steps
    x, y = torch.asarray((a * scale).astype(dtype)), torch.asarray((b * scale).astype(dtype))
    m1, m2 = (
        torch.asarray((mu1 * math.sqrt(scale)).astype(dtype)),
        torch.asarray((mu2 * math.sqrt(scale)).astype(dtype)),
    )
    f = float(matfunc.root_fidelity(x, y, method)) / scale
    bw = float(matfunc.bures_wasserstein(x, y, method, squared=True)) / scale
    fid = float(matfunc.frechet_distance(m1, x, m2, y, method)) / scale
    assert abs(f - ref_f) <= tol * ref_f
    assert abs(bw - ref_bw) <= tol * (np.trace(a) + np.trace(b))
    assert abs(fid - ref_fid) <= tol * (np.trace(a) + np.trace(b))
    if method == "eig":  # NumPy too
        got = float(matfunc.root_fidelity((a * scale).astype(dtype), (b * scale).astype(dtype))) / scale
        assert abs(got - ref_f) <= tol * ref_f


def _fid_statistics(n, seed):
    """Two float32 covariances of one distribution estimated from different samples, FID << trace: ``S`` with
    eigenvalues spread over [0.01, 1] and ``S2 = S + E``, ``E`` a small symmetric perturbation (the sampling
    noise of 8192 samples, relative size ``~ sqrt(n / 8192)``), rounded to float32."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = (q * np.logspace(0, -2, n)) @ q.T
    g = rng.standard_normal((n, n)) / math.sqrt(8192 * n)
    r = np.linalg.cholesky(s)
    s2 = s + r @ (g + g.T) @ r.T
    mu1, mu2 = rng.standard_normal(n) * 0.01, rng.standard_normal(n) * 0.01
    return [v.astype(np.float32) for v in (mu1, (s + s.T) / 2, mu2, (s2 + s2.T) / 2)]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_float32_fid_within_2e6_of_float64_on_the_same_statistics(backend):
    """The docstring's promise for float32 statistics (n = 512, FID << trace): within 2e-6 relative of float64 on
    the same rounded statistics (the SciPy formula of pytorch-fid in float64 as reference). Before issue 25:
    5e-6 .. 1e-4 (the value computed in float32 and ``tr - 2 F`` cancelling: error ``eps tr / FID``)."""
    stats = _fid_statistics(512, seed=72)
    ref = _scipy_fid(*(v.astype(np.float64) for v in stats))
    tr = float(np.trace(stats[1].astype(np.float64)) + np.trace(stats[3].astype(np.float64)))
    assert ref < 0.05 * tr  # the cancelling case
    if backend == "torch":
        torch = pytest.importorskip("torch")
        args = [torch.asarray(v) for v in stats]
    else:
        args = stats
    got = matfunc.frechet_distance(*args)
    assert "float32" in str(got.dtype)
    assert abs(float(to_numpy(got)) - ref) <= 2e-6 * ref


@pytest.mark.parametrize("method", ["pade", "taylor", "mpa", "mtp"])
def test_series_methods_are_rejected(method):
    """Padé/Taylor were 1-10% off on well-conditioned covariances (26-58% rank-deficient) and passed check=True."""
    a, b = spd(4, 10.0, seed=73)[0], spd(4, 10.0, seed=74)[0]
    for call in (
        lambda: matfunc.root_fidelity(a, b, method),
        lambda: matfunc.bures_wasserstein(a, b, method),
        lambda: matfunc.frechet_distance(np.zeros(4), a, np.zeros(4), b, method),
        lambda: matfunc.root_fidelity_vjp(a, b, method),
    ):
        with pytest.raises(ValueError, match=r"cannot give the distances' accuracy.*method='eig'.*'newton-schulz'"):
            call()


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_result_dtype_is_promoted_over_all_arguments(backend):
    """frechet_distance(mu float64, sigma float32) returned float32 before issue 25; docs: the promoted dtype."""
    a, b = spd(3, 10.0, seed=75)[0], spd(3, 10.0, seed=76)[0]
    mu1, mu2 = np.zeros(3), np.full(3, 1.0)
    if backend == "torch":
        lib = pytest.importorskip("torch")
        conv = lib.asarray
    elif backend == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        lib = jax.numpy
        conv = lib.asarray
    else:
        lib, conv = np, np.asarray
    got = matfunc.frechet_distance(conv(mu1), conv(a.astype(np.float32)), conv(mu2), conv(b.astype(np.float32)))
    assert got.dtype == lib.float64
    ref = float(
        matfunc.frechet_distance(
            mu1, a.astype(np.float32).astype(np.float64), mu2, b.astype(np.float32).astype(np.float64)
        )
    )
    assert abs(float(got) - ref) <= 10 * EPS64 * (np.trace(a) + np.trace(b) + 3)
    got = matfunc.frechet_distance(
        conv(mu1.astype(np.float32)), conv(a.astype(np.float32)), conv(mu2.astype(np.float32)), conv(b)
    )
    assert got.dtype == lib.float64
    got = matfunc.bures_wasserstein(conv(a.astype(np.float32)), conv(b.astype(np.float32)))
    assert got.dtype == lib.float32


def test_scalar_means():
    """A number as a mean is that value in every component (frechet_distance(0.0, ...) was an AttributeError)."""
    torch = pytest.importorskip("torch")
    a, b = spd(3, 10.0, seed=77)[0], spd(3, 10.0, seed=78)[0]
    ref = float(matfunc.frechet_distance(np.zeros(3), a, np.full(3, 2.0), b))
    assert float(matfunc.frechet_distance(0.0, a, 2, b)) == pytest.approx(ref, rel=1e-14)
    assert float(matfunc.frechet_distance(np.float64(0.0), a, np.array(2.0), b)) == pytest.approx(ref, rel=1e-14)
    t = matfunc.frechet_distance(0.0, torch.asarray(a), torch.tensor(2.0, dtype=torch.float64), torch.asarray(b))
    assert float(t) == pytest.approx(ref, rel=1e-14)
    assert matfunc.frechet_distance(0.0, a.astype(np.float32), 0.0, b.astype(np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match=r"mu1 as an array of shape \(\.\.\., n\) or a number"):
        matfunc.frechet_distance("0", a, 0.0, b)
    with pytest.raises(TypeError, match="mu2"):
        matfunc.frechet_distance(0.0, a, None, b)


@pytest.mark.parametrize("method", ["auto", "eig", "newton-schulz"])
def test_jax_jit_of_constants_with_the_default_check(method):
    """``jax.jit(lambda x: frechet_distance(m, A, m, B) + x)`` with concrete arguments: values computed inside the
    trace are tracers; the checks are skipped there (TracerBoolConversionError before issue 25)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    a0, b0 = spd(4, 10.0, seed=79)[0], spd(4, 10.0, seed=80)[0]
    a, b, m = jnp.asarray(a0), jnp.asarray(b0), jnp.zeros(4)
    ref = _mp_root_fidelity(a0, b0)
    bw2 = np.trace(a0) + np.trace(b0) - 2 * ref
    tol = 1e3 * EPS64 * (np.trace(a0) + np.trace(b0))
    assert abs(float(jax.jit(lambda x: matfunc.root_fidelity(a, b, method) + x)(1.0)) - 1.0 - ref) <= tol
    got = jax.jit(lambda x: matfunc.bures_wasserstein(a, b, method, squared=True) + x)(1.0)
    assert abs(float(got) - 1.0 - bw2) <= tol
    got = jax.jit(lambda x: matfunc.frechet_distance(m, a, m + 1.0, b, method) + x)(1.0)
    assert abs(float(got) - 1.0 - (4.0 + bw2)) <= tol


def test_vjp_functions_tiny_scale_and_promoted_dtype():
    """The manual VJPs share the scaling (F(sA, tB) = sqrt(st) F(A, B), dF/dA(sA, tB) = sqrt(t/s) dF/dA(A, B)) and
    frechet_distance_vjp returns the dtype of all four arguments (float32 before issue 25)."""
    a, b = spd(4, 10.0, seed=81)[0], spd(4, 10.0, seed=82)[0]
    f0, vjp0 = matfunc.root_fidelity_vjp(a, b)
    ga0, gb0 = vjp0(np.ones(()))
    for s, t in ((1e-200, 1e-200), (1e-300, 1.0), (1e200, 1e-50)):
        f, vjp = matfunc.root_fidelity_vjp(a * s, b * t)
        ga, gb = vjp(np.ones(()))
        assert abs(float(f) / math.sqrt(s) / math.sqrt(t) - float(f0)) <= 100 * EPS64 * float(f0)
        np.testing.assert_allclose(ga * math.sqrt(s / t), ga0, rtol=0, atol=100 * EPS64 * np.abs(ga0).max())
        np.testing.assert_allclose(gb * math.sqrt(t / s), gb0, rtol=0, atol=100 * EPS64 * np.abs(gb0).max())
    d2, vjp = matfunc.frechet_distance_vjp(np.zeros(4), a.astype(np.float32), np.ones(4), b.astype(np.float32))
    assert d2.dtype == np.float64
    grads = vjp(np.ones((), dtype=np.float64))
    assert [g.dtype for g in grads] == [np.float64, np.float32, np.float64, np.float32]
