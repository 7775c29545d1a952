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
(0, 1]. With ``a = 1`` and Frobenius scaling this is the paper's iteration. The last ``B`` update is
skipped.

Symmetric right-hand side (every gradient: matfunc differentiates the function of ``sym(A)``, so the
VJP and JVP solve with ``sym(G)``): 4 products a step. Carry ``D`` with ``C = D + D^T``; the update

.. math:: D \leftarrow \tfrac{\sqrt a}{2}\,[\,\tfrac32 C + a\,B\,(\tfrac12 P^T - P)\,], \quad P = BC, \qquad
          C \leftarrow D + D^T

gives ``D + D^T`` = the full update of ``C`` (``P^T = C B`` for symmetric ``B``, ``C``: the kernel
``3/2 - a x^2 + a x y / 2`` plus its transpose is ``3 - a (x^2 + y^2 - x y)``). Two products for ``C``
(``P``, ``B T``) and two for ``B`` (``B^2``, ``B B^2``). ``C = D + D^T`` is symmetric by construction
(bitwise: addition commutes), so no antisymmetric error is carried from step to step and none can grow;
measured (float64, n = 64, cond 1e1 .. 1e8): equal to or better than the 6-product update at 15, 20, 30
and 60 steps, unscaled (the paper's) and scaled. For comparison, the obvious symmetric shortcut
``C B^2 = (B^2 C)^T`` doubles an antisymmetric rounding error each step once ``B ~ I`` (1e-3 off after 30
steps), and a 5-product shortcut with a sandwich ``(B - I) C (B - I)`` drifts under the extended-range
steps of the scaled schedule (2e-11 at 60 steps).

General ``G`` (public :func:`matfunc.solve_lyapunov`): the full 6-product update, ``B^2``, ``P = BC``,
``B P``, ``C B^2``, ``P B``, ``B B^2``; neutral on antisymmetric parts of ``C`` in both directions.

Eigendecomposition: :math:`X = V [\hat G_{ij} / (s_i + s_j)] V^T` with :math:`\hat G = V^T G V`.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from . import primitives
from .coefficients import ns_schedule

__all__ = [
    "sign_lyapunov",
    "sign_lyapunov_steps",
    "eig_lyapunov",
    "loewner_solve",
    "sign_matmuls",
    "sign_poly_matmuls",
]


def sign_matmuls(num_iters: int, *, symmetric: bool = False, scaled: bool = True) -> int:
    """Matrix products spent by :func:`sign_lyapunov` (the last step skips the ``B`` update; the scaled
    schedule adds :func:`deflate`'s 3, or 6 for a general right-hand side)."""
    if not num_iters:
        return 0
    if symmetric:
        return 4 * num_iters - 2 + 3 * scaled
    return 6 * num_iters - 1 + 6 * scaled


def sign_lyapunov(
    s_n: Any,
    g_n: Any,
    /,
    *,
    num_iters: int,
    eps: float,
    scaled: bool = True,
    symmetric: bool = False,
    xp: ModuleType,
) -> Any:
    """Solve ``s_n X + X s_n = g_n`` for SPD ``s_n`` whose squared spectrum lies in (0, 1].

    ``symmetric=True``: ``g_n`` is symmetric (up to rounding; its symmetric part is solved for) and the
    4-product update is used; otherwise the 6-product update for a general ``g_n``. The scaled schedule
    ends with :func:`deflate` (right range/null blocks for singular ``s_n``); ``scaled=False`` is the paper's
    iteration exactly.
    """
    scales = ns_schedule(num_iters, eps) if scaled else (1.0,) * num_iters
    if symmetric:
        return _sign_symmetric(s_n, g_n, scales, deflated=scaled, xp=xp)
    b, c = s_n, g_n
    last = len(scales) - 1
    for k, a in enumerate(scales):
        h = math.sqrt(a) / 2.0
        b2 = b @ b
        p = b @ c
        s = primitives.matmul_add(b @ p, c, b2, xp=xp)  # B^2 C + C B^2
        # C <- h (3C - a (B^2 C + C B^2) + a B C B) = 3h (C - (a/3) s) + h a (BC) B: one fused product-add.
        c = primitives.matmul_add(c - (a / 3.0) * s, p, b, alpha=h * a, beta=3.0 * h, xp=xp)
        if k != last:
            b = primitives.matmul_add(b, b, b2, alpha=-h * a, beta=3.0 * h, xp=xp)
    return deflate(c * 0.5, b, symmetric=False, xp=xp) if scaled and scales else c * 0.5


def _sign_symmetric(b: Any, g: Any, scales: tuple[float, ...], /, *, deflated: bool, xp: ModuleType) -> Any:
    """The 4-product sign iteration for symmetric ``g`` (module docstring): ``C = D + D^T``."""
    c = g + primitives.mH(g)  # C0 = 2 sym(G): Hermitian bit for bit
    last = len(scales) - 1
    for k, a in enumerate(scales):
        h = math.sqrt(a) / 2.0
        f = 0.25 if k == last else 1.0  # X = C / 4 (C0 = 2G, C -> 2X), folded into the last update
        p = b @ c
        # D = h (3/2 C + a B (P^T / 2 - P)) = 1.5 h C + (h a / 2) B (P^T - 2P)
        d = primitives.matmul_add(c, b, primitives.mH(p) - 2.0 * p, alpha=f * 0.5 * h * a, beta=f * 1.5 * h, xp=xp)
        c = d + primitives.mH(d)
        if k != last:
            b = primitives.matmul_add(b, b, b @ b, alpha=-h * a, beta=3.0 * h, xp=xp)
    return deflate(c, b, symmetric=True, xp=xp) if deflated and scales else (c if scales else c * 0.25)


def deflate(x: Any, b: Any, /, *, symmetric: bool, xp: ModuleType) -> Any:
    r"""Undo the damping of directions where the sign iteration has not converged (singular ``S``).

    In the eigenbasis of ``S`` the iteration returns ``X~_ij = X_ij (u_i + u_j) / 2``, ``u = p_k(s)`` the final
    sign iterate (``u -> 1``). A zero eigenvalue of a rank-deficient ``S`` keeps ``u = 0``: the range/null blocks
    come out halved (47% off through ``F`` for ``A = F F^T``). With ``v`` the eigenvalues of ``b = B_{k-1}``
    (``u = 3v/2 + O(v^3)`` for the last step, whose scale is 1) and ``t_ij = (v_i + v_j) / 2``, the Hadamard
    factor ``f(t) = 1 + 8 (1 - t)^3``

    - is ``1 + O(delta^3)`` for converged pairs (``v = 1 - delta``): they are unchanged;
    - makes ``f (u_i + u_j) / 2 = 1 - 3 v_j^2 / 4 + O(v^3)`` for a converged ``i`` and a null ``j``: the blocks
      become ``G_ij / s_i``, as for the exact solve with its floor;
    - leaves null/null pairs finite (``9 (u_i + u_j) G_ij / (2 (s_i + s_j))``, bounded by the iteration's growth).

    ``(1 - t) X = X - (B X + X B) / 2`` three times: 3 products for symmetric ``x`` (``X B = (B X)^T``), 6
    otherwise. A Hadamard product in the eigenbasis of ``S``, so the map stays self-adjoint, as the solve.
    """
    r = x
    for _ in range(3):
        p = b @ r
        r = r - (p + primitives.mH(p) if symmetric else p + r @ b) * 0.5
    return x + 8.0 * r


def loewner_solve(v: Any, denom: Any, g: Any, /, *, xp: ModuleType) -> Any:
    """``V [(V^T G V) / denom] V^T``: the eigenbasis solve shared by the exact solvers and gradients (products
    in reused temporaries where the backend allows: :func:`.primitives.congruence`)."""
    return primitives.congruence(v, g, xp=xp, scale=lambda m: _divide(m, denom))


def hermitian_loewner_solve(v: Any, denom: Any, g: Any, /, *, xp: ModuleType) -> Any:
    """``sym(V [(V^T G V) / denom] V^T)`` for a symmetric ``denom``, exactly symmetric
    (:func:`.primitives.hermitian_congruence`: where the backend forms its products by halves, ``sym(G)`` first
    and both Hermitian products by halves; elsewhere one symmetrisation of the result)."""
    return primitives.hermitian_congruence(v, g, xp=xp, scale=lambda m: _divide(m, denom))


def _divide(m: Any, denom: Any) -> Any:
    m /= denom  # in place where the array allows (a temporary fewer: page faults cost on the host)
    return m


def eig_lyapunov(s: Any, g: Any, /, *, xp: ModuleType) -> Any:
    """Exact solve through ``eigh(s)``; pair sums below ``sqrt(eps) * max(s)`` are clamped (singular ``s``)."""
    w, v = primitives.eigh(s, xp=xp)
    eps = float(xp.finfo(s.dtype).eps)
    denom = w[..., :, None] + w[..., None, :]
    floor = math.sqrt(eps) * xp.max(xp.abs(w), axis=-1, keepdims=True)[..., None]
    return loewner_solve(v, xp.maximum(denom, floor), g, xp=xp)


def sign_poly_matmuls(steps: tuple[tuple[float, float, float], ...]) -> int:
    """Matrix products of :func:`sign_lyapunov_steps`: ``B^2``, ``P = B C``, ``B R``, ``C Q``, ``B Q`` a cubic step
    (5), plus ``B^2 E`` and ``B^4`` a quintic one (7); the last step skips ``B Q``."""
    return sum(7 if gamma != 0.0 else 5 for _, _, gamma in steps) - (1 if steps else 0)


def sign_lyapunov_steps(s_n: Any, g_n: Any, /, *, steps: tuple[tuple[float, float, float], ...], xp: ModuleType) -> Any:
    r"""Sign iteration with general odd-polynomial steps ``p(m) = m q(m^2)``, ``q(x) = alpha + beta x + gamma x^2``
    (:mod:`.root_schedules`), for a symmetric right-hand side; no deflation (nonsingular ``s_n``).

    On :math:`M = \begin{bmatrix} B & C \\ 0 & -B \end{bmatrix}`: :math:`M^2 = \begin{bmatrix} B^2 & E \\ 0 & B^2
    \end{bmatrix}` with :math:`E = BC - CB`, :math:`M^4` has the off-diagonal block :math:`B^2 E + E B^2`, so
    :math:`q(M^2) = \begin{bmatrix} Q & R \\ 0 & Q\end{bmatrix}`, :math:`Q = q(B^2)`,
    :math:`R = \beta E + \gamma (B^2 E + E B^2)`, and :math:`p(M)` has the blocks ``B Q`` and ``B R + C Q``. With
    ``E^T = -E``: ``E B^2 = -(B^2 E)^T``. ``C`` stays symmetric in exact arithmetic; its symmetric part is kept.
    Measured against the 4-product cubic form of :func:`sign_lyapunov` by :mod:`matfunc.bench.schedules`.
    """
    eye = primitives.eye_like(s_n, xp=xp)
    b, c = s_n, primitives.sym(g_n)  # C -> 2X
    last = len(steps) - 1
    for k, (alpha, beta, gamma) in enumerate(steps):
        b2 = b @ b
        p = b @ c
        e = p - primitives.mH(p)
        if gamma != 0.0:
            f = b2 @ e
            r = beta * e + gamma * (f - primitives.mH(f))  # E^H = -E: E B^2 = -(B^2 E)^H
            q = alpha * eye + beta * b2 + gamma * (b2 @ b2)
        else:
            r = beta * e
            q = alpha * eye + beta * b2
        c = primitives.sym(b @ r + c @ q)
        if k != last:
            b = b @ q
    return c * 0.5
