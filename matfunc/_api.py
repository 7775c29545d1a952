"""Public entries: validate, get the namespace once, resolve options, dispatch to a backend's autodiff
glue (torch, jax) or straight to the core (NumPy, CuPy, array-api-strict)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

from . import _compat, _threads, _validation
from .core import gradients as _gradients
from .core import lyapunov as _lyapunov
from .core import options as _options
from .core.blocking import block_rows as _block_rows
from .core.blocking import over_batch as _over_batch
from .core.forward import forward as _forward
from .core.primitives import shares_memory, sym
from .core.primitives import symmetrize as _symmetrize
from .core.scaling import normalize as _normalize

__all__ = ["sqrtm", "inv_sqrtm", "sqrtm_vjp", "inv_sqrtm_vjp", "solve_lyapunov"]


def _prepare(
    a: Any, /, *, name: str, inverse: bool, method: str, check: bool, defer: bool = False, **kw: Any
) -> tuple[Any, Any, Any, _options.Options, bool]:
    """``(xp, glue, compute dtype, resolved options, check)`` of a call, after its static and value checks.
    ``defer``: the caller checks the values of a host ``"eig"`` batch itself, block by block
    (:func:`_checked_forward`)."""
    xp = _compat.array_namespace(a)
    _validation.check_static(a, name=name, xp=xp)
    glue = _compat.backend_module(xp)
    ctype = _validation.compute_dtype(a.dtype, xp=xp)
    eps = float(xp.finfo(ctype).eps)
    opts = _options.resolve(method, inverse=inverse, eps=eps, n=a.shape[-1], on_cpu=_compat.is_cpu(a), **kw)
    if opts.matmul_dtype is not None:
        _validation.low_dtype(a, opts.matmul_dtype, name=name, xp=xp)
    check = check and 0 not in a.shape  # what the glue is told (Dask checks lazily, chunk by chunk)
    if check and _compat.is_concrete(a) and not (defer and _deferred(glue, opts)):
        v = _compat.values(a)
        with _compat.quiet(xp, v):
            _validation.check_values(v, name=name, eps=eps, xp=xp)
            if inverse and opts.method != "eig":  # "eig" reads singularity off its own eigenvalues (_check_result)
                _validation.check_nonsingular(_cast(v, ctype, xp), name=name, eps=eps, xp=xp)
    return xp, glue, ctype, opts, check


def _deferred(glue: Any, opts: Any) -> bool:
    """Whether the input check of an ``"eig"`` call is read after (NumPy: within) the forward, from what it
    computes anyway (``_validation.values_stats``): host batches block by block, the glue's (PyTorch, JAX)
    from the symmetric part its forward returns."""
    return opts.method == "eig" and (glue is None or hasattr(glue, "apply_with_state"))


def _check_result(x: Any, y: Any, saved: Any, /, *, name: str, opts: Any, xp: Any) -> None:
    """The result check (``_validation.accuracy_stats``), from the forward's eigenvalues / scale in ``saved`` where
    the forward kept them (``"eig"``: no matrix product at all); without them an ``"eig"`` inverse root is first
    tested for singularity by a Cholesky factorisation."""
    lam, scale = (None, None) if saved is None else (saved.lam, saved.c)
    x = _compat.values(x)
    if lam is None and opts.method == "eig" and opts.inverse:
        _validation.check_nonsingular(x, name=name, eps=opts.eps, xp=xp)
    lam, scale = (None if t is None else _compat.values(t) for t in (lam, scale))
    _validation.check_accuracy(x, _compat.values(y), name=name, opts=opts, xp=xp, lam=lam, scale=scale)


def _apply(a: Any, /, *, name: str, inverse: bool, method: str, check: bool, **kw: Any) -> Any:
    a = _validation.as_float_array(a)
    with _host_threads(a) as (workers, map_):
        xp, glue, ctype, opts, check = _prepare(
            a, name=name, inverse=inverse, method=method, check=check, defer=True, **kw
        )
        if 0 in a.shape:  # empty batch or n = 0: nothing to compute
            return xp.astype(a, a.dtype, copy=True)
        x = _cast(a, ctype, xp)
        with _compat.quiet(xp, x):
            saved = None
            if glue is not None and check and hasattr(glue, "apply_with_state"):  # the forward's eigenvalues / scale
                inputs = _deferred(glue, opts) and _compat.is_concrete(a)
                with _named_input_errors(a, inputs, name=name, eps=opts.eps, xp=xp):
                    y, saved, asym = glue.apply_with_state(x, opts=opts, xp=xp, asym=inputs)
                if not (inputs or _compat.is_concrete(y)):  # traced: no value can be read
                    return _cast(y, a.dtype, xp)
                cxp, (v, cy, saved, asym) = _check_view(glue, xp, x, y, saved, asym)
                with _compat.quiet(cxp, v):
                    if inputs:
                        if asym is None or saved is None or saved.lam is None:
                            _validation.check_values(v, name=name, eps=opts.eps, xp=cxp)
                        else:  # the asymmetry and the eigenvalues the forward computed anyway
                            stats = _validation.values_stats(v, xp=cxp, asym=asym, spectral=True)
                            _report_values(v, stats, saved.lam, name=name, eps=opts.eps, xp=cxp, input_eps=_eps(a, xp))
                    _check_result(v, cy, saved, name=name, opts=opts, xp=cxp)
                return _cast(y, a.dtype, xp)
            elif glue is not None:
                y = glue.apply(x, opts=opts, xp=xp, check=check)
            elif check:  # the checks block by block too: in the worker threads of a pooled batch
                inputs = opts.method == "eig"  # the input's values too (deferred by _prepare)
                with _named_input_errors(a, inputs, name=name, eps=opts.eps, xp=xp):
                    y, *rest = _over_batch(
                        lambda t: _checked_forward(t, opts=opts, xp=xp, inputs=inputs),
                        (x,),
                        *_blocks(x, xp, workers, eig=inputs),
                        xp=xp,
                        map_=map_,
                    )
                    if opts.method == "eig":  # the joined eigenvalues: the statistics once for the batch
                        lam, *stats = rest
                        rho, tol = _validation.accuracy_stats(x, y, opts=opts, xp=xp, lam=lam)
                    else:
                        rho, tol, *stats = rest
                if inputs:
                    _report_values(x, tuple(stats), lam, name=name, eps=opts.eps, xp=xp, input_eps=_eps(a, xp))
                _validation.report_accuracy(rho, tol, name=name, opts=opts, xp=xp)
                return _cast(y, a.dtype, xp)
            else:
                y = _over_batch(
                    lambda t: _host_forward(t, opts=opts, xp=xp, vectors=False)[0],
                    (x,),
                    *_blocks(x, xp, workers, eig=opts.method == "eig"),
                    xp=xp,
                    map_=map_,
                )
            if check and _compat.is_concrete(y):
                _check_result(x, y, saved, name=name, opts=opts, xp=xp)
        return _cast(y, a.dtype, xp)


def _eps(a: Any, xp: Any) -> float:
    return float(xp.finfo(a.dtype).eps)


def _report_values(x: Any, stats: tuple[Any, ...], lam: Any, /, **kw: Any) -> None:
    """The deferred input check of an ``"eig"`` forward: ``_validation.values_stats(spectral=True)`` of the input,
    its scale ``||a||_2`` from the eigenvalues ``lam`` (as for ``powm``/``logm``/``expm``: ``_family``)."""
    stats = _validation.spectral_scale(stats, lam, x, xp=kw["xp"])
    _validation.report_values(x, stats, spectral=True, **kw)


def _check_view(glue: Any, xp: Any, x: Any, y: Any, saved: Any, asym: Any) -> tuple[Any, tuple[Any, Any, Any, Any]]:
    """``(namespace, (x, y, saved, asym))`` for the checks of a glue's forward (``_compat.check_arrays``; 4 x
    256x256 float32, 2 threads: 0.4 against 0.9 ms), ``saved`` with only the fields they read (``c``, ``lam``)."""
    fields = (None, None) if saved is None else (saved.c, saved.lam)
    cxp, (x, y, asym, c, lam) = _compat.check_arrays(glue, xp, x, y, asym, *fields)
    saved = None if saved is None else saved._replace(a=None, y=None, c=c, v=None, s=None, lam=lam)
    return cxp, (x, y, saved, asym)


@contextlib.contextmanager
def _named_input_errors(a: Any, deferred: bool, /, *, name: str, eps: float, xp: Any) -> Iterator[None]:
    """Around a forward whose input check was deferred (``_prepare(defer=True)``): an error of the forward
    itself (``eigh`` of NaN input) becomes the input check's, which names the problem."""
    try:
        yield
    except Exception:
        if deferred:
            _validation.check_values(a, name=name, eps=eps, xp=xp)
        raise


