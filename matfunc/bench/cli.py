"""The command line: ``python -m matfunc.bench`` (and the ``matfunc-bench`` console script)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import gpu
from .backends import default_backends
from .cases import (
    CONDS,
    FULL_BATCH,
    FULL_N,
    LARGE_BATCH,
    LARGE_N,
    QUICK_BATCH,
    QUICK_N,
    SIZE_SET_METHODS,
    TINY_BATCH,
    TINY_N,
)
from .grid import Config, run
from .methods import METHODS
from .plots import plots
from .report import report

__all__ = ["parse_args", "main"]

USAGE = "Side-by-side benchmark report of matfunc's matrix square roots and their baselines (speed and accuracy)."


def parse_args(argv: list[str] | None) -> Config:
    p = argparse.ArgumentParser(prog="python -m matfunc.bench", description=USAGE)
    p.add_argument("--quick", action="store_true", help=f"n in {QUICK_N}, batch {QUICK_BATCH}, float32, few repeats")
    p.add_argument(
        "--tiny",
        action="store_true",
        help=f"many tiny matrices: batch {TINY_BATCH} of n in {TINY_N}; methods {', '.join(SIZE_SET_METHODS)}",
    )
    p.add_argument(
        "--large",
        action="store_true",
        help=f"one large matrix: batch {LARGE_BATCH} of n in {LARGE_N} (slow on CPU: eigh takes tens of "
        f"seconds); methods {', '.join(SIZE_SET_METHODS)}",
    )
    p.add_argument(
        "--gpu",
        action="store_true",
        help="the one-shot GPU check: GPU tests and the GPU benchmark, one report in --out, within --budget "
        f"seconds (default {gpu.BUDGET_S:.0f}); exits with status 2 where no CUDA device is found",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the whole run; sizes past it are skipped and listed in the report",
    )
    p.add_argument("--no-tests", action="store_true", help="--gpu: skip the tests")
    p.add_argument("--no-bench", action="store_true", help="--gpu: skip the benchmark")
    p.add_argument("--out", default="bench-out", help="directory for report.md, results.json and the PNGs")
    p.add_argument("--backend", nargs="+", default=None, help="numpy torch torch:cuda jax jax:gpu cupy (default: all)")
    p.add_argument(
        "--n",
        "--sizes",
        nargs="+",
        type=int,
        default=None,
        dest="n",
        help="matrix sizes (replace those of --quick/--tiny/--large)",
    )
    p.add_argument("--batch", nargs="+", type=int, default=None)
    p.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "float64"])
    p.add_argument("--method", nargs="+", default=None, choices=[m.label for m in METHODS])
    p.add_argument("--repeat", type=int, default=None, help="timed runs per measurement (median)")
    p.add_argument("--max-time", type=float, default=None, help="seconds per measurement (at least 3 runs)")
    p.add_argument("--cond", nargs="+", type=float, default=list(CONDS), help="condition numbers of the accuracy run")
    p.add_argument("--acc-n", type=int, default=None, help="matrix size of the accuracy run (default 64)")
    p.add_argument("--acc-batch", type=int, default=4)
    p.add_argument("--acc-dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--max-work", type=float, default=None, help="skip sizes with batch * n^3 above this")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument(
        "--replot",
        metavar="RESULTS_JSON",
        default=None,
        help="measure nothing: redraw the plots and report.md into --out from a saved results.json",
    )
    p.add_argument(
        "--polar",
        action="store_true",
        help="append matfunc.bench.polar's tables (products, low precision, timing of (batch, 4n, n) for "
        "the --n/--batch grid) at 4*acc-n x acc-n",
    )
    p.add_argument(
        "--family",
        action="store_true",
        help="append matfunc.bench.family's tables (powm/logm/expm accuracy at acc-n x acc-n; A^(-1/4) "
        "fwd+bwd time at batch 256 of 64x64 and 16 of 512x512, or the --n/--batch grid if given)",
    )
    a = p.parse_args(argv)
    if a.gpu and a.replot:
        p.error("--gpu measures; --replot redraws a saved run: give one of them")
    shapes = None
    if a.tiny or a.large:  # the size sets: their own batch, n from --n/--sizes where given
        sets = [(TINY_BATCH, TINY_N)] * a.tiny + [(LARGE_BATCH, LARGE_N)] * a.large
        shapes = [(b, n) for b0, ns0 in sets for b in (a.batch or [b0]) for n in (a.n or ns0)]
        shapes = list(dict.fromkeys(shapes))
    ns = sorted({n for _, n in shapes}) if shapes else a.n or list(QUICK_N if a.quick else FULL_N)
    batches = sorted({b for b, _ in shapes}) if shapes else a.batch or list(QUICK_BATCH if a.quick else FULL_BATCH)
    methods = a.method or (list(SIZE_SET_METHODS) if shapes else [m.label for m in METHODS if m.default])
    return Config(
        backends=a.backend or default_backends(),
        ns=ns,
        batches=batches,
        dtypes=a.dtype,
        methods=methods,
        repeat=a.repeat or (5 if a.quick or shapes else 15),
        max_time=a.max_time or (0.25 if a.quick and not shapes else 1.0),
        conds=a.cond,
        acc_n=a.acc_n or min(64, max(ns)),
        acc_batch=a.acc_batch,
        acc_dtype=a.acc_dtype,
        max_work=a.max_work or (float("inf") if shapes else None),
        out=a.out,
        threads=a.threads,
        replot=a.replot,
        polar=a.polar,
        family=a.family,
        family_shapes=[(b, n) for n in ns for b in batches] if (a.n or a.batch) else None,
        shapes=shapes,
        budget_s=a.budget,
        gpu=a.gpu,
        gpu_tests=not a.no_tests,
        gpu_bench=not a.no_bench,
        gpu_repeat=a.repeat,
        gpu_max_time=a.max_time,
    )


def _gpu_check(cfg: Config) -> dict:
    try:
        return gpu.check(
            cfg.out,
            budget_s=cfg.budget_s or gpu.BUDGET_S,
            root=os.getcwd(),
            tests=cfg.gpu_tests,
            bench=cfg.gpu_bench,
            repeat=cfg.gpu_repeat or 10,
            max_time=cfg.gpu_max_time or 0.2,
        )
    except gpu.NoGPU as exc:
        print(
            f"python -m matfunc.bench --gpu: {exc}.\nThe GPU check needs a CUDA device and PyTorch (CUDA build), "
            "JAX (jax[cuda]) or CuPy; on this machine run `python -m matfunc.bench --quick` instead.",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> dict:
    """Entry point of ``python -m matfunc.bench``; returns the results dict."""
    cfg = parse_args(argv)
    if cfg.gpu:
        os.makedirs(cfg.out, exist_ok=True)
        results = _gpu_check(cfg)
    elif cfg.replot:
        with open(cfg.replot) as fh:
            results = json.load(fh)
    else:
        os.makedirs(cfg.out, exist_ok=True)
        t0 = time.perf_counter()
        results = run(cfg)
        if cfg.polar:  # the polar tables, kept in results.json so that --replot reproduces them
            from . import polar

            device = "cuda" if "torch:cuda" in cfg.backends else "cpu"
            sizes = [(b, 4 * n, n) for n in cfg.ns for b in cfg.batches]
            results["polar"] = polar.report_section(
                4 * cfg.acc_n, cfg.acc_n, cfg.acc_batch, timing_sizes=sizes, device=device, repeat=cfg.repeat
            )
        if cfg.family:  # likewise the powm/logm/expm tables
            from . import family

            device = "cuda" if "torch:cuda" in cfg.backends else "cpu"
            shapes = tuple(cfg.family_shapes) if cfg.family_shapes else family.SPEED_SHAPES
            results["family"] = family.report_section(cfg.acc_n, shapes=shapes, device=device, repeat=cfg.repeat)
        results["machine"]["wall time"] = f"{time.perf_counter() - t0:.0f} s"
    os.makedirs(cfg.out, exist_ok=True)
    with open(os.path.join(cfg.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    pngs = plots(results, cfg.out) if results["timings"] or results["accuracy"] else []
    text = report(results, pngs)
    if results.get("polar"):
        text += "\n" + results["polar"] + "\n"
    if results.get("family"):
        text += "\n" + results["family"] + "\n"
    with open(os.path.join(cfg.out, "report.md"), "w") as fh:
        fh.write(text)
    print(text)
    print(
        f"wrote {os.path.join(cfg.out, 'report.md')}, results.json" + "".join(f", {p}" for p in pngs), file=sys.stderr
    )
    tests = (results.get("gpu_check") or {}).get("tests")
    if cfg.gpu and tests and tests["status"] == "failed":  # a test stopped by the budget is not a failure
        raise SystemExit(1)
    return results
