"""Matrix Taylor Polynomial (MTP): truncated binomial series of ``(1 - z)^{+-1/2}``.

With ``Z = I - A_n`` (spectrum of ``A_n`` in (0, 1]):

.. math:: A_n^{1/2} \\approx \\sum_{k=0}^{d} \\binom{1/2}{k} (-Z)^k, \\qquad
          A_n^{-1/2} \\approx \\sum_{k=0}^{d} \\binom{-1/2}{k} (-Z)^k .

Cost: ``matmul_count(d)`` matrix products (5 for the paper's ``d = 10``). The series has a branch point
at ``z = 1``, so its error grows with the condition number whatever the degree (see docs/methods).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import primitives
from .coefficients import taylor_floats
from .polynomial import matrix_polyvals

__all__ = ["taylor_sqrt"]


def taylor_sqrt(a_n: Any, /, *, degree: int, inverse: bool, xp: ModuleType) -> Any:
    """Taylor approximation of ``a_n^{1/2}`` (or ``a_n^{-1/2}`` if ``inverse``) for normalised ``a_n``."""
    z = primitives.eye_like(a_n, xp=xp) - a_n
    coeffs = taylor_floats(degree, inverse)
    return matrix_polyvals([coeffs], z, xp=xp)[0]
