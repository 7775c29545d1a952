"""Step schedules of the Newton–Schulz root iteration (matfunc.core.root_schedules) and their options."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import rel_err, spd, to_numpy

import matfunc
from matfunc.bench import schedules as bench
from matfunc.core import lyapunov
from matfunc.core import root_schedules as rs
from matfunc.core.coefficients import ns_iters_for_condition
from matfunc.core.newton_schulz import newton_schulz, newton_schulz_steps, ns_matmuls
from matfunc.core.options import DEFAULT_SCHEDULE, default_coverage, default_forward_iters, default_ns_iters, resolve
from matfunc.core.polar_schedules import minimax_quintic

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


def _p(step, x):
    a, b, c = step
    return x * (a + b * x * x + c * x**4)


# --- coefficients -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lo", [1e-8, 1e-4, 1e-2, 0.3, 0.9])
@pytest.mark.parametrize("kind", ["cubic", "quintic"])
def test_minimax_step_maps_interval_into_claimed_band(lo, kind):
    """The step maps [lo, 1] into [1 - E, 1 + E] with the claimed E (dense sampling, evaluated in mpmath at
    50 digits so that the check does not share the schedule's float rounding), and E is attained (equioscillation:
    not a loose bound)."""
    mpmath = pytest.importorskip("mpmath")
    step, e = rs.minimax_cubic(lo, 1.0) if kind == "cubic" else minimax_quintic(lo, 1.0)
    with mpmath.workdps(50):
        a, b, c = (mpmath.mpf(v) for v in step)
        xs = [mpmath.mpf(lo) + (1 - mpmath.mpf(lo)) * mpmath.mpf(i) / 4000 for i in range(4001)]
        xs += [mpmath.mpf(lo) ** (mpmath.mpf(i) / 400) for i in range(401)]  # log grid: the bottom end
        worst = max(abs(1 - x * (a + b * x**2 + c * x**4)) for x in xs)
    # E is computed in float64 from the same polynomial: it may differ from the true max by rounding of p (a few
    # eps) and by the finite grid, which for a smooth p near its extremum is second order (grid step h ~ 2.5e-4:
    # |p''| h^2 / 8 < 1e-7 (|p''| <= 40 on [0, 1])).
    assert float(worst) <= e * (1 + 1e-12) + 8 * EPS64
    assert float(worst) >= e - 1e-7


def test_minimax_cubic_equioscillates():
    lo = 1e-3
    step, e = rs.minimax_cubic(lo, 1.0)
    a, b, _ = step
    xstar = math.sqrt(-a / (3 * b))
    vals = [1 - _p(step, lo), 1 - _p(step, xstar), 1 - _p(step, 1.0)]
    assert vals[0] == pytest.approx(e, rel=1e-10)
    assert vals[1] == pytest.approx(-e, rel=1e-10)
    assert vals[2] == pytest.approx(e, rel=1e-10)


@pytest.mark.parametrize("eps", [EPS64, EPS32])
@pytest.mark.parametrize("schedule", rs.SCHEDULES)
def test_iters_and_coverage_agree(schedule, eps):
    for cond in (1e1, 1e3, 1e6):
        if eps == EPS32 and cond > 1e5 and schedule == "plain":
            continue
        k = rs.root_iters(schedule, cond, eps)
        assert rs.root_covered(schedule, k, eps) >= cond * (1 - 1e-9)
        if k > 1:  # minimal; "within eps of 1" is a knife edge in floats (a few ulps move coverage by ~1%)
            assert rs.root_covered(schedule, k - 1, eps) < cond * 1.05
    assert rs.root_iters("scaled", 1e6, eps) == ns_iters_for_condition(1e6, eps)


@pytest.mark.parametrize("schedule", rs.SCHEDULES)
def test_schedule_converges_in_scalar_model(schedule):
    """The composed steps bring every sigma in [sqrt(1/cond), 1] within eps of 1 (dense log grid)."""
    cond = 1e6
    k = rs.root_iters(schedule, cond, EPS64)
    steps = rs.root_steps(schedule, k, EPS64, 0.0 if schedule == "plain" else cond)
    assert len(steps) == k
    assert rs.steps_bound(steps, math.sqrt(1 / cond)) <= 8 * EPS64


def test_scaled_steps_are_the_kernels_scales():
    from matfunc.core.polar_schedules import cubic_schedule

    assert rs.root_steps("scaled", 15, EPS64) == cubic_schedule(15, EPS64, True)


def test_quintic_needs_fewer_products_at_every_condition():
    """The comparison behind docs/derivations/schedules.md, in the scalar model: for a known condition number
    the minimax quintic needs no more products than matfunc's scaled cubic (the table's claim)."""
    for eps in (EPS64, EPS32):
        for cond in (1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8):
            cubic = rs.root_steps("scaled", rs.root_iters("scaled", cond, eps), eps, cond)
            quintic = rs.root_steps("polar-express", rs.root_iters("polar-express", cond, eps), eps, cond)
            assert rs.root_matmuls(quintic) <= rs.root_matmuls(cubic)


# --- product counts --------------------------------------------------------------------------------------------


class Counted(np.ndarray):
    """Counts every matrix product (the matmul ufunc: ``@``, ``np.matmul``) that touches it."""

    products = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kw):
        if ufunc is np.matmul:
            Counted.products += 1
        args = [np.asarray(x) if isinstance(x, Counted) else x for x in inputs]
        out = getattr(ufunc, method)(*args, **kw)
        return out.view(Counted) if isinstance(out, np.ndarray) else out


def _count(fn):
    Counted.products = 0
    fn()
    return Counted.products


@pytest.mark.parametrize("schedule", ["scaled", "polar-express", "minimax-cubic"])
@pytest.mark.parametrize("k", [1, 2, 3, 6])
@pytest.mark.parametrize("want", ["sqrt", "inv", "both"])
def test_product_counts_match_matmul_calls(schedule, k, want):
    import array_api_compat.numpy as xp

    a_n = (spd(6, 10.0)[0] / 1.01).view(Counted)
    steps = rs.root_steps(schedule, k, EPS64, 1e3)
    assert _count(lambda: newton_schulz_steps(a_n, steps=steps, want=want, xp=xp)) == rs.root_matmuls(steps, want)


@pytest.mark.parametrize("k", [2, 5, 15])
def test_default_kernel_count(k):
    import array_api_compat.numpy as xp

    a_n = (spd(6, 10.0)[0] / 1.01).view(Counted)
    assert _count(lambda: newton_schulz(a_n, num_iters=k, eps=EPS64, want="sqrt", xp=xp)) == ns_matmuls(k)
    assert ns_matmuls(k) == rs.root_matmuls(rs.root_steps("scaled", k, EPS64))


@pytest.mark.parametrize("schedule", ["polar-express", "minimax-cubic"])
def test_sign_poly_counts(schedule):
    import array_api_compat.numpy as xp

    a, root, _ = spd(6, 10.0)
    steps = rs.root_steps(schedule, 4, EPS64, 10.0)
    s_n, g = root.view(Counted), np.eye(6).view(Counted)
    assert _count(lambda: lyapunov.sign_lyapunov_steps(s_n, g, steps=steps, xp=xp)) == lyapunov.sign_poly_matmuls(steps)


# --- accuracy of the kernels (the benchmark's rows), against the exact constructed roots and the eig solve -------


@pytest.mark.parametrize(("dtype", "conds"), [("float64", (1e1, 1e4, 1e8)), ("float32", (1e1, 1e3, 1e5))])
@pytest.mark.parametrize("schedule", ["scaled", "polar-express", "minimax-cubic"])
def test_forward_accuracy_per_condition(schedule, dtype, conds):
    """Designed for the condition it is given, every schedule is within 10x of numpy's eigh (the README's bar for
    Newton–Schulz), floored at n eps."""
    n = 16
    eps = float(np.finfo(dtype).eps)
    for cond in conds:
        ref = bench.eig_row(cond, dtype=dtype, n=n, batch=2)
        row = bench.forward_row(schedule, cond, dtype=dtype, n=n, batch=2)
        for key in ("sqrtm", "inv_sqrtm"):
            assert row[key] <= 10 * max(ref[key], n * eps), (cond, key, row[key], ref[key])


@pytest.mark.parametrize("schedule", ["polar-express", "minimax-cubic"])
def test_sign_iteration_steps_accuracy(schedule):
    """The general-step sign iteration solves S X + X S = G as accurately as matfunc's 4-product one."""
    for cond in (1e1, 1e4, 1e8):
        ref = bench.lyapunov_row("scaled", cond, n=16, batch=2)
        row = bench.lyapunov_row(schedule, cond, n=16, batch=2)
        assert row["lyapunov"] <= 10 * max(ref["lyapunov"], 16 * EPS64)


