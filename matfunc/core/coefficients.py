"""Static scalars of the methods: Taylor and Padé coefficients, Newton–Schulz step schedules.

Everything here is plain Python (exact rationals from :mod:`fractions` and floats), computed once per
parameter set and cached. Nothing depends on array values, so kernels stay ``jax.jit``-safe.

:data:`CONSTANT_RESULTS` lists the functions whose results are plain floats and bools, memoised by a plain dict
(``_memo``) rather than ``functools.cache``: a framework that traces Python (``torch.compile``) may call them
at trace time and keep their results as constants (the exact-rational ones return :class:`~fractions.Fraction`
objects, which it cannot keep; kernels read their float versions).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from functools import cache, wraps
from itertools import pairwise
from typing import Any, TypeVar

__all__ = [
    "taylor_coefficients",
    "pade_coefficients",
    "pade_is_spd",
    "ns_schedule",
    "ns_iters_for_condition",
    "ns_condition_covered",
    "MAX_STEP_SCALE",
    "taylor_floats",
    "pade_floats",
    "geometric_pade_floats",
    "CONSTANT_RESULTS",
]

_F = TypeVar("_F", bound=Callable[..., object])


def _memo(fn: _F) -> _F:
    """``functools.cache`` for positional arguments as a plain function over a dict. torch.compile (dynamo)
    warns at every call to an ``lru_cache`` wrapper it traces; a plain function it can be told to call as a
    constant (:data:`CONSTANT_RESULTS`)."""
    table: dict[tuple[object, ...], object] = {}

    @wraps(fn)
    def memo(*args: object) -> object:
        if args not in table:
            table[args] = fn(*args)
        return table[args]

    return memo  # type: ignore[return-value]


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
def pade_coefficients(m: int, n: int, power: Fraction = SQRT) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
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


@_memo
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


@_memo
def ns_iters_for_condition(cond: float, eps: float) -> int:
    """Smallest number of scaled NS steps that maps the spectrum ``[1/cond, 1]`` to within ``eps`` of 1."""
    if cond < 1.0:
        raise ValueError(f"condition number must be >= 1, got {cond}")
    for k in range(1, 200):
        if _converged(_run_schedule(1.0 / cond, k)[1], eps):
            return k
    raise ValueError(f"condition number {cond:g} is out of reach of Newton–Schulz in float precision")


@_memo
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


@_memo
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


# --- float versions for the kernels ---------------------------------------------------------------------


@_memo
def taylor_floats(degree: int, inverse: bool) -> tuple[float, ...]:
    """:func:`taylor_coefficients` of ``(1 - z)^{1/2}`` (``inverse``: ``^{-1/2}``) as floats."""
    return tuple(float(c) for c in taylor_coefficients(degree, INV_SQRT if inverse else SQRT))


@_memo
def pade_floats(m: int, n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """:func:`pade_coefficients` ``[m/n]`` of ``(1 - z)^{1/2}`` as floats ``(p, q)``."""
    p, q = pade_coefficients(m, n)
    return tuple(float(c) for c in p), tuple(float(c) for c in q)


@_memo
def geometric_pade_floats(order: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """:func:`geometric_pade_coefficients` as floats ``(p, q)``."""
    p, q = geometric_pade_coefficients(order)
    return tuple(float(c) for c in p), tuple(float(c) for c in q)


#: Pure functions of Python scalars with float/bool results (memoised by ``_memo``): safe to evaluate once at
#: trace time and keep as constants.
CONSTANT_RESULTS: tuple[Callable[..., Any], ...] = (
    pade_is_spd,
    ns_iters_for_condition,
    ns_condition_covered,
    ns_schedule,
    taylor_floats,
    pade_floats,
    geometric_pade_floats,
)


# --- round 2: the matrix-function family (powm / logm / expm), appended -------------------------------------
#
# Coupled Newton for the inverse q-th root (matfunc.core.family.newton_inv_root). With X_k^q A = M_k (all
# polynomials in A, so they commute), the scaled step T = a^(1/q) ((q+1) I - a M) / q, X <- X T, M <- T^q M maps
# an eigenvalue m of M by  m -> g_q(a m),  g_q(x) = x ((q + 1 - x) / q)^q,  whose fixed point is 1 (g_q <= 1 on
# (0, q + 1), maximal at 1). For q = 2 this is the Newton–Schulz map and the schedule below is ns_schedule's.
# Plain steps (a = 1) grow small eigenvalues by ((q+1)/q)^q (2.25 .. e) per step; the scale a with
# g_q(a lo) = g_q(a hi) grows them faster, capped where g_q(a hi) drops to NS's g_2(2.5) = 0.156.


def _g_root(x: float, q: int) -> float:
    return x * ((q + 1.0 - x) / q) ** q


@_memo
def _root_cap(q: int) -> float:
    """The ``x > 1`` with ``g_q(x) = g_2(2.5)``: NS's cap (``MAX_STEP_SCALE``) carried to ``q``, by bisection."""
    target, left, right = _g(MAX_STEP_SCALE), 1.0, q + 1.0
    for _ in range(200):
        mid = 0.5 * (left + right)
        left, right = (mid, right) if _g_root(mid, q) > target else (left, mid)
    return left


