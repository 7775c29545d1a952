"""Sphinx configuration of the matfunc documentation.

Build (warnings are errors) and run every example::

    sphinx-build -W -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest

Both run in ``tests/test_docs.py``. The build needs no network: MathJax is served from ``_static``
(``sphinx-mathjax-offline``) and the intersphinx inventories are local (``_intersphinx/``).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))  # matfunc_eval: numbers about the code computed at build time
sys.path.insert(0, os.path.abspath("../examples"))  # examples/fidelity.py, imported by the complex and CuPy guides

import matfunc  # noqa: E402

project = "matfunc"
author = "matfunc developers"
copyright = "2026, matfunc developers"
release = matfunc.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # copies MathJax 3 into _static and points mathjax_path at it: no CDN
    "matplotlib.sphinxext.plot_directive",  # figures computed by matfunc at build time (docs/_plots/*.py)
    "matfunc_eval",  # {matfunc-eval}`expr` / {matfunc-math}`tex(expr)`: values computed at build time (_ext/)
    "matfunc_tables",  # short table cells (numbers) never break on narrow screens (_ext/, _static/matfunc.css)
    "accuracy_tables",  # {accuracy-table}: the accuracy tables of accuracy.md, computed at build time (_ext/)
]

# Figures: ```{plot} _plots/name.py``` on a page runs that script at build time (Agg backend, offline); the
# images land in the build folder only, never in the repository.
plot_basedir = os.path.abspath(os.path.dirname(__file__))
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.figsize": (6.4, 3.6), "axes.grid": True, "grid.alpha": 0.3, "savefig.bbox": "tight"}
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\nimport matfunc\n"

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_intersphinx", "_plots", "benchmarks/report.md"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"matfunc {release}"
html_static_path = ["_static"]
html_css_files = ["matfunc.css"]

# Offline MathJax: sphinx-mathjax-offline sets mathjax_path to the bundled "mathjax/tex-chtml.js"; its
# CommonHTML output uses the woff fonts shipped next to it.
mathjax3_config = {"tex": {"macros": {"sym": r"\operatorname{sym}", "diag": r"\operatorname{diag}"}}}

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures carry them; numpy-style docstrings describe the types
napoleon_google_docstring = False
napoleon_numpy_docstring = True

# Local inventories (see _intersphinx/make_inventories.py): the build never touches the network.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", ("_intersphinx/python.inv",)),
    "numpy": ("https://numpy.org/doc/stable/", ("_intersphinx/numpy.inv",)),
    "scipy": ("https://docs.scipy.org/doc/scipy/", ("_intersphinx/scipy.inv",)),
    "torch": ("https://docs.pytorch.org/docs/stable/", ("_intersphinx/torch.inv",)),
    "jax": ("https://docs.jax.dev/en/latest/", ("_intersphinx/jax.inv",)),
}

# Every example on every page runs under `sphinx-build -b doctest`.
doctest_global_setup = """
import importlib.util
import numpy as np
import matfunc

def _has(mod):
    try:
        return importlib.util.find_spec(mod) is not None
    except ModuleNotFoundError:
        return False

HAS_TORCH = _has("torch")
HAS_JAX = _has("jax")
HAS_NN = HAS_TORCH and _has("matfunc.nn")
HAS_STRICT = _has("array_api_strict")
HAS_DASK = _has("dask")
HAS_SCIPY = _has("scipy")
if HAS_JAX:
    import jax
    jax.config.update("jax_enable_x64", True)

def spd(n, cond, batch=(), seed=0):
    '''A = Q diag(w) Q^T with w log-spaced from 1 to 1/cond (the test matrices of the accuracy tables).'''
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    w = np.logspace(0, -np.log10(cond), n)
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)

def rel(x, y):
    return float(np.linalg.norm(x - y) / np.linalg.norm(y))
"""
doctest_default_flags = 0
import doctest as _doctest  # noqa: E402

doctest_default_flags = _doctest.ELLIPSIS | _doctest.NORMALIZE_WHITESPACE | _doctest.DONT_ACCEPT_TRUE_FOR_1
