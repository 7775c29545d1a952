"""PyTorch layers built on :func:`matfunc.sqrtm` / :func:`matfunc.inv_sqrtm`: the paper's two real uses.

:class:`CovariancePooling` is global covariance pooling with matrix-square-root normalisation (iSQRT-COV
style, the head of a CNN classifier); :class:`ZCAWhitening` is decorrelated batch normalisation (ZCA
whitening by the inverse square root of the batch covariance, with running statistics for eval mode).
Importing this module imports torch.
"""

from __future__ import annotations

import torch
from torch import nn

from ._api import inv_sqrtm, sqrtm

__all__ = ["CovariancePooling", "ZCAWhitening"]


class CovariancePooling(nn.Module):
    r"""Global covariance pooling with matrix square-root normalisation.

    Features ``(B, C, H, W)`` (or ``(B, C, L)``) become the sample covariance over the ``H W`` positions,
    :math:`\Sigma = \frac{1}{M} X (I - \frac{1}{M} \mathbf{1}\mathbf{1}^T) X^T`, then :math:`\Sigma^{1/2}`
    (matrix-power normalisation), returned as its upper triangle ``(B, C (C + 1) / 2)`` (default) or the
    full ``(B, C, C)`` matrix.

    Parameters
    ----------
    method : str, optional
        Forward method of :func:`matfunc.sqrtm` (``"auto"``: eig on CPU, Newton–Schulz on GPU; the
        iSQRT-COV layer is ``"newton-schulz"``).
    backward : str, optional
        Backward mode of :func:`matfunc.sqrtm`.
    eps : float, optional
        Added to the diagonal of :math:`\Sigma` (covariances of ``H W < C`` positions are singular).
    triu : bool, optional
        Return the upper triangle, row by row (default), or the full matrix.
    **kwargs
        Further options of :func:`matfunc.sqrtm` (``num_iters``, ``degree``, ``scale``, ...).

    Examples
    --------
    >>> import torch
    >>> from matfunc.nn import CovariancePooling
    >>> pool = CovariancePooling(method="newton-schulz")
    >>> x = torch.randn(8, 16, 7, 7, requires_grad=True)
    >>> out = pool(x)
    >>> tuple(out.shape)
    (8, 136)
    >>> out.sum().backward()
    >>> tuple(x.grad.shape)
    (8, 16, 7, 7)
    """

    def __init__(
        self, method: str = "auto", *, backward: str = "auto", eps: float = 1e-5, triu: bool = True, **kwargs: object
    ):
        super().__init__()
        _check_options(sqrtm, method, backward, kwargs)
        self.method, self.backward, self.eps, self.triu, self.kwargs = method, backward, eps, triu, kwargs

    def extra_repr(self) -> str:
        return f"method={self.method!r}, backward={self.backward!r}, eps={self.eps}, triu={self.triu}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 3:
            raise ValueError(
                f"CovariancePooling expects (B, C, H, W) or (B, C, L) features, got shape {tuple(x.shape)}"
            )
        feats = x.flatten(2)  # (B, C, M)
        m = feats.shape[-1]
        centred = feats - feats.mean(dim=-1, keepdim=True)
        cov = centred @ centred.mT / m
        cov = cov + self.eps * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
        y = sqrtm(cov, self.method, backward=self.backward, check=False, **self.kwargs)
        if not self.triu:
            return y
        rows, cols = torch.triu_indices(y.shape[-1], y.shape[-1], device=y.device)
        return y[..., rows, cols]


def _check_options(fn, method: str, backward: str, kwargs: dict) -> None:
    """Bad method names or keywords fail when the layer is built, not at its first forward (a 2 x 2 call)."""
    fn(torch.eye(2, dtype=torch.float64), method, backward=backward, **kwargs)


class ZCAWhitening(nn.Module):
    r"""ZCA whitening (decorrelated batch normalisation) by the inverse matrix square root.

    In training, ``x`` is centred by the batch mean and multiplied by
    :math:`W = (\Sigma + \epsilon I)^{-1/2}`, with :math:`\Sigma` the batch covariance of the
    ``num_features`` channels (over the batch and, for ``(N, C, H, W)`` input, the spatial positions);
    the running mean and covariance are updated as in :class:`torch.nn.BatchNorm2d`
    (``running = (1 - momentum) running + momentum batch``; the covariance is the unbiased one). In eval
    mode (or with ``track_running_stats=False`` never) the running statistics are used. The output has
    identity covariance; ``affine=True`` adds a per-channel scale and shift.

    Parameters
    ----------
    num_features : int
        ``C`` of ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)`` (any ``(N, C, ...)``) input.
    eps : float, optional
        Added to the diagonal of the covariance.
    momentum : float or None, optional
        Running-statistics update factor; ``None``: cumulative average over all batches (as in BatchNorm).
    affine : bool, optional
        Learnable ``weight`` (ones) and ``bias`` (zeros) per channel.
    track_running_stats : bool, optional
        Keep ``running_mean``/``running_cov`` (buffers) for eval mode; otherwise always use batch statistics.
    method : str, optional
        Forward method of :func:`matfunc.inv_sqrtm`; ``backward`` and further keyword options are passed on.

    Examples
    --------
    >>> import torch
    >>> from matfunc.nn import ZCAWhitening
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> layer = ZCAWhitening(4)
    >>> x = torch.randn(256, 4) @ torch.tensor([[2.0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 3, 0], [0, 0, 1, 1]])
    >>> y = layer(x)
    >>> cov = y.T @ y / y.shape[0]  # the batch covariance it whitened
    >>> bool(torch.allclose(cov, torch.eye(4), atol=1e-3))
    True
    >>> _ = layer.eval()
    >>> tuple(layer(x[:3]).shape)
    (3, 4)
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = False,
        track_running_stats: bool = True,
        *,
        method: str = "auto",
        backward: str = "auto",
        **kwargs: object,
    ):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        _check_options(inv_sqrtm, method, backward, kwargs)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.method, self.backward, self.kwargs = method, backward, kwargs
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_cov", torch.eye(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_cov", None)
            self.register_buffer("num_batches_tracked", None)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}, method={self.method!r}"
        )

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_cov.copy_(torch.eye(self.num_features))
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"ZCAWhitening({self.num_features}) expects (N, {self.num_features}, ...) input such as "
                f"(N, {self.num_features}) or (N, {self.num_features}, H, W), got shape {tuple(x.shape)}"
            )
        flat = x if x.ndim == 2 else x.transpose(0, 1).flatten(1).T  # (samples, C)
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            m = flat.shape[0]
            if m < 2:
                raise ValueError(f"ZCAWhitening needs more than one sample per channel in training, got {m}")
            mean = flat.mean(dim=0)
            centred = flat - mean
            cov = centred.T @ centred / m
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    self.num_batches_tracked += 1
                    # momentum=None: the cumulative average, as in BatchNorm
                    factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                    self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
                    unbiased = cov.detach() * (m / (m - 1))
                    self.running_cov.lerp_(unbiased.to(self.running_cov.dtype), factor)
        else:
            mean, cov = self.running_mean.to(flat.dtype), self.running_cov.to(flat.dtype)
            centred = flat - mean
        eye = torch.eye(self.num_features, dtype=cov.dtype, device=cov.device)
        whiten = inv_sqrtm(cov + self.eps * eye, self.method, backward=self.backward, check=False, **self.kwargs)
        out = centred @ whiten  # W is symmetric
        if self.affine:
            out = out * self.weight + self.bias
        if x.ndim > 2:
            out = out.T.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)
        return out
