"""Bad input gets a clear error naming the problem; options are validated."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import spd

import matfunc

FUNCS = [matfunc.sqrtm, matfunc.inv_sqrtm]


@pytest.mark.parametrize("f", FUNCS)
@pytest.mark.parametrize("shape", [(3,), (), (2, 3), (4, 2, 3)])
def test_shape_errors_name_the_shape(xp, f, shape):
    x = xp.asarray(np.ones(shape))
    with pytest.raises(ValueError, match=r"\(\.\.\., n, n\).*" + str(shape).replace("(", r"\(").replace(")", r"\)")[:6]):
        f(x)


@pytest.mark.parametrize("f", FUNCS)
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_and_bool_are_type_errors(xp, f, dtype):
    x = xp.asarray(np.eye(3).astype(dtype))
    with pytest.raises(TypeError, match="real floating-point"):
        f(x)


@pytest.mark.parametrize("f", FUNCS)
def test_complex_is_a_type_error(xp, f):
    x = xp.asarray(np.eye(3, dtype=np.complex128))
    with pytest.raises(TypeError, match="complex"):
        f(x)


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


@pytest.mark.parametrize("method", ["eig", "pade", "taylor", "newton-schulz"])
def test_inv_sqrtm_singular_raises(xp, method):
    a = np.diag([1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="singular"):
        matfunc.inv_sqrtm(xp.asarray(a), method)
    with pytest.raises(np.linalg.LinAlgError):
        matfunc.inv_sqrtm(xp.asarray(a), method)


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
        ({"method": "ns", "num_iters": 2.5}, "num_iters"),
        ({"scale": "max"}, "scale"),
        ({"backward": "magic"}, "unknown backward"),
        ({"method": "eig", "backward": "eig", "backward_iters": 3}, "backward_iters applies"),
    ],
)
def test_option_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        matfunc.sqrtm(np.eye(3), **kw)


@pytest.mark.parametrize("alias", ["mtp", "MPA", "ns", "Newton-Schulz"])
def test_paper_aliases(alias):
    a, root, _ = spd(8, 10.0)
    assert np.all(np.isfinite(matfunc.sqrtm(a, alias)))
