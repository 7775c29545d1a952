r"""SPD (HPD) geometry: :func:`distance_riemann`, :func:`distance_logeuclid`, :func:`geodesic_riemann` and their
manual VJPs.

Names and conventions follow pyRiemann (``pyriemann.utils.distance.distance_riemann(A, B, squared=False)``,
``distance_logeuclid``, ``pyriemann.utils.geodesic.geodesic_riemann(A, B, alpha=0.5)``). Everything is a
composition of the public :func:`matfunc.sqrtm`, :func:`matfunc.inv_sqrtm`, :func:`matfunc.powm`,
:func:`matfunc.logm` (and :func:`matfunc.expm`), so PyTorch and JAX differentiate through their backward rules,
Dask maps them chunk by chunk, and the ``*_vjp`` entries chain their manual VJPs (docs/derivations/geometry.md).

One path (``_prepare``): validate both arguments, get the namespace once, broadcast the batch shapes, promote
the dtypes (half precision computed in float32), check both inputs positive definite on concrete arrays, then
compose. ``method`` picks the methods of the pieces: ``"eig"`` everywhere, or matrix products only
(``"newton-schulz"``: Newton–Schulz roots, inverse scaling and squaring ``logm``); ``"auto"`` is ``"eig"``
in host memory and matrix products on accelerators, the rule of :func:`matfunc.sqrtm`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import _compat, _validation
from ._errors import SingularMatrixError
from ._family import static_real
from .core import coefficients
from .core.options import DEFAULT_SCHEDULE, default_ns_iters, option_name
from .core.primitives import abs2, sum_to, sym
from .core.root_schedules import root_iters

__all__ = [
    "distance_riemann",
    "distance_logeuclid",
    "geodesic_riemann",
    "distance_riemann_vjp",
    "distance_logeuclid_vjp",
    "geodesic_riemann_vjp",
    "mean_riemann",
]

_METHODS = ("auto", "eig", "newton-schulz")
_ALIASES = {"ns": "newton-schulz", "eigh": "eig"}


class _Call(NamedTuple):
    """One resolved call: namespace, inputs in the compute dtype, result dtype, batch shape, methods, checks."""

    xp: Any
    a: Any
    b: Any
    dtype: Any  # the promoted input dtype (the result's, or its real counterpart for distances)
    batch: tuple[int, ...]
    method: str  # "eig" or "newton-schulz"
    check: bool  # value checks of the pieces (their result checks; the inputs are checked here)
    eps: float
    mine: bool  # whether the checks made here run (concrete arrays, check=True)
    max_cond: float  # "newton-schulz": the condition number the matrix-product pieces cover


# --- preparation -------------------------------------------------------------------------------------------


def _method(method: object, name: str, *, on_cpu: bool) -> str:
    m = option_name(method, "method")
    m = _ALIASES.get(m, m)
    if m not in _METHODS:
        raise ValueError(f"{name}: unknown method {method!r}; expected one of {_METHODS}")
    if m == "auto":
        return "eig" if on_cpu else "newton-schulz"
    return m


def _check_spd(x: Any, /, *, name: str, eps: float, xp: Any) -> None:
    """Finite, symmetric (Hermitian) and positive definite to working precision, naming the argument."""
    v = _compat.values(x)
    with _compat.quiet(xp, v):
        d = _compat_real_diagonal(v, xp)
        bad = xp.min(d, axis=-1) < -_validation.symmetry_rtol(v.shape[-1], eps) * xp.max(xp.abs(d), axis=-1)
        if bool(xp.any(bad)):  # n reads: a negative diagonal entry proves a negative eigenvalue
            raise ValueError(
                f"{name} expects positive definite matrices (the affine-invariant geometry and the logarithm need "
                f"positive eigenvalues); {_validation._first_bad(bad, xp=xp, shape=tuple(v.shape[:-2]))} has a "
                "negative diagonal entry, so it has a negative eigenvalue. Project it onto the cone (clip "
                "eigenvalues to a small positive floor) or add a ridge."
            )
        _validation.check_values(v, name=name, eps=eps, xp=xp)
        try:
            _validation.check_nonsingular(v, name=name, eps=eps, xp=xp)
        except SingularMatrixError as exc:
            raise SingularMatrixError(
                str(exc).replace(
                    "its inverse square root is not defined",
                    "the geometry of positive definite matrices is not defined there (log 0)",
                )
            ) from None


def _compat_real_diagonal(v: Any, xp: Any) -> Any:
    from .core.primitives import real

    return real(xp.linalg.diagonal(v), xp=xp)


def _max_cond(max_cond: object, method: str, eps: float) -> float:
    covered = coefficients.ns_condition_covered(default_ns_iters(eps), eps)  # logm/sqrtm's defaults
    if max_cond is None:
        return covered
    if method != "newton-schulz":
        raise ValueError(f"max_cond applies to method='newton-schulz' (matrix products), not {method!r}")
    v = static_real(max_cond, "max_cond")
    if not (math.isfinite(v) and v >= 1.0):
        raise ValueError(f"max_cond must be a finite number >= 1, got {max_cond!r}")
    return v


def _check_cond(x: Any, c: _Call, *, name: str, what: str) -> None:
    """``"newton-schulz"``: the matrix whose root/logarithm/power the product methods take has a condition number
    within ``c.max_cond`` (their covered range; beyond it they lose the small eigenvalues silently, and the
    pieces' normwise residuals do not see it). One Cholesky of ``x - (u / max_cond) I``, ``u >= lambda_max``
    the spectral bound of :func:`matfunc.core.scaling.normalize` (at most ``n^(1/16)`` too large)."""
    if not c.mine or c.method != "newton-schulz":
        return
    v = _compat.values(x)
    with _compat.quiet(c.xp, v):
        _validation.check_condition(
            v, max_cond=c.max_cond, head=f"{name}(method='newton-schulz'): {what} of", remedy="method='eig'.", xp=c.xp
        )


def _prepare(a: Any, b: Any, /, *, name: str, method: object, check: bool, max_cond: object = None) -> _Call:
    """``b=None``: one argument (``mean_riemann``), reported without the ``(a)``."""
    if b is None:
        a = _validation.as_array(a)
        xp = _compat.array_namespace(a)
        _validation.check_static(a, name=name, xp=xp)
        ctype = _validation.compute_dtype(a.dtype, xp=xp)
        eps = float(xp.finfo(ctype).eps)
        dask = _compat.backend_name(xp) == "dask"
        m = _method(method, name, on_cpu=dask or _compat.is_cpu(a))
        dtype = a.dtype
        a = _cast(a, ctype, xp)
        mine = check and not dask and _compat.is_concrete(a) and 0 not in a.shape
        if mine:
            _check_spd(a, name=name, eps=eps, xp=xp)
        return _Call(
            xp=xp,
            a=a,
            b=a,
            dtype=dtype,
            batch=(),
            method=m,
            check=check and (dask or m != "eig"),
            eps=eps,
            mine=mine,
            max_cond=_max_cond(max_cond, m, eps),
        )
    a, b = _validation.as_array(a), _validation.as_array(b)
    try:
        xp = _compat.array_namespace(a, b)
    except TypeError:
        raise TypeError(
            f"{name}: a and b must be arrays of the same library, got {type(a).__name__} and {type(b).__name__}; "
            "convert one of them"
        ) from None
    _validation.check_static(a, name=f"{name} (a)", xp=xp)
    _validation.check_static(b, name=f"{name} (b)", xp=xp)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{name}: a and b must hold matrices of the same size, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    try:
        batch = tuple(np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    except ValueError:
        raise ValueError(
            f"{name}: the batch shapes of a {tuple(a.shape[:-2])} and b {tuple(b.shape[:-2])} do not broadcast"
        ) from None
    dtype = xp.result_type(a.dtype, b.dtype)
    ctype = _validation.compute_dtype(dtype, xp=xp)
    eps = float(xp.finfo(ctype).eps)
    dask = _compat.backend_name(xp) == "dask"
    m = _method(method, name, on_cpu=dask or _compat.is_cpu(a))
    a, b = _cast(a, ctype, xp), _cast(b, ctype, xp)
    mine = check and not dask and _compat.is_concrete(a, b) and 0 not in a.shape and 0 not in b.shape
    if mine:
        _check_spd(a, name=f"{name} (a)", eps=eps, xp=xp)
        _check_spd(b, name=f"{name} (b)", eps=eps, xp=xp)
    # The pieces check their own results where that adds something (the residuals of the matrix-product
    # methods; Dask checks chunk by chunk, lazily); after "eig" the inputs' checks above suffice.
    inner = check and (dask or m != "eig")
    return _Call(
        xp=xp,
        a=a,
        b=b,
        dtype=dtype,
        batch=batch,
        method=m,
        check=inner,
        eps=eps,
        mine=mine,
        max_cond=_max_cond(max_cond, m, eps),
    )


def _cast(x: Any, dtype: Any, xp: Any) -> Any:
    return xp.astype(x, dtype) if x.dtype != dtype else x


def _real_dtype(dtype: Any, xp: Any) -> Any:
    if not xp.isdtype(dtype, "complex floating"):
        return dtype
    if dtype == xp.complex64:
        return xp.float32
    return xp.float64 if dtype == xp.complex128 else getattr(xp, "float16", xp.float32)  # torch's complex32


def _empty(c: _Call, shape: tuple[int, ...], dtype: Any) -> Any:
    return c.xp.zeros(shape, dtype=dtype, device=_compat.device(c.a))


def _is_empty(c: _Call) -> bool:
    """Nothing to compute: an empty batch, or 0 x 0 matrices."""
    return 0 in c.batch or c.a.shape[-1] == 0


def _zero_vjp(c: _Call) -> Callable[[Any], tuple[Any, Any]]:
    """The VJP of an empty call: zero gradients of both (broadcast) inputs."""
    xp = c.xp
    return lambda g: (_cast(xp.zeros_like(c.a), c.dtype, xp), _cast(xp.zeros_like(c.b), c.dtype, xp))


def _piece(fn: Callable[..., Any], *args: Any, name: str, what: str, **kw: Any) -> Any:
    """``fn(*args, **kw)`` (a public matfunc function), its errors prefixed with where they came from."""
    try:
        return fn(*args, **kw)
    except ValueError as exc:
        raise type(exc)(f"{name}: {what}: {exc}") from exc


def _alpha(alpha: object) -> float:
    v = static_real(alpha, "geodesic_riemann: alpha")
    if not math.isfinite(v):
        raise ValueError(f"geodesic_riemann: alpha must be finite, got {alpha!r}")
    return v


def _squared(squared: object, name: str) -> bool:
    if not isinstance(squared, (bool, np.bool_)):
        raise TypeError(f"{name}: squared must be True or False, got {squared!r}")
    return bool(squared)


# --- the pieces (with their VJP closures when asked) -------------------------------------------------------


def _roots(c: _Call, *, name: str, inverse_only: bool, vjp: bool) -> tuple[Any, ...]:
    """``a^{-1/2}`` (and ``a^{1/2}``), by the call's method; with ``vjp``, each with its VJP closure."""
    from ._api import inv_sqrtm, inv_sqrtm_vjp, sqrtm, sqrtm_vjp

    kw: dict[str, Any] = dict(method=c.method, check=c.check)
    if c.method == "newton-schulz":
        kw["num_iters"] = _steps(c)
        _check_cond(c.a, c, name=name, what="a")
    w = _piece(inv_sqrtm_vjp if vjp else inv_sqrtm, c.a, name=name, what="inv_sqrtm(a)", **kw)
    if inverse_only:
        return (w,)
    s = _piece(sqrtm_vjp if vjp else sqrtm, c.a, name=name, what="sqrtm(a)", **kw)
    return w, s


def _logm(x: Any, c: _Call, *, name: str, what: str, vjp: bool) -> Any:
    from ._family import logm, logm_vjp

    kw: dict[str, Any] = dict(method="eig") if c.method == "eig" else dict(method="iss", max_cond=c.max_cond)
    return _piece(logm_vjp if vjp else logm, x, name=name, what=what, check=c.check, **kw)


def _steps(c: _Call) -> int:
    return root_iters(DEFAULT_SCHEDULE, c.max_cond, c.eps)  # steps of sqrtm's default schedule


def _dyadic(p: float) -> bool:
    from ._family import _dyadic as dyadic

    return dyadic(p) is not None


def _power(m: Any, alpha: float, c: _Call, *, name: str, vjp: bool) -> Any:
    """``m^alpha``: ``powm`` by "eig" or, products only, Newton–Schulz chains for ``alpha = +-1/2^k`` and
    ``expm(alpha logm(m))`` (inverse scaling and squaring, then scaling and squaring) otherwise."""
    from ._family import expm, expm_vjp, powm, powm_vjp

    what = f"powm(a^(-1/2) b a^(-1/2), {alpha:g})"
    if c.method == "eig" or _dyadic(alpha):
        kw = {} if c.method == "eig" else {"num_iters": _steps(c)}
        return _piece(powm_vjp if vjp else powm, m, alpha, name=name, what=what, method=c.method, check=c.check, **kw)
    if not vjp:
        return _piece(
            expm,
            alpha * _logm(m, c, name=name, what=what, vjp=False),
            name=name,
            what=what,
            method="taylor",
            check=c.check,
        )
    lm, back_l = _logm(m, c, name=name, what=what, vjp=True)
    p, back_e = _piece(expm_vjp, alpha * lm, name=name, what=what, method="taylor", check=c.check)
    return p, lambda g: back_l(alpha * back_e(g))


def _sandwich(w: Any, b: Any) -> Any:
    """``w b w`` for Hermitian ``w``, as a Hermitian matrix (batch shapes broadcast)."""
    return sym(w @ b @ w)


def _sqnorm(x: Any, xp: Any) -> Any:
    return xp.sum(abs2(x, xp=xp), axis=(-2, -1))


def _safe_sqrt(d2: Any, xp: Any) -> Any:
    """``sqrt(d2)`` whose derivative at 0 is 0 (a subgradient), as for norms in PyTorch and JAX, not NaN/Inf."""
    pos = d2 > 0
    return xp.where(pos, xp.sqrt(xp.where(pos, d2, xp.ones_like(d2))), xp.zeros_like(d2))


def _check_cotangent(g: Any, shape: tuple[int, ...], name: str) -> None:
    if tuple(g.shape) != shape:
        raise ValueError(f"{name}_vjp: the cotangent must have the output's shape {shape}, got {tuple(g.shape)}")


def _same(c: _Call) -> Any:
    """Where ``a`` and ``b`` are the same matrix bitwise: the distance is exactly 0 there, with gradient 0
    (rounding would otherwise leave ``O(eps cond)`` and a gradient of unit size in a rounding direction)."""
    return c.xp.all(c.a == c.b, axis=(-2, -1))


def _finish_distance(d2: Any, c: _Call, squared: bool) -> Any:
    xp = c.xp
    d2 = xp.where(_same(c), xp.zeros_like(d2), d2)
    d = d2 if squared else _safe_sqrt(d2, xp)
    return _cast(d, _real_dtype(c.dtype, xp), xp)


def _d2_cotangent(g: Any, d2: Any, c: _Call, squared: bool) -> Any:
    """The cotangent of ``d^2`` from that of the result (zero where ``d = 0`` for the non-squared distance, and
    where ``a`` and ``b`` are the same matrix)."""
    xp = c.xp
    g = _cast(g, d2.dtype, xp)
    zero = xp.zeros_like(d2)
    d2 = xp.where(_same(c), zero, d2)
    if not squared:
        d = _safe_sqrt(d2, xp)
        g = xp.where(d > 0, g / (2.0 * xp.where(d > 0, d, xp.ones_like(d))), zero)
    return xp.where(_same(c), zero, g)


# --- public functions --------------------------------------------------------------------------------------


def distance_riemann(
    a: Any, b: Any, /, *, squared: bool = False, method: str = "auto", max_cond: float | None = None, check: bool = True
) -> Any:
    r"""Affine-invariant Riemannian distance between symmetric (Hermitian) positive definite matrices.

    .. math::

        d_R(A, B) = \big\|\log\big(A^{-1/2} B A^{-1/2}\big)\big\|_F
                  = \Big(\sum_i \log^2 \lambda_i(A^{-1} B)\Big)^{1/2}

    the length of the geodesic from ``a`` to ``b`` in the affine-invariant (Fisher–Rao) metric: symmetric,
    and invariant under congruence :math:`A \mapsto C A C^H` (any invertible ``C``) and inversion
    (pyRiemann's ``distance_riemann``; geomstats' ``SPDAffineMetric.dist``). Computed through the Hermitian
    product :math:`A^{-1/2} B A^{-1/2}` (:func:`inv_sqrtm`, then :func:`logm`), never the non-symmetric
    :math:`A^{-1} B`.

    Parameters
    ----------
    a, b : arrays of shape (..., n, n)
        Positive definite matrices of one array library; their batch shapes broadcast. The functions of their
        Hermitian parts are computed. Real or complex (Hermitian positive definite).
    squared : bool, optional
        Return :math:`d_R^2` (smooth everywhere). The non-squared distance has an infinite derivative at
        ``a == b``; its gradient there is defined as 0 (a subgradient), as PyTorch and JAX do for norms.
    method : {"auto", "eig", "newton-schulz"}, optional
        ``"eig"``: eigendecompositions. ``"newton-schulz"``: matrix products only (Newton–Schulz
        :func:`inv_sqrtm`, ``logm(method="iss")``). ``"auto"``: ``"eig"`` in host memory, ``"newton-schulz"``
        on accelerators.
    max_cond : float, optional
        ``"newton-schulz"``: the condition number its matrix-product pieces cover (default that of
        :func:`sqrtm`'s Newton–Schulz default, 1.55e8 in float64, 1.9e5 in float32): the steps of the roots and
        ``logm``'s ``max_cond``. What matters is the condition number of ``a`` and of
        :math:`A^{-1/2} B A^{-1/2}` (up to :math:`\kappa(A)\kappa(B)`); ``check=True`` tests it (one Cholesky)
        and raises with the value to pass.
    check : bool, optional
        On concrete arrays: both inputs finite, Hermitian and positive definite (errors name ``a`` or ``b``
        and the offending matrix), and the pieces' residual checks of ``"newton-schulz"``.

    Returns
    -------
    array of shape (...)
        The broadcast batch shape; real, of the (promoted) input's precision.

    See Also
    --------
    distance_logeuclid, geodesic_riemann, distance_riemann_vjp

    References
    ----------
    R. Bhatia, *Positive Definite Matrices*, Princeton University Press, 2007, ch. 6. M. Moakher, "A
    differential geometric approach to the geometric mean of symmetric positive-definite matrices", SIAM J.
    Matrix Anal. Appl. 26(3), 2005.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a, b = np.diag([1.0, 2.0]), np.diag([np.e, 2.0 * np.e**2])
    >>> round(float(matfunc.distance_riemann(a, b)), 12)           # sqrt(1^2 + 2^2)
    2.2360679775
    >>> round(float(matfunc.distance_riemann(a, b, squared=True)), 12)
    5.0
    >>> c = np.array([[2.0, 1.0], [0.0, 1.0]])                       # invariant under a -> c a c^T
    >>> round(float(matfunc.distance_riemann(c @ a @ c.T, c @ b @ c.T)), 12)
    2.2360679775
    """
    name = "distance_riemann"
    squared = _squared(squared, name)
    c = _prepare(a, b, name=name, method=method, check=check, max_cond=max_cond)
    if _is_empty(c):
        return _empty(c, c.batch, _real_dtype(c.dtype, c.xp))
    with _compat.quiet(c.xp, c.a):
        (w,) = _roots(c, name=name, inverse_only=True, vjp=False)
        m = _sandwich(w, c.b)
        _check_cond(m, c, name=name, what="a^(-1/2) b a^(-1/2)")
        lm = _logm(m, c, name=name, what="logm(a^(-1/2) b a^(-1/2))", vjp=False)
        return _finish_distance(_sqnorm(lm, c.xp), c, squared)


def distance_logeuclid(
    a: Any, b: Any, /, *, squared: bool = False, method: str = "auto", max_cond: float | None = None, check: bool = True
) -> Any:
    r"""Log-Euclidean distance between symmetric (Hermitian) positive definite matrices.

    .. math::

        d_{LE}(A, B) = \|\log A - \log B\|_F

    (pyRiemann's ``distance_logeuclid``; Arsigny et al. 2007): the Euclidean distance after :func:`logm`,
    invariant under similarity :math:`A \mapsto Q A Q^H` (unitary ``Q``) and inversion, not under general
    congruence. It equals :func:`distance_riemann` for commuting ``a`` and ``b``.

    Parameters
    ----------
    a, b : arrays of shape (..., n, n)
        Positive definite matrices; batch shapes broadcast.
    squared : bool, optional
        Return :math:`d_{LE}^2`; the gradient of the non-squared distance at ``a == b`` is 0.
    method : {"auto", "eig", "newton-schulz"}, optional
        ``"eig"``: ``logm(method="eig")``; ``"newton-schulz"``: ``logm(method="iss")`` (products and Cholesky
        solves only). ``"auto"``: ``"eig"`` in host memory, ``"newton-schulz"`` on accelerators.
    max_cond : float, optional
        ``"newton-schulz"``: the condition number of ``a`` and ``b`` that ``logm(method="iss")`` covers (default
        1.55e8 in float64, 1.9e5 in float32); ``check=True`` tests it.
    check : bool, optional
        As in :func:`distance_riemann`.

    Returns
    -------
    array of shape (...)
        Real, of the (promoted) input's precision.

    References
    ----------
    V. Arsigny, P. Fillard, X. Pennec, N. Ayache, "Geometric means in a novel vector space structure on
    symmetric positive-definite matrices", SIAM J. Matrix Anal. Appl. 29(1), 2007.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a, b = np.eye(2), np.diag([np.e, np.e**2])
    >>> round(float(matfunc.distance_logeuclid(a, b, squared=True)), 12)
    5.0
    """
    name = "distance_logeuclid"
    squared = _squared(squared, name)
    c = _prepare(a, b, name=name, method=method, check=check, max_cond=max_cond)
    if _is_empty(c):
        return _empty(c, c.batch, _real_dtype(c.dtype, c.xp))
    with _compat.quiet(c.xp, c.a):
        _check_cond(c.a, c, name=name, what="a")
        _check_cond(c.b, c, name=name, what="b")
        la = _logm(c.a, c, name=name, what="logm(a)", vjp=False)
        lb = _logm(c.b, c, name=name, what="logm(b)", vjp=False)
        return _finish_distance(_sqnorm(la - lb, c.xp), c, squared)


def geodesic_riemann(
    a: Any, b: Any, /, alpha: float = 0.5, *, method: str = "auto", max_cond: float | None = None, check: bool = True
) -> Any:
    r"""Point at ``alpha`` on the affine-invariant geodesic from ``a`` to ``b``; the geometric mean at 1/2.

    .. math::

        A \#_\alpha B = A^{1/2} \big(A^{-1/2} B A^{-1/2}\big)^\alpha A^{1/2}

    ``alpha = 0`` gives ``a``, ``alpha = 1`` gives ``b``, other values interpolate (or extrapolate) along the
    geodesic, at distance :math:`|\alpha|\, d_R(A, B)` from ``a`` (pyRiemann's ``geodesic_riemann(A, B,
    alpha=0.5)``). ``alpha = 1/2`` is the matrix geometric mean :math:`A \# B` (Pusz–Woronowicz, Ando): the
    unique positive definite solution of :math:`X A^{-1} X = B`, equal to :math:`B \# A`, and
    :math:`(AB)^{1/2}` when ``a`` and ``b`` commute. The result is symmetrised (Hermitian) and positive
    definite.

    Parameters
    ----------
    a, b : arrays of shape (..., n, n)
        Positive definite matrices; batch shapes broadcast.
    alpha : float, optional
        Position along the geodesic (default 0.5, the geometric mean).
    method : {"auto", "eig", "newton-schulz"}, optional
        ``"eig"``: eigendecompositions (:func:`sqrtm`, :func:`inv_sqrtm`, :func:`powm`). ``"newton-schulz"``:
        matrix products only: Newton–Schulz roots, ``powm(method="newton-schulz")`` for
        ``alpha = ±1/2^k`` and ``expm(alpha * logm(.))`` (inverse scaling and squaring, then scaling and
        squaring) for other ``alpha``. ``"auto"``: ``"eig"`` in host memory, ``"newton-schulz"`` on
        accelerators.
    max_cond : float, optional
        As in :func:`distance_riemann`.
    check : bool, optional
        As in :func:`distance_riemann`.

    Returns
    -------
    array of shape (..., n, n)
        The broadcast batch shape, the promoted dtype of ``a`` and ``b`` (half precision computed in float32).

    References
    ----------
    R. Bhatia, *Positive Definite Matrices*, Princeton University Press, 2007, ch. 4 and 6. T. Ando, C.-K. Li,
    R. Mathias, "Geometric means", Linear Algebra Appl. 385, 2004.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a, b = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    >>> matfunc.geodesic_riemann(a, b)                   # commuting: (a b)^(1/2)
    array([[3., 0.],
           [0., 2.]])
    >>> a = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> m = matfunc.geodesic_riemann(a, b)
    >>> bool(np.allclose(m @ np.linalg.solve(a, m), b))  # X a^-1 X = b
    True
    >>> bool(np.allclose(m, matfunc.geodesic_riemann(b, a)))
    True
    """
    name = "geodesic_riemann"
    alpha = _alpha(alpha)
    c = _prepare(a, b, name=name, method=method, check=check, max_cond=max_cond)
    n = c.a.shape[-1]
    if _is_empty(c):
        return _empty(c, (*c.batch, n, n), c.dtype)
    with _compat.quiet(c.xp, c.a):
        w, s = _roots(c, name=name, inverse_only=False, vjp=False)
        m = _sandwich(w, c.b)
        _check_cond(m, c, name=name, what="a^(-1/2) b a^(-1/2)")
        p = _power(m, alpha, c, name=name, vjp=False)
        return _cast(_sandwich(s, p), c.dtype, c.xp)


# --- manual VJPs (NumPy, CuPy, array-api-strict, Dask) -----------------------------------------------------


def distance_riemann_vjp(
    a: Any, b: Any, /, *, squared: bool = False, method: str = "auto", max_cond: float | None = None, check: bool = True
) -> tuple[Any, Any]:
    r"""Affine-invariant distance and its vector-Jacobian product.

    Returns ``d`` and a function mapping an upstream gradient ``g`` of shape ``d.shape`` to the pair
    ``(da, db)`` of gradients with respect to ``a`` and ``b`` (each of its argument's shape: summed over
    broadcast batch axes), for arrays without automatic differentiation. Options are those of
    :func:`distance_riemann`. The backward chains :func:`inv_sqrtm_vjp` and :func:`logm_vjp`
    (docs/derivations/geometry.md); after ``method="eig"`` it is exact, the gradients of :math:`d_R^2` being

    .. math::

        \frac{\partial d_R^2}{\partial B} = 2 B^{-1} \log(B A^{-1}), \qquad
        \frac{\partial d_R^2}{\partial A} = 2 A^{-1} \log(A B^{-1}).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a, b = np.eye(2), np.diag([np.e, np.e**2])
    >>> d2, vjp = matfunc.distance_riemann_vjp(a, b, squared=True)
    >>> da, db = vjp(np.ones(()))
    >>> bool(np.allclose(db, np.diag([2 / np.e, 4 / np.e**2])))   # d/db sum log^2 b_ii = 2 log(b_ii) / b_ii
    True
    >>> bool(np.allclose(da, np.diag([-2.0, -4.0])))
    True
    """
    name = "distance_riemann"
    squared = _squared(squared, name)
    c = _prepare(a, b, name=name, method=method, check=check, max_cond=max_cond)
    shape_a, shape_b = tuple(c.a.shape), tuple(c.b.shape)
    xp = c.xp
    if _is_empty(c):
        d = _empty(c, c.batch, _real_dtype(c.dtype, xp))
        return d, _zero_vjp(c)
    bs = sym(c.b)
    with _compat.quiet(xp, c.a):
        (w_and_back,) = _roots(c, name=name, inverse_only=True, vjp=True)
        w, back_w = w_and_back
        m = _sandwich(w, bs)
        _check_cond(m, c, name=name, what="a^(-1/2) b a^(-1/2)")
        lm, back_m = _logm(m, c, name=name, what="logm(a^(-1/2) b a^(-1/2))", vjp=True)
        d2 = _sqnorm(lm, xp)
    out = _finish_distance(d2, c, squared)

    def vjp(g: Any) -> tuple[Any, Any]:
        _check_cotangent(g, c.batch, name)
        with _compat.quiet(xp, d2):
            gd2 = _d2_cotangent(g, d2, c, squared)
            gm = back_m(2.0 * gd2[..., None, None] * lm)  # Hermitian
            gw = sym(gm @ w @ bs + bs @ w @ gm)
            da = back_w(sum_to(gw, shape_a, xp=xp))
            db = sum_to(w @ gm @ w, shape_b, xp=xp)
        return _cast(da, c.dtype, xp), _cast(sym(db), c.dtype, xp)

    return out, vjp


def distance_logeuclid_vjp(
    a: Any, b: Any, /, *, squared: bool = False, method: str = "auto", max_cond: float | None = None, check: bool = True
) -> tuple[Any, Any]:
    r"""Log-Euclidean distance and its vector-Jacobian product.

    Returns ``d`` and ``vjp(g) -> (da, db)`` as :func:`distance_riemann_vjp`; the backward is
    :func:`logm_vjp` of :math:`\pm 2 g (\log A - \log B)` (over ``2 d`` for the non-squared distance).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a, b = np.eye(2), np.diag([np.e, np.e**2])
    >>> d2, vjp = matfunc.distance_logeuclid_vjp(a, b, squared=True)
    >>> da, db = vjp(np.ones(()))
    >>> bool(np.allclose(db, np.diag([2 / np.e, 4 / np.e**2])))
    True
    """
    name = "distance_logeuclid"
    squared = _squared(squared, name)
    c = _prepare(a, b, name=name, method=method, check=check, max_cond=max_cond)
    shape_a, shape_b = tuple(c.a.shape), tuple(c.b.shape)
    xp = c.xp
    if _is_empty(c):
        d = _empty(c, c.batch, _real_dtype(c.dtype, xp))
        return d, _zero_vjp(c)
    with _compat.quiet(xp, c.a):
        _check_cond(c.a, c, name=name, what="a")
        _check_cond(c.b, c, name=name, what="b")
        la, back_a = _logm(c.a, c, name=name, what="logm(a)", vjp=True)
        lb, back_b = _logm(c.b, c, name=name, what="logm(b)", vjp=True)
        diff = la - lb
        d2 = _sqnorm(diff, xp)
    out = _finish_distance(d2, c, squared)

    def vjp(g: Any) -> tuple[Any, Any]:
        _check_cotangent(g, c.batch, name)
        with _compat.quiet(xp, d2):
            gdiff = 2.0 * _d2_cotangent(g, d2, c, squared)[..., None, None] * diff
            da = back_a(sum_to(gdiff, shape_a, xp=xp))
            db = back_b(sum_to(-gdiff, shape_b, xp=xp))
        return _cast(da, c.dtype, xp), _cast(db, c.dtype, xp)

    return out, vjp


def geodesic_riemann_vjp(
    a: Any, b: Any, /, alpha: float = 0.5, *, method: str = "auto", max_cond: float | None = None, check: bool = True
) -> tuple[Any, Any]:
    r"""Geodesic point :math:`A \#_\alpha B` and its vector-Jacobian product.

    Returns ``y`` and ``vjp(g) -> (da, db)`` (``g`` of ``y``'s shape; each gradient of its argument's shape).
    Options are those of :func:`geodesic_riemann`. The backward chains :func:`sqrtm_vjp`,
    :func:`inv_sqrtm_vjp` and :func:`powm_vjp` (or :func:`logm_vjp` and :func:`expm_vjp`)
    (docs/derivations/geometry.md).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a, b = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    >>> y, vjp = matfunc.geodesic_riemann_vjp(a, b)
    >>> da, db = vjp(np.eye(2))                  # d tr(a # b) for diagonal a, b: sqrt(b_ii / a_ii) / 2
    >>> bool(np.allclose(da, np.diag([1.5, 0.25])))
    True
    """
    name = "geodesic_riemann"
    alpha = _alpha(alpha)
    c = _prepare(a, b, name=name, method=method, check=check, max_cond=max_cond)
    shape_a, shape_b = tuple(c.a.shape), tuple(c.b.shape)
    xp = c.xp
    n = c.a.shape[-1]
    if _is_empty(c):
        y = _empty(c, (*c.batch, n, n), c.dtype)
        return y, _zero_vjp(c)
    bs = sym(c.b)
    with _compat.quiet(xp, c.a):
        (w, back_w), (s, back_s) = _roots(c, name=name, inverse_only=False, vjp=True)
        m = _sandwich(w, bs)
        _check_cond(m, c, name=name, what="a^(-1/2) b a^(-1/2)")
        p, back_p = _power(m, alpha, c, name=name, vjp=True)
        y = _sandwich(s, p)
    out_shape = (*c.batch, n, n)

    def vjp(g: Any) -> tuple[Any, Any]:
        _check_cotangent(g, out_shape, name)
        with _compat.quiet(xp, y):
            gy = sym(_cast(g, y.dtype, xp))
            gs = sym(gy @ s @ p + p @ s @ gy)
            gm = back_p(s @ gy @ s)
            gw = sym(gm @ w @ bs + bs @ w @ gm)
            da = back_s(sum_to(gs, shape_a, xp=xp)) + back_w(sum_to(gw, shape_a, xp=xp))
            db = sum_to(w @ gm @ w, shape_b, xp=xp)
        return _cast(da, c.dtype, xp), _cast(sym(db), c.dtype, xp)

    return _cast(y, c.dtype, xp), vjp


# --- the Riemannian (Karcher) mean of many matrices --------------------------------------------------------


def _weights(weights: Any, c: _Call, *, count: int, name: str) -> Any:
    """Normalised non-negative weights of shape ``(..., N, 1, 1)`` (real compute dtype), checked if concrete."""
    xp = c.xp
    rtype = _real_dtype(c.a.dtype, xp)
    if weights is None:
        return xp.full((count, 1, 1), 1.0 / count, dtype=rtype, device=_compat.device(c.a))
    w = (
        weights
        if hasattr(weights, "shape") and hasattr(weights, "dtype")
        else xp.asarray(np.asarray(weights, dtype=np.float64), device=_compat.device(c.a))
    )
    if w.ndim < 1 or w.shape[-1] != count:
        raise ValueError(f"{name}: weights must have shape (..., {count}) (one per matrix), got {tuple(w.shape)}")
    if not xp.isdtype(w.dtype, "real floating") and not xp.isdtype(w.dtype, "integral"):
        raise TypeError(f"{name}: weights must be real numbers, got dtype {w.dtype}")
    w = xp.astype(w, rtype)
    if _compat.is_concrete(w) and _compat.backend_name(xp) != "dask":
        v = _compat.values(w)
        if not bool(xp.all(xp.isfinite(v))) or bool(xp.any(v < 0)) or not bool(xp.all(xp.sum(v, axis=-1) > 0)):
            raise ValueError(f"{name}: weights must be finite and non-negative with a positive sum, got {weights!r}")
    return (w / xp.sum(w, axis=-1, keepdims=True))[..., None, None]


def _step(logs: Any, w: Any, xp: Any) -> Any:
    """Karcher step ``2 / (1 + L)``, shape ``(..., 1, 1)``: the Hessian of ``f(M) = sum_i w_i d_R^2(M, X_i) / 2``
    has its eigenvalues in ``[1, L]``, ``L = sum_i w_i phi(d_i / sqrt 2)``, ``phi(x) = x coth x`` (Hessian comparison
    with the sectional curvatures of the affine-invariant metric, within ``[-1/2, 0]``); ``2 / (1 + L)`` is the
    gradient step of the best linear rate ``(L - 1) / (L + 1)`` on that range, 1 (the plain Karcher flow) when the
    matrices are close to their mean."""
    x = xp.sqrt(_sqnorm(logs, xp) * 0.5)[..., None, None]
    small = x < 1e-4
    safe = xp.where(small, xp.ones_like(x), x)
    phi = xp.where(small, 1.0 + x * x / 3.0, safe / xp.tanh(safe))
    lip = xp.sum(w * phi, axis=-3)
    return 2.0 / (1.0 + lip)


def _tangent_norm(m: Any, xs: Any, w: Any, c: _Call, *, name: str, log_kw: dict[str, Any]) -> float:
    """``max ||T||_F``, the Karcher criterion, at the mean ``m`` (the gradient of the objective there)."""
    from ._family import logm

    xp = c.xp
    (wi,) = _roots(_Call(**{**c._asdict(), "a": m}), name=name, inverse_only=True, vjp=False)
    y = sym(wi[..., None, :, :] @ xs @ wi[..., None, :, :])
    logs = _piece(logm, y, name=name, what="logm(M^(-1/2) x_i M^(-1/2))", check=c.check, **log_kw)
    return float(xp.max(xp.sqrt(_sqnorm(_compat.values(xp.sum(w * logs, axis=-3)), xp))))


def _dask_mean(x: Any, weights: Any, /, *, name: str, **kw: Any) -> Any:
    """Dask: the mean of every chunk of whole ``(N, n, n)`` stacks, lazily (the batch axes may be chunked)."""
    import dask.array as da

    if weights is not None and not (
        isinstance(weights, (list, tuple))
        or (hasattr(weights, "shape") and len(weights.shape) == 1 and not isinstance(weights, da.Array))
    ):
        raise TypeError(f"{name}: on Dask arrays, weights must be one list or 1-d NumPy array of length N")
    from .backends.dask import map_blocks  # a chunk's error names the batch index in the whole array

    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    k = x.ndim
    whole = x.rechunk({k - 3: -1, k - 2: -1, k - 1: -1})
    return map_blocks(
        lambda blk: mean_riemann(blk, w, **kw),
        whole,
        drop_axis=k - 3,
        dtype=x.dtype,
        meta=x._meta.reshape((0,) * (k - 1)),
    )


def mean_riemann(
    x: Any,
    /,
    weights: Any = None,
    *,
    maxiter: int = 100,
    tol: float = 0.0,
    method: str = "auto",
    max_cond: float | None = None,
    check: bool = True,
) -> Any:
    r"""Riemannian (Karcher, Fréchet) mean of positive definite matrices in the affine-invariant metric.

    The minimiser of :math:`\sum_i w_i\, d_R^2(M, X_i)` (:func:`distance_riemann`), unique for positive definite
    input: the :math:`M` with :math:`\sum_i w_i \log(M^{-1/2} X_i M^{-1/2}) = 0` (pyRiemann's
    ``mean_riemann(X, tol, maxiter, init, sample_weight)``; geomstats' ``FrechetMean``). For two matrices it is
    the geometric mean :func:`geodesic_riemann`; for commuting ones :math:`\exp(\sum_i w_i \log X_i)`.

    Computed by the Karcher flow (Riemannian gradient descent) from the log-Euclidean mean
    :math:`M_0 = \exp(\sum_i w_i \log X_i)`:

    .. math::

        T_k = \sum_i w_i \log\big(M_k^{-1/2} X_i M_k^{-1/2}\big), \qquad
        M_{k+1} = M_k^{1/2} \exp(\nu_k T_k)\, M_k^{1/2}

    with the step :math:`\nu_k = 2 / (1 + L_k)`, :math:`L_k = \sum_i w_i\, \phi(d_i / \sqrt 2)`,
    :math:`\phi(x) = x \coth x`, :math:`d_i = d_R(M_k, X_i)`: a bound on the curvature of the objective
    (docs/derivations/geometry.md). It is 1 (the plain Karcher flow) for clustered matrices and shrinks for
    spread ones, where the unit step oscillates or diverges.

    On concrete arrays it stops once :math:`\max \|T_k\|_F \le` ``tol``, or once below
    :math:`\sqrt{\epsilon}` it stops decreasing (the rounding floor): at working accuracy by default. Under
    ``jax.jit``, ``torch.compile`` and other tracing it runs ``maxiter`` steps (no data-dependent stop). Dask
    arrays are mapped chunk by chunk (whole stacks; ``weights`` then one 1-d list or NumPy array). Gradients:
    PyTorch and JAX differentiate through the steps (the derivative of the iteration converges to that of the
    mean at the same linear rate); there is no manual VJP.

    Parameters
    ----------
    x : array of shape (..., N, n, n)
        ``N`` positive definite matrices (per batch entry); the mean is over axis ``-3``.
    weights : array of shape (..., N), optional
        Non-negative weights (normalised to sum 1; default equal). pyRiemann's ``sample_weight``.
    maxiter : int, optional
        Most Karcher steps (default 100). With ``check=True``, not converging within them (to
        :math:`\sqrt{\epsilon}`, or ``tol`` if larger) raises with the fix.
    tol : float, optional
        Stop once the tangent mean's norm :math:`\|T_k\|_F` is at most ``tol`` (default 0: iterate to rounding).
    method : {"auto", "eig", "newton-schulz"}, optional
        As in :func:`geodesic_riemann` (products only: Newton–Schulz roots, ``logm(method="iss")``,
        ``expm(method="taylor")``).
    max_cond : float, optional
        As in :func:`distance_riemann`, for :math:`M^{-1/2} X_i M^{-1/2}` (checked at the first step).
    check : bool, optional
        Input finite, Hermitian, positive definite; weights finite, non-negative; convergence.

    Returns
    -------
    array of shape (..., n, n)
        Same library and dtype as ``x``.

    References
    ----------
    M. Moakher, SIAM J. Matrix Anal. Appl. 26(3), 2005; R. Bhatia, *Positive Definite Matrices*, ch. 6;
    A. Barachant et al., "Multiclass brain-computer interface classification by Riemannian geometry", IEEE
    Trans. Biomed. Eng. 59(4), 2012.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> x = np.stack([np.diag([1.0, 4.0]), np.diag([4.0, 1.0]), np.diag([2.0, 2.0])])
    >>> matfunc.mean_riemann(x)                        # commuting: exp(mean(log x_i)) = diag(2, 2)
    array([[2., 0.],
           [0., 2.]])
    >>> a, b = np.array([[2.0, 1.0], [1.0, 2.0]]), np.diag([9.0, 1.0])
    >>> bool(np.allclose(matfunc.mean_riemann(np.stack([a, b])), matfunc.geodesic_riemann(a, b)))
    True
    """
    from ._family import expm, logm

    name = "mean_riemann"
    c = _prepare(x, None, name=name, method=method, check=check, max_cond=max_cond)
    xs, xp = c.a, c.xp
    if xs.ndim < 3:
        raise ValueError(
            f"{name} expects a (..., N, n, n) stack of matrices (mean over axis -3), got shape "
            f"{tuple(xs.shape)}; add an axis for a single matrix"
        )
    count, n = xs.shape[-3], xs.shape[-1]
    if count == 0:
        raise ValueError(f"{name}: the mean of zero matrices is not defined (shape {tuple(xs.shape)})")
    if isinstance(maxiter, (bool, np.bool_)) or not isinstance(maxiter, (int, np.integer)) or maxiter < 0:
        raise ValueError(f"{name}: maxiter must be an integer >= 0, got {maxiter!r}")
    maxiter = int(maxiter)
    tol = static_real(tol, f"{name}: tol")
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"{name}: tol must be a finite number >= 0, got {tol!r}")
    out_shape = (*xs.shape[:-3], n, n)
    if _compat.backend_name(xp) == "dask":  # chunk by chunk of whole stacks, each eager on NumPy
        return _dask_mean(
            x, weights, name=name, maxiter=maxiter, tol=tol, method=c.method, max_cond=max_cond, check=check
        )
    w = _weights(weights, c, count=count, name=name)
    if 0 in out_shape:
        return _empty(c, out_shape, c.dtype)
    eager = c.mine or (not check and _compat.is_concrete(xs))
    floor = math.sqrt(c.eps)
    log_kw: dict[str, Any] = dict(method="eig") if c.method == "eig" else dict(method="iss", max_cond=c.max_cond)
    exp_kw = dict(method="eig" if c.method == "eig" else "taylor", check=c.check)
    with _compat.quiet(xp, xs):
        m = _piece(
            expm,
            xp.sum(w * _piece(logm, xs, name=name, what="logm(x)", check=c.check, **log_kw), axis=-3),
            name=name,
            what="expm",
            **exp_kw,
        )
        prev, crit = math.inf, math.inf
        for k in range(maxiter):
            one = _Call(**{**c._asdict(), "a": m})
            wi, s = _roots(one, name=name, inverse_only=False, vjp=False)
            y = sym(wi[..., None, :, :] @ xs @ wi[..., None, :, :])
            if k == 0:
                _check_cond(y, c, name=name, what="M^(-1/2) x_i M^(-1/2)")
            logs = _piece(logm, y, name=name, what="logm(M^(-1/2) x_i M^(-1/2))", check=c.check, **log_kw)
            t = xp.sum(w * logs, axis=-3)
            m = sym(s @ _piece(expm, _step(logs, w, xp) * t, name=name, what="expm", **exp_kw) @ s)
            if eager:
                crit = float(xp.max(xp.sqrt(_sqnorm(_compat.values(t), xp))))
                if crit <= tol or crit == 0.0 or (crit <= floor and crit >= prev):
                    break
                prev = crit
        if c.mine and maxiter == 0:  # the log-Euclidean start as it is: its tangent mean says how far it is
            crit = _tangent_norm(m, xs, w, c, name=name, log_kw=log_kw)
        if c.mine and crit > max(tol, floor):
            raise ValueError(
                f"{name}: the Karcher flow did not converge in maxiter={maxiter} steps (tangent mean norm "
                f"{crit:.3g} > max(tol={tol:g}, sqrt(eps)={floor:.3g})); pass a larger maxiter, or "
                f"tol={10 ** math.ceil(math.log10(crit)):.0e} to accept this accuracy (check=False returns the "
                "last iterate silently)."
            )
    return _cast(m, c.dtype, xp)
