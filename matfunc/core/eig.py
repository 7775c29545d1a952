"""Exact reference path: the symmetric eigendecomposition ``A = V diag(lambda) V^T``.

``A^{1/2} = V diag(s) V^T`` and ``A^{-1/2} = V diag(1/s) V^T`` with ``s = sqrt(max(lambda, 0))``: tiny
negative eigenvalues from rounding of a PSD matrix are clamped to zero. The pair ``(V, s)`` is what the
exact backward needs (4 matrix products, :mod:`.gradients`).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from . import primitives

__all__ = ["eigh_sqrt", "eigh_root", "from_eig", "sqrt_floor"]


def sqrt_floor(s: Any, eps: float, /, *, xp: ModuleType) -> Any:
    """``sqrt(eps) * max(s)`` per matrix, shape ``(..., 1)``: the resolution of ``s = sqrt(lambda)`` when
    eigenvalues carry absolute errors ``eps * lambda_max``. Singular directions are clamped to it."""
    return math.sqrt(eps) * xp.max(s, axis=-1, keepdims=True)


def from_eig(v: Any, d: Any, /, *, xp: ModuleType) -> Any:
    """``V diag(d) V^H``, exactly Hermitian, for a batch of eigenvector matrices ``v`` and real values ``d >= 0``
    of shape ``(..., n)``.

    Formed as the Gram matrix ``W W^H`` with ``W = V diag(sqrt(d))`` (:func:`.primitives.gram`): NumPy runs
    ``W @ W^T`` as a symmetric rank-k update (syrk, half the flops): 1.5 ms instead of 2.2 ms for 256 x 64 x 64
    float32, 2 threads."""
    w = v * xp.astype(xp.sqrt(d), v.dtype)[..., None, :]
    return primitives.gram(w, xp=xp)


def eigh_root(a: Any, /, *, inverse: bool, xp: ModuleType) -> tuple[Any, Any, Any, Any]:
    """Return ``(y, v, s, lam)``: ``y = a^{1/2}`` (or ``a^{-1/2}`` if ``inverse``), eigenvectors, ``sqrt`` of the
    eigenvalues clamped at zero, and the eigenvalues ``lam`` themselves (ascending, signed): what ``check=True``
    reads at no further cost (a negative ``lam[..., 0]`` beyond rounding is an indefinite input, a tiny one a
    singular input of the inverse root; ``matfunc._validation.accuracy_stats``)."""
    lam, v = primitives.eigh(a, xp=xp)
    s = xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))
    if inverse:
        # Singular input is rejected by the public entry when checking; unchecked (check=False), singular
        # directions get the finite value 1 / sqrt_floor, as in the gradients.
        floor = sqrt_floor(s, float(xp.finfo(a.dtype).eps), xp=xp)
        return from_eig(v, 1.0 / xp.maximum(s, xp.where(floor > 0, floor, xp.ones_like(floor))), xp=xp), v, s, lam
    return from_eig(v, s, xp=xp), v, s, lam


def eigh_sqrt(a: Any, /, *, inverse: bool, xp: ModuleType) -> tuple[Any, Any, Any]:
    """Return ``(y, v, s)``: ``y = a^{1/2}`` (or ``a^{-1/2}`` if ``inverse``), eigenvectors, ``sqrt`` of eigenvalues."""
    return eigh_root(a, inverse=inverse, xp=xp)[:3]
