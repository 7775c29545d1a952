"""The case sets: which sizes, dtypes and methods each kind of run measures.

- default (full): batch 1 and 256 of n in 16..1024 (sizes above :data:`MAX_WORK` skipped);
- ``--quick``: batch 256 of n in 16, 32, 64;
- ``--tiny``: many tiny matrices, batch 100000 of n in 2, 4, 8 (per-call overhead dominates);
- ``--large``: one large matrix, n = 2048 and 4096 (``eigh`` dominates; tens of seconds on two CPU cores);
- ``--gpu``: :data:`GPU_SHAPES` in float32 and float64 on every GPU backend found.

The tiny and large sets compare ``sqrtm`` ``auto`` / ``eig`` / ``newton-schulz`` with a plain eigh root.
"""

from __future__ import annotations

from .methods import EIGH, PAPER, TORCH_SQRTH

__all__ = [
    "PHASES",
    "FULL_N",
    "FULL_BATCH",
    "QUICK_N",
    "QUICK_BATCH",
    "TINY_BATCH",
    "TINY_N",
    "LARGE_BATCH",
    "LARGE_N",
    "SIZE_SET_METHODS",
    "GPU_SHAPES",
    "GPU_DTYPES",
    "GPU_METHODS",
    "CONDS",
    "MAX_WORK",
    "TIMING_COND",
]

PHASES = ("fwd", "bwd", "fwd+bwd")
FULL_N = (16, 32, 64, 128, 256, 1024)
FULL_BATCH = (1, 256)
QUICK_N = (16, 32, 64)
QUICK_BATCH = (256,)
TINY_N = (2, 4, 8)
TINY_BATCH = 100_000
LARGE_N = (2048, 4096)
LARGE_BATCH = 1
SIZE_SET_METHODS = ("auto", "eig", "newton-schulz", EIGH)
# (batch, n): batches of small matrices, odd sizes (33, 100) included, and single large ones.
GPU_SHAPES = tuple((256, n) for n in (32, 33, 64, 100, 128, 256)) + ((1, 1024), (1, 4096))
GPU_DTYPES = ("float32", "float64")
GPU_METHODS = ("auto", "newton-schulz", "ns-bf16", "pade", "eig", PAPER, EIGH, TORCH_SQRTH)
CONDS = (1e1, 1e2, 1e4, 1e6)
# batch * n^3 above which a size is skipped (seconds per call); --max-work overrides, --tiny/--large lift it.
MAX_WORK = {"cpu": 256 * 128**3, "gpu": 256 * 512**3}
TIMING_COND = 1e2
