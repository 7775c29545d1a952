"""matfunc: fast differentiable matrix square root and inverse square root on any array-API backend."""

from ._api import inv_sqrtm, inv_sqrtm_vjp, solve_lyapunov, sqrtm, sqrtm_vjp
from ._errors import SingularMatrixError
from .core.coefficients import ns_iters_for_condition as _ns_iters_for_condition

__all__ = [
    "sqrtm",
    "inv_sqrtm",
    "sqrtm_vjp",
    "inv_sqrtm_vjp",
    "solve_lyapunov",
    "newton_schulz_iters",
    "SingularMatrixError",
]
__version__ = "0.1.0"

if "torch" in __import__("sys").modules:
    # PyTorch is already loaded: load its glue now, so that a first call under torch.compile(fullgraph=True)
    # does not have to import it (dynamo cannot trace an import). Otherwise it is loaded on first use.
    from .backends import torch as _torch_glue  # noqa: F401


def _dtype_name(dtype: object) -> str:
    """'float32' for np.float32, np.dtype('float32'), torch.float32, jnp.float32, ..."""
    import numpy as np

    try:
        return np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError:
        return str(dtype).rsplit(".", 1)[-1]  # torch.float32 -> float32


def newton_schulz_iters(cond: float, dtype: object = "float64") -> int:
    """Newton–Schulz (or Lyapunov sign-iteration) steps that converge for condition numbers up to ``cond``.

    The rule behind the defaults: with matfunc's scaled step schedule, ``k`` steps bring the normalised
    spectrum ``[1/cond, 1]`` to within the dtype's machine epsilon of 1. Pass the result as ``num_iters``
    (or ``backward_iters``).

    Examples
    --------
    >>> import matfunc
    >>> [matfunc.newton_schulz_iters(c) for c in (1e2, 1e4, 1e6, 1e8)]
    [7, 10, 13, 15]
    >>> matfunc.newton_schulz_iters(1e3, "float32")
    7
    >>> import numpy as np
    >>> matfunc.newton_schulz_iters(1e3, np.float32)    # or any dtype object: x.dtype of NumPy, torch, JAX
    7
    """
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise TypeError("dtype must be float64, float32, float16 or bfloat16 (a name or a dtype), got None")
    name = dtype if isinstance(dtype, str) else _dtype_name(dtype)
    float32 = 1.1920928955078125e-07  # half precisions are computed in float32
    eps = {"float64": 2.220446049250313e-16, "float32": float32, "float16": float32, "bfloat16": float32}.get(name)
    if eps is None:
        raise ValueError(f"dtype must be float64, float32, float16 or bfloat16 (a name or a dtype), got {dtype!r}")
    return _ns_iters_for_condition(float(cond), eps)

from ._polar import orthogonalize, polar, polar_vjp  # noqa: E402

__all__ += ["polar", "orthogonalize", "polar_vjp"]

# The matrix functions around the square root (round 2): powers, logarithm, exponential.
from ._family import expm, expm_vjp, logm, logm_vjp, newton_root_iters, powm, powm_vjp  # noqa: E402

__all__ += ["powm", "logm", "expm", "powm_vjp", "logm_vjp", "expm_vjp", "newton_root_iters"]
