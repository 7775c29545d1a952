r"""Distances between covariance matrices built on the square root: the root fidelity
:math:`\operatorname{tr}(A^{1/2} B A^{1/2})^{1/2}`, the Bures–Wasserstein distance and the Fréchet distance
of Gaussians (FID), with their manual VJPs.

One path (:func:`_fidelity`): validate, get the namespace once, check the covariances (finite, symmetric,
positive semidefinite), then

- the value by ``method="eig"`` (:func:`matfunc.core.distances.eig_fidelity`) through factors ``C C^H = A``,
  ``D D^H = B``, never the non-symmetric ``sqrtm(A @ B)`` nor ``A^{1/2}`` itself:
  ``sum sqrt(eigvalsh(L^H B L))`` with the Cholesky factor ``L`` of ``A`` when both are positive definite, else
  the nuclear norm ``||C^H D||_*`` of rank-revealing eigenvector factors (exact for the rank-deficient
  covariances of fewer samples than features);
- gradients (PyTorch, JAX) and the matrix-product methods (GPUs) through the public :func:`matfunc.sqrtm` twice,
  ``tr sqrtm(R B R)`` with ``R = sqrtm(A)``, whose backward (Daleckii–Krein, divided differences
  ``1/(sqrt(l_i) + sqrt(l_j))``) is finite at repeated eigenvalues where autodiff through ``eigh`` is not. With
  ``"eig"``, the value is that of the first route and the derivatives those of the second (straight-through).

Dask arrays are mapped chunk by chunk (whole matrices per chunk) onto the NumPy path.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from . import _compat, _validation
from .core import distances as core_distances
from .core import primitives

__all__ = [
    "root_fidelity",
    "bures_wasserstein",
    "frechet_distance",
    "root_fidelity_vjp",
    "bures_wasserstein_vjp",
    "frechet_distance_vjp",
]


# --- validation --------------------------------------------------------------------------------------------


def _positive_number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return v


def _method(method: object) -> str:
    from .core.options import option_name

    m = option_name(method, "method")
    m = {"eigh": "eig", "ns": "newton-schulz", "mpa": "pade", "mtp": "taylor"}.get(m, m)
    if m in ("pade", "taylor"):
        raise ValueError(
            f"method={method!r} cannot give the distances' accuracy: its truncated series leaves errors of 1-10% "
            "on well-conditioned covariances and more on rank-deficient ones, and the distance composes two square "
            "roots; use method='eig' (exact, the default on CPU) or 'newton-schulz' (matrix products, GPUs)"
        )
    if m not in ("auto", "eig", "newton-schulz"):
        raise ValueError(f"unknown method {method!r}; expected one of ('auto', 'eig', 'newton-schulz')")
    return m


def _batch_shape(shapes: list[tuple[int, ...]], name: str, what: str) -> tuple[int, ...]:
    out: list[int] = []
    for s in shapes:
        s = tuple(s)
        k = max(len(out), len(s))
        a, b = [1] * (k - len(out)) + out, [1] * (k - len(s)) + list(s)
        if any(x != y and 1 not in (x, y) for x, y in zip(a, b, strict=True)):
            raise ValueError(f"{name}: the batch shapes of {what} do not broadcast: {shapes}")
        out = [max(x, y) if 0 not in (x, y) else 0 for x, y in zip(a, b, strict=True)]
    return tuple(out)


def _prepare(covs: dict[str, Any], means: dict[str, Any], /, *, name: str) -> tuple[ModuleType, dict, dict, Any]:
    """Arrays as arrays, the namespace, static checks (shapes, dtypes, matching sizes); returns the compute dtype
    (the promoted input dtype, half precision as float32)."""
    covs = {k: _validation.as_array(v) for k, v in covs.items()}
    xp = _compat.array_namespace(*covs.values())
    means = {k: _mean_array(v, covs, name=name, what=k, xp=xp) for k, v in means.items()}
    xp = _compat.array_namespace(*covs.values(), *means.values())
    for k, v in covs.items():
        _validation.check_static(v, name=f"{name} ({k})", xp=xp)
    sizes = {k: v.shape[-1] for k, v in covs.items()}
    for k, v in means.items():
        if v.ndim < 1:
            raise ValueError(f"{name} expects {k} of shape (..., n), got a scalar")
        if not xp.isdtype(v.dtype, ("real floating", "complex floating")):
            raise TypeError(f"{name} ({k}) expects a real or complex floating-point array, got dtype {v.dtype}")
        sizes[k] = v.shape[-1]
    if len(set(sizes.values())) > 1:
        raise ValueError(
            f"{name}: the arguments must have the same size n, got {sizes} (means (..., n), covariances (..., n, n))"
        )
    shapes = [tuple(v.shape[:-2]) for v in covs.values()] + [tuple(v.shape[:-1]) for v in means.values()]
    _batch_shape(shapes, name, "the arguments")
    dtype = xp.result_type(*(v.dtype for v in (*covs.values(), *means.values())))
    return xp, covs, means, _validation.compute_dtype(dtype, xp=xp)


def _mean_array(v: Any, covs: dict[str, Any], /, *, name: str, what: str, xp: ModuleType) -> Any:
    """A mean as an array of shape (..., n); a scalar (Python or NumPy number, 0-d array) is the same value in
    every component (broadcast to ``(n,)``), a Python number in the covariances' dtype."""
    if isinstance(v, bool) or isinstance(v, str):
        raise TypeError(f"{name} expects {what} as an array of shape (..., n) or a number, got {v!r}")
    scalar = isinstance(v, (int, float, complex)) or (hasattr(v, "shape") and tuple(v.shape) == ())
    if not scalar:
        v = _validation.as_array(v)
        if not hasattr(v, "shape"):
            raise TypeError(
                f"{name} expects {what} as an array of shape (..., n) or a number, got {type(v).__name__} {v!r}"
            )
        return v
    cov = next(iter(covs.values()))
    n = cov.shape[-1] if cov.ndim >= 1 else 0
    dtype = cov.dtype
    if hasattr(v, "shape") and _same_namespace(v, xp):  # a 0-d array of the covariances' framework (or tracer)
        if not xp.isdtype(v.dtype, ("real floating", "complex floating")):
            v = xp.astype(v, dtype)
        return xp.broadcast_to(v, (n,))
    if not isinstance(v, (int, float, complex)):  # a NumPy scalar or a 0-d array keeps its (floating) dtype
        own = getattr(xp, str(getattr(v, "dtype", "")).rsplit(".", 1)[-1], None)
        if own is not None and xp.isdtype(own, ("real floating", "complex floating")):
            dtype = own
        v = _as_number(v)
    if isinstance(v, complex) and not xp.isdtype(dtype, "complex floating"):
        dtype = xp.complex128 if dtype == xp.float64 else xp.complex64
    return xp.full((n,), v, dtype=dtype, device=_compat.device(cov))


