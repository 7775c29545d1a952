"""The markdown report: machine header, targets in plain words, times with their matrix-product bound,
accuracy, what was not measured and why, and flags on measurements that contradict each other."""

from __future__ import annotations

import functools
import math

from .cases import PHASES
from .grid import SKIPPED
from .methods import BY_LABEL, EIGH, JAX_SCIPY, METHODS, PAPER, matmul_counts

__all__ = [
    "TIME_COLUMNS",
    "ROOF_COLUMNS",
    "TARGET_COLUMNS",
    "time_tables",
    "roofline_tables",
    "accuracy_tables",
    "target_table",
    "claim_table",
    "contradictions",
    "gap_lines",
    "report",
]

TIME_COLUMNS = (
    "method",
    "fwd ms",
    "bwd ms",
    "fwd+bwd ms",
    "spread",
    "fwd / bound",
    "bwd / bound",
    "fwd+bwd / paper-ref",
    "fwd / eigh-ref",
    "fwd+bwd / eigh-ref",
)
ROOF_COLUMNS = ("method", "fwd products", "fwd bound ms", "fwd / bound", "bwd products", "bwd bound ms", "bwd / bound")
TARGET_COLUMNS = ("backend", "target", "measured", "goal", "met", "note")
BUSY = "the machine was busy during this measurement, so treat these times as indicative"


