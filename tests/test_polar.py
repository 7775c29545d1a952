"""matfunc.polar / orthogonalize / polar_vjp: against scipy.linalg.polar, orthogonality, A = U P, gradients,
low precision, dtype rules and errors.

Tolerances: the polar factor of a full-rank matrix has condition number about ``cond(A)`` (``||dU|| <= 2 ||dA|| /
(sigma_{n-1} + sigma_n)``; Higham, Functions of Matrices, thm. 8.9), ``P`` about 1, so forward tolerances are
``C k eps cond`` and ``C k eps`` with ``C = 10`` for the few roundings per product.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

import matfunc
from matfunc.core import polar_schedules as ps
from tests.conftest import to_numpy


def rect(m, n, cond, *, batch=(), seed=0, dtype=np.float64, complex_=False):
    """``A = W diag(s) V^H`` (m x n), singular values log-spaced from 1 to 1/cond."""
    rng = np.random.default_rng(seed)
    k = min(m, n)

    def orth(r, c):
        z = rng.standard_normal((*batch, r, c))
        if complex_:
            z = z + 1j * rng.standard_normal((*batch, r, c))
        return np.linalg.qr(z)[0]

    w, v = orth(m, k), orth(n, k)
    s = np.logspace(0.0, -math.log10(cond), k)
    a = (w * s[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))
    return a.astype(dtype if not complex_ else np.complex128)


def _ref(a, side):
    flat = a.reshape(-1, *a.shape[-2:])
    us, ps_ = zip(*(scipy.linalg.polar(x, side=side) for x in flat), strict=True)
    return np.stack(us).reshape(a.shape), np.stack(ps_).reshape(*a.shape[:-2], *ps_[0].shape)


def _rel(x, ref):
    return float(np.linalg.norm(to_numpy(x) - ref) / np.linalg.norm(ref))


def _asarray(xp, x):
    return xp.asarray(x)


EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (5, 5)])
@pytest.mark.parametrize("method", ["svd", "eig", "newton-schulz", "polar-express"])
def test_matches_scipy_every_backend(xp, shape, method):
    cond = 1e2
    a = rect(*shape, cond, batch=(3,), seed=1)
    k = max(shape)
    tol_u = 10 * k * EPS64 * cond * (cond if method == "eig" else 1.0)  # eig: the Gram squares cond
    for side in ("right", "left"):
        u, p = matfunc.polar(_asarray(xp, a), method, side=side)
        assert type(u) is type(_asarray(xp, a))
        ur, pr = _ref(a, side)
        assert _rel(u, ur) < tol_u, (side, _rel(u, ur))
        assert _rel(p, pr) < 10 * k * EPS64 * (cond if method == "eig" else 1.0)
        assert to_numpy(p).shape == pr.shape
        un, pn = to_numpy(u), to_numpy(p)
        recon = un @ pn if side == "right" else pn @ un
        assert np.linalg.norm(recon - a) / np.linalg.norm(a) < 10 * k * EPS64 * cond


@pytest.mark.parametrize("method", ["svd", "newton-schulz", "polar-express"])
@pytest.mark.parametrize("cond", [1e1, 1e2, 1e3, 1e4])
def test_orthogonality_and_reconstruction_float64(cond, method):
    a = rect(48, 16, cond, batch=(2,), seed=2)
    kw = {} if method == "svd" else {"lower_bound": 0.5 / cond}
    u, p = matfunc.polar(a, method, **kw)
    k = 16
    orth = np.linalg.norm(np.swapaxes(u, -1, -2) @ u - np.eye(k), axis=(-2, -1)).max()
    assert orth < 10 * 48 * EPS64 * math.sqrt(k) * (cond if method != "svd" else 1.0)
    assert np.linalg.norm(u @ p - a) / np.linalg.norm(a) < 10 * 48 * EPS64 * cond
    assert np.allclose(p, np.swapaxes(p, -1, -2)) and np.linalg.eigvalsh(p).min() > -10 * EPS64


def test_complex():
    a = rect(6, 4, 1e2, batch=(2,), seed=3, complex_=True)
    ur, pr = _ref(a, "right")
    for method in ("svd", "newton-schulz", "polar-express"):
        u, p = matfunc.polar(a, method)
        assert _rel(u, ur) < 10 * 6 * EPS64 * 1e2 and _rel(p, pr) < 10 * 6 * EPS64
    torch = pytest.importorskip("torch")
    u, p = matfunc.polar(torch.asarray(a), "newton-schulz", side="left")
    ur, pr = _ref(a, "left")
    assert _rel(u, ur) < 10 * 6 * EPS64 * 1e2 and _rel(p, pr) < 10 * 6 * EPS64


def test_orthogonalize_is_polars_u_and_float32():
    a = rect(40, 24, 1e2, batch=(2,), seed=4).astype(np.float32)
    u = matfunc.orthogonalize(a, method="newton-schulz")
    assert u.dtype == np.float32
    u2, _ = matfunc.polar(a, method="newton-schulz")
    np.testing.assert_array_equal(u, u2)
    ur, _ = _ref(a.astype(np.float64), "right")
    assert _rel(u, ur) < 10 * 40 * EPS32 * 1e2


def test_muon_is_within_its_band():
    a = rect(32, 16, 10.0, seed=5)
    u = matfunc.orthogonalize(a, "muon")
    s = np.linalg.svd(u, compute_uv=False)
    bound = ps.schedule_bound(ps.muon_schedule(5), 0.1 / 16**0.0625)
    assert np.all(np.abs(s - 1) <= bound + 1e-12)


def test_schedules():
    step, err = ps.minimax_quintic(0.1, 1.0)
    xs = np.linspace(0.1, 1.0, 20001)
    pv = step[0] * xs + step[1] * xs**3 + step[2] * xs**5
    assert abs(np.abs(1 - pv).max() - err) < 1e-9  # the reported error is the max on the interval
    # equioscillation: four alternation points with |1 - p| = err (within the grid's resolution)
    assert abs((1 - pv[0]) - err) < 1e-9 and abs((pv[-1] - 1) - err) < 1e-9
    # minimax beats the cubic Newton–Schulz schedule in products from the same lower bound
    for lb in (1e-2, 1e-3):
        assert 3 * ps.polar_express_iters(lb, 1e-3) < 2 * 11
    assert ps.polar_express_iters(1e-3, EPS64) >= ps.polar_express_iters(1e-3, 1e-3)


def test_too_ill_conditioned_for_the_steps_is_an_error():
    a = rect(20, 10, 1e6, seed=6)
    with pytest.raises(ValueError, match=r"lower_bound.*batch|matrix.*lower_bound|U\^H U - I"):
        matfunc.polar(a, "newton-schulz", num_iters=5)
    u, p = matfunc.polar(a, "newton-schulz", num_iters=5, check=False)
    assert np.all(np.isfinite(u))


def test_rank_deficient():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((8, 3)) @ rng.standard_normal((3, 5))  # rank 3, 8 x 5
    u, p = matfunc.polar(a, "svd")
    assert np.allclose(u @ p, a) and np.allclose(u.T @ u, np.eye(5))
    u2, p2 = matfunc.polar(a, "newton-schulz", check=False)
    assert np.allclose(u2 @ p2, a) and np.allclose(p2, p)
    with pytest.raises(ValueError, match="rank-deficient"):
        matfunc.polar(a, "newton-schulz")
    for method in ("svd", "newton-schulz"):
        _, vjp = matfunc.polar_vjp(a, method, check=False)
        da = vjp(np.ones_like(a), np.ones((5, 5)))
        assert np.all(np.isfinite(da))


def _fd(f, a, h):
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[idx] = h
        g[idx] = (f(a + e) - f(a - e)) / (2 * h)
    return g


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5)])
@pytest.mark.parametrize("side", ["right", "left"])
def test_manual_vjp_matches_finite_differences(shape, side):
    rng = np.random.default_rng(8)
    a = rect(*shape, 10.0, seed=8)
    gu = rng.standard_normal(shape)
    k = shape[1] if side == "right" else shape[0]
    gp = rng.standard_normal((k, k))

    def loss(x):
        u, p = matfunc.polar(x, "svd", side=side)
        return float(np.sum(gu * u) + np.sum(gp * p))

    h = EPS64 ** (1 / 3)
    ref = _fd(loss, a, h)
    tol = 10 * h**2 * 10.0**2  # central differences: O(h^2) times the third derivative (~ cond^2)
    for method, backward in (("svd", "eig"), ("newton-schulz", "lyapunov"), ("newton-schulz", "eig")):
        _, vjp = matfunc.polar_vjp(a, method, side=side, backward=backward)
        da = vjp(gu, gp)
        assert np.linalg.norm(da - ref) / np.linalg.norm(ref) < tol, (method, backward)


def test_lyapunov_backward_matches_exact_across_conditions():
    rng = np.random.default_rng(9)
    for cond in (1e1, 1e3):
        a = rect(24, 8, cond, batch=(2,), seed=9)
        g = rng.standard_normal(a.shape)
        exact = matfunc.polar_vjp(a, "svd")[1](g)
        lyap = matfunc.polar_vjp(a, "newton-schulz", lower_bound=0.5 / cond)[1](g)
        assert np.linalg.norm(lyap - exact) / np.linalg.norm(exact) < 10 * 24 * EPS64 * cond**2


def test_torch_gradcheck():
    torch = pytest.importorskip("torch")
    for shape, method in (((5, 3), "newton-schulz"), ((3, 5), "svd"), ((4, 4), "polar-express")):
        a = torch.asarray(rect(*shape, 5.0, batch=(2,), seed=10)).requires_grad_(True)

        def f(x, method=method):
            u, p = matfunc.polar(x, method, check=False)
            return u, p

        assert torch.autograd.gradcheck(f, (a,), eps=1e-6, atol=1e-6, rtol=1e-5)
    # torch agrees with the manual VJP (and complex input follows torch's convention)
    a = rect(6, 4, 10.0, seed=11, complex_=True)
    g = np.random.default_rng(11).standard_normal(a.shape)
    t = torch.asarray(a).requires_grad_(True)
    u, p = matfunc.polar(t, "newton-schulz")
    (torch.sum(torch.asarray(g) * u.real) + p.real.sum()).backward()
    manual = matfunc.polar_vjp(a, "newton-schulz")[1](g.astype(np.complex128), np.ones((4, 4)))
    assert np.abs(t.grad.numpy() - manual).max() < 100 * EPS64 * np.abs(manual).max() * 10


def test_torch_unrolled_matches_custom_backward():
    torch = pytest.importorskip("torch")
    cond = 10.0
    a = torch.asarray(rect(8, 5, cond, seed=12))
    g = torch.asarray(np.random.default_rng(12).standard_normal((8, 5)))
    exact = torch.asarray(matfunc.polar_vjp(a.numpy(), "svd")[1](g.numpy()))
    for backward in ("lyapunov", "unrolled", "eig"):
        x = a.clone().requires_grad_(True)
        (matfunc.orthogonalize(x, "newton-schulz", backward=backward) * g).sum().backward()
        # unrolled differentiates the rounding of every step too: eps cond^2 per step
        assert float((x.grad - exact).norm() / exact.norm()) < 10 * 8 * EPS64 * cond**2, backward


def test_jax_grad_jit_vmap_and_complex():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    a = rect(7, 4, 10.0, batch=(3,), seed=13)
    g = np.random.default_rng(13).standard_normal(a.shape)
    exact = matfunc.polar_vjp(a, "svd")[1](g)

    def loss(x):
        return jnp.sum(jnp.asarray(g) * matfunc.orthogonalize(x, "newton-schulz"))

    da = jax.jit(jax.grad(loss))(jnp.asarray(a))
    assert np.abs(np.asarray(da) - exact).max() < 1e3 * EPS64
    u = jax.vmap(lambda x: matfunc.orthogonalize(x, "polar-express"))(jnp.asarray(a))
    assert np.abs(np.asarray(u) - _ref(a, "right")[0]).max() < 10 * 7 * EPS64 * 10
    from jax.test_util import check_grads

    check_grads(lambda x: matfunc.polar(x, "svd", check=False)[0], (jnp.asarray(a[0]),), order=1, modes=["rev"])
    c = rect(5, 3, 10.0, seed=14, complex_=True)
    gc = np.random.default_rng(14).standard_normal(c.shape)

    def closs(x):
        return jnp.sum(jnp.asarray(gc) * jnp.real(matfunc.orthogonalize(x, "newton-schulz")))

    dc = jax.grad(closs)(jnp.asarray(c))
    manual = matfunc.polar_vjp(c, "newton-schulz")[1](gc.astype(np.complex128))
    assert np.abs(np.conj(np.asarray(dc)) - manual).max() < 1e3 * EPS64


def test_low_precision_products_recover_float32():
    torch = pytest.importorskip("torch")
    a = torch.asarray(rect(64, 32, 1e2, batch=(2,), seed=15).astype(np.float32))
    eye = torch.eye(32)
    orth = {}
    for mdt in (None, "bfloat16"):
        u = matfunc.orthogonalize(a, "polar-express", lower_bound=1e-2 / 2, matmul_dtype=mdt)
        orth[mdt] = float(torch.linalg.matrix_norm(u.mT @ u - eye).max())
    assert orth["bfloat16"] < 10 * 64 * EPS32 * math.sqrt(32)  # the float32 refinement steps recover float32
    u = matfunc.orthogonalize(
        a.to(torch.bfloat16), "polar-express", matmul_dtype="bfloat16", check=False, lower_bound=1e-3, num_iters=5
    )
    assert u.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="bfloat16"):
        matfunc.orthogonalize(np.ones((3, 2)), "newton-schulz", matmul_dtype="bfloat16")
    u16 = matfunc.orthogonalize(rect(16, 8, 10.0, seed=16).astype(np.float32), "newton-schulz", matmul_dtype="float16")
    assert np.linalg.norm(u16.T @ u16 - np.eye(8)) < 10 * 16 * EPS32 * math.sqrt(8)


def test_dtypes_and_errors():
    a16 = rect(6, 4, 10.0, seed=17).astype(np.float16)
    u, p = matfunc.polar(a16)
    assert u.dtype == np.float16 and p.dtype == np.float16
    with pytest.raises(TypeError, match="extended precision"):
        matfunc.polar(np.ones((3, 2), dtype=np.longdouble))
    u, p = matfunc.polar(np.array([[1, 0], [0, 2]], dtype=np.int64))  # integer arrays as lists: float64
    assert u.dtype == np.float64 and np.allclose(p, [[1, 0], [0, 2]])
    with pytest.raises(TypeError, match="floating"):
        matfunc.polar(np.ones((3, 2), dtype="U3"))
    u, p = matfunc.polar([[1, 0], [0, 2]])  # lists as SciPy: integers as float64
    assert u.dtype == np.float64 and np.allclose(p, [[1, 0], [0, 2]])
    with pytest.raises(ValueError, match=r"\(\.\.\., m, n\)"):
        matfunc.polar(np.ones(3))
    bad = rect(4, 3, 10.0, batch=(2, 3), seed=18)
    bad[1, 2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"batch index \(1, 2\)"):
        matfunc.polar(bad)
    with pytest.raises(ValueError, match="side"):
        matfunc.polar(np.eye(2), side="top")
    with pytest.raises(ValueError, match="num_iters"):
        matfunc.polar(np.eye(2), "svd", num_iters=3)
    with pytest.raises(ValueError, match="named method"):
        matfunc.polar(np.eye(2), num_iters=3)
    with pytest.raises(ValueError, match="unknown method"):
        matfunc.polar(np.eye(2), "qdwh")
    with pytest.raises(ValueError, match="lower_bound"):
        matfunc.polar(np.eye(2), "polar-express", lower_bound=2.0)
    with pytest.raises(ValueError, match="unrolled"):
        matfunc.polar_vjp(np.eye(2), "newton-schulz", backward="unrolled")
    u, p = matfunc.polar(np.zeros((2, 0, 3)))
    assert u.shape == (2, 0, 3) and p.shape == (2, 3, 3)
    u, p = matfunc.polar(np.zeros((4, 3)), "newton-schulz", check=False)  # zero matrix: U = 0, P = 0
    assert np.all(u == 0) and np.all(p == 0)


def test_strict_and_jax_float32_dtype_preserved(xp):
    a = _asarray(xp, rect(6, 4, 10.0, seed=19).astype(np.float32))
    u, p = matfunc.polar(a, "newton-schulz")
    assert u.dtype == a.dtype and p.dtype == a.dtype


# --- Dask: lazy, chunk by chunk on whole matrices ----------------------------------------------------


def _no_compute(*args, **kwargs):
    raise AssertionError("the Dask graph was computed while it was being built")


@pytest.mark.parametrize("method", ["svd", "newton-schulz", "polar-express"])
@pytest.mark.parametrize("shape", [(7, 4), (4, 7)])
def test_dask_matches_numpy(method, shape):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    cond = 1e2
    a = rect(*shape, cond, batch=(5, 2), seed=20)
    k = max(shape)
    tol = 10 * k * EPS64 * cond  # the same core code per chunk: rounding of a few products, times cond(U)
    with dask.config.set(scheduler=_no_compute):  # building the graph computes nothing
        x = da.from_array(a, chunks=(2, 1, 3, 2))  # matrix axes split: rechunked to whole matrices
        outs = {side: matfunc.polar(x, method, side=side) for side in ("right", "left")}
        ux = matfunc.orthogonalize(x, method)
    assert isinstance(ux, da.Array) and ux.chunks[-2:] == ((shape[0],), (shape[1],))
    for side, (u, p) in outs.items():
        assert isinstance(u, da.Array) and isinstance(p, da.Array)
        un, pn = matfunc.polar(a, method, side=side)
        assert u.shape == un.shape and p.shape == pn.shape and u.dtype == un.dtype
        assert _rel(u.compute(), un) < tol and _rel(p.compute(), pn) < tol
    assert _rel(ux.compute(), matfunc.orthogonalize(a, method)) < tol
    c = rect(*shape, cond, batch=(3,), seed=21, complex_=True)
    u, p = matfunc.polar(da.from_array(c, chunks=(2, shape[0], shape[1])), method)
    un, pn = matfunc.polar(c, method)
    assert u.dtype == np.complex128 and _rel(u.compute(), un) < tol and _rel(p.compute(), pn) < tol


@pytest.mark.parametrize("side", ["right", "left"])
def test_dask_polar_vjp_matches_numpy(side):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    cond = 10.0
    a = rect(6, 4, cond, batch=(5,), seed=22)
    rng = np.random.default_rng(22)
    k = 4 if side == "right" else 6
    gu, gp = rng.standard_normal(a.shape), rng.standard_normal((5, k, k))
    tol = 10 * 6 * EPS64 * cond**2  # the backward solves with P: conditioning cond(A)^2 at most
    for method in ("svd", "newton-schulz"):
        (un, pn), vjp_n = matfunc.polar_vjp(a, method, side=side)
        with dask.config.set(scheduler=_no_compute):
            (u, p), vjp = matfunc.polar_vjp(da.from_array(a, chunks=(2, 3, 4)), method, side=side)
            grads = [vjp(da.from_array(gu, chunks=(3, 6, 2)), gp), vjp(gu, None), vjp(None, da.from_array(gp))]
        assert _rel(u.compute(), un) < tol and _rel(p.compute(), pn) < tol
        for got, want in zip(grads, (vjp_n(gu, gp), vjp_n(gu, None), vjp_n(None, gp)), strict=True):
            assert isinstance(got, da.Array) and got.shape == a.shape
            assert _rel(got.compute(), want) < tol, method
        with pytest.raises(ValueError, match="cotangent of p"):
            vjp(gu, np.ones((5, 3, 3)))
    (u, _), vjp = matfunc.polar_vjp(da.from_array(a.astype(np.float32)), "newton-schulz")
    assert u.dtype == np.float32 and vjp(gu.astype(np.float32)).dtype == np.float32


def test_dask_check_names_the_global_batch_index():
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    bad = rect(6, 4, 10.0, batch=(4, 3), seed=23)
    bad[3, 1, 2, 0] = np.nan
    with dask.config.set(scheduler=_no_compute):
        x = da.from_array(bad, chunks=(2, 2, 3, 4))
        u = matfunc.orthogonalize(x, "newton-schulz")
        (_, p), vjp = matfunc.polar_vjp(x, "svd")
        g = vjp(np.ones(bad.shape))
    for lazy in (u, p, g):
        with pytest.raises(ValueError, match=r"NaN or Inf \(the matrix at batch index \(3, 1\) of the Dask array"):
            lazy.compute()
    # past the steps' covered condition number: an error naming the matrix, check=False the raw result
    a = rect(20, 10, 10.0, batch=(3,), seed=24)
    a[2] = rect(20, 10, 1e6, seed=25)
    x = da.from_array(a, chunks=(1, 20, 10))
    with pytest.raises(ValueError, match=r"the result for the matrix at batch index \(2,\) of the Dask array.*U\^H U"):
        matfunc.orthogonalize(x, "newton-schulz").compute()  # the default steps cover cond 1.2e4, not 1e6
    assert np.all(np.isfinite(matfunc.orthogonalize(x, "newton-schulz", check=False).compute()))
    with pytest.raises(ValueError, match="unrolled"):
        matfunc.orthogonalize(x, "newton-schulz", backward="unrolled")
    u, p = matfunc.polar(da.zeros((2, 0, 3)))
    assert u.shape == (2, 0, 3) and p.shape == (2, 3, 3)


# --- JAX forward mode ---------------------------------------------------------------------------------


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("method", ["svd", "newton-schulz"])
def test_jax_check_grads_forward_and_reverse(method, complex_):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    from jax.test_util import check_grads

    h = EPS64 ** (1 / 3)  # central differences: the step that balances truncation and rounding
    for shape in ((5, 3), (3, 5), (4, 4)):
        a = jnp.asarray(rect(*shape, 5.0, seed=26, complex_=complex_))
        for side in ("right", "left"):
            check_grads(
                lambda x, side=side: matfunc.polar(x, method, side=side, check=False),
                (a,),
                order=1,
                modes=("fwd", "rev"),
                eps=h,
            )
    # jacfwd under jit and vmap equals jacrev
    a = jnp.asarray(rect(5, 3, 5.0, batch=(2,), seed=27))

    def f(x):
        return matfunc.orthogonalize(x, method, check=False)

    fwd = jax.jit(jax.vmap(jax.jacfwd(f)))(a)
    rev = jax.vmap(jax.jacrev(f))(a)
    assert fwd.shape == (2, 5, 3, 5, 3)
    assert float(jnp.abs(fwd - rev).max()) < 10 * 5 * EPS64 * 5.0**2


# --- check=True certifies the polar factor (issue 25: items 3, 4, 8, 17) ----------------------------------

_PRODUCT_EPS = {None: None, "float16": 2.0**-10, "bfloat16": 2.0**-7}


def _target(dtype_eps, matmul_dtype):
    """What check=True promises for ||U - U_polar||_F / sqrt(k): sqrt(eps) of the product precision."""
    return math.sqrt(_PRODUCT_EPS[matmul_dtype] or dtype_eps)


def _svd_polar(a):
    w, _, vh = np.linalg.svd(a, full_matrices=False)
    return w @ vh


def _distance(u, a):
    """``||U - U_polar||_F / sqrt(k)`` against the float64 SVD of the same (rounded) input, and
    ``||U P - A||_F / ||A||_F`` with ``P = sym(U^H A)`` (what polar returns), both in float64."""
    u, a = np.asarray(u, dtype=np.float64), np.asarray(a, dtype=np.float64)
    k = min(a.shape[-2:])
    fe = np.linalg.norm(u - _svd_polar(a), axis=(-2, -1)).max() / math.sqrt(k)
    h = np.swapaxes(u, -1, -2) @ a
    p = (h + np.swapaxes(h, -1, -2)) / 2
    res = (np.linalg.norm(u @ p - a, axis=(-2, -1)) / np.linalg.norm(a, axis=(-2, -1))).max()
    return fe, res


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "method,matmul_dtype",
    [
        ("newton-schulz", None),
        ("newton-schulz", "float16"),
        ("newton-schulz", "bfloat16"),
        ("polar-express", None),
        ("polar-express", "float16"),
        ("polar-express", "bfloat16"),
        ("eig", None),
    ],
)
def test_check_bounds_the_distance_to_the_polar_factor(dtype, method, matmul_dtype):
    """Conditions from 2 to past every method's cover (default schedules: cond 430 float32, 1.2e4 float64;
    eig: eps cond^2), every product precision: either check=True raises, or U is within the documented
    sqrt(eps_products) of the SVD's polar factor and ``||U P - A||_F / ||A||_F <= 2 (1 + eps) sqrt(k)`` times
    that (``||U P - A||_F <= 2 ||U - U_polar||_2 ||A||_F`` to first order). Before issue 25 Polar Express with
    bfloat16 products returned U 5-40% off (orthonormal, so its orthogonality check passed) and eig was never
    checked (17% off at cond 1e8). The well-conditioned cases must pass (the check is not always raising)."""
    torch = pytest.importorskip("torch")
    tdt = getattr(torch, dtype)
    eps = float(torch.finfo(tdt).eps)
    target = _target(eps, matmul_dtype)
    m, n = 24, 12
    passed = {}
    for cond in (2.0, 1e1, 1e2, 1e3, 1e4, 1e6, 1e8):
        a = torch.asarray(rect(m, n, cond, batch=(2,), seed=int(math.log10(cond)) + 40)).to(tdt)
        try:
            u, p = matfunc.polar(a, method, matmul_dtype=matmul_dtype)
        except ValueError as exc:
            assert "matmul_dtype" in str(exc) or "method='svd'" in str(exc)  # names a fix
            passed[cond] = False
            continue
        passed[cond] = True
        fe, res = _distance(u.double().numpy(), a.double().numpy())
        assert fe <= target, (cond, fe, target)
        assert res <= 2 * (1 + eps) * math.sqrt(n) * target
        assert float(torch.linalg.matrix_norm(u.double() @ p.double() - a.double()).max()) < math.inf
    if matmul_dtype is None or method == "newton-schulz":
        assert passed[2.0] and passed[1e1], passed  # these configurations are accurate on well-conditioned input
    if method != "eig":
        assert not passed[1e8]  # past every schedule's cover


def test_polar_express_bfloat16_is_not_the_polar_factor():
    """The issue's case: float32 randn(256, 64), Polar Express with bfloat16 products is 12% from W V^T."""
    torch = pytest.importorskip("torch")
    a = torch.asarray(np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32))
    with pytest.raises(ValueError, match=r"not the polar factor.*0\.0884.*newton-schulz.*check=False"):
        matfunc.polar(a, "polar-express", matmul_dtype="bfloat16")
    u = matfunc.orthogonalize(a, "polar-express", matmul_dtype="bfloat16", check=False)
    fe, _ = _distance(u.numpy(), a.numpy())
    assert fe > _target(EPS32, "bfloat16")  # what the check saw: orthonormal but far from W V^T
    u = matfunc.orthogonalize(a, "newton-schulz", matmul_dtype="bfloat16")  # the fix it names passes
    assert _distance(u.numpy(), a.numpy())[0] <= _target(EPS32, "bfloat16")


