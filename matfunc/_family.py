r"""The matrix functions around the square root: :func:`powm`, :func:`logm`, :func:`expm` and their VJPs.

One path for all of them (:func:`_run`): validate, get the namespace once, resolve the method statically,
apply the optional ridge, check values on concrete arrays, then either

- ``method="eig"``: the spectral function ``V f(w) V^H`` of :mod:`matfunc.core.spectral` with its one
  Daleckii–Krein backward (PyTorch: ``backends/_spectral_torch.py``; JAX: ``backends/_spectral_jax.py``;
  :func:`powm_vjp` & co. elsewhere), or
- a matrix-product method: chains of the public :func:`matfunc.sqrtm`/:func:`matfunc.inv_sqrtm` (dyadic powers,
  the roots of the inverse scaling and squaring ``logm``; their Newton–Schulz kernel and Lyapunov backward come
  with them), the coupled Newton inverse ``q``-th root, the scaling and squaring ``expm``
  (:mod:`matfunc.core.family`). PyTorch and JAX differentiate them through those kernels (``backward="auto"``);
  ``backward="eig"`` takes the exact gradient instead.

Dask arrays are mapped chunk by chunk (whole matrices per chunk) onto the NumPy path.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from types import ModuleType
from typing import Any

from . import _compat, _validation
from ._errors import SingularMatrixError
from .core import coefficients, family, primitives, spectral
from .core.options import DEFAULT_SCHEDULE, default_forward_iters, default_ns_iters, option_name
from .core.root_schedules import root_covered, root_iters
from .core.scaling import normalize

__all__ = ["powm", "logm", "expm", "powm_vjp", "logm_vjp", "expm_vjp", "newton_root_iters"]

_METHODS = {
    "powm": ("eig", "newton-schulz", "newton"),
    "logm": ("eig", "iss"),
    "expm": ("eig", "taylor"),
}
_ALIASES = {"ns": "newton-schulz", "eigh": "eig", "inverse-scaling-squaring": "iss", "scaling-squaring": "taylor"}


@dataclass(frozen=True)
class _Plan:
    """Resolved static options of one call."""

    name: str
    fn: spectral.Spectral
    method: str
    backward: str  # "eig" or "auto" (through the product kernels)
    eps: float
    q: int = 0  # powm "newton": p = -1/q; "newton-schulz": p = +-1/2^q
    num_iters: int = 0  # Newton steps, or Newton–Schulz steps (default schedule) of the first square root
    max_cond: float = 0.0  # logm "iss"
    max_spread: float = 0.0  # expm "taylor"


# --- option resolution (static: dtype, device, p; never values) --------------------------------------------


def _dyadic(p: float | None) -> int | None:
    """``k`` with ``|p| = 1/2^k`` (k >= 1), else None (also for no ``p``: logm, expm)."""
    if p is None:
        return None
    f = Fraction(abs(p)).limit_denominator(1 << 20)
    if float(f) != abs(p) or f.numerator != 1 or f.denominator < 2 or f.denominator & (f.denominator - 1):
        return None
    return f.denominator.bit_length() - 1


def _inverse_root(p: float | None) -> int | None:
    """``q`` with ``p = -1/q`` (q >= 1 integer), else None (also for no ``p``: logm, expm)."""
    if p is None or p >= 0:
        return None
    q = round(-1.0 / p)
    return q if q >= 1 and -1.0 / q == p else None


def _method(name: str, method: object, *, p: float | None, on_cpu: bool) -> str:
    m = option_name(method, "method")
    m = _ALIASES.get(m, m)
    if m == "auto":
        if on_cpu:
            return "eig"
        if name == "powm":
            if _inverse_root(p) is not None and _dyadic(p) is None:
                return "newton"
            return "newton-schulz" if _dyadic(p) is not None else "eig"
        return {"logm": "iss", "expm": "taylor"}[name]
    if m not in _METHODS[name]:
        raise ValueError(f"{name}: unknown method {method!r}; expected one of {('auto', *_METHODS[name])}")
    if name == "powm" and m == "newton-schulz" and _dyadic(p) is None:
        raise ValueError(
            f"powm(method='newton-schulz') computes p = +-1/2^k (chains of square roots), got p = {p!r}; "
            "use method='eig', or method='newton' for p = -1/q"
        )
    if name == "powm" and m == "newton" and _inverse_root(p) is None:
        raise ValueError(f"powm(method='newton') computes inverse roots p = -1/q (q = 1, 2, ...), got p = {p!r}")
    return m


def _backward(backward: object, method: str) -> str:
    b = option_name(backward, "backward")
    if b not in ("auto", "eig"):
        raise ValueError(f"unknown backward {backward!r}; expected 'auto' or 'eig'")
    return "eig" if method == "eig" else b


def static_real(value: object, what: str) -> float:
    """A static real option as a Python float: ints, floats, fractions, NumPy scalars and 0-d arrays (what
    ``float()`` takes). A number that carries a derivative (a torch tensor requiring grad, a JAX tracer) is
    refused: the options are constants of the computation, and ``float()`` would silently cut its gradient."""
    if isinstance(value, (bool, str, bytes)) or (
        not isinstance(value, (int, float, Fraction)) and not hasattr(value, "__float__")
    ):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__} {value!r}")
    if getattr(value, "requires_grad", False):
        raise TypeError(
            f"{what} is a tensor that requires grad; it is a constant of the computation (matfunc differentiates "
            "in the matrix only) and float() would silently drop its gradient. Pass float(value.detach()), or for a "
            "gradient in the exponent write matfunc.expm(p * matfunc.logm(a))."
        )
    try:
        v = float(value)  # type: ignore[arg-type]
    except Exception as exc:  # a JAX tracer, a multi-element array
        raise TypeError(
            f"{what} must be a concrete real number (a static constant, not a traced or multi-element array), got "
            f"{type(value).__name__}: {exc}"
        ) from None
    return v


def _positive_number(value: object, what: str, *, minimum: float) -> float:
    v = static_real(value, what)
    if not math.isfinite(v) or v < minimum:
        raise ValueError(f"{what} must be a finite number >= {minimum:g}, got {value!r}")
    return v


def newton_root_iters(q: int, cond: float, dtype: object = "float64") -> int:
    """Coupled Newton steps for :math:`A^{-1/q}` (``powm(a, -1/q, method="newton")``) that converge for
    condition numbers up to ``cond``: the step rule behind its ``num_iters`` default (the analogue of
    :func:`matfunc.newton_schulz_iters`; ``q = 2`` gives the counts of its ``schedule="scaled"``).

    With the scaled schedule, ``k`` steps map the normalised spectrum ``[1/cond, 1]`` to within ``8 eps`` of 1
    (:func:`matfunc.core.coefficients.newton_root_covered`). Each step costs ``2 + log2(q)`` matrix products for
    ``q`` a power of two.

    Examples
    --------
    >>> import matfunc
    >>> [matfunc.newton_root_iters(4, c) for c in (1e2, 1e4, 1e8)]
    [7, 9, 14]
    >>> matfunc.newton_root_iters(4, 1e4, "float32")
    8
    """
    from . import _dtype_name

    q = _int(q, "q")
    name = dtype if isinstance(dtype, str) else _dtype_name(dtype)
    float32 = 1.1920928955078125e-07  # half precisions are computed in float32
    eps = {"float64": 2.220446049250313e-16, "float32": float32, "float16": float32, "bfloat16": float32}.get(name)
    if eps is None:
        raise ValueError(f"dtype must be float64, float32, float16 or bfloat16 (a name or a dtype), got {dtype!r}")
    return coefficients.newton_root_iters(q, float(cond), eps)


# --- value checks ------------------------------------------------------------------------------------------


def _first_bad(mask: Any, shape: tuple[int, ...], xp: ModuleType) -> str:
    return _validation._first_bad(mask, xp=xp, shape=shape)


def _check_symmetric(a: Any, /, *, name: str, eps: float, xp: ModuleType) -> None:
    """Finite and symmetric (Hermitian), for ``expm`` (any sign): ``_validation.report_symmetry``."""
    asym = _validation.asymmetry(a, xp=xp, halved=True)
    _validation.report_symmetry(a, _validation.max_abs(a, xp=xp), asym, name=name, eps=eps, xp=xp)


def _check_semidefinite(a: Any, /, *, plan: _Plan, xp: ModuleType) -> None:
    """No eigenvalue below ``-rtol * max_i a_ii`` (one Cholesky of ``a + rtol max(a_ii) I``)."""
    n = a.shape[-1]
    rtol = _validation.symmetry_rtol(n, plan.eps)
    dmax = xp.max(primitives.real(xp.linalg.diagonal(a), xp=xp), axis=-1, keepdims=True)[..., None]
    shift = rtol * xp.where(dmax > 0, dmax, xp.ones_like(dmax))
    eye = xp.eye(n, dtype=a.dtype, device=_compat.device(a))
    if _validation.cholesky_ok(a + shift * eye, xp=xp):
        return
    bad = xp.min(xp.linalg.eigvalsh(a), axis=-1) < -shift[..., 0, 0]
    where = _first_bad(bad, tuple(a.shape[:-2]), xp) if bool(xp.any(bad)) else "a matrix of the batch"
    raise ValueError(
        f"{_domain(plan)}; {where} has a negative eigenvalue (below -{rtol:.3g} * max a_ii). Project it onto "
        "the PSD cone (clip negative eigenvalues) or add a ridge."
    )


def _domain(plan: _Plan) -> str:
    """What the function needs of the input, and why, for the messages."""
    if plan.fn.kind == "log":
        return "logm expects positive definite matrices (the real logarithm needs positive eigenvalues)"
    p = plan.fn.p
    what = "positive definite" if p < 0 else "positive semidefinite"
    why = "negative powers need positive eigenvalues" if p < 0 else "w^p of a negative eigenvalue w is not real"
    if p == int(p):
        why = (
            "powm is defined on the PSD cone for every p, the same spectral map for all; for an integer power of an "
            "indefinite symmetric matrix use repeated products (a @ a; numpy.linalg.matrix_power, also for "
            "negative integers)"
        )
    return f"powm(p={p:g}) expects {what} matrices ({why})"


def _check_diagonal(v: Any, /, *, plan: _Plan, xp: ModuleType) -> None:
    """A negative diagonal entry (below rounding of the largest one) proves a negative eigenvalue: ``n`` reads."""
    d = primitives.real(xp.linalg.diagonal(v), xp=xp)
    top = xp.max(xp.abs(d), axis=-1)
    bad = xp.min(d, axis=-1) < -_validation.symmetry_rtol(v.shape[-1], plan.eps) * top
    if bool(xp.any(bad)):
        where = _first_bad(bad, tuple(v.shape[:-2]), xp)
        raise ValueError(
            f"{_domain(plan)}; {where} has a negative diagonal entry, so it has a negative eigenvalue. Project it "
            "onto the PSD cone (clip negative eigenvalues) or add a ridge."
        )


def _check_input(x: Any, /, *, plan: _Plan, xp: ModuleType) -> None:
    v = _compat.values(x)
    with _compat.quiet(xp, v):
        if plan.name == "expm":
            _check_symmetric(v, name=plan.name, eps=plan.eps, xp=xp)
            return
        _check_diagonal(v, plan=plan, xp=xp)
        _validation.check_values(v, name=plan.name, eps=plan.eps, xp=xp)
        if plan.fn.singular:
            try:
                _validation.check_nonsingular(v, name=plan.name, eps=plan.eps, xp=xp)
            except SingularMatrixError as exc:
                what = "logarithm" if plan.fn.kind == "log" else f"power {plan.fn.p:g}"
                raise SingularMatrixError(
                    str(exc)
                    .replace("its inverse square root is not defined", f"its {what} is not defined")
                    .replace("Add a ridge (a + eps * I)", f"Pass ridge=eps to {plan.name} (a + eps * I)")
                ) from None
        elif plan.fn.kind == "power" and plan.fn.p != 0:
            _check_semidefinite(v, plan=plan, xp=xp)


def _check_spread(x: Any, /, *, plan: _Plan, xp: ModuleType) -> None:
    """expm "taylor": the spectrum's distance from its top (max a_ii) within the covered ``max_spread``."""
    v = _compat.values(x)
    mu = xp.max(primitives.real(xp.linalg.diagonal(v), xp=xp), axis=-1)[..., None, None]
    _, c = normalize(v - mu * primitives.eye_like(v, xp=xp), scale="spectral", xp=xp)
    c = c[..., 0, 0]
    bad = c > plan.max_spread
    if bool(xp.any(bad)):
        worst = float(xp.max(c))
        raise ValueError(
            f"expm(method='taylor'): the spectrum of {_first_bad(bad, tuple(v.shape[:-2]), xp)} spreads up to "
            f"{worst:.3g} from its largest diagonal entry, beyond max_spread={plan.max_spread:g} that the scaling "
            f"and squaring parameters cover; pass max_spread={2 ** math.ceil(math.log2(worst)):g} (more squarings) "
            "or use method='eig'."
        )


