"""Checks of the input: static ones (shape, dtype) always, value ones (finite, symmetric, singular) on
concrete arrays when ``check=True``. Value checks read array values back to the host once."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from ._errors import SingularMatrixError
from .core.accuracy import residual_bound, rounding_growth
from .core.newton_schulz import LOW_COVERED, LOW_EPS
from .core.options import DEFAULT_SCHEDULE, Options
from .core.primitives import is_complex, mH, real, sym

__all__ = [
    "as_array",
    "check_static",
    "compute_dtype",
    "check_finite",
    "check_values",
    "check_result",
    "check_nonsingular",
    "check_accuracy",
    "accuracy_stats",
    "raise_accuracy",
    "check_lyapunov",
    "symmetry_rtol",
]


def as_array(a: Any, /) -> Any:
    """What SciPy accepts, as a plain array: lists/tuples become NumPy arrays (integers as float64),
    ``np.matrix`` (whose ``*`` is a matrix product) a plain ``ndarray``, and non-native byte order native
    (``>f8`` is float64, computed in float64). Arrays of other frameworks pass through."""
    if isinstance(a, (list, tuple)):
        a = np.asarray(a)
        if a.dtype.kind in "biu":
            a = a.astype(np.float64)
    if isinstance(a, np.ndarray):
        if type(a) is not np.ndarray:
            a = np.asarray(a)
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
    return a


def check_static(a: Any, /, *, name: str, xp: ModuleType) -> None:
    """Shape ``(..., n, n)`` and a floating dtype (real, or complex for Hermitian input), else ``ValueError`` /
    ``TypeError`` naming them."""
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name} expects a (..., n, n) array of square matrices, got shape {tuple(a.shape)}")
    dtype = a.dtype
    if not xp.isdtype(dtype, ("real floating", "complex floating")):
        raise TypeError(f"{name} expects a real or complex floating-point array, got dtype {dtype}")
    if xp.finfo(dtype).bits > 64:
        raise TypeError(
            f"{name}: extended precision ({dtype}) is not supported (the linear algebra runs in float64 at most, "
            "and the result would silently lose digits); cast to float64"
        )


def compute_dtype(dtype: Any, /, *, xp: ModuleType) -> Any:
    """float32/float64 and complex64/complex128 are computed natively; half precisions (float16, bfloat16) in
    float32, and torch's complex32 (two float16 halves; no linear algebra in it) in complex64."""
    if dtype in (xp.float32, xp.float64, xp.complex64, xp.complex128):
        return dtype
    return xp.complex64 if xp.isdtype(dtype, "complex floating") else xp.float32


def symmetry_rtol(n: int, eps: float) -> float:
    """Allowed ``max |a - a^T| / max |a|``: ``max(1000, 10 n) * eps`` (1.1e-4 in float32 at n = 64)."""
    return max(1000.0, 10.0 * n) * eps


def _first_bad(mask: Any, /, *, xp: ModuleType, shape: tuple[int, ...]) -> str:
    """Batch index of the first True entry of a ``batch_shape`` mask, as text."""
    if not shape:
        return "the matrix"
    flat = xp.reshape(mask, (-1,))
    i = int(xp.argmax(xp.astype(flat, xp.int32)))
    idx = []
    for dim in reversed(shape):
        idx.append(i % dim)
        i //= dim
    return f"the matrix at batch index {tuple(reversed(idx))}"


def low_dtype(a: Any, low: str, /, *, name: str, xp: ModuleType) -> Any:
    """The dtype object of ``matmul_dtype`` (``"bfloat16"``/``"float16"``) for real ``a``: ``ValueError`` where the
    namespace lacks it (NumPy/CuPy have no bfloat16; Dask's is looked up in its chunks') or ``a`` is complex."""
    from . import _compat

    ns = _compat.array_namespace(a._meta) if _compat.backend_name(xp) == "dask" else xp
    dtype = getattr(ns, low, None)
    if dtype is None:
        raise ValueError(
            f"{name}: matmul_dtype={low!r} is not a dtype of {_compat.backend_name(xp)}; use PyTorch or JAX arrays "
            "(bfloat16 and float16), NumPy/CuPy for float16, or matmul_dtype=None"
        )
    if is_complex(a):
        raise ValueError(f"{name}: matmul_dtype applies to real input, got {a.dtype}")
    return dtype


