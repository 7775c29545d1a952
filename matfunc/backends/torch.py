"""PyTorch glue: tracing detection, the autograd wiring of the core backward, and torch primitives.

``apply`` runs the core forward inside a :class:`torch.autograd.Function` whose backward is
``core.gradients.sqrtm_vjp`` (``backward="unrolled"`` skips the Function so autograd differentiates the
forward iterations; with ``method="eig"``, which has none, it is the exact ``"eig"`` backward). The Functions use
the ``setup_context`` form with ``generate_vmap_rule`` so that ``torch.func.grad``/``vjp``/``vmap``/``jacrev``
and ``torch.compile`` see through them. Forward mode (``torch.func.jvp``/``jacfwd``, ``forward_ad``) uses
subclasses with a ``jvp`` rule (the core tangent), chosen only when forward mode is active because dynamo
rejects Functions that define one. Everything runs with autocast disabled, in the float32/float64 dtype chosen
by the public entry.

Higher derivatives: ``backward="eig"`` (and ``"unrolled"``) are differentiable to every order, exactly, also at
repeated eigenvalues (``3 I``) and finitely at singular input (the eig backward's floor): never through
``eigh``'s own derivative, which divides by eigenvalue gaps (see ``core.higher``). Under ``create_graph`` the
backward is built from two Functions whose backwards are built from them again (:class:`_Root`, :class:`_Solve`);
under two or more nested ``torch.func`` levels (``hessian``, ``jacrev(jacrev)``, ``jacfwd(jacfwd)``), where an
outer level does not reliably differentiate a Function's rules, ``_higher_order`` takes over at the call with
plain operations (``core.higher.chord_root``). The approximate backward modes (``"lyapunov"``, ``"svd-pade"``)
are differentiable once: their gradient, taken with ``create_graph=True``, raises when differentiated again,
instead of returning a wrong second derivative.
"""

from __future__ import annotations

import contextlib
import dataclasses
from types import ModuleType
from typing import Any

import numpy as np
import torch

from .. import _compat, _threads
from ..core import coefficients, gradients, higher, primitives
from ..core.blocking import block_rows, over_batch
from ..core.forward import Saved, forward
from ..core.options import Options

__all__ = ["is_traced", "apply", "apply_with_state"]

_XP = _compat.array_namespace(torch.zeros(()))


