"""The value of the root fidelity :math:`\\operatorname{tr}(A^{1/2} B A^{1/2})^{1/2}` by eigendecompositions,
never forming :math:`A^{1/2}` (``matfunc.root_fidelity``, ``bures_wasserstein``, ``frechet_distance``; the
derivation and the measured accuracy of each route: docs/derivations/distances.md)."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from . import primitives

__all__ = ["eig_factor", "eig_fidelity"]


def eig_factor(a: Any, /, *, eager: bool, xp: ModuleType, eps: float | None = None) -> Any:
    """``C = V diag(w)^{1/2}`` (``C C^H = A``) from ``A = V diag(w) V^H``, with the eigenvalues below
    ``sqrt(n) eps max(w)`` set to zero: computed zero eigenvalues come out within about ``eps max(w)`` (measured
    at most ``0.92 eps max(w)``, NumPy and PyTorch, n up to 2048), and each would put ``sqrt(eps max(w))`` of
    noise into ``C`` (the square root's infinite slope at 0). ``n eps`` (NumPy's ``matrix_rank``) would cut
    genuine eigenvalues of float32 FID statistics at n = 2048 (the smallest nonzero one there: 1650 eps max(w)).

    Eager arrays: the columns of zeros (the smallest eigenvalues, ``eigh`` sorting them first) are dropped, all
    but the batch's largest rank, so that the product and the SVD that follow are of rank size, not ``n``.

    ``eps``: the precision the input was known to (default: its dtype's); float32 statistics computed in float64
    keep float32's threshold, their eigenvalues below it being rounding of the input, not data."""
    w, v = primitives.eigh(primitives.sym(a), xp=xp)
    n = a.shape[-1]
    eps = float(xp.finfo(w.dtype).eps) if eps is None else eps
    tol = (math.sqrt(n) * eps) * xp.max(w, axis=-1, keepdims=True)
    keep = w > tol
    w = xp.where(keep, w, xp.zeros_like(w))
    if eager and n > 1 and bool(xp.all(w[..., 1:] >= w[..., :-1])):
        rank = max(int(xp.max(xp.sum(xp.astype(keep, xp.int32), axis=-1))), 1)
        w, v = w[..., n - rank :], v[..., n - rank :]
    return v * xp.astype(xp.sqrt(w), v.dtype)[..., None, :]


def eig_fidelity(a: Any, b: Any, /, *, eager: bool, definite: bool, xp: ModuleType, eps: float | None = None) -> Any:
    """The value by ``"eig"``, through factors ``C C^H = A``, ``D D^H = B`` (never ``A^{1/2}`` itself):

    - ``definite`` (the caller found both positive definite to working precision, ``lambda_min > n eps max a_ii``): the
      Cholesky factor ``L`` of ``A``; ``L^H B L`` is Hermitian positive definite with the eigenvalues of ``A B``,
      so ``F = sum sqrt(eigvalsh(L^H B L))``;
    - otherwise (or under tracing): ``F = ||C^H D||_*``, the sum of the singular values of ``C^H D`` with the
      thresholded eigenvector factors of :func:`eig_factor`, since ``(C^H D)(C^H D)^H = C^H B C``. Singular
      values come out with absolute errors ``eps ||C|| ||D||``, so exact zeros (rank-deficient covariances) cost
      nothing, where ``sqrt`` of the eigenvalues of a product would add ``sqrt(eps)``-sized noise for each.

    See the derivation page for the measured accuracy of each route."""
    if definite:
        c = xp.linalg.cholesky(a)
        lm = xp.linalg.eigvalsh(primitives.sym(primitives.mH(c) @ b @ c))
        return xp.sum(xp.sqrt(xp.maximum(lm, xp.zeros_like(lm))), axis=-1)
    c, d = eig_factor(a, eager=eager, xp=xp, eps=eps), eig_factor(b, eager=eager, xp=xp, eps=eps)
    return xp.sum(xp.linalg.svdvals(primitives.mH(c) @ d), axis=-1)