def _same_namespace(v: Any, xp: ModuleType) -> bool:
    try:
        return _compat.array_namespace(v) is xp
    except TypeError:
        return False


def _as_number(v: Any) -> Any:
    x = v.item() if hasattr(v, "item") else v
    if not isinstance(x, (int, float, complex)) or isinstance(x, bool):
        raise TypeError(f"expected a number, got {type(v).__name__} {v!r}")
    return x


def _real_dtype(dtype: Any, xp: ModuleType) -> Any:
    if xp.isdtype(dtype, "complex floating"):
        return xp.float64 if dtype == xp.complex128 else xp.float32
    return dtype


def _traced(x: Any, xp: ModuleType) -> bool:
    """Whether values cannot be read now (a JAX trace active, a tracer, a meta or lazy array): no value checks,
    no data-dependent shapes (:func:`matfunc._compat.is_concrete`)."""
    return not _compat.is_concrete(x)


def _check_covariance(x: Any, /, *, name: str, eps: float, xp: ModuleType) -> None:
    """Finite, symmetric (Hermitian), positive semidefinite to rounding: no eigenvalue below ``-rtol max_i a_ii``
    (``rtol`` :func:`matfunc._validation.symmetry_rtol`; one Cholesky of ``a + rtol max(a_ii) I``)."""
    v = _compat.values(x)
    with _compat.quiet(xp, v):
        _validation.check_values(v, name=name, eps=eps, xp=xp)
        n = v.shape[-1]
        rtol = _validation.symmetry_rtol(n, eps)
        dmax = xp.max(primitives.real(xp.linalg.diagonal(v), xp=xp), axis=-1, keepdims=True)[..., None]
        shift = rtol * xp.where(dmax > 0, dmax, xp.ones_like(dmax))
        if _validation.cholesky_ok(v + shift * primitives.eye_like(v, xp=xp), xp=xp):
            return
        bad = xp.min(xp.linalg.eigvalsh(v), axis=-1) < -shift[..., 0, 0]
        shape = tuple(v.shape[:-2])
        where = _validation._first_bad(bad, xp=xp, shape=shape) if bool(xp.any(bad)) else "a matrix of the batch"
        raise ValueError(
            f"{name} expects a covariance (symmetric positive semidefinite); {where} has a negative eigenvalue "
            f"(below -{rtol:.3g} * max a_ii). Project it onto the PSD cone (clip negative eigenvalues) or pass "
            "ridge > 0."
        )


def _checked(
    covs: dict[str, Any], means: dict[str, Any], /, *, name: str, ctype: Any, ridge: float, check: bool, xp: ModuleType
) -> tuple[dict, dict, bool]:
    """In the compute dtype, ridged, and checked when ``check`` (concrete arrays only)."""
    eps = float(xp.finfo(ctype).eps)
    out = {}
    for k, v in covs.items():
        x = _cast(v, ctype, xp)
        if ridge:
            x = x + ridge * primitives.eye_like(x, xp=xp)
        out[k] = x
    mout = {k: _cast(v, ctype, xp) for k, v in means.items()}
    check = check and not any(_traced(v, xp) for v in (*out.values(), *mout.values()))
    if check:
        for k, v in out.items():
            _check_covariance(v, name=f"{name} ({k})", eps=eps, xp=xp)
        for k, v in mout.items():
            _validation.check_finite(_compat.values(v)[..., None], name=f"{name} ({k})", xp=xp)
    return out, mout, check


def _cast(x: Any, dtype: Any, xp: ModuleType) -> Any:
    return xp.astype(x, dtype) if x.dtype != dtype else x


# --- the computation ---------------------------------------------------------------------------------------


def _trace(x: Any, xp: ModuleType) -> Any:
    return primitives.real(xp.sum(xp.linalg.diagonal(x), axis=-1), xp=xp)


