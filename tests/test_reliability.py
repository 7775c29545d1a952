"""No silent wrong results: each case here once returned a finite, wrong answer (or crashed) without a word.

Every test fails on the code before the fix and names the behaviour it now has: a correct answer, or a clear
error that says what to do.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg as sla
from conftest import rel_err, spd, to_numpy

import matfunc

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


# --- 1. gradients at singular PSD input with the Lyapunov backward ---------------------------------------


def _rank_deficient(seed, dtype):
    """F (6 x 3) and A = F F^T: rank 3, the covariance-pooling case of more channels than samples."""
    return np.random.default_rng(seed).standard_normal((6, 3)).astype(dtype)


def _loss_weights(n):
    return np.cos(np.arange(n * n, dtype=np.float64)).reshape(n, n)


def _grad_f_numpy(f64, method, backward, dtype, inverse=False, ridge=0.0):
    """d/dF sum(W * f(F F^T + ridge I)) through matfunc's manual VJP: dF = (dA + dA^T) F."""
    f = f64.astype(dtype)
    a = f @ f.T + ridge * np.eye(6, dtype=dtype)
    vjp_fn = matfunc.inv_sqrtm_vjp if inverse else matfunc.sqrtm_vjp
    _, vjp = vjp_fn(a, method, backward=backward)
    da = vjp(_loss_weights(6).astype(dtype)).astype(np.float64)
    return (da + da.T) @ f64


def _fd_grad_f(f64, inverse=False, ridge=0.0):
    """Central differences through F in float64: the independent reference. For the root of the singular
    F F^T they run on its closed form F (F^T F)^{-1/2} F^T (smooth in F; an eigensolver's square roots of the
    rounding-level null eigenvalues would be 1e-8 noise, 1% after dividing by h)."""
    w = _loss_weights(6)

    def loss(f):
        if inverse:
            return np.sum(w * matfunc.inv_sqrtm(f @ f.T + ridge * np.eye(6), "eig"))
        return np.sum(w * (f @ np.linalg.inv(sla.sqrtm(f.T @ f)) @ f.T))

    h = 1e-6
    out = np.zeros_like(f64)
    for idx in np.ndindex(*f64.shape):
        e = np.zeros_like(f64)
        e[idx] = h
        out[idx] = (loss(f64 + e) - loss(f64 - e)) / (2 * h)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["newton-schulz", "eig"])
def test_lyapunov_backward_at_rank_deficient_input(dtype, method):
    """sqrtm(F F^T) differentiated through F: the Lyapunov backward was 47% off (the sign iteration leaves
    the null space of S unconverged and halved the range/null blocks). The null-space eigenvalues of A carry
    rounding ``n eps lambda_max``, so their square roots, and every method's gradient, are good to
    ``sqrt(n eps)`` relative to the smallest nonzero root ``sigma_3(F)`` (eig included): that is the tolerance,
    against finite differences in float64."""
    eps = float(np.finfo(dtype).eps)
    for seed in range(3):
        f = _rank_deficient(seed, np.float64)
        sv = np.linalg.svd(f, compute_uv=False)
        tol = 10 * math.sqrt(6 * eps) * sv[0] / sv[-1]
        ref = _fd_grad_f(f)
        assert rel_err(_grad_f_numpy(f, "eig", "eig", dtype), ref) <= tol
        assert rel_err(_grad_f_numpy(f, method, "lyapunov", dtype), ref) <= tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lyapunov_backward_inv_sqrtm_with_ridge(dtype):
    """inv_sqrtm needs a ridge at rank-deficient input; with one, the Lyapunov backward matches."""
    eps = float(np.finfo(dtype).eps)
    f = _rank_deficient(4, np.float64)
    ridge = 1e-2
    cond = (np.linalg.eigvalsh(f @ f.T).max() + ridge) / ridge
    ref = _fd_grad_f(f, inverse=True, ridge=ridge)
    tol = 100 * eps * cond + 1e-7  # rounding times cond(A); 1e-7: the finite differences' own error
    assert rel_err(_grad_f_numpy(f, "newton-schulz", "lyapunov", dtype, inverse=True, ridge=ridge), ref) <= tol


def test_lyapunov_backward_rank_deficient_torch_and_jax():
    """The same through autograd (torch) and jax.grad: the glue calls the same core solve."""
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    f = _rank_deficient(0, np.float64)
    ref = _fd_grad_f(f)
    w = _loss_weights(6)
    ft = torch.tensor(f, requires_grad=True)
    (torch.sum(torch.tensor(w) * matfunc.sqrtm(ft @ ft.T, "newton-schulz"))).backward()
    assert rel_err(ft.grad, ref) <= 10 * math.sqrt(6 * EPS64)
    gj = jax.grad(lambda x: jax.numpy.sum(w * matfunc.sqrtm(x @ x.T, "newton-schulz")))(jax.numpy.asarray(f))
    assert rel_err(gj, ref) <= 10 * math.sqrt(6 * EPS64)


