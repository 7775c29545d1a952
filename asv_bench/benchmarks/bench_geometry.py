"""Time and accuracy of the SPD geometry: ``distance_riemann``, ``distance_logeuclid``, ``geodesic_riemann``.

Forward on NumPy and PyTorch, forward + backward (PyTorch autograd; NumPy the ``*_vjp`` functions), methods
``"eig"`` and ``"newton-schulz"`` (matrix products only); ``track_`` reports the error of the affine-invariant
distance against the closed form for commuting matrices, ``sqrt(sum log^2(mu_i / lambda_i))``.
"""

from __future__ import annotations

import math

import numpy as np

from .common import BACKENDS, Benchmark, to_numpy_or_torch, wait_cuda

try:
    import matfunc

    _FUNCS = {
        "distance_riemann": (matfunc.distance_riemann, matfunc.distance_riemann_vjp),
        "distance_logeuclid": (matfunc.distance_logeuclid, matfunc.distance_logeuclid_vjp),
        "geodesic_riemann": (matfunc.geodesic_riemann, matfunc.geodesic_riemann_vjp),
    }
except (ImportError, AttributeError):  # commits before the geometry functions: setup skips
    _FUNCS = {}

GEOMETRY_BACKENDS = [b for b in BACKENDS if b in ("numpy:cpu", "torch:cpu", "torch:cuda")]


def _spd(n, cond, batch, seed, dtype):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((batch, n, n)))
    w = np.logspace(0.0, -math.log10(cond), n)
    a = (q * w) @ q.transpose(0, 2, 1)
    return ((a + a.transpose(0, 2, 1)) / 2).astype(dtype)


class Geometry(Benchmark):
    params = [
        GEOMETRY_BACKENDS,
        list(_FUNCS) or ["missing"],
        ["eig", "newton-schulz"],
        [32, 64],
        [64],
        ["float32", "float64"],
    ]
    param_names = ["backend", "function", "method", "n", "batch", "dtype"]

    def setup(self, backend, function, method, n, batch, dtype):
        if function not in _FUNCS:
            raise NotImplementedError("matfunc has no SPD geometry functions in this version")
        self.f, self.f_vjp = _FUNCS[function]
        self.method = method
        self.a = to_numpy_or_torch(backend, _spd(n, 1e3, batch, 0, dtype))
        self.b = to_numpy_or_torch(backend, _spd(n, 1e3, batch, 1, dtype))
        self.torch = backend.startswith("torch")
        self.time_forward()  # warm-up

    def time_forward(self, *args):
        wait_cuda(self.f(self.a, self.b, method=self.method, check=False))

    def time_forward_backward(self, *args):
        if self.torch:
            a, b = self.a.clone().requires_grad_(True), self.b.clone().requires_grad_(True)
            self.f(a, b, method=self.method, check=False).sum().backward()
            wait_cuda(a.grad)
        else:
            y, back = self.f_vjp(self.a, self.b, method=self.method, check=False)
            back(np.ones_like(y))


class GeometryAccuracy(Benchmark):
    params = [["eig", "newton-schulz"], [1e1, 1e4, 1e7]]
    param_names = ["method", "cond"]

    def setup(self, method, cond):
        if not _FUNCS:
            raise NotImplementedError("matfunc has no SPD geometry functions in this version")

    def track_distance_error(self, method, cond):
        n = 32
        rng = np.random.default_rng(0)
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        lam = np.logspace(0.0, -math.log10(cond), n)
        mu = rng.permutation(lam)
        a, b = (q * lam) @ q.T, (q * mu) @ q.T
        exact = math.sqrt(float(np.sum(np.log(mu / lam) ** 2)))
        # kappa(a^{-1/2} b a^{-1/2}) reaches cond^2: the product methods are told to cover it
        kw = {"max_cond": max(cond**2, 1e8)} if method == "newton-schulz" else {}
        d = float(_FUNCS["distance_riemann"][0]((a + a.T) / 2, (b + b.T) / 2, method=method, check=False, **kw))
        return abs(d - exact) / exact

    track_distance_error.unit = "relative error"
