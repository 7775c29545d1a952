"""Matrix Padé Approximants (MPA) of ``(1 - z)^{1/2}``.

With ``Z = I - A_n`` and the ``[m/n]`` approximant ``p(z) / q(z)`` (:func:`.pade_coefficients`):

.. math:: A_n^{1/2} \\approx q(Z)^{-1} p(Z), \\qquad A_n^{-1/2} \\approx p(Z)^{-1} q(Z).

``p(Z)`` and ``q(Z)`` commute, so one linear solve gives either. ``p`` and ``q`` are positive on [0, 1]
(decided exactly per order by :func:`.pade_is_spd`; true for every order up to [20/20]), so for a
spectrum of ``A_n`` in (0, 1] both matrices are symmetric positive definite and the solve uses Cholesky;
the general ``solve`` primitive remains for an order that would fail the check.
Cost: ``matmul_count(max(m, n), 2)`` matrix products (4 for [5/5]) and one SPD solve.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import primitives
from .coefficients import pade_floats, pade_is_spd
from .polynomial import matrix_polyvals

__all__ = ["pade_sqrt"]


def pade_sqrt(a_n: Any, /, *, degree: tuple[int, int], inverse: bool, xp: ModuleType) -> Any:
    """Padé approximation of ``a_n^{1/2}`` (or ``a_n^{-1/2}`` if ``inverse``) for normalised ``a_n``."""
    m, n = degree
    p, q = pade_floats(m, n)
    z = primitives.eye_like(a_n, xp=xp) - a_n
    pz, qz = matrix_polyvals([p, q], z, xp=xp)
    num, den = (qz, pz) if inverse else (pz, qz)
    den_spd = pade_is_spd(m, n)[0 if inverse else 1]
    if den_spd:
        return primitives.spd_solve(den, num, xp=xp)
    return primitives.solve(den, num, xp=xp)
