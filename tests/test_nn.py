"""matfunc.nn layers: shapes, values against a direct computation, gradients, train/eval behaviour."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import matfunc  # noqa: E402
from matfunc.nn import CovariancePooling, ZCAWhitening  # noqa: E402

EPS32 = float(torch.finfo(torch.float32).eps)
EPS64 = float(torch.finfo(torch.float64).eps)


def _feats(shape, seed=0, dtype=torch.float64):
    return torch.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def _cov_sqrt_np(x, eps):
    """Reference: covariance over positions, + eps I, square root by eigh (float64 NumPy)."""
    f = x.reshape(x.shape[0], x.shape[1], -1)
    f = f - f.mean(-1, keepdims=True)
    cov = f @ np.swapaxes(f, -1, -2) / f.shape[-1] + eps * np.eye(x.shape[1])
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(w)[..., None, :]) @ np.swapaxes(v, -1, -2)


@pytest.mark.parametrize("method", ["eig", "newton-schulz", "pade"])
def test_covariance_pooling_values_and_shapes(method):
    x = _feats((3, 6, 5, 4))
    full = CovariancePooling(method, triu=False, eps=1e-3)(x)
    ref = _cov_sqrt_np(x.numpy(), 1e-3)
    assert full.shape == (3, 6, 6)
    # cond(cov + eps I) <= (max eig + eps)/eps; Padé [5,5] is accurate only to its approximation error
    tol = {"eig": 1e3 * EPS64, "newton-schulz": 1e-6, "pade": 1e-2}[method]
    np.testing.assert_allclose(full.numpy(), ref, rtol=tol, atol=tol * np.abs(ref).max())
    tri = CovariancePooling(method, eps=1e-3)(x)
    assert tri.shape == (3, 21)
    rows, cols = np.triu_indices(6)
    np.testing.assert_allclose(tri.numpy(), full.numpy()[:, rows, cols])
    assert CovariancePooling()(_feats((2, 4, 9))).shape == (2, 10)  # (B, C, L) input


def test_covariance_pooling_gradcheck():
    x = _feats((2, 4, 3, 3)).requires_grad_()
    for method in ("eig", "newton-schulz"):
        assert torch.autograd.gradcheck(CovariancePooling(method, eps=0.1), (x,))


def test_covariance_pooling_rank_deficient_float32_finite():
    """H W < C: the covariance is singular (only eps keeps it PSD-regular); gradients stay finite."""
    x = _feats((2, 16, 2, 2), dtype=torch.float32).requires_grad_()
    for method in ("eig", "newton-schulz", "pade"):
        out = CovariancePooling(method)(x)
        (g,) = torch.autograd.grad(out.sum(), x)
        assert torch.isfinite(out).all() and torch.isfinite(g).all()


def test_covariance_pooling_errors():
    with pytest.raises(ValueError, match="shape"):
        CovariancePooling()(torch.ones(3, 4))


def test_zca_training_whitens_and_updates_running_stats():
    torch.manual_seed(0)
    mix = _feats((4, 4), seed=1)
    x = _feats((512, 4), seed=2) @ mix + 3.0
    layer = ZCAWhitening(4, eps=0.0, momentum=0.5).double()
    y = layer(x)
    cov = y.T @ y / y.shape[0]
    tol = 1e3 * EPS64 * float(np.linalg.cond((x - x.mean(0)).T @ (x - x.mean(0))))
    torch.testing.assert_close(y.mean(0), torch.zeros(4, dtype=y.dtype), rtol=0, atol=tol)
    torch.testing.assert_close(cov, torch.eye(4, dtype=y.dtype), rtol=0, atol=tol)
    # ZCA: the whitening matrix is symmetric, so y = (x - mean) W with W = cov^{-1/2}
    batch_cov = torch.cov(x.T, correction=1)
    torch.testing.assert_close(layer.running_mean, 0.5 * x.mean(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.running_cov, 0.5 * torch.eye(4, dtype=x.dtype) + 0.5 * batch_cov)
    assert int(layer.num_batches_tracked) == 1


def test_zca_eval_uses_running_stats_and_reset():
    x = _feats((64, 3), seed=3) * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) + 1.0
    layer = ZCAWhitening(3, momentum=1.0).double()  # momentum 1: running stats = last batch (unbiased)
    layer(x)
    layer.eval()
    one = layer(x[:1])  # one sample works in eval mode
    whiten = matfunc.inv_sqrtm(torch.cov(x.T) + layer.eps * torch.eye(3, dtype=x.dtype))
    torch.testing.assert_close(one, (x[:1] - x.mean(0)) @ whiten)
    before = layer.running_cov.clone()
    layer(x * 5)
    torch.testing.assert_close(layer.running_cov, before)  # eval does not update
    layer.reset_running_stats()
    torch.testing.assert_close(layer.running_cov, torch.eye(3, dtype=x.dtype))
    assert int(layer.num_batches_tracked) == 0


@pytest.mark.parametrize("shape", [(4, 3, 5, 2), (4, 3, 7)], ids=["NCHW", "NCL"])
def test_zca_nd_matches_2d_and_affine_gradients(shape):
    x = _feats(shape, seed=4).requires_grad_()
    layer = ZCAWhitening(3, affine=True).double()
    y = layer(x)
    flat = x.detach().transpose(0, 1).flatten(1).T
    y2 = ZCAWhitening(3).double()(flat)
    torch.testing.assert_close(y.detach().transpose(0, 1).flatten(1).T, y2)
    y.square().sum().backward()
    assert x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    assert layer.weight.grad is not None and layer.bias.grad is not None


def test_zca_gradcheck_and_no_tracking():
    layer = ZCAWhitening(3, track_running_stats=False, eps=0.1, method="eig").double()
    assert layer.running_mean is None
    x = _feats((10, 3), seed=5).requires_grad_()
    assert torch.autograd.gradcheck(layer, (x,))
    layer.eval()  # without running stats, eval still uses the batch
    torch.testing.assert_close(layer(x), layer.train()(x))


def test_zca_errors():
    with pytest.raises(ValueError, match="num_features"):
        ZCAWhitening(0)
    with pytest.raises(ValueError, match="expects"):
        ZCAWhitening(3)(torch.ones(5, 4))
    with pytest.raises(ValueError, match="more than one sample"):
        ZCAWhitening(3)(torch.ones(1, 3))


def test_zca_momentum_none_is_the_cumulative_average():
    layer = ZCAWhitening(3, momentum=None).double()
    xs = [_feats((20, 3), seed=10 + i) * (i + 1) for i in range(3)]
    for x in xs:
        layer(x)
    torch.testing.assert_close(layer.running_mean, sum(x.mean(0) for x in xs) / 3)
    torch.testing.assert_close(layer.running_cov, sum(torch.cov(x.T) for x in xs) / 3)


def test_zca_eval_follows_the_input_dtype():
    layer = ZCAWhitening(3)  # float32 buffers
    layer(_feats((16, 3), dtype=torch.float32))
    layer.eval()
    y = layer(_feats((4, 3), seed=2))  # float64 input
    assert y.dtype == torch.float64


@pytest.mark.parametrize("layer", [ZCAWhitening, CovariancePooling])
def test_layer_options_checked_at_construction(layer):
    args = (3,) if layer is ZCAWhitening else ()
    with pytest.raises(ValueError, match="unknown method"):
        layer(*args, method="foo")
    with pytest.raises(ValueError, match="unknown backward"):
        layer(*args, backward="foo")
    with pytest.raises(TypeError, match="nm_iters"):
        layer(*args, method="newton-schulz", nm_iters=3)


def _state(layer):
    return {k: v.clone() for k, v in layer.state_dict().items()}


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("bad", ["nan", "inf", "singular"])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "cumulative"])
@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_zca_failed_step_leaves_running_stats_untouched(method, momentum, bad):
    """Issue 15: a batch that cannot be whitened raises, every buffer stays bitwise as it was, and training
    continues exactly as in a module that never saw the bad batch."""
    good = [_feats((64, 4), seed=20 + i) * (i + 1) for i in range(3)]
    if bad == "singular":  # 3 samples of 4 channels, eps=0: a rank-2 covariance
        x_bad, error = _feats((3, 4), seed=30), matfunc.SingularMatrixError
    else:
        x_bad, error = good[1].clone(), ValueError
        x_bad[5, 2] = float(bad)
    seen, fresh = (ZCAWhitening(4, eps=0.0, momentum=momentum, method=method, check=True).double() for _ in range(2))
    seen(good[0])
    fresh(good[0])
    before = _state(seen)
    with pytest.raises(error, match="running statistics were not updated"):
        seen(x_bad)
    _assert_same_state(_state(seen), before)
    if bad != "singular":  # unchecked (the default): NaN out (or the eigensolver's error), statistics kept
        seen.check = False
        try:
            assert not torch.isfinite(seen(x_bad)).all()
        except torch.linalg.LinAlgError:  # torch's CPU eigh rejects NaN input itself
            pass
        _assert_same_state(_state(seen), before)
        seen.check = True
    for x in good[1:]:
        torch.testing.assert_close(seen(x), fresh(x), rtol=0, atol=0)
    _assert_same_state(_state(seen), _state(fresh))
    assert int(seen.num_batches_tracked) == len(good)
    seen.eval()
    fresh.eval()
    torch.testing.assert_close(seen(good[0]), fresh(good[0]), rtol=0, atol=0)


def test_zca_failed_step_with_affine_and_nchw_input():
    """The same all-or-nothing update on (N, C, H, W) input with learnable parameters."""
    torch.manual_seed(0)
    layer = ZCAWhitening(3, affine=True, momentum=None, check=True).double()
    layer(_feats((4, 3, 5, 5), seed=40))
    before = _state(layer)
    x_bad = _feats((4, 3, 5, 5), seed=41)
    x_bad[1, 0, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        layer(x_bad)
    _assert_same_state(_state(layer), before)


def test_zca_eval_error_names_the_running_covariance():
    layer = ZCAWhitening(2, eps=0.0, check=True).double().eval()
    layer.running_cov.copy_(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))  # singular running statistics
    before = _state(layer)
    with pytest.raises(matfunc.SingularMatrixError, match="running covariance"):
        layer(_feats((5, 2), seed=42))
    _assert_same_state(_state(layer), before)


@pytest.mark.parametrize("method", ["eig", "newton-schulz", "pade"])
def test_covariance_pooling_nan_features_raise(method):
    """Issue 15: NaN features raise a ValueError naming the problem (not NaN output or a LAPACK error)."""
    x = _feats((2, 3, 4, 4), seed=43)
    x[1, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        CovariancePooling(method, check=True)(x)
    if method != "eig":  # check=False: no value checks, the NaN goes through
        assert torch.isnan(CovariancePooling(method, check=False)(x)[1]).all()


# --- iSQRT-COV's trace pre-normalisation and post-compensation (issue 19) ---------------------------------------


def _isqrt_cov_reference(x, num_iters, compensate=True):
    """iSQRT-COV (Li et al., CVPR 2018) written out with plain torch ops, differentiated by autograd: covariance
    pooling ``X I_hat X^T`` with ``I_hat = (I - 1 1^T / M) / M``, ``A / tr(A)``, plain coupled Newton–Schulz,
    then ``* sqrt(tr(A))``."""
    f = x.flatten(2)
    m, c = f.shape[-1], f.shape[-2]
    i_hat = (torch.eye(m, dtype=x.dtype) - torch.ones(m, m, dtype=x.dtype) / m) / m
    cov = f @ i_hat @ f.mT
    tr = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)[..., None, None]
    y, z = cov / tr, torch.eye(c, dtype=x.dtype).expand_as(cov)
    for _ in range(num_iters):
        t = 0.5 * (3.0 * torch.eye(c, dtype=x.dtype) - z @ y)
        y, z = y @ t, t @ z
    return y * torch.sqrt(tr) if compensate else y


@pytest.mark.parametrize("compensate", [True, False])
@pytest.mark.parametrize("method", ["eig", "newton-schulz"])
def test_covariance_pooling_trace_normalisation_matches_isqrt_cov(method, compensate):
    """The layer with normalize='trace' against the hand-written iSQRT-COV, run to convergence (plain NS from a
    normalised spectrum >= 1/cond converges in ~log2(cond)/log2(1.5) + 6 steps; 40 is ample at cond ~ 10)."""
    x = _feats((3, 4, 7, 7), seed=50).requires_grad_()
    layer = CovariancePooling(method, eps=0.0, triu=False, normalize="trace", compensate=compensate)
    out = layer(x)
    ref = _isqrt_cov_reference(x, 40, compensate)
    cov = _cov_sqrt_np(x.detach().numpy(), 0.0) @ _cov_sqrt_np(x.detach().numpy(), 0.0)
    cond = float(np.linalg.cond(cov).max())
    # forward: both are accurate to ~ n eps cond (rounding in the roots); backward amplifies by another cond
    tol = 4 * 10 * EPS64 * cond
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol * float(ref.detach().abs().max()))
    g = _feats(out.shape, seed=51)
    (dx,) = torch.autograd.grad(out, x, g)
    (dref,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(dx, dref, rtol=tol * cond, atol=tol * cond * float(dref.abs().max()))
    if compensate:  # every sqrtm method is homogeneous: trace normalisation + compensation is the root of cov
        plain = CovariancePooling(method, eps=0.0, triu=False)(x)
        torch.testing.assert_close(out, plain, rtol=tol, atol=tol * float(plain.detach().abs().max()))
    else:  # the uncompensated root is scale invariant
        torch.testing.assert_close(layer(7.0 * x), out, rtol=tol, atol=tol * float(out.detach().abs().max()))


def test_covariance_pooling_trace_normalisation_gradcheck_and_options():
    x = _feats((2, 3, 3, 3), seed=52).requires_grad_()
    for method in ("eig", "newton-schulz"):
        for compensate in (True, False):
            layer = CovariancePooling(method, eps=0.1, normalize="trace", compensate=compensate)
            assert torch.autograd.gradcheck(layer, (x,))
    assert "normalize='trace', compensate=False" in repr(CovariancePooling(normalize="trace", compensate=False))
    assert "normalize" not in repr(CovariancePooling())
    with pytest.raises(ValueError, match="normalize must be None or 'trace'"):
        CovariancePooling(normalize="frobenius")
    with pytest.raises(ValueError, match="compensate=False applies to normalize='trace'"):
        CovariancePooling(compensate=False)


def test_covariance_pooling_trace_normalisation_zero_and_float32():
    """Constant features with eps=0: the zero covariance has trace 0; its root is 0, not NaN. float32 stays
    float32 and matches float64 to float32 accuracy."""
    x = torch.ones(2, 3, 4, 4, dtype=torch.float64)
    out = CovariancePooling("eig", eps=0.0, normalize="trace")(x)
    assert torch.equal(out, torch.zeros_like(out))
    x = _feats((2, 5, 6, 6), seed=53)
    for compensate in (True, False):
        layer = CovariancePooling("eig", normalize="trace", compensate=compensate)
        y32, y64 = layer(x.float()), layer(x)
        assert y32.dtype == torch.float32
        cond = float(np.linalg.cond(_cov_sqrt_np(x.numpy(), 1e-5)).max()) ** 2
        torch.testing.assert_close(y32.double(), y64, rtol=10 * 5 * EPS32 * cond, atol=10 * 5 * EPS32 * cond)


# --- ZCAWhitening(num_groups=G): decorrelated batch normalisation's group-wise whitening ----------------------


@pytest.mark.parametrize("shape", [(64, 6), (8, 6, 3, 3)], ids=["NC", "NCHW"])
def test_zca_groups_match_a_loop_of_per_group_layers(shape):
    """G groups of C/G channels == G independent ZCAWhitening(C/G) layers: outputs, running statistics (after two
    training steps), eval outputs and gradients."""
    grouped = ZCAWhitening(6, momentum=0.3, affine=True, num_groups=3).double()
    singles = [ZCAWhitening(2, momentum=0.3, affine=True).double() for _ in range(3)]
    scales = torch.arange(1.0, 7.0, dtype=torch.float64).reshape(1, 6, *[1] * (len(shape) - 2))
    for step in range(2):
        x = (_feats(shape, seed=60 + step) * scales).requires_grad_()
        y = grouped(x)
        y_ref = torch.cat([layer(x[:, 2 * g : 2 * g + 2]) for g, layer in enumerate(singles)], dim=1)
        torch.testing.assert_close(y, y_ref, rtol=100 * EPS64, atol=100 * EPS64)
        g_out = _feats(y.shape, seed=70 + step)
        (dx,) = torch.autograd.grad(y, x, g_out)
        (dx_ref,) = torch.autograd.grad(y_ref, x, g_out)
        torch.testing.assert_close(dx, dx_ref, rtol=1e3 * EPS64, atol=1e3 * EPS64)
    assert grouped.running_cov.shape == (3, 2, 2)
    torch.testing.assert_close(grouped.running_cov, torch.stack([s.running_cov for s in singles]))
    torch.testing.assert_close(grouped.running_mean, torch.cat([s.running_mean for s in singles]))
    grouped.eval()
    for s in singles:
        s.eval()
    x = _feats(shape, seed=62)
    torch.testing.assert_close(
        grouped(x),
        torch.cat([s(x[:, 2 * g : 2 * g + 2]) for g, s in enumerate(singles)], dim=1),
        rtol=100 * EPS64,
        atol=100 * EPS64,
    )


def test_zca_groups_numpy_reference_block_diagonal():
    """Against NumPy: the whitening matrix is block diagonal, each block (C_g + eps I)^{-1/2} by eigh; each group's
    output covariance is the identity while groups stay correlated with each other."""
    mix = np.eye(4) + 0.8  # every channel correlated with every other
    x = _feats((256, 4), seed=63) @ torch.tensor(mix)
    y = ZCAWhitening(4, num_groups=2, eps=1e-3).double()(x).numpy()
    xc = x.numpy() - x.numpy().mean(0)
    ref = np.empty_like(xc)
    for g in range(2):
        block = xc[:, 2 * g : 2 * g + 2]
        w, v = np.linalg.eigh(block.T @ block / 256 + 1e-3 * np.eye(2))
        ref[:, 2 * g : 2 * g + 2] = block @ (v / np.sqrt(w)) @ v.T
    cond = float(np.linalg.cond(xc.T @ xc / 256 + 1e-3 * np.eye(4)))
    np.testing.assert_allclose(y, ref, rtol=0, atol=100 * EPS64 * cond * np.abs(ref).max())
    cov = y.T @ y / 256
    assert abs(cov[0, 2]) > 0.1  # across groups: still correlated
    eps_rel = 1e-3 / np.linalg.eigvalsh(xc.T @ xc / 256).min()  # the ridge's effect on the identity
    np.testing.assert_allclose(cov[:2, :2], np.eye(2), atol=2 * eps_rel)


def test_zca_groups_gradcheck_errors_and_one_group():
    layer = ZCAWhitening(4, num_groups=2, track_running_stats=False, eps=0.1).double()
    assert torch.autograd.gradcheck(layer, (_feats((8, 4), seed=64).requires_grad_(),))
    with pytest.raises(ValueError, match="not divisible by num_groups=4.*divisor of 6"):
        ZCAWhitening(6, num_groups=4)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_groups must be a positive integer"):
            ZCAWhitening(4, num_groups=bad)
    # num_groups=1 is the plain layer: same buffers, bitwise the same outputs and statistics
    one, plain = ZCAWhitening(4, num_groups=1).double(), ZCAWhitening(4).double()
    x = _feats((32, 4), seed=65)
    assert torch.equal(one(x), plain(x))
    _assert_same_state(_state(one), _state(plain))
    assert "num_groups" not in repr(one) and "num_groups=2" in repr(ZCAWhitening(4, num_groups=2))
    grouped = ZCAWhitening(4, num_groups=2)
    grouped(x.float())
    grouped.reset_running_stats()
    assert torch.equal(grouped.running_cov, torch.eye(2).expand(2, 2, 2))


def test_zca_groups_failed_step_leaves_running_stats_untouched():
    layer = ZCAWhitening(4, num_groups=2, check=True).double()
    layer(_feats((16, 4), seed=66))
    before = _state(layer)
    bad = _feats((16, 4), seed=67)
    bad[3, 3] = float("nan")
    with pytest.raises(ValueError, match="running statistics were not updated"):
        layer(bad)
    _assert_same_state(_state(layer), before)


# --- issue 25 items 16, 17: autocast, NumPy scalars as options, no host synchronisation ------------------------


def _mixed(m, c, seed, dtype=torch.float32):
    """``m`` samples of ``c`` correlated channels (mixing matrix with condition number ~10)."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.standard_normal((c, c)))[0]
    mix = q * np.geomspace(1.0, 10.0, c)
    return torch.tensor(rng.standard_normal((m, c)) @ mix.T, dtype=dtype)


