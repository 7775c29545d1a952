"""Coupled Newton–Schulz (NS) iteration for ``A_n^{1/2}`` and ``A_n^{-1/2}``, with a scaled step schedule.

.. math:: Y_0 = A_n,\\ Z_0 = I;\\quad T_k = \\tfrac{\\sqrt{a_k}}{2} (3I - a_k Z_k Y_k);\\quad
          Y_{k+1} = Y_k T_k,\\ Z_{k+1} = T_k Z_k,

so that ``Y_k -> A_n^{1/2}`` and ``Z_k -> A_n^{-1/2}``. With every ``a_k = 1`` this is the paper's NS;
the scales ``a_k`` (:func:`.ns_schedule`, fixed for a given step count) accelerate the growth of small
eigenvalues from 9/4 to up to 5.625 (= 9a/4 at the cap a = 2.5) per step, so 15 steps reach float64
accuracy up to cond 1.55e8 where plain NS needs about 28. Step counts are fixed per call (``jax.jit``-safe).
Cost: ``3k - 3`` matrix products for ``k`` steps when one of Y or Z is wanted (the first step is a
polynomial in ``A_n`` and the last skips the unused iterate).

This cubic path serves ``schedule="scaled"`` and the paper's plain steps; the forward's default schedule,
``"polar-express"`` (:data:`.options.DEFAULT_SCHEDULE`), runs :func:`newton_schulz_steps` with per-step minimax
quintics (10 steps, 37 products in float64 for the same coverage; docs/derivations/schedules.md).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from . import primitives
from .coefficients import ns_schedule
from .polar_schedules import REFINE_STEPS, refine_steps

__all__ = [
    "newton_schulz",
    "newton_schulz_steps",
    "newton_schulz_mixed",
    "ns_matmuls",
    "LOW_EPS",
    "LOW_COVERED",
    "REFINE_STEPS",
]

#: Machine epsilon of the ``matmul_dtype`` choices (products rounded to it; PyTorch and JAX accumulate in float32).
LOW_EPS = {"bfloat16": 2.0**-7, "float16": 2.0**-10}
#: Condition numbers up to which the result keeps about that precision's accuracy (measured at n = 64, float32 and
#: float64, scaled cubic steps: largest error 1.7e-2 / 1.2e-2; past about twice that the iteration diverges).
LOW_COVERED = {"bfloat16": 1e3, "float16": 1e4}


def ns_matmuls(num_iters: int) -> int:
    """Matrix products of :func:`newton_schulz` for one output (``3k - 3``; 0 for ``k = 0``)."""
    return max(3 * num_iters - 3, 0)


def newton_schulz(
    a_n: Any,
    /,
    *,
    num_iters: int,
    eps: float,
    want: str,
    scaled: bool = True,
    steps: tuple[tuple[float, float, float], ...] | None = None,
    xp: ModuleType,
) -> tuple[Any | None, Any | None]:
    """Run ``num_iters`` scaled coupled NS steps; return ``(Y, Z)`` ~ ``(A_n^{1/2}, A_n^{-1/2})``.

    ``want`` is ``"sqrt"``, ``"inv"`` or ``"both"``; an iterate that is not wanted may be returned as None.
    ``eps`` is the working precision the schedule targets; ``scaled=False`` gives the paper's plain steps.
    ``steps``: general odd-polynomial steps of another schedule (:func:`newton_schulz_steps`; ``num_iters``
    of them), instead of the scaled ones.
    """
    if steps is not None:
        if len(steps) != num_iters:
            raise ValueError(f"got {len(steps)} steps for num_iters={num_iters}")
        return newton_schulz_steps(a_n, steps=steps, want=want, xp=xp)
    eye = primitives.eye_like(a_n, xp=xp)
    if num_iters == 0:
        return a_n, eye
    scales = ns_schedule(num_iters, eps) if scaled else (1.0,) * num_iters
    need_y, need_z = want in ("sqrt", "both"), want in ("inv", "both")
    # Step 1: Z_0 = I, so T_0 = (sqrt(a)/2)(3I - a A_n), Y_1 = A_n T_0, Z_1 = T_0.
    a0 = scales[0]
    t = (math.sqrt(a0) / 2.0) * (3.0 * eye - a0 * a_n)
    y, z = a_n @ t, t
    for k, a in enumerate(scales[1:], start=2):
        last = k == num_iters
        t = primitives.matmul_add(eye, z, y, alpha=-a * math.sqrt(a) / 2.0, beta=1.5 * math.sqrt(a), xp=xp)
        y_new = y @ t if (need_y or not last) else None
        z = t @ z if (need_z or not last) else None
        y = y_new
    return y, z


def newton_schulz_steps(
    a_n: Any, /, *, steps: tuple[tuple[float, float, float], ...], want: str, xp: ModuleType
) -> tuple[Any | None, Any | None]:
    """Coupled NS with general odd-polynomial steps ``(alpha, beta, gamma)`` (:mod:`.root_schedules`):
    ``M = Z Y``, ``T = alpha I + beta M + gamma M^2``, ``Y <- Y T``, ``Z <- T Z``. A cubic step (``gamma = 0``)
    costs 3 products, a quintic one 4; :func:`.root_schedules.root_matmuls` counts them."""
    eye = primitives.eye_like(a_n, xp=xp)
    if not steps:
        return a_n, eye
    need_y, need_z = want in ("sqrt", "both"), want in ("inv", "both")
    k = len(steps)

    def poly(m: Any, step: tuple[float, float, float]) -> Any:
        alpha, beta, gamma = step
        t = alpha * eye + beta * m
        return primitives.matmul_add(t, m, m, alpha=gamma, xp=xp) if gamma != 0.0 else t

    t = poly(a_n, steps[0])  # Z_0 = I: M = A_n, Y_1 = A_n T, Z_1 = T
    y = a_n @ t if (need_y or k > 1) else None
    z = t
    for i, step in enumerate(steps[1:], start=2):
        last = i == k
        t = poly(z @ y, step)
        y_new = y @ t if (need_y or not last) else None
        z = t @ z if (need_z or not last) else None
        y = y_new
    return y, z


def newton_schulz_mixed(
    a_n: Any, /, *, steps: tuple[tuple[float, float, float], ...], want: str, low: Any, eps: float, xp: ModuleType
) -> tuple[Any, Any]:
    """Coupled NS (:func:`newton_schulz_steps`) with the products of all but the last
    :func:`.polar_schedules.refine_steps` steps (2, or 3 cubic ones in float64, ``eps``) rounded to the dtype
    ``low`` (``matmul_dtype``); returns ``(Y, Z)``.

    The coupled iteration is stable but not self-correcting: a rounding error made in ``Y`` or ``Z`` is not
    undone by later steps (every pair with ``Z Y = I`` is a fixed point), so the result keeps the low-precision
    steps' rounding, about ``LOW_EPS`` times a factor that grows with the condition number
    (docs/derivations/schedules.md measures it). Safeguards keep it there instead of diverging: ``Y`` and ``Z`` are
    symmetrised after every low-precision step (rounding makes them drift from symmetric, and ``Z Y`` from
    diagonalisable with real eigenvalues); before the working-precision steps ``Y = A_n Z`` is recomputed from the
    symmetrised ``Z`` (re-coupling), which removes the rounding of ``Y``'s own products; and the quintic schedule
    carries Polar Express's margin itself (:func:`.root_schedules.root_steps`).
    """
    k = len(steps)
    if k <= REFINE_STEPS:
        raise ValueError(f"matmul_dtype needs more than {REFINE_STEPS} steps, got {k}")
    eye = primitives.eye_like(a_n, xp=xp)
    n_low = max(k - refine_steps(steps, eps), 1)

    def poly(m: Any, step: tuple[float, float, float], lo: Any) -> Any:
        alpha, beta, gamma = step
        t = alpha * eye + beta * m
        return t + gamma * primitives.matmul_in(m, m, lo, xp=xp) if gamma != 0.0 else t

    t = poly(a_n, steps[0], low)  # Z_0 = I: M = A_n
    y, z = primitives.sym(primitives.matmul_in(a_n, t, low, xp=xp)), t
    for i, step in enumerate(steps[1:], start=1):
        lo = low if i < n_low else None
        if i == n_low:  # re-couple in the working precision
            z = primitives.sym(z)
            y = primitives.sym(a_n @ z)
        t = poly(primitives.matmul_in(z, y, lo, xp=xp), step, lo)
        last = i == k - 1
        y_new = primitives.matmul_in(y, t, lo, xp=xp) if (want != "inv" or not last) else None
        z = primitives.matmul_in(t, z, lo, xp=xp) if (want != "sqrt" or not last) else None
        y = y_new
        if lo is not None:
            y, z = primitives.sym(y), primitives.sym(z)
    return y, z
