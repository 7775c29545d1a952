"""A batch-sharded JAX call on several devices against one device: ``python -m matfunc.bench.sharding``.

``--devices K`` (default 4) forces K host "devices" (``XLA_FLAGS=--xla_force_host_platform_device_count=K``,
set before JAX initialises: run it as a fresh process). For each function the same jitted call (value, or
value and gradient with ``--grad``) runs on a ``(batch, n, n)`` float32 SPD batch placed on one device and on
the batch sharded over all K devices (``NamedSharding(mesh, P("d"))``), in interleaved rounds; the table gives
the medians (wall time; the spread of the rounds) and the speed-up. On a CPU the K host devices share the
machine's cores, so the speed-up is bounded by the number of free cores (and XLA's single-device CPU kernels
already use some threads of their own); on K accelerators each device has its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FUNCTIONS", "main", "run", "table"]

FUNCTIONS = ("sqrtm", "inv_sqrtm", "powm", "polar", "frechet_distance")


def _force_devices(k: int) -> None:
    if "jax" in sys.modules:
        import jax

        if len(jax.devices()) < k:
            raise RuntimeError(
                f"JAX is already initialised with {len(jax.devices())} device(s); run "
                f"`python -m matfunc.bench.sharding --devices {k}` as a fresh process"
            )
        return
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={k}".strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _call(name: str, grad: bool) -> Callable[[Any], Any]:
    import jax
    import jax.numpy as jnp

    import matfunc

    fns: dict[str, Callable[[Any], Any]] = {
        "sqrtm": matfunc.sqrtm,
        "inv_sqrtm": matfunc.inv_sqrtm,
        "powm": lambda a: matfunc.powm(a, 0.3),
        "polar": lambda a: matfunc.polar(a)[0],
        "frechet_distance": lambda a: matfunc.frechet_distance(
            jnp.zeros(a.shape[:-1], a.dtype), a, jnp.ones(a.shape[:-1], a.dtype), a[::-1]
        ),
    }
    f = fns[name]
    if grad:
        return jax.jit(jax.value_and_grad(lambda a: jnp.sum(f(a))))
    return jax.jit(f)


def run(
    functions: tuple[str, ...] = FUNCTIONS,
    *,
    batch: int = 256,
    n: int = 64,
    devices: int = 4,
    rounds: int = 7,
    grad: bool = False,
) -> list[dict[str, Any]]:
    """Median wall times (s) of each function on one device and batch-sharded over ``devices``."""
    _force_devices(devices)
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devs = jax.devices()[:devices]
    mesh = Mesh(np.array(devs), ("d",))
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((batch, n, n)))[0]
    a = ((q * np.geomspace(1.0, 1e-2, n)) @ np.swapaxes(q, -1, -2)).astype(np.float32)
    placed = {
        "1 device": jax.device_put(jnp.asarray(a), devs[0]),
        f"{devices} devices": jax.device_put(jnp.asarray(a), NamedSharding(mesh, PartitionSpec("d"))),
    }
    rows = []
    for name in functions:
        fn = _call(name, grad)
        for x in placed.values():
            jax.block_until_ready(fn(x))  # compile and warm up
        times: dict[str, list[float]] = {k: [] for k in placed}
        for _ in range(rounds):  # interleaved: a disturbance hits both layouts alike
            for key, x in placed.items():
                t0 = time.perf_counter()
                jax.block_until_ready(fn(x))
                times[key].append(time.perf_counter() - t0)
        med = {k: float(np.median(v)) for k, v in times.items()}
        spread = {k: float(max(v) / min(v)) for k, v in times.items()}
        one, many = med["1 device"], med[f"{devices} devices"]
        rows.append(
            {"function": name, "batch": batch, "n": n, "devices": devices, "grad": grad, "median_s": med}
            | {"spread": spread, "speedup": one / many}
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    k = rows[0]["devices"]
    head = f"| call | 1 device (ms) | {k} devices (ms) | speed-up |\n|---|---|---|---|\n"
    lines = []
    for r in rows:
        what = f"`{r['function']}`{' fwd+bwd' if r['grad'] else ''} {r['batch']} x {r['n']}x{r['n']} float32"
        one, many = r["median_s"]["1 device"], r["median_s"][f"{k} devices"]
        noisy = " (noisy)" if max(r["spread"].values()) > 2.0 else ""
        lines.append(f"| {what} | {1e3 * one:.1f} | {1e3 * many:.1f} | {r['speedup']:.2f}x{noisy} |")
    return head + "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(prog="python -m matfunc.bench.sharding", description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=4, help="host devices to force (XLA_FLAGS)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--grad", action="store_true", help="value and gradient (jax.value_and_grad) instead of value")
    p.add_argument("--functions", default=",".join(FUNCTIONS), help="comma-separated subset of " + ", ".join(FUNCTIONS))
    args = p.parse_args(argv)
    functions = tuple(f for f in args.functions.split(",") if f)
    unknown = [f for f in functions if f not in FUNCTIONS]
    if unknown:
        p.error(f"unknown function(s) {unknown}; choose from {', '.join(FUNCTIONS)}")
    rows = run(functions, batch=args.batch, n=args.n, devices=args.devices, rounds=args.rounds, grad=args.grad)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = (
        table(rows)
        + f"\n\n{os.cpu_count()} CPU cores, load average {load:.1f} during the run; medians of "
        + (f"{args.rounds} interleaved rounds")
    )
    print(text)
    return text


if __name__ == "__main__":
    main()
