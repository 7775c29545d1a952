"""Polar decomposition: products-to-accuracy table and timing table, side by side in one run.

    python -m matfunc.bench.polar                      # both tables (timing at full size: slow on CPU)
    python -m matfunc.bench.polar --products           # the products table only (NumPy, float64, seconds)
    python -m matfunc.bench.polar --timing --quick     # timing at 1/4 of the sizes
    python -m matfunc.bench.polar --timing --device cuda
    python -m matfunc.bench.polar --lowprec            # bfloat16/float16 products vs float32 (torch, seconds)

Products table: the fewest matrix products (counted by :func:`matfunc.core.polar.polar_products`: Gram, scale
squarings and steps) after which ``||U^T U - I||_2 <= tol`` for ``A = W diag(s) V^T`` (256 x 64, batch 4,
singular values log-spaced from 1 to 1/cond), in float64 so that the schedule, not rounding, is measured.
Timing: median wall time of ``orthogonalize`` and ``polar`` (float32) against an SVD-based polar factor
(``torch.linalg.svd``) and ``scipy.linalg.polar`` (float64 inside, one matrix at a time).
Low precision: ``||U^T U - I||_2`` of ``orthogonalize`` (float32 input, PyTorch) after each number of steps, with
the products of all but the last :data:`~matfunc.core.polar_schedules.REFINE_STEPS` steps in bfloat16/float16
(``matmul_dtype``) against all in float32, and the median time of each at the default step count.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _polar
from ..core import polar as core_polar

CONDS = (1e1, 1e2, 1e3, 1e4)
TOLS = (1e-3, 1e-6)
MAX_STEPS = 40


def test_matrices(m: int, n: int, cond: float, batch: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = min(m, n)
    w = np.linalg.qr(rng.standard_normal((batch, m, k)))[0]
    v = np.linalg.qr(rng.standard_normal((batch, n, k)))[0]
    s = np.logspace(0.0, -math.log10(cond), k)
    return (w * s) @ np.swapaxes(v, -1, -2)


def _opts(label: str, steps: int, cond: float, k: int) -> core_polar.PolarOptions:
    eps = float(np.finfo(np.float64).eps)
    if label == "matfunc newton-schulz (scaled)":
        return _polar.resolve(
            "newton-schulz",
            num_iters=steps,
            lower_bound=None,
            scale="spectral",
            matmul_dtype=None,
            backward="auto",
            backward_iters=None,
            eps=eps,
            on_cpu=True,
        )
    if label == "matfunc polar-express (lower bound known)":
        lb = 1.0 / (cond * k ** (1 / 16))  # spectral scale: sigma_max / sqrt(c) >= k^(-1/16)
        return _polar.resolve(
            "polar-express",
            num_iters=steps,
            lower_bound=min(lb, 0.5),
            scale="spectral",
            matmul_dtype=None,
            backward="auto",
            backward_iters=None,
            eps=eps,
            on_cpu=True,
        )
    if label == "matfunc polar-express (default bound)":
        return _polar.resolve(
            "polar-express",
            num_iters=steps,
            lower_bound=None,
            scale="spectral",
            matmul_dtype=None,
            backward="auto",
            backward_iters=None,
            eps=eps,
            on_cpu=True,
        )
    if label == "plain Newton-Schulz (Frobenius)":
        return _polar.resolve(
            "newton-schulz",
            num_iters=steps,
            lower_bound=None,
            scale="frobenius",
            matmul_dtype=None,
            backward="auto",
            backward_iters=None,
            eps=eps,
            on_cpu=True,
        )
    if label == "Muon quintic (Frobenius)":
        return _polar.resolve(
            "muon",
            num_iters=steps,
            lower_bound=None,
            scale="frobenius",
            matmul_dtype=None,
            backward="auto",
            backward_iters=None,
            eps=eps,
            on_cpu=True,
        )
    raise ValueError(label)


LABELS = (
    "matfunc newton-schulz (scaled)",
    "matfunc polar-express (lower bound known)",
    "matfunc polar-express (default bound)",
    "plain Newton-Schulz (Frobenius)",
    "Muon quintic (Frobenius)",
)


def products_needed(label: str, cond: float, tol: float, m: int = 256, n: int = 64, batch: int = 4) -> int | None:
    """Fewest products reaching ``||U^T U - I||_2 <= tol`` (None: not within MAX_STEPS steps)."""
    import array_api_compat.numpy as xp

    a = test_matrices(m, n, cond, batch=batch)
    for steps in range(1, MAX_STEPS + 1):
        opts = _opts(label, steps, cond, min(m, n))
        with np.errstate(all="ignore"):
            u, _ = core_polar.polar_forward(a, opts=opts, xp=xp)
        err = np.linalg.norm(np.swapaxes(u, -1, -2) @ u - np.eye(n), ord=2, axis=(-2, -1)).max()
        if np.isfinite(err) and err <= tol:
            return core_polar.polar_products(opts, m, n)
    return None


def products_table(m: int = 256, n: int = 64, batch: int = 4) -> str:
    head = "| schedule | " + " | ".join(f"cond {c:.0e}, tol {t:.0e}" for t in TOLS for c in CONDS) + " |"
    rows = [head, "|---" * (1 + len(TOLS) * len(CONDS)) + "|"]
    for label in LABELS:
        cells = []
        for tol in TOLS:
            for cond in CONDS:
                p = products_needed(label, cond, tol, m, n, batch)
                cells.append("never" if p is None else str(p))
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _median_time(fn: Callable[[], Any], sync: Callable[[], None], repeat: int) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timing_table(
    sizes: list[tuple[int, int, int]], device: str = "cpu", repeat: int = 3, scipy_batch: int | None = None
) -> str:
    import torch

    import matfunc

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = ["| batch x m x n | method | ms (median) | products | max ||U^T U - I||_2 |", "|---|---|---|---|---|"]
    for batch, m, n in sizes:
        a = torch.asarray(test_matrices(m, n, 1e2, batch=batch).astype(np.float32), device=device)
        eye = torch.eye(n, device=device)

        def orth_err(u: Any, eye: Any = eye) -> float:
            return float(torch.linalg.matrix_norm(u.mT.float() @ u.float() - eye, ord=2).max())

        cases: list[tuple[str, Callable[[], Any], str]] = []
        for method, kw in (
            ("newton-schulz", {}),
            ("polar-express", {}),
            ("polar-express", {"lower_bound": 1e-3, "num_iters": 5, "matmul_dtype": "bfloat16"}),
            ("muon", {"matmul_dtype": "bfloat16"}),
        ):
            opts = _polar.resolve(
                method,
                num_iters=kw.get("num_iters"),
                lower_bound=kw.get("lower_bound"),
                scale="frobenius" if method == "muon" else "spectral",
                matmul_dtype=kw.get("matmul_dtype"),
                backward="auto",
                backward_iters=None,
                eps=float(np.finfo(np.float32).eps),
                on_cpu=device == "cpu",
            )
            name = f"matfunc.orthogonalize {method}" + (f" {kw}" if kw else "")
            scale = "frobenius" if method == "muon" else "spectral"
            cases.append(
                (
                    name,
                    lambda method=method, kw=kw, scale=scale, a=a: matfunc.orthogonalize(  # type: ignore[misc]
                        a, method, scale=scale, check=False, **kw
                    ),
                    str(core_polar.polar_products(opts, m, n)),
                )
            )
        cases.append(
            ("matfunc.polar newton-schulz (u, p)", lambda a=a: matfunc.polar(a, "newton-schulz", check=False), "+1")  # type: ignore[misc]
        )
        cases.append(("matfunc.polar svd (u, p)", lambda a=a: matfunc.polar(a, "svd", check=False), "svd"))  # type: ignore[misc]

        def torch_svd(a: Any = a) -> Any:
            w, _, vh = torch.linalg.svd(a, full_matrices=False)
            return w @ vh

        cases.append(("torch.linalg.svd: W V^T", torch_svd, "svd"))
        for name, fn, prods in cases:
            try:
                ms = 1e3 * _median_time(fn, sync, repeat)
                out = fn()
                err = orth_err(out[0] if isinstance(out, tuple) else out)
            except Exception as exc:  # report, keep going
                rows.append(f"| {batch}x{m}x{n} | {name} | failed: {type(exc).__name__} | | |")
                continue
            rows.append(f"| {batch}x{m}x{n} | {name} | {ms:.1f} | {prods} | {err:.1e} |")
        if device == "cpu":
            try:
                import scipy.linalg

                nb = batch if scipy_batch is None else min(scipy_batch, batch)
                a64 = a[:nb].double().numpy()
                ms = 1e3 * _median_time(lambda a64=a64: [scipy.linalg.polar(x) for x in a64], lambda: None, 1)  # type: ignore[misc]
                ms *= batch / nb
                rows.append(
                    f"| {batch}x{m}x{n} | scipy.linalg.polar (float64, loop; x{batch}/{nb}) | {ms:.1f} | svd | |"
                )
            except ImportError:
                pass
    return "\n".join(rows)


LOWPREC_CONDS = (1e1, 1e2, 1e3)
LOWPREC_STEPS = {"polar-express": (3, 4, 5, 6, 7, 8), "newton-schulz": (6, 8, 10, 12, 14)}


def _lowprec_opts(method: str, steps: int | None, lb: float, matmul_dtype: str | None) -> core_polar.PolarOptions:
    return _polar.resolve(
        method,
        num_iters=steps,
        lower_bound=lb,
        scale="spectral",
        matmul_dtype=matmul_dtype,
        backward="auto",
        backward_iters=None,
        eps=float(np.finfo(np.float32).eps),
        on_cpu=True,
    )


def lowprec_table(
    m: int = 256,
    n: int = 64,
    batch: int = 4,
    conds: tuple[float, ...] = LOWPREC_CONDS,
    steps: dict[str, tuple[int, ...]] | None = None,
    repeat: int = 3,
) -> str:
    """``||U^T U - I||_2`` (max over the batch) after each step count (its products in the header), per method,
    condition number and product dtype; the last column: median ms at the step count ``lower_bound`` gives."""
    import torch

    import matfunc

    steps = LOWPREC_STEPS if steps is None else steps
    k = min(m, n)
    eye = torch.eye(k)
    rows: list[str] = []
    for method, counts in steps.items():
        prods = [core_polar.polar_products(_lowprec_opts(method, c, 0.5, None), m, n) for c in counts]
        rows += [
            f"| {method}: cond | products in | "
            + " | ".join(f"{c} steps ({p})" for c, p in zip(counts, prods, strict=True))
            + " | default steps: ms |",
            "|---" * (len(counts) + 3) + "|",
        ]
        for cond in conds:
            a = torch.asarray(test_matrices(m, n, cond, batch=batch).astype(np.float32))
            lb = min(0.5, 1.0 / (cond * k ** (1 / 16)))  # spectral scale: sigma_min / sqrt(c) >= this
            for mdt in (None, "bfloat16", "float16"):
                cells = []
                for c in counts:
                    u = matfunc.orthogonalize(a, method, num_iters=c, lower_bound=lb, matmul_dtype=mdt, check=False)
                    g = u.mT @ u if m >= n else u @ u.mT
                    cells.append(f"{float(torch.linalg.matrix_norm(g - eye, ord=2).max()):.1e}")
                ms = 1e3 * _median_time(
                    lambda mdt=mdt, lb=lb, a=a, method=method: matfunc.orthogonalize(  # type: ignore[misc]
                        a, method, lower_bound=lb, matmul_dtype=mdt, check=False
                    ),
                    lambda: None,
                    repeat,
                )
                default = _lowprec_opts(method, None, lb, mdt).num_iters
                rows.append(f"| {cond:.0e} | {mdt or 'float32'} | " + " | ".join(cells) + f" | {default}: {ms:.1f} |")
        rows.append("")
    return "\n".join(rows).rstrip()


def report_section(
    m: int, n: int, batch: int, *, timing_sizes: list[tuple[int, int, int]] | None, device: str = "cpu", repeat: int = 3
) -> str:
    """The polar tables as one markdown section for ``python -m matfunc.bench --polar``: products to accuracy
    (NumPy, float64) and, with PyTorch, low precision and timing (``timing_sizes``; None: no timing table)."""
    lines = [
        "## Polar decomposition",
        "",
        f"### Products to reach ||U^T U - I||_2 <= tol (float64, batch {batch} of {m} x {n})",
        "",
        products_table(m, n, batch),
        "",
    ]
    try:
        import torch  # noqa: F401
    except ImportError:
        return "\n".join([*lines, "PyTorch is not installed: no low-precision or timing table.", ""])
    lines += [
        f"### ||U^T U - I||_2 with bfloat16/float16 products (torch, float32, batch {batch} of {m} x {n})",
        "",
        lowprec_table(m, n, batch, repeat=repeat),
        "",
    ]
    if timing_sizes:
        lines += [
            f"### Time, float32, device {device}",
            "",
            timing_table(timing_sizes, device=device, repeat=repeat, scipy_batch=4),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m matfunc.bench.polar", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--products", action="store_true", help="products table only")
    ap.add_argument("--timing", action="store_true", help="timing table only")
    ap.add_argument("--lowprec", action="store_true", help="low-precision products table only (torch, CPU)")
    ap.add_argument("--quick", action="store_true", help="timing at a quarter of the full sizes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.lowprec:
        print("||U^T U - I||_2 with products in bfloat16/float16 vs float32 (torch, float32, batch 4 of 256 x 64)\n")
        print(lowprec_table(repeat=max(args.repeat, 10)))
        return
    both = not (args.products or args.timing)
    if args.products or both:
        print("Products to reach ||U^T U - I||_2 <= tol (float64, 256 x 64, batch 4)\n")
        print(products_table())
        print()
    if args.timing or both:
        sizes = [(64, 1024, 256), (8, 4096, 1024)]
        if args.quick:
            sizes = [(16, 512, 128), (2, 1024, 256)]
        print(f"Time, float32, device {args.device}\n")
        print(timing_table(sizes, device=args.device, repeat=args.repeat, scipy_batch=4))


if __name__ == "__main__":
    main()
