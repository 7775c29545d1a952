"""Bad input gets a clear error naming the problem; options are validated."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import spd

import matfunc

EPS64 = float(np.finfo(np.float64).eps)

FUNCS = [matfunc.sqrtm, matfunc.inv_sqrtm]


@pytest.mark.parametrize("f", FUNCS)
@pytest.mark.parametrize("shape", [(3,), (), (2, 3), (4, 2, 3)])
def test_shape_errors_name_the_shape(xp, f, shape):
    x = xp.asarray(np.ones(shape))
    shape_re = str(shape).replace("(", r"\(").replace(")", r"\)")[:6]
    with pytest.raises(ValueError, match=r"\(\.\.\., n, n\).*" + shape_re):
        f(x)


@pytest.mark.parametrize("f", FUNCS)
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_and_bool_arrays_computed_in_float64(xp, f, dtype):
    """SciPy's rule, as for integer lists (issue 25 item 14: integer ndarrays were refused)."""
    x = xp.asarray(4 * np.eye(3).astype(dtype) if dtype != "bool" else np.eye(3).astype(dtype))
    y = f(x)
    assert str(y.dtype).endswith("float64")
    want = np.eye(3) * (2.0 if dtype != "bool" else 1.0)
    want = want if f is matfunc.sqrtm else np.linalg.inv(want)
    np.testing.assert_allclose(np.asarray(y if not hasattr(y, "detach") else y.detach()), want, rtol=1e-12)


@pytest.mark.parametrize(
    "name, f, want",
    [
        ("powm", lambda x: matfunc.powm(x, 0.5), 2.0),
        ("logm", matfunc.logm, math.log(4.0)),
        ("expm", lambda x: matfunc.expm(x / 4), math.e),
        ("polar", lambda x: matfunc.polar(x)[1], 4.0),
        ("bures_wasserstein", lambda x: matfunc.bures_wasserstein(x, x) + 2 * np.eye(3), 2.0),
        ("distance_riemann", lambda x: matfunc.distance_riemann(x, x) + 2 * np.eye(3), 2.0),
        ("whitening_coloring", lambda x: matfunc.whitening_coloring(x, x), 1.0),
    ],
)
def test_every_function_takes_integer_arrays_as_float64(name, f, want):
    """One rule for all public functions (issue 25 item 14): integer ndarrays are computed in float64, as
    integer lists are (SciPy's rule); before, every function but the roots refused them."""
    y = f(4 * np.eye(3, dtype=np.int64))
    assert y.dtype == np.float64, name
    if y.ndim == 2 and name not in ("whitening_coloring",):
        np.testing.assert_allclose(y, want * np.eye(3), rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("f", FUNCS)
def test_complex_hermitian_is_accepted(xp, f):
    """Complex input was a TypeError; it is Hermitian input now (tests/test_complex.py has the rest)."""
    x = xp.asarray(np.eye(3, dtype=np.complex128) * 4)
    y = f(x)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(
        np.asarray(y if not hasattr(y, "detach") else y.detach()),
        np.eye(3) * (2 if f is matfunc.sqrtm else 0.5),
        rtol=4 * EPS64,
    )


@pytest.mark.parametrize("f", FUNCS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_rejected_with_batch_index(xp, f, bad):
    a, _, _ = spd(4, 10.0, batch=(3, 2))
    a[2, 1, 0, 0] = bad
    with pytest.raises(ValueError, match=r"NaN or Inf.*batch index \(2, 1\)"):
        f(xp.asarray(a))


@pytest.mark.parametrize("f", FUNCS)
def test_nonsymmetric_rejected(xp, f):
    a, _, _ = spd(5, 10.0, batch=(2,))
    a[1, 0, 3] += 0.1
    with pytest.raises(ValueError, match=r"symmetric.*batch index \(1,\)"):
        f(xp.asarray(a))


def test_rounding_level_asymmetry_accepted():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((64, 200)).astype(np.float32)
    a = f @ f.T / 200  # BLAS products are symmetric only to rounding in general
    a[0, 1] *= 1 + 1e-6
    assert np.all(np.isfinite(matfunc.sqrtm(a)))


def test_half_precision_rounding_asymmetry_accepted():
    """Q D Q^T formed in float16: asymmetric by a few units in float16's last place, not in float32's."""
    q, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((16, 16)))
    h = q.astype(np.float16)
    a = (h * np.linspace(0.1, 1.0, 16).astype(np.float16)) @ h.T
    asym = np.abs(a - a.T).max() / np.abs(a).max()
    assert 1000 * np.finfo(np.float32).eps < asym < 16 * np.finfo(np.float16).eps  # the case that used to fail
    y = matfunc.sqrtm(a)
    assert y.dtype == np.float16 and np.all(np.isfinite(y))
    with pytest.raises(ValueError, match="not symmetric"):  # a real asymmetry is still caught
        a[0, 1] += 0.5
        matfunc.sqrtm(a)


@pytest.mark.skipif(np.finfo(np.longdouble).bits <= 64, reason="longdouble is float64 on this platform")
def test_extended_precision_is_a_type_error():
    with pytest.raises(TypeError, match="extended precision.*float64"):
        matfunc.sqrtm(np.eye(3, dtype=np.longdouble))


@pytest.mark.parametrize("f", FUNCS)
@pytest.mark.parametrize("method", ["eig", "pade", "taylor", "newton-schulz"])
def test_negative_diagonal_rejected(xp, f, method):
    a, _, _ = spd(4, 10.0, batch=(3,))
    a[2] = np.diag([4.0, -1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"positive semidefinite.*batch index \(2,\).*negative diagonal"):
        f(xp.asarray(a), method)


def test_indefinite_input_never_returns_nan_silently():
    """Indefinite with a positive diagonal: Newton–Schulz diverges; check=True reports it instead of NaN/Inf."""
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((4, 4)))
    a = q @ np.diag([1.0, 0.5, 0.1, -1e-3]) @ q.T
    a = np.stack([np.eye(4), (a + a.T) / 2])
    assert np.all(np.diagonal(a, axis1=-2, axis2=-1) > 0)
    with pytest.raises(ValueError, match=r"NaN/Inf for the matrix at batch index \(1,\).*not positive semidefinite"):
        with np.errstate(all="ignore"):
            matfunc.sqrtm(a, "newton-schulz")
    with pytest.raises(ValueError, match="not positive semidefinite"):
        with np.errstate(all="ignore"):
            matfunc.sqrtm_vjp(a, "newton-schulz")
    with np.errstate(all="ignore"):
        raw = matfunc.sqrtm(a, "newton-schulz", check=False)  # unchecked: the raw result
    assert not np.all(np.isfinite(raw[1]))
    np.testing.assert_allclose(matfunc.sqrtm(a, "eig", check=False)[0], np.eye(4))  # unchecked eig clamps it


@pytest.mark.parametrize("method", ["eig", "pade", "taylor", "newton-schulz"])
def test_indefinite_with_positive_diagonal_is_an_error(xp, method):
    """[[1, 2], [2, 1]] (eigenvalues 3, -1) has no real root: every method's residual shows it (eig used to
    return a "root" with ||Y^2 - A|| / ||A|| = 0.32, pade an indefinite one)."""
    a = np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match=r"batch index \(1,\).*(indefinite|not positive semidefinite|not converged)"):
        matfunc.sqrtm(xp.asarray(a), method)
    with pytest.raises(ValueError, match=r"batch index \(1,\)"):
        matfunc.sqrtm_vjp(xp.asarray(a), method)
    y = np.asarray(matfunc.sqrtm(xp.asarray(a[:1]), method))  # the PSD one alone passes
    np.testing.assert_allclose(y[0], np.eye(2), atol=1e-3 if method in ("pade", "taylor") else 1e-14)


