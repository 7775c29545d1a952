"""Public entries of the polar family: :func:`polar`, :func:`orthogonalize`, :func:`polar_vjp`.

One path for all three (``_prepare`` / ``_unitary``): validate, get the namespace once, resolve the options,
compute the polar factor ``U`` through the backend's glue (torch, JAX: autodiff; Dask: lazily, chunk by chunk,
checked there) or the core, then ``P`` from it by one product (``sym(U^H A)`` or ``sym(A U^H)``), which every
framework differentiates itself. :func:`polar_vjp` on Dask arrays goes to the glue's ``polar_vjp``.
"""

from __future__ import annotations

import math
from typing import Any

from . import _compat, _validation
from .core import options as _options
from .core import polar as _core
from .core import polar_schedules as _sched
from .core.coefficients import ns_iters_for_condition
from .core.newton_schulz import LOW_EPS as _LOW_EPS
from .core.primitives import mH, mT, real, sym
from .core.primitives import spd_solve as primitives_spd_solve

__all__ = ["polar", "orthogonalize", "polar_vjp"]

METHODS = ("svd", "eig", "newton-schulz", "polar-express", "muon")
ALIASES = {"ns": "newton-schulz", "eigh": "eig", "polar_express": "polar-express"}
BACKWARDS = ("lyapunov", "eig", "unrolled")
MUON_STEPS = 5  # Muon's default


def _method(method: object) -> str:
    name = _options.option_name(method, "method")
    name = ALIASES.get(name, name)
    if name not in (*METHODS, "auto"):
        raise ValueError(f"polar: unknown method {method!r}; expected one of {('auto', *METHODS)}")
    return name


def resolve(
    method: object,
    *,
    num_iters: object,
    lower_bound: object,
    scale: object,
    matmul_dtype: object,
    backward: object,
    backward_iters: object,
    eps: float,
    on_cpu: bool,
) -> _core.PolarOptions:
    """Fill in the defaults (static facts only: dtype and device, never values)."""
    name = _method(method)
    if name == "auto":
        if num_iters is not None or lower_bound is not None:
            raise ValueError(
                "num_iters/lower_bound need a named method: method='auto' picks 'svd' on CPU and 'newton-schulz' "
                "on GPUs; pass method='newton-schulz' or 'polar-express'"
            )
        name = "svd" if on_cpu else "newton-schulz"
    scale = _options.scale_name(scale)
    iterative = name in _core.ITERATIVE
    if not iterative:
        for value, what in ((num_iters, "num_iters"), (lower_bound, "lower_bound"), (matmul_dtype, "matmul_dtype")):
            if value is not None:
                raise ValueError(f"{what} applies to the iterative methods, not method={name!r}")
    k = None if num_iters is None else _options._int(num_iters, "num_iters", 1)
    lb = None
    if lower_bound is not None:
        if name == "muon":
            raise ValueError("lower_bound does not apply to method='muon' (a fixed polynomial)")
        lb = float(lower_bound)  # type: ignore[arg-type]
        if not 0.0 < lb < 1.0:
            raise ValueError(f"lower_bound must be in (0, 1), got {lower_bound!r}")
    steps: tuple[_sched.Step, ...] = ()
    bound = 0.0
    if name == "newton-schulz":
        scaled = scale == "spectral"
        if k is None:
            k = _options.default_ns_iters(eps) if lb is None else ns_iters_for_condition(1.0 / lb**2, eps)
        steps = _sched.cubic_schedule(k, eps, scaled)
        bound = lb if lb is not None else (_sched.cubic_covered(k, eps) if scaled else 0.0)
    elif name == "polar-express":
        lp = matmul_dtype is not None
        if lb is None:
            lb = (
                _sched.polar_express_covered(k, eps, lp)
                if k is not None
                else _sched.cubic_covered(_options.default_ns_iters(eps), eps)
            )
        if k is None:
            k = _sched.polar_express_iters(lb, eps, lp)
        steps, bound = _sched.polar_express_schedule(lb, k, lp), lb
    elif name == "muon":
        steps = _sched.muon_schedule(MUON_STEPS if k is None else k)
    low = _options.low_precision_name(matmul_dtype)
    bwd = _options.option_name(backward, "backward")
    if bwd == "auto":
        bwd = "lyapunov" if iterative else "eig"
    if bwd not in BACKWARDS:
        raise ValueError(f"polar: unknown backward {backward!r}; expected one of {('auto', *BACKWARDS)}")
    if bwd == "lyapunov":
        if backward_iters is None:  # cover the same spectrum as the forward: P^2 has cond(A)^2
            b_iters = ns_iters_for_condition(1.0 / bound**2, eps) if bound > 0 else _options.default_ns_iters(eps)
        else:
            b_iters = _options._int(backward_iters, "backward_iters", 1)
    else:
        if backward_iters is not None:
            raise ValueError(f"backward_iters applies to backward='lyapunov', not {bwd!r}")
        b_iters = 0
    return _core.PolarOptions(name, steps, bound, scale, low, bwd, b_iters, float(eps))