def is_traced(a: Any) -> bool:
    """True where values cannot be read back: under ``torch.compile``/``torch.export`` (dynamo), ``torch.jit.trace``
    (a value read there would be baked into the trace), for ``torch.func``-wrapped tensors and meta tensors."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return True
    return a.device.type == "meta" or bool(torch._C._functorch.is_functorch_wrapped_tensor(a))


_HOST_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def host_view(*tensors: torch.Tensor | None) -> tuple[Any, ...] | None:
    """CPU tensors as NumPy arrays sharing their memory (``check=True`` reads them there: ``matfunc._api``), or
    None where one cannot be read that way (another device, a traced or wrapped tensor, a dtype NumPy lacks)."""
    present = [t for t in tensors if t is not None]
    if not present or is_traced(present[0]):
        return None
    for t in present:
        if t.device.type != "cpu" or t.dtype not in _HOST_DTYPES or torch._C._functorch.is_functorch_wrapped_tensor(t):
            return None
    return tuple(None if t is None else t.detach().resolve_conj().resolve_neg().numpy() for t in tensors)


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


_HOST_EIGH_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _host_eigh_ok(a: torch.Tensor) -> bool:
    """Whether ``eigh`` of ``a`` may go to NumPy's LAPACK: a plain concrete CPU tensor outside any trace,
    ``torch.func`` transform, tensor subclass or torch function/dispatch mode, and not part of a graph autograd
    is recording (there torch's own ``eigh`` keeps the graph)."""
    if a.device.type != "cpu" or type(a) not in (torch.Tensor, torch.nn.Parameter) or a.dtype not in _HOST_EIGH_DTYPES:
        return False
    if a.ndim < 2 or a.numel() == 0 or is_traced(a) or (a.requires_grad and torch.is_grad_enabled()):
        return False
    return not (torch._C._is_torch_function_mode_enabled() or torch._C._len_torch_dispatch_stack() > 0)


def _eigh(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh``; on the CPU the same LAPACK routine through NumPy, one matrix per thread
    (``matfunc._threads.host_eigh``). torch 2.13 runs a batched CPU ``eigh`` one matrix after the other, each
    spread over all of MKL's threads: 1024 x 32x32 float32 took 340 ms (2 threads) against 37 ms this way, 4 x
    256x256 59 against 11 ms (quiet 2-core machine). Where BLAS cannot be held to one thread, and for one matrix
    larger than 512 x 512, torch's own ``eigh``. NumPy computes float32 and complex64 in double precision
    internally (results in the input's dtype). The user's ``torch.set_num_threads`` caps the worker threads; with
    one thread nothing runs in parallel, and torch's own single-threaded ``eigh`` is the faster (CPU time, float32:
    1024 x 32x32 52 against 74 ms, 4 x 256x256 25 against 32 ms)."""
    if not _host_eigh_ok(a) or torch.get_num_threads() < 2:
        return _lapack_eigh(a)
    try:
        out = _threads.host_eigh(a.detach().resolve_conj().resolve_neg().numpy(), max_workers=torch.get_num_threads())
    except np.linalg.LinAlgError:  # NaN/Inf or no convergence: torch's own eigh, its result or its error
        out = None
    if out is None:
        return _lapack_eigh(a)
    return torch.from_numpy(out[0]), torch.from_numpy(out[1])


def _lapack_eigh(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh(a)``, which reads the lower triangle; on the CPU a row-major ``a`` goes in as its
    column-major ``a^H`` with ``UPLO="U"``: the same triangle, the same Hermitian matrix. torch copies its input
    to column-major for LAPACK, and this way the copy reads it in order instead of across it; MKL's
    ``?syevd`` is faster from the upper triangle as well (2 threads, float32: 1 x 1024x1024 0.93x the time of
    ``torch.linalg.eigh(a)``, 4 x 256x256 0.92x, 1024 x 32x32 0.98x; one thread 0.90-0.97x; float64
    0.89-0.99x). Eigenvalues and vectors to the same accuracy, not the same bits."""
    if a.device.type == "cpu" and a.ndim >= 2 and a.is_contiguous() and not a.mT.is_contiguous() and not is_traced(a):
        return torch.linalg.eigh(a.mH, UPLO="U")
    return torch.linalg.eigh(a)


def _hermitian_out(u: torch.Tensor) -> torch.Tensor | None:
    """A fresh tensor for :func:`matfunc.core.primitives.hermitian_product` to assemble its blocks in (no
    ``concat`` copies: 1 x 1024x1024 float32, 8.4 against 11.4 ms), where it splits (CPU, ``n >= 512``)."""
    if u.device.type != "cpu" or u.shape[-2] < primitives._GRAM_SPLIT or is_traced(u):
        return None
    return torch.empty((*u.shape[:-1], u.shape[-2]), dtype=u.dtype)


def _symmetrize(
    a: torch.Tensor, with_asym: bool, lower: bool = False, overwrite: bool = False, copy: bool = True
) -> torch.Tensor | None:
    """:func:`matfunc.core.primitives.symmetrize` in one fresh tensor, ``a / 2`` and then ``+ a^T / 2`` in place
    (the bits of ``sym``: the halving is exact, so a fused multiply-add rounds the same sum once). ``sym`` makes
    two: on the host each fresh page faults (1 x 1024x1024 float32, 4 MiB each). None (the portable forms) for
    the asymmetry, under a trace or ``torch.func`` transform, and where autograd records. Always a fresh
    tensor (``copy=False`` allows, never requires, ``a`` itself)."""
    if with_asym or is_traced(a) or a.requires_grad:
        return None
    s = torch.mul(a, 0.5)
    s.add_(a.mT, alpha=0.5)
    return s


primitives.register(_XP.__name__, "symmetrize", _symmetrize)
primitives.register(_XP.__name__, "eigh", _eigh)
primitives.register(_XP.__name__, "hermitian_out", _hermitian_out)
primitives.register(_XP.__name__, "spd_solve", _spd_solve)
primitives.register(_XP.__name__, "matmul_add", _matmul_add)
primitives.register(_XP.__name__, "solve", _solve)

# torch.compile: the static scalars of core.coefficients (step schedules, Padé/Taylor coefficients as floats) are
# pure, memoised functions of Python arguments. Dynamo calls them while tracing and keeps the results as
# constants, instead of tracing their arithmetic and warning about (or guarding on) their caches.
for _fn in coefficients.CONSTANT_RESULTS:
    torch.compiler.assume_constant_result(_fn)


# --- autograd ---------------------------------------------------------------------------------------

_FIELDS = Saved._fields
_DelayedError = torch._C._functions.DelayedError  # what torch.autograd.function.once_differentiable uses
_ONCE_MSG = (
    "matfunc: backward={backward!r} is differentiable once; for second derivatives use backward='eig' "
    "(exact) or backward='unrolled'"
)


def _no_autocast(x: torch.Tensor) -> Any:
    """Autocast off around matfunc's kernels (they run in the dtype the public entry chose). A ``meta`` tensor
    has no autocast state: shapes propagate as they are."""
    if x.device.type == "meta":
        return contextlib.nullcontext()
    return torch.autocast(x.device.type, enabled=False)


class _Sqrtm(torch.autograd.Function):
    """``sqrtm``/``inv_sqrtm`` with the core backward (approximate modes: once differentiable)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: torch.Tensor, opts: Options, asym: bool = False) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        """``(y, *Saved fields, asymmetry)``; ``asym``: the input's asymmetry (:func:`input_asymmetry`) for
        ``check=True``, read right after the symmetrisation (else None)."""
        with _no_autocast(a):
            # eigh gains nothing from cache blocks, and under load each extra call costs thread synchronisations
            # (100000 x 8x8 on a busy 2-core machine: 8.1-9.1 s in 49 blocks, 1.0-1.2 s in one call)
            batch, rows = _blocks(a)
            rows = None if opts.method == "eig" else rows

            def run(t: torch.Tensor) -> tuple[Any, ...]:
                s = primitives.symmetrize(t, xp=_XP)
                return (*forward(s, opts=opts, xp=_XP), input_asymmetry(t, s) if asym else None)

            y, saved, asymmetry = over_batch(run, (a,), batch, rows, xp=_XP)
        # y goes out once (as output 0, never marked non-differentiable); setup_context picks what to keep
        return y, *_pack(saved._replace(y=None)), asymmetry

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        a, opts = inputs[:2]
        ctx.opts = opts
        ctx.mark_non_differentiable(*(t for t in output[1:] if t is not None))
        saved = gradients.saved_for(Saved(*output[1:-1])._replace(y=output[0], lam=None), opts)
        ctx.present = tuple(t is not None for t in saved)
        ctx.save_for_backward(*(t for t in saved if t is not None), a)
        ctx.save_for_forward(*(t for t in saved if t is not None), a)  # forward mode reads the same state
        ctx.set_materialize_grads(False)  # no zero cotangents for the non-differentiable outputs

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor | None, None, None]:  # type: ignore[override]
        if g is None:
            return None, None, None
        if _nested_differentiation():
            raise RuntimeError(_ONCE_MSG.format(backward=ctx.opts.backward) + " (nested torch.func transforms)")
        da = _vjp(ctx, g)
        # a second derivative would silently miss the dependence on `a`: make it raise. (Under torch.func the
        # nested case raised above; a vmapped cotangent, as in jacrev, cannot carry the error node.)
        if torch.is_grad_enabled() and not torch._C._functorch.is_functorch_wrapped_tensor(da):
            # (`+ 0 * a` puts the error node on the path to the input, where a second derivative goes)
            da = _DelayedError(_ONCE_MSG.format(backward=ctx.opts.backward).encode(), 1)(da + 0 * ctx.saved_tensors[-1])
        return da, None, None


class _SqrtmEig(_Sqrtm):
    """``backward="eig"``: differentiable to every order. Under ``create_graph`` the backward is built from
    :class:`_Root` and :class:`_Solve` (core.higher), whose own backwards are built from them again: the
    derivatives of the exact root, with the forward's eigendecomposition held constant (never ``eigh``'s
    derivative, which is infinite at repeated eigenvalues)."""

    generate_vmap_rule = True

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor | None, None, None]:  # type: ignore[override]
        if g is None:
            return None, None, None
        if torch.is_grad_enabled():
            saved, a = _saved(ctx)
            with _no_autocast(g), torch.no_grad():
                v, s = higher.eig_parts(saved, xp=_XP)  # constants (V, s); for a non-eig forward: eigh of sym(a)
            with _no_autocast(g):
                return _exact_vjp(a, v, s, g.to(a.dtype), ctx.opts), None, None
        return _vjp(ctx, g), None, None


class _Root(torch.autograd.Function):
    """The exact root ``f(sym a)`` from a given eigendecomposition ``(v, s)`` of ``sym(a)`` (no ``eigh``; the
    decomposition is a constant), differentiable to every order (its backward is :func:`_exact_vjp`)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: torch.Tensor, v: torch.Tensor, s: torch.Tensor, opts: Options) -> torch.Tensor:  # type: ignore[override]
        return higher.root(v, s, inverse=opts.inverse, eps=opts.eps, xp=_XP)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        a, v, s, ctx.opts = inputs
        ctx.save_for_backward(a, v, s)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # type: ignore[override]
        a, v, s = ctx.saved_tensors
        with _no_autocast(g):
            return _exact_vjp(a, v, s, g, ctx.opts), None, None, None


