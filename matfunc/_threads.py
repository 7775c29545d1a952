"""Host threads for NumPy batches: one BLAS thread per small matrix, the batch split across worker threads.

NumPy runs a batched ``eigh``/``matmul`` of small matrices as one LAPACK/BLAS call per matrix, each of which a
multithreaded BLAS (OpenBLAS by default) spreads over all its threads: for ``n <= 512`` that buys no wall time
and costs a core's worth of spinning per extra thread. On this project's 2-core CPU (OpenBLAS, 2 threads):

=====================  ==================  ===================  =================================
eigh root of           default BLAS        one BLAS thread      2 workers x 1 BLAS thread (here)
=====================  ==================  ===================  =================================
4000 x 32x32 float64   307 ms (608 CPU)    301 ms (301 CPU)     155 ms (303 CPU)
256 x 128x128          319 ms (609 CPU)    319 ms (319 CPU)     165 ms (321 CPU)
1 x 1024x1024          149 ms (297 CPU)    233 ms (233 CPU)     (one matrix: BLAS keeps its threads)
=====================  ==================  ===================  =================================

On a busy machine the spinning threads wait for the scheduler on every call, and a batched ``eigh`` of
4000 x 32x32 took 64 s of CPU instead of 0.55 s. So for a batch of at least two matrices of order
``n <= MAX_N`` called from the main thread, :func:`batch_plan` sets BLAS to one thread (``threadpoolctl``;
re-entrant; the user's setting is restored when the call returns, also on errors) and, when the work is worth a
thread hand-off, runs the batch's blocks on as many worker threads as BLAS had (NumPy releases the GIL inside
its linear algebra). Calls from other threads (a Dask worker, a user's pool) leave BLAS alone: threadpoolctl
lets only one thread control OpenBLAS's process-wide pool. BLAS's thread count is process-wide, and another
thread that enters and leaves its own ``threadpool_limits`` while matfunc's limit is on (scikit-learn's KMeans
does) would restore matfunc's value on leaving and leave the process on one BLAS thread for good: so BLAS is
limited only while no other Python thread runs (matfunc's own workers aside); with other threads alive (a
Jupyter kernel's, an idle Dask or user pool's) the call runs on the calling thread with BLAS as it is. A
``fork``ed child (``multiprocessing``, ``DataLoader(num_workers>0)``) starts with fresh pools and lock: the
parent's worker threads do not exist there. A user's own limit (``OPENBLAS_NUM_THREADS=1``,
``threadpoolctl.threadpool_limits(1)``) is respected: one BLAS thread means one worker. Without ``threadpoolctl``
installed nothing changes. NumPy-backed host arrays (NumPy, array-api-strict) are concerned, and the ``eigh`` of
PyTorch's CPU tensors (:func:`host_eigh`: torch runs a batched CPU ``eigh`` one matrix at a time on all of MKL's
threads); PyTorch's other kernels and JAX's parallelise over the batch themselves.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["MAX_N", "MIN_WORK", "alone", "batch_plan", "host_eigh", "single_blas", "split_rows"]

MAX_N = 512  # larger matrices keep BLAS's threads (one 1024x1024 eigh: 149 ms with 2 threads, 233 ms with 1)
MIN_WORK = 1 << 21  # batch * n^3 below which the thread hand-off (~0.1 ms) costs more than it saves

_lock = threading.Lock()
_state: dict[str, Any] = {"controller": None, "loaded": False, "depth": 0, "limiter": None}
_pools: dict[int, Any] = {}  # worker count -> ThreadPoolExecutor, made on first use


def _after_fork_in_child() -> None:
    """A forked child has only the forking thread: the parent's pool threads (and a lock one of them may have
    held) are gone, and submitting to the inherited executors would wait forever. Start afresh."""
    global _lock
    _lock = threading.Lock()
    _pools.clear()
    _state.update(depth=0, limiter=None)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _controller() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries (found once), or None without threadpoolctl."""
    if not _state["loaded"]:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional: without it BLAS keeps its threads
            ctl = None
        else:
            ctl = ThreadpoolController().select(user_api="blas")
            ctl = ctl if ctl.lib_controllers else None
        _state["controller"], _state["loaded"] = ctl, True
    return _state["controller"]


def blas_threads() -> int:
    """The BLAS threads NumPy's linear algebra would use now (1 when unknown)."""
    ctl = _controller()
    if ctl is None:
        return 1
    return max([1, *(lib.num_threads for lib in ctl.lib_controllers)])


def _own_threads() -> set[Any]:
    return {t for pool in list(_pools.values()) for t in list(getattr(pool, "_threads", ()))}


