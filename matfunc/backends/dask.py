"""Dask glue: lazy, chunk-wise ``sqrtm``/``inv_sqrtm``/VJPs/``solve_lyapunov`` on ``dask.array.Array``.

Two layouts, chosen from the chunks of the last two axes:

- **Batch-chunked** (every chunk holds whole matrices; the matrix axes are rechunked to full size when
  they are split and the method is not a matrix-product one): :func:`dask.array.map_blocks` runs the core
  on each chunk with the chunk's own namespace (NumPy or CuPy chunks). With ``check=True`` the value
  checks run per chunk when it is computed, and an error names the matrix by its *global* batch index.
- **Matrix-chunked** (one large matrix split over both matrix axes) with ``"newton-schulz"`` or
  ``"taylor"``: the core kernels run on the Dask namespace itself, so every product is Dask's blocked
  matmul and no chunk ever holds the whole matrix. ``"eig"`` has no blocked form (Dask has no ``eigh``)
  and is replaced by ``"newton-schulz"`` here; in particular ``method="auto"``, which the public entry
  resolves to ``"eig"`` for Dask arrays (host memory), becomes Newton–Schulz. ``"pade"`` needs a solve and
  rechunks to whole matrices. No value checks run in this layout (they would compute the whole graph).

Everything stays lazy: nothing is computed until ``.compute()``/``dask.compute``. The VJP closure of
:func:`vjp` recomputes the forward chunk by chunk when the gradient is computed instead of keeping the
output (twice the forward work, no extra memory held); ``dask.persist`` the input first to avoid reading
it twice.
"""

from __future__ import annotations

import dataclasses
import itertools
from types import ModuleType
from typing import Any

import dask.array as da

from .. import _compat, _validation
from ..core import gradients, lyapunov, primitives
from ..core.forward import forward
from ..core.options import Options, default_ns_iters
from ..core.scaling import normalize

__all__ = ["is_traced", "apply", "vjp", "solve_lyapunov"]

MATMUL_METHODS = ("newton-schulz", "taylor")

def is_traced(a: Any) -> bool:
    """Always True: a Dask array is a lazy graph; eager value checks would compute all of it."""
    return True


# --- layout ------------------------------------------------------------------------------------------


def _matrix_chunked(a: Any) -> bool:
    """Whether either matrix axis is split over several chunks."""
    return len(a.chunks[-1]) > 1 or len(a.chunks[-2]) > 1


def _single_blocked(a: Any) -> bool:
    """One matrix (no batch, or a batch of one) split over its matrix axes: the blocked-matmul layout."""
    return _matrix_chunked(a) and all(d == 1 for d in a.shape[:-2])


def _whole_matrices(a: Any) -> Any:
    """``a`` rechunked so that each chunk holds whole matrices (batch chunks unchanged)."""
    if not _matrix_chunked(a):
        return a
    return a.rechunk({a.ndim - 2: -1, a.ndim - 1: -1})


def _blocked_opts(opts: Options) -> Options:
    """Options for the matrix-chunked layout: ``"eig"`` (no blocked eigensolver in Dask) becomes
    Newton–Schulz with its default steps and the Lyapunov backward."""
    if opts.method != "eig":
        return opts
    bwd = "lyapunov" if opts.backward in ("eig", "lyapunov") else opts.backward
    iters = default_ns_iters(opts.eps)
    b_iters = opts.backward_iters if opts.backward == "lyapunov" else iters
    return dataclasses.replace(opts, method="newton-schulz", num_iters=iters, backward=bwd, backward_iters=b_iters)


# --- per-chunk work ----------------------------------------------------------------------------------


def _offset(block_info: dict | None, ndim: int) -> tuple[int, ...]:
    if not block_info or 0 not in block_info:
        return (0,) * (ndim - 2)
    return tuple(start for start, _ in block_info[0]["array-location"][: ndim - 2])


def _check_chunk(x: Any, /, *, name: str, opts: Options, bxp: ModuleType, offset: tuple[int, ...]) -> None:
    """The public entry's value checks on one chunk; an error names the matrix by its global index."""

    def check(m: Any) -> None:
        _validation.check_values(m, name=name, eps=opts.eps, xp=bxp)
        if opts.inverse:
            _validation.check_nonsingular(m, name=name, eps=opts.eps, xp=bxp)

    try:
        check(x)
    except ValueError as exc:  # find the first bad matrix of the chunk (error path only)
        for idx in itertools.product(*(range(d) for d in x.shape[:-2])):
            try:
                check(x[idx])
            except ValueError as one:
                where = tuple(o + i for o, i in zip(offset, idx, strict=True))
                named = f"the matrix at batch index {where} of the Dask array"
                text = str(one).replace("the matrix", named, 1) if "the matrix" in str(one) else f"{one} ({named})"
                # chunks run in parallel: the first bad matrix of the chunk that failed first
                raise type(exc)(f"{text} (the first in its chunk; other chunks are checked concurrently)") from exc
        raise


def _chunk_forward(x: Any, /, *, opts: Options, check: bool, block_info: dict | None = None) -> Any:
    bxp = _compat.array_namespace(x)
    _compat.backend_module(bxp)  # registers the chunk backend's primitives (CuPy)
    if check and 0 not in x.shape:
        _check_chunk(x, name="inv_sqrtm" if opts.inverse else "sqrtm", opts=opts, bxp=bxp,
                     offset=_offset(block_info, x.ndim))
    return forward(primitives.sym(x), opts=opts, xp=bxp)[0]


