"""The measured grid: :class:`Config`, :func:`run` (times of every method and phase at every size, the
matrix-product bound, the accuracy run) and the machine description that heads the report."""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import matfunc

from .backends import Backend, make_backend
from .cases import MAX_WORK, PHASES, TIMING_COND
from .measure import measure, measure_rounds, rel, spd_batch, spread, sym_cotangent, wait
from .methods import BY_LABEL, Method, functions, matmul_counts

__all__ = ["Config", "run", "accuracy", "machine_info", "SKIPPED"]

SKIPPED = "skipped: time budget spent"


@dataclass
class Config:
    backends: list[str]
    ns: list[int]
    batches: list[int]
    dtypes: list[str]
    methods: list[str]
    repeat: int
    max_time: float
    conds: list[float]
    acc_n: int
    acc_batch: int
    acc_dtype: str
    max_work: float | None
    out: str
    threads: int | None
    replot: str | None = None
    polar: bool = False
    family: bool = False
    family_shapes: list[tuple[int, int]] | None = None
    shapes: list[tuple[int, int]] | None = None  # (batch, n); None: every batch x every n
    budget_s: float | None = None  # seconds for the whole run; sizes past it are skipped and reported
    gpu: bool = False  # the GPU check (matfunc.bench.gpu) instead of this grid
    gpu_tests: bool = True
    gpu_bench: bool = True
    gpu_repeat: int | None = None
    gpu_max_time: float | None = None

    def grid(self) -> list[tuple[int, int]]:
        return list(self.shapes) if self.shapes else [(b, n) for b in self.batches for n in self.ns]


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (type(exc).__name__ + (": " + msg if msg else ""))[:90]


def _fmt_ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def _fmt_err(v: float | None) -> str:
    return "–" if v is None else f"{v:.1e}"


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.perf_counter()

    def step(self, what: str) -> None:
        self.done += 1
        el = time.perf_counter() - self.t0
        print(f"[{self.done:>4}/{self.total}] {el:6.1f}s  {what}", file=sys.stderr, flush=True)


def run(cfg: Config) -> dict:
    """Measure the grid; return a JSON-able dict of all results.

    Sizes are visited dtype by dtype, then size by size, every backend at each size: when ``cfg.budget_s``
    runs out, what is left is the largest sizes of the last dtype on all backends alike, listed under
    ``"skipped"``."""
    t_start = time.perf_counter()
    over = lambda: cfg.budget_s is not None and time.perf_counter() - t_start > cfg.budget_s  # noqa: E731
    if cfg.threads:
        try:
            importlib.import_module("torch").set_num_threads(cfg.threads)
        except ImportError:
            pass
    backends = []
    for spec in cfg.backends:
        try:
            backends.append(make_backend(spec))
        except Exception as exc:  # not installed / no device: say so and go on
            print(f"skipping backend {spec}: {_short(exc)}", file=sys.stderr)
    methods = [BY_LABEL[m] for m in cfg.methods]
    sizes = [
        (be, dt, b, n)
        for dt in cfg.dtypes
        for b, n in cfg.grid()
        for be in backends
        if b * n**3 <= (cfg.max_work or MAX_WORK["gpu" if be.on_gpu else "cpu"])
    ]
    total = len(sizes) * (len(methods) * len(PHASES) + 3) + len(backends) * len(methods) * len(cfg.conds)
    prog = Progress(total)
    timings, roofs, errors, skipped = [], [], [], []
    inputs: dict[str, Any] = {}

    for be, dt, b, n in sizes:
        if over():
            skipped.append({"what": "timing", "backend": be.label, "dtype": dt, "batch": b, "n": n})
            continue
        if inputs.get("key") != (b, n):  # one input per size, shared by the backends visited in a row
            inputs.update(key=(b, n), a=spd_batch(n, b, TIMING_COND)[0], g=sym_cotangent(n, b))
        x = be.to(inputs["a"].astype(dt))
        g = be.to(inputs["g"].astype(dt))
        # Roofline primitives: one batched matmul, the SPD solve the core uses, an LU solve.
        prims = _primitives(be, x)
        roof: dict[str, Any] = {"backend": be.label, "dtype": dt, "batch": b, "n": n}
        for key, prim in prims.items():
            try:
                roof[key] = 1e3 * measure(prim, be.sync, repeat=max(cfg.repeat, 30), max_time=cfg.max_time)
            except Exception as exc:
                roof[key] = None
                roof[key + "_error"] = _short(exc)
            prog.step(f"{be.label} {dt} b={b} n={n} {key}: {_fmt_ms(roof[key])} ms")
        roofs.append(roof)
        # Every (method, phase) of this size is built and warmed up first, then timed in rounds, one run of
        # each per round: a burst of machine noise then hits all of them alike, so the ratios stay fair.
        cases = []
        for m in methods:
            counts = matmul_counts(m, dtype=dt, on_cpu=not be.on_gpu, n=n)
            for phase in PHASES:
                row: dict[str, Any] = {
                    "backend": be.label,
                    "dtype": dt,
                    "batch": b,
                    "n": n,
                    "method": m.label,
                    "phase": phase,
                }
                fn: Callable[[], Any] | None = None
                try:
                    if over():
                        raise TimeoutError
                    f, fvjp = functions(m, be)
                    maker: Any = {"fwd": be.fwd, "bwd": be.bwd, "fwd+bwd": be.fwdbwd}[phase]
                    fn = maker(f, fvjp, x) if phase == "fwd" else maker(f, fvjp, x, g)
                    wait(fn())  # warm-up: jit compilation, caches, thread pools
                    be.sync()
                except TimeoutError:
                    row["ms"], row["error"], fn = None, SKIPPED, None
                except NotImplementedError as exc:
                    row["ms"], row["error"], fn = None, f"n/a: {exc}" if str(exc) else "n/a", None
                except Exception as exc:  # a baseline that fails (e.g. torch's batched LU bug): report it
                    row["ms"], row["error"], fn = None, _short(exc), None
                row["bound_ms"] = _bound(counts, phase, roof)
                cases.append((row, fn))
        runs = measure_rounds([fn for _, fn in cases], be.sync, repeat=cfg.repeat, max_time=cfg.max_time)
        for (row, fn), times in zip(cases, runs, strict=True):
            if fn is not None and times:
                ms = [1e3 * t for t in times]
                row.update(spread(ms), runs_ms=ms)
            timings.append(row)
            prog.step(
                f"{be.label} {dt} b={b} n={n} {row['method']} {row['phase']}: {_fmt_ms(row['ms'])} ms "
                f"{row.get('error', '')}"
            )

    for be in backends:
        for m in methods:
            for cond in cfg.conds:
                if over():
                    skipped.append({"what": "accuracy", "backend": be.label, "method": m.label, "cond": cond})
                    continue
                acc: dict[str, Any] = {
                    "backend": be.label,
                    "dtype": cfg.acc_dtype,
                    "n": cfg.acc_n,
                    "method": m.label,
                    "cond": cond,
                }
                measured = True
                try:
                    acc.update(accuracy(m, be, cfg, cond))
                except NotImplementedError:
                    measured = False
                except Exception as exc:
                    acc.update(value_err=None, grad_err=None, error=_short(exc))
                if measured:
                    errors.append(acc)
                    msg = f"value {_fmt_err(acc.get('value_err'))} grad {_fmt_err(acc.get('grad_err'))}"
                else:
                    msg = "n/a"
                prog.step(f"{be.label} accuracy {m.label} cond {cond:g}: {msg}")

    out = {
        "machine": machine_info(backends, cfg),
        "config": {k: v for k, v in vars(cfg).items()},
        "methods": {m.label: m.note for m in methods},
        "timings": timings,
        "roofline": roofs,
        "accuracy": errors,
    }
    if skipped:
        out["skipped"] = skipped
    return out


