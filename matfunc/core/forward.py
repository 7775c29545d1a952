"""The forward pass of every method, and what it keeps for the backward pass.

``forward`` takes a symmetric input already in its computation dtype (float32/float64) and resolved
:class:`.Options`; it returns the result and a :class:`Saved` record for :mod:`.gradients`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple, cast

from . import primitives
from .eig import eigh_root
from .newton_schulz import newton_schulz, newton_schulz_mixed
from .options import Options
from .pade import pade_sqrt
from .scaling import normalize
from .taylor import taylor_sqrt

__all__ = ["Saved", "forward", "normalized_forward"]


class Saved(NamedTuple):
    """What a backward pass needs. ``a``: the (symmetrised) input; ``y``: the output; ``c``: the scale
    ``(..., 1, 1)`` of the normalisation; ``v``, ``s``: eigenvectors and square roots of the eigenvalues
    (``eig`` forward only); ``lam``: the signed eigenvalues (``eig`` forward only; read by ``check=True``, never
    by a backward). Fields a given backward mode does not need are None."""

    a: Any
    y: Any
    c: Any
    v: Any
    s: Any
    lam: Any = None


def normalized_forward(a_n: Any, /, *, opts: Options, xp: ModuleType) -> Any:
    """``f(a_n)`` for the normalised ``a_n`` (spectrum in (0, 1]) by a matrix-product method."""
    if opts.method == "taylor":
        return taylor_sqrt(a_n, degree=cast(int, opts.degree), inverse=opts.inverse, xp=xp)
    if opts.method == "pade":
        return pade_sqrt(a_n, degree=cast("tuple[int, int]", opts.degree), inverse=opts.inverse, xp=xp)
    if opts.method == "newton-schulz" and opts.matmul_dtype is not None:
        y, z = newton_schulz_mixed(
            a_n,
            steps=opts.all_ns_steps(),
            want="inv" if opts.inverse else "sqrt",
            low=getattr(xp, opts.matmul_dtype),
            eps=opts.eps,
            xp=xp,
        )
        return z if opts.inverse else y
    if opts.method == "newton-schulz":
        # The paper's plain steps with its Frobenius scaling; the accelerated schedule otherwise.
        y, z = newton_schulz(
            a_n,
            num_iters=cast(int, opts.num_iters),
            eps=opts.eps,
            want="inv" if opts.inverse else "sqrt",
            scaled=not opts.paper_steps,
            steps=opts.ns_steps(),  # None: the default scaled steps
            xp=xp,
        )
        return z if opts.inverse else y
    raise ValueError(f"no normalised kernel for method {opts.method!r}")


def forward(
    a: Any, /, *, opts: Options, xp: ModuleType, overwrite_a: bool = False, vectors: bool = True
) -> tuple[Any, Saved]:
    """``a^{1/2}`` (or ``a^{-1/2}`` if ``opts.inverse``) of a symmetric batch, and the state for backward.
    ``"eig"`` only (:func:`.eig.eigh_root`): ``overwrite_a``, ``a`` is the caller's temporary (then not saved),
    ``vectors=False``, no backward follows (no eigenvectors saved)."""
    if opts.method == "eig":
        y, v, s, lam = eigh_root(a, inverse=opts.inverse, xp=xp, overwrite_a=overwrite_a, vectors=vectors)
        return y, Saved(None if overwrite_a else a, None, None, v, s, lam)  # from_eig: exactly symmetric already
    a_n, c = normalize(a, scale=opts.scale, xp=xp)
    f = normalized_forward(a_n, opts=opts, xp=xp)
    root_c = xp.sqrt(c)
    if opts.inverse:
        y = primitives.sym(f / root_c)
    else:
        # An all-zero matrix (a_n = 0, c = 1) has the root 0; Taylor/Padé would give f(0) != 0 there. A
        # nonzero symmetric PSD matrix has a positive diagonal entry: O(n) per matrix to tell them apart.
        nonzero = xp.max(primitives.real(xp.linalg.diagonal(a_n), xp=xp), axis=-1, keepdims=True)[..., None] > 0
        y = primitives.sym(f * xp.where(nonzero, root_c, xp.zeros_like(root_c)))
    return y, Saved(a, y, c, None, None)
