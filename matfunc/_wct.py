"""The whitening–colouring transform of universal style transfer: :func:`whitening_coloring`.

One public function on top of :func:`matfunc.sqrtm` and :func:`matfunc.inv_sqrtm`: it validates, gets the
namespace once, forms the two covariances with array-API operations and lets the roots carry the gradients
(PyTorch and JAX autodiff through their glue). Derivation: ``docs/derivations/wct.md``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from . import _compat, _validation
from ._api import inv_sqrtm, sqrtm
from .core.primitives import mT

__all__ = ["whitening_coloring"]

_NAME = "whitening_coloring"


def _check_features(x: Any, /, *, what: str, xp: Any) -> None:
    if x.ndim < 2:
        raise ValueError(
            f"{_NAME} expects {what} features of shape (..., C, N) (channels by positions; flatten H x W into N), "
            f"got shape {tuple(x.shape)}"
        )
    if not xp.isdtype(x.dtype, "real floating"):
        kind = "complex" if xp.isdtype(x.dtype, "complex floating") else "non-floating"
        raise TypeError(f"{_NAME} takes real floating-point features, got {kind} {what} features of dtype {x.dtype}")
    if xp.finfo(x.dtype).bits > 64:
        raise TypeError(f"{_NAME}: extended precision ({x.dtype}) is not supported; cast the {what} to float64")
    if x.shape[-1] < 2:
        raise ValueError(
            f"{_NAME}: the {what} covariance needs at least 2 positions (the last axis), got shape {tuple(x.shape)}"
        )


def _full_precision(xp: Any, x: Any) -> Any:
    """The covariances and products in the compute dtype whatever the caller's context: torch autocast off (it
    would form the covariances in bfloat16: a ZCA whiteness 1e-2 off), JAX's products at HIGHEST (its default is
    TF32 on recent GPUs). NumPy-backed arrays keep their floating-point warnings."""
    import contextlib

    if _compat.backend_name(xp) in ("numpy", "array_api_strict"):
        return contextlib.nullcontext()
    return _compat.quiet(xp, x)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcasting of two batch shapes, or ``ValueError`` naming them."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            raise ValueError(
                f"{_NAME}: the batch shapes of content {a} and style {b} do not broadcast (one style for many "
                "contents is shape (C, Ns) or (1, C, Ns))"
            )
        out.append(max(x, y) if 1 not in (x, y) else x * y)
    return tuple(reversed(out))


def _centred_cov(x: Any, /, *, xp: Any) -> tuple[Any, Any, Any]:
    """``(mean, x - mean, (x - mean)(x - mean)^T / (N - 1))`` over the last axis (the unbiased covariance)."""
    mean = xp.mean(x, axis=-1, keepdims=True)
    c = x - mean
    return mean, c, (c @ mT(c)) / (x.shape[-1] - 1)


def whitening_coloring(
    content: Any,
    style: Any,
    /,
    *,
    alpha: float = 1.0,
    eps: float = 1e-5,
    method: str = "auto",
    num_iters: int | None = None,
    backward: str = "auto",
    check: bool = True,
) -> Any:
    r"""Whitening–colouring transform (WCT): give content features the mean and covariance of style features.

    For content features :math:`F_c` of shape ``(..., C, N)`` (``C`` channels at ``N`` positions, e.g. a
    ``(C, H, W)`` feature map flattened) and style features :math:`F_s` of shape ``(..., C, N_s)``, with means
    :math:`\mu_c, \mu_s` and unbiased covariances :math:`C_c, C_s` over the positions,

    .. math::

        \hat F = C_s^{1/2}\,(C_c + \epsilon I)^{-1/2}\,(F_c - \mu_c) + \mu_s, \qquad
        \text{out} = \alpha \hat F + (1 - \alpha) F_c .

    :math:`(C_c + \epsilon I)^{-1/2}` whitens the centred content (ZCA: identity covariance, the closest such
    transform to the identity), :math:`C_s^{1/2}` colours it: with :math:`\epsilon = 0` the covariance of
    :math:`\hat F` is exactly :math:`C_s` and its mean :math:`\mu_s` (derivation: ``docs/derivations/wct.md``).

    Parameters
    ----------
    content : array of shape (..., C, N)
        Real features (NumPy, PyTorch, JAX, CuPy or array-api-strict), ``N >= 2`` positions.
    style : array of shape (..., C, Ns)
        Real features of the same library, with the same ``C``; ``Ns`` may differ from ``N``, and the batch
        shapes broadcast (one ``(C, Ns)`` style for a batch of contents).
    alpha : float, optional
        Blend of the transformed and the original content, in [0, 1]: 1 (default) is the full transform.
    eps : float, optional
        Ridge added to the content covariance before whitening, in the units of the features squared, like the
        ``1e-5`` below which the reference style-transfer code drops the content's eigenvalues (their features
        are rank deficient: ``N < C``, dead ReLU channels). It bounds the whitening gain by
        :math:`\epsilon^{-1/2}`, shrinking the directions of variance below :math:`\epsilon`; the output
        covariance is then :math:`C_s^{1/2} C_c (C_c + \epsilon I)^{-1} C_s^{1/2}`, within about
        :math:`\epsilon / \lambda_{\min}(C_c)` of :math:`C_s`. ``eps=0`` gives the exact transform of
        full-rank content.
    method, num_iters, backward : optional
        Options of :func:`matfunc.inv_sqrtm` and :func:`matfunc.sqrtm` (``"auto"``: eig on CPU,
        Newton–Schulz on GPU). Gradients flow through both roots on PyTorch and JAX.
    check : bool, optional
        On concrete arrays: the features are finite, and the checks of :func:`matfunc.sqrtm` and
        :func:`matfunc.inv_sqrtm` (a content covariance singular to working precision raises
        :class:`matfunc.SingularMatrixError`: raise ``eps``).

    Returns
    -------
    array of shape broadcast(...) + (C, N)
        Same library, device and dtype as the inputs (their promoted dtype; half precision is computed in
        float32).

    Raises
    ------
    ValueError
        Shapes that do not fit, fewer than 2 positions, NaN/Inf features (``check=True``), ``alpha`` outside
        [0, 1], a negative ``eps``, or an unknown option.
    TypeError
        Complex or non-floating features.

    References
    ----------
    Y. Li, C. Fang, J. Yang, Z. Wang, X. Lu, M.-H. Yang, "Universal Style Transfer via Feature Transforms",
    NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> rng = np.random.default_rng(0)
    >>> content = rng.standard_normal((3, 500))                      # C = 3 channels, N = 500 positions
    >>> style = np.array([[2.0, 0, 0], [1, 1, 0], [0, 0.5, 3]]) @ rng.standard_normal((3, 400)) + 5.0
    >>> out = matfunc.whitening_coloring(content, style, eps=0.0)
    >>> bool(np.allclose(np.cov(out), np.cov(style), atol=1e-12)), bool(np.allclose(out.mean(1), style.mean(1)))
    (True, True)
    >>> half = matfunc.whitening_coloring(content, style, alpha=0.5, eps=0.0)
    >>> bool(np.allclose(half, 0.5 * out + 0.5 * content))
    True
    """
    content, style = _validation.as_array(content), _validation.as_array(style)
    xp = _compat.array_namespace(content, style)
    _check_features(content, what="content", xp=xp)
    _check_features(style, what="style", xp=xp)
    if content.shape[-2] != style.shape[-2]:
        raise ValueError(
            f"{_NAME}: content and style must have the same number of channels C (axis -2), got content shape "
            f"{tuple(content.shape)} and style shape {tuple(style.shape)}"
        )
    _broadcast(tuple(content.shape[:-2]), tuple(style.shape[:-2]))
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{_NAME}: alpha must be a number in [0, 1] (1: the full transform), got {alpha!r}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (eps >= 0.0 and math.isfinite(eps)):
        raise ValueError(f"{_NAME}: eps must be a finite number >= 0 (a ridge on the content covariance), got {eps!r}")
    dtype = xp.result_type(content.dtype, style.dtype)
    ctype = _validation.compute_dtype(dtype, xp=xp)
    fc = xp.astype(content, ctype) if content.dtype != ctype else content
    fs = xp.astype(style, ctype) if style.dtype != ctype else style
    if check:
        for x, what in ((fc, "content"), (fs, "style")):
            if _compat.is_concrete(x) and 0 not in x.shape:
                v = _compat.values(x)
                if not bool(xp.all(xp.isfinite(v))):
                    raise ValueError(f"{_NAME}: the {what} features contain NaN or Inf")
    with _full_precision(xp, fc):
        _, fc_c, cc = _centred_cov(fc, xp=xp)
        mu_s, _, cs = _centred_cov(fs, xp=xp)
        opts = {"num_iters": num_iters, "backward": backward, "check": check}
        if eps > 0:
            cc = cc + float(eps) * xp.eye(cc.shape[-1], dtype=ctype, device=_compat.device(cc))
        try:
            whiten = inv_sqrtm(cc, method, **opts)
        except ValueError as err:  # includes SingularMatrixError
            raise type(err)(
                f"{_NAME}: cannot whiten by the content covariance + eps I (eps={eps}); rank-deficient content "
                f"(fewer positions than channels, constant channels) needs eps > 0. {err}"
            ) from err
        colour = sqrtm(cs, method, **opts)
        out = (colour @ whiten) @ fc_c + mu_s
        if alpha != 1.0:
            out = float(alpha) * out + (1.0 - float(alpha)) * fc
    return xp.astype(out, dtype) if out.dtype != dtype else out