def test_bench_table_runs():
    out = bench.table("float64", n=8, batch=1, conds=(1e2,))
    assert "minimax quintic" in out
    assert out.count("|---|") == 2


# --- options ---------------------------------------------------------------------------------------------------


def _resolve(**kw):
    base = dict(
        inverse=False,
        degree=None,
        num_iters=None,
        scale="spectral",
        backward="auto",
        backward_iters=None,
        eps=EPS64,
        n=64,
        on_cpu=True,
    )
    base.update(kw)
    return resolve(kw.pop("method", "newton-schulz"), **{k: v for k, v in base.items() if k != "method"})


def test_resolve_defaults_and_bound():
    default = _resolve()
    assert default.schedule == DEFAULT_SCHEDULE == "polar-express" == _resolve(schedule="minimax").schedule
    assert default.num_iters == default_forward_iters(EPS64) == 10  # README: 10 steps, 37 products
    assert default.backward_iters == default_ns_iters(EPS64) == 15  # the backward stays the scaled cubic
    cubic = _resolve(schedule="scaled")
    assert cubic.num_iters == default_ns_iters(EPS64)
    assert cubic.ns_steps() is None  # the scaled path is the kernel's own, unchanged
    # at least the cubic's coverage, fewer products
    assert default.covered_condition() >= cubic.covered_condition() == default_coverage(EPS64)
    assert rs.root_matmuls(default.ns_steps()) == 37 < ns_matmuls(cubic.num_iters) == 42
    # a ridge: lambda_min >= 1e-2 lambda_max pays for cond 100 only, forward and backward
    ridge = _resolve(lower_bound=1e-2)
    design = 64 ** (1 / 16) * 1e2
    assert ridge.num_iters == rs.root_iters(DEFAULT_SCHEDULE, design, EPS64) < default.num_iters
    assert ridge.backward_iters == ns_iters_for_condition(design, EPS64) < cubic.backward_iters
    assert ridge.ns_steps() is not None


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"schedule": "cubic-fancy"}, ValueError, "unknown schedule 'cubic-fancy'"),
        ({"schedule": 3}, TypeError, "schedule must be a string"),
        ({"lower_bound": 0.0}, ValueError, r"lower_bound must be in \(0, 1\]"),
        ({"lower_bound": 2.0}, ValueError, "ridge / \\(beta \\+ ridge\\)"),
        ({"lower_bound": "x"}, TypeError, "lower_bound must be a float"),
        ({"lower_bound": True}, TypeError, "lower_bound must be a float"),
        ({"method": "eig", "schedule": "polar-express"}, ValueError, "schedule applies to method='newton-schulz'"),
        ({"method": "pade", "lower_bound": 0.1}, ValueError, "lower_bound applies to method='newton-schulz'"),
        ({"scale": "frobenius", "schedule": "polar-express"}, ValueError, "scale='spectral'"),
        (
            {"method": "auto", "lower_bound": 0.1},
            ValueError,
            "lower_bound applies to method='newton-schulz', not 'auto'",
        ),
    ],
)
def test_options_validated(kw, exc, match):
    a = spd(4, 10.0)[0]
    method = kw.pop("method", "newton-schulz")
    with pytest.raises(exc, match=match):
        matfunc.sqrtm(a, method, **kw)


