"""Property tests (hypothesis): algebraic identities that must hold for any SPD input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matfunc


@st.composite
def spd_batches(draw, max_n=12, max_log_cond=4):
    n = draw(st.integers(1, max_n))
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    seed = draw(st.integers(0, 2**32 - 1))
    log_cond = draw(st.floats(0, max_log_cond))
    log_scale = draw(st.floats(-8, 8))
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    w = 10.0 ** (log_scale - log_cond * rng.random((*batch, 1, n)))
    a = (q * w) @ np.swapaxes(q, -1, -2)
    return (a + np.swapaxes(a, -1, -2)) / 2, 10.0**log_cond


METHODS = st.sampled_from(["eig", "newton-schulz"])


def _close(x, y, tol):
    return np.linalg.norm(x - y) <= tol * max(np.linalg.norm(y), np.finfo(float).tiny)


@settings(max_examples=40, deadline=None)
@given(spd_batches(), METHODS)
def test_square_of_root_is_input(data, method):
    a, cond = data
    y = matfunc.sqrtm(a, method)
    assert _close(y @ y, a, 1e-11 * cond**0.5 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(spd_batches(), METHODS)
def test_root_times_inverse_root_is_identity(data, method):
    a, cond = data
    y = matfunc.sqrtm(a, method)
    w = matfunc.inv_sqrtm(a, method)
    eye = np.broadcast_to(np.eye(a.shape[-1]), a.shape)
    assert _close(y @ w, eye, 1e-10 * cond + 1e-12)


@settings(max_examples=25, deadline=None)
@given(spd_batches(max_log_cond=3), st.sampled_from(["eig", "newton-schulz", "pade", "taylor"]))
def test_batch_consistency(data, method):
    """Each matrix of a batch gets the same result as when computed alone."""
    a, _ = data
    y = matfunc.sqrtm(a, method)
    flat_a = a.reshape(-1, *a.shape[-2:])
    flat_y = y.reshape(-1, *a.shape[-2:])
    for i in range(flat_a.shape[0]):
        single = matfunc.sqrtm(flat_a[i], method)
        assert _close(flat_y[i], single, 1e-12)


@settings(max_examples=25, deadline=None)
@given(spd_batches(max_log_cond=3), st.integers(0, 2**32 - 1), st.sampled_from(["eig", "newton-schulz", "pade"]))
def test_similarity_invariance(data, seed, method):
    """sqrtm(Q A Q^T) = Q sqrtm(A) Q^T for orthogonal Q."""
    a, cond = data
    n = a.shape[-1]
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    lhs = matfunc.sqrtm(q @ a @ q.T, method)
    rhs = q @ matfunc.sqrtm(a, method) @ q.T
    # Padé is a rational function of A: invariant too, up to the scale estimate it sees (not orthogonally
    # invariant: ||A^8||_F is, the entrywise max used for overflow safety is not, but it cancels).
    assert _close(lhs, rhs, 1e-9 * cond)


@settings(max_examples=25, deadline=None)
@given(spd_batches(max_log_cond=3))
def test_output_symmetric_and_psd(data):
    a, _ = data
    for method in ("eig", "newton-schulz", "pade"):
        y = matfunc.sqrtm(a, method)
        np.testing.assert_array_equal(y, np.swapaxes(y, -1, -2))
        assert np.all(np.linalg.eigvalsh(y) >= -1e-12 * np.abs(y).max())


@pytest.mark.parametrize("m", range(0, 13))
def test_pade_is_spd_agrees_with_sampled_polynomials(m):
    """The exact Sturm check against dense sampling of p and q on [0, 1] (and a polynomial that dips below 0)."""
    from fractions import Fraction

    from matfunc.core.coefficients import _positive_on_unit_interval, pade_coefficients, pade_is_spd

    z = np.linspace(0.0, 1.0, 20001)
    for n in range(0, 13):
        if m == n == 0:
            continue
        sampled = tuple(bool(np.all(np.polyval([float(c) for c in cs][::-1], z) > 0)) for cs in pade_coefficients(m, n))
        assert pade_is_spd(m, n) == sampled
    # (z - 1/2)^2 + 1e-6 > 0; (z - 1/2)^2 - 1e-6 has two roots in [0, 1]; 1 - z vanishes at 1.
    near = (Fraction(1, 4), Fraction(-1), Fraction(1))
    assert _positive_on_unit_interval((near[0] + Fraction(1, 10**6), *near[1:]))
    assert not _positive_on_unit_interval((near[0] - Fraction(1, 10**6), *near[1:]))
    assert not _positive_on_unit_interval((Fraction(1), Fraction(-1)))
