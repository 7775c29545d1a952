"""PyTorch glue of the spectral functions (``powm``/``logm``/``expm`` with ``method="eig"``): one
:class:`torch.autograd.Function` whose backward is the Daleckii–Krein VJP of :mod:`matfunc.core.spectral`.

``eigh``'s own derivative (eigenvector terms ``1/(lambda_i - lambda_j)``) is never used: the backward divides
only through the stable divided differences, so it is finite and exact at repeated eigenvalues. With grad mode
on (``create_graph=True``) the VJP is :class:`_FirstOrder`, the first-order map ``(a, g) -> D_a(g)`` with ``V``,
``w`` constants, whose own backward is exact: second-order Daleckii–Krein (``core.spectral.spectral_second``,
the ``n^3`` tensor of second divided differences) in ``a`` and the map itself in ``g``. Third derivatives raise.
With grad mode off the backward is the plain 4-product VJP (first-order speed unchanged). Forward mode
(``torch.func.jvp``, ``forward_ad``) uses a subclass with a ``jvp`` rule (the same self-adjoint formula), chosen
only when forward mode is active, as in :mod:`matfunc.backends.torch`.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import _compat
from ..core import primitives, spectral
from .torch import (
    _no_autocast,  # autocast off (none on meta tensors), as for the roots
    input_asymmetry,
)
from .torch import host_view as host_view  # the checks read CPU tensors through NumPy (matfunc._family)

__all__ = ["apply_spectral", "straight_through"]

_XP = _compat.array_namespace(torch.zeros(()))
_DelayedError = torch._C._functions.DelayedError
_TWICE = (
    "matfunc: the spectral (eig) backward of powm/logm/expm is differentiable twice (exact second "
    "derivatives); third derivatives are not implemented"
)


class _Spectral(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(a: torch.Tensor, fn: spectral.Spectral, eps: float, asym: bool = False) -> tuple[Any, ...]:  # type: ignore[override]
        """``(f(sym a), w, V, asymmetry)``; ``asym``: the input's asymmetry for ``check=True``
        (``matfunc.backends.torch.input_asymmetry``, read right after the symmetrisation; else None)."""
        with _no_autocast(a):
            s = primitives.symmetrize(a, xp=_XP)
            asymmetry = input_asymmetry(a, s) if asym else None
            return (*spectral.spectral_forward(s, fn, eps=eps, xp=_XP), asymmetry)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        a, ctx.fn, ctx.eps = inputs[:3]
        _, w, v, asymmetry = output
        ctx.mark_non_differentiable(*(t for t in (w, v, asymmetry) if t is not None))
        ctx.save_for_backward(w, v, a)
        ctx.save_for_forward(w, v)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor | None, None, None, None]:  # type: ignore[override]
        if g is None:
            return None, None, None, None
        w, v, a = ctx.saved_tensors
        with _no_autocast(g):
            if torch.is_grad_enabled():  # differentiable: exact second derivatives
                return _FirstOrder.apply(a, g.to(v.dtype), w, v, ctx.fn, ctx.eps), None, None, None
            return spectral.spectral_vjp(w, v, g.to(v.dtype), ctx.fn, eps=ctx.eps, xp=_XP), None, None, None


class _FirstOrder(torch.autograd.Function):
    """``D_a(g) = V [f^{[1]} o (V^H sym(g) V)] V^H`` at the decomposition ``(w, v)`` of ``sym(a)`` (constants),
    differentiable in ``a`` (second-order Daleckii–Krein) and ``g`` (itself: linear, self-adjoint)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        a: torch.Tensor,
        g: torch.Tensor,
        w: torch.Tensor,
        v: torch.Tensor,
        fn: spectral.Spectral,  # type: ignore[override]
        eps: float,
    ) -> torch.Tensor:
        return spectral.spectral_vjp(w, v, g, fn, eps=eps, xp=_XP)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        a, g, w, v, ctx.fn, ctx.eps = inputs
        ctx.save_for_backward(a, g, w, v)
        ctx.save_for_forward(g, w, v)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx: Any, u: torch.Tensor | None) -> tuple[Any, ...]:  # type: ignore[override]
        if u is None:
            return (None,) * 6
        a, g, w, v = ctx.saved_tensors
        with _no_autocast(u):
            u = u.to(v.dtype)
            da = _second(a, g, u, w, v, ctx.fn, ctx.eps) if ctx.needs_input_grad[0] else None
            dg = _FirstOrder.apply(a, u, w, v, ctx.fn, ctx.eps) if ctx.needs_input_grad[1] else None
        return da, dg, None, None, None, None

    @staticmethod
    def jvp(ctx: Any, da: torch.Tensor | None, dg: torch.Tensor | None, *_: Any) -> torch.Tensor:
        g, w, v = ctx.saved_tensors
        out = (
            torch.zeros_like(g)
            if da is None
            else spectral.spectral_second(w, v, g, da.to(v.dtype), ctx.fn, eps=ctx.eps, xp=_XP)
        )
        if dg is not None:
            out = out + spectral.spectral_vjp(w, v, dg.to(v.dtype), ctx.fn, eps=ctx.eps, xp=_XP)
        return out