def test_matrix_outside_declared_bound_is_caught():
    a = spd(16, 1e8)[0]
    with pytest.raises(ValueError, match="has not converged"):
        matfunc.inv_sqrtm(a, "newton-schulz", lower_bound=1e-2)


# --- public API on every backend -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw", [{"schedule": "polar-express"}, {"schedule": "polar-express", "lower_bound": 1e-4}, {"lower_bound": 1e-4}]
)
def test_public_api_every_backend(xp, kw):
    a, root, inv_root = spd(12, 1e4, batch=(2,))
    x = xp.asarray(a)
    y = matfunc.sqrtm(x, "newton-schulz", **kw)
    w = matfunc.inv_sqrtm(x, "newton-schulz", **kw)
    assert type(y) is type(x) and y.shape == x.shape
    # within 10x of numpy's eigh-based error at this condition, floored at n eps (the per-condition test above)
    ref = bench.eig_row(1e4, n=12, batch=2)
    assert rel_err(y, root) <= 10 * max(ref["sqrtm"], 12 * EPS64)
    assert rel_err(w, inv_root) <= 10 * max(ref["inv_sqrtm"], 12 * EPS64)


def test_float32_and_half_with_schedule():
    torch = pytest.importorskip("torch")
    a, root, _ = spd(12, 1e3)
    for dtype in (torch.float32, torch.bfloat16):
        # rounded to bfloat16 the matrix has cond 1.2e3: a declared bound of 1e-3 would be false (check=True raises)
        bound = 1e-3 if dtype == torch.float32 else 5e-4
        y = matfunc.sqrtm(torch.asarray(a, dtype=dtype), "ns", schedule="polar-express", lower_bound=bound)
        assert y.dtype == dtype
        tol = 10 * 12 * (EPS32 if dtype == torch.float32 else 2.0**-8)
        assert rel_err(y.float(), root) <= tol