def check_finite(a: Any, /, *, name: str, xp: ModuleType) -> None:
    """``ValueError`` naming the first matrix with a NaN or Inf."""
    finite = xp.all(xp.isfinite(a), axis=(-2, -1))
    if not bool(xp.all(finite)):
        raise ValueError(f"{name}: input contains NaN or Inf ({_first_bad(~finite, xp=xp, shape=tuple(a.shape[:-2]))})")


def check_values(a: Any, /, *, name: str, eps: float, xp: ModuleType) -> None:
    """NaN/Inf, symmetry and negative diagonal entries (a necessary condition of semidefiniteness: the full
    test costs a factorisation); ``ValueError`` naming the first offending matrix. ``eps`` is that of the
    compute dtype; half-precision input may also be asymmetric by 16 units in its own last place."""
    batch = tuple(a.shape[:-2])
    scale = xp.max(xp.abs(a), axis=(-2, -1))
    if not bool(xp.all(xp.isfinite(scale))):  # max propagates NaN and Inf: one pass instead of isfinite(a)
        check_finite(a, name=name, xp=xp)
    n = a.shape[-1]
    # Hermitian: a - a^H includes 2i Im(a_ii). Halves first: no overflow near the float maximum.
    asym = 2.0 * xp.max(xp.abs(a * 0.5 - mH(a) * 0.5), axis=(-2, -1))
    rtol = max(symmetry_rtol(n, eps), 16.0 * float(xp.finfo(a.dtype).eps))
    bad = asym > rtol * scale
    if bool(xp.any(bad)):
        where = _first_bad(bad, xp=xp, shape=batch)
        worst = float(xp.max(asym / xp.where(scale > 0, scale, xp.ones_like(scale))))
        raise ValueError(
            f"{name} expects symmetric matrices; {where} is not symmetric "
            f"(max |a - a^T| / max |a| = {worst:.3g} > {rtol:.3g}). Symmetrise it, e.g. (a + a^T) / 2."
            if not is_complex(a)
            else f"{name} expects Hermitian matrices; {where} is not Hermitian "
            f"(max |a - a^H| / max |a| = {worst:.3g} > {rtol:.3g}; a real diagonal included). "
            "Take its Hermitian part, e.g. (a + a^H) / 2."
        )
    negative = xp.min(real(xp.linalg.diagonal(a), xp=xp), axis=-1) < -rtol * scale
    if bool(xp.any(negative)):
        raise ValueError(
            f"{name} expects positive semidefinite matrices; {_first_bad(negative, xp=xp, shape=batch)} has a "
            "negative diagonal entry, so it has a negative eigenvalue and no real square root"
        )


def check_result(y: Any, /, *, name: str, method: str, xp: ModuleType) -> None:
    """A non-finite result from finite input: the input was indefinite (or too ill-conditioned for the
    method); ``ValueError`` naming the first such matrix instead of returning NaN/Inf."""
    finite = xp.all(xp.isfinite(y), axis=(-2, -1))
    if not bool(xp.all(finite)):
        where = _first_bad(~finite, xp=xp, shape=tuple(y.shape[:-2]))
        raise ValueError(
            f"{name}(method={method!r}) gave NaN/Inf for {where}: the input is not positive semidefinite (a "
            "negative eigenvalue), or too ill-conditioned for this method; method='eig' treats eigenvalues "
            "below zero as zero. Pass check=False to get the raw result."
        )


def check_nonsingular(a: Any, /, *, name: str, eps: float, xp: ModuleType) -> None:
    """``SingularMatrixError`` unless every matrix has ``lambda_min > n * eps * max_i a_ii``.

    Tested with one Cholesky factorisation of ``a - delta I`` (``delta = n eps max_i a_ii``): it succeeds
    exactly when the shifted matrix is positive definite, i.e. ``a`` is far enough from singular for its
    inverse square root to carry information. On failure (error path only) one batched ``eigvalsh`` finds
    the first offending matrix.
    """
    n = a.shape[-1]
    if _definite(a, eps=eps, xp=xp):
        return
    dmax = xp.max(real(xp.linalg.diagonal(a), xp=xp), axis=-1)
    bad = xp.min(xp.linalg.eigvalsh(a), axis=-1) <= (n * eps) * dmax
    where = _first_bad(bad, xp=xp, shape=tuple(a.shape[:-2])) if bool(xp.any(bad)) else "a matrix of the batch"
    raise SingularMatrixError(
        f"{name}: {where} is singular or indefinite to working precision (smallest eigenvalue <= n * eps * "
        f"max diagonal = {n} * {eps:.3g} * max a_ii); its inverse square root is not defined. Add a ridge "
        "(a + eps * I) to regularise it"
    )


