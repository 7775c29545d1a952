"""Dask glue: lazy, chunk-wise ``sqrtm``/``inv_sqrtm``/VJPs/``solve_lyapunov`` on ``dask.array.Array``.

Two layouts, chosen from the chunks of the last two axes and the method. No layout ever changes the method
(or the backward) that was asked for.

- **Batch-chunked** (every chunk holds whole matrices; split matrix axes are rechunked to full size): used for
  every batch of several matrices, and for a single matrix with ``"eig"`` or ``"pade"`` (and for the gradient of
  ``backward="eig"``/``"svd-pade"``), which need a factorisation of the whole matrix (Dask has no blocked
  ``eigh`` or Padé solve). ``method="auto"`` is ``"eig"`` here, as for every array in host memory: a
  matrix-chunked single matrix is then rechunked into one chunk and computed exactly.
  :func:`dask.array.map_blocks` runs the core on each chunk with the chunk's own namespace (NumPy or CuPy
  chunks). With ``check=True`` each chunk is checked as by the public entry on a NumPy array, before (input
  values) and after (result) its forward, when it is computed; an error names the matrix by its *global*
  batch index.
- **Matrix-chunked** (one matrix, or a batch of one, split over its matrix axes) with an explicit
  ``"newton-schulz"`` or ``"taylor"``: the core kernels run on the Dask namespace itself, so every product is
  Dask's blocked matmul and no chunk ever holds the whole matrix; the gradient of ``backward="lyapunov"`` is
  the blocked sign iteration. With ``check=True`` the checks are reductions in the same graph, raised from
  a small step that the result depends on: the input's values (NaN/Inf, symmetry, diagonal) and a blocked
  Cholesky factorisation (``a - n eps max(a_ii) I`` for ``inv_sqrtm``, the public entry's singularity test;
  ``a + max(1000, 10 n) eps max(a_ii) I`` for ``sqrtm``, i.e. no eigenvalue below the asymmetry tolerance) gate
  the forward; a finite result and its residual gate the output.

Everything stays lazy: nothing is computed until ``.compute()``/``dask.compute``. The VJP closure of
:func:`vjp` recomputes the forward chunk by chunk (checks included) when the gradient is computed instead
of keeping the output (twice the forward work, no extra memory held); ``dask.persist`` the input first to
avoid reading it twice.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import dask
import dask.array as da
import numpy as np

from .. import _compat, _validation
from .._errors import SingularMatrixError
from ..core import gradients, lyapunov, primitives
from ..core.forward import forward
from ..core.options import Options, default_ns_iters
from ..core.scaling import normalize

__all__ = ["is_traced", "apply", "vjp", "solve_lyapunov", "map_blocks"]

MATMUL_METHODS = ("newton-schulz", "taylor")


def is_traced(a: Any) -> bool:
    """Always True: a Dask array is a lazy graph; eager value checks would compute all of it."""
    return True


# --- layout ------------------------------------------------------------------------------------------


def _matrix_chunked(a: Any) -> bool:
    """Whether either matrix axis is split over several chunks."""
    return len(a.chunks[-1]) > 1 or len(a.chunks[-2]) > 1


def _single_blocked(a: Any) -> bool:
    """One matrix (no batch, or a batch of one) split over its matrix axes."""
    return _matrix_chunked(a) and all(d == 1 for d in a.shape[:-2])


def _blocked(a: Any, opts: Options) -> bool:
    """Whether the forward runs as blocked matmuls: a matrix-chunked single matrix and a matrix-product method
    (``"eig"``/``"pade"`` need the whole matrix and rechunk instead: never a silent change of method)."""
    return _single_blocked(a) and opts.method in MATMUL_METHODS


def _whole_matrices(a: Any) -> Any:
    """``a`` rechunked so that each chunk holds whole matrices (batch chunks unchanged)."""
    if not _matrix_chunked(a):
        return a
    return a.rechunk({a.ndim - 2: -1, a.ndim - 1: -1})


def _name(opts: Options) -> str:
    return "inv_sqrtm" if opts.inverse else "sqrtm"


# --- per-chunk work ----------------------------------------------------------------------------------


def _offset(block_info: dict | None, ndim: int) -> tuple[int, ...]:
    if not block_info or 0 not in block_info:
        return (0,) * (ndim - 2)
    return tuple(start for start, _ in block_info[0]["array-location"][: ndim - 2])


def _named_check(check: Callable[..., None], arrays: tuple[Any, ...], /, *, offset: tuple[int, ...]) -> None:
    """``check(*arrays)`` on a chunk; an error names the first bad matrix of the chunk by its global index."""
    try:
        check(*arrays)
    except ValueError as exc:  # find the first bad matrix of the chunk (error path only)
        for idx in itertools.product(*(range(d) for d in arrays[0].shape[:-2])):
            try:
                check(*(arr[idx] for arr in arrays))
            except ValueError as one:
                where = tuple(o + i for o, i in zip(offset, idx, strict=True))
                named = f"the matrix at batch index {where} of the Dask array"
                text = str(one).replace("the matrix", named, 1) if "the matrix" in str(one) else f"{one} ({named})"
                # chunks run in parallel: the first bad matrix of the chunk that failed first
                raise type(exc)(f"{text} (the first in its chunk; other chunks are checked concurrently)") from exc
        raise


_BATCH_INDEX = re.compile(r"batch index \(([0-9, ]*)\)")


def _globalised(text: str, offset: tuple[int, ...]) -> str:
    """``text`` with every ``batch index (i, ...)`` of a chunk shifted by the chunk's ``offset`` (its first
    axes' starts in the whole array); without one, the chunk's start is added."""

    def shift(m: re.Match) -> str:
        local = [int(t) for t in m.group(1).replace(" ", "").split(",") if t]
        where = tuple(i + (offset[k] if k < len(offset) else 0) for k, i in enumerate(local))
        return f"batch index {where} of the Dask array"

    out, count = _BATCH_INDEX.subn(shift, text)
    return out if count else f"{text} (in the Dask chunk at batch index {offset[:-2]})"


def map_blocks(fn: Callable[..., Any], *arrays: Any, **kwargs: Any) -> Any:
    """:func:`dask.array.map_blocks` for matfunc's per-chunk work (the family, geometry and distance functions'
    Dask paths): a ``ValueError`` that a chunk raises names the matrix by its batch index in the whole array,
    not in the chunk (``batch index (2,)`` of a chunk starting at 5 becomes ``(7,)``)."""

    def chunk(*blocks: Any, block_info: dict | None = None) -> Any:
        try:
            return fn(*blocks)
        except ValueError as exc:
            if not block_info or 0 not in block_info:
                raise
            offset = tuple(start for start, _ in block_info[0]["array-location"])
            try:
                named = type(exc)(_globalised(str(exc), offset))
            except TypeError:  # an exception class with another constructor: keep it as it is
                raise exc from None
            raise named from exc

    # Dask reads the signature for block_info: no functools.wraps (its __wrapped__ would hide the keyword)
    chunk.__name__ = getattr(fn, "__name__", chunk.__name__)
    return da.map_blocks(chunk, *arrays, **kwargs)


def _check_input(x: Any, /, *, name: str, opts: Options, xp: ModuleType) -> None:
    """The public entry's input checks (``_api._prepare``)."""
    _validation.check_values(x, name=name, eps=opts.eps, xp=xp)
    if opts.inverse:
        _validation.check_nonsingular(x, name=name, eps=opts.eps, xp=xp)


