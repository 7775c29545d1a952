"""CuPy glue: the core forward as is (CuPy has no autodiff; gradients come from ``matfunc.sqrtm_vjp``),
run on the input's device, and a batched Cholesky ``spd_solve``.

What CuPy's array-API namespace (array-api-compat's ``array_api_compat.cupy``) already covers, and the
core relies on: batched ``linalg.eigh`` (cuSOLVER ``syevjBatched`` for stacks), ``linalg.diagonal``,
``isdtype``, ``finfo``, ``matmul`` on stacks. What it lacks is a Cholesky solve (the standard has only
LU ``linalg.solve``): :func:`_spd_solve` adds it from ``cupy.linalg.cholesky`` (batched ``potrfBatched``)
and ``cupyx.scipy.linalg.solve_triangular`` (``(..., M, M)`` stacks since CuPy 14), registered at import.

Everything runs on the GPU: the only device-to-host transfers are the value checks of ``check=True``
(one boolean per check, done by the public entry), and ``method="auto"`` picks ``"newton-schulz"``
(matrix products) for CuPy arrays, batched eigensolvers being slow on GPUs.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ..core import primitives
from ..core.forward import forward
from ..core.options import Options

__all__ = ["is_traced", "apply", "XP_NAME"]

XP_NAME = "array_api_compat.cupy"  # the __name__ of CuPy's array-API namespace (no device needed to know it)


def is_traced(a: Any) -> bool:
    """False: CuPy arrays are concrete (no tracing), so the value checks run."""
    return False


def _spd_solve(a: Any, b: Any) -> Any:
    """Solve ``a x = b`` for symmetric positive definite ``a`` by a batched Cholesky factorisation and two
    batched triangular solves (half the flops of LU ``linalg.solve``), on ``a``'s device."""
    # Imported here, not at module level: cupyx.scipy.linalg loads cuBLAS, and the module imports without CuPy
    # (pytest --doctest-modules collects it on machines without CuPy).
    import cupy
    import cupyx.scipy.linalg

    batch = cupy.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    with a.device:
        factor = cupy.linalg.cholesky(cupy.broadcast_to(a, (*batch, *a.shape[-2:])))
        b = cupy.broadcast_to(b, (*batch, *b.shape[-2:]))
        y = cupyx.scipy.linalg.solve_triangular(factor, b, lower=True)
        return cupyx.scipy.linalg.solve_triangular(factor, y, lower=True, trans="C")  # L^H (L^T for real input)


primitives.register(XP_NAME, "spd_solve", _spd_solve)


def apply(x: Any, /, *, opts: Options, xp: ModuleType, check: bool = True) -> Any:
    """``sqrtm``/``inv_sqrtm`` of a float32/float64 CuPy array, computed on the array's device."""
    with x.device:
        return forward(primitives.sym(x), opts=opts, xp=xp)[0]