def test_lyapunov_backward_unchanged_where_it_converges():
    """The deflation is the identity for converged directions: full rank, cond 1e6, vs the exact gradient."""
    a, _, _ = spd(16, 1e6, batch=(2,), seed=1)
    g = np.random.default_rng(2).standard_normal(a.shape)
    ref = matfunc.sqrtm_vjp(a, "eig", backward="eig")[1](g)
    da = matfunc.sqrtm_vjp(a, "eig", backward="lyapunov")[1](g)
    assert rel_err(da, to_numpy(ref)) <= 100 * EPS64 * 1e6**0.5


# --- 2. past the covered condition number: an error that names the fix ----------------------------------


def _ill_conditioned_covariance(cond, n=30, seed=0):
    a, _, _ = spd(n, cond, seed=seed)
    return a


def test_inv_sqrtm_newton_schulz_past_its_range_raises():
    """cond 6e11 (scikit-learn's breast_cancer covariance): 15 steps whitened with error 0.98, silently."""
    a = _ill_conditioned_covariance(6e11)
    with pytest.raises(ValueError, match=r"not converged.*10 'polar-express' steps cover.*newton_schulz_iters"):
        matfunc.inv_sqrtm(a, "newton-schulz")
    with pytest.raises(ValueError, match=r"not converged"):
        matfunc.inv_sqrtm_vjp(a, "newton-schulz")
    w = matfunc.inv_sqrtm(a, "newton-schulz", check=False)  # the raw result is still there
    assert np.linalg.norm(w @ a @ w - np.eye(30)) > 0.5
    # the remedy the message names works
    k = matfunc.newton_schulz_iters(1e12)
    w = matfunc.inv_sqrtm(a, "newton-schulz", num_iters=k)
    assert rel_err(w, matfunc.inv_sqrtm(a, "eig")) <= 100 * EPS64 * 6e11


@pytest.mark.parametrize("cond", [1e2, 1e6, 1e8])
def test_check_passes_within_range(xp, cond):
    """No false alarms: every method, float64, up to the default coverage (and Padé/Taylor anywhere)."""
    a, _, _ = spd(16, cond, batch=(2,), seed=3)
    for method in ("eig", "newton-schulz", "pade", "taylor"):
        matfunc.sqrtm(xp.asarray(a), method)
        if method in ("eig", "newton-schulz"):
            matfunc.inv_sqrtm(xp.asarray(a), method)


def test_check_passes_float32_within_range():
    for cond in (1e1, 1e3, 1e5):
        a, _, _ = spd(32, cond, batch=(2,), seed=5, dtype=np.float32)
        for method in ("eig", "newton-schulz", "pade", "taylor"):
            matfunc.sqrtm(a, method)
        matfunc.inv_sqrtm(a, "eig")
        matfunc.inv_sqrtm(a, "newton-schulz")


def test_newton_schulz_divergence_on_rounding_negative_eigenvalues_raises():
    """F F^T (rank 3) in float32 with 16 steps: the rounding-level negative eigenvalues grow each step and the
    "root" was 4.5e5 times off, finite and silent."""
    f = _rank_deficient(0, np.float32)
    # (16 scaled cubic steps stay finite; 16 of the default quintic steps overflow, which the check names too)
    assert np.all(np.isfinite(matfunc.sqrtm(f @ f.T, "newton-schulz", num_iters=16, schedule="scaled", check=False)))
    with pytest.raises(ValueError, match="not converged"):
        matfunc.sqrtm(f @ f.T, "newton-schulz", num_iters=16, schedule="scaled")
    with pytest.raises(ValueError, match="not converged|NaN/Inf"):
        matfunc.sqrtm(f @ f.T, "newton-schulz", num_iters=16)


def test_solve_lyapunov_past_its_range_raises():
    """cond(S) = 1e6 needs newton_schulz_iters(1e12, schedule="scaled") steps; the default 15 were 84% off, silently."""
    s, _, _ = spd(16, 1e6, seed=6)
    g = np.random.default_rng(7).standard_normal((16, 16))
    ref = sla.solve_continuous_lyapunov(s, g)
    assert rel_err(matfunc.solve_lyapunov(s, g, check=False), ref) > 0.1
    with pytest.raises(ValueError, match=r"not solved.*newton_schulz_iters\(cond\(S\)\*\*2, schedule='scaled'\)"):
        matfunc.solve_lyapunov(s, g)
    x = matfunc.solve_lyapunov(s, g, num_iters=matfunc.newton_schulz_iters(1e12, schedule="scaled"))
    assert rel_err(x, ref) <= 100 * EPS64 * 1e6**2