def _check_static(a: Any, /, *, name: str, xp: Any) -> None:
    if a.ndim < 2:
        raise ValueError(f"{name} expects a (..., m, n) array of matrices, got shape {tuple(a.shape)}")
    if not xp.isdtype(a.dtype, ("real floating", "complex floating")):
        raise TypeError(f"{name} expects a real or complex floating-point array, got dtype {a.dtype}")
    if xp.finfo(a.dtype).bits > 64:
        raise TypeError(
            f"{name}: extended precision ({a.dtype}) is not supported (the linear algebra runs in float64 at "
            "most, and the result would silently lose digits); cast to float64 (complex128)"
        )


def _compute_dtype(dtype: Any, xp: Any) -> Any:
    if dtype in (xp.float32, xp.float64, xp.complex64, xp.complex128):
        return dtype
    return xp.float32  # float16, bfloat16


def _cast(x: Any, dtype: Any, xp: Any) -> Any:
    return xp.astype(x, dtype) if x.dtype != dtype else x


def _concrete(a: Any, glue: Any) -> bool:
    """Whether ``check=True``'s value checks can read ``a`` now (no JAX trace active, not a tracer, meta or lazy
    array: :func:`matfunc._compat.is_concrete`)."""
    return _compat.is_concrete(a)


def _prepare(
    a: Any, /, *, name: str, method: object, check: bool, **kw: Any
) -> tuple[Any, Any, Any, Any, _core.PolarOptions, Any, bool]:
    a = _validation.as_array(a)
    xp = _compat.array_namespace(a)
    _check_static(a, name=name, xp=xp)
    glue = _compat.backend_module(xp)
    ctype = _compute_dtype(a.dtype, xp)
    eps = float(xp.finfo(ctype).eps)
    opts = resolve(method, eps=eps, on_cpu=_compat.is_cpu(a), **kw)
    low = None if opts.matmul_dtype is None else _validation.low_dtype(a, opts.matmul_dtype, name=name, xp=xp)
    check = check and 0 not in a.shape  # what the glue is told (Dask checks lazily, chunk by chunk)
    if check and _concrete(a, glue):
        _validation.check_finite(_compat.values(a), name=name, xp=xp)
    return a, xp, glue, ctype, opts, low, check


