"""The report's figures: time against n (every repeat's range as an error bar), error against the condition
number, and error against time. Legends list what is drawn, nothing else."""

from __future__ import annotations

import os
from typing import Any

from .cases import PHASES
from .methods import BY_LABEL, JAX_SCIPY, SCIPY

__all__ = ["PLOTS", "plots"]

PLOTS = ("time_vs_n.png", "error_vs_cond.png", "pareto.png")


def _legend(target: Any, axes: list[Any]) -> None:
    """One legend, right of ``target``, with every label drawn on any of ``axes`` (and nothing else)."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    if handles:
        target.legend(list(handles.values()), list(handles), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _acc(results: dict, backend: str, method: str, cond: float, what: str) -> float | None:
    for a in results["accuracy"]:
        if a["backend"] == backend and a["method"] == method and a["cond"] == cond:
            return a.get(what)
    return None


def _yerr(rows: list[dict]) -> list[list[float]]:
    """Distances from the median down to the fastest and up to the slowest repeat (0 where not recorded)."""
    lo = [r["ms"] - r.get("min", r["ms"]) for r in rows]
    hi = [r.get("max", r["ms"]) - r["ms"] for r in rows]
    return [lo, hi]


def plots(results: dict, out: str) -> list[str]:
    """Write the PNGs; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timings = results["timings"]
    methods = list(dict.fromkeys(t["method"] for t in timings))
    colors = {m: plt.cm.tab20(i % 20) for i, m in enumerate(BY_LABEL)}
    style = lambda m: "--" if BY_LABEL[m].baseline else "-"  # noqa: E731
    written = []

    backends = list(dict.fromkeys(t["backend"] for t in timings))
    dtype = timings[0]["dtype"] if timings else "float32"
    batch = max((t["batch"] for t in timings), default=1)
    fig, axes = plt.subplots(max(len(backends), 1), 3, figsize=(15, 3.6 * max(len(backends), 1)), squeeze=False)
    for i, be in enumerate(backends):
        for j, phase in enumerate(PHASES):
            ax = axes[i][j]
            for m in methods:
                rows = sorted(
                    (
                        t
                        for t in timings
                        if t["backend"] == be
                        and t["method"] == m
                        and t["phase"] == phase
                        and t["dtype"] == dtype
                        and t["batch"] == batch
                        and t.get("ms")
                    ),
                    key=lambda t: t["n"],
                )
                if rows:
                    ax.errorbar(
                        [t["n"] for t in rows],
                        [t["ms"] for t in rows],
                        yerr=_yerr(rows),
                        fmt=style(m),
                        marker="o",
                        ms=3,
                        capsize=2,
                        elinewidth=0.8,
                        color=colors[m],
                        label=m,
                    )
            pts = sorted(
                (r["n"], r["matmul_ms"])
                for r in results["roofline"]
                if r["backend"] == be and r["dtype"] == dtype and r["batch"] == batch and r.get("matmul_ms")
            )
            if pts:
                ax.plot(*zip(*pts, strict=False), ":", color="k", label="one matmul")
            ax.set(xscale="log", yscale="log", xlabel="n", ylabel="ms", title=f"{be} {phase} ({dtype}, batch {batch})")
            ns_be = sorted({t["n"] for t in timings if t["backend"] == be})
            ax.set_xticks(ns_be, [str(v) for v in ns_be])
            ax.minorticks_off()
            ax.grid(True, which="major", alpha=0.3)
    if backends:
        _legend(axes[0][-1], [ax for row in axes for ax in row])
        fig.suptitle("median of the repeats; bars: fastest to slowest repeat", fontsize=9)
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
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="condition number",
            ylabel="relative error",
            title=f"{'value' if what == 'value_err' else 'gradient'} ({acc_be}, {acc[0]['dtype'] if acc else ''})",
        )
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
            tt = [
                t
                for t in timings
                if t["backend"] == be
                and t["method"] == m
                and t["n"] == n_p
                and t["batch"] == batch
                and t["dtype"] == dtype
            ]
            row = next((t for t in tt if t["phase"] == "fwd+bwd" and t.get("ms")), None)
            phase = "fwd+bwd"
            if row is None:
                row, phase = next((t for t in tt if t["phase"] == "fwd" and t.get("ms")), None), "fwd"
            err = _acc(results, be, m, 1e2, "grad_err" if phase == "fwd+bwd" else "value_err")
            if row and err:
                ax.errorbar(
                    [row["ms"]],
                    [err],
                    xerr=_yerr([row]),
                    fmt=markers.get(be, "o"),
                    color=colors[m],
                    capsize=2,
                    elinewidth=0.8,
                    label=f"{m} [{be}]" + (" (fwd only)" if phase == "fwd" else ""),
                )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=f"fwd+bwd time, ms ({dtype}, batch {batch}, n = {n_p})",
        ylabel="gradient error at cond 1e2 (value error if no gradient)",
        title="error vs time (lower left wins)",
    )
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(os.path.join(out, PLOTS[2]), dpi=110)
    plt.close(fig)
    written.append(PLOTS[2])
    return written
