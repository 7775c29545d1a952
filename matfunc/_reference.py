r"""Baselines for the benchmarks. **Not library code**: nothing in matfunc calls this module.

- The paper's reference ("the paper's reference" in every report): Matrix Padé Approximant [5/5] forward
  with the Frobenius-norm scaling, and the 8-step Lyapunov sign iteration backward, written plainly from the
  equations of Song, Sebe & Wang (ICLR 2022 / TPAMI 2022) as summarised in the project notes:

  .. math:: A_n = A / \|A\|_F,\quad Z = I - A_n,\quad A^{1/2} \approx \sqrt{\|A\|_F}\, q(Z)^{-1} p(Z);

  .. math:: B_0 = S / \sqrt{\|A\|_F},\ C_0 = G / \sqrt{\|A\|_F};\quad
            C \leftarrow \tfrac12 [C (3I - B^2) - B^2 C + B C B],\ B \leftarrow \tfrac12 B (3I - B^2);
            \quad dA = C / 2.

  The powers of ``Z`` are formed one by one, the rational function is applied by a general (LU) solve and
  each sign step spends 6 matrix products, as in the paper's own code. It comes generic over an array-API
  namespace (:func:`paper_sqrtm_vjp`), as a ``torch.autograd.Function`` (:func:`torch_paper_sqrtm`, the
  paper's own code style) and as a ``jax.custom_vjp`` (:func:`jax_paper_sqrtm`).
- An eigendecomposition-based square root with the exact backward in each framework: manual for array-API
  namespaces without autodiff (:func:`eigh_sqrtm_vjp`), framework autodiff of ``eigh`` otherwise
  (:func:`eigh_sqrtm`: ``torch.linalg.eigh`` autograd, ``jnp.linalg.eigh`` JVP).

Torch and JAX are imported only when their wrappers are first called.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .core.coefficients import pade_coefficients

__all__ = [
    "PAPER_DEGREE",
    "PAPER_STEPS",
    "PAPER_FWD_MATMULS",
    "PAPER_BWD_MATMULS",
    "paper_mpa",
    "paper_lyapunov",
    "paper_sqrtm_vjp",
    "torch_paper_sqrtm",
    "jax_paper_sqrtm",
    "eigh_sqrtm",
    "eigh_sqrtm_vjp",
]

PAPER_DEGREE = 5  # MPA [5/5]
PAPER_STEPS = 8  # Lyapunov sign-iteration steps
PAPER_FWD_MATMULS = PAPER_DEGREE - 1  # Z^2 .. Z^5, then one LU solve
PAPER_BWD_MATMULS = 6 * PAPER_STEPS  # B^2, C(3I - B^2), B^2 C, BC, (BC)B, B(3I - B^2) per step


def _eye(a: Any, xp: ModuleType) -> Any:
    from ._compat import device

    return xp.eye(a.shape[-1], dtype=a.dtype, device=device(a))


def _frobenius(a: Any, xp: ModuleType) -> Any:
    return xp.sqrt(xp.sum(a * a, axis=(-2, -1), keepdims=True))


def paper_mpa(a: Any, /, *, xp: ModuleType) -> tuple[Any, Any]:
    """The paper's MPA [5/5] forward: returns ``(A^{1/2}, ||A||_F)`` (the norm has shape ``(..., 1, 1)``)."""
    p, q = pade_coefficients(PAPER_DEGREE, PAPER_DEGREE)
    norm = _frobenius(a, xp)
    eye = _eye(a, xp)
    z = eye - a / norm
    p_sqrt = float(p[0]) * eye + float(p[1]) * z
    q_sqrt = float(q[0]) * eye + float(q[1]) * z
    z_k = z
    for k in range(2, PAPER_DEGREE + 1):
        z_k = z_k @ z
        p_sqrt = p_sqrt + float(p[k]) * z_k
        q_sqrt = q_sqrt + float(q[k]) * z_k
    return xp.linalg.solve(q_sqrt, p_sqrt) * xp.sqrt(norm), norm


