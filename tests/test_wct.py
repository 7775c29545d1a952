"""matfunc.whitening_coloring (and matfunc.nn.WhiteningColoring): the whitening–colouring transform of universal
style transfer, on every backend, against SciPy and its defining properties, with gradients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from conftest import to_numpy

import matfunc

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


def _features(shape, seed, *, mix=True, shift=0.0):
    """Correlated features with channel means ``shift * (1, 2, ..)``: ``M Z + mu`` with a random mixing M."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape)
    c = shape[-2]
    if mix:
        z = (np.eye(c) + 0.5 * rng.standard_normal((c, c))) @ z
    return z + shift * np.arange(1, c + 1)[:, None]


def _cov(x):
    xc = x - x.mean(-1, keepdims=True)
    return xc @ np.swapaxes(xc, -1, -2) / (x.shape[-1] - 1)


def _reference(content, style, alpha, eps):
    """Independent reference: SciPy's sqrtm (Schur) and an explicit inverse, one matrix at a time."""
    out = np.empty(np.broadcast_shapes(content.shape[:-2], style.shape[:-2]) + content.shape[-2:])
    for idx in np.ndindex(out.shape[:-2]):
        fc = content[idx[len(idx) - (content.ndim - 2) :]] if content.ndim > 2 else content
        fs = style[idx[len(idx) - (style.ndim - 2) :]] if style.ndim > 2 else style
        cc = _cov(fc) + eps * np.eye(fc.shape[0])
        w = np.real(scipy.linalg.sqrtm(_cov(fs))) @ np.linalg.inv(np.real(scipy.linalg.sqrtm(cc)))
        y = w @ (fc - fc.mean(-1, keepdims=True)) + fs.mean(-1, keepdims=True)
        out[idx] = alpha * y + (1 - alpha) * fc
    return out


def _cond(m):
    return float(np.max(np.linalg.cond(m)))


@pytest.mark.parametrize("alpha,eps", [(1.0, 0.0), (0.3, 0.0), (1.0, 0.5)])
def test_matches_scipy_reference_batched(xp, alpha, eps):
    content, style = _features((2, 3, 4, 30), 0, shift=2.0), _features((2, 3, 4, 25), 1, shift=-1.0)
    out = matfunc.whitening_coloring(xp.asarray(content), xp.asarray(style), alpha=alpha, eps=eps)
    assert type(out) is type(xp.asarray(content)) and tuple(out.shape) == (2, 3, 4, 30)
    ref = _reference(content, style, alpha, eps)
    # rounding of the two roots and products: ~ C eps cond(C_c + eps I), relative to the output's scale
    tol = 10 * 4 * EPS64 * _cond(_cov(content) + eps * np.eye(4)) * np.abs(ref).max()
    np.testing.assert_allclose(to_numpy(out), ref, rtol=0, atol=tol)


def test_output_has_the_style_mean_and_covariance(xp):
    """eps=0: cov(out) == cov(style) and mean(out) == mean(style) (unbiased covariances both), batched."""
    content, style = _features((3, 5, 40), 2, shift=3.0), _features((3, 5, 17), 3, shift=-2.0)
    out = to_numpy(matfunc.whitening_coloring(xp.asarray(content), xp.asarray(style), eps=0.0))
    cs = _cov(style)
    tol = 10 * 5 * EPS64 * _cond(_cov(content)) * np.abs(cs).max()
    np.testing.assert_allclose(_cov(out), cs, rtol=0, atol=tol)
    mu_tol = 10 * 5 * EPS64 * _cond(_cov(content)) * np.abs(out).max()
    np.testing.assert_allclose(out.mean(-1), style.mean(-1), rtol=0, atol=mu_tol)


def test_ridge_gives_the_predicted_covariance(xp):
    """eps > 0: cov(out) = C_s^{1/2} C_c (C_c + eps I)^{-1} C_s^{1/2}, within eps / lambda_min(C_c) of C_s."""
    content, style, eps = _features((4, 50), 4), _features((4, 60), 5), 0.2
    out = to_numpy(matfunc.whitening_coloring(xp.asarray(content), xp.asarray(style), eps=eps))
    cc, cs = _cov(content), _cov(style)
    root = np.real(scipy.linalg.sqrtm(cs))
    predicted = root @ cc @ np.linalg.inv(cc + eps * np.eye(4)) @ root
    tol = 10 * 4 * EPS64 * _cond(cc + eps * np.eye(4)) * np.abs(cs).max()
    np.testing.assert_allclose(_cov(out), predicted, rtol=0, atol=tol)
    gap = np.linalg.norm(_cov(out) - cs, 2) / np.linalg.norm(cs, 2)
    assert 0 < gap <= eps / np.linalg.eigvalsh(cc).min()