def _covered(plan: _Plan) -> float:
    """The condition number a matrix-product path covers (0: none to check). Every link of a chain inherits the
    first one's: the ``k``-th square root sees ``cond^(1/2^k)`` and takes the steps for it (:func:`_sqrt_steps`)."""
    if plan.method == "iss":
        return plan.max_cond
    if plan.method == "newton":
        return coefficients.newton_root_covered(plan.q, plan.num_iters, plan.eps)
    if plan.method == "newton-schulz" and (plan.q > 1 or plan.fn.p < 0):
        return root_covered(DEFAULT_SCHEDULE, plan.num_iters, plan.eps)
    return 0.0  # p = 1/2 is sqrtm itself (its own check); "eig", "taylor" (its spread check) cover everything


def _check_cover(x: Any, /, *, plan: _Plan, xp: ModuleType) -> None:
    """The product paths' input check: the condition number within what the method covers (:func:`_covered`).

    Beyond it the iterations leave the small eigenvalues unconverged while every normwise residual stays small,
    and the logarithm and the roots amplify exactly those: ``powm(p=-1/4, "newton-schulz")`` was 64% off at cond
    1e12 with its first root's residual check passing. Inside it the result is within the documented forward
    error. One Cholesky of ``A - (u / cover) I`` (``u >= lambda_max`` the spectral bound of
    :func:`matfunc.core.scaling.normalize`, at most ``n^(1/16)`` too large): the tolerance comes from the input
    and the method's constants only; the eigenvalues are computed only on failure, to name the matrix."""
    cover = _covered(plan)
    if not cover:
        return
    v = primitives.sym(_compat.values(x))
    with _compat.quiet(xp, v):
        if plan.method == "iss":
            _validation.check_condition(
                v, max_cond=cover, head="logm(method='iss'):", remedy="method='eig' (or a ridge).", xp=xp
            )
            return
        _, u = normalize(v, scale="spectral", xp=xp)
        if _validation.cholesky_ok(v - (u / cover) * primitives.eye_like(v, xp=xp), xp=xp):
            return
        lam = xp.linalg.eigvalsh(v)
        lo = lam[..., 0]
        kappa = xp.where(lo > 0, lam[..., -1] / xp.where(lo > 0, lo, xp.ones_like(lo)), xp.full_like(lo, math.inf))
        bad = ~(kappa <= cover / 1.5)  # the cheap test's margin: u overestimates lambda_max
        where = _first_bad(bad, tuple(v.shape[:-2]), xp) if bool(xp.any(bad)) else "a matrix of the batch"
        worst = float(xp.max(kappa))
    want = f"1e{math.ceil(math.log10(max(1.5 * worst, 10.0)))}" if math.isfinite(worst) else ""
    if plan.method == "newton":
        steps = f"its {plan.num_iters} coupled Newton steps"
        fix = f"num_iters=matfunc.newton_root_iters({plan.q}, {want})" if want else ""
    else:
        steps = f"the {plan.num_iters} Newton–Schulz steps of its first square root (each later root inherits it)"
        fix = f"num_iters=matfunc.newton_schulz_iters({want})" if want else ""
    raise ValueError(
        f"powm(p={plan.fn.p:g}, method={plan.method!r}): {where} has condition number up to {worst:.3g}, beyond "
        f"{cover:.3g} that {steps} cover: the result would lose its small eigenvalues, which the power amplifies. "
        + (f"Pass {fix} (more steps), use method='eig'," if fix else "It is singular: use method='eig'")
        + " or add a ridge (ridge=eps). check=False returns the raw result."
    )