def test_vjp_with_bound_matches_exact():
    a, _, _ = spd(8, 1e3)
    g = np.random.default_rng(3).standard_normal((8, 8))
    _, vjp = matfunc.sqrtm_vjp(a, "newton-schulz", schedule="polar-express", lower_bound=1e-3)
    _, vjp_eig = matfunc.sqrtm_vjp(a, "eig", backward="eig")
    ref = vjp_eig(g)
    # the backward's rounding grows like eps cond(S) = eps sqrt(cond(A)) (docs/derivations/sign_lyapunov.md)
    assert np.linalg.norm(vjp(g) - ref) / np.linalg.norm(ref) <= 100 * 8 * EPS64 * math.sqrt(1e3)


def test_torch_gradcheck_with_schedule():
    torch = pytest.importorskip("torch")
    a = torch.asarray(spd(5, 10.0)[0], requires_grad=True)
    for fn in (matfunc.sqrtm, matfunc.inv_sqrtm):

        def f(x, fn=fn):
            return fn((x + x.mT) / 2, "newton-schulz", schedule="polar-express", lower_bound=0.1)

        assert torch.autograd.gradcheck(f, (a,), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_jax_jit_and_grad_with_schedule():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    a, root, _ = spd(6, 100.0)

    @jax.jit
    def f(x):
        return matfunc.sqrtm((x + x.T) / 2, "newton-schulz", schedule="polar-express", lower_bound=1e-2)

    y = f(jnp.asarray(a))
    assert rel_err(y, root) <= 10 * 6 * EPS64 * 10  # cond(Y) = 10
    check_grads(f, (jnp.asarray(a),), order=1, modes=("rev",), eps=1e-6)
    assert to_numpy(y).shape == a.shape


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cushioned_quintic_at_default_coverage(dtype):
    """The claim behind docs/derivations/schedules.md: covering what the default covers, the cushioned quintic
    takes fewer products at the accuracy of the scaled cubic (within 2x, where the uncushioned quintic was 13x
    off at cond 10 in float64), on well- and ill-conditioned input."""
    n = 16
    eps = float(np.finfo(dtype).eps)
    for cond in (1e1, 1e4):
        cubic = bench.forward_row("scaled", cond, dtype=dtype, n=n, batch=2, default=True)
        quintic = bench.forward_row("polar-express", cond, dtype=dtype, n=n, batch=2, default=True)
        assert quintic["products"] < cubic["products"]
        for key in ("sqrtm", "inv_sqrtm"):
            assert quintic[key] <= 2 * max(cubic[key], n * eps), (cond, key, quintic[key], cubic[key])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_default_schedule_at_or_below_scaled_cubic_at_every_covered_condition(dtype):
    """Issue 20: the default forward schedule takes no more products than the scaled cubic for every condition
    number up to the default coverage (a known condition: ``newton_schulz_iters`` with either schedule), nor at the
    defaults; and the public API's default is as accurate as ``schedule="scaled"`` (within 2x, floored at n eps)
    on the README's matrices at every covered condition."""
    eps = float(np.finfo(dtype).eps)
    top = math.log10(default_coverage(eps))
    for cond in [10.0 ** (top * i / 16) for i in range(1, 17)]:
        k_new = matfunc.newton_schulz_iters(cond, dtype)
        k_old = matfunc.newton_schulz_iters(cond, dtype, schedule="scaled")
        new = rs.root_matmuls(rs.root_steps(DEFAULT_SCHEDULE, k_new, eps))
        assert new <= ns_matmuls(k_old), (cond, k_new, k_old)
        assert rs.root_covered(DEFAULT_SCHEDULE, k_new, eps) >= cond * (1 - 1e-9)
    assert rs.root_matmuls(rs.root_steps(DEFAULT_SCHEDULE, default_forward_iters(eps), eps)) < ns_matmuls(
        default_ns_iters(eps)
    )
    n = 16
    for cond in (1e1, 1e4, 1e8) if dtype == "float64" else (1e1, 1e3, 1e5):
        a, root, inv_root = bench.test_matrices(n, cond, batch=2)
        a = a.astype(dtype)
        for fn, ref in ((matfunc.sqrtm, root), (matfunc.inv_sqrtm, inv_root)):
            new, old = fn(a, "newton-schulz"), fn(a, "newton-schulz", schedule="scaled")
            assert rel_err(new, ref) <= 2 * max(rel_err(old, ref), n * eps), (cond, fn.__name__)


def test_paper_steps_unchanged_by_default_schedule():
    """scale="frobenius" is the paper's plain NS exactly, whatever the default schedule: the kernel's unscaled
    steps, 15 of them in float64 (up to the rounding of where the symmetrisation and scale are applied)."""
    import array_api_compat.numpy as xp

    a, _, _ = spd(8, 10.0, batch=(2,))
    opts = _resolve(scale="frobenius")
    assert opts.paper_steps and opts.schedule == "scaled" and opts.num_iters == 15 and opts.ns_steps() is None
    c = np.linalg.norm(a, axis=(-2, -1), keepdims=True)
    y, _ = newton_schulz(a / c, num_iters=15, eps=EPS64, want="sqrt", scaled=False, xp=xp)
    ref = (y + np.swapaxes(y, -1, -2)) / 2 * np.sqrt(c)
    out = matfunc.sqrtm(a, "newton-schulz", scale="frobenius", check=False)
    assert np.max(np.abs(out - ref)) <= 8 * 8 * EPS64 * np.max(np.abs(ref))
    # the plain steps leave cond-10 input visibly unconverged after the paper's 5 steps; the schedules do not
    paper5 = matfunc.sqrtm(a, "newton-schulz", scale="frobenius", num_iters=5, check=False)
    assert rel_err(paper5, matfunc.sqrtm(a, "eig")) > 1e-3
