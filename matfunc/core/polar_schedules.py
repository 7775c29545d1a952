r"""Step schedules of the polar iterations: odd polynomials applied to the singular values.

A polar step is :math:`X \leftarrow X\,(\alpha I + \beta A + \gamma A^2)`, :math:`A = X^H X`: on a singular value
:math:`\sigma` of ``X`` it is the odd polynomial :math:`p(\sigma) = \alpha\sigma + \beta\sigma^3 + \gamma\sigma^5`,
singular vectors unchanged. A schedule is the tuple of ``(alpha, beta, gamma)`` per step; plain Python floats,
memoised, no array values (``jax.jit``-safe; :data:`CONSTANT_RESULTS` for ``torch.compile``).

- ``"newton-schulz"``: the cubic scaled Newton–Schulz step :math:`\tfrac{\sqrt a}{2}\sigma(3 - a\sigma^2)`. On
  :math:`x = \sigma^2` it is :math:`x \mapsto g(a x)`, :math:`g(x) = x(3-x)^2/4`: the map of the coupled
  Newton–Schulz square root, so :func:`.coefficients.ns_schedule` (the scales ``a``, capped at 2.5) applies
  unchanged, with the spectrum of :math:`A_n = A / c` in (0, 1]. ``scaled=False``: plain steps (``a = 1``).
- ``"polar-express"``: per step the minimax odd quintic, :math:`\min_p \max_{[l, u]} |1 - p(\sigma)|`, computed by
  the Remez exchange (four alternation points: ``l``, the two interior extrema, ``u``); the interval maps onto
  ``[1 - E, 1 + E]``, the next step's interval (Amsel, Persson, Musco, Musco, *The Polar Express*, 2025).
  Near convergence (``u - l`` below :data:`REMEZ_WIDTH`) the minimax quintic tends to the quintic
  Newton–Schulz step :math:`(15\sigma - 10\sigma^3 + 3\sigma^5)/8` (error cubic in the distance to 1), which
  is used there.
- ``"muon"``: Muon's fixed quintic ``(3.4445, -4.7750, 2.0315)`` (Jordan et al., 2024), for comparison: it
  does not converge (it sends (0.1, 1] into about [0.68, 1.13] and stays there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .coefficients import _memo, ns_condition_covered, ns_schedule  # the compile-safe memo

__all__ = [
    "cubic_schedule",
    "polar_express_schedule",
    "polar_express_covered",
    "polar_express_iters",
    "muon_schedule",
    "cubic_covered",
    "minimax_quintic",
    "schedule_bound",
    "MUON_QUINTIC",
    "QUINTIC_NS",
    "REMEZ_WIDTH",
    "CONSTANT_RESULTS",
]

Step = tuple[float, float, float]

MUON_QUINTIC: Step = (3.4445, -4.7750, 2.0315)
QUINTIC_NS: Step = (15.0 / 8.0, -10.0 / 8.0, 3.0 / 8.0)
REMEZ_WIDTH = 1e-3
SAFETY = 1.01  # margin of the low-precision steps (Polar Express)
REFINE_STEPS = 2  # final steps in the compute dtype when the others have low-precision products (at least)


def refine_steps(steps: tuple[Step, ...], eps: float) -> int:
    """Final steps in the compute dtype when the others have low-precision products: :data:`REFINE_STEPS`, or 3
    for cubic steps in float64. A cubic step near 1 squares the deviation (``1.5 d^2``), a quintic one cubes it
    (``2.5 d^3``): from what float16 steps leave (~2e-4), two cubic steps reach 1e-13, short of float64's check
    (measured: ``||U^T U - I||_F = 6.6e-13`` for a random 8 x 5 matrix); three reach 8e-16 (float16) and 3e-14
    (bfloat16, from ~1e-2), within the check's rounding allowance."""
    return REFINE_STEPS + 1 if eps < 1e-10 and steps and steps[-1][2] == 0.0 else REFINE_STEPS


def _p(step: Step, x: float) -> float:
    a, b, c = step
    x2 = x * x
    return x * (a + x2 * (b + c * x2))