def _host_forward(t: Any, /, *, opts: Any, xp: Any, inputs: bool = False, vectors: bool = True) -> tuple[Any, ...]:
    """``(y, saved, input statistics)`` of one block of a host batch, from its symmetric part; for ``"eig"`` only
    its lower triangle (the one ``eigh`` reads), and its array takes the result (``vectors=False``: no backward,
    ``V``'s array too). ``inputs``: the input's statistics (``_validation.values_stats``), read in the pass
    that symmetrises the block, while it is in cache."""
    eig = opts.method == "eig"
    if inputs:  # (only "eig" defers the input check: the scale comes from its eigenvalues)
        s, stats = _validation.values_stats(t, xp=xp, symmetrize=True, lower=eig, spectral=eig, copy=not eig)
    else:
        s, stats = _symmetrize(t, xp=xp, lower=eig, copy=not eig), ()
    # "eig": exactly symmetric input feeds eigh itself (nothing written), else its symmetric part, which then
    # takes the result
    y, saved = _forward(s, opts=opts, xp=xp, overwrite_a=eig and not shares_memory(s, t), vectors=vectors)
    return y, saved, stats


def _checked_forward(t: Any, /, *, opts: Any, xp: Any, inputs: bool = False) -> tuple[Any, ...]:
    """The result of one block and its check statistics: for ``"eig"`` its eigenvalues, from which the caller
    computes ``_validation.accuracy_stats`` once for the whole batch (16 blocks of 256 x 64x64 made 16 calls of
    20 small operations each), else the statistics themselves (Newton–Schulz with the forward's own scale);
    ``inputs``: also the input's (:func:`_host_forward`). NumPy, 4000 x 32x32 float64, 2 threads: the checks
    cost 1-3% this way, 8-11% as a pass over the whole batch before the pooled forward."""
    y, saved, stats = _host_forward(t, opts=opts, xp=xp, inputs=inputs, vectors=False)
    if opts.method == "eig":
        return (y, saved.lam, *stats)
    return (y, *_validation.accuracy_stats(t, y, opts=opts, xp=xp, lam=saved.lam, scale=saved.c), *stats)