def _check_result(u: Any, a: Any = None, /, *, name: str, opts: _core.PolarOptions, xp: Any) -> None:
    """The result checks of ``check=True`` (``a``, the input in the compute dtype, enables the last one):

    1. ``U`` is finite;
    2. ``"newton-schulz"``/``"polar-express"``: ``||U^H U - I||_F`` within what the schedule leaves for singular
       values above ``lower_bound`` plus rounding (:func:`orthogonality_tol`);
    3. ``"newton-schulz"``/``"polar-express"``/``"eig"``: ``U`` is the polar factor of ``a`` to
       :func:`accuracy_target`, by the certificate :func:`polar_error_estimate` (the distance to the exact polar
       factor, to first order, from ``U^H U``, ``U^H A`` and a Cholesky factorisation of ``sym(U^H A)``).
    """
    u = _compat.values(u)
    finite = xp.all(xp.isfinite(u), axis=(-2, -1))
    if not bool(xp.all(finite)):
        where = _validation._first_bad(~finite, xp=xp, shape=tuple(u.shape[:-2]))
        raise ValueError(
            f"{name}(method={opts.method!r}) gave NaN/Inf for {where} from finite input: the steps diverged (a "
            "singular value above the schedule's interval, e.g. from low-precision products). Use method='svd' or "
            "'newton-schulz', compute in float32 (matmul_dtype=None), or pass check=False to get the raw result."
        )
    if opts.method not in ("newton-schulz", "polar-express", "eig"):
        return
    m, n = u.shape[-2], u.shape[-1]
    k = min(m, n)
    rho = None
    if opts.method != "eig":
        g = mH(u) @ u if m >= n else u @ mH(u)
        rho = _validation._fro(g - xp.eye(k, dtype=u.dtype, device=_compat.device(u)), xp=xp)
        tol = orthogonality_tol(opts, m, n)
        bad = ~(rho <= tol)
        if bool(xp.any(bad)):
            where = _validation._first_bad(bad, xp=xp, shape=tuple(bad.shape))
            worst = float(xp.max(xp.where(bad, rho, xp.zeros_like(rho))))
            cond = f"{1.0 / opts.lower_bound:.3g}" if opts.lower_bound > 0 else "no"
            raise ValueError(
                f"{name}(method={opts.method!r}): the result for {where} has ||U^H U - I||_F = {worst:.3g} > "
                f"{tol:.3g}: its {opts.num_iters} steps are designed for normalised singular values down to "
                f"{opts.lower_bound:.3g} (sigma_max/sigma_min up to about {cond}), and this matrix is worse "
                "conditioned or rank-deficient. Pass a smaller lower_bound (or more num_iters), use method='svd', "
                "or check=False to get the raw result (for a rank-deficient matrix a partial isometry: U P = A "
                "still holds)."
            )
    if a is None:
        return
    a = _compat.values(a)
    t, ut = (a, u) if m >= n else (mH(a), mH(u))
    est = polar_error_estimate(t, ut, xp=xp, delta=rho)
    target = accuracy_target(opts)
    bad = ~(est <= target)
    if not bool(xp.any(bad)):
        return
    where = _validation._first_bad(bad, xp=xp, shape=tuple(bad.shape))
    worst = float(xp.max(xp.where(bad, est, xp.zeros_like(est))))
    prec = f"{opts.matmul_dtype} products" if opts.matmul_dtype is not None else f"eps = {opts.eps:.3g}"
    fix = {
        "eig": "use method='svd' (backward stable: error about eps * cond(A))",
        "newton-schulz": "use method='svd', a wider matmul_dtype (float16 rounds 8x finer than bfloat16, None "
        "computes in the input's precision), or a smaller lower_bound / more num_iters",
        "polar-express": "use method='newton-schulz' (its small coefficients amplify rounding less), a wider "
        "matmul_dtype (float16, or None), or method='svd'",
    }[opts.method]
    if math.isfinite(worst):
        what = f"its distance ||U - U_polar||_F / sqrt(k) is about {worst:.3g}"
    else:
        what = (
            "sym(U^H A) is not positive definite (A is rank-deficient or too ill-conditioned for the method; "
            "with check=False a rank-deficient A gives the partial isometry, U P = A)"
        )
    raise ValueError(
        f"{name}(method={opts.method!r}, {prec}): the result for {where} is not the polar factor to the accuracy "
        f"check=True promises, ||U - U_polar||_F / sqrt(k) <= {target:.3g} (sqrt of the product precision's "
        f"eps): {what}. To fix: {fix}; or pass check=False if an orthonormal matrix near the polar factor is "
        "enough (Muon's updates)."
    )


def accuracy_target(opts: _core.PolarOptions) -> float:
    """The largest ``||U - U_polar||_F / sqrt(k)`` that ``check=True`` accepts: ``sqrt(eps)`` of the product
    precision (``matmul_dtype``, else the compute dtype): 1.5e-8 float64, 3.5e-4 float32, 0.031 with float16
    products, 0.088 with bfloat16 products. At least half the digits of the precision the products ran in."""
    eps = _LOW_EPS[opts.matmul_dtype] if opts.matmul_dtype is not None else opts.eps
    return math.sqrt(eps)


