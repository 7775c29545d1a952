"""Accuracy and speed of powm / logm / expm, side by side in one run (``python -m matfunc.bench.family``).

- Accuracy (float64, ``A = Q diag(w) Q^T`` with w log-spaced from 1 to 1/cond): relative Frobenius error of every
  registered (function, method) against an mpmath reference of the same float64 matrix (eigendecomposition at
  32 digits; one matrix per condition number), and the rounding level of that reference rounded to float64.
- Speed (float32, CPU unless a GPU is present): ``A^{-1/4}`` forward + backward with PyTorch for matfunc's
  methods, an ``eigh``-based version with autograd (what Shampoo does today) and
  :func:`scipy.linalg.fractional_matrix_power` (forward only, float64, a loop over the batch).

:data:`ENTRIES` is the one registry of (function, method) pairs that this report and the ASV suite
(``asv_bench/benchmarks/bench_family.py``) read.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np

import matfunc

__all__ = [
    "ENTRIES",
    "SPEED_SHAPES",
    "test_matrix",
    "mp_reference",
    "accuracy_table",
    "speed_table",
    "report_section",
    "main",
]

#: (label, scalar kind, p, call) — call(a, method) evaluates the function; methods listed per entry.
ENTRIES: list[tuple[str, str, float | None, tuple[str, ...]]] = [
    ("powm(A, -1/4)", "power", -0.25, ("eig", "newton-schulz", "newton")),
    ("powm(A, 1/4)", "power", 0.25, ("eig", "newton-schulz")),
    ("powm(A, -1/3)", "power", -1.0 / 3.0, ("eig", "newton")),
    ("powm(A, 0.3)", "power", 0.3, ("eig",)),
    ("logm(A)", "log", None, ("eig", "iss")),
    ("expm(A)", "exp", None, ("eig", "taylor")),
]


#: (batch, n) of the speed table: Shampoo-like preconditioner blocks, many small and a few large.
SPEED_SHAPES: tuple[tuple[int, int], ...] = ((256, 64), (16, 512))


def call(kind: str, p: float | None, a: Any, method: str, **kw: Any) -> Any:
    """The public function of an entry."""
    if kind == "power":
        return matfunc.powm(a, cast(float, p), method=method, **kw)
    return matfunc.logm(a, method=method, **kw) if kind == "log" else matfunc.expm(a, method=method, **kw)


def test_matrix(n: int, cond: float, *, batch: tuple[int, ...] = (), seed: int = 0, dtype: Any = np.float64) -> Any:
    """``Q diag(w) Q^T``, ``w`` log-spaced from 1 to ``1/cond`` (symmetrised)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    w = np.logspace(0.0, -math.log10(cond), n)
    a = (q * w) @ np.swapaxes(q, -1, -2)
    return ((a + np.swapaxes(a, -1, -2)) / 2).astype(dtype)


def mp_reference(a: np.ndarray, kind: str, p: float | None, dps: int = 32) -> np.ndarray:
    """``f(a)`` from an mpmath eigendecomposition at ``dps`` digits, rounded to float64."""
    import mpmath

    f: Callable[[Any], Any] = {"log": mpmath.log, "exp": mpmath.exp, "power": lambda x: mpmath.power(x, mpmath.mpf(p))}[
        kind
    ]
    with mpmath.workdps(dps):
        w, q = mpmath.eigsy(mpmath.matrix(a.tolist()))
        y = q * mpmath.diag([f(x) for x in w]) * q.T
        return np.array(y.tolist(), dtype=float)


def _rel(x: Any, ref: np.ndarray) -> float:
    x = np.asarray(x.detach() if hasattr(x, "detach") else x, dtype=np.float64)
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


def accuracy_table(n: int = 64, conds: tuple[float, ...] = (1e1, 1e2, 1e4, 1e6, 1e8), exp_scale: float = 10.0) -> str:
    """Markdown table: error of every entry and method vs the mpmath reference (whose own error, rounded to
    float64, is at most eps/2 = 1.1e-16); ``expm`` on ``exp_scale * A``."""
    header = "| function | method | " + " | ".join(f"cond {c:.0e}" for c in conds) + " |"
    rows = [header, "|" + "---|" * (len(conds) + 2)]
    refs = {}
    for label, kind, p, methods in ENTRIES:
        errs: dict[str, list[str]] = {m: [] for m in methods}
        for cond in conds:
            a = test_matrix(n, cond)
            if kind == "exp":
                a = exp_scale * a
            key = (kind, p, cond)
            if key not in refs:
                refs[key] = mp_reference(a, kind, p)
            ref = refs[key]
            for m in methods:
                try:
                    errs[m].append(f"{_rel(call(kind, p, a, m, check=False), ref):.1e}")
                except ValueError as exc:
                    errs[m].append(f"n/a ({str(exc)[:20]})")
        for m in methods:
            rows.append(f"| {label} | {m} | " + " | ".join(errs[m]) + " |")
    return "\n".join(rows)


