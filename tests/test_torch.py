"""PyTorch glue: autograd (gradcheck, double backward), torch.func, torch.compile, half precision, autocast,
the batched-LU workaround, and agreement with the NumPy manual VJP."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import spd, to_numpy

import matfunc

torch = pytest.importorskip("torch")

FUNCS = {"sqrtm": matfunc.sqrtm, "inv_sqrtm": matfunc.inv_sqrtm}
VJPS = {"sqrtm": matfunc.sqrtm_vjp, "inv_sqrtm": matfunc.inv_sqrtm_vjp}
# (method, backward) pairs whose gradient is exact to working precision at the default settings
EXACT_PAIRS = [
    ("eig", "eig"),
    ("eig", "lyapunov"),
    ("eig", "svd-pade"),
    ("newton-schulz", "lyapunov"),
    ("newton-schulz", "unrolled"),
    ("eig", "unrolled"),
]
EPS64 = float(np.finfo(np.float64).eps)


def _a(n=5, cond=10.0, batch=(2,), dtype=torch.float64, seed=0, requires_grad=True):
    a = torch.tensor(spd(n, cond, batch=batch, seed=seed)[0], dtype=dtype)
    return a.requires_grad_(requires_grad)


def _g(shape, seed=1, dtype=torch.float64):
    return torch.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize(("method", "backward"), EXACT_PAIRS)
def test_gradcheck(name, method, backward):
    f = FUNCS[name]
    # gradcheck perturbs single entries (non-symmetric inputs): the value check is off
    assert torch.autograd.gradcheck(lambda x: f(x, method, backward=backward, check=False), (_a(),))


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("backward", ["eig", "unrolled"])
def test_double_backward(name, backward):
    f = FUNCS[name]
    method = "eig" if backward == "eig" else "newton-schulz"
    assert torch.autograd.gradgradcheck(lambda x: f(x, method, backward=backward, check=False), (_a(n=4),))


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize(("method", "backward"), [("pade", "lyapunov"), ("eig", "lyapunov"), ("eig", "svd-pade")])
def test_double_backward_raises_for_approximate_modes(name, method, backward):
    a = _a()
    y = FUNCS[name](a, method, backward=backward)
    (da,) = torch.autograd.grad((y * _g(y.shape)).sum(), a, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiable once"):
        torch.autograd.grad(da.sum(), a)
    # the same under nested torch.func transforms
    with pytest.raises(RuntimeError, match="differentiable once"):
        inner = lambda x: FUNCS[name](x, method, backward=backward).sum()  # noqa: E731
        torch.func.grad(lambda x: torch.func.grad(inner)(x).sum())(a.detach())


def test_create_graph_first_derivative_still_right():
    """A gradient taken with create_graph=True (e.g. for a gradient penalty elsewhere) keeps its value."""
    a = _a()
    y = matfunc.sqrtm(a, "pade", backward="lyapunov")
    (d1,) = torch.autograd.grad(y.sum(), a, create_graph=True)
    (d2,) = torch.autograd.grad(matfunc.sqrtm(a, "pade", backward="lyapunov").sum(), a)
    torch.testing.assert_close(d1.detach(), d2, rtol=0, atol=0)


@pytest.mark.parametrize("name", FUNCS)
def test_nested_func_grad_eig_matches_unrolled(name):
    f = FUNCS[name]
    a = _a(requires_grad=False)

    def hess_diag(backward):
        inner = lambda x: (f(x, "eig", backward=backward) ** 2).sum()  # noqa: E731
        return torch.func.grad(lambda x: torch.func.grad(inner)(x).sum())(a)

    tol = 1e3 * EPS64 * 10.0**2  # cond(A) = 10 enters squared through the second derivative
    torch.testing.assert_close(hess_diag("eig"), hess_diag("unrolled"), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("method", ["eig", "pade", "newton-schulz"])
def test_torch_func(name, method):
    f = FUNCS[name]
    a = _a(requires_grad=False)
    g = _g(a.shape)
    y_ref = f(a, method)
    a_ref = a.clone().requires_grad_()
    (da_ref,) = torch.autograd.grad(f(a_ref, method), a_ref, g)
    y, vjp_fn = torch.func.vjp(lambda x: f(x, method), a)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(vjp_fn(g)[0], da_ref)
    da = torch.func.grad(lambda x: (f(x, method) * g).sum())(a)
    torch.testing.assert_close(da, da_ref)
    # vmap over the batch: one matrix at a time inside
    torch.testing.assert_close(torch.func.vmap(lambda x: f(x, method))(a), y_ref)
    da_v = torch.func.vmap(torch.func.grad(lambda x, gi: (f(x, method) * gi).sum()))(a, g)
    torch.testing.assert_close(da_v, da_ref)


def _eigh_unrolled(name):
    """The reference: autograd through torch.linalg.eigh (independent of matfunc's rules)."""

    def f(x):
        lam, v = torch.linalg.eigh((x + x.mT) / 2)
        d = lam.sqrt() if name == "sqrtm" else lam.rsqrt()
        return (v * d[..., None, :]) @ v.mT

    return f


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize(("method", "backward"), [p for p in EXACT_PAIRS if p[1] != "unrolled"])
def test_jacobians_forward_and_reverse_mode(name, method, backward):
    """torch.func.jacrev (vmapped VJP), jacfwd (vmapped JVP: the Function's jvp rule) and forward_ad duals
    all give the exact Jacobian."""
    a = _a(n=4, batch=(), requires_grad=False)
    f = lambda x: FUNCS[name](x, method, backward=backward, check=False)  # noqa: E731
    ref = torch.autograd.functional.jacobian(_eigh_unrolled(name), a)
    tol = 1e3 * EPS64 * 10.0  # cond(A) = 10
    torch.testing.assert_close(torch.func.jacrev(f)(a), ref, rtol=tol, atol=tol)
    torch.testing.assert_close(torch.func.jacfwd(f)(a), ref, rtol=tol, atol=tol)
    t = _g(a.shape, seed=3)
    _, jvp_ref = torch.func.jvp(_eigh_unrolled(name), (a,), (t,))
    import torch.autograd.forward_ad as fwad

    with fwad.dual_level():
        tangent = fwad.unpack_dual(f(fwad.make_dual(a, t))).tangent
    torch.testing.assert_close(tangent, jvp_ref, rtol=tol, atol=tol)


_SECOND = {
    "hessian": torch.func.hessian,
    "jacrev(jacrev)": lambda f: torch.func.jacrev(torch.func.jacrev(f)),
    "jacfwd(jacfwd)": lambda f: torch.func.jacfwd(torch.func.jacfwd(f)),
}


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("transform", _SECOND)
def test_second_derivatives_under_torch_func(name, transform):
    """backward="eig" is exact at second order under every nesting of torch.func; the approximate modes raise
    (they used to return a silently wrong Hessian under jacrev(jacrev) and hessian)."""
    a = _a(n=3, batch=(), requires_grad=False)
    loss = lambda m, bw: lambda x: (FUNCS[name](x, m, backward=bw, check=False) ** 3).sum()  # noqa: E731
    ref = torch.autograd.functional.hessian(lambda x: (_eigh_unrolled(name)(x) ** 3).sum(), a)
    tol = 1e3 * EPS64 * 10.0**2
    for method in ("eig", "newton-schulz"):
        torch.testing.assert_close(_SECOND[transform](loss(method, "eig"))(a), ref, rtol=tol, atol=tol)
    for method, backward in [("newton-schulz", "lyapunov"), ("eig", "lyapunov"), ("eig", "svd-pade")]:
        with pytest.raises(RuntimeError, match="differentiable once"):
            _SECOND[transform](loss(method, backward))(a)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize(
    ("method", "backward"), [("eig", "eig"), ("pade", "lyapunov"), ("newton-schulz", "lyapunov"), ("eig", "svd-pade")]
)
def test_matches_numpy_manual_vjp(name, method, backward):
    a_np = spd(6, 100.0, batch=(3,), seed=2)[0]
    g_np = np.random.default_rng(3).standard_normal(a_np.shape)
    y_np, vjp = VJPS[name](a_np, method, backward=backward)
    a = torch.tensor(a_np, requires_grad=True)
    y = FUNCS[name](a, method, backward=backward)
    (da,) = torch.autograd.grad(y, a, torch.tensor(g_np))
    tol = 100 * EPS64 * 100.0  # same algorithm, different BLAS: rounding times the condition number
    np.testing.assert_allclose(to_numpy(y), y_np, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(da), vjp(g_np), rtol=tol, atol=tol * np.abs(vjp(g_np)).max())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", ["eig", "pade", "newton-schulz"])
def test_half_precision(dtype, method):
    a32 = _a(n=8, batch=(2,), dtype=torch.float32, requires_grad=False)
    a = a32.to(dtype).requires_grad_()
    y = matfunc.sqrtm(a, method)
    assert y.dtype == dtype
    ref = matfunc.sqrtm(a.detach().float(), method)
    y_err = y.detach().float()
    eps = float(torch.finfo(dtype).eps)
    # input rounding (eps/2 relative) propagates with at most cond(A)^(1/2) = sqrt(10), output rounding eps
    assert float((y_err - ref).norm() / ref.norm()) <= 4 * eps * 10.0**0.5
    y.sum().backward()
    assert a.grad.dtype == dtype and torch.isfinite(a.grad.float()).all()


@pytest.mark.parametrize("method", ["eig", "pade", "newton-schulz"])
def test_autocast_computes_in_float32(method):
    a = _a(n=8, dtype=torch.float32)
    ref = matfunc.inv_sqrtm(a, method)
    (da_ref,) = torch.autograd.grad(ref.sum(), a)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = matfunc.inv_sqrtm(a, method)
        (da,) = torch.autograd.grad(y.sum(), a)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, ref, rtol=0, atol=0)
    torch.testing.assert_close(da, da_ref, rtol=0, atol=0)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize(
    ("method", "backward"),
    [
        ("eig", "eig"),
        ("eig", "lyapunov"),
        ("eig", "svd-pade"),
        ("eig", "unrolled"),
        ("pade", "lyapunov"),
        ("taylor", "lyapunov"),
        ("newton-schulz", "lyapunov"),
        ("newton-schulz", "unrolled"),
        ("pade", "unrolled"),
    ],
)
def test_rank_deficient_gradients_finite(name, method, backward):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 3))
    a = torch.tensor(x @ x.transpose(0, 2, 1), dtype=torch.float32, requires_grad=True)  # rank 3 of 6
    y = FUNCS[name](a, method, backward=backward, check=False)
    (da,) = torch.autograd.grad((y * _g(y.shape, dtype=torch.float32)).sum(), a)
    if name == "sqrtm":
        assert torch.isfinite(y).all()
    assert torch.isfinite(da).all()