def polar_error_estimate(t: Any, u: Any, /, *, xp: Any, delta: Any = None) -> Any:
    r"""``||U - U_polar||_F / sqrt(k)`` per matrix, to first order, for tall ``t`` (m x k) and ``u``; ``inf`` where
    ``S = sym(U^H T)`` is not positive definite. ``delta``: ``||U^H U - I||_F`` if the caller has it.

    With ``H = U^H T``, ``S = sym(H)``, ``K = skew(H)``: write ``U_polar = Q W + Z`` with ``Q`` the polar factor of
    ``U`` (``||U - Q||_F <= ||U^H U - I||_F``), ``W = exp(Omega)`` unitary and ``Z`` outside the range of ``U``.
    ``U^H T = W P`` gives ``S Omega + Omega S = 2 K`` to first order, and ``Omega_ij = 2 K_ij / (s_i + s_j) <=
    K_ij / sqrt(s_i s_j)`` in the eigenbasis of ``S``, so ``||Omega||_F^2 <= ||S^{-1/2} K S^{-1/2}||_F^2 =
    -tr(Y Y)``, ``Y = S^{-1} K``; and ``Z = (T - U H) S^{-1}``. A Cholesky test and inverse of ``S`` and the
    products ``U^H U``, ``U^H T``, ``U H``, ``Z``: about ``8 m k^2 + 4 k^3`` flops.
    Measured against the SVD (cond 2 .. 1e8, float32/float64, every product precision, every method): the estimate
    is 1 to 4 times the true distance."""
    k = t.shape[-1]
    dev = _compat.device(t)
    eye = xp.eye(k, dtype=u.dtype, device=dev)
    if delta is None:
        delta = _validation._fro(mH(u) @ u - eye, xp=xp)
    h = mH(u) @ t
    s = sym(h)
    inf = xp.full(delta.shape, math.inf, dtype=delta.dtype, device=dev)
    ok = _spd_mask(s, xp=xp)  # one Cholesky (the eigenvalues only when it fails somewhere)
    if not bool(xp.any(ok)):
        return inf
    # S^{-1} by one Cholesky solve with k right-hand sides, then products (a solve with m + k right-hand sides
    # was 5x slower on CPU); the estimate needs a digit, and cond(S) <= about 1 / target there
    s_inv = primitives_spd_solve(xp.where(ok[..., None, None], s, eye), eye, xp=xp)
    yk = s_inv @ ((h - mH(h)) * 0.5)
    z = (t - u @ h) @ s_inv
    ax = xp.abs(z)
    omega2 = -real(xp.sum(yk * mT(yk), axis=(-2, -1)), xp=xp)
    z2 = xp.sum(ax * ax, axis=(-2, -1))
    est = (delta + xp.sqrt(xp.maximum(omega2, xp.zeros_like(omega2)) + z2)) / math.sqrt(k)
    return xp.where(ok & xp.isfinite(est), est, inf)


def _spd_mask(s: Any, /, *, xp: Any) -> Any:
    """Per matrix: whether ``s`` (Hermitian) is positive definite (one batched Cholesky; eigenvalues only when it
    fails, to tell which)."""
    if _validation.cholesky_ok(s, xp=xp):
        return xp.ones(s.shape[:-2], dtype=xp.bool, device=_compat.device(s))
    lam = xp.linalg.eigvalsh(s)
    return lam[..., 0] > 0


def orthogonality_tol(opts: _core.PolarOptions, m: int, n: int) -> float:
    """What ``||U^H U - I||_F`` may be: ``sqrt(k) (2 d + d^2)`` for the scalar model's bound ``d`` on
    ``|1 - sigma|`` after the schedule (0 when it converges to ``eps``), plus rounding ``symmetry_rtol(max(m, n))
    * sqrt(k)`` (an entry of ``U^H U`` is an inner product of length ``max(m, n)``)."""
    k = min(m, n)
    d = _sched.schedule_bound(opts.steps, opts.lower_bound) if opts.lower_bound > 0 else 1.0
    d = 0.0 if d <= opts.eps else d
    rounding = _validation.symmetry_rtol(max(m, n), opts.eps)
    if opts.matmul_dtype is not None and opts.num_iters <= _core.REFINE_STEPS:
        rounding = max(rounding, 1000.0 * 2.0**-8)
    return math.sqrt(k) * (2.0 * d + d * d + rounding)


