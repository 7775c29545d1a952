"""matfunc on sharded JAX arrays (``jax.sharding.NamedSharding``) over several devices, under ``jit`` and ``grad``.

JAX fixes its device count when it initialises, so the cases run in one subprocess started with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (four CPU "devices"), and report back as JSON. For each of
sqrtm, inv_sqrtm, powm, polar and frechet_distance, on a batch sharded over its batch axis (the default method,
eig on CPU) and on one matrix sharded over its rows (the products-only Newton–Schulz methods, whose matrix
products XLA partitions):

- the value against an unsharded float64 NumPy reference from the eigendecomposition / SVD (closed forms);
- the gradient of ``sum(W * f(A))`` (``W`` random), taken with ``jax.grad`` inside ``jax.jit``, against
  matfunc's NumPy VJP of the same function (unsharded, another backend);
- the output (and the gradient) keep the input's sharding.

Tolerances: all inputs have condition number ``COND`` = 10; the forward error of these methods is a few
``n eps cond`` (docs/guides/checks.md), the gradients' one more factor ``cond`` (Daleckii–Krein divided
differences), so the bounds are ``100 n eps cond`` and ``100 n eps cond^2``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")

N, BATCH, COND, DEVICES = 16, 8, 10.0, 4

_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import jax, jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    jax.config.update("jax_enable_x64", True)
    import matfunc

    N, BATCH, COND, DEVICES = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    assert len(jax.devices()) == DEVICES, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("d",))
    rng = np.random.default_rng(0)
    eps = float(np.finfo(np.float64).eps)

    def orth(shape):
        return np.linalg.qr(rng.standard_normal(shape))[0]

    def spd(batch):
        q = orth((*batch, N, N))
        return (q * np.geomspace(1.0, 1.0 / COND, N)) @ np.swapaxes(q, -1, -2)

    def general(batch):  # singular values 1 .. 1/COND
        return (orth((*batch, N, N)) * np.geomspace(1.0, 1.0 / COND, N)) @ orth((*batch, N, N))

    def spectral(a, f):
        w, v = np.linalg.eigh(a)
        return (v * f(w)[..., None, :]) @ np.swapaxes(v, -1, -2)

    def polar_u(a):
        w, _, vt = np.linalg.svd(a)
        return w @ vt

    def fid(m1, s1, m2, s2):
        r = spectral(s1, np.sqrt)
        cross = np.trace(spectral(r @ s2 @ r, np.sqrt), axis1=-2, axis2=-1)
        d = m1 - m2
        return np.sum(d * d, -1) + np.trace(s1, axis1=-2, axis2=-1) + np.trace(s2, axis1=-2, axis2=-1) - 2 * cross

    def rel(x, ref):
        x, ref = np.asarray(x), np.asarray(ref)
        return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))

    def case(name, spec, x, f, reference, numpy_grad, *, out_spec=None, out_shardings=None):
        sharding = NamedSharding(mesh, spec)
        xs = jax.device_put(jnp.asarray(x), sharding)
        fun = jax.jit(f) if out_shardings is None else jax.jit(f, out_shardings=sharding)
        y = fun(xs)
        y_ref = reference(x)
        w = rng.standard_normal(np.shape(y_ref))  # the loss sum(w * f(A)): its gradient is the VJP of w
        g = jax.jit(jax.grad(lambda t: jnp.sum(jnp.asarray(w) * f(t))))(xs)
        g_ref = numpy_grad(x, w)
        want = NamedSharding(mesh, spec if out_spec is None else out_spec)
        results[name] = {
            "value_err": rel(y, y_ref),
            "grad_err": rel(g, g_ref),
            "out_sharding": str(y.sharding.spec) if hasattr(y.sharding, "spec") else str(y.sharding),
            "grad_sharding": str(g.sharding.spec) if hasattr(g.sharding, "spec") else str(g.sharding),
            "out_keeps": bool(y.sharding.is_equivalent_to(want, y.ndim)),
            "grad_keeps": bool(g.sharding.is_equivalent_to(sharding, g.ndim)),
            "devices": len(y.sharding.device_set),
        }

    def vjp_of(vjp_fn, **kw):
        return lambda x, g: np.asarray(vjp_fn(x, **kw)[1](g))

    results = {}
    b, one = (BATCH,), ()
    a_b, a_1 = spd(b), spd(one)
    g_b, g_1 = general(b), general(one)
    mu = rng.standard_normal((BATCH, N))
    s2_b, s2_1 = spd(b), spd(one)

    # batch-sharded: the default method (eig on CPU), one matrix per device pair
    case("sqrtm/batch", P("d"), a_b, matfunc.sqrtm, lambda x: spectral(x, np.sqrt), vjp_of(matfunc.sqrtm_vjp))
    case("inv_sqrtm/batch", P("d"), a_b, matfunc.inv_sqrtm, lambda x: spectral(x, lambda w: w**-0.5),
         vjp_of(matfunc.inv_sqrtm_vjp))
    case("powm/batch", P("d"), a_b, lambda t: matfunc.powm(t, 0.3), lambda x: spectral(x, lambda w: w**0.3),
         lambda x, g: np.asarray(matfunc.powm_vjp(x, 0.3)[1](g)))
    case("polar/batch", P("d"), g_b, lambda t: matfunc.polar(t)[0], polar_u,
         lambda x, g: np.asarray(matfunc.polar_vjp(x)[1](g, None)))
    case("frechet_distance/batch", P("d"), a_b,
         lambda t: matfunc.frechet_distance(jnp.asarray(mu), t, jnp.asarray(mu[::-1]), jnp.asarray(s2_b)),
         lambda x: fid(mu, x, mu[::-1], s2_b),
         lambda x, g: np.asarray(matfunc.frechet_distance_vjp(mu, x, mu[::-1], s2_b)[1](g)[1]))

    # one matrix sharded over its rows: the products-only methods (XLA partitions their matrix products)
    ns = "newton-schulz"
    case("sqrtm/rows", P("d", None), a_1, lambda t: matfunc.sqrtm(t, ns), lambda x: spectral(x, np.sqrt),
         vjp_of(matfunc.sqrtm_vjp))
    case("inv_sqrtm/rows", P("d", None), a_1, lambda t: matfunc.inv_sqrtm(t, ns),
         lambda x: spectral(x, lambda w: w**-0.5), vjp_of(matfunc.inv_sqrtm_vjp))
    case("powm/rows", P("d", None), a_1, lambda t: matfunc.powm(t, 0.25, ns),
         lambda x: spectral(x, lambda w: w**0.25), lambda x, g: np.asarray(matfunc.powm_vjp(x, 0.25)[1](g)))
    case("polar/rows", P("d", None), g_1, lambda t: matfunc.polar(t, ns)[0], polar_u,
         lambda x, g: np.asarray(matfunc.polar_vjp(x)[1](g, None)))
    case("frechet_distance/rows", P("d", None), a_1,
         lambda t: matfunc.frechet_distance(jnp.asarray(mu[0]), t, jnp.asarray(mu[1]), jnp.asarray(s2_1), ns),
         lambda x: fid(mu[0], x, mu[1], s2_1),
         lambda x, g: np.asarray(matfunc.frechet_distance_vjp(mu[0], x, mu[1], s2_1)[1](g)[1]),
         out_spec=P())  # a scalar: replicated; its gradient keeps the rows' sharding
    # eig on one row-sharded matrix: XLA's eigh is not partitioned (it gathers the matrix); out_shardings puts
    # the result back on the rows
    case("sqrtm/rows-eig", P("d", None), a_1, matfunc.sqrtm, lambda x: spectral(x, np.sqrt),
         vjp_of(matfunc.sqrtm_vjp), out_shardings=True)
    print("RESULTS " + json.dumps(results))
    """
)