def _check_output(x: Any, y: Any, /, *, name: str, opts: Options, xp: ModuleType) -> None:
    """The public entry's result checks (``_api._check_result``): finite, and the residual within what the
    method gives for PSD input."""
    _validation.check_result(y, name=name, method=opts.method, xp=xp)
    _validation.check_accuracy(x, y, name=name, opts=opts, xp=xp)


def _checked_forward(x: Any, /, *, opts: Options, check: bool, offset: tuple[int, ...]) -> tuple[Any, Any]:
    """``forward`` of one chunk of whole matrices, between the input and the result checks."""
    bxp = _compat.array_namespace(x)
    _compat.backend_module(bxp)  # registers the chunk backend's primitives (CuPy)
    check = check and 0 not in x.shape
    name = _name(opts)
    if check:
        _named_check(functools.partial(_check_input, name=name, opts=opts, xp=bxp), (x,), offset=offset)
    with _compat.quiet(bxp, x):  # a non-finite result is reported by the checks, not by an overflow warning
        y, saved = forward(primitives.sym(x), opts=opts, xp=bxp)
        if check:
            _named_check(functools.partial(_check_output, name=name, opts=opts, xp=bxp), (x, y), offset=offset)
    return y, saved


def _chunk_forward(x: Any, /, *, opts: Options, check: bool, block_info: dict | None = None) -> Any:
    return _checked_forward(x, opts=opts, check=check, offset=_offset(block_info, x.ndim))[0]


