"""Low-precision products of the Newton–Schulz roots (``matmul_dtype``), and full-precision products on JAX.

Accuracy model (docs/derivations/schedules.md, "Mixed precision"): the coupled iteration keeps the rounding of its
low-precision steps, so the relative error of either root is about ``eps_low * sqrt(cond) / 10`` up to the covered
condition number (``LOW_COVERED``: bfloat16 1e3, float16 1e4; measured at most ``0.12 eps_low sqrt(cond)`` there).
The tests allow ``0.5 eps_low sqrt(cond)`` (4x the largest measured) and require the error to be above the working
precision's, so that a silently ignored ``matmul_dtype`` fails them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_numpy

import matfunc
from matfunc.bench import schedules as bench
from matfunc.core.newton_schulz import LOW_COVERED, LOW_EPS, REFINE_STEPS
from matfunc.core.options import resolve

torch = pytest.importorskip("torch")


def _case(n: int, cond: float, batch: int = 3, seed: int = 0):
    """``(A, A^{1/2}, A^{-1/2})`` in float64, eigenvalues log-spaced from 1 to ``1/cond``."""
    return bench.test_matrices(n, cond, batch, seed)


def _rel(x, ref) -> float:
    x = np.asarray(to_numpy(x), dtype=np.float64)
    return float(np.max(np.linalg.norm(x - ref, axis=(-2, -1)) / np.linalg.norm(ref, axis=(-2, -1))))


def _bound(low: str, cond: float) -> float:
    return 0.5 * LOW_EPS[low] * math.sqrt(cond)


def _conds(low: str) -> list[float]:
    top = LOW_COVERED[low]
    return [c for c in (1e1, 1e2, 1e3, 1e4) if c <= top]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_accuracy_per_condition_torch(low, dtype):
    """Both roots within the accuracy model at every covered condition, with check=True passing; and the
    products really were rounded (the error is far above the working precision's)."""
    eps = float(np.finfo(dtype).eps)
    for cond in _conds(low):
        a, root, inv_root = _case(48, cond)
        x = torch.from_numpy(a).to(getattr(torch, dtype))
        y = matfunc.sqrtm(x, "newton-schulz", matmul_dtype=low)
        w = matfunc.inv_sqrtm(x, "newton-schulz", matmul_dtype=low)
        assert y.dtype == x.dtype and w.dtype == x.dtype
        for got, ref in ((y, root), (w, inv_root)):
            err = _rel(got, ref)
            assert err <= _bound(low, cond), (cond, err)
            assert err > 10 * eps * math.sqrt(cond), (cond, err)  # not silently in the working precision
        np.testing.assert_array_equal(to_numpy(y), to_numpy(y.mT))


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_check_passes_where_covered_and_raises_past(low):
    """check=True accepts every covered input (several seeds) and raises, naming matmul_dtype, where the
    low-precision steps diverge (10x past the covered condition)."""
    for seed in range(3):
        a, _, _ = _case(64, LOW_COVERED[low], batch=2, seed=seed)
        x = torch.from_numpy(a).float()
        matfunc.sqrtm(x, "newton-schulz", matmul_dtype=low)
        matfunc.inv_sqrtm(x, "newton-schulz", matmul_dtype=low)
    a, _, _ = _case(64, 10 * LOW_COVERED[low], batch=2)
    x = torch.from_numpy(a).float()
    for fn in (matfunc.sqrtm, matfunc.inv_sqrtm):
        with pytest.raises(ValueError, match="matmul_dtype"):
            fn(x, "newton-schulz", matmul_dtype=low)


def test_indefinite_input_raises_with_low_precision():
    x = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="residual|NaN"):
        matfunc.sqrtm(x, "newton-schulz", matmul_dtype="bfloat16")