@pytest.fixture
def two_threads():
    """The batched-LU failure shows with 2 intra-op threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("method", "kw"),
    [
        ("eig", {}),
        ("taylor", {}),
        ("pade", {}),
        ("pade", {"degree": (3, 6)}),  # off-diagonal order (complex denominator roots, still SPD)
        ("newton-schulz", {}),
    ],
)
def test_batched_large_n_cpu(method, kw, two_threads):
    """torch 2.13's batched CPU LU (solve/inv) fails for batch > 1, n >= ~200: no path may use it."""
    a_np = spd(200, 100.0, batch=(2,))[0]
    a = torch.tensor(a_np, requires_grad=True)
    g = np.random.default_rng(6).standard_normal(a_np.shape)
    for name in FUNCS:
        y = FUNCS[name](a, method, **kw)
        (da,) = torch.autograd.grad(y, a, torch.tensor(g))
        y_np, vjp = VJPS[name](a_np, method, **kw)  # the same algorithm in NumPy
        tol = 1e3 * EPS64 * 100.0  # rounding, amplified by cond(A) = 100
        np.testing.assert_allclose(to_numpy(y), y_np, rtol=tol, atol=tol * np.abs(y_np).max())
        np.testing.assert_allclose(to_numpy(da), vjp(g), rtol=tol, atol=tol * np.abs(vjp(g)).max())


