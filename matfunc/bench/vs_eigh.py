"""The default call against the plain eigh code a user would write: ``python -m matfunc.bench.vs_eigh``.

For ``sqrtm``, ``inv_sqrtm``, ``powm(a, -1/4)``, ``logm`` and ``expm``, three variants are timed side by side in one
process, in interleaved rounds (a fresh shuffled order each round), on ``Q diag(w) Q^T`` test matrices with ``w``
log-spaced from 1 to ``1/cond`` (cond 1e2):

- ``default``: the public call as a user writes it, ``method="auto"``, ``check=True``;
- ``check=False``: the same call without the value checks;
- ``eigh``: the plain code, ``w, v = eigh(a); (v * f(w)[..., None, :]) @ v^T``.

Phases: ``fwd`` (forward only) and ``fwd+bwd``. PyTorch: forward + backward by autograd, one
``torch.autograd.grad`` with a symmetric cotangent (the eigh code differentiates through ``torch.linalg.eigh``).
NumPy has no autograd: ``fwd+bwd`` is matfunc's ``*_vjp`` (forward, then the returned VJP) against a hand-written
Daleckii–Krein backward after the same ``eigh`` (``V [f^[1](w_i, w_j) (V^T G V)_ij] V^T``, divided differences
written plainly).

The table gives the medians (ms) of the three variants, the ratios ``default / eigh`` and
``check=True / check=False`` (the median over rounds of the ratio within a round: variants timed next to each other
share the machine's load), the spread of each (interquartile range over the median, in percent) and a
``disturbed`` flag when a spread exceeds :data:`DISTURBED` (another job took the CPU during the run: rerun it).

``--memory``: the peak memory of a Hessian-vector product of ``sum(f(A) * G)`` (second order) as a multiple of
the gradient's (first order), ``method="eig"``, for sqrtm, powm, logm and expm, each case in a fresh
subprocess. PyTorch CPU: the peak resident set size above the one before the computation (the kernel's peak
counter is reset first, ``/proc/self/clear_refs``; elsewhere ``ru_maxrss`` above the current size), also for the
plain eigh code with autograd; JAX: the compiled program's ``memory_analysis()`` (temporaries + outputs).

Examples::

    python -m matfunc.bench.vs_eigh --quick
    python -m matfunc.bench.vs_eigh --backend torch:float32 --functions sqrtm,inv_sqrtm --sizes 32x128,1x1024
    python -m matfunc.bench.vs_eigh --memory
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from .measure import measure_rounds, spd_batch, sym_cotangent

__all__ = [
    "FUNCTIONS",
    "SIZES",
    "NUMPY_SIZES",
    "QUICK_SIZES",
    "BACKENDS",
    "VARIANTS",
    "PHASES",
    "DISTURBED",
    "Function",
    "variants",
    "run",
    "table",
    "summary",
    "summaries",
    "torch_work",
    "memory_case",
    "memory",
    "memory_table",
    "main",
]

#: batch x n of the comparison (issue 26); NumPy adds 4000 x 32x32.
SIZES: tuple[tuple[int, int], ...] = ((1024, 32), (256, 64), (32, 128), (4, 256), (1, 1024))
NUMPY_SIZES: tuple[tuple[int, int], ...] = ((4000, 32), *SIZES)
QUICK_SIZES: tuple[tuple[int, int], ...] = ((256, 32), (4, 128), (1, 256))
#: framework:dtype measured by default.
BACKENDS: tuple[str, ...] = ("torch:float32", "numpy:float64", "numpy:float32")
VARIANTS: tuple[str, ...] = ("default", "check=False", "eigh")
PHASES: tuple[str, ...] = ("fwd", "fwd+bwd")
COND = 1e2
#: relative interquartile range of a measurement above which the row is flagged as disturbed
DISTURBED = 0.2
#: batch x n of the second-order memory cases (n^3 tensors per matrix: keep them moderate)
MEMORY_SIZES: tuple[tuple[int, int], ...] = ((16, 64), (1, 128))
MEMORY_FUNCTIONS: tuple[str, ...] = ("sqrtm", "powm", "logm", "expm")


@dataclass(frozen=True)
class Function:
    """One compared function: its matfunc call, its VJP function, and the scalar ``f``/``f'`` of the plain code."""

    name: str
    label: str
    p: float | None  # powm's exponent (None for the others)

    def call(self, a: Any, **kw: Any) -> Any:
        import matfunc

        if self.name == "powm":
            return matfunc.powm(a, cast(float, self.p), **kw)
        return getattr(matfunc, self.name)(a, **kw)

    def vjp(self, a: Any, **kw: Any) -> tuple[Any, Any]:
        import matfunc

        if self.name == "powm":
            return matfunc.powm_vjp(a, cast(float, self.p), **kw)
        return getattr(matfunc, self.name + "_vjp")(a, **kw)

    def f_torch(self, w: Any) -> Any:
        """What a user writes for ``f`` of the eigenvalues (torch)."""
        if self.name == "sqrtm":
            return w.clamp_min(0).sqrt()
        if self.name == "inv_sqrtm":
            return w.rsqrt()
        if self.name == "powm":
            return w.pow(self.p)
        return w.log() if self.name == "logm" else w.exp()

    def f_numpy(self, w: np.ndarray) -> np.ndarray:
        if self.name == "sqrtm":
            return np.sqrt(np.maximum(w, 0))
        if self.name == "inv_sqrtm":
            return 1 / np.sqrt(w)
        if self.name == "powm":
            return w**self.p
        return np.log(w) if self.name == "logm" else np.exp(w)

    def fprime_numpy(self, w: np.ndarray) -> np.ndarray:
        if self.name == "sqrtm":
            return 0.5 / np.sqrt(w)
        if self.name == "inv_sqrtm":
            return -0.5 / (w * np.sqrt(w))
        if self.name == "powm":
            p = cast(float, self.p)
            return p * w ** (p - 1)
        return 1 / w if self.name == "logm" else np.exp(w)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("sqrtm", "sqrtm(A)", None),
        Function("inv_sqrtm", "inv_sqrtm(A)", None),
        Function("powm", "powm(A, -1/4)", -0.25),
        Function("logm", "logm(A)", None),
        Function("expm", "expm(A)", None),
    )
}