def _chunk_vjp(x: Any, g: Any, /, *, opts: Options, check: bool, block_info: dict | None = None) -> Any:
    bxp = _compat.array_namespace(x, g)
    _, saved = _checked_forward(x, opts=opts, check=check, offset=_offset(block_info, x.ndim))
    with _compat.quiet(bxp, x):
        return gradients.sqrtm_vjp(gradients.saved_for(saved, opts), g, opts=opts, xp=bxp)


def _check_lyapunov_input(s: Any, g: Any, /, *, eps: float, xp: ModuleType) -> None:
    _validation.check_values(s, name="solve_lyapunov (s)", eps=eps, xp=xp)
    _validation.check_finite(g, name="solve_lyapunov (g)", xp=xp)


def _check_lyapunov_output(s: Any, g: Any, x: Any, /, *, method: str, eps: float, xp: ModuleType) -> None:
    _validation.check_result(x, name="solve_lyapunov", method=method, xp=xp)
    _validation.check_lyapunov(s, g, x, method=method, eps=eps, xp=xp)


def _chunk_lyapunov(
    s: Any, g: Any, /, *, method: str, num_iters: int | None, scale: str, check: bool, block_info: dict | None = None
) -> Any:
    from .. import _api

    bxp = _compat.array_namespace(s, g)
    eps = float(bxp.finfo(s.dtype).eps)
    offset = _offset(block_info, s.ndim)
    check = check and 0 not in s.shape
    if check:
        _named_check(functools.partial(_check_lyapunov_input, eps=eps, xp=bxp), (s, g), offset=offset)
    x = _api.solve_lyapunov(s, g, method, num_iters=num_iters, scale=scale, check=False)
    if check:
        with _compat.quiet(bxp, s):
            _named_check(
                functools.partial(_check_lyapunov_output, method=method, eps=eps, xp=bxp), (s, g, x), offset=offset
            )
    return x


# --- checks of one matrix-chunked matrix, as part of the graph ---------------------------------------
# Reductions over the blocks feed a small 1-d array of statistics; every block of the gated array depends on
# it and raises from it, so a bad matrix raises at compute time and nothing runs before ``.compute()``.


def _single(a: Any) -> Any:
    """The one matrix of a single-matrix array, as a 2-d array."""
    return a[(0,) * (a.ndim - 2)]


def _where(a: Any) -> str:
    batch = (0,) * (a.ndim - 2)
    return f"the matrix at batch index {batch} of the Dask array" if batch else "the matrix of the Dask array"


def _pass_block(block: Any, stats: Any, /, *, verdict: Callable[..., None]) -> Any:
    verdict(*(float(v) for v in stats))
    return block


def _gate(a: Any, stats: Any, verdict: Callable[..., None]) -> Any:
    """``a``, with every block depending on ``stats`` and raising ``verdict(*stats)``'s error."""
    ind = tuple(range(a.ndim))
    return da.blockwise(_pass_block, ind, a, ind, stats, None, verdict=verdict, dtype=a.dtype, meta=a._meta)