def _fmt(v: float | None, kind: str = "f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if kind == "e" or abs(v) >= 1e4:
        return f"{v:.1e}"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def _table(head: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _lookup(results: dict) -> dict:
    return {(t["backend"], t["dtype"], t["batch"], t["n"], t["method"], t["phase"]): t for t in results["timings"]}


def _ms(tab: dict, key: tuple, method: str, phase: str) -> float | None:
    row = tab.get((*key, method, phase))
    return None if row is None else row.get("ms")


def _size_keys(results: dict) -> list[tuple]:
    """(backend, dtype, batch, n) in the order measured, grouped by backend."""
    keys = list(dict.fromkeys((t["backend"], t["dtype"], t["batch"], t["n"]) for t in results["timings"]))
    order = list(dict.fromkeys(k[0] for k in keys))
    return sorted(keys, key=lambda k: order.index(k[0]))


def _contradicts(ms: dict[str, float | None]) -> list[str]:
    """The phases of one method that contradict each other: a part slower than the whole."""
    out = []
    for part in ("fwd", "bwd"):
        t_part, t_whole = ms.get(part), ms.get("fwd+bwd")
        if t_part is not None and t_whole is not None and t_part > t_whole:
            out.append(part)
    return out


def _spread(tab: dict, key: tuple, method: str) -> float | None:
    """Largest interquartile range over the phases, relative to the median; None with fewer than 3 repeats."""
    vals = []
    for p in PHASES:
        row = tab.get((*key, method, p), {})
        if row.get("ms") and row.get("q3") is not None and len(row.get("runs_ms", ())) >= 3:
            vals.append((row["q3"] - row["q1"]) / row["ms"])
    return max(vals) if vals else None


def time_tables(results: dict) -> list[tuple[str, str]]:
    """One markdown table of times and ratios per (backend, dtype, batch, n)."""
    tab = _lookup(results)
    methods = list(dict.fromkeys(t["method"] for t in results["timings"]))
    roofs = {(r["backend"], r["dtype"], r["batch"], r["n"]): r for r in results["roofline"]}
    out = []
    for key in _size_keys(results):
        rows = []
        for m in methods:
            ms = {p: _ms(tab, key, m, p) for p in PHASES}
            if all(v is None for v in ms.values()):
                continue
            bounds = {p: tab[key + (m, p)].get("bound_ms") if (*key, m, p) in tab else None for p in PHASES}
            sp = _spread(tab, key, m)
            rows.append(
                [
                    m + (" (!)" if _contradicts(ms) else ""),
                    *(_fmt(ms[p]) for p in PHASES),
                    "–" if sp is None else f"{100 * sp:.0f}%",
                    _fmt(_ratio(ms["fwd"], bounds["fwd"])),
                    _fmt(_ratio(ms["bwd"], bounds["bwd"])),
                    _fmt(_ratio(ms["fwd+bwd"], _ms(tab, key, PAPER, "fwd+bwd"))),
                    _fmt(_ratio(ms["fwd"], _ms(tab, key, EIGH, "fwd"))),
                    _fmt(_ratio(ms["fwd+bwd"], _ms(tab, key, EIGH, "fwd+bwd"))),
                ]
            )
        if not rows:
            continue
        r = roofs.get(key, {})
        title = (
            f"{key[0]}, {key[1]}, batch {key[2]} of {key[3]}x{key[3]} (ms, median): one batched matmul "
            f"{_fmt(r.get('matmul_ms'))}, SPD solve {_fmt(r.get('spd_solve_ms'))}, "
            f"LU solve {_fmt(r.get('lu_solve_ms'))}"
        )
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
            m = BY_LABEL[label]
            counts = matmul_counts(m, dtype=r["dtype"], on_cpu=not r["backend"].endswith(("cuda", "gpu")), n=r["n"])
            if counts is None or (*key, label, "fwd") not in tab or _ms(tab, key, label, "fwd") is None:
                continue
            fwd_mm, solves, bwd_mm, kind = counts
            fb, bb = tab[key + (label, "fwd")].get("bound_ms"), tab[key + (label, "bwd")].get("bound_ms")
            solve = f" + {solves} {'SPD' if kind == 'spd' else 'LU'} solve" if solves else ""
            rows.append(
                [
                    label,
                    f"{fwd_mm}{solve}",
                    _fmt(fb),
                    _fmt(_ratio(_ms(tab, key, label, "fwd"), fb)),
                    str(bwd_mm) if bwd_mm >= 0 else "autodiff",
                    _fmt(bb),
                    _fmt(_ratio(_ms(tab, key, label, "bwd"), bb)),
                ]
            )
        if rows:
            title = (
                f"{key[0]}, {key[1]}, batch {key[2]} of {key[3]}x{key[3]}: one matmul {_fmt(r.get('matmul_ms'))}"
                f" ms, SPD solve {_fmt(r.get('spd_solve_ms'))} ms, LU solve {_fmt(r.get('lu_solve_ms'))} ms"
            )
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
            rows.append(
                [
                    m,
                    *(_fmt(by.get(c, {}).get("value_err"), "e") for c in conds),
                    *(_fmt(by.get(c, {}).get("grad_err"), "e") for c in conds),
                ]
            )
        a0 = rows_in[0]
        out.append(
            (
                f"{be}, {a0['dtype']}, n = {a0['n']}: relative error of value and gradient vs condition number",
                _table(head, rows),
            )
        )
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
        parts.append(f"an eigh-based forward alone takes {_fmt(eigh)} of the paper's forward+backward")
    ratios = {
        m.label: _ratio(t(m.label, "fwd+bwd"), t(PAPER, "fwd+bwd"))
        for m in METHODS
        if m.kind == "matfunc" and m.label not in ("auto", "eig")
    }
    others = {k: v for k, v in ratios.items() if v is not None}
    if others:
        best = min(others, key=lambda k: others[k])
        parts.append(f"fastest method without eigh: {best} {_fmt(others[best])}")
    return "; ".join(parts)


def target_table(results: dict, *, n: int = 64, batch: int = 256, dtype: str = "float32") -> str | None:
    """matfunc's performance targets, in plain words, at (float32, batch 256, n = 64) where measured."""
    tab = _lookup(results)
    rows = []

    def add(be, what, num, den, limit, note=""):
        r = _ratio(num, den)
        ok = "–" if r is None else ("yes" if (r <= limit if limit > 0 else r >= -limit) else "no")
        lim = f"at most {limit:g}x" if limit > 0 else f"at least {-limit:g}x"
        rows.append([be, what, "–" if r is None else f"{_fmt(r)}x", lim, ok, note])

    for be in dict.fromkeys(t["backend"] for t in results["timings"]):
        key = (be, dtype, batch, n)
        if (*key, "pade", "fwd") not in tab:
            continue
        t = functools.partial(_ms, tab, key)
        bound = lambda m, p, key=key: tab.get((*key, m, p), {}).get("bound_ms")  # noqa: E731
        add(
            be,
            "Padé forward vs its matrix-product bound (products + one SPD solve)",
            t("pade", "fwd"),
            bound("pade", "fwd"),
            1.3,
        )
        add(
            be,
            "Lyapunov backward (after Padé) vs its matrix-product bound",
            t("pade", "bwd"),
            bound("pade", "bwd"),
            1.3,
        )
        add(
            be,
            "matfunc's Lyapunov backward at the paper's settings vs the paper's backward",
            t("paper-settings", "bwd"),
            t(PAPER, "bwd"),
            0.7,
        )
        add(
            be,
            '"auto" forward+backward vs the paper\'s forward+backward',
            t("auto", "fwd+bwd"),
            t(PAPER, "fwd+bwd"),
            0.5,
            _auto_floor_note(t),
        )
        for what, word in (("value_err", "value"), ("grad_err", "gradient")):
            add(
                be,
                f"how much more accurate \"auto\"'s {word} is than the paper's (condition number 1e2)",
                _acc(results, be, PAPER, 1e2, what),
                _acc(results, be, "auto", 1e2, what),
                -1000,
            )
        if be.startswith("torch"):
            add(
                be,
                "matfunc at the paper's settings vs the paper's code, forward+backward",
                t("paper-settings", "fwd+bwd"),
                t(PAPER, "fwd+bwd"),
                0.8,
            )
            add(be, "Padé forward vs an eigh-based forward", t("pade", "fwd"), t(EIGH, "fwd"), 1.0)
        if be.startswith("jax"):
            add(
                be,
                '"auto" value and gradient vs jax.scipy.linalg.sqrtm\'s value alone',
                t("auto", "fwd+bwd"),
                t(JAX_SCIPY, "fwd"),
                0.5,
                "jax.scipy.linalg.sqrtm has no gradient",
            )
            add(
                be,
                '"auto" value and gradient vs an eigh-based root\'s value and gradient',
                t("auto", "fwd+bwd"),
                t(EIGH, "fwd+bwd"),
                1.0,
            )
    if not rows:
        return None
    return _table(TARGET_COLUMNS, rows)


def claim_table(results: dict, *, n: int = 64, batch: int = 256, dtype: str = "float32") -> str | None:
    """The paper's claim on our terms: MPA fwd + Lyapunov bwd vs NS fwd + unrolled NS bwd vs eigh."""
    tab = _lookup(results)
    rows = []
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
    for be in dict.fromkeys(t["backend"] for t in results["timings"]):
        key = (be, dtype, batch, n)
        vals = {k: _ms(tab, key, *v) for k, v in cand.items()}
        if all(v is None for v in vals.values()):
            continue
        fwd = {k: v for k, v in vals.items() if "fwd" in k and v is not None}
        bwd = {k: v for k, v in vals.items() if "bwd" in k and v is not None}
        win = lambda d: min(d, key=d.get) if d else "–"  # noqa: E731
        rows.append([be, *(_fmt(v) for v in vals.values()), win(fwd), win(bwd)])
    if not rows:
        return None
    return _table(("backend", *cand, "fastest fwd", "fastest bwd"), rows)


def contradictions(results: dict) -> list[str]:
    """Measurements that cannot all be right: a forward, or a backward alone, slower than forward+backward of
    the same method at the same size. Each is a line for the report."""
    tab = _lookup(results)
    out = []
    for key in _size_keys(results):
        for m in dict.fromkeys(t["method"] for t in results["timings"]):
            ms = {p: _ms(tab, key, m, p) for p in PHASES}
            for part in _contradicts(ms):
                word = "forward" if part == "fwd" else "backward alone"
                out.append(
                    f"- `{m}` on {key[0]}, {key[1]}, batch {key[2]} of {key[3]}x{key[3]}: the {word} "
                    f"({_fmt(ms[part])} ms) took longer than forward+backward ({_fmt(ms['fwd+bwd'])} ms); "
                    f"{BUSY}."
                )
    return out


def gap_lines(results: dict) -> list[str]:
    """Why cells are empty: failures (e.g. a baseline that raises), methods without a phase, and what the time
    budget left out."""
    seen: dict[tuple[str, str, str], list[str]] = {}
    tab = _lookup(results)
    for t in results["timings"]:
        fwd = tab.get((t["backend"], t["dtype"], t["batch"], t["n"], t["method"], "fwd"), {})
        if t.get("error") and not (t["error"].startswith("n/a") and fwd.get("ms") is None):  # skip absent methods
            key = (t["method"], t["phase"], t["error"])
            seen.setdefault(key, []).append(f"{t['backend']} n={t['n']} b={t['batch']} {t['dtype']}")
    out = []
    for (method, phase, err), where in seen.items():
        kind = "not applicable" if err.startswith("n/a") else "skipped" if err == SKIPPED else "FAILED"
        places = ", ".join(dict.fromkeys(w.split(" ")[0] for w in where))
        detail = "the time budget was spent" if err == SKIPPED else err
        out.append(f"- `{method}` {phase}: {kind} ({detail}) on {places} ({len(where)} sizes)")
    skipped = results.get("skipped", [])
    sizes = [s for s in skipped if s["what"] == "timing"]
    if sizes:
        listed = ", ".join(f"{s['backend']} {s['dtype']} {s['batch']}x{s['n']}" for s in sizes)
        out.append(f"- not timed, the time budget was spent: {listed}")
    acc = [s for s in skipped if s["what"] == "accuracy"]
    if acc:
        listed = ", ".join(dict.fromkeys(f"{s['backend']} {s['method']}" for s in acc))
        out.append(f"- accuracy not measured, the time budget was spent: {listed}")
    return out


def report(results: dict, pngs: list[str]) -> str:
    """The markdown report (machine header, tables, plots referenced by relative path)."""
    mi = results["machine"]
    lines = ["# matfunc benchmark report", ""]
    lines += [f"- {k}: {v}" for k, v in mi.items()]
    lines += [
        "- timings: median of repeated runs after warm-up, all methods of one size timed in interleaved rounds (one "
        "run of each per round, in a shuffled order, so machine noise hits them alike); JAX jitted; matfunc called "
        "with `check=False`; `bwd` = the backward alone after a forward; `spread` = the largest interquartile range "
        "of the repeats over the three phases, relative to the median (`–`: fewer than 3 repeats; the plots show "
        "every repeat's range); "
        "`bound` = matrix products x one batched matmul (+ the linear solve: `SPD` is the core's `spd_solve` "
        "primitive, Cholesky where the backend registers it) measured in the same run; `(!)` marks a method whose "
        "forward or backward alone took longer than its forward+backward (see Inconsistent measurements)",
        "- `paper-ref` = the paper's reference (MPA [5/5] + 8-step Lyapunov, Frobenius scaling, written from "
        "its equations: `matfunc/_reference.py`); `eigh-ref` = eigh-based sqrt with the exact backward",
        "",
    ]
    if results.get("gpu_check"):
        from .gpu import check_section

        lines += [check_section(results["gpu_check"]), ""]
    lines += ["## Methods", ""]
    lines += [f"- `{m}`: {note}" for m, note in results["methods"].items()]
    tt = target_table(results)
    if tt:
        lines += [
            "",
            "## Targets (float32, batch 256 of 64x64; ratios from this run)",
            "",
            "Each row is a goal matfunc sets itself, measured in this run: `measured` is the first time (or "
            "error) divided by the second, `met` whether it is within the goal.",
            "",
            tt,
        ]
    ct = claim_table(results)
    if ct:
        lines += ["", "## The paper's claim on our terms (float32, batch 256, n = 64, ms)", "", ct]
    flags = contradictions(results)
    if flags:
        lines += [
            "",
            "## Inconsistent measurements",
            "",
            "A part cannot take longer than the whole: these cells were disturbed by other work on the machine.",
            "",
            *flags,
        ]
    for section, tables in (
        ("Times", time_tables(results)),
        ("Roofline", roofline_tables(results)),
        ("Accuracy", accuracy_tables(results)),
    ):
        if not tables:
            continue
        lines += ["", f"## {section}", ""]
        for title, table in tables:
            lines += [f"### {title}", "", table, ""]
    gaps = gap_lines(results)
    if gaps:
        lines += ["## Not measured", "", *gaps, ""]
    if pngs:
        lines += ["## Plots", ""]
        lines += [f"![{p[:-4]}]({p})" for p in pngs]
    return "\n".join(lines) + "\n"