def _definite(a: Any, /, *, eps: float, xp: ModuleType) -> bool:
    """Whether Cholesky of ``a - n eps max(a_ii) I`` succeeds for every matrix of the batch."""
    n = a.shape[-1]
    dmax = xp.max(real(xp.linalg.diagonal(a), xp=xp), axis=-1, keepdims=True)[..., None]
    if not bool(xp.all(dmax > 0)):
        return False
    eye = xp.eye(n, dtype=a.dtype, device=_device(a))
    return cholesky_ok(a - (n * eps) * dmax * eye, xp=xp)


def cholesky_ok(m: Any, /, *, xp: ModuleType) -> bool:
    """Whether the Cholesky factorisation of every matrix of ``m`` succeeds (NumPy/PyTorch raise their
    LinAlgError on failure; JAX returns NaN instead)."""
    try:
        factor = xp.linalg.cholesky(m)
    except Exception as exc:
        if "LinAlgError" not in type(exc).__name__ and "linalg" not in str(exc).lower():
            raise
        return False
    return bool(xp.all(xp.isfinite(factor)))


def _device(a: Any) -> Any:
    from ._compat import device

    return device(a)


def _fro(x: Any, /, *, xp: ModuleType) -> Any:
    """Frobenius norms of a batch of matrices in one pass (``vecdot`` of the flattened matrices)."""
    flat = xp.reshape(x, (*x.shape[:-2], x.shape[-2] * x.shape[-1]))
    return xp.sqrt(real(xp.vecdot(flat, flat), xp=xp))  # vecdot conjugates its first argument: |x|^2


def _trace(x: Any, /, *, xp: ModuleType) -> Any:
    return real(xp.sum(xp.linalg.diagonal(x), axis=-1), xp=xp)


def accuracy_stats(a: Any, y: Any, /, *, opts: Options, xp: ModuleType) -> tuple[Any, Any]:
    """``(rho, tol)`` per matrix for :func:`check_accuracy`: the relative residual of the result and what the
    method can leave on PSD input plus rounding (:mod:`matfunc.core.accuracy`). ``a`` and ``y`` in the compute
    dtype; the input is first divided by its largest diagonal entry ``d`` (for PSD input its largest entry, so
    nothing overflows near the float maximum), which costs a pass over ``a`` and one over ``y``.

    - ``sqrtm``: ``rho = ||Y^2 - A||_F / tr(A)`` (``tr(A) >= lambda_max``: the bound of ``core.accuracy``
      holds); one batched product; rounding ``rtol * growth * tr(Y^2) / tr(A)``.
    - ``inv_sqrtm``: ``rho = ||W A W - I||_F``; two products; rounding ``rtol * ||W||_F^2 tr(A)`` (~ cond(A)).
    """
    n = a.shape[-1]
    d = xp.max(real(xp.linalg.diagonal(a), xp=xp), axis=-1)[..., None, None]
    d = xp.where(d > 0, d, xp.ones_like(d))
    a_n = a * (1.0 / d)
    tr = _trace(a_n, xp=xp)
    tr = xp.where(tr > 0, tr, xp.ones_like(tr))
    rtol = symmetry_rtol(n, opts.eps)
    if opts.inverse:
        w = y * xp.sqrt(d)
        r = w @ (a_n @ w) - xp.eye(n, dtype=a.dtype, device=_device(a))
        rho = _fro(r, xp=xp)
        rounding = _fro(w, xp=xp) ** 2 * tr
    else:
        yn = y * (1.0 / xp.sqrt(d))
        r = yn @ yn - a_n
        rho = _fro(r, xp=xp) / tr
        rounding = (_trace(r, xp=xp) + tr) / tr * rounding_growth(opts)  # tr(Y^2) = tr(R) + tr(A)
    tol = residual_bound(opts, n) + rtol * rounding
    if opts.matmul_dtype is not None:  # the low-precision steps' rounding stays in the result (core.newton_schulz)
        low_eps = LOW_EPS[opts.matmul_dtype]
        if opts.inverse:  # s ~ sqrt(cond): ||W||_F sqrt(tr A / n); measured rho <= 1.7 low_eps s^1.5 where covered
            s = _fro(w, xp=xp) * xp.sqrt(tr / n)
            low_tol = 2.0 * low_eps * s * xp.sqrt(s)
        else:  # measured rho <= 2.6 low_eps where covered
            low_tol = 4.0 * low_eps * (_trace(r, xp=xp) + tr) / tr
        tol = xp.maximum(tol, low_tol)
    return rho, xp.where(xp.isfinite(rho), tol, xp.zeros_like(tol))  # a non-finite result never passes