def test_gradient_torch_within_model():
    """The Lyapunov backward of the low-precision forward: against the exact Daleckii–Krein gradient."""
    cond, low = 1e2, "bfloat16"
    a, _, _ = _case(32, cond, batch=2)
    lam, v = np.linalg.eigh(a)
    s = np.sqrt(lam)
    g = np.random.default_rng(1).standard_normal(a.shape)
    g = g + np.swapaxes(g, -1, -2)
    vt = np.swapaxes(v, -1, -2)
    exact = v @ ((vt @ g @ v) / (s[..., :, None] + s[..., None, :])) @ vt
    for backward in ("lyapunov", "unrolled"):
        x = torch.from_numpy(a).float().requires_grad_()
        y = matfunc.sqrtm(x, "newton-schulz", matmul_dtype=low, backward=backward)
        (y * torch.from_numpy(g).float()).sum().backward()
        assert _rel(x.grad, exact) <= _bound(low, cond), backward


def test_resolve_defaults_and_validation():
    kw = dict(
        inverse=False,
        degree=None,
        num_iters=None,
        scale="spectral",
        backward="auto",
        backward_iters=None,
        eps=float(np.finfo(np.float32).eps),
        n=64,
        on_cpu=True,
    )
    opts = resolve("newton-schulz", matmul_dtype="BFloat16", **kw)
    assert opts.matmul_dtype == "bfloat16" and opts.schedule == "scaled" and opts.num_iters == 10
    assert resolve("newton-schulz", **kw).schedule == "polar-express"
    assert resolve("newton-schulz", matmul_dtype="float16", schedule="polar-express", **kw).schedule == "polar-express"
    with pytest.raises(ValueError, match="'bfloat16' or 'float16'"):
        resolve("newton-schulz", matmul_dtype="float8", **kw)
    with pytest.raises(ValueError, match="not 'auto'"):
        resolve("auto", matmul_dtype="bfloat16", **kw)
    with pytest.raises(ValueError, match="not 'pade'"):
        resolve("pade", matmul_dtype="bfloat16", **kw)
    with pytest.raises(ValueError, match=f"num_iters > {REFINE_STEPS}"):
        resolve("newton-schulz", matmul_dtype="bfloat16", **{**kw, "num_iters": REFINE_STEPS})
    with pytest.raises(TypeError, match="matmul_dtype must be a string"):
        resolve("newton-schulz", matmul_dtype=torch.bfloat16, **kw)


def test_backend_and_dtype_errors():
    a = np.eye(3)
    with pytest.raises(ValueError, match="not a dtype of numpy"):
        matfunc.sqrtm(a, "newton-schulz", matmul_dtype="bfloat16")
    with pytest.raises(ValueError, match="real input"):
        matfunc.sqrtm(torch.eye(3, dtype=torch.complex64), "newton-schulz", matmul_dtype="bfloat16")
    x = torch.eye(3)
    before = x.clone()
    with pytest.raises(ValueError):
        matfunc.sqrtm(x, "newton-schulz", matmul_dtype="bfloat16", num_iters=2)
    assert torch.equal(x, before)


def test_numpy_float16_and_vjp():
    """NumPy has float16 (no BLAS: slow, but correct); the manual VJP runs the same forward."""
    cond, low = 1e2, "float16"
    a, root, _ = _case(16, cond, batch=2)
    y = matfunc.sqrtm(a.astype(np.float32), "newton-schulz", matmul_dtype=low)
    assert y.dtype == np.float32 and _rel(y, root) <= _bound(low, cond)
    y2, vjp = matfunc.sqrtm_vjp(a.astype(np.float32), "newton-schulz", matmul_dtype=low)
    np.testing.assert_array_equal(y, y2)
    assert np.all(np.isfinite(vjp(np.broadcast_to(np.eye(16, dtype=np.float32), a.shape))))


