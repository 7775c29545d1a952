"""JAX glue: tracing detection, ``jax.custom_jvp`` rules around the core forward, and a Cholesky ``spd_solve``.

``apply`` runs the core forward inside a :func:`jax.custom_jvp` whose tangent rule is the core's: the (linear)
Lyapunov solve ``S dS + dS S = sym(dA)`` for ``"lyapunov"``, the eigenbasis formula for ``"eig"``/``"svd-pade"``.
The rule is linear in the tangent and every primal-dependent quantity (``S``, ``V``, scales) is computed from
the primals inside it, so JAX derives reverse mode by transposing it: one rule serves ``jax.jvp``,
``jax.jacfwd``, ``jax.grad``, ``jax.vjp`` and ``jax.jacrev``, under ``jax.jit`` (the resolved options are a
static ``nondiff_argnums`` argument) and ``jax.vmap``.

What each backward mode supports (float64; tested in ``tests/test_jax.py``):

- ``"eig"``: forward and reverse mode, every order, exact, also at repeated eigenvalues (``3 I``) and finite at
  singular input. Its rule (:func:`_exact`) never differentiates ``eigh`` (whose derivative divides by
  eigenvalue gaps): the tangent is a ``custom_linear_solve`` whose operator is a polynomial in ``S = A^{1/2}``,
  and ``S`` itself is a ``custom_jvp`` function with the same tangent (``core.higher``). First order costs what
  it did (the 4-product eigenbasis solve; the unused operator is dead code under ``jit``).
- ``"lyapunov"``, ``"svd-pade"``: forward and reverse mode. After a matrix-product forward ``"lyapunov"`` is
  differentiable twice (JAX differentiates the sign iteration; an approximation of the exact second derivative,
  to the steps). Where the rule's state comes from ``eigh`` (an ``"eig"`` forward, or ``"svd-pade"``) a second
  derivative raises ``NotImplementedError`` (:func:`_eigh_residuals`), as in PyTorch, instead of ``eigh``'s NaN at
  repeated eigenvalues.
- ``"unrolled"``: no custom rule; JAX differentiates the forward iterations in every mode and order. With
  ``method="eig"`` there are none (``eigh``'s derivative is NaN at repeated eigenvalues): the ``"eig"`` rule.

Value checks (``check=True``) are done by the public entry on concrete arrays only; under ``jit``,
``vmap`` and the derivative transforms, and whenever any JAX trace is active (values computed from a constant
inside ``jit`` are tracers too), they are skipped (:func:`is_traced`).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from types import ModuleType
from typing import Any

import jax
import jax.extend.core
import jax.numpy as jnp

from .. import _compat
from ..core import gradients, higher, primitives
from ..core.forward import Saved, forward
from ..core.options import Options

__all__ = ["is_traced", "apply"]

_XP = _compat.array_namespace(jnp.zeros(()))


def is_traced(a: Any) -> bool:
    """True for tracers (``jit``, ``vmap``, ``grad``) and whenever a JAX trace is active at all: inside
    ``jax.jit(lambda x: matfunc.sqrtm(T) + x)`` with ``T`` a concrete array, what is computed from ``T`` is a
    tracer too, so no value can be read there. Value checks are skipped (``matfunc._compat.is_concrete``)."""
    return isinstance(a, jax.core.Tracer) or not _top_level()


def _top_level() -> bool:
    """Whether no JAX transformation is tracing (the current trace is JAX's eager evaluation), asked through
    ``jax.extend.core.find_top_trace``; where a JAX version lacks it, whether a new constant is a tracer."""
    find = getattr(jax.extend.core, "find_top_trace", None)
    if find is not None:
        return type(find(())).__name__ == "EvalTrace"
    return not isinstance(jnp.zeros(()), jax.core.Tracer)


# --- primitives -------------------------------------------------------------------------------------


def _spd_solve(a: Any, b: Any) -> Any:
    """Batched Cholesky solve of ``a x = b`` (half the flops of LU)."""
    factor = jax.lax.linalg.cholesky(a)
    a_shape = jnp.broadcast_shapes(factor.shape[:-2], b.shape[:-2])
    factor = jnp.broadcast_to(factor, (*a_shape, *factor.shape[-2:]))
    b = jnp.broadcast_to(b, (*a_shape, *b.shape[-2:]))
    y = jax.lax.linalg.triangular_solve(factor, b, left_side=True, lower=True)
    return jax.lax.linalg.triangular_solve(
        factor, y, left_side=True, lower=True, transpose_a=True, conjugate_a=jnp.iscomplexobj(factor)
    )  # L^H for Hermitian a


def _self_adjoint_solve(matvec: Any, solve: Any, rhs: Any) -> Any:
    """Reverse mode calls ``solve`` again on the cotangent (the map is self-adjoint) instead of JAX
    transposing the sign iteration step by step: half the work, and XLA's compiled transpose of the
    4-product update was measured to drift (4e-7 off at 30 steps, eager 2e-15).

    JAX transposes for the bilinear pairing ``sum(x * y)``, for which ``X -> S X + X S`` with Hermitian
    ``S`` is not symmetric when ``S`` is complex: its transpose is the map of ``conj(S)``, whose inverse is
    ``conj(solve(conj(r)))``."""
    if not jnp.iscomplexobj(rhs):
        return jax.lax.custom_linear_solve(matvec, rhs, lambda _, r: solve(r), symmetric=True)
    return jax.lax.custom_linear_solve(
        matvec, rhs, lambda _, r: solve(r), transpose_solve=lambda _, r: jnp.conj(solve(jnp.conj(r)))
    )


primitives.register(_XP.__name__, "spd_solve", _spd_solve)
primitives.register(_XP.__name__, "self_adjoint_solve", _self_adjoint_solve)


# --- autodiff ---------------------------------------------------------------------------------------


def _forward_saved(a: Any, opts: Options) -> tuple[Any, Any]:
    if opts.method == "eig" or opts.backward == "svd-pade":  # the rule's primals come from eigh
        return _eigh_residuals(a, opts)
    y, saved = forward(primitives.sym(a), opts=opts, xp=_XP)
    return y, gradients.saved_for(saved, opts)


_ONCE = (
    "matfunc: backward={backward!r} after an eigendecomposition is differentiable once in JAX (a second "
    "derivative would differentiate eigh, NaN at repeated eigenvalues); for second derivatives use "
    "backward='eig' (exact, every order)"
)


@partial(jax.custom_jvp, nondiff_argnums=(1,))
@_compat.precise
def _eigh_residuals(a: Any, opts: Options) -> tuple[Any, Any]:
    """The rule's primal-dependent state when it comes from ``eigh`` (an ``"eig"`` forward, or the ``"svd-pade"``
    backward): differentiating it, i.e. a second derivative of these approximate modes, raises (as in PyTorch)
    instead of returning ``eigh``'s NaN at repeated eigenvalues."""
    y, saved = forward(primitives.sym(a), opts=opts, xp=_XP)
    return y, gradients.saved_for(saved, opts)