def check_accuracy(a: Any, y: Any, /, *, name: str, opts: Options, xp: ModuleType) -> None:
    """``ValueError`` when the result is not finite, or its residual exceeds what ``opts.method`` gives on PSD
    input plus rounding (:func:`accuracy_stats`): an indefinite input, or one too ill-conditioned for the
    iteration. The error names the matrix and the remedy."""
    report_accuracy(*accuracy_stats(a, y, opts=opts, xp=xp), name=name, opts=opts, xp=xp)


def report_accuracy(rho: Any, tol: Any, /, *, name: str, opts: Options, xp: ModuleType) -> None:
    """The verdict of :func:`check_accuracy` on its :func:`accuracy_stats` (computed, e.g., block by block)."""
    bad = ~(rho <= tol)  # NaN counts as bad
    if not bool(xp.any(bad)):
        return
    raise_accuracy(rho, tol, bad, where=_first_bad(bad, xp=xp, shape=tuple(bad.shape)), name=name, opts=opts, xp=xp)


def raise_accuracy(rho: Any, tol: Any, bad: Any, /, *, where: str, name: str, opts: Options, xp: ModuleType) -> None:
    """The error of :func:`check_accuracy` for the first ``bad`` matrix (named ``where``)."""
    ratio = xp.where(bad, rho / tol, xp.zeros_like(rho))
    i = int(xp.argmax(xp.reshape(xp.where(xp.isnan(ratio), xp.full_like(ratio, math.inf), ratio), (-1,))))
    r, t = float(xp.reshape(rho, (-1,))[i]), float(xp.reshape(tol, (-1,))[i])
    if not math.isfinite(r) and opts.matmul_dtype is not None:
        low = opts.matmul_dtype
        raise ValueError(
            f"{name}(method={opts.method!r}, matmul_dtype={low!r}) gave NaN/Inf for {where}: the {low} steps "
            f"diverge past condition numbers of about {2 * LOW_COVERED[low]:.0e} (measured), or the input is not "
            "positive semidefinite. Use matmul_dtype=None (or 'float16' where bfloat16 failed), method='eig', or "
            "regularise it (a + eps * I). check=False returns the raw result."
        )
    if not math.isfinite(r):
        raise ValueError(
            f"{name}(method={opts.method!r}) gave NaN/Inf for {where}: the input is not positive semidefinite (a "
            "negative eigenvalue), or too ill-conditioned for this method. check=False returns the raw result "
            "(method='eig' then clips negative eigenvalues to zero)."
        )
    what = "||W A W - I||_F" if opts.inverse else "||Y^2 - A||_F / tr(A)"
    head = f"{name}(method={opts.method!r}): the result for {where} has residual {what} = {r:.3g} > {t:.3g}, "
    if opts.method == "newton-schulz" and opts.matmul_dtype is not None:
        low = opts.matmul_dtype
        others = " or ".join(f"{k!r} (about {v:.0e})" for k, v in LOW_COVERED.items() if k != low)
        raise ValueError(
            head + f"beyond what products in {low} leave: with matmul_dtype={low!r} the iteration reaches that "
            f"precision's accuracy up to condition numbers of about {LOW_COVERED[low]:.0e} (measured; past it the "
            f"rounding of the {low} steps diverges), and this matrix is worse conditioned, singular or indefinite. "
            f"Use matmul_dtype={others} or None (all products in {'float64' if opts.eps < 1e-10 else 'float32'}), "
            "method='eig', or regularise it (a + eps * I). check=False returns the raw result."
        )
    if opts.method == "newton-schulz":
        if opts.paper_steps:
            steps = f"its {opts.num_iters} plain (scale='frobenius') steps do not converge for it"
            fix = "Use scale='spectral' (accelerated steps), method='eig', or regularise it (a + eps * I)"
        else:
            cov = opts.covered_condition()
            bound = " (designed for the declared lower_bound)" if opts.design_cond > 0 else ""
            steps = f"its {opts.num_iters} {opts.schedule!r} steps{bound} cover condition numbers up to {cov:.3g}"
            sched = "" if opts.schedule == DEFAULT_SCHEDULE else f", schedule={opts.schedule!r}"
            fix = (
                "Pass a smaller lower_bound"
                if opts.design_cond > 0
                else f"Pass num_iters=matfunc.newton_schulz_iters(cond{sched}) for its condition number cond"
            )
            fix += ", use method='eig', or regularise it (a + eps * I)"
        raise ValueError(
            head + f"so the iteration has not converged: {steps}, and this matrix is worse conditioned, "
            f"singular or indefinite. {fix}. check=False returns the raw result."
        )
    if opts.method == "eig":
        raise ValueError(
            head + "from clamping negative eigenvalues to zero: the input is indefinite, not positive "
            "semidefinite, and has no real square root. Project it onto the PSD cone (clip its negative "
            "eigenvalues) or pass check=False to get the root of the clipped matrix."
        )
    raise ValueError(
        head + f"more than method={opts.method!r} gives for any positive semidefinite input (its worst case, "
        "at eigenvalues near zero): the input is not positive semidefinite (a negative eigenvalue), or "
        "far outside the method's range. Use method='eig' to see its spectrum; check=False returns the raw result."
    )


