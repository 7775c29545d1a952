"""The benchmark report runs end to end, and its baselines are what they claim to be."""

from __future__ import annotations

import json
import re

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
    argv = [
        "--out",
        str(out),
        "--n",
        "8",
        "--batch",
        "2",
        "--repeat",
        "1",
        "--max-time",
        "0.01",
        "--cond",
        "1e2",
        "--acc-batch",
        "2",
        "--backend",
        *backends,
    ]
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
    argv = [
        "--out",
        str(tmp_path),
        "--n",
        "8",
        "--batch",
        "2",
        "--repeat",
        "1",
        "--max-time",
        "0.01",
        "--cond",
        "1e2",
        "--acc-batch",
        "2",
        "--backend",
        "jax",
        "--method",
        "pade",
        bench.PAPER,
        bench.JAX_SCIPY,
    ]
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
    argv = [
        "--out",
        str(out),
        "--n",
        "8",
        "--batch",
        "2",
        "--repeat",
        "1",
        "--max-time",
        "0.01",
        "--cond",
        "1e2",
        "--acc-n",
        "8",
        "--acc-batch",
        "2",
        "--backend",
        "numpy",
        "--method",
        "newton-schulz",
        "--polar",
    ]
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
    argv = [
        "--out",
        str(out),
        "--n",
        "8",
        "--batch",
        "2",
        "--repeat",
        "1",
        "--max-time",
        "0.01",
        "--cond",
        "1e2",
        "--acc-n",
        "8",
        "--acc-batch",
        "2",
        "--backend",
        "numpy",
        "--method",
        "eig",
        "--family",
    ]
    results = bench.main(argv)
    text = (out / "report.md").read_text()
    assert "## Matrix functions: powm / logm / expm" in text and results["family"] in text
    assert "| powm(A, -1/4) | eig |" in text and "| expm(A) | taylor |" in text  # the accuracy table, at 8 x 8
    if "PyTorch is not installed" not in text:
        assert "| 2 x 8 (cpu) |" in text  # the speed table at the --n/--batch grid
    bench.main(["--replot", str(out / "results.json"), "--out", str(tmp_path / "replot")])
    assert (tmp_path / "replot" / "report.md").read_text() == text


# --- the package's parts: size sets, per-repeat times, contradictions, budget, the GPU check's CPU side -----

from matfunc.bench import cases, gpu  # noqa: E402
from matfunc.bench import plots as plots_mod  # noqa: E402
from matfunc.bench import report as report_mod  # noqa: E402


def test_bench_package_parts():
    # `python -m matfunc.bench` and the console script read the same entry; the moved modules live in the package.
    import matfunc.bench.__main__  # noqa: F401  (measures only when run as a script)
    from matfunc.bench import family, polar

    assert bench.main is bench.cli.main
    assert callable(polar.report_section) and callable(family.report_section)


def test_parse_args_size_sets():
    cfg = bench.parse_args(["--tiny", "--backend", "numpy"])
    assert cfg.grid() == [(cases.TINY_BATCH, n) for n in cases.TINY_N] and cases.TINY_BATCH == 100_000
    assert cfg.methods == list(cases.SIZE_SET_METHODS) and cfg.max_work == float("inf")
    cfg = bench.parse_args(["--large", "--backend", "numpy"])
    assert cfg.grid() == [(1, 2048), (1, 4096)]
    cfg = bench.parse_args(["--large", "--sizes", "12", "20", "--backend", "numpy"])  # --sizes replaces the n
    assert cfg.grid() == [(1, 12), (1, 20)]
    cfg = bench.parse_args(["--tiny", "--large", "--n", "3", "--backend", "numpy"])
    assert cfg.grid() == [(cases.TINY_BATCH, 3), (1, 3)]
    cfg = bench.parse_args(["--quick", "--backend", "numpy"])  # the quick run keeps its grid, without those sets
    assert cfg.grid() == [(b, n) for b in cases.QUICK_BATCH for n in cases.QUICK_N] and cfg.shapes is None
    assert cfg.max_work is None and cfg.methods == [m.label for m in bench.METHODS if m.default]
    assert "ns-bf16" not in cfg.methods  # GPU check and --method only
    cfg = bench.parse_args(["--gpu", "--budget", "300", "--no-tests"])
    assert cfg.gpu and cfg.budget_s == 300 and not cfg.gpu_tests and cfg.gpu_bench
    with pytest.raises(SystemExit):
        bench.parse_args(["--gpu", "--replot", "results.json"])


