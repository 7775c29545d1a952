"""Resolved, hashable options of one call, and the rule behind ``method="auto"``.

Resolution depends only on static facts (dtype, matrix size, whether the array is in host memory),
never on values, so the same choice is made eagerly and under ``jax.jit``/``torch.compile``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from .coefficients import ns_condition_covered

__all__ = ["Options", "resolve", "METHODS", "BACKWARDS", "DEFAULT_TAYLOR_DEGREE", "DEFAULT_PADE_DEGREE"]

METHODS = ("eig", "taylor", "pade", "newton-schulz")
ALIASES = {"mtp": "taylor", "mpa": "pade", "ns": "newton-schulz", "newton_schulz": "newton-schulz", "eigh": "eig"}
BACKWARDS = ("lyapunov", "eig", "svd-pade", "unrolled")
DEFAULT_TAYLOR_DEGREE = 10  # the paper's MTP
DEFAULT_PADE_DEGREE = 5  # the paper's MPA [5/5]
SVD_PADE_DEFAULT_DEGREE = 50


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
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    name = ALIASES.get(method.lower(), method.lower())
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
    if scale not in ("spectral", "frobenius"):
        raise ValueError(f"scale must be 'spectral' or 'frobenius', got {scale!r}")
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
    iters = None
    if name == "newton-schulz":
        iters = _int(default_ns_iters(eps) if num_iters is None else num_iters, "num_iters", 1)
    if not isinstance(backward, str):
        raise TypeError(f"backward must be a string, got {type(backward).__name__}")
    bwd = backward.lower()
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
