"""The one-shot GPU check (``python -m matfunc.bench --gpu``, ``benchmarks/gpu_check.sh``).

On a CUDA machine with PyTorch, JAX and/or CuPy it

1. finds the GPU backends (``torch:cuda``, ``jax:gpu``, ``cupy``) and stops with a clear message, exit status 2,
   where there is none;
2. plans the time: :data:`BUDGET_S` seconds in all (``--budget``), split between the GPU-relevant tests, the
   benchmark and writing the report; a part that does not fit is skipped and the report says so;
3. runs ``pytest`` on the tests of the backends found (``tests/test_cupy.py``, ``tests/test_torch.py`` with
   PyTorch's default device set to ``cuda``, ``tests/test_jax.py`` on the GPU, and every test marked ``gpu``),
   stopped at its share of the budget;
4. runs the benchmark (:data:`~matfunc.bench.cases.GPU_SHAPES` in float32 and float64: forward, backward and
   forward + backward of every method in :data:`~matfunc.bench.cases.GPU_METHODS`, next to eigh-based roots
   and ``torch.linalg.matrix_sqrth`` where the installed PyTorch has it), sizes past its share skipped;
5. writes one report into ``--out``: ``report.md`` (a GPU-check section, then the benchmark report),
   ``results.json``, the plots, and ``pytest.log``.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

from .cases import CONDS, GPU_DTYPES, GPU_METHODS, GPU_SHAPES

__all__ = [
    "BUDGET_S",
    "GPU_BACKENDS",
    "TEST_FILES",
    "NoGPU",
    "Plan",
    "detect",
    "plan",
    "run_tests",
    "parse_summary",
    "check_section",
    "config",
]

BUDGET_S = 480.0  # the whole check: under 8 minutes
REPORT_S = 30.0  # plots, report and margin
TESTS_MAX_S = 150.0
TESTS_MIN_S = 30.0
BENCH_MIN_S = 60.0
GPU_BACKENDS = ("torch:cuda", "jax:gpu", "cupy")
# The test file of each GPU backend; files with a test marked ``gpu`` are added.
TEST_FILES = {"torch:cuda": "tests/test_torch.py", "jax:gpu": "tests/test_jax.py", "cupy": "tests/test_cupy.py"}
TEST_ORDER = ("cupy", "jax:gpu", "torch:cuda")  # fastest first: a budget that runs out cuts the slowest


class NoGPU(RuntimeError):
    """No CUDA device reachable from PyTorch, JAX or CuPy."""


def _prepare_env() -> None:
    # Before JAX is imported: no 75% preallocation of the GPU (PyTorch and CuPy share it with JAX).
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def detect() -> dict[str, str]:
    """``{backend: description}`` for each of :data:`GPU_BACKENDS`: the device name, or why it is absent
    (starting with ``"absent: "``)."""
    _prepare_env()
    found: dict[str, str] = {}
    try:
        import torch

        version = f"torch {torch.__version__}"
        found["torch:cuda"] = (
            f"{torch.cuda.get_device_name()} ({version})"
            if torch.cuda.is_available()
            else f"absent: {version} sees no CUDA device"
        )
    except Exception as exc:
        found["torch:cuda"] = f"absent: {type(exc).__name__}: {exc}"
    try:
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        hint = (
            "JAX_PLATFORMS=cpu hides it: unset it"
            if os.environ.get("JAX_PLATFORMS") == "cpu"
            else "is the jax-cuda plugin installed?"
        )
        found["jax:gpu"] = (
            f"{gpus[0].device_kind} (jax {jax.__version__})"
            if gpus
            else f"absent: jax {jax.__version__} has no GPU device ({hint})"
        )
    except Exception as exc:
        found["jax:gpu"] = f"absent: {type(exc).__name__}: {exc}"
    try:
        import cupy

        if cupy.cuda.is_available():
            name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
            found["cupy"] = f"{name.decode() if isinstance(name, bytes) else name} (cupy {cupy.__version__})"
        else:
            found["cupy"] = f"absent: cupy {cupy.__version__} sees no CUDA device"
    except Exception as exc:
        found["cupy"] = f"absent: {type(exc).__name__}: {exc}"
    return found


def present(devices: dict[str, str]) -> list[str]:
    return [b for b in GPU_BACKENDS if b in devices and not devices[b].startswith("absent")]


@dataclass
class Plan:
    """Seconds for each part of the check, what it runs, and what did not fit (in words)."""

    budget_s: float
    tests_s: float
    bench_s: float
    report_s: float
    backends: list[str]
    test_files: list[str]
    skipped: list[str] = field(default_factory=list)


def _marked_gpu(root: str) -> list[str]:
    out = []
    for path in sorted(glob.glob(os.path.join(root, "tests", "test_*.py"))):
        with open(path, encoding="utf-8") as fh:
            if "mark.gpu" in fh.read():
                out.append(os.path.relpath(path, root))
    return out


def plan(
    devices: dict[str, str],
    *,
    budget_s: float = BUDGET_S,
    spent_s: float = 0.0,
    root: str | None = None,
    tests: bool = True,
    bench: bool = True,
) -> Plan:
    """Split what is left of ``budget_s`` (``spent_s`` already gone) between the tests, the benchmark and the
    report. Raises :class:`NoGPU` where no GPU backend was found."""
    backends = present(devices)
    if not backends:
        raise NoGPU("no CUDA device found: " + "; ".join(f"{b}: {d[len('absent: ') :]}" for b, d in devices.items()))
    left = budget_s - spent_s - REPORT_S
    skipped = []
    files: list[str] = []
    if tests:
        if root is None or not os.path.isdir(os.path.join(root, "tests")):
            skipped.append("tests: no tests/ folder here (run from the repository root)")
        else:
            files = [
                TEST_FILES[b] for b in TEST_ORDER if b in backends and os.path.exists(os.path.join(root, TEST_FILES[b]))
            ]
            files += [f for f in _marked_gpu(root) if f not in files]
    else:
        skipped.append("tests: not asked for (--no-tests)")
    tests_s = min(TESTS_MAX_S, 0.35 * left) if files else 0.0
    if files and tests_s < TESTS_MIN_S:
        skipped.append(f"tests: {tests_s:.0f} s of budget left, under the {TESTS_MIN_S:.0f} s they need")
        files, tests_s = [], 0.0
    bench_s = left - tests_s if bench else 0.0
    if not bench:
        skipped.append("benchmark: not asked for (--no-bench)")
    elif bench_s < BENCH_MIN_S:
        skipped.append(f"benchmark: {max(bench_s, 0):.0f} s of budget left, under the {BENCH_MIN_S:.0f} s it needs")
        bench_s = 0.0
    return Plan(budget_s, tests_s, bench_s, REPORT_S, backends, files, skipped)


_SUMMARY = re.compile(r"=+ (.*\b(passed|failed|error|errors|skipped|deselected|no tests ran)\b.*) in [\d.]+s")


_PROGRESS = re.compile(r"^([.FEsxX]+)\s*(?:\[\s*\d+%\])?\s*$")


def parse_summary(text: str) -> dict[str, int]:
    """Counts of pytest's last summary line (``"3 failed, 120 passed, 4 skipped in 80.1s"``), or of its
    progress characters where it was stopped before printing one."""
    line = ""
    for ln in text.splitlines():
        m = _SUMMARY.search(ln) or re.search(r"^(\d+ (?:passed|failed|skipped|errors?|deselected).*) in [\d.]+s", ln)
        if m:
            line = m.group(1)
    if not line:  # stopped before the summary: count the progress characters of `pytest -q`
        marks = "".join(m.group(1) for ln in text.splitlines() if (m := _PROGRESS.match(ln)))
        names = {".": "passed", "F": "failed", "E": "errors", "s": "skipped", "x": "xfailed", "X": "xpassed"}
        return {names[c]: marks.count(c) for c in names if c in marks}
    counts = {}
    for num, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed|warnings?)", line):
        counts[{"error": "errors", "warning": "warnings"}.get(word, word)] = int(num)
    return counts


def run_tests(
    files: list[str], *, timeout_s: float, root: str, log: str, devices: dict[str, str], python: str = sys.executable
) -> dict:
    """Run ``pytest`` on ``files`` (GPU selections through the environment), stopped after ``timeout_s``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    on = present(devices)
    env["JAX_PLATFORMS"] = "cuda" if "jax:gpu" in on else "cpu"  # tests/conftest.py keeps a value set here
    if "torch:cuda" in on:
        env["MATFUNC_TEST_TORCH_DEVICE"] = "cuda"  # read by tests/conftest.py: torch.set_default_device
    cmd = [
        python,
        "-m",
        "pytest",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rf",
        "-m",
        "gpu or not slow",
        *files,
    ]
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        fh.write(" ".join(cmd) + "\n\n")
        fh.flush()
        try:
            proc = subprocess.run(
                cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s, check=False
            )
            rc: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    with open(log, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    counts = parse_summary(text)
    status = (
        "stopped at its time budget"
        if rc is None
        else "passed"
        if rc == 0
        else "no tests collected"
        if rc == 5
        else "failed"
    )
    failures = [ln.strip() for ln in text.splitlines() if ln.startswith(("FAILED ", "ERROR "))][:20]
    return {
        "status": status,
        "returncode": rc,
        "counts": counts,
        "seconds": round(time.perf_counter() - t0, 1),
        "command": " ".join(["python -m pytest", *cmd[3:]]),
        "files": files,
        "failures": failures,
        "log": os.path.basename(log),
    }


def config(p: Plan, out: str, *, repeat: int = 10, max_time: float = 0.2):
    """The benchmark's :class:`~matfunc.bench.grid.Config` for a plan."""
    from .grid import Config

    return Config(
        backends=list(p.backends),
        ns=sorted({n for _, n in GPU_SHAPES}),
        batches=sorted({b for b, _ in GPU_SHAPES}),
        dtypes=list(GPU_DTYPES),
        methods=list(GPU_METHODS),
        repeat=repeat,
        max_time=max_time,
        conds=list(CONDS),
        acc_n=64,
        acc_batch=4,
        acc_dtype="float64",
        max_work=float("inf"),
        out=out,
        threads=None,
        shapes=list(GPU_SHAPES),
        budget_s=p.bench_s,
    )


def check(
    out: str,
    *,
    budget_s: float = BUDGET_S,
    root: str | None = None,
    tests: bool = True,
    bench: bool = True,
    repeat: int = 10,
    max_time: float = 0.2,
) -> dict:
    """Run the whole check; return the results dict (the benchmark's, with ``"gpu_check"`` added).
    Raises :class:`NoGPU` where there is no GPU backend."""
    from .grid import run

    t0 = time.perf_counter()
    root = root or os.getcwd()
    devices = detect()
    p = plan(devices, budget_s=budget_s, spent_s=time.perf_counter() - t0, root=root, tests=tests, bench=bench)
    print(f"GPU check: {', '.join(p.backends)}; plan {asdict(p)}", file=sys.stderr, flush=True)
    test_result = None
    if p.test_files:
        test_result = run_tests(
            p.test_files, timeout_s=p.tests_s, root=root, log=os.path.join(out, "pytest.log"), devices=devices
        )
        print(f"tests: {test_result['status']} {test_result['counts']}", file=sys.stderr, flush=True)
    if p.bench_s:
        p.bench_s = max(budget_s - (time.perf_counter() - t0) - p.report_s, 0.0)  # what the tests left
        results = run(config(p, out, repeat=repeat, max_time=max_time))
    else:
        results = {"machine": {}, "config": {}, "methods": {}, "timings": [], "roofline": [], "accuracy": []}
    results["gpu_check"] = {
        "devices": devices,
        "plan": asdict(p),
        "tests": test_result,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return results


def check_section(gc: dict) -> str:
    """The report's GPU-check section: devices, time plan, test results, and what was skipped."""
    p = gc["plan"]
    lines = ["## GPU check", ""]
    for be, desc in gc["devices"].items():
        lines.append(f"- {be}: {desc}")
    lines.append(
        f"- time: {gc.get('seconds', '–')} s of a {p['budget_s']:.0f} s budget (tests up to "
        f"{p['tests_s']:.0f} s, benchmark up to {p['bench_s']:.0f} s, report {p['report_s']:.0f} s)"
    )
    t = gc.get("tests")
    if t:
        counts = ", ".join(f"{v} {k}" for k, v in t["counts"].items()) or "no summary line"
        lines.append(
            f"- tests ({', '.join(t['files'])}): **{t['status']}**: {counts} in {t['seconds']} s "
            f"(`{t['command']}`; full output in `{t['log']}`)"
        )
        lines += [f"  - {f}" for f in t["failures"]]
    for s in p["skipped"]:
        lines.append(f"- skipped: {s}")
    return "\n".join(lines)
