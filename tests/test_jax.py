"""JAX backend: jit, vmap, forward and reverse mode (the custom_jvp around the core tangent rule)."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from conftest import spd  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

import matfunc  # noqa: E402
from matfunc import _compat  # noqa: E402
from matfunc.core import gradients, primitives  # noqa: E402
from matfunc.core.forward import forward  # noqa: E402
from matfunc.core.options import resolve  # noqa: E402

EPS64 = float(np.finfo(np.float64).eps)

# Forward exact (eig) or converged to rounding (newton-schulz, default steps, cond 10) in float64.
PAIRS = [
    ("eig", "eig"),
    ("eig", "lyapunov"),
    ("eig", "svd-pade"),
    ("newton-schulz", "lyapunov"),
    ("newton-schulz", "unrolled"),
    ("eig", "unrolled"),
]
FUNCS = {"sqrtm": matfunc.sqrtm, "inv_sqrtm": matfunc.inv_sqrtm}


def _exact_grad(a, g, *, inverse):
    """NumPy reference: dA for upstream g, from the eigendecomposition of the float64 input."""
    lam, v = np.linalg.eigh(a)
    s = np.sqrt(lam)
    gs = (g + np.swapaxes(g, -1, -2)) / 2
    denom = s[..., :, None] + s[..., None, :]
    if inverse:
        denom = -denom * (s[..., :, None] * s[..., None, :])
    return v @ ((np.swapaxes(v, -1, -2) @ gs @ v) / denom) @ np.swapaxes(v, -1, -2)


def _tol(n, cond, eps=EPS64):
    """Error budget of a derivative of A^{+-1/2}: rounding amplified by the condition number."""
    return 10 * n * cond * eps


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize(("method", "backward"), PAIRS, ids=[f"{m}-{b}" for m, b in PAIRS])
def test_check_grads_order2(name, method, backward):
    a = jnp.asarray(spd(4, 10.0, seed=1)[0])
    fn = FUNCS[name]

    def f(x):  # check=False: the numerical derivative perturbs in non-symmetric directions at concrete points.
        return fn(x, method, backward=backward, check=False)

    if backward in ("lyapunov", "svd-pade") and (method == "eig" or backward == "svd-pade"):
        # the rule's state comes from eigh: once differentiable, and a second derivative raises (it returned
        # eigh's NaN at repeated eigenvalues), as in PyTorch
        check_grads(f, (a,), order=1, modes=("fwd", "rev"))
        with pytest.raises(NotImplementedError, match="differentiable once in JAX"):
            jax.hessian(lambda x: jnp.sum(f(x)))(a)
        return
    check_grads(f, (a,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("backward", ["eig", "lyapunov", "svd-pade"])
def test_grad_matches_numpy_vjp_and_exact(name, backward):
    n, cond = 5, 10.0
    a_np = spd(n, cond, batch=(2,), seed=2)[0]
    g_np = np.random.default_rng(3).standard_normal(a_np.shape)
    fn = FUNCS[name]

    def loss(x):
        return jnp.sum(jnp.asarray(g_np) * fn(x, "eig", backward=backward))

    da = np.asarray(jax.grad(loss)(jnp.asarray(a_np)))
    _, vjp = getattr(matfunc, f"{name}_vjp")(a_np, "eig", backward=backward)
    ref = _exact_grad(a_np, g_np, inverse=name == "inv_sqrtm")
    scale = np.linalg.norm(ref)
    # The JAX gradient is the transpose of the tangent rule; it must be as accurate as the core VJP
    # (for "lyapunov" both carry the sign iteration's own error, well above rounding).
    core_err = np.linalg.norm(vjp(g_np) - ref)
    assert np.linalg.norm(da - ref) <= 2 * core_err + _tol(n, cond) * scale
    assert np.linalg.norm(da - vjp(g_np)) <= 3 * core_err + _tol(n, cond) * scale


@pytest.mark.parametrize("name", list(FUNCS))
def test_jvp_is_adjoint_of_vjp(name):
    n, cond = 5, 100.0
    a = jnp.asarray(spd(n, cond, seed=4)[0])
    rng = np.random.default_rng(5)
    da, g = (jnp.asarray(rng.standard_normal((n, n))) for _ in range(2))
    fn = FUNCS[name]

    def f(x):
        return fn(x, "newton-schulz", backward="lyapunov")

    y, dy = jax.jvp(f, (a,), (da,))
    y2, pullback = jax.vjp(f, a)
    (ga,) = pullback(g)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y2))
    lhs, rhs = float(jnp.sum(g * dy)), float(jnp.sum(ga * da))
    assert abs(lhs - rhs) <= _tol(n, cond**1.5) * np.linalg.norm(np.asarray(g)) * np.linalg.norm(np.asarray(dy))


@pytest.mark.parametrize("backward", ["eig", "lyapunov"])
def test_jacfwd_jacrev(backward):
    n, cond = 3, 10.0
    a_np = spd(n, cond, seed=6)[0]
    a = jnp.asarray(a_np)

    def f(x):
        return matfunc.sqrtm(x, "eig", backward=backward)

    jf, jr = np.asarray(jax.jacfwd(f)(a)), np.asarray(jax.jacrev(f)(a))
    assert jf.shape == jr.shape == (n, n, n, n)
    # Column (k, l) of the Jacobian is the derivative along the unit matrix E_kl; with the exact solution of
    # S dS + dS S = sym(E_kl) (self-adjoint operator), d y_ij / d a_kl = exact_grad(E_ij)_kl.
    ref, core = np.empty((n, n, n, n)), np.empty((n, n, n, n))
    _, vjp = matfunc.sqrtm_vjp(a_np, "eig", backward=backward)
    for i in range(n):
        for j in range(n):
            e = np.zeros((n, n))
            e[i, j] = 1.0
            ref[i, j] = _exact_grad(a_np, e, inverse=False)
            core[i, j] = vjp(e)
    # In exact arithmetic the tangent rule and the core VJP are the same self-adjoint operator; for
    # "lyapunov" both carry the sign iteration's amplified rounding (same size, different rounding path).
    tol = 3 * np.linalg.norm(core - ref) + _tol(n, cond) * np.linalg.norm(ref)
    assert np.linalg.norm(jf - ref) <= tol
    assert np.linalg.norm(jr - ref) <= tol


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_jit_auto_matches_eager(dtype):
    n, cond = 6, 100.0
    a_np, root, _ = spd(n, cond, batch=(3,), seed=7)
    a = jnp.asarray(a_np, dtype=dtype)
    # "auto" is resolved from static facts only: the jitted call takes the same method as the eager one.
    y = jax.jit(lambda x: matfunc.sqrtm(x))(a)
    eager = matfunc.sqrtm(a)
    assert y.dtype == dtype
    eps = float(jnp.finfo(dtype).eps)
    np.testing.assert_allclose(np.asarray(y), np.asarray(eager), atol=_tol(n, 1.0, eps))
    assert np.linalg.norm(np.asarray(y, dtype=np.float64) - root) <= _tol(n, cond, eps) * np.linalg.norm(root)
    jaxpr = str(jax.make_jaxpr(lambda x: matfunc.sqrtm(x))(a))
    assert ("eigh" in jaxpr) == _compat.is_cpu(a)


def test_jit_static_options_and_value_and_grad():
    n, cond = 4, 10.0
    a_np, root, inv_root = spd(n, cond, batch=(2,), seed=8)
    a = jnp.asarray(a_np)

    @jax.jit
    def loss(x):
        return jnp.sum(matfunc.inv_sqrtm(x, "pade", degree=8, backward="lyapunov", backward_iters=12) ** 2)

    val, grad = loss(a), jax.grad(loss)(a)
    ref = np.sum(inv_root**2)
    # Padé [8/8] error at cond 10 (NOTES.md: MPA [12,12] ~1e-8 there): loose, relative to the value.
    assert abs(float(val) - ref) <= 1e-3 * ref
    assert bool(jnp.all(jnp.isfinite(grad)))
    v2, g2 = jax.jit(jax.value_and_grad(loss))(a)
    np.testing.assert_allclose(np.asarray(v2), np.asarray(val), rtol=_tol(n, 1.0))
    np.testing.assert_allclose(np.asarray(g2), np.asarray(grad), rtol=_tol(n, cond), atol=_tol(n, cond))


def test_vmap_and_vmap_of_grad():
    n, cond = 4, 10.0
    a_np = spd(n, cond, batch=(3,), seed=9)[0]
    a = jnp.asarray(a_np)

    def f(x):
        return matfunc.sqrtm(x, "newton-schulz", backward="lyapunov")

    batched = f(a)
    mapped = jax.vmap(f)(a)
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(batched), atol=_tol(n, 1.0))

    def loss(x):
        return jnp.sum(jnp.sin(f(x)))

    per = jax.vmap(jax.grad(loss))(a)
    whole = jax.grad(lambda x: jnp.sum(jnp.sin(f(x))))(a)
    np.testing.assert_allclose(np.asarray(per), np.asarray(whole), atol=_tol(n, cond))
    jitted = jax.jit(jax.vmap(jax.grad(loss)))(a)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(whole), atol=_tol(n, cond))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_computed_in_float32(dtype):
    n, cond = 4, 10.0
    a_np, root, _ = spd(n, cond, seed=10)
    a = jnp.asarray(a_np, dtype=dtype)
    y = jax.jit(lambda x: matfunc.sqrtm(x))(a)
    assert y.dtype == dtype
    # Computed in float32, so the error is the rounding of input and output to the half format.
    half_eps = float(jnp.finfo(dtype).eps)
    assert np.linalg.norm(np.asarray(y, dtype=np.float64) - root) <= 2 * n * cond * half_eps * np.linalg.norm(root)
    g = jax.grad(lambda x: jnp.sum(matfunc.sqrtm(x, backward="lyapunov").astype(jnp.float32)))(a)
    assert g.dtype == dtype
    assert bool(jnp.all(jnp.isfinite(g)))


PSD_PAIRS = [("eig", "eig"), ("eig", "lyapunov"), ("eig", "svd-pade"), ("newton-schulz", "lyapunov")]


@pytest.mark.parametrize(("method", "backward"), PSD_PAIRS)
def test_psd_finite_gradients(method, backward):
    rng = np.random.default_rng(11)
    b = rng.standard_normal((2, 5, 3))
    a = jnp.asarray(b @ np.swapaxes(b, -1, -2))  # rank 3 of 5: two zero eigenvalues
    g = jax.grad(lambda x: jnp.sum(matfunc.sqrtm(x, method, backward=backward)))(a)
    assert bool(jnp.all(jnp.isfinite(g)))
    assert float(jnp.max(jnp.abs(g))) > 0


def test_solve_lyapunov_jit_vmap_grad():
    n, cond = 4, 10.0
    s_np = spd(n, cond, batch=(3,), seed=12)[0]
    rng = np.random.default_rng(13)
    g_np = rng.standard_normal(s_np.shape)
    s, g = jnp.asarray(s_np), jnp.asarray(g_np)
    ref = np.asarray(matfunc.solve_lyapunov(s_np, g_np, method="eig"))
    tol = _tol(n, cond) * np.linalg.norm(ref)
    x = jax.jit(matfunc.solve_lyapunov)(s, g)
    assert np.linalg.norm(np.asarray(x) - ref) <= tol
    xv = jax.vmap(matfunc.solve_lyapunov)(s, g)
    assert np.linalg.norm(np.asarray(xv) - ref) <= tol
    # The operator X -> S X + X S is self-adjoint, so the gradient of <H, X(G)> in G is L^{-1}(H).
    h = jnp.asarray(rng.standard_normal(s_np.shape))
    dg = jax.grad(lambda gg: jnp.sum(h * matfunc.solve_lyapunov(s, gg)))(g)
    ref_dg = np.asarray(matfunc.solve_lyapunov(s_np, np.asarray(h), method="eig"))
    assert np.linalg.norm(np.asarray(dg) - ref_dg) <= _tol(n, cond) * np.linalg.norm(ref_dg)
    ds = jax.jit(jax.grad(lambda ss: jnp.sum(h * matfunc.solve_lyapunov(ss, g))))(s)
    assert bool(jnp.all(jnp.isfinite(ds)))


def test_spd_solve_primitive_is_cholesky_and_batched():
    a_np = spd(5, 100.0, batch=(2, 3), seed=14)[0]
    b_np = np.random.default_rng(15).standard_normal((3, 5, 2))  # broadcast over the leading batch axis
    xp = _compat.array_namespace(jnp.zeros(()))
    assert primitives._override(xp, "spd_solve") is not None
    x = primitives.spd_solve(jnp.asarray(a_np), jnp.asarray(b_np), xp=xp)
    ref = np.linalg.solve(a_np, np.broadcast_to(b_np, (2, 3, 5, 2)))
    assert np.linalg.norm(np.asarray(x) - ref) <= _tol(5, 100.0) * np.linalg.norm(ref)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("backward", ["eig", "lyapunov", "svd-pade"])
def test_core_sqrtm_jvp_matches_finite_differences(backward, inverse):
    """The core tangent rule on NumPy, against a central difference of the exact function."""
    n, cond = 4, 10.0
    a = spd(n, cond, seed=16)[0]
    da = np.random.default_rng(17).standard_normal((n, n))
    for method in ("eig", "newton-schulz"):
        opts = resolve(
            method,
            inverse=inverse,
            degree=None,
            num_iters=None,
            scale="spectral",
            backward=backward,
            backward_iters=None,
            eps=EPS64,
            n=n,
            on_cpu=True,
        )
        _, saved = forward(primitives.sym(a), opts=opts, xp=np)
        dy = gradients.sqrtm_jvp(gradients.saved_for(saved, opts), da, opts=opts, xp=np)
        h = EPS64 ** (1 / 3)  # central difference: truncation h^2 balances rounding eps / h
        f = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
        sda = (da + da.T) / 2
        fd = (f(a + h * sda, "eig") - f(a - h * sda, "eig")) / (2 * h)
        assert np.linalg.norm(dy - fd) <= n * cond**2 * h**2 * np.linalg.norm(fd), method


@pytest.mark.parametrize("num_iters", [15, 30])
def test_sign_iteration_under_jit_matches_eager(num_iters):
    """XLA's optimised kernels round differently from eager; the sign iteration must not amplify that
    (regression: a symmetrised shortcut drifted to 2e-7 at 30 steps under jit, 3e-15 eagerly)."""
    s_np, _, _ = spd(8, 10.0, batch=(3,), seed=21)
    g_np = np.random.default_rng(22).standard_normal(s_np.shape)
    g_np = g_np + np.swapaxes(g_np, -1, -2)
    ref = np.asarray(matfunc.solve_lyapunov(s_np, g_np, method="eig"))
    x = jax.jit(lambda s, g: matfunc.solve_lyapunov(s, g, num_iters=num_iters))(jnp.asarray(s_np), jnp.asarray(g_np))
    assert np.linalg.norm(np.asarray(x) - ref) <= 100 * EPS64 * np.linalg.norm(ref)
    a = jnp.asarray(s_np)
    gw = jnp.asarray(np.random.default_rng(23).standard_normal(s_np.shape))

    def loss(x):
        return jnp.sum(matfunc.inv_sqrtm(x, "newton-schulz", backward="lyapunov", backward_iters=num_iters) * gw)

    eager, jitted = jax.grad(loss)(a), jax.jit(jax.grad(loss))(a)
    exact = jax.grad(lambda x: jnp.sum(matfunc.inv_sqrtm(x, "eig", backward="eig") * gw))(a)
    for d in (eager, jitted):
        assert float(jnp.linalg.norm(d - exact) / jnp.linalg.norm(exact)) <= 1000 * EPS64


# --- derivatives at repeated eigenvalues and singular input (issue 15, item 7) ----------------------------
# JAX differentiated the "eig" rule through eigh, whose derivative divides by eigenvalue gaps: NaN second
# derivatives at 3 I and [1, 1, 2] (and NaN first derivatives for backward="unrolled", method="eig").

_C = 3.0


def _rotated(eigenvalues, seed=7):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    a = (q * np.asarray(eigenvalues, dtype=float)) @ q.T
    return (a + a.T) / 2


def _sym(x):
    return (x + jnp.swapaxes(x, -1, -2)) / 2


def _directions(n, seed=11):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, n))
    f, h = (rng.standard_normal((n, n)) for _ in range(2))
    return jnp.asarray(g), _sym(jnp.asarray(f)), _sym(jnp.asarray(h))


def _second_derivative_reference(name, a, g, f):
    """The Hessian of ``<g, Y(A)>`` applied to symmetric ``f``, and its relative error: at ``c I`` the closed form
    (``d2 A^{1/2}[E, F] = -(EF + FE) / (8 c^{3/2})``, ``3 (EF + FE) / (8 c^{5/2})`` for ``A^{-1/2}``), rounding;
    elsewhere a central difference of the exact first derivative (the NumPy eig VJP), ``O(eps^{2/3})``."""
    gs = _sym(g)
    if np.array_equal(a, _C * np.eye(a.shape[-1])):
        if name == "sqrtm":
            return -(gs @ f + f @ gs) / (8 * _C**1.5), 10 * EPS64
        return 3 * (gs @ f + f @ gs) / (8 * _C**2.5), 10 * EPS64
    h = EPS64 ** (1 / 3)
    vjp = getattr(matfunc, f"{name}_vjp")
    fd = vjp(a + h * np.asarray(f), "eig")[1](np.asarray(g)) - vjp(a - h * np.asarray(f), "eig")[1](np.asarray(g))
    return jnp.asarray(fd / (2 * h)), 100 * EPS64 ** (2 / 3)


_NESTINGS = {
    "hessian": jax.hessian,
    "jacrev(jacrev)": lambda f: jax.jacrev(jax.jacrev(f)),
    "jacfwd(jacfwd)": lambda f: jax.jacfwd(jax.jacfwd(f)),
    "jacrev(jacfwd)": lambda f: jax.jacrev(jax.jacfwd(f)),
    "jit(hessian)": lambda f: jax.jit(jax.hessian(f)),
}


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("point", ["3I", "[1,1,2]"])
@pytest.mark.parametrize("nesting", list(_NESTINGS))
@pytest.mark.parametrize(("method", "backward"), [("eig", "eig"), ("newton-schulz", "eig"), ("eig", "unrolled")])
def test_second_derivative_at_repeated_eigenvalues(name, point, nesting, method, backward):
    a = _C * np.eye(3) if point == "3I" else _rotated([1.0, 1.0, 2.0])
    g, f, _ = _directions(3)
    ref, rtol = _second_derivative_reference(name, a, g, f)

    def loss(x):
        return jnp.sum(g * FUNCS[name](x, method, backward=backward, check=False))

    d2 = _sym(jnp.einsum("ijkl,kl->ij", _NESTINGS[nesting](loss)(jnp.asarray(a)), f))
    assert float(jnp.max(jnp.abs(d2 - ref))) <= rtol * float(jnp.max(jnp.abs(ref)))


@pytest.mark.parametrize("name", list(FUNCS))
def test_check_grads_at_repeated_eigenvalues(name):
    """jax.test_util's numerical check, to third order at 3 I and second order at [1, 1, 2]."""
    fn = FUNCS[name]
    check_grads(lambda x: fn(x, "eig", check=False), (_C * jnp.eye(3),), order=3, modes=("fwd", "rev"))
    check_grads(
        lambda x: fn(x, "eig", check=False), (jnp.asarray(_rotated([1.0, 1.0, 2.0])),), order=2, modes=("fwd", "rev")
    )


