r"""Backward passes (vector-Jacobian products), written once for every backend.

matfunc computes the function of the symmetric part of its input, so the VJP of a general upstream
gradient ``G`` is the symmetric matrix ``dA`` with, for ``S = A^{1/2}`` and ``W = A^{-1/2}``:

.. math:: \text{sqrtm:}\quad S\,dA + dA\,S = \operatorname{sym}(G), \qquad
          \text{inv\_sqrtm:}\quad S\,dA + dA\,S = -W \operatorname{sym}(G)\, W .

(The second follows from ``dW = -W dS W``; multiplying it by ``W`` on both sides gives the equivalent
``W dA + dA W = -W^2 G W^2``, i.e. ``X dA + dA X = -A^{-1} G A^{-1}`` with ``X = W``.)

Modes: ``"lyapunov"`` solves that equation by the sign iteration (:mod:`.lyapunov`); ``"eig"`` solves it
exactly in the eigenbasis, :math:`dA = V [\hat G_{ij} / (s_i + s_j)] V^T` (divided by ``-s_i s_j`` for the
inverse), reusing the forward's decomposition when there was one; ``"svd-pade"`` is the ICCV 2021 route
through the eigenvector derivative with ``K_ij = 1/(lambda_i - lambda_j)`` from a Padé approximant.

Positive semidefinite input (zero eigenvalues, where the true derivative is infinite) gets finite
gradients: ``"eig"`` clamps ``s_i + s_j`` (and ``s_i`` for the inverse) from below at
``sqrt(eps) * max(s)``, the resolution of ``s = sqrt(lambda)`` for eigenvalues computed to ``eps *
lambda_max``; the sign iteration gives a finite value by construction (growth <= 1.5 sqrt(a) per step);
``"svd-pade"`` replaces non-finite ``K`` entries by the largest finite one, as the reference code does.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import primitives
from .coefficients import geometric_pade_floats
from .eig import from_eig, sqrt_floor
from .forward import Saved
from .lyapunov import hermitian_loewner_solve, sign_lyapunov
from .options import Options

__all__ = ["sqrtm_vjp", "sqrtm_jvp", "saved_for"]


def _eig_parts(saved: Saved, /, *, xp: ModuleType) -> tuple[Any, Any]:
    if saved.v is not None:
        return saved.v, saved.s
    lam, v = primitives.eigh(saved.a, xp=xp)
    return v, xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))


def _floor(s: Any, eps: float, /, *, xp: ModuleType) -> Any:
    f = sqrt_floor(s, eps, xp=xp)
    return xp.where(f > 0, f, xp.ones_like(f))  # all-zero matrix: any positive floor


def _eig_vjp(saved: Saved, g: Any, /, *, opts: Options, xp: ModuleType) -> Any:
    v, s = _eig_parts(saved, xp=xp)
    floor = _floor(s, opts.eps, xp=xp)
    denom = xp.maximum(s[..., :, None] + s[..., None, :], floor[..., None])
    if opts.inverse:  # -denom (sc_i sc_j), in place where the array allows ((-a) b = -(a b) exactly)
        sc = xp.maximum(s, floor)
        denom *= sc[..., :, None] * (-sc[..., None, :])
    return hermitian_loewner_solve(v, denom, g, xp=xp)  # sym(...), exactly symmetric


def _svd_pade_vjp(saved: Saved, g: Any, /, *, opts: Options, xp: ModuleType) -> Any:
    v, s = _eig_parts(saved, xp=xp)
    s = xp.maximum(s, _floor(s, opts.eps, xp=xp))
    lam = s * s
    li, lj = lam[..., :, None], lam[..., None, :]
    big = xp.maximum(li, lj)
    big = xp.where(big > 0, big, xp.ones_like(big))  # all-zero matrix
    x = xp.minimum(li, lj) / big
    p, q = geometric_pade_floats(opts.backward_iters)
    num = _horner(p, x, xp=xp)
    den = _horner(q, x, xp=xp)
    sign = xp.where(li >= lj, xp.ones_like(x), -xp.ones_like(x))
    # K_ij ~ 1 / (lambda_i - lambda_j); where the approximant has a pole (den = 0: x = 1, repeated
    # eigenvalues and the diagonal) the entry is non-finite and replaced below.
    nonzero = den != 0
    k = sign / big * (num / xp.where(nonzero, den, xp.ones_like(den)))
    finite = nonzero & xp.isfinite(k)
    kmax = xp.max(xp.where(finite, xp.abs(k), xp.zeros_like(k)), axis=(-2, -1), keepdims=True)
    k = xp.where(finite, k, sign * kmax)
    f = 1.0 / s if opts.inverse else s
    fprime = -0.5 / (s * lam) if opts.inverse else 0.5 / s
    ghat = (primitives.mH(v) @ g) @ v
    # Off-diagonal: G_ij (f_i - f_j) K_ij ~ G_ij (f_i - f_j) / (lambda_i - lambda_j); diagonal: f'(lambda_i) G_ii.
    off = ghat * ((f[..., :, None] - f[..., None, :]) * k)
    n = s.shape[-1]
    eye = xp.eye(n, dtype=s.dtype, device=_device(s))
    inner = off * (1.0 - eye) + eye * (ghat * fprime[..., None, :])
    return (v @ inner) @ primitives.mH(v)


def _horner(coeffs: tuple[float, ...], x: Any, /, *, xp: ModuleType) -> Any:
    acc = xp.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * x + c
    return acc


def _lyapunov_operator(saved: Saved, /, *, opts: Options, xp: ModuleType) -> tuple[Any, Any, Any]:
    """``(S, W, root_c)`` for the sign solve: ``S = A^{1/2}``, ``W = A^{-1/2}`` (inverse only, else None)
    and the per-matrix scale ``root_c >= lambda_max(S)``: the largest eigenvalue after an eig forward (the
    Frobenius-type ``||S^2||_F^{1/2}`` at the paper's settings), else ``sqrt(c)`` with ``c >= lambda_max(A)``."""
    if saved.v is not None:
        if opts.paper_steps:
            root_c = xp.sqrt(xp.sqrt(xp.sum(saved.s**4, axis=-1, keepdims=True)))[..., None]
        else:
            root_c = xp.max(saved.s, axis=-1, keepdims=True)[..., None]
        root_c = xp.where(root_c > 0, root_c, xp.ones_like(root_c))
        s = from_eig(saved.v, saved.s, xp=xp)
        w = None
        if opts.inverse:
            w = from_eig(saved.v, 1.0 / xp.maximum(saved.s, _floor(saved.s, opts.eps, xp=xp)), xp=xp)
        return s, w, root_c
    w = saved.y if opts.inverse else None
    s = primitives.sym(saved.a @ w) if opts.inverse else saved.y
    return s, w, xp.sqrt(saved.c)


def _lyapunov_solve(saved: Saved, rhs: Any, /, *, adjoint: bool, opts: Options, xp: ModuleType) -> Any:
    """The sign-iteration solve of ``S X + X S = R``. For ``sqrtm`` the tangent map and its adjoint are both
    that solve. For ``inv_sqrtm`` (``dW = -W dS W``) the adjoint applies ``-W . W`` before it (VJP), the
    tangent map after it (JVP)."""
    s, w, root_c = _lyapunov_operator(saved, opts=opts, xp=xp)
    if opts.inverse and adjoint:
        rhs = -((w @ rhs) @ w)
    s_n = s / root_c
    x = primitives.self_adjoint_solve(  # the map X -> S X + X S is self-adjoint (S symmetric)
        lambda v: s_n @ v + v @ s_n,
        lambda r: sign_lyapunov(  # r is sym(G), or -W sym(G) W: the 4-product update
            s_n, r, num_iters=opts.backward_iters, eps=opts.eps, scaled=not opts.paper_steps, symmetric=True, xp=xp
        ),
        rhs / root_c,
        xp=xp,
    )
    return -((w @ x) @ w) if opts.inverse and not adjoint else x


def sqrtm_vjp(saved: Saved, g: Any, /, *, opts: Options, xp: ModuleType) -> Any:
    """``dA`` for upstream gradient ``g`` of ``sqrtm`` (``opts.inverse``: ``inv_sqrtm``) at the saved point."""
    if opts.backward == "lyapunov":  # the symmetric sign solve takes sym(rhs) itself and returns a symmetric X
        return _lyapunov_solve(saved, g, adjoint=True, opts=opts, xp=xp)
    if opts.backward == "eig":  # V [K o sym(V^H G V)] V^H with K symmetric: exactly symmetric already
        return _eig_vjp(saved, g, opts=opts, xp=xp)
    if opts.backward == "svd-pade":
        da = _svd_pade_vjp(saved, primitives.symmetrize(g, xp=xp), opts=opts, xp=xp)
    else:
        raise ValueError(
            f"backward={opts.backward!r} differentiates through the forward iterations and needs a framework "
            "with automatic differentiation (PyTorch or JAX); use 'lyapunov', 'eig' or 'svd-pade' here"
        )
    return primitives.symmetrize(da, xp=xp, overwrite=True)  # da: a temporary of its own


def saved_for(saved: Saved, opts: Options) -> Saved:
    """Drop what ``opts.backward`` does not need. Kept: ``"eig"``/``"svd-pade"``: ``V, s`` after an eig
    forward, else the input ``A``; ``"lyapunov"``: ``V, s`` after eig, else the output and the scale
    (and the input, for the inverse)."""
    if opts.backward in ("eig", "svd-pade"):
        return saved._replace(a=None, y=None, c=None) if saved.v is not None else saved._replace(y=None, c=None)
    if saved.v is not None:  # lyapunov after eig: V and s suffice
        return saved._replace(a=None)
    return saved if opts.inverse else saved._replace(a=None)


def _device(x: Any) -> Any:
    from .._compat import device

    return device(x)


# --- forward mode (JVP) -----------------------------------------------------------------------------
# The tangent of S = f(sym A) solves S dS + dS S = sym(dA); for W = A^{-1/2}, dW = -W dS W. The VJP above
# is its adjoint. The JVP is linear in ``da`` for fixed primals, so a framework can transpose it into
# reverse mode (JAX's custom_jvp): everything but the right-hand side is computed from the primals.


def sqrtm_jvp(saved: Saved, da: Any, /, *, opts: Options, xp: ModuleType) -> Any:
    """Tangent ``dY`` of ``sqrtm`` (``opts.inverse``: ``inv_sqrtm``) at the saved point along ``da``.

    ``"eig"`` and ``"svd-pade"``: the eigenbasis multiplier is symmetric elementwise (for the inverse too:
    ``-dS_ij / (s_i s_j)``), so the JVP is the VJP's formula applied to ``da``. ``"lyapunov"``: ``dS``
    from the sign iteration on ``sym(da)``, then ``dW = -W dS W`` for the inverse.
    """
    if opts.backward == "lyapunov":  # the symmetric sign solve takes sym(da) itself and returns a symmetric dS
        dy = _lyapunov_solve(saved, da, adjoint=False, opts=opts, xp=xp)
        return primitives.sym(dy) if opts.inverse else dy
    if opts.backward == "eig":  # sym(da) taken in the eigenbasis, as in the VJP
        return _eig_vjp(saved, da, opts=opts, xp=xp)
    if opts.backward == "svd-pade":
        dy = _svd_pade_vjp(saved, primitives.symmetrize(da, xp=xp), opts=opts, xp=xp)
    else:
        raise ValueError(
            f"backward={opts.backward!r} differentiates through the forward iterations and has no tangent "
            "rule; use 'lyapunov', 'eig' or 'svd-pade'"
        )
    return primitives.symmetrize(dy, xp=xp, overwrite=True)  # dy: a temporary of its own