def _unitary(
    a: Any, xp: Any, glue: Any, ctype: Any, opts: _core.PolarOptions, low: Any, check: bool, name: str
) -> tuple[Any, Any]:
    x = _cast(a, ctype, xp)
    with _compat.quiet(xp, x):
        if glue is not None and hasattr(glue, "polar_apply"):  # torch/JAX autodiff (unrolled too), Dask chunks
            u = glue.polar_apply(x, opts=opts, low=low, xp=xp, check=check, name=name)
        elif opts.backward == "unrolled":
            raise ValueError(
                f"{name}: backward='unrolled' differentiates through the forward iterations and needs PyTorch or "
                "JAX; use backward='lyapunov' or 'eig' (or matfunc.polar_vjp) here"
            )
        else:
            u = _core.polar_forward(x, opts=opts, low=low, xp=xp)[0]
        if check and _concrete(u, glue):
            _check_result(u, x, name=name, opts=opts, xp=xp)
    return x, u


def _p_of(x: Any, u: Any, side: str) -> Any:
    return sym(mH(u) @ x) if side == "right" else sym(x @ mH(u))


def _side(side: object) -> str:
    s = _options.option_name(side, "side")
    if s not in ("right", "left"):
        raise ValueError(f"polar: side must be 'right' or 'left', got {side!r}")
    return s


def _empty(a: Any, xp: Any, side: str) -> tuple[Any, Any]:
    m, n = a.shape[-2], a.shape[-1]
    k = n if side == "right" else m
    dev = _compat.device(a)
    return xp.zeros(a.shape, dtype=a.dtype, device=dev), xp.zeros((*a.shape[:-2], k, k), dtype=a.dtype, device=dev)