@pytest.mark.parametrize("method", ["eig", "pade", "taylor", "newton-schulz"])
def test_zero_matrix_has_zero_root(xp, method):
    """A dead channel (all-zero covariance) in a batch: its root is 0 for every method, the others unchanged."""
    a, root, _ = spd(5, 10.0, batch=(3,))
    a[1] = 0.0
    y = np.asarray(matfunc.sqrtm(xp.asarray(a), method))
    assert np.all(y[1] == 0)
    # the others as computed without the zero matrix (to rounding: batched BLAS may block a batch of 3 and of 2
    # differently, e.g. torch's batched Cholesky solve on MKL)
    ref = np.asarray(matfunc.sqrtm(xp.asarray(a[[0, 2]]), method))
    np.testing.assert_allclose(y[[0, 2]], ref, rtol=0, atol=10 * EPS64 * np.abs(ref).max())


@pytest.mark.parametrize("method", ["eig", "pade", "taylor", "newton-schulz"])
def test_inv_sqrtm_singular_raises(xp, method):
    a = np.diag([1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="singular"):
        matfunc.inv_sqrtm(xp.asarray(a), method)
    with pytest.raises(np.linalg.LinAlgError):
        matfunc.inv_sqrtm(xp.asarray(a), method)


def test_singular_matrix_named_by_batch_index(xp):
    a = np.stack([np.eye(3)] * 5)
    a[3, 2, 2] = 0.0
    with pytest.raises(matfunc.SingularMatrixError, match=r"matrix at batch index \(3,\) is singular"):
        matfunc.inv_sqrtm(xp.asarray(a))


def test_inv_sqrtm_numerically_singular_raises():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((6, 3))
    with pytest.raises(matfunc.SingularMatrixError):
        matfunc.inv_sqrtm(f @ f.T)  # rank 3: eigenvalues at rounding level, of either sign


def test_inv_sqrtm_ill_conditioned_but_regular_passes():
    a, _, inv_root = spd(16, 1e10, batch=(2,))
    assert np.all(np.isfinite(matfunc.inv_sqrtm(a, "eig")))


def test_check_false_skips_value_checks():
    a = np.array([[1.0, 0.5], [0.0, 1.0]])
    matfunc.sqrtm(a, check=False)  # no error: the symmetric part is used


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"method": "cholesky"}, "unknown method"),
        ({"method": "pade", "degree": -1}, "degree"),
        ({"method": "pade", "degree": (3, 4, 5)}, r"\(m, n\)"),
        ({"method": "eig", "degree": 3}, "degree applies"),
        ({"method": "eig", "num_iters": 3}, "num_iters applies"),
        ({"method": "ns", "num_iters": 0}, "num_iters must be >= 1"),
        ({"method": "taylor", "degree": 0}, "degree must be >= 1"),
        ({"method": "pade", "degree": (0, 0)}, "m \\+ n >= 1"),
        ({"method": "pade", "backward_iters": 0}, "backward_iters must be >= 1"),
        ({"num_iters": 10}, "named method"),  # auto: 'eig' on CPU, 'newton-schulz' on GPU -> same error on both
        ({"degree": 5}, "named method"),
        ({"scale": "max"}, "scale"),
        ({"backward": "magic"}, "unknown backward"),
        ({"method": "eig", "backward": "eig", "backward_iters": 3}, "backward_iters applies"),
    ],
)
def test_option_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        matfunc.sqrtm(np.eye(3), **kw)