# --- 3. indefinite or singular S in solve_lyapunov --------------------------------------------------------


@pytest.mark.parametrize("method", ["sign", "eig"])
@pytest.mark.parametrize("kind", ["singular", "indefinite"])
def test_solve_lyapunov_singular_or_indefinite_s_raises(xp, method, kind):
    q, _ = np.linalg.qr(np.random.default_rng(8).standard_normal((5, 5)))
    w = [1.0, 0.5, 0.2, 0.1, 0.0] if kind == "singular" else [1.0, 0.5, 0.2, 0.1, -0.1]
    s = q @ np.diag(w) @ q.T
    s = (s + s.T) / 2
    g = np.random.default_rng(9).standard_normal((5, 5))
    g = g + g.T
    with pytest.raises(ValueError, match="not solved"):
        matfunc.solve_lyapunov(xp.asarray(s), xp.asarray(g), method)


# --- 4. byte order, array-likes --------------------------------------------------------------------------


def test_big_endian_float64_is_computed_in_float64():
    a, root, inv_root = spd(8, 100.0)
    big = a.astype(">f8")
    y = matfunc.sqrtm(big)
    assert y.dtype == np.float64 and rel_err(y, root) <= 100 * EPS64 * 10  # was 1e-7: float32 inside
    assert rel_err(matfunc.inv_sqrtm(big.astype(">f4").astype(">f8")), inv_root) <= 1e-6
    y, vjp = matfunc.sqrtm_vjp(a.astype("<f8").astype(">f8"))
    assert vjp(big).dtype == np.float64
    assert matfunc.solve_lyapunov(big, big).dtype == np.float64