def _check_spectrum(x: Any, y: Any, w: Any, /, *, plan: _Plan, xp: ModuleType, asym: Any = None) -> None:
    """``"eig"``, check=True, after the forward: everything from its eigenvalues ``w`` but one ``n^2`` pass.

    - Input finite and symmetric: ``max |a - a^H| <= rtol max|w|`` (``max|w| = ||a||_2``; a NaN or Inf anywhere
      makes the difference NaN, which fails, and then names itself).
    - Definiteness: for ``log`` and ``p < 0`` every eigenvalue above ``n eps max|w|`` (the threshold of
      :func:`matfunc._validation.check_nonsingular`), for ``p > 0`` none below ``-rtol max|w|``: ``n`` reads
      instead of a Cholesky. Computed eigenvalues are within ``eps ||a||_2`` of the exact ones (backward-stable
      ``eigh``), which these margins exceed.
    - Result finite: ``|y_ij| <= max_k |f(w_k)|`` (orthonormal ``V``; for ``exp`` the Gram form bounds ``y_ii``
      by ``e^{max w}``), so finite ``f(w)`` proves it; only an ``exp`` past the dtype's largest exponent reads
      ``y`` (:func:`_check_output`). ``asym``: :func:`matfunc._validation.asymmetry` of ``x``, where the forward
      computed it (read in the pass that symmetrised it, or right after), else read here. PyTorch's CPU tensors
      are read as NumPy arrays (``_compat.check_arrays``); the verdict is ``_validation.report_symmetry``'s."""
    cxp, (v, w, asym) = _compat.check_arrays(_glue(xp), xp, x, w, asym)
    with _compat.quiet(cxp, v):
        # a negative diagonal entry names itself first (as a test before the forward did); a_ii >= lambda_min,
        # so the diagonal is read only where an eigenvalue is negative (or NaN)
        if plan.name != "expm" and not bool(cxp.all(w[..., 0] >= 0)):
            _check_diagonal(v, plan=plan, xp=cxp)
        if asym is None:
            asym = _validation.asymmetry(v, xp=cxp)
        top = _validation.spectral_norm(w, xp=cxp)
        _validation.report_symmetry(v, top, asym, name=plan.name, eps=plan.eps, xp=cxp, spectral=True)
        _check_eigenvalues(w, top, plan=plan, xp=cxp)
        # f is monotone on the clamped eigenvalues, so max |f(w)| is at an end (ascending w; the ends also give
        # the floor eps max |w|): two values per matrix
        fw = spectral.values(plan.fn, cxp.stack([w[..., 0], w[..., -1]], axis=-1), plan.eps, xp=cxp)
        finite = bool(cxp.all(cxp.isfinite(fw)))
    if not finite:
        _check_output(x, y, plan=plan, xp=xp)  # exp past the largest exponent: y may still be finite


