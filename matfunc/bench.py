"""Side-by-side benchmark report: ``python -m matfunc.bench [--quick] [--out DIR] [--backend ...] [--n ...]``.

Runs a grid (backend x n x batch x dtype x method) in one process and measures, for every method,

- the median time of the forward, the backward alone (VJP after a forward) and forward + backward;
- the roofline of the matrix-product methods: the number of batched matrix products they consist of times
  the time of one batched product measured in the same run (plus the linear solve of Padé), so that
  overhead above the hardware limit is visible;
- the relative error of the value and of the gradient against the exact ones, versus the condition number.

Baselines measured in the same run: the paper's reference (MPA [5/5] + 8-step Lyapunov written from the
paper's equations, :mod:`matfunc._reference`), an eigh-based square root with the exact backward,
``scipy.linalg.sqrtm`` (NumPy) and ``jax.scipy.linalg.sqrtm`` (JAX; not differentiable, not batched: vmapped).

It prints markdown tables and writes into ``--out``: ``report.md`` (the tables and a header describing the
machine), ``results.json`` (raw numbers) and the plots ``time_vs_n.png``, ``error_vs_cond.png``,
``pareto.png``. Timings call matfunc with ``check=False`` (no eager value checks) so that kernels are
compared; JAX functions are jitted and warmed up, GPU work is synchronised.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import matfunc

from . import _reference as ref
from .core.lyapunov import sign_matmuls
from .core.newton_schulz import ns_matmuls
from .core.options import resolve
from .core.polynomial import matmul_count
from .core.scaling import SQUARINGS

__all__ = ["main", "run", "METHODS", "PHASES", "make_backend", "functions", "measure", "accuracy", "wait"]

PHASES = ("fwd", "bwd", "fwd+bwd")
FULL_N = (16, 32, 64, 128, 256, 1024)
FULL_BATCH = (1, 256)
QUICK_N = (16, 32, 64)
QUICK_BATCH = (256,)
CONDS = (1e1, 1e2, 1e4, 1e6)
# batch * n^3 above which a size is skipped (seconds per call); --max-work overrides.
MAX_WORK = {"cpu": 256 * 128**3, "gpu": 256 * 512**3}
TIMING_COND = 1e2
PAPER = "paper-ref"
EIGH = "eigh-ref"
SCIPY = "scipy.sqrtm"
JAX_SCIPY = "jax.scipy.sqrtm"


@dataclass(frozen=True)
class Method:
    """A benchmarked function. ``kwargs``: options of ``matfunc.sqrtm``; ``kind``: matfunc or a baseline."""

    label: str
    kind: str  # "matfunc", "paper", "eigh", "scipy", "jax-scipy"
    kwargs: dict = field(default_factory=dict, hash=False)
    note: str = ""
    needs_autodiff: bool = False

    @property
    def baseline(self) -> bool:
        return self.kind != "matfunc"


METHODS = (
    Method("auto", "matfunc", {}, 'method="auto" (defaults)'),
    Method("eig", "matfunc", {"method": "eig"}, "eigh forward, exact backward reusing it"),
    Method("pade", "matfunc", {"method": "pade"}, "MPA [5/5], spectral scale; Lyapunov backward (default steps)"),
    Method("newton-schulz", "matfunc", {"method": "newton-schulz"}, "scaled NS; Lyapunov backward"),
    Method(
        "ns-unrolled",
        "matfunc",
        {"method": "newton-schulz", "backward": "unrolled"},
        "scaled NS; autodiff through the iterations",
        needs_autodiff=True,
    ),
    Method("taylor", "matfunc", {"method": "taylor"}, "MTP degree 10, spectral scale; Lyapunov backward"),
    Method(
        "paper-settings",
        "matfunc",
        {"method": "pade", "degree": 5, "scale": "frobenius", "backward": "lyapunov", "backward_iters": 8},
        "matfunc at the paper's settings: MPA [5/5], Frobenius scale, 8 Lyapunov steps",
    ),
    Method(PAPER, "paper", {}, "the paper's reference: MPA [5/5] + 8-step Lyapunov, written from its equations"),
    Method(EIGH, "eigh", {}, "eigh-based sqrt, exact backward (framework autodiff of eigh; manual on NumPy)"),
    Method(SCIPY, "scipy", {}, "scipy.linalg.sqrtm (NumPy only; no gradient)"),
    Method(JAX_SCIPY, "jax-scipy", {}, "jax.scipy.linalg.sqrtm, vmapped, real part (JAX only; not differentiable)"),
)
_BY_LABEL = {m.label: m for m in METHODS}


# --- backends --------------------------------------------------------------------------------------


class Backend:
    """How to move data, synchronise and differentiate on one framework/device."""

    autodiff = False

    def __init__(self, name: str, device: str) -> None:
        self.name, self.device = name, device
        self.label = f"{name}:{device}"

    @property
    def on_gpu(self) -> bool:
        return self.device != "cpu"

    def to(self, a: np.ndarray) -> Any:
        return a

    def back(self, y: Any) -> np.ndarray:
        return np.asarray(y)

    def sync(self) -> None:
        pass

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def version(self) -> str:
        return np.__version__

    # Each returns a zero-argument callable that does the work once.
    def fwd(self, f: Callable, fvjp: Callable | None, x: Any) -> Callable[[], Any]:
        return lambda: f(x)

    def bwd(self, f: Callable, fvjp: Callable | None, x: Any, g: Any) -> Callable[[], Any]:
        if fvjp is None:
            raise NotImplementedError("no gradient")
        _, vjp = fvjp(x)
        return lambda: vjp(g)

    def fwdbwd(self, f: Callable, fvjp: Callable | None, x: Any, g: Any) -> Callable[[], Any]:
        if fvjp is None:
            raise NotImplementedError("no gradient")
        return lambda: fvjp(x)[1](g)

    def value_and_grad(self, f: Callable, fvjp: Callable | None, x: Any, g: Any) -> tuple[Any, Any]:
        if fvjp is None:
            return f(x), None
        y, vjp = fvjp(x)
        return y, vjp(g)


class NumpyBackend(Backend):
    def __init__(self) -> None:
        super().__init__("numpy", "cpu")


class CupyBackend(Backend):
    def __init__(self) -> None:
        super().__init__("cupy", "cuda")
        import cupy

        if not cupy.cuda.is_available():
            raise RuntimeError("no CUDA device")
        self.cp = cupy

    def to(self, a):
        return self.cp.asarray(a)

    def back(self, y):
        return self.cp.asnumpy(y)

    def sync(self):
        self.cp.cuda.Device().synchronize()

    def version(self):
        return self.cp.__version__


class TorchBackend(Backend):
    autodiff = True

    def __init__(self, device: str = "cpu") -> None:
        super().__init__("torch", device)
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("no CUDA device")
        self.torch = torch

    def to(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def back(self, y):
        return y.detach().cpu().numpy()

    def sync(self):
        if self.on_gpu:
            self.torch.cuda.synchronize()

    def version(self):
        return self.torch.__version__

    def fwd(self, f, fvjp, x):
        def run():
            with self.torch.no_grad():
                return f(x)

        return run

    def bwd(self, f, fvjp, x, g):
        xg = x.detach().clone().requires_grad_(True)
        y = f(xg)
        if not y.requires_grad:
            raise NotImplementedError("no gradient")
        return lambda: self.torch.autograd.grad(y, xg, g, retain_graph=True)[0]

    def fwdbwd(self, f, fvjp, x, g):
        xg = x.detach().clone().requires_grad_(True)
        return lambda: self.torch.autograd.grad(f(xg), xg, g)[0]

    def value_and_grad(self, f, fvjp, x, g):
        xg = x.detach().clone().requires_grad_(True)
        y = f(xg)
        return y, (self.torch.autograd.grad(y, xg, g)[0] if y.requires_grad else None)


class JaxBackend(Backend):
    autodiff = True

    def __init__(self, device: str = "cpu") -> None:
        super().__init__("jax", device)
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 accuracy runs; float32 arrays stay float32
        self.jax = jax
        self.jnp = importlib.import_module("jax.numpy")
        platform_name = "gpu" if device != "cpu" else "cpu"
        self.dev = jax.devices(platform_name)[0]

    def to(self, a):
        return self.jax.device_put(self.jnp.asarray(a), self.dev)

    def back(self, y):
        return np.asarray(y)

    def sync(self):
        pass  # results are blocked on in _measure

    def compile(self, fn):
        return self.jax.jit(fn)

    def version(self):
        return self.jax.__version__

    def _loss(self, f, g):
        return lambda x: self.jnp.sum(f(x) * g)

    def fwd(self, f, fvjp, x):
        jf = self.jax.jit(f)
        return lambda: jf(x)

    def bwd(self, f, fvjp, x, g):
        _, vjp_fn = self.jax.vjp(self.jax.jit(f), x)
        jb = self.jax.jit(lambda v, g: v(g)[0])
        return lambda: jb(vjp_fn, g)

    def fwdbwd(self, f, fvjp, x, g):
        vg = self.jax.jit(self.jax.value_and_grad(self._loss(f, g)))
        return lambda: vg(x)[1]

    def value_and_grad(self, f, fvjp, x, g):
        try:
            y, vjp_fn = self.jax.vjp(f, x)
        except NotImplementedError:  # no differentiation rule (jax.scipy.linalg.sqrtm: schur)
            return f(x), None
        return y, vjp_fn(g)[0]


def make_backend(spec: str) -> Backend:
    """``"numpy"``, ``"torch"``, ``"torch:cuda"``, ``"jax"``, ``"jax:gpu"``, ``"cupy"``."""
    name, _, device = spec.partition(":")
    if name == "numpy":
        return NumpyBackend()
    if name == "torch":
        return TorchBackend(device or "cpu")
    if name == "jax":
        return JaxBackend(device or "cpu")
    if name == "cupy":
        return CupyBackend()
    raise ValueError(f"unknown backend {spec!r}; expected numpy, torch[:cuda], jax[:gpu] or cupy")


def default_backends() -> list[str]:
    """Every installed backend, with its GPU where one is present."""
    out = ["numpy"]
    for spec, probe in (
        ("torch", lambda: importlib.import_module("torch")),
        ("torch:cuda", lambda: importlib.import_module("torch").cuda.is_available() or None),
        ("jax", lambda: importlib.import_module("jax")),
        ("jax:gpu", lambda: any(d.platform == "gpu" for d in importlib.import_module("jax").devices()) or None),
        ("cupy", lambda: importlib.import_module("cupy").cuda.is_available() or None),
    ):
        try:
            if probe() is not None:
                out.append(spec)
        except Exception:  # not installed, or no device
            continue
    return out


# --- functions under test --------------------------------------------------------------------------


def functions(method: Method, be: Backend) -> tuple[Callable, Callable | None]:
    """``(f, fvjp)`` for ``method`` on ``be``: ``f(x) -> y`` (differentiated by the framework's autodiff where
    it has one) and, for backends without autodiff, ``fvjp(x) -> (y, vjp)`` (None: no gradient).
    Raises NotImplementedError where the method does not exist on the backend."""
    if method.needs_autodiff and not be.autodiff:
        raise NotImplementedError("needs automatic differentiation")
    if method.kind == "matfunc":
        kw = dict(method.kwargs, check=False)
        return functools.partial(matfunc.sqrtm, **kw), functools.partial(matfunc.sqrtm_vjp, **kw)
    if method.kind == "paper":
        if be.name == "torch":
            return ref.torch_paper_sqrtm, None
        if be.name == "jax":
            return ref.jax_paper_sqrtm, None
        return (lambda x: ref.paper_sqrtm_vjp(x)[0]), ref.paper_sqrtm_vjp
    if method.kind == "eigh":
        return ref.eigh_sqrtm, (None if be.autodiff else ref.eigh_sqrtm_vjp)
    if method.kind == "scipy":
        if be.name != "numpy":
            raise NotImplementedError("NumPy only")
        import scipy.linalg

        return (lambda x: scipy.linalg.sqrtm(x).real), None
    if method.kind == "jax-scipy":
        if be.name != "jax" or be.on_gpu:
            raise NotImplementedError("JAX on CPU only")
        import jax.scipy.linalg

        return (lambda x: be.jax.vmap(jax.scipy.linalg.sqrtm)(x).real.astype(x.dtype)), None
    raise ValueError(method.kind)


def matmul_counts(method: Method, *, dtype: str, on_cpu: bool, n: int) -> tuple[int, int, int, str] | None:
    """``(forward products, forward solves, backward products, solve kind)`` of a matrix-product method, or
    None for eigendecomposition-based ones."""
    if method.kind == "paper":
        return ref.PAPER_FWD_MATMULS, 1, ref.PAPER_BWD_MATMULS, "lu"
    if method.kind != "matfunc":
        return None
    eps = float(np.finfo(dtype).eps)
    kw = {k: method.kwargs.get(k) for k in ("degree", "num_iters", "backward_iters")}
    opts = resolve(
        method.kwargs.get("method", "auto"),
        inverse=False,
        scale=method.kwargs.get("scale", "spectral"),
        backward=method.kwargs.get("backward", "auto"),
        eps=eps,
        n=n,
        on_cpu=on_cpu,
        **kw,
    )
    if opts.method == "eig":
        return None
    fwd = SQUARINGS if opts.scale == "spectral" else 0
    solves = 0
    if opts.method == "pade":
        fwd += matmul_count(max(opts.degree), 2)
        solves = 1
    elif opts.method == "taylor":
        fwd += matmul_count(opts.degree)
    else:
        fwd += ns_matmuls(opts.num_iters)
    bwd = (sign_matmuls(opts.backward_iters, symmetric=True, scaled=not opts.paper_steps)
           if opts.backward == "lyapunov" else -1)
    return fwd, solves, bwd, "spd"


# --- data and timing -------------------------------------------------------------------------------


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


def measure_rounds(fns: list[Callable[[], Any] | None], sync: Callable[[], None], *, repeat: int,
                   max_time: float) -> list[float | None]:
    """Median seconds of each (already warmed-up) function, timed in interleaved rounds in a shuffled order:
    ``repeat`` rounds, or fewer (but at least 3) once ``max_time`` seconds per function are spent. None
    entries are skipped."""
    live = [i for i, fn in enumerate(fns) if fn is not None]
    times: dict[int, list[float]] = {i: [] for i in live}
    order = np.random.default_rng(0)  # a fresh order each round: what runs just before a function (e.g. a
    start = time.perf_counter()  # LAPACK call whose BLAS threads keep spinning) is not always the same
    for r in range(max(repeat, 1)):
        for i in order.permutation(live):
            t0 = time.perf_counter()
            wait(fns[i]())
            sync()
            times[i].append(time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - start > max_time * max(len(live), 1):
            break
    return [float(np.median(times[i])) if i in times else None for i in range(len(fns))]


def rel(x: np.ndarray, r: np.ndarray) -> float:
    return float(np.linalg.norm(x.astype(np.float64) - r) / np.linalg.norm(r))


# --- the run ---------------------------------------------------------------------------------------


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


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (type(exc).__name__ + (": " + msg if msg else ""))[:90]


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.perf_counter()

    def step(self, what: str) -> None:
        self.done += 1
        el = time.perf_counter() - self.t0
        print(f"[{self.done:>4}/{self.total}] {el:6.1f}s  {what}", file=sys.stderr, flush=True)


def run(cfg: Config) -> dict:
    """Measure the grid; return a JSON-able dict of all results."""
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
    methods = [_BY_LABEL[m] for m in cfg.methods]
    sizes = [
        (be, dt, b, n)
        for be in backends
        for dt in cfg.dtypes
        for b in cfg.batches
        for n in cfg.ns
        if b * n**3 <= (cfg.max_work or MAX_WORK["gpu" if be.on_gpu else "cpu"])
    ]
    total = len(sizes) * (len(methods) * len(PHASES) + 3) + len(backends) * len(methods) * len(cfg.conds)
    prog = Progress(total)
    timings, roofs, errors = [], [], []

    for be, dt, b, n in sizes:
        a64, _, _ = spd_batch(n, b, TIMING_COND)
        x = be.to(a64.astype(dt))
        g = be.to(sym_cotangent(n, b).astype(dt))
        # Roofline primitives: one batched matmul, the SPD solve the core uses, an LU solve.
        prims = _primitives(be, x)
        roof = {"backend": be.label, "dtype": dt, "batch": b, "n": n}
        for key, fn in prims.items():
            try:
                roof[key] = 1e3 * measure(fn, be.sync, repeat=max(cfg.repeat, 30), max_time=cfg.max_time)
            except Exception as exc:
                roof[key] = None
                roof[key + "_error"] = _short(exc)
            prog.step(f"{be.label} {dt} b={b} n={n} {key}: {_fmt(roof[key])} ms")
        roofs.append(roof)
        # Every (method, phase) of this size is built and warmed up first, then timed in rounds, one run of
        # each per round: a burst of machine noise then hits all of them alike, so the ratios stay fair.
        cases = []
        for m in methods:
            counts = matmul_counts(m, dtype=dt, on_cpu=not be.on_gpu, n=n)
            for phase in PHASES:
                row = {"backend": be.label, "dtype": dt, "batch": b, "n": n, "method": m.label, "phase": phase}
                fn = None
                try:
                    f, fvjp = functions(m, be)
                    maker = {"fwd": be.fwd, "bwd": be.bwd, "fwd+bwd": be.fwdbwd}[phase]
                    fn = maker(f, fvjp, x) if phase == "fwd" else maker(f, fvjp, x, g)
                    wait(fn())  # warm-up: jit compilation, caches, thread pools
                    be.sync()
                except NotImplementedError as exc:
                    row["ms"], row["error"], fn = None, f"n/a: {exc}" if str(exc) else "n/a", None
                except Exception as exc:  # a baseline that fails (e.g. torch's batched LU bug): report it
                    row["ms"], row["error"], fn = None, _short(exc), None
                row["bound_ms"] = _bound(counts, phase, roof)
                cases.append((row, fn))
        medians = measure_rounds([fn for _, fn in cases], be.sync, repeat=cfg.repeat, max_time=cfg.max_time)
        for (row, fn), ms in zip(cases, medians, strict=True):
            if fn is not None:
                row["ms"] = 1e3 * ms
            timings.append(row)
            prog.step(f"{be.label} {dt} b={b} n={n} {row['method']} {row['phase']}: {_fmt(row['ms'])} ms "
                      f"{row.get('error', '')}")

    for be in backends:
        for m in methods:
            for cond in cfg.conds:
                row = {"backend": be.label, "dtype": cfg.acc_dtype, "n": cfg.acc_n, "method": m.label, "cond": cond}
                try:
                    row.update(accuracy(m, be, cfg, cond))
                except NotImplementedError:
                    row = None
                except Exception as exc:
                    row.update(value_err=None, grad_err=None, error=_short(exc))
                if row is not None:
                    errors.append(row)
                    msg = f"value {_fmt(row.get('value_err'), 'e')} grad {_fmt(row.get('grad_err'), 'e')}"
                else:
                    msg = "n/a"
                prog.step(f"{be.label} accuracy {m.label} cond {cond:g}: {msg}")

    return {
        "machine": machine_info(backends, cfg),
        "config": {k: v for k, v in vars(cfg).items()},
        "methods": {m.label: m.note for m in methods},
        "timings": timings,
        "roofline": roofs,
        "accuracy": errors,
    }


def _primitives(be: Backend, x: Any) -> dict[str, Callable[[], Any]]:
    from ._compat import array_namespace
    from .core import primitives

    xp = array_namespace(x)
    n = x.shape[-1]
    eye = primitives.eye_like(x, xp=xp)
    spd = x + eye  # well conditioned, SPD
    mm = be.compile(lambda u, v: u @ v)
    spd_solve = be.compile(lambda u, v: primitives.spd_solve(u, v, xp=array_namespace(u)))
    lu = be.compile(lambda u, v: array_namespace(u).linalg.solve(u, v))
    del n
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


def accuracy(m: Method, be: Backend, cfg: Config, cond: float) -> dict:
    a, q, w = spd_batch(cfg.acc_n, cfg.acc_batch, cond, seed=2)
    s = np.sqrt(w)
    root = (q * s) @ q.mT
    g = sym_cotangent(cfg.acc_n, cfg.acc_batch, seed=3)
    grad = q @ (((q.mT @ g) @ q) / (s[:, None] + s[None, :])) @ q.mT
    f, fvjp = functions(m, be)
    y, da = be.value_and_grad(f, fvjp, be.to(a.astype(cfg.acc_dtype)), be.to(g.astype(cfg.acc_dtype)))
    out = {"value_err": rel(be.back(y), root)}
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
    info = {
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


# --- report ----------------------------------------------------------------------------------------


def _fmt(v: float | None, kind: str = "f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if kind == "e" or abs(v) >= 1e4:
        return f"{v:.1e}"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


TIME_COLUMNS = (
    "method",
    "fwd ms",
    "bwd ms",
    "fwd+bwd ms",
    "fwd / bound",
    "bwd / bound",
    "fwd+bwd / paper-ref",
    "fwd / eigh-ref",
    "fwd+bwd / eigh-ref",
)
ROOF_COLUMNS = ("method", "fwd products", "fwd bound ms", "fwd / bound", "bwd products", "bwd bound ms", "bwd / bound")
ACC_COLUMNS_HEAD = ("method",)


def _table(head: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _lookup(results: dict) -> dict:
    return {(t["backend"], t["dtype"], t["batch"], t["n"], t["method"], t["phase"]): t for t in results["timings"]}


def _ms(tab: dict, key: tuple, method: str, phase: str) -> float | None:
    row = tab.get((*key, method, phase))
    return None if row is None else row.get("ms")


def time_tables(results: dict) -> list[tuple[str, str]]:
    """One markdown table of times and ratios per (backend, dtype, batch, n)."""
    tab = _lookup(results)
    keys = list(dict.fromkeys((t["backend"], t["dtype"], t["batch"], t["n"]) for t in results["timings"]))
    methods = list(dict.fromkeys(t["method"] for t in results["timings"]))
    roofs = {(r["backend"], r["dtype"], r["batch"], r["n"]): r for r in results["roofline"]}
    out = []
    for key in keys:
        rows = []
        for m in methods:
            ms = {p: _ms(tab, key, m, p) for p in PHASES}
            if all(v is None for v in ms.values()):
                continue
            bounds = {p: tab[(*key, m, p)].get("bound_ms") for p in PHASES}
            rows.append([
                m,
                *(_fmt(ms[p]) for p in PHASES),
                _fmt(_ratio(ms["fwd"], bounds["fwd"])),
                _fmt(_ratio(ms["bwd"], bounds["bwd"])),
                _fmt(_ratio(ms["fwd+bwd"], _ms(tab, key, PAPER, "fwd+bwd"))),
                _fmt(_ratio(ms["fwd"], _ms(tab, key, EIGH, "fwd"))),
                _fmt(_ratio(ms["fwd+bwd"], _ms(tab, key, EIGH, "fwd+bwd"))),
            ])
        r = roofs.get(key, {})
        title = (f"{key[0]}, {key[1]}, batch {key[2]} of {key[3]}x{key[3]} (ms, median): one batched matmul "
                 f"{_fmt(r.get('matmul_ms'))}, SPD solve {_fmt(r.get('spd_solve_ms'))}, "
                 f"LU solve {_fmt(r.get('lu_solve_ms'))}")
        out.append((title, _table(TIME_COLUMNS, rows)))
    return out


def roofline_tables(results: dict) -> list[tuple[str, str]]:
    """Matrix-product counts and the bound they imply, for the matmul-based methods."""
    tab = _lookup(results)
    out = []
    for r in results["roofline"]:
        key = (r["backend"], r["dtype"], r["batch"], r["n"])
        rows = []
        for label in dict.fromkeys(t["method"] for t in results["timings"]):
            m = _BY_LABEL[label]
            counts = matmul_counts(m, dtype=r["dtype"], on_cpu=not r["backend"].endswith(("cuda", "gpu")), n=r["n"])
            if counts is None or (*key, label, "fwd") not in tab or _ms(tab, key, label, "fwd") is None:
                continue
            fwd_mm, solves, bwd_mm, kind = counts
            fb, bb = tab[(*key, label, "fwd")].get("bound_ms"), tab[(*key, label, "bwd")].get("bound_ms")
            solve = f" + {solves} {'SPD' if kind == 'spd' else 'LU'} solve" if solves else ""
            rows.append([
                label,
                f"{fwd_mm}{solve}",
                _fmt(fb),
                _fmt(_ratio(_ms(tab, key, label, "fwd"), fb)),
                str(bwd_mm) if bwd_mm >= 0 else "autodiff",
                _fmt(bb),
                _fmt(_ratio(_ms(tab, key, label, "bwd"), bb)),
            ])
        if rows:
            title = (f"{key[0]}, {key[1]}, batch {key[2]} of {key[3]}x{key[3]}: one matmul {_fmt(r.get('matmul_ms'))}"
                     f" ms, SPD solve {_fmt(r.get('spd_solve_ms'))} ms, LU solve {_fmt(r.get('lu_solve_ms'))} ms")
            out.append((title, _table(ROOF_COLUMNS, rows)))
    return out


def accuracy_tables(results: dict) -> list[tuple[str, str]]:
    out = []
    for be in dict.fromkeys(a["backend"] for a in results["accuracy"]):
        rows_in = [a for a in results["accuracy"] if a["backend"] == be]
        conds = sorted({a["cond"] for a in rows_in})
        head = ["method", *(f"value {c:.0e}" for c in conds), *(f"grad {c:.0e}" for c in conds)]
        rows = []
        for m in dict.fromkeys(a["method"] for a in rows_in):
            by = {a["cond"]: a for a in rows_in if a["method"] == m}
            rows.append([m, *(_fmt(by.get(c, {}).get("value_err"), "e") for c in conds),
                         *(_fmt(by.get(c, {}).get("grad_err"), "e") for c in conds)])
        a0 = rows_in[0]
        out.append((f"{be}, {a0['dtype']}, n = {a0['n']}: relative error of value and gradient vs condition number",
                    _table(head, rows)))
    return out


def _acc(results: dict, backend: str, method: str, cond: float, what: str) -> float | None:
    for a in results["accuracy"]:
        if a["backend"] == backend and a["method"] == method and a["cond"] == cond:
            return a.get(what)
    return None


def _auto_floor_note(t) -> str:
    """What bounds ``auto`` (an eigh forward) from below: eigh alone, and the fastest matfunc method without it."""
    parts = []
    eigh = _ratio(t(EIGH, "fwd"), t(PAPER, "fwd+bwd"))
    if eigh is not None:
        parts.append(f"an eigh-based forward alone (eigh-ref fwd) takes {_fmt(eigh)} of paper-ref fwd+bwd")
    others = {m.label: _ratio(t(m.label, "fwd+bwd"), t(PAPER, "fwd+bwd")) for m in METHODS
              if m.kind == "matfunc" and m.label not in ("auto", "eig")}
    others = {k: v for k, v in others.items() if v is not None}
    if others:
        best = min(others, key=others.get)
        parts.append(f"fastest method without eigh: {best} {_fmt(others[best])}")
    return "; ".join(parts)


def target_table(results: dict, *, n: int = 64, batch: int = 256, dtype: str = "float32") -> str | None:
    """The issues' targets at (CPU, float32, batch 256, n = 64), where that size was measured."""
    tab = _lookup(results)
    rows = []

    def add(be, what, num, den, limit, note=""):
        r = _ratio(num, den)
        ok = "–" if r is None else ("yes" if (r <= limit if limit > 0 else r >= -limit) else "no")
        lim = f"<= {limit:g}" if limit > 0 else f">= {-limit:g}"
        rows.append([be, what, _fmt(r), lim, ok, note])

    for be in dict.fromkeys(t["backend"] for t in results["timings"]):
        key = (be, dtype, batch, n)
        if (*key, "pade", "fwd") not in tab:
            continue
        t = functools.partial(_ms, tab, key)
        bound = lambda m, p, key=key: tab.get((*key, m, p), {}).get("bound_ms")  # noqa: E731
        add(be, 'issue 8: method="pade" fwd / (matmul + SPD-solve bound)', t("pade", "fwd"), bound("pade", "fwd"), 1.3)
        add(be, "issue 8: Lyapunov bwd (pade) / matmul bound", t("pade", "bwd"), bound("pade", "bwd"), 1.3)
        add(be, "issue 4: Lyapunov bwd at paper settings / paper-ref bwd", t("paper-settings", "bwd"),
            t(PAPER, "bwd"), 0.7)
        add(be, "issue 4: auto fwd+bwd / paper-ref fwd+bwd", t("auto", "fwd+bwd"), t(PAPER, "fwd+bwd"), 0.5,
            _auto_floor_note(t))
        for what in ("value_err", "grad_err"):
            add(be, f"issue 4: paper-ref / auto {what.split('_')[0]} error at cond 1e2 (accuracy run)",
                _acc(results, be, PAPER, 1e2, what), _acc(results, be, "auto", 1e2, what), -1000)
        if be.startswith("torch"):
            add(be, "issue 5: paper-settings fwd+bwd / paper-ref fwd+bwd", t("paper-settings", "fwd+bwd"),
                t(PAPER, "fwd+bwd"), 0.8)
            add(be, "issue 5: auto fwd+bwd / paper-ref fwd+bwd", t("auto", "fwd+bwd"), t(PAPER, "fwd+bwd"), 0.5)
            add(be, "issue 5: pade fwd / eigh-ref fwd", t("pade", "fwd"), t(EIGH, "fwd"), 1.0)
        if be.startswith("jax"):
            add(be, "issue 6: auto value_and_grad / jax.scipy.sqrtm forward only", t("auto", "fwd+bwd"),
                t(JAX_SCIPY, "fwd"), 0.5, "jax.scipy.linalg.sqrtm has no gradient (schur): its forward alone")
            add(be, "issue 6: auto value_and_grad / eigh-ref value_and_grad", t("auto", "fwd+bwd"),
                t(EIGH, "fwd+bwd"), 1.0)
    if not rows:
        return None
    return _table(("backend", "target", "ratio", "target ratio", "met", "note"), rows)


