"""The default call (``method="auto"``, ``check=True``) against the plain eigh code a user would write, and
second-order memory.

Functions, variants and inputs come from :mod:`matfunc.bench.vs_eigh` (``python -m matfunc.bench.vs_eigh`` runs the
same comparison interleaved in one process, with ratios). ``backend`` here is ``framework:dtype``
(``torch:float32``, ``numpy:float64``, ``numpy:float32``; CPU), ``size`` is ``BATCHxN`` (issue 26's sizes; NumPy
also 4000x32), ``variant`` one of ``default``, ``check=False``, ``eigh``. ``fwd+bwd``: torch autograd (through
``eigh`` for the plain code); NumPy: matfunc's ``*_vjp`` against a hand-written Daleckii–Krein backward.

``SecondOrder``: ``peakmem_`` of a gradient (``order`` 1) and a Hessian-vector product (``order`` 2) of
``sum(f(A) * G)`` with ``method="eig"`` (torch, float64) and of the plain eigh code with autograd;
``track_peak_mib`` the same peak above the process's resident size before the computation, measured in a fresh
subprocess (what ``python -m matfunc.bench.vs_eigh --memory`` tabulates as multiples of first order).
"""

from __future__ import annotations

import importlib.util
import os

from .common import BACKENDS, Benchmark

try:
    from matfunc.bench import vs_eigh as _ve
except ImportError:  # old commits: the suite skips itself in setup
    _ve = None

# CPU only; MATFUNC_BENCH_BACKENDS (common.py) selects the frameworks, MATFUNC_BENCH_SIZES (e.g. "256x64,4x256")
# and MATFUNC_BENCH_FUNCTIONS (e.g. "sqrtm,logm") narrow the grid.
_FRAMEWORKS = [b for b in ("torch:float32", "numpy:float64", "numpy:float32") if b.split(":")[0] + ":cpu" in BACKENDS]
FUNCTIONS = os.environ.get("MATFUNC_BENCH_FUNCTIONS", "sqrtm,inv_sqrtm,powm,logm,expm").split(",")
SIZES = os.environ.get("MATFUNC_BENCH_SIZES", "1024x32,256x64,32x128,4x256,1x1024,4000x32").split(",")
VARIANTS = ["default", "check=False", "eigh"]


def _module():
    if _ve is None:
        raise NotImplementedError("matfunc.bench.vs_eigh is not available in this version")
    return _ve


class DefaultVsEigh(Benchmark):
    """``time_forward`` / ``time_forward_backward`` of one variant; compare the variants of one (backend,
    function, size) in ``asv compare`` or the published graphs."""

    params = [_FRAMEWORKS, FUNCTIONS, SIZES, VARIANTS]
    param_names = ["backend", "function", "size", "variant"]

    def setup(self, backend, function, size, variant):
        ve = _module()
        batch, n = (int(x) for x in size.split("x"))
        if size == "4000x32" and not backend.startswith("numpy"):
            raise NotImplementedError("4000x32 is a NumPy case (issue 26)")
        calls = ve.variants(backend, ve.FUNCTIONS[function], batch, n)
        self.fwd, self.fwdbwd = calls[(variant, "fwd")], calls[(variant, "fwd+bwd")]
        self.fwd()  # warm-up: imports, thread pools, allocator
        self.fwdbwd()

    def time_forward(self, *args):
        self.fwd()

    def time_forward_backward(self, *args):
        self.fwdbwd()


class SecondOrder(Benchmark):
    """Peak memory of first- and second-order derivatives of the spectral functions (``method="eig"``)."""

    params = [[f for f in FUNCTIONS if f != "inv_sqrtm"], [1, 2], ["matfunc", "eigh"], ["16x64"]]
    param_names = ["function", "order", "code", "size"]
    timeout = 900

    def setup(self, function, order, code, size):
        ve = _module()
        if importlib.util.find_spec("torch") is None:
            raise NotImplementedError("torch is not installed")
        self.batch, self.n = (int(x) for x in size.split("x"))
        self.work, _ = ve.torch_work(function, order, self.batch, self.n, code)

    def peakmem_derivative(self, *args):
        self.work()

    def track_peak_mib(self, function, order, code, size):
        return _module()._subprocess_case("torch", function, order, self.batch, self.n, code)["mib"]

    track_peak_mib.unit = "MiB"