class _Solve(torch.autograd.Function):
    """``X = T(G)``, the exact tangent map at ``S = A^{1/2}`` (core.higher), evaluated in the constant eigenbasis
    ``(v, s)`` of ``S``, differentiable in ``S`` and ``G``: ``dX = T(dG) - T(dM[dS](X))`` (``M = T^{-1}``, a
    polynomial in ``S``). Self-adjoint, so the backward solves with this Function again: every order."""

    generate_vmap_rule = True

    @staticmethod
    def forward(s_mat: torch.Tensor, g: torch.Tensor, v: torch.Tensor, s: torch.Tensor, opts: Options) -> torch.Tensor:  # type: ignore[override]
        return higher.solve(v, s, g, opts=opts, xp=_XP)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        s_mat, _, v, s, ctx.opts = inputs
        ctx.save_for_backward(s_mat, v, s, output)

    @staticmethod
    def backward(ctx: Any, h: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        s_mat, v, s, x = ctx.saved_tensors
        with _no_autocast(h):
            z = _Solve.apply(s_mat, h, v, s, ctx.opts)
            ds = -higher.operator_vjp(s_mat, x, z, inverse=ctx.opts.inverse) if ctx.needs_input_grad[0] else None
        return ds, z, None, None, None


def _exact_vjp(a: torch.Tensor, v: torch.Tensor, s: torch.Tensor, g: torch.Tensor, opts: Options) -> torch.Tensor:
    """``dA`` of the exact root for upstream ``g`` at ``a`` (decomposition ``(v, s)``), as a differentiable
    function of ``a`` and ``g``: first order, the eig backward's value; higher orders, no ``eigh`` derivative."""
    s_mat = _Root.apply(a, v, s, higher.exact_options(opts, inverse=False))  # S = A^{1/2}, differentiable in a
    return _Solve.apply(s_mat, g, v, s, opts)


def _jvp(ctx: Any, da: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor | None, ...]:
    """Forward mode (``torch.func.jvp``/``jacfwd``, ``torch.autograd.forward_ad``): the core tangent rule, the
    same linear solve as the backward. Higher orders never get here (``_higher_order``), except through
    mixes of ``torch.func`` and ``forward_ad`` that the level count misses: those raise."""
    if da is None:
        return (None,) * (2 + len(_FIELDS))
    if _nested_differentiation():
        raise RuntimeError(_ONCE_MSG.format(backward=ctx.opts.backward) + " (nested torch.func transforms)")
    saved, a = _saved(ctx)
    with _no_autocast(da):
        dy = gradients.sqrtm_jvp(saved, da.to(a.dtype), opts=ctx.opts, xp=_XP)
    return (dy, *(None,) * (1 + len(_FIELDS)))


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


def _higher_order(a: torch.Tensor, /, *, opts: Options, levels: int, xp: ModuleType) -> torch.Tensor:
    """A call differentiated twice or more by ``torch.func``. An outer ``torch.func`` level does not reliably
    differentiate a custom Function's rules (``jacfwd(jacfwd)`` of one gives zero), so: ``backward="eig"``
    takes its derivatives from ``core.higher.chord_root``, plain operations whose derivatives up to order
    ``levels`` are the exact root's (no ``eigh`` derivative: finite at repeated eigenvalues); the value stays
    that of ``opts.method``. The approximate modes raise rather than give a wrong second derivative."""
    if opts.backward != "eig":
        raise RuntimeError(_ONCE_MSG.format(backward=opts.backward) + " (nested torch.func transforms)")
    a0 = primitives.sym(a.detach())  # detach() leaves every functorch level: constants from here
    y, saved = forward(a0, opts=opts, xp=xp)
    v, s = higher.eig_parts(saved, xp=xp)
    z = higher.chord_root(primitives.sym(a), v, s, steps=levels, opts=opts, xp=xp)
    return y + (z - z.detach())  # the value of `method`, the derivatives of the exact root


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
        return over_batch(
            lambda sv, gg: gradients.sqrtm_vjp(sv, gg, opts=ctx.opts, xp=_XP),
            (saved, g.to(a.dtype)),
            *_blocks(a),
            xp=_XP,
        )


def _blocks(a: torch.Tensor) -> tuple[tuple[int, ...], int | None]:
    """Cache-sized batch blocks (core.blocking) for eager CPU tensors; one block on GPU and when traced."""
    if a.device.type != "cpu" or is_traced(a) or a.requires_grad and torch.is_grad_enabled():
        return tuple(a.shape[:-2]), None
    return tuple(a.shape[:-2]), block_rows(tuple(a.shape), a.element_size())


def apply(a: Any, /, *, opts: Options, xp: ModuleType, check: bool = True) -> Any:
    """The forward of ``sqrtm``/``inv_sqrtm`` (``opts.inverse``) on a float32/float64 tensor, with autograd.

    ``backward="unrolled"`` with ``method="eig"`` has no iterations to unroll (autograd through ``eigh`` is
    NaN at repeated eigenvalues): it is the exact ``"eig"`` backward, to every order."""
    return apply_with_state(a, opts=opts, xp=xp)[0]  # (no check here: _api asks for the state)


def apply_with_state(a: Any, /, *, opts: Options, xp: ModuleType, asym: bool = False) -> tuple[Any, Saved | None, Any]:
    """:func:`apply`, the forward's non-differentiable state (a :class:`Saved`: the eigenvalues ``lam`` of an
    ``"eig"`` forward, the scale ``c`` of a matrix-product one) for ``check=True`` to read at no cost (None on
    the paths that keep none: ``"unrolled"``, nested ``torch.func`` derivatives), and with ``asym`` the input's
    asymmetry read in the forward (:func:`input_asymmetry`; None on those paths)."""
    if opts.backward == "unrolled" and opts.method == "eig":
        opts = dataclasses.replace(opts, backward="eig")
    with _no_autocast(a):
        if opts.backward == "unrolled":  # autograd traces the core's forward
            y, saved = forward(primitives.sym(a), opts=opts, xp=xp)
            return y, saved, None
        levels = _derivative_levels(a)
        if levels > 1:
            # one more order for a plain autograd graph around the torch.func transforms
            return _higher_order(a, opts=opts, levels=levels + _base_requires_grad(a), xp=xp), None, None
        fn: type[torch.autograd.Function]
        if _forward_mode(a):
            fn = _SqrtmEigFwd if opts.backward == "eig" else _SqrtmFwd
        else:
            fn = _SqrtmEig if opts.backward == "eig" else _Sqrtm
        out = fn.apply(a, opts, asym)
        return out[0], Saved(*out[1:-1]), out[-1]


def input_asymmetry(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``max |a - a^H|`` per matrix from ``s = sym(a)`` (``matfunc._validation.asymmetry_from_part``), read
    while both are in cache from the symmetrisation; CPU tensors through NumPy, in its cache-sized chunks
    (4 x 256x256 float32: 0.09 ms here against 0.25 ms after the forward)."""
    from .. import _validation

    view = host_view(a, s)
    if view is None:
        return _validation.asymmetry_from_part(a, s, xp=_XP)
    import array_api_compat.numpy as npx

    return torch.from_numpy(np.asarray(_validation.asymmetry_from_part(*view, xp=npx)))


def _base_requires_grad(a: torch.Tensor) -> bool:
    functorch = torch._C._functorch
    while functorch.is_functorch_wrapped_tensor(a):
        a = functorch.get_unwrapped(a)
    return bool(a.requires_grad and torch.is_grad_enabled())


# --- polar decomposition (matfunc._polar) ----------------------------------------------------------
# Self-contained: the polar factor U with core.polar's backward (P = sym(U^H A) is differentiated by autograd).

from ..core import polar as _polar_core  # noqa: E402
from ..core import polar_schedules as _polar_schedules  # noqa: E402

for _fn in _polar_schedules.CONSTANT_RESULTS:
    torch.compiler.assume_constant_result(_fn)


class _PolarU(torch.autograd.Function):
    """``U`` of the polar decomposition with ``core.polar.polar_vjp`` as its backward."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: torch.Tensor, opts: Any, low: Any) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        with _no_autocast(a):
            u, saved = _polar_core.polar_forward(a, opts=opts, low=low, xp=_XP)
        # u goes out once (output 0, differentiable); the tall-view u of the state is rebuilt from it
        return u, *tuple(saved._replace(u=None))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        ctx.opts = inputs[1]
        rest, wide = output[1:], inputs[0].shape[-2] < inputs[0].shape[-1]
        ctx.mark_non_differentiable(*(t for t in rest if t is not None))
        state = _polar_core.PolarSaved(*rest)._replace(u=output[0].mH if wide else output[0])
        ctx.present = tuple(t is not None for t in state)
        ctx.save_for_backward(*(t for t in state if t is not None))
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor | None, None, None]:  # type: ignore[override]
        if g is None:
            return None, None, None
        tensors = iter(ctx.saved_tensors)
        saved = _polar_core.PolarSaved(*(next(tensors) if here else None for here in ctx.present))
        with _no_autocast(g):
            return _polar_core.polar_vjp(saved, g.to(saved.u.dtype), opts=ctx.opts, xp=_XP), None, None


def polar_apply(a: Any, /, *, opts: Any, low: Any, xp: ModuleType, check: bool = False, name: str = "polar") -> Any:
    """The polar factor ``U`` of a float32/float64/complex tensor, differentiable by autograd and torch.func
    (``check`` is done by the public entry on concrete tensors). ``backward="unrolled"``: autograd differentiates
    the forward iterations."""
    with _no_autocast(a):
        if opts.backward == "unrolled":
            return _polar_core.polar_forward(a, opts=opts, low=low, xp=xp)[0]
        return _PolarU.apply(a, opts, low)[0]
