"""Time and accuracy of ``powm`` / ``logm`` / ``expm`` over backend x (function, method) x size.

The (function, method) grid is :data:`matfunc.bench.family.ENTRIES`, the registry the
``python -m matfunc.bench.family`` report reads. Forward on NumPy and PyTorch, forward + backward on PyTorch
(autograd) and NumPy (the ``*_vjp`` functions); ``track_`` methods report the error against the exact
construction ``Q f(w) Q^T`` (float64).
"""

from __future__ import annotations

import math

import numpy as np

from .common import BACKENDS, Benchmark, to_numpy_or_torch, wait_cuda

try:
    from matfunc.bench import family as _bf
except ImportError:
    try:  # commits before the benchmark package
        from matfunc import bench_family as _bf
    except ImportError:  # old commits: the suite skips itself in setup
        _bf = None

ENTRIES = [] if _bf is None else [f"{label}:{m}" for label, _, _, methods in _bf.ENTRIES for m in methods]
FAMILY_BACKENDS = [b for b in BACKENDS if b in ("numpy:cpu", "torch:cpu", "torch:cuda")]


def _entry(spec):
    if _bf is None:
        raise NotImplementedError("matfunc.bench.family is missing")
    label, method = spec.rsplit(":", 1)
    for lab, kind, p, _ in _bf.ENTRIES:
        if lab == label:
            return kind, p, method
    raise NotImplementedError(spec)


class Family(Benchmark):
    params = [FAMILY_BACKENDS, ENTRIES, [64, 256], [1, 64], ["float32", "float64"]]
    param_names = ["backend", "entry", "n", "batch", "dtype"]

    def setup(self, backend, entry, n, batch, dtype):
        self.kind, self.p, self.method = _entry(entry)
        a = _bf.test_matrix(n, 1e3, batch=(batch,), dtype=dtype)
        if self.kind == "exp":
            a = 10.0 * a
        self.x = to_numpy_or_torch(backend, a)
        self.torch = backend.startswith("torch")
        self.g = self.x * 0 + 1
        self.time_forward()  # warm-up

    def _call(self, x):
        return _bf.call(self.kind, self.p, x, self.method, check=False)

    def time_forward(self, *args):
        wait_cuda(self._call(self.x))

    def time_forward_backward(self, *args):
        if self.torch:
            x = self.x.clone().requires_grad_(True)
            self._call(x).backward(self.g)
            wait_cuda(x.grad)
        else:
            vjp = {
                "power": lambda a, **k: _bf.matfunc.powm_vjp(a, self.p, **k),
                "log": _bf.matfunc.logm_vjp,
                "exp": _bf.matfunc.expm_vjp,
            }[self.kind]
            _, back = vjp(self.x, method=self.method, check=False)
            back(self.g)


class FamilyAccuracy(Benchmark):
    params = [ENTRIES, [1e1, 1e4, 1e8]]
    param_names = ["entry", "cond"]

    def setup(self, entry, cond):
        self.kind, self.p, self.method = _entry(entry)

    def track_relative_error(self, entry, cond):
        n = 64
        rng = np.random.default_rng(0)
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        w = np.logspace(0.0, -math.log10(cond), n)
        if self.kind == "exp":
            w = 10.0 * w
        f = {"power": lambda t: t**self.p, "log": np.log, "exp": np.exp}[self.kind]
        a = (q * w) @ q.T
        ref = (q * f(w)) @ q.T
        y = np.asarray(self._call_np((a + a.T) / 2))
        return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))

    track_relative_error.unit = "relative error"

    def _call_np(self, a):
        return _bf.call(self.kind, self.p, a, self.method, check=False)
