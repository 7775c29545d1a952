"""PyTorch layers built on :func:`matfunc.sqrtm` / :func:`matfunc.inv_sqrtm`: the paper's two real uses, and WCT.

:class:`CovariancePooling` is global covariance pooling with matrix-square-root normalisation (iSQRT-COV
style, the head of a CNN classifier); :class:`ZCAWhitening` is decorrelated batch normalisation (ZCA
whitening by the inverse square root of the batch covariance, with running statistics for eval mode);
:class:`WhiteningColoring` is the feature transform of universal style transfer on feature maps.
Importing this module imports torch.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ._api import inv_sqrtm, sqrtm
from ._wct import whitening_coloring

__all__ = ["CovariancePooling", "ZCAWhitening", "WhiteningColoring"]


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
    check : bool, optional
        Value checks of :func:`matfunc.sqrtm`: features with NaN/Inf raise ``ValueError`` instead of giving NaN.
        They read a few booleans back to the host (a GPU synchronisation each step), so the default is
        ``False``, as for PyTorch's own layers.
    normalize : {None, "trace"}, optional
        ``"trace"``: iSQRT-COV's pre-normalisation, the root of :math:`\Sigma / \operatorname{tr}\Sigma` (of
        :math:`\Sigma + \epsilon I` and its trace). ``None`` (default): the root of :math:`\Sigma` itself.
    compensate : bool, optional
        With ``normalize="trace"``: iSQRT-COV's post-compensation, multiply the root by
        :math:`\sqrt{\operatorname{tr}\Sigma}` (default ``True``); ``False`` returns the scale-invariant
        :math:`(\Sigma / \operatorname{tr}\Sigma)^{1/2}`. Every method of :func:`matfunc.sqrtm` is positively
        homogeneous (it normalises by a bound on the largest eigenvalue itself), so the compensated result is
        :math:`\Sigma^{1/2}` again, with gradients through :math:`\operatorname{tr}\Sigma` as in iSQRT-COV.
    **kwargs
        Further options of :func:`matfunc.sqrtm` (``num_iters``, ``degree``, ``scale``, ...).

    References
    ----------
    P. Li, J. Xie, Q. Wang, Z. Gao, "Towards Faster Training of Global Covariance Pooling Networks by Iterative
    Matrix Square Root Normalization" (iSQRT-COV), CVPR 2018.

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
        self,
        method: str = "auto",
        *,
        backward: str = "auto",
        eps: float = 1e-5,
        triu: bool = True,
        check: bool = False,
        normalize: str | None = None,
        compensate: bool = True,
        **kwargs: Any,
    ):
        super().__init__()
        if normalize not in (None, "trace"):
            raise ValueError(f"CovariancePooling: normalize must be None or 'trace' (iSQRT-COV), got {normalize!r}")
        if not compensate and normalize is None:
            raise ValueError(
                "CovariancePooling: compensate=False applies to normalize='trace' (it leaves out iSQRT-COV's "
                "multiplication by sqrt(tr Sigma)); pass normalize='trace' too"
            )
        _check_options(sqrtm, method, backward, kwargs)
        eps = _real_option(eps, "CovariancePooling", "eps")
        self.method, self.backward, self.eps, self.triu, self.kwargs = method, backward, eps, triu, kwargs
        self.check, self.normalize, self.compensate = check, normalize, bool(compensate)

    def extra_repr(self) -> str:
        norm = "" if self.normalize is None else f", normalize={self.normalize!r}, compensate={self.compensate}"
        return (
            f"method={self.method!r}, backward={self.backward!r}, eps={self.eps}, triu={self.triu}, "
            f"check={self.check}{norm}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _real_features(x, "CovariancePooling")
        if x.ndim < 3:
            raise ValueError(
                f"CovariancePooling expects (B, C, H, W) or (B, C, L) features, got shape {tuple(x.shape)}"
            )
        with _at_least_float32(x) as feats:
            feats = feats.flatten(2)  # (B, C, M)
            m = feats.shape[-1]
            centred = feats - feats.mean(dim=-1, keepdim=True)
            cov = centred @ centred.mT / m
            cov = cov + self.eps * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
            if self.normalize == "trace":
                tr = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)[..., None, None]
                tr = torch.where(tr > 0, tr, torch.ones_like(tr))  # the zero matrix (eps=0, constant features): 0
                cov = cov / tr
            y = sqrtm(cov, self.method, backward=self.backward, check=self.check, **self.kwargs)
            if self.normalize == "trace" and self.compensate:
                y = y * torch.sqrt(tr)
        y = y.to(x.dtype)
        if not self.triu:
            return y
        rows, cols = torch.triu_indices(y.shape[-1], y.shape[-1], device=y.device)
        return y[..., rows, cols]


def _real_features(x: torch.Tensor, name: str) -> None:
    """The layers pool and whiten real feature maps (their covariances are real symmetric); complex features would
    need conjugated products throughout: a clear error, not a silently non-Hermitian covariance."""
    if x.is_complex():
        raise TypeError(
            f"{name} takes real features, got {x.dtype}; for complex data call matfunc.sqrtm / "
            "matfunc.inv_sqrtm on its Hermitian covariance directly"
        )


@contextlib.contextmanager
def _at_least_float32(x: torch.Tensor) -> Iterator[torch.Tensor]:
    """``x`` in float32 at least (half-precision feature maps are promoted), with torch autocast off inside: the
    covariances, their roots and the products with them run in that dtype, not in autocast's bfloat16/float16
    (bfloat16 covariances leave a ZCA-whitened batch's covariance 1e-2 away from the identity). The layers
    return the input's dtype."""
    with torch.autocast(x.device.type, enabled=False):
        yield x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _integer_option(value: object, layer: str, name: str) -> int:
    """A positive integer option (NumPy integer scalars too), as a Python int, or ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _real_option(value: Any, layer: str, name: str, *, upper: float = math.inf) -> float:
    """A finite real option in [0, upper] (NumPy floating scalars too), as a Python float, or ``ValueError``."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and 0.0 <= float(value) <= upper
    if not ok or not math.isfinite(float(value)):
        bound = "a finite number >= 0" if upper == math.inf else f"a number in [0, {upper:g}]"
        raise ValueError(f"{layer}: {name} must be {bound}, got {value!r}")
    return float(value)


def _check_options(fn: Callable[..., Any], method: str, backward: str, kwargs: dict[str, Any]) -> None:
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

    A forward that raises leaves the module as it was: the whitening matrix is computed (and checked) before
    ``running_mean``, ``running_cov`` and ``num_batches_tracked`` are updated, so a bad batch (NaN/Inf, or a
    covariance singular to working precision) cannot corrupt the running statistics, and the next batch
    continues as if the bad one had never been seen.

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
    num_groups : int, optional
        Group-wise whitening (decorrelated batch normalisation): the ``C`` channels are split into
        ``num_groups`` consecutive groups of ``C / num_groups``, each whitened by its own covariance (a
        block-diagonal whitening matrix; channels of different groups stay correlated). It costs ``num_groups``
        inverse roots of ``C / num_groups`` channels instead of one of ``C`` and needs fewer samples per
        batch for a definite covariance. ``running_cov`` then has shape ``(num_groups, C / num_groups,
        C / num_groups)``; with the default ``1`` it is ``(C, C)``, and the layer is the plain ZCA whitening.
    check : bool, optional
        Value checks of :func:`matfunc.inv_sqrtm`: a covariance with NaN/Inf raises ``ValueError``, one singular
        to working precision (smallest eigenvalue of :math:`\Sigma + \epsilon I` below ``C * finfo(dtype).eps``
        times its largest diagonal entry, e.g. fewer samples than channels in float32 with a small ``eps``)
        :class:`matfunc.SingularMatrixError`. They read a few booleans back to the host (a GPU synchronisation
        each step), so the default is ``False``, as for PyTorch's own layers: a NaN batch then gives NaN output,
        and the running statistics skip it (without a synchronisation).

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
    >>> grouped = ZCAWhitening(4, num_groups=2)     # channels (0, 1) and (2, 3) whitened separately
    >>> tuple(grouped.running_cov.shape)
    (2, 2, 2)

    References
    ----------
    L. Huang, D. Yang, B. Lang, J. Deng, "Decorrelated Batch Normalization", CVPR 2018.
    """

    # Buffers (None without track_running_stats, and then never read).
    running_mean: torch.Tensor
    running_cov: torch.Tensor
    num_batches_tracked: torch.Tensor

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
        check: bool = False,
        num_groups: int = 1,
        **kwargs: Any,
    ):
        super().__init__()
        num_features = _integer_option(num_features, "ZCAWhitening", "num_features")
        num_groups = _integer_option(num_groups, "ZCAWhitening", "num_groups")
        eps = _real_option(eps, "ZCAWhitening", "eps")
        if momentum is not None:
            momentum = _real_option(momentum, "ZCAWhitening", "momentum (None: the cumulative average)", upper=1.0)
        if num_features % num_groups:
            raise ValueError(
                f"ZCAWhitening: num_features={num_features} is not divisible by num_groups={num_groups} (the "
                f"groups are C / num_groups consecutive channels); pick a divisor of {num_features}"
            )
        self.num_groups = num_groups
        _check_options(inv_sqrtm, method, backward, kwargs)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.method, self.backward, self.check, self.kwargs = method, backward, check, kwargs
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_cov", self._eye(torch.get_default_dtype(), None))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_cov", None)
            self.register_buffer("num_batches_tracked", None)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}, method={self.method!r}, check={self.check}"
            + (f", num_groups={self.num_groups}" if self.num_groups > 1 else "")
        )

    def _eye(self, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
        """The identity of the covariance's shape: ``(C, C)``, or ``(G, C/G, C/G)`` for ``G > 1`` groups."""
        size = self.num_features // self.num_groups
        eye = torch.eye(size, dtype=dtype, device=device)
        return eye if self.num_groups == 1 else eye.expand(self.num_groups, size, size).clone()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_cov.copy_(self._eye(self.running_cov.dtype, self.running_cov.device))
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _real_features(x, f"ZCAWhitening({self.num_features})")
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"ZCAWhitening({self.num_features}) expects (N, {self.num_features}, ...) input such as "
                f"(N, {self.num_features}) or (N, {self.num_features}, H, W), got shape {tuple(x.shape)}"
            )
        with _at_least_float32(x) as xf:
            out = self._whiten(xf)
        return out.to(x.dtype)

    def _whiten(self, x: torch.Tensor) -> torch.Tensor:
        flat = x if x.ndim == 2 else x.transpose(0, 1).flatten(1).T  # (samples, C)
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            m = flat.shape[0]
            if m < 2:
                raise ValueError(f"ZCAWhitening needs more than one sample per channel in training, got {m}")
            mean = flat.mean(dim=0)
            centred = flat - mean
            grouped = self._grouped(centred)
            cov = grouped.mT @ grouped / m
        else:
            mean, cov = self.running_mean.to(flat.dtype), self.running_cov.to(flat.dtype)
            centred = flat - mean
        # Everything that can fail comes before the running statistics change (see _update_running_stats).
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
        try:
            whiten = inv_sqrtm(
                cov + self.eps * eye, self.method, backward=self.backward, check=self.check, **self.kwargs
            )
        except ValueError as err:  # includes SingularMatrixError
            which = "batch" if use_batch else "running"
            kept = "; the running statistics were not updated" if self.training and self.track_running_stats else ""
            raise type(err)(
                f"ZCAWhitening({self.num_features}): cannot whiten by the {which} covariance + eps I "
                f"(eps={self.eps}){kept}. {err}"
            ) from err
        if self.num_groups == 1:
            out = centred @ whiten  # W is symmetric
        else:  # (G, samples, C/G) @ (G, C/G, C/G), back to (samples, C)
            out = (self._grouped(centred) @ whiten).transpose(0, 1).reshape(centred.shape)
        if self.affine:
            out = out * self.weight + self.bias
        if x.ndim > 2:
            out = out.T.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)
        if self.training and self.track_running_stats:
            self._update_running_stats(mean, cov, flat.shape[0])
        return out

    def _grouped(self, flat: torch.Tensor) -> torch.Tensor:
        """``(samples, C)`` as ``(samples, C)`` (one group, unchanged) or ``(G, samples, C/G)``."""
        if self.num_groups == 1:
            return flat
        return flat.reshape(flat.shape[0], self.num_groups, -1).transpose(0, 1)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, cov: torch.Tensor, m: int) -> None:
        """BatchNorm's update, all or nothing: the new values are computed out of place (a dtype or device
        mismatch raises here), then copied into the buffers."""
        # A batch with NaN/Inf statistics is not counted, without reading a value back (no GPU sync): with
        # check=False its output is NaN, but the running statistics stay as they were.
        finite = torch.isfinite(mean).all() & torch.isfinite(cov).all()
        count = self.num_batches_tracked + finite.to(self.num_batches_tracked.dtype)
        # momentum=None: the cumulative average, as in BatchNorm, its factor 1 / count kept on the device (no
        # host synchronisation through int(count))
        if self.momentum is None:
            factor = 1.0 / count.clamp(min=1).to(self.running_mean.dtype)
            factor_cov = factor.to(self.running_cov.dtype)
        else:
            factor = factor_cov = self.momentum
        new_mean = torch.lerp(self.running_mean, mean.detach().to(self.running_mean.dtype), factor)
        unbiased = cov.detach() * (m / (m - 1))
        new_cov = torch.lerp(self.running_cov, unbiased.to(self.running_cov.dtype), factor_cov)
        self.running_mean.copy_(torch.where(finite, new_mean, self.running_mean))
        self.running_cov.copy_(torch.where(finite, new_cov, self.running_cov))
        self.num_batches_tracked.copy_(count)


