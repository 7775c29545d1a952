"""``{accuracy-table}``: the accuracy tables of docs/accuracy.md, computed by matfunc when the docs are built.

The matrices are those of the main job (``python -m matfunc``, :func:`matfunc.__main__.table_matrices`): a batch
of 8 matrices ``A = Q diag(w) Q^T`` of order 64 with ``w`` log-spaced from 1 down to ``1/cond``. Each cell is the
relative error ``||Y - Y_exact||_F / ||Y_exact||_F`` against the root built from ``Q`` and ``w``, with
``check=False`` (the accuracy the method reaches; with the default ``check=True`` a result outside the documented
accuracy raises instead). Two forms::

    ```{accuracy-table} sqrtm
    :conds: 1e1 1e2 1e4 1e6 1e8
    ```

one row per method variant (NumPy, float64), and::

    ```{accuracy-table} sqrtm
    :dtype: float32
    :by-backend:
    :conds: 1e1 1e2 1e3 1e4 1e5
    ```

one row per installed backend (NumPy, PyTorch, JAX) and method (``"eig"``, ``"newton-schulz"``). A call that raises
is shown as ``error: <type>``; an extension that fails is a build error.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

__all__ = ["VARIANTS", "errors", "setup"]

BATCH, N = 8, 64

# function -> [(row label, keyword arguments)]
VARIANTS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "sqrtm": [
        ('"eig"', {"method": "eig"}),
        ('"newton-schulz" (default schedule)', {"method": "newton-schulz"}),
        ('"newton-schulz", schedule="scaled"', {"method": "newton-schulz", "schedule": "scaled"}),
        ('"pade" [5/5] (default degree)', {"method": "pade"}),
        ('"pade" [8/8]', {"method": "pade", "degree": 8}),
        ('"pade" [12/12]', {"method": "pade", "degree": 12}),
        ('"taylor" degree 5', {"method": "taylor", "degree": 5}),
        ('"taylor" degree 10 (default)', {"method": "taylor"}),
        ('paper\'s MPA ("pade", 5, scale="frobenius")', {"method": "pade", "degree": 5, "scale": "frobenius"}),
    ],
}
VARIANTS["inv_sqrtm"] = [
    v
    for v in VARIANTS["sqrtm"]
    if v[0].startswith(('"eig"', '"newton-schulz"', '"pade" [5', '"pade" [12', '"taylor" degree 10'))
]


def _backends() -> dict[str, tuple[Any, Any]]:
    """name -> (to_backend, to_numpy) for the installed CPU backends."""
    out: dict[str, tuple[Any, Any]] = {"NumPy": (np.asarray, np.asarray)}
    if importlib.util.find_spec("torch") is not None:
        import torch

        out["PyTorch"] = (torch.from_numpy, lambda y: y.numpy())
    if importlib.util.find_spec("jax") is not None:
        import jax.numpy as jnp

        out["JAX"] = (jnp.asarray, np.asarray)
    return out


def errors(fn: str, kwargs: dict[str, Any], conds: list[float], dtype: str, backend: str = "NumPy") -> list[str]:
    """The table's cells: relative error of ``matfunc.<fn>(A, **kwargs, check=False)`` per condition number."""
    import matfunc
    from matfunc.__main__ import table_matrices

    to, back = _backends()[backend]
    cells = []
    for cond in conds:
        a, root, inv_root = table_matrices(BATCH, N, cond, dtype)
        ref = inv_root if fn == "inv_sqrtm" else root
        try:
            y = back(getattr(matfunc, fn)(to(a), **kwargs, check=False)).astype(np.float64)
        except Exception as exc:  # a failing call is a cell, as in the main job
            cells.append(f"error: {type(exc).__name__}")
            continue
        cells.append(_sci(float(np.linalg.norm(y - ref) / np.linalg.norm(ref))))
    return cells


def _sci(x: float) -> str:
    """``1.9e-2``, ``0.13``, ``1.0``: two significant digits, plain from 0.1 up."""
    if not np.isfinite(x):
        return str(x)
    if 0.1 <= x < 100:
        return format(x, "#.2g")
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant}e{int(exp)}"


def _table(header: list[str], rows: list[list[str]], literal_first: bool) -> nodes.table:
    table = nodes.table(classes=["accuracy-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for i in range(len(header)):
        group += nodes.colspec(colwidth=4 if i == 0 else 1)

    def row(cells: list[str], head: bool) -> nodes.row:
        r = nodes.row()
        for j, text in enumerate(cells):
            para = nodes.paragraph()
            para += nodes.literal(text, text) if (j == 0 and literal_first and not head) else nodes.Text(text)
            r += nodes.entry("", para)
        return r

    thead = nodes.thead()
    thead += row(header, True)
    tbody = nodes.tbody()
    for cells in rows:
        tbody += row(cells, False)
    group += thead
    group += tbody
    return table


class AccuracyTable(SphinxDirective):
    required_arguments = 1  # sqrtm | inv_sqrtm
    option_spec = {"conds": directives.unchanged_required, "dtype": directives.unchanged, "by-backend": directives.flag}

    def run(self) -> list[nodes.Node]:
        fn = self.arguments[0]
        if fn not in VARIANTS:
            raise self.error(f"accuracy-table: unknown function {fn!r}; expected one of {sorted(VARIANTS)}")
        if self.env.app.builder.name == "doctest":  # nothing to test here: the html build computes the tables
            return [nodes.paragraph(text=f"(accuracy table of {fn}, computed by the html build)")]
        conds = [float(c) for c in self.options.get("conds", "1e1 1e2 1e4 1e6 1e8").split()]
        dtype = self.options.get("dtype", "float64")
        header = ["", *(f"cond {c:.0e}".replace("e+0", "e") for c in conds)]
        if "by-backend" in self.options:
            header[0] = f"{fn}, {dtype}"
            rows = [
                [f"{name} {method}", *errors(fn, {"method": method}, conds, dtype, name)]
                for name in _backends()
                for method in ("eig", "newton-schulz")
            ]
            return [_table(header, rows, literal_first=False)]
        header[0] = f"{fn} method ({dtype}, NumPy)"
        rows = [[label, *errors(fn, kwargs, conds, dtype)] for label, kwargs in VARIANTS[fn]]
        return [_table(header, rows, literal_first=True)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("accuracy-table", AccuracyTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