def _wants_grad(xs: tuple[Any, ...], xp: ModuleType) -> bool:
    """Whether autodiff may differentiate the result: a torch tensor that requires grad, or a traced array
    (jax.jit/grad/vmap, torch.func, torch.compile). Then the derivatives come from :func:`matfunc.sqrtm`."""
    return any(bool(getattr(x, "requires_grad", False)) or _traced(x, xp) for x in xs)


def _sqrtm(x: Any, /, *, method: str, check: bool, name: str, what: str) -> Any:
    from ._api import sqrtm

    try:
        return sqrtm(x, method, check=check)
    except ValueError as exc:
        raise type(exc)(f"{name}, {what}: {exc}") from exc


def _fidelity(
    a: Any, b: Any, /, *, method: str, check: bool, name: str, xp: ModuleType, eps: float | None = None
) -> Any:
    """``tr (A^{1/2} B A^{1/2})^{1/2}`` for checked, ridged input in the compute dtype (eager, non-Dask); ``eps``:
    the precision of the input (when it was widened), for the rank decisions of the exact route."""
    eig = method == "eig" or (method == "auto" and _compat.is_cpu(a))
    grad = _wants_grad((a, b), xp)
    if eig:
        with _compat.quiet(xp, a):
            eager = not (_traced(a, xp) or _traced(b, xp))
            av, bv = _compat.values(a), _compat.values(b)
            eps = float(xp.finfo(av.dtype).eps) if eps is None else eps
            definite = eager and _validation._definite(av, eps=eps, xp=xp) and _validation._definite(bv, eps=eps, xp=xp)
            t = core_distances.eig_fidelity(av, bv, eager=eager, definite=definite, xp=xp, eps=eps)
        if not grad:
            return t
    # Gradients (and the matrix-product methods): through matfunc.sqrtm twice, whose backward is finite at
    # repeated eigenvalues. "eig" clips the rounding-level negative eigenvalues of checked PSD input: its
    # residual check adds nothing; the matrix-product methods keep theirs (convergence for the condition number).
    r = _sqrtm(a, method=method, check=check and not eig, name=name, what="the square root of the first covariance")
    with _compat.quiet(xp, r):
        m = primitives.sym(r @ b @ r)
    s = _sqrtm(m, method=method, check=check and not eig, name=name, what="the square root of A^{1/2} B A^{1/2}")
    t_grad = _trace(s, xp)
    if not eig:
        return t_grad
    from ._family import _glue

    glue = _glue(xp)  # the value of the accurate path, the derivatives of the differentiable one
    return glue.straight_through(t, t_grad) if glue is not None else t_grad


def _dask_fidelity(a: Any, b: Any, /, *, fn: Any, rdtype: Any) -> Any:
    """``fn`` (NumPy arrays -> batch of scalars) on every chunk of whole matrices, lazily."""
    import dask.array as da
    import numpy as np

    batch = _batch_shape([tuple(a.shape[:-2]), tuple(b.shape[:-2])], "dask", "the covariances")
    n = a.shape[-1]
    nd = len(batch) + 2
    a = da.broadcast_to(a, (*batch, n, n)).rechunk({nd - 2: -1, nd - 1: -1})
    b = da.broadcast_to(b, (*batch, n, n)).rechunk(a.chunks)
    from .backends.dask import map_blocks  # a chunk's error names the batch index in the whole array

    return map_blocks(
        fn, a, b, drop_axis=(nd - 2, nd - 1), dtype=rdtype, meta=np.empty((0,) * len(batch), dtype=rdtype)
    )


def _root_fidelity(
    a: Any,
    b: Any,
    /,
    *,
    method: object,
    ridge: object,
    check: bool,
    name: str,
    names: tuple[str, str] = ("a", "b"),
    cast: bool = True,
) -> Any:
    """The root fidelity, in the output's real dtype (``cast=False``: in the dtype it was computed in, float64 for
    float32 input where :func:`_accurate_dtype` finds it, so that callers subtract it from the traces there)."""
    xp, covs, _, ctype = _prepare(dict(zip(names, (a, b), strict=True)), {}, name=name)
    method, ridge = _method(method), _positive_number(ridge, "ridge")
    a, b = covs.values()
    rdtype = _real_dtype(xp.result_type(a.dtype, b.dtype), xp)
    if _compat.backend_name(xp) == "dask":
        hi = _real_dtype(_wider(ctype, xp), xp) if not cast and (method == "eig" or method == "auto") else rdtype
        return _dask_fidelity(
            a,
            b,
            rdtype=hi,
            fn=lambda x, y: _cast(
                _root_fidelity(x, y, method=method, ridge=ridge, check=check, name=name, names=names, cast=False),
                hi,
                _compat.array_namespace(x),
            ),
        )
    batch = _batch_shape([tuple(a.shape[:-2]), tuple(b.shape[:-2])], name, "a and b")
    if 0 in batch or a.shape[-1] == 0:  # nothing to compute (the trace of a 0 x 0 matrix is 0)
        return xp.zeros(batch, dtype=rdtype, device=_compat.device(a))
    c, _, check = _checked(covs, {}, name=name, ctype=ctype, ridge=ridge, check=check, xp=xp)
    t = _scaled_fidelity(*c.values(), method=method, check=check, name=name, xp=xp)
    return _cast(t, rdtype, xp) if cast else t