def _primitives(be: Backend, x: Any) -> dict[str, Callable[[], Any]]:
    from .._compat import array_namespace
    from ..core import primitives

    xp = array_namespace(x)
    eye = primitives.eye_like(x, xp=xp)
    spd = x + eye  # well conditioned, SPD
    mm = be.compile(lambda u, v: u @ v)
    spd_solve = be.compile(lambda u, v: primitives.spd_solve(u, v, xp=array_namespace(u)))
    lu = be.compile(lambda u, v: array_namespace(u).linalg.solve(u, v))
    return {
        "matmul_ms": lambda: mm(x, x),
        "spd_solve_ms": lambda: spd_solve(spd, x),
        "lu_solve_ms": lambda: lu(spd, x),
    }


def _bound(counts: tuple[int, int, int, str] | None, phase: str, roof: dict) -> float | None:
    if counts is None or roof.get("matmul_ms") is None:
        return None
    fwd_mm, solves, bwd_mm, kind = counts
    solve = roof.get("spd_solve_ms" if kind == "spd" else "lu_solve_ms")
    if solve is None and solves:
        return None
    fwd = fwd_mm * roof["matmul_ms"] + solves * (solve or 0.0)
    bwd = bwd_mm * roof["matmul_ms"] if bwd_mm >= 0 else None
    if phase == "fwd":
        return fwd
    if bwd is None:
        return None
    return bwd if phase == "bwd" else fwd + bwd


def accuracy(m: Method, be: Backend, cfg: Any, cond: float) -> dict:
    """Relative error of the value and of the gradient of ``m`` on ``be`` against the exact ones
    (``cfg``: ``acc_n``, ``acc_batch``, ``acc_dtype``)."""
    a, q, w = spd_batch(cfg.acc_n, cfg.acc_batch, cond, seed=2)
    s = np.sqrt(w)
    root = (q * s) @ q.mT
    g = sym_cotangent(cfg.acc_n, cfg.acc_batch, seed=3)
    grad = q @ (((q.mT @ g) @ q) / (s[:, None] + s[None, :])) @ q.mT
    f, fvjp = functions(m, be)
    y, da = be.value_and_grad(f, fvjp, be.to(a.astype(cfg.acc_dtype)), be.to(g.astype(cfg.acc_dtype)))
    out: dict[str, Any] = {"value_err": rel(be.back(y), root)}
    if da is None:
        out["grad_err"] = None
        out["error"] = "n/a: no gradient"
    else:
        out["grad_err"] = rel(be.back(da), grad)
    return out


def machine_info(backends: list[Backend], cfg: Config) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "matfunc": matfunc.__version__,
        "numpy": np.__version__,
        "command": " ".join(["python -m matfunc.bench", *sys.argv[1:]]) if sys.argv else "",
    }
    for be in backends:
        info[be.name] = be.version()
        if be.name == "torch":
            info["torch threads"] = be.torch.get_num_threads()
            x = be.torch.eye(2, dtype=be.torch.float64, requires_grad=True)
            fn = matfunc.sqrtm(x, method="pade").grad_fn
            # A custom autograd.Function (the backend glue) or autodiff through the core's operations.
            info["torch grad_fn of matfunc.sqrtm"] = type(fn).__name__ if fn is not None else "none"
            if be.on_gpu:
                info["gpu"] = be.torch.cuda.get_device_name()
        if be.name == "jax":
            info["jax devices"] = ", ".join(str(d) for d in be.jax.devices())
    try:
        info["scipy"] = importlib.import_module("scipy").__version__
    except ImportError:
        pass
    return info
