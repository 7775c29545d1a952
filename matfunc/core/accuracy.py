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

import math
from collections.abc import Callable
from functools import cache
from typing import cast

from .coefficients import pade_coefficients, taylor_coefficients
from .newton_schulz import LOW_COVERED, LOW_EPS
from .options import Options

__all__ = ["residual_bound", "rounding_growth", "covered", "forward_bound", "CERTIFY"]

_GRID = 4096


def _polyval(coeffs: tuple[float, ...], z: float) -> float:
    acc = 0.0
    for c in reversed(coeffs):
        acc = acc * z + c
    return acc


@cache
def _grid() -> tuple[float, ...]:
    """Points of [0, 1], refined towards 0 where the residuals peak."""
    return (0.0, *(10.0 ** (-12 * (1 - k / _GRID)) for k in range(_GRID + 1)), *(k / _GRID for k in range(_GRID + 1)))


def _approximant(method: str, degree: int | tuple[int, int], inverse: bool) -> Callable[[float], float]:
    """The method's scalar approximant ``r(z)`` of ``(1 - z)^{1/2}`` (``^{-1/2}`` if ``inverse``), from the
    coefficients the kernels use."""
    if method == "taylor":
        from fractions import Fraction

        power = Fraction(-1, 2) if inverse else Fraction(1, 2)
        c = tuple(float(x) for x in taylor_coefficients(int(cast(int, degree)), power))
        return lambda z: _polyval(c, z)
    p, q = pade_coefficients(*cast("tuple[int, int]", degree))
    pf, qf = tuple(float(x) for x in p), tuple(float(x) for x in q)
    if inverse:
        return lambda z: _polyval(qf, z) / _polyval(pf, z)
    return lambda z: _polyval(pf, z) / _polyval(qf, z)


@cache
def _scalar_bound(method: str, degree: int | tuple[int, int], inverse: bool) -> float:
    """``max_{l in [0, 1]}`` of the scalar residual of the method's approximant ``r`` of ``l^{1/2}``
    (``l^{-1/2}`` if ``inverse``), on a fine grid refined towards ``l = 0`` where it peaks."""
    r = _approximant(method, degree, inverse)
    if inverse:
        return max(abs(lam * r(1.0 - lam) ** 2 - 1.0) for lam in _grid())
    return max(abs(r(1.0 - lam) ** 2 - lam) for lam in _grid())


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


#: The inverse root's residual ``||W A W - I||`` certifies the result only below this: then the relative forward
#: error of ``W`` is at most about half of it (``A^{1/2} E + E A^{1/2} = R - E A E`` for ``E = W - A^{-1/2}``) and
#: ``cond(A)`` lies within ``||A|| ||W||^2 / (1 +- ||R||)``. At or above it the check always raises.
CERTIFY = 0.5


def covered(opts: Options) -> float:
    """The condition number of ``A`` up to which ``opts`` converges, tested on the input by ``check=True``
    (``lambda_min(A) > c / covered`` with ``c >= lambda_max`` the forward's spectral scale): Newton–Schulz's
    :meth:`.Options.covered_condition`; with ``matmul_dtype`` at most twice :data:`.LOW_COVERED` (kept to that
    precision's accuracy up to it; the test's ``c`` overestimates ``lambda_max``, and the steps diverge further
    out). ``inf`` for the methods without a cover (eig, Taylor, Padé: their error is a function of the condition
    number, see :func:`forward_bound`) and for the paper's plain steps (``scale="frobenius"``, residual only)."""
    if opts.method != "newton-schulz" or opts.paper_steps:
        return math.inf
    cover = opts.covered_condition()
    if opts.matmul_dtype is not None:  # the measured LOW_COVERED is kept to its accuracy; twice it diverges at most
        cover = min(cover, 2.0 * LOW_COVERED[opts.matmul_dtype])
    return cover


def forward_bound(opts: Options, cond: float, n: int) -> float:
    """The relative forward error (2-norm, against the exact root) that ``check=True`` stands for, for a
    symmetric positive definite ``n x n`` input of condition number ``cond`` that passed the check:

    - ``"eig"``, and ``"newton-schulz"`` in full precision within :func:`covered`: ``n eps sqrt(cond)`` for
      ``sqrtm`` (a backward-stable eigenvalue error ``eps lambda_max`` moves ``sqrt(lambda_min)`` by
      ``eps sqrt(cond) / 2`` relative to ``||A^{1/2}||``), ``n eps cond`` for ``inv_sqrtm`` (the inverse root
      amplifies it by ``sqrt(cond)`` more). Measured at n = 64: up to 0.1 of it. A full-precision Newton–Schulz
      ``sqrtm`` past its cover (singular PSD input included, accepted): ``n eps sqrt(cover) + cover^(-1/2)``.
    - ``matmul_dtype``: ``eps_low * sqrt(cond) / 4`` (measured at most ``0.17 eps_low sqrt(cond)`` within
      :func:`covered`, n = 64 and 512), plus the full-precision bound.
    - ``"taylor"``/``"pade"``, ``sqrtm``: ``n^(1/32) max_l |r(1 - l) - l^(1/2)|`` over ``l in [0, 1]``, whatever
      ``cond`` (the branch point at ``l = 0`` bounds the error, and ``n^(1/32)`` is the overestimate of
      ``lambda_max^(1/2)`` by the spectral scale), plus the full-precision bound. ``inv_sqrtm``: no bound
      independent of ``cond`` (it grows without bound towards the branch point): ``inf``, not checked.
    """
    eps = opts.eps
    full = n * eps * (cond if opts.inverse else math.sqrt(cond))
    if opts.method in ("taylor", "pade"):
        if opts.inverse:
            return math.inf
        return n ** (1.0 / 32.0) * _scalar_forward(opts.method, opts.degree) + full
    if opts.matmul_dtype is not None:
        return LOW_EPS[opts.matmul_dtype] * math.sqrt(cond) / 4.0 + full
    cover = covered(opts)
    if opts.method == "newton-schulz" and not opts.inverse and cond > cover:  # unconverged eigenvalues < l_max/cover
        return n * eps * math.sqrt(cover) + cover**-0.5
    return full


@cache
def _scalar_forward(method: str, degree: int | tuple[int, int]) -> float:
    """``max_{l in [0, 1]} |r(1 - l) - l^(1/2)|`` of the method's approximant ``r`` of ``sqrt`` (same grid as
    :func:`_scalar_bound`)."""
    r = _approximant(method, degree, False)
    return max(abs(r(1.0 - lam) - lam**0.5) for lam in _grid())