CASES = [
    f"{fn}/{layout}"
    for fn in ("sqrtm", "inv_sqrtm", "powm", "polar", "frechet_distance")
    for layout in ("batch", "rows")
] + ["sqrtm/rows-eig"]


@pytest.fixture(scope="module")
def sharded():
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}", "JAX_PLATFORMS": "cpu"}
    args = [sys.executable, "-c", _SCRIPT, str(N), str(BATCH), str(COND), str(DEVICES)]
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULTS "))
    return json.loads(line[len("RESULTS ") :])


@pytest.mark.parametrize("case", CASES)
def test_sharded_values_gradients_and_sharding(sharded, case):
    import numpy as np

    r = sharded[case]
    eps = float(np.finfo(np.float64).eps)
    assert r["value_err"] <= 100 * N * eps * COND, r
    assert r["grad_err"] <= 100 * N * eps * COND**2, r
    assert r["devices"] == DEVICES, r
    assert r["out_keeps"], f"{case}: the output is sharded {r['out_sharding']}, not as its input"
    if case != "sqrtm/rows-eig":  # eig's gradient of a row-sharded matrix is gathered like its forward
        assert r["grad_keeps"], f"{case}: the gradient is sharded {r['grad_sharding']}, not as the input"


def test_all_cases_ran(sharded):
    assert sorted(sharded) == sorted(CASES)


def test_benchmark_runs():
    """``python -m matfunc.bench.sharding`` (the guide's figures), tiny: it forces the devices itself."""
    args = [sys.executable, "-m", "matfunc.bench.sharding", "--batch", "8", "--n", "4", "--rounds", "1"]
    args += ["--devices", "2", "--functions", "sqrtm,frechet_distance"]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    lines = [x for x in out.stdout.splitlines() if x.startswith("| `")]
    assert [x.split("`")[1] for x in lines] == ["sqrtm", "frechet_distance"]
    assert all(float(x.split("|")[-2].strip().split("x")[0]) > 0 for x in lines)
    bad = subprocess.run([*args[:3], "--functions", "sqrtm,nope"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown function(s) ['nope']" in bad.stderr