def test_dask_float16():
    da = pytest.importorskip("dask.array")
    cond, low = 1e2, "float16"
    a, root, _ = _case(16, cond, batch=4)
    x = da.from_array(a.astype(np.float32), chunks=(2, 16, 16))
    y = matfunc.sqrtm(x, "newton-schulz", matmul_dtype=low).compute()
    assert _rel(y, root) <= _bound(low, cond)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_polar_float64_low_precision_reaches_float64_orthogonality(low):
    """Regression: with cubic steps two float64 refinement steps left ||U^T U - I||_F = 6.6e-13 after float16
    products, and check=True raised on a well-conditioned matrix; a third brings it within the check's rounding
    allowance (``1000 eps``; measured 3e-14 after bfloat16, 8e-16 after float16)."""
    for seed in range(4):
        a = torch.from_numpy(np.random.default_rng(seed).standard_normal((4, 8, 5)))
        u = matfunc.polar(a, "newton-schulz", matmul_dtype=low)[0]
        orth = torch.linalg.matrix_norm(u.mT @ u - torch.eye(5, dtype=u.dtype)).max().item()
        assert orth < (50 if low == "float16" else 1000) * np.finfo(np.float64).eps


def test_polar_dask_float16():
    """Dask's namespace has no float16 of its own: matmul_dtype is looked up in its chunks' (NumPy)."""
    da = pytest.importorskip("dask.array")
    a = np.random.default_rng(0).standard_normal((4, 8, 5))
    u = matfunc.polar(da.from_array(a, chunks=(2, 8, 5)), "newton-schulz", matmul_dtype="float16")[0].compute()
    ref = matfunc.polar(a, "svd")[0]
    assert _rel(u, ref) < 1e-2


def test_jax_jit_and_grad():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    cond, low = 1e2, "bfloat16"
    a, root, inv_root = _case(32, cond, batch=2)
    x = jnp.asarray(a, dtype=jnp.float32)
    f = jax.jit(lambda t: matfunc.inv_sqrtm(t, "newton-schulz", matmul_dtype=low))
    assert _rel(f(x), inv_root) <= _bound(low, cond)
    y = matfunc.sqrtm(x, "newton-schulz", matmul_dtype=low)
    assert _rel(y, root) <= _bound(low, cond)
    g = jax.grad(lambda t: jnp.sum(matfunc.sqrtm(t, "newton-schulz", matmul_dtype=low)))(x)
    assert bool(jnp.all(jnp.isfinite(g)))


# --- JAX: matfunc's products in full float32 whatever JAX's default -----------------------------------------


def _dot_precisions(jaxpr) -> list:
    """``precision`` of every dot_general in a (closed) jaxpr, sub-jaxprs included (jit, custom_jvp, cond...)."""
    out = []
    inner = getattr(jaxpr, "jaxpr", jaxpr)
    for eqn in inner.eqns:
        if eqn.primitive.name == "dot_general":
            out.append(eqn.params["precision"])
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    out += _dot_precisions(sub)
    return out


