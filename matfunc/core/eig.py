"""Exact reference path: the symmetric eigendecomposition ``A = V diag(lambda) V^T``.

``A^{1/2} = V diag(s) V^T`` and ``A^{-1/2} = V diag(1/s) V^T`` with ``s = sqrt(max(lambda, 0))``: tiny
negative eigenvalues from rounding of a PSD matrix are clamped to zero. The pair ``(V, s)`` is what the
exact backward needs (4 matrix products, :mod:`.gradients`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["eigh_sqrt", "from_eig"]


def from_eig(v: Any, d: Any, /) -> Any:
    """``V diag(d) V^T`` for a batch of eigenvector matrices ``v`` and values ``d`` of shape ``(..., n)``."""
    return (v * d[..., None, :]) @ v.mT


def eigh_sqrt(a: Any, /, *, inverse: bool, xp: ModuleType) -> tuple[Any, Any, Any]:
    """Return ``(y, v, s)``: ``y = a^{1/2}`` (or ``a^{-1/2}`` if ``inverse``), eigenvectors, ``sqrt`` of eigenvalues."""
    lam, v = xp.linalg.eigh(a)
    s = xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))
    if inverse:
        # Singular input is rejected by the public entry when checking; unchecked, 1/0 gives inf like 1/sqrt(0).
        return from_eig(v, 1.0 / s), v, s
    return from_eig(v, s), v, s
