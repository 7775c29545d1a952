"""What ``check=True`` guarantees for ``sqrtm``/``inv_sqrtm`` (docs/guides/checks.md, "Square roots"): the returned
root is within :func:`matfunc.core.accuracy.forward_bound` of the exact one, or the call raises. Swept over
condition numbers up to and past each method's cover, float32 and float64, every product precision."""

from __future__ import annotations

import math

import numpy as np
import pytest

import matfunc
from matfunc.core.accuracy import covered, forward_bound
from matfunc.core.options import resolve

torch = pytest.importorskip("torch")


def _case(n: int, cond: float, seed: int = 0):
    """``A = Q diag(w) Q^T`` (float64), eigenvalues log-spaced from 1 to ``1/cond``, and its exact roots."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.logspace(0.0, -math.log10(cond), n)
    return (q * w) @ q.T, (q * np.sqrt(w)) @ q.T, (q / np.sqrt(w)) @ q.T


def _rel2(x, ref) -> float:
    return float(np.linalg.norm(np.asarray(x, dtype=np.float64) - ref, 2) / np.linalg.norm(ref, 2))


def _opts(method, *, inverse, dtype, n, low=None):
    eps = float(np.finfo(dtype).eps)
    return resolve(
        method,
        inverse=inverse,
        degree=None,
        num_iters=None,
        scale="spectral",
        backward="auto",
        backward_iters=None,
        eps=eps,
        n=n,
        on_cpu=True,
        matmul_dtype=low,
    )


def _sweep(method, dtype, low, conds, *, n=32, lib="numpy"):
    """For each condition number and both roots: the call raised, or its 2-norm relative error (vs the exact root
    of the float64 matrix) is within forward_bound. Returns the outcomes (for the "raised past the cover" test)."""
    outcomes = []
    for cond in conds:
        a, root, inv_root = _case(n, cond)
        for inverse, ref in ((False, root), (True, inv_root)):
            fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
            x = torch.tensor(a, dtype=getattr(torch, dtype)) if lib == "torch" else a.astype(dtype)
            kw = {} if low is None else {"matmul_dtype": low}
            try:
                y = fn(x, method, **kw)
            except ValueError:  # SingularMatrixError is a ValueError
                outcomes.append((cond, inverse, "raised"))
                continue
            y = y.double().numpy() if lib == "torch" else y
            bound = forward_bound(_opts(method, inverse=inverse, dtype=dtype, n=n, low=low), cond, n)
            err = _rel2(y, ref)
            assert err <= bound, (method, dtype, low, cond, inverse, err, bound)
            outcomes.append((cond, inverse, "passed"))
    return outcomes


FULL = {"float64": (1e2, 1e5, 1e8, 1e9, 1e11, 1e13), "float32": (1e2, 1e4, 1e5, 1e6, 1e7, 1e9)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("method", "lib"),
    [
        ("eig", "numpy"),
        ("eig", "torch"),
        ("newton-schulz", "numpy"),
        ("newton-schulz", "torch"),
        ("pade", "numpy"),
        ("taylor", "numpy"),
    ],
)
def test_forward_error_within_bound_or_raised(method, lib, dtype):
    """PyTorch's float32 eigh is less accurate than NumPy's (which computes it in float64): both within the bound."""
    outcomes = _sweep(method, dtype, None, FULL[dtype], lib=lib)
    if method == "newton-schulz":  # past its cover the inverse root raises (input test), at every size
        cover = covered(_opts(method, inverse=True, dtype=dtype, n=32))
        past = [o for o in outcomes if o[1] and o[0] > 2 * cover]
        assert past and all(o[2] == "raised" for o in past), outcomes
        assert all(o[2] == "passed" for o in outcomes if o[0] < cover / 10), outcomes
    if method == "eig":  # raises only for the inverse of a matrix singular to working precision
        n_eps = 32 * float(np.finfo(dtype).eps)
        assert all(o[2] == "passed" for o in outcomes if not o[1] or o[0] < 0.1 / n_eps), outcomes
        assert all(o[2] == "raised" for o in outcomes if o[1] and o[0] > 1 / n_eps), outcomes


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_low_precision_within_bound_or_raised(low):
    """Every product precision: passes within the cover with eps_low sqrt(cond) / 4, raises past it (both roots)."""
    conds = (1e1, 1e2, 1e3, 3e3, 1e4, 3e4, 1e5)
    outcomes = _sweep("newton-schulz", "float32", low, conds, lib="torch")
    cover = covered(_opts("newton-schulz", inverse=False, dtype="float32", n=32, low=low))
    assert all(o[2] == "raised" for o in outcomes if o[0] > cover), outcomes
    assert all(o[2] == "passed" for o in outcomes if o[0] <= cover / 10), outcomes


# Regressions (issue 25 item 1): a tolerance that grew with the diverged result let these pass.
@pytest.mark.parametrize(
    ("fn", "low", "n", "cond"),
    [("inv_sqrtm", "bfloat16", 64, 5e3), ("inv_sqrtm", "float16", 64, 3e4), ("sqrtm", "bfloat16", 512, 3e3)],
)
def test_low_precision_past_cover_raises(fn, low, n, cond):
    a, _, _ = _case(n, cond, seed=1)
    x = torch.tensor(a, dtype=torch.float32)
    with pytest.raises(ValueError, match=rf"matmul_dtype='{low}'.*not converged"):
        getattr(matfunc, fn)(x, "newton-schulz", matmul_dtype=low)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_eig_check_from_eigenvalues(lib, requires_grad):
    """The "eig" check reads the forward's eigenvalues: indefinite input (no negative diagonal entry, so the cheap
    input test passes) raises for sqrtm, singular input raises SingularMatrixError for inv_sqrtm, on NumPy and
    through torch autograd alike; PSD singular input is a valid sqrtm."""
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3, -1
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])  # eigenvalues 2, 0
    if lib == "numpy" and requires_grad:
        pytest.skip("no autograd in NumPy")

    def arr(m):
        return torch.tensor(m, requires_grad=requires_grad) if lib == "torch" else m

    with pytest.raises(ValueError, match=r"residual \|\|Y\^2 - A\|\|_F / tr\(A\) = 0.5 > .*the input is indefinite"):
        matfunc.sqrtm(arr(indefinite))
    with pytest.raises(matfunc.SingularMatrixError, match="singular or indefinite"):
        matfunc.inv_sqrtm(arr(singular))
    with pytest.raises(matfunc.SingularMatrixError, match="singular or indefinite"):
        matfunc.inv_sqrtm(arr(indefinite))
    y = matfunc.sqrtm(arr(singular))
    y = y.detach().numpy() if lib == "torch" else y
    np.testing.assert_allclose(y, singular / math.sqrt(2.0), atol=10 * np.finfo(np.float64).eps)


def test_eig_check_does_no_matrix_product(monkeypatch):
    """check=True with "eig" costs no O(n^3) work beyond the forward: no product, no Cholesky, no second eigh."""
    a, _, _ = _case(16, 1e3)
    calls = []
    import array_api_compat.numpy as cnp

    for name in ("cholesky", "eigvalsh"):
        monkeypatch.setattr(cnp.linalg, name, lambda *args, _n=name, **kw: calls.append(_n))
    matfunc.sqrtm(a)
    matfunc.inv_sqrtm(a)
    assert calls == []


def test_lower_bound_below_resolution_names_the_fix():
    """Regression (issue 25 item 14): lower_bound=1e-300 raised "condition number 1.07108e+300 is out of reach of
    the 'polar-express' schedule", an internal message without the parameter or the fix."""
    with pytest.raises(ValueError, match=r"lower_bound=1e-300 is below what this dtype can resolve.*leave it out"):
        matfunc.sqrtm(np.eye(3), "newton-schulz", lower_bound=1e-300)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