def _stack(*values: Any) -> Any:
    return da.stack([da.asarray(v).astype("float64") for v in values])


def _fro(a: Any) -> Any:
    return da.sqrt(da.sum(a * a))


def _input_stats(m: Any, /, *, definite: str | None, eps: float) -> Any:
    """``[finite, max |m - m^T|, max |m|, min m_ii, max m_ii, factorised]`` of a 2-d matrix ``m``:
    ``_validation.check_values``' quantities, and whether the Cholesky test of ``definite`` passes."""
    n = m.shape[-1]
    finite = da.all(da.isfinite(m))
    m = da.where(da.isfinite(m), m, 0.0)  # NaN/Inf is reported first: the other statistics must not warn
    asym = 2.0 * da.max(da.abs(m * 0.5 - m.T * 0.5))  # halves: no overflow near the float max
    diag = da.diagonal(m)
    dmax = da.max(diag)
    factorised = da.ones_like(dmax)  # no test asked for
    if definite == "pd":  # _validation.check_nonsingular's test
        factorised = _cholesky_succeeds(m, -(n * eps) * dmax)
    elif definite == "psd":
        factorised = _cholesky_succeeds(m, _validation.symmetry_rtol(n, eps) * dmax)
    return _stack(finite, asym, da.max(da.abs(m)), da.min(diag), dmax, factorised)


def _raise_input(
    finite: float,
    asym: float,
    scale: float,
    dmin: float,
    dmax: float,
    factorised: float,
    /,
    *,
    name: str,
    where: str,
    n: int,
    eps: float,
    definite: str | None,
) -> None:
    """The errors of ``_validation.check_values`` (and ``check_nonsingular``) from the statistics."""
    if not finite:
        raise ValueError(f"{name}: input contains NaN or Inf ({where})")
    rtol = _validation.symmetry_rtol(n, eps)
    if asym > rtol * scale:
        raise ValueError(
            f"{name} expects symmetric matrices; {where} is not symmetric "
            f"(max |a - a^T| / max |a| = {asym / (scale if scale > 0 else 1.0):.3g} > {rtol:.3g}). "
            "Symmetrise it, e.g. (a + a^T) / 2."
        )
    if dmin < -rtol * scale:
        raise ValueError(
            f"{name} expects positive semidefinite matrices; {where} has a negative diagonal entry, so it has a "
            "negative eigenvalue and no real square root"
        )
    if definite == "pd" and not (dmax > 0 and factorised):
        raise SingularMatrixError(
            f"{name}: {where} is singular or indefinite to working precision (smallest eigenvalue <= n * eps * "
            f"max diagonal = {n} * {eps:.3g} * max a_ii); its inverse square root is not defined. Add a ridge "
            "(a + eps * I) to regularise it"
        )
    if definite == "psd" and not (factorised if dmax > 0 else scale == 0):  # zero diagonal: PSD iff zero
        raise ValueError(
            f"{name} expects positive semidefinite matrices; {where} is indefinite: a Cholesky factorisation of "
            f"a + {rtol:.3g} * max(a_ii) * I fails, so it has an eigenvalue below -{rtol:.3g} * max a_ii and no "
            "real square root. Project it onto the PSD cone (clip its negative eigenvalues), or pass check=False "
            "to get the raw result."
        )


def _raise_output(rho: float, tol: float, /, *, name: str, where: str, opts: Options) -> None:
    """The error of ``_validation.check_accuracy`` from its statistics (NaN/Inf included)."""
    if not rho <= tol:
        xp = _compat.array_namespace(np.zeros(()))
        _validation.raise_accuracy(
            xp.asarray(rho), xp.asarray(tol), xp.asarray(True), where=where, name=name, opts=opts, xp=xp
        )


