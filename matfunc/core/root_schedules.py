r"""Step schedules of the coupled Newton–Schulz root iteration, as odd polynomials in the "singular values".

The coupled iteration for :math:`A_n^{1/2}` is the Newton–Schulz sign iteration on
:math:`\begin{bmatrix} 0 & A_n \\ I & 0 \end{bmatrix}`, whose singular values are :math:`\sigma = \sqrt{\lambda}` for
the eigenvalues :math:`\lambda \in [1/\kappa, 1]` of :math:`A_n`. An odd polynomial step
:math:`p(\sigma) = \sigma\,q(\sigma^2)`, :math:`q(x) = \alpha + \beta x + \gamma x^2`, is on the blocks

.. math:: M = Z Y,\quad T = q(M) = \alpha I + \beta M + \gamma M^2,\quad Y \leftarrow Y T,\quad Z \leftarrow T Z,

and maps every :math:`\sigma` of the iteration (:math:`Z Y` has eigenvalues :math:`\sigma^2`) to :math:`p(\sigma)`.
A step is the tuple ``(alpha, beta, gamma)`` of :mod:`.polar_schedules` (the polar iteration applies the same odd
polynomials to the singular values of ``X``), so every schedule there serves here:

- ``"scaled"`` (matfunc's default): the cubic :math:`\tfrac{\sqrt a}{2}\sigma(3 - a\sigma^2)` with the scales of
  :func:`.coefficients.ns_schedule` (Chen–Chow equioscillation, capped at 2.5);
- ``"plain"``: the paper's cubic, ``a = 1``;
- ``"minimax-cubic"``: per step the odd cubic minimising :math:`\max_{[l, u]} |1 - p|` (:func:`minimax_cubic`),
  uncapped; its image of ``[l, u]`` is ``[1 - E, 1 + E]``, the next step's interval;
- ``"polar-express"``: per step the minimax odd quintic (:func:`.polar_schedules.minimax_quintic`) from the
  lower bound ``sqrt(1 / cond)`` on the normalised ``sigma``, designed on ``[max(l, u / CUSHION), u]``
  (:data:`CUSHION`), all but the last two with the Polar Express margin ``p(x / 1.01)`` against rounding.

Matrix products (:func:`root_matmuls`), counted for one output (``want="sqrt"`` or ``"inv"``): a cubic step costs
3 (``M = ZY``, ``Y T``, ``T Z``), a quintic step 4 (``M``, ``M^2``, ``Y T``, ``T Z``); the first step has ``Z = I``
and ``M = A_n`` (cubic 1: ``A_n T``; quintic 2: ``A_n^2``, ``A_n T``) and the last skips the unwanted iterate
(one product less). So ``k`` cubic steps cost ``3k - 3`` and ``k`` quintic steps ``4k - 3``.

Everything here is plain Python floats, memoised, computed from static numbers only (``jax.jit``-safe; listed in
:data:`CONSTANT_RESULTS` for ``torch.compile``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import polar_schedules as _ps
from .coefficients import _memo, ns_condition_covered, ns_iters_for_condition

__all__ = [
    "SCHEDULES",
    "Step",
    "minimax_cubic",
    "minimax_cubic_schedule",
    "root_steps",
    "root_iters",
    "root_covered",
    "root_matmuls",
    "steps_bound",
    "CONSTANT_RESULTS",
]

Step = _ps.Step
#: Each quintic is designed on ``[max(l, u / CUSHION), u]`` (Polar Express's cushioning): a quintic designed for a
#: wide interval sends the top of the spectrum to ``1 + E ~ 2`` and interior values near 0, which costs the
#: coupled iteration digits it does not recover (measured at n = 64, float64: 13x the error at cond 10 for steps
#: designed for cond 1.5e8); with the cushion 10 the accuracy is the scaled cubic's and the step count the same.
CUSHION = 10.0
SCHEDULES = ("scaled", "plain", "minimax-cubic", "polar-express")
_ALIASES = {
    "minimax": "polar-express",
    "quintic": "polar-express",
    "polar-express-quintic": "polar-express",
    "chen-chow": "scaled",
    "newton-schulz": "plain",
}


def schedule_name(value: object) -> str:
    """A schedule name, validated (case- and underscore-insensitive; ``"minimax"`` means ``"polar-express"``)."""
    if not isinstance(value, str):
        raise TypeError(f"schedule must be a string, got {type(value).__name__} {value!r}")
    name = value.lower().replace("_", "-")
    name = _ALIASES.get(name, name)
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {value!r}; expected one of {SCHEDULES} (or 'minimax' for 'polar-express')")
    return name


def _p(step: Step, x: float) -> float:
    return _ps._p(step, x)


@_memo
def minimax_cubic(lo: float, hi: float) -> tuple[Step, float]:
    """The odd cubic ``p(x) = alpha x + beta x^3`` minimising ``max_{[lo, hi]} |1 - p(x)|``, and that error ``E``.

    Equioscillation at three points: ``p = 1 - E`` at ``lo`` and ``hi``, ``1 + E`` at the interior maximum
    ``x* = sqrt(-alpha / (3 beta))``; a Remez exchange on ``x*`` (a 3 x 3 linear solve per round).
    """
    if not 0.0 < lo < hi:
        raise ValueError(f"need 0 < lo < hi, got [{lo}, {hi}]")
    xs = math.sqrt((lo * lo + lo * hi + hi * hi) / 3.0)  # the scaled step's maximum: a good start
    step: Step = (1.5, -0.5, 0.0)
    for _ in range(100):
        # p(lo) + E = 1, p(xs) - E = 1, p(hi) + E = 1
        rows = [[lo, lo**3, 1.0], [xs, xs**3, -1.0], [hi, hi**3, 1.0]]
        a, b, e = _ps._solve4(rows, [1.0, 1.0, 1.0])
        step = (a, b, 0.0)
        new = math.sqrt(-a / (3.0 * b)) if b < 0 < a else xs
        if abs(new - xs) <= 1e-15 * hi:
            break
        xs = new
    err = max(abs(1.0 - _p(step, x)) for x in (lo, hi, xs))
    return step, err


def _minimax_cubic_run(lo: float, num_iters: int) -> tuple[tuple[Step, ...], float]:
    hi = 1.0
    steps = []
    for _ in range(num_iters):
        if hi - lo < _ps.REMEZ_WIDTH:  # near 1 the minimax cubic tends to the Newton–Schulz cubic: use it
            step: Step = (1.5, -0.5, 0.0)
            steps.append(step)
            lo, hi = min(_p(step, lo), _p(step, hi)), 1.0  # p <= 1 on [0, sqrt(3)], p(1) = 1
            continue
        step, e = minimax_cubic(lo, hi)
        steps.append(step)
        lo, hi = 1.0 - e, 1.0 + e
    return tuple(steps), lo


@_memo
def minimax_cubic_schedule(lower_bound: float, num_iters: int) -> tuple[Step, ...]:
    """``num_iters`` per-step minimax odd cubics for normalised ``sigma`` in ``[lower_bound, 1]``."""
    if not 0.0 < lower_bound <= 1.0:
        raise ValueError(f"lower_bound must be in (0, 1], got {lower_bound}")
    return _minimax_cubic_run(lower_bound, num_iters)[0]


def _safe(num_iters: int) -> int:
    """Leading steps designed with the :data:`.polar_schedules.SAFETY` margin: all but the last
    :data:`.polar_schedules.REFINE_STEPS`."""
    return max(num_iters - _ps.REFINE_STEPS, 0)


def _cushioned_express(lo: float, num_iters: int, safe: int = 0) -> tuple[tuple[Step, ...], float]:
    """Minimax quintics designed on ``[max(lo, hi / CUSHION), hi]``; the lower end maps to ``p(lo)``.

    Below the cushion ``p`` is increasing (its first interior extremum lies above the design interval's lower
    end), so ``[lo, hi]`` maps into ``[p(lo), 1 + E]``. Near 1 the quintic Newton–Schulz step, as in
    :func:`.polar_schedules.minimax_quintic`.

    The first ``safe`` minimax steps are applied as ``p(x / SAFETY)`` (Polar Express's margin): a value that
    rounding pushed up to ``SAFETY`` times past the top of the interval stays within ``1 + E`` instead of being sent
    off by the steep quintic (its slope at the top of a wide interval is about 10, and the next steps steeper
    still); the lower end then maps to ``p(lo / SAFETY)``. Without it, float32 products rounded to TF32 (10-bit
    mantissa) diverged in 5 of 10 random matrices at cond 10 and 100 (docs/derivations/schedules.md)."""
    hi = 1.0
    steps = []
    for i in range(num_iters):
        if hi - lo < _ps.REMEZ_WIDTH and abs(hi - 1.0) < _ps.REMEZ_WIDTH:
            step = _ps.QUINTIC_NS  # p <= 1 on [0, 1 + 1e-3] up to O(1e-9), p(1) = 1
            steps.append(step)
            lo, hi = min(_p(step, lo), _p(step, hi)), max(1.0, _p(step, hi))
            continue
        low = max(lo, hi / CUSHION)
        (a, b, c), e = _ps.minimax_quintic(low, hi)
        f = _ps.SAFETY if i < safe else 1.0
        step = (a / f, b / f**3, c / f**5)  # p(x / f): the design interval stretched by f
        steps.append(step)
        lo, hi = (_p(step, lo) if lo / f < low else 1.0 - e), 1.0 + e
    return tuple(steps), lo


def _converged_from(schedule: str, lower_bound: float, k: int, eps: float) -> bool:
    if schedule == "minimax-cubic":
        return 1.0 - _minimax_cubic_run(lower_bound, k)[1] <= eps
    if schedule == "polar-express":
        return 1.0 - _cushioned_express(lower_bound, k, _safe(k))[1] <= eps
    raise ValueError(schedule)


def _plain_converged(cond: float, num_iters: int, eps: float) -> bool:
    x = 1.0 / cond
    for _ in range(num_iters):
        x = x * (3.0 - x) ** 2 / 4.0
    return 1.0 - x <= eps


@_memo
def root_iters(schedule: str, cond: float, eps: float) -> int:
    """Fewest steps of ``schedule`` that bring the normalised spectrum ``[1/cond, 1]`` of ``A_n`` within ``eps``
    of convergence (the scalar model; for ``"scaled"`` this is :func:`.ns_iters_for_condition`)."""
    if cond < 1.0:
        raise ValueError(f"condition number must be >= 1, got {cond}")
    if schedule == "scaled":
        return ns_iters_for_condition(cond, eps)
    if schedule == "plain":
        for k in range(1, 300):
            if _plain_converged(cond, k, eps):
                return k
        raise ValueError(f"condition number {cond:g} is out of reach of plain Newton–Schulz")
    lb = math.sqrt(1.0 / cond)
    for k in range(1, 200):
        if _converged_from(schedule, lb, k, eps):
            return k
    raise ValueError(f"condition number {cond:g} is out of reach of the {schedule!r} schedule")


@_memo
def root_covered(schedule: str, num_iters: int, eps: float) -> float:
    """Largest condition number of ``A_n`` whose spectrum ``num_iters`` steps of ``schedule`` designed for it
    bring within ``eps`` of 1 (bisection on its logarithm); 1.0 when none is reached."""
    if schedule == "scaled":
        return ns_condition_covered(num_iters, eps)
    if schedule == "plain":
        good, bad = 0.0, 300.0
        if num_iters < 1 or not _plain_converged(1.0 + 1e-9, num_iters, eps):
            return 1.0
        for _ in range(60):
            mid = (good + bad) / 2
            good, bad = (mid, bad) if _plain_converged(10.0**mid, num_iters, eps) else (good, mid)
        return 10.0**good
    if num_iters < 1 or not _converged_from(schedule, 1.0 - 1e-3, num_iters, eps):
        return 1.0
    good, bad = 0.0, 24.0  # log10(cond): 1e24 is past float64 reach
    if _converged_from(schedule, 10.0 ** (-bad / 2), num_iters, eps):
        return 10.0**bad
    for _ in range(50):
        mid = (good + bad) / 2
        good, bad = (mid, bad) if _converged_from(schedule, 10.0 ** (-mid / 2), num_iters, eps) else (good, mid)
    return 10.0**good


@_memo
def root_steps(schedule: str, num_iters: int, eps: float, max_cond: float = 0.0) -> tuple[Step, ...]:
    """The ``(alpha, beta, gamma)`` of ``num_iters`` steps of ``schedule``.

    ``max_cond``: a known bound on the condition number of ``A_n`` (0: the widest spectrum ``num_iters`` steps
    can bring to convergence, :func:`root_covered`). ``"plain"`` ignores it.
    """
    if num_iters < 0:
        raise ValueError(f"num_iters must be >= 0, got {num_iters}")
    if num_iters == 0:
        return ()
    if schedule == "plain":
        return _ps.cubic_schedule(num_iters, eps, False)
    if schedule == "scaled" and max_cond <= 0:
        return _ps.cubic_schedule(num_iters, eps, True)
    cond = max_cond if max_cond > 0 else root_covered(schedule, num_iters, eps)
    cond = max(cond, 1.0 + 1e-6)
    if schedule == "scaled":
        from .coefficients import _run_schedule

        scales = _run_schedule(1.0 / cond, num_iters)[0]
        return tuple((1.5 * math.sqrt(a), -0.5 * a * math.sqrt(a), 0.0) for a in scales)
    lb = math.sqrt(1.0 / cond)
    if schedule == "minimax-cubic":
        return minimax_cubic_schedule(lb, num_iters)
    if schedule == "polar-express":
        return _cushioned_express(lb, num_iters, _safe(num_iters))[0]
    raise ValueError(f"unknown schedule {schedule!r}")


def root_matmuls(steps: tuple[Step, ...], want: str = "sqrt") -> int:
    """Matrix products of :func:`.newton_schulz.newton_schulz` with these steps (module docstring): per step
    ``M = ZY`` (not on the first), ``M^2`` (quintic steps only), ``Y T`` (the first: ``A_n T``), ``T Z`` (not on the
    first); the last step skips the iterate that is not wanted (``want="both"`` keeps both)."""
    if want not in ("sqrt", "inv", "both"):
        raise ValueError(f"want must be 'sqrt', 'inv' or 'both', got {want!r}")
    total = 0
    k = len(steps)
    for i, (_, _, gamma) in enumerate(steps):
        last = i == k - 1
        square = gamma != 0.0
        if i == 0:
            total += square + (want != "inv" or not last)
            continue
        total += 1 + square + (want != "inv" or not last) + (want != "sqrt" or not last)
    return total


@_memo
def steps_bound(steps: tuple[Step, ...], lower_bound: float) -> float:
    """``max |1 - p_k(...p_1(sigma))|`` over ``sigma`` in ``[lower_bound, 1]`` (scalar model, log grid)."""
    return _ps.schedule_bound(steps, lower_bound)


#: Pure functions of Python scalars (memoised): safe to evaluate once at trace time and keep as constants.
CONSTANT_RESULTS: tuple[Callable[..., Any], ...] = (
    minimax_cubic,
    minimax_cubic_schedule,
    root_iters,
    root_covered,
    root_steps,
    steps_bound,
)
