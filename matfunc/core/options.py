"""Resolved, hashable options of one call, and the rule behind ``method="auto"``.

Resolution depends only on static facts (dtype, matrix size, whether the array is in host memory),
never on values, so the same choice is made eagerly and under ``jax.jit``/``torch.compile``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from .coefficients import ns_condition_covered
from .scaling import SCALES

__all__ = ["Options", "resolve", "METHODS", "BACKWARDS", "DEFAULT_TAYLOR_DEGREE", "DEFAULT_PADE_DEGREE"]

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


def default_ns_iters(eps: float) -> int:
    """Default Newton–Schulz / sign steps: 15 in float64 (covers cond 1.5e8), 10 in float32 (cond 1.9e5)."""
    return 15 if eps < 1e-10 else 10


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

    @property
    def paper_steps(self) -> bool:
        """The paper's unscaled Newton–Schulz / sign steps (``scale="frobenius"``) instead of the schedule."""
        return self.scale == "frobenius"

    def covered_condition(self) -> float:
        """Condition number up to which the iterative parts (NS forward, sign backward) converge."""
        steps = self.num_iters if self.method == "newton-schulz" else self.backward_iters
        return ns_condition_covered(steps, self.eps)


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
    iters = None
    if name == "newton-schulz":
        iters = _int(default_ns_iters(eps) if num_iters is None else num_iters, "num_iters", 1)
    bwd = option_name(backward, "backward")
    if bwd == "auto":
        bwd = "eig" if name == "eig" else "lyapunov"
    if bwd not in BACKWARDS:
        raise ValueError(f"unknown backward {backward!r}; expected one of {('auto', *BACKWARDS)}")
    if bwd == "svd-pade":
        b_iters = _int(SVD_PADE_DEFAULT_DEGREE if backward_iters is None else backward_iters, "backward_iters", 1)
    elif bwd == "lyapunov":
        b_iters = _int(default_ns_iters(eps) if backward_iters is None else backward_iters, "backward_iters", 1)
    else:
        if backward_iters is not None:
            raise ValueError(f"backward_iters applies to backward='lyapunov' or 'svd-pade', not {bwd!r}")
        b_iters = 0
    return Options(inverse, name, deg, iters, scale, bwd, b_iters, float(eps))
