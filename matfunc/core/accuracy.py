r"""What each method can produce for positive semidefinite input: the bound behind ``check=True``'s result check.

The public entries verify a result by its residual (one or two extra batched products):

- ``sqrtm``: :math:`\rho = \|Y^2 - A\|_F / \operatorname{tr} A` (:math:`\operatorname{tr} A \ge \lambda_{max}`);
- ``inv_sqrtm``: :math:`\rho = \|W A W - I\|_F` (twice the relative error of ``W`` per eigen-direction, so it
  sees an error in the smallest eigenvalues, which the inverse root magnifies);

and raise when :math:`\rho` exceeds the residual the method can reach on *any* PSD input, plus rounding.

- ``"eig"`` and ``"newton-schulz"`` within its covered condition number are exact up to rounding: bound 0.
  ``eig`` is backward stable (``sqrtm``'s residual is a few ``n eps``); Newton–Schulz is not: its rounding error
  grows like ``eps cond(Y)``, so its residual is allowed ``sqrt(covered cond)`` times more
  (:func:`rounding_growth`; measured 3.3e-12 at cond 1e10, 18 scaled cubic steps).
  Past its coverage Newton–Schulz leaves the smallest eigenvalues unconverged, which the inverse residual
  shows at once (``rho ~ 1``); ``sqrtm``'s residual hides them, as it should: their share of
  ``||Y - A^{1/2}||_F`` is below ``(covered cond)^{-1/2}``.
- ``"taylor"``/``"pade"`` are rational functions ``r`` of ``A_n = A / c`` (spectrum in (0, 1]): per eigenvalue the
  residual is ``|r(l)^2 - l|`` (``|l r(l)^2 - 1|`` for the inverse), and its maximum over ``[0, 1]`` is their
  documented worst case. In Frobenius norm relative to ``tr(A) >= lambda_max`` that is at most
  ``sqrt(n) * n^(1/16)`` times larger (``c`` overestimates ``lambda_max`` by ``n^(1/16)`` at most; at most ``n``
  eigenvalues share it).

A residual above the bound therefore means the input is not what the method assumes: indefinite (a
negative eigenvalue has no real root, and no method can match it), or too ill-conditioned for the iteration.
"""

from __future__ import annotations

from functools import cache

from .coefficients import pade_coefficients, taylor_coefficients
from .options import Options

__all__ = ["residual_bound", "rounding_growth"]

_GRID = 4096


def _polyval(coeffs: tuple[float, ...], z: float) -> float:
    acc = 0.0
    for c in reversed(coeffs):
        acc = acc * z + c
    return acc


@cache
def _scalar_bound(method: str, degree: int | tuple[int, int], inverse: bool) -> float:
    """``max_{l in [0, 1]}`` of the scalar residual of the method's approximant ``r`` of ``l^{1/2}``
    (``l^{-1/2}`` if ``inverse``), on a fine grid refined towards ``l = 0`` where it peaks."""
    if method == "taylor":
        from fractions import Fraction

        power = Fraction(-1, 2) if inverse else Fraction(1, 2)
        c = tuple(float(x) for x in taylor_coefficients(int(degree), power))

        def r(z: float) -> float:
            return _polyval(c, z)
    else:
        p, q = pade_coefficients(*degree)
        pf, qf = tuple(float(x) for x in p), tuple(float(x) for x in q)

        def r(z: float) -> float:
            num, den = _polyval(pf, z), _polyval(qf, z)
            return den / num if inverse else num / den

    grid = [0.0] + [10.0 ** (-12 * (1 - k / _GRID)) for k in range(_GRID + 1)] + [k / _GRID for k in range(_GRID + 1)]
    if inverse:
        return max(abs(lam * r(1.0 - lam) ** 2 - 1.0) for lam in grid)
    return max(abs(r(1.0 - lam) ** 2 - lam) for lam in grid)


def rounding_growth(opts: Options) -> float:
    """How much more rounding than a backward-stable method the ``sqrtm`` residual may carry: ``cond(Y)``
    up to the iteration's covered condition number (:meth:`.Options.covered_condition`, in the steps
    of its schedule) for Newton–Schulz, 1 otherwise. (The ``inv_sqrtm``
    residual's rounding is estimated from the result itself, ``||W||^2 ||A||``.)"""
    if opts.method != "newton-schulz" or opts.inverse:
        return 1.0
    return min(opts.covered_condition(), 1.0 / opts.eps) ** 0.5


def residual_bound(opts: Options, n: int) -> float:
    """The largest relative residual ``rho`` (module docstring) that ``opts.method`` gives on PSD ``n x n``
    input in exact arithmetic; rounding is added by the caller."""
    if opts.method in ("eig", "newton-schulz"):
        return 0.0
    return 2.0 * n**0.5 * _scalar_bound(opts.method, opts.degree, opts.inverse)