def test_third_derivative_at_multiple_of_identity():
    """d3 (A^{1/2})[E, F, H] at c I: the sum over the orderings of E F H over 16 c^{5/2} ((1 + x)^{1/2} has x^3/16)."""
    import itertools

    n = 3
    g, f, h = _directions(n)

    def d3(e):
        return sum(x @ y @ z for x, y, z in itertools.permutations([_sym(e), f, h])) / (16 * _C**2.5)

    ref = jax.grad(lambda e: jnp.sum(_sym(g) * d3(e)))(jnp.zeros((n, n)))
    t = jax.jacfwd(jax.hessian(lambda x: jnp.sum(g * matfunc.sqrtm(x, "eig", check=False))))(_C * jnp.eye(n))
    got = _sym(jnp.einsum("ijklmn,kl,mn->ij", t, f, h))
    assert float(jnp.max(jnp.abs(got - ref))) <= 10 * EPS64 * float(jnp.max(jnp.abs(ref)))


def test_vmap_of_hessian_mixed_batch():
    """A batch with a multiple of the identity and a generic matrix: vmap of the Hessian is finite and each
    matrix gets its own Hessian."""
    g, _, _ = _directions(3)
    batch = jnp.stack([_C * jnp.eye(3), jnp.asarray(spd(3, 10.0, seed=3)[0])])
    hess = jax.hessian(lambda x: jnp.sum(g * matfunc.sqrtm(x, "eig", check=False)))
    mapped = jax.vmap(hess)(batch)
    assert bool(jnp.all(jnp.isfinite(mapped)))
    for i in range(2):
        np.testing.assert_allclose(
            np.asarray(mapped[i]),
            np.asarray(hess(batch[i])),
            rtol=0,
            atol=_tol(3, 10.0) * float(jnp.max(jnp.abs(mapped[i]))),
        )