def test_layers_under_autocast_compute_covariances_in_float32():
    """torch.autocast runs matmuls in bfloat16: the layers' covariances (and their roots) must not be, or a
    ZCA-whitened batch is ~1e-2 from white. Under autocast the layers give the float32 result bit for bit."""
    from matfunc.nn import WhiteningColoring

    x = _mixed(512, 8, 0)
    zca = ZCAWhitening(8, eps=0.0)
    plain = zca(x)
    cov_x = torch.cov(x.T, correction=0).double()
    w = torch.linalg.eigvalsh(cov_x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        zca_auto = ZCAWhitening(8, eps=0.0)
        y = zca_auto(x)
        pooled = CovariancePooling(triu=False)(x.T.reshape(2, 8, 256))
        content, style = x.T.reshape(1, 8, 512), _mixed(300, 8, 1).T
        wct = WhiteningColoring(eps=0.0)(content, style[None])
    assert y.dtype == torch.float32 and torch.equal(y, plain)
    torch.testing.assert_close(zca_auto.running_cov, zca.running_cov, rtol=0, atol=0)
    # whiteness in float32: the batch covariance to ~ C eps32 relative, amplified by cond(Sigma)^(1/2) on each side
    cov_y = (y.double().T @ y.double()) / y.shape[0]
    tol = 8 * 8 * EPS32 * float(w[-1] / w[0])
    assert float((cov_y - torch.eye(8, dtype=torch.float64)).abs().max()) < tol
    assert pooled.dtype == torch.float32
    assert torch.equal(pooled, CovariancePooling(triu=False)(x.T.reshape(2, 8, 256)))
    assert wct.dtype == torch.float32
    assert torch.equal(wct, WhiteningColoring(eps=0.0)(content, style[None]))


def test_layers_on_bfloat16_features_compute_in_float32():
    x = _mixed(256, 4, 2).to(torch.bfloat16)
    y = ZCAWhitening(4)(x)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, ZCAWhitening(4)(x.float()).to(torch.bfloat16))
    feats = x.T.reshape(2, 4, 128)
    p = CovariancePooling()(feats)
    assert p.dtype == torch.bfloat16 and torch.equal(p, CovariancePooling()(feats.float()).to(torch.bfloat16))