def test_primitives_match_portable_defaults():
    from matfunc.backends import torch as glue

    rng = np.random.default_rng(5)
    a = torch.tensor(rng.standard_normal((3, 2, 4, 4)))
    b = torch.tensor(rng.standard_normal((2, 4, 4)))
    eye = torch.eye(4, dtype=a.dtype)
    torch.testing.assert_close(glue._matmul_add(eye, a, b, alpha=0.5, beta=2.0), 2.0 * eye + 0.5 * (a @ b))
    c = torch.tensor(rng.standard_normal((3, 2, 4, 4)))
    torch.testing.assert_close(glue._matmul_add(c, a, b, alpha=-1.0, beta=3.0), 3.0 * c - a @ b)
    s = _a(n=4, requires_grad=False)
    torch.testing.assert_close(glue._spd_solve(s, b), torch.linalg.solve(s, b))
    s_big = torch.tensor(spd(130, 10.0, batch=(2,))[0])  # the Cholesky branch
    rhs_big = torch.tensor(rng.standard_normal((2, 130, 3)))
    torch.testing.assert_close(s_big @ glue._spd_solve(s_big, rhs_big), rhs_big)
    big = torch.tensor(spd(130, 10.0, batch=(2,))[0]) - 0.5 * torch.eye(130, dtype=torch.float64)  # indefinite
    rhs = torch.tensor(rng.standard_normal((2, 130, 3)))
    torch.testing.assert_close(big @ glue._solve(big, rhs), rhs)