def claim_table(results: dict, *, n: int = 64, batch: int = 256, dtype: str = "float32") -> str | None:
    """The paper's claim on our terms: MPA fwd + Lyapunov bwd vs NS fwd + unrolled NS bwd vs eigh."""
    tab = _lookup(results)
    rows = []
    for be in dict.fromkeys(t["backend"] for t in results["timings"]):
        key = (be, dtype, batch, n)
        cand = {
            "MPA fwd (paper-ref)": (PAPER, "fwd"),
            "MPA fwd (pade)": ("pade", "fwd"),
            "NS fwd (newton-schulz)": ("newton-schulz", "fwd"),
            "eigh fwd (eigh-ref)": (EIGH, "fwd"),
            "Lyapunov bwd (paper-ref)": (PAPER, "bwd"),
            "Lyapunov bwd (pade)": ("pade", "bwd"),
            "unrolled NS bwd (ns-unrolled)": ("ns-unrolled", "bwd"),
            "eigh bwd (eigh-ref)": (EIGH, "bwd"),
        }
        vals = {k: _ms(tab, key, *v) for k, v in cand.items()}
        if all(v is None for v in vals.values()):
            continue
        fwd = {k: v for k, v in vals.items() if "fwd" in k and v is not None}
        bwd = {k: v for k, v in vals.items() if "bwd" in k and v is not None}
        win = lambda d: min(d, key=d.get) if d else "–"  # noqa: E731
        rows.append([be, *(_fmt(v) for v in vals.values()), win(fwd), win(bwd)])
        head = ("backend", *cand, "fastest fwd", "fastest bwd")
    if not rows:
        return None
    return _table(head, rows)


