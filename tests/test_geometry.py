"""distance_riemann / distance_logeuclid / geodesic_riemann: against SciPy and mpmath references, the identities
of the affine-invariant geometry, every backend (dtypes, complex, broadcasting), checks, and gradients
(torch gradcheck, JAX check_grads, manual VJPs against finite differences, closed forms and autograd)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from conftest import rel_err, spd, to_numpy

import matfunc

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


def _pair(n, cond, *, batch=(), seed=0):
    """Two independent SPD matrices (batches) of condition number ``cond`` each."""
    return spd(n, cond, batch=batch, seed=seed)[0], spd(n, cond, batch=batch, seed=seed + 100)[0]


def _ref_riemann(a, b):
    """SciPy: the generalised eigenvalues of (b, a) (Cholesky of a, an independent route), one matrix at a time."""
    a2, b2 = a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])
    d = [np.sqrt(np.sum(np.log(scipy.linalg.eigvalsh(y, x)) ** 2)) for x, y in zip(a2, b2, strict=True)]
    return np.array(d).reshape(a.shape[:-2])


def _ref_logeuclid(a, b):
    a2, b2 = a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])
    d = [np.linalg.norm(scipy.linalg.logm(x) - scipy.linalg.logm(y)) for x, y in zip(a2, b2, strict=True)]
    return np.array(d).reshape(a.shape[:-2])


def _kappa(x):
    w = np.linalg.eigvalsh(x)
    return float(np.max(w[..., -1] / w[..., 0]))


def _random_spd(n, rng, *, complex_=False):
    f = rng.standard_normal((n, 2 * n))
    if complex_:
        f = f + 1j * rng.standard_normal((n, 2 * n))
    x = f @ f.conj().T / (2 * n) + 0.1 * np.eye(n)
    return (x + x.conj().T) / 2


# --- accuracy against independent references --------------------------------------------------------------


def _mp_riemann(a, b, dps=50):
    """sqrt(sum log^2 lambda_i(a^{-1/2} b a^{-1/2})) in mpmath at ``dps`` digits."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(dps):
        ma, mb = mpmath.matrix(a.tolist()), mpmath.matrix(b.tolist())
        w, q = mpmath.eigsy(ma)
        inv_root = q * mpmath.diag([1 / mpmath.sqrt(x) for x in w]) * q.T
        m = inv_root * mb * inv_root
        lam, _ = mpmath.eigsy((m + m.T) / 2)
        return float(mpmath.sqrt(sum(mpmath.log(x) ** 2 for x in lam)))


def _tol(a, b, eps=EPS64):
    """Absolute error allowed in log lambda_i(a^{-1} b) (so in the distances): a and b enter through their roots
    and logarithms with relative errors ~ eps kappa, and eigh of M = a^{-1/2} b a^{-1/2} has absolute errors
    eps ||M||: relative eps kappa(M) in its smallest eigenvalue (kappa(M) <= kappa(a) kappa(b)). SciPy's
    eigvalsh(b, a) forms the same kind of product (L^{-1} b L^{-T}).
    c n eps (kappa(a) + kappa(b) + kappa(M)), c = 10."""
    lam = np.stack(
        [
            scipy.linalg.eigvalsh(y, x)
            for x, y in zip(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:]), strict=True)
        ]
    )
    kappa_m = float(np.max(lam[:, -1] / lam[:, 0]))
    return 10 * a.shape[-1] * eps * (_kappa(a) + _kappa(b) + kappa_m)


@pytest.mark.parametrize("cond", [1e1, 1e4, 1e7])
def test_distances_against_references(cond):
    """distance_riemann against mpmath (50 digits), distance_logeuclid against SciPy's logm."""
    n = 6
    a, b = _pair(n, cond, batch=(3,), seed=1)
    tol = _tol(a, b)
    d = matfunc.distance_riemann(a, b)
    assert d.shape == (3,) and d.dtype == np.float64
    ref = np.array([_mp_riemann(x, y) for x, y in zip(a, b, strict=True)])
    np.testing.assert_allclose(d, ref, rtol=0, atol=tol)
    np.testing.assert_allclose(
        matfunc.distance_riemann(a, b, squared=True), ref**2, rtol=0, atol=2 * tol * np.max(ref) + tol**2
    )
    # log-Euclidean: logm of each with relative errors eps kappa; SciPy's logm (Schur-Pade) likewise
    tol_le = 10 * n * EPS64 * (_kappa(a) + _kappa(b))
    np.testing.assert_allclose(matfunc.distance_logeuclid(a, b), _ref_logeuclid(a, b), rtol=0, atol=tol_le)