def _pow2_diag(x: Any, /, *, xp: ModuleType) -> Any:
    """The even power of two at or below the largest diagonal entry per matrix, ``(..., 1, 1)`` real (1 where it
    is not positive): for a PSD matrix the diagonal bounds every entry, dividing by it is exact and so is its
    square root (the factor the fidelity is scaled back by)."""
    d = xp.max(primitives.real(xp.linalg.diagonal(x), xp=xp), axis=-1, keepdims=True)[..., None]
    d = xp.where(d > 0, d, xp.ones_like(d))
    return xp.pow(4.0 * xp.ones_like(d), xp.floor(xp.log2(d) * 0.5))


def _wider(dtype: Any, xp: ModuleType) -> Any:
    if dtype == xp.float32:
        return xp.float64
    return xp.complex128 if dtype == xp.complex64 else dtype


def _accurate_dtype(x: Any, xp: ModuleType) -> Any:
    """float64 (complex128) for float32 (complex64) ``x`` where its framework and device compute in float64
    (not Apple MPS, not JAX without ``jax_enable_x64``); else ``x``'s dtype."""
    wide = _wider(x.dtype, xp)
    if wide == x.dtype:
        return wide
    backend = _compat.backend_name(xp)
    if backend == "jax":
        import jax

        return wide if jax.config.read("jax_enable_x64") else x.dtype
    if backend == "torch" and getattr(getattr(x, "device", None), "type", "") == "mps":
        return x.dtype
    return wide


def _scaled_fidelity(a: Any, b: Any, /, *, method: str, check: bool, name: str, xp: ModuleType) -> Any:
    """:func:`_fidelity` of ``A / s_a`` and ``B / s_b`` (``s`` :func:`_pow2_diag`) times ``sqrt(s_a s_b)``: ``F`` is
    homogeneous of degree 1/2 in each argument, and unscaled ``L^H B L`` underflows for covariances of size
    ``1e-25`` (float32) / ``1e-200`` (float64). The exact-eigenvalue route without gradients runs in float64 for
    float32 input where available (the distances subtract ``2 F`` from the traces: float32 rounding of ``F`` is
    amplified by ``tr / d^2``); the result is then in that dtype."""
    sa, sb = _pow2_diag(a, xp=xp), _pow2_diag(b, xp=xp)
    x, y = a / xp.astype(sa, a.dtype), b / xp.astype(sb, b.dtype)
    eig = method == "eig" or (method == "auto" and _compat.is_cpu(a))
    eps = float(xp.finfo(a.dtype).eps)
    if eig and not _wants_grad((a, b), xp):
        wide = _accurate_dtype(x, xp)
        x, y = _cast(x, wide, xp), _cast(y, wide, xp)
    t = _fidelity(x, y, method=method, check=check, name=name, xp=xp, eps=eps)
    sa, sb = xp.astype(sa[..., 0, 0], t.dtype), xp.astype(sb[..., 0, 0], t.dtype)  # sqrt in t's precision
    return t * (xp.sqrt(sa) * xp.sqrt(sb))


def _clip0(x: Any, xp: ModuleType) -> Any:
    return xp.where(x > 0, x, xp.zeros_like(x))


def _safe_sqrt(x: Any, xp: ModuleType) -> Any:
    """``sqrt(max(x, 0))`` with a zero (not NaN) gradient at ``x <= 0``."""
    pos = x > 0
    return xp.where(pos, xp.sqrt(xp.where(pos, x, xp.ones_like(x))), xp.zeros_like(x))


# --- public functions --------------------------------------------------------------------------------------

_COMMON = r"""
    method : {"auto", "eig", "newton-schulz"}, optional
        How the two square roots are computed (:func:`matfunc.sqrtm`'s methods). ``"auto"``: ``"eig"`` on CPU
        (exact; the outer root as :math:`\sum_i \sqrt{\lambda_i}` from ``eigvalsh`` unless a gradient is needed),
        Newton–Schulz on GPUs.
    ridge : float, optional
        Add :math:`\text{ridge}\cdot I` to both covariances (what POT's ``reg`` and pytorch-fid's fallback
        ``eps`` do), gradients included. Needed for useful gradients of rank-deficient covariances (below).
    check : bool, optional
        On concrete arrays: every covariance finite, symmetric (Hermitian) and positive semidefinite to rounding
        (a shifted Cholesky each), means finite; errors name the argument and the matrix. The value is then
        computed to the accuracy stated under Returns (``"newton-schulz"``: each square root checked by
        :func:`matfunc.sqrtm`'s check). Skipped under tracing (JAX, ``torch.func``, ``torch.compile``), where the
        value is computed without checks. ``"pade"``/``"taylor"`` are refused (1-60% off here).
        Covariances of any scale (``1e-300`` .. ``1e300``) are fine: each is divided by a power of two near its
        largest diagonal entry and the result scaled back (``F`` is homogeneous of degree 1/2 in each argument)."""

_GRADIENTS = r"""
    Notes
    -----
    Gradients (PyTorch autograd, JAX, or the ``*_vjp`` functions on any backend) go through
    :func:`matfunc.sqrtm`'s backward: exact for positive definite covariances and finite at repeated
    eigenvalues (the identity, :math:`cI`). At a singular covariance the derivative is infinite in the
    directions that leave its null space (:math:`\sqrt{\lambda}` at :math:`\lambda = 0`); matfunc's backward caps
    the divided differences :math:`1/(\sqrt{\lambda_i} + \sqrt{\lambda_j})` at :math:`1/(\sqrt{\epsilon}\,
    \max_k \sqrt{\lambda_k})`, so the result is finite but large there, a truncation rather than a derivative.
    Pass ``ridge > 0`` to differentiate rank-deficient covariances."""