@pytest.mark.parametrize("method", ["newton-schulz", "eig", "pade"])
def test_jax_products_full_precision(method):
    """JAX's default matmul precision is TF32 on recent GPUs (bfloat16 passes on TPUs): every product matfunc
    traces, value and gradient, under jit and with the tangent rule traced lazily, asks for HIGHEST; a precision the
    user chose is kept."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    highest = jax.lax.Precision.HIGHEST
    x = jnp.asarray(_case(8, 10.0, batch=2)[0], dtype=jnp.float32)

    def loss(t):
        return jnp.sum(jax.jit(lambda u: matfunc.sqrtm(u, method))(t) ** 2)

    for fn in (loss, jax.grad(loss), jax.jit(jax.grad(loss))):
        precisions = _dot_precisions(jax.make_jaxpr(fn)(x))
        assert precisions, "no product traced?"
        assert all(p == (highest, highest) for p in precisions), precisions
    with jax.default_matmul_precision("tensorfloat32"):
        precisions = _dot_precisions(jax.make_jaxpr(jax.grad(loss))(x))
    assert precisions and all(p != (highest, highest) for p in precisions)


def test_jax_family_polar_distances_products_full_precision():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    highest = jax.lax.Precision.HIGHEST
    x = jnp.asarray(_case(8, 10.0, batch=2)[0], dtype=jnp.float32)
    fns = (
        lambda t: matfunc.logm(t),
        lambda t: matfunc.polar(t, "newton-schulz")[0],
        lambda t: matfunc.bures_wasserstein(t, t + jnp.eye(8)),
        lambda t: matfunc.distance_riemann(t, 2.0 * t + jnp.eye(8)),
        lambda t: matfunc.powm(t, 0.25, method="newton-schulz"),
    )
    for f in fns:
        precisions = _dot_precisions(jax.make_jaxpr(jax.grad(lambda t, f=f: jnp.sum(f(t) ** 2)))(x))
        assert precisions and all(p == (highest, highest) for p in precisions)


# --- the benchmark ----------------------------------------------------------------------------------------------


def test_tf32_emulation_rounds_to_ten_mantissa_bits():
    with bench._tf32_mode():
        one = torch.ones(1, 1)
        v = torch.tensor([[1 + 2.0**-12, 1 + 2.0**-10, 1 + 3 * 2.0**-11]])
        out = (v.T @ one).flatten().tolist()
    assert out == [1.0, 1 + 2.0**-10, 1 + 2 * 2.0**-10]  # below half an ulp: down; exact; tie to even: up


def test_lowprec_table_runs():
    rows = {
        p: bench.lowprec_row(1e2, dtype="float32", products=p, n=16, batch=2, repeat=1)
        for p in (None, "bfloat16", "tf32")
    }
    assert rows[None]["sqrtm"] < 1e-5 < rows["bfloat16"]["sqrtm"] < _bound("bfloat16", 1e2)
    assert rows["tf32"]["sqrtm"] > 1e-5  # the emulation took effect
    assert not rows[None]["raises"] and not rows["bfloat16"]["raises"]
    text = bench.lowprec_table(n=8, batch=1, conds=(1e1,))
    assert "all TF32 (emulated)" in text and text.count("\n| float") == 8


# --- on a GPU (the GPU check runs these; skipped elsewhere) -----------------------------------------------------


def _cuda_tensor_cores() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_tensor_cores(), reason="needs a CUDA GPU with tensor cores (compute capability 8+)")
def test_cuda_low_precision_and_tf32():
    """On tensor cores: matmul_dtype within the accuracy model; TF32 chosen by the user costs the default forward
    its float32 accuracy (the emulated table's claim); float32 products keep it."""
    cond = 1e3
    a, root, _ = _case(64, cond, batch=4)
    x = torch.from_numpy(a).float().cuda()
    for low in ("bfloat16", "float16"):
        y = matfunc.sqrtm(x, "newton-schulz", matmul_dtype=low)
        assert _rel(y, root) <= _bound(low, cond)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        tf32 = _rel(matfunc.sqrtm(x, "newton-schulz", check=False), root)
        torch.set_float32_matmul_precision("highest")
        full = _rel(matfunc.sqrtm(x, "newton-schulz"), root)
    finally:
        torch.set_float32_matmul_precision(before)
    assert full < 1e-4 < tf32, (full, tf32)


@pytest.mark.gpu
def test_jax_gpu_default_precision_is_overridden():
    """JAX's GPU default (TF32) would leave the default forward ~1e-2 off at cond 1e3: matfunc's own products are
    traced in full float32, and a precision the user sets is kept."""
    jax = pytest.importorskip("jax")
    try:
        gpu = jax.devices("gpu")[0]
    except RuntimeError:
        pytest.skip("no JAX GPU device")
    cond = 1e3
    a, root, _ = _case(64, cond, batch=4)
    x = jax.device_put(jax.numpy.asarray(a, dtype=jax.numpy.float32), gpu)
    f = jax.jit(lambda t: matfunc.sqrtm(t, "newton-schulz"))
    assert _rel(f(x), root) < 1e-4
    if torch.cuda.is_available() and _cuda_tensor_cores():
        with jax.default_matmul_precision("tensorfloat32"):
            g = jax.jit(lambda t: matfunc.sqrtm(t, "newton-schulz", check=False))
            assert _rel(g(x), root) > 1e-4


def test_layers_pass_matmul_dtype_on():
    """matfunc.nn layers pass further options to the roots: bfloat16 products inside covariance pooling."""
    from matfunc import nn

    feats = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    exact = nn.CovariancePooling(method="eig")(feats)
    layer = nn.CovariancePooling(method="newton-schulz", matmul_dtype="bfloat16")
    out = layer(feats)
    out.sum().backward()
    err = (torch.linalg.matrix_norm(out - exact) / torch.linalg.matrix_norm(exact)).max().item()
    assert 1e-5 < err < 0.05 and bool(torch.isfinite(feats.grad).all())
    with pytest.raises(ValueError, match="matmul_dtype"):
        nn.CovariancePooling(method="pade", matmul_dtype="bfloat16")


@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`:UserWarning")
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf:UserWarning")
def test_torch_compile_fullgraph():
    """One graph with the casts inside (the warnings are dynamo's own: tests/test_torch.py); value and gradient as
    eager."""
    import torch._dynamo

    a, root, _ = _case(16, 1e2, batch=2)
    x = torch.from_numpy(a).float().requires_grad_()

    def fn(t):
        return matfunc.sqrtm(t, "newton-schulz", matmul_dtype="bfloat16", check=False)

    (ref,) = torch.autograd.grad(fn(x).sum(), x)
    torch._dynamo.reset()
    y = torch.compile(fn, backend="aot_eager", fullgraph=True)(x)
    (da,) = torch.autograd.grad(y.sum(), x)
    tol = 100 * float(torch.finfo(torch.float32).eps)
    torch.testing.assert_close(y, fn(x), rtol=tol, atol=tol)
    torch.testing.assert_close(da, ref, rtol=tol, atol=tol)
    assert _rel(y.detach(), root) <= _bound("bfloat16", 1e2)


@pytest.mark.parametrize("cond", [1e1, 1e2])
def test_default_forward_survives_tf32_rounding(cond):
    """Regression: every product rounded to TF32 (emulated; PyTorch after set_float32_matmul_precision("high"), JAX's
    GPU default) diverged for 3 of 10 matrices at cond 10 and 100 before the quintic schedule carried the Polar
    Express margin. With it, every matrix is within TF32's accuracy model (eps = 2^-10, like float16)."""
    errs = []
    for seed in range(10):
        a, root, inv_root = _case(64, cond, batch=4, seed=seed)
        x = torch.from_numpy(a).float()
        with bench._tf32_mode():
            y = matfunc.sqrtm(x, "newton-schulz", check=False)
            w = matfunc.inv_sqrtm(x, "newton-schulz", check=False)
        errs.append(max(_rel(y, root), _rel(w, inv_root)))
    assert max(errs) <= _bound("float16", cond), errs


def test_polar_express_survives_tf32_rounding():
    """Regression: with every product rounded to TF32 (emulated), polar-express with lower_bound=1e-3 diverged for
    8 of 10 random matrices at cond 10 before its steps carried the margin in every precision."""
    for seed in range(10):
        rng = np.random.default_rng(seed)
        q1 = np.linalg.qr(rng.standard_normal((2, 128, 64)))[0]
        q2 = np.linalg.qr(rng.standard_normal((2, 64, 64)))[0]
        a = torch.from_numpy((q1 * np.logspace(0, -1, 64)) @ np.swapaxes(q2, -1, -2)).float()
        with bench._tf32_mode():
            u = matfunc.polar(a, "polar-express", lower_bound=1e-3, check=False)[0]
        orth = torch.linalg.matrix_norm(u.mT @ u - torch.eye(64), ord=2).max().item()
        assert orth < 64 * LOW_EPS["float16"], (seed, orth)  # TF32's rounding of a 64-term inner product
