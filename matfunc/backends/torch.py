"""PyTorch glue: tracing detection, the autograd wiring of the core backward, and torch primitives.

``apply`` runs the core forward inside a :class:`torch.autograd.Function` whose backward is
``core.gradients.sqrtm_vjp`` (``backward="unrolled"`` skips the Function so autograd differentiates the
forward iterations). The Functions use the ``setup_context`` form with ``generate_vmap_rule`` so that
``torch.func.grad``/``vjp``/``vmap``/``jacrev`` and ``torch.compile`` see through them. Forward mode
(``torch.func.jvp``/``jacfwd``, ``forward_ad``) uses subclasses with a ``jvp`` rule (the core tangent), chosen
only when forward mode is active because dynamo rejects Functions that define one. Everything runs with
autocast disabled, in the float32/float64 dtype chosen by the public entry.

Second derivatives: ``backward="eig"`` (and ``"unrolled"``) support them; the approximate backward modes
(``"lyapunov"``, ``"svd-pade"``) are differentiable once: their gradient, taken with ``create_graph=True``,
raises when differentiated again, instead of returning a wrong second derivative. Under two nested
``torch.func`` derivative levels (``hessian``, ``jacrev(jacrev)``, ``jacfwd(jacfwd)``) an outer level does not
see a Function's rules as differentiable, so ``_higher_order`` takes over at the call: autograd through ``eigh``
for ``"eig"``, an error for the approximate modes.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

import torch

from .. import _compat
from ..core import gradients, primitives
from ..core.blocking import block_rows, over_batch
from ..core.forward import Saved, forward
from ..core.options import Options

__all__ = ["is_traced", "apply"]

_XP = _compat.array_namespace(torch.zeros(()))


def is_traced(a: Any) -> bool:
    """True under ``torch.compile`` / ``torch.func`` transforms, where values cannot be read back."""
    if torch.compiler.is_compiling():
        return True
    return bool(torch._C._functorch.is_functorch_wrapped_tensor(a))


# --- primitives -------------------------------------------------------------------------------------


def _spd_solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cholesky solve: half the flops of LU, and torch 2.13's batched CPU LU fails for n >= ~200."""
    factor, _ = torch.linalg.cholesky_ex(a)
    # LAPACK returns column-major batches; one copy to row-major keeps every later element-wise op fast
    return torch.cholesky_solve(b, factor).contiguous()


def _matmul_add(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, alpha: float, beta: float) -> torch.Tensor:
    """``beta * c + alpha * a @ b`` in one ``baddbmm`` (leading batch dims flattened)."""
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2], c.shape[:-2])
    n, p = a.shape[-2], b.shape[-1]
    a3 = a.expand(*batch, *a.shape[-2:]).reshape(-1, *a.shape[-2:])
    b3 = b.expand(*batch, *b.shape[-2:]).reshape(-1, *b.shape[-2:])
    c3 = c if c.ndim <= 2 else c.expand(*batch, *c.shape[-2:]).reshape(-1, *c.shape[-2:])
    return torch.baddbmm(c3, a3, b3, beta=beta, alpha=alpha).reshape(*batch, n, p)


def _solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """General solve; on CPU a loop over the batch for n >= 128 (torch 2.13's batched CPU LU fails there)."""
    if a.device.type != "cpu" or a.ndim == 2 or a.shape[-1] < 128 or torch.compiler.is_compiling():
        return torch.linalg.solve(a, b)
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a3 = a.expand(*batch, *a.shape[-2:]).reshape(-1, *a.shape[-2:])
    b3 = b.expand(*batch, *b.shape[-2:]).reshape(-1, *b.shape[-2:])
    return torch.stack([torch.linalg.solve(ai, bi) for ai, bi in zip(a3, b3, strict=True)]).reshape(
        *batch, *b.shape[-2:]
    )


primitives.register(_XP.__name__, "spd_solve", _spd_solve)
primitives.register(_XP.__name__, "matmul_add", _matmul_add)
primitives.register(_XP.__name__, "solve", _solve)


# --- autograd ---------------------------------------------------------------------------------------

_FIELDS = Saved._fields
_DelayedError = torch._C._functions.DelayedError  # what torch.autograd.function.once_differentiable uses
_ONCE_MSG = (
    "matfunc: backward={backward!r} is differentiable once; for second derivatives use backward='eig' "
    "(exact) or backward='unrolled'"
)


