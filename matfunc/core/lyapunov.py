r"""Batched solvers of the Lyapunov equation :math:`S X + X S = G` for symmetric positive definite ``S``.

Sign iteration (the paper's backward). For :math:`M = \begin{bmatrix} S & G \\ 0 & -S \end{bmatrix}`,
:math:`\operatorname{sign}(M) = \begin{bmatrix} I & 2X \\ 0 & -I \end{bmatrix}`: the block-triangular
structure is kept by every polynomial in ``M``, and the (1,2) block of ``sign(M)`` solves the equation.
Newton–Schulz for the sign, :math:`M \leftarrow \frac{\sqrt a}{2} M (3I - a M^2)`, written on the blocks
``B`` (-> I) and ``C`` (-> 2X):

.. math:: C \leftarrow \tfrac{\sqrt a}{2}\,[\,3C - a\,(B^2 C + C B^2 - B C B)\,], \qquad
          B \leftarrow \tfrac{\sqrt a}{2}\, B (3I - a B^2).

On an eigenvalue ``m`` of ``B`` the map is ``m^2 -> g(a m^2)``, the map of Newton–Schulz for the square
root, so the same step schedule (:func:`.ns_schedule`) applies with the spectrum of ``S^2`` normalised to
(0, 1]. With ``a = 1`` and Frobenius scaling this is the paper's iteration. Cost per step: 6 matrix
products (``B^2``, ``P = BC``, ``B P``, ``C B^2``, ``P B``, ``B B^2``); the last ``B`` update is skipped.

No symmetric shortcut. For symmetric ``G`` one product could be saved with ``C B^2 = (B^2 C)^T``, but that
update maps an antisymmetric rounding error ``K`` of ``C`` to ``2K`` once ``B ~ I`` (``C -> (3C - C^T)/2``):
1e-3 off after 30 steps. Re-symmetrising each step cures it in NumPy and PyTorch but not under XLA, whose
optimised kernels do not keep the two triangles of a symmetrised value consistent (measured: 2e-7 off at 30
steps under ``jax.jit``). Taking ``3C^T`` for ``3C`` too keeps exact symmetry unnecessary, but the
antisymmetric part then follows the wrong multipliers while the spectrum is still spread (measured: 3e-14 at
15 steps, 1.4e-12 at 30). The full update is neutral (``K -> K``) in both directions, forward and transposed
(3.6e-15 at 15 steps, 5.0e-15 at 30): one product a step buys an order of magnitude and stability.

Eigendecomposition: :math:`X = V [\hat G_{ij} / (s_i + s_j)] V^T` with :math:`\hat G = V^T G V`.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from . import primitives
from .coefficients import ns_schedule

__all__ = ["sign_lyapunov", "eig_lyapunov", "loewner_solve", "sign_matmuls"]


def sign_matmuls(num_iters: int) -> int:
    """Matrix products spent by :func:`sign_lyapunov` (the last step skips the ``B`` update)."""
    return 6 * num_iters - 1 if num_iters else 0


def sign_lyapunov(
    s_n: Any,
    g_n: Any,
    /,
    *,
    num_iters: int,
    eps: float,
    scaled: bool = True,
    xp: ModuleType,
) -> Any:
    """Solve ``s_n X + X s_n = g_n`` for SPD ``s_n`` whose squared spectrum lies in (0, 1]."""
    scales = ns_schedule(num_iters, eps) if scaled else (1.0,) * num_iters
    b, c = s_n, g_n
    last = len(scales) - 1
    for k, a in enumerate(scales):
        b2 = b @ b
        h = math.sqrt(a) / 2.0
        p = b @ c
        s = primitives.matmul_add(b @ p, c, b2, xp=xp)  # B^2 C + C B^2
        # C <- h (3C - a (B^2 C + C B^2) + a B C B) = 3h (C - (a/3) s) + h a (BC) B: one fused product-add.
        c = primitives.matmul_add(c - (a / 3.0) * s, p, b, alpha=h * a, beta=3.0 * h, xp=xp)
        if k != last:
            b = primitives.matmul_add(b, b, b2, alpha=-h * a, beta=3.0 * h, xp=xp)
    return c * 0.5


def loewner_solve(v: Any, denom: Any, g: Any, /) -> Any:
    """``V [(V^T G V) / denom] V^T``: the eigenbasis solve shared by the exact solvers and gradients."""
    vt = primitives.mT(v)
    return v @ (((vt @ g) @ v) / denom) @ vt


def eig_lyapunov(s: Any, g: Any, /, *, xp: ModuleType) -> Any:
    """Exact solve through ``eigh(s)``; pair sums below ``sqrt(eps) * max(s)`` are clamped (singular ``s``)."""
    w, v = xp.linalg.eigh(s)
    eps = float(xp.finfo(s.dtype).eps)
    denom = w[..., :, None] + w[..., None, :]
    floor = math.sqrt(eps) * xp.max(xp.abs(w), axis=-1, keepdims=True)[..., None]
    return loewner_solve(v, xp.maximum(denom, floor), g)