def _mp_geodesic(a, b, alpha, dps=50):
    """a^{1/2} (a^{-1/2} b a^{-1/2})^alpha a^{1/2} in mpmath at ``dps`` digits, rounded to float64."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(dps):

        def fun(m, f):
            w, q = mpmath.eigsy(m)
            return q * mpmath.diag([f(x) for x in w]) * q.T

        ma, mb = mpmath.matrix(a.tolist()), mpmath.matrix(b.tolist())
        s = fun(ma, mpmath.sqrt)
        w = fun(ma, lambda x: 1 / mpmath.sqrt(x))
        m = w * mb * w
        m = (m + m.T) / 2
        y = s * fun(m, lambda x: mpmath.power(x, mpmath.mpf(alpha))) * s
        return np.array([[float(y[i, j]) for j in range(a.shape[1])] for i in range(a.shape[0])])


@pytest.mark.parametrize("alpha", [0.5, 0.3, 1.5])
@pytest.mark.parametrize("cond", [1e1, 1e5])
def test_geodesic_against_mpmath(alpha, cond):
    """The roots of a carry relative errors up to eps kappa(a), the power of a^{-1/2} b a^{-1/2} relative errors
    of order eps (kappa(a) + kappa(b)) (|alpha| <= 2 times the eigenvalue perturbations): rel. error
    <= c n eps (kappa(a) + kappa(b)), c = 10."""
    n = 5
    a, b = _pair(n, cond, seed=2)
    ref = _mp_geodesic(a, b, alpha)
    tol = _tol(a, b)
    for method in ("eig", "newton-schulz"):
        y = matfunc.geodesic_riemann(a, b, alpha, method=method)
        assert rel_err(y, ref) <= tol, (method, rel_err(y, ref), tol)
        np.testing.assert_array_equal(y, y.T)  # symmetrised


def test_product_methods_match_eig():
    """Matrix products only ("newton-schulz": NS roots, inverse scaling and squaring logm, Taylor expm) agree with
    "eig" to the same eps (kappa(a) + kappa(b)) scale, at n = 16, cond 1e4."""
    n = 16
    a, b = _pair(n, 1e4, batch=(2,), seed=3)
    tol = _tol(a, b)
    for f in (matfunc.distance_riemann, matfunc.distance_logeuclid):
        np.testing.assert_allclose(f(a, b, method="newton-schulz"), f(a, b, method="eig"), rtol=0, atol=tol)
    for alpha in (0.5, 0.25, 0.3):
        y = matfunc.geodesic_riemann(a, b, alpha, method="ns")
        assert rel_err(y, matfunc.geodesic_riemann(a, b, alpha, method="eig")) <= tol


# --- the geometry's identities ------------------------------------------------------------------------------


def test_distance_identities():
    n = 5
    a, b = _pair(n, 1e2, batch=(4,), seed=4)
    rng = np.random.default_rng(4)
    c = rng.standard_normal((n, n)) + 3 * np.eye(n)  # invertible, moderately conditioned
    kc = np.linalg.cond(c) ** 2
    tol = _tol(a, b)
    d = matfunc.distance_riemann(a, b)
    np.testing.assert_allclose(matfunc.distance_riemann(b, a), d, rtol=0, atol=tol)
    np.testing.assert_allclose(matfunc.distance_riemann(a, a), 0.0, rtol=0, atol=tol)
    np.testing.assert_allclose(matfunc.distance_riemann(c @ a @ c.T, c @ b @ c.T), d, rtol=0, atol=kc * tol)
    ai, bi = np.linalg.inv(a), np.linalg.inv(b)
    np.testing.assert_allclose(matfunc.distance_riemann(ai, bi), d, rtol=0, atol=tol)
    # log-Euclidean: invariant under rotations and inversion, not general congruence; triangle inequality
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    dle = matfunc.distance_logeuclid(a, b)
    np.testing.assert_allclose(matfunc.distance_logeuclid(q @ a @ q.T, q @ b @ q.T), dle, rtol=0, atol=tol)
    np.testing.assert_allclose(matfunc.distance_logeuclid(ai, bi), dle, rtol=0, atol=tol)
    assert abs(float(matfunc.distance_logeuclid(c @ a[0] @ c.T, c @ b[0] @ c.T)) - float(dle[0])) > 1e3 * tol
    m = spd(n, 1e2, seed=40)[0]
    assert np.all(d <= matfunc.distance_riemann(a, m) + matfunc.distance_riemann(m, b) + tol)
    # commuting a and b: both distances are sqrt(sum log^2(mu_i / lambda_i))
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    lam, mu = np.logspace(0, 2, n), np.logspace(1, -1, n)
    ac, bc = (q * lam) @ q.T, (q * mu) @ q.T
    exact = np.sqrt(np.sum(np.log(mu / lam) ** 2))
    for f in (matfunc.distance_riemann, matfunc.distance_logeuclid):
        assert abs(float(f(ac, bc)) - exact) <= 10 * n * EPS64 * 200


def test_geodesic_identities():
    n = 5
    a, b = _pair(n, 1e2, batch=(3,), seed=5)
    tol = _tol(a, b)
    mean = matfunc.geodesic_riemann(a, b)
    assert rel_err(mean, to_numpy(matfunc.geodesic_riemann(b, a))) <= tol  # a # b = b # a
    np.testing.assert_allclose(mean, np.swapaxes(mean, -1, -2), rtol=0, atol=0)
    assert np.all(np.linalg.eigvalsh(mean) > 0)
    # Riccati equation X a^{-1} X = b, and the endpoints
    assert rel_err(mean @ np.linalg.solve(a, mean), b) <= tol
    assert rel_err(matfunc.geodesic_riemann(a, b, 0.0), a) <= tol
    assert rel_err(matfunc.geodesic_riemann(a, b, 1), b) <= tol
    # a #_t b = b #_{1-t} a, and the point at t lies at distance |t| d(a, b) from a (extrapolation too)
    d = matfunc.distance_riemann(a, b)
    for t in (0.3, 0.5, 1.7, -0.4):
        y = matfunc.geodesic_riemann(a, b, t)
        assert rel_err(y, matfunc.geodesic_riemann(b, a, 1 - t)) <= tol
        np.testing.assert_allclose(matfunc.distance_riemann(a, y), abs(t) * d, rtol=0, atol=_tol(a, y) + tol)
    # commuting a, b: (a b)^{1/2}; a^{1/2} = geodesic from I to a at 1/2
    q = np.linalg.qr(np.random.default_rng(5).standard_normal((n, n)))[0]
    ac, bc = (q * np.logspace(0, 2, n)) @ q.T, (q * np.logspace(1, -1, n)) @ q.T
    ab_half = (q * np.sqrt(np.logspace(0, 2, n) * np.logspace(1, -1, n))) @ q.T
    assert rel_err(matfunc.geodesic_riemann(ac, bc), ab_half) <= 10 * n * EPS64 * 200
    assert rel_err(matfunc.geodesic_riemann(np.eye(n), a), matfunc.sqrtm(a, method="eig")) <= tol


def test_inputs_not_mutated_and_broadcasting():
    n = 4
    a, _ = _pair(n, 10.0, batch=(2, 1), seed=6)
    _, b = _pair(n, 10.0, batch=(3,), seed=6)
    a0, b0 = a.copy(), b.copy()
    d = matfunc.distance_riemann(a, b)
    y = matfunc.geodesic_riemann(a, b, 0.3)
    assert d.shape == (2, 3) and y.shape == (2, 3, n, n)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    for i in range(2):
        for j in range(3):
            assert d[i, j] == pytest.approx(float(matfunc.distance_riemann(a[i, 0], b[j])), abs=1e-13)
            np.testing.assert_allclose(y[i, j], matfunc.geodesic_riemann(a[i, 0], b[j], 0.3), atol=1e-13)
    assert matfunc.distance_logeuclid(a, b).shape == (2, 3)
    # one matrix against a batch
    assert matfunc.distance_riemann(np.eye(n), b).shape == (3,)


# --- backends, dtypes ---------------------------------------------------------------------------------------


def test_backends_dtypes(xp):
    n, cond = 5, 100.0
    a64, b64 = _pair(n, cond, batch=(2, 1), seed=7)
    b64 = b64[:, 0]  # (2, n, n): broadcasts with a's (2, 1) to (2, 2)
    refs = {f: to_numpy(f(a64, b64)) for f in (matfunc.distance_riemann, matfunc.distance_logeuclid)}
    ref_y = to_numpy(matfunc.geodesic_riemann(a64, b64, 0.3))
    for dtype, eps in (("float64", EPS64), ("float32", EPS32)):
        tol = 10 * n * eps * 2 * cond
        a, b = xp.asarray(a64.astype(dtype)), xp.asarray(b64.astype(dtype))
        for f, ref in refs.items():
            d = f(a, b)
            assert type(d) is type(a) and tuple(d.shape) == (2, 2) and d.dtype == a.dtype
            np.testing.assert_allclose(to_numpy(d), ref, rtol=0, atol=tol)
        y = matfunc.geodesic_riemann(a, b, 0.3)
        assert type(y) is type(a) and tuple(y.shape) == (2, 2, n, n) and y.dtype == a.dtype
        assert rel_err(y, ref_y) <= tol
    if xp.__name__ in ("torch", "jax.numpy", "numpy"):
        half = (
            (lambda x: xp.asarray(x).to(xp.float16))
            if xp.__name__ == "torch"
            else (lambda x: xp.asarray(x.astype("float16")))
        )
        a, b = half(a64), half(b64)
        d = matfunc.distance_riemann(a, b)
        assert d.dtype == a.dtype
        # float16 input rounding (2^-11 relative) moves the eigenvalues by up to kappa times that
        np.testing.assert_allclose(
            to_numpy(d).astype(np.float64), refs[matfunc.distance_riemann], rtol=0, atol=10 * n * 2.0**-11 * 2 * cond
        )
        assert matfunc.geodesic_riemann(a, b).dtype == a.dtype
    empty = xp.asarray(np.zeros((0, n, n)))
    assert tuple(matfunc.distance_riemann(empty, xp.asarray(a64)).shape) == (2, 0)
    assert tuple(matfunc.geodesic_riemann(empty, empty).shape) == (0, n, n)


def test_complex_hermitian(xp):
    """HPD input: the distance against SciPy's complex generalised eigenvalues, the mean's Riccati equation."""
    rng = np.random.default_rng(8)
    n = 4
    a, b = _random_spd(n, rng, complex_=True), _random_spd(n, rng, complex_=True)
    tol = 10 * n * EPS64 * (_kappa(a) + _kappa(b))
    d = matfunc.distance_riemann(xp.asarray(a), xp.asarray(b))
    assert d.dtype == xp.float64
    assert abs(float(to_numpy(d)) - float(_ref_riemann(a, b))) <= tol
    assert (
        abs(float(to_numpy(matfunc.distance_logeuclid(xp.asarray(a), xp.asarray(b)))) - float(_ref_logeuclid(a, b)))
        <= tol
    )
    m = to_numpy(matfunc.geodesic_riemann(xp.asarray(a), xp.asarray(b)))
    assert m.dtype == np.complex128
    assert np.linalg.norm(m @ np.linalg.solve(a, m) - b) <= tol * np.linalg.norm(b)
    np.testing.assert_array_equal(m, m.conj().T)
    # real a with complex b: promoted to complex
    assert to_numpy(matfunc.geodesic_riemann(xp.asarray(a.real.copy()), xp.asarray(b))).dtype == np.complex128


def test_dask():
    da = pytest.importorskip("dask.array")
    a, b = _pair(4, 100.0, batch=(4,), seed=9)
    x, y = da.from_array(a, chunks=(2, 4, 4)), da.from_array(b, chunks=(2, 4, 4))
    for f in (matfunc.distance_riemann, matfunc.distance_logeuclid, matfunc.geodesic_riemann):
        r = f(x, y)
        assert isinstance(r, da.Array)
        np.testing.assert_allclose(r.compute(), f(a, b), rtol=1e-12, atol=1e-13)


# --- checks and errors --------------------------------------------------------------------------------------


def test_errors():
    a, b = _pair(4, 10.0, batch=(3,), seed=10)
    bad = b.copy()
    bad[1] = np.diag([1.0, 1.0, 1.0, -1e-3])
    with pytest.raises(ValueError, match=r"distance_riemann \(b\).*batch index \(1,\)"):
        matfunc.distance_riemann(a, bad)
    sing = a.copy()
    sing[2] = np.diag([1.0, 1.0, 1.0, 0.0])
    with pytest.raises(matfunc.SingularMatrixError, match=r"geodesic_riemann \(a\).*batch index \(2,\).*ridge"):
        matfunc.geodesic_riemann(sing, b)
    asym = a.copy()
    asym[0, 0, 1] += 0.5
    with pytest.raises(ValueError, match=r"distance_logeuclid \(a\).*not symmetric"):
        matfunc.distance_logeuclid(asym, b)
    with pytest.raises(ValueError, match=r"\(a\) expects a \(\.\.\., n, n\)"):
        matfunc.distance_riemann(a[..., :3], b)
    with pytest.raises(ValueError, match="same size"):
        matfunc.distance_riemann(a, b[..., :3, :3])
    with pytest.raises(ValueError, match=r"batch shapes of a \(3,\) and b \(2,\) do not broadcast"):
        matfunc.distance_riemann(a, b[:2])
    with pytest.raises(ValueError, match="unknown method 'pade'"):
        matfunc.geodesic_riemann(a, b, method="pade")
    with pytest.raises(TypeError, match="alpha must be a real number"):
        matfunc.geodesic_riemann(a, b, "half")
    with pytest.raises(ValueError, match="alpha must be finite"):
        matfunc.geodesic_riemann(a, b, float("inf"))
    with pytest.raises(TypeError, match="squared must be True or False"):
        matfunc.distance_riemann(a, b, squared="yes")
    d = matfunc.distance_riemann(np.eye(3, dtype=np.int64)[None].repeat(2, 0), np.eye(3))  # SciPy's rule
    assert d.dtype == np.float64 and np.all(d == 0)
    _, vjp = matfunc.distance_riemann_vjp(a, b)
    with pytest.raises(ValueError, match=r"cotangent must have the output's shape \(3,\)"):
        vjp(np.ones(4))
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="same library"):
        matfunc.distance_riemann(a, torch.asarray(b))
    # matrix products only: a^{-1/2} b a^{-1/2} beyond the covered condition number raises with the fix, and
    # the suggested max_cond gives eig's accuracy (commuting a, b: the exact distance is known)
    n = 16
    q = np.linalg.qr(np.random.default_rng(10).standard_normal((n, n)))[0]
    lam = np.logspace(0, -7, n)
    mu = lam[::-1].copy()
    ac, bc = (q * lam) @ q.T, (q * mu) @ q.T
    ac, bc = (ac + ac.T) / 2, (bc + bc.T) / 2
    with pytest.raises(
        ValueError,
        match=r"condition number up to 1(\.\d+)?e\+14, beyond max_cond=1\.\d+e\+08.*"
        r"Pass max_cond=1e\+15",
    ):
        matfunc.distance_riemann(ac, bc, method="newton-schulz")
    exact = np.sqrt(np.sum(np.log(mu / lam) ** 2))
    d_ns = matfunc.distance_riemann(ac, bc, method="newton-schulz", max_cond=1e15)
    assert abs(float(d_ns) - exact) <= _tol(ac, bc)
    with pytest.raises(ValueError, match="max_cond applies to method='newton-schulz'"):
        matfunc.distance_riemann(a, b, method="eig", max_cond=1e3)
    # check=False skips the input checks (the caller vouches for the input): no error, a raw result
    assert matfunc.distance_riemann(a, bad, check=False).shape == (3,)


# --- gradients ----------------------------------------------------------------------------------------------


def _fd_check(f, args, grads, g, *, h=1e-6):
    """Central differences along random symmetric directions against <grad, e> (truncation O(h^2), rounding
    O(eps / h): relative 1e-7 is well above both for these smooth functions of modest size)."""
    rng = np.random.default_rng(11)
    for i, (x, gx) in enumerate(zip(args, grads, strict=True)):
        for _ in range(3):
            e = rng.standard_normal(x.shape)
            e = e + np.swapaxes(e, -1, -2)
            plus = list(args)
            minus = list(args)
            plus[i], minus[i] = x + h * e, x - h * e
            fd = float(np.sum(g * (f(*plus) - f(*minus)))) / (2 * h)
            an = float(np.sum(gx * e))
            assert abs(an - fd) <= 1e-7 * (abs(fd) + np.linalg.norm(g) * np.linalg.norm(e)), (i, an, fd)


@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_manual_vjps_finite_differences(method):
    n = 4
    a, b = _pair(n, 10.0, batch=(2,), seed=12)
    rng = np.random.default_rng(12)
    for squared in (True, False):
        for fn, vjp_fn in (
            (matfunc.distance_riemann, matfunc.distance_riemann_vjp),
            (matfunc.distance_logeuclid, matfunc.distance_logeuclid_vjp),
        ):
            d, vjp = vjp_fn(a, b, squared=squared, method=method)
            np.testing.assert_allclose(d, fn(a, b, squared=squared, method=method), rtol=1e-14)
            g = rng.standard_normal(d.shape)
            _fd_check(lambda x, y, fn=fn, squared=squared: fn(x, y, squared=squared, method="eig"), (a, b), vjp(g), g)
    for alpha in (0.5, 0.3):
        y, vjp = matfunc.geodesic_riemann_vjp(a, b, alpha, method=method)
        g = rng.standard_normal(y.shape)
        _fd_check(lambda x, z, alpha=alpha: matfunc.geodesic_riemann(x, z, alpha, method="eig"), (a, b), vjp(g), g)


def test_vjp_closed_form_and_zero_distance():
    """d(d_R^2)/db = 2 b^{-1} log(b a^{-1}) and d/da = 2 a^{-1} log(a b^{-1}) (SciPy's logm of the non-symmetric
    products); at a == b the gradients of the distance (squared or not) are exactly 0."""
    n = 5
    a, b = _pair(n, 1e3, seed=13)
    _, vjp = matfunc.distance_riemann_vjp(a, b, squared=True)
    da, db = vjp(np.ones(()))
    ref_db = 2 * np.linalg.solve(b, scipy.linalg.logm(b @ np.linalg.inv(a)).real)
    ref_da = 2 * np.linalg.solve(a, scipy.linalg.logm(a @ np.linalg.inv(b)).real)
    tol = 10 * n * EPS64 * (_kappa(a) + _kappa(b)) * 10  # one more inverse in the reference
    assert rel_err(db, (ref_db + ref_db.T) / 2) <= tol
    assert rel_err(da, (ref_da + ref_da.T) / 2) <= tol
    for fn in (matfunc.distance_riemann_vjp, matfunc.distance_logeuclid_vjp):
        for squared in (True, False):
            d, vjp = fn(a, a, squared=squared)
            da, db = vjp(np.ones(()))
            assert float(d) == 0.0
            assert np.all(da == 0) and np.all(db == 0)
            # within rounding of a == b (not bitwise equal): finite, bounded by the Lipschitz constant of d
            # in the Frobenius norm (||a^{-1}||_2 for each argument), for the non-squared distance
            d, vjp = fn(a, a * (1 + EPS64), squared=squared)
            da, db = vjp(np.ones(()))
            bound = 1.0 / np.linalg.eigvalsh(a)[0] * (1 + 1e-6)
            assert np.isfinite(d) and np.all(np.isfinite(da)) and np.all(np.isfinite(db))
            if not squared:
                assert np.linalg.norm(da) <= bound and np.linalg.norm(db) <= bound


def test_torch_gradcheck():
    torch = pytest.importorskip("torch")
    a0, b0 = _pair(3, 10.0, seed=14)
    a = torch.tensor(a0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    for squared in (True, False):
        for f in (matfunc.distance_riemann, matfunc.distance_logeuclid):
            fun = lambda x, y, f=f, squared=squared: f(x, y, squared=squared, check=False)  # noqa: E731
            assert torch.autograd.gradcheck(fun, (a, b), eps=1e-6, atol=1e-6, rtol=1e-5)
    for alpha in (0.5, 0.3):
        fun = lambda x, y, alpha=alpha: matfunc.geodesic_riemann(x, y, alpha, check=False)  # noqa: E731
        assert torch.autograd.gradcheck(fun, (a, b), eps=1e-6, atol=1e-6, rtol=1e-5)
    # complex Hermitian input (PyTorch's conjugate Wirtinger convention)
    rng = np.random.default_rng(14)
    ac = torch.tensor(_random_spd(3, rng, complex_=True), requires_grad=True)
    bc = torch.tensor(_random_spd(3, rng, complex_=True), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, y: matfunc.distance_riemann(x, y, squared=True, check=False), (ac, bc), eps=1e-6, atol=1e-6, rtol=1e-5
    )


def test_torch_zero_distance_and_manual_vjp():
    """At a == b: distance 0, gradients exactly 0 (no NaN); the manual VJP equals autograd, broadcasting included."""
    torch = pytest.importorskip("torch")
    a0, _ = _pair(4, 10.0, batch=(2, 1), seed=15)
    _, b0 = _pair(4, 10.0, batch=(3,), seed=15)
    for f in (matfunc.distance_riemann, matfunc.distance_logeuclid):
        for squared in (True, False):
            a = torch.tensor(a0[0, 0], requires_grad=True)
            d = f(a, a.detach().clone().requires_grad_(True), squared=squared)
            (da,) = torch.autograd.grad(d, a)
            assert torch.all(da == 0) and float(d.detach()) == 0.0
    g = np.random.default_rng(15).standard_normal((2, 3))
    for f, fv in (
        (matfunc.distance_riemann, matfunc.distance_riemann_vjp),
        (matfunc.distance_logeuclid, matfunc.distance_logeuclid_vjp),
    ):
        a, b = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
        da, db = torch.autograd.grad(f(a, b), (a, b), torch.tensor(g))
        mda, mdb = fv(a0, b0)[1](g)
        assert mda.shape == a0.shape and mdb.shape == b0.shape
        np.testing.assert_allclose(mda, da.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(mdb, db.numpy(), rtol=1e-10, atol=1e-12)
    gy = np.random.default_rng(16).standard_normal((2, 3, 4, 4))
    a, b = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    da, db = torch.autograd.grad(matfunc.geodesic_riemann(a, b, 0.3), (a, b), torch.tensor(gy))
    mda, mdb = matfunc.geodesic_riemann_vjp(a0, b0, 0.3)[1](gy)
    np.testing.assert_allclose(mda, da.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mdb, db.numpy(), rtol=1e-10, atol=1e-12)


def test_jax_check_grads():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    a0, b0 = _pair(3, 10.0, seed=17)
    a, b = jnp.asarray(a0), jnp.asarray(b0)
    for squared in (True, False):
        for f in (matfunc.distance_riemann, matfunc.distance_logeuclid):
            check_grads(
                lambda x, y, f=f, squared=squared: f(x, y, squared=squared, check=False),
                (a, b),
                order=1,
                modes=["fwd", "rev"],
                eps=1e-6,
                atol=1e-5,
                rtol=1e-5,
            )
    for alpha in (0.5, 0.3):
        check_grads(
            lambda x, y, alpha=alpha: matfunc.geodesic_riemann(x, y, alpha, check=False),
            (a, b),
            order=1,
            modes=["fwd", "rev"],
            eps=1e-6,
            atol=1e-5,
            rtol=1e-5,
        )
    # jit, and the zero-distance gradient
    f = jax.jit(lambda x, y: matfunc.distance_riemann(x, y))
    np.testing.assert_allclose(np.asarray(f(a, b)), matfunc.distance_riemann(a0, b0), rtol=1e-13)
    for fn in (matfunc.distance_riemann, matfunc.distance_logeuclid):
        ga, gb = jax.grad(fn, argnums=(0, 1))(a, a)
        assert np.all(np.asarray(ga) == 0) and np.all(np.asarray(gb) == 0)
    gm = jax.jit(jax.grad(lambda x, y: jnp.sum(matfunc.geodesic_riemann(x, y) ** 2)))(a, b)
    assert np.all(np.isfinite(np.asarray(gm)))


# --- the Karcher mean ---------------------------------------------------------------------------------------


def _stack(count, n, cond, *, seed, batch=()):
    return np.stack([spd(n, cond, batch=batch, seed=seed + i)[0] for i in range(count)], axis=-3)


def _cluster(count, n, *, seed, batch=(), spread=0.2):
    """``count`` SPD matrices near a common one (a few Karcher steps reach rounding: quick on eager JAX)."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((*batch, count, n, n))
    base = spd(n, 10.0, seed=seed)[0]
    root = np.linalg.cholesky(base)
    return root @ matfunc.expm(spread * (e + np.swapaxes(e, -1, -2)) / (2 * np.sqrt(n))) @ root.T