@contextlib.contextmanager
def _named_errors(x: Any, check: bool, /, *, plan: _Plan, xp: ModuleType) -> Iterator[None]:
    """Around a forward whose input was not read before it (``"eig"``: :func:`_check_spectrum` reads it after):
    an error of the forward itself (PyTorch's ``eigh`` of NaN input raises) becomes the input check's, which
    names the problem."""
    try:
        yield
    except Exception:
        if check:
            v = _compat.values(x)
            with _compat.quiet(xp, v):
                _validation.check_finite(v, name=plan.name, xp=xp)
        raise


def _check_eigenvalues(w: Any, top: Any, /, *, plan: _Plan, xp: ModuleType) -> None:
    """The definiteness tests of :func:`_check_spectrum` (``top = max|w|`` per matrix)."""
    if plan.fn.kind == "exp" or (plan.fn.kind == "power" and plan.fn.p == 0):
        return
    n = w.shape[-1]
    low = w[..., 0]  # (ascending)
    if plan.fn.singular:
        bad = ~(low > (n * plan.eps) * top)
    else:
        bad = ~(low >= -_validation.symmetry_rtol(n, plan.eps) * top)
    if not bool(xp.any(bad)):
        return
    where = _first_bad(bad, tuple(w.shape[:-1]), xp)
    if plan.fn.singular:
        what = "logarithm" if plan.fn.kind == "log" else f"power {plan.fn.p:g}"
        raise SingularMatrixError(
            f"{plan.name}: {where} is singular or indefinite to working precision (smallest eigenvalue <= n * eps * "
            f"max |eigenvalue| = {n} * {plan.eps:.3g} * max |w|); its {what} is not defined. Pass ridge=eps to "
            f"{plan.name} (a + eps * I) to regularise it"
        )
    raise ValueError(
        f"{_domain(plan)}; {where} has a negative eigenvalue (below -{_validation.symmetry_rtol(n, plan.eps):.3g} "
        "* max |eigenvalue|). Project it onto the PSD cone (clip negative eigenvalues) or add a ridge."
    )


def _check_output(x: Any, y: Any, /, *, plan: _Plan, xp: ModuleType) -> None:
    yv = _compat.values(y)
    with _compat.quiet(xp, yv):
        finite = xp.all(xp.isfinite(yv), axis=(-2, -1))
        if not bool(xp.all(finite)):
            where = _first_bad(~finite, tuple(yv.shape[:-2]), xp)
            raise ValueError(
                f"{plan.name}(method={plan.method!r}) gave NaN/Inf for {where}: the result overflows the dtype, or "
                "the input is outside the method's range. check=False returns the raw result."
            )


# --- the computation ---------------------------------------------------------------------------------------


def _glue(xp: ModuleType) -> ModuleType | None:
    name = _compat.backend_name(xp)
    if name == "torch":
        from .backends import _spectral_torch

        return _spectral_torch
    if name == "jax":
        from .backends import _spectral_jax

        return _spectral_jax
    return None


def _sqrt_steps(plan: _Plan, level: int) -> int:
    """Newton–Schulz steps of the ``level``-th square root of a chain: the first covers the first root's condition
    number ``K`` (``plan.num_iters`` steps), the ``level``-th sees ``K^(1/2^level)``."""
    if level == 0:
        return plan.num_iters
    cov = root_covered(DEFAULT_SCHEDULE, plan.num_iters, plan.eps)  # steps of sqrtm's default schedule
    return root_iters(DEFAULT_SCHEDULE, max(cov ** (0.5**level), 1.0), plan.eps)


def _chain(x: Any, /, *, plan: _Plan, levels: int, last_inverse: bool, check: bool, vjps: list | None) -> Any:
    """``levels`` square roots in a row by the public ``sqrtm`` (the last one ``inv_sqrtm`` if ``last_inverse``),
    Newton–Schulz with steps for each level's condition number. ``vjps``: collect the roots' VJP closures."""
    from ._api import inv_sqrtm, inv_sqrtm_vjp, sqrtm, sqrtm_vjp

    for level in range(levels):
        inverse = last_inverse and level == levels - 1
        kw: dict[str, Any] = dict(
            method="newton-schulz", num_iters=_sqrt_steps(plan, level), check=check and level == 0
        )
        try:
            if vjps is None:
                x = (inv_sqrtm if inverse else sqrtm)(x, **kw)
            else:
                x, vjp = (inv_sqrtm_vjp if inverse else sqrtm_vjp)(x, **kw)
                vjps.append(vjp)
        except ValueError as exc:
            what = f"p={plan.fn.p:g}" if plan.name == "powm" else f"max_cond={plan.max_cond:g}"
            raise type(exc)(
                f"{plan.name}({what}, method={plan.method!r}), square root {level + 1} of {levels}: {exc}"
            ) from exc
    return x


def _iss_parameters(plan: _Plan) -> tuple[int, int, float]:
    s, m = coefficients.iss_parameters(plan.max_cond, plan.eps)
    return s, m, plan.max_cond ** (-(0.5 ** (s + 1)))


def _product_forward(x: Any, /, *, plan: _Plan, check: bool, xp: ModuleType, vjps: list | None = None) -> Any:
    """The matrix-product methods on the (ridged, compute-dtype) input ``x``. With ``vjps`` (a list), also
    collect what a manual backward through the chain needs (``"newton-schulz"``, ``"iss"``)."""
    eye = primitives.eye_like(x, xp=xp)
    if plan.method == "newton-schulz":
        return _chain(x, plan=plan, levels=plan.q, last_inverse=plan.fn.p < 0, check=check, vjps=vjps)
    if plan.method == "newton":
        a_n, c = normalize(primitives.sym(x), scale="spectral", xp=xp)
        y = family.newton_inv_root(a_n, q=plan.q, num_iters=plan.num_iters, eps=plan.eps, xp=xp)
        return y * c ** (-1.0 / plan.q)
    if plan.method == "iss":
        s, m, mu = _iss_parameters(plan)
        a_n, c = normalize(primitives.sym(x), scale="spectral", xp=xp)
        if vjps is not None:  # the scale c cancels in the exact logarithm: the manual backward holds it constant
            vjps.append(c)
        r = _chain(a_n, plan=plan, levels=s, last_inverse=False, check=check, vjps=vjps) if s else a_n
        z = r * (1.0 / mu) - eye
        if vjps is not None:
            vjps.append(z)
        return (2.0**s) * family.log_pade(z, m=m, xp=xp) + ((2.0**s) * math.log(mu) + xp.log(c)) * eye
    if plan.method == "taylor":
        degree, squarings = coefficients.expm_taylor_parameters(plan.max_spread, plan.eps)
        xs = primitives.sym(x)
        mu = xp.max(primitives.real(xp.linalg.diagonal(xs), xp=xp), axis=-1)[..., None, None]
        # exp(A) = e^mu exp(A - mu I) for every mu: its derivative through mu cancels (to the approximation)
        e = family.expm1_squaring(xs - mu * eye, degree=degree, squarings=squarings, xp=xp)
        return xp.exp(mu) * (eye + e)
    raise AssertionError(plan.method)


