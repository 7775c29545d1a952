r"""Derivatives of every order of the exact root, without differentiating ``eigh``.

The tangent of the exact root along ``E`` is a self-adjoint linear map ``T`` of ``sym(E)`` whose inverse
``M`` is a polynomial in ``S = A^{1/2}``:

.. math:: \text{sqrtm:}\quad dS = T(E),\ M(X) = S X + X S; \qquad
          \text{inv\_sqrtm:}\quad dW = -W\,T_{\text{sqrtm}}(E)\,W = T(E),\ M(X) = -(S P + P S),\ P = S X S.

``T`` is evaluated in the eigenbasis ``A = V diag(s^2) V^T``: a Hadamard product of ``V^T E V`` with
``1/(s_i + s_j)`` (``-1/((s_i + s_j) s_i s_j)``), 4 products, the eig backward
(:func:`.gradients.sqrtm_jvp`, with its floor at ``sqrt(eps) max(s)`` for singular input). That formula is
smooth in ``S`` and finite at repeated eigenvalues; differentiating it through ``eigh`` (eigenvector
derivatives, ``1/(lambda_i - lambda_j)``) is not. Differentiating ``M(T(E)) = E`` instead gives

.. math:: d\,T(E) = -T\big(\partial_S M[dS](X)\big), \qquad X = T(E),

where ``dS`` is again ``T`` (of the outer direction) and ``partial_S M`` differentiates a polynomial. So two
rules give every order with ``V, s`` held constant (they only evaluate ``T``):

- ``X = T_S(E)`` as a linear solve whose operator ``M`` depends on ``S`` explicitly (:func:`tangent`: JAX's
  ``custom_linear_solve`` through :func:`.primitives.self_adjoint_solve`; PyTorch: an ``autograd.Function``
  whose backward is ``-T(partial_S M^*)``, :func:`operator_vjp`, and calls itself);
- ``S`` as a function of ``A`` whose tangent is ``T`` (:func:`root` for the value).

:func:`chord_root` is the same idea for a framework that knows how many derivative levels it will take (PyTorch's
nested ``torch.func`` transforms, where custom rules are not differentiated reliably): plain operations whose
derivatives up to order ``steps`` are the exact root's.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

from . import primitives
from .eig import from_eig
from .forward import Saved
from .gradients import _eig_parts as eig_parts  # (V, s) of sym(A): the eig forward's, else eigh
from .gradients import _floor as _positive_floor
from .gradients import sqrtm_jvp
from .options import Options

__all__ = ["eig_parts", "exact_options", "root", "tangent", "solve", "operator", "operator_vjp", "chord_root"]


def exact_options(opts: Options, *, inverse: bool | None = None) -> Options:
    """``opts`` for the exact path: the eig forward and backward (``inverse`` overrides ``opts.inverse``)."""
    inv = opts.inverse if inverse is None else inverse
    return dataclasses.replace(
        opts, inverse=inv, method="eig", degree=None, num_iters=None, backward="eig", backward_iters=0
    )


def root(v: Any, s: Any, /, *, inverse: bool, eps: float, xp: ModuleType) -> Any:
    """The exact ``A^{1/2}`` (``A^{-1/2}``) from ``(V, s)``, as the eig forward computes it (same floor)."""
    d = 1.0 / xp.maximum(s, _positive_floor(s, eps, xp=xp)) if inverse else s
    return from_eig(v, d, xp=xp)


def solve(v: Any, s: Any, g: Any, /, *, opts: Options, xp: ModuleType) -> Any:
    """``T(g)`` in the eigenbasis: the eig backward's numbers exactly (``opts.inverse`` selects the map)."""
    return sqrtm_jvp(Saved(None, None, None, v, s), g, opts=exact_options(opts), xp=xp)


def operator(s_mat: Any, x: Any, /, *, inverse: bool) -> Any:
    """``M(X)``, the inverse of ``T`` on symmetric matrices: ``S X + X S``, or ``-(S P + P S)`` with ``P = S X S``."""
    if inverse:
        p = (s_mat @ x) @ s_mat
        return -(s_mat @ p + p @ s_mat)
    return s_mat @ x + x @ s_mat


def operator_vjp(s_mat: Any, x: Any, z: Any, /, *, inverse: bool) -> Any:
    """The gradient in ``S`` of ``<z, M_S(x)>`` (``S`` symmetric): ``z x^T + x^T z``, or for the inverse
    ``-(z P^T + P^T z + R S x^T + x^T S R)`` with ``P = S x S``, ``R = S z + z S``."""
    xt = primitives.mH(x)
    if not inverse:
        return z @ xt + xt @ z
    pt = primitives.mH((s_mat @ x) @ s_mat)
    r = s_mat @ z + z @ s_mat
    return -(z @ pt + pt @ z + (r @ s_mat) @ xt + xt @ (s_mat @ r))


def tangent(s_mat: Any, v: Any, s: Any, g: Any, /, *, opts: Options, xp: ModuleType) -> Any:
    """``T(g)`` as a self-adjoint solve with the operator :func:`operator` of ``s_mat`` (``= A^{1/2}``).

    Its value is :func:`solve`'s. A framework that transposes and differentiates linear solves
    (JAX's ``custom_linear_solve``) differentiates it in ``s_mat`` through ``M``, never through ``V, s``."""
    return primitives.self_adjoint_solve(
        lambda x: operator(s_mat, x, inverse=opts.inverse),
        lambda r: solve(v, s, r, opts=opts, xp=xp),
        g,
        xp=xp,
    )


def chord_root(a: Any, v: Any, s: Any, /, *, steps: int, opts: Options, xp: ModuleType) -> Any:
    """``A^{1/2}`` (``opts.inverse``: ``A^{-1/2}``) of symmetric ``a`` by ``steps`` chord-Newton steps from
    :func:`root` of the constant ``(V, s)`` (the decomposition at the point), each solving with the constant
    ``T`` of the point.

    ``S_{k+1} = S_k - T(S_k^2 - A)`` (``W_{k+1} = W_k - T_{sqrt}(W_k A W_k - I)``): with ``V, s`` constant the error
    is ``O(|dA|^{k+1})`` after ``k`` steps, so the derivatives of order ``<= steps`` are the exact root's (the
    first one is the eig backward, floor included), by plain operations, whatever nesting differentiates them.
    The value is the root up to rounding (callers keep the forward's value and take only the derivatives)."""
    sqrt_opts = exact_options(opts, inverse=False)
    y = root(v, s, inverse=opts.inverse, eps=opts.eps, xp=xp)
    eye = primitives.eye_like(a, xp=xp) if opts.inverse else None
    for _ in range(steps):
        residual = (y @ a) @ y - eye if opts.inverse else y @ y - a
        y = y - solve(v, s, residual, opts=sqrt_opts, xp=xp)
    return y
