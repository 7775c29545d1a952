"""Dask arrays: lazy results, block-wise batches and blocked single matrices, against NumPy results."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rel_err, spd

import matfunc

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


@pytest.mark.parametrize("method", ["newton-schulz", "taylor", "auto", "eig"])
@pytest.mark.parametrize("inverse", [False, True], ids=["sqrtm", "inv_sqrtm"])
def test_single_matrix_blocked_matmul(method, inverse, scheduler):
    a, root, inv_root = spd(48, 50.0, seed=3)
    x = da.from_array(a, chunks=16)
    fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
    y = fn(x, method)
    assert y.chunks == x.chunks  # never gathered into one chunk
    # "auto"/"eig" have no blocked eigensolver: Newton-Schulz, as NumPy computes it with that method.
    ref_method = "newton-schulz" if method in ("auto", "eig") else method
    assert rel_err(y.compute(), fn(a, ref_method)) <= _tol(a)
    if method != "taylor":  # Taylor is an approximation; NS converges to the root
        assert rel_err(y.compute(), inv_root if inverse else root) <= _tol(a)


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
    with pytest.raises(TypeError, match="real floating"):
        matfunc.sqrtm(da.ones((4, 4), dtype=np.int64))


def test_local_cluster():
    distributed = pytest.importorskip("distributed")
    a, _, _ = spd(8, 50.0, batch=(8,), seed=13)
    g = np.random.default_rng(14).standard_normal(a.shape)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
        dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
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
