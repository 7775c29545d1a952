"""The package as users install it, and the README as a newcomer reads it.

CI (``.ci/test.sh``) runs the whole suite from the unpacked sdist against the installed wheel with
``MATFUNC_TEST_INSTALLED=1``: the tests marked ``installed`` below check that this is what really happens (the
package imported from site-packages, never from a source tree, the docs build importing the same) and inspect the
built sdist and wheel (``MATFUNC_DIST_DIR``). In a development checkout they are skipped; everything else runs in
both.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import matfunc

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = os.environ.get("MATFUNC_TEST_INSTALLED") == "1"
installed = pytest.mark.skipif(not INSTALLED, reason="checks the installed wheel: run by .ci/test.sh")


def _under(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


# --- the installed package ------------------------------------------------------------------------------------


@installed
def test_matfunc_is_imported_from_site_packages_not_a_source_tree():
    here = Path(matfunc.__file__)
    assert _under(here, Path(sysconfig.get_path("purelib"))), here
    source = os.environ.get("MATFUNC_SOURCE_TREE")
    assert source, "MATFUNC_SOURCE_TREE (the checkout .ci/test.sh ran from) is not set"
    assert not _under(here, Path(source) / "matfunc"), here
    assert not (ROOT / "matfunc").exists()  # the sdist copy the tests run from has no package to fall back on


@installed
def test_the_installed_distribution_is_the_wheel_of_this_version():
    dist = importlib.metadata.distribution("matfunc")
    assert dist.version == matfunc.__version__  # one source of the version: the metadata reads __version__
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    assert not direct.get("dir_info", {}).get("editable", False), direct
    assert direct.get("url", "").endswith(".whl"), direct


@installed
def test_docs_conf_imports_the_installed_package():
    """Sphinx runs docs/conf.py from the docs folder; conf.py puts the folder above on sys.path, which for the
    tests run by CI is the sdist copy without its package: the docs are built from the installed matfunc."""
    code = "import runpy, sys; runpy.run_path('conf.py'); print(sys.modules['matfunc'].__file__)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "docs", check=True)
    assert _under(Path(res.stdout.strip()), Path(sysconfig.get_path("purelib"))), res.stdout


def _dist_files() -> tuple[Path, Path]:
    dist = Path(os.environ.get("MATFUNC_DIST_DIR", ""))
    (sdist,) = dist.glob(f"matfunc-{matfunc.__version__}.tar.gz")
    (wheel,) = dist.glob(f"matfunc-{matfunc.__version__}-py3-none-any.whl")
    return sdist, wheel


def _source_package_files() -> set[str]:
    """The package's files in the checkout .ci/test.sh ran from (git's tracked files when git is there)."""
    source = Path(os.environ["MATFUNC_SOURCE_TREE"])
    try:
        out = subprocess.run(
            ["git", "ls-files", "matfunc"], cwd=source, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file but caches
        out = [p.relative_to(source).as_posix() for p in (source / "matfunc").rglob("*") if p.is_file()]
    return {f for f in out if "__pycache__" not in f and not f.endswith(".pyc")}


@installed
def test_wheel_ships_every_file_of_the_package_and_the_license():
    """A data file the package reads at run time (py.typed, and any future .json/.npz) that the build drops
    would fail here: the wheel holds every file of matfunc/ in the checkout, and nothing outside the package."""
    sdist, wheel = _dist_files()
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"matfunc-{matfunc.__version__}.dist-info"
    assert "matfunc/py.typed" in names and f"{info}/licenses/LICENSE" in names
    assert {n.split("/")[0] for n in names} == {"matfunc", info}  # no tests/, docs/ or stray top-level module
    source = _source_package_files()
    assert len(source) > 40 and "matfunc/py.typed" in source
    assert source <= names, sorted(source - names)
    top = f"matfunc-{matfunc.__version__}/"
    in_sdist = {n[len(top) :] for n in tarfile.open(sdist).getnames() if n.startswith(top + "matfunc/")}
    assert source <= in_sdist, sorted(source - in_sdist)


@installed
def test_sdist_carries_what_its_tests_and_urls_need():
    sdist, _ = _dist_files()
    top = f"matfunc-{matfunc.__version__}"
    names = set(tarfile.open(sdist).getnames())
    for needed in (
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "matfunc/py.typed",
        "tests/conftest.py",
        "docs/conf.py",
        "docs/changelog.md",
        "examples/fidelity.py",
        ".github/ISSUE_TEMPLATE/bug_report.md",
    ):
        assert f"{top}/{needed}" in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/docs/_build" in n]


# --- both: metadata, package data, the main job ------------------------------------------------------------


def _pyproject() -> dict:
    import tomllib  # Python >= 3.11; the metadata tests need no third-party TOML parser

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_version_has_one_source():
    project = _pyproject()
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "matfunc.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", matfunc.__version__)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    first = re.search(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.MULTILINE)
    assert first and first.group(1) == matfunc.__version__  # the changelog's newest entry is this version


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_metadata_describes_the_library():
    project = _pyproject()["project"]
    for word in ("square", "powers", "log/exp", "polar", "FID", "Bures-Wasserstein", "SPD geometry"):
        assert word in project["description"], word
    assert "\n" not in project["description"]  # a one-line Summary
    classifiers = set(project["classifiers"])
    assert {f"Programming Language :: Python :: 3.{m}" for m in range(10, 14)} <= classifiers
    assert {"Typing :: Typed", "Operating System :: OS Independent"} <= classifiers
    assert project["requires-python"] == ">=3.10"
    assert project["license"] == "BSD-3-Clause" and project["license-files"] == ["LICENSE"]
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()
    assert len(project["keywords"]) >= 10
    for name, url in project["urls"].items():  # no public home yet: each names a file the sdist carries
        assert (ROOT / url).is_file(), (name, url)
    assert {"Documentation", "Changelog", "Issues"} <= set(project["urls"])


def test_typed_marker_is_installed_with_the_package():
    assert (importlib.resources.files("matfunc") / "py.typed").is_file()


def test_main_job_runs_from_any_directory(tmp_path):
    cmd = [sys.executable, "-m", "matfunc", "--batch", "2", "--n", "8", "--repeat", "1", "--backend", "numpy"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"matfunc {matfunc.__version__}: batch 2 of 8x8")
    assert res.stdout.count("| numpy |") == 5


# --- the README ----------------------------------------------------------------------------------------------

README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def _needs(code: str) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def _missing(code: str) -> list[str]:
    missing = [m for m in sorted(_needs(code)) if importlib.util.find_spec(m) is None]
    if "cupy" in _needs(code) and not missing:
        import cupy

        try:
            if not cupy.cuda.is_available():
                missing.append("a CUDA device for cupy")
        except Exception as exc:  # CUDARuntimeError without a driver
            missing.append(f"a CUDA device for cupy ({exc})")
    return missing


PYTHON_BLOCKS = _blocks("python")


@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=[f"block{i}" for i in range(len(PYTHON_BLOCKS))])
def test_readme_examples_run(code, tmp_path):
    """Every Python example of the README runs as printed (in a fresh interpreter, from an unrelated folder),
    skipped only for a backend that is not installed here (CuPy without a GPU)."""
    missing = _missing(code)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode == 0, f"{code}\n--- stderr:\n{res.stderr}"


def test_readme_has_an_example_per_kind_of_user():
    text = "\n".join(PYTHON_BLOCKS)
    for needle in ("matfunc.nn", "frechet_distance", "powm", "orthogonalize", "cupy", "float64"):
        assert needle in text, needle
    assert len(PYTHON_BLOCKS) >= 5


def test_readme_commands_are_the_two_ci_and_users_run():
    """.ci/run extracts the first line starting with ``python3 -m venv`` after "Run the tests on a fresh machine"
    and runs it verbatim; the main job's command is the one of "Run the main job"."""
    bash = _blocks("bash")
    lines = [ln for b in bash for ln in b.splitlines() if ln.startswith("python3 -m venv")]
    assert len(lines) == 2, lines  # exactly two set-up commands
    main, tests = lines
    assert README.index("Run the main job") < README.index(main) < README.index("Run the tests on a fresh machine")
    assert main.endswith("-m matfunc")
    assert "bash .ci/test.sh" in tests and (ROOT / ".ci" / "test.sh").is_file()
    script = (ROOT / ".ci" / "test.sh").read_text()
    for step in ("-m build", "twine check --strict", "-m pytest", "-m matfunc", "ruff check", "ruff format --check"):
        assert step in script, step
    assert script.index("-m pytest") < script.index("ruff check") < script.index("mypy")  # checks after the tests