_SINGULAR = {
    "3I": lambda: _C * np.eye(3),
    "[1,1,2]": lambda: _rotated([1.0, 1.0, 2.0]),
    "zero": lambda: np.zeros((3, 3)),
    "diag(1,0)": lambda: np.diag([1.0, 0.0]),
}


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("point", list(_SINGULAR))
@pytest.mark.parametrize("method", ["eig", "newton-schulz", "pade", "taylor"])
def test_unrolled_gradients_finite(name, point, method):
    """backward="unrolled" at 3 I, [1, 1, 2], the zero matrix and diag(1, 0): finite gradients and Hessians (NaN
    before: eigh's derivative for method="eig", sqrt at 0 in the normalisation for the others); with method="eig"
    (nothing to unroll) the "eig" rule's."""
    a = jnp.asarray(_SINGULAR[point]())
    g, _, _ = _directions(a.shape[-1])

    def loss(x, backward="unrolled"):
        return jnp.sum(g * FUNCS[name](x, method, backward=backward, check=False))

    d1 = jax.grad(loss)(a)
    assert bool(jnp.all(jnp.isfinite(d1))) and bool(jnp.all(jnp.isfinite(jax.hessian(loss)(a))))
    if method == "eig":
        np.testing.assert_array_equal(np.asarray(d1), np.asarray(jax.grad(lambda x: loss(x, "eig"))(a)))


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("point", ["zero", "diag(1,0)"])
def test_eig_higher_derivatives_finite_at_singular_input(name, point):
    """Singular input keeps the eig floor convention at every order: finite Hessians; the gradient is that of
    the core (floored) VJP."""
    a_np = _SINGULAR[point]()
    g, _, _ = _directions(a_np.shape[-1])

    def loss(x):
        return jnp.sum(g * FUNCS[name](x, "eig", check=False))

    d1 = jax.grad(loss)(jnp.asarray(a_np))
    ref = getattr(matfunc, f"{name}_vjp")(a_np, "eig", check=False)[1](np.asarray(g))
    np.testing.assert_allclose(np.asarray(d1), ref, rtol=0, atol=_tol(a_np.shape[-1], 1.0) * np.abs(ref).max())
    assert bool(jnp.all(jnp.isfinite(jax.hessian(loss)(jnp.asarray(a_np)))))


