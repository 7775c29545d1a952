r"""Spectral functions of symmetric (Hermitian) matrices: the exact path ``V f(w) V^H`` and ONE backward.

For ``A = V diag(w) V^H`` and a scalar function ``f``, ``f(A) = V diag(f(w)) V^H``. Its Fréchet derivative is
the Daleckii–Krein formula

.. math:: L_f(A, E) = V \big[ f^{[1]}(w_i, w_j)\, \hat E_{ij} \big] V^H, \qquad \hat E = V^H E V,

with the first divided differences :math:`f^{[1]}(x, y) = (f(x) - f(y)) / (x - y)`, and
:math:`f^{[1]}(x, x) = f'(x)`. The map is self-adjoint (the matrix of divided differences is symmetric), so the
same formula is the JVP along ``sym(dA)`` and the VJP of ``sym(G)``: 4 matrix products after an ``eigh``.

Each function here is a :class:`Spectral` record (hashable: a static argument under ``jax.jit``) with its
values and its divided differences written so that they stay accurate as two eigenvalues meet: with
``x = max``, ``y = min`` of a pair and ``z = y / x`` (rounded, in (0, 1]),

- ``log``:   :math:`f^{[1]} = \frac{\log z}{(z - 1)\, x}` (limit ``1/x``),
- ``x^p``:   :math:`f^{[1]} = x^{p-1}\,\frac{\operatorname{expm1}(p \log z)}{z - 1}` (limit ``p x^{p-1}``),
- ``exp``:   :math:`f^{[1]} = e^{x}\,\frac{1 - e^{-d}}{d}`, ``d = x - y``, ``1 - e^{-d} = E / (1 + E)`` with
  ``E = expm1(d)`` (limit ``e^x``).

Numerator and denominator are computed from the same rounded ``z``: ``z - 1`` is exact for ``z >= 1/2``, and
``log z`` of a floating-point ``z`` near 1 is accurate to its last digits, so each quotient is a smooth function
of ``z`` evaluated one rounding away from ``y / x`` (Goldberg's form of ``log1p``), accurate for every gap and
tending to its limit continuously; where ``z`` rounds to 1 (ties, and gaps below a rounding) the limit is taken,
exact to rounding. No difference of two rounded function values is ever formed, so nothing cancels. Every
numerator is bounded (``0 <= E / (1 + E) < 1``, ``|p log z|`` at most ``|p|`` times the log of the condition
number), so nothing overflows for moderate ``|p|``. The second divided differences (:func:`_dd1`, elementwise
on triples) use the equivalent ``log1p``/``expm1`` form of ``v = (x - y) / x``.

Singular input. ``log`` and negative powers are undefined at a zero eigenvalue, and the derivative of ``x^p``
for ``p < 1`` is infinite there. Eigenvalues are clamped from below at ``eps * max|w|`` (the resolution of
eigenvalues computed to ``eps * lambda_max``) for those values and for every divided difference of a function
with a singular derivative: for ``p = 1/2`` that is exactly :mod:`.gradients`' ``sqrt(eps) max(s)`` floor.
``x^p`` with ``p > 0`` clamps negative rounding noise to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import primitives
from .eig import from_eig, scaled_gram

__all__ = [
    "Spectral",
    "POWER",
    "LOG",
    "EXP",
    "power",
    "eigh",
    "values",
    "divided_differences",
    "spectral_forward",
    "spectral_vjp",
    "spectral_jvp",
    "floor_eigenvalues",
    "second_divided_differences",
    "pair_second_differences",
    "spectral_second",
]


@dataclass(frozen=True)
class Spectral:
    """A scalar function for :func:`spectral_forward`: ``kind`` is ``"power"`` (``x**p``), ``"log"`` or ``"exp"``."""

    kind: str
    p: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("power", "log", "exp"):
            raise ValueError(f"unknown spectral function {self.kind!r}")

    @property
    def psd(self) -> bool:
        """Defined on positive semidefinite matrices only (clamps negative eigenvalues)."""
        return self.kind != "exp"

    @property
    def singular(self) -> bool:
        """Undefined at 0 (log, negative powers): values are taken at the floored eigenvalues."""
        return self.kind == "log" or (self.kind == "power" and self.p < 0)

    @property
    def steep(self) -> bool:
        """Infinite derivative at 0 (log, ``p < 1``): divided differences use the floored eigenvalues."""
        return self.kind == "log" or (self.kind == "power" and self.p < 1 and self.p != 0)


LOG = Spectral("log")
EXP = Spectral("exp")
POWER = Spectral("power", 1.0)


def power(p: float) -> Spectral:
    """``x**p`` as a :class:`Spectral` function."""
    return Spectral("power", float(p))


def eigh(a: Any, /, *, xp: ModuleType) -> tuple[Any, Any]:
    """``(w, V)`` of the Hermitian matrices ``a`` (real ``w``, ascending)."""
    w, v = primitives.eigh(a, xp=xp)
    return primitives.real(w, xp=xp), v


def floor_eigenvalues(w: Any, eps: float, /, *, xp: ModuleType) -> Any:
    """``eps * max|w|`` per matrix, shape ``(..., 1)``; 1 for an all-zero matrix (any positive floor)."""
    f = eps * xp.max(xp.abs(w), axis=-1, keepdims=True)
    return xp.where(f > 0, f, xp.ones_like(f))


def _clamped(fn: Spectral, w: Any, eps: float, /, *, steep: bool, xp: ModuleType) -> Any:
    if not fn.psd:
        return w
    if steep:
        return xp.maximum(w, floor_eigenvalues(w, eps, xp=xp))
    return xp.maximum(w, xp.zeros_like(w))


def values(fn: Spectral, w: Any, eps: float, /, *, xp: ModuleType) -> Any:
    """``f(w)`` elementwise, with the clamping of the module docstring."""
    x = _clamped(fn, w, eps, steep=fn.singular, xp=xp)
    if fn.kind == "exp":
        return xp.exp(x)
    if fn.kind == "log":
        return xp.log(x)
    if fn.p == 0:
        return xp.ones_like(x)
    if fn.p == 1:
        return x
    return x**fn.p


def divided_differences(fn: Spectral, w: Any, eps: float, /, *, xp: ModuleType) -> Any:
    """The symmetric matrix :math:`f^{[1]}(w_i, w_j)` of shape ``(..., n, n)``, stably (module docstring).

    With ``x = max``, ``y = min`` of a pair and ``z = y / x`` rounded, the quotients are functions of ``z`` alone,
    ``log(z) / (z - 1)`` and ``(z^p - 1) / (z - 1)`` (``expm1(p log z)``): numerator and denominator are
    computed from the same rounded ``z`` (``z - 1`` is exact for ``z >= 1/2``; Goldberg's form of ``log1p``), so
    the quotient is the smooth function at a point one rounding away, with nothing cancelling. One
    transcendental pass, a few arithmetic ones, updated in place where the array allows: when NumPy allocates a
    temporary afresh the page faults cost more than the arithmetic (0.45 ms per MiB on this project's
    machines). 2 x 256x256 float64, one thread: 2.5 ms for ``x^{-1/4}`` against 6.0 ms for the earlier form
    (``log1p``, which NumPy does not vectorise, and about twice the temporaries); the textbook quotient takes
    1.7 ms. Values of one eigenvalue (``e^{w_i}``, ``w_i^{p-1}``) are computed once and paired by ``max``/``min``."""
    w = _clamped(fn, w, eps, steep=fn.steep, xp=xp)
    wi, wj = w[..., :, None], w[..., None, :]
    if fn.kind == "power" and fn.p in (0.0, 1.0):
        return (xp.zeros_like if fn.p == 0 else xp.ones_like)(wi - wj)
    if fn.kind == "exp":
        return _exp_divided_differences(w, wi, wj, xp=xp)
    x = xp.maximum(wi, wj)
    z = xp.minimum(wi, wj)
    positive = None
    if not fn.steep:  # p > 1: eigenvalues clamped at 0, so y = 0 and x = 0 (a tie at 0) occur
        positive = z > 0
        x = xp.where(x > 0, x, 1.0)
        z = xp.where(positive, z, x)  # a stand-in; the quotient there is (1 - 0) / 1, set below
    z /= x  # y / x, in (0, 1]
    d = z - 1.0  # exact for z >= 1/2
    tie = d == 0  # y/x rounds to 1: the limit is exact to rounding
    d = primitives.putmask(d, tie, -1.0, xp=xp)
    if fn.kind == "log":  # log(z) / (z - 1) / x
        q = xp.log(z)
        q /= d
        q = primitives.putmask(q, tie, 1.0, xp=xp)
        q /= x
        return q
    p = fn.p
    q = xp.log(z)
    q *= p
    q = xp.expm1(q)
    q /= d  # (z^p - 1) / (z - 1)
    q = primitives.putmask(q, tie, p, xp=xp)
    if positive is not None:
        q = primitives.putmask(q, ~positive, 1.0, xp=xp)
    b = w ** (p - 1.0)  # x^(p-1): min over the pair for p < 1 (decreasing), max for p > 1
    q *= (xp.minimum if p < 1 else xp.maximum)(b[..., :, None], b[..., None, :])
    return q  # (where y = 0, (1 - 0) / 1; at a tie at 0 the base is 0^(p-1) = 0 = f'(0))


def _exp_divided_differences(w: Any, wi: Any, wj: Any, /, *, xp: ModuleType) -> Any:
    """:math:`e^x (1 - e^{-d}) / d` with ``d = |w_i - w_j|``, ``e^x = max(e^{w_i}, e^{w_j})`` and
    ``1 - e^{-d} = E / (1 + E)``, ``E = expm1(d)`` at ``d <= 40`` (past it both are 1 to rounding): NumPy's
    ``expm1`` is vectorised for positive arguments only (0.16 against 1.1 ms on 2 x 256x256)."""
    d = xp.abs(wi - wj)
    tie = d == 0
    q = xp.expm1(xp.minimum(d, 40.0))
    den = q + 1.0
    den *= primitives.putmask(d, tie, 1.0, xp=xp)
    q /= den
    q = primitives.putmask(q, tie, 1.0, xp=xp)
    ew = xp.exp(w)
    q *= xp.maximum(ew[..., :, None], ew[..., None, :])
    return q


def spectral_forward(
    a: Any, fn: Spectral, /, *, eps: float, xp: ModuleType, overwrite_a: bool = False, vectors: bool = True
) -> tuple[Any, Any, Any]:
    """``(f(a), w, V)`` for Hermitian ``a`` (already symmetrised, in the compute dtype).

    ``exp`` is composed as the Gram matrix ``U U^H`` of ``U = V diag(e^{w/2})`` (the same products): no
    ``e^{w_i}`` is formed, so nothing overflows unless the result does (``expm([[0, 710], [710, 0]])`` is
    ``cosh(710) = 1.1e308`` though ``e^710`` overflows), and no partial sum exceeds ``sqrt(y_ii y_jj)``.

    ``overwrite_a``: ``a`` is the caller's temporary, ``f(a)`` may be written into it; ``vectors=False``: ``V``
    is not wanted (None) and its array may be reused (:func:`.eig.eigh_root`)."""
    w, v = eigh(a, xp=xp)
    out = a if overwrite_a else None
    if fn.kind == "exp":
        y = scaled_gram(v, xp.exp(w * 0.5), xp=xp, out=out, overwrite_v=not vectors)
    elif fn.kind == "power":  # f(w) >= 0 (clamped eigenvalues): the Gram form, half the flops on NumPy
        y = from_eig(v, values(fn, w, eps, xp=xp), xp=xp, out=out, overwrite_v=not vectors)
    else:  # log: values of both signs
        y = primitives.signed_gram(v, values(fn, w, eps, xp=xp), xp=xp, out=out)
    return y, w, v if vectors else None


def spectral_vjp(w: Any, v: Any, g: Any, fn: Spectral, /, *, eps: float, xp: ModuleType) -> Any:
    """Daleckii–Krein: ``dA = V [f^{[1]}(w_i, w_j) (V^H sym(G) V)_ij] V^H`` (symmetric; also the JVP)."""
    k = divided_differences(fn, w, eps, xp=xp)

    def hadamard(gh: Any) -> Any:
        gh *= xp.astype(k, gh.dtype, copy=False)  # (in place where the array allows: one temporary fewer)
        return gh

    # sym(V [K o (V^H G V)] V^H) = V [K o (V^H sym(G) V)] V^H for symmetric K: sym(G) and both products by
    # halves where they split, else one sym pass of the result (in place, in a product's own temporary)
    return primitives.hermitian_congruence(v, g, xp=xp, scale=hadamard)


spectral_jvp = spectral_vjp  # the Fréchet derivative of a spectral function is self-adjoint


# --- second order ------------------------------------------------------------------------------------------

_SERIES_TERMS = 24  # terms of the Taylor series of f[a, b, c] about the middle value b (module docstring)
_SERIES_SPREAD = {"power": 0.1, "log": 0.1, "exp": 1.0}  # (a - c) / b below it (exp: a - c), the series is used


def _steep2(fn: Spectral) -> bool:
    """Infinite second derivative at 0 (log, ``x^p`` with ``p < 2`` not 0 or 1): floored eigenvalues."""
    return fn.kind == "log" or (fn.kind == "power" and fn.p < 2 and fn.p not in (0.0, 1.0))


def _dd1(fn: Spectral, x: Any, y: Any, /, *, xp: ModuleType) -> Any:
    """:math:`f^{[1]}(x, y)` elementwise for ``x >= y >= 0`` (``y > 0`` for log), as :func:`divided_differences`."""
    one = xp.ones_like(x)
    if fn.kind == "exp":
        d = x - y
        tie = d == 0
        ds = xp.where(tie, one, d)
        return xp.exp(x) * xp.where(tie, one, -xp.expm1(-ds) / ds)
    xs = xp.where(x > 0, x, one)
    v = (x - y) / xs
    tie = v == 0
    vs = xp.where(tie, one, v)
    ratio = xp.where(y > 0, y / xs, one)
    big_l = xp.where(vs < 0.5, xp.log1p(-xp.minimum(vs, xp.full_like(vs, 0.5))), xp.log(ratio))
    if fn.kind == "log":
        return xp.where(tie, one, -big_l / vs) / xs
    p = fn.p
    h = xp.where(y > 0, -xp.expm1(p * big_l), one)
    q = xp.where(tie, xp.full_like(x, p), h / vs)
    base = xp.where(x > 0, xs ** (p - 1.0), xp.zeros_like(x) if p > 1 else one)
    return base * q


def _series_coefficients(fn: Spectral) -> list[float]:
    """``c_m`` with ``f^(m)(b) / m! = c_m b^{?}`` for ``m = 2 .. 2 + _SERIES_TERMS - 1`` (scale factor apart)."""
    out, c = [], 1.0
    for m in range(2, 2 + _SERIES_TERMS):
        if fn.kind == "power":
            if m == 2:
                c = fn.p * (fn.p - 1.0) / 2.0
            else:
                c *= (fn.p - m + 1.0) / m  # binom(p, m)
            out.append(c)
        elif fn.kind == "log":
            out.append((-1.0) ** (m - 1) / m)
        else:
            out.append(1.0 / math.factorial(m))
    return out


def second_divided_differences(fn: Spectral, w: Any, eps: float, /, *, xp: ModuleType) -> Any:
    r"""The symmetric tensor :math:`f^{[2]}(w_i, w_k, w_j)` of shape ``(..., n, n, n)`` (index order ``i, k, j``).

    With ``a >= b >= c`` the sorted triple: if the spread is small (``a - c <= 0.1 b`` for ``log``/``x^p``,
    ``a - c <= 1`` for ``exp``), the Taylor series about the middle value ``b``,
    :math:`f^{[2]} = \sum_{m \ge 2} \frac{f^{(m)}(b)}{m!} h_{m-2}(a - b, c - b)` (``h_k`` the complete homogeneous
    symmetric polynomial, 24 terms: truncation below ``1e-20`` relatively), which contains no difference of
    function values and equals :math:`f''(b)/2` at a triple tie; otherwise
    :math:`(f^{[1]}(a, b) - f^{[1]}(b, c)) / (a - c)` with the stable first differences, where the spread bounds
    the cancellation to about ``1/0.1`` (``x^p``: ``1/(0.1 |p - 1|)``) units of roundoff. Both forms are accurate
    on both sides of the switch, so the result is continuous to rounding (no threshold approximation).
    """
    w = _clamped(fn, w, eps, steep=_steep2(fn), xp=xp)
    return _f2(fn, w[..., :, None, None], w[..., None, :, None], w[..., None, None, :], xp=xp)


def pair_second_differences(fn: Spectral, w: Any, eps: float, /, *, xp: ModuleType) -> Any:
    """:math:`f^{[2]}(w_i, w_i, w_j)` of shape ``(..., n, n)``: :func:`second_divided_differences` on the pairs
    only (same clamping, same series near ties), ``n^2`` memory."""
    w = _clamped(fn, w, eps, steep=_steep2(fn), xp=xp)
    return _f2(fn, w[..., :, None], w[..., :, None], w[..., None, :], xp=xp)


def _f2(fn: Spectral, x: Any, y: Any, z: Any, /, *, xp: ModuleType) -> Any:
    """:math:`f^{[2]}(x, y, z)` elementwise on broadcastable (clamped) eigenvalues."""
    x, y, z = x + 0 * (y + z), y + 0 * (x + z), z + 0 * (x + y)  # broadcast to one shape
    if fn.kind == "power" and fn.p in (0.0, 1.0):
        return xp.zeros_like(x)
    if fn.kind == "power" and fn.p == 2.0:
        return xp.ones_like(x)
    a = xp.maximum(xp.maximum(x, y), z)
    c = xp.minimum(xp.minimum(x, y), z)
    b = xp.maximum(xp.minimum(x, y), xp.minimum(xp.maximum(x, y), z))
    one = xp.ones_like(a)
    spread = a - c
    if fn.kind == "exp":
        near = spread <= _SERIES_SPREAD["exp"]
        u1, u2, scale = a - b, c - b, xp.exp(b)
    else:
        near = spread <= _SERIES_SPREAD[fn.kind] * b
        bs = xp.where(b > 0, b, one)
        u1, u2 = xp.where(near, (a - b) / bs, 0 * a), xp.where(near, (c - b) / bs, 0 * a)
        scale = bs ** (fn.p - 2.0) if fn.kind == "power" else 1.0 / (bs * bs)
    # series: sum_m c_m h_{m-2}(u1, u2), h_k = u1 h_{k-1} + u2^k
    coef = _series_coefficients(fn)
    h, u2k, total = one, one, coef[0] * one
    for cm in coef[1:]:
        u2k = u2k * u2
        h = u1 * h + u2k
        total = total + cm * h
    series = scale * total
    far_den = xp.where(near, one, spread)
    direct = (_dd1(fn, a, b, xp=xp) - _dd1(fn, b, c, xp=xp)) / far_den
    if fn.kind == "power" and fn.p > 2:  # f''(0) = 0: a tie at 0 (b = 0 with a = c) is "near" with scale 0
        series = xp.where(b > 0, series, xp.zeros_like(series))
    return xp.where(near, series, direct)


def spectral_second(w: Any, v: Any, e: Any, h: Any, fn: Spectral, /, *, eps: float, xp: ModuleType) -> Any:
    r"""Second-order Daleckii–Krein: the derivative in ``A`` along ``H`` of ``E -> spectral_vjp(w, v, E)``,

    .. math:: V \Big[ \sum_k f^{[2]}(w_i, w_k, w_j) (\hat E_{ik} \hat H_{kj} + \hat H_{ik} \hat E_{kj}) \Big] V^H,

    symmetric in ``E``, ``H`` and (through the Frobenius product) the upstream gradient: it is also the VJP in
    ``A`` of the first-order map with upstream ``H``.

    Never forms the ``(n, n, n)`` tensor of :func:`second_divided_differences` (``n`` times the memory of the
    first order: 75-97x at n = 64 measured): for a pair ``(i, k)`` further apart than ``sqrt(eps)`` (relatively;
    absolutely for ``exp``) :math:`f^{[2]}(w_i, w_k, w_j) = (F_{ij} - F_{kj}) / (w_i - w_k)` with
    :math:`F = f^{[1]}`, so the sum over those ``k`` is :math:`F \circ (P \hat H) - P (F \circ \hat H)`,
    :math:`P_{ik} = \hat E_{ik} / (w_i - w_k)`; a close pair (the diagonal included) takes
    :math:`f^{[2]}(w_i, w_i, w_j)` (:func:`pair_second_differences`, exact at ties, ``O(gap)`` within
    ``sqrt(eps)``): :math:`G \circ (C \hat H)`, ``C`` the close entries of :math:`\hat E`. The cancellation in
    the far differences and the gap of the close ones each cost at most ``sqrt(eps)`` relatively (the rule of
    the JAX glue). ``n^2`` memory, 10 matrix products."""
    vh = primitives.mH(v)
    eh = (vh @ primitives.sym(e)) @ v
    hh = (vh @ primitives.sym(h)) @ v
    f1 = xp.astype(divided_differences(fn, w, eps, xp=xp), eh.dtype, copy=False)
    g2 = xp.astype(pair_second_differences(fn, w, eps, xp=xp), eh.dtype, copy=False)
    wf = _clamped(fn, w, eps, steep=fn.steep, xp=xp)  # the eigenvalues of F's differences
    d = wf[..., :, None] - wf[..., None, :]
    scale = 1.0 if fn.kind == "exp" else xp.maximum(xp.abs(wf[..., :, None]), xp.abs(wf[..., None, :]))
    close = xp.abs(d) <= math.sqrt(eps) * scale
    inv = xp.astype(xp.where(close, xp.zeros_like(d), 1.0 / xp.where(close, xp.ones_like(d), d)), eh.dtype)
    zero = xp.zeros_like(eh)
    m = None
    for a_, b_ in ((eh, hh), (hh, eh)):
        pa = a_ * inv
        term = f1 * (pa @ b_) - pa @ (f1 * b_) + g2 * (xp.where(close, a_, zero) @ b_)
        m = term if m is None else m + term
    return primitives.sym((v @ m) @ vh)