def _no_autocast(x: torch.Tensor) -> torch.autocast:
    return torch.autocast(x.device.type, enabled=False)


class _Sqrtm(torch.autograd.Function):
    """``sqrtm``/``inv_sqrtm`` with the core backward (approximate modes: once differentiable)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: torch.Tensor, opts: Options) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        with _no_autocast(a):
            y, saved = over_batch(lambda t: forward(primitives.sym(t), opts=opts, xp=_XP), (a,), *_blocks(a), xp=_XP)
        # y goes out once (as output 0, never marked non-differentiable); setup_context picks what to keep
        return y, *_pack(saved._replace(y=None))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        a, opts = inputs
        ctx.opts = opts
        ctx.mark_non_differentiable(*(t for t in output[1:] if t is not None))
        saved = gradients.saved_for(Saved(*output[1:])._replace(y=output[0]), opts)
        ctx.present = tuple(t is not None for t in saved)
        ctx.save_for_backward(*(t for t in saved if t is not None), a)
        ctx.save_for_forward(*(t for t in saved if t is not None), a)  # forward mode reads the same state
        ctx.set_materialize_grads(False)  # no zero cotangents for the non-differentiable outputs

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor | None, None]:  # type: ignore[override]
        if g is None:
            return None, None
        if _nested_differentiation():
            raise RuntimeError(_ONCE_MSG.format(backward=ctx.opts.backward) + " (nested torch.func transforms)")
        da = _vjp(ctx, g)
        # a second derivative would silently miss the dependence on `a`: make it raise. (Under torch.func the
        # nested case raised above; a vmapped cotangent, as in jacrev, cannot carry the error node.)
        if torch.is_grad_enabled() and not torch._C._functorch.is_functorch_wrapped_tensor(da):
            # (`+ 0 * a` puts the error node on the path to the input, where a second derivative goes)
            da = _DelayedError(_ONCE_MSG.format(backward=ctx.opts.backward).encode(), 1)(da + 0 * ctx.saved_tensors[-1])
        return da, None


class _SqrtmEig(_Sqrtm):
    """``backward="eig"``: twice differentiable. Under ``create_graph`` the eigendecomposition is
    recomputed from the input with autograd, so the backward is itself an exact, differentiable function."""

    generate_vmap_rule = True

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor | None, None]:  # type: ignore[override]
        if g is None:
            return None, None
        if torch.is_grad_enabled():
            a = ctx.saved_tensors[-1]
            with _no_autocast(g):
                da = gradients.sqrtm_vjp(_eig_saved(a), g, opts=ctx.opts, xp=_XP)
            return da, None
        return _vjp(ctx, g), None


def _jvp(ctx: Any, da: torch.Tensor | None, _: Any) -> tuple[torch.Tensor | None, ...]:
    """Forward mode (``torch.func.jvp``/``jacfwd``, ``torch.autograd.forward_ad``): the core tangent rule, the
    same linear solve as the backward. Higher orders never get here (``_higher_order``), except through
    mixes of ``torch.func`` and ``forward_ad`` that the level count misses: those raise."""
    if da is None:
        return (None,) * (1 + len(_FIELDS))
    if _nested_differentiation():
        raise RuntimeError(_ONCE_MSG.format(backward=ctx.opts.backward) + " (nested torch.func transforms)")
    saved, a = _saved(ctx)
    with _no_autocast(da):
        dy = gradients.sqrtm_jvp(saved, da.to(a.dtype), opts=ctx.opts, xp=_XP)
    return (dy, *(None,) * len(_FIELDS))


# torch.compile (dynamo) rejects Functions that define ``jvp``: these subclasses are used only where forward
# mode is active (a torch.func jvp level, or a forward_ad dual input).
class _SqrtmFwd(_Sqrtm):
    generate_vmap_rule = True
    jvp = staticmethod(_jvp)


class _SqrtmEigFwd(_SqrtmEig):
    generate_vmap_rule = True
    jvp = staticmethod(_jvp)


def _transforms() -> list[Any]:
    """The kinds of the active ``torch.func`` transforms, outermost first (none while dynamo traces: it cannot
    trace the interpreter-stack query)."""
    if torch.compiler.is_compiling():
        return []
    return [i.key() for i in torch._C._functorch.get_interpreter_stack() or []]


def _forward_mode(a: torch.Tensor) -> bool:
    """Whether forward-mode AD will differentiate this call."""
    if torch._C._functorch.TransformType.Jvp in _transforms():
        return True
    return not torch.compiler.is_compiling() and torch.autograd.forward_ad.unpack_dual(a).tangent is not None


def _eig_saved(a: torch.Tensor) -> Saved:
    """``(V, s)`` of ``sym(a)`` computed with autograd (for derivatives of the derivative)."""
    lam, v = torch.linalg.eigh(primitives.sym(a))
    return Saved(None, None, None, v, torch.sqrt(torch.clamp(lam, min=0.0)))


def _derivative_levels(a: torch.Tensor) -> int:
    """How many ``torch.func`` derivative levels (grad, vjp, jvp, jacrev, jacfwd) differentiate ``a``:
    2 or more inside ``hessian``, ``jacrev(jacrev(f))``, ``jacfwd(jacfwd(f))``."""
    functorch = torch._C._functorch
    if torch.compiler.is_compiling():
        return 0
    levels = 0
    while functorch.is_functorch_wrapped_tensor(a):
        levels += bool(functorch.is_gradtrackingtensor(a))
        a = functorch.get_unwrapped(a)
    return levels


def _higher_order(a: torch.Tensor, /, *, opts: Options, xp: ModuleType) -> torch.Tensor:
    """A call differentiated twice or more by ``torch.func``. The Function's rules are first-order (and a
    custom Function's own derivative is not itself seen by an outer functorch level), so: ``backward="eig"``
    lets autograd differentiate ``eigh`` (exact to every order; the value stays that of ``opts.method``);
    the approximate modes raise rather than give a wrong second derivative."""
    if opts.backward != "eig":
        raise RuntimeError(_ONCE_MSG.format(backward=opts.backward) + " (nested torch.func transforms)")
    y_eig = forward(primitives.sym(a), opts=dataclasses.replace(opts, method="eig"), xp=xp)[0]
    if opts.method == "eig":
        return y_eig
    y = forward(primitives.sym(a.detach()), opts=opts, xp=xp)[0]
    return y + (y_eig - y_eig.detach())  # the value of `method`, the derivatives of the exact root


def _nested_differentiation() -> bool:
    """Whether an outer ``torch.func`` grad/jvp level is differentiating this backward (e.g. ``hessian``)."""
    kinds = (torch._C._functorch.TransformType.Grad, torch._C._functorch.TransformType.Jvp)
    return sum(k in kinds for k in _transforms()) > 1


def _pack(saved: Saved) -> tuple[Any, ...]:
    return tuple(getattr(saved, f) for f in _FIELDS)


def _saved(ctx: Any) -> tuple[Saved, torch.Tensor]:
    """The state ``setup_context`` kept (``None`` where the backward mode needs nothing), and the input."""
    tensors = iter(ctx.saved_tensors[:-1])
    return Saved(*(next(tensors) if here else None for here in ctx.present)), ctx.saved_tensors[-1]


def _vjp(ctx: Any, g: torch.Tensor) -> torch.Tensor:
    saved, a = _saved(ctx)
    with _no_autocast(g):
        return over_batch(lambda sv, gg: gradients.sqrtm_vjp(sv, gg, opts=ctx.opts, xp=_XP),
                          (saved, g.to(a.dtype)), *_blocks(a), xp=_XP)


def _blocks(a: torch.Tensor) -> tuple[tuple[int, ...], int | None]:
    """Cache-sized batch blocks (core.blocking) for eager CPU tensors; one block on GPU and when traced."""
    if a.device.type != "cpu" or is_traced(a) or a.requires_grad and torch.is_grad_enabled():
        return tuple(a.shape[:-2]), None
    return tuple(a.shape[:-2]), block_rows(tuple(a.shape), a.element_size())


def apply(a: Any, /, *, opts: Options, xp: ModuleType, check: bool = True) -> Any:
    """The forward of ``sqrtm``/``inv_sqrtm`` (``opts.inverse``) on a float32/float64 tensor, with autograd."""
    with _no_autocast(a):
        if opts.backward == "unrolled":  # autograd traces the core's forward
            return forward(primitives.sym(a), opts=opts, xp=xp)[0]
        if _derivative_levels(a) > 1:
            return _higher_order(a, opts=opts, xp=xp)
        if _forward_mode(a):
            fn = _SqrtmEigFwd if opts.backward == "eig" else _SqrtmFwd
        else:
            fn = _SqrtmEig if opts.backward == "eig" else _Sqrtm
        return fn.apply(a, opts)[0]