def root_fidelity(a: Any, b: Any, /, method: str = "auto", *, ridge: float = 0.0, check: bool = True) -> Any:
    r"""Root fidelity :math:`F(A, B) = \operatorname{tr}\big(A^{1/2} B A^{1/2}\big)^{1/2}` of covariance matrices.

    The term shared by the Bures–Wasserstein distance (:func:`bures_wasserstein`) and the Fréchet distance
    (:func:`frechet_distance`, FID): :math:`F(A, B) = \operatorname{tr}(AB)^{1/2} = \|A^{1/2} B^{1/2}\|_*`
    (nuclear norm), symmetric in ``a`` and ``b``. It is computed through the Hermitian positive semidefinite
    product :math:`A^{1/2} B A^{1/2}`, so it is real by construction (no complex ``sqrtm(a @ b)``).

    The name: Bhatia, Jain and Lim call :math:`F` the *fidelity* of :math:`A` and :math:`B`; in quantum
    information it is the *root fidelity* (Nielsen and Chuang's fidelity of density matrices), whose square
    :math:`F^2` is Jozsa's (Uhlmann's) fidelity. matfunc returns :math:`F`, not :math:`F^2`.

    Parameters
    ----------
    a, b : arrays of shape (..., n, n)
        Symmetric (Hermitian) positive semidefinite; rank-deficient allowed. Batch shapes broadcast.
    @COMMON@

    Returns
    -------
    array of shape (...,)
        The broadcast batch shape; real dtype of the promoted input dtype (half precision computed in float32).
    @GRADIENTS@

    References
    ----------
    R. Bhatia, T. Jain, Y. Lim, "On the Bures–Wasserstein distance between positive definite matrices",
    Expositiones Mathematicae 37 (2019).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a, b = np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
    >>> float(matfunc.root_fidelity(a, b))                 # sqrt(4 * 1) + sqrt(1 * 9)
    5.0
    >>> rho = np.array([[0.5, 0.5], [0.5, 0.5]])           # a pure state, rank 1
    >>> round(float(matfunc.root_fidelity(rho, np.eye(2) / 2) ** 2), 12)  # Jozsa fidelity with I / 2
    0.5
    """
    return _root_fidelity(a, b, method=method, ridge=ridge, check=check, name="root_fidelity")


def bures_wasserstein(
    a: Any, b: Any, /, method: str = "auto", *, squared: bool = False, ridge: float = 0.0, check: bool = True
) -> Any:
    r"""Bures–Wasserstein distance between covariance matrices (POT's ``ot.gaussian.bures_distance``).

    .. math::

        d(A, B) = \Big(\operatorname{tr} A + \operatorname{tr} B
        - 2 \operatorname{tr}\big(A^{1/2} B A^{1/2}\big)^{1/2}\Big)^{1/2},

    the 2-Wasserstein distance between :math:`\mathcal N(0, A)` and :math:`\mathcal N(0, B)` (with means, see
    :func:`frechet_distance`, which returns the squared distance). Rounding can make the bracket slightly negative
    for (nearly) equal inputs: it is clipped at zero, as POT does.

    Parameters
    ----------
    a, b : arrays of shape (..., n, n)
        Symmetric (Hermitian) positive semidefinite; rank-deficient allowed. Batch shapes broadcast.
    squared : bool, optional
        Return :math:`d^2` (smooth; use it as a loss: :math:`d` itself is not differentiable at
        :math:`A = B`, where its gradient is returned as zero).
    @COMMON@

    Returns
    -------
    array of shape (...,)
        The broadcast batch shape; real dtype of the promoted input dtype.
    @GRADIENTS@

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a, b = np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
    >>> float(matfunc.bures_wasserstein(a, b, squared=True))   # (2 - 1)^2 + (1 - 3)^2
    5.0
    >>> float(matfunc.bures_wasserstein(np.eye(3), 4 * np.eye(3)))   # sqrt(3 (1 - 2)^2)
    1.7320508075688772
    """
    squared = _flag(squared, "squared")
    sq = _bures_squared(a, b, method=method, ridge=ridge, check=check, name="bures_wasserstein")
    xp = _compat.array_namespace(sq)
    out = _out_dtype(tuple(_validation.as_array(v) for v in (a, b)), xp)
    return _cast(sq if squared else _safe_sqrt(sq, xp), out, xp)


def _out_dtype(args: tuple[Any, ...], xp: ModuleType) -> Any:
    """The real dtype of the promoted input dtype, for the result (half precision is computed in float32 and
    returned in its own dtype)."""
    return _real_dtype(xp.result_type(*(v.dtype for v in args)), xp)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, got {value!r}")
    return value


