"""Newton–Schulz roots with low-precision products (``matmul_dtype``): time on PyTorch/JAX backends, and accuracy.

``products`` is ``"working"`` (float32 products) or a ``matmul_dtype``. On CPUs the low-precision products are not
faster (docs/derivations/schedules.md, "Mixed precision"); the GPU entries are the ones this is for. The accuracy
track is ``python -m matfunc.bench.schedules --lowprec`` (PyTorch on CPU).
"""

from __future__ import annotations

from .common import BACKENDS, Benchmark, block, check_size, get_backend, inputs

PRODUCTS = ["working", "bfloat16", "float16"]
SHAPES = ["256x64", "8x1024"]


class LowPrecisionTime(Benchmark):
    params = [[b for b in BACKENDS if b.startswith(("torch", "jax"))], PRODUCTS, SHAPES]
    param_names = ["backend", "products", "shape"]

    def setup(self, backend, products, shape):
        import matfunc

        batch, n = (int(v) for v in shape.split("x"))
        check_size(backend, n, batch)
        be = get_backend(backend)
        x, _ = inputs(be, n, batch, "float32")
        low = None if products == "working" else products

        def f(t):
            return matfunc.sqrtm(t, "newton-schulz", matmul_dtype=low, check=False)

        self.be, self.fn = be, be.fwd(f, None, x)
        block(be, self.fn())

    def time_sqrtm(self, *args):
        block(self.be, self.fn())


class LowPrecisionAccuracy(Benchmark):
    """The larger relative error of ``sqrtm``/``inv_sqrtm`` (float32 working precision, n = 64, batch 4)."""

    params = [["bfloat16", "float16", "tf32"], [1e1, 1e2, 1e3]]
    param_names = ["products", "cond"]
    unit = "relative error"

    def setup(self, products, cond):
        try:
            import torch  # noqa: F401

            from matfunc.bench import schedules
        except ImportError as exc:
            raise NotImplementedError(str(exc)) from None
        r = schedules.lowprec_row(cond, dtype="float32", products=products, repeat=1)
        self.err = max(r["sqrtm"], r["inv_sqrtm"])

    def track_error(self, *args):
        return self.err

    track_error.unit = "relative error"
