"""Checks of the input: static ones (shape, dtype) always, value ones (finite, symmetric, singular) on
concrete arrays when ``check=True``. Value checks read array values back to the host once."""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any

from ._errors import SingularMatrixError
from .core.primitives import mT

__all__ = [
    "check_static", "compute_dtype", "check_finite", "check_values", "check_result", "check_nonsingular",
    "symmetry_rtol",
]


def check_static(a: Any, /, *, name: str, xp: ModuleType) -> None:
    """Shape ``(..., n, n)`` and a real floating dtype, else ``ValueError`` / ``TypeError`` naming them."""
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name} expects a (..., n, n) array of square matrices, got shape {tuple(a.shape)}")
    dtype = a.dtype
    if xp.isdtype(dtype, "complex floating"):
        raise TypeError(
            f"{name} supports real symmetric input; got complex dtype {dtype} "
            "(complex Hermitian input is not supported yet)"
        )
    if not xp.isdtype(dtype, "real floating"):
        raise TypeError(f"{name} expects a real floating-point array, got dtype {dtype}")
    if xp.finfo(dtype).bits > 64:
        raise TypeError(
            f"{name}: extended precision ({dtype}) is not supported (the linear algebra runs in float64 at most, "
            "and the result would silently lose digits); cast to float64"
        )


def compute_dtype(dtype: Any, /, *, xp: ModuleType) -> Any:
    """float32 and float64 are computed natively; half precisions (float16, bfloat16) in float32."""
    return dtype if dtype in (xp.float32, xp.float64) else xp.float32


def symmetry_rtol(n: int, eps: float) -> float:
    """Allowed ``max |a - a^T| / max |a|``: ``max(1000, 10 n) * eps`` (1.1e-4 in float32 at n = 64)."""
    return max(1000.0, 10.0 * n) * eps


def _first_bad(mask: Any, /, *, xp: ModuleType, shape: tuple[int, ...]) -> str:
    """Batch index of the first True entry of a ``batch_shape`` mask, as text."""
    if not shape:
        return "the matrix"
    flat = xp.reshape(mask, (-1,))
    i = int(xp.argmax(xp.astype(flat, xp.int32)))
    idx = []
    for dim in reversed(shape):
        idx.append(i % dim)
        i //= dim
    return f"the matrix at batch index {tuple(reversed(idx))}"


def check_finite(a: Any, /, *, name: str, xp: ModuleType) -> None:
    """``ValueError`` naming the first matrix with a NaN or Inf."""
    finite = xp.all(xp.isfinite(a), axis=(-2, -1))
    if not bool(xp.all(finite)):
        raise ValueError(f"{name}: input contains NaN or Inf ({_first_bad(~finite, xp=xp, shape=tuple(a.shape[:-2]))})")


def check_values(a: Any, /, *, name: str, eps: float, xp: ModuleType) -> None:
    """NaN/Inf, symmetry and negative diagonal entries (a necessary condition of semidefiniteness: the full
    test costs a factorisation); ``ValueError`` naming the first offending matrix. ``eps`` is that of the
    compute dtype; half-precision input may also be asymmetric by 16 units in its own last place."""
    batch = tuple(a.shape[:-2])
    check_finite(a, name=name, xp=xp)
    n = a.shape[-1]
    asym = xp.max(xp.abs(a - mT(a)), axis=(-2, -1))
    scale = xp.max(xp.abs(a), axis=(-2, -1))
    rtol = max(symmetry_rtol(n, eps), 16.0 * float(xp.finfo(a.dtype).eps))
    bad = asym > rtol * scale
    if bool(xp.any(bad)):
        where = _first_bad(bad, xp=xp, shape=batch)
        worst = float(xp.max(asym / xp.where(scale > 0, scale, xp.ones_like(scale))))
        raise ValueError(
            f"{name} expects symmetric matrices; {where} is not symmetric "
            f"(max |a - a^T| / max |a| = {worst:.3g} > {rtol:.3g}). Symmetrise it, e.g. (a + a^T) / 2."
        )
    negative = xp.min(xp.linalg.diagonal(a), axis=-1) < -rtol * scale
    if bool(xp.any(negative)):
        raise ValueError(
            f"{name} expects positive semidefinite matrices; {_first_bad(negative, xp=xp, shape=batch)} has a "
            "negative diagonal entry, so it has a negative eigenvalue and no real square root"
        )


def check_result(y: Any, /, *, name: str, method: str, xp: ModuleType) -> None:
    """A non-finite result from finite input: the input was indefinite (or too ill-conditioned for the
    method); ``ValueError`` naming the first such matrix instead of returning NaN/Inf."""
    finite = xp.all(xp.isfinite(y), axis=(-2, -1))
    if not bool(xp.all(finite)):
        where = _first_bad(~finite, xp=xp, shape=tuple(y.shape[:-2]))
        raise ValueError(
            f"{name}(method={method!r}) gave NaN/Inf for {where}: the input is not positive semidefinite (a "
            "negative eigenvalue), or too ill-conditioned for this method; method='eig' treats eigenvalues "
            "below zero as zero. Pass check=False to get the raw result."
        )


def check_nonsingular(a: Any, /, *, name: str, eps: float, xp: ModuleType) -> None:
    """``SingularMatrixError`` unless every matrix has ``lambda_min > n * eps * max_i a_ii``.

    Tested with one Cholesky factorisation of ``a - delta I`` (``delta = n eps max_i a_ii``): it succeeds
    exactly when the shifted matrix is positive definite, i.e. ``a`` is far enough from singular for its
    inverse square root to carry information.
    """
    n = a.shape[-1]
    if _definite(a, eps=eps, xp=xp):
        return
    batch = tuple(a.shape[:-2])
    where = "the matrix"
    for idx in itertools.product(*(range(d) for d in batch)) if batch else ():  # error path only: the first
        if not _definite(a[(*idx, ...)], eps=eps, xp=xp):
            where = f"the matrix at batch index {idx}"
            break
    raise SingularMatrixError(
        f"{name}: {where} is singular or indefinite to working precision (smallest eigenvalue <= n * eps * "
        f"max diagonal = {n} * {eps:.3g} * max a_ii); its inverse square root is not defined"
    )


def _definite(a: Any, /, *, eps: float, xp: ModuleType) -> bool:
    """Whether Cholesky of ``a - n eps max(a_ii) I`` succeeds for every matrix of the batch."""
    n = a.shape[-1]
    dmax = xp.max(xp.linalg.diagonal(a), axis=-1, keepdims=True)[..., None]
    if not bool(xp.all(dmax > 0)):
        return False
    eye = xp.eye(n, dtype=a.dtype, device=_device(a))
    try:
        factor = xp.linalg.cholesky(a - (n * eps) * dmax * eye)
    except Exception as exc:  # NumPy/PyTorch raise their LinAlgError; JAX returns NaN instead
        if "LinAlgError" not in type(exc).__name__ and "linalg" not in str(exc).lower():
            raise
        return False
    return bool(xp.all(xp.isfinite(factor)))


def _device(a: Any) -> Any:
    from ._compat import device

    return device(a)