def polar(
    a: Any,
    /,
    method: str = "auto",
    *,
    side: str = "right",
    num_iters: int | None = None,
    lower_bound: float | None = None,
    scale: str = "spectral",
    matmul_dtype: str | None = None,
    backward: str = "auto",
    backward_iters: int | None = None,
    check: bool = True,
) -> tuple[Any, Any]:
    r"""Polar decomposition of a batch of (rectangular) matrices, as :func:`scipy.linalg.polar`.

    ``side="right"``: :math:`A = U P` with :math:`P = (A^H A)^{1/2}` (n x n); ``side="left"``: :math:`A = P U` with
    :math:`P = (A A^H)^{1/2}` (m x m). ``U`` (m x n) is the same for both sides: orthonormal columns for tall
    ``a`` (:math:`U^H U = I`), orthonormal rows for wide ``a``; for full-rank ``a`` it is the nearest such matrix to
    ``a`` and equals :math:`A (A^H A)^{-1/2}`. ``P`` is computed from ``U`` as the Hermitian part of
    :math:`U^H A` (``A U^H`` for the left side): one more product. For ``U`` alone use :func:`orthogonalize`.

    Parameters
    ----------
    a : array of shape (..., m, n)
        Real or complex; tall, wide or square; NumPy, CuPy, PyTorch, JAX or array-api-strict.
    method : {"auto", "svd", "eig", "newton-schulz", "polar-express", "muon"}, optional
        ``"svd"``: from the thin SVD (exact reference). ``"eig"``: from ``eigh`` of the smaller Gram matrix
        (cheaper, but its error grows like ``eps cond(A)^2``). ``"newton-schulz"`` (``"ns"``): cubic Newton–Schulz
        steps with matfunc's scaled schedule (matrix products only). ``"polar-express"``: minimax quintic steps for
        the lower bound ``lower_bound`` of the normalised singular values (Polar Express). ``"muon"``: Muon's
        fixed quintic (5 steps by default); it does not converge (singular values end in about [0.7, 1.2]) and
        is there for comparison. ``"auto"``: ``"svd"`` on CPU, ``"newton-schulz"`` on accelerators.
    side : {"right", "left"}, optional
    num_iters : int, optional
        Steps of the iterative methods. Defaults: ``"newton-schulz"`` 15 (float64) / 10 (float32), which cover
        normalised singular values down to 8.1e-5 / 2.3e-3 (``sigma_max / sigma_min`` up to about 1.2e4 / 430
        with the spectral scale); ``"polar-express"`` the steps that converge from ``lower_bound``.
    lower_bound : float, optional
        A lower bound on the normalised singular values ``sigma / sqrt(c)`` (``"newton-schulz"`` and
        ``"polar-express"``); with ``scale="spectral"``, ``sigma_min / sigma_max / k^(1/16)`` is one
        (``k = min(m, n)``). Default: what the default Newton–Schulz steps cover.
    scale : {"spectral", "frobenius"}, optional
        The normalisation ``c >= sigma_max^2``: ``||(A^H A)^8||_F^{1/8}`` (3 squarings of the Gram matrix) or
        ``||A||_F^2`` (no product, up to ``k`` times too large, so singular values start up to ``sqrt(k)`` times
        smaller). Both are guaranteed bounds; a cheaper estimate (power iteration) can undershoot, and a
        singular value above 1 can be sent far off by the steps (the quintics grow quickly past their interval).
        With ``"frobenius"``, ``"newton-schulz"`` runs plain (unscaled) steps.
    matmul_dtype : {"bfloat16", "float16"}, optional
        Run the products of all but the last two steps in this precision (torch and JAX accumulate bfloat16/
        float16 products in float32), the rest in float32/float64. Real input only.
    backward : {"auto", "lyapunov", "eig", "unrolled"}, optional
        Gradients (PyTorch, JAX; :func:`polar_vjp` elsewhere): ``"lyapunov"`` solves :math:`P X + X P = R` by the
        sign iteration (matrix products only; default after an iterative forward), ``"eig"`` exactly in the
        eigenbasis of ``P`` (default after ``"svd"``/``"eig"``), ``"unrolled"`` differentiates the steps.
    backward_iters : int, optional
        Sign-iteration steps of ``backward="lyapunov"`` (default: cover the forward's spectrum).
    check : bool, optional
        On concrete arrays: the input is finite, the result is finite and, for ``"eig"``, ``"newton-schulz"`` and
        ``"polar-express"``, ``U`` is the polar factor of ``a`` to :math:`\|U - U_{\text{polar}}\|_F / \sqrt k
        \le \sqrt{\epsilon}` of the product precision (1.5e-8 float64, 3.5e-4 float32, 0.031 with float16 and
        0.088 with bfloat16 products), certified from :math:`U^H U`, :math:`U^H A` and a Cholesky factorisation of
        ``P`` (about ``8 m k^2 + 2 k^3`` flops, a third of a 5-step Polar Express); the iterative methods also
        check :math:`\|U^H U - I\|_F` against what their schedule leaves. Otherwise a ``ValueError`` names the
        matrix and the fix. ``"svd"`` (backward stable) and ``"muon"`` (not converging) are checked for
        finiteness only. Skipped under tracing (:doc:`/guides/checks`).

    Returns
    -------
    u : array of shape (..., m, n)
    p : array of shape (..., n, n) (``side="right"``) or (..., m, m) (``"left"``)
        Same namespace, device and dtype as ``a`` (half precision is computed in float32).

    Notes
    -----
    Accuracy (measured against the SVD, :doc:`/derivations/polar`): ``"newton-schulz"`` and ``"polar-express"``
    reach a few ``eps`` within their schedule's cover in float32/float64, but low-precision products leave ``U``
    about ``10 eps_low`` (Newton–Schulz) to ``30 eps_low`` (Polar Express) from the polar factor even at
    ``cond(A) = 2``: the last steps in full precision restore orthogonality, not the singular vectors.
    ``"eig"``'s error grows like ``eps cond(A)^2``. The input is scaled by a power of two first, so tiny and huge
    matrices are fine.

    Rank-deficient ``a``: ``"svd"`` completes ``U`` to an orthonormal matrix (LAPACK's choice of singular vectors,
    as SciPy); the iterative methods and ``"eig"`` return the partial isometry that is zero on the null space
    (``check=True`` raises: ``P`` is singular and ``U`` not orthonormal; pass ``check=False`` to get it). Both
    satisfy ``A = U P``. Gradients there are finite: pair sums
    ``s_i + s_j`` and ``s_i`` are floored at ``sqrt(eps) * s_max`` (the true derivative is infinite).

    References
    ----------
    N. J. Higham, *Functions of Matrices*, SIAM 2008, ch. 8. N. Amsel, D. Persson, C. Musco, R. Gower,
    "The Polar Express: optimal matrix sign methods and their application to the Muon algorithm", 2025.
    K. Jordan et al., "Muon: an optimizer for hidden layers in neural networks", 2024.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a = np.array([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    >>> u, p = matfunc.polar(a)
    >>> bool(np.allclose(u @ p, a)), bool(np.allclose(u.T @ u, np.eye(2)))
    (True, True)
    >>> u2, p2 = matfunc.polar(a, method="newton-schulz")
    >>> bool(np.allclose(u2, u)), bool(np.allclose(p2, p))
    (True, True)
    """
    s = _side(side)
    a, xp, glue, ctype, opts, low, check = _prepare(
        a,
        name="polar",
        method=method,
        check=check,
        num_iters=num_iters,
        lower_bound=lower_bound,
        scale=scale,
        matmul_dtype=matmul_dtype,
        backward=backward,
        backward_iters=backward_iters,
    )
    if 0 in a.shape:
        return _empty(a, xp, s)
    x, u = _unitary(a, xp, glue, ctype, opts, low, check, "polar")
    with _compat.quiet(xp, x):
        p = _p_of(x, u, s)
    return _cast(u, a.dtype, xp), _cast(p, a.dtype, xp)


