"""Public entries: validate, get the namespace once, resolve options, dispatch to a backend's autodiff
glue (torch, jax) or straight to the core (NumPy, CuPy, array-api-strict)."""

from __future__ import annotations

from typing import Any

from . import _compat, _validation
from .core import options as _options
from .core.forward import forward as _forward
from .core.primitives import sym

__all__ = ["sqrtm", "inv_sqrtm"]


def _prepare(a: Any, /, *, name: str, inverse: bool, method: str, check: bool, **kw: Any):
    xp = _compat.array_namespace(a)
    _validation.check_static(a, name=name, xp=xp)
    glue = _compat.backend_module(xp)
    ctype = _validation.compute_dtype(a.dtype, xp=xp)
    eps = float(xp.finfo(ctype).eps)
    opts = _options.resolve(method, inverse=inverse, eps=eps, n=a.shape[-1], on_cpu=_compat.is_cpu(a), **kw)
    traced = glue is not None and glue.is_traced(a)
    if check and not traced and a.shape[-1] > 0 and 0 not in a.shape:
        _validation.check_values(a, name=name, eps=eps, xp=xp)
        if inverse:
            _validation.check_nonsingular(xp.astype(a, ctype), name=name, eps=eps, xp=xp)
    return xp, glue, ctype, opts


def _apply(a: Any, /, *, name: str, inverse: bool, method: str, check: bool, **kw: Any) -> Any:
    xp, glue, ctype, opts = _prepare(a, name=name, inverse=inverse, method=method, check=check, **kw)
    if 0 in a.shape:  # empty batch or n = 0: nothing to compute
        return xp.astype(a, a.dtype, copy=True)
    x = xp.astype(a, ctype) if a.dtype != ctype else a
    if glue is not None:
        y = glue.apply(x, opts=opts, xp=xp)
    else:
        y = _forward(sym(x), opts=opts, xp=xp)[0]
    return xp.astype(y, a.dtype) if y.dtype != a.dtype else y


def sqrtm(
    a: Any,
    /,
    method: str = "auto",
    *,
    degree: int | tuple[int, int] | None = None,
    num_iters: int | None = None,
    scale: str = "spectral",
    backward: str = "auto",
    backward_iters: int | None = None,
    check: bool = True,
) -> Any:
    r"""Principal square root of a batch of symmetric positive (semi)definite matrices.

    Computes :math:`Y = A^{1/2}`, the unique symmetric PSD matrix with :math:`Y Y = A`, for every matrix
    in ``a``. The input is treated as symmetric: the function of :math:`(A + A^T)/2` is computed, so
    gradients are symmetric too.

    Parameters
    ----------
    a : array of shape (..., n, n)
        NumPy, CuPy, PyTorch, JAX or array-api-strict array; any number of batch dimensions.
    method : {"auto", "eig", "taylor", "pade", "newton-schulz"}, optional
        ``"eig"``: eigendecomposition (exact reference). ``"taylor"`` (alias ``"mtp"``): Matrix Taylor
        Polynomial. ``"pade"`` (``"mpa"``): Matrix Padé Approximant. ``"newton-schulz"`` (``"ns"``):
        coupled Newton–Schulz iteration. ``"auto"``: ``"eig"`` on CPU, ``"newton-schulz"`` on GPU.
    degree : int or (int, int), optional
        Taylor degree (default 10) or Padé order ``m`` for ``[m/m]`` or a pair ``(m, n)`` (default 5).
    num_iters : int, optional
        Newton–Schulz steps (default 15 in float64, 10 in float32; see :func:`newton_schulz_iters`).
    scale : {"spectral", "frobenius"}, optional
        Normalisation: the largest eigenvalue (estimated by power iteration) with accelerated
        Newton–Schulz/sign steps, or the Frobenius norm with the paper's plain steps.
    backward : {"auto", "lyapunov", "eig", "svd-pade", "unrolled"}, optional
        How gradients are computed (PyTorch and JAX; see :func:`sqrtm_vjp` for NumPy/CuPy).
    backward_iters : int, optional
        Sign-iteration steps of ``backward="lyapunov"`` or the Padé degree of ``"svd-pade"``.
    check : bool, optional
        Check values (finite, symmetric) on concrete arrays; skipped under tracing.

    Returns
    -------
    array of shape (..., n, n)
        Same namespace, device and dtype as ``a`` (half precision is computed in float32).

    Raises
    ------
    ValueError
        Non-square input, fewer than 2 dimensions, NaN/Inf, non-symmetric input (``check=True``), or an
        unknown option.
    TypeError
        Integer, boolean or complex dtype.

    References
    ----------
    Y. Song, N. Sebe, W. Wang, "Fast Differentiable Matrix Square Root", ICLR 2022; "Fast Differentiable
    Matrix Square Root and Inverse Square Root", IEEE TPAMI 2022 (arXiv:2201.12543).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a = np.array([[4.0, 0.0], [0.0, 9.0]])
    >>> matfunc.sqrtm(a)
    array([[2., 0.],
           [0., 3.]])
    >>> y = matfunc.sqrtm(a, method="pade", degree=8)
    >>> bool(np.allclose(y @ y, a, rtol=1e-3))
    True
    """
    return _apply(
        a,
        name="sqrtm",
        inverse=False,
        method=method,
        check=check,
        degree=degree,
        num_iters=num_iters,
        scale=scale,
        backward=backward,
        backward_iters=backward_iters,
    )


def inv_sqrtm(
    a: Any,
    /,
    method: str = "auto",
    *,
    degree: int | tuple[int, int] | None = None,
    num_iters: int | None = None,
    scale: str = "spectral",
    backward: str = "auto",
    backward_iters: int | None = None,
    check: bool = True,
) -> Any:
    r"""Inverse principal square root :math:`A^{-1/2}` of a batch of symmetric positive definite matrices.

    Each method uses its own inverse form: ``"pade"`` computes :math:`q(Z) p(Z)^{-1}`, ``"taylor"`` the
    series of :math:`(1 - z)^{-1/2}`, ``"newton-schulz"`` the coupled iterate :math:`Z_k`, ``"eig"``
    :math:`V \operatorname{diag}(\lambda^{-1/2}) V^T`. Parameters are those of :func:`sqrtm`.

    Raises
    ------
    SingularMatrixError
        (a :class:`numpy.linalg.LinAlgError`, hence a :class:`ValueError`) when ``check=True`` and a
        matrix is singular to working precision (:math:`\lambda_{min} \le n\,\epsilon \max_i a_{ii}`).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> matfunc.inv_sqrtm(np.array([[4.0, 0.0], [0.0, 0.25]]))
    array([[0.5, 0. ],
           [0. , 2. ]])
    """
    return _apply(
        a,
        name="inv_sqrtm",
        inverse=True,
        method=method,
        check=check,
        degree=degree,
        num_iters=num_iters,
        scale=scale,
        backward=backward,
        backward_iters=backward_iters,
    )