def alone() -> bool:
    """Whether the calling thread is the main thread and no other Python thread is alive but matfunc's own pool
    workers: only then can a process-wide BLAS setting be changed and restored without racing another
    thread's ``threadpool_limits`` (threads started from C code that never ran Python are not seen, and they
    do not call threadpoolctl)."""
    me = threading.current_thread()
    if me is not threading.main_thread():
        return False
    own = _own_threads()
    return all(t is me or t in own for t in threading.enumerate())


@contextlib.contextmanager
def single_blas() -> Iterator[bool]:
    """BLAS on one thread inside the block when :func:`alone` (re-entrant); yields whether it did. The user's
    setting is restored when the outermost block exits, also on errors (no other Python thread can have changed
    it meanwhile: the main thread is busy in the block, and only matfunc's own workers run). Otherwise a no-op:
    BLAS's thread count is process-wide, and changing it while another thread may enter and leave its own
    limit would leave the process with a value that is not the user's."""
    ctl = _controller()
    if ctl is None:
        yield False
        return
    with _lock:
        if _state["depth"] == 0:
            if not alone():
                limited = False
            else:
                _state["limiter"] = ctl.limit(limits=1).__enter__()
                limited = True
        else:
            limited = _state["limiter"] is not None and threading.current_thread() is threading.main_thread()
        if limited:
            _state["depth"] += 1
    if not limited:
        yield False
        return
    try:
        yield True
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                limiter, _state["limiter"] = _state["limiter"], None
                limiter.__exit__(None, None, None)  # no other Python thread ran meanwhile: the value is ours


def _pool(workers: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    with _lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="matfunc")
        return _pools[workers]


@contextlib.contextmanager
def batch_plan(shape: tuple[int, ...], *, host_numpy: bool) -> Iterator[tuple[int, Callable[..., Any]]]:
    """``(workers, map)`` for a call on a ``(..., n, n)`` batch: inside, BLAS runs on one thread when this
    module says so, and a batch split into at least ``workers`` blocks is mapped with ``map`` (a thread pool's
    when ``workers > 1``; see :func:`matfunc.core.blocking.over_batch`)."""
    batch, n = math.prod(shape[:-2]), (shape[-1] if shape else 0)
    if not host_numpy or batch < 2 or n > MAX_N or _controller() is None:
        yield 1, map
        return
    if threading.current_thread() is not threading.main_thread():  # e.g. a Dask worker: leave BLAS alone
        yield 1, map
        return
    workers = min(blas_threads(), os.cpu_count() or 1)  # read before single_blas() sets BLAS to one thread
    with single_blas() as limited:
        if not limited or workers < 2 or batch * n**3 < MIN_WORK:  # other threads alive: BLAS as it is
            yield 1, map
        else:
            yield workers, _pool(workers).map


def host_eigh(x: Any, /, *, max_workers: int | None = None) -> tuple[Any, Any] | None:
    """``numpy.linalg.eigh`` of a ``(..., n, n)`` NumPy array on one BLAS thread per matrix, the batch split
    across worker threads where :func:`batch_plan` says so (the same results as one call); None where BLAS
    cannot be held to one thread (not called from the main thread, other Python threads alive, no
    ``threadpoolctl``) or for one matrix larger than ``MAX_N`` (BLAS's threads pay there).

    For PyTorch's CPU tensors (``matfunc.backends.torch``): torch 2.13 runs a batched CPU ``eigh`` one matrix
    after the other, each spread over all of MKL's threads; on this project's 2-core machine (quiet, 2 threads)
    1024 x 32x32 float32 took 340 ms that way, 52 ms on one thread and 37 ms here (4x256: 59, 12, 11 ms). With
    more BLAS threads than one, OpenBLAS's idle threads spin after the call and slow the PyTorch products that
    follow (a 1024 x 1024 root's backward by 10-20%): hence one thread or nothing."""
    import numpy as np

    shape = tuple(x.shape)
    total, n = math.prod(shape[:-2]), shape[-1]
    if (total < 2 and n > MAX_N) or _controller() is None or threading.current_thread() is not threading.main_thread():
        return None
    workers = min(blas_threads(), os.cpu_count() or 1)  # read before single_blas() sets BLAS to one thread
    workers = max(1, workers if max_workers is None else min(workers, max_workers))
    with single_blas() as limited:
        if not limited and blas_threads() > 1:
            return None
        if workers < 2 or total < 2 or total * n**3 < MIN_WORK:
            return np.linalg.eigh(x)  # type: ignore[no-any-return]
        from .core.blocking import over_batch

        return over_batch(  # type: ignore[no-any-return]
            np.linalg.eigh, (x,), shape[:-2], split_rows(total, None, workers), xp=np, map_=_pool(workers).map
        )


def split_rows(total: int, rows: int | None, workers: int) -> int | None:
    """Block size that gives each of ``workers`` threads at least one block (``rows`` from core.blocking)."""
    if workers < 2:
        return rows
    per_worker = -(-total // workers)
    return per_worker if rows is None else min(rows, per_worker)