def test_large_size_set_runs(tmp_path):
    argv = [
        "--out",
        str(tmp_path),
        "--large",
        "--sizes",
        "12",
        "--repeat",
        "4",
        "--max-time",
        "10",
        "--cond",
        "1e2",
        "--acc-batch",
        "1",
        "--backend",
        "numpy",
    ]
    results = bench.main(argv)
    assert {(t["batch"], t["n"]) for t in results["timings"]} == {(1, 12)}
    assert {t["method"] for t in results["timings"]} == set(cases.SIZE_SET_METHODS)
    row = next(t for t in results["timings"] if t["method"] == "eig" and t["phase"] == "fwd")
    # every repeat is kept, and the summary is computed from them
    assert len(row["runs_ms"]) == 4 and row["min"] <= row["q1"] <= row["ms"] <= row["q3"] <= row["max"]
    assert row["ms"] == pytest.approx(float(np.median(row["runs_ms"])))


def test_measure_rounds_keeps_every_repeat():
    calls = []
    fns = [lambda: calls.append("a"), None, lambda: calls.append("b")]
    runs = bench.measure_rounds(fns, lambda: None, repeat=5, max_time=60.0)
    assert runs[1] is None and len(runs[0]) == len(runs[2]) == 5 and calls.count("a") == 5
    assert all(t >= 0 for t in runs[0])


def test_budget_skips_and_reports(tmp_path):
    cfg = bench.parse_args(
        [
            "--out",
            str(tmp_path),
            "--n",
            "8",
            "--batch",
            "2",
            "--backend",
            "numpy",
            "--method",
            "eig",
            "--cond",
            "1e2",
            "--budget",
            "0",
        ]
    )
    results = bench.run(cfg)
    assert results["timings"] == [] and results["accuracy"] == []
    assert {s["what"] for s in results["skipped"]} == {"timing", "accuracy"}
    gaps = "\n".join(report_mod.gap_lines(results))
    assert "not timed, the time budget was spent: numpy:cpu float32 2x8" in gaps
    assert "accuracy not measured, the time budget was spent: numpy:cpu eig" in gaps


def _row(backend, method, phase, runs, n=64, batch=256, dtype="float32"):
    from matfunc.bench.measure import spread

    return {
        "backend": backend,
        "dtype": dtype,
        "batch": batch,
        "n": n,
        "method": method,
        "phase": phase,
        "bound_ms": None,
        **spread(runs),
        "runs_ms": runs,
    }


def _fake_results():
    be = "torch:cuda"
    timings = [
        _row(be, "newton-schulz", "fwd", [1.0, 1.1, 1.3]),
        _row(be, "newton-schulz", "bwd", [2.0, 2.1, 2.2]),
        _row(be, "newton-schulz", "fwd+bwd", [3.0, 3.2, 3.5]),
        _row(be, bench.EIGH, "fwd", [5.0, 5.5, 9.0]),  # forward slower than forward+backward: a busy machine
        _row(be, bench.EIGH, "bwd", [1.0, 1.0, 1.0]),
        _row(be, bench.EIGH, "fwd+bwd", [4.0, 4.1, 4.2]),
    ]
    roof = [
        {
            "backend": be,
            "dtype": "float32",
            "batch": 256,
            "n": 64,
            "matmul_ms": 0.01,
            "spd_solve_ms": 0.05,
            "lu_solve_ms": 0.06,
        }
    ]
    acc = [
        {"backend": be, "dtype": "float64", "n": 64, "method": m, "cond": 1e2, "value_err": 1e-15, "grad_err": 2e-15}
        for m in ("newton-schulz", bench.EIGH)
    ]
    devices = {
        "torch:cuda": "NVIDIA H200 (torch 2.11.0)",
        "jax:gpu": "absent: jax has no GPU device",
        "cupy": "absent: ModuleNotFoundError: No module named 'cupy'",
    }
    plan = gpu.Plan(
        480.0, 150.0, 300.0, 30.0, ["torch:cuda"], ["tests/test_torch.py"], ["benchmark: 3 sizes past the budget"]
    )
    tests = {
        "status": "failed",
        "returncode": 1,
        "counts": {"failed": 1, "passed": 25},
        "seconds": 80.0,
        "command": "python -m pytest -q tests/test_torch.py",
        "files": ["tests/test_torch.py"],
        "failures": ["FAILED tests/test_torch.py::test_x - AssertionError"],
        "log": "pytest.log",
    }
    return {
        "machine": {"date": "today", "gpu": "NVIDIA H200"},
        "config": {},
        "methods": {"newton-schulz": "NS", bench.EIGH: "eigh"},
        "timings": timings,
        "roofline": roof,
        "accuracy": acc,
        "skipped": [{"what": "timing", "backend": be, "dtype": "float64", "batch": 1, "n": 4096}],
        "gpu_check": {"devices": devices, "plan": vars(plan), "tests": tests, "seconds": 431.0},
    }


