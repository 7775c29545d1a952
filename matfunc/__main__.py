"""Main job: ``python -m matfunc`` prints the error and time of ``sqrtm`` / ``inv_sqrtm`` for every installed
backend and method on a random SPD batch (``A = Q diag(w) Q^T``, w log-spaced from 1 to 1/cond)."""

from __future__ import annotations

import argparse
import importlib
import math
import time

import numpy as np

import matfunc

METHODS = ["eig", "newton-schulz", "pade", "taylor", "auto"]


def _backends(names):
    out = {}
    for name in names:
        try:
            if name == "numpy":
                out[name] = (np, lambda a: a, lambda y: y, lambda: None)
            elif name == "torch":
                torch = importlib.import_module("torch")
                out[name] = (torch, torch.from_numpy, lambda y: y.numpy(), lambda: None)
            elif name == "jax":
                jax = importlib.import_module("jax")
                jax.config.update("jax_enable_x64", True)
                jnp = importlib.import_module("jax.numpy")
                out[name] = (jnp, jnp.asarray, np.asarray, lambda: None)
            elif name == "cupy":
                cp = importlib.import_module("cupy")
                if not cp.cuda.is_available():
                    continue
                out[name] = (cp, cp.asarray, cp.asnumpy, cp.cuda.Device().synchronize)
        except Exception:  # not installed (or no device): leave it out of the table
            continue
    return out


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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m matfunc", description=__doc__)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--cond", type=float, default=1e3)
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--backend", nargs="*", default=["numpy", "torch", "jax", "cupy"])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((args.batch, args.n, args.n)))
    w = np.logspace(0, -math.log10(args.cond), args.n)
    a = ((q * w) @ q.mT).astype(args.dtype)
    a = (a + a.mT) / 2
    refs = {False: (q * np.sqrt(w)) @ q.mT, True: (q / np.sqrt(w)) @ q.mT}
    print(f"matfunc {matfunc.__version__}: batch {args.batch} of {args.n}x{args.n}, cond {args.cond:g}, {args.dtype}")
    print("relative error ||Y - Y_exact||_F / ||Y_exact||_F against the constructed root; median time of "
          f"{args.repeat} runs\n")
    print("| backend | method | sqrtm error | sqrtm ms | inv_sqrtm error | inv_sqrtm ms |")
    print("|---|---|---|---|---|---|")
    for name, (_, to, back, sync) in _backends(args.backend).items():
        x = to(a)
        for method in METHODS:
            row = [name, method]
            for inverse in (False, True):
                f = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
                t, y = _time(lambda f=f, x=x, method=method: f(x, method), sync, args.repeat)
                err = np.linalg.norm(back(y) - refs[inverse]) / np.linalg.norm(refs[inverse])
                row += [f"{err:.1e}", f"{1e3 * t:.2f}"]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