def orthogonalize(
    a: Any,
    /,
    method: str = "auto",
    *,
    num_iters: int | None = None,
    lower_bound: float | None = None,
    scale: str = "spectral",
    matmul_dtype: str | None = None,
    backward: str = "auto",
    backward_iters: int | None = None,
    check: bool = True,
) -> Any:
    r"""The polar factor ``U`` of :func:`polar` alone: the nearest matrix with orthonormal columns (rows, for wide
    ``a``), :math:`U = A (A^H A)^{-1/2}`. What orthogonalising optimisers (Muon) need: no product for ``P``.

    Parameters are those of :func:`polar`. A Muon-style update is
    ``orthogonalize(momentum, "polar-express", lower_bound=1e-3, num_iters=5, matmul_dtype="bfloat16",
    check=False)``.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> g = np.random.default_rng(0).standard_normal((4, 64, 16))
    >>> u = matfunc.orthogonalize(g, method="polar-express")
    >>> float(np.abs(np.swapaxes(u, -1, -2) @ u - np.eye(16)).max()) < 1e-12
    True
    """
    a, xp, glue, ctype, opts, low, check = _prepare(
        a,
        name="orthogonalize",
        method=method,
        check=check,
        num_iters=num_iters,
        lower_bound=lower_bound,
        scale=scale,
        matmul_dtype=matmul_dtype,
        backward=backward,
        backward_iters=backward_iters,
    )
    if 0 in a.shape:
        return _empty(a, xp, "right")[0]
    _, u = _unitary(a, xp, glue, ctype, opts, low, check, "orthogonalize")
    return _cast(u, a.dtype, xp)