def test_eig_first_order_is_the_eigenbasis_solve_under_jit():
    """The differentiable rule costs nothing at first order: jit(grad) runs the 4 products of the eigenbasis
    solve (the operator of the linear solve, used only by higher derivatives, is dead code)."""
    a = jnp.asarray(spd(8, 10.0, batch=(2,), seed=5)[0])
    g = jnp.asarray(np.random.default_rng(6).standard_normal(a.shape))
    for fn in FUNCS.values():
        grad = jax.jit(jax.grad(lambda x, fn=fn: jnp.sum(g * fn(x, "eig"))))
        assert grad.lower(a).compile().as_text().count(" dot(") == 4


_CONSTANT_CALLS = {
    "sqrtm": lambda t: matfunc.sqrtm(t),
    "inv_sqrtm": lambda t: matfunc.inv_sqrtm(t),
    "sqrtm-newton-schulz": lambda t: matfunc.sqrtm(t, "newton-schulz"),
    "inv_sqrtm-pade": lambda t: matfunc.inv_sqrtm(t, "pade", degree=8),
    "solve_lyapunov": lambda t: matfunc.solve_lyapunov(t, t),
}


@pytest.mark.parametrize("call", list(_CONSTANT_CALLS))
def test_check_skipped_on_a_constant_inside_jit(call):
    """Regression (issue 25 item 8): inside ``jax.jit`` what is computed from a concrete constant is a tracer, so
    ``check=True`` (the default) must not read it (it raised TracerBoolConversionError). The jitted value matches
    the eager one (a closed form for solve_lyapunov: S X + X S = S gives X = I / 2)."""
    t = jnp.asarray(spd(5, 10.0, seed=3)[0])
    fn = _CONSTANT_CALLS[call]
    got = jax.jit(lambda x: fn(t) + x)(1.0)
    want = fn(t) + 1.0
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=100 * 5 * 10.0 * EPS64)
    if call == "solve_lyapunov":
        np.testing.assert_allclose(np.asarray(got), 0.5 * np.eye(5) + 1.0, atol=100 * 5 * 10.0 * EPS64)


def test_is_concrete_sees_an_active_trace():
    """``_compat.is_concrete`` is False for tracers and for concrete arrays while any JAX trace is active (jit,
    vmap, grad); True for eager arrays and for non-JAX arrays inside a trace."""
    t = jnp.ones((2, 2))
    seen = {}

    def probe(x, key):
        seen[key] = (_compat.is_concrete(t), _compat.is_concrete(x), _compat.is_concrete(np.ones((2, 2))))
        return x

    jax.jit(lambda x: probe(x, "jit"))(1.0)
    jax.vmap(lambda x: probe(x, "vmap"))(jnp.ones(2))
    jax.grad(lambda x: probe(x, "grad"))(1.0)
    assert _compat.is_concrete(t)
    for key in ("jit", "vmap", "grad"):
        assert seen[key] == (False, False, True), key
    with pytest.raises(ValueError, match="symmetric"):  # and the eager check still runs
        matfunc.sqrtm(jnp.asarray([[1.0, 2.0], [0.0, 1.0]]))
