"""Static scalars of the methods: Taylor and Padé coefficients, Newton–Schulz step schedules.

Everything here is plain Python (exact rationals from :mod:`fractions` and floats), computed once per
parameter set and cached. Nothing depends on array values, so kernels stay ``jax.jit``-safe.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache
from itertools import pairwise

__all__ = [
    "taylor_coefficients",
    "pade_coefficients",
    "pade_is_spd",
    "ns_schedule",
    "ns_iters_for_condition",
    "ns_condition_covered",
    "MAX_STEP_SCALE",
]

SQRT = Fraction(1, 2)
INV_SQRT = Fraction(-1, 2)


@cache
def taylor_coefficients(degree: int, power: Fraction = SQRT) -> tuple[Fraction, ...]:
    """Coefficients ``c_0..c_degree`` of ``(1 - z)**power = sum_k c_k z**k``, exactly.

    ``c_k = binom(power, k) (-1)**k``, built by the ratio ``c_k / c_{k-1} = (k - 1 - power) / k``.
    """
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    c = [Fraction(1)]
    for k in range(1, degree + 1):
        c.append(c[-1] * (k - 1 - power) / k)
    return tuple(c)


def _solve_exact(m: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction]:
    """Gaussian elimination over the rationals (small systems only)."""
    n = len(rhs)
    aug = [row[:] + [r] for row, r in zip(m, rhs, strict=True)]
    for col in range(n):
        piv = next((r for r in range(col, n) if aug[r][col] != 0), None)
        if piv is None:
            raise ValueError("singular Padé system: this [m/n] approximant does not exist")
        aug[col], aug[piv] = aug[piv], aug[col]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                f = aug[r][col] / aug[col][col]
                aug[r] = [x - f * y for x, y in zip(aug[r], aug[col], strict=True)]
    return [aug[i][n] / aug[i][i] for i in range(n)]


@cache
def pade_coefficients(
    m: int, n: int, power: Fraction = SQRT
) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    """Exact ``[m/n]`` Padé approximant ``p(z) / q(z)`` of ``(1 - z)**power`` at ``z = 0``.

    Returns ``(p, q)``, ascending coefficients, normalised by ``q_0 = 1``. The denominator solves the
    Toeplitz system ``sum_{j=0..n} q_j c_{m+i-j} = 0`` for ``i = 1..n``; then ``p_i = sum_j q_j c_{i-j}``.
    For ``power = 1/2`` and ``m = n = 5`` this gives the paper's coefficients
    (p = 1, -11/4, 11/4, -77/64, 55/256, -11/1024; q = 1, -9/4, 7/4, -35/64, 15/256, -1/1024).
    """
    if m < 0 or n < 0:
        raise ValueError(f"Padé orders must be >= 0, got [{m}/{n}]")
    c = taylor_coefficients(m + n, power)

    def coef(k: int) -> Fraction:
        return c[k] if k >= 0 else Fraction(0)

    if n:
        mat = [[coef(m + i - j) for j in range(1, n + 1)] for i in range(1, n + 1)]
        q_tail = _solve_exact(mat, [-coef(m + i) for i in range(1, n + 1)])
    else:
        q_tail = []
    q = (Fraction(1), *q_tail)
    p = tuple(sum((q[j] * coef(i - j) for j in range(min(i, n) + 1)), Fraction(0)) for i in range(m + 1))
    return p, q


def _poly_rem(a: list[Fraction], b: list[Fraction]) -> list[Fraction]:
    """Remainder of ``a / b`` (coefficients lowest degree first, ``b[-1] != 0``)."""
    a = list(a)
    while len(a) >= len(b):
        f = a[-1] / b[-1]
        shift = len(a) - len(b)
        for i, bi in enumerate(b):
            a[shift + i] -= f * bi
        a.pop()
        while a and a[-1] == 0:
            a.pop()
    return a


def _sign_changes(seq: list[list[Fraction]], x: Fraction) -> int:
    values = [sum((c * x**k for k, c in enumerate(p)), Fraction(0)) for p in seq]
    signs = [v > 0 for v in values if v != 0]
    return sum(1 for u, v in pairwise(signs) if u != v)


def _positive_on_unit_interval(coeffs: tuple[Fraction, ...]) -> bool:
    """Whether the polynomial is > 0 on [0, 1], decided exactly (Sturm's theorem on rationals)."""
    p = list(coeffs)
    while len(p) > 1 and p[-1] == 0:
        p.pop()
    if p[0] <= 0 or sum(p) <= 0:  # value at 0 and at 1
        return False
    if len(p) == 1:
        return True
    seq = [p, [k * c for k, c in enumerate(p)][1:]]
    while len(seq[-1]) > 1:
        r = _poly_rem(seq[-2], seq[-1])
        if not r:
            break
        seq.append([-c for c in r])
    # Distinct roots in (0, 1] = V(0) - V(1); none means no sign change on [0, 1].
    return _sign_changes(seq, Fraction(0)) == _sign_changes(seq, Fraction(1))


@cache
def pade_is_spd(m: int, n: int) -> tuple[bool, bool]:
    """Whether ``p(Z)`` and ``q(Z)`` are symmetric positive definite for symmetric ``Z`` with spectrum in [0, 1].

    True when the polynomial is positive on [0, 1], decided exactly in rational arithmetic (a Sturm
    sequence; pure Python, so it traces under ``torch.compile``). Checked once per order; Cholesky is used
    only where it holds.
    """
    p, q = pade_coefficients(m, n)
    return _positive_on_unit_interval(p), _positive_on_unit_interval(q)


# --- Newton–Schulz step schedule --------------------------------------------------------------------
#
# Coupled NS keeps Y_k = A p_k(A), Z_k = q_k(A) with Z_k Y_k = A r_k(A); on an eigenvalue x of the
# normalised matrix the product evolves by the scalar map  x -> g(a x),  g(x) = x (3 - x)^2 / 4,
# where ``a`` is this step's scale (the step is T = sqrt(a)/2 (3I - a Z Y)). g maps (0, 3) into (0, 1]
# with fixed point 1. Plain NS (a = 1) grows small eigenvalues by only 9/4 per step; choosing a from
# the interval [l, u] the spectrum is known to lie in, so that g(a l) = g(a u), grows them by up to
# 27/4 per step (Chen & Chow's scaled Newton–Schulz). Scales near 3 send the top of the spectrum close
# to 0 and cost digits, so a is capped at MAX_STEP_SCALE: measured at n = 64, float64, the cap 2.5
# keeps eigh-level accuracy (2.5e-13 at cond 1e8) in 15 steps where plain NS needs 28. The cap also
# leaves room for the spectral-scale estimate to undershoot the top eigenvalue by up to 3/2.5 - 1 = 20%.

MAX_STEP_SCALE = 2.5


def _g(x: float) -> float:
    return x * (3.0 - x) ** 2 / 4.0


def _step_scale(lo: float, hi: float) -> float:
    # a with g(a lo) = g(a hi), i.e. a = 3 / (lo + sqrt(lo hi) + hi); capped.
    return min(3.0 / (lo + math.sqrt(lo * hi) + hi), MAX_STEP_SCALE)


def _run_schedule(lo: float, num_iters: int) -> tuple[tuple[float, ...], float]:
    hi = 1.0
    scales = []
    for _ in range(num_iters):
        a = _step_scale(lo, hi)
        scales.append(a)
        g_lo, g_hi = _g(a * lo), _g(a * hi)
        lo, hi = min(g_lo, g_hi), (1.0 if a * lo <= 1.0 <= a * hi else max(g_lo, g_hi))
    return tuple(scales), lo


def _converged(lo: float, eps: float) -> bool:
    return 1.0 - lo <= eps


@cache
def ns_iters_for_condition(cond: float, eps: float) -> int:
    """Smallest number of scaled NS steps that maps the spectrum ``[1/cond, 1]`` to within ``eps`` of 1."""
    if cond < 1.0:
        raise ValueError(f"condition number must be >= 1, got {cond}")
    for k in range(1, 200):
        if _converged(_run_schedule(1.0 / cond, k)[1], eps):
            return k
    raise ValueError(f"condition number {cond:g} is out of reach of Newton–Schulz in float precision")


@cache
def ns_condition_covered(num_iters: int, eps: float) -> float:
    """Largest condition number whose normalised spectrum ``num_iters`` steps bring within ``eps`` of 1.

    Found by bisection on ``log(cond)``; 1.0 when even a perfectly conditioned matrix is not reached.
    """
    if num_iters < 1 or not _converged(_run_schedule(1.0, num_iters)[1], eps):
        return 1.0
    lo_log, hi_log = 0.0, 300.0  # log10(cond)
    if _converged(_run_schedule(10.0**-hi_log, num_iters)[1], eps):
        return 10.0**hi_log
    for _ in range(60):
        mid = (lo_log + hi_log) / 2
        if _converged(_run_schedule(10.0**-mid, num_iters)[1], eps):
            lo_log = mid
        else:
            hi_log = mid
    return 10.0**lo_log


@cache
def ns_schedule(num_iters: int, eps: float) -> tuple[float, ...]:
    """Per-step scales for ``num_iters`` coupled NS (or sign) steps, chosen for the widest spectrum they
    can bring to convergence (``[1/ns_condition_covered(num_iters, eps), 1]``)."""
    if num_iters < 0:
        raise ValueError(f"num_iters must be >= 0, got {num_iters}")
    if num_iters == 0:
        return ()
    cond = ns_condition_covered(num_iters, eps)
    # A spectrum no step count can fully converge still gets the schedule for it (progress, not failure).
    return _run_schedule(1.0 / max(cond, 1.0), num_iters)[0]


def _series_matches(p: tuple[Fraction, ...], q: tuple[Fraction, ...], c: tuple[Fraction, ...]) -> bool:
    """Whether ``p - q * c`` vanishes through ``len(c) - 1`` (the Padé conditions)."""
    for k in range(len(c)):
        qc = sum((q[j] * c[k - j] for j in range(min(k, len(q) - 1) + 1)), Fraction(0))
        if (p[k] if k < len(p) else Fraction(0)) != qc:
            return False
    return True


@cache
def geometric_pade_coefficients(order: int) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    """The ``[order/order]`` Padé approximant of the truncated geometric series ``sum_{k<=2 order} x^k``.

    This is the rational function of the ICCV 2021 SVD-Padé gradient. Padé approximants are unique, and
    ``1/(1 - x)`` matches all ``2 order + 1`` coefficients, so the approximant *is* ``1/(1 - x)`` (the Padé
    table of a rational function has a degenerate block, where the usual Toeplitz system is singular).
    Found here exactly: the smallest denominator degree whose approximant meets every condition.
    """
    c = tuple(Fraction(1) for _ in range(2 * order + 1))
    for n in range(order + 1):
        m = order
        if n:
            mat = [[c[m + i - j] if m + i - j >= 0 else Fraction(0) for j in range(1, n + 1)] for i in range(1, n + 1)]
            try:
                tail = _solve_exact(mat, [-c[m + i] for i in range(1, n + 1)])
            except ValueError:
                continue
        else:
            tail = []
        q = (Fraction(1), *tail)
        p = tuple(sum((q[j] * c[i - j] for j in range(min(i, n) + 1)), Fraction(0)) for i in range(m + 1))
        if _series_matches(p, q, c):
            while len(p) > 1 and p[-1] == 0:
                p = p[:-1]
            return p, q
    raise ValueError(f"no [{order}/{order}] Padé approximant of the geometric series")
