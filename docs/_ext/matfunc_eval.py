r"""Numbers about the code, computed when the docs are built, so the text cannot drift from the code.

Two MyST roles evaluate a Python expression with matfunc imported and insert its value:

- ``{matfunc-eval}`` inserts text: ``{matfunc-eval}`default_forward_iters(EPS64)``` -> ``10``;
- ``{matfunc-math}`` inserts inline math from a LaTeX string: ``{matfunc-math}`tex(default_coverage(EPS64))```
  -> :math:`1.6 \cdot 10^{8}`;
- ``{matfunc-code}`` inserts inline code: ``{matfunc-code}`repr(DEFAULT_SCHEDULE)``` -> ``'polar-express'``.

The expression sees ``matfunc``, ``np``, ``math``, every public name of ``matfunc.core.options``,
``matfunc.core.coefficients``, ``matfunc.core.root_schedules`` and ``matfunc.core.polar_schedules`` (e.g.
``default_ns_iters``, ``ns_condition_covered``, ``root_covered``, ``polar_express_iters``), ``EPS64``/``EPS32``
(the float64/float32 machine epsilons), and the formatters ``sci(x, digits=2)`` (``"1.5e8"``) and
``tex(x, digits=2)`` (``"1.5 \cdot 10^{8}"``). A value that is not a string is formatted with ``str``. An
expression that fails is a build error (``sphinx-build -W`` fails), never a silent placeholder.
"""

from __future__ import annotations

import math
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxRole

__all__ = ["sci", "tex", "evaluate", "setup"]


def _plain(x: float, digits: int) -> str:
    """``x`` rounded to ``digits`` significant digits, without an exponent (``430``, ``0.0023``)."""
    if x == 0:
        return "0"
    places = digits - 1 - math.floor(math.log10(abs(x)))
    return f"{round(x, places):.{max(places, 0)}f}"


def sci(x: float, digits: int = 2) -> str:
    """``x`` with ``digits`` significant digits in the docs' plain-text style: ``1.5e8``, ``2.3e-3``, ``430``."""
    x = float(x)
    if x == 0 or 1e-2 <= abs(x) < 1e4:
        return _plain(x, digits)
    mant, exp = f"{x:.{digits - 1}e}".split("e")
    return f"{mant}e{int(exp)}"


def tex(x: float, digits: int = 2) -> str:
    r"""``x`` as LaTeX: ``1.5 \cdot 10^{8}`` (plain digits between 0.01 and 10^4)."""
    x = float(x)
    if x == 0 or 1e-2 <= abs(x) < 1e4:
        return _plain(x, digits)
    mant, exp = f"{x:.{digits - 1}e}".split("e")
    if float(mant) == 1.0:
        return f"10^{{{int(exp)}}}"
    return rf"{mant} \cdot 10^{{{int(exp)}}}"


_NAMESPACE: dict[str, Any] | None = None


def _namespace() -> dict[str, Any]:
    global _NAMESPACE
    if _NAMESPACE is None:
        import numpy as np

        import matfunc
        from matfunc.core import coefficients, options, polar_schedules, root_schedules

        ns: dict[str, Any] = {"matfunc": matfunc, "np": np, "math": math, "sci": sci, "tex": tex}
        for mod in (coefficients, root_schedules, polar_schedules, options):
            ns.update({k: v for k, v in vars(mod).items() if not k.startswith("_") and callable(v) or k.isupper()})
        ns.update(EPS64=float(np.finfo(np.float64).eps), EPS32=float(np.finfo(np.float32).eps))
        _NAMESPACE = ns
    return _NAMESPACE


def evaluate(expr: str) -> str:
    """The value of ``expr`` in the roles' namespace, as a string."""
    value = eval(expr, dict(_namespace()))  # noqa: S307 - the docs' own source, at build time
    return value if isinstance(value, str) else str(value)


class _EvalRole(SphinxRole):
    kind = "text"

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        try:
            value = evaluate(self.text)
        except Exception as exc:  # noqa: BLE001 - reported as a build error naming the expression
            msg = self.inliner.reporter.error(
                f"{self.name}: evaluating {self.text!r} failed: {type(exc).__name__}: {exc}", line=self.lineno
            )
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        if self.kind == "math":
            return [nodes.math(value, value)], []
        if self.kind == "code":
            return [nodes.literal(value, value)], []
        return [nodes.Text(value)], []


class _MathRole(_EvalRole):
    kind = "math"


class _CodeRole(_EvalRole):
    kind = "code"


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_role("matfunc-eval", _EvalRole())
    app.add_role("matfunc-math", _MathRole())
    app.add_role("matfunc-code", _CodeRole())
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