def test_mean_riemann_properties():
    """The first-order condition sum_i w_i log(M^{-1/2} X_i M^{-1/2}) = 0 to rounding; two matrices: the geometric
    mean (weights (1 - t, t): the geodesic at t); commuting: exp(sum w_i log x_i); congruence and permutation
    invariance; one matrix: itself."""
    n = 5
    x = _stack(6, n, 1e2, seed=20)
    tol = 10 * n * EPS64 * 1e2 * 1e2  # kappa(x_i) kappa(M) bounds kappa(M^{-1/2} x_i M^{-1/2})
    m = matfunc.mean_riemann(x)
    wi = matfunc.inv_sqrtm(m)
    assert np.linalg.norm(matfunc.logm(wi @ x @ wi, method="eig").mean(axis=0)) <= tol
    np.testing.assert_array_equal(m, m.T)
    assert rel_err(matfunc.mean_riemann(x[::-1]), m) <= tol
    rng = np.random.default_rng(20)
    c = rng.standard_normal((n, n)) + 3 * np.eye(n)
    assert rel_err(matfunc.mean_riemann(c @ x @ c.T), c @ m @ c.T) <= tol * np.linalg.cond(c) ** 2
    a, b = x[0], x[1]
    assert rel_err(matfunc.mean_riemann(x[:2]), matfunc.geodesic_riemann(a, b)) <= tol
    assert rel_err(matfunc.mean_riemann(x[:2], [0.7, 0.3]), matfunc.geodesic_riemann(a, b, 0.3)) <= tol
    assert rel_err(matfunc.mean_riemann(x[:1]), x[0]) <= tol
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    lam = rng.uniform(0.1, 10.0, (4, n))
    w = np.array([1.0, 2.0, 3.0, 4.0])
    xc = np.stack([(q * lam_i) @ q.T for lam_i in lam])
    exact = (q * np.exp((w[:, None] * np.log(lam)).sum(0) / w.sum())) @ q.T
    assert rel_err(matfunc.mean_riemann(xc, w), exact) <= 10 * n * EPS64 * 100
    # batched means (..., N, n, n) -> (..., n, n), and the products-only method
    xb = _stack(3, 4, 10.0, seed=30, batch=(2,))
    mb = matfunc.mean_riemann(xb)
    assert mb.shape == (2, 4, 4)
    for i in range(2):
        assert rel_err(mb[i], matfunc.mean_riemann(xb[i])) <= 1e-13
    assert rel_err(matfunc.mean_riemann(x, method="newton-schulz"), m) <= tol