def test_device_dtype_and_grad_preserved():
    a = _a(dtype=torch.float32)
    y = matfunc.sqrtm(a, "pade")
    assert y.dtype == a.dtype and y.device == a.device and y.requires_grad


def _with(marks):
    def deco(f):
        for m in marks:
            f = m(f)
        return f

    return deco


def _compile_check(fn, a, **kw):
    import torch._dynamo

    (da_ref,) = torch.autograd.grad(fn(a), a)
    torch._dynamo.reset()
    out = torch.compile(fn, backend="aot_eager", **kw)(a)
    (da,) = torch.autograd.grad(out, a)
    tol = 100 * float(torch.finfo(torch.float32).eps)
    torch.testing.assert_close(out, fn(a), rtol=tol, atol=tol)
    torch.testing.assert_close(da, da_ref, rtol=tol, atol=tol)


# array-api-compat's namespace lookup is lru_cached; dynamo traces the wrapped function (no graph break).
# torch 2.13's dynamo itself instantiates the autograd.Function it traces and reads .grad of graph inputs,
# warning about both; neither comes from matfunc.
_DYNAMO_WARNINGS = [
    pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf:UserWarning"),
]


@pytest.mark.parametrize("method", ["newton-schulz", "pade"])
@_with(_DYNAMO_WARNINGS)
def test_compile_matches_eager(method):
    """Values and gradients under torch.compile equal eager ones."""

    def fn(x):
        return matfunc.sqrtm(x, method).sum() + matfunc.inv_sqrtm(x, method).square().sum()

    _compile_check(fn, _a(n=4, dtype=torch.float32))


@_with(_DYNAMO_WARNINGS)
def test_compile_newton_schulz_fullgraph():
    _compile_check(lambda x: matfunc.inv_sqrtm(x, "newton-schulz").sum(), _a(n=4, dtype=torch.float32), fullgraph=True)


def test_compile_fullgraph_on_first_call():
    """A fresh process whose first matfunc call is compiled with fullgraph=True (torch imported first)."""
    import subprocess
    import sys

    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import torch, matfunc\n"
        "a = torch.randn(2, 4, 4, dtype=torch.float64); a = (a @ a.mT + torch.eye(4)).requires_grad_()\n"
        "for m in ('pade', 'newton-schulz'):\n"
        "    torch._dynamo.reset()\n"
        "    f = torch.compile(lambda x: matfunc.inv_sqrtm(x, m).sum(), backend='aot_eager', fullgraph=True)\n"
        "    (g,) = torch.autograd.grad(f(a), a)\n"
        "    (ref,) = torch.autograd.grad(matfunc.inv_sqrtm(a, m).sum(), a)\n"
        "    torch.testing.assert_close(g, ref)\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]


