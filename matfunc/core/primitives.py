"""The few linear-algebra primitives the kernels need beyond the array API standard.

Each primitive has a portable default written against ``xp``. A backend module may register a faster or
safer version for its namespace (``register``): torch's fused ``baddbmm`` for ``matmul_add``, or
Cholesky solves where the standard only has LU ``linalg.solve``. Kernels call ``primitives.<name>(...,
xp=xp)`` and never ask which framework they run on.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = [
    "register",
    "matmul_add",
    "matmul_in",
    "sum_to",
    "solve",
    "spd_solve",
    "eigh",
    "gram",
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


def register(xp_name: str, name: str, fn: Callable[..., Any]) -> None:
    """Install ``fn`` as primitive ``name`` for namespaces whose ``__name__`` is ``xp_name``."""
    if name not in {"matmul_add", "solve", "spd_solve", "self_adjoint_solve", "eigh", "gram"}:
        raise ValueError(f"unknown primitive {name!r}")
    _OVERRIDES[(xp_name, name)] = fn


def _override(xp: ModuleType, name: str) -> Callable[..., Any] | None:
    return _OVERRIDES.get((xp.__name__, name))


def mT(a: Any) -> Any:
    """Transpose of the last two axes (``a.mT``; ``swapaxes`` for arrays without it, such as Dask's)."""
    return a.mT if hasattr(a, "mT") else a.swapaxes(-1, -2)


def is_complex(a: Any) -> bool:
    """Whether ``a`` has a complex dtype (static: the dtype only; NumPy, CuPy, torch, JAX, Dask, strict)."""
    return "complex" in str(a.dtype)


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


def gram(w: Any, /, *, xp: ModuleType) -> Any:
    """The Gram matrix ``W W^H``, exactly Hermitian (``sym`` of the product, unless the backend's product is
    exactly symmetric already: NumPy's ``W @ W.T``, a BLAS ``syrk``, below)."""
    fn = _override(xp, "gram")
    if fn is not None and not is_complex(w):
        return fn(w)
    return sym(w @ mH(w))


def _gram_syrk(w: Any) -> Any:
    """NumPy runs ``W @ W.T`` (the second operand the transposed view of the first) as a symmetric rank-k
    update, ``syrk``: half the flops, and one triangle mirrored, so exactly symmetric (no ``sym`` pass; 4 ms of a
    1024 x 1024 float64 root)."""
    return w @ mT(w)


_OVERRIDES[("array_api_compat.numpy", "gram")] = _gram_syrk


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
