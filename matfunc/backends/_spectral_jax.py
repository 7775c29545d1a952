"""JAX glue of the spectral functions (``powm``/``logm``/``expm`` with ``method="eig"``): a ``jax.custom_jvp``
whose rule is the Daleckii–Krein tangent of :mod:`matfunc.core.spectral` (self-adjoint and linear in the
tangent, so JAX transposes it for ``grad``/``vjp``/``jacrev``; ``jit`` and ``vmap`` work; the function and the
precision are static ``nondiff_argnums``).

First derivatives are exact and finite at repeated eigenvalues (``eigh``'s derivative is never used).
Second derivatives (``hessian``, ``jacfwd(grad)``, ``grad(grad)``, ``jacrev(jacrev)``, under ``jit``) are exact too:
the tangent map is written on residuals of :func:`_decomposition`, ``D(E) = V sym(F1 o Ê + 2G o (Z Ê)) V^H``
with ``F1 = f^{[1]}(w_i, w_j)``, ``G = f^{[2]}(w_i, w_i, w_j)`` and ``Z = 0``, and :func:`_decomposition`'s JVP
gives ``dV = V K`` (``K_ik = Ĥ_ik / (w_k - w_i)`` for pairs further apart than ``sqrt(eps)``, else 0),
``dZ = Ĥ`` on the close pairs (the diagonal included) and ``dF1 = dG = 0``. The eigenvector terms produce
``f^{[2]}(w_i, w_k, w_j)`` for far pairs, ``Z`` the close ones (exact at exact ties, ``O(gap)`` within
``sqrt(eps)``): together second-order Daleckii–Krein. Third derivatives raise (:func:`_leaf`). A custom_jvp on
the tangent map itself cannot work: JAX inlines a custom_jvp applied to a tangent when it linearizes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from .. import _compat
from ..core import primitives, spectral

__all__ = ["apply_spectral", "straight_through"]

_XP = _compat.array_namespace(jnp.zeros(()))


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
@_compat.precise
def _spectral(a: Any, fn: spectral.Spectral, eps: float) -> Any:
    return spectral.spectral_forward(primitives.sym(a), fn, eps=eps, xp=_XP)[0]


@_spectral.defjvp
@_compat.precise
def _spectral_jvp(fn: spectral.Spectral, eps: float, primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (a,), (da,) = primals, tangents
    y, _, v, k, g, z = _decomposition(a, fn, eps)
    return y, _first_order(v, k, g, z, da)


def _first_order(v: Any, k: Any, g: Any, z: Any, e: Any) -> Any:
    """``D_a(E) = V [F1 o Ê + 2 G o (Z Ê)] V^H`` (Hermitian part), ``Ê = V^H sym(E) V``: the Daleckii–Krein map
    (``Z = 0``) written so that its derivative in ``a`` through the residuals (module docstring) is exact."""
    vh = primitives.mH(v)
    eh = (vh @ primitives.sym(e)) @ v
    m = k.astype(eh.dtype) * eh + g.astype(eh.dtype) * (z @ eh)
    return primitives.sym((v @ m) @ vh)


def _gaps(fn: spectral.Spectral, w: Any, eps: float) -> tuple[Any, Any]:
    """``(w_j - w_i, close_ij)`` at the eigenvalues of the divided differences; a pair is close (one block)
    within ``sqrt(eps_dtype)`` (relatively for log/x^p, absolutely for exp)."""
    if fn.psd and fn.steep:
        w = jnp.maximum(w, spectral.floor_eigenvalues(w, eps, xp=_XP))
    elif fn.psd:
        w = jnp.maximum(w, 0)
    d = w[..., None, :] - w[..., :, None]
    tol = float(jnp.finfo(w.dtype).eps) ** 0.5
    scale = 1.0 if fn.kind == "exp" else jnp.maximum(jnp.abs(w[..., None, :]), jnp.abs(w[..., :, None]))
    return d, jnp.abs(d) <= tol * scale


def _pair_second(fn: spectral.Spectral, w: Any, k: Any, eps: float) -> Any:
    """``2 f^{[2]}(w_i, w_i, w_j)`` (:func:`core.spectral.pair_second_differences`: series near ties, the stable
    first differences' quotient apart); ``n^2`` elementwise."""
    return 2.0 * spectral.pair_second_differences(fn, w, eps, xp=_XP)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
@_compat.precise
def _decomposition(a: Any, fn: spectral.Spectral, eps: float) -> tuple[Any, ...]:
    """``(f(sym a), w, V, F1, 2 G, Z)`` for :func:`_first_order`: ``F1 = f^{[1]}(w_i, w_j)``,
    ``G = f^{[2]}(w_i, w_i, w_j)``, ``Z = 0``; its JVP (second derivatives) is the module docstring's."""
    return _residuals(a, fn, eps)


def _residuals(a: Any, fn: spectral.Spectral, eps: float) -> tuple[Any, ...]:
    y, w, v = spectral.spectral_forward(primitives.sym(a), fn, eps=eps, xp=_XP)
    k = spectral.divided_differences(fn, w, eps, xp=_XP)
    return y, w, v, k, _pair_second(fn, w, k, eps), jnp.zeros_like(v)


@_decomposition.defjvp
@_compat.precise
def _decomposition_jvp(fn: spectral.Spectral, eps: float, primals: tuple[Any], tangents: tuple[Any]) -> Any:
    (a,), (da,) = primals, tangents
    out = y, w, v, k, g, z = _leaf(a, fn, eps)
    vh = primitives.mH(v)
    hh = (vh @ primitives.sym(da)) @ v
    d, close = _gaps(fn, w, eps)
    kk = jnp.where(close, jnp.zeros_like(hh), hh / jnp.where(close, jnp.ones_like(d), d).astype(hh.dtype))
    dy = primitives.sym((v @ (k.astype(hh.dtype) * hh)) @ vh)
    dw = primitives.real(jnp.diagonal(hh, axis1=-2, axis2=-1), xp=_XP)
    dz = jnp.where(close, hh, jnp.zeros_like(hh))
    return out, (dy, dw, v @ kk, jnp.zeros_like(k), jnp.zeros_like(g), dz)


_THRICE = (
    "matfunc: the spectral (eig) backward of powm/logm/expm in JAX is differentiable twice (exact second "
    "derivatives); third derivatives are not implemented (they would need third divided differences)"
)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
@_compat.precise
def _leaf(a: Any, fn: spectral.Spectral, eps: float) -> tuple[Any, ...]:
    """:func:`_residuals` for the second-order rule; differentiating it (a third derivative) raises."""
    return _residuals(a, fn, eps)


@_leaf.defjvp
@_compat.precise
def _leaf_jvp(fn: spectral.Spectral, eps: float, primals: tuple[Any], tangents: tuple[Any]) -> Any:
    raise NotImplementedError(_THRICE)


def apply_spectral(a: Any, /, *, fn: spectral.Spectral, eps: float, eigenvalues: bool = False) -> Any:
    """``f(sym a)`` by ``eigh`` with the Daleckii–Krein tangent rule; with ``eigenvalues``, ``(f(sym a), w,
    None)`` where ``w`` are the eigenvalues for the value checks (eager calls only: one ``eigh``, no gradient;
    no asymmetry: ``matfunc._family`` reads it itself)."""
    if not eigenvalues:
        return _spectral(a, fn, eps)
    y, w = _spectral_w(a, fn, eps)
    return y, jax.lax.stop_gradient(w), None


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
@_compat.precise
def _spectral_w(a: Any, fn: spectral.Spectral, eps: float) -> tuple[Any, Any]:
    return spectral.spectral_forward(primitives.sym(a), fn, eps=eps, xp=_XP)[:2]


@_spectral_w.defjvp
@_compat.precise
def _spectral_w_jvp(fn: spectral.Spectral, eps: float, primals: tuple[Any], tangents: tuple[Any]) -> Any:
    (a,), (da,) = primals, tangents
    y, w, v, k, g, z = _decomposition(a, fn, eps)
    return (y, w), (_first_order(v, k, g, z, da), jnp.zeros_like(w))


def straight_through(value: Any, grad_of: Any) -> Any:
    """``value``'s values with ``grad_of``'s derivatives (``backward="eig"`` after a matrix-product forward)."""
    return jax.lax.stop_gradient(value) + (grad_of - jax.lax.stop_gradient(grad_of))