def _root_step_scale(lo: float, hi: float, q: int) -> float:
    cap = _root_cap(q) / hi
    if hi <= lo * (1 + 1e-15):
        return min(1.0 / hi, cap)
    # g(a lo) - g(a hi) changes sign once on [1/hi, 1/lo]: bisection (plain Python, jit-safe constants)
    left, right = 1.0 / hi, min(1.0 / lo, cap)
    if _g_root(right * lo, q) <= _g_root(right * hi, q):
        return right
    for _ in range(64):
        mid = 0.5 * (left + right)
        if _g_root(mid * lo, q) < _g_root(mid * hi, q):
            left = mid
        else:
            right = mid
    return min(0.5 * (left + right), cap)


def _run_root_schedule(lo: float, num_iters: int, q: int) -> tuple[tuple[float, ...], float]:
    hi = 1.0
    scales = []
    for _ in range(num_iters):
        a = _root_step_scale(lo, hi, q)
        scales.append(a)
        g_lo, g_hi = _g_root(a * lo, q), _g_root(a * hi, q)
        lo, hi = min(g_lo, g_hi), (1.0 if a * lo <= 1.0 <= a * hi else max(g_lo, g_hi))
    return tuple(scales), lo


def _root_converged(lo: float, eps: float) -> bool:
    # 8 units of slack: "within eps of 1" is a knife edge in the scalar model (a few ulps decide it, so the set of
    # converged conditions has holes); the matrix iteration rounds at n eps anyway.
    return 1.0 - lo <= 8.0 * eps


@_memo
def newton_root_covered(q: int, num_iters: int, eps: float) -> float:
    """Largest ``K`` such that ``num_iters`` scaled coupled-Newton steps for ``A^{-1/q}`` converge for every
    condition number up to ``K`` (scanned upwards in steps of 0.1 decade from 1, then bisected)."""

    def ok(log_cond: float) -> bool:
        return _root_converged(_run_root_schedule(10.0**-log_cond, num_iters, q)[1], eps)

    if num_iters < 1 or not ok(0.0):
        return 1.0
    good = 0.0
    while good < 300.0 and ok(good + 0.1):
        good += 0.1
    if good >= 300.0:
        return 10.0**300
    bad = good + 0.1
    for _ in range(30):
        mid = (good + bad) / 2
        good, bad = (mid, bad) if ok(mid) else (good, mid)
    return 10.0**good


@_memo
def newton_root_iters(q: int, cond: float, eps: float) -> int:
    """Smallest number of scaled coupled-Newton steps for ``A^{-1/q}`` whose :func:`newton_root_covered` reaches
    ``cond`` (the normalised spectrum ``[1/cond, 1]`` is brought to within ``8 eps`` of 1)."""
    if cond < 1.0:
        raise ValueError(f"condition number must be >= 1, got {cond}")
    for k in range(1, 200):
        if newton_root_covered(q, k, eps) >= cond:
            return k
    raise ValueError(f"condition number {cond:g} is out of reach of the coupled Newton iteration in float precision")


@_memo
def newton_root_schedule(q: int, num_iters: int, eps: float) -> tuple[float, ...]:
    """Per-step scales of ``num_iters`` coupled-Newton steps for ``A^{-1/q}`` (widest spectrum they converge)."""
    if num_iters <= 0:
        return ()
    return _run_root_schedule(1.0 / max(newton_root_covered(q, num_iters, eps), 1.0), num_iters, q)[0]