def test_numpy_scalars_as_layer_options():
    from matfunc.nn import WhiteningColoring

    x = _feats((32, 8, 3), seed=3)
    ref = ZCAWhitening(8, eps=1e-3, momentum=0.25, num_groups=2)
    layer = ZCAWhitening(np.int64(8), eps=np.float32(1e-3), momentum=np.float32(0.25), num_groups=np.int64(2))
    assert layer.num_groups == 2 and type(layer.num_groups) is int and type(layer.num_features) is int
    assert layer.eps == float(np.float32(1e-3)) and layer.momentum == 0.25
    assert tuple(layer.running_cov.shape) == (2, 4, 4)
    ref.eps = layer.eps  # the same float32-rounded ridge
    torch.testing.assert_close(layer(x), ref(x), rtol=0, atol=0)
    torch.testing.assert_close(layer.running_cov, ref.running_cov, rtol=0, atol=0)
    pool = CovariancePooling(eps=np.float32(1e-2))
    assert type(pool.eps) is float
    torch.testing.assert_close(pool(x), CovariancePooling(eps=float(np.float32(1e-2)))(x), rtol=0, atol=0)
    c = _feats((2, 4, 3, 3), seed=4)
    wct = WhiteningColoring(alpha=np.float32(0.5), eps=np.float64(1e-3), spatial_dims=np.int64(2))
    torch.testing.assert_close(wct(c, c + 1.0), WhiteningColoring(0.5, 1e-3)(c, c + 1.0), rtol=0, atol=0)
    for kwargs, match in [
        ({"num_groups": np.int64(0)}, r"num_groups must be a positive integer, got np.int64\(0\)"),
        ({"num_groups": 2.0}, "num_groups must be a positive integer, got 2.0"),
        ({"momentum": np.float32(1.5)}, r"momentum \(None: the cumulative average\) must be a number in \[0, 1\]"),
        ({"eps": -1e-3}, "eps must be a finite number >= 0, got -0.001"),
        ({"eps": float("nan")}, "eps must be a finite number >= 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            ZCAWhitening(8, **kwargs)
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        ZCAWhitening(np.float64(8))
    with pytest.raises(ValueError, match="spatial_dims must be a positive integer"):
        WhiteningColoring(spatial_dims=True)


def test_zca_cumulative_average_does_not_synchronise():
    """momentum=None (the cumulative average) keeps 1 / count on the device: no ``.item()``/``int()`` of a
    tensor in forward (each is a GPU synchronisation), seen as aten._local_scalar_dense by a dispatch mode."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(func.name())
            return func(*args, **(kwargs or {}))

    layer = ZCAWhitening(4, momentum=None)
    batches = [_feats((16, 4), seed=s, dtype=torch.float32) for s in range(3)]
    with Record() as rec:
        for b in batches:
            layer(b)
    assert rec.ops and not [op for op in rec.ops if "_local_scalar_dense" in op or op.endswith("item")]
    # still the cumulative average: the running mean is the mean of the batch means
    torch.testing.assert_close(layer.running_mean, torch.stack([b.mean(0) for b in batches]).mean(0))
    assert int(layer.num_batches_tracked) == 3


@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`:UserWarning")
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
def test_zca_cumulative_average_compiles_in_one_graph():
    """The cumulative average's training step compiles into one graph (fullgraph), under autocast too, is not
    recompiled as the count grows, and gives eager mode's values (the host-sync test above is the dispatch-level
    one: dynamo itself traces through int(count))."""
    import torch._dynamo

    torch._dynamo.reset()
    patch = torch._dynamo.config.patch(error_on_recompile=True)
    patch.__enter__()
    eager, compiled = ZCAWhitening(4, momentum=None, method="newton-schulz"), ZCAWhitening(4, momentum=None)
    compiled.method = "newton-schulz"
    step = torch.compile(compiled, backend="aot_eager", fullgraph=True)
    batches = [_feats((32, 4), seed=10 + s, dtype=torch.float32) for s in range(3)]
    refs = [eager(b) for b in batches]  # first: it fills matfunc's coefficient memo, which dynamo guards on
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outs = [step(b) for b in batches]
    finally:
        patch.__exit__(None, None, None)
    tol = 100 * EPS32
    for out, ref in zip(outs, refs, strict=True):
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    torch.testing.assert_close(compiled.running_cov, eager.running_cov, rtol=tol, atol=tol)
    assert int(compiled.num_batches_tracked) == 3