def polar_vjp(
    a: Any,
    /,
    method: str = "auto",
    *,
    side: str = "right",
    num_iters: int | None = None,
    lower_bound: float | None = None,
    scale: str = "spectral",
    matmul_dtype: str | None = None,
    backward: str = "auto",
    backward_iters: int | None = None,
    check: bool = True,
) -> tuple[tuple[Any, Any], Any]:
    r"""Polar decomposition and its vector-Jacobian product, for arrays without autodiff (NumPy, CuPy, strict).

    Returns ``((u, p), vjp)``; ``vjp(gu, gp=None)`` maps cotangents of ``u`` and ``p`` (either may be None) to the
    gradient with respect to ``a`` (the convention of PyTorch: :math:`dL = \operatorname{Re} \operatorname{tr}(\bar
    A^H dA)`). Options as :func:`polar`; the backward is :math:`\bar A = 2 U L^{-1}(\operatorname{skew}(U^H \bar
    U)) + (\bar U - U U^H \bar U) P^{-1}` with :math:`L(X) = P X + X P` (tall view; see
    :mod:`matfunc.core.polar`), plus the terms of ``p = sym(U^H A)``.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a = np.random.default_rng(0).standard_normal((5, 3))
    >>> (u, p), vjp = matfunc.polar_vjp(a)
    >>> da = vjp(np.ones((5, 3)), None)
    >>> da.shape
    (5, 3)
    """
    s = _side(side)
    a, xp, glue, ctype, opts, low, check = _prepare(
        a,
        name="polar_vjp",
        method=method,
        check=check,
        num_iters=num_iters,
        lower_bound=lower_bound,
        scale=scale,
        matmul_dtype=matmul_dtype,
        backward=backward,
        backward_iters=backward_iters,
    )
    if opts.backward == "unrolled":
        raise ValueError("polar_vjp: backward='unrolled' needs PyTorch or JAX autodiff; use 'lyapunov' or 'eig'")
    dtype = a.dtype
    if 0 in a.shape:
        u, p = _empty(a, xp, s)
        return (u, p), lambda gu=None, gp=None: xp.zeros_like(a)
    if glue is not None and hasattr(glue, "polar_vjp"):  # Dask: lazy, chunk by chunk
        return glue.polar_vjp(a, opts=opts, low=low, ctype=ctype, side=s, check=check, xp=xp)
    x = _cast(a, ctype, xp)
    with _compat.quiet(xp, x):
        u, saved = _core.polar_forward(x, opts=opts, low=low, xp=xp)
        if check and _concrete(u, glue):
            _check_result(u, x, name="polar_vjp", opts=opts, xp=xp)
        p = _p_of(x, u, s)
    shape = tuple(a.shape)
    pshape = tuple(p.shape)

    def vjp(gu: Any = None, gp: Any = None) -> Any:
        if gu is not None and tuple(gu.shape) != shape:
            raise ValueError(f"polar_vjp: the cotangent of u must have shape {shape}, got {tuple(gu.shape)}")
        if gp is not None and tuple(gp.shape) != pshape:
            raise ValueError(f"polar_vjp: the cotangent of p must have shape {pshape}, got {tuple(gp.shape)}")
        with _compat.quiet(xp, x):
            da = vjp_terms(x, u, saved, gu, gp, side=s, opts=opts, xp=xp)
        return _cast(da, dtype, xp)

    return (_cast(u, dtype, xp), _cast(p, dtype, xp)), vjp


def vjp_terms(
    x: Any, u: Any, saved: _core.PolarSaved, gu: Any, gp: Any, /, *, side: str, opts: _core.PolarOptions, xp: Any
) -> Any:
    """``dA`` (compute dtype of ``x``) for the cotangents ``gu`` of ``u`` and ``gp`` of ``p`` (either may be
    None): the backward of ``U`` (:func:`matfunc.core.polar.polar_vjp`) plus the terms of ``p = sym(U^H A)``
    (``sym(A U^H)`` for ``side="left"``). Shared by :func:`polar_vjp` and the Dask glue's chunks."""
    ctype = x.dtype
    g_u = xp.zeros_like(x) if gu is None else _cast(gu, ctype, xp)
    da = xp.zeros_like(x)
    if gp is not None:
        gps = sym(_cast(gp, ctype, xp))
        if side == "right":  # p = sym(U^H A)
            da, g_u = da + u @ gps, g_u + x @ gps
        else:  # p = sym(A U^H)
            da, g_u = da + gps @ u, g_u + gps @ x
    return da + _core.polar_vjp(saved, g_u, opts=opts, xp=xp)