def _chunk_vjp(x: Any, g: Any, /, *, opts: Options, block_info: dict | None = None) -> Any:
    bxp = _compat.array_namespace(x, g)
    _compat.backend_module(bxp)
    ctype = _validation.compute_dtype(x.dtype, xp=bxp)
    _, saved = forward(primitives.sym(bxp.astype(x, ctype)), opts=opts, xp=bxp)
    da_ = gradients.sqrtm_vjp(gradients.saved_for(saved, opts), bxp.astype(g, ctype), opts=opts, xp=bxp)
    return bxp.astype(da_, x.dtype)


def _chunk_lyapunov(s: Any, g: Any, /, *, method: str, num_iters: int | None, scale: str) -> Any:
    from .. import _api

    return _api.solve_lyapunov(s, g, method, num_iters=num_iters, scale=scale)


# --- glue entries ------------------------------------------------------------------------------------


def apply(x: Any, /, *, opts: Options, xp: ModuleType, check: bool = True) -> Any:
    """Lazy ``sqrtm``/``inv_sqrtm`` of a float32/float64 Dask array (see the module docstring)."""
    if _single_blocked(x) and opts.method in (*MATMUL_METHODS, "eig"):
        return forward(primitives.sym(x), opts=_blocked_opts(opts), xp=xp)[0]
    x = _whole_matrices(x)
    return da.map_blocks(_chunk_forward, x, opts=opts, check=check, dtype=x.dtype, meta=x._meta)


def vjp(a: Any, /, *, opts: Options, xp: ModuleType, check: bool, name: str) -> tuple[Any, Any]:
    """``(y, vjp_fn)`` with ``y`` and ``vjp_fn(g)`` lazy Dask arrays."""
    if opts.backward == "unrolled":
        raise ValueError(f"{name}_vjp: backward='unrolled' needs PyTorch or JAX autodiff, not Dask")
    dtype = a.dtype
    ctype = _validation.compute_dtype(dtype, xp=xp)
    x = xp.astype(a, ctype) if dtype != ctype else a
    blocked = _single_blocked(x) and opts.method in (*MATMUL_METHODS, "eig")
    if blocked:
        bopts = _blocked_opts(opts)
        y, saved = forward(primitives.sym(x), opts=bopts, xp=xp)
        saved = gradients.saved_for(saved, bopts)
    else:
        x = _whole_matrices(x)
        y = da.map_blocks(_chunk_forward, x, opts=opts, check=check, dtype=x.dtype, meta=x._meta)

    def vjp_fn(g: Any) -> Any:
        if tuple(g.shape) != tuple(a.shape):
            raise ValueError(
                f"{name}_vjp: the cotangent must have the output's shape {tuple(a.shape)}, got {tuple(g.shape)}"
            )
        g = da.asarray(g)
        gc = xp.astype(g, ctype) if g.dtype != ctype else g
        if blocked:
            out = gradients.sqrtm_vjp(saved, gc.rechunk(x.chunks), opts=bopts, xp=xp)
        else:
            out = da.map_blocks(_chunk_vjp, x, gc.rechunk(x.chunks), opts=opts, dtype=ctype, meta=x._meta)
        return xp.astype(out, dtype) if out.dtype != dtype else out

    return (xp.astype(y, dtype) if y.dtype != dtype else y), vjp_fn


def solve_lyapunov(s: Any, g: Any, /, *, method: str, num_iters: int | None, scale: str, xp: ModuleType) -> Any:
    """Lazy ``S X + X S = G``: blocked sign iteration on a matrix-chunked ``s``, else chunk by chunk."""
    s, g = da.asarray(s), da.asarray(g)
    for arr, nm in ((s, "s"), (g, "g")):
        _validation.check_static(arr, name=f"solve_lyapunov ({nm})", xp=xp)
    if s.shape[-1] != g.shape[-1]:
        raise ValueError(
            f"solve_lyapunov: s and g must have the same matrix size, got {tuple(s.shape)} and {tuple(g.shape)}"
        )
    if method not in ("sign", "eig"):
        raise ValueError(f"solve_lyapunov: unknown method {method!r}; expected 'sign' or 'eig'")
    if scale not in ("spectral", "frobenius"):
        raise ValueError(f"scale must be 'spectral' or 'frobenius', got {scale!r}")
    out_dtype = xp.result_type(s.dtype, g.dtype)
    ctype = _validation.compute_dtype(out_dtype, xp=xp)
    s, g = da.broadcast_arrays(xp.astype(s, ctype), xp.astype(g, ctype))
    if method == "sign" and _single_blocked(s):
        eps = float(xp.finfo(ctype).eps)
        steps = default_ns_iters(eps) if num_iters is None else num_iters
        s_n, c = normalize(primitives.sym(s), scale=scale, xp=xp)
        x = lyapunov.sign_lyapunov(s_n, g.rechunk(s.chunks) / c, num_iters=steps, eps=eps,
                                   scaled=scale == "spectral", xp=xp)
    else:
        s = _whole_matrices(s)
        x = da.map_blocks(_chunk_lyapunov, s, g.rechunk(s.chunks), method=method, num_iters=num_iters,
                          scale=scale, dtype=ctype, meta=s._meta)
    return xp.astype(x, out_dtype) if x.dtype != out_dtype else x