def _solve4(m: list[list[float]], r: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (4 x 4, floats)."""
    n = len(r)
    aug = [row[:] + [v] for row, v in zip(m, r, strict=True)]
    for col in range(n):
        piv = max(range(col, n), key=lambda i: abs(aug[i][col]))
        aug[col], aug[piv] = aug[piv], aug[col]
        for i in range(col + 1, n):
            f = aug[i][col] / aug[col][col]
            aug[i] = [x - f * y for x, y in zip(aug[i], aug[col], strict=True)]
    out = [0.0] * n
    for i in reversed(range(n)):
        out[i] = (aug[i][n] - sum(aug[i][j] * out[j] for j in range(i + 1, n))) / aug[i][i]
    return out


@_memo
def minimax_quintic(lo: float, hi: float) -> tuple[Step, float]:
    """The odd quintic ``p`` minimising ``max_{[lo, hi]} |1 - p(x)|`` and that error ``E`` (Remez exchange).

    Equioscillation: ``p = 1 - E`` at ``lo`` and at the larger interior extremum, ``1 + E`` at the smaller one and
    at ``hi``. The interior extrema are the roots of ``p'(x) = a + 3 b x^2 + 5 c x^4`` (a quadratic in ``x^2``).
    """
    if not 0.0 < lo < hi:
        raise ValueError(f"need 0 < lo < hi, got [{lo}, {hi}]")
    if hi - lo < REMEZ_WIDTH * hi:
        near = QUINTIC_NS if abs(hi - 1.0) < REMEZ_WIDTH and abs(lo - 1.0) < REMEZ_WIDTH else None
        if near is not None:
            err = max(abs(1 - _p(near, lo)), abs(1 - _p(near, hi)), abs(1 - _p(near, 1.0)))
            return near, err
    # start: Chebyshev extrema of [lo, hi] in the variable x (geometric for wide intervals)
    if hi / lo > 10:
        pts = [lo * (hi / lo) ** (i / 3) for i in range(4)]
    else:
        pts = [(lo + hi) / 2 - (hi - lo) / 2 * math.cos(math.pi * i / 3) for i in range(4)]
    step: Step = QUINTIC_NS
    err = math.inf
    for _ in range(100):
        rows = [[x, x**3, x**5, (-1.0) ** i] for i, x in enumerate(pts)]
        a, b, c, e = _solve4(rows, [1.0, 1.0, 1.0, 1.0])  # p(x_i) + (-1)^i E = 1
        step, err = (a, b, c), abs(e)
        disc = 9 * b * b - 20 * a * c
        if c == 0 or disc < 0:
            break
        ys = sorted((-3 * b - s * math.sqrt(disc)) / (10 * c) for s in (1, -1))
        inner = [math.sqrt(y) for y in ys if y > 0]
        if len(inner) != 2 or not (lo < inner[0] < inner[1] < hi):
            break
        new = [lo, inner[0], inner[1], hi]
        if max(abs(u - v) for u, v in zip(new, pts, strict=True)) <= 1e-15 * hi:
            pts = new
            break
        pts = new
    # the true max error on the interval (the levelled E when converged)
    grid = [lo + (hi - lo) * k / 2000 for k in range(2001)] + pts
    return step, max(abs(1.0 - _p(step, x)) for x in grid)


def _express(lo: float, num_iters: int, safe: int = 0) -> tuple[tuple[Step, ...], float]:
    """Polar Express steps from ``[lo, 1]``; returns the steps and the final lower end.

    The first ``safe`` steps are applied as ``p(x / SAFETY)`` (the Polar Express paper's safeguard for low-precision
    products): a singular value that rounding pushed up to ``SAFETY`` times past the interval stays within
    ``1 + E`` instead of being sent far off by the steep quintic; the lower end then maps to ``p(lo / SAFETY)``.
    """
    hi = 1.0
    steps = []
    for i in range(num_iters):
        if lo >= hi:
            steps.append(QUINTIC_NS)
            continue
        (a, b, c), e = minimax_quintic(lo, hi)
        if i < safe:
            f = SAFETY
            step = (a / f, b / f**3, c / f**5)
            lo, hi = min(_p(step, lo), 1.0 - e), 1.0 + e
        else:
            step = (a, b, c)
            lo, hi = 1.0 - e, 1.0 + e
        steps.append(step)
    return tuple(steps), lo


def _safe(num_iters: int, low_precision: bool) -> int:
    """Steps with the ``SAFETY`` margin: all but the last :data:`REFINE_STEPS`, whatever the product precision
    (``low_precision`` is kept for the callers' signatures). Float32 products rounded to TF32 (PyTorch's
    ``set_float32_matmul_precision("high")``, JAX's GPU default) made 8 of 10 random 128 x 64 matrices diverge
    with ``lower_bound=1e-3`` at cond 10 without it; with it, none (tests/test_mixed_precision.py)."""
    return max(num_iters - REFINE_STEPS, 0)


@_memo
def polar_express_schedule(lower_bound: float, num_iters: int, low_precision: bool = False) -> tuple[Step, ...]:
    """``num_iters`` minimax quintic steps for normalised singular values in ``[lower_bound, 1]``, all but the last
    :data:`REFINE_STEPS` with the ``SAFETY`` margin (:func:`_safe`)."""
    if not 0.0 < lower_bound <= 1.0:
        raise ValueError(f"lower_bound must be in (0, 1], got {lower_bound}")
    return _express(lower_bound, num_iters, _safe(num_iters, low_precision))[0]


@_memo
def polar_express_iters(lower_bound: float, eps: float, low_precision: bool = False) -> int:
    """Smallest number of Polar Express steps that bring ``[lower_bound, 1]`` within ``eps`` of 1."""
    for k in range(1, 100):
        if 1.0 - _express(lower_bound, k, _safe(k, low_precision))[1] <= eps:
            return k
    raise ValueError(f"lower_bound {lower_bound:g} is out of reach in float precision")


@_memo
def polar_express_covered(num_iters: int, eps: float, low_precision: bool = False) -> float:
    """Smallest lower bound whose interval ``num_iters`` Polar Express steps bring within ``eps`` of 1
    (bisection on its logarithm); 1.0 when none is reached."""
    safe = _safe(num_iters, low_precision)

    def ok(lb: float) -> bool:
        return 1.0 - _express(lb, num_iters, safe)[1] <= eps

    if num_iters < 1 or not ok(1.0 - 1e-3):
        return 1.0
    lo_log, hi_log = 0.0, 12.0  # -log10(lower bound): good, bad (1e-12: past float64 reach)
    if ok(10.0**-hi_log):
        return 10.0**-hi_log
    for _ in range(50):
        mid = (lo_log + hi_log) / 2
        if ok(10.0**-mid):
            lo_log = mid
        else:
            hi_log = mid
    return 10.0**-lo_log


@_memo
def cubic_schedule(num_iters: int, eps: float, scaled: bool) -> tuple[Step, ...]:
    """Scaled (``scaled=False``: plain) cubic Newton–Schulz steps as odd polynomials (``gamma = 0``)."""
    scales = ns_schedule(num_iters, eps) if scaled else (1.0,) * num_iters
    return tuple((1.5 * math.sqrt(a), -0.5 * a * math.sqrt(a), 0.0) for a in scales)


def cubic_covered(num_iters: int, eps: float) -> float:
    """Smallest normalised singular value the scaled cubic schedule of ``num_iters`` steps converges from."""
    return 1.0 / math.sqrt(ns_condition_covered(num_iters, eps))


@_memo
def muon_schedule(num_iters: int) -> tuple[Step, ...]:
    """Muon's fixed quintic, ``num_iters`` times."""
    return (MUON_QUINTIC,) * num_iters


@_memo
def schedule_bound(steps: tuple[Step, ...], lower_bound: float) -> float:
    """``max |1 - p_k(...p_1(x))|`` over ``x`` in ``[lower_bound, 1]`` (the scalar model, on a log grid): how far
    from orthonormal the schedule leaves singular values known to lie there."""
    n = 4000
    worst = 0.0
    for i in range(n + 1):
        x = lower_bound ** (i / n)
        for s in steps:
            x = _p(s, x)
        worst = max(worst, abs(1.0 - x))
    return worst


#: Pure functions of Python scalars (memoised): safe to evaluate once at trace time and keep as constants.
CONSTANT_RESULTS: tuple[Callable[..., Any], ...] = (
    minimax_quintic,
    polar_express_schedule,
    polar_express_iters,
    polar_express_covered,
    cubic_schedule,
    muon_schedule,
    schedule_bound,
)