PLOTS = ("time_vs_n.png", "error_vs_cond.png", "pareto.png")


def _legend(target: Any, axes: list[Any]) -> None:
    """One legend, right of ``target``, with every label drawn on any of ``axes``."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    target.legend(list(handles.values()), list(handles), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plots(results: dict, out: str) -> list[str]:
    """Write the PNGs; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timings = results["timings"]
    methods = list(dict.fromkeys(t["method"] for t in timings)) or [m.label for m in METHODS]
    colors = {m: plt.cm.tab20(i % 20) for i, m in enumerate(_BY_LABEL)}
    style = lambda m: "--" if _BY_LABEL[m].baseline else "-"  # noqa: E731
    written = []

    backends = list(dict.fromkeys(t["backend"] for t in timings))
    dtype = timings[0]["dtype"] if timings else "float32"
    batch = max((t["batch"] for t in timings), default=1)
    fig, axes = plt.subplots(max(len(backends), 1), 3, figsize=(15, 3.6 * max(len(backends), 1)), squeeze=False)
    for i, be in enumerate(backends):
        for j, phase in enumerate(PHASES):
            ax = axes[i][j]
            for m in methods:
                pts = sorted((t["n"], t["ms"]) for t in timings if t["backend"] == be and t["method"] == m
                             and t["phase"] == phase and t["dtype"] == dtype and t["batch"] == batch and t["ms"])
                if pts:
                    ax.plot(*zip(*pts, strict=False), style(m), marker="o", ms=3, color=colors[m], label=m)
            pts = sorted((r["n"], r["matmul_ms"]) for r in results["roofline"] if r["backend"] == be
                         and r["dtype"] == dtype and r["batch"] == batch and r.get("matmul_ms"))
            if pts:
                ax.plot(*zip(*pts, strict=False), ":", color="k", label="one matmul")
            ax.set(xscale="log", yscale="log", xlabel="n", ylabel="ms", title=f"{be} {phase} ({dtype}, batch {batch})")
            ns_be = sorted({t["n"] for t in timings if t["backend"] == be})
            ax.set_xticks(ns_be, [str(v) for v in ns_be])
            ax.minorticks_off()
            ax.grid(True, which="major", alpha=0.3)
    if backends:
        _legend(axes[0][-1], [ax for row in axes for ax in row])
    fig.tight_layout()
    fig.savefig(os.path.join(out, PLOTS[0]), dpi=110)
    plt.close(fig)
    written.append(PLOTS[0])

    acc = results["accuracy"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    acc_be = "torch:cpu" if any(a["backend"] == "torch:cpu" for a in acc) else (acc[0]["backend"] if acc else None)
    extra = {a["method"]: a["backend"] for a in acc if a["method"] in (SCIPY, JAX_SCIPY)}
    for ax, what in zip(axes, ("value_err", "grad_err"), strict=False):
        for m in dict.fromkeys(a["method"] for a in acc):
            be = extra.get(m, acc_be)
            pts = sorted((a["cond"], a[what]) for a in acc if a["backend"] == be and a["method"] == m and a.get(what))
            if pts:
                ax.plot(*zip(*pts, strict=False), style(m), marker="o", ms=3, color=colors[m], label=m)
        ax.set(xscale="log", yscale="log", xlabel="condition number", ylabel="relative error",
               title=f"{'value' if what == 'value_err' else 'gradient'} ({acc_be}, {acc[0]['dtype'] if acc else ''})")
        ax.grid(True, which="both", alpha=0.3)
    _legend(axes[1], list(axes))
    fig.tight_layout()
    fig.savefig(os.path.join(out, PLOTS[1]), dpi=110)
    plt.close(fig)
    written.append(PLOTS[1])

    fig, ax = plt.subplots(figsize=(8, 5))
    ns = sorted({t["n"] for t in timings})
    n_p = min(ns, key=lambda v: abs(v - 64)) if ns else 64
    markers = dict(zip(backends, "osD^v<>", strict=False))
    for be in backends:
        for m in methods:
            tt = [t for t in timings if t["backend"] == be and t["method"] == m and t["n"] == n_p
                  and t["batch"] == batch and t["dtype"] == dtype]
            ms = next((t["ms"] for t in tt if t["phase"] == "fwd+bwd"), None)
            phase = "fwd+bwd"
            if ms is None:
                ms, phase = next((t["ms"] for t in tt if t["phase"] == "fwd"), None), "fwd"
            err = _acc(results, be, m, 1e2, "grad_err" if phase == "fwd+bwd" else "value_err")
            if ms and err:
                ax.scatter(ms, err, color=colors[m], marker=markers.get(be, "o"),
                           label=f"{m} [{be}]" + (" (fwd only)" if phase == "fwd" else ""))
    ax.set(xscale="log", yscale="log", xlabel=f"fwd+bwd time, ms ({dtype}, batch {batch}, n = {n_p})",
           ylabel="gradient error at cond 1e2 (value error if no gradient)", title="error vs time (lower left wins)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(os.path.join(out, PLOTS[2]), dpi=110)
    plt.close(fig)
    written.append(PLOTS[2])
    return written


def gap_lines(results: dict) -> list[str]:
    """Why cells are empty: failures (e.g. a baseline that raises) and methods without a phase."""
    seen: dict[tuple[str, str, str], list[str]] = {}
    tab = _lookup(results)
    for t in results["timings"]:
        fwd = tab.get((t["backend"], t["dtype"], t["batch"], t["n"], t["method"], "fwd"), {})
        if t.get("error") and not (t["error"].startswith("n/a") and fwd.get("ms") is None):  # skip absent methods
            key = (t["method"], t["phase"], t["error"])
            seen.setdefault(key, []).append(f"{t['backend']} n={t['n']} b={t['batch']} {t['dtype']}")
    out = []
    for (method, phase, err), where in seen.items():
        kind = "not applicable" if err.startswith("n/a") else "FAILED"
        places = ", ".join(dict.fromkeys(w.split(" ")[0] for w in where))
        out.append(f"- `{method}` {phase}: {kind} ({err}) on {places} ({len(where)} sizes)")
    return out


def report(results: dict, pngs: list[str]) -> str:
    """The markdown report (machine header, tables, plots referenced by relative path)."""
    mi = results["machine"]
    lines = ["# matfunc benchmark report", ""]
    lines += [f"- {k}: {v}" for k, v in mi.items()]
    lines += [
        "- timings: median of repeated runs after warm-up, all methods of one size timed in interleaved rounds (one "
        "run of each per round, in a shuffled order, so machine noise hits them alike); JAX jitted; matfunc called "
        "with `check=False`; "
        "`bwd` = the backward alone after a forward; `bound` = matrix products x one batched matmul (+ the "
        "linear solve: `SPD` is the core's `spd_solve` primitive, Cholesky where the backend registers it) measured in "
        "the same run",
        "- `paper-ref` = the paper's reference (MPA [5/5] + 8-step Lyapunov, Frobenius scaling, written from "
        "its equations: `matfunc/_reference.py`); `eigh-ref` = eigh-based sqrt with the exact backward",
        "",
        "## Methods",
        "",
    ]
    lines += [f"- `{m}`: {note}" for m, note in results["methods"].items()]
    tt = target_table(results)
    if tt:
        lines += ["", "## Targets (CPU, float32, batch 256, n = 64; ratios from this run)", "", tt]
    ct = claim_table(results)
    if ct:
        lines += ["", "## The paper's claim on our terms (float32, batch 256, n = 64, ms)", "", ct]
    for section, tables in (("Times", time_tables(results)), ("Roofline", roofline_tables(results)),
                            ("Accuracy", accuracy_tables(results))):
        lines += ["", f"## {section}", ""]
        for title, table in tables:
            lines += [f"### {title}", "", table, ""]
    gaps = gap_lines(results)
    if gaps:
        lines += ["## Not measured", "", *gaps, ""]
    lines += ["## Plots", ""]
    lines += [f"![{p[:-4]}]({p})" for p in pngs]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> Config:
    p = argparse.ArgumentParser(prog="python -m matfunc.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"n in {QUICK_N}, batch {QUICK_BATCH}, float32, few repeats")
    p.add_argument("--out", default="bench-out", help="directory for report.md, results.json and the PNGs")
    p.add_argument("--backend", nargs="+", default=None, help="numpy torch torch:cuda jax jax:gpu cupy (default: all)")
    p.add_argument("--n", nargs="+", type=int, default=None)
    p.add_argument("--batch", nargs="+", type=int, default=None)
    p.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "float64"])
    p.add_argument("--method", nargs="+", default=[m.label for m in METHODS], choices=[m.label for m in METHODS])
    p.add_argument("--repeat", type=int, default=None, help="timed runs per measurement (median)")
    p.add_argument("--max-time", type=float, default=None, help="seconds per measurement (at least 3 runs)")
    p.add_argument("--cond", nargs="+", type=float, default=list(CONDS), help="condition numbers of the accuracy run")
    p.add_argument("--acc-n", type=int, default=None, help="matrix size of the accuracy run (default 64)")
    p.add_argument("--acc-batch", type=int, default=4)
    p.add_argument("--acc-dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--max-work", type=float, default=None, help="skip sizes with batch * n^3 above this")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--replot", metavar="RESULTS_JSON", default=None,
                   help="measure nothing: redraw the plots and report.md into --out from a saved results.json")
    p.add_argument("--polar", action="store_true",
                   help="append matfunc.bench_polar's tables (products, low precision, timing of (batch, 4n, n) for "
                        "the --n/--batch grid) at 4*acc-n x acc-n")
    p.add_argument("--family", action="store_true",
                   help="append matfunc.bench_family's tables (powm/logm/expm accuracy at acc-n x acc-n; A^(-1/4) "
                        "fwd+bwd time at batch 256 of 64x64 and 16 of 512x512, or the --n/--batch grid if given)")
    a = p.parse_args(argv)
    ns = a.n or list(QUICK_N if a.quick else FULL_N)
    batches = a.batch or list(QUICK_BATCH if a.quick else FULL_BATCH)
    return Config(
        backends=a.backend or default_backends(),
        ns=ns,
        batches=batches,
        dtypes=a.dtype,
        methods=a.method,
        repeat=a.repeat or (5 if a.quick else 15),
        max_time=a.max_time or (0.25 if a.quick else 1.0),
        conds=a.cond,
        acc_n=a.acc_n or min(64, max(ns)),
        acc_batch=a.acc_batch,
        acc_dtype=a.acc_dtype,
        max_work=a.max_work,
        out=a.out,
        threads=a.threads,
        replot=a.replot,
        polar=a.polar,
        family=a.family,
        family_shapes=[(b, n) for n in ns for b in batches] if (a.n or a.batch) else None,
    )


