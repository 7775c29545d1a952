"""Dask arrays: lazy results, block-wise batches and blocked single matrices, against NumPy results."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import rel_err, spd

import matfunc
from matfunc.core.options import DEFAULT_SCHEDULE, default_forward_iters
from matfunc.core.root_schedules import root_covered

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

METHODS = ["eig", "taylor", "pade", "newton-schulz", "auto"]
SCHEDULERS = ["synchronous", "threads"]


def _tol(a, *, factor=100.0):
    """Block-wise results run the same core code as NumPy: they agree to a few ulps times cond."""
    return factor * np.finfo(a.dtype).eps * np.linalg.cond(a.reshape(-1, *a.shape[-2:])).max()


@pytest.fixture(params=SCHEDULERS)
def scheduler(request):
    with dask.config.set(scheduler=request.param):
        yield request.param


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_batch_chunks_match_numpy(method, inverse, scheduler):
    a, _, _ = spd(12, 100.0, batch=(5, 2), seed=1)
    x = da.from_array(a, chunks=(2, 1, 6, 12))  # matrix axes split: rechunked to whole matrices
    fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
    y = fn(x, method)
    assert isinstance(y, da.Array) and y.shape == a.shape and y.dtype == a.dtype
    assert y.chunks[:2] == x.chunks[:2]  # batch chunks are kept
    ref = fn(a, method)
    assert rel_err(y.compute(), ref) <= _tol(a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_dtype_kept(dtype):
    a, _, _ = spd(8, 10.0, batch=(4,), seed=2, dtype=dtype)
    y = matfunc.sqrtm(da.from_array(a, chunks=(2, 8, 8)))
    assert y.dtype == dtype
    assert rel_err(y.compute(), matfunc.sqrtm(a)) <= _tol(a)


@pytest.mark.parametrize("method", ["newton-schulz", "taylor"])
@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_single_matrix_blocked_matmul(method, inverse, scheduler):
    a, root, inv_root = spd(48, 50.0, seed=3)
    x = da.from_array(a, chunks=16)
    fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
    y = fn(x, method)
    assert y.chunks == x.chunks  # never gathered into one chunk
    assert rel_err(y.compute(), fn(a, method)) <= _tol(a)
    if method != "taylor":  # Taylor is an approximation; NS converges to the root
        assert rel_err(y.compute(), inv_root if inverse else root) <= _tol(a)


@pytest.mark.parametrize("method", ["eig", "auto"])
@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_single_matrix_eig_is_never_replaced(method, inverse, scheduler):
    # Past Newton-Schulz's range (cond 1e12 > 1.5e8 at 15 steps) "eig"/"auto" must stay exact: the matrix is
    # rechunked into one chunk, never computed by another method. eig's error: eigenvalues carry absolute
    # errors ~ n eps lambda_max, so the root's relative error is ~ n eps sqrt(cond), the inverse root's n eps cond.
    n, cond = 16, 1e12
    a, root, inv_root = spd(n, cond, seed=15)
    fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
    y = fn(da.from_array(a, chunks=n // 2), method)
    assert y.chunks == ((n,), (n,))
    bound = n * np.finfo(a.dtype).eps * (cond if inverse else np.sqrt(cond))
    assert rel_err(y.compute(), inv_root if inverse else root) <= bound
    assert rel_err(y.compute(), fn(a, "eig")) <= bound


def test_lazy_until_computed():
    a, _, _ = spd(8, 10.0, batch=(4,), seed=4)
    a[3, 0, 1] = np.nan
    x = da.from_array(a, chunks=(2, 8, 8))
    y = matfunc.sqrtm(x)  # no error yet: nothing is computed
    assert isinstance(y, da.Array)
    with pytest.raises(ValueError, match=r"batch index \(3,\)"):
        y.compute()
    assert np.isfinite(matfunc.sqrtm(x, check=False)[:2].compute()).all()


def test_bad_matrix_named_by_global_index(scheduler):
    a, _, _ = spd(6, 10.0, batch=(3, 4), seed=5)
    a[2, 1, 0, 3] += 1.0  # not symmetric
    with pytest.raises(ValueError, match=r"batch index \(2, 1\) of the Dask array is not symmetric"):
        matfunc.sqrtm(da.from_array(a, chunks=(1, 2, 6, 6))).compute()
    s, _, _ = spd(6, 10.0, batch=(5,), seed=6)
    s[4] = 0.0
    with pytest.raises(matfunc.SingularMatrixError, match=r"batch index \(4,\)"):
        matfunc.inv_sqrtm(da.from_array(s, chunks=(2, 6, 6))).compute()


@pytest.mark.parametrize("method", ["eig", "newton-schulz", "pade"])
@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_vjp_batch_matches_numpy(method, inverse, scheduler):
    a, _, _ = spd(10, 30.0, batch=(6,), seed=7)
    g = np.random.default_rng(8).standard_normal(a.shape)
    fn = matfunc.inv_sqrtm_vjp if inverse else matfunc.sqrtm_vjp
    y, vjp = fn(da.from_array(a, chunks=(2, 10, 10)), method)
    y0, vjp0 = fn(a, method)
    da_ = vjp(da.from_array(g, chunks=(3, 5, 10)))  # cotangent chunked differently: aligned by the glue
    assert isinstance(da_, da.Array)
    assert rel_err(y.compute(), y0) <= _tol(a)
    assert rel_err(da_.compute(), vjp0(g)) <= _tol(a)


@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_vjp_single_matrix_blocked(inverse):
    # Blocked and unblocked products round differently, and the sign iteration's own error (~1e-12 at
    # its default steps, see the README) dominates: the blocked gradient must be as close to the exact
    # one as NumPy's is (within 10x), plus a few ulps times cond.
    a, _, _ = spd(32, 20.0, seed=9)
    g = np.random.default_rng(10).standard_normal(a.shape)
    fn = matfunc.inv_sqrtm_vjp if inverse else matfunc.sqrtm_vjp
    y, vjp = fn(da.from_array(a, chunks=16), "newton-schulz")
    assert y.chunks == ((16, 16), (16, 16))
    exact = fn(a, "eig", backward="eig")[1](g)
    numpy_err = rel_err(fn(a, "newton-schulz")[1](g), exact)
    assert rel_err(vjp(da.from_array(g, chunks=16)).compute(), exact) <= 10 * numpy_err + _tol(a)


def test_vjp_rejects_wrong_shape_and_unrolled():
    x = da.from_array(spd(4, 10.0, batch=(2,))[0], chunks=(1, 4, 4))
    _, vjp = matfunc.sqrtm_vjp(x)
    with pytest.raises(ValueError, match="cotangent must have the output's shape"):
        vjp(da.ones((3, 4, 4)))
    with pytest.raises(ValueError, match="unrolled"):
        matfunc.sqrtm_vjp(x, backward="unrolled")


@pytest.mark.parametrize("method", ["sign", "eig"])
def test_solve_lyapunov(method, scheduler):
    s, _, _ = spd(12, 20.0, batch=(4,), seed=11)
    g = np.random.default_rng(12).standard_normal(s.shape)
    x = matfunc.solve_lyapunov(da.from_array(s, chunks=(2, 12, 12)), da.from_array(g, chunks=(1, 12, 12)), method)
    assert isinstance(x, da.Array)
    assert rel_err(x.compute(), matfunc.solve_lyapunov(s, g, method)) <= _tol(s)
    s1, g1 = s[0], g[0]
    xb = matfunc.solve_lyapunov(da.from_array(s1, chunks=6), da.from_array(g1, chunks=6))  # blocked sign
    assert rel_err(xb.compute(), matfunc.solve_lyapunov(s1, g1)) <= _tol(s1)


def test_static_errors_are_eager():
    with pytest.raises(ValueError, match=r"\(\.\.\., n, n\)"):
        matfunc.sqrtm(da.ones((3, 4, 5)))
    with pytest.raises(TypeError, match="real or complex floating"):
        matfunc.sqrtm(da.ones((4, 4), dtype=np.int64))


def test_local_cluster():
    distributed = pytest.importorskip("distributed")
    a, _, _ = spd(8, 50.0, batch=(8,), seed=13)
    g = np.random.default_rng(14).standard_normal(a.shape)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        x = da.from_array(a, chunks=(2, 8, 8))
        for method in METHODS:
            y = client.compute(matfunc.sqrtm(x, method)).result()
            assert rel_err(y, matfunc.sqrtm(a, method)) <= _tol(a)
        _, vjp = matfunc.inv_sqrtm_vjp(x)
        grad = client.compute(vjp(da.from_array(g, chunks=(4, 8, 8)))).result()
        assert rel_err(grad, matfunc.inv_sqrtm_vjp(a)[1](g)) <= _tol(a)
        bad = a.copy()
        bad[5, 1, 2] = np.inf
        with pytest.raises(ValueError, match=r"NaN or Inf.*batch index \(5,\)"):
            client.compute(matfunc.sqrtm(da.from_array(bad, chunks=(2, 8, 8)))).result()


def _no_compute(dsk, keys, **kwargs):
    raise AssertionError("the graph was computed before .compute()")


def _indefinite(n, lam, seed):
    """A symmetric matrix with a positive diagonal and the eigenvalues linspace(1, 0.1) but the last, ``lam``."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    w = np.linspace(1.0, 0.1, n)
    w[-1] = lam
    a = (q * w) @ q.T
    return (a + a.T) / 2


