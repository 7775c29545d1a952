"""The benchmarked functions: one registry of :class:`Method` entries that the report, the ASV suite and the GPU
check all read, the callables each one stands for on a backend, and the matrix products each one consists of."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

import matfunc

from .. import _reference as ref
from ..core.lyapunov import sign_matmuls
from ..core.newton_schulz import ns_matmuls
from ..core.options import resolve
from ..core.polynomial import matmul_count
from ..core.root_schedules import root_matmuls
from ..core.scaling import SQUARINGS

if TYPE_CHECKING:
    from .backends import Backend

__all__ = [
    "Method",
    "METHODS",
    "BY_LABEL",
    "PAPER",
    "EIGH",
    "SCIPY",
    "JAX_SCIPY",
    "TORCH_SQRTH",
    "functions",
    "matmul_counts",
]

PAPER = "paper-ref"
EIGH = "eigh-ref"
SCIPY = "scipy.sqrtm"
JAX_SCIPY = "jax.scipy.sqrtm"
TORCH_SQRTH = "torch.matrix_sqrth"


@dataclass(frozen=True)
class Method:
    """A benchmarked function. ``kwargs``: options of ``matfunc.sqrtm``; ``kind``: matfunc or a baseline."""

    label: str
    kind: str  # "matfunc", "paper", "eigh", "scipy", "jax-scipy", "torch-sqrth"
    kwargs: dict = field(default_factory=dict, hash=False)
    note: str = ""
    needs_autodiff: bool = False
    default: bool = True  # in the default (CPU) method set; False: asked for by name or by the GPU check

    @property
    def baseline(self) -> bool:
        return self.kind != "matfunc"


METHODS = (
    Method("auto", "matfunc", {}, 'method="auto" (defaults)'),
    Method("eig", "matfunc", {"method": "eig"}, "eigh forward, exact backward reusing it"),
    Method("pade", "matfunc", {"method": "pade"}, "MPA [5/5], spectral scale; Lyapunov backward (default steps)"),
    Method("newton-schulz", "matfunc", {"method": "newton-schulz"}, "scaled NS; Lyapunov backward"),
    Method(
        "ns-unrolled",
        "matfunc",
        {"method": "newton-schulz", "backward": "unrolled"},
        "scaled NS; autodiff through the iterations",
        needs_autodiff=True,
    ),
    Method("taylor", "matfunc", {"method": "taylor"}, "MTP degree 10, spectral scale; Lyapunov backward"),
    Method(
        "ns-bf16",
        "matfunc",
        {"method": "newton-schulz", "matmul_dtype": "bfloat16"},
        "NS with bfloat16 products but the last 2 steps (scaled cubic; error ~ eps_bf16 sqrt(cond) / 10); "
        "Lyapunov backward in the working precision. For tensor cores: PyTorch and JAX only",
        default=False,
    ),
    Method(
        "paper-settings",
        "matfunc",
        {"method": "pade", "degree": 5, "scale": "frobenius", "backward": "lyapunov", "backward_iters": 8},
        "matfunc at the paper's settings: MPA [5/5], Frobenius scale, 8 Lyapunov steps",
    ),
    Method(PAPER, "paper", {}, "the paper's reference: MPA [5/5] + 8-step Lyapunov, written from its equations"),
    Method(EIGH, "eigh", {}, "eigh-based sqrt, exact backward (framework autodiff of eigh; manual on NumPy/CuPy)"),
    Method(SCIPY, "scipy", {}, "scipy.linalg.sqrtm (NumPy only; no gradient)"),
    Method(JAX_SCIPY, "jax-scipy", {}, "jax.scipy.linalg.sqrtm, vmapped, real part (JAX only; not differentiable)"),
    Method(TORCH_SQRTH, "torch-sqrth", {}, "torch.linalg.matrix_sqrth, where the installed PyTorch has it"),
)
BY_LABEL = {m.label: m for m in METHODS}


def functions(method: Method, be: Backend) -> tuple[Callable, Callable | None]:
    """``(f, fvjp)`` for ``method`` on ``be``: ``f(x) -> y`` (differentiated by the framework's autodiff where
    it has one) and, for backends without autodiff, ``fvjp(x) -> (y, vjp)`` (None: no gradient).
    Raises NotImplementedError where the method does not exist on the backend."""
    if method.needs_autodiff and not be.autodiff:
        raise NotImplementedError("needs automatic differentiation")
    if method.kind == "matfunc":
        if "matmul_dtype" in method.kwargs and be.name not in ("torch", "jax"):
            raise NotImplementedError("bfloat16 products: PyTorch and JAX only")
        kw = dict(method.kwargs, check=False)
        return functools.partial(matfunc.sqrtm, **kw), functools.partial(matfunc.sqrtm_vjp, **kw)
    if method.kind == "paper":
        if be.name == "torch":
            return ref.torch_paper_sqrtm, None
        if be.name == "jax":
            return ref.jax_paper_sqrtm, None
        return (lambda x: ref.paper_sqrtm_vjp(x)[0]), ref.paper_sqrtm_vjp
    if method.kind == "eigh":
        return ref.eigh_sqrtm, (None if be.autodiff else ref.eigh_sqrtm_vjp)
    if method.kind == "scipy":
        if be.name != "numpy":
            raise NotImplementedError("NumPy only")
        import scipy.linalg

        return (lambda x: scipy.linalg.sqrtm(x).real), None
    if method.kind == "jax-scipy":
        if be.name != "jax" or be.on_gpu:
            raise NotImplementedError("JAX on CPU only")
        import jax.scipy.linalg

        return (lambda x: be.jax.vmap(jax.scipy.linalg.sqrtm)(x).real.astype(x.dtype)), None
    if method.kind == "torch-sqrth":
        if be.name != "torch":
            raise NotImplementedError("PyTorch only")
        fn = getattr(be.torch.linalg, "matrix_sqrth", None)
        if fn is None:
            raise NotImplementedError(f"torch {be.torch.__version__} has no torch.linalg.matrix_sqrth")
        return fn, None
    raise ValueError(method.kind)


def matmul_counts(method: Method, *, dtype: str, on_cpu: bool, n: int) -> tuple[int, int, int, str] | None:
    """``(forward products, forward solves, backward products, solve kind)`` of a matrix-product method, or
    None for eigendecomposition-based ones."""
    if method.kind == "paper":
        return ref.PAPER_FWD_MATMULS, 1, ref.PAPER_BWD_MATMULS, "lu"
    if method.kind != "matfunc":
        return None
    eps = float(np.finfo(dtype).eps)
    kw = {k: method.kwargs.get(k) for k in ("degree", "num_iters", "backward_iters", "matmul_dtype")}
    opts = resolve(
        method.kwargs.get("method", "auto"),
        inverse=False,
        scale=method.kwargs.get("scale", "spectral"),
        backward=method.kwargs.get("backward", "auto"),
        eps=eps,
        n=n,
        on_cpu=on_cpu,
        **kw,
    )
    if opts.method == "eig":
        return None
    fwd = SQUARINGS if opts.scale == "spectral" else 0
    solves = 0
    if opts.method == "pade":
        fwd += matmul_count(max(cast(tuple[int, int], opts.degree)), 2)
        solves = 1
    elif opts.method == "taylor":
        fwd += matmul_count(cast(int, opts.degree))
    else:
        steps = opts.ns_steps()  # None: the cubic scaled or the paper's plain steps
        fwd += (
            ns_matmuls(cast(int, opts.num_iters))
            if steps is None
            else root_matmuls(steps, "inv" if opts.inverse else "sqrt")
        )
    bwd = (
        sign_matmuls(opts.backward_iters, symmetric=True, scaled=not opts.paper_steps)
        if opts.backward == "lyapunov"
        else -1
    )
    return fwd, solves, bwd, "spd"