def _second(
    a: torch.Tensor,
    g: torch.Tensor,
    u: torch.Tensor,
    w: torch.Tensor,
    v: torch.Tensor,
    fn: spectral.Spectral,
    eps: float,
) -> torch.Tensor:
    """The VJP in ``a`` of ``D_a(g)`` for upstream ``u``: ``spectral_second(g, u)`` (the form is symmetric).
    Differentiating it again would need third divided differences: it raises."""
    d2 = spectral.spectral_second(w, v, g, u, fn, eps=eps, xp=_XP)
    if torch.is_grad_enabled() and not torch._C._functorch.is_functorch_wrapped_tensor(d2):
        d2 = _DelayedError(_TWICE.encode(), 1)(d2 + 0 * (a.sum() + g.sum() + u.sum()))
    return d2


def _jvp(ctx: Any, da: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor | None, None, None, None]:
    """The tangents of ``(f(sym a), w, V, asymmetry)``: only the first is differentiable."""
    if da is None:
        return None, None, None, None
    w, v = ctx.saved_tensors[:2]
    with _no_autocast(da):
        return spectral.spectral_jvp(w, v, da.to(v.dtype), ctx.fn, eps=ctx.eps, xp=_XP), None, None, None


class _SpectralFwd(_Spectral):
    generate_vmap_rule = True
    jvp = staticmethod(_jvp)


def _forward_mode(a: torch.Tensor) -> bool:
    if torch.compiler.is_compiling():
        return False
    stack = torch._C._functorch.get_interpreter_stack() or []
    if any(i.key() == torch._C._functorch.TransformType.Jvp for i in stack):
        return True
    return torch.autograd.forward_ad.unpack_dual(a).tangent is not None


def apply_spectral(a: torch.Tensor, /, *, fn: spectral.Spectral, eps: float, eigenvalues: bool = False) -> Any:
    """``f(sym a)`` by ``eigh`` with the Daleckii–Krein backward (float32/float64/complex tensors); with
    ``eigenvalues``, ``(f(sym a), w, asymmetry)`` (non-differentiable: for the value checks; the asymmetry of
    ``a``, read in the forward, None under a transform)."""
    cls = _SpectralFwd if _forward_mode(a) else _Spectral
    out = cls.apply(a, fn, eps, eigenvalues)
    return (out[0], out[1], out[3]) if eigenvalues else out[0]


def straight_through(value: torch.Tensor, grad_of: torch.Tensor) -> torch.Tensor:
    """``value``'s values with ``grad_of``'s derivatives (``backward="eig"`` after a matrix-product forward)."""
    return value.detach() + (grad_of - grad_of.detach())