def _lyapunov_stats(s: Any, g: Any, x: Any, /) -> Any:
    """``[finite, rho]`` of 2-d ``s``, ``g``, ``x``: the relative residual of ``_validation.check_lyapunov``."""
    # Mirrors _validation.check_lyapunov's rho; a shared lazy-friendly helper there would remove the copy.
    finite = da.all(da.isfinite(x))
    m = da.max(da.abs(s))
    m = da.where(m > 0, m, 1.0)
    s_n, x_n = s / m, x * m
    den = 2.0 * _fro(s_n) * _fro(x_n) + _fro(g)
    rho = _fro(s_n @ x_n + x_n @ s_n - g) / da.where(den > 0, den, 1.0)
    return _stack(finite, da.where(finite, rho, 0.0))


def _raise_lyapunov(finite: float, rho: float, /, *, where: str, method: str, n: int, eps: float) -> None:
    if not finite:
        raise ValueError(
            f"solve_lyapunov(method={method!r}) gave NaN/Inf for {where}: S is not positive definite, or too "
            "ill-conditioned for this method. Pass check=False to get the raw result."
        )
    rtol = _validation.symmetry_rtol(n, eps)
    if not rho <= rtol:
        raise ValueError(
            f"solve_lyapunov(method={method!r}): {where} is not solved (relative residual {rho:.3g} > {rtol:.3g}): "
            "S is singular, indefinite, or too ill-conditioned for the method; pass "
            "num_iters=matfunc.newton_schulz_iters(cond(S)**2, schedule='scaled') (the sign iteration's cubic "
            "steps), or use method='eig'. check=False returns the raw result."
        )


def _finite_stats(a: Any, /) -> Any:
    return _stack(da.all(da.isfinite(a)))


def _raise_finite(finite: float, /, *, name: str, where: str) -> None:
    if not finite:
        raise ValueError(f"{name}: input contains NaN or Inf ({where})")


# A Cholesky factorisation by blocks that reports failure instead of raising from a task (Dask's own
# ``da.linalg.cholesky`` needs equal square chunks and raises LAPACK's message from inside the graph): a failed
# diagonal block turns everything after it into None, so the last diagonal block tells the verdict. Each
# task holds at most three blocks.


def _chol_block(a: Any, shift: Any, /) -> Any:
    if a is None:
        return None
    bxp = _compat.array_namespace(a)
    eye = bxp.eye(a.shape[-1], dtype=a.dtype, device=_compat.device(a))
    try:
        factor = bxp.linalg.cholesky(a + shift * eye)
    except Exception as exc:  # NumPy raises LinAlgError; CuPy returns NaN instead
        if "LinAlgError" not in type(exc).__name__ and "linalg" not in str(exc).lower():
            raise
        return None
    return factor if bool(bxp.all(bxp.isfinite(factor))) else None


def _panel_block(a: Any, lkk: Any, /) -> Any:
    """``a L_kk^{-T}``: a block of the factor's column below the diagonal."""
    if a is None or lkk is None:
        return None
    bxp = _compat.array_namespace(a)
    return primitives.mH(bxp.linalg.solve(lkk, primitives.mH(a)))


def _update_block(a: Any, lik: Any, ljk: Any, /) -> Any:
    if a is None or lik is None or ljk is None:
        return None
    return a - lik @ primitives.mH(ljk)


def _factorised(lkk: Any, like: Any, /) -> Any:
    bxp = _compat.array_namespace(like)
    return bxp.asarray(0.0 if lkk is None else 1.0, dtype=bxp.float64)


def _cholesky_succeeds(m: Any, shift: Any, /) -> Any:
    """Lazy 0-d: 1.0 if a Cholesky factorisation of the 2-d ``m + shift I`` succeeds, else 0.0."""
    rows = m.chunks[0]
    m = m.rechunk((rows, rows))  # square diagonal blocks
    p = len(rows)
    blocks = {(i, j): m.blocks[i, j] for i in range(p) for j in range(i + 1)}  # the lower triangle
    task = functools.partial(dask.delayed, pure=True)
    lkk = None
    for k in range(p):  # right-looking: factor the diagonal block, the panel below it, update the rest
        lkk = task(_chol_block)(blocks[k, k], shift)
        for i in range(k + 1, p):
            blocks[i, k] = task(_panel_block)(blocks[i, k], lkk)
        for i in range(k + 1, p):
            for j in range(k + 1, i + 1):
                blocks[i, j] = task(_update_block)(blocks[i, j], blocks[i, k], blocks[j, k])
    return da.from_delayed(task(_factorised)(lkk, shift), shape=(), dtype="float64", meta=m._meta)


