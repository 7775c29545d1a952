"""``matfunc.show_versions()``: reports every installed backend with its version, imports none that is missing,
and turns a broken backend into a line of the report instead of an exception."""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import matfunc
from matfunc import _show_versions as sv


def _installed_dists() -> dict[str, str]:
    """module -> installed distribution version, for the backends the report knows (CuPy's distribution name
    varies with the CUDA version: left out)."""
    out = {}
    for module, (dist, _) in sv.BACKENDS.items():
        if module != "cupy" and importlib.util.find_spec(module) is not None:
            out[module] = importlib.metadata.version(dist)
    return out


def test_report_lists_matfunc_and_every_installed_backend(capsys):
    assert matfunc.show_versions() is None
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"matfunc {matfunc.__version__} (")
    assert sys.version.split()[0] in out
    installed = _installed_dists()
    assert {"numpy", "array_api_compat", "threadpoolctl"} <= set(installed)  # matfunc's own dependencies
    for module, version in installed.items():
        (line,) = [ln for ln in lines if ln.strip().startswith(f"{module}:")]
        assert version in line, line
    for module in set(sv.BACKENDS) - set(installed) - {"cupy"}:
        (line,) = [ln for ln in lines if ln.strip().startswith(f"{module}:")]
        assert "not installed" in line


def test_as_dict_has_the_versions_and_states():
    info = matfunc.show_versions(as_dict=True)
    assert info["matfunc"]["version"] == matfunc.__version__
    assert info["matfunc"]["path"] == os.path.dirname(os.path.abspath(matfunc.__file__))
    assert info["system"]["python"].startswith(sys.version.split()[0])
    assert info["backends"]["numpy"]["version"] == np.__version__
    if importlib.util.find_spec("torch") is not None:
        import torch

        t = info["backends"]["torch"]
        assert t["version"] == torch.__version__ and t["threads"] == torch.get_num_threads()
        assert t["cuda available"] is torch.cuda.is_available()
        assert t["float32 matmul precision"] == torch.get_float32_matmul_precision()
    if importlib.util.find_spec("jax") is not None:
        import jax

        j = info["backends"]["jax"]
        assert j["version"] == jax.__version__
        assert j["devices"] == [str(d) for d in jax.devices()] and j["default backend"] == jax.default_backend()
        assert j["x64 enabled"] is bool(jax.config.jax_enable_x64)
    pools = info["threadpools"]
    assert isinstance(pools, list) and any(p["user_api"] == "blas" for p in pools)  # NumPy's BLAS is loaded
    assert info["matfunc threads"]["blas threads"] >= 1


def test_missing_backends_are_reported_and_never_imported(monkeypatch, capsys):
    """``sys.modules[name] = None`` is how Python marks a module that cannot be imported: find_spec returns None
    and ``import`` raises. The report must say "not installed" without trying to import it."""
    hidden = ["torch", "jax", "cupy", "dask", "distributed", "scipy", "array_api_strict"]
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)
    imported = []

    def watch(name, *args):
        imported.append(name)
        return importlib.import_module(name, *args)

    monkeypatch.setattr(sv, "_import", watch)
    info = matfunc.show_versions(as_dict=True)
    assert not set(imported) & set(hidden), imported
    for name in hidden:
        assert info["backends"][name] == {"version": None, "state": "not installed"}
    matfunc.show_versions()
    out = capsys.readouterr().out
    assert out.count("(not installed)") >= len(hidden)


def _fake_cupy(is_available):
    """CuPy installed on a machine without a usable CUDA driver: the module imports, its runtime calls raise."""

    class CUDARuntimeError(RuntimeError):
        pass

    def no_driver(*_):
        raise CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    cupy = types.ModuleType("cupy")
    cupy.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
    cupy.__version__ = "14.2.0"
    cupy.cuda = types.SimpleNamespace(
        is_available=is_available,
        runtime=types.SimpleNamespace(runtimeGetVersion=no_driver, getDeviceCount=no_driver),
    )
    return cupy


@pytest.mark.parametrize("is_available", [lambda: False, "raises"], ids=["no-device", "driver-error"])
def test_cupy_without_a_gpu_is_a_line_not_an_error(monkeypatch, capsys, is_available):
    if is_available == "raises":

        def is_available():
            raise RuntimeError("CUDA driver version is insufficient\nfor CUDA runtime version")

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(is_available))
    cp = matfunc.show_versions(as_dict=True)["backends"]["cupy"]
    assert cp["version"] == "14.2.0"
    assert cp["cuda runtime"].startswith("error: CUDARuntimeError: cudaErrorInsufficientDriver")
    if callable(is_available) and is_available.__name__ == "<lambda>":
        assert cp["cuda available"] is False
    else:
        assert (
            cp["cuda available"] == "error: RuntimeError: CUDA driver version is insufficient for CUDA runtime version"
        )
    assert "devices" not in cp  # no device is asked for without CUDA
    matfunc.show_versions()
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("cupy:")]
    assert line.strip().startswith("cupy: 14.2.0; cuda runtime error: CUDARuntimeError")


def test_a_backend_that_fails_to_import_is_reported(monkeypatch):
    pytest.importorskip("dask")

    def broken(name, *args):
        if name == "dask":
            raise ImportError("libfoo.so: cannot open shared object file")
        return importlib.import_module(name, *args)

    monkeypatch.setattr(sv, "_import", broken)
    dask = matfunc.show_versions(as_dict=True)["backends"]["dask"]
    assert dask["version"] == importlib.metadata.version("dask")  # from the metadata: the module did not load
    assert dask["state"] == "import failed: ImportError: libfoo.so: cannot open shared object file"


def test_the_bug_report_command_runs_and_import_stays_light(tmp_path):
    """The command of the bug-report template, from an unrelated directory; ``import matfunc`` alone still imports
    no framework (the report does, when asked)."""
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    cmd = "import matfunc; matfunc.show_versions()"
    res = subprocess.run([sys.executable, "-c", cmd], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"matfunc {matfunc.__version__}") and "Backends:" in res.stdout
    code = "import sys, matfunc; print(sorted({'torch', 'jax', 'cupy', 'dask', 'scipy'} & set(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert res.stdout.strip() == "[]"