def _host_threads(x: Any) -> Any:
    """``matfunc._threads``' plan for NumPy-backed host arrays (one BLAS thread, the batch over worker
    threads), as ``sqrtm`` has it; a no-op for the other backends."""
    from ._api import _host_threads as plan

    return plan(x)


def _forward(x: Any, /, *, plan: _Plan, check: bool, xp: ModuleType) -> tuple[Any, Any, Any]:
    """``(f(x), w, asym)``: ``w`` the eigenvalues for ``"eig"`` (for its checks), else None; ``asym`` the
    input's asymmetry where the forward read it (PyTorch: :func:`_check_spectrum`)."""
    glue = _glue(xp)
    if plan.method == "eig":
        if glue is not None:
            if check:
                return glue.apply_spectral(x, fn=plan.fn, eps=plan.eps, eigenvalues=True)
            return glue.apply_spectral(x, fn=plan.fn, eps=plan.eps), None, None
        return (*spectral.spectral_forward(primitives.sym(x), plan.fn, eps=plan.eps, xp=xp)[:2], None)
    y = _product_forward(x, plan=plan, check=check, xp=xp)
    if plan.backward == "eig" and glue is not None:
        y = glue.straight_through(y, glue.apply_spectral(x, fn=plan.fn, eps=plan.eps))
    return y, None, None


def _resolve(
    a: Any,
    /,
    *,
    name: str,
    fn: spectral.Spectral,
    method: object,
    backward: object,
    num_iters: object,
    max_cond: object,
    max_spread: object,
    xp: ModuleType,
) -> tuple[_Plan, Any]:
    _validation.check_static(a, name=name, xp=xp)
    ctype = _validation.compute_dtype(a.dtype, xp=xp)
    eps = float(xp.finfo(ctype).eps)
    p = fn.p if fn.kind == "power" else None
    m = _method(name, method, p=p, on_cpu=_compat.is_cpu(a) or _compat.backend_name(xp) == "dask")
    plan = _Plan(name=name, fn=fn, method=m, backward=_backward(backward, m), eps=eps)
    if num_iters is not None and m not in ("newton", "newton-schulz"):
        raise ValueError(f"num_iters applies to method='newton' or 'newton-schulz', not {m!r}")
    if max_cond is not None and m != "iss":
        raise ValueError(f"max_cond applies to logm(method='iss'), not {m!r}")
    if max_spread is not None and m != "taylor":
        raise ValueError(f"max_spread applies to expm(method='taylor'), not {m!r}")
    if m == "newton":
        q = _inverse_root(p)
        assert q is not None  # _method accepts "newton" only for p = -1/q
        k = (
            num_iters
            if num_iters is not None
            else coefficients.newton_root_iters(q, coefficients.ns_condition_covered(default_ns_iters(eps), eps), eps)
        )
        plan = _replace(plan, q=q, num_iters=_int(k, "num_iters"))
    elif m == "newton-schulz":
        k = default_forward_iters(eps) if num_iters is None else num_iters
        plan = _replace(plan, q=_dyadic(p), num_iters=_int(k, "num_iters"))
    elif m == "iss":
        default = coefficients.ns_condition_covered(default_ns_iters(eps), eps)
        cond = default if max_cond is None else _positive_number(max_cond, "max_cond", minimum=1.0)
        plan = _replace(plan, max_cond=cond, num_iters=root_iters(DEFAULT_SCHEDULE, cond, eps))
    elif m == "taylor":
        default = 1024.0 if eps < 1e-10 else 256.0
        spread = default if max_spread is None else _positive_number(max_spread, "max_spread", minimum=0.0)
        plan = _replace(plan, max_spread=max(spread, 1.0))
    return plan, ctype


def _replace(plan: _Plan, **kw: Any) -> _Plan:
    import dataclasses

    return dataclasses.replace(plan, **kw)


def _int(value: object, what: str) -> int:
    from .core.options import _int as to_int

    return to_int(value, what, 1)


def _cast(x: Any, dtype: Any, xp: ModuleType) -> Any:
    return xp.astype(x, dtype) if x.dtype != dtype else x


def _prepared(a: Any, ctype: Any, ridge: float, check: bool, /, *, plan: Any, xp: Any) -> tuple[Any, bool]:
    """The input in the compute dtype with its ridge, and whether values are checked; checks it if so."""
    x = _ridged(_cast(a, ctype, xp), ridge, xp)
    check = check and _compat.is_concrete(x)  # no value checks under a trace (issue 25 item 8)
    if check and plan.method != "eig":  # "eig": everything from its eigenvalues, after it (_check_spectrum)
        _check_input(x, plan=plan, xp=xp)
        if plan.method == "taylor":
            _check_spread(x, plan=plan, xp=xp)
        _check_cover(x, plan=plan, xp=xp)
    return x, check


def _ridged(x: Any, ridge: float, xp: ModuleType) -> Any:
    return x + ridge * primitives.eye_like(x, xp=xp) if ridge else x


