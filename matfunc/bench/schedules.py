"""Step schedules of the root iterations: matrix products and accuracy per condition number, in one table.

    python -m matfunc.bench.schedules                       # float64, cond 1e1 .. 1e8, n = 64
    python -m matfunc.bench.schedules --dtype float32       # float32, cond 1e1 .. 1e6
    python -m matfunc.bench.schedules --n 32 --batch 2      # smaller
    python -m matfunc.bench.schedules --lowprec             # matmul_dtype: accuracy and time per condition (torch)

For each condition number ``cond`` the test matrices are ``A = Q diag(w) Q^T`` (NumPy, batch 4, Q random orthogonal,
``w`` log-spaced from 1 to ``1/cond``), with the exact roots ``Q diag(w^{+-1/2}) Q^T``. Every schedule of
:mod:`matfunc.core.root_schedules` is run

- *for this condition* (a known bound: the design condition of ``A_n = A / c`` is ``cond * n^(1/16)``, the most by
  which the spectral scale ``c`` can overestimate ``lambda_max``), with the fewest steps its scalar model needs, and
- *at the default* (the condition the default 15 float64 / 10 float32 scaled steps cover).

Columns: steps, matrix products (counted by :func:`.root_schedules.root_matmuls` and, for the backward,
:func:`.lyapunov.sign_matmuls` / :func:`.lyapunov.sign_poly_matmuls`, the kernels' own counts), and the relative
error ``||X - X_exact||_F / ||X_exact||_F`` (largest over the batch) of ``sqrtm``, ``inv_sqrtm`` (the coupled
iteration's ``Y`` and ``Z``) and of the Lyapunov solve ``S X + X S = G`` of the backward (``S = A^{1/2}``
exact, ``G`` symmetric Gaussian; reference: the eigenbasis solve). The ``eig`` row is ``numpy.linalg.eigh``.

``--lowprec`` (:func:`lowprec_table`, PyTorch on CPU): ``sqrtm``/``inv_sqrtm(method="newton-schulz")`` in float32 and
float64 with all products in the working precision, with ``matmul_dtype="bfloat16"`` / ``"float16"`` (all but the
last two steps), and, for float32, with *every* product's inputs rounded to TF32's 10-bit mantissa (emulated: what
``torch.backends.cuda.matmul.allow_tf32 = True`` or ``jax.default_matmul_precision("tensorfloat32")`` do on GPUs with
tensor cores). Per condition: the relative error of each root (the larger of the two), a mark where ``check=True``
raises, and the median time of ``sqrtm`` at the first condition (on a CPU, low-precision products are not faster;
the time column shows what a CPU pays).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from ..core import root_schedules as rs
from ..core.coefficients import ns_condition_covered
from ..core.lyapunov import sign_lyapunov, sign_lyapunov_steps, sign_matmuls, sign_poly_matmuls
from ..core.newton_schulz import newton_schulz_steps
from ..core.options import default_ns_iters
from ..core.polar_schedules import polar_express_iters, polar_express_schedule
from ..core.scaling import normalize

__all__ = [
    "test_matrices",
    "forward_row",
    "lyapunov_row",
    "table",
    "lowprec_row",
    "lowprec_table",
    "main",
    "SCHEDULE_LABELS",
    "LOWPREC_CONDS",
]

CONDS = {"float64": (1e1, 1e2, 1e4, 1e6, 1e8), "float32": (1e1, 1e2, 1e3, 1e4, 1e5, 1e6)}
SCHEDULE_LABELS = {
    "scaled": "matfunc scaled cubic",
    "polar-express": "minimax quintic (Polar Express, cushion 10)",
    "uncushioned": "minimax quintic, no cushion",
    "minimax-cubic": "minimax cubic (uncapped)",
    "plain": "plain cubic (paper)",
}


def test_matrices(n: int, cond: float, batch: int = 4, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``(A, A^{1/2}, A^{-1/2})`` in float64 for ``A = Q diag(w) Q^T``, ``w`` log-spaced from 1 to ``1/cond``."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.standard_normal((batch, n, n)))[0]
    w = np.logspace(0.0, -math.log10(cond), n)
    qt = np.swapaxes(q, -1, -2)
    return (q * w) @ qt, (q * np.sqrt(w)) @ qt, (q / np.sqrt(w)) @ qt


def _err(x: Any, ref: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.max(np.linalg.norm(x - ref, axis=(-2, -1)) / np.linalg.norm(ref, axis=(-2, -1))))


def _xp() -> Any:
    import array_api_compat.numpy as xp

    return xp


def design_condition(cond: float, n: int) -> float:
    """The condition number of ``A_n = A / c`` for ``cond(A) = cond``: at most ``cond * n^(1/16)``."""
    return cond * n ** (1.0 / 16.0)


def forward_row(
    schedule: str, cond: float, *, dtype: str = "float64", n: int = 64, batch: int = 4, default: bool = False
) -> dict[str, Any]:
    """Steps, products and errors of ``sqrtm``/``inv_sqrtm`` by the coupled iteration with ``schedule``."""
    xp = _xp()
    eps = float(np.finfo(dtype).eps)
    a, root, inv_root = test_matrices(n, cond, batch)
    a_n, c = normalize(xp.asarray(a.astype(dtype)), scale="spectral", xp=xp)
    if default:
        design = ns_condition_covered(default_ns_iters(eps), eps)
    else:
        design = design_condition(cond, n)
    if schedule == "uncushioned":  # the pure per-step minimax quintic (Polar Express without the cushion)
        lb = math.sqrt(1.0 / design)
        k = polar_express_iters(lb, eps)
        steps = polar_express_schedule(lb, k)
    else:
        k = rs.root_iters(schedule, design, eps)
        steps = rs.root_steps(schedule, k, eps, 0.0 if schedule == "plain" else design)
    y = newton_schulz_steps(a_n, steps=steps, want="sqrt", xp=xp)[0]
    z = newton_schulz_steps(a_n, steps=steps, want="inv", xp=xp)[1]
    rc = np.sqrt(np.asarray(c, dtype=np.float64))
    return {
        "schedule": schedule,
        "cond": cond,
        "steps": k,
        "products": rs.root_matmuls(steps, "sqrt"),
        "sqrtm": _err(y, root / rc),
        "inv_sqrtm": _err(z, inv_root * rc),
    }


def eig_row(cond: float, *, dtype: str = "float64", n: int = 64, batch: int = 4) -> dict[str, Any]:
    a, root, inv_root = test_matrices(n, cond, batch)
    w, v = np.linalg.eigh(a.astype(dtype))
    w = np.maximum(w, 0)
    vt = np.swapaxes(v, -1, -2)
    return {
        "schedule": "eig",
        "cond": cond,
        "steps": None,
        "products": None,
        "sqrtm": _err((v * np.sqrt(w)[..., None, :]) @ vt, root),
        "inv_sqrtm": _err((v / np.sqrt(w)[..., None, :]) @ vt, inv_root),
    }


def lyapunov_row(
    schedule: str, cond: float, *, dtype: str = "float64", n: int = 64, batch: int = 4, default: bool = False
) -> dict[str, Any]:
    """Steps, products and error of the backward's sign iteration for ``S = A^{1/2}``, ``cond(A) = cond``.

    ``"scaled"`` is matfunc's 4-product symmetric form with deflation (:func:`.lyapunov.sign_lyapunov`, as the
    backward runs it: its schedule covers the widest spectrum of its step count); the others run
    :func:`.lyapunov.sign_lyapunov_steps` with the schedule designed for ``cond``."""
    xp = _xp()
    eps = float(np.finfo(dtype).eps)
    a, root, _ = test_matrices(n, cond, batch)
    rng = np.random.default_rng(1)
    g = rng.standard_normal((batch, n, n))
    g = g + np.swapaxes(g, -1, -2)
    w, v = np.linalg.eigh(a)
    s = np.sqrt(np.maximum(w, 0))
    vt = np.swapaxes(v, -1, -2)
    x_ref = v @ ((vt @ g @ v) / (s[..., :, None] + s[..., None, :])) @ vt
    top = s[..., -1][..., None, None]
    s_n, g_n = (root / top).astype(dtype), (g / top).astype(dtype)
    design = ns_condition_covered(default_ns_iters(eps), eps) if default else design_condition(cond, n)
    k = rs.root_iters(schedule, design, eps)
    if schedule == "scaled":
        x = sign_lyapunov(xp.asarray(s_n), xp.asarray(g_n), num_iters=k, eps=eps, symmetric=True, xp=xp)
        products = sign_matmuls(k, symmetric=True)
    else:
        steps = rs.root_steps(schedule, k, eps, 0.0 if schedule == "plain" else design)
        x = sign_lyapunov_steps(xp.asarray(s_n), xp.asarray(g_n), steps=steps, xp=xp)
        products = sign_poly_matmuls(steps)
    return {"schedule": schedule, "cond": cond, "steps": k, "products": products, "lyapunov": _err(x, x_ref)}


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.1e}" if isinstance(v, float) else str(v))


def table(dtype: str = "float64", n: int = 64, batch: int = 4, conds: tuple[float, ...] | None = None) -> str:
    """The markdown tables (forward, then the backward's Lyapunov solve)."""
    conds = CONDS[dtype] if conds is None else conds
    out = [f"Forward, {dtype}, n = {n}, batch {batch}: steps / products / sqrtm error / inv_sqrtm error", ""]
    head = "| schedule | " + " | ".join(f"cond {c:.0e}" for c in conds) + " |"
    sep = "|---|" + "---|" * len(conds)
    out += [head, sep]
    cells = {}
    for sch in ("eig", *SCHEDULE_LABELS):
        for default in (False, True):
            if default and sch in ("eig", "plain"):
                continue
            label = ("numpy eigh" if sch == "eig" else SCHEDULE_LABELS[sch]) + (", default coverage" if default else "")
            row = []
            for c in conds:
                r = (
                    eig_row(c, dtype=dtype, n=n, batch=batch)
                    if sch == "eig"
                    else forward_row(sch, c, dtype=dtype, n=n, batch=batch, default=default)
                )
                cells[(sch, default, c)] = r
                row.append(f"{_fmt(r['steps'])} / {_fmt(r['products'])} / {_fmt(r['sqrtm'])} / {_fmt(r['inv_sqrtm'])}")
            out.append(f"| {label} | " + " | ".join(row) + " |")
    out += ["", f"Backward (Lyapunov sign iteration), {dtype}: steps / products / error of X", "", head, sep]
    for sch in ("scaled", "polar-express", "minimax-cubic"):
        for default in (False, True):
            if default and sch != "scaled" and sch != "polar-express":
                continue
            label = (
                SCHEDULE_LABELS[sch]
                + (" (4-product symmetric form + deflation)" if sch == "scaled" else " (general-step form)")
                + (", default coverage" if default else "")
            )
            row = []
            for c in conds:
                r = lyapunov_row(sch, c, dtype=dtype, n=n, batch=batch, default=default)
                row.append(f"{r['steps']} / {r['products']} / {_fmt(r['lyapunov'])}")
            out.append(f"| {label} | " + " | ".join(row) + " |")
    return "\n".join(out)


LOWPREC_CONDS = (1e1, 1e2, 1e3, 1e4, 1e5)


def _tf32_mode() -> Any:
    """A torch function mode that rounds both inputs of every matrix product to TF32 (10-bit mantissa, round to
    nearest even; float32 storage), as tensor cores do with TF32 enabled."""
    import torch
    from torch.overrides import TorchFunctionMode

    def tf32(x: Any) -> Any:
        if not isinstance(x, torch.Tensor) or x.dtype != torch.float32:
            return x
        i = x.contiguous().view(torch.int32)
        i = (i + 0x0FFF + ((i >> 13) & 1)) & ~0x1FFF
        return i.view(torch.float32)

    products = {
        torch.matmul,
        torch.Tensor.matmul,
        torch.Tensor.__matmul__,
        torch.Tensor.__rmatmul__,
        torch.bmm,
        torch.mm,
    }

    class TF32(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            kwargs = kwargs or {}
            if func in products:
                args = tuple(tf32(a) for a in args)
            return func(*args, **kwargs)

    return TF32()


def lowprec_row(
    cond: float,
    *,
    dtype: str,
    products: str | None,
    schedule: str | None = None,
    n: int = 64,
    batch: int = 4,
    repeat: int = 5,
) -> dict[str, Any]:
    """Errors of ``sqrtm``/``inv_sqrtm(method="newton-schulz")`` (torch, CPU) with ``products`` None (working
    precision), ``"bfloat16"``/``"float16"`` (``matmul_dtype``) or ``"tf32"`` (every product emulated in TF32);
    whether ``check=True`` raises; the median time of ``sqrtm`` in seconds."""
    import contextlib
    import time

    import torch

    import matfunc

    a, root, inv_root = test_matrices(n, cond, batch)
    x = torch.from_numpy(a).to(getattr(torch, dtype))
    kw: dict[str, Any] = {"schedule": schedule}
    if products in ("bfloat16", "float16"):
        kw["matmul_dtype"] = products
    ctx = _tf32_mode if products == "tf32" else contextlib.nullcontext
    out: dict[str, Any] = {"cond": cond, "dtype": dtype, "products": products, "schedule": schedule}
    raised = []
    for fn, ref, key in ((matfunc.sqrtm, root, "sqrtm"), (matfunc.inv_sqrtm, inv_root, "inv_sqrtm")):
        with ctx():
            y = fn(x, "newton-schulz", check=False, **kw)
            try:
                fn(x, "newton-schulz", check=True, **kw)
            except ValueError:
                raised.append(key)
        out[key] = _err(y.numpy(), ref)
    out["raises"] = tuple(raised)
    times = []
    with ctx():
        for _ in range(repeat):
            t0 = time.perf_counter()
            matfunc.sqrtm(x, "newton-schulz", check=False, **kw)
            times.append(time.perf_counter() - t0)
    out["time"] = float(np.median(times))
    return out


def lowprec_table(n: int = 64, batch: int = 4, conds: tuple[float, ...] = LOWPREC_CONDS) -> str:
    """The ``--lowprec`` markdown table: per working dtype and product precision, the larger relative error of
    ``sqrtm`` and ``inv_sqrtm`` per condition (``*``: ``check=True`` raises), and the median ``sqrtm`` time."""
    head = "| working dtype | products | schedule | " + " | ".join(f"cond {c:.0e}" for c in conds) + " | ms |"
    out = [
        f"Newton–Schulz roots with low-precision products, n = {n}, batch {batch}, PyTorch on CPU: the larger "
        "relative error of sqrtm and inv_sqrtm (* where check=True raises); time: sqrtm median",
        "",
        head,
        "|---|---|---|" + "---|" * len(conds) + "---|",
    ]
    cases = [
        ("float32", None, None),
        ("float32", "tf32", None),
        ("float32", "bfloat16", None),
        ("float32", "bfloat16", "polar-express"),
        ("float32", "float16", None),
        ("float64", None, None),
        ("float64", "bfloat16", None),
        ("float64", "float16", None),
    ]
    for dtype, products, schedule in cases:
        cells, ms = [], None
        for c in conds:
            r = lowprec_row(c, dtype=dtype, products=products, schedule=schedule, n=n, batch=batch)
            e = max(r["sqrtm"], r["inv_sqrtm"]) if math.isfinite(r["sqrtm"] + r["inv_sqrtm"]) else math.nan
            cells.append(("nan" if math.isnan(e) else f"{e:.1e}") + ("*" if r["raises"] else ""))
            ms = r["time"] * 1e3 if ms is None else ms
        label = {None: "working", "tf32": "all TF32 (emulated)"}.get(products, f"{products} (matmul_dtype)")
        sched = schedule or ("scaled (default)" if products in ("bfloat16", "float16") else "polar-express (default)")
        out.append(f"| {dtype} | {label} | {sched} | " + " | ".join(cells) + f" | {ms:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m matfunc.bench.schedules", description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--cond", type=float, nargs="*", help="condition numbers (default: per dtype)")
    parser.add_argument("--lowprec", action="store_true", help="the matmul_dtype table (needs PyTorch)")
    args = parser.parse_args(argv)
    if args.lowprec:
        print(lowprec_table(args.n, args.batch, tuple(args.cond) if args.cond else LOWPREC_CONDS))
        return
    print(table(args.dtype, args.n, args.batch, tuple(args.cond) if args.cond else None))


if __name__ == "__main__":
    main()
