"""Resolved, hashable options of one call, and the rule behind ``method="auto"``.

Resolution depends only on static facts (dtype, matrix size, whether the array is in host memory),
never on values, so the same choice is made eagerly and under ``jax.jit``/``torch.compile``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import cast  # num_iters is filled in (an int) for the iterative methods, which alone read it

from .coefficients import ns_condition_covered, ns_iters_for_condition
from .newton_schulz import LOW_EPS, REFINE_STEPS
from .root_schedules import root_covered, root_iters, root_steps, schedule_name
from .scaling import SCALES

__all__ = [
    "Options",
    "resolve",
    "METHODS",
    "BACKWARDS",
    "DEFAULT_TAYLOR_DEGREE",
    "DEFAULT_PADE_DEGREE",
    "DEFAULT_SCHEDULE",
    "default_ns_iters",
    "default_forward_iters",
    "default_coverage",
]

METHODS = ("eig", "taylor", "pade", "newton-schulz")
ALIASES = {"mtp": "taylor", "mpa": "pade", "ns": "newton-schulz", "eigh": "eig"}  # "_" and "-" alike
BACKWARDS = ("lyapunov", "eig", "svd-pade", "unrolled")
DEFAULT_TAYLOR_DEGREE = 10  # the paper's MTP
DEFAULT_PADE_DEGREE = 5  # the paper's MPA [5/5]
SVD_PADE_DEFAULT_DEGREE = 50
MAX_PADE_DEGREE = 20  # float64 rounding in p(Z), q(Z) grows past it: [24/24] is 7e-9 off at cond 4 ([12/12]: 7e-13)


def option_name(value: object, what: str) -> str:
    """An option string, case- and underscore-insensitive: ``"SVD_Pade"`` -> ``"svd-pade"``."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    return value.lower().replace("_", "-")


def scale_name(scale: object) -> str:
    """The normalisation name, validated (every entry that takes ``scale`` checks it, used or not)."""
    name = option_name(scale, "scale")
    if name not in SCALES:
        raise ValueError(f"scale must be 'spectral' or 'frobenius', got {scale!r}")
    return name


#: The Newton–Schulz step schedule of the forward when none is given (:mod:`.root_schedules`;
#: docs/derivations/schedules.md): cushioned per-step minimax quintics, which cover at least what the scaled
#: cubic's default steps cover in fewer products (float64: 10 steps, 37 products vs 15, 42; float32: 7, 25 vs 10, 27).
#: The backward's Lyapunov sign iteration stays the scaled cubic (:func:`default_ns_iters`).
DEFAULT_SCHEDULE = "polar-express"


def default_ns_iters(eps: float) -> int:
    """Default steps of the *scaled cubic*: the Lyapunov backward's sign iteration (and ``schedule="scaled"``
    forwards): 15 in float64 (covers cond 1.55e8), 10 in float32 (cond 1.9e5)."""
    return 15 if eps < 1e-10 else 10


def default_coverage(eps: float) -> float:
    """The condition number every default step count covers at least: what :func:`default_ns_iters` scaled
    cubic steps cover (1.55e8 in float64, 1.9e5 in float32)."""
    return ns_condition_covered(default_ns_iters(eps), eps)


def default_forward_iters(eps: float, schedule: str = DEFAULT_SCHEDULE) -> int:
    """Default Newton–Schulz forward steps of ``schedule``: the fewest that cover :func:`default_coverage`
    (``"polar-express"``: 10 in float64, 7 in float32; ``"scaled"``: :func:`default_ns_iters`)."""
    if schedule == "scaled":
        return default_ns_iters(eps)
    return root_iters(schedule, default_coverage(eps), eps)


@dataclass(frozen=True)
class Options:
    """Everything a forward/backward call needs, with all defaults filled in (hashable: a static argument)."""

    inverse: bool
    method: str
    degree: tuple[int, int] | int | None
    num_iters: int | None
    scale: str
    backward: str
    backward_iters: int
    eps: float
    schedule: str = DEFAULT_SCHEDULE  # Newton–Schulz step schedule (:mod:`.root_schedules`)
    design_cond: float = 0.0  # condition number of A_n the NS steps are designed for (0: widest num_iters covers)
    matmul_dtype: str | None = None  # "bfloat16"/"float16": NS products but the last REFINE_STEPS steps' in it

    @property
    def paper_steps(self) -> bool:
        """The paper's unscaled Newton–Schulz / sign steps (``scale="frobenius"``) instead of the schedule."""
        return self.scale == "frobenius"

    def covered_condition(self) -> float:
        """Condition number up to which the iterative parts (NS forward, sign backward) converge."""
        if self.method == "newton-schulz":
            if self.design_cond > 0:  # steps designed for a declared bound converge up to it (if they reach it)
                return min(self.design_cond, root_covered(self.schedule, cast(int, self.num_iters), self.eps))
            return root_covered(self.schedule, cast(int, self.num_iters), self.eps)
        return ns_condition_covered(self.backward_iters, self.eps)

    def all_ns_steps(self) -> tuple[tuple[float, float, float], ...]:
        """The ``(alpha, beta, gamma)`` of every Newton–Schulz step, whatever the schedule (the paper's plain
        steps for ``scale="frobenius"``)."""
        sched = "plain" if self.paper_steps else self.schedule
        return root_steps(sched, cast(int, self.num_iters), self.eps, self.design_cond)

    def ns_steps(self) -> tuple[tuple[float, float, float], ...] | None:
        """The ``(alpha, beta, gamma)`` of the Newton–Schulz steps, or None for ``schedule="scaled"`` without a
        bound and for the paper's plain steps (the kernel's own cubic path, bit for bit as before ``schedule=``
        existed)."""
        if self.method != "newton-schulz" or (self.schedule == "scaled" and self.design_cond <= 0):
            return None
        if self.paper_steps:
            return None
        return root_steps(self.schedule, cast(int, self.num_iters), self.eps, self.design_cond)


