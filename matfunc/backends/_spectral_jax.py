"""JAX glue of the spectral functions (``powm``/``logm``/``expm`` with ``method="eig"``): a ``jax.custom_jvp``
whose rule is the Daleckii–Krein tangent of :mod:`matfunc.core.spectral` (self-adjoint and linear in the
tangent, so JAX transposes it for ``grad``/``vjp``/``jacrev``; ``jit`` and ``vmap`` work; the function and the
precision are static ``nondiff_argnums``).

First derivatives are exact and finite at repeated eigenvalues (``eigh``'s derivative is never used for them).
Second derivatives raise (:func:`_decomposition`'s rule) instead of differentiating ``eigh`` (NaN at repeated
eigenvalues). The exact second-order formula is ``core.spectral.spectral_second`` (used by PyTorch); a JAX rule
for it needs the tangent map's dependence on ``a`` as plain operations on residuals, because JAX inlines a
``custom_jvp`` applied to a linear tangent when it linearizes (``jax.hessian``, ``jacfwd(grad)`` would silently
drop the second-order term), which is not done yet.
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
def _spectral(a: Any, fn: spectral.Spectral, eps: float) -> Any:
    return spectral.spectral_forward(primitives.sym(a), fn, eps=eps, xp=_XP)[0]


@_spectral.defjvp
def _spectral_jvp(fn: spectral.Spectral, eps: float, primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (a,), (da,) = primals, tangents
    y, w, v = _decomposition(a, fn, eps)
    return y, spectral.spectral_jvp(w, v, da, fn, eps=eps, xp=_XP)


_TWICE = ("matfunc: second derivatives of powm/logm/expm with the spectral (eig) backward are not implemented "
          "in JAX (differentiating eigh would be NaN at repeated eigenvalues); use PyTorch (exact second "
          "derivatives) or a matrix-product method with backward='unrolled'")


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _decomposition(a: Any, fn: spectral.Spectral, eps: float) -> tuple[Any, Any, Any]:
    """``(f(sym a), w, V)`` for the first-order rule; differentiating it (a second derivative) raises."""
    return spectral.spectral_forward(primitives.sym(a), fn, eps=eps, xp=_XP)


@_decomposition.defjvp
def _decomposition_jvp(fn: spectral.Spectral, eps: float, primals: tuple[Any], tangents: tuple[Any]) -> Any:
    raise NotImplementedError(_TWICE)


def apply_spectral(a: Any, /, *, fn: spectral.Spectral, eps: float) -> Any:
    """``f(sym a)`` by ``eigh`` with the Daleckii–Krein tangent rule."""
    return _spectral(a, fn, eps)


def straight_through(value: Any, grad_of: Any) -> Any:
    """``value``'s values with ``grad_of``'s derivatives (``backward="eig"`` after a matrix-product forward)."""
    return jax.lax.stop_gradient(value) + (grad_of - jax.lax.stop_gradient(grad_of))