def _run(
    a: Any,
    /,
    *,
    name: str,
    fn: spectral.Spectral,
    method: object,
    ridge: object,
    check: bool,
    backward: object = "auto",
    num_iters: object = None,
    max_cond: object = None,
    max_spread: object = None,
) -> Any:
    a = _validation.as_array(a)
    xp = _compat.array_namespace(a)
    plan, ctype = _resolve(
        a,
        name=name,
        fn=fn,
        method=method,
        backward=backward,
        num_iters=num_iters,
        max_cond=max_cond,
        max_spread=max_spread,
        xp=xp,
    )
    ridge = _positive_number(ridge, "ridge", minimum=0.0)
    if _compat.backend_name(xp) == "dask":
        return _dask_map(
            a,
            lambda blk: _run(
                blk,
                name=name,
                fn=fn,
                method=plan.method,
                ridge=ridge,
                check=check,
                backward=backward,
                num_iters=num_iters,
                max_cond=max_cond,
                max_spread=max_spread,
            ),
        )
    if 0 in a.shape:
        return xp.astype(a, a.dtype, copy=True)
    x, check = _prepared(a, ctype, ridge, check, plan=plan, xp=xp)
    with _compat.quiet(xp, x), _host_threads(x) as (workers, map_), _named_errors(x, check, plan=plan, xp=xp):
        if plan.method == "eig" and _glue(xp) is None:  # host arrays: blocks of the batch in the worker threads
            from ._api import _blocks
            from .core.blocking import over_batch

            y, w, _, asym = over_batch(
                lambda t: _host_eig_forward(t, plan=plan, check=check, xp=xp, vectors=False),
                (x,),
                *_blocks(x, xp, workers, eig=True),
                xp=xp,
                map_=map_,
            )
        else:
            y, w, asym = _forward(x, plan=plan, check=check, xp=xp)
        if check and plan.method == "eig":
            _check_spectrum(x, y, w, plan=plan, xp=xp, asym=asym)
        elif check:
            _check_output(x, y, plan=plan, xp=xp)
    return _cast(y, a.dtype, xp)


def _host_eig_forward(
    t: Any, /, *, plan: _Plan, check: bool, xp: ModuleType, vectors: bool = True
) -> tuple[Any, Any, Any, Any]:
    """``(f(t), w, V, asym)`` of one block of a host batch: the asymmetry of the input for ``check=True``
    (:func:`_check_spectrum`), read in the pass that symmetrises it, while the block is in cache. The symmetric
    part feeds ``eigh`` only (its lower triangle) and its array takes the result (exactly symmetric input: the
    input itself, read only); ``vectors=False``: no ``V``
    (forward only: its array is reused too)."""
    if check:
        s, asym = primitives.symmetrize(t, xp=xp, with_asymmetry=True, lower=True, copy=False)
    else:
        s, asym = primitives.symmetrize(t, xp=xp, lower=True, copy=False), None
    fresh = not primitives.shares_memory(s, t)  # (exactly symmetric input: t itself, never written)
    return (*spectral.spectral_forward(s, plan.fn, eps=plan.eps, xp=xp, overwrite_a=fresh, vectors=vectors), asym)


def _run_vjp(
    a: Any,
    /,
    *,
    name: str,
    fn: spectral.Spectral,
    method: object,
    ridge: object,
    check: bool,
    backward: object = "auto",
    num_iters: object = None,
    max_cond: object = None,
    max_spread: object = None,
) -> tuple[Any, Any]:
    a = _validation.as_array(a)
    xp = _compat.array_namespace(a)
    plan, ctype = _resolve(
        a,
        name=name,
        fn=fn,
        method=method,
        backward=backward,
        num_iters=num_iters,
        max_cond=max_cond,
        max_spread=max_spread,
        xp=xp,
    )
    ridge = _positive_number(ridge, "ridge", minimum=0.0)
    kw: dict[str, Any] = dict(
        name=name,
        fn=fn,
        method=plan.method,
        ridge=ridge,
        check=check,
        backward=backward,
        num_iters=num_iters,
        max_cond=max_cond,
        max_spread=max_spread,
    )
    if _compat.backend_name(xp) == "dask":
        y = _dask_map(a, lambda blk: _run(blk, **kw))
        shape = tuple(a.shape)

        def dask_vjp(g: Any) -> Any:
            _check_cotangent(g, shape, name)
            return _dask_map(a, lambda blk, gb: _run_vjp(blk, **kw)[1](gb), g)

        return y, dask_vjp
    dtype, shape = a.dtype, tuple(a.shape)
    if 0 in a.shape:
        return xp.astype(a, dtype, copy=True), lambda g: xp.zeros_like(a)
    x, check = _prepared(a, ctype, ridge, check, plan=plan, xp=xp)
    from ._api import _blocks
    from .core.blocking import over_batch

    host = _glue(xp) is None  # host arrays: blocks of the batch in the worker threads (as in _run)

    def blocks(t: Any, workers: int) -> tuple[tuple[int, ...], int | None]:
        return _blocks(t, xp, workers, eig=True) if host else (tuple(t.shape[:-2]), None)

    with _compat.quiet(xp, x), _host_threads(x) as (workers, map_):
        chained = plan.backward == "auto" and plan.method in ("newton-schulz", "iss")
        if plan.method == "eig":
            with _named_errors(x, check, plan=plan, xp=xp):
                y, w, v, asym = over_batch(
                    lambda t: _host_eig_forward(t, plan=plan, check=check, xp=xp),
                    (x,),
                    *blocks(x, workers),
                    xp=xp,
                    map_=map_,
                )
        else:
            parts: list[Any] = []  # the VJPs of the chained roots (collected only when chained)
            y = _product_forward(x, plan=plan, check=check, xp=xp, vjps=parts if chained else None)
            if not chained:
                w, v = spectral.eigh(primitives.sym(x), xp=xp)
        if check and plan.method == "eig":
            _check_spectrum(x, y, w, plan=plan, xp=xp, asym=asym)
        elif check:
            _check_output(x, y, plan=plan, xp=xp)

    def vjp(g: Any) -> Any:
        _check_cotangent(g, shape, name)
        gc = _cast(g, ctype, xp)
        with _compat.quiet(xp, gc), _host_threads(gc) as (workers, map_):
            if not chained:
                da = over_batch(
                    lambda ww, vv, gg: spectral.spectral_vjp(ww, vv, gg, plan.fn, eps=plan.eps, xp=xp),
                    (w, v, gc),
                    *blocks(gc, workers),
                    xp=xp,
                    map_=map_,
                )
            elif plan.method == "newton-schulz":
                da = gc
                for back in reversed(parts):
                    da = back(da)
            else:  # iss: y = 2^s log_pade(R / mu - I) + const, R = the chain of roots of A / c
                s, m, mu = _iss_parameters(plan)
                c, roots, z = parts[0], parts[1:-1], parts[-1]
                da = (2.0**s / mu) * family.log_pade_vjp(z, gc, m=m, xp=xp)
                for back in reversed(roots):
                    da = back(da)
                da = da / c
        if chained:  # (spectral_vjp's result is exactly symmetric already)
            da = primitives.symmetrize(da, xp=xp)
        return _cast(da, dtype, xp)

    return _cast(y, dtype, xp), vjp