def main(argv: list[str] | None = None) -> dict:
    """Entry point of ``python -m matfunc.bench``; returns the results dict."""
    cfg = parse_args(argv)
    os.makedirs(cfg.out, exist_ok=True)
    if cfg.replot:
        with open(cfg.replot) as fh:
            results = json.load(fh)
    else:
        t0 = time.perf_counter()
        results = run(cfg)
        if cfg.polar:  # the polar tables, kept in results.json so that --replot reproduces them
            from . import bench_polar

            device = "cuda" if "torch:cuda" in cfg.backends else "cpu"
            sizes = [(b, 4 * n, n) for n in cfg.ns for b in cfg.batches]
            results["polar"] = bench_polar.report_section(4 * cfg.acc_n, cfg.acc_n, cfg.acc_batch,
                                                          timing_sizes=sizes, device=device, repeat=cfg.repeat)
        if cfg.family:  # likewise the powm/logm/expm tables
            from . import bench_family

            device = "cuda" if "torch:cuda" in cfg.backends else "cpu"
            shapes = tuple(cfg.family_shapes) if cfg.family_shapes else bench_family.SPEED_SHAPES
            results["family"] = bench_family.report_section(cfg.acc_n, shapes=shapes, device=device,
                                                            repeat=cfg.repeat)
        results["machine"]["wall time"] = f"{time.perf_counter() - t0:.0f} s"
    with open(os.path.join(cfg.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    pngs = plots(results, cfg.out)
    text = report(results, pngs)
    if results.get("polar"):
        text += "\n" + results["polar"] + "\n"
    if results.get("family"):
        text += "\n" + results["family"] + "\n"
    with open(os.path.join(cfg.out, "report.md"), "w") as fh:
        fh.write(text)
    print(text)
    print(f"wrote {os.path.join(cfg.out, 'report.md')}, results.json and {', '.join(pngs)}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