def test_cache_blocks_change_nothing_torch(monkeypatch):
    """Eager CPU tensors run in cache-sized blocks: same values and gradients as one block."""
    import matfunc.core.blocking as blocking

    gen = torch.Generator().manual_seed(5)
    x = torch.randn(3, 50, 8, 30, dtype=torch.float64, generator=gen)
    a = x @ x.mT / 30 + 0.1 * torch.eye(8, dtype=torch.float64)
    g = torch.randn(a.shape, dtype=torch.float64, generator=gen)
    runs = []
    for size in (1 << 40, 7 * 8 * 8 * 8):
        monkeypatch.setattr(blocking, "BLOCK_BYTES", size)
        for method, backward in (("pade", "lyapunov"), ("eig", "eig")):
            t = a.clone().requires_grad_()
            y = matfunc.sqrtm(t, method, backward=backward)
            (dt,) = torch.autograd.grad(y, t, g)
            runs.append((y.detach(), dt))
    for one, blocked in zip(runs[:2], runs[2:], strict=True):
        for u, v in zip(one, blocked, strict=True):
            torch.testing.assert_close(v, u, rtol=1e-14, atol=1e-14)


# --- derivatives at repeated eigenvalues and singular input (issue 15, item 7) ----------------------------
# Autograd through eigh divides by eigenvalue gaps: NaN at 3 I and at [1, 1, 2] from the second derivative on
# (and from the first with backward="unrolled", method="eig"). The exact derivatives exist there.

_C = 3.0  # the multiple of the identity


