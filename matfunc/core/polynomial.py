"""Evaluation of matrix polynomials with few matrix products (Paterson–Stockmeyer).

Several polynomials in the same matrix (Padé's numerator and denominator) share one table of powers
``Z^2 .. Z^s``; each is then evaluated by Horner's rule in ``Z^s`` on blocks of ``s`` coefficients. The
block size ``s`` minimises the number of matrix products: ``(s - 1) + k (ceil((d + 1) / s) - 1)`` for
``k`` polynomials of degree ``d`` (degree 10 alone: 5 products instead of 9; Padé [5/5]: 4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from . import primitives

__all__ = ["matrix_polyvals", "matmul_count"]


def _block_size(degree: int, count: int) -> int:
    if degree <= 1:
        return 1
    return min(range(1, degree + 2), key=lambda s: (s - 1) + count * (math.ceil((degree + 1) / s) - 1))


def matmul_count(degree: int, count: int = 1) -> int:
    """Matrix products :func:`matrix_polyvals` spends on ``count`` polynomials of this degree."""
    s = _block_size(degree, count)
    return (s - 1) + count * (math.ceil((degree + 1) / s) - 1)


def _block(coeffs: Sequence[float], powers: list[Any], eye: Any) -> Any:
    # sum_j coeffs[j] Z^j for j < s, from the shared power table (powers[0] = Z).
    out = coeffs[0] * eye
    for j, c in enumerate(coeffs[1:], start=1):
        if c != 0.0:
            out = out + c * powers[j - 1]
    return out


def matrix_polyvals(coeff_lists: Sequence[Sequence[float]], z: Any, /, *, xp: ModuleType) -> list[Any]:
    """Evaluate ``sum_k c[k] Z^k`` for each ascending coefficient list in ``coeff_lists``."""
    degree = max(len(c) for c in coeff_lists) - 1
    s = _block_size(degree, len(coeff_lists))
    eye = primitives.eye_like(z, xp=xp)
    powers = [z]
    for _ in range(2, s + 1):
        powers.append(powers[-1] @ z)
    zs = powers[-1]
    results = []
    for coeffs in coeff_lists:
        coeffs = [float(c) for c in coeffs]
        blocks = [coeffs[i : i + s] for i in range(0, len(coeffs), s)]
        acc = _block(blocks[-1], powers, eye)
        for blk in reversed(blocks[:-1]):
            acc = primitives.matmul_add(_block(blk, powers, eye), zs, acc, xp=xp)
        results.append(acc)
    return results
