"""The few linear-algebra primitives the kernels need beyond the array API standard.

Each primitive has a portable default written against ``xp``. A backend module may register a faster or
safer version for its namespace (``register``): torch's fused ``baddbmm`` for ``matmul_add``, or
Cholesky solves where the standard only has LU ``linalg.solve``. Kernels call ``primitives.<name>(...,
xp=xp)`` and never ask which framework they run on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = [
    "register",
    "matmul",
    "congruence",
    "matmul_add",
    "matmul_in",
    "sum_to",
    "solve",
    "spd_solve",
    "eigh",
    "gram",
    "signed_gram",
    "hermitian_product",
    "symmetrize",
    "asymmetry",
    "putmask",
    "self_adjoint_solve",
    "eye_like",
    "sym",
    "mT",
    "mH",
    "is_complex",
    "real",
    "abs2",
]

_OVERRIDES: dict[tuple[str, str], Callable[..., Any]] = {}
_NAMES = {
    "matmul",
    "matmul_add",
    "solve",
    "spd_solve",
    "self_adjoint_solve",
    "eigh",
    "gram",
    "signed_gram",
    "symmetrize",
    "hermitian_out",
    "putmask",
}


def register(xp_name: str, name: str, fn: Callable[..., Any]) -> None:
    """Install ``fn`` as primitive ``name`` for namespaces whose ``__name__`` is ``xp_name``."""
    if name not in _NAMES:
        raise ValueError(f"unknown primitive {name!r}")
    _OVERRIDES[(xp_name, name)] = fn


def _override(xp: ModuleType, name: str) -> Callable[..., Any] | None:
    return _OVERRIDES.get((xp.__name__, name))


def mT(a: Any) -> Any:
    """Transpose of the last two axes (``a.mT``; ``swapaxes`` for arrays without it, such as Dask's)."""
    return a.mT if hasattr(a, "mT") else a.swapaxes(-1, -2)


def is_complex(a: Any) -> bool:
    """Whether ``a`` has a complex dtype (static: the dtype only; NumPy, CuPy, torch, JAX, Dask, strict). NumPy
    dtypes (NumPy, CuPy, JAX, Dask) answer by their ``kind``, torch's by ``is_complex``; the others by name (a
    dtype's ``str`` costs 7 us: 3500 of them were an eighth of a small call)."""
    dt = a.dtype
    kind = getattr(dt, "kind", None)
    if isinstance(kind, str):
        return kind == "c"
    flag = getattr(dt, "is_complex", None)
    if isinstance(flag, bool):
        return flag
    return "complex" in str(dt)


def mH(a: Any) -> Any:
    """Conjugate transpose of the last two axes; the plain transpose for real arrays (no extra pass).

    Kernels use ``mH`` (never ``mT``) wherever the math has a transpose, so that complex Hermitian input is
    the real symmetric case with ``^T`` read as ``^H``."""
    t = mT(a)
    if not is_complex(a):
        return t
    from .._compat import array_namespace

    return array_namespace(t).conj(t)


def real(a: Any, /, *, xp: ModuleType) -> Any:
    """Real part (of a diagonal, a trace, a squared modulus); ``a`` itself for real arrays."""
    return xp.real(a) if is_complex(a) else a


def abs2(a: Any, /, *, xp: ModuleType) -> Any:
    """Squared modulus ``|a|^2`` elementwise: ``a * a`` for real arrays."""
    return xp.real(a * xp.conj(a)) if is_complex(a) else a * a


def sym(a: Any) -> Any:
    """Symmetric (Hermitian) part ``(a + a^H) / 2``, halved first so that nothing overflows near the float
    maximum (bitwise the same as halving the sum: a multiplication by 1/2 is exact)."""
    h = a * 0.5
    return h + mH(h)  # two passes, as (a + a^T) * 0.5


def asymmetry(a: Any, /, *, xp: ModuleType) -> Any:
    """``max |a - a^H|`` per matrix (NaN where ``a`` has NaN or Inf). Real: ``a - a^T`` is antisymmetric, so its
    largest entry is its largest magnitude (one temporary, no ``abs`` pass); Hermitian: ``a - a^H`` includes
    ``2i Im(a_ii)``."""
    if is_complex(a):
        return xp.max(xp.abs(a - mH(a)), axis=(-2, -1))
    return xp.max(a - mH(a), axis=(-2, -1))


def symmetrize(
    a: Any,
    /,
    *,
    xp: ModuleType,
    with_asymmetry: bool = False,
    lower: bool = False,
    overwrite: bool = False,
    copy: bool = True,
) -> Any:
    """:func:`sym` of an input matrix, the first step of every forward; with ``with_asymmetry=True`` the pair
    ``(sym(a), max |a - a^H|)`` (:func:`asymmetry`, for the input check), bit for bit the two separately.

    Both read ``a`` once transposed. NumPy walks a transposed operand of a large matrix across a memory page per
    element; its version (below) works on square tiles instead, both results from each tile pair.

    ``lower``: the result only feeds :func:`eigh`, which reads its lower triangle; a backend may leave the
    strict upper triangle unspecified (NumPy writes the lower one only, zeros above: the mirrored, transposed
    writes are a third of the pass). ``overwrite``: ``a`` is a temporary of the caller's and may be symmetrised
    in place (a fresh array fewer: NumPy). ``copy=False`` (as ``astype``'s): where ``a`` is exactly symmetric
    the result may be ``a`` itself or a view of it (NumPy: the pass reads ``a - a^T`` and writes nothing until
    it finds a matrix that is not; ``a`` is then its own symmetric part, to the halving's rounding of subnormal
    entries), so the caller may write into the result only where :func:`shares_memory` says it is not ``a``'s."""
    fn = _override(xp, "symmetrize")
    if fn is not None and not is_complex(a):
        out = fn(a, with_asymmetry, lower, overwrite, copy)
        if out is not None:
            return out
    s = sym(a)
    return (s, asymmetry(a, xp=xp)) if with_asymmetry else s


def shares_memory(s: Any, a: Any, /) -> bool:
    """Whether :func:`symmetrize` (``copy=False``) returned ``a`` itself or a view of it (only NumPy does): the
    caller must not write into ``s`` then."""
    import numpy as np

    return isinstance(s, np.ndarray) and isinstance(a, np.ndarray) and bool(np.may_share_memory(s, a))


_TILE_BYTES = 1 << 17  # a tile (over the batch) of 128 KiB: 128 x 128 float64 of one matrix


def _symmetrize_tiled(a: Any, with_asym: bool, lower: bool = False, overwrite: bool = False, copy: bool = True) -> Any:
    """:func:`symmetrize` for real NumPy arrays (None: small, the whole-array forms): matrices up to 512 KiB in
    chunks of the batch (:func:`_symmetrize_chunked`), larger ones on square tiles of ``_TILE_BYTES``.

    For each pair of tiles ``(I, J)``, ``(J, I)`` below the diagonal: one transposed copy of ``a[J, I]`` into a
    contiguous scratch tile, then ``a[I, J] / 2 + a[J, I]^T / 2`` (``sym``'s operations, so its bits), mirrored
    into ``[J, I]`` (not for ``lower``; float64, :func:`_fortran_eigh`: the pairs the other way round, the upper
    triangle, returned as the transposed view), and ``a[I, J] - a[J, I]^T`` for the asymmetry; ``overwrite``: in ``a``
    itself (the scratch tile holds what the mirror overwrites). 1 x 1024x1024 float64, 2 threads: 5.7 ms
    against 12 ms for ``sym`` and ``asymmetry`` as whole-array operations (2048: 25 against 68 ms).

    ``copy=False``: the differences of each tile pair are read first and nothing is written while they are all
    zero; at the first that is not, the result is made, the tiles passed so far given their ``sym`` (``x / 2 +
    x / 2``: the same bits, as they are symmetric) and the rest symmetrised as above. Where none is, ``a`` is
    returned (the transposed view for :func:`_fortran_eigh`: the same matrix)."""
    import numpy as np

    n, batch = a.shape[-1], tuple(a.shape[:-2])
    count = math.prod(batch)
    if overwrite and not a.flags.writeable:
        overwrite = False
    if a.nbytes < _TILE_BYTES // 2:  # small: the whole-array forms (their temporaries come from the heap)
        return None
    b = next((t for t in (128, 64, 32) if count * t * t * a.itemsize <= _TILE_BYTES), 0)
    if n * n * a.itemsize <= 4 * _TILE_BYTES or not b or n < 2 * b:
        return _symmetrize_chunked(a, with_asym, overwrite, lower, copy)
    # lower: zeros above the diagonal, not np.empty's leftovers (a signalling NaN there raises in eigh's float32
    # to float64 cast); calloc's pages cost no pass where they are fresh
    upper = lower and _fortran_eigh(a) and not overwrite
    fresh = np.zeros if lower else np.empty
    out: Any = a if overwrite else None if not copy else fresh(a.shape, a.dtype)
    probe = with_asym or out is None  # the differences: for the asymmetry, or until one is not zero
    passed: list[tuple[int, int]] = []  # copy=False: the tile pairs read before the result was made
    worst = np.zeros(batch, a.dtype)
    scratch, half = np.empty((*batch, b, b), a.dtype), np.empty((*batch, b, b), a.dtype)
    # (r, c): a tile at or below the diagonal (i, j); upper: at or above it (j, i)
    for r, c in ((j, i) if upper else (i, j) for i in range(0, n, b) for j in range(0, i + 1, b)):
        x = a[..., r : r + b, c : c + b]
        k, m = x.shape[-2], x.shape[-1]
        t, h = scratch[..., :k, :m], half[..., :k, :m]
        np.copyto(t, np.swapaxes(a[..., c : c + m, r : r + k], -1, -2))
        if probe:  # (before an in-place o overwrites x)
            np.subtract(x, t, out=h)
            np.maximum(worst, np.max(h, axis=(-2, -1)), out=worst)
            if r != c:  # the transposed tile's differences are these, negated
                np.maximum(worst, -np.min(h, axis=(-2, -1)), out=worst)
            if out is None:
                if not worst.any():  # (NaN counts as nonzero)
                    passed.append((r, c))
                    continue
                out = fresh(a.shape, a.dtype)
                for r0, c0 in passed:  # symmetric tiles: x / 2 + x / 2, sym's bits
                    x0, o0 = a[..., r0 : r0 + b, c0 : c0 + b], out[..., r0 : r0 + b, c0 : c0 + b]
                    np.multiply(x0, 0.5, out=o0)
                    o0 += o0
                    if r0 != c0 and not lower:
                        out[..., c0 : c0 + b, r0 : r0 + b] = np.swapaxes(o0, -1, -2)
                probe = with_asym
        o = out[..., r : r + k, c : c + m]
        np.multiply(x, 0.5, out=o)
        np.multiply(t, 0.5, out=h)
        o += h
        if r != c and not lower:
            out[..., c : c + m, r : r + k] = np.swapaxes(o, -1, -2)
    shared = out is None  # exactly symmetric: a is its own symmetric part
    if shared:
        out = a
    if upper or (shared and lower and _fortran_eigh(a)):  # what eigh reads, column-major
        out = np.swapaxes(out, -1, -2)
    return (out, worst) if with_asym else out  # (np.maximum propagates NaN, as the whole-array max does)


def _symmetrize_chunked(a: Any, with_asym: bool, overwrite: bool, lower: bool = False, copy: bool = True) -> Any:
    """:func:`symmetrize` of a batch of small real NumPy matrices in chunks of about ``_TILE_BYTES``: each
    chunk's ``a^T`` copied into a small scratch array, then ``sym``'s operations (so its bits) into the result.
    One fresh array of the batch's size, not two: on this project's machines two live temporaries of 2 MiB
    were trimmed from the heap at every call and faulted back in (64 x 64x64 float64: 2.3 ms against 0.4).
    ``copy=False``: as in :func:`_symmetrize_tiled`, chunk by chunk."""
    import numpy as np

    n, batch = a.shape[-1], tuple(a.shape[:-2])
    flat = np.reshape(a, (-1, n, n))
    count = flat.shape[0]
    per = max(1, min(count, _TILE_BYTES // max(1, n * n * a.itemsize)))
    inplace = overwrite and np.shares_memory(flat, a)
    out: Any = flat if inplace else None if not copy else np.empty(flat.shape, a.dtype)
    scratch = np.empty((per, n, n), a.dtype)
    probe = with_asym or out is None  # the differences: for the asymmetry, or until one is not zero
    diff = np.empty((per, n, n), a.dtype) if probe else None
    worst = np.empty(count, a.dtype) if probe else None
    for i in range(0, count, per):
        x = flat[i : i + per]
        k = x.shape[0]
        t = scratch[:k]
        np.copyto(t, np.swapaxes(x, -1, -2))
        if probe and diff is not None and worst is not None:
            np.subtract(x, t, out=diff[:k])
            np.max(diff[:k], axis=(-2, -1), out=worst[i : i + k])
            if out is None:
                if not worst[i : i + k].any():  # (NaN counts as nonzero)
                    continue
                out = np.empty(flat.shape, a.dtype)
                if i:  # the symmetric matrices passed so far: x / 2 + x / 2, sym's bits
                    np.multiply(flat[:i], 0.5, out=out[:i])
                    out[:i] += out[:i]
                probe = with_asym
        o = out[i : i + k]
        np.multiply(x, 0.5, out=o)
        t *= 0.5
        o += t
    shared = out is None
    out = np.reshape(flat if out is None else out, a.shape)
    if lower and _fortran_eigh(a) and (shared or not np.shares_memory(out, a)):  # exactly symmetric: the same matrix
        out = np.swapaxes(out, -1, -2)
    return (out, np.reshape(worst, batch)) if with_asym and worst is not None else out


def _fortran_eigh(a: Any) -> bool:
    """Whether :func:`symmetrize` (``lower=True``) hands NumPy's ``eigh`` a column-major view (the transposed
    view of a row-major array holding the upper triangle, or all of a symmetric matrix): NumPy copies each
    matrix into column-major order for LAPACK, reading a row-major one across its rows. For float64; float32 is
    copied into a float64 array anyway, where the row-major read was the faster. 2 threads, ``eigh`` of a
    column-major against a row-major float64 array: 0.97x the time at 1 x 1024x1024, 1 x 512x512 and 4 x
    256x256 (0.99 at 1024 x 32x32)."""
    return bool(a.dtype.char == "d")


def gram(w: Any, /, *, xp: ModuleType, out: Any = None) -> Any:
    """The Gram matrix ``W W^H``, exactly Hermitian (:func:`hermitian_product`; NumPy's ``W @ W.T`` is a BLAS
    ``syrk``, exactly symmetric with half the flops, below). ``out``: as for :func:`matmul`."""
    fn = _override(xp, "gram")
    if fn is not None and not is_complex(w):
        return fn(w, out)
    return hermitian_product(w, w, xp=xp)


def matmul(a: Any, b: Any, /, *, xp: ModuleType, out: Any = None) -> Any:
    """``a @ b``; ``out``: a temporary of the caller's, of the result's shape and dtype and aliasing neither
    operand, that a backend may write the result into (NumPy: a fresh array fewer, whose pages cost faults on
    the host). Always use the returned array."""
    fn = _override(xp, "matmul")
    if fn is not None and out is not None:
        return fn(a, b, out)
    return a @ b


def hermitian_product(u: Any, w: Any, /, *, xp: ModuleType, out: Any = None) -> Any:
    """``sym(U W^H)`` for a product known to be Hermitian (``W W^H``, ``V diag(d) V^H``), exactly Hermitian.

    On the CPU, for ``n >= 512``, by halves: the rows ``[U_1; U_2]``, ``[W_1; W_2]`` give the blocks
    ``U_1 W_1^H``, ``U_2 W_1^H`` and ``U_2 W_2^H`` (the fourth is the transpose of the second), the diagonal
    ones again by halves: 3/4 of the flops per level where a product has no symmetric form (PyTorch, JAX).
    ``out``: a writable array of the result's shape to assemble the blocks in, instead of joining them; where it
    splits and none is given, the backend's ``hermitian_out`` makes a fresh one (PyTorch, NumPy; None: joined).
    1 x 1024x1024 float32, PyTorch, 2 threads: 8.4 ms in place (11.4 joined by ``concat``) against 10.7 ms for
    the bare product and 18 ms for ``sym(W @ W^T)``."""
    n = u.shape[-2]
    if n < _GRAM_SPLIT or not _on_cpu(u):
        y = sym(u @ mH(w))
        if out is None:
            return y
        out[...] = y
        return out
    if out is None:
        new = _override(xp, "hermitian_out")
        out = None if new is None else new(u)
    m = n // 2
    if out is None:
        y11 = hermitian_product(u[..., :m, :], w[..., :m, :], xp=xp)
        y22 = hermitian_product(u[..., m:, :], w[..., m:, :], xp=xp)
        y21 = u[..., m:, :] @ mH(w[..., :m, :])
        return xp.concat([xp.concat([y11, mH(y21)], axis=-1), xp.concat([y21, y22], axis=-1)], axis=-2)
    hermitian_product(u[..., :m, :], w[..., :m, :], xp=xp, out=out[..., :m, :m])
    hermitian_product(u[..., m:, :], w[..., m:, :], xp=xp, out=out[..., m:, m:])
    y21 = u[..., m:, :] @ mH(w[..., :m, :])
    out[..., m:, :m] = y21
    out[..., :m, m:] = mH(y21)
    return out


_GRAM_SPLIT = 512  # by halves from this n on (CPU): at n = 256 the blocks' products lose their speed


def _on_cpu(w: Any) -> bool:
    from .._compat import is_cpu

    return is_cpu(w)


def signed_gram(v: Any, d: Any, /, *, xp: ModuleType, out: Any = None) -> Any:
    """``V diag(d) V^H``, exactly Hermitian, for real ``d`` of any sign (``log`` of the eigenvalues).

    The default is :func:`hermitian_product` of ``V diag(d)`` and ``V``. NumPy (below) splits it into two Gram
    matrices, ``W_+ W_+^T - W_- W_-^T`` with ``W_± = V diag(sqrt(max(±d, 0)))`` on the columns where some
    ``±d > 0``: two symmetric rank-k updates with ``n^2 k`` flops each instead of one ``2 n^3`` product and a
    ``sym`` pass. ``out``: as for :func:`matmul`."""
    fn = _override(xp, "signed_gram")
    if fn is not None and not is_complex(v):
        return fn(v, d, out)
    return hermitian_product(v * xp.astype(d, v.dtype)[..., None, :], v, xp=xp)


def congruence(v: Any, g: Any, /, *, xp: ModuleType, scale: Callable[[Any], Any] | None = None) -> Any:
    """``V s(V^H G V) V^H`` (``s = scale``, the identity by default; it may update its argument in place): the
    eigenbasis step of the exact gradients and Loewner solves. The last two products are written into the
    first two's temporaries where the backend allows (:func:`matmul`): NumPy allocates two arrays, not four."""
    vh = mH(v)
    t = vh @ g
    m = t @ v
    if scale is not None:
        m = scale(m)
    t = matmul(v, m, xp=xp, out=t)
    return matmul(t, vh, xp=xp, out=m)


def hermitian_congruence(v: Any, g: Any, /, *, xp: ModuleType, scale: Callable[[Any], Any]) -> Any:
    """``sym(V s(V^H G V) V^H) = V s(V^H sym(G) V) V^H``, exactly Hermitian, for a ``scale`` that keeps a
    Hermitian argument Hermitian (a Hadamard product with a symmetric matrix). Where :func:`hermitian_product`
    splits (CPU, ``n >= 512``): ``G`` symmetrised first (:func:`symmetrize`, ``copy=False``: an exactly
    symmetric cotangent is read, not copied), then both Hermitian products by halves, ``(V^H sym(G)) V`` and
    ``(V s(.)) V^H`` (5/8 of their flops at 1024), no ``sym`` pass after either; elsewhere :func:`congruence` and
    one :func:`symmetrize` of the result. 1 x 1024x1024 float64, NumPy, 2 threads: 0.95x the time of the middle
    symmetrised instead (symmetric ``G``; 1.0x for one that is not), which was 0.93x that of the result's."""
    if v.shape[-1] < _GRAM_SPLIT or not _on_cpu(v):
        return symmetrize(congruence(v, g, xp=xp, scale=scale), xp=xp, overwrite=True)
    vh = mH(v)
    m = scale(hermitian_product(vh @ symmetrize(g, xp=xp, copy=False), vh, xp=xp))
    return hermitian_product(v @ m, v, xp=xp)


def _gram_syrk(w: Any, out: Any = None) -> Any:
    """NumPy runs ``W @ W.T`` (the second operand the transposed view of the first) as a symmetric rank-k
    update, ``syrk``: half the flops, and one triangle mirrored, so exactly symmetric (no ``sym`` pass; 4 ms of a
    1024 x 1024 float64 root)."""
    return _matmul_out(w, mT(w), _row_major(out))


def _row_major(out: Any) -> Any:
    """``out`` for a symmetric result: a column-major ``out`` (:func:`_fortran_eigh`) as its row-major
    transposed view, the same memory, where NumPy's ``matmul`` writes without a buffer."""
    import numpy as np

    if isinstance(out, np.ndarray) and out.ndim >= 2 and not out.flags.c_contiguous:
        t = np.swapaxes(out, -1, -2)
        if t.flags.c_contiguous:
            return t
    return out


def _matmul_out(a: Any, b: Any, out: Any) -> Any:
    import numpy as np

    if out is None or not isinstance(out, np.ndarray) or not out.flags.writeable:
        return a @ b
    shape = (*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), a.shape[-2], b.shape[-1])
    if out.shape != shape or out.dtype != np.result_type(a, b):
        return a @ b
    return np.matmul(a, b, out=out)


def _signed_gram_syrk(v: Any, d: Any, out: Any = None) -> Any:
    import numpy as np

    d = np.asarray(d, dtype=v.dtype)
    out = _row_major(out)
    batch_axes = tuple(range(d.ndim - 1))
    y = None
    for sign in (1.0, -1.0):
        part = np.maximum(sign * d, 0)
        cols = np.flatnonzero(np.any(part > 0, axis=batch_axes)) if batch_axes else np.flatnonzero(part > 0)
        if cols.size == 0:
            continue
        if cols[-1] - cols[0] + 1 == cols.size:  # a range (sorted d, as from eigh): a view, no copy
            sl = slice(int(cols[0]), int(cols[-1]) + 1)
            w = v[..., sl] * np.sqrt(part[..., sl])[..., None, :]
        else:
            w = np.take(v, cols, axis=-1) * np.sqrt(np.take(part, cols, axis=-1))[..., None, :]
        if y is None:
            y = _matmul_out(w, np.swapaxes(w, -1, -2), out)
            if sign < 0:
                np.negative(y, out=y)
        elif sign < 0:
            y -= w @ np.swapaxes(w, -1, -2)
    return np.zeros(v.shape, v.dtype) if y is None else y


def _empty_square(u: Any) -> Any:
    """A fresh ``(..., n, n)`` array for :func:`hermitian_product` of ``u`` (``(..., n, k)``) to assemble in."""
    import numpy as np

    return np.empty((*u.shape[:-1], u.shape[-2]), u.dtype)


_OVERRIDES[("array_api_compat.numpy", "gram")] = _gram_syrk
_OVERRIDES[("array_api_compat.numpy", "matmul")] = _matmul_out
_OVERRIDES[("array_api_compat.numpy", "signed_gram")] = _signed_gram_syrk
_OVERRIDES[("array_api_compat.numpy", "symmetrize")] = _symmetrize_tiled
_OVERRIDES[("array_api_compat.numpy", "hermitian_out")] = _empty_square


def putmask(a: Any, mask: Any, value: float, /, *, xp: ModuleType) -> Any:
    """``where(mask, value, a)`` for a temporary ``a`` of the caller's, which the backend may update in place
    (NumPy, as its ``putmask``: no fresh array, whose pages cost faults on the host: 1024x1024 float64, 4.7 ms
    for ``np.where`` against 1.1 ms). Always use the returned array."""
    fn = _override(xp, "putmask")
    if fn is not None:
        out = fn(a, mask, value)
        if out is not None:
            return out
    return xp.where(mask, value, a)


def _putmask_numpy(a: Any, mask: Any, value: float) -> Any:
    import numpy as np

    if not (isinstance(a, np.ndarray) and a.flags.writeable and a.shape == np.shape(mask)):
        return None
    np.copyto(a, value, where=mask)
    return a


_OVERRIDES[("array_api_compat.numpy", "putmask")] = _putmask_numpy


def eye_like(a: Any, /, *, xp: ModuleType) -> Any:
    """An ``(n, n)`` identity with ``a``'s dtype and device."""
    from .._compat import device

    return xp.eye(a.shape[-1], dtype=a.dtype, device=device(a))


def sum_to(x: Any, shape: tuple[int, ...], /, *, xp: ModuleType) -> Any:
    """Reduce ``x``, the gradient of a broadcast result, back to an input of ``shape``: sum over the axes that
    broadcasting added in front of ``shape`` or stretched from 1."""
    extra = x.ndim - len(shape)
    if extra:
        x = xp.sum(x, axis=tuple(range(extra)))
    axes = tuple(i for i, (s, t) in enumerate(zip(shape, x.shape, strict=True)) if s == 1 and t != 1)
    if axes:
        x = xp.sum(x, axis=axes, keepdims=True)
    return x


def matmul_in(a: Any, b: Any, low: Any, /, *, xp: ModuleType) -> Any:
    """``a @ b`` with both factors rounded to the dtype ``low`` (None: in their own dtype; ``matmul_dtype``),
    returned in ``a``'s dtype (PyTorch and JAX accumulate low-precision products in float32)."""
    if low is None:
        return a @ b
    return xp.astype(xp.astype(a, low) @ xp.astype(b, low), a.dtype)


def matmul_add(c: Any, a: Any, b: Any, /, *, alpha: float = 1.0, beta: float = 1.0, xp: ModuleType) -> Any:
    """``beta * c + alpha * (a @ b)`` (one fused call where the backend has one)."""
    fn = _override(xp, "matmul_add")
    if fn is not None:
        return fn(c, a, b, alpha=alpha, beta=beta)
    ab = a @ b
    if alpha != 1.0:
        ab = alpha * ab
    return ab + (c if beta == 1.0 else beta * c)


def spd_solve(a: Any, b: Any, /, *, xp: ModuleType) -> Any:
    """Solve ``a x = b`` for symmetric positive definite ``a`` (batched).

    The portable default is ``xp.linalg.solve`` (LU); backends with batched Cholesky solves register them
    (half the flops, and torch 2.13's batched CPU LU fails for n >= ~200 with 2 threads).
    """
    fn = _override(xp, "spd_solve")
    if fn is not None:
        return fn(a, b)
    return solve(a, b, xp=xp)


def eigh(a: Any, /, *, xp: ModuleType) -> tuple[Any, Any]:
    """``(w, V)``, the eigenvalues (ascending) and eigenvectors of Hermitian ``a`` (batched): ``xp.linalg.eigh``
    unless the backend registers its own (torch on CPU hands batches to NumPy's LAPACK, one matrix per thread:
    ``matfunc.backends.torch``)."""
    fn = _override(xp, "eigh")
    if fn is not None:
        return fn(a)
    return xp.linalg.eigh(a)


def solve(a: Any, b: Any, /, *, xp: ModuleType) -> Any:
    """Solve ``a x = b`` for a general nonsingular ``a`` (batched): ``xp.linalg.solve`` unless the backend
    registers its own (torch on CPU loops over the batch for n >= 128, where its batched LU fails)."""
    fn = _override(xp, "solve")
    if fn is not None:
        return fn(a, b)
    return xp.linalg.solve(a, b)


def self_adjoint_solve(
    matvec: Callable[[Any], Any], solve: Callable[[Any], Any], rhs: Any, /, *, xp: ModuleType
) -> Any:
    """``solve(rhs)``, where ``solve`` inverts the self-adjoint linear map ``matvec`` (to its accuracy).

    The default just calls ``solve``. A framework that derives reverse mode by transposing the program
    registers a version that transposes the solve by calling it again (JAX: ``custom_linear_solve`` with
    ``symmetric=True``) instead of transposing its steps one by one.
    """
    fn = _override(xp, "self_adjoint_solve")
    if fn is not None:
        return fn(matvec, solve, rhs)
    return solve(rhs)
