"""The benchmark report runs end to end, and its baselines are what they claim to be."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import spd

import matfunc
from matfunc import _reference as ref
from matfunc import bench

pytest.importorskip("matplotlib")


def _tol(n, cond, dtype):
    # Same algorithm, different rounding (Paterson–Stockmeyer vs plain powers, Cholesky vs LU):
    # differences of order n * eps amplified by the conditioning of A.
    return n * float(np.finfo(dtype).eps) * cond


def _sym(shape, seed):
    g = np.random.default_rng(seed).standard_normal(shape)
    return g + np.swapaxes(g, -1, -2)


def _rel(x, r):
    return float(np.linalg.norm(np.asarray(x, dtype=np.float64) - r) / np.linalg.norm(r))


def test_bench_main_tiny_grid(tmp_path, capsys):
    backends = ["numpy"]
    try:
        __import__("torch")
        backends.append("torch")
    except ImportError:
        pass
    out = tmp_path / "bench"
    argv = ["--out", str(out), "--n", "8", "--batch", "2", "--repeat", "1", "--max-time", "0.01", "--cond", "1e2",
            "--acc-batch", "2", "--backend", *backends]
    results = bench.main(argv)
    for name in ("report.md", "results.json", *bench.PLOTS):
        assert (out / name).stat().st_size > 0, name
    text = (out / "report.md").read_text()
    assert "| " + " | ".join(bench.TIME_COLUMNS) + " |" in text
    assert "| " + " | ".join(bench.ROOF_COLUMNS) + " |" in text
    for png in bench.PLOTS:
        assert f"]({png})" in text  # referenced by relative path
    assert "cpu:" in text and "date:" in text
    printed = capsys.readouterr()
    assert "| method | fwd ms |" in printed.out
    assert "[" in printed.err  # progress lines
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["timings"]) == len(results["timings"])
    by = {(t["backend"], t["method"], t["phase"]): t for t in results["timings"]}
    # Every matfunc method and the two reference baselines were timed on every backend, in all phases.
    for backend in {t["backend"] for t in results["timings"]}:
        for method in ("auto", "pade", "newton-schulz", bench.PAPER, bench.EIGH):
            for phase in bench.PHASES:
                row = by[(backend, method, phase)]
                assert row["ms"] is not None and row["ms"] > 0, row
        assert by[(backend, "pade", "fwd")]["bound_ms"] > 0
    assert by[("numpy:cpu", bench.SCIPY, "fwd")]["ms"] > 0
    assert by[("numpy:cpu", bench.SCIPY, "bwd")]["ms"] is None  # no gradient: reported, not timed
    # --replot redraws the same report from the saved numbers without measuring
    bench.main(["--replot", str(out / "results.json"), "--out", str(tmp_path / "replot")])
    assert (tmp_path / "replot" / "report.md").read_text() == text
    acc = {(a["backend"], a["method"]): a for a in results["accuracy"]}
    eps = float(np.finfo(np.float64).eps)
    assert acc[("numpy:cpu", "auto")]["value_err"] < 8 * eps * 1e2
    assert acc[("numpy:cpu", bench.PAPER)]["value_err"] > 1e-3  # the paper's MPA is not exact at cond 1e2


def test_bench_jax_phases(tmp_path):
    pytest.importorskip("jax")
    argv = ["--out", str(tmp_path), "--n", "8", "--batch", "2", "--repeat", "1", "--max-time", "0.01", "--cond", "1e2",
            "--acc-batch", "2", "--backend", "jax", "--method", "pade", bench.PAPER, bench.JAX_SCIPY]
    results = bench.main(argv)
    by = {(t["method"], t["phase"]): t for t in results["timings"]}
    for method in ("pade", bench.PAPER):
        for phase in bench.PHASES:
            assert by[(method, phase)]["ms"] > 0, by[(method, phase)]
    assert by[(bench.JAX_SCIPY, "fwd")]["ms"] > 0
    assert by[(bench.JAX_SCIPY, "fwd+bwd")]["ms"] is None  # not differentiable: reported as such
    assert by[(bench.JAX_SCIPY, "fwd+bwd")]["error"].startswith("n/a")


def test_matmul_counts():
    counts = bench.matmul_counts(bench._BY_LABEL["pade"], dtype="float32", on_cpu=True, n=64)
    assert counts == (3 + 4, 1, 4 * 10 - 2 + 3, "spd")  # 3 squarings + [5/5]; 10 symmetric sign steps + deflation
    assert bench.matmul_counts(bench._BY_LABEL["paper-settings"], dtype="float32", on_cpu=True, n=64)[:3] == (4, 1, 30)
    assert bench.matmul_counts(bench._BY_LABEL[bench.PAPER], dtype="float32", on_cpu=True, n=64)[:3] == (4, 1, 48)
    assert bench.matmul_counts(bench._BY_LABEL["auto"], dtype="float32", on_cpu=True, n=64) is None  # eig


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_paper_reference_equals_matfunc_at_paper_settings(dtype):
    n, cond = 32, 1e2
    a, _, _ = spd(n, cond, batch=(3,), dtype=dtype)
    g = _sym(a.shape, 1).astype(dtype)
    y_ref, vjp_ref = ref.paper_sqrtm_vjp(a)
    y, vjp = matfunc.sqrtm_vjp(a, "pade", degree=5, scale="frobenius", backward="lyapunov", backward_iters=8)
    tol = _tol(n, cond, dtype)
    assert _rel(y_ref, np.asarray(y, np.float64)) < tol
    assert _rel(vjp_ref(g), np.asarray(vjp(g), np.float64)) < tol
    # and it is the forward of matfunc.sqrtm at those settings
    assert _rel(matfunc.sqrtm(a, method="pade", degree=5, scale="frobenius"), np.asarray(y_ref, np.float64)) < tol


def test_eigh_reference_is_exact():
    n, cond = 24, 1e3
    a, root, _ = spd(n, cond, batch=(2,))
    g = _sym(a.shape, 2)
    y, vjp = ref.eigh_sqrtm_vjp(a)
    _, vjp_mf = matfunc.sqrtm_vjp(a, "eig")
    eps = float(np.finfo(np.float64).eps)
    assert _rel(y, root) < n * eps * cond
    assert _rel(vjp(g), np.asarray(vjp_mf(g))) < n * eps * cond


def test_torch_reference_function_matches_generic():
    torch = pytest.importorskip("torch")
    n, cond = 16, 1e2
    a, _, _ = spd(n, cond, batch=(2,))
    g = _sym(a.shape, 3)
    y_ref, vjp_ref = ref.paper_sqrtm_vjp(a)
    x = torch.tensor(a, requires_grad=True)
    y = ref.torch_paper_sqrtm(x)
    y.backward(torch.tensor(g))
    tol = _tol(n, cond, np.float64)
    assert _rel(y.detach().numpy(), y_ref) < tol
    assert _rel(x.grad.numpy(), vjp_ref(g)) < tol
    # eigh-ref: torch autograd of eigh gives the exact gradient
    x2 = torch.tensor(a, requires_grad=True)
    ref.eigh_sqrtm(x2).backward(torch.tensor(g))
    assert _rel(x2.grad.numpy(), ref.eigh_sqrtm_vjp(a)[1](g)) < tol


def test_jax_reference_function_matches_generic():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    n, cond = 16, 1e2
    a, _, _ = spd(n, cond, batch=(2,))
    g = _sym(a.shape, 4)
    y_ref, vjp_ref = ref.paper_sqrtm_vjp(a)
    f = jax.jit(lambda x: ref.jax_paper_sqrtm(x))
    y, vjp_fn = jax.vjp(f, jnp.asarray(a))
    tol = _tol(n, cond, np.float64)
    assert _rel(y, y_ref) < tol
    assert _rel(vjp_fn(jnp.asarray(g))[0], vjp_ref(g)) < tol
    _, vjp_eigh = jax.vjp(lambda x: ref.eigh_sqrtm(x), jnp.asarray(a))
    assert _rel(vjp_eigh(jnp.asarray(g))[0], ref.eigh_sqrtm_vjp(a)[1](g)) < tol


def test_bench_polar_section(tmp_path):
    out = tmp_path / "polar"
    argv = ["--out", str(out), "--n", "8", "--batch", "2", "--repeat", "1", "--max-time", "0.01", "--cond", "1e2",
            "--acc-n", "8", "--acc-batch", "2", "--backend", "numpy", "--method", "newton-schulz", "--polar"]
    results = bench.main(argv)
    text = (out / "report.md").read_text()
    assert "## Polar decomposition" in text and results["polar"] in text
    assert "| schedule | cond 1e+01, tol 1e-03 |" in text  # the products table, at 32 x 8
    if "PyTorch is not installed" not in text:
        assert "| bfloat16 |" in text and "| 2x32x8 | matfunc.orthogonalize newton-schulz |" in text
    bench.main(["--replot", str(out / "results.json"), "--out", str(tmp_path / "replot")])
    assert (tmp_path / "replot" / "report.md").read_text() == text


def test_bench_family_section(tmp_path):
    pytest.importorskip("mpmath")
    out = tmp_path / "family"
    argv = ["--out", str(out), "--n", "8", "--batch", "2", "--repeat", "1", "--max-time", "0.01", "--cond", "1e2",
            "--acc-n", "8", "--acc-batch", "2", "--backend", "numpy", "--method", "eig", "--family"]
    results = bench.main(argv)
    text = (out / "report.md").read_text()
    assert "## Matrix functions: powm / logm / expm" in text and results["family"] in text
    assert "| powm(A, -1/4) | eig |" in text and "| expm(A) | taylor |" in text  # the accuracy table, at 8 x 8
    if "PyTorch is not installed" not in text:
        assert "| 2 x 8 (cpu) |" in text  # the speed table at the --n/--batch grid
    bench.main(["--replot", str(out / "results.json"), "--out", str(tmp_path / "replot")])
    assert (tmp_path / "replot" / "report.md").read_text() == text
