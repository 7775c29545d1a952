"""Time, peak memory and accuracy of ``matfunc.sqrtm`` and its baselines, over backend x method x size.

Methods (labels of :data:`matfunc.bench.METHODS`): matfunc's ``auto``, ``eig``, ``pade``,
``newton-schulz``, ``ns-unrolled``, ``taylor``, ``paper-settings``, and the baselines ``paper-ref`` (the
paper's MPA + Lyapunov written from its equations), ``eigh-ref`` (eigh with the exact backward),
``scipy.sqrtm`` and ``jax.scipy.sqrtm`` (forward only).
"""

from __future__ import annotations

from .common import BACKENDS, BATCHES, DTYPES, SIZES, Benchmark, block, check_size, get_backend, get_method, inputs

try:
    from matfunc.bench import METHODS, functions
except ImportError:  # old commits: the suite skips itself in setup
    METHODS, functions = (), None

ALL = [m.label for m in METHODS]
DIFFERENTIABLE = [m.label for m in METHODS if m.kind not in ("scipy", "jax-scipy")]


class _Grid(Benchmark):
    param_names = ["backend", "method", "n", "batch", "dtype"]
    phase = "fwd"

    def setup(self, backend, method, n, batch, dtype):
        check_size(backend, n, batch)
        be = get_backend(backend)
        f, fvjp = functions(get_method(method), be)  # NotImplementedError where the method does not exist
        x, g = inputs(be, n, batch, dtype)
        if self.phase == "fwd":
            self.fn = be.fwd(f, fvjp, x)
        elif self.phase == "bwd":
            self.fn = be.bwd(f, fvjp, x, g)
        else:
            self.fn = be.fwdbwd(f, fvjp, x, g)
        self.be = be
        block(be, self.fn())  # warm-up and jit compilation, outside the timing


class Forward(_Grid):
    """``y = sqrtm(x)``."""

    params = [BACKENDS, ALL, SIZES, BATCHES, DTYPES]
    phase = "fwd"

    def time_forward(self, *args):
        block(self.be, self.fn())


class Backward(_Grid):
    """The backward (VJP) alone, after a forward: torch ``autograd.grad(..., retain_graph=True)``, a jitted
    ``jax.vjp`` closure, ``matfunc.sqrtm_vjp``'s closure on NumPy/CuPy."""

    params = [BACKENDS, DIFFERENTIABLE, SIZES, BATCHES, DTYPES]
    phase = "bwd"

    def time_backward(self, *args):
        block(self.be, self.fn())


class ForwardBackward(_Grid):
    """Forward and backward: torch autograd, ``jax.jit(jax.value_and_grad(loss))``, ``sqrtm_vjp``."""

    params = [BACKENDS, DIFFERENTIABLE, SIZES, BATCHES, DTYPES]
    phase = "fwd+bwd"

    def time_forward_backward(self, *args):
        block(self.be, self.fn())

    def peakmem_forward_backward(self, *args):
        block(self.be, self.fn())


class Matmul(Benchmark):
    """The roofline's unit: one batched matrix product (``count x this`` bounds the matmul-based methods)."""

    params = [BACKENDS, SIZES, BATCHES, DTYPES]
    param_names = ["backend", "n", "batch", "dtype"]

    def setup(self, backend, n, batch, dtype):
        check_size(backend, n, batch)
        be = get_backend(backend)
        x, _ = inputs(be, n, batch, dtype)
        mm = be.compile(lambda u, v: u @ v)
        self.fn, self.be = (lambda: mm(x, x)), be
        block(be, self.fn())

    def time_matmul(self, *args):
        block(self.be, self.fn())


class Accuracy(Benchmark):
    """Relative error of the value and of the gradient against the exact ones (n = 64, batch 4), so that a
    regression in accuracy shows like one in speed."""

    params = [BACKENDS, ALL, [1e2, 1e6], DTYPES]
    param_names = ["backend", "method", "cond", "dtype"]
    unit = "relative error"

    def setup(self, backend, method, cond, dtype):
        import types

        from matfunc import bench

        be = get_backend(backend)
        m = get_method(method)
        functions(m, be)  # NotImplementedError where the method does not exist
        cfg = types.SimpleNamespace(acc_n=64, acc_batch=4, acc_dtype=dtype)
        self.err = bench.accuracy(m, be, cfg, cond)

    def track_value_error(self, *args):
        return self.err["value_err"]

    def track_gradient_error(self, *args):
        if self.err["grad_err"] is None:
            return float("nan")  # forward-only baseline
        return self.err["grad_err"]

    track_value_error.unit = track_gradient_error.unit = "relative error"


class CheckCost(Benchmark):
    """What ``check=True`` costs: the input checks and the result's residual (one extra batched product for
    ``sqrtm``, two for ``inv_sqrtm``, plus its Cholesky singularity test), against ``check=False``."""

    param_names = ["backend", "function", "method", "check"]
    params = [BACKENDS, ["sqrtm", "inv_sqrtm"], ["eig", "newton-schulz", "pade"], [False, True]]

    def setup(self, backend, function, method, check):
        import matfunc

        if function == "inv_sqrtm" and method == "pade":
            raise NotImplementedError("inverse Padé is not checked against its residual (its bound is 1)")
        check_size(backend, 64, 256)
        be = get_backend(backend)
        x, _ = inputs(be, 64, 256, "float32")
        fn = getattr(matfunc, function)
        self.be = be
        self.fn = lambda: fn(x, method, check=check)
        block(be, self.fn())

    def time_call(self, *args):
        block(self.be, self.fn())
