r"""Polar decomposition ``A = U P`` of a batch of rectangular matrices, and its backward pass.

Every matrix is handled in its *tall view* ``T`` (``A`` itself when ``m >= n``, else ``A^H``), so that the Gram
matrix ``T^H T`` is the smaller one, ``k x k`` with ``k = min(m, n)``; ``U`` of a wide matrix is ``U_T^H``.
``T = U_T P_T`` with ``U_T^H U_T = I`` and ``P_T = (T^H T)^{1/2}``.

Forward methods (:func:`polar_forward`):

- ``"svd"``: ``T = W diag(s) V^H``, ``U_T = W V^H``, ``P_T = V diag(s) V^H``.
- ``"eig"``: ``T^H T = V diag(s^2) V^H``, ``U_T = T V diag(1/s) V^H`` (zero singular values: 0, a partial
  isometry). Its error grows like ``eps cond(A)^2`` (the Gram matrix squares the condition number).
- ``"newton-schulz"``, ``"polar-express"``, ``"muon"``: odd-polynomial steps
  :math:`X \leftarrow X(\alpha I + \beta X^H X + \gamma (X^H X)^2)` (:mod:`.polar_schedules`) from
  :math:`X_0 = T / \sqrt c`, with ``c >= sigma_max^2`` (:func:`gram_scale`). Matrix products only; optionally
  in a lower precision (``low``) except the last :func:`.polar_schedules.refine_steps` steps.

Backward (:func:`polar_vjp`), for the factor ``U`` (``P = sym(U^H A)`` is differentiated through that product by
the caller): with ``L(X) = P X + X P`` and ``C = U^H G`` (``G`` the cotangent of ``U_T``),

.. math:: \bar T = 2\,U\,L^{-1}(\operatorname{skew} C) + (G - U C)\,P^{-1}, \qquad P^{-1} = 2 L^{-1}(I),

the second term only for non-square ``T`` (it vanishes when ``U`` is square). ``L^{-1}`` is the sign-iteration
Lyapunov solver of :mod:`.lyapunov` (``"lyapunov"``) or the eigenbasis solve (``"eig"``, exact).

Forward mode (:func:`polar_jvp`), linear in the tangent ``dT`` (so that JAX derives reverse mode by transposing
it; the sign-iteration solve goes through :func:`.primitives.self_adjoint_solve`), with ``C = U^H dT``:

.. math:: dU = U\,L^{-1}(C - C^H) + (dT - U C)\,P^{-1}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

from . import primitives
from .lyapunov import sign_lyapunov
from .polar_schedules import REFINE_STEPS, Step, refine_steps

__all__ = [
    "PolarOptions",
    "PolarSaved",
    "polar_forward",
    "polar_vjp",
    "polar_jvp",
    "gram_scale",
    "polar_products",
    "REFINE_STEPS",
    "ITERATIVE",
]

ITERATIVE = ("newton-schulz", "polar-express", "muon")


@dataclass(frozen=True)
class PolarOptions:
    """A resolved ``polar`` call (hashable: a static argument under ``jax.jit``)."""

    method: str
    steps: tuple[Step, ...]  # (alpha, beta, gamma) per step; () for "svd"/"eig"
    lower_bound: float  # normalised singular values the schedule is designed for (0 for "muon"/exact)
    scale: str
    matmul_dtype: str | None
    backward: str
    backward_iters: int
    eps: float

    @property
    def num_iters(self) -> int:
        return len(self.steps)


class PolarSaved(NamedTuple):
    """Backward state, in the tall view: ``u`` (m x k), ``p`` (k x k, Hermitian PSD), ``r`` ``(..., 1, 1)`` an
    upper bound on ``sigma_max`` (sign solve), ``v``, ``s`` the eigendecomposition of ``p`` (exact path)."""

    u: Any
    p: Any
    r: Any
    v: Any
    s: Any


def polar_products(opts: PolarOptions, m: int, n: int) -> int:
    """Matrix products of the forward for ``U`` (any shape): Gram, scale squarings and the steps."""
    if opts.method not in ITERATIVE:
        return 0
    gram = 1 + (3 if opts.scale == "spectral" else 0)
    per = sum(3 if g != 0.0 else 2 for _, _, g in opts.steps)
    return gram + per - 1  # the first step reuses the Gram matrix


def _sqnorm(x: Any, /, *, xp: ModuleType) -> Any:
    """``||x||_F^2`` per matrix, real, shape ``(..., 1, 1)`` (complex too)."""
    ax = xp.abs(x)
    return xp.sum(ax * ax, axis=(-2, -1), keepdims=True)


def _positive(x: Any, /, *, xp: ModuleType) -> Any:
    return xp.where(x > 0, x, xp.ones_like(x))


def gram_scale(t: Any, gram: Any, /, *, scale: str, xp: ModuleType) -> Any:
    """``c >= sigma_max(t)^2`` per matrix, ``(..., 1, 1)`` real; 1 for an all-zero matrix.

    ``"frobenius"``: ``||T||_F^2`` (no product; up to ``k`` times too large). ``"spectral"``:
    ``||(T^H T)^8||_F^{1/8}`` from 3 squarings of the Gram matrix, each renormalised (at most ``k^{1/8}`` too large
    for ``c``, ``k^{1/16}`` for ``sigma``). Both are guaranteed upper bounds: the schedules assume the normalised
    singular values lie in (0, 1] and a step polynomial may send values above 1 far off (a power-iteration
    estimate, a lower bound, can undershoot). Entries are first divided by the largest, so nothing overflows.
    """
    mx = _positive(xp.max(xp.abs(t), axis=(-2, -1), keepdims=True), xp=xp)
    f2 = _positive(_sqnorm(t / mx, xp=xp), xp=xp)
    if scale == "frobenius":
        return f2 * (mx * mx)
    c = f2
    b = gram / xp.astype(f2 * (mx * mx), gram.dtype)
    for k in range(1, 4):
        b = b @ b
        f = xp.sqrt(_positive(_sqnorm(b, xp=xp), xp=xp))
        b = b / xp.astype(f, b.dtype)
        c = c * f ** (1.0 / 2**k)
    return c * (mx * mx)


def _pow2_scale(t: Any, /, *, xp: ModuleType) -> Any:
    """The power of two nearest below ``max |t_ij|`` per matrix, ``(..., 1, 1)`` real (1 for a zero matrix):
    dividing by it is exact, and ``T^H T`` of the result neither underflows nor overflows."""
    mx = _positive(xp.max(xp.abs(t), axis=(-2, -1), keepdims=True), xp=xp)
    return xp.pow(2.0 * xp.ones_like(mx), xp.floor(xp.log2(mx)))


def _real(x: Any, /, *, xp: ModuleType) -> Any:
    return xp.real(x) if primitives.is_complex(x) else x


def polar_forward(a: Any, /, *, opts: PolarOptions, low: Any = None, xp: ModuleType) -> tuple[Any, PolarSaved]:
    """``U`` of ``a`` (..., m, n) in the compute dtype, and the backward state (tall view).

    ``low``: a dtype of ``xp`` for the products of all but the last :data:`REFINE_STEPS` steps (iterative methods).
    """
    wide = a.shape[-2] < a.shape[-1]
    t = primitives.mH(a) if wide else a
    if opts.method == "svd":
        w, s, vh = xp.linalg.svd(t, full_matrices=False)
        u = w @ vh
        v = primitives.mH(vh)
        p = primitives.sym((v * xp.astype(s, v.dtype)[..., None, :]) @ vh)
        saved = PolarSaved(u, p, None, v, s)
    elif opts.method == "eig":
        # on T / max|t_ij| (U is scale-invariant): the Gram matrix of a tiny (huge) T underflows (overflows)
        mx = _pow2_scale(t, xp=xp)
        tn = t / xp.astype(mx, t.dtype)
        lam, v = primitives.eigh(primitives.sym(primitives.mH(tn) @ tn), xp=xp)
        sn = xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))
        floor = _floor(sn, opts.eps, xp=xp)
        inv = xp.where(sn > floor, 1.0 / xp.where(sn > floor, sn, xp.ones_like(sn)), xp.zeros_like(sn))
        vh = primitives.mH(v)
        u = (tn @ (v * xp.astype(inv, v.dtype)[..., None, :])) @ vh
        s = sn * mx[..., 0]
        p = primitives.sym((v * xp.astype(s, v.dtype)[..., None, :]) @ vh)
        saved = PolarSaved(u, p, None, v, s)
    else:
        # on T / max|t_ij| first: the Gram matrix of a tiny (huge) T underflows (overflows)
        mx = _pow2_scale(t, xp=xp)
        tn = t / xp.astype(mx, t.dtype)
        gram = primitives.mH(tn) @ tn if low is None else primitives.matmul_in(primitives.mH(tn), tn, low, xp=xp)
        c = gram_scale(tn, gram, scale=opts.scale, xp=xp)
        x = tn / xp.astype(xp.sqrt(c), t.dtype)
        root = xp.sqrt(c) * mx
        g = gram / xp.astype(c, gram.dtype)
        refine = refine_steps(opts.steps, opts.eps)
        for k, (al, be, ga) in enumerate(opts.steps):
            lo = low if k < len(opts.steps) - refine else None
            if k:
                g = primitives.matmul_in(primitives.mH(x), x, lo, xp=xp)
            b = be * g if ga == 0.0 else be * g + ga * primitives.matmul_in(g, g, lo, xp=xp)
            x = al * x + primitives.matmul_in(x, b, lo, xp=xp)
        u = x
        p = primitives.sym(primitives.mH(u) @ t)
        saved = PolarSaved(u, p, root, None, None)
    return (primitives.mH(u) if wide else u), saved


def _floor(s: Any, eps: float, /, *, xp: ModuleType) -> Any:
    """``sqrt(eps) * max(s)`` per matrix, ``(..., 1)``; 1 for an all-zero matrix."""
    f = math.sqrt(eps) * xp.max(s, axis=-1, keepdims=True)
    return xp.where(f > 0, f, xp.ones_like(f))


def _solver(saved: PolarSaved, /, *, opts: PolarOptions, xp: ModuleType) -> tuple[Any, Any]:
    """``(solve, pinv)``: ``solve(R)`` = ``L^{-1}(R)`` for ``L(X) = P X + X P``; ``pinv()`` = ``P^{-1}``."""
    p = saved.p
    if opts.backward == "eig":
        if saved.v is not None:
            v, s = saved.v, saved.s
        else:
            lam, v = primitives.eigh(p, xp=xp)
            s = xp.maximum(lam, xp.zeros_like(lam))
        floor = _floor(s, opts.eps, xp=xp)
        denom = xp.maximum(s[..., :, None] + s[..., None, :], floor[..., None])
        vh = primitives.mH(v)

        def solve_eig(r: Any) -> Any:
            return v @ (((vh @ r) @ v) / xp.astype(denom, r.dtype)) @ vh

        def pinv_eig() -> Any:
            d = 1.0 / xp.maximum(s, floor)
            return (v * xp.astype(d, v.dtype)[..., None, :]) @ vh

        return solve_eig, pinv_eig
    root = saved.r if saved.r is not None else xp.max(saved.s, axis=-1, keepdims=True)[..., None]
    root = _positive(root, xp=xp)
    rt = xp.astype(root, p.dtype)
    p_n = p / rt
    cx = primitives.is_complex(p)

    def solve(r: Any) -> Any:
        # L is self-adjoint: a framework that transposes programs (JAX) transposes the solve by calling it again
        return primitives.self_adjoint_solve(
            lambda x: p_n @ x + x @ p_n,
            lambda q: sign_lyapunov(
                p_n, q, num_iters=opts.backward_iters, eps=opts.eps, scaled=True, symmetric=False, xp=xp
            ),
            r / rt,
            xp=xp,
        )

    def pinv() -> Any:
        eye = primitives.eye_like(p, xp=xp) / rt
        return 2.0 * sign_lyapunov(
            p_n, eye, num_iters=opts.backward_iters, eps=opts.eps, scaled=True, symmetric=not cx, xp=xp
        )

    return solve, pinv


def polar_vjp(saved: PolarSaved, gu: Any, /, *, opts: PolarOptions, xp: ModuleType) -> Any:
    """``dA`` for the cotangent ``gu`` of ``U`` (shape of ``U``; the shape of ``A``)."""
    m, k = saved.u.shape[-2], saved.u.shape[-1]
    wide = gu.shape[-2] < gu.shape[-1]
    g = primitives.mH(gu) if wide else gu
    u = saved.u
    solve, pinv = _solver(saved, opts=opts, xp=xp)
    c = primitives.mH(u) @ g
    z = solve(c * 0.5 - primitives.mH(c) * 0.5)
    ga = 2.0 * (u @ z)
    if m > k:
        ga = ga + (g - u @ c) @ pinv()
    return primitives.mH(ga) if wide else ga


def polar_jvp(saved: PolarSaved, da: Any, /, *, opts: PolarOptions, xp: ModuleType) -> Any:
    """``dU`` for the tangent ``da`` of ``A`` (the shape of ``A``); linear in ``da`` (see the module docstring)."""
    m, k = saved.u.shape[-2], saved.u.shape[-1]
    wide = da.shape[-2] < da.shape[-1]
    dt = primitives.mH(da) if wide else da
    u = saved.u
    solve, pinv = _solver(saved, opts=opts, xp=xp)
    c = primitives.mH(u) @ dt
    du = u @ solve(c - primitives.mH(c))
    if m > k:
        du = du + (dt - u @ c) @ pinv()
    return primitives.mH(du) if wide else du
