"""Checks of the input: static ones (shape, dtype) always, value ones (finite, symmetric, singular) on
concrete arrays when ``check=True``. Value checks read array values back to the host once."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from ._errors import SingularMatrixError
from .core import primitives
from .core.accuracy import residual_bound, rounding_growth
from .core.newton_schulz import LOW_COVERED, LOW_EPS
from .core.options import DEFAULT_SCHEDULE, Options
from .core.primitives import is_complex, mH, real, sym

__all__ = [
    "as_array",
    "as_float_array",
    "check_static",
    "compute_dtype",
    "check_finite",
    "check_values",
    "values_stats",
    "asymmetry",
    "report_values",
    "check_result",
    "check_nonsingular",
    "check_accuracy",
    "accuracy_stats",
    "raise_accuracy",
    "check_lyapunov",
    "symmetry_rtol",
]


def _as_host_array(a: Any, /) -> Any:
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


def as_float_array(a: Any, /) -> Any:
    """Lists, ``np.matrix`` and non-native byte order as plain arrays (:func:`_as_host_array`), and SciPy's rule
    for integer and boolean arrays of every framework: computed in float64 (JAX without ``jax_enable_x64``: its
    default float, float32), as integer lists are. One rule for every public function (``as_array``)."""
    a = _as_host_array(a)
    if isinstance(a, np.ndarray):
        return a.astype(np.float64) if a.dtype.kind in "biu" else a
    dtype = getattr(a, "dtype", None)
    if dtype is None or getattr(a, "ndim", None) is None:
        return a
    from . import _compat

    try:  # only array types array-api-compat knows (anything else is refused later, with its dtype named)
        xp = _compat.array_namespace(a)
    except TypeError:
        return a
    # Dask keeps refusing them until its tests follow (tests/test_dask.py::test_static_errors_are_eager)
    if xp.isdtype(dtype, ("integral", "bool")) and _compat.backend_name(xp) != "dask":
        return xp.astype(a, _default_float(xp, a))
    return a


as_array = as_float_array


def _default_float(xp: ModuleType, a: Any) -> Any:
    """float64, or the namespace's default real float where it has no float64 enabled (JAX without x64)."""
    from . import _compat

    if _compat.backend_name(xp) == "jax":
        return xp.__array_namespace_info__().default_dtypes(device=_compat.device(a))["real floating"]
    return xp.float64


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
    report_values(a, values_stats(a, xp=xp), name=name, eps=eps, xp=xp)


def values_stats(
    a: Any,
    /,
    *,
    xp: ModuleType,
    symmetrize: bool = False,
    lower: bool = False,
    spectral: bool = False,
    asym: Any = None,
    copy: bool = True,
) -> Any:
    """``(scale, asym, low)`` per matrix for :func:`report_values`: ``max |a_ij|``, ``max |a - a^H|`` and the
    smallest diagonal entry (real part). Computed block by block in the worker threads of a NumPy batch
    (``matfunc._api``), where each block is then decomposed while it is still in cache. ``symmetrize``: returns
    ``(sym(a), stats)``, the asymmetry read in the same pass as the symmetrisation the forward needs
    (``core.primitives.symmetrize``). ``lower``: the symmetric part only feeds ``eigh``
    (``core.primitives.symmetrize``). ``spectral``: no ``scale`` pass (None in its place): an ``"eig"``
    forward's eigenvalues give ``||a||_2`` instead (:func:`spectral_scale`). ``asym``: the asymmetry, where the
    forward read it (:func:`asymmetry_from_part`, PyTorch). With ``spectral`` the diagonal is left to
    :func:`spectral_scale` (None), which reads it only where an eigenvalue is negative."""
    scale = None if spectral else max_abs(a, xp=xp)
    huge = scale is not None and not bool(xp.all(scale <= 0.5 * float(xp.finfo(a.dtype).max)))
    s, low = None, None
    if asym is None:
        if symmetrize and not huge:
            s, asym = primitives.symmetrize(a, xp=xp, with_asymmetry=True, lower=lower, copy=copy)
        else:
            s, asym = (sym(a) if symmetrize else None), asymmetry(a, xp=xp, halved=huge)
        low = None if spectral else min_diagonal(a, xp=xp)  # spectral: spectral_scale reads it where needed
    if spectral and not bool(xp.all(xp.isfinite(asym))):  # overflow near the float maximum, or NaN/Inf input
        asym = asymmetry(a, xp=xp, halved=True)
    stats = (scale, asym, low)
    return (s, stats) if symmetrize else stats