def test_mean_riemann_backends(xp):
    n = 4
    x64 = _cluster(3, n, seed=21, batch=(2,))
    ref = matfunc.mean_riemann(x64)
    for dtype, eps in (("float64", EPS64), ("float32", EPS32)):
        x = xp.asarray(x64.astype(dtype))
        m = matfunc.mean_riemann(x, xp.asarray(np.ones(3, dtype=dtype)))
        assert type(m) is type(x) and tuple(m.shape) == (2, n, n) and m.dtype == x.dtype
        assert rel_err(m, ref) <= 10 * n * eps * 100
    rng = np.random.default_rng(21)
    xc = np.stack([_random_spd(n, rng, complex_=True) for _ in range(3)])
    mc = to_numpy(matfunc.mean_riemann(xp.asarray(xc)))
    assert mc.dtype == np.complex128
    wi = matfunc.inv_sqrtm(mc)
    assert np.linalg.norm(matfunc.logm(wi @ xc @ wi).mean(axis=0)) <= 10 * n * EPS64 * 100


def test_mean_riemann_dask():
    da = pytest.importorskip("dask.array")
    x = _cluster(3, 4, seed=25, batch=(4,))
    y = matfunc.mean_riemann(da.from_array(x, chunks=(2, 1, 4, 4)), [1.0, 2.0, 3.0])
    assert isinstance(y, da.Array) and y.shape == (4, 4, 4)
    np.testing.assert_allclose(y.compute(), matfunc.mean_riemann(x, [1.0, 2.0, 3.0]), rtol=1e-13, atol=1e-14)