def test_identity_when_content_is_style(xp):
    x = _features((2, 6, 20), 6, shift=1.0)
    out = to_numpy(matfunc.whitening_coloring(xp.asarray(x), xp.asarray(x), eps=0.0))
    np.testing.assert_allclose(out, x, rtol=0, atol=10 * 6 * EPS64 * _cond(_cov(x)) * np.abs(x).max())


def test_one_style_for_a_batch_of_contents(xp):
    content, style = _features((3, 4, 20), 7), _features((4, 15), 8, shift=2.0)
    out = to_numpy(matfunc.whitening_coloring(xp.asarray(content), xp.asarray(style), eps=1e-3))
    for i in range(3):
        one = to_numpy(matfunc.whitening_coloring(xp.asarray(content[i]), xp.asarray(style), eps=1e-3))
        np.testing.assert_allclose(out[i], one, rtol=0, atol=100 * EPS64 * np.abs(one).max())


def test_float32_and_inputs_not_mutated(xp):
    content, style = _features((2, 4, 30), 9), _features((2, 4, 30), 10, shift=1.0)
    c32, s32 = xp.asarray(content.astype(np.float32)), xp.asarray(style.astype(np.float32))
    before = (to_numpy(c32).copy(), to_numpy(s32).copy())
    out = matfunc.whitening_coloring(c32, s32, eps=0.0)
    assert out.dtype == xp.float32
    np.testing.assert_array_equal(to_numpy(c32), before[0])
    np.testing.assert_array_equal(to_numpy(s32), before[1])
    ref = _reference(
        content.astype(np.float32).astype(np.float64), style.astype(np.float32).astype(np.float64), 1.0, 0.0
    )
    # float32 eigh (torch, JAX: computed in float32) loses ~ C eps32 cond to the roots, as in the README tables
    tol = 10 * 4 * EPS32 * _cond(_cov(content)) * np.abs(ref).max()
    np.testing.assert_allclose(to_numpy(out), ref, rtol=0, atol=tol)
    mixed = matfunc.whitening_coloring(c32, xp.asarray(style), eps=0.0)  # promoted: float64
    assert mixed.dtype == xp.float64


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_half_precision_is_computed_in_float32(lib):
    content, style = _features((4, 30), 11), _features((4, 30), 12)
    if lib == "torch":
        torch = pytest.importorskip("torch")
        c16, s16 = torch.tensor(content, dtype=torch.float16), torch.tensor(style, dtype=torch.float16)
        c32, s32 = c16.float(), s16.float()
    else:
        c16, s16 = content.astype(np.float16), style.astype(np.float16)
        c32, s32 = c16.astype(np.float32), s16.astype(np.float32)
    out16 = matfunc.whitening_coloring(c16, s16, eps=0.0)
    assert out16.dtype == c16.dtype
    out32 = to_numpy(matfunc.whitening_coloring(c32, s32, eps=0.0))
    np.testing.assert_array_equal(to_numpy(out16), out32.astype(np.float16))


def test_method_newton_schulz_and_jit():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    content, style = _features((2, 4, 30), 13), _features((2, 4, 20), 14, shift=1.0)
    ref = _reference(content, style, 0.8, 0.01)
    f = jax.jit(lambda c, s: matfunc.whitening_coloring(c, s, alpha=0.8, eps=0.01, method="newton-schulz"))
    out = np.asarray(f(jnp.asarray(content), jnp.asarray(style)))
    tol = 10 * 4 * EPS64 * _cond(_cov(content) + 0.01 * np.eye(4)) * np.abs(ref).max()
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol)


@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_torch_gradcheck(method):
    torch = pytest.importorskip("torch")
    content = torch.tensor(_features((2, 3, 8), 15), requires_grad=True)
    style = torch.tensor(_features((2, 3, 6), 16, shift=1.0), requires_grad=True)

    def f(c, s):
        return matfunc.whitening_coloring(c, s, alpha=0.7, eps=0.1, method=method)

    assert torch.autograd.gradcheck(f, (content, style))


def test_jax_check_grads():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    content, style = jnp.asarray(_features((2, 3, 8), 17)), jnp.asarray(_features((3, 6), 18, shift=1.0))
    # jit: the eager path dispatches (and compiles) op by op, ~10x slower to check
    f = jax.jit(lambda c, s: matfunc.whitening_coloring(c, s, alpha=0.7, eps=0.1))
    check_grads(f, (content, style), order=1, modes=("rev", "fwd"))