def _rotated(eigenvalues, seed=7):
    """Q diag(eigenvalues) Q^T for a random orthogonal Q (not diagonal: eigh must choose a basis)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    a = (q * np.asarray(eigenvalues, dtype=float)) @ q.T
    return torch.tensor((a + a.T) / 2)


def _sym(x):
    return (x + x.mT) / 2


def _directions(n, seed=11):
    rng = np.random.default_rng(seed)
    g = torch.tensor(rng.standard_normal((n, n)))
    f = _sym(torch.tensor(rng.standard_normal((n, n))))
    h = _sym(torch.tensor(rng.standard_normal((n, n))))
    return g, f, h


def _second_derivative_reference(name, a, g, f):
    """``d/dt grad_A <g, Y(A + t f)>`` at t = 0 (symmetric ``f``): the Hessian of ``<g, Y>`` applied to ``f``.

    At ``c I`` in closed form (``Y = sqrt(c) (I + X/c)^{1/2}``: ``d2 Y[E, F] = -(EF + FE) / (8 c^{3/2})``, and
    ``3 (EF + FE) / (8 c^{5/2})`` for ``A^{-1/2}``), with its error: rounding. Elsewhere a central difference of the
    exact first derivative (the NumPy eig VJP, smooth at repeated eigenvalues), error ``O(eps^{2/3})``."""
    gs = _sym(g)
    if torch.equal(a, _C * torch.eye(a.shape[-1], dtype=a.dtype)):
        if name == "sqrtm":
            return -(gs @ f + f @ gs) / (8 * _C**1.5), 10 * EPS64
        return 3 * (gs @ f + f @ gs) / (8 * _C**2.5), 10 * EPS64
    h = EPS64 ** (1 / 3)
    vjp = lambda x: VJPS[name](x.numpy(), "eig")[1](g.numpy())  # noqa: E731
    return torch.tensor((vjp(a + h * f) - vjp(a - h * f)) / (2 * h)), 100 * EPS64 ** (2 / 3)


_NESTINGS = {
    "create_graph": None,
    "hessian": torch.func.hessian,
    "jacrev(jacrev)": lambda f: torch.func.jacrev(torch.func.jacrev(f)),
    "jacfwd(jacfwd)": lambda f: torch.func.jacfwd(torch.func.jacfwd(f)),
    "jacrev(jacfwd)": lambda f: torch.func.jacrev(torch.func.jacfwd(f)),
}


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("point", ["3I", "[1,1,2]"])
@pytest.mark.parametrize("nesting", _NESTINGS)
@pytest.mark.parametrize(("method", "backward"), [("eig", "eig"), ("newton-schulz", "eig"), ("eig", "unrolled")])
def test_second_derivative_at_repeated_eigenvalues(name, point, nesting, method, backward):
    """Exact (not NaN) second derivatives of backward="eig" where eigenvalues repeat, by double backward and
    every torch.func nesting."""
    a = _C * torch.eye(3, dtype=torch.float64) if point == "3I" else _rotated([1.0, 1.0, 2.0])
    g, f, _ = _directions(3)
    ref, rtol = _second_derivative_reference(name, a, g, f)

    def loss(x):
        return (g * FUNCS[name](x, method, backward=backward, check=False)).sum()

    if _NESTINGS[nesting] is None:
        x = a.clone().requires_grad_()
        (d1,) = torch.autograd.grad(loss(x), x, create_graph=True)
        (d2,) = torch.autograd.grad((d1 * f).sum(), x)
    else:
        d2 = _sym(torch.einsum("ijkl,kl->ij", _NESTINGS[nesting](loss)(a), f))
    torch.testing.assert_close(d2, ref, rtol=0, atol=rtol * float(ref.abs().max()))


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("point", ["3I", "[1,1,2]"])
def test_gradgradcheck_at_repeated_eigenvalues(name, point):
    a = _C * torch.eye(3, dtype=torch.float64) if point == "3I" else _rotated([1.0, 1.0, 2.0])
    f = FUNCS[name]
    assert torch.autograd.gradgradcheck(lambda x: f(x, "eig", check=False), (a.requires_grad_(),))


def test_third_derivative_at_multiple_of_identity():
    """Every order: d3 (A^{1/2})[E, F, H] at c I is the sum over the 6 orderings of E F H over 16 c^{5/2}
    (the x^3 term of (1 + x)^{1/2} is x^3 / 16), by triple backward and by torch.func (three nested levels)."""
    import itertools

    n = 3
    a = _C * torch.eye(n, dtype=torch.float64)
    g, f, h = _directions(n)
    e = torch.zeros(n, n, dtype=torch.float64, requires_grad=True)
    d3 = sum(x @ y @ z for x, y, z in itertools.permutations([_sym(e), f, h])) / (16 * _C**2.5)
    (ref,) = torch.autograd.grad((_sym(g) * d3).sum(), e)

    def loss(x):
        return (g * matfunc.sqrtm(x, "eig", check=False)).sum()

    x = a.clone().requires_grad_()
    (d1,) = torch.autograd.grad(loss(x), x, create_graph=True)
    (d2,) = torch.autograd.grad((d1 * f).sum(), x, create_graph=True)
    (t_autograd,) = torch.autograd.grad((d2 * h).sum(), x)
    t_func = _sym(torch.einsum("ijklmn,kl,mn->ij", torch.func.jacfwd(torch.func.hessian(loss))(a), f, h))
    tol = 10 * EPS64 * float(ref.abs().max())
    torch.testing.assert_close(t_autograd, ref, rtol=0, atol=tol)
    torch.testing.assert_close(t_func, ref, rtol=0, atol=tol)


_SINGULAR = {
    "3I": lambda: _C * torch.eye(3, dtype=torch.float64),
    "[1,1,2]": lambda: _rotated([1.0, 1.0, 2.0]),
    "zero": lambda: torch.zeros(3, 3, dtype=torch.float64),
    "diag(1,0)": lambda: torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64)),
}


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("point", _SINGULAR)
@pytest.mark.parametrize("method", ["eig", "newton-schulz", "pade", "taylor"])
def test_unrolled_gradients_finite(name, point, method):
    """backward="unrolled" at 3 I, [1, 1, 2], the zero matrix and diag(1, 0): finite first and second derivatives
    (they were NaN: eigh's derivative for method="eig", sqrt at 0 in the normalisation for the others); with
    method="eig" (nothing to unroll) they are the "eig" backward's."""
    a = _SINGULAR[point]().requires_grad_()
    g, _, _ = _directions(a.shape[-1])
    y = FUNCS[name](a, method, backward="unrolled", check=False)
    (d1,) = torch.autograd.grad((g * y).sum(), a, create_graph=True)
    (d2,) = torch.autograd.grad((d1 * d1).sum(), a)
    assert torch.isfinite(d1).all() and torch.isfinite(d2).all()
    if method == "eig":
        (ref,) = torch.autograd.grad((g * FUNCS[name](a, "eig", backward="eig", check=False)).sum(), a)
        torch.testing.assert_close(d1, ref, rtol=0, atol=0)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("point", ["zero", "diag(1,0)"])
def test_eig_higher_derivatives_finite_at_singular_input(name, point):
    """Singular input keeps the eig backward's floor convention at every order: finite second derivatives, and the
    first derivative under create_graph equals the plain (floored) one."""
    a = _SINGULAR[point]().requires_grad_()
    g, _, _ = _directions(a.shape[-1])

    def loss(x):
        return (g * FUNCS[name](x, "eig", check=False)).sum()

    (plain,) = torch.autograd.grad(loss(a), a)
    (d1,) = torch.autograd.grad(loss(a), a, create_graph=True)
    (d2,) = torch.autograd.grad((d1 * d1).sum(), a)
    torch.testing.assert_close(d1.detach(), plain, rtol=4 * EPS64, atol=4 * EPS64 * float(plain.abs().max()))
    assert torch.isfinite(d2).all()
    assert torch.isfinite(torch.func.hessian(loss)(a.detach())).all()


@pytest.mark.parametrize("inverse", [False, True])
def test_higher_operator_vjp_is_the_gradient_of_the_operator(inverse):
    """core.higher.operator_vjp (the S-gradient the torch backward uses) against autograd of the operator."""
    from matfunc.core import higher

    rng = np.random.default_rng(12)
    s = _a(n=4, batch=(), requires_grad=True)
    x, z = (_sym(torch.tensor(rng.standard_normal((4, 4)))) for _ in range(2))
    (ref,) = torch.autograd.grad((z * higher.operator(s, x, inverse=inverse)).sum(), s)
    got = higher.operator_vjp(s.detach(), x, z, inverse=inverse)
    torch.testing.assert_close(got, ref, rtol=10 * EPS64, atol=10 * EPS64 * float(ref.abs().max()))


@pytest.mark.parametrize(
    ("method", "backward"),
    [
        ("eig", "eig"),
        ("newton-schulz", "lyapunov"),
        ("eig", "lyapunov"),
        ("pade", "lyapunov"),
        ("taylor", "lyapunov"),
        ("eig", "svd-pade"),
    ],
)
def test_compile_no_warnings_from_matfunc(method, backward):
    """torch.compile (fullgraph) of sqrtm/inv_sqrtm and their gradients emits no warning from matfunc's code (it
    emitted dynamo's lru_cache warning for every cached coefficient function). The one exception: array-api-compat's
    own lru_cache'd namespace checks, called by _compat.backend_name."""
    import pathlib
    import warnings

    import torch._dynamo

    import matfunc.backends.torch  # noqa: F401  (what `import matfunc` does when torch was imported first)

    a = _a(n=4, dtype=torch.float32)
    here = str(pathlib.Path(matfunc.__file__).parent)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for f in FUNCS.values():
            torch._dynamo.reset()
            fn = torch.compile(
                lambda x, f=f: f(x, method, backward=backward).sum(), backend="aot_eager", fullgraph=True
            )
            torch.autograd.grad(fn(a), a)
    ours = [str(w.message) for w in caught if here in w.filename + str(w.message)]
    ours = [m for m in ours if "_compat.py" not in m]
    assert not ours, ours[0]