def test_report_from_fake_gpu_results(tmp_path):
    results = _fake_results()
    flags = report_mod.contradictions(results)
    assert len(flags) == 1 and "`eigh-ref`" in flags[0] and "machine was busy" in flags[0]
    text = report_mod.report(results, plots_mod.plots(results, str(tmp_path)))
    for png in bench.PLOTS:
        assert (tmp_path / png).stat().st_size > 0
    assert "## GPU check" in text and "- torch:cuda: NVIDIA H200" in text and "**failed**: 1 failed, 25 passed" in text
    assert "  - FAILED tests/test_torch.py::test_x" in text and "skipped: benchmark: 3 sizes past the budget" in text
    assert "## Inconsistent measurements" in text and "| eigh-ref (!) |" in text and "| newton-schulz |" in text
    assert "not timed, the time budget was spent: torch:cuda float64 1x4096" in text
    # --replot rebuilds the same report from the saved json (the GPU section included)
    (tmp_path / "results.json").write_text(json.dumps(results))
    bench.main(["--replot", str(tmp_path / "results.json"), "--out", str(tmp_path / "re")])
    assert "## GPU check" in (tmp_path / "re" / "report.md").read_text()


def test_consistent_phases_are_not_flagged():
    results = _fake_results()
    results["timings"] = [t for t in results["timings"] if t["method"] == "newton-schulz"]
    assert report_mod.contradictions(results) == []
    bwd = next(t for t in results["timings"] if t["phase"] == "bwd")
    bwd["ms"] = 4.0  # the backward alone slower than forward+backward (3.2 ms)
    assert "backward alone" in report_mod.contradictions(results)[0]


def test_report_speaks_plain_words(tmp_path):
    results = _fake_results()
    results["timings"] += [
        _row("numpy:cpu", m, p, [1.0, 1.0, 1.0]) for m in ("pade", "auto", bench.PAPER) for p in bench.PHASES
    ]
    table = report_mod.target_table(results)
    assert "Padé forward vs its matrix-product bound" in table
    text = report_mod.report(results, [])
    assert not re.search(r"\b(issue|#)\s*\d", text, re.IGNORECASE)  # no tracker numbers in what users read