def test_errors():
    good = _features((3, 10), 19)
    wct = matfunc.whitening_coloring
    with pytest.raises(ValueError, match=r"shape \(\.\.\., C, N\)"):
        wct(good[0], good)
    with pytest.raises(ValueError, match="same number of channels"):
        wct(good, good[:2])
    with pytest.raises(ValueError, match="at least 2 positions"):
        wct(good[:, :1], good)
    with pytest.raises(ValueError, match="do not broadcast"):
        wct(np.stack([good, good]), np.stack([good, good, good]))
    with pytest.raises(TypeError, match="complex content"):
        wct(good + 0j, good)
    with pytest.raises(TypeError, match="non-floating style"):
        wct(good, np.ones((3, 10), dtype="U3"))
    for alpha in (-0.1, 1.5, "1", True):
        with pytest.raises(ValueError, match="alpha must be a number in"):
            wct(good, good, alpha=alpha)
    for eps in (-1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eps must be a finite number"):
            wct(good, good, eps=eps)
    bad = good.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="style features contain NaN"):
        wct(good, bad)
    with pytest.raises(ValueError, match="unknown method"):
        wct(good, good, method="foo")
    rank_deficient = _features((5, 3), 20)  # 3 positions of 5 channels: a rank-2 content covariance
    with pytest.raises(matfunc.SingularMatrixError, match="needs eps > 0"):
        wct(rank_deficient, _features((5, 30), 21), eps=0.0)
    out = wct(rank_deficient, _features((5, 30), 21))  # the default ridge makes it definite
    assert np.isfinite(out).all()


def test_numpy_scalars_as_options():
    content, style = _features((2, 5), 30), _features((2, 6), 31)
    ref = matfunc.whitening_coloring(content, style, alpha=0.25, eps=0.5)
    out = matfunc.whitening_coloring(content, style, alpha=np.float32(0.25), eps=np.float16(0.5))
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == np.float64


def test_lists_are_numpy():
    content, style = _features((2, 5), 22), _features((2, 6), 23)
    out = matfunc.whitening_coloring(content.tolist(), style.tolist(), eps=0.0)
    np.testing.assert_array_equal(out, matfunc.whitening_coloring(content, style, eps=0.0))


# --- the torch layer -------------------------------------------------------------------------------------------


def test_layer_on_feature_maps_and_gradients():
    torch = pytest.importorskip("torch")
    from matfunc.nn import WhiteningColoring

    content = torch.tensor(_features((2, 3, 20), 24), requires_grad=True)
    style = torch.tensor(_features((2, 3, 12), 25, shift=1.0))
    layer = WhiteningColoring(alpha=0.9, eps=0.01)
    out = layer(content.reshape(2, 3, 4, 5), style.reshape(2, 3, 3, 4))
    assert out.shape == (2, 3, 4, 5)
    ref = matfunc.whitening_coloring(content, style, alpha=0.9, eps=0.01)
    torch.testing.assert_close(out.reshape(2, 3, 20), ref, rtol=0, atol=0)
    out.square().sum().backward()
    assert content.grad is not None and torch.isfinite(content.grad).all()
    one = WhiteningColoring(spatial_dims=1, eps=0.0)(content.detach(), style)  # (B, C, L) sequences
    torch.testing.assert_close(one, matfunc.whitening_coloring(content.detach(), style, eps=0.0), rtol=0, atol=0)
    assert "alpha=0.9" in repr(layer)


def test_layer_errors_at_construction_and_forward():
    torch = pytest.importorskip("torch")
    from matfunc.nn import WhiteningColoring

    with pytest.raises(ValueError, match="alpha must be"):
        WhiteningColoring(alpha=2.0)
    with pytest.raises(ValueError, match="unknown method"):
        WhiteningColoring(method="foo")
    with pytest.raises(ValueError, match="spatial_dims"):
        WhiteningColoring(spatial_dims=0)
    with pytest.raises(ValueError, match="expects content feature maps"):
        WhiteningColoring()(torch.ones(3, 4), torch.ones(1, 3, 4, 4))


def test_dask_is_lazy_and_matches_numpy():
    da = pytest.importorskip("dask.array")
    content, style = _features((4, 3, 50), 26), _features((4, 3, 40), 27, shift=1.0)
    out = matfunc.whitening_coloring(
        da.from_array(content, chunks=(2, 3, 50)), da.from_array(style, chunks=(2, 3, 40)), eps=0.0, check=False
    )
    assert isinstance(out, da.Array)
    np.testing.assert_allclose(
        np.asarray(out),
        matfunc.whitening_coloring(content, style, eps=0.0),
        rtol=0,
        atol=100 * EPS64 * np.abs(style).max(),
    )