class WhiteningColoring(nn.Module):
    r"""Whitening–colouring transform of feature maps (universal style transfer), :func:`matfunc.whitening_coloring`
    on ``(B, C, H, W)`` (or any ``(..., C, *spatial)``) tensors.

    ``forward(content, style)`` flattens the spatial axes of both (their sizes may differ), gives the content
    the mean and covariance of the style and returns the content's shape. No parameters; differentiable in
    both inputs.

    Parameters
    ----------
    alpha, eps, method : optional
        As in :func:`matfunc.whitening_coloring`; ``backward`` and ``num_iters`` are passed on too.
    spatial_dims : int, optional
        How many trailing axes are positions (default 2: ``H, W``).
    check : bool, optional
        Value checks (default ``False``, as for the other layers: they synchronise with the GPU).

    Examples
    --------
    >>> import torch
    >>> from matfunc.nn import WhiteningColoring
    >>> wct = WhiteningColoring(alpha=0.6)
    >>> content, style = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 12, 12) * 3.0 + 1.0
    >>> tuple(wct(content, style).shape)
    (2, 8, 16, 16)
    """

    def __init__(
        self,
        alpha: float = 1.0,
        eps: float = 1e-5,
        *,
        method: str = "auto",
        backward: str = "auto",
        num_iters: int | None = None,
        spatial_dims: int = 2,
        check: bool = False,
    ):
        super().__init__()
        spatial_dims = _integer_option(spatial_dims, "WhiteningColoring", "spatial_dims")
        x = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0]], dtype=torch.float64)
        # bad options fail when the layer is built, not at its first forward (a 2 x 3 call)
        whitening_coloring(
            x, x, alpha=alpha, eps=eps, method=method, backward=backward, num_iters=num_iters, check=False
        )
        self.alpha, self.eps, self.method, self.backward = alpha, eps, method, backward
        self.num_iters, self.spatial_dims, self.check = num_iters, spatial_dims, check

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, eps={self.eps}, method={self.method!r}, spatial_dims={self.spatial_dims}"

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        k = self.spatial_dims
        for x, what in ((content, "content"), (style, "style")):
            if x.ndim < k + 1:
                raise ValueError(
                    f"WhiteningColoring(spatial_dims={k}) expects {what} feature maps (..., C, *{k} spatial axes), "
                    f"got shape {tuple(x.shape)}"
                )
        out = whitening_coloring(
            content.flatten(-k),
            style.flatten(-k),
            alpha=self.alpha,
            eps=self.eps,
            method=self.method,
            backward=self.backward,
            num_iters=self.num_iters,
            check=self.check,
        )
        return out.reshape(*out.shape[:-1], *content.shape[-k:])