@_memo
def gauss_legendre(m: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Nodes and weights of the ``m``-point Gauss–Legendre rule on [0, 1] (Newton on ``P_m``, plain Python).

    ``log(1 + x) = int_0^1 x / (1 + t x) dt``: the rule is the ``[m/m]`` Padé approximant of ``log(1 + x)`` at 0
    in partial fractions (Dieci, Morini, Papini 1996), used by :func:`matfunc.core.family.log_pade`."""
    if m < 1:
        raise ValueError(f"number of Gauss–Legendre nodes must be >= 1, got {m}")
    nodes, weights = [], []
    for i in range(1, m + 1):
        x = math.cos(math.pi * (i - 0.25) / (m + 0.5))
        for _ in range(100):
            p0, p1 = 1.0, x
            for k in range(2, m + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            if m == 1:
                p0, p1 = 1.0, x
            dp = m * (x * p1 - p0) / (x * x - 1.0)
            step = p1 / dp
            x -= step
            if abs(step) < 1e-17:
                break
        p0, p1 = 1.0, x
        for k in range(2, m + 1):
            p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
        dp = m * (x * p1 - p0) / (x * x - 1.0)
        nodes.append((1.0 - x) / 2.0)
        weights.append(1.0 / ((1.0 - x * x) * dp * dp))  # 2 / ((1 - x^2) P'^2), halved for [0, 1]
    return tuple(nodes), tuple(weights)


@_memo
def log_pade_error(m: int, rho: float) -> float:
    """Largest error of the ``m``-point rule for ``log(1 + x)`` over ``1 + x`` in ``[1/rho, rho]`` (scalar model,
    in double precision: the endpoints are where a Padé approximant at 0 is worst)."""
    nodes, weights = gauss_legendre(m)
    err = 0.0
    for y in (1.0 / rho, rho):
        x = y - 1.0
        approx = sum(w * x / (1.0 + t * x) for t, w in zip(nodes, weights, strict=True))
        err = max(err, abs(approx - math.log(y)))
    return err


@_memo
def iss_parameters(cond: float, eps: float) -> tuple[int, int]:
    """``(s, m)`` for the inverse scaling and squaring ``logm`` of a spectrum ``[1/cond, 1]``: ``s`` square roots
    bring it to ``[1/rho, rho]`` around the centre ``cond^(-1/2^(s+1))`` (``rho = cond^(1/2^(s+1))``), then the
    ``m``-point rule with ``2^s * error <= eps`` (the roots multiply the logarithm's error by ``2^s``).
    Fewest roots with at most 8 nodes (a node is a Cholesky solve, about the cost of 10 products; a root a
    Newton–Schulz square root, 20 to 40), then fewest nodes."""
    for s in range(0, 12):
        rho = cond ** (1.0 / 2 ** (s + 1))
        for m in range(1, 9):
            if 2**s * log_pade_error(m, rho) <= eps * max(1.0, math.log(cond)):
                return s, m
    raise ValueError(f"condition number {cond:g} is out of reach of the inverse scaling and squaring logm")


@_memo
def expm_taylor_parameters(spread: float, eps: float) -> tuple[int, int]:
    """``(m, s)`` for the scaling and squaring ``expm``: Taylor degree ``m`` of ``expm1`` and ``s`` squarings so that
    a spectrum of width ``spread`` (``lambda_max - lambda_min``) has ``2^s theta^(m+1)/(m+1)! <= eps max(1, spread)``
    with ``theta = spread / 2^s`` (the truncation error in the exponent, magnified by the squarings). The degree
    is fixed per precision (12 in float64, 8 in float32: 6 and 5 products by Paterson–Stockmeyer)."""
    m = 12 if eps < 1e-10 else 8
    for s in range(0, 64):
        theta = spread / 2**s
        if 2**s * theta ** (m + 1) / math.factorial(m + 1) <= eps * max(1.0, spread):
            return m, s
    raise ValueError(f"spectral spread {spread:g} is out of reach of scaling and squaring")


CONSTANT_RESULTS = (
    *CONSTANT_RESULTS,
    newton_root_iters,
    newton_root_covered,
    newton_root_schedule,
    gauss_legendre,
    log_pade_error,
    iss_parameters,
    expm_taylor_parameters,
)
