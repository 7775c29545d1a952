"""Time and accuracy of ``matfunc.orthogonalize`` / ``matfunc.polar`` against an SVD-based polar factor.

Parameters ``backend`` (``name:device``, as the rest of the suite), method and shape ``batch x m x n``; float32.
Large shapes are skipped on CPU (``common.check_size`` on ``batch * m * n^2``). The products-to-accuracy table is
``python -m matfunc.bench.polar --products`` (not a timing).
"""

from __future__ import annotations

from .common import BACKENDS, Benchmark, block, check_size, get_backend

METHODS = ["svd", "newton-schulz", "polar-express", "muon", "polar-express-bf16", "svd-baseline"]
SHAPES = ["64x1024x256", "8x4096x1024", "16x512x128"]


def _kwargs(method):
    if method == "polar-express-bf16":
        return "polar-express", {"lower_bound": 1e-3, "num_iters": 5, "matmul_dtype": "bfloat16"}
    if method == "muon":
        return "muon", {"scale": "frobenius"}
    return method, {}


class Orthogonalize(Benchmark):
    params = [BACKENDS, METHODS, SHAPES]
    param_names = ["backend", "method", "shape"]

    def setup(self, backend, method, shape):
        import numpy as np

        import matfunc

        try:
            from matfunc.bench.polar import test_matrices
        except ImportError:  # commits before the benchmark package
            from matfunc.bench_polar import test_matrices

        batch, m, n = (int(v) for v in shape.split("x"))
        check_size(backend, (m * n * n) ** (1 / 3), batch)
        be = get_backend(backend)
        if method.endswith("bf16") and backend.startswith("numpy"):
            raise NotImplementedError("NumPy has no bfloat16")
        x = be.to(test_matrices(m, n, 1e2, batch=batch).astype(np.float32))
        self.be = be
        if method == "svd-baseline":
            if not backend.startswith("torch"):
                raise NotImplementedError("the SVD baseline is torch.linalg.svd")
            import torch

            def fn():
                w, _, vh = torch.linalg.svd(x, full_matrices=False)
                return w @ vh
        else:
            name, kw = _kwargs(method)

            def fn():
                return matfunc.orthogonalize(x, name, check=False, **kw)

        self.fn = fn
        self.x = x
        block(be, fn())

    def time_orthogonalize(self, *args):
        block(self.be, self.fn())

    def track_orthogonality(self, *args):
        import numpy as np

        u = np.asarray(self.be.back(self.fn()), dtype=np.float64)
        k = u.shape[-1]
        return float(np.abs(np.swapaxes(u, -1, -2) @ u - np.eye(k)).max())

    track_orthogonality.unit = "max |U^T U - I|"