def _check_cotangent(g: Any, shape: tuple[int, ...], name: str) -> None:
    if tuple(g.shape) != shape:
        raise ValueError(f"{name}_vjp: the cotangent must have the output's shape {shape}, got {tuple(g.shape)}")


def _dask_map(a: Any, fn: Any, *more: Any) -> Any:
    """``fn`` on every chunk of whole matrices (matrix axes rechunked to full size), lazily."""
    from .backends.dask import map_blocks  # a chunk's error names the batch index in the whole array

    def whole(x: Any) -> Any:
        return x.rechunk({x.ndim - 2: -1, x.ndim - 1: -1})

    args = [whole(a), *(whole(m).rechunk(whole(a).chunks) for m in more)]
    return map_blocks(fn, *args, dtype=a.dtype, meta=a._meta)


# --- public functions --------------------------------------------------------------------------------------


def _power(p: object) -> spectral.Spectral:
    pf = static_real(p, "powm: p")
    if not math.isfinite(pf):
        raise ValueError(f"powm: p must be finite, got {p!r}")
    return spectral.power(pf)


def powm(
    a: Any,
    p: float,
    /,
    method: str = "auto",
    *,
    ridge: float = 0.0,
    num_iters: int | None = None,
    backward: str = "auto",
    check: bool = True,
) -> Any:
    r"""Real power :math:`A^p` of a batch of symmetric positive (semi)definite matrices.

    :math:`A^p = V \operatorname{diag}(\lambda^p) V^T` for :math:`A = V \operatorname{diag}(\lambda) V^T`
    (SciPy: :func:`scipy.linalg.fractional_matrix_power`). ``p = 0`` is the identity, ``p = 1/2`` and ``-1/2``
    agree with :func:`sqrtm` and :func:`inv_sqrtm`. Negative ``p`` needs positive definite input.

    Parameters
    ----------
    a : array of shape (..., n, n)
        Any supported array library; the function of :math:`(A + A^H)/2` is computed.
    p : float
        The exponent.
    method : {"auto", "eig", "newton-schulz", "newton"}, optional
        ``"eig"``: eigendecomposition (exact). ``"newton-schulz"``: for ``p = ±1/2^k``, ``k`` chained square
        roots by :func:`sqrtm` (the last by :func:`inv_sqrtm` for ``p < 0``), each by Newton–Schulz with the
        steps for its condition number (:math:`A^{-1/4}` = ``inv_sqrtm(sqrtm(A))``). ``"newton"``: for
        ``p = -1/q``, the scaled coupled Newton iteration (the Shampoo method; :func:`newton_root_iters`).
        ``"auto"``: ``"eig"`` on CPU; on GPUs ``"newton-schulz"`` for ``±1/2^k``, ``"newton"`` for ``-1/q``,
        else ``"eig"``.
    ridge : float, optional
        Absolute ridge: the function of :math:`A + \text{ridge}\, I` (what Shampoo and ZCA users add to
        regularise the inverse functions), gradients included.
    num_iters : int, optional
        ``"newton"``: its steps (default: those covering the condition number of :func:`sqrtm`'s default,
        1.55e8 in float64 and 1.9e5 in float32; 14 for ``q = 4`` in float64). ``"newton-schulz"``: the steps of the
        first square root, in :func:`sqrtm`'s default schedule (``"polar-express"``; default 10 / 7 in float64 /
        float32, :func:`newton_schulz_iters`); the later ones take the steps for the square-rooted condition number.
    backward : {"auto", "eig"}, optional
        ``"auto"``: after ``"eig"`` the exact Daleckii–Krein backward; after a matrix-product forward, PyTorch and
        JAX differentiate through its kernels (the square roots by their Lyapunov backward), :func:`powm_vjp`
        chains the roots' Lyapunov backwards (``"newton-schulz"``) or uses the exact one (``"newton"``).
        ``"eig"``: the exact backward (an ``eigh`` of the input).
    check : bool, optional
        On concrete arrays: the input (finite, symmetric, positive semidefinite; positive definite for ``p < 0``);
        for ``"newton"`` and the ``"newton-schulz"`` chains its condition number within what their steps cover
        (one Cholesky; beyond it they raise naming ``num_iters``), so the result is within the forward error of
        docs/guides/checks.md; the result finite. Errors name the offending matrix.

    Returns
    -------
    array of shape (..., n, n)
        Same library, device and dtype as ``a`` (half precision is computed in float32).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a = np.array([[16.0, 0.0], [0.0, 81.0]])
    >>> matfunc.powm(a, -0.25)
    array([[0.5       , 0.        ],
           [0.        , 0.33333333]])
    >>> bool(np.allclose(matfunc.powm(a, -0.25, method="newton-schulz"), matfunc.powm(a, -0.25)))
    True
    >>> bool(np.allclose(matfunc.powm(a, -0.25, method="newton"), matfunc.powm(a, -0.25)))
    True
    """
    return _run(
        a, name="powm", fn=_power(p), method=method, ridge=ridge, check=check, backward=backward, num_iters=num_iters
    )


