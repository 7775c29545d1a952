"""CPU thread pathologies, before and after: ``python -m matfunc.bench.threads [--load K] [--quick]``.

Two ways a CPU run went wrong (measured on this project's 2-core machine) and what matfunc does about them:

- **NumPy, batches of small matrices under a multithreaded BLAS.** NumPy calls LAPACK/BLAS once per matrix and
  OpenBLAS spreads each call over all its threads: no gain in wall time for ``n <= 512``, a core's worth of
  spinning per extra thread, and on a busy machine every call waits for the scheduler. matfunc now runs such
  batches with one BLAS thread per matrix and the batch split across worker threads (``matfunc._threads``).
- **PyTorch, many tiny matrices split into cache blocks.** Blocking a batch of 4x4 matrices into chunks of
  8192 multiplies the calls (and each call's thread synchronisation) without a cache gain; matrices of order
  ``n < 8`` are no longer blocked (``matfunc.core.blocking.MIN_N``).

For each case the table gives the wall time and the CPU time (all threads) of: the plain eigh-based root a user
would write (``eigh``, clip, ``V diag(sqrt(w)) V^T``), matfunc as it was (``before``: BLAS threads left alone,
every batch blocked) and matfunc now (``after``), all in one run, in interleaved rounds, medians of the rounds.
``--load K`` starts K busy-looping processes for the duration (a busy machine, reproducibly).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["CASES", "before_fix", "main", "run"]

# (framework, method, batch, n, dtype)
CASES: list[tuple[str, str, int, int, str]] = [
    ("numpy", "auto", 4000, 32, "float64"),
    ("numpy", "auto", 256, 128, "float64"),
    ("numpy", "auto", 100000, 4, "float64"),
    ("numpy", "newton-schulz", 4000, 32, "float64"),
    ("numpy", "auto", 1, 2048, "float64"),
    ("torch", "newton-schulz", 100000, 4, "float32"),
    ("torch", "newton-schulz", 100000, 2, "float32"),
    ("torch", "auto", 100000, 8, "float32"),
    ("torch", "newton-schulz", 4000, 32, "float32"),
]
QUICK = [c for c in CASES if c[2] * c[3] ** 3 <= 1 << 28]


@contextlib.contextmanager
def before_fix() -> Iterator[None]:
    """matfunc as it was before the thread fixes: BLAS threads untouched, every batch blocked."""
    from matfunc import _threads
    from matfunc.core import blocking

    saved = dict(_threads._state), blocking.MIN_N
    _threads._state.update(loaded=True, controller=None)
    blocking.MIN_N = 0
    try:
        yield
    finally:
        _threads._state.clear()
        _threads._state.update(saved[0])
        blocking.MIN_N = saved[1]


def _spin() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


@contextlib.contextmanager
def load(k: int) -> Iterator[None]:
    """``k`` busy-looping processes while the block runs."""
    procs = [multiprocessing.get_context("spawn").Process(target=_spin, daemon=True) for _ in range(k)]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()


def _input(framework: str, batch: int, n: int, dtype: str) -> Any:
    rng = np.random.default_rng(0)
    f = rng.standard_normal((batch, n, n))
    a = (f @ np.swapaxes(f, -1, -2) / n + np.eye(n)).astype(dtype)
    if framework == "torch":
        import torch

        return torch.from_numpy(a)
    return a


def _plain(framework: str) -> Callable[[Any], Any]:
    if framework == "torch":
        import torch

        def root(a: Any) -> Any:
            w, v = torch.linalg.eigh(a)
            return (v * w.clamp_min(0).sqrt()[..., None, :]) @ v.mT

        return root

    def root_np(a: Any) -> Any:
        w, v = np.linalg.eigh(a)
        return (v * np.sqrt(np.maximum(w, 0))[..., None, :]) @ np.swapaxes(v, -1, -2)

    return root_np


def _clock(fn: Callable[[], Any]) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()  # process_time: CPU of every thread of this process
    fn()
    return time.perf_counter() - w, time.process_time() - c


def run(
    cases: list[tuple[str, str, int, int, str]], *, rounds: int = 3, threads: int | None = None, check: bool = False
) -> list[dict[str, Any]]:
    """Measure every case: plain root, matfunc before, matfunc after, interleaved over ``rounds`` (matfunc with
    ``check``: the default ``check=True`` adds the input and result checks to its time)."""
    import matfunc

    rows = []
    for framework, method, batch, n, dtype in cases:
        if framework == "torch":
            try:
                import torch
            except ImportError:
                continue
            if threads:
                torch.set_num_threads(threads)
        a = _input(framework, batch, n, dtype)
        plain = _plain(framework)

        def ours(a: Any = a, method: str = method) -> Any:
            return matfunc.sqrtm(a, method=method, check=check)

        def old(a: Any = a, method: str = method) -> Any:
            with before_fix():
                return matfunc.sqrtm(a, method=method, check=check)

        variants: dict[str, Callable[[], Any]] = {
            "plain eigh root": lambda a=a, plain=plain: plain(a),  # type: ignore[misc]
            "matfunc before": old,
            "matfunc after": ours,
        }
        if method != "auto":
            del variants["plain eigh root"]
        for fn in variants.values():  # warm-up: imports, thread pools, allocator
            fn()
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        for r in range(rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for k in order:
                times[k].append(_clock(variants[k]))
        med = {
            k: (
                float(np.median([t[0] for t in v])),
                float(np.median([t[1] for t in v])),
                max(t[0] for t in v) / max(min(t[0] for t in v), 1e-12),
            )
            for k, v in times.items()
        }
        rows.append({"framework": framework, "method": method, "batch": batch, "n": n, "dtype": dtype, "times": med})
        print(_line(rows[-1]), flush=True)
    return rows


def _fmt(t: tuple[float, float, float] | None) -> str:
    if t is None:
        return "-"
    wall, cpu, spread = t
    flag = " (noisy)" if spread > 2.0 else ""
    return f"{wall * 1e3:.0f} ms (CPU {cpu * 1e3:.0f}){flag}"


def _line(row: dict[str, Any]) -> str:
    t = row["times"]
    case = f"{row['framework']} `{row['method']}` {row['batch']} x {row['n']}x{row['n']} {row['dtype']}"
    before, after = t["matfunc before"], t["matfunc after"]
    speedup = before[0] / after[0] if after[0] > 0 else math.nan
    return f"| {case} | {_fmt(t.get('plain eigh root'))} | {_fmt(before)} | {_fmt(after)} | {speedup:.2f}x |"


def table(rows: list[dict[str, Any]]) -> str:
    head = "| case | plain eigh root | matfunc before | matfunc after | before / after (wall) |\n|---|---|---|---|---|"
    return "\n".join([head, *(_line(r) for r in rows)])


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(prog="python -m matfunc.bench.threads", description=__doc__.splitlines()[0])
    p.add_argument("--load", type=int, default=0, help="busy-looping processes during the measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    p.add_argument("--quick", action="store_true", help="skip the largest cases")
    p.add_argument("--out", default=None, help="write the markdown table to this file")
    p.add_argument("--check", action="store_true", help="matfunc with check=True (its default), not check=False")
    args = p.parse_args(argv)
    cases = QUICK if args.quick else CASES
    header = (
        f"CPU: {os.cpu_count()} cores, {args.load} busy-looping processes; wall time (CPU time of all "
        f"threads), medians of {args.rounds} interleaved rounds; matfunc with check={args.check}\n"
    )
    print(header + table([]).split("\n", 2)[0] + "\n|---|---|---|---|---|", flush=True)
    with load(args.load):
        rows = run(cases, rounds=args.rounds, threads=args.threads, check=args.check)
    text = header + "\n" + table(rows) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
