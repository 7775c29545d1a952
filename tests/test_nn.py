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