def logm(
    a: Any,
    /,
    method: str = "auto",
    *,
    ridge: float = 0.0,
    max_cond: float | None = None,
    backward: str = "auto",
    check: bool = True,
) -> Any:
    r"""Principal logarithm of a batch of symmetric positive definite matrices (:func:`scipy.linalg.logm`).

    Parameters
    ----------
    a : array of shape (..., n, n)
        Symmetric positive definite (the function of :math:`(A + A^H)/2`).
    method : {"auto", "eig", "iss"}, optional
        ``"eig"``: :math:`V \operatorname{diag}(\log\lambda) V^T`. ``"iss"``: inverse scaling and squaring,
        :math:`\log A = 2^s \log\big(A_n^{1/2^s}\big) + \log c\, I` with ``s`` Newton–Schulz square roots
        (:func:`sqrtm`) and an ``m``-point Gauss–Legendre (Padé) rule for the last logarithm: matrix products
        and ``m`` Cholesky solves. ``"auto"``: ``"eig"`` on CPU, ``"iss"`` on GPUs.
    ridge : float, optional
        :math:`\log(A + \text{ridge}\, I)`.
    max_cond : float, optional
        ``"iss"``: the condition number it covers (default that of :func:`sqrtm`'s Newton–Schulz default,
        1.55e8 in float64, 1.9e5 in float32); ``s``, ``m`` and the steps follow from it
        (:func:`matfunc.core.coefficients.iss_parameters`).
    backward : {"auto", "eig"}, optional
        As in :func:`powm`; :func:`logm_vjp` with ``"iss"`` chains the square roots' Lyapunov backwards and the
        exact derivative of the Gauss–Legendre rule.
    check : bool, optional
        Input finite, symmetric and positive definite (else :class:`SingularMatrixError`); for ``"iss"`` its
        condition number within ``max_cond`` (one Cholesky); result finite.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a = np.diag([1.0, np.e, np.e**2])
    >>> matfunc.logm(a)
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 2.]])
    >>> bool(np.allclose(matfunc.expm(matfunc.logm(a, method="iss")), a))
    True
    """
    return _run(
        a, name="logm", fn=spectral.LOG, method=method, ridge=ridge, check=check, backward=backward, max_cond=max_cond
    )


def expm(
    a: Any, /, method: str = "auto", *, max_spread: float | None = None, backward: str = "auto", check: bool = True
) -> Any:
    r"""Exponential of a batch of symmetric (Hermitian) matrices of any sign (:func:`scipy.linalg.expm`).

    Parameters
    ----------
    a : array of shape (..., n, n)
        Symmetric (the function of :math:`(A + A^H)/2` is computed).
    method : {"auto", "eig", "taylor"}, optional
        ``"eig"``: :math:`V \operatorname{diag}(e^\lambda) V^T`. ``"taylor"``: scaling and squaring,
        :math:`e^A = e^\mu (I + E)`, :math:`E = e^{A - \mu I} - I` from a Taylor polynomial at
        :math:`(A - \mu I)/2^s` and ``s`` squarings :math:`E \leftarrow 2E + E^2` (``mu`` the largest diagonal
        entry, so that :math:`\|e^{A - \mu I}\|_2 \ge 1`). ``"auto"``: ``"eig"`` on CPU, ``"taylor"`` on GPUs.
    max_spread : float, optional
        ``"taylor"``: the largest :math:`\max_i |\lambda_i - \mu|` it covers (default 1024 in float64, 256 in
        float32); the degree and the squarings follow from it
        (:func:`matfunc.core.coefficients.expm_taylor_parameters`). ``check=True`` tests it.
    backward : {"auto", "eig"}, optional
        As in :func:`powm`; :func:`expm_vjp` uses the exact backward after either forward.
    check : bool, optional
        Input finite and symmetric; result finite; the spread for ``"taylor"``.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> y = matfunc.expm(a)
    >>> bool(np.allclose(y, [[np.cosh(1), np.sinh(1)], [np.sinh(1), np.cosh(1)]]))
    True
    >>> bool(np.allclose(matfunc.expm(a, method="taylor"), y))
    True
    """
    return _run(
        a, name="expm", fn=spectral.EXP, method=method, ridge=0.0, check=check, backward=backward, max_spread=max_spread
    )


_VJP_DOC = """{title}

Returns the result and a function mapping an upstream gradient ``g`` (same shape) to the gradient with respect
to ``a``: ``y, vjp = matfunc.{name}_vjp(a{p}); da = vjp(g)``: gradients on arrays without automatic
differentiation (NumPy, CuPy, array-api-strict, Dask), on any backend. Options are those of :func:`{name}`.
The backward is the exact Daleckii–Krein formula
:math:`\\bar A = V [f^{{[1]}}(\\lambda_i, \\lambda_j)\\,(V^T \\operatorname{{sym}}(G) V)_{{ij}}] V^T` (finite at
repeated eigenvalues), except after {chain}.

Examples
--------
>>> import numpy as np, matfunc
>>> a = np.array([[4.0, 1.0], [1.0, 3.0]])
>>> y, vjp = matfunc.{name}_vjp(a{p})
>>> da = vjp(np.eye(2))
>>> bool(np.allclose(da, {check}))
True
"""


def powm_vjp(
    a: Any,
    p: float,
    /,
    method: str = "auto",
    *,
    ridge: float = 0.0,
    num_iters: int | None = None,
    backward: str = "auto",
    check: bool = True,
) -> tuple[Any, Any]:
    return _run_vjp(
        a, name="powm", fn=_power(p), method=method, ridge=ridge, check=check, backward=backward, num_iters=num_iters
    )


def logm_vjp(
    a: Any,
    /,
    method: str = "auto",
    *,
    ridge: float = 0.0,
    max_cond: float | None = None,
    backward: str = "auto",
    check: bool = True,
) -> tuple[Any, Any]:
    return _run_vjp(
        a, name="logm", fn=spectral.LOG, method=method, ridge=ridge, check=check, backward=backward, max_cond=max_cond
    )


def expm_vjp(
    a: Any, /, method: str = "auto", *, max_spread: float | None = None, backward: str = "auto", check: bool = True
) -> tuple[Any, Any]:
    return _run_vjp(
        a, name="expm", fn=spectral.EXP, method=method, ridge=0.0, check=check, backward=backward, max_spread=max_spread
    )


powm_vjp.__doc__ = _VJP_DOC.format(
    title="Matrix power and its vector-Jacobian product.",
    name="powm",
    p=", 0.5",
    chain='``method="newton-schulz"``, whose backward chains the square roots\' Lyapunov backwards',
    check="matfunc.sqrtm_vjp(a)[1](np.eye(2))",
)
logm_vjp.__doc__ = _VJP_DOC.format(
    title="Matrix logarithm and its vector-Jacobian product.",
    name="logm",
    p="",
    chain='``method="iss"``, whose backward chains the square roots\' Lyapunov backwards and the Gauss–Legendre '
    "rule's exact derivative",
    check="np.linalg.inv(a)",
)
expm_vjp.__doc__ = _VJP_DOC.format(
    title="Matrix exponential and its vector-Jacobian product.",
    name="expm",
    p="",
    chain="nothing (always exact)",
    check="matfunc.expm_vjp(a, method='taylor', backward='eig')[1](np.eye(2))",
)
