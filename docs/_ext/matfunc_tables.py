"""Tables that stay readable on narrow screens.

Furo already scrolls a wide table sideways; what hurts is a browser breaking ``3.9e-07`` after its hyphen into
``3.9e-`` / ``07``. Every table cell whose text is one short token (no space, at most 16 characters: numbers,
``1e-3``, ``float32``) gets the class ``mf-nowrap``, which ``_static/matfunc.css`` keeps on one line; cells of
prose still wrap.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx

__all__ = ["mark_short_cells", "setup"]

MAX_TOKEN = 16


def mark_short_cells(app: Sphinx, doctree: nodes.document) -> None:
    for entry in doctree.findall(nodes.entry):
        text = entry.astext().strip()
        if text and len(text) <= MAX_TOKEN and not any(c.isspace() for c in text):
            entry["classes"].append("mf-nowrap")


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-read", mark_short_cells)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