def test_error_estimate_bounds_the_true_distance():
    """The certificate behind the check (first order): at least the true distance and at most 10 times it,
    measured 1-4x (float64 input; float32 and low-precision products give larger distances to measure)."""
    torch = pytest.importorskip("torch")
    from matfunc import _polar
    from matfunc.core.polar import polar_forward

    xp = matfunc._compat.array_namespace(torch.zeros(1))
    for cond, mdt in ((1e1, "bfloat16"), (1e2, "float16"), (1e3, "bfloat16"), (1e2, None)):
        a = torch.asarray(rect(40, 16, cond, batch=(3,), seed=50))
        opts = _polar.resolve(
            "newton-schulz",
            num_iters=None,
            lower_bound=None,
            scale="spectral",
            matmul_dtype=mdt,
            backward="auto",
            backward_iters=None,
            eps=EPS64 if mdt is None else EPS32,  # float32's schedule: a visible distance with None too
            on_cpu=True,
        )
        low = None if mdt is None else getattr(torch, mdt)
        u = polar_forward(a.float() if mdt is None else a, opts=opts, low=low, xp=xp)[0].double()
        est = _polar.polar_error_estimate(a, u, xp=xp).numpy()
        true = np.linalg.norm(u.numpy() - _svd_polar(a.numpy()), axis=(-2, -1)) / 4.0
        assert np.all(est >= true) and np.all(est <= 10 * true), (cond, mdt, est, true)