def min_diagonal(a: Any, /, *, xp: ModuleType) -> Any:
    """The smallest diagonal entry (real part) per matrix."""
    return xp.min(real(xp.linalg.diagonal(a), xp=xp), axis=-1)


def spectral_scale(stats: tuple[Any, Any, Any], lam: Any, a: Any, /, *, xp: ModuleType) -> tuple[Any, Any, Any]:
    """:func:`values_stats` (``spectral=True``) of ``a`` with ``||a||_2 = max |lambda|`` from an ``"eig"``
    forward's eigenvalues as the scale (NaN where they are: a non-finite input). A smallest diagonal entry
    not given is read only where some eigenvalue is negative (or NaN): ``a_ii >= lambda_min``, so a nonnegative
    ``lambda_min`` passes the diagonal test as the diagonal itself would."""
    _, asym, low = stats
    if low is None:
        low = lam[..., 0] if bool(xp.all(lam[..., 0] >= 0)) else min_diagonal(a, xp=xp)
    return spectral_norm(lam, xp=xp), asym, low


def spectral_norm(lam: Any, /, *, xp: ModuleType) -> Any:
    """``max |lambda|`` per matrix of ascending eigenvalues (the ends), NaN where any is (through their sum)."""
    top = xp.maximum(xp.abs(lam[..., 0]), xp.abs(lam[..., -1]))
    return xp.where(xp.isnan(xp.sum(lam, axis=-1)), xp.full_like(top, math.nan), top)


def max_abs(a: Any, /, *, xp: ModuleType) -> Any:
    """``max |a_ij|`` per matrix (NaN where ``a`` has NaN)."""
    if is_complex(a):
        return xp.max(xp.abs(a), axis=(-2, -1))
    return xp.maximum(xp.max(a, axis=(-2, -1)), -xp.min(a, axis=(-2, -1)))  # no temporary; both propagate NaN


def asymmetry_from_part(a: Any, part: Any, /, *, xp: ModuleType) -> Any:
    """``max |a - a^H|`` per matrix from ``part = sym(a)``: ``2 max (a - part)`` (real; ``2 max |a - part|``
    complex). ``sym(a)`` is exactly symmetric and within a rounding ``eps |sym(a)_ij| / 2`` of ``(a_ij + a_ji)
    / 2``, so ``(a - part)_ij`` and ``(a - part)_ji`` are ``+-(a_ij - a_ji) / 2`` to that rounding, and the
    largest entry is the largest magnitude to ``eps max |a|``: a thousandth of :func:`symmetry_rtol`. One
    subtraction and one reduction; NumPy: in cache-sized chunks (no temporary of the batch's size; a thread
    pool's two halves measured slower, 0.4 against 0.27 ms at 4 x 256x256 float32)."""
    if is_complex(a):
        return 2.0 * xp.max(xp.abs(a - part), axis=(-2, -1))
    if isinstance(a, np.ndarray) and isinstance(part, np.ndarray) and a.ndim >= 2:
        return 2.0 * np.reshape(_max_difference(a, part), a.shape[:-2])
    return 2.0 * xp.max(a - part, axis=(-2, -1))


