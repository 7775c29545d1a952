"""The speed primitives of issue 26 give the bits (or the accuracy) of the plain forms they replace, on every
backend: the tiled symmetrisation and asymmetry, the Gram and Hermitian products by halves, the signed Gram
matrix, and one-block batches without a copy."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

from matfunc._compat import array_namespace
from matfunc.core import blocking, primitives

EPS64 = float(np.finfo(np.float64).eps)


def _plain_sym(a):
    h = a * 0.5
    return h + np.swapaxes(h, -1, -2)


@pytest.mark.parametrize(
    "shape",
    [(1, 1024, 1024), (4, 256, 256), (3, 2, 300, 300), (1000, 1000), (513, 513), (5, 64, 64), (2, 130, 130)],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_symmetrize_tiled_gives_the_bits_of_sym_and_asymmetry(shape, dtype):
    """NumPy's tiled pass (square tiles, any n, batches, tiles cut at the edge) against the whole-array forms,
    bit for bit; NaN and Inf propagate as there (a not-finite asymmetry is what names them)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    a[..., 7, 3] += 1.0  # asymmetric somewhere below the diagonal
    a[..., 2, shape[-1] - 1] -= 2.0  # and above it, in the last tile column
    xp = array_namespace(a)
    for case in ("finite", "nan", "inf", "diag-inf"):
        b = a.copy()
        if case == "nan":
            b[..., shape[-1] - 1, 5] = np.nan
        elif case == "inf":
            b[..., 200 % shape[-1], 1] = np.inf
        elif case == "diag-inf":
            b[..., 9, 9] = -np.inf
        with np.errstate(invalid="ignore"):  # (Inf - Inf; the public entries run quiet and report it)
            s, asym = primitives.symmetrize(b, xp=xp, with_asymmetry=True)
            ref_s, ref_asym = _plain_sym(b), np.max(b - np.swapaxes(b, -1, -2), axis=(-2, -1))
        np.testing.assert_array_equal(s, ref_s, err_msg=case)
        np.testing.assert_array_equal(asym, ref_asym, err_msg=case)
        np.testing.assert_array_equal(primitives.symmetrize(b, xp=xp), ref_s, err_msg=case)
        assert s.dtype == b.dtype and asym.dtype == b.dtype
    np.testing.assert_array_equal(a, a.copy())  # (the input is never written: a fresh copy compares equal)


def test_symmetrize_on_other_backends_is_sym(xp):
    """Without an override the pair is ``sym`` and ``asymmetry`` themselves."""
    a = np.random.default_rng(1).standard_normal((2, 40, 40))
    x = xp.asarray(a)
    s, asym = primitives.symmetrize(x, xp=array_namespace(x), with_asymmetry=True)
    np.testing.assert_array_equal(to_numpy(s), _plain_sym(a))
    np.testing.assert_allclose(to_numpy(asym), np.max(np.abs(a - np.swapaxes(a, -1, -2)), axis=(-2, -1)))


@pytest.mark.parametrize("n", [100, 512, 700, 1024])
def test_hermitian_products_are_exactly_hermitian_and_accurate(xp, n):
    """Gram and signed Gram matrices by halves (CPU, n >= 512), joined or assembled in place (PyTorch): exactly
    symmetric, and within the product's rounding of the float64 reference (``n eps |W| |W|^T``)."""
    rng = np.random.default_rng(n)
    w = rng.standard_normal((2, n, n))
    d = rng.standard_normal((2, n))
    x, dx = xp.asarray(w), xp.asarray(d)
    ns = array_namespace(x)
    for label, got, u, ref in (
        ("gram", primitives.gram(x, xp=ns), w, w @ np.swapaxes(w, -1, -2)),
        (
            "signed",
            primitives.signed_gram(x, dx, xp=ns),
            w * np.abs(d)[..., None, :],
            (w * d[..., None, :]) @ np.swapaxes(w, -1, -2),
        ),
        ("joined", primitives.hermitian_product(x, x, xp=ns), w, w @ np.swapaxes(w, -1, -2)),
    ):
        y = to_numpy(got)
        np.testing.assert_array_equal(y, np.swapaxes(y, -1, -2), err_msg=label)
        bound = n * EPS64 * (np.abs(u) @ np.swapaxes(np.abs(w), -1, -2))
        assert np.all(np.abs(y - ref) <= bound), label