def _blocked_forward(x: Any, /, *, opts: Options, xp: ModuleType, check: bool) -> tuple[Any, Any]:
    """``forward`` of one matrix-chunked matrix as blocked matmuls. With ``check``, the input checks gate the
    forward (it never runs on a bad matrix) and the result checks gate the output (and the saved state)."""
    name, where, n = _name(opts), _where(x), x.shape[-1]
    if check:
        definite = "pd" if opts.inverse else "psd"
        verdict = functools.partial(_raise_input, name=name, where=where, n=n, eps=opts.eps, definite=definite)
        x = _gate(x, _input_stats(_single(x), definite=definite, eps=opts.eps), verdict)
    y, saved = forward(primitives.sym(x), opts=opts, xp=xp)
    if check:
        stats = _stack(*_validation.accuracy_stats(_single(x), _single(y), opts=opts, xp=xp))
        y = _gate(y, stats, functools.partial(_raise_output, name=name, where=where, opts=opts))
        saved = saved._replace(y=y)  # the gradient depends on the checks too
    return y, saved


# --- glue entries ------------------------------------------------------------------------------------


def apply(x: Any, /, *, opts: Options, xp: ModuleType, check: bool = True) -> Any:
    """Lazy ``sqrtm``/``inv_sqrtm`` of a float32/float64 Dask array (see the module docstring)."""
    if _blocked(x, opts):
        return _blocked_forward(x, opts=opts, xp=xp, check=check)[0]
    x = _whole_matrices(x)
    return da.map_blocks(_chunk_forward, x, opts=opts, check=check, dtype=x.dtype, meta=x._meta)


def vjp(a: Any, /, *, opts: Options, xp: ModuleType, check: bool, name: str) -> tuple[Any, Any]:
    """``(y, vjp_fn)`` with ``y`` and ``vjp_fn(g)`` lazy Dask arrays. The gradient of a matrix-chunked matrix
    is blocked for ``backward="lyapunov"`` after a blocked forward, else computed per chunk of whole matrices."""
    if opts.backward == "unrolled":
        raise ValueError(f"{name}_vjp: backward='unrolled' needs PyTorch or JAX autodiff, not Dask")
    dtype = a.dtype
    ctype = _validation.compute_dtype(dtype, xp=xp)
    x = xp.astype(a, ctype) if dtype != ctype else a
    blocked_grad = _blocked(x, opts) and opts.backward == "lyapunov"
    saved: Any = None  # the blocked forward's state, kept only for the blocked Lyapunov gradient
    if _blocked(x, opts):
        y, saved = _blocked_forward(x, opts=opts, xp=xp, check=check)
        saved = gradients.saved_for(saved, opts) if blocked_grad else None
    else:
        y = apply(x, opts=opts, xp=xp, check=check)
    xw = _whole_matrices(x)

    def vjp_fn(g: Any) -> Any:
        if tuple(g.shape) != tuple(a.shape):
            raise ValueError(
                f"{name}_vjp: the cotangent must have the output's shape {tuple(a.shape)}, got {tuple(g.shape)}"
            )
        g = da.asarray(g)
        gc = xp.astype(g, ctype) if g.dtype != ctype else g
        if blocked_grad:
            out = gradients.sqrtm_vjp(saved, gc.rechunk(x.chunks), opts=opts, xp=xp)
        else:
            out = da.map_blocks(
                _chunk_vjp, xw, gc.rechunk(xw.chunks), opts=opts, check=check, dtype=ctype, meta=xw._meta
            )
        return xp.astype(out, dtype) if out.dtype != dtype else out

    return (xp.astype(y, dtype) if y.dtype != dtype else y), vjp_fn