@_eigh_residuals.defjvp
@_compat.precise
def _eigh_residuals_jvp(opts: Options, primals: tuple[Any], tangents: tuple[Any]) -> Any:
    raise NotImplementedError(_ONCE.format(backward=opts.backward))


@partial(jax.custom_jvp, nondiff_argnums=(1,))
@_compat.precise
def _sqrtm(a: Any, opts: Options) -> Any:
    return forward(primitives.sym(a), opts=opts, xp=_XP)[0]


@_sqrtm.defjvp
@_compat.precise
def _sqrtm_jvp(opts: Options, primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (a,), (da,) = primals, tangents
    y, saved = _forward_saved(a, opts)
    return y, gradients.sqrtm_jvp(saved, da, opts=opts, xp=_XP)


@partial(jax.custom_jvp, nondiff_argnums=(1,))
@_compat.precise
def _exact(a: Any, opts: Options) -> tuple[Any, ...]:
    """``backward="eig"``: the value of ``opts.method`` at ``sym(a)``, and after an eig forward its
    decomposition ``sym(a) = V diag(s^2) V^T``: ``(y, V, s)``, else ``(y,)``.

    The tangent rule (:func:`_exact_jvp`) is differentiable to every order without ``eigh``'s derivative, which
    divides by eigenvalue gaps (NaN at repeated eigenvalues): ``V, s`` are constants (zero tangents; they only
    evaluate the tangent map), the rule's primal output comes from this function again, and its dependence on
    ``a`` goes through :func:`_root` and the linear solve of ``core.higher.tangent``."""
    y, saved = forward(primitives.sym(a), opts=opts, xp=_XP)
    return (y, saved.v, saved.s) if opts.method == "eig" else (y,)


@_exact.defjvp
@_compat.precise
def _exact_jvp(opts: Options, primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (a,), (da,) = primals, tangents
    out = _exact(a, opts)  # an outer derivative of this rule sees this rule again
    if opts.method == "eig":
        y, v, s = out
    else:  # the decomposition the exact derivative is evaluated in (under jit: only when differentiated)
        (y,) = out
        v, s = higher.eig_parts(Saved(jax.lax.stop_gradient(primitives.sym(a)), None, None, None, None), xp=_XP)
    s_mat = _root(a, v, s, higher.exact_options(opts, inverse=False))
    dy = higher.tangent(s_mat, v, s, da, opts=opts, xp=_XP)
    return out, (dy, *(jnp.zeros_like(t) for t in out[1:]))


@partial(jax.custom_jvp, nondiff_argnums=(3,))
@_compat.precise
def _root(a: Any, v: Any, s: Any, opts: Options) -> Any:
    """``S = A^{1/2}`` from the eigendecomposition ``(V, s)`` of ``sym(a)``, with the exact tangent (every order):
    the operator of ``core.higher.tangent``, so that its derivative in ``a`` is exact too."""
    return higher.root(v, s, inverse=False, eps=opts.eps, xp=_XP)


@_root.defjvp
@_compat.precise
def _root_jvp(opts: Options, primals: tuple[Any, Any, Any], tangents: tuple[Any, Any, Any]) -> tuple[Any, Any]:
    a, v, s = primals
    s_mat = _root(a, v, s, opts)
    return s_mat, higher.tangent(s_mat, v, s, tangents[0], opts=opts, xp=_XP)


def apply(a: Any, /, *, opts: Options, xp: ModuleType, check: bool = True) -> Any:
    """``sqrtm``/``inv_sqrtm`` of a float32/float64 JAX array, differentiable in every JAX transform.

    ``backward="unrolled"`` with ``method="eig"`` has no iterations to unroll (JAX's ``eigh`` derivative is NaN
    at repeated eigenvalues): it is the exact ``"eig"`` rule."""
    if opts.backward == "unrolled" and opts.method == "eig":
        opts = dataclasses.replace(opts, backward="eig")
    if opts.backward == "unrolled":  # JAX differentiates the forward iterations itself
        return forward(primitives.sym(a), opts=opts, xp=xp)[0]
    if opts.backward == "eig":
        return _exact(a, opts)[0]
    return _sqrtm(a, opts)


# --- polar decomposition (matfunc._polar) ----------------------------------------------------------
# Self-contained: the polar factor U as a jax.custom_jvp whose tangent rule is core.polar.polar_jvp, linear in
# the tangent, so JAX transposes it for reverse mode (jvp, jacfwd, grad, vjp, jacrev, under jit and vmap). Its
# sign-iteration Lyapunov solve goes through primitives.self_adjoint_solve (_self_adjoint_solve above: the
# transpose is the solve again, conjugated for complex P). P = sym(U^H A) is differentiated by JAX.

from ..core import polar as _polar_core  # noqa: E402


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
@_compat.precise
def _polar_u(a: Any, opts: Any, low: Any) -> Any:
    return _polar_core.polar_forward(a, opts=opts, low=low, xp=_XP)[0]


@_polar_u.defjvp
@_compat.precise
def _polar_u_jvp(opts: Any, low: Any, primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (a,), (da,) = primals, tangents
    u, saved = _polar_core.polar_forward(a, opts=opts, low=low, xp=_XP)
    return u, _polar_core.polar_jvp(saved, da, opts=opts, xp=_XP)


def polar_apply(a: Any, /, *, opts: Any, low: Any, xp: ModuleType, check: bool = False, name: str = "polar") -> Any:
    """The polar factor ``U`` of a JAX array, differentiable in forward and reverse mode under ``jit``/``vmap``
    (``check`` is done by the public entry on concrete arrays). ``backward="unrolled"``: JAX differentiates the
    forward iterations."""
    if opts.backward == "unrolled":
        return _polar_core.polar_forward(a, opts=opts, low=low, xp=xp)[0]
    return _polar_u(a, opts, low)