def test_mean_riemann_errors_and_convergence():
    x = _stack(3, 4, 10.0, seed=22)
    with pytest.raises(ValueError, match=r"\(\.\.\., N, n, n\) stack"):
        matfunc.mean_riemann(x[0])
    with pytest.raises(ValueError, match=r"weights must have shape \(\.\.\., 3\)"):
        matfunc.mean_riemann(x, [1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        matfunc.mean_riemann(x, [1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="mean of zero matrices"):
        matfunc.mean_riemann(x[:0])
    bad = x.copy()
    bad[1] = np.diag([1.0, 1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match=r"mean_riemann expects positive definite.*batch index \(1,\)"):
        matfunc.mean_riemann(bad)
    spread = _stack(4, 4, 1e6, seed=23)
    with pytest.raises(ValueError, match=r"did not converge in maxiter=1 steps.*larger maxiter"):
        matfunc.mean_riemann(spread, maxiter=1)
    # tol: fewer steps, a looser first-order condition (still within tol)
    m = matfunc.mean_riemann(spread, tol=1e-3)
    wi = matfunc.inv_sqrtm(m)
    assert np.linalg.norm(matfunc.logm(wi @ spread @ wi).mean(axis=0)) <= 1e-3


def test_mean_riemann_gradients():
    torch = pytest.importorskip("torch")
    x = torch.tensor(_cluster(3, 3, seed=24), requires_grad=True)
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: matfunc.mean_riemann(a, b, check=False), (x, w), eps=1e-6, atol=1e-6, rtol=1e-5
    )
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    xj = jnp.asarray(_cluster(3, 3, seed=24))
    check_grads(
        lambda a: matfunc.mean_riemann(a, maxiter=3, check=False),
        (xj,),
        order=1,
        modes=["rev"],
        eps=1e-6,
        atol=1e-5,
        rtol=1e-5,
    )
    # under jit all maxiter steps run (no data-dependent stop): the same mean once converged
    f = jax.jit(lambda a: matfunc.mean_riemann(a, maxiter=10))
    np.testing.assert_allclose(np.asarray(f(xj)), matfunc.mean_riemann(np.asarray(xj)), rtol=1e-12, atol=1e-13)


def test_mean_riemann_maxiter_zero_and_numpy_tol():
    """Issue 25 item 18: maxiter=0 (the log-Euclidean start as it is) or too few steps raise with check=True,
    naming maxiter, tol and the fix; check=False returns silently; commuting input is converged at the start.
    Item 17: tol may be a NumPy scalar."""
    spread = _stack(4, 4, 1e6, seed=23)
    for k in (0, 1):
        with pytest.raises(ValueError, match=rf"did not converge in maxiter={k} steps.*tol=.*larger maxiter"):
            matfunc.mean_riemann(spread, maxiter=k)
    start = matfunc.mean_riemann(spread, maxiter=0, check=False)
    np.testing.assert_allclose(start, matfunc.expm(matfunc.logm(spread).mean(axis=0)), rtol=1e-12)
    commuting = np.stack([np.diag([1.0, 4.0]), np.diag([4.0, 1.0])])
    np.testing.assert_allclose(matfunc.mean_riemann(commuting, maxiter=0), 2.0 * np.eye(2), rtol=1e-14)
    m = matfunc.mean_riemann(spread, tol=np.float32(1e-3), maxiter=np.int64(100))
    wi = matfunc.inv_sqrtm(m)
    assert np.linalg.norm(matfunc.logm(wi @ spread @ wi).mean(axis=0)) <= 1e-3


@pytest.mark.parametrize("method", ["eig"])
def test_jit_on_a_constant(method):
    """Issue 25 item 8: the geometry functions on concrete constants inside jax.jit, default check=True: no
    TracerBoolConversionError, eager's values (mean_riemann runs its maxiter steps under the trace)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    a, b = (jnp.asarray(spd(3, 10.0, seed=s)[0]) for s in (3, 4))
    stack = jnp.asarray(_cluster(3, 3, seed=24))
    calls = [
        lambda: matfunc.distance_riemann(a, b, method=method),
        lambda: matfunc.distance_logeuclid(a, b, method=method),
        lambda: matfunc.geodesic_riemann(a, b, 0.3, method=method),
        lambda: matfunc.mean_riemann(stack, maxiter=3, method=method),
    ]
    for call in calls:
        out = jax.jit(lambda x, call=call: call() + x)(jnp.zeros(()))
        ref = call() if call is not calls[-1] else matfunc.mean_riemann(stack, maxiter=3, method=method, check=False)
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-9, atol=1e-12)
