r"""Matrix-product kernels of the family around the square root (GPU-friendly: products and SPD solves only).

- :func:`newton_inv_root`: coupled Newton iteration for :math:`A_n^{-1/q}` (the Shampoo method), with the scaled
  step schedule of :func:`.coefficients.newton_root_schedule`:

  .. math:: X_0 = I,\ M_0 = A_n;\quad T_k = \frac{a_k^{1/q}}{q}\big((q+1)I - a_k M_k\big);\quad
            X_{k+1} = X_k T_k,\ M_{k+1} = T_k^q M_k,

  so that :math:`M_k = X_k^q A_n \to I` and :math:`X_k \to A_n^{-1/q}`. For ``q = 2`` it is the coupled
  Newton–Schulz iteration's ``Z`` (same map, same schedule).
- :func:`log_pade`: :math:`\log(I + X) = \sum_j w_j X (I + t_j X)^{-1}`, the ``m``-point Gauss–Legendre rule
  (the ``[m/m]`` Padé approximant in partial fractions): ``m`` Cholesky solves. :func:`log_pade_vjp` is its
  exact VJP, :math:`\sum_j w_j M_j^{-1} \operatorname{sym}(G) M_j^{-1}` (the terms commute with ``X``).
- :func:`expm1_squaring`: :math:`e^{B} - I` by a degree-``m`` Taylor polynomial (Paterson–Stockmeyer) at
  :math:`B / 2^s`, then ``s`` squarings written on :math:`E = e^{B} - I`: :math:`E \leftarrow 2E + E^2`. That keeps
  relative accuracy where :math:`e^{B} \approx I` (heavy scaling): squaring :math:`I + E` directly rounds the
  small ``E`` against ``I`` at every step and loses ``2^s`` units.

The inverse scaling and squaring ``logm`` and the dyadic ``powm`` chains take their square roots from the
public :func:`matfunc.sqrtm` (its Newton–Schulz kernel and its Lyapunov backward); see :mod:`matfunc._family`.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from . import primitives
from .coefficients import gauss_legendre, newton_root_schedule

__all__ = [
    "newton_inv_root",
    "newton_root_matmuls",
    "matrix_power",
    "log_pade",
    "log_pade_vjp",
    "expm1_taylor",
    "expm1_squaring",
]


def matrix_power(x: Any, k: int, /) -> Any:
    """``x**k`` for an integer ``k >= 1`` by binary powering (``floor(log2 k) + popcount(k) - 1`` products)."""
    if k < 1:
        raise ValueError(f"matrix_power needs k >= 1, got {k}")
    result, base = None, x
    while k:
        if k & 1:
            result = base if result is None else result @ base
        k >>= 1
        if k:
            base = base @ base
    return result


def _power_products(k: int) -> int:
    return k.bit_length() - 1 + bin(k).count("1") - 1


def newton_root_matmuls(q: int, num_iters: int) -> int:
    """Matrix products of :func:`newton_inv_root`: per step ``X T`` and ``T^q M`` (the first step has
    ``X = I``, the last skips ``M``)."""
    if num_iters <= 0:
        return 0
    per = 1 + _power_products(q) + 1
    return num_iters * per - 1 - (_power_products(q) + 1)


def newton_inv_root(a_n: Any, /, *, q: int, num_iters: int, eps: float, xp: ModuleType) -> Any:
    """``A_n^{-1/q}`` for symmetric ``a_n`` with spectrum in (0, 1], by ``num_iters`` scaled coupled Newton steps."""
    eye = primitives.eye_like(a_n, xp=xp)
    x, m = None, a_n
    scales = newton_root_schedule(q, num_iters, eps)
    for k, a in enumerate(scales):
        t = (a ** (1.0 / q) / q) * ((q + 1.0) * eye - a * m)
        x = t if x is None else x @ t
        if k + 1 < len(scales):
            m = primitives.sym(matrix_power(t, q) @ m)
    return eye if x is None else primitives.sym(x)


def log_pade(x: Any, /, *, m: int, xp: ModuleType) -> Any:
    """``log(I + x)`` for symmetric ``x`` with spectrum in (-1, inf), by the ``m``-point Gauss–Legendre rule."""
    nodes, weights = gauss_legendre(m)
    eye = primitives.eye_like(x, xp=xp)
    acc = None
    for t, w in zip(nodes, weights, strict=True):
        term = w * primitives.spd_solve(eye + t * x, x, xp=xp)
        acc = term if acc is None else acc + term
    return primitives.sym(acc)


def log_pade_vjp(x: Any, g: Any, /, *, m: int, xp: ModuleType) -> Any:
    """VJP of :func:`log_pade` at ``x`` for the cotangent ``g``: ``sum_j w_j M_j^{-1} sym(g) M_j^{-1}``,
    ``M_j = I + t_j x`` (``X M_j^{-1} = (I - M_j^{-1}) / t_j`` has derivative ``M_j^{-1} dX M_j^{-1}``)."""
    nodes, weights = gauss_legendre(m)
    eye = primitives.eye_like(x, xp=xp)
    g = primitives.sym(g)
    acc = None
    for t, w in zip(nodes, weights, strict=True):
        mj = eye + t * x
        k = primitives.spd_solve(mj, g, xp=xp)
        term = w * primitives.spd_solve(mj, primitives.mH(k), xp=xp)
        acc = term if acc is None else acc + term
    return primitives.sym(acc)


def expm1_taylor(b: Any, /, *, degree: int, xp: ModuleType) -> Any:
    """``sum_{i=1..degree} b^i / i!`` by Paterson–Stockmeyer: powers ``b^1..b^r`` (``r ~ sqrt(degree)``), then
    Horner in ``b^r``."""
    coeffs = [0.0] + [1.0 / math.factorial(i) for i in range(1, degree + 1)]
    r = max(1, math.isqrt(degree))
    eye = primitives.eye_like(b, xp=xp)
    powers = [eye, b]
    for _ in range(2, r + 1):
        powers.append(powers[-1] @ b)
    top = powers[r]
    chunks = [coeffs[i : i + r] for i in range(0, degree + 1, r)]
    acc = None
    for chunk in reversed(chunks):
        part = None
        for j, c in enumerate(chunk):
            if c == 0.0:
                continue
            term = c * powers[j]
            part = term if part is None else part + term
        if acc is None:
            acc = part
        else:
            acc = acc @ top if part is None else primitives.matmul_add(part, acc, top, xp=xp)
    return acc


def expm1_squaring(b: Any, /, *, degree: int, squarings: int, xp: ModuleType) -> Any:
    """``exp(b) - I`` for symmetric ``b``: Taylor at ``b / 2^s``, then ``E <- 2E + E^2`` ``s`` times."""
    e = expm1_taylor(b * (0.5**squarings), degree=degree, xp=xp)
    for _ in range(squarings):
        e = primitives.matmul_add(e, e, e, beta=2.0, xp=xp)
    return primitives.sym(e)