@pytest.mark.parametrize("signs", ["mixed", "negative", "positive", "zero", "unsorted"])
def test_numpy_signed_gram_splits_by_sign(signs):
    """``W_+ W_+^T - W_- W_-^T`` over the columns of each sign (a view when they form a range, as for sorted
    values; gathered otherwise): exactly symmetric, equal to ``V diag(d) V^T`` to rounding."""
    rng = np.random.default_rng(3)
    v = np.linalg.qr(rng.standard_normal((3, 60, 60)))[0]
    d = np.sort(rng.standard_normal((3, 60)), axis=-1)
    d = {"mixed": d, "negative": -np.abs(d), "positive": np.abs(d), "zero": 0 * d, "unsorted": d[..., ::-1]}[signs]
    y = primitives.signed_gram(v, d, xp=array_namespace(v))
    np.testing.assert_array_equal(y, np.swapaxes(y, -1, -2))
    ref = (v * d[..., None, :]) @ np.swapaxes(v, -1, -2)
    np.testing.assert_allclose(y, ref, rtol=0, atol=60 * EPS64 * np.abs(d).max())


def test_one_block_is_not_copied():
    """``over_batch`` with one block returns the block's result itself (no join: a copy of every output)."""
    a = np.ones((3, 4, 4))
    out = blocking.over_batch(lambda t: (t, t * 2), (a,), (3,), 3, xp=array_namespace(a))
    assert out[0] is a or np.shares_memory(out[0], a)
    parts = blocking.over_batch(lambda t: t * 2, (a,), (3,), 1, xp=array_namespace(a))
    np.testing.assert_array_equal(parts, 2 * a)


def test_deferred_input_checks_still_run_on_every_backend(xp):
    """The "eig" input checks read in (NumPy) or after (PyTorch, JAX) the forward, for the calls and the manual
    VJPs of the roots and the spectral family: an asymmetric or NaN input still raises its own error."""
    import matfunc

    asym = xp.asarray(np.array([[2.0, 0.5], [0.1, 2.0]]))
    nan = xp.asarray(np.array([[2.0, np.nan], [np.nan, 2.0]]))
    calls = [matfunc.sqrtm, matfunc.inv_sqrtm, matfunc.sqrtm_vjp, matfunc.inv_sqrtm_vjp, matfunc.logm, matfunc.logm_vjp]
    for f in calls:
        with pytest.raises(ValueError, match="symmetric"):
            f(asym, method="eig")
        with pytest.raises(ValueError, match="NaN or Inf"):
            f(nan, method="eig")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(4, 256, 256), (1, 1024, 1024), (2, 130, 130), (3, 40, 40)])
