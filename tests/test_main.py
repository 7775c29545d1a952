"""``python -m matfunc`` (the main job): a failing call is a table cell, not a traceback; bad backends are usage
errors; ``--help`` documents every option."""

from __future__ import annotations

import re
import subprocess
import sys
import types

import pytest

import matfunc
from matfunc import __main__ as cli

SMALL = ["--batch", "2", "--repeat", "1"]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _rows(out: str, backend: str) -> list[list[str]]:
    """The table rows of one backend, as lists of cells (``\\|`` inside a cell is not a separator)."""
    rows = []
    for line in out.splitlines():
        if line.startswith(f"| {backend} |"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_singular_row_is_a_cell_not_a_traceback():
    """Issue 15: the reported command, on NumPy: inv_sqrtm raises SingularMatrixError for every method (cond 1e6 is
    singular to float32 working precision at n = 32); each row says so and the table is complete."""
    cmd = [sys.executable, "-m", "matfunc", "--dtype", "float32", "--cond", "1e6", "--n", "32", "--backend", "numpy"]
    proc = subprocess.run(cmd + SMALL, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = _rows(proc.stdout, "numpy")
    assert [r[1] for r in rows] == cli.METHODS
    for _, _, err, ms, inv_err, inv_ms in rows:
        assert _is_number(err) and _is_number(ms)  # sqrtm of a singular matrix is defined: measured
        assert inv_err.startswith("error: SingularMatrixError: ") and "singular" in inv_err
        assert inv_ms == "-"


def test_one_failing_method_does_not_stop_the_table(monkeypatch, capsys):
    """Any exception (here a ValueError with a '|' in its message) becomes that cell; later rows still run."""
    sqrtm = matfunc.sqrtm

    def flaky(a, method="auto", **kw):
        if method == "pade":
            raise ValueError("bad | value\nsecond line")
        return sqrtm(a, method, **kw)

    monkeypatch.setattr(matfunc, "sqrtm", flaky)
    assert cli.main(["--n", "4", "--backend", "numpy", *SMALL]) == 0
    rows = {r[1]: r for r in _rows(capsys.readouterr().out, "numpy")}
    assert list(rows) == cli.METHODS
    assert rows["pade"][2:4] == [r"error: ValueError: bad \| value second line", "-"]
    for method in ("eig", "newton-schulz", "taylor", "auto"):
        assert _is_number(rows[method][2]) and _is_number(rows[method][4])


def test_torch_rows_report_errors_too(capsys):
    pytest.importorskip("torch")
    argv = ["--dtype", "float32", "--cond", "1e6", "--n", "32", "--backend", "torch", *SMALL]
    assert cli.main(argv) == 0
    rows = _rows(capsys.readouterr().out, "torch")
    assert [r[1] for r in rows] == cli.METHODS
    assert all(r[4].startswith("error: SingularMatrixError") for r in rows)


def test_unknown_backend_is_a_usage_error():
    proc = subprocess.run(
        [sys.executable, "-m", "matfunc", "--backend", "nosuch"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "invalid choice: 'nosuch'" in proc.stderr
    for name in cli.BACKENDS:
        assert repr(name) in proc.stderr


@pytest.mark.parametrize(
    ("module", "reason"),
    [
        (None, "cupy is not installed"),
        (types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False)), "finds no CUDA device"),
    ],
    ids=["not-installed", "no-device"],
)
def test_requested_backend_that_cannot_run_is_a_usage_error(monkeypatch, capsys, module, reason):
    monkeypatch.setitem(sys.modules, "cupy", module)  # None: the import fails
    with pytest.raises(SystemExit) as exc:
        cli.main(["--backend", "numpy", "cupy", "--n", "2", *SMALL])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""  # no table at all, not a shorter one
    assert reason in err


def test_default_backends_list_the_ones_not_run(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(cli, "BACKENDS", ["numpy", "cupy"])  # keep the default run to NumPy
    assert cli.main(["--n", "2", *SMALL]) == 0
    out = capsys.readouterr().out
    assert len(_rows(out, "numpy")) == len(cli.METHODS)
    assert "not run: cupy is not installed" in out


@pytest.mark.parametrize("argv", [["--n", "0"], ["--batch", "-1"], ["--cond", "0"], ["--cond", "nan"], ["--backend"]])
def test_bad_values_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_help_describes_every_option_in_plain_text(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and not re.search(r":\w+:`", text)  # no RST markup
    assert "SingularMatrixError" in text  # the description says what a failing call does
    parser = cli._parser()
    for action in parser._actions:
        if "--help" in action.option_strings or "--version" in action.option_strings:
            continue
        assert action.help and "default:" in action.help, action.option_strings
        assert action.option_strings[0] in text
    assert "(default: 64)" in text and "(default: float64)" in text


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_table_matrices_are_the_documented_ones(dtype):
    """The main job's and docs/accuracy.md's matrices: symmetric, eigenvalues log-spaced from 1 to 1/cond, and
    exact float64 roots (the references every error of the tables is measured against)."""
    import numpy as np

    a, root, inv_root = cli.table_matrices(3, 16, 1e4, dtype)
    assert a.dtype == np.dtype(dtype) and a.shape == root.shape == inv_root.shape == (3, 16, 16)
    assert root.dtype == inv_root.dtype == np.float64
    assert np.array_equal(a, a.mT)
    eps = np.finfo(dtype).eps
    w = np.linalg.eigvalsh(a.astype(np.float64))
    assert np.allclose(w, np.logspace(-4, 0, 16), rtol=0, atol=16 * eps)  # |dw| <= ||dA||_2 (Weyl)
    eps64 = np.finfo(np.float64).eps
    assert np.abs(root @ root - a).max() <= 16 * eps  # a is rounded to dtype; the roots are not
    assert np.abs(root @ inv_root - np.eye(16)).max() <= 1e3 * eps64  # cond(root) = 100: 100 * 16 * eps


def test_version_option(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"matfunc {matfunc.__version__}\n"