@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_rank_deficient_style(method):
    """Fewer style positions than channels: C_s is singular (rank Ns - 1), its root still exists and the output
    covariance is C_s. The root is only Holder-1/2 continuous at a singular matrix, so rounding of size
    eps ||C_s|| moves it by up to sqrt(C eps ||C_s||): the bound on the covariance is ||C_s|| sqrt(C eps)."""
    content, style = _features((6, 50), 28), _features((6, 4), 29, shift=1.0)
    out = matfunc.whitening_coloring(content, style, eps=0.0, method=method)
    cs = _cov(style)
    assert np.linalg.matrix_rank(cs) == 3
    tol = _cond(_cov(content)) * np.abs(cs).max() * np.sqrt(6 * EPS64)
    np.testing.assert_allclose(_cov(out), cs, rtol=0, atol=tol)


def test_empty_batch_and_no_channels(xp):
    style = _features((3, 10), 32)
    out = matfunc.whitening_coloring(xp.asarray(np.zeros((0, 3, 10))), xp.asarray(style))
    assert tuple(out.shape) == (0, 3, 10)
    out = matfunc.whitening_coloring(xp.asarray(np.zeros((2, 0, 10))), xp.asarray(np.zeros((2, 0, 5))))
    assert tuple(out.shape) == (2, 0, 10)


# --- issue 25 items 8, 16: traced constants, JAX product precision, torch autocast -------------------------------


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


@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_jax_products_full_precision(method):
    """JAX's default matmul precision is TF32 on recent GPUs: every product of the transform (the covariances,
    the roots, the whitening and colouring products), value and gradient, under jit, is traced at HIGHEST;
    a precision the user chose is kept."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    highest = jax.lax.Precision.HIGHEST
    content = jnp.asarray(_features((2, 4, 30), 40), dtype=jnp.float32)
    style = jnp.asarray(_features((2, 4, 20), 41, shift=1.0), dtype=jnp.float32)

    def loss(c, s):
        return jnp.sum(jax.jit(lambda u, v: matfunc.whitening_coloring(u, v, eps=0.01, method=method))(c, s) ** 2)

    for fn in (loss, jax.grad(loss, argnums=(0, 1)), jax.jit(jax.grad(loss, argnums=(0, 1)))):
        precisions = _dot_precisions(jax.make_jaxpr(fn)(content, style))
        assert len(precisions) >= 5, precisions  # two covariances, the roots' products, the transform
        assert all(p == (highest, highest) for p in precisions), precisions
    with jax.default_matmul_precision("tensorfloat32"):
        precisions = _dot_precisions(jax.make_jaxpr(loss)(content, style))
    assert precisions and all(p != (highest, highest) for p in precisions)


def test_jax_constants_inside_jit_with_default_check():
    """Inside jax.jit, values computed from concrete constants are tracers: the default check must not read them
    (TracerBoolConversionError), and the result is the eager one."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    c = jnp.asarray(_features((3, 40), 42))
    s = jnp.asarray(_features((3, 30), 43, shift=2.0))
    eager = float(jnp.sum(matfunc.whitening_coloring(c, s)))
    for method in ("eig", "newton-schulz"):
        out = jax.jit(lambda x, m=method: jnp.sum(matfunc.whitening_coloring(c, s, method=m)) + x)(1.0)
        ref = _reference(np.asarray(c), np.asarray(s), 1.0, 1e-5).sum()
        tol = (
            100 * EPS64 * _cond(_cov(np.asarray(c))) * np.abs(_reference(np.asarray(c), np.asarray(s), 1.0, 1e-5)).sum()
        )
        assert abs(float(out) - 1.0 - ref) <= tol and abs(float(out) - 1.0 - eager) <= tol


def test_torch_autocast_does_not_lower_the_covariances():
    """Under torch.autocast(bfloat16) the covariances, roots and products run in the features' float32 (the
    result is the one without autocast, bit for bit): bfloat16 covariances would move the output's covariance
    1e-2 away from the style's."""
    torch = pytest.importorskip("torch")
    content = torch.tensor(_features((2, 6, 300), 44), dtype=torch.float32)
    style = torch.tensor(_features((2, 6, 200), 45, shift=1.0), dtype=torch.float32)
    plain = matfunc.whitening_coloring(content, style, eps=0.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = matfunc.whitening_coloring(content, style, eps=0.0)
    assert auto.dtype == torch.float32 and torch.equal(auto, plain)
    cs = _cov(style.double().numpy())
    err = np.abs(_cov(auto.double().numpy()) - cs).max() / np.abs(cs).max()
    assert err < 10 * 6 * EPS32 * _cond(_cov(content.double().numpy())), err