def _bures_squared(
    a: Any, b: Any, /, *, method: object, ridge: object, check: bool, name: str, names: tuple[str, str] = ("a", "b")
) -> Any:
    """``d^2`` in the dtype the fidelity was computed in (float64 for float32 input on the exact route where
    available: the traces are summed there too)."""
    xp, covs, _, ctype = _prepare(dict(zip(names, (a, b), strict=True)), {}, name=name)
    ridge = _positive_number(ridge, "ridge")
    t = _root_fidelity(a, b, method=method, ridge=ridge, check=check, name=name, names=names, cast=False)
    a, b = covs.values()
    n = a.shape[-1]
    wide = _wider(ctype, xp) if _real_dtype(_wider(ctype, xp), xp) == t.dtype else ctype
    tr = _trace(_cast(a, wide, xp), xp) + _trace(_cast(b, wide, xp), xp) + 2.0 * n * ridge
    return _clip0(_cast(tr, t.dtype, xp) - 2.0 * t, xp)


def frechet_distance(
    mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, /, method: str = "auto", *, ridge: float = 0.0, check: bool = True
) -> Any:
    r"""Squared Fréchet distance between Gaussians :math:`\mathcal N(\mu_1, \Sigma_1)`, :math:`\mathcal N(\mu_2,
    \Sigma_2)`: the Fréchet Inception Distance (FID) formula.

    .. math::

        d^2 = \|\mu_1 - \mu_2\|^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
        - 2 \operatorname{tr}\big(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\big)^{1/2},

    the squared 2-Wasserstein distance, the quantity pytorch-fid, clean-fid and torchmetrics call FID (they
    compute the last term as ``trace(scipy.linalg.sqrtm(sigma1 @ sigma2))``, the same number in exact arithmetic,
    see :doc:`/derivations/distances`). matfunc computes it through the symmetric product, real by construction,
    also for the rank-deficient covariances of fewer samples than features; clipped at zero.

    Parameters
    ----------
    mu1, mu2 : arrays of shape (..., n), or numbers
        Means; a number (or 0-d array) is that value in every component.
    sigma1, sigma2 : arrays of shape (..., n, n)
        Covariances, symmetric (Hermitian) positive semidefinite. All batch shapes broadcast.
    @COMMON@

    Returns
    -------
    array of shape (...,)
        The broadcast batch shape; real dtype of the promoted dtype of all four arguments. Float32 statistics:
        the exact route (``"eig"``, the default on CPU) computes in float64 where the framework has it (NumPy,
        PyTorch on CPU/CUDA, CuPy, JAX with ``jax_enable_x64``) and returns the float64 value on the same
        statistics rounded once to float32 (measured 1e-8 relative at n = 512..2048, FID << trace). Without
        float64, with gradients, or by ``"newton-schulz"``, ``tr - 2 F`` cancels: the absolute error is a few
        ``eps32 (tr sigma1 + tr sigma2)`` (measured 0.4-3 times that; relative ``1e-4`` when FID is 1/2000 of the
        trace).
    @GRADIENTS@

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> mu1, mu2 = np.zeros(2), np.array([3.0, 4.0])
    >>> float(matfunc.frechet_distance(mu1, np.eye(2), mu2, 4 * np.eye(2)))   # 25 + 2 + 8 - 2 * 4
    27.0
    >>> x = np.random.default_rng(0).standard_normal((10, 64))    # 10 samples of 64 features: rank 9
    >>> s = np.cov(x, rowvar=False)
    >>> float(matfunc.frechet_distance(x.mean(0), s, x.mean(0), s)) < 1e-12
    True
    """
    name = "frechet_distance"
    xp, covs, means, ctype = _prepare({"sigma1": sigma1, "sigma2": sigma2}, {"mu1": mu1, "mu2": mu2}, name=name)
    ridge = _positive_number(ridge, "ridge")
    if check and _compat.backend_name(xp) != "dask":
        _checked({}, means, name=name, ctype=ctype, ridge=0.0, check=True, xp=xp)
    sq = _bures_squared(
        covs["sigma1"], covs["sigma2"], method=method, ridge=ridge, check=check, name=name, names=("sigma1", "sigma2")
    )
    wide = _wider(ctype, xp) if _real_dtype(_wider(ctype, xp), xp) == sq.dtype else ctype
    d = _cast(means["mu1"], wide, xp) - _cast(means["mu2"], wide, xp)
    dm = xp.sum(primitives.real(d * xp.conj(d) if primitives.is_complex(d) else d * d, xp=xp), axis=-1)
    out = _out_dtype((*covs.values(), *means.values()), xp)  # the promoted dtype of all four arguments
    hi = xp.result_type(sq.dtype, dm.dtype)
    return _cast(_clip0(_cast(dm, hi, xp) + _cast(sq, hi, xp), xp), out, xp)


# --- manual VJPs -------------------------------------------------------------------------------------------