def paper_lyapunov(s: Any, g: Any, norm: Any, /, *, xp: ModuleType, num_iters: int = PAPER_STEPS) -> Any:
    """The paper's backward: ``dA`` with ``S dA + dA S = G`` by ``num_iters`` plain sign steps.

    ``s`` is the forward's result ``A^{1/2}`` and ``norm`` the forward's ``||A||_F`` (shape ``(..., 1, 1)``).
    """
    root = xp.sqrt(norm)
    b, c = s / root, g / root
    eye3 = 3.0 * _eye(s, xp)
    for _ in range(num_iters):
        b2 = b @ b
        t = eye3 - b2
        c = 0.5 * (c @ t - b2 @ c + (b @ c) @ b)
        b = 0.5 * (b @ t)
    return 0.5 * c


def paper_sqrtm_vjp(a: Any, /, *, xp: ModuleType | None = None) -> tuple[Any, Callable[[Any], Any]]:
    """The paper's MPA forward and a closure for its Lyapunov backward: ``y, vjp = paper_sqrtm_vjp(a)``."""
    if xp is None:
        from ._compat import array_namespace

        xp = array_namespace(a)
    y, norm = paper_mpa(a, xp=xp)
    return y, lambda g: paper_lyapunov(y, g, norm, xp=xp)


@functools.cache
def _torch_paper_function() -> Any:
    import torch

    from ._compat import array_namespace

    class PaperMPALyapunov(torch.autograd.Function):
        """The paper's MPA forward with the Lyapunov backward, in the style of its published code."""

        @staticmethod
        def forward(ctx: Any, a: Any) -> Any:
            xp = array_namespace(a)
            y, norm = paper_mpa(a, xp=xp)
            ctx.save_for_backward(y, norm)
            return y

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            y, norm = ctx.saved_tensors
            return paper_lyapunov(y, g, norm, xp=array_namespace(y))

    return PaperMPALyapunov


def torch_paper_sqrtm(a: Any, /) -> Any:
    """The paper's MPA + Lyapunov pair as a ``torch.autograd.Function`` (``.apply``)."""
    return _torch_paper_function().apply(a)


@functools.cache
def _jax_paper_function() -> Callable[[Any], Any]:
    import jax

    from ._compat import array_namespace

    @jax.custom_vjp
    def paper(a: Any) -> Any:
        return paper_mpa(a, xp=array_namespace(a))[0]

    def fwd(a: Any) -> tuple[Any, Any]:
        y, norm = paper_mpa(a, xp=array_namespace(a))
        return y, (y, norm)

    def bwd(res: Any, g: Any) -> tuple[Any]:
        y, norm = res
        return (paper_lyapunov(y, g, norm, xp=array_namespace(y)),)

    paper.defvjp(fwd, bwd)
    return paper


def jax_paper_sqrtm(a: Any, /) -> Any:
    """The paper's MPA + Lyapunov pair as a ``jax.custom_vjp`` function (jit-able)."""
    return _jax_paper_function()(a)


def eigh_sqrtm(a: Any, /, *, xp: ModuleType | None = None) -> Any:
    """``V diag(sqrt(lambda)) V^T`` from ``xp.linalg.eigh``: differentiated by the framework's autodiff."""
    if xp is None:
        from ._compat import array_namespace

        xp = array_namespace(a)
    lam, v = xp.linalg.eigh(a)
    s = xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))
    return (v * s[..., None, :]) @ v.mT


def eigh_sqrtm_vjp(a: Any, /, *, xp: ModuleType | None = None) -> tuple[Any, Callable[[Any], Any]]:
    """Eigh-based square root with the exact backward written out: ``dA = V [Ĝ_ij / (s_i + s_j)] V^T``,
    ``Ĝ = V^T sym(G) V`` (for namespaces without autodiff, e.g. NumPy)."""
    if xp is None:
        from ._compat import array_namespace

        xp = array_namespace(a)
    lam, v = xp.linalg.eigh(a)
    s = xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))
    y = (v * s[..., None, :]) @ v.mT

    def vjp(g: Any) -> Any:
        g = (g + g.mT) * 0.5
        return v @ (((v.mT @ g) @ v) / (s[..., :, None] + s[..., None, :])) @ v.mT

    return y, vjp