def test_symmetrize_lower_feeds_eigh_with_the_bits_of_sym(shape, dtype):
    """``lower=True`` (the symmetric part only feeds ``eigh``): its lower triangle has the bits of ``sym``, and
    NumPy's ``eigh`` of it gives the bits of ``eigh(sym(a))``, so the strict upper triangle it leaves unspecified
    is never read (this fails if ``eigh`` ever reads the upper triangle). The asymmetry is unchanged. float64
    arrives column-major where it is tiled or chunked (the transposed view of the upper triangle, or of all of
    the symmetric matrix: ``primitives._fortran_eigh``), in the same bits."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal(shape).astype(dtype)
    a[..., 9, 3] += 1.0
    xp = array_namespace(a)
    s, asym = primitives.symmetrize(a, xp=xp, with_asymmetry=True, lower=True)
    ref = _plain_sym(a)
    np.testing.assert_array_equal(np.tril(s), np.tril(ref))
    np.testing.assert_array_equal(asym, np.max(a - np.swapaxes(a, -1, -2), axis=(-2, -1)))
    if dtype == "float64" and a.nbytes >= primitives._TILE_BYTES // 2:
        assert np.swapaxes(s, -1, -2).flags.c_contiguous
    garbage = s.copy(order="K")  # (its layout)
    rows, cols = np.triu_indices(shape[-1], 1)
    garbage[..., rows, cols] = np.nan  # whatever the upper triangle holds
    for got, want in zip(np.linalg.eigh(garbage), np.linalg.eigh(ref), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "shape", [(4, 256, 256), (2, 130, 130), (3, 40, 40), (300, 300), (1, 1024, 1024), (64, 32, 32)]
)
def test_symmetrize_overwrite_gives_the_bits_of_sym(shape):
    """``overwrite=True`` (a temporary of the caller's): the bits of ``sym`` and of the asymmetry; NumPy writes
    into the array itself (chunks of the batch, or tiles), except for small arrays; never into a read-only one."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal(shape)
    a[..., 2, shape[-1] - 1] -= 2.0
    xp = array_namespace(a)
    t = a.copy()
    s, asym = primitives.symmetrize(t, xp=xp, with_asymmetry=True, overwrite=True)
    np.testing.assert_array_equal(s, _plain_sym(a))
    np.testing.assert_array_equal(asym, np.max(a - np.swapaxes(a, -1, -2), axis=(-2, -1)))
    t = a.copy()
    s = primitives.symmetrize(t, xp=xp, overwrite=True)
    np.testing.assert_array_equal(s, _plain_sym(a))
    assert np.shares_memory(s, t) == (t.nbytes >= primitives._TILE_BYTES // 2)  # (small: whole-array forms)
    ro = a.copy()
    ro.flags.writeable = False  # never written: a fresh result
    np.testing.assert_array_equal(primitives.symmetrize(ro, xp=xp, overwrite=True), _plain_sym(a))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(1, 1024, 1024), (4, 256, 256), (2, 130, 130), (300, 300), (64, 32, 32)])
