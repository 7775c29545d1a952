"""Inputs and clocks: the SPD test batches, the cotangents, and timing (one function, or all functions of one
size in interleaved rounds) that keeps every repeat's time so that the report can show the spread."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["spd_batch", "sym_cotangent", "wait", "measure", "measure_rounds", "spread", "rel"]


def spd_batch(n: int, batch: int, cond: float, *, seed: int = 0, distinct: int = 8):
    """``A = Q diag(w) Q^T`` (w log-spaced from 1 to 1/cond), float64; returns ``(A, Q, w)``.

    At most ``distinct`` different matrices are drawn and tiled over the batch (QR of large batches is slow).
    """
    rng = np.random.default_rng(seed)
    k = max(1, min(batch, distinct))
    q, _ = np.linalg.qr(rng.standard_normal((k, n, n)))
    reps = math.ceil(batch / k)
    q = np.concatenate([q] * reps)[:batch]
    w = np.logspace(0.0, -math.log10(cond), n) if n > 1 else np.ones(1)
    a = (q * w) @ q.mT
    return (a + a.mT) / 2, q, w


def sym_cotangent(n: int, batch: int, *, seed: int = 1) -> np.ndarray:
    g = np.random.default_rng(seed).standard_normal((batch, n, n))
    g = g + g.mT
    return g / np.linalg.norm(g, axis=(-2, -1), keepdims=True)


def wait(out: Any) -> None:
    """Block until asynchronous results (JAX dispatch) are ready."""
    for leaf in out if isinstance(out, (tuple, list)) else (out,):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()


def measure(fn: Callable[[], Any], sync: Callable[[], None], *, repeat: int, max_time: float) -> float:
    """Median seconds of ``fn()`` after a warm-up call: ``repeat`` runs, or fewer (but at least 3) once
    ``max_time`` seconds are spent; a single run when one run alone takes longer than ``max_time``."""
    wait(fn())  # warm-up: jit compilation, caches, thread pools
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max(repeat, 1):
        t0 = time.perf_counter()
        wait(fn())
        sync()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > max_time and (len(times) >= 3 or times[0] > max_time):
            break
    return float(np.median(times))


SPIN_S = 0.2  # OpenBLAS's idle threads spin for about 0.1 s after a multithreaded call


def measure_rounds(
    fns: list[Callable[[], Any] | None],
    sync: Callable[[], None],
    *,
    repeat: int,
    max_time: float,
    settle: float = 0.0,
    clock: Callable[[], float] = time.perf_counter,
    number: int = 1,
) -> list[list[float] | None]:
    """Seconds of every run of each (already warmed-up) function, timed in interleaved rounds in a shuffled
    order: ``repeat`` rounds, or fewer (but at least 3) once ``max_time`` seconds per function are spent; a
    single round when one round alone takes longer than that. None entries are skipped (None returned).
    ``settle``: seconds of sleep (not timed) before each run, so that every run starts on an idle CPU: OpenBLAS's
    threads keep spinning for about 0.1 s after a multithreaded call and take a core from whatever runs next.
    ``clock``: what a run is timed by (``time.process_time``: the CPU time of this process, which other work on a
    shared host does not add to; with one thread, a measure of the work each variant does). ``number > 1``: a run
    is untimed calls for at least ``SPIN_S`` seconds, then ``number`` calls timed together (their mean, as
    ``timeit``): the steady state of a loop that calls one function, where what ran before (another variant's
    spinning BLAS threads) has passed."""
    live = [i for i, fn in enumerate(fns) if fn is not None]
    times: dict[int, list[float]] = {i: [] for i in live}
    order = np.random.default_rng(0)  # a fresh order each round: what runs just before a function (e.g. a
    start = time.perf_counter()  # LAPACK call whose BLAS threads keep spinning) is not always the same
    budget = max_time * max(len(live), 1)
    for r in range(max(repeat, 1)):
        for i in order.permutation(live):
            if settle > 0:
                time.sleep(settle)
            if number > 1:  # untimed calls for at least SPIN_S: the earlier variant's BLAS threads stop spinning
                t_end = time.perf_counter() + SPIN_S
                while True:
                    wait(fns[i]())
                    sync()
                    if time.perf_counter() >= t_end:
                        break
            t0 = clock()
            for _ in range(max(number, 1)):
                wait(fns[i]())
                sync()
            times[i].append((clock() - t0) / max(number, 1))
        spent = (time.perf_counter() - start - settle * len(live) * (r + 1)) / max(number, 1)
        if (r >= 2 or spent > 3 * budget) and spent > budget:
            break
    return [times[i] if i in times else None for i in range(len(fns))]


def spread(times_ms: list[float]) -> dict[str, float]:
    """Median, quartiles and extremes of one measurement's repeats (milliseconds)."""
    q1, med, q3 = (float(v) for v in np.percentile(times_ms, [25, 50, 75]))
    return {"ms": med, "q1": q1, "q3": q3, "min": float(min(times_ms)), "max": float(max(times_ms))}


def rel(x: np.ndarray, r: np.ndarray) -> float:
    return float(np.linalg.norm(x.astype(np.float64) - r) / np.linalg.norm(r))