def _max_difference(a: Any, part: Any) -> Any:
    """``max(a - part)`` per matrix of two NumPy batches, in chunks of ``_CHUNK_BYTES`` (several small matrices, or
    a slice of a large one) through one scratch array."""
    n = a.shape[-1]
    fa, fp = np.reshape(a, (-1, n * n)), np.reshape(part, (-1, n * n))
    count, m = fa.shape
    step = max(1, _CHUNK_BYTES // a.itemsize)  # elements per chunk
    scratch = np.empty(min(step, count * m), a.dtype)
    if m > step:  # large matrices: slices of each
        worst = np.full(count, -np.inf, a.dtype)
        for r in range(count):
            for c in range(0, m, step):
                d = np.subtract(fa[r, c : c + step], fp[r, c : c + step], out=scratch[: min(step, m - c)])
                worst[r] = np.maximum(worst[r], np.max(d))  # (propagates NaN)
        return worst
    worst = np.empty(count, a.dtype)
    rows = step // m
    for r in range(0, count, rows):
        k = min(rows, count - r)
        d = np.subtract(fa[r : r + k], fp[r : r + k], out=np.reshape(scratch[: k * m], (k, m)))
        np.max(d, axis=-1, out=worst[r : r + k])
    return worst


_CHUNK_BYTES = 1 << 19  # 512 KiB: in a core's L2 cache with its operands, few enough Python steps


def asymmetry(a: Any, /, *, xp: ModuleType, halved: bool = False) -> Any:
    """``max |a - a^H|`` per matrix (:func:`matfunc.core.primitives.asymmetry`; not finite where ``a`` is not).
    ``halved``: halves first, so that nothing overflows near the float maximum."""
    if halved:
        return 2.0 * xp.max(xp.abs(a * 0.5 - mH(a) * 0.5), axis=(-2, -1))
    return primitives.asymmetry(a, xp=xp)


def report_values(
    a: Any,
    stats: tuple[Any, Any, Any],
    /,
    *,
    name: str,
    eps: float,
    xp: ModuleType,
    input_eps: float | None = None,
    spectral: bool = False,
) -> None:
    """The verdict of :func:`check_values` on :func:`values_stats` of ``a`` (``input_eps``: the machine epsilon of
    the user's dtype, if ``a`` was cast to the compute dtype: half precision's own rounding is allowed;
    ``spectral``: the scale is ``||a||_2``, :func:`spectral_scale`)."""
    scale, asym, low = stats
    rtol = report_symmetry(a, scale, asym, name=name, eps=eps, xp=xp, input_eps=input_eps, spectral=spectral)
    negative = low < -rtol * scale
    if bool(xp.any(negative)):
        raise ValueError(
            f"{name} expects positive semidefinite matrices; {_first_bad(negative, xp=xp, shape=tuple(a.shape[:-2]))} "
            "has a negative diagonal entry, so it has a negative eigenvalue and no real square root"
        )


def report_symmetry(
    a: Any,
    scale: Any,
    asym: Any,
    /,
    *,
    name: str,
    eps: float,
    xp: ModuleType,
    input_eps: float | None = None,
    spectral: bool = False,
) -> float:
    """The finite-and-symmetric verdict of :func:`report_values` (``max |a - a^H| <= rtol * scale``, ``rtol`` =
    :func:`symmetry_rtol`, at least 16 eps of the user's dtype), shared with ``powm``/``logm``/``expm``'s
    ``"eig"`` check; returns ``rtol``."""
    batch = tuple(a.shape[:-2])
    # max propagates NaN and Inf (and a - sym(a) is NaN where a is not finite): no isfinite(a) pass
    if not bool(xp.all(xp.isfinite(scale))) or not bool(xp.all(xp.isfinite(asym))):
        check_finite(a, name=name, xp=xp)
    n = a.shape[-1]
    rtol = max(symmetry_rtol(n, eps), 16.0 * (float(xp.finfo(a.dtype).eps) if input_eps is None else input_eps))
    bad = asym > rtol * scale
    if bool(xp.any(bad)):
        where = _first_bad(bad, xp=xp, shape=batch)
        worst = float(xp.max(asym / xp.where(scale > 0, scale, xp.ones_like(scale))))
        norm = "||a||_2" if spectral else "max |a|"
        raise ValueError(
            f"{name} expects symmetric matrices; {where} is not symmetric "
            f"(max |a - a^T| / {norm} = {worst:.3g} > {rtol:.3g}). Symmetrise it, e.g. (a + a^T) / 2."
            if not is_complex(a)
            else f"{name} expects Hermitian matrices; {where} is not Hermitian "
            f"(max |a - a^H| / {norm} = {worst:.3g} > {rtol:.3g}; a real diagonal included). "
            "Take its Hermitian part, e.g. (a + a^H) / 2."
        )
    return rtol


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


def _namespace_name(xp: ModuleType) -> str:
    from ._compat import backend_name

    return backend_name(xp)


def _device(a: Any) -> Any:
    from ._compat import device

    return device(a)


def _fro(x: Any, /, *, xp: ModuleType) -> Any:
    """Frobenius norms of a batch of matrices in one pass (``vecdot`` of the flattened matrices)."""
    flat = xp.reshape(x, (*x.shape[:-2], x.shape[-2] * x.shape[-1]))
    return xp.sqrt(real(xp.vecdot(flat, flat), xp=xp))  # vecdot conjugates its first argument: |x|^2


def _trace(x: Any, /, *, xp: ModuleType) -> Any:
    return real(xp.sum(xp.linalg.diagonal(x), axis=-1), xp=xp)


def _lmax_lower(m: Any, /, *, xp: ModuleType, steps: int = 6) -> Any:
    """A lower bound on ``lambda_max`` of each symmetric PSD matrix: the Rayleigh quotient after ``steps`` power
    iterations from the all-ones vector (``O(n^2)`` a step; never above ``lambda_max``)."""
    x = xp.ones((*m.shape[:-1], 1), dtype=m.dtype, device=_device(m))
    for _ in range(steps):
        x = m @ x
        nx = _fro(x, xp=xp)[..., None, None]
        x = x / xp.where(nx > 0, nx, xp.ones_like(nx))
    return real(xp.sum(xp.conj(x) * (m @ x), axis=(-2, -1)), xp=xp)


def _covered_mask(a: Any, c: Any, cover: float, /, *, xp: ModuleType) -> Any:
    """Per matrix, whether ``lambda_min(a) > c / cover`` (``c >= lambda_max``: ``cond(a) < cover``): one Cholesky
    of the shifted batch; only when it fails, ``eigvalsh`` to tell the matrices apart."""
    from .core.primitives import eye_like

    shifted = a - (c / cover) * eye_like(a, xp=xp)
    if cholesky_ok(shifted, xp=xp):
        return xp.ones(tuple(a.shape[:-2]), dtype=xp.bool, device=_device(a))
    return xp.linalg.eigvalsh(shifted)[..., 0] > 0


def accuracy_stats(
    a: Any, y: Any, /, *, opts: Options, xp: ModuleType, lam: Any = None, scale: Any = None
) -> tuple[Any, Any]:
    """``(rho, tol)`` per matrix for :func:`check_accuracy` (the result passes when ``rho <= tol``). The tolerance
    is computed from the input and the method's constants (:mod:`matfunc.core.accuracy`), never from the size of
    the result, so that a diverged result cannot pass by its own size. ``a`` and ``y`` in the compute dtype.

    - ``"eig"`` with the forward's eigenvalues ``lam`` (no matrix product at all): ``sqrtm``: ``rho =
      ||min(lambda, 0)||_2 / sum(lambda)``, the residual ``||Y^2 - A||_F / tr(A)`` of the clamped root, against the
      rounding of ``eigh`` (:func:`symmetry_rtol`): an indefinite input. ``inv_sqrtm``: ``rho = n eps lambda_max /
      lambda_min`` against 1: a singular (or indefinite) input. Without ``lam``, the residuals below with the
      rounding of a backward-stable method.
    - Newton–Schulz: the input test ``lambda_min(A) > c / cover`` (:func:`matfunc.core.accuracy.covered`; ``c`` the
      forward's spectral scale ``scale``, recomputed when not given; one Cholesky): past the cover ``tol = -1``
      (always fails, reported as such). For every inverse root, and for ``sqrtm`` with ``matmul_dtype`` or a
      ``lower_bound``; a full-precision ``sqrtm`` past its cover loses only eigenvalues below ``lambda_max /
      cover``, at most ``cover^(-1/2)`` of its norm, so singular PSD input stays accepted.
    - ``sqrtm``: ``rho = ||Y^2 - A||_F / tr(A)`` (one product) against the method's worst case on PSD input
      (``core.accuracy.residual_bound``) plus rounding (``symmetry_rtol * rounding_growth``; with
      ``matmul_dtype``, ``4 eps_low``). Constants: a wrong ``Y`` cannot raise its own tolerance.
    - ``inv_sqrtm``: ``rho = ||W A W - I||_F`` (two products): ``rho / 2`` bounds the relative forward error of
      ``W`` (first order), and below ``core.accuracy.CERTIFY`` it certifies ``cond(A) >= kappa =
      lambda_max(W)^2 lambda_max(A) / (1 + rho)`` (power-iteration lower bounds, ``O(n^2)``). The tolerance is
      ``2 forward_bound(kappa)`` (the documented forward error at that certified condition number), capped at
      ``CERTIFY``. With ``matmul_dtype`` the low-precision ``W`` does not commute with ``A`` and its residual
      overstates its error (``||R||_F`` up to 0.5 where the error is 2e-2): the input's cover test holds the
      accuracy there (``forward_bound``, measured), and the residual only has to stay below ``CERTIFY sqrt(n)``.
      Taylor/Padé have no error bound independent of ``cond`` for the inverse root: their tolerance is the
      residual no positive definite input reaches (``residual_bound``): it catches non-finite and indefinite
      results only.
    """
    from .core.accuracy import CERTIFY, covered, forward_bound

    n = a.shape[-1]
    rtol = symmetry_rtol(n, opts.eps)
    if opts.method == "eig" and lam is not None:
        # eigenvalues in ascending order: the extremes at the ends, no temporary of lam's size (1024 x 32: each
        # one faults on the host); tr = sum(lam) is NaN where any eigenvalue is
        lmin, tr = lam[..., 0], xp.sum(lam, axis=-1)
        lmax = xp.maximum(xp.abs(lmin), xp.abs(lam[..., -1]))
        ones = xp.ones_like(lmax)
        if opts.inverse:
            ratio = (n * opts.eps) * lmax / xp.where(lmin > 0, lmin, ones)
            rho = xp.where(lmin > 0, ratio, xp.full_like(lmax, math.inf))
            rho = xp.where(xp.isnan(tr) | xp.isnan(lmax), xp.full_like(rho, math.nan), rho)
            return rho, ones
        # ||Y^2 - A||_F / tr(A) of the clamped root, read off the eigenvalues: its negative part over their sum
        if bool(xp.any(lmin < 0)):
            neg = xp.minimum(lam, xp.zeros_like(lam))
            rho = xp.sqrt(xp.sum(neg * neg, axis=-1))
        else:
            rho = xp.zeros_like(tr)
        rho = rho / xp.where(tr > 0, tr, ones)
        rho = xp.where((tr > 0) | (lmax == 0), rho, xp.full_like(rho, math.inf))
        rho = xp.where(xp.isnan(tr), xp.full_like(rho, math.nan), rho)
        return rho, xp.full_like(rho, rtol)
    d = xp.max(real(xp.linalg.diagonal(a), xp=xp), axis=-1)[..., None, None]
    d = xp.where(d > 0, d, xp.ones_like(d))
    a_n = a * (1.0 / d)
    tr = _trace(a_n, xp=xp)
    tr = xp.where(tr > 0, tr, xp.ones_like(tr))
    if opts.inverse:
        w = y * xp.sqrt(d)
        r = w @ (a_n @ w) - xp.eye(n, dtype=a.dtype, device=_device(a))
        rho = _fro(r, xp=xp)
        kappa = _lmax_lower(w, xp=xp) ** 2 * xp.maximum(_lmax_lower(a_n, xp=xp), xp.ones_like(rho)) / (1.0 + rho)
        kappa = xp.where(xp.isfinite(kappa), kappa, xp.ones_like(kappa))
        if opts.matmul_dtype is not None:  # a sanity bound: the cover test below is what holds the accuracy
            tol = xp.full_like(rho, CERTIFY * n**0.5)
        elif opts.method in ("taylor", "pade"):  # no cond-free bound: only what no PD input gives (core.accuracy)
            tol = xp.full_like(rho, residual_bound(opts, n) + rtol)
        else:  # forward_bound is linear in cond for the inverse root: evaluate it at cond 1 and scale
            tol = 2.0 * forward_bound(opts, 1.0, n) * kappa
        if opts.method == "newton-schulz" and opts.matmul_dtype is None:
            tol = xp.minimum(xp.maximum(tol, xp.full_like(tol, rtol)), xp.full_like(tol, CERTIFY))
            tol = xp.where(rho < CERTIFY, tol, xp.zeros_like(tol))
    else:
        yn = y * (1.0 / xp.sqrt(d))
        rho = _fro(yn @ yn - a_n, xp=xp) / tr
        tol = xp.full_like(rho, residual_bound(opts, n) + rtol * rounding_growth(opts))
        if opts.matmul_dtype is not None:  # the low-precision steps' rounding stays in the result (core.newton_schulz)
            tol = xp.maximum(tol, xp.full_like(tol, 4.0 * LOW_EPS[opts.matmul_dtype]))
    cover = covered(opts)
    # sqrtm in full precision past its cover loses only eigenvalues below lambda_max / cover: an error of at most
    # cover^(-1/2) (core.accuracy.forward_bound), also on singular PSD input, which stays accepted. A declared
    # lower_bound and low-precision products are tested (the former's cover may be small; the latter diverge).
    if not opts.inverse and opts.matmul_dtype is None and opts.design_cond <= 0:
        cover = math.inf
    # A lazy (matrix-chunked Dask) pair is checked by its residual only: the cover test's Cholesky would compute.
    if math.isfinite(cover) and _namespace_name(xp) != "dask":
        if scale is None:
            from .core.scaling import normalize

            _, scale = normalize(a, scale=opts.scale, xp=xp)
        tol = xp.where(_covered_mask(a, scale, cover, xp=xp), tol, -xp.ones_like(tol))
    return rho, xp.where(xp.isfinite(rho), tol, xp.zeros_like(tol))  # a non-finite result never passes


def check_accuracy(
    a: Any, y: Any, /, *, name: str, opts: Options, xp: ModuleType, lam: Any = None, scale: Any = None
) -> None:
    """``ValueError`` (``SingularMatrixError`` for a singular input of ``inv_sqrtm``) when the result is not
    finite, the input is outside the method's cover, or the residual exceeds what ``opts.method`` gives on PSD
    input plus rounding (:func:`accuracy_stats`). The error names the matrix and the remedy."""
    report_accuracy(*accuracy_stats(a, y, opts=opts, xp=xp, lam=lam, scale=scale), name=name, opts=opts, xp=xp)


def report_accuracy(rho: Any, tol: Any, /, *, name: str, opts: Options, xp: ModuleType) -> None:
    """The verdict of :func:`check_accuracy` on its :func:`accuracy_stats` (computed, e.g., block by block)."""
    bad = ~(rho <= tol)  # NaN counts as bad
    if not bool(xp.any(bad)):
        return
    raise_accuracy(rho, tol, bad, where=_first_bad(bad, xp=xp, shape=tuple(bad.shape)), name=name, opts=opts, xp=xp)


def _fix_ns(opts: Options) -> str:
    """The remedies of a Newton–Schulz result outside its cover or unconverged."""
    if opts.matmul_dtype is not None:
        low = opts.matmul_dtype
        others = " or ".join(f"{k!r} (about {v:.0e})" for k, v in LOW_COVERED.items() if k != low)
        return (
            f"Use matmul_dtype={others} or None (all products in {'float64' if opts.eps < 1e-10 else 'float32'}), "
            "method='eig', or regularise it (a + eps * I)."
        )
    if opts.paper_steps:
        return "Use scale='spectral' (accelerated steps), method='eig', or regularise it (a + eps * I)."
    sched = "" if opts.schedule == DEFAULT_SCHEDULE else f", schedule={opts.schedule!r}"
    fix = (
        "Pass a smaller lower_bound"
        if opts.design_cond > 0
        else f"Pass num_iters=matfunc.newton_schulz_iters(cond{sched}) for its condition number cond"
    )
    return fix + ", use method='eig', or regularise it (a + eps * I)."


def raise_accuracy(rho: Any, tol: Any, bad: Any, /, *, where: str, name: str, opts: Options, xp: ModuleType) -> None:
    """The error of :func:`check_accuracy` for the first ``bad`` matrix (named ``where``)."""
    from .core.accuracy import CERTIFY, covered

    i = int(xp.argmax(xp.astype(xp.reshape(bad, (-1,)), xp.int32)))
    r, t = float(xp.reshape(rho, (-1,))[i]), float(xp.reshape(tol, (-1,))[i])
    tail = " check=False returns the raw result."
    low = opts.matmul_dtype
    if opts.method == "eig" and opts.inverse and t == 1.0 and not math.isnan(r):  # accuracy_stats' eigenvalue test
        raise SingularMatrixError(
            f"{name}: {where} is singular or indefinite to working precision (its smallest eigenvalue is "
            + ("not positive" if not math.isfinite(r) else f"{r:.3g} times below n * eps * its largest")
            + f", eps = {opts.eps:.3g}); its inverse square root is not defined. Add a ridge (a + eps * I) to "
            "regularise it"
        )
    if not math.isfinite(r):
        if low is not None:
            raise ValueError(
                f"{name}(method={opts.method!r}, matmul_dtype={low!r}) gave NaN/Inf for {where}: the {low} steps "
                f"diverge past condition numbers of about {2 * LOW_COVERED[low]:.0e} (measured), or the input is "
                f"not positive semidefinite. {_fix_ns(opts)}{tail}"
            )
        raise ValueError(
            f"{name}(method={opts.method!r}) gave NaN/Inf for {where}: the input is not positive semidefinite (a "
            "negative eigenvalue), or too ill-conditioned for this method." + tail
        )
    what = "||W A W - I||_F" if opts.inverse else "||Y^2 - A||_F / tr(A)"
    head = (
        f"{name}(method={opts.method!r}{f', matmul_dtype={low!r}' if low else ''}): the result for {where} has "
        f"residual {what} = {r:.3g} > "
    )
    if opts.method == "eig":  # from the eigenvalues: the clamped negative part, ||min(lambda, 0)|| / tr(A)
        raise ValueError(
            head + f"{t:.3g}, from clamping negative eigenvalues to zero: the input is indefinite, not positive "
            "semidefinite, and has no real square root. Project it onto the PSD cone (clip its negative "
            "eigenvalues) or pass check=False to get the root of the clipped matrix."
        )
    if t < 0:  # the input test of the cover
        limit = (
            f"what its cover allows (an input test: its smallest eigenvalue is below lambda_max / {covered(opts):.3g})"
        )
    elif opts.inverse and r >= CERTIFY and opts.method == "newton-schulz" and low is None:
        limit = f"{t:.3g} (at or above {CERTIFY} no accuracy can be certified)"
    else:
        limit = f"{t:.3g}"
    if opts.method == "newton-schulz":
        if low is not None:
            steps = (
                f"with matmul_dtype={low!r} the iteration reaches that precision's accuracy up to condition numbers "
                f"of about {LOW_COVERED[low]:.0e} (measured; past it the rounding of the {low} steps diverges)"
            )
        elif opts.paper_steps:
            steps = f"its {opts.num_iters} plain (scale='frobenius') steps do not converge for it"
        else:
            bound = " (designed for the declared lower_bound)" if opts.design_cond > 0 else ""
            steps = (
                f"its {opts.num_iters} {opts.schedule!r} steps{bound} cover condition numbers up to {covered(opts):.3g}"
            )
        raise ValueError(
            head + f"{limit}, so the iteration has not converged: {steps}, and this matrix is worse conditioned, "
            f"singular or indefinite. {_fix_ns(opts)}{tail}"
        )
    raise ValueError(
        head + f"{limit}, more than method={opts.method!r} gives for any positive semidefinite input (its worst "
        "case, at eigenvalues near zero): the input is not positive semidefinite (a negative eigenvalue), or far "
        "outside the method's range. Use method='eig' to see its spectrum;" + tail
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