def _bad_single(case, n):
    a, _, _ = spd(n, 10.0, seed=16)
    if case == "nan":
        a[0, 1] = a[1, 0] = np.nan
    elif case == "asymmetric":
        a[0, 1] += 1.0
    elif case in ("indefinite", "singular"):
        a = _indefinite(n, -1e-3 if case == "indefinite" else 0.0, seed=17)
    elif case == "ill-conditioned":  # positive definite, but past the coverage of Newton-Schulz's default steps
        a, _, _ = spd(n, 1e12, seed=18)
    return a


BAD_SINGLE = [  # (case, inverse, error, message)
    ("nan", False, ValueError, r"sqrtm: input contains NaN or Inf \(the matrix of the Dask array\)"),
    ("asymmetric", True, ValueError, r"inv_sqrtm expects symmetric matrices; the matrix of the Dask array is not"),
    ("indefinite", False, ValueError, r"the matrix of the Dask array is indefinite: a Cholesky factorisation"),
    ("singular", True, matfunc.SingularMatrixError, r"the matrix of the Dask array is singular or indefinite"),
    (
        "ill-conditioned",
        True,
        ValueError,
        r"inv_sqrtm\(method='newton-schulz'\): the result for the matrix of "
        r"the Dask array has residual \|\|W A W - I\|\|_F",
    ),
]


