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