def _fidelity_vjp(
    a: Any, b: Any, /, *, method: object, ridge: object, check: bool, name: str, names: tuple[str, str] = ("a", "b")
) -> tuple[Any, Any]:
    """``t`` and ``g -> (dt/da, dt/db)`` by the chain rule through :func:`matfunc.sqrtm_vjp` twice."""
    from ._api import sqrtm_vjp

    xp, covs, _, ctype = _prepare(dict(zip(names, (a, b), strict=True)), {}, name=name)
    method, ridge = _method(method), _positive_number(ridge, "ridge")
    if _compat.backend_name(xp) == "dask":
        raise TypeError(
            f"{name}_vjp: Dask arrays are not supported; compute the VJP chunk by chunk on NumPy "
            "blocks, or call .compute() first"
        )
    a0, b0 = covs.values()
    shapes = (tuple(a0.shape), tuple(b0.shape))
    dtypes = (a0.dtype, b0.dtype)
    rdtype = _real_dtype(xp.result_type(*dtypes), xp)
    c, _, check = _checked(covs, {}, name=name, ctype=ctype, ridge=ridge, check=check, xp=xp)
    x, y = c.values()
    # homogeneity (see _scaled_fidelity): F(A, B) = sqrt(s_a s_b) F(A / s_a, B / s_b), so
    # dF/dA = sqrt(s_b / s_a) (dF)(A / s_a, B / s_b) and likewise for B; nothing under- or overflows
    sa, sb = _pow2_diag(x, xp=xp), _pow2_diag(y, xp=xp)
    x, y = x / xp.astype(sa, x.dtype), y / xp.astype(sb, y.dtype)
    ra, rb = xp.sqrt(sa), xp.sqrt(sb)
    try:
        r, vjp_r = sqrtm_vjp(x, method, check=check)
        with _compat.quiet(xp, r):
            m = primitives.sym(r @ y @ r)
        s, vjp_s = sqrtm_vjp(m, method, check=check)
    except ValueError as exc:
        raise type(exc)(f"{name}: {exc}") from exc
    t = _trace(s, xp) * xp.astype((ra * rb)[..., 0, 0], _real_dtype(s.dtype, xp))

    def vjp(g: Any) -> tuple[Any, Any]:
        if tuple(g.shape) != tuple(t.shape):
            raise ValueError(
                f"{name}_vjp: the cotangent must have the output's shape {tuple(t.shape)}, got {tuple(g.shape)}"
            )
        gc = _cast(g, _real_dtype(ctype, xp), xp)
        with _compat.quiet(xp, gc):
            eye = primitives.eye_like(m, xp=xp)
            g_m = vjp_s(_cast(gc[..., None, None] * eye, ctype, xp))
            g_b = r @ g_m @ r
            g_r = g_m @ r @ y + y @ r @ g_m
            g_a = vjp_r(primitives.sum_to(g_r, tuple(r.shape), xp=xp))
            g_a = g_a * xp.astype(rb / ra, g_a.dtype)
            g_b = g_b * xp.astype(ra / rb, g_b.dtype)
        return (
            _cast(primitives.sum_to(g_a, shapes[0], xp=xp), dtypes[0], xp),
            _cast(primitives.sum_to(g_b, shapes[1], xp=xp), dtypes[1], xp),
        )

    return _cast(t, rdtype, xp), vjp


def root_fidelity_vjp(
    a: Any, b: Any, /, method: str = "auto", *, ridge: float = 0.0, check: bool = True
) -> tuple[Any, Any]:
    r"""Root fidelity and its vector-Jacobian product: ``f, vjp = matfunc.root_fidelity_vjp(a, b)``, then
    ``da, db = vjp(g)`` for a cotangent ``g`` of the output's shape ``(...,)``.

    Gradients on arrays without automatic differentiation (NumPy, CuPy, array-api-strict), on any backend, by
    the chain rule through :func:`matfunc.sqrtm_vjp` (twice). For positive definite ``a``:
    :math:`\partial F/\partial B = \tfrac12 A^{1/2} (A^{1/2} B A^{1/2})^{-1/2} A^{1/2}`, symmetric in the roles of
    ``a`` and ``b``. Options as in :func:`root_fidelity` (see its notes on singular covariances).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> f, vjp = matfunc.root_fidelity_vjp(np.eye(2), 4 * np.eye(2))
    >>> da, db = vjp(np.ones(()))
    >>> da, db                                    # d/da tr (4a)^{1/2} = I, d/db tr b^{1/2} = I / 4
    (array([[1., 0.],
           [0., 1.]]), array([[0.25, 0.  ],
           [0.  , 0.25]]))
    """
    return _fidelity_vjp(a, b, method=method, ridge=ridge, check=check, name="root_fidelity")


def bures_wasserstein_vjp(
    a: Any, b: Any, /, method: str = "auto", *, squared: bool = False, ridge: float = 0.0, check: bool = True
) -> tuple[Any, Any]:
    r"""Bures–Wasserstein distance and its vector-Jacobian product: ``d, vjp = matfunc.bures_wasserstein_vjp(a,
    b)``, then ``da, db = vjp(g)``.

    :math:`\partial d^2 / \partial B = I - A^{1/2} (A^{1/2} B A^{1/2})^{-1/2} A^{1/2}` for positive definite
    ``a``, through :func:`root_fidelity_vjp`; the gradient of :math:`d` is that of :math:`d^2` over
    :math:`2d`, zero where :math:`d = 0`. Options as in :func:`bures_wasserstein`.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> d2, vjp = matfunc.bures_wasserstein_vjp(np.eye(2), 4 * np.eye(2), squared=True)
    >>> da, db = vjp(np.ones(()))
    >>> np.diag(da), np.diag(db)                  # I - 2 I and I - I / 2
    (array([-1., -1.]), array([0.5, 0.5]))
    """
    return _bures_vjp(a, b, method=method, squared=squared, ridge=ridge, check=check, name="bures_wasserstein")