def test_lists_and_np_matrix_behave_as_in_scipy():
    lst = [[4, 0], [0, 9]]
    np.testing.assert_allclose(matfunc.sqrtm(lst), [[2.0, 0.0], [0.0, 3.0]], rtol=4 * EPS64)
    np.testing.assert_allclose(matfunc.sqrtm(((4.0, 0.0), (0.0, 9.0))), sla.sqrtm(np.array(lst, float)), rtol=4 * EPS64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # NumPy discourages np.matrix; users have it
        m = np.matrix([[4.0, 1.0], [1.0, 3.0]])
    y = matfunc.sqrtm(m)
    assert type(y) is np.ndarray
    np.testing.assert_allclose(y @ y, np.asarray(m), rtol=10 * EPS64)
    assert type(matfunc.inv_sqrtm(m)) is np.ndarray
    ref = sla.solve_continuous_lyapunov(np.asarray(m), np.asarray(m))
    np.testing.assert_allclose(matfunc.solve_lyapunov(m, m), ref, rtol=0, atol=100 * EPS64)


# --- 5. Padé degree ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("degree", [21, 40, (25, 5), 1000])
def test_pade_degree_past_its_accuracy_is_an_error(degree):
    """[40/40] was 1.5e-2 off, [50/50] 2.5 on a cond-4 matrix; degree 1000 hung in exact rationals."""
    with pytest.raises(ValueError, match=r"above 20.*newton-schulz"):
        matfunc.sqrtm(np.eye(3), "pade", degree=degree)


def test_every_accepted_pade_degree_is_accurate():
    """Up to [20/20] each degree is at least as accurate as its truncation error at cond 4 allows."""
    a, root, _ = spd(16, 4.0, seed=1)
    errs = {d: rel_err(matfunc.sqrtm(a, "pade", degree=d), root) for d in (5, 8, 12, 16, 20)}
    assert errs[20] <= 1e-9 and errs[12] <= 1e-11 and errs[8] <= errs[5]


# --- 6. the VJP closure owns its state ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["newton-schulz", "eig", "pade"])
def test_vjp_closure_does_not_share_the_returned_output(method):
    a, _, _ = spd(6, 10.0, batch=(2,))
    g = np.random.default_rng(0).standard_normal(a.shape)
    y, vjp = matfunc.sqrtm_vjp(a, method)
    ref = vjp(g)
    y *= 2
    y[...] = np.nan
    np.testing.assert_array_equal(vjp(g), ref)


# --- crashes and unclear errors ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(17, 64, 64), (1025, 8, 8)])
def test_array_api_strict_batches_larger_than_a_block(shape):
    xps = pytest.importorskip("array_api_strict")
    a, root, _ = spd(shape[-1], 10.0, batch=shape[:1], seed=2)
    y = matfunc.sqrtm(xps.asarray(a))
    assert rel_err(y, root) <= 100 * EPS64 * 10
    _, vjp = matfunc.sqrtm_vjp(xps.asarray(a), "newton-schulz")
    assert vjp(xps.asarray(a)).shape == shape


def test_entries_near_the_float_maximum():
    """(a + a^T) / 2 overflowed and the input was called 'not positive semidefinite'."""
    a, root, inv_root = spd(4, 10.0)
    big = np.finfo(np.float64).max / 2
    for method in ("eig", "newton-schulz", "pade"):
        y = matfunc.sqrtm(a * big, method)
        tol = 100 * EPS64 * 10 if method != "pade" else 1e-3
        assert rel_err(y / math.sqrt(big), root) <= tol
    assert rel_err(matfunc.inv_sqrtm(a * big) * math.sqrt(big), inv_root) <= 100 * EPS64 * 10


def test_singular_error_path_is_vectorised():
    """The error path looped in Python over the batch (100000 x 4 x 4: 6 s NumPy, minutes torch)."""
    a = np.broadcast_to(np.eye(4), (100_000, 4, 4)).copy()
    a[73_456] = np.diag([1.0, 1.0, 1.0, 0.0])
    with pytest.raises(matfunc.SingularMatrixError, match=r"batch index \(73456,\).*ridge"):
        matfunc.inv_sqrtm(a)


def test_torch_meta_tensors_propagate_shapes():
    torch = pytest.importorskip("torch")
    m = torch.empty(3, 5, 5, device="meta", dtype=torch.float64)
    for method in ("auto", "eig", "newton-schulz", "pade", "taylor"):
        y = matfunc.sqrtm(m, method)
        assert y.device.type == "meta" and y.shape == (3, 5, 5) and y.dtype == torch.float64
        assert matfunc.inv_sqrtm(m, method).shape == (3, 5, 5)


def test_checks_on_tensors_that_require_grad_emit_no_warning():
    torch = pytest.importorskip("torch")
    a, _, _ = spd(5, 10.0, batch=(2,))
    t = torch.tensor(a, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (matfunc.sqrtm, matfunc.inv_sqrtm):
            fn(t, "newton-schulz").sum().backward()
        matfunc.solve_lyapunov(t, t)


@pytest.mark.parametrize(
    ("kw", "call"),
    [
        ({"scale": "Frobenius"}, matfunc.sqrtm),
        ({"backward": "svd_pade"}, matfunc.sqrtm),
        ({"backward": "SVD-Pade", "method": "eig"}, matfunc.inv_sqrtm),
        ({"method": "Newton_Schulz"}, matfunc.sqrtm),
    ],
)
def test_option_names_are_case_and_underscore_tolerant(kw, call):
    a, _, _ = spd(4, 10.0)
    ref = call(a, **{k: v.lower().replace("_", "-") for k, v in kw.items()})
    np.testing.assert_array_equal(call(a, **kw), ref)


def test_unused_options_are_still_validated():
    s, _, _ = spd(4, 10.0)
    with pytest.raises(ValueError, match="scale must be"):
        matfunc.solve_lyapunov(s, s, method="eig", scale="bogus")
    with pytest.raises(ValueError, match="num_iters applies to method='sign'"):
        matfunc.solve_lyapunov(s, s, method="eig", num_iters=3)
    np.testing.assert_array_equal(matfunc.solve_lyapunov(s, s, "SIGN", scale="Spectral"), matfunc.solve_lyapunov(s, s))
    with pytest.raises(TypeError, match="got None"):
        matfunc.newton_schulz_iters(1e3, None)


@pytest.mark.parametrize("cond", [1e9, 1e12])
def test_logm_iss_beyond_its_condition_raises_instead_of_losing_small_eigenvalues(xp, cond):
    """Inverse scaling and squaring takes square roots whose normwise residual is fine while the smallest
    eigenvalues are lost (11% error in log at cond 1e12 with the default range): the range is checked."""
    from conftest import spd as _spd

    a, _, _ = _spd(16, cond, batch=(3,), seed=4)
    b = a.copy()
    b[0] = _spd(16, 10.0, seed=5)[0]  # only matrix 1 and 2 are beyond the range
    with pytest.raises(
        ValueError,
        match=r"logm\(method='iss'\): the matrix at batch index \(1,\) has condition "
        r"number up to .*max_cond=",
    ):
        matfunc.logm(xp.asarray(b), method="iss")
    w, q = np.linalg.eigh(a)
    ref = (q * np.log(w)[..., None, :]) @ np.swapaxes(q, -1, -2)
    out = np.asarray(matfunc.logm(xp.asarray(a), method="iss", max_cond=10 * cond))
    kappa = w[..., -1] / w[..., 0]
    err = np.linalg.norm(out - ref, axis=(-2, -1)) / np.linalg.norm(ref, axis=(-2, -1))
    # once covered, as accurate as the conditioning allows: an absolute error eps ||A|| moves log(lambda_min)
    # by eps kappa (what eigh-based logm reaches too)
    bound = 10 * np.finfo(np.float64).eps * kappa / np.linalg.norm(ref, axis=(-2, -1))
    assert np.all(err < bound), (err, bound)