def _host_threads(a: Any) -> Any:
    """The thread plan of ``matfunc._threads`` for NumPy-backed host arrays (a no-op for the others)."""
    host_numpy = _compat.backend_name(_compat.array_namespace(a)) in ("numpy", "array_api_strict")
    return _threads.batch_plan(tuple(a.shape), host_numpy=host_numpy)


def _blocks(x: Any, xp: Any, workers: int = 1, *, eig: bool = False) -> tuple[tuple[int, ...], int | None]:
    """Batch shape and block size for eager host arrays (NumPy, array-api-strict): see core.blocking; at
    least one block per worker thread. ``eig``: one block per worker and no more: the decomposition gains nothing
    from cache blocks, the symmetrisation works in cache-sized chunks itself
    (``core.primitives.symmetrize``), and joining blocks costs a fresh array and a copy of every output (one
    thread, CPU time, ``sqrtm`` of 1024 x 32x32 float64: 92 ms in 8 blocks, 87 ms in one; 4000 x 32x32: 372
    and 353 ms)."""
    batch = tuple(x.shape[:-2])
    if eig:
        return batch, _threads.split_rows(math.prod(batch), None, workers)
    rows = _block_rows(tuple(x.shape), xp.finfo(x.dtype).bits // 8) if _compat.is_cpu(x) else None
    return batch, _threads.split_rows(math.prod(batch), rows, workers)


def _cast(x: Any, dtype: Any, xp: Any) -> Any:
    return xp.astype(x, dtype) if x.dtype != dtype else x


def _apply_vjp(
    a: Any, /, *, name: str, inverse: bool, method: str, check: bool, **kw: Any
) -> tuple[Any, Callable[[Any], Any]]:
    a = _validation.as_float_array(a)
    xp, glue, ctype, opts, check = _prepare(a, name=name, inverse=inverse, method=method, check=check, defer=True, **kw)
    if glue is not None and hasattr(glue, "vjp"):  # e.g. Dask: lazy, block-wise
        return glue.vjp(a, opts=opts, xp=xp, check=check, name=name)
    if opts.backward == "unrolled":
        raise ValueError(
            f"{name}_vjp: backward='unrolled' differentiates through the forward iterations and needs a "
            "framework with automatic differentiation; call matfunc." + name + " on a torch or jax array instead"
        )
    dtype = a.dtype
    if 0 in a.shape:
        y = xp.astype(a, dtype, copy=True)
        return y, lambda g: xp.zeros_like(a)
    x = _cast(a, ctype, xp)
    inputs = check and _deferred(glue, opts) and _compat.is_concrete(a)  # the input check _prepare deferred

    def fwd(t: Any) -> Any:
        y, saved, stats = _host_forward(t, opts=opts, xp=xp, inputs=inputs)
        return (y, saved, *stats)

    with _compat.quiet(xp, x), _host_threads(x) as (workers, map_):
        with _named_input_errors(a, inputs, name=name, eps=opts.eps, xp=xp):
            y, saved, *stats = _over_batch(
                fwd, (x,), *_blocks(x, xp, workers, eig=opts.method == "eig"), xp=xp, map_=map_
            )
        if inputs:
            _report_values(x, tuple(stats), saved.lam, name=name, eps=opts.eps, xp=xp, input_eps=_eps(a, xp))
        if check and _compat.is_concrete(y):
            _check_result(x, y, saved, name=name, opts=opts, xp=xp)
    saved = _gradients.saved_for(saved, opts)._replace(lam=None)
    if saved.y is not None:  # the closure owns its copy: the caller may write into the returned array
        saved = saved._replace(y=xp.asarray(saved.y, copy=True))
    shape = tuple(a.shape)  # the closure keeps the shape, not the input

    def vjp(g: Any) -> Any:
        if tuple(g.shape) != shape:
            raise ValueError(f"{name}_vjp: the cotangent must have the output's shape {shape}, got {tuple(g.shape)}")
        gc = _cast(g, ctype, xp)
        with _compat.quiet(xp, g), _host_threads(gc) as (workers, map_):
            da = _over_batch(
                lambda sv, gg: _gradients.sqrtm_vjp(sv, gg, opts=opts, xp=xp),
                (saved, gc),
                *_blocks(gc, xp, workers),
                xp=xp,
                map_=map_,
            )
        return _cast(da, dtype, xp)

    return _cast(y, dtype, xp), vjp


def sqrtm(
    a: Any,
    /,
    method: str = "auto",
    *,
    degree: int | tuple[int, int] | None = None,
    num_iters: int | None = None,
    scale: str = "spectral",
    backward: str = "auto",
    backward_iters: int | None = None,
    schedule: str | None = None,
    lower_bound: float | None = None,
    matmul_dtype: str | None = None,
    check: bool = True,
) -> Any:
    r"""Principal square root of a batch of symmetric positive (semi)definite matrices.

    Computes :math:`Y = A^{1/2}`, the unique symmetric PSD matrix with :math:`Y Y = A`, for every matrix
    in ``a``. The input is treated as symmetric: the function of :math:`(A + A^T)/2` is computed, so
    gradients are symmetric too.

    Parameters
    ----------
    a : array of shape (..., n, n)
        NumPy, CuPy, PyTorch, JAX or array-api-strict array; any number of batch dimensions. Lists, tuples
        and ``np.matrix`` become NumPy arrays, as in SciPy (integers as float64; non-native byte order
        as native).
    method : {"auto", "eig", "taylor", "pade", "newton-schulz"}, optional
        ``"eig"``: eigendecomposition (exact reference). ``"taylor"`` (alias ``"mtp"``): Matrix Taylor
        Polynomial. ``"pade"`` (``"mpa"``): Matrix Padé Approximant. ``"newton-schulz"`` (``"ns"``):
        coupled Newton–Schulz iteration. ``"auto"``: ``"eig"`` on CPU, ``"newton-schulz"`` on GPU.
    degree : int or (int, int), optional
        Taylor degree (default 10) or Padé order ``m`` for ``[m/m]`` or a pair ``(m, n)`` (default 5, at most
        20: past it rounding in the matrix polynomials outgrows the approximation's gain).
    num_iters : int, optional
        Newton–Schulz steps of ``schedule`` (default: the fewest that cover what 15 scaled cubic steps cover in
        float64, 10 in float32, condition numbers 1.55e8 / 1.9e5: 10 / 7 ``"polar-express"`` steps, 37 / 25
        products, which cover 3.9e8 / 1.0e6; see :func:`newton_schulz_iters`).
    scale : {"spectral", "frobenius"}, optional
        Normalisation: an upper bound on the largest eigenvalue, ``||A^8||_F^(1/8)`` from 3 squarings
        (at most ``n^(1/16)`` times too large, never too small), with accelerated
        Newton–Schulz/sign steps, or the Frobenius norm with the paper's plain steps.
    backward : {"auto", "lyapunov", "eig", "svd-pade", "unrolled"}, optional
        How gradients are computed (PyTorch and JAX; see :func:`sqrtm_vjp` for NumPy/CuPy).
    backward_iters : int, optional
        Sign-iteration steps of ``backward="lyapunov"`` (scaled cubic steps: default 15 / 10 in float64 /
        float32, ``matfunc.newton_schulz_iters(cond, schedule="scaled")``) or the Padé degree of ``"svd-pade"``.
    schedule : {"polar-express", "scaled", "minimax-cubic", "plain"}, optional
        Newton–Schulz step schedule of the forward (:mod:`matfunc.core.root_schedules`,
        docs/derivations/schedules.md): ``"polar-express"`` (the default, None; alias ``"minimax"``) cushioned
        per-step minimax quintics, 4 products a step: the accuracy of the scaled cubic in 37 products where it
        takes 42 (float64; float32: 25 vs 27), and fewer still with ``lower_bound``; ``"scaled"`` the capped
        scaled cubic steps, 3 products a step (matfunc's earlier default); ``"minimax-cubic"``, ``"plain"`` for
        comparison. ``num_iters`` counts steps of the chosen schedule; without it a schedule takes the steps that
        cover what 15 (float64) / 10 (float32) scaled steps cover (or ``lower_bound``). The Lyapunov backward's
        sign iteration is always the scaled cubic.
    lower_bound : float, optional
        A known lower bound on ``lambda_min / lambda_max`` (``1 / cond``) of every matrix, for
        ``method="newton-schulz"``: the steps (and the Lyapunov backward's) are chosen and designed for it, so a
        regularised input pays only for its condition number. For ``A = B + ridge * I`` with ``||B||_2 <= beta``:
        ``ridge / (beta + ridge)``. A matrix outside the bound is caught by ``check=True``.
    matmul_dtype : {"bfloat16", "float16"}, optional
        For ``method="newton-schulz"``: the products of all but the last two steps in this dtype (PyTorch and JAX
        accumulate in float32), for tensor-core speed on GPUs; the schedule defaults to ``"scaled"`` (cubic steps
        keep less of the rounding). The result keeps the low-precision rounding: a relative error of about
        ``eps_low * sqrt(cond) / 10`` (bfloat16 ``eps_low = 2^-7``: 5e-4 at cond 10, 2e-2 at 1e3; float16 ``2^-10``;
        ``check=True`` guarantees ``eps_low * sqrt(cond) / 4``), up to cond 1e3 (bfloat16) / 1e4 (float16), past
        which the iteration diverges: ``check=True`` tests the input's condition number (one Cholesky) and raises
        past about twice these.
        On CPUs it is not faster. See docs/derivations/schedules.md, "Mixed precision". Real input; NumPy/CuPy
        have only float16.
    check : bool, optional
        On concrete arrays (skipped under tracing, including any active JAX trace, and for lazy Dask graphs,
        which check chunk by chunk at compute time): the input is finite, symmetric, with no negative diagonal
        entry (``O(n^2)``), and the result is within the forward error that
        :func:`matfunc.core.accuracy.forward_bound` states for the method, dtype and product precision, or a
        ``ValueError`` names the fix (docs/guides/checks.md, "Square roots"). ``"eig"``: read off the forward's
        eigenvalues (indefinite input; singular input of :func:`inv_sqrtm`), no extra ``O(n^3)`` work.
        ``"newton-schulz"``: the input's condition number against the steps' cover (one Cholesky; for
        :func:`inv_sqrtm`, and :func:`sqrtm` with ``matmul_dtype`` or ``lower_bound``) and the residual
        ``||Y^2 - A||_F / tr(A)`` (one product) or ``||W A W - I||_F`` (two; it bounds the inverse root's error).
        ``"taylor"``/``"pade"``: the residual against the approximant's worst case on PSD input.

    Returns
    -------
    array of shape (..., n, n)
        Same namespace, device and dtype as ``a`` (half precision is computed in float32).

    Raises
    ------
    ValueError
        Non-square input, fewer than 2 dimensions, NaN/Inf, non-symmetric or indefinite input, a result that
        failed its residual check (``check=True``), or an unknown option.
    TypeError
        A dtype that is not floating, integer or boolean, or extended precision (``float128``). Integer and
        boolean arrays are computed in float64, as in SciPy; complex input is Hermitian input.

    References
    ----------
    Y. Song, N. Sebe, W. Wang, "Fast Differentiable Matrix Square Root", ICLR 2022; "Fast Differentiable
    Matrix Square Root and Inverse Square Root", IEEE TPAMI 2022 (arXiv:2201.12543).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> a = np.array([[4.0, 0.0], [0.0, 9.0]])
    >>> matfunc.sqrtm(a)
    array([[2., 0.],
           [0., 3.]])
    >>> y = matfunc.sqrtm(a, method="pade", degree=8)
    >>> bool(np.allclose(y @ y, a, rtol=1e-3))
    True
    """
    return _apply(
        a,
        name="sqrtm",
        inverse=False,
        method=method,
        check=check,
        degree=degree,
        num_iters=num_iters,
        scale=scale,
        backward=backward,
        backward_iters=backward_iters,
        schedule=schedule,
        lower_bound=lower_bound,
        matmul_dtype=matmul_dtype,
    )


def inv_sqrtm(
    a: Any,
    /,
    method: str = "auto",
    *,
    degree: int | tuple[int, int] | None = None,
    num_iters: int | None = None,
    scale: str = "spectral",
    backward: str = "auto",
    backward_iters: int | None = None,
    schedule: str | None = None,
    lower_bound: float | None = None,
    matmul_dtype: str | None = None,
    check: bool = True,
) -> Any:
    r"""Inverse principal square root :math:`A^{-1/2}` of a batch of symmetric positive definite matrices.

    Each method uses its own inverse form: ``"pade"`` computes :math:`q(Z) p(Z)^{-1}`, ``"taylor"`` the
    series of :math:`(1 - z)^{-1/2}`, ``"newton-schulz"`` the coupled iterate :math:`Z_k`, ``"eig"``
    :math:`V \operatorname{diag}(\lambda^{-1/2}) V^T`. Parameters are those of :func:`sqrtm`.

    Raises
    ------
    SingularMatrixError
        (a :class:`numpy.linalg.LinAlgError`, hence a :class:`ValueError`) when ``check=True`` and a
        matrix is singular to working precision (:math:`\lambda_{min} \le n\,\epsilon \max_i a_{ii}`).

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> matfunc.inv_sqrtm(np.array([[4.0, 0.0], [0.0, 0.25]]))
    array([[0.5, 0. ],
           [0. , 2. ]])
    """
    return _apply(
        a,
        name="inv_sqrtm",
        inverse=True,
        method=method,
        check=check,
        degree=degree,
        num_iters=num_iters,
        scale=scale,
        backward=backward,
        backward_iters=backward_iters,
        schedule=schedule,
        lower_bound=lower_bound,
        matmul_dtype=matmul_dtype,
    )


_VJP_DOC = """{title}

Returns the result and a function that maps an upstream gradient ``g`` (same shape; need not be symmetric)
to the gradient with respect to ``a``: ``y, vjp = matfunc.{name}_vjp(a); da = vjp(g)``. This is the way to
get gradients on arrays without automatic differentiation (NumPy, CuPy, array-api-strict); it works on any
backend. Options are those of :func:`{name}`; ``backward="unrolled"`` needs PyTorch or JAX autodiff.

The closure keeps only what its backward mode needs: ``"lyapunov"`` after a matrix-product forward keeps
the output (and, for ``inv_sqrtm``, the input) and a per-matrix scale; ``"eig"``/``"svd-pade"`` keep the
eigendecomposition (``V``, ``s``) after an ``"eig"`` forward, else the input.

Examples
--------
>>> import numpy as np, matfunc
>>> a = np.array([[4.0, 1.0], [1.0, 3.0]])
>>> y, vjp = matfunc.{name}_vjp(a, method="eig")
>>> da = vjp(np.eye(2))
>>> bool(np.allclose(da, da.T))
True
"""


def sqrtm_vjp(
    a: Any,
    /,
    method: str = "auto",
    *,
    degree: int | tuple[int, int] | None = None,
    num_iters: int | None = None,
    scale: str = "spectral",
    backward: str = "auto",
    backward_iters: int | None = None,
    schedule: str | None = None,
    lower_bound: float | None = None,
    matmul_dtype: str | None = None,
    check: bool = True,
) -> tuple[Any, Any]:
    return _apply_vjp(
        a,
        name="sqrtm",
        inverse=False,
        method=method,
        check=check,
        degree=degree,
        num_iters=num_iters,
        scale=scale,
        backward=backward,
        backward_iters=backward_iters,
        schedule=schedule,
        lower_bound=lower_bound,
        matmul_dtype=matmul_dtype,
    )


def inv_sqrtm_vjp(
    a: Any,
    /,
    method: str = "auto",
    *,
    degree: int | tuple[int, int] | None = None,
    num_iters: int | None = None,
    scale: str = "spectral",
    backward: str = "auto",
    backward_iters: int | None = None,
    schedule: str | None = None,
    lower_bound: float | None = None,
    matmul_dtype: str | None = None,
    check: bool = True,
) -> tuple[Any, Any]:
    return _apply_vjp(
        a,
        name="inv_sqrtm",
        inverse=True,
        method=method,
        check=check,
        degree=degree,
        num_iters=num_iters,
        scale=scale,
        backward=backward,
        backward_iters=backward_iters,
        schedule=schedule,
        lower_bound=lower_bound,
        matmul_dtype=matmul_dtype,
    )


sqrtm_vjp.__doc__ = _VJP_DOC.format(title="Matrix square root and its vector-Jacobian product.", name="sqrtm")
inv_sqrtm_vjp.__doc__ = _VJP_DOC.format(
    title="Inverse matrix square root and its vector-Jacobian product.", name="inv_sqrtm"
)


def solve_lyapunov(
    s: Any,
    g: Any,
    /,
    method: str = "sign",
    *,
    num_iters: int | None = None,
    scale: str = "spectral",
    check: bool = True,
) -> Any:
    r"""Solve the Lyapunov equation :math:`S X + X S = G` for symmetric positive definite ``S`` (batched).

    Parameters
    ----------
    s : array of shape (..., n, n)
        Symmetric positive definite.
    g : array of shape (..., n, n)
        Right-hand side (any matrix; broadcast against ``s``).
    method : {"sign", "eig"}
        ``"sign"``: the coupled Newton–Schulz sign iteration on
        :math:`\begin{bmatrix} S & G \\ 0 & -S \end{bmatrix}` (matrix products only; GPU-friendly).
        ``"eig"``: :math:`X = V [\hat G_{ij} / (s_i + s_j)] V^T` from ``eigh(s)``.
    num_iters : int, optional
        Sign-iteration steps (the scaled cubic). The default (15 in float64, 10 in float32) converges for
        ``cond(S)**2`` up to 1.55e8 (float64; 1.9e5 in float32);
        ``matfunc.newton_schulz_iters(cond(S)**2, schedule="scaled")`` gives the steps for any ``S``.
    scale : {"spectral", "frobenius"}
        Normalisation of ``S`` (see :func:`sqrtm`); ``"frobenius"`` uses the paper's plain steps.
    check : bool, optional
        On concrete arrays: ``s`` finite, symmetric, with a nonnegative diagonal; ``g`` finite; the solution
        finite, with a normwise relative residual ``||S X + X S - G||_F / (2 ||S||_F ||X||_F + ||G||_F)`` at
        rounding level (two extra batched products): singular or indefinite ``S``, or too few sign steps for
        its condition number, raise a ``ValueError`` that names the fix. Skipped under tracing.

    Examples
    --------
    >>> import numpy as np, matfunc
    >>> s = np.array([[2.0, 0.0], [0.0, 3.0]])
    >>> g = np.array([[4.0, 5.0], [5.0, 6.0]])
    >>> matfunc.solve_lyapunov(s, g)
    array([[1., 1.],
           [1., 1.]])
    """
    s, g = _validation.as_float_array(s), _validation.as_float_array(g)
    xp = _compat.array_namespace(s, g)
    glue = _compat.backend_module(xp)
    method = _options.option_name(method, "method")
    if method not in ("sign", "eig"):
        raise ValueError(f"solve_lyapunov: unknown method {method!r}; expected 'sign' or 'eig'")
    scale = _options.scale_name(scale)
    if num_iters is not None:
        if method != "sign":
            raise ValueError(f"num_iters applies to method='sign', not {method!r}")
        num_iters = _options._int(num_iters, "num_iters", 1)
    if glue is not None and hasattr(glue, "solve_lyapunov"):  # e.g. Dask: lazy, block-wise
        return glue.solve_lyapunov(s, g, method=method, num_iters=num_iters, scale=scale, check=check, xp=xp)
    for arr, nm in ((s, "s"), (g, "g")):
        _validation.check_static(arr, name=f"solve_lyapunov ({nm})", xp=xp)
    if s.shape[-1] != g.shape[-1]:
        raise ValueError(
            f"solve_lyapunov: s and g must have the same matrix size, got {tuple(s.shape)} and {tuple(g.shape)}"
        )
    ctype = _validation.compute_dtype(xp.result_type(s.dtype, g.dtype), xp=xp)
    out_dtype = xp.result_type(s.dtype, g.dtype)
    s_c, g_c = xp.broadcast_arrays(_cast(s, ctype, xp), _cast(g, ctype, xp))
    if 0 in s_c.shape:
        return xp.zeros(s_c.shape, dtype=out_dtype, device=_compat.device(s))
    eps = float(xp.finfo(ctype).eps)
    check = check and _compat.is_concrete(s, g)
    if check:
        _validation.check_values(_compat.values(s), name="solve_lyapunov (s)", eps=eps, xp=xp)
        _validation.check_finite(_compat.values(g), name="solve_lyapunov (g)", xp=xp)
    with _compat.quiet(xp, s_c):
        if method == "eig":
            x = _lyapunov.eig_lyapunov(sym(s_c), g_c, xp=xp)
        else:
            steps = _options.default_ns_iters(eps) if num_iters is None else num_iters
            s_n, c = _normalize(sym(s_c), scale=scale, xp=xp)
            x = _lyapunov.sign_lyapunov(s_n, g_c / c, num_iters=steps, eps=eps, scaled=scale == "spectral", xp=xp)
        if check:
            xv = _compat.values(x)
            _validation.check_result(xv, name="solve_lyapunov", method=method, xp=xp)
            _validation.check_lyapunov(_compat.values(s_c), _compat.values(g_c), xv, method=method, eps=eps, xp=xp)
    return _cast(x, out_dtype, xp)