def _bures_vjp(
    a: Any,
    b: Any,
    /,
    *,
    method: object,
    squared: object,
    ridge: object,
    check: bool,
    name: str,
    names: tuple[str, str] = ("a", "b"),
) -> tuple[Any, Any]:
    squared = _flag(squared, "squared")
    t, vjp_t = _fidelity_vjp(a, b, method=method, ridge=ridge, check=check, name=name, names=names)
    xp = _compat.array_namespace(t)
    a, b = _validation.as_array(a), _validation.as_array(b)
    n = a.shape[-1]
    ridge = _positive_number(ridge, "ridge")
    tr = _trace(a, xp) + _trace(b, xp) + 2.0 * n * ridge
    raw = _cast(tr, t.dtype, xp) - 2.0 * t
    sq = _clip0(raw, xp)
    out = sq if squared else _safe_sqrt(sq, xp)

    def vjp(g: Any) -> tuple[Any, Any]:
        if tuple(g.shape) != tuple(out.shape):
            raise ValueError(
                f"{name}_vjp: the cotangent must have the output's shape {tuple(out.shape)}, got {tuple(g.shape)}"
            )
        g = _cast(g, out.dtype, xp)
        g_sq = (
            g if squared else xp.where(out > 0, g / (2.0 * xp.where(out > 0, out, xp.ones_like(out))), xp.zeros_like(g))
        )
        g_sq = xp.where(raw > 0, g_sq, xp.zeros_like(g_sq))
        ga, gb = vjp_t(-2.0 * g_sq)
        return (
            _cast(ga + primitives.sum_to(_eye_times(g_sq, ga, xp), tuple(a.shape), xp=xp), ga.dtype, xp),
            _cast(gb + primitives.sum_to(_eye_times(g_sq, gb, xp), tuple(b.shape), xp=xp), gb.dtype, xp),
        )

    return out, vjp


def _eye_times(g: Any, like: Any, xp: ModuleType) -> Any:
    """``g[..., None, None] * I``, the identity of ``like``'s size, dtype and device."""
    return g[..., None, None] * primitives.eye_like(like, xp=xp)


def frechet_distance_vjp(
    mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, /, method: str = "auto", *, ridge: float = 0.0, check: bool = True
) -> tuple[Any, Any]:
    r"""Squared Fréchet distance (FID) and its vector-Jacobian product: ``d2, vjp =
    matfunc.frechet_distance_vjp(mu1, sigma1, mu2, sigma2)``, then ``dmu1, dsigma1, dmu2, dsigma2 = vjp(g)``.

    :math:`\partial d^2/\partial \mu_1 = 2(\mu_1 - \mu_2)`, :math:`\partial d^2 / \partial \Sigma_2 = I -
    \Sigma_1^{1/2} (\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2})^{-1/2} \Sigma_1^{1/2}` (positive definite
    :math:`\Sigma_1`), through :func:`root_fidelity_vjp`. Options as in :func:`frechet_distance`.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> d2, vjp = matfunc.frechet_distance_vjp(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))
    >>> round(float(d2), 12)                      # 2 + (1 - 2)^2 * 2
    4.0
    >>> dmu1, ds1, dmu2, ds2 = vjp(np.ones(()))
    >>> dmu1, np.diag(ds2)
    (array([-2., -2.]), array([0.5, 0.5]))
    """
    name = "frechet_distance"
    xp, covs, means, ctype = _prepare({"sigma1": sigma1, "sigma2": sigma2}, {"mu1": mu1, "mu2": mu2}, name=name)
    if check:
        _checked({}, means, name=name, ctype=ctype, ridge=0.0, check=True, xp=xp)
    sq, vjp_b = _bures_vjp(
        covs["sigma1"],
        covs["sigma2"],
        method=method,
        squared=True,
        ridge=ridge,
        check=check,
        name=name,
        names=("sigma1", "sigma2"),
    )
    m1, m2 = means["mu1"], means["mu2"]
    d = _cast(m1, ctype, xp) - _cast(m2, ctype, xp)
    dm = xp.sum(primitives.real(d * xp.conj(d) if primitives.is_complex(d) else d * d, xp=xp), axis=-1)
    hi = xp.result_type(sq.dtype, dm.dtype)  # the promoted dtype of all four arguments (issue 25, item 15)
    raw = _cast(dm, hi, xp) + _cast(sq, hi, xp)
    out = _cast(_clip0(raw, xp), _out_dtype((*covs.values(), *means.values()), xp), xp)

    def vjp(g: Any) -> tuple[Any, Any, Any, Any]:
        if tuple(g.shape) != tuple(out.shape):
            raise ValueError(
                f"{name}_vjp: the cotangent must have the output's shape {tuple(out.shape)}, got {tuple(g.shape)}"
            )
        g = xp.where(raw > 0, _cast(g, out.dtype, xp), xp.zeros_like(out))
        gs1, gs2 = vjp_b(primitives.sum_to(g, tuple(sq.shape), xp=xp))
        gd = 2.0 * _cast(g, d.dtype, xp)[..., None] * d
        return (
            _cast(primitives.sum_to(gd, tuple(m1.shape), xp=xp), m1.dtype, xp),
            gs1,
            _cast(primitives.sum_to(-gd, tuple(m2.shape), xp=xp), m2.dtype, xp),
            gs2,
        )

    return out, vjp


for _f in (root_fidelity, bures_wasserstein, frechet_distance):
    _f.__doc__ = (
        (_f.__doc__ or "")
        .replace("    @COMMON@", _COMMON.strip("\n"))
        .replace("    @GRADIENTS@", _GRADIENTS.strip("\n"))
    )
del _f