@pytest.mark.parametrize(
    "kw", [{"method": "ns", "num_iters": 2.5}, {"method": "pade", "degree": "5"}, {"method": "taylor", "degree": True}]
)
def test_option_type_errors(kw):
    with pytest.raises(TypeError, match="must be an integer"):
        matfunc.sqrtm(np.eye(3), **kw)


def test_numpy_integers_are_integers():
    a, _, _ = spd(6, 10.0)
    ref = matfunc.sqrtm(a, "pade", degree=7, backward_iters=9)
    np.testing.assert_array_equal(matfunc.sqrtm(a, "pade", degree=np.int64(7), backward_iters=np.int32(9)), ref)
    np.testing.assert_array_equal(matfunc.sqrtm(a, "ns", num_iters=np.int64(12)), matfunc.sqrtm(a, "ns", num_iters=12))


@pytest.mark.parametrize("alias", ["mtp", "MPA", "ns", "Newton-Schulz"])
def test_paper_aliases(alias):
    a, root, _ = spd(8, 10.0)
    assert np.all(np.isfinite(matfunc.sqrtm(a, alias)))


@pytest.mark.parametrize(
    ("s", "g", "match"),
    [
        (np.diag([1.0, -1.0]), np.eye(2), "negative diagonal"),  # indefinite S: no error before, 0.5 I
        (np.eye(2), np.array([[np.nan, 0.0], [0.0, 1.0]]), r"\(g\).*NaN"),
        (np.array([[1.0, 0.5], [0.0, 1.0]]), np.eye(2), "not symmetric"),
    ],
)
def test_solve_lyapunov_checks_values(xp, s, g, match):
    with pytest.raises(ValueError, match=match):
        matfunc.solve_lyapunov(xp.asarray(s), xp.asarray(g))
    matfunc.solve_lyapunov(xp.asarray(s), xp.asarray(g), check=False)  # unchecked: no error


def test_solve_lyapunov_method_case_and_steps():
    s, g = np.diag([2.0, 3.0]), np.array([[4.0, 5.0], [5.0, 6.0]])
    np.testing.assert_allclose(matfunc.solve_lyapunov(s, g, "EIG"), np.ones((2, 2)))
    np.testing.assert_allclose(matfunc.solve_lyapunov(s, g, "Sign", num_iters=np.int64(12)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="num_iters must be >= 1"):
        matfunc.solve_lyapunov(s, g, num_iters=0)


def test_newton_schulz_iters_takes_dtype_objects():
    ref = {name: matfunc.newton_schulz_iters(1e3, name) for name in ("float32", "float64")}
    assert ref["float32"] < ref["float64"]
    assert matfunc.newton_schulz_iters(1e3, np.float32) == ref["float32"]
    assert matfunc.newton_schulz_iters(1e3, np.dtype("float64")) == ref["float64"]
    assert matfunc.newton_schulz_iters(1e3, "float16") == ref["float32"]  # half precision runs in float32
    torch = pytest.importorskip("torch")
    assert matfunc.newton_schulz_iters(1e3, torch.bfloat16) == ref["float32"]
    assert matfunc.newton_schulz_iters(1e3, torch.float64) == ref["float64"]
    with pytest.raises(ValueError, match="dtype must be"):
        matfunc.newton_schulz_iters(1e3, np.int64)