def check_lyapunov(s: Any, g: Any, x: Any, /, *, method: str, eps: float, xp: ModuleType) -> None:
    """``ValueError`` when ``S X + X S = G`` is not solved to rounding: ``S`` singular, indefinite, or too
    ill-conditioned for the sign iteration's steps. Two batched products; ``rho = ||S X + X S - G||_F /
    (2 ||S||_F ||X||_F + ||G||_F)``, a normwise backward error."""
    n = s.shape[-1]
    m = xp.max(xp.abs(s), axis=(-2, -1), keepdims=True)
    m = xp.where(m > 0, m, xp.ones_like(m))
    s_n = s / m  # the solution of (S/m) X' + X' (S/m) = G is X' = m X
    x_n = x * m
    rho = _fro(s_n @ x_n + x_n @ s_n - g, xp=xp)
    den = 2.0 * _fro(s_n, xp=xp) * _fro(x_n, xp=xp) + _fro(g, xp=xp)
    rho = rho / xp.where(den > 0, den, xp.ones_like(den))
    bad = ~(rho <= symmetry_rtol(n, eps))
    if not bool(xp.any(bad)):
        return
    where = _first_bad(bad, xp=xp, shape=tuple(rho.shape))
    worst = float(xp.max(xp.where(bad, rho, xp.zeros_like(rho))))
    fix = (
        "pass num_iters=matfunc.newton_schulz_iters(cond(S)**2, schedule='scaled') (the sign iteration's cubic "
        "steps), or use method='eig'"
        if method == "sign"
        else "S must be positive definite"
    )
    raise ValueError(
        f"solve_lyapunov(method={method!r}): {where} is not solved (relative residual {worst:.3g} > "
        f"{symmetry_rtol(n, eps):.3g}): S is singular, indefinite, or too ill-conditioned for the method; "
        f"{fix}. check=False returns the raw result."
    )


def check_condition(v: Any, /, *, max_cond: float, head: str, remedy: str, xp: ModuleType) -> None:
    """``ValueError`` unless every symmetric positive definite matrix of ``v`` has a condition number within
    ``max_cond``: the range a matrix-product method covers. Beyond it such methods lose the small eigenvalues
    while their normwise residuals stay small, which matters wherever small eigenvalues are amplified (the
    logarithm, inverse powers). One Cholesky of ``v - (u / max_cond) I`` with ``u >= lambda_max`` the spectral
    bound of :func:`matfunc.core.scaling.normalize` (at most ``n^(1/16)`` too large); only when it fails, the
    eigenvalues, to name the matrix. ``head`` starts the message (``"logm(method='iss'): the matrix"``),
    ``remedy`` ends it."""
    from .core.primitives import eye_like
    from .core.scaling import normalize

    v = sym(v)
    _, u = normalize(v, scale="spectral", xp=xp)
    if cholesky_ok(v - (u / max_cond) * eye_like(v, xp=xp), xp=xp):
        return
    lam = xp.linalg.eigvalsh(v)
    kappa = lam[..., -1] / lam[..., 0]
    bad = ~(kappa <= max_cond / 1.5)  # the cheap test's margin: u overestimates lambda_max
    where = _first_bad(bad, xp=xp, shape=tuple(v.shape[:-2])) if bool(xp.any(bad)) else "a matrix of the batch"
    worst = float(xp.max(xp.where(kappa > 0, kappa, xp.full_like(kappa, math.inf))))
    raise ValueError(
        f"{head} {where} has condition number up to {worst:.3g}, beyond max_cond={max_cond:.3g} that the "
        f"matrix-product method covers (its result would lose the small eigenvalues). Pass "
        f"max_cond={10 ** math.ceil(math.log10(max(1.5 * worst, 1.0))):.0e} (more steps), or {remedy}"
    )