# --- the variants ------------------------------------------------------------------------------------------


def _torch_variants(fn: Function, a: Any, g: Any) -> dict[tuple[str, str], Callable[[], Any]]:
    import torch

    def plain(x: Any) -> Any:
        w, v = torch.linalg.eigh(x)
        return (v * fn.f_torch(w)[..., None, :]) @ v.mT

    calls: dict[str, Callable[[Any], Any]] = {
        "default": fn.call,
        "check=False": lambda x: fn.call(x, check=False),
        "eigh": plain,
    }
    leaf = a.detach().clone().requires_grad_(True)  # one leaf for all: autograd.grad accumulates nothing
    out: dict[tuple[str, str], Callable[[], Any]] = {}
    for name, f in calls.items():
        out[(name, "fwd")] = lambda f=f: f(a)  # type: ignore[misc]
        out[(name, "fwd+bwd")] = lambda f=f: torch.autograd.grad(f(leaf), leaf, g)[0]  # type: ignore[misc]
    return out


def _numpy_variants(fn: Function, a: np.ndarray, g: np.ndarray) -> dict[tuple[str, str], Callable[[], Any]]:
    def plain(x: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(x)
        return (v * fn.f_numpy(w)[..., None, :]) @ np.swapaxes(v, -1, -2)

    def plain_vjp(x: np.ndarray, gg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, v = np.linalg.eigh(x)
        vt = np.swapaxes(v, -1, -2)
        fw = fn.f_numpy(w)
        y = (v * fw[..., None, :]) @ vt
        dw = w[..., :, None] - w[..., None, :]
        tie = dw == 0
        k = np.where(
            tie, fn.fprime_numpy(w)[..., :, None], (fw[..., :, None] - fw[..., None, :]) / np.where(tie, 1, dw)
        )
        return y, v @ (((vt @ gg) @ v) * k) @ vt

    def vjp(**kw: Any) -> Callable[[], Any]:
        def run() -> Any:
            y, back = fn.vjp(a, **kw)
            return y, back(g)

        return run

    return {
        ("default", "fwd"): lambda: fn.call(a),
        ("check=False", "fwd"): lambda: fn.call(a, check=False),
        ("eigh", "fwd"): lambda: plain(a),
        ("default", "fwd+bwd"): vjp(),
        ("check=False", "fwd+bwd"): vjp(check=False),
        ("eigh", "fwd+bwd"): lambda: plain_vjp(a, g),
    }


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, tuple):
        x = x[-1]
    return np.asarray(x.detach() if hasattr(x, "detach") else x, dtype=np.float64)


def variants(backend: str, fn: Function, batch: int, n: int) -> dict[tuple[str, str], Callable[[], Any]]:
    """The timed callables ``{(variant, phase): fn}`` of one function and size on ``backend`` (``torch:float32``,
    ``numpy:float64``, ...): inputs built here (``expm`` of the same matrices)."""
    framework, _, dtype = backend.partition(":")
    a, _, _ = spd_batch(n, batch, COND)
    g = sym_cotangent(n, batch)
    a, g = a.astype(dtype or "float64"), g.astype(dtype or "float64")
    if framework == "torch":
        import torch

        return _torch_variants(fn, torch.from_numpy(a), torch.from_numpy(g))
    if framework == "numpy":
        return _numpy_variants(fn, a, g)
    raise ValueError(f"vs_eigh: backend must be torch:<dtype> or numpy:<dtype>, got {backend!r}")


# --- measuring ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads and the BLAS threads (threadpoolctl) set to ``threads`` for the run."""
    if not threads:
        yield
        return
    saved = None
    if "torch" in sys.modules:
        import torch

        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        limits: Any = contextlib.nullcontext()
    else:
        limits = threadpool_limits(threads, user_api="blas")
    try:
        with limits:
            yield
    finally:
        if saved is not None:
            sys.modules["torch"].set_num_threads(saved)


def _rel_iqr(x: list[float]) -> float:
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else math.inf


def _stats(times: dict[str, list[float]]) -> dict[str, Any]:
    """Medians (ms), paired ratios (median of the per-round ratios) and spreads of one (function, size, phase)."""
    ms = {k: float(np.median(t)) * 1e3 for k, t in times.items()}
    out: dict[str, Any] = {"ms": ms, "spread": {k: _rel_iqr(t) for k, t in times.items()}}
    for key, (num, den) in {"default/eigh": ("default", "eigh"), "check/nocheck": ("default", "check=False")}.items():
        r = [x / y for x, y in zip(times[num], times[den], strict=True) if y > 0]
        out[key] = float(np.median(r)) if r else math.nan
        out["spread"][key] = _rel_iqr(r) if r else math.inf
        out[key + " min"] = min(times[num]) / min(times[den]) if min(times[den]) > 0 else math.nan
    out["disturbed"] = any(s > DISTURBED for s in out["spread"].values())
    out["rounds"] = len(next(iter(times.values())))
    return out


def run(
    *,
    backends: tuple[str, ...] = BACKENDS,
    functions: tuple[str, ...] = tuple(FUNCTIONS),
    sizes: tuple[tuple[int, int], ...] | None = None,
    rounds: int = 7,
    max_time: float = 3.0,
    threads: int | None = 2,
    phases: tuple[str, ...] = PHASES,
    retry: int = 2,
    progress: Callable[[str], None] | None = None,
    settle: float = 0.0,
    cpu_time: bool = False,
    number: int = 1,
) -> list[dict[str, Any]]:
    """One row per (backend, function, size, phase): the stats of :func:`_stats` and the relative difference of
    the default call's result (NumPy ``fwd+bwd``: its VJP) from the plain code's. ``sizes`` None: :data:`SIZES`
    (NumPy: :data:`NUMPY_SIZES`). Each (backend, function, size) is one set of interleaved rounds over its
    variants and phases: ``rounds`` rounds, or fewer (at least 3) past ``max_time`` seconds per callable; a set
    with a disturbed row is measured again, up to ``retry`` more times, and the attempt with the smallest spread
    is kept (``attempts`` in the row). ``settle``: seconds of idle CPU before each timed call
    (:func:`.measure.measure_rounds`). ``cpu_time``: time by the process's CPU time instead of the wall clock
    (with ``threads=1``: the work of each variant, robust to other load on a shared host). ``number``: calls per
    timed run after an untimed one, the steady state of a loop (:func:`.measure.measure_rounds`)."""
    rows: list[dict[str, Any]] = []
    for backend in backends:
        framework = backend.partition(":")[0]
        if framework == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                continue
        with _threads(threads):
            for batch, n in sizes or (NUMPY_SIZES if framework == "numpy" else SIZES):
                for name in functions:
                    fn = FUNCTIONS[name]
                    calls = {k: c for k, c in variants(backend, fn, batch, n).items() if k[1] in phases}
                    keys = list(calls)
                    outs = {k: calls[k]() for k in keys}  # warm-up (and the results, compared below)
                    best: list[dict[str, Any]] | None = None
                    attempts = 0
                    while attempts <= max(retry, 0):
                        attempts += 1
                        times = measure_rounds(
                            [calls[k] for k in keys],
                            lambda: None,
                            repeat=rounds,
                            max_time=max_time,
                            settle=settle,
                            clock=time.process_time if cpu_time else time.perf_counter,
                            number=number,
                        )
                        stats = [
                            _stats({v: cast("list[float]", times[keys.index((v, ph))]) for v in VARIANTS})
                            for ph in phases
                        ]
                        worst = max(max(st["spread"].values()) for st in stats)
                        if best is None or worst < max(max(st["spread"].values()) for st in best):
                            best = stats
                        if not any(st["disturbed"] for st in best):
                            break
                    for phase, st in zip(phases, best or [], strict=True):
                        ref = _to_numpy(outs[("eigh", phase)])
                        got = _to_numpy(outs[("default", phase)])
                        row = {
                            "backend": backend,
                            "function": name,
                            "label": fn.label,
                            "batch": batch,
                            "n": n,
                            "phase": phase,
                            "rel_diff": float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-300)),
                            "attempts": attempts,
                            **st,
                        }
                        rows.append(row)
                        if progress:
                            progress(_line(row))
    return rows


