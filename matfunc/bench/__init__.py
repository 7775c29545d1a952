"""Side-by-side benchmark report: ``python -m matfunc.bench [--quick | --tiny | --large | --gpu] [--out DIR] ...``.

Runs a grid (backend x n x batch x dtype x method) in one process and measures, for every method,

- the time of the forward, the backward alone (VJP after a forward) and forward + backward: the median of
  repeated runs, every repeat kept (the plots show their range, the tables their spread);
- the roofline of the matrix-product methods: the number of batched matrix products they consist of times
  the time of one batched product measured in the same run (plus the linear solve of Padé), so that
  overhead above the hardware limit is visible;
- the relative error of the value and of the gradient against the exact ones, versus the condition number.

Baselines measured in the same run: the paper's reference (MPA [5/5] + 8-step Lyapunov written from the
paper's equations, :mod:`matfunc._reference`), an eigh-based square root with the exact backward,
``scipy.linalg.sqrtm`` (NumPy), ``jax.scipy.linalg.sqrtm`` (JAX; not differentiable, not batched: vmapped) and
``torch.linalg.matrix_sqrth`` where the installed PyTorch has it.

It prints markdown tables and writes into ``--out``: ``report.md`` (the tables and a header describing the
machine), ``results.json`` (raw numbers) and the plots ``time_vs_n.png``, ``error_vs_cond.png``,
``pareto.png``. Timings call matfunc with ``check=False`` (no eager value checks) so that kernels are
compared; JAX functions are jitted and warmed up, GPU work is synchronised.

The parts, one module each:

- :mod:`~matfunc.bench.methods`: the registry of benchmarked functions (:data:`METHODS`), their callables on a
  backend and their matrix-product counts;
- :mod:`~matfunc.bench.backends`: one :class:`Backend` per framework and device;
- :mod:`~matfunc.bench.cases`: the size sets (quick, full, tiny, large, GPU);
- :mod:`~matfunc.bench.measure`: inputs and clocks;
- :mod:`~matfunc.bench.grid`: the measured grid (:func:`run`) and the machine description;
- :mod:`~matfunc.bench.report`, :mod:`~matfunc.bench.plots`: the markdown report and its figures;
- :mod:`~matfunc.bench.gpu`: the one-shot GPU check (tests, benchmark, one report, in under 8 minutes);
- :mod:`~matfunc.bench.cli`: the command line;
- :mod:`~matfunc.bench.polar`, :mod:`~matfunc.bench.family`: the polar and powm/logm/expm sections;
- :mod:`~matfunc.bench.schedules`: Newton–Schulz step schedules (products and accuracy per condition number) and
  the low-precision products (``matmul_dtype``) of the roots, ``python -m matfunc.bench.schedules``;
- :mod:`~matfunc.bench.distances`: FID at Inception's size against pytorch-fid's formula,
  ``python -m matfunc.bench.distances``;
- :mod:`~matfunc.bench.threads`: CPU thread pathologies before and after, ``python -m matfunc.bench.threads``;
- :mod:`~matfunc.bench.vs_eigh`: the default call (``check=True``) against the plain eigh code users would write,
  interleaved ratios, and second-order memory, ``python -m matfunc.bench.vs_eigh [--memory]``.
"""

from __future__ import annotations

from .backends import Backend, CupyBackend, JaxBackend, NumpyBackend, TorchBackend, default_backends, make_backend
from .cases import CONDS, FULL_BATCH, FULL_N, MAX_WORK, PHASES, QUICK_BATCH, QUICK_N, TIMING_COND
from .cli import main, parse_args
from .grid import Config, accuracy, machine_info, run
from .measure import measure, measure_rounds, rel, spd_batch, sym_cotangent, wait
from .methods import BY_LABEL, EIGH, JAX_SCIPY, METHODS, PAPER, SCIPY, TORCH_SQRTH, Method, functions, matmul_counts
from .plots import PLOTS
from .report import ROOF_COLUMNS, TIME_COLUMNS

_BY_LABEL = BY_LABEL  # the name before the package split

__all__ = [
    "main",
    "run",
    "parse_args",
    "Config",
    "METHODS",
    "PHASES",
    "Method",
    "Backend",
    "NumpyBackend",
    "CupyBackend",
    "TorchBackend",
    "JaxBackend",
    "make_backend",
    "default_backends",
    "functions",
    "matmul_counts",
    "measure",
    "measure_rounds",
    "accuracy",
    "wait",
    "spd_batch",
    "sym_cotangent",
    "rel",
    "machine_info",
    "PLOTS",
    "TIME_COLUMNS",
    "ROOF_COLUMNS",
    "BY_LABEL",
    "PAPER",
    "EIGH",
    "SCIPY",
    "JAX_SCIPY",
    "TORCH_SQRTH",
    "MAX_WORK",
    "CONDS",
    "FULL_N",
    "FULL_BATCH",
    "QUICK_N",
    "QUICK_BATCH",
    "TIMING_COND",
]