def test_symmetrize_copy_false_reads_symmetric_input_and_writes_nothing(shape, dtype):
    """``copy=False``: exactly symmetric input comes back as itself (a view; float64 ``lower``: the column-major
    one), with a zero asymmetry, and nothing is written (a read-only input is accepted). Where one matrix (chunks)
    or one tile pair (tiles) is not symmetric, past others that are, the result is fresh and has the bits of
    ``sym`` everywhere, the asymmetry those of the whole-array form."""
    rng = np.random.default_rng(8)
    b = rng.standard_normal(shape).astype(dtype)
    a = _plain_sym(b)
    a.flags.writeable = False
    xp = array_namespace(a)
    for lower in (False, True):
        s, asym = primitives.symmetrize(a, xp=xp, with_asymmetry=True, lower=lower, copy=False)
        s2 = primitives.symmetrize(a, xp=xp, lower=lower, copy=False)
        np.testing.assert_array_equal(asym, np.zeros(shape[:-2], dtype))
        for got in (s, s2):
            np.testing.assert_array_equal(got, a)
            assert primitives.shares_memory(got, a) == (a.nbytes >= primitives._TILE_BYTES // 2)  # (small: sym)
            if lower and dtype == "float64" and primitives.shares_memory(got, a):
                assert np.swapaxes(got, -1, -2).flags.c_contiguous  # what eigh copies in order
    late = a.copy()
    late[(*(k - 1 for k in shape[:-2]), shape[-1] - 2, shape[-1] - 5)] += 1.0  # the last matrix, the last tile row
    for with_asym in (True, False):
        got = primitives.symmetrize(late, xp=xp, with_asymmetry=with_asym, lower=False, copy=False)
        s = got[0] if with_asym else got
        np.testing.assert_array_equal(s, _plain_sym(late))
        assert not primitives.shares_memory(s, late)
        if with_asym:
            np.testing.assert_array_equal(got[1], np.max(late - np.swapaxes(late, -1, -2), axis=(-2, -1)))
        low = primitives.symmetrize(late, xp=xp, with_asymmetry=with_asym, lower=True, copy=False)
        low = low[0] if with_asym else low
        np.testing.assert_array_equal(np.tril(low), np.tril(_plain_sym(late)))


@pytest.mark.parametrize("shape", [(1, 600, 600), (3, 200, 200), (64, 24, 24)])
def test_eig_calls_read_symmetric_input_without_writing_it(shape):
    """The ``"eig"`` forwards and VJPs hand exactly symmetric NumPy input to ``eigh`` itself
    (``symmetrize(copy=False)``) and never write into it (writable, and read-only), and the results agree
    with the plain eigh code to the conditioning's rounding."""
    import matfunc

    rng = np.random.default_rng(9)
    q = np.linalg.qr(rng.standard_normal(shape))[0]
    w = np.geomspace(1.0, 10.0, shape[-1]) * np.ones(shape[:-1])
    a = _plain_sym((q * w[..., None, :]) @ np.swapaxes(q, -1, -2))
    before = a.copy()
    ro = a.copy()
    ro.flags.writeable = False
    ref_w, ref_v = np.linalg.eigh(a)
    g = _plain_sym(rng.standard_normal(shape))
    for name, f in (("sqrt", np.sqrt), ("inv_sqrt", lambda x: 1 / np.sqrt(x)), ("log", np.log), ("exp", np.exp)):
        ref = (ref_v * f(ref_w)[..., None, :]) @ np.swapaxes(ref_v, -1, -2)
        fn = {"sqrt": matfunc.sqrtm, "inv_sqrt": matfunc.inv_sqrtm, "log": matfunc.logm, "exp": matfunc.expm}[name]
        vjp = {"sqrt": matfunc.sqrtm_vjp, "inv_sqrt": matfunc.inv_sqrtm_vjp, "log": matfunc.logm_vjp}.get(name)
        kw = {"method": "eig"} if name in ("sqrt", "inv_sqrt") else {}
        outs = [fn(x, check=c, **kw) for c in (True, False) for x in (a, ro)]
        if vjp is not None:
            y, back = vjp(a, **kw)
            outs.append(y)
            assert np.all(np.isfinite(back(g)))
        for y in outs:
            bound = 100 * shape[-1] * EPS64 * np.max(np.abs(ref), axis=(-2, -1), keepdims=True)
            assert np.all(np.abs(y - ref) <= bound), name
        np.testing.assert_array_equal(a, before, err_msg=name)


def test_putmask_is_where_and_updates_numpy_temporaries_in_place(xp):
    """``putmask(a, mask, value)`` is ``where(mask, value, a)`` on every backend; NumPy writes into ``a`` (a
    temporary of the caller's), but never into a read-only array or through a broadcast mask."""
    rng = np.random.default_rng(10)
    a = rng.standard_normal((3, 20, 20))
    mask = a > 0.5
    x, m = xp.asarray(a.copy()), xp.asarray(mask)
    got = primitives.putmask(x, m, -1.0, xp=array_namespace(x))
    np.testing.assert_array_equal(to_numpy(got), np.where(mask, -1.0, a))
    if isinstance(x, np.ndarray):
        assert got is x
        ro = a.copy()
        ro.flags.writeable = False
        np.testing.assert_array_equal(primitives.putmask(ro, mask, 2.0, xp=array_namespace(ro)), np.where(mask, 2.0, a))
        np.testing.assert_array_equal(ro, a)
        row = mask[:1, :1]  # broadcast: a fresh result of the broadcast shape
        np.testing.assert_array_equal(
            primitives.putmask(a[:1], row, 3.0, xp=array_namespace(a)), np.where(row, 3.0, a[:1])
        )


def test_matmul_and_congruence_reuse_temporaries_with_the_same_result(xp):
    """``matmul(out=)`` writes into ``out`` where the backend allows (NumPy) and gives ``a @ b`` everywhere
    (a mismatched ``out`` is ignored); ``congruence`` is ``V s(V^H G V) V^H`` bit for bit; ``from_eig`` with
    its buffers reused gives the bits of the plain call."""
    from matfunc.core.eig import from_eig

    rng = np.random.default_rng(7)
    a, b, g = (xp.asarray(rng.standard_normal((3, 50, 50))) for _ in range(3))
    ns = array_namespace(a)
    ref = to_numpy(a @ b)
    out = xp.asarray(np.zeros((3, 50, 50)))
    got = primitives.matmul(a, b, xp=ns, out=out)
    np.testing.assert_array_equal(to_numpy(got), ref)
    if isinstance(a, np.ndarray):
        assert got is out
    wrong = xp.asarray(np.zeros((3, 50, 50), dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(primitives.matmul(a, b, xp=ns, out=wrong)), ref)
    v = a

    def scale(m):
        return m * 2.0

    want = to_numpy((v @ scale((primitives.mH(v) @ g) @ v)) @ primitives.mH(v))
    np.testing.assert_array_equal(to_numpy(primitives.congruence(v, g, xp=ns, scale=scale)), want)
    d = xp.asarray(rng.uniform(0.5, 2.0, (3, 50)))
    plain = to_numpy(from_eig(v, d, xp=ns))
    v2 = xp.asarray(to_numpy(v), copy=True)
    tmp = xp.asarray(np.zeros((3, 50, 50)))
    np.testing.assert_array_equal(to_numpy(from_eig(v2, d, xp=ns, out=tmp, overwrite_v=True)), plain)


@pytest.mark.parametrize("n", [100, 512, 1024])
def test_hermitian_congruence_is_the_symmetric_part_of_the_congruence(xp, n):
    """``hermitian_congruence(v, g, scale)`` for a non-symmetric ``G`` and a Hadamard ``scale`` with a symmetric
    matrix: exactly symmetric, and ``sym(V s(V^T G V) V^T)`` within the products' rounding of the float64
    reference (``4 n eps`` times the same products of absolute values), by halves (CPU, n >= 512) or not."""
    rng = np.random.default_rng(n + 1)
    v = np.linalg.qr(rng.standard_normal((2, n, n)))[0]
    g = rng.standard_normal((2, n, n))
    k = rng.uniform(0.5, 2.0, (2, n, n))
    k = k + np.swapaxes(k, -1, -2)
    x, gx, kx = (xp.asarray(t) for t in (v, g, k))
    ns = array_namespace(x)

    def scale(m):
        return m * kx

    y = to_numpy(primitives.hermitian_congruence(x, gx, xp=ns, scale=scale))
    np.testing.assert_array_equal(y, np.swapaxes(y, -1, -2))
    vt = np.swapaxes(v, -1, -2)
    ref = _plain_sym(v @ (k * (vt @ g @ v)) @ vt)
    av, avt = np.abs(v), np.abs(vt)
    bound = 4 * n * EPS64 * (av @ (k * (avt @ np.abs(g) @ av)) @ avt)
    assert np.all(np.abs(y - ref) <= bound)


def test_torch_cpu_eigh_reads_the_lower_triangle_from_the_column_major_view():
    """PyTorch's CPU ``eigh`` (``backends.torch._lapack_eigh``) hands LAPACK a row-major matrix as its
    column-major ``a^H`` with ``UPLO="U"``: the lower triangle of ``a`` and nothing else, real and complex
    Hermitian, one matrix and batches, to ``torch.linalg.eigh``'s accuracy (``n eps ||a||`` for the eigenvalues,
    eigenvectors of the same matrix); a column-major input goes in as it is."""
    torch = pytest.importorskip("torch")
    from matfunc.backends import torch as glue

    rng = np.random.default_rng(11)
    for shape, dtype in (((600, 600), torch.float64), ((3, 64, 64), torch.float32), ((2, 40, 40), torch.complex128)):
        n = shape[-1]
        z = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if dtype.is_complex else 0)
        h = z + np.conj(np.swapaxes(z, -1, -2))
        a = torch.as_tensor(np.tril(h)).to(dtype)
        rows, cols = np.triu_indices(n, 1)
        a[..., rows, cols] = float("nan")  # whatever the upper triangle holds is never read
        w, v = glue._lapack_eigh(a)
        w_ref = np.linalg.eigvalsh(h)
        tol = 10 * n * float(torch.finfo(dtype).eps) * np.max(np.abs(w_ref))
        assert np.max(np.abs(w.numpy() - w_ref)) <= tol
        hv = torch.as_tensor(h).to(dtype) @ v
        assert float((hv - v * w.to(v.dtype)[..., None, :]).abs().max()) <= tol
        col = torch.as_tensor(h).to(dtype).mT.contiguous().mT  # column-major already
        np.testing.assert_allclose(glue._lapack_eigh(col)[0].numpy(), w.numpy(), rtol=0, atol=tol)