# --- the table ---------------------------------------------------------------------------------------------

HEAD = (
    "| backend | function | batch x n | phase | default ms | check=False ms | eigh ms | default / eigh | "
    "check=True / check=False | note |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _ratio(r: dict[str, Any], key: str) -> str:
    return f"{r[key]:.2f} ({100 * r['spread'][key]:.0f}%) min {r[key + ' min']:.2f}"


def _line(r: dict[str, Any]) -> str:
    ms = r["ms"]
    cells = [f"{ms[v]:.3g} ({100 * r['spread'][v]:.0f}%)" for v in VARIANTS]
    note = "disturbed" if r["disturbed"] else ""
    if r.get("attempts", 1) > 1:
        note = f"{note} ({r['attempts']} attempts)".strip()
    return (
        f"| {r['backend']} | {r['label']} | {r['batch']}x{r['n']} | {r['phase']} | "
        + " | ".join(cells)
        + f" | {_ratio(r, 'default/eigh')} | {_ratio(r, 'check/nocheck')} | {note} |"
    )


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of :func:`run`'s rows."""
    return "\n".join([HEAD, *(_line(r) for r in rows)])


def summary(rows: list[dict[str, Any]], backend: str, phase: str) -> str:
    """One backend and phase as a function x size grid: ``default / eigh (check=True / check=False)``, ``*`` on
    disturbed rows; empty when there are no such rows."""
    mine = [r for r in rows if r["backend"] == backend and r["phase"] == phase]
    if not mine:
        return ""
    sizes = list(dict.fromkeys((r["batch"], r["n"]) for r in mine))
    head = "| function | " + " | ".join(f"{b}x{n}" for b, n in sizes) + " |\n|---|" + "---|" * len(sizes)
    lines = [head]
    for name in dict.fromkeys(r["function"] for r in mine):
        cells = []
        for b, n in sizes:
            r = next((r for r in mine if r["function"] == name and (r["batch"], r["n"]) == (b, n)), None)
            cells.append(
                "-"
                if r is None
                else f"{r['default/eigh']:.2f} ({r['check/nocheck']:.2f}){'*' if r['disturbed'] else ''}"
            )
        lines.append(f"| {FUNCTIONS[name].label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summaries(rows: list[dict[str, Any]]) -> str:
    """:func:`summary` of every backend and phase in ``rows``, each under a heading line."""
    out = []
    for backend in dict.fromkeys(r["backend"] for r in rows):
        for phase in PHASES:
            text = summary(rows, backend, phase)
            if text:
                out.append(f"{backend}, {phase}: default / eigh (check=True / check=False), * disturbed\n\n{text}")
    return "\n\n".join(out)


def machine(threads: int | None) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    versions = [f"numpy {np.__version__}"]
    if "torch" in sys.modules:
        versions.append(f"torch {sys.modules['torch'].__version__}")
    import matfunc

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {threads or 'default'}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min), "
        + ", ".join(versions)
        + f", matfunc {getattr(matfunc, '__version__', '?')}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


LEGEND = (
    "Medians over interleaved rounds; in parentheses the spread, the interquartile range over the median. "
    "Ratios: median over rounds of the ratio within a round, then the ratio of the fastest runs (min). "
    "`default`: method='auto', check=True; `eigh`: the plain eigh code (torch: autograd through eigh; NumPy "
    "fwd+bwd: matfunc's *_vjp vs a hand-written Daleckii–Krein backward). "
    f"`disturbed`: a spread above {100 * DISTURBED:.0f}% (interquartile range over median): rerun."
)


# --- second-order memory -----------------------------------------------------------------------------------


def _peak_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets the peak resident set size (VmHWM, ru_maxrss), Linux >= 4.0
        return True
    except OSError:
        return False


def _rss_kib() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.Process().memory_info().rss // 1024)
    except ImportError:
        return 0


def _maxrss_kib() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // 1024 if sys.platform == "darwin" else peak)


def torch_work(name: str, order: int, batch: int, n: int, variant: str = "matfunc") -> tuple[Callable[[], Any], Any]:
    """``(work, f)``: ``work()`` computes the gradient (``order`` 1) or a Hessian-vector product (``order`` 2) of
    ``sum(f(A) * G)`` in float64 with PyTorch, ``f`` the function (matfunc's ``method="eig"``, or the plain eigh
    code with autograd for ``variant="eigh"``)."""
    fn = FUNCTIONS[name]
    a, _, _ = spd_batch(n, batch, COND)
    g = sym_cotangent(n, batch)
    h = sym_cotangent(n, batch, seed=2)
    import torch

    at, gt, ht = (torch.from_numpy(x) for x in (a, g, h))

    def f(x: Any) -> Any:
        if variant == "eigh":
            w, v = torch.linalg.eigh(x)
            return (v * fn.f_torch(w)[..., None, :]) @ v.mT
        return fn.call(x, method="eig", check=False)

    def work() -> Any:
        x = at.clone().requires_grad_(True)
        (d,) = torch.autograd.grad((f(x) * gt).sum(), x, create_graph=order > 1)
        if order > 1:
            (d,) = torch.autograd.grad((d * ht).sum(), x)
        return d

    return work, f


def memory_case(framework: str, name: str, order: int, batch: int, n: int, variant: str = "matfunc") -> dict:
    """Peak memory (MiB) of one gradient (``order`` 1) or Hessian-vector product (``order`` 2) of
    ``sum(f(A) * G)``, float64, ``method="eig"``; meant to run in a fresh process (:func:`memory`).
    ``variant``: ``"matfunc"`` or ``"eigh"`` (the plain eigh code with autograd; torch only)."""
    if framework == "jax":
        fn = FUNCTIONS[name]
        a, _, _ = spd_batch(n, batch, COND)
        g = sym_cotangent(n, batch)
        h = sym_cotangent(n, batch, seed=2)
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        def loss(x: Any) -> Any:
            return jnp.sum(fn.call(x, method="eig", check=False) * g)

        grad = jax.grad(loss)
        prog = grad if order == 1 else (lambda x: jax.jvp(grad, (x,), (jnp.asarray(h),))[1])
        stats = jax.jit(prog).lower(jnp.asarray(a)).compile().memory_analysis()
        if stats is None:
            return {"mib": math.nan}
        return {"mib": (stats.temp_size_in_bytes + stats.output_size_in_bytes) / 2**20, "how": "memory_analysis"}
    work, f = torch_work(name, order, batch, n, variant)
    import torch

    small = spd_batch(4, 2, COND)[0]  # warm-up on a tiny input: lazy imports and kernels, not this size's buffers
    x0 = torch.from_numpy(small).requires_grad_(True)
    torch.autograd.grad((f(x0) * torch.ones_like(x0)).sum(), x0, create_graph=True)
    base = _rss_kib()
    reset = _peak_reset()
    before = _maxrss_kib()
    work()
    peak = _maxrss_kib()
    if not reset and peak <= before:  # the computation stayed below an earlier peak: not resolved
        return {"mib": math.nan, "how": "unresolved"}
    return {"mib": (peak - base) / 1024, "how": "clear_refs" if reset else "ru_maxrss"}


def _subprocess_case(*args: Any) -> dict:
    code = (
        "import json, sys; from matfunc.bench.vs_eigh import memory_case; "
        f"print(json.dumps(memory_case(*{tuple(args)!r})))"
    )
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        return {"mib": math.nan, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory(
    *,
    functions: tuple[str, ...] = MEMORY_FUNCTIONS,
    sizes: tuple[tuple[int, int], ...] = MEMORY_SIZES,
    frameworks: tuple[str, ...] = ("torch", "jax"),
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per (framework, variant, function, size): first- and second-order peak memory (MiB) and their
    ratio, each measured in a fresh subprocess."""
    import importlib.util

    rows = []
    for framework in frameworks:
        if importlib.util.find_spec(framework) is None:
            continue
        for batch, n in sizes:
            for name in functions:
                for variant in ("matfunc", "eigh") if framework == "torch" else ("matfunc",):
                    first = _subprocess_case(framework, name, 1, batch, n, variant)
                    second = _subprocess_case(framework, name, 2, batch, n, variant)
                    row = {
                        "framework": framework,
                        "variant": variant,
                        "function": name,
                        "batch": batch,
                        "n": n,
                        "input_mib": batch * n * n * 8 / 2**20,
                        "first_mib": first["mib"],
                        "second_mib": second["mib"],
                        "ratio": second["mib"] / first["mib"] if first["mib"] and first["mib"] > 0 else math.nan,
                        "how": first.get("how", first.get("error", "")),
                    }
                    rows.append(row)
                    if progress:
                        progress(_memory_line(row))
    return rows


MEMORY_HEAD = (
    "| framework | code | function | batch x n | input MiB | gradient peak MiB | HVP peak MiB | HVP / gradient | "
    "measured by |\n|---|---|---|---|---|---|---|---|---|"
)


def _memory_line(r: dict[str, Any]) -> str:
    code = "matfunc eig" if r["variant"] == "matfunc" else "eigh + autograd"
    return (
        f"| {r['framework']} | {code} | {FUNCTIONS[r['function']].label} | {r['batch']}x{r['n']} | "
        f"{r['input_mib']:.2f} | {r['first_mib']:.1f} | {r['second_mib']:.1f} | {r['ratio']:.1f} | {r['how']} |"
    )


def memory_table(rows: list[dict[str, Any]]) -> str:
    return "\n".join([MEMORY_HEAD, *(_memory_line(r) for r in rows)])


# --- command line ------------------------------------------------------------------------------------------


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split(","):
        b, _, n = part.strip().lower().partition("x")
        if not (b.isdigit() and n.isdigit()):
            raise argparse.ArgumentTypeError(
                f"sizes are written BATCHxN, comma-separated (1024x32,1x1024), got {part!r}"
            )
        out.append((int(b), int(n)))
    return tuple(out)


def _functions(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in names if t not in FUNCTIONS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown function(s) {bad}; choose from {', '.join(FUNCTIONS)}")
    return names


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m matfunc.bench.vs_eigh", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, 3 rounds")
    p.add_argument("--functions", type=_functions, default=tuple(FUNCTIONS), help="comma-separated subset")
    p.add_argument("--sizes", type=_sizes, default=None, help="BATCHxN,... (default: issue 26's sizes)")
    p.add_argument(
        "--backend",
        nargs="+",
        default=list(BACKENDS),
        help="framework:dtype, e.g. torch:float32 numpy:float64 (default: %(default)s)",
    )
    p.add_argument("--phases", default=",".join(PHASES), help="fwd, fwd+bwd or both (comma-separated)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7; --quick 3)")
    p.add_argument("--max-time", type=float, default=3.0, help="seconds per callable before rounds are cut (min 3)")
    p.add_argument("--threads", type=int, default=2, help="torch threads and BLAS threads (0: leave them alone)")
    p.add_argument(
        "--omp-passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE before torch starts (idle OpenMP threads sleep instead of spinning: on a busy "
        "machine torch's CPU eigh with 2 threads ran 20-60x slower without it)",
    )
    p.add_argument("--retry", type=int, default=2, help="re-measurements of a disturbed set (default 2)")
    p.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds of sleep before each timed call, so that each starts on an idle CPU (OpenBLAS's threads spin "
        "for about 0.1 s after a call and slow what runs next; 0.2 covers it)",
    )
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time by the process's CPU time instead of the wall clock: with --threads 1, the work of each variant, "
        "which other load on a shared host does not add to",
    )
    p.add_argument(
        "--number",
        type=int,
        default=1,
        help="calls per timed run, after 0.2 s of untimed calls (their mean, as timeit): the steady state of a loop "
        "calling one function, which the variant timed before does not disturb (its BLAS threads' spinning has passed)",
    )
    p.add_argument("--memory", action="store_true", help="the second-order memory table instead of the timings")
    p.add_argument("--out", default=None, help="write the rows and the machine line to this JSON file")
    args = p.parse_args(argv)
    for b in args.backend:
        if b.partition(":")[0] not in ("torch", "numpy"):
            p.error(f"--backend takes torch:<dtype> or numpy:<dtype>, got {b!r}")
    if args.omp_passive:
        if "torch" in sys.modules:
            p.error("--omp-passive must be set before torch is imported (run it as python -m matfunc.bench.vs_eigh)")
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    backends = tuple(b if ":" in b else f"{b}:{'float32' if b == 'torch' else 'float64'}" for b in args.backend)
    if "torch" in {b.partition(":")[0] for b in backends} or args.memory:
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401  (so that machine() and _threads() see it)
    result: dict[str, Any] = {"machine": machine(args.threads), "command": " ".join(sys.argv)}
    if args.cpu_time:
        result["machine"] += ", timed by CPU time"
    if args.number > 1:
        result["machine"] += f", runs of {args.number} calls after 0.2 s of untimed ones"
    if args.memory:
        funcs = tuple(f for f in args.functions if f in MEMORY_FUNCTIONS) or MEMORY_FUNCTIONS
        print(MEMORY_HEAD, flush=True)
        rows = memory(functions=funcs, sizes=args.sizes or MEMORY_SIZES, progress=lambda s: print(s, flush=True))
        result["memory"] = rows
        text = memory_table(rows)
    else:
        sizes = args.sizes or (QUICK_SIZES if args.quick else None)
        rounds = args.rounds or (3 if args.quick else 7)
        phases = tuple(x.strip() for x in args.phases.split(",") if x.strip())
        if not phases or set(phases) - set(PHASES):
            p.error(f"--phases takes {' and/or '.join(PHASES)}, comma-separated; got {args.phases!r}")
        print(result["machine"] + "\n\n" + HEAD, flush=True)
        rows = run(
            backends=backends,
            functions=args.functions,
            sizes=sizes,
            rounds=rounds,
            max_time=args.max_time,
            threads=args.threads,
            phases=phases,
            retry=args.retry,
            cpu_time=args.cpu_time,
            progress=lambda s: print(s, flush=True),
            settle=args.settle,
            number=args.number,
        )
        result["rows"] = rows
        result["machine_after"] = machine(args.threads)
        text = table(rows)
        print("\n" + LEGEND + "\n\n" + summaries(rows))
        result["summary"] = summaries(rows)
    result["table"] = text
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
