"""matfunc: differentiable matrix functions of batched symmetric/Hermitian matrices on any array-API backend."""

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
__version__ = "0.2.0"

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


def newton_schulz_iters(cond: float, dtype: object = "float64", *, schedule: str = "polar-express") -> int:
    """Newton–Schulz steps of ``schedule`` that converge for condition numbers up to ``cond``.

    The rule behind the defaults: ``k`` steps of the schedule bring the normalised spectrum ``[1/cond, 1]``
    to within the dtype's machine epsilon of 1 (:func:`matfunc.core.root_schedules.root_iters`). Pass the
    result as ``num_iters`` of ``method="newton-schulz"`` with the same ``schedule`` (the default
    ``"polar-express"``: the forward's default schedule, 4 matrix products a step).

    The Lyapunov backward's sign iteration (``backward_iters``, :func:`matfunc.solve_lyapunov`'s
    ``num_iters``) always runs the scaled cubic: take its steps from ``schedule="scaled"`` (3 products a step
    in the forward, 4 in the backward), for ``cond`` the condition number of ``A`` (``cond(S)**2`` for
    :func:`matfunc.solve_lyapunov`).

    Examples
    --------
    >>> import matfunc
    >>> [matfunc.newton_schulz_iters(c) for c in (1e2, 1e4, 1e6, 1e8)]
    [5, 7, 8, 10]
    >>> [matfunc.newton_schulz_iters(c, schedule="scaled") for c in (1e2, 1e4, 1e6, 1e8)]   # backward_iters
    [7, 10, 13, 15]
    >>> matfunc.newton_schulz_iters(1e3, "float32")
    5
    >>> import numpy as np
    >>> matfunc.newton_schulz_iters(1e3, np.float32)    # or any dtype object: x.dtype of NumPy, torch, JAX
    5
    """
    from .core.root_schedules import root_iters, schedule_name

    sched = schedule_name(schedule)
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise TypeError("dtype must be float64, float32, float16 or bfloat16 (a name or a dtype), got None")
    name = dtype if isinstance(dtype, str) else _dtype_name(dtype)
    float32 = 1.1920928955078125e-07  # half precisions are computed in float32
    eps = {"float64": 2.220446049250313e-16, "float32": float32, "float16": float32, "bfloat16": float32}.get(name)
    if eps is None:
        raise ValueError(f"dtype must be float64, float32, float16 or bfloat16 (a name or a dtype), got {dtype!r}")
    if sched == "scaled":
        return _ns_iters_for_condition(float(cond), eps)
    return root_iters(sched, float(cond), eps)


from ._polar import orthogonalize, polar, polar_vjp  # noqa: E402

__all__ += ["polar", "orthogonalize", "polar_vjp"]

# The matrix functions around the square root (round 2): powers, logarithm, exponential.
from ._family import expm, expm_vjp, logm, logm_vjp, newton_root_iters, powm, powm_vjp  # noqa: E402

__all__ += ["powm", "logm", "expm", "powm_vjp", "logm_vjp", "expm_vjp", "newton_root_iters"]

# SPD geometry: affine-invariant and log-Euclidean distances, geodesics and the geometric mean.
from ._geometry import (  # noqa: E402
    distance_logeuclid,
    distance_logeuclid_vjp,
    distance_riemann,
    distance_riemann_vjp,
    geodesic_riemann,
    geodesic_riemann_vjp,
    mean_riemann,
)

__all__ += [
    "distance_riemann",
    "distance_logeuclid",
    "geodesic_riemann",
    "distance_riemann_vjp",
    "distance_logeuclid_vjp",
    "geodesic_riemann_vjp",
    "mean_riemann",
]

# Whitening–colouring transform of universal style transfer.
from ._wct import whitening_coloring  # noqa: E402

__all__ += ["whitening_coloring"]

# Distances between covariance matrices built on the square root: root fidelity, Bures–Wasserstein, FID.
from ._distances import (  # noqa: E402
    bures_wasserstein,
    bures_wasserstein_vjp,
    frechet_distance,
    frechet_distance_vjp,
    root_fidelity,
    root_fidelity_vjp,
)

__all__ += [
    "root_fidelity",
    "bures_wasserstein",
    "frechet_distance",
    "root_fidelity_vjp",
    "bures_wasserstein_vjp",
    "frechet_distance_vjp",
]

# The environment report for bug reports.
from ._show_versions import show_versions  # noqa: E402

__all__ += ["show_versions"]