@pytest.mark.parametrize("fn", [matfunc.sqrtm, matfunc.inv_sqrtm])
def test_newton_schulz_at_extreme_scale(fn, scale):
    """Full-precision Newton–Schulz at extreme scales: the right root, and no error naming low-precision products
    (issue 25 item 14)."""
    d = np.array([1.0, 0.5, 0.25])
    y = fn(scale * np.diag(d), "newton-schulz")
    want = np.diag((scale * d) ** (-0.5 if fn is matfunc.inv_sqrtm else 0.5))
    np.testing.assert_allclose(y, want, rtol=1e3 * np.finfo(np.float64).eps)


def test_quoted_covered_conditions_are_the_computed_ones():
    """Issue 25 item 17: the default covered condition was quoted as 1.8e8 / 1.55e8 / 1.5e8. The docstrings of the
    roots quote the computed values (scaled cubic defaults 1.55e8 / 1.9e5, the polar-express forward 3.9e8 / 1.0e6)."""
    from matfunc.core.options import default_coverage, default_forward_iters
    from matfunc.core.root_schedules import root_covered

    eps64, eps32 = float(np.finfo(np.float64).eps), float(np.finfo(np.float32).eps)
    assert f"{default_coverage(eps64):.3g}" == "1.55e+08" and f"{default_coverage(eps32):.2g}" == "1.9e+05"
    forward = [root_covered("polar-express", default_forward_iters(e), e) for e in (eps64, eps32)]
    assert [f"{c:.2g}" for c in forward] == ["3.9e+08", "1e+06"]
    for doc in (matfunc.sqrtm.__doc__, matfunc.solve_lyapunov.__doc__):
        assert "1.55e8" in doc and "1.8e8" not in doc and "1.5e8 " not in doc
    assert "3.9e8 / 1.0e6" in matfunc.sqrtm.__doc__
    assert "complex dtype" not in matfunc.sqrtm.__doc__.split("TypeError")[1].split("References")[0]