@pytest.mark.parametrize(("case", "inverse", "error", "match"), BAD_SINGLE, ids=[c[0] for c in BAD_SINGLE])
def test_blocked_bad_matrix_raises_at_compute(case, inverse, error, match, scheduler):
    # The matrix-chunked layout checks in the graph: building it computes nothing, computing it raises.
    n = 16
    a = _bad_single(case, n)
    fn, fn_vjp = (matfunc.inv_sqrtm, matfunc.inv_sqrtm_vjp) if inverse else (matfunc.sqrtm, matfunc.sqrtm_vjp)
    with dask.config.set(scheduler=_no_compute):
        x = da.from_array(a, chunks=n // 2)
        y = fn(x, "newton-schulz")
        _, vjp = fn_vjp(x, "newton-schulz")
        grad = vjp(da.ones((n, n), chunks=n // 2))
    assert y.chunks == x.chunks
    with pytest.raises(error, match=match):
        y.compute()
    with pytest.raises(error, match=match):  # the blocked Lyapunov gradient depends on the checks too
        grad.compute()
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the raw iteration may overflow on such input
        assert fn(x, "newton-schulz", check=False).compute().shape == (n, n)  # check=False: the raw result


def test_blocked_batch_of_one_named_and_psd_accepted():
    n = 16
    a = _bad_single("nan", n)[None]
    with pytest.raises(ValueError, match=r"NaN or Inf \(the matrix at batch index \(0,\) of the Dask array\)"):
        matfunc.sqrtm(da.from_array(a, chunks=(1, n // 2, n // 2)), "taylor").compute()
    # Semidefinite input (a zero eigenvalue; the zero matrix) passes the sqrtm checks. Newton-Schulz leaves
    # eigenvalues below its covered condition number unconverged: at most (covered cond)^(-1/2) of the root.
    s = _indefinite(n, 0.0, seed=17)
    y = matfunc.sqrtm(da.from_array(s, chunks=n // 2), "newton-schulz").compute()
    eps = float(np.finfo(s.dtype).eps)
    covered = root_covered(DEFAULT_SCHEDULE, default_forward_iters(eps), eps)  # the default steps'
    assert rel_err(y, matfunc.sqrtm(s, "eig")) <= covered**-0.5
    assert not matfunc.sqrtm(da.zeros((n, n), chunks=n // 2), "newton-schulz").compute().any()


@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_batch_result_checked_per_chunk(inverse, scheduler):
    # The result check (finite, residual within the method's range) runs on every chunk, and names the matrix
    # by its index in the whole array. Newton-Schulz's residual shows unconverged eigenvalues for inv_sqrtm;
    # for sqrtm (which hides them, as it should) an indefinite matrix with a positive diagonal is the bad one.
    n = 12
    a, _, _ = spd(n, 10.0, batch=(4,), seed=19)
    a[3] = spd(n, 1e12, seed=20)[0] if inverse else _indefinite(n, -1e-8, seed=21)
    fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
    y = fn(da.from_array(a, chunks=(2, n, n)), "newton-schulz")
    with pytest.raises(ValueError, match=r"the result for the matrix at batch index \(3,\) of the Dask array"):
        y.compute()


VJP_EXACT = [
    ("eig", "eig"),
    ("eig", "svd-pade"),
    ("newton-schulz", "eig"),
    ("newton-schulz", "svd-pade"),
    ("taylor", "eig"),
]


@pytest.mark.parametrize(("method", "backward"), VJP_EXACT, ids=[f"{m}-{b}" for m, b in VJP_EXACT])
@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
@pytest.mark.parametrize("batch", [(), (1,)], ids=["matrix", "batch-of-one"])
def test_vjp_eig_backwards_on_a_chunked_matrix(method, backward, inverse, batch):
    # backward="eig"/"svd-pade" need eigh: computed per chunk of whole matrices, as NumPy computes them.
    n = 16
    a, _, _ = spd(n, 30.0, batch=batch, seed=22)
    g = np.random.default_rng(23).standard_normal(a.shape)
    chunks = (1,) * len(batch) + (n // 2, n // 2)
    fn = matfunc.inv_sqrtm_vjp if inverse else matfunc.sqrtm_vjp
    y, vjp = fn(da.from_array(a, chunks=chunks), method, backward=backward)
    y0, vjp0 = fn(a, method, backward=backward)
    assert rel_err(y.compute(), y0) <= _tol(a)
    assert rel_err(vjp(da.from_array(g, chunks=chunks)).compute(), vjp0(g)) <= _tol(a)


LYAPUNOV_OPTIONS = [
    ({"num_iters": 0}, ValueError),
    ({"num_iters": 2.5}, TypeError),
    ({"method": "eig", "num_iters": 3}, ValueError),
    ({"scale": "spectra"}, ValueError),
    ({"method": "schur"}, ValueError),
]


@pytest.mark.parametrize(("kw", "error"), LYAPUNOV_OPTIONS, ids=[str(kw) for kw, _ in LYAPUNOV_OPTIONS])
@pytest.mark.parametrize("chunks", [(2, 6, 6), (1, 3, 3)], ids=["batch-chunked", "matrix-chunked"])
def test_solve_lyapunov_options_as_numpy(kw, error, chunks):
    s, _, _ = spd(6, 10.0, batch=(chunks[0],), seed=24)
    g = np.random.default_rng(25).standard_normal(s.shape)
    kw = dict(kw)
    method = kw.pop("method", "sign")
    with pytest.raises(error) as numpy_error:
        matfunc.solve_lyapunov(s, g, method, **kw)
    with pytest.raises(error) as dask_error:
        matfunc.solve_lyapunov(da.from_array(s, chunks=chunks), da.from_array(g, chunks=chunks), method, **kw)
    assert str(dask_error.value) == str(numpy_error.value)


@pytest.mark.parametrize("method", ["SIGN", "Eig"])
def test_solve_lyapunov_method_case_insensitive(method):
    s, _, _ = spd(6, 10.0, batch=(2,), seed=26)
    g = np.random.default_rng(27).standard_normal(s.shape)
    x = matfunc.solve_lyapunov(da.from_array(s, chunks=(1, 6, 6)), da.from_array(g, chunks=(1, 6, 6)), method)
    assert rel_err(x.compute(), matfunc.solve_lyapunov(s, g, method)) <= _tol(s)


def test_solve_lyapunov_checks_named_and_lazy(scheduler):
    s, _, _ = spd(6, 10.0, batch=(4,), seed=28)
    g = np.random.default_rng(29).standard_normal(s.shape)
    g[3, 2, 2] = np.nan
    x = matfunc.solve_lyapunov(da.from_array(s, chunks=(2, 6, 6)), da.from_array(g, chunks=(2, 6, 6)))
    with pytest.raises(
        ValueError,
        match=r"solve_lyapunov \(g\): input contains NaN or Inf \(the matrix at "
        r"batch index \(3,\) of the Dask array\)",
    ):
        x.compute()
    s1 = s[0].copy()
    s1[0, 0] = np.inf
    with dask.config.set(scheduler=_no_compute):
        xb = matfunc.solve_lyapunov(da.from_array(s1, chunks=3), da.from_array(g[0], chunks=3))  # blocked sign
    with pytest.raises(ValueError, match=r"solve_lyapunov \(s\): input contains NaN or Inf \(the matrix of the "):
        xb.compute()


def _negative_at(batch, bad, n=3):
    """A stack of ``batch`` SPD diagonal matrices with ``-I`` (a negative diagonal entry) at index ``bad``."""
    a = np.broadcast_to(np.eye(n), (*batch, n, n)) * (1.0 + np.arange(np.prod(batch)).reshape(*batch, 1, 1))
    a = np.ascontiguousarray(a)
    a[bad] = -np.eye(n)
    return a


@pytest.mark.parametrize(
    "fn,name",
    [
        (matfunc.logm, "logm"),
        (lambda t: matfunc.powm(t, 0.3), "powm"),
        (lambda t: matfunc.expm(matfunc.logm(t)), "logm"),
        (lambda t: matfunc.logm_vjp(t)[1](t), "logm"),
        (lambda t: matfunc.bures_wasserstein(t, t[::-1]), "bures_wasserstein"),
    ],
    ids=["logm", "powm", "expm-of-logm", "logm_vjp", "bures_wasserstein"],
)
def test_family_and_distance_checks_name_the_global_index(scheduler, fn, name):
    """Issue 25 item 12: the lazy checks of the family (logm, powm, ...) and the distances ran chunk by chunk
    and named the index inside the chunk ("batch index (2,)" for matrix 7 of 12 in chunks of 5)."""
    x = da.from_array(_negative_at((12,), 7), chunks=(5, 3, 3))
    with pytest.raises(ValueError, match=rf"{name}.*batch index \(7,\) of the Dask array") as info:
        fn(x).compute()
    assert "(2,)" not in str(info.value)
    y = da.from_array(_negative_at((4, 6), (3, 5)), chunks=(2, 4, 3, 3))  # two chunked batch axes
    with pytest.raises(ValueError, match=r"batch index \(3, 5\) of the Dask array"):
        matfunc.logm(y).compute()


def test_mean_riemann_check_names_the_global_index(scheduler):
    b = _negative_at((3, 4), (1, 3))  # three stacks of four matrices, chunked one stack at a time
    with pytest.raises(ValueError, match=r"mean_riemann.*batch index \(1, 3\) of the Dask array"):
        matfunc.mean_riemann(da.from_array(b, chunks=(1, 4, 3, 3))).compute()


def test_chunk_errors_without_an_index_name_the_chunk():
    from matfunc.backends.dask import _globalised

    assert _globalised("bad input", (5, 0, 0)) == "bad input (in the Dask chunk at batch index (5,))"
    assert _globalised("at batch index (0, 3) and batch index (1, 0)", (2, 0, 0, 0)) == (
        "at batch index (2, 3) of the Dask array and batch index (3, 0) of the Dask array"
    )