@pytest.mark.parametrize("method", ["svd", "eig", "newton-schulz", "polar-express"])
@pytest.mark.parametrize(
    "scale,dtype", [(1e-300, np.float64), (1e300, np.float64), (1e-22, np.float32), (1e30, np.float32)]
)
def test_tiny_and_huge_scales(method, scale, dtype):
    """U is scale-invariant: the input is divided by a power of two first. Before issue 25 eig's Gram matrix
    underflowed at 1e-300 / 1e-22 (garbage U, unchecked) and the iterative methods returned NaN."""
    a0 = rect(8, 5, 10.0, seed=60)
    a = (a0 * scale).astype(dtype)
    eps = float(np.finfo(dtype).eps)
    u, p = matfunc.polar(a, method)
    fe, _ = _distance(u, a0)
    assert fe <= 10 * 5 * eps * 10.0
    np.testing.assert_allclose(p / scale, _svd_polar(a0).T @ a0, atol=50 * eps * 10.0)


def test_eig_rank_deficient_raises_and_check_false_gives_the_partial_isometry():
    """polar's notes promise that check=True reports eig's partial isometry (never ran before issue 25)."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((8, 3)) @ rng.standard_normal((3, 5))
    with pytest.raises(ValueError, match=r"not positive definite.*rank-deficient.*method='svd'"):
        matfunc.polar(a, "eig")
    u, p = matfunc.polar(a, "eig", check=False)
    assert np.allclose(u @ p, a) and np.linalg.matrix_rank(u) == 3


def test_eig_past_its_cover_raises_naming_svd():
    a = rect(20, 10, 1e9, seed=61)
    with pytest.raises(ValueError, match=r"polar\(method='eig'.*not the polar factor.*method='svd'"):
        matfunc.polar(a, "eig")
    u = matfunc.orthogonalize(a, "eig", check=False)
    assert _distance(u, a)[0] > 1e-2  # what it catches: 40% off


def test_dask_certificate_names_the_global_batch_index():
    da = pytest.importorskip("dask.array")
    a = rect(20, 10, 10.0, batch=(3,), seed=62)
    a[1] = rect(20, 10, 1e9, seed=63)
    x = da.from_array(a, chunks=(1, 20, 10))
    with pytest.raises(ValueError, match=r"batch index \(1,\) of the Dask array.*not the polar factor"):
        matfunc.orthogonalize(x, "eig").compute()


@pytest.mark.parametrize("method", ["auto", "eig", "newton-schulz", "polar-express"])
def test_jax_jit_of_a_constant_with_the_default_check(method):
    """``jax.jit(lambda x: polar(T)[0].sum() + x)`` with a concrete T: values computed from T inside the trace are
    tracers; the checks are skipped there (TracerBoolConversionError before issue 25)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    t = jax.numpy.asarray(rect(6, 4, 5.0, seed=64))
    ref = float(np.sum(_svd_polar(np.asarray(t))))
    got = jax.jit(lambda x: matfunc.polar(t, method)[0].sum() + x)(1.0)
    assert abs(float(got) - 1.0 - ref) < 100 * EPS64 * 5.0
    got = jax.jit(lambda x: matfunc.orthogonalize(t, method).sum() * x)(2.0)
    assert abs(float(got) - 2.0 * ref) < 200 * EPS64 * 5.0