def solve_lyapunov(
    s: Any, g: Any, /, *, method: str, num_iters: int | None, scale: str, xp: ModuleType, check: bool = True
) -> Any:
    """Lazy ``S X + X S = G``: blocked sign iteration on a matrix-chunked ``s``, else chunk by chunk. The
    options arrive validated by the public entry (the same code as for NumPy arrays)."""
    s, g = da.asarray(s), da.asarray(g)
    for arr, nm in ((s, "s"), (g, "g")):
        _validation.check_static(arr, name=f"solve_lyapunov ({nm})", xp=xp)
    if s.shape[-1] != g.shape[-1]:
        raise ValueError(
            f"solve_lyapunov: s and g must have the same matrix size, got {tuple(s.shape)} and {tuple(g.shape)}"
        )
    out_dtype = xp.result_type(s.dtype, g.dtype)
    ctype = _validation.compute_dtype(out_dtype, xp=xp)
    s, g = da.broadcast_arrays(xp.astype(s, ctype), xp.astype(g, ctype))
    if 0 in s.shape:
        return da.zeros(s.shape, dtype=out_dtype)
    eps = float(xp.finfo(ctype).eps)
    if method == "sign" and _single_blocked(s):
        g = g.rechunk(s.chunks)
        where, n = _where(s), s.shape[-1]
        if check:
            verdict = functools.partial(
                _raise_input, name="solve_lyapunov (s)", where=where, n=n, eps=eps, definite=None
            )
            s = _gate(s, _input_stats(_single(s), definite=None, eps=eps), verdict)
            g = _gate(g, _finite_stats(g), functools.partial(_raise_finite, name="solve_lyapunov (g)", where=where))
        steps = default_ns_iters(eps) if num_iters is None else num_iters
        s_n, c = normalize(primitives.sym(s), scale=scale, xp=xp)
        x = lyapunov.sign_lyapunov(s_n, g / c, num_iters=steps, eps=eps, scaled=scale == "spectral", xp=xp)
        if check:
            verdict = functools.partial(_raise_lyapunov, where=where, method=method, n=n, eps=eps)
            x = _gate(x, _lyapunov_stats(_single(s), _single(g), _single(x)), verdict)
    else:
        s = _whole_matrices(s)
        x = da.map_blocks(
            _chunk_lyapunov,
            s,
            g.rechunk(s.chunks),
            method=method,
            num_iters=num_iters,
            scale=scale,
            check=check,
            dtype=ctype,
            meta=s._meta,
        )
    return xp.astype(x, out_dtype) if x.dtype != out_dtype else x


# --- polar decomposition (matfunc._polar) ----------------------------------------------------------
# Batch-chunked only (the iterations need the Gram matrix of the whole matrix, and "svd"/"eig" a factorisation):
# split matrix axes are rechunked to full size and each chunk runs core.polar on its own namespace, with the
# public entry's checks (finite input; finite result and ||U^H U - I||_F for the converging iterative methods)
# naming the matrix by its global batch index. P = sym(U^H A) is a lazy Dask product of the public entry.

__all__ += ["polar_apply", "polar_vjp"]


def _polar_forward(x: Any, /, *, opts: Any, check: bool, name: str, offset: tuple[int, ...]) -> tuple[Any, Any]:
    """``core.polar.polar_forward`` of one chunk of whole matrices, between the input and the result checks."""
    from .. import _polar
    from ..core import polar as polar_core

    bxp = _compat.array_namespace(x)
    _compat.backend_module(bxp)  # registers the chunk backend's primitives (CuPy)
    low = None if opts.matmul_dtype is None else getattr(bxp, opts.matmul_dtype)
    check = check and 0 not in x.shape
    if check:
        _named_check(functools.partial(_validation.check_finite, name=name, xp=bxp), (x,), offset=offset)
    with _compat.quiet(bxp, x):  # a non-finite result is reported by the checks, not by an overflow warning
        u, saved = polar_core.polar_forward(x, opts=opts, low=low, xp=bxp)
        if check:
            _named_check(functools.partial(_polar._check_result, name=name, opts=opts, xp=bxp), (u, x), offset=offset)
    return u, saved