def _timeit(fn: Callable[[], Any], repeat: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def speed_table(shapes: tuple[tuple[int, int], ...] = SPEED_SHAPES, repeat: int = 3, device: str | None = None) -> str:
    """Markdown table: ms for ``A^{-1/4}`` forward + backward (float32, PyTorch), eigh+autograd, SciPy forward.
    ``device``: a torch device (default: CUDA where present, else CPU)."""
    import torch

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    rows = [
        "| batch x n | matfunc eig | matfunc newton-schulz | matfunc newton | eigh + autograd | "
        "scipy fractional_matrix_power (fwd, float64) |",
        "|---|---|---|---|---|---|",
    ]
    for batch, n in shapes:
        a = torch.tensor(test_matrix(n, 1e3, batch=(batch,), dtype=np.float32), device=dev)
        g = torch.ones_like(a)

        def fwd_bwd(f: Callable[[Any], Any], a: Any = a, g: Any = g) -> Callable[[], Any]:
            def run() -> Any:
                x = a.clone().requires_grad_(True)
                (y := f(x)).backward(g)
                return y

            return run

        def eigh_autograd(x: Any) -> Any:
            w, v = torch.linalg.eigh(x)
            return (v * w.clamp_min(1e-12).pow(-0.25)[..., None, :]) @ v.mT

        cells = []
        for m in ("eig", "newton-schulz", "newton"):
            cells.append(_timeit(fwd_bwd(lambda x, m=m: matfunc.powm(x, -0.25, method=m, check=False)), repeat, sync))  # type: ignore[misc]
        cells.append(_timeit(fwd_bwd(eigh_autograd), repeat, sync))
        try:
            import scipy.linalg as sl

            a64 = a.double().cpu().numpy()
            cells.append(
                _timeit(lambda a64=a64: [sl.fractional_matrix_power(m_, -0.25) for m_ in a64], 1, lambda: None)  # type: ignore[misc]
            )
        except ImportError:
            cells.append(math.nan)
        rows.append(f"| {batch} x {n} ({dev}) | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    return "\n".join(rows)


def report_section(
    n: int, *, shapes: tuple[tuple[int, int], ...] | None = SPEED_SHAPES, device: str | None = None, repeat: int = 3
) -> str:
    """The family tables as one markdown section for ``python -m matfunc.bench --family``: accuracy (float64,
    ``n x n``, vs mpmath) and, with PyTorch, the ``A^{-1/4}`` speed table at ``shapes`` (None: no speed table)."""
    lines = [
        "## Matrix functions: powm / logm / expm",
        "",
        f"### Relative error vs an mpmath reference (float64, {n} x {n}; expm of 10 A)",
        "",
        accuracy_table(n),
        "",
    ]
    if not shapes:
        return "\n".join(lines)
    try:
        import torch  # noqa: F401
    except ImportError:
        return "\n".join([*lines, "PyTorch is not installed: no speed table.", ""])
    lines += [
        f"### A^(-1/4) forward + backward, float32, ms (best of {repeat}; SciPy: forward only, float64, "
        "one matrix at a time)",
        "",
        speed_table(tuple(shapes), repeat=repeat, device=device),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m matfunc.bench.family", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="matrix size of the accuracy table (default 64)")
    parser.add_argument("--quick", action="store_true", help="n = 16, conds 1e1/1e4/1e8, small speed shapes")
    parser.add_argument("--no-speed", action="store_true", help="accuracy only")
    args = parser.parse_args(argv)
    if args.quick:
        print(accuracy_table(16, (1e1, 1e4, 1e8)))
        if not args.no_speed:
            print()
            print(speed_table(((32, 32),), repeat=1))
        return
    print(accuracy_table(args.n))
    if not args.no_speed:
        print()
        print(speed_table())


if __name__ == "__main__":
    main()
