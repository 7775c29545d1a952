"""The documentation builds with warnings as errors, every example in it runs, and it works offline.

Runs ``sphinx-build -W -b html`` and ``-b doctest`` on ``docs/`` in a subprocess (as CI does); skipped when the
``docs`` extra (Sphinx, MyST, furo, sphinx-mathjax-offline) is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCS_EXTRA = ("sphinx", "myst_parser", "furo", "sphinx-mathjax-offline")


def _missing() -> list[str]:
    return [m for m in DOCS_EXTRA if importlib.util.find_spec(m) is None]


pytestmark = pytest.mark.skipif(bool(_missing()), reason=f"docs extra not installed (missing: {_missing()})")


def _build(builder: str, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")  # warnings of the examples' libraries are not doc warnings
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder, str(DOCS), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    res = _build("html", out)
    assert res.returncode == 0, f"sphinx-build -W -b html failed:\n{res.stdout}\n{res.stderr}"
    return out


def test_docs_examples_run(tmp_path: Path) -> None:
    res = _build("doctest", tmp_path)
    report = (tmp_path / "output.txt").read_text() if (tmp_path / "output.txt").exists() else ""
    assert res.returncode == 0, f"sphinx-build -b doctest failed:\n{res.stdout}\n{res.stderr}\n{report}"
    m = re.search(r"(\d+) tests\s+(\d+) failures in tests", report)
    assert m is not None, report
    assert int(m.group(1)) >= 100 and int(m.group(2)) == 0, report


def test_no_network_resources(html: Path) -> None:
    """No page loads scripts, styles or fonts from a CDN; MathJax is served locally."""
    remote = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)
    pages = sorted(html.rglob("*.html"))
    assert len(pages) > 10
    offenders = {str(p.relative_to(html)): remote.findall(p.read_text()) for p in pages}
    assert not {k: v for k, v in offenders.items() if v}
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    page = (html / "derivations" / "sign_lyapunov.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page
    css_urls = []
    for css in html.rglob("*.css"):
        css_urls += re.findall(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)", css.read_text(errors="replace"))
    assert not css_urls


def test_api_reference_covers_public_names(html: Path) -> None:
    import matfunc

    api = (html / "api.html").read_text()
    for name in matfunc.__all__:
        assert f'id="matfunc.{name}"' in api, name


def test_derivation_pages_link_to_the_code(html: Path) -> None:
    pages = sorted((html / "derivations").glob("*.html"))
    assert len(pages) >= 8
    for page in pages:
        text = page.read_text()
        assert re.search(r'href="\.\./api\.html#matfunc\.', text), page.name  # the function it derives
        assert "\\(" in text or "\\[" in text, f"{page.name} has no math"


def test_intersphinx_links_resolve_offline(html: Path) -> None:
    """Cross-references to NumPy, SciPy, PyTorch and JAX resolve from the local inventories."""
    quick = (html / "guides" / "quickstart.html").read_text()
    for url in (
        "docs.jax.dev/en/latest/_autosummary/jax.jit.html",
        "docs.pytorch.org/docs/stable/tensors.html",
        "numpy.org/doc/stable/reference/generated/numpy.ndarray.html",
    ):
        assert f'href="https://{url}' in quick, url
    lyap = (html / "derivations" / "sign_lyapunov.html").read_text()
    assert 'href="https://docs.scipy.org/doc/scipy/reference/generated/scipy.linalg.solve_continuous_lyapunov' in lyap


class _Links(HTMLParser):
    """The ids, the link targets, the image sources and the loaded resources of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.images: list[dict[str, str]] = []
        self.resources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "img":
            self.images.append(a)
        if tag in ("img", "script") and a.get("src"):
            self.resources.append(a["src"])
        if tag == "link" and a.get("href") and "stylesheet" in a.get("rel", ""):
            self.resources.append(a["href"])


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(errors="replace"))
    return parser


def test_internal_links_resolve(html: Path) -> None:
    """Every relative link of every built page names a file that exists and, with a #fragment, an id in it; every
    image, script and stylesheet it loads exists."""
    parsed: dict[Path, _Links] = {}

    def links(page: Path) -> _Links:
        if page not in parsed:
            parsed[page] = _parse(page)
        return parsed[page]

    pages = sorted(html.rglob("*.html"))
    assert len(pages) > 10
    broken = []
    checked = 0
    for page in pages:
        for href in links(page).hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue  # external: the intersphinx test covers those that matter
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            rel = page.relative_to(html)
            if not target.is_file():
                broken.append(f"{rel}: {href} (no file {target})")
                continue
            checked += 1
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in links(target).ids:
                broken.append(f"{rel}: {href} (no id {fragment!r} in {target.relative_to(html)})")
        for src in links(page).resources:
            parts = urlsplit(src)
            if not (parts.scheme or parts.netloc) and not (page.parent / unquote(parts.path)).is_file():
                broken.append(f"{page.relative_to(html)}: loads {src}, which is not in the build")
    assert checked > 500, checked
    assert not broken, "\n".join(broken)


def test_every_derivation_page_has_a_figure_computed_at_build_time(html: Path) -> None:
    """Each derivation page shows at least one image made by the plot directive (docs/_plots), present on disk."""
    pages = sorted((html / "derivations").glob("*.html"))
    assert len(pages) >= 15
    missing = []
    for page in pages:
        made = [
            img for img in _parse(page).images if "plot-directive" in img.get("class", "").split() and img.get("src")
        ]
        files = [(page.parent / unquote(img["src"])).resolve() for img in made]
        if not made or not all(f.is_file() and f.stat().st_size > 1000 for f in files):
            missing.append(f"{page.name}: {[img.get('src') for img in made]}")
    assert not missing, "derivation pages without a figure computed at build time: " + ", ".join(missing)


def _eval_ext():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import matfunc_eval
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return matfunc_eval


def test_build_time_numbers_are_the_code_s() -> None:
    """The {matfunc-eval} role's values are those of the code, formatted as the pages write numbers."""
    import numpy as np

    from matfunc.core import options

    ext = _eval_ext()
    eps = float(np.finfo(np.float64).eps)
    assert ext.evaluate("default_forward_iters(EPS64)") == str(options.default_forward_iters(eps))
    assert ext.evaluate("sci(default_coverage(EPS64), 3)") == f"{options.default_coverage(eps):.2e}".replace("e+0", "e")
    assert (ext.sci(1.55e8, 3), ext.sci(2.3e-3), ext.sci(430.0), ext.sci(0.0)) == ("1.55e8", "2.3e-3", "430", "0")
    assert (ext.tex(1.55e8, 3), ext.tex(1e-5), ext.tex(12.0)) == (r"1.55 \cdot 10^{8}", "10^{-5}", "12")


def test_a_failing_build_time_number_fails_the_build(tmp_path: Path) -> None:
    """An expression that no longer evaluates (a renamed function) is a build error, not a silent placeholder."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\nextensions = ['myst_parser', 'matfunc_eval']\n"
    )
    (src / "index.md").write_text("# t\n\nSteps: {matfunc-eval}`default_forward_iters(EPS64)`.\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(src), str(tmp_path / "out")]
    good = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert good.returncode == 0, good.stderr
    from matfunc.core.options import default_forward_iters

    steps = default_forward_iters(2.0**-52)
    assert f"Steps: {steps}." in re.sub(r"<[^>]+>", "", (tmp_path / "out" / "index.html").read_text())
    (src / "index.md").write_text("# t\n\nSteps: {matfunc-eval}`no_such_function(EPS64)`.\n")
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert bad.returncode != 0
    assert "no_such_function" in bad.stderr