def _method_name(method: str) -> str:
    name = option_name(method, "method")
    name = ALIASES.get(name, name)
    if name not in (*METHODS, "auto"):
        raise ValueError(f"unknown method {method!r}; expected one of {('auto', *METHODS)} or {tuple(ALIASES)}")
    return name


def _int(value: object, what: str, minimum: int) -> int:
    """An integer (Python or NumPy, not bool) ``>= minimum``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {type(value).__name__} {value!r}") from None
    if number < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {number}")
    return number


def resolve(
    method: str,
    *,
    inverse: bool,
    degree: object,
    num_iters: object,
    scale: str,
    backward: str,
    backward_iters: object,
    eps: float,
    n: int,
    on_cpu: bool,
    schedule: object = None,
    lower_bound: object = None,
    matmul_dtype: object = None,
) -> Options:
    """Fill in defaults and apply the ``"auto"`` rule.

    ``method="auto"``: ``"eig"`` for arrays in host memory (batched ``eigh`` is fast on CPUs and exact),
    ``"newton-schulz"`` on accelerators (matrix products only; batched eigensolvers are slow on GPUs) with
    the default step count of the dtype. Both stay within 10x of ``eig``'s error up to cond 1e8 (float64)
    and 1e5 (float32). ``backward="auto"``: ``"eig"`` after an ``eig`` forward (it reuses the
    decomposition: 4 matrix products), ``"lyapunov"`` otherwise.
    """
    name = _method_name(method)
    auto = name == "auto"
    if auto:
        if degree is not None or num_iters is not None:  # the same call must not fail on one device only
            raise ValueError(
                f"{'degree' if degree is not None else 'num_iters'} needs a named method: method='auto' picks "
                "'eig' on CPU and 'newton-schulz' on GPUs; pass method='newton-schulz' (or 'taylor'/'pade')"
            )
        name = "eig" if on_cpu else "newton-schulz"
    scale = scale_name(scale)
    if name != "taylor" and name != "pade" and degree is not None:
        raise ValueError(f"degree applies to method='taylor' or 'pade', not {name!r}")
    if name != "newton-schulz" and num_iters is not None:
        raise ValueError(f"num_iters applies to method='newton-schulz', not {name!r}")
    deg: tuple[int, int] | int | None = None
    if name == "taylor":
        deg = _int(DEFAULT_TAYLOR_DEGREE if degree is None else degree, "degree", 1)
    elif name == "pade":
        if degree is None:
            degree = DEFAULT_PADE_DEGREE
        if isinstance(degree, (tuple, list)):
            if len(degree) != 2:
                raise ValueError(f"a Padé degree pair must be (m, n), got {degree!r}")
            deg = (_int(degree[0], "Padé numerator degree m", 0), _int(degree[1], "Padé denominator degree n", 0))
            if deg == (0, 0):
                raise ValueError("a Padé degree pair must have m + n >= 1, got (0, 0)")
        else:
            m = _int(degree, "degree", 1)
            deg = (m, m)
        if max(deg) > MAX_PADE_DEGREE:
            raise ValueError(
                f"Padé degree {degree!r} is above {MAX_PADE_DEGREE}: past it rounding in the matrix polynomials "
                "grows faster than the approximation improves (float64, cond 4: [12/12] 7e-13, [24/24] 7e-9 off; "
                "cond 100: [24/24] 5e-2). For more accuracy use method='newton-schulz' or 'eig'"
            )
    explicit = schedule is not None
    # Under matmul_dtype the scaled cubic is the default: its gentle steps keep 2-5x less of the low-precision
    # rounding than the quintics (docs/derivations/schedules.md, "Mixed precision").
    sched = schedule_name(schedule) if explicit else ("scaled" if matmul_dtype is not None else DEFAULT_SCHEDULE)
    design = _design_condition(lower_bound, n)
    if design and design * eps * eps > 1.0:  # below eps^2 a bound says nothing the dtype can resolve
        raise ValueError(
            f"lower_bound={lower_bound!r} is below what this dtype can resolve (eps = {eps:.3g}: eigenvalues under "
            f"eps * lambda_max are rounding noise, and no step count reaches 1 / lower_bound); pass lower_bound >= "
            f"{eps * eps:.1g}, or leave it out: the default steps cover condition numbers up to "
            f"{root_covered(DEFAULT_SCHEDULE, default_forward_iters(eps), eps):.3g}"
        )
    if (auto or name != "newton-schulz") and (explicit or design):  # auto: the same call must fail on any device
        what = "lower_bound" if design else "schedule"
        raise ValueError(f"{what} applies to method='newton-schulz', not {'auto' if auto else name!r}")
    if name == "newton-schulz" and scale == "frobenius":
        if (explicit and sched != "scaled") or design:
            raise ValueError(
                "scale='frobenius' means the paper's plain Newton–Schulz steps; schedule= and lower_bound= need "
                "scale='spectral' (whose bound on lambda_max they are designed with)"
            )
        sched = "scaled"  # the paper's steps (Options.paper_steps), whatever the default schedule
    if name != "newton-schulz":
        sched = "scaled"
    low = _matmul_dtype(matmul_dtype, name, auto)
    iters = None
    if name == "newton-schulz":
        if num_iters is None:
            if design:
                num_iters = root_iters(sched, design, eps)
            else:  # cover what the scaled cubic's default steps cover, in this schedule's steps
                num_iters = default_forward_iters(eps, sched)
        iters = _int(num_iters, "num_iters", 1)
        if low is not None and iters <= REFINE_STEPS:
            raise ValueError(
                f"matmul_dtype={low!r} runs all but the last {REFINE_STEPS} steps in {low}: it needs num_iters > "
                f"{REFINE_STEPS}, got {iters}"
            )
    bwd = option_name(backward, "backward")
    if bwd == "auto":
        bwd = "eig" if name == "eig" else "lyapunov"
    if bwd not in BACKWARDS:
        raise ValueError(f"unknown backward {backward!r}; expected one of {('auto', *BACKWARDS)}")
    if bwd == "svd-pade":
        b_iters = _int(SVD_PADE_DEFAULT_DEGREE if backward_iters is None else backward_iters, "backward_iters", 1)
    elif bwd == "lyapunov":
        if backward_iters is None:  # a declared bound serves the backward too: S^2 = A has the same condition
            backward_iters = ns_iters_for_condition(design, eps) if design else default_ns_iters(eps)
        b_iters = _int(backward_iters, "backward_iters", 1)
    else:
        if backward_iters is not None:
            raise ValueError(f"backward_iters applies to backward='lyapunov' or 'svd-pade', not {bwd!r}")
        b_iters = 0
    return Options(inverse, name, deg, iters, scale, bwd, b_iters, float(eps), sched, design, low)


def low_precision_name(matmul_dtype: object) -> str | None:
    """The validated ``matmul_dtype`` name: ``"bfloat16"``, ``"float16"`` or None (shared with ``matfunc.polar``)."""
    if matmul_dtype is None:
        return None
    low = option_name(matmul_dtype, "matmul_dtype")
    if low not in LOW_EPS:
        raise ValueError(f"matmul_dtype must be 'bfloat16' or 'float16' (or None), got {matmul_dtype!r}")
    return low


def _matmul_dtype(matmul_dtype: object, method: str, auto: bool) -> str | None:
    """The validated ``matmul_dtype`` name (None when not given); only for ``method="newton-schulz"``."""
    low = low_precision_name(matmul_dtype)
    if low is None:
        return None
    if auto or method != "newton-schulz":  # auto: the same call must fail on any device
        raise ValueError(
            f"matmul_dtype applies to method='newton-schulz' (matrix products only), not {'auto' if auto else method!r}"
        )
    return low


def _design_condition(lower_bound: object, n: int) -> float:
    """The condition number of ``A_n = A / c`` that a declared ``lower_bound`` on ``lambda_min / lambda_max``
    guarantees: ``n^(1/16) / lower_bound`` (the spectral scale ``c`` overestimates ``lambda_max`` by at most
    ``n^(1/16)``); 0.0 when none is declared."""
    if lower_bound is None:
        return 0.0
    if isinstance(lower_bound, bool):
        raise TypeError(f"lower_bound must be a float in (0, 1], got {lower_bound!r}")
    try:
        lb = float(lower_bound)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(
            f"lower_bound must be a float in (0, 1], got {type(lower_bound).__name__} {lower_bound!r}"
        ) from None
    if not 0.0 < lb <= 1.0:
        raise ValueError(
            f"lower_bound must be in (0, 1] (a lower bound on lambda_min / lambda_max, i.e. 1 / cond), got "
            f"{lower_bound!r}; for A = B + ridge * I with ||B||_2 <= beta pass ridge / (beta + ridge)"
        )
    return max(n, 1) ** (1.0 / 16.0) / lb