_EIG_FUNCS = {
    "sqrtm": matfunc.sqrtm,
    "inv_sqrtm": matfunc.inv_sqrtm,
    "powm": lambda a: matfunc.powm(a, -0.25),
    "logm": matfunc.logm,
    "expm": matfunc.expm,
}


@pytest.mark.parametrize("lib", ["numpy", "torch"])
@pytest.mark.parametrize("name", list(_EIG_FUNCS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eig_input_check_is_read_off_the_forward(lib, name, dtype):
    """The deferred input check of every "eig" function (the asymmetry read off the symmetric part the forward
    formed, the scale ``||a||_2`` off its eigenvalues): an asymmetry of twice the tolerance ``max(1000, 10 n) eps
    ||a||_2`` raises and names the matrix, half of it passes; NaN names itself (torch's eigh raises on it)."""
    n, fn = 6, _EIG_FUNCS[name]
    a = np.stack([_case(n, 10.0, seed)[0] for seed in range(3)]) + np.eye(n)
    norm = np.linalg.norm(a[1], 2)
    rtol = max(1000.0, 10.0 * n) * float(np.finfo(dtype).eps)

    def arr(m):
        return torch.tensor(m.astype(dtype)) if lib == "torch" else m.astype(dtype)

    for factor, raises in ((2.0, True), (0.5, False)):
        b = a.copy()
        b[1, 0, 3] += factor * rtol * norm
        if raises:
            with pytest.raises(ValueError, match=r"not.*batch index \(1,\)|batch index \(1,\).*not"):
                fn(arr(b))
        else:
            fn(arr(b))
    b = a.copy()
    b[2, 1, 4] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf.*batch index \(2,\)"):
        fn(arr(b))


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_asymmetry_from_part_is_the_asymmetry(lib):
    """``2 max(a - sym(a))`` is ``max |a - a^T|`` to ``eps max |a|`` (a thousandth of the tolerance), at every
    level of asymmetry and batch shape; NaN where ``a`` has NaN or Inf."""
    from matfunc import _compat, _validation
    from matfunc.core import primitives

    rng = np.random.default_rng(7)
    for shape in ((5, 7, 7), (2, 3, 40, 40), (300, 16, 16)):
        for level in (0.0, 1e-14, 1e-8, 1e-2, 1.0):
            s = rng.standard_normal(shape)
            a = s + np.swapaxes(s, -1, -2) + level * rng.standard_normal(shape)
            x = torch.tensor(a) if lib == "torch" else a
            xp = _compat.array_namespace(x)
            est = np.asarray(_validation.asymmetry_from_part(x, primitives.sym(x), xp=xp))
            true = np.max(np.abs(a - np.swapaxes(a, -1, -2)), axis=(-2, -1))
            bound = 2.0 * np.finfo(np.float64).eps * np.max(np.abs(a), axis=(-2, -1))
            assert np.all(np.abs(est - true) <= bound), (shape, level)
    for bad in (np.nan, np.inf):
        a = np.eye(4)[None].repeat(3, axis=0)
        a[1, 2, 0] = bad
        x = torch.tensor(a) if lib == "torch" else a
        with np.errstate(invalid="ignore"):  # Inf - Inf (the callers read it under _compat.quiet)
            est = np.asarray(_validation.asymmetry_from_part(x, primitives.sym(x), xp=_compat.array_namespace(x)))
        assert np.isnan(est[1]) and np.all(est[[0, 2]] == 0.0)


@pytest.mark.parametrize("inverse", [False, True])
def test_eig_accuracy_stats_fail_on_any_nan_eigenvalue(inverse):
    """The eigenvalue-based result check reads the extremes at the ends of the (ascending) eigenvalues, and a
    NaN anywhere in between still fails it (through their sum)."""
    import array_api_compat.numpy as xp

    from matfunc import _validation

    a = np.eye(3)[None].repeat(2, axis=0)
    lam = np.array([[1.0, np.nan, 2.0], [1.0, 1.5, 2.0]])
    opts = _opts("eig", inverse=inverse, dtype="float64", n=3)
    rho, tol = _validation.accuracy_stats(a, a, opts=opts, xp=xp, lam=lam)
    assert list(rho <= tol) == [False, True]
