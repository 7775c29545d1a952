"""Main job: ``python -m matfunc`` prints the error and time of ``sqrtm`` / ``inv_sqrtm`` for every installed
backend and method on a random SPD batch (``A = Q diag(w) Q^T``, w log-spaced from 1 to 1/cond).

A call that raises (e.g. :class:`matfunc.SingularMatrixError` from ``inv_sqrtm`` on a matrix singular to working
precision) is shown in its cell as ``error: <reason>`` and the table goes on; an unknown backend, or a requested
one that cannot run here, is a usage error (exit code 2)."""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time

import numpy as np

import matfunc

METHODS = ["eig", "newton-schulz", "pade", "taylor", "auto"]
BACKENDS = ["numpy", "torch", "jax", "cupy"]

DESCRIPTION = """\
Print a table of the relative error ||Y - Y_exact||_F / ||Y_exact||_F and the median time of
matfunc.sqrtm and matfunc.inv_sqrtm, for every backend and method, on a random batch of symmetric
positive definite matrices A = Q diag(w) Q^T with w log-spaced from 1 to 1/cond.

A call that fails (for example inv_sqrtm of a matrix that is singular to working precision, which
raises matfunc.SingularMatrixError) shows "error: <reason>" in its cell and the rest of the table is
still printed. Exit code 0 when the table was printed, 2 on a usage error (such as a backend that is
unknown or cannot run on this machine)."""

_REASON_CHARS = 72  # an error cell shows the start of the message


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _cond(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"a condition number is a finite number >= 1, got {text}")
    return value


def _load(name):
    """``(xp, to_backend, to_numpy, synchronize)`` for one backend, or a ``str``: why it cannot run here."""
    try:
        if name == "numpy":
            return np, lambda a: a, lambda y: y, lambda: None
        if name == "torch":
            torch = importlib.import_module("torch")
            return torch, torch.from_numpy, lambda y: y.numpy(), lambda: None
        if name == "jax":
            jax = importlib.import_module("jax")
            jax.config.update("jax_enable_x64", True)
            jnp = importlib.import_module("jax.numpy")
            return jnp, jnp.asarray, np.asarray, lambda: None
        if name == "cupy":
            cp = importlib.import_module("cupy")
            if not cp.cuda.is_available():
                return "cupy is installed but finds no CUDA device"
            return cp, cp.asarray, cp.asnumpy, cp.cuda.Device().synchronize
    except ImportError as exc:
        return f"{name} is not installed ({exc})"
    except Exception as exc:  # installed but broken (e.g. no CUDA driver): say so
        return f"{name} cannot be used here: {type(exc).__name__}: {exc}"
    raise AssertionError(f"unknown backend {name!r}")  # argparse's choices keep this unreachable


def _backends(names):
    """``(usable, unusable)``: name -> backend tuple, name -> reason."""
    usable, unusable = {}, {}
    for name in names:
        got = _load(name)
        if isinstance(got, str):
            unusable[name] = got
        else:
            usable[name] = got
    return usable, unusable


def table_matrices(
    batch: int, n: int, cond: float, dtype: str = "float64", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A, A^{1/2}, A^{-1/2})``: ``A = Q diag(w) Q^T`` with ``Q`` random orthogonal and ``w`` log-spaced from 1
    down to ``1/cond``, in ``dtype``; the roots exact (built from ``Q`` and ``w`` in float64). The matrices of the
    table, and of the accuracy tables of the documentation (docs/accuracy.md)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((batch, n, n)))
    w = np.logspace(0, -math.log10(cond), n)
    a = ((q * w) @ q.mT).astype(dtype)
    a = (a + a.mT) / 2
    return a, (q * np.sqrt(w)) @ q.mT, (q / np.sqrt(w)) @ q.mT


def _time(fn, sync, repeat):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        if hasattr(out, "block_until_ready"):
            out.block_until_ready()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def _error_cell(exc: BaseException) -> str:
    """``error: <type>: <start of the message>``, safe inside a Markdown table row."""
    msg = " ".join(str(exc).split())
    if len(msg) > _REASON_CHARS:
        msg = msg[: _REASON_CHARS - 3].rsplit(" ", 1)[0] + " ..."  # cut at a word
    text = f"error: {type(exc).__name__}" + (f": {msg}" if msg else "")
    return text.replace("|", "\\|")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m matfunc", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--batch", type=_positive_int, default=64, help="number of matrices in the batch (default: %(default)s)"
    )
    p.add_argument(
        "--n", type=_positive_int, default=64, help="matrix size n of the n x n matrices (default: %(default)s)"
    )
    p.add_argument(
        "--cond",
        type=_cond,
        default=1e3,
        help="condition number: the eigenvalues run from 1 down to 1/cond (default: %(default)g)",
    )
    p.add_argument(
        "--dtype",
        default="float64",
        choices=["float32", "float64"],
        help="floating-point type of the input (default: %(default)s)",
    )
    p.add_argument(
        "--backend",
        nargs="+",
        choices=BACKENDS,
        default=None,
        metavar="NAME",
        help=f"backends to run, one or more of: {', '.join(BACKENDS)} (default: every one that is "
        "installed and usable here; the others are listed under the table)",
    )
    p.add_argument(
        "--version",
        action="version",
        version=f"matfunc {matfunc.__version__}",
        help="print matfunc's version and exit (for a bug report: python -c 'import matfunc; "
        "matfunc.show_versions()' prints every backend's too)",
    )
    p.add_argument(
        "--repeat",
        type=_positive_int,
        default=5,
        help="timed runs per cell, after one warm-up run; the median is shown (default: %(default)s)",
    )
    return p


def main(argv=None) -> int:
    """Entry point of ``python -m matfunc``: print the table, return the exit code (0)."""
    p = _parser()
    args = p.parse_args(argv)
    usable, unusable = _backends(args.backend or BACKENDS)
    if args.backend is not None and unusable:  # asked for by name: a usage error, not a shorter table
        p.error("; ".join(unusable.values()) + " (leave out --backend to run every backend usable here)")

    a, root, inv_root = table_matrices(args.batch, args.n, args.cond, args.dtype)
    refs = {False: root, True: inv_root}
    print(f"matfunc {matfunc.__version__}: batch {args.batch} of {args.n}x{args.n}, cond {args.cond:g}, {args.dtype}")
    print(
        "relative error ||Y - Y_exact||_F / ||Y_exact||_F against the constructed root; median time of "
        f"{args.repeat} runs\n"
    )
    print("| backend | method | sqrtm error | sqrtm ms | inv_sqrtm error | inv_sqrtm ms |")
    print("|---|---|---|---|---|---|")
    for name, (_, to, back, sync) in usable.items():
        x = to(a)
        for method in METHODS:
            row = [name, method]
            for inverse in (False, True):
                f = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
                try:
                    t, y = _time(lambda f=f, x=x, method=method: f(x, method), sync, args.repeat)
                    err = np.linalg.norm(back(y) - refs[inverse]) / np.linalg.norm(refs[inverse])
                except Exception as exc:  # one failing call is one cell, not the end of the report
                    row += [_error_cell(exc), "-"]
                else:
                    row += [f"{err:.1e}", f"{1e3 * t:.2f}"]
            print("| " + " | ".join(row) + " |", flush=True)
    if unusable:
        print("\nnot run: " + "; ".join(unusable.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