def _chunk_polar(x: Any, /, *, opts: Any, check: bool, what: str, block_info: dict | None = None) -> Any:
    return _polar_forward(x, opts=opts, check=check, name=what, offset=_offset(block_info, x.ndim))[0]


def _chunk_polar_vjp(
    x: Any, *gs: Any, opts: Any, check: bool, side: str, present: tuple[bool, bool], block_info: dict | None = None
) -> Any:
    from .. import _polar

    bxp = _compat.array_namespace(x, *gs)
    u, saved = _polar_forward(x, opts=opts, check=check, name="polar_vjp", offset=_offset(block_info, x.ndim))
    given = iter(gs)
    gu, gp = (next(given) if here else None for here in present)
    with _compat.quiet(bxp, x):
        return _polar.vjp_terms(x, u, saved, gu, gp, side=side, opts=opts, xp=bxp)


def _no_unrolled(opts: Any, name: str) -> None:
    if opts.backward == "unrolled":
        raise ValueError(
            f"{name}: backward='unrolled' needs PyTorch or JAX autodiff, not Dask; use 'lyapunov' or 'eig'"
        )


def polar_apply(x: Any, /, *, opts: Any, low: Any, xp: ModuleType, check: bool = True, name: str = "polar") -> Any:
    """Lazy polar factor ``U`` of a Dask array ``(..., m, n)`` in the compute dtype, chunk by chunk on whole
    matrices (``low`` is re-read per chunk from ``opts.matmul_dtype``, in the chunk's namespace)."""
    _no_unrolled(opts, name)
    x = _whole_matrices(x)
    return da.map_blocks(_chunk_polar, x, opts=opts, check=check, what=name, dtype=x.dtype, meta=x._meta)


def polar_vjp(a: Any, /, *, opts: Any, low: Any, ctype: Any, side: str, check: bool, xp: ModuleType) -> tuple[Any, Any]:
    """``((u, p), vjp_fn)`` of :func:`matfunc.polar_vjp` for a Dask array: all lazy. ``vjp_fn(gu, gp)``
    recomputes the forward chunk by chunk (checks included) instead of holding it, as :func:`vjp` does."""
    from .. import _polar

    _no_unrolled(opts, "polar_vjp")
    dtype = a.dtype
    x = _whole_matrices(xp.astype(a, ctype) if dtype != ctype else a)
    u = polar_apply(x, opts=opts, low=low, xp=xp, check=check, name="polar_vjp")
    p = _polar._p_of(x, u, side)
    shape, pshape = tuple(a.shape), tuple(p.shape)
    pchunks = (*x.chunks[:-2], (pshape[-2],), (pshape[-1],))

    def vjp_fn(gu: Any = None, gp: Any = None) -> Any:
        if gu is not None and tuple(gu.shape) != shape:
            raise ValueError(f"polar_vjp: the cotangent of u must have shape {shape}, got {tuple(gu.shape)}")
        if gp is not None and tuple(gp.shape) != pshape:
            raise ValueError(f"polar_vjp: the cotangent of p must have shape {pshape}, got {tuple(gp.shape)}")
        arrays = []
        for g, chunks in ((gu, x.chunks), (gp, pchunks)):
            if g is not None:
                g = da.asarray(g)
                arrays.append((xp.astype(g, ctype) if g.dtype != ctype else g).rechunk(chunks))
        out = da.map_blocks(
            _chunk_polar_vjp,
            x,
            *arrays,
            opts=opts,
            check=check,
            side=side,
            present=(gu is not None, gp is not None),
            dtype=ctype,
            meta=x._meta,
        )
        return xp.astype(out, dtype) if out.dtype != dtype else out

    cast = (lambda t: xp.astype(t, dtype)) if dtype != ctype else (lambda t: t)
    return (cast(u), cast(p)), vjp_fn
