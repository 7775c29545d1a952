"""matfunc on Dask arrays: a large batch streamed in chunks (bounded peak memory), and one large matrix by
Dask's blocked matrix products (Newton–Schulz).

- ``DaskStream``: ``batch`` (default grid up to 100k) 32x32 float64 SPD matrices generated chunk by chunk
  (the input never exists as a whole), ``matfunc.sqrtm`` block-wise, reduced to one number per chunk.
  ``peakmem_stream`` is the process's peak memory; ``track_full_array_mib`` the size the batch would take
  in memory as one array, for comparison. Peak memory stays near (threads x a few chunks) + the
  interpreter, not the array size.
- ``DaskBlocked``: one ``n x n`` matrix split into 4 x 4 chunks, ``method="newton-schulz"`` through
  ``dask.array``'s blocked matmul.

Sizes above ``MATFUNC_BENCH_MAX_WORK`` (``batch * n^3``, default of :data:`matfunc.bench.MAX_WORK`) are
skipped like the rest of the suite: ``MATFUNC_BENCH_MAX_WORK=1e11 asv run --bench bench_dask`` runs all.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .common import Benchmark, check_size

N_STREAM = 32


def _require_dask():
    if importlib.util.find_spec("dask") is None:
        raise NotImplementedError("dask is not installed")
    import dask.array as da

    return da


def _spd_chunk(block_info=None, *, n, real):
    """SPD matrices ``F F^T / (2n) + I / 10`` of one chunk, seeded by the chunk's position."""
    info = block_info[None]
    (start, stop), _, _ = info["array-location"]
    rng = np.random.default_rng(start)
    f = rng.standard_normal((stop - start, n, 2 * n)).astype(real)
    return f @ np.swapaxes(f, -1, -2) / (2 * n) + np.eye(n, dtype=real) / 10


def lazy_spd_batch(batch: int, n: int, chunk: int, dtype: str = "float64"):
    """A Dask array of ``batch`` SPD ``n x n`` matrices, built chunk by chunk when computed."""
    da = _require_dask()
    chunks = ((chunk,) * (batch // chunk) + ((batch % chunk,) if batch % chunk else ()), (n,), (n,))
    return da.map_blocks(
        _spd_chunk, n=n, real=dtype, dtype=np.dtype(dtype), chunks=chunks, meta=np.empty((0, 0, 0), dtype=dtype)
    )


def streamed_trace_sum(x, method: str = "auto"):
    """``sum_i tr sqrtm(x_i)``: the chunks' results are reduced as they are produced, never gathered."""
    import matfunc

    da = _require_dask()
    y = matfunc.sqrtm(x, method)
    return da.einsum("bii->", y)


class DaskStream(Benchmark):
    """``sqrtm`` of a large batch of 32x32 matrices streamed through Dask's threaded scheduler."""

    params = [[10_000, 100_000], [1_000, 5_000], ["auto", "newton-schulz"]]
    param_names = ["batch", "chunk", "method"]
    timeout = 900

    def setup(self, batch, chunk, method):
        check_size("dask:cpu", N_STREAM, batch)
        _require_dask()
        import matfunc  # noqa: F401  (imported outside the measurement)

        self.x = lazy_spd_batch(batch, N_STREAM, chunk)

    def time_stream(self, batch, chunk, method):
        streamed_trace_sum(self.x, method).compute(scheduler="threads")

    def peakmem_stream(self, batch, chunk, method):
        streamed_trace_sum(self.x, method).compute(scheduler="threads")

    def track_full_array_mib(self, batch, chunk, method):
        return batch * N_STREAM * N_STREAM * 8 / 2**20

    track_full_array_mib.unit = "MiB"

    def track_chunk_mib(self, batch, chunk, method):
        return chunk * N_STREAM * N_STREAM * 8 / 2**20

    track_chunk_mib.unit = "MiB"


class DaskBlocked(Benchmark):
    """One ``n x n`` float64 matrix in 4 x 4 chunks, ``sqrtm`` by blocked Newton–Schulz (15 steps)."""

    params = [[512, 1024, 4096]]
    param_names = ["n"]
    timeout = 1200
    number = 1
    repeat = 1

    def setup(self, n):
        check_size("dask:cpu", n, 1)
        da = _require_dask()
        rng = np.random.default_rng(0)
        f = da.from_array(rng.standard_normal((n, 2 * n)) / np.sqrt(2 * n), chunks=(n // 4, n // 2))
        self.x = (f @ f.T + 0.1 * da.eye(n, chunks=n // 4)).persist()

    def time_blocked_newton_schulz(self, n):
        import matfunc

        matfunc.sqrtm(self.x, "newton-schulz").compute(scheduler="threads")