def test_gpu_check_without_cuda_exits_nonzero(tmp_path, monkeypatch, capsys):
    absent = {b: "absent: no CUDA device in this test" for b in gpu.GPU_BACKENDS}
    monkeypatch.setattr(gpu, "detect", lambda: absent)
    with pytest.raises(SystemExit) as exc:
        bench.main(["--gpu", "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "no CUDA device found" in err and "python -m matfunc.bench --quick" in err


def test_gpu_detect_reports_every_backend():
    found = gpu.detect()
    assert set(found) == set(gpu.GPU_BACKENDS) and all(isinstance(v, str) and v for v in found.values())


def test_gpu_plan_budget():
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    devices = {"torch:cuda": "H200", "jax:gpu": "absent: none", "cupy": "H200"}
    p = gpu.plan(devices, budget_s=480, spent_s=10, root=root)
    assert p.backends == ["torch:cuda", "cupy"]
    assert p.test_files[:2] == ["tests/test_cupy.py", "tests/test_torch.py"]  # the fastest first
    assert p.tests_s == gpu.TESTS_MAX_S and p.skipped == []
    assert p.tests_s + p.bench_s + p.report_s + 10 == pytest.approx(480)  # all of the budget, none beyond it
    p = gpu.plan(devices, budget_s=110, root=root)  # the tests' share is too short: skipped, and said so
    assert p.test_files == [] and p.tests_s == 0 and p.bench_s == pytest.approx(110 - gpu.REPORT_S)
    assert "tests:" in p.skipped[0]
    p = gpu.plan(devices, budget_s=60, root=root)
    assert p.bench_s == 0 and p.tests_s == 0 and len(p.skipped) == 2
    p = gpu.plan(devices, root=str(root) + "/docs")  # no tests/ here
    assert p.test_files == [] and "no tests/ folder" in p.skipped[0]
    p = gpu.plan(devices, root=root, tests=False, bench=False)
    assert p.tests_s == p.bench_s == 0 and len(p.skipped) == 2
    with pytest.raises(gpu.NoGPU, match="no CUDA device found"):
        gpu.plan({b: "absent: x" for b in gpu.GPU_BACKENDS}, root=root)
    cfg = gpu.config(gpu.plan(devices, root=root), "out")
    assert cfg.grid() == list(cases.GPU_SHAPES) and cfg.dtypes == ["float32", "float64"]
    assert cfg.backends == ["torch:cuda", "cupy"] and cfg.max_work == float("inf") and cfg.budget_s > 0
    assert {(256, 33), (256, 100), (1, 4096)} <= set(cfg.grid()) and bench.TORCH_SQRTH in cfg.methods


def test_parse_summary():
    assert gpu.parse_summary("x\n==== 3 failed, 120 passed, 4 skipped in 80.10s (0:01:20) ====\n") == {
        "failed": 3,
        "passed": 120,
        "skipped": 4,
    }
    assert gpu.parse_summary("....\n12 passed, 1 warning in 3.2s\n") == {"passed": 12, "warnings": 1}
    assert gpu.parse_summary("collecting ...") == {}
    # stopped at the budget: no summary line, the progress characters are counted
    assert gpu.parse_summary("python -m pytest -q a.py\n\n..F.s.  [ 40%]\n...") == {
        "passed": 7,
        "failed": 1,
        "skipped": 1,
    }


def test_run_tests_passes_and_stops_at_budget(tmp_path):
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "test_slow.py").write_text("import time\n\n\ndef test_slow():\n    time.sleep(60)\n")
    devices = {b: "absent: x" for b in gpu.GPU_BACKENDS}
    ok = gpu.run_tests(["test_ok.py"], timeout_s=60, root=str(tmp_path), log=str(tmp_path / "a.log"), devices=devices)
    assert ok["status"] == "passed" and ok["counts"] == {"passed": 1} and ok["returncode"] == 0
    slow = gpu.run_tests(
        ["test_slow.py"], timeout_s=3, root=str(tmp_path), log=str(tmp_path / "b.log"), devices=devices
    )
    assert slow["status"] == "stopped at its time budget" and slow["returncode"] is None and slow["seconds"] < 30


def test_gpu_check_path_without_measuring(tmp_path, monkeypatch):
    # The whole --gpu path (plan, results, one report) with both parts switched off: nothing needs a GPU.
    monkeypatch.setattr(
        gpu, "detect", lambda: {"torch:cuda": "NVIDIA H200 (torch)", "jax:gpu": "absent: none", "cupy": "absent: none"}
    )
    results = bench.main(["--gpu", "--no-tests", "--no-bench", "--budget", "100", "--out", str(tmp_path)])
    assert results["gpu_check"]["tests"] is None and results["timings"] == []
    text = (tmp_path / "report.md").read_text()
    assert "## GPU check" in text and "- torch:cuda: NVIDIA H200 (torch)" in text and "of a 100 s budget" in text
    assert "- skipped: tests: not asked for (--no-tests)" in text and "- skipped: benchmark: not asked for" in text
    assert json.loads((tmp_path / "results.json").read_text())["gpu_check"]["plan"]["backends"] == ["torch:cuda"]


# --- matfunc.bench.vs_eigh: the default call against the plain eigh code ------------------------------------

from matfunc.bench import vs_eigh  # noqa: E402


def test_vs_eigh_smoke(tmp_path, capsys):
    # Tiny sizes, two rounds: every (backend, function, size, phase) row is measured, the table printed and saved,
    # and the default call computes what the plain eigh code computes (both backward-stable eigh evaluations:
    # they differ by rounding amplified by the conditioning, n * eps * cond at most).
    backends = ["numpy:float64"] + (["torch:float32"] if _has("torch") else [])
    funcs = ["sqrtm", "inv_sqrtm", "powm", "logm", "expm"]
    out = tmp_path / "vs.json"
    argv = ["--sizes", "3x8", "--rounds", "2", "--retry", "0", "--threads", "1", "--functions", ",".join(funcs)]
    result = vs_eigh.main([*argv, "--backend", *backends, "--out", str(out)])
    rows = result["rows"]
    assert len(rows) == len(backends) * len(funcs) * len(vs_eigh.PHASES)
    saved = json.loads(out.read_text())
    assert saved["table"] == result["table"] == vs_eigh.table(rows) and "cores" in saved["machine"]
    printed = capsys.readouterr().out
    assert vs_eigh.HEAD in printed and "interquartile" in printed
    for backend in backends:  # the function x size grids, one per backend and phase
        grid = vs_eigh.summary(rows, backend, "fwd+bwd")
        assert grid.startswith("| function | 3x8 |\n") and grid in result["summary"]
        assert len(grid.splitlines()) == 2 + len(funcs) and "| powm(A, -1/4) |" in grid
    for r in rows:
        assert all(r["ms"][v] > 0 for v in vs_eigh.VARIANTS), r
        assert r["default/eigh"] > 0 and r["check/nocheck"] > 0 and r["rounds"] >= 2
        eps = float(np.finfo(r["backend"].partition(":")[2]).eps)
        assert r["rel_diff"] <= r["n"] * eps * vs_eigh.COND, r
        line = f"| {r['backend']} | {r['label']} | {r['batch']}x{r['n']} | {r['phase']} |"
        assert line in result["table"] and line in printed


def _has(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def test_vs_eigh_stats_pairs_rounds_and_flags_disturbed():
    # Ratios are taken within a round (both variants saw the same load), then the median over rounds.
    steady = {"default": [2.0, 4.0, 2.0], "check=False": [1.0, 2.0, 1.0], "eigh": [1.0, 2.0, 1.0]}
    s = vs_eigh._stats(steady)
    assert s["default/eigh"] == 2.0 and s["check/nocheck"] == 2.0 and s["spread"]["default/eigh"] == 0.0
    assert s["ms"]["default"] == 2000.0 and s["disturbed"]  # the load doubled in round 2: the times spread
    quiet = {k: [1.0, 1.01, 0.99, 1.0] for k in vs_eigh.VARIANTS}
    assert not vs_eigh._stats(quiet)["disturbed"]
    with pytest.raises(SystemExit):
        vs_eigh.main(["--sizes", "8"])  # BATCHxN


def test_vs_eigh_memory_jax():
    # Second-order memory from the compiled programs: a Hessian-vector product needs more than a gradient.
    pytest.importorskip("jax")
    first = vs_eigh.memory_case("jax", "logm", 1, 2, 8)
    second = vs_eigh.memory_case("jax", "logm", 2, 2, 8)
    assert 0 < first["mib"] < second["mib"]
    row = {"framework": "jax", "variant": "matfunc", "function": "logm", "batch": 2, "n": 8, "input_mib": 0.0}
    row.update(first_mib=first["mib"], second_mib=second["mib"], ratio=second["mib"] / first["mib"], how="x")
    assert "| jax | matfunc eig | logm(A) | 2x8 |" in vs_eigh.memory_table([row])


def test_vs_eigh_cpu_time_clock():
    """``--cpu-time`` times by the process's CPU time (a sleep costs none of it), and says so in the machine line."""
    import time

    from matfunc.bench.measure import measure_rounds

    naps = measure_rounds([lambda: time.sleep(0.05)], lambda: None, repeat=3, max_time=1.0, clock=time.process_time)
    assert all(t < 0.02 for t in naps[0])  # the wall clock reads 0.05 s each
    result = vs_eigh.main(
        ["--backend", "numpy:float64", "--sizes", "2x8", "--functions", "sqrtm", "--rounds", "3", "--retry", "0"]
        + ["--threads", "1", "--cpu-time"]
    )
    assert result["machine"].endswith("timed by CPU time")
    assert all(r["ms"]["default"] > 0 for r in result["rows"])


def test_vs_eigh_number_times_the_steady_state():
    """``--number N``: each timed run is ``N`` calls after untimed ones filling ``SPIN_S`` seconds, and the time is
    their mean; the machine line says so."""
    import time

    from matfunc.bench.measure import SPIN_S, measure_rounds

    calls: list[float] = []

    def fn() -> None:
        calls.append(time.perf_counter())
        time.sleep(0.01)

    t0 = time.perf_counter()
    runs = measure_rounds([fn], lambda: None, repeat=3, max_time=60.0, number=4)
    assert len(runs[0]) == 3
    assert all(0.009 < t < 0.05 for t in runs[0])  # the mean of 4 calls of 10 ms, not their sum
    warm = (SPIN_S / 0.01) * 0.5  # at least half as many untimed calls as fill SPIN_S (timer slack)
    assert len(calls) >= 3 * (4 + warm)
    assert time.perf_counter() - t0 >= 3 * SPIN_S
    result = vs_eigh.main(
        ["--backend", "numpy:float64", "--sizes", "2x8", "--functions", "sqrtm", "--rounds", "3", "--retry", "0"]
        + ["--number", "2"]
    )
    assert result["machine"].endswith("runs of 2 calls after 0.2 s of untimed ones")
    assert all(r["ms"]["default"] > 0 for r in result["rows"])
