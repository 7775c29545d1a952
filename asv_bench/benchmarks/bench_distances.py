"""FID at n = 256 (NumPy, float64): :func:`matfunc.frechet_distance` against pytorch-fid's SciPy formula
(``scipy.linalg.sqrtm(s1 @ s2)``), on the statistics of ``python -m matfunc.bench.distances`` (full rank, and fewer
samples than features with and without a ridge). ``track_`` methods report the relative error against the exact
value from the samples (QR and singular values, no matrix square root)."""

from __future__ import annotations

from .common import Benchmark

try:
    from matfunc.bench import distances as _bd
except ImportError:  # old commits: the suite skips itself in setup
    _bd = None

CASES = ["full rank", "n/2 samples + ridge", "n/2 samples"]


class FrechetDistance(Benchmark):
    params = [CASES, ["matfunc", "scipy"]]
    param_names = ["case", "implementation"]

    def setup(self, case, implementation):
        if _bd is None:
            raise NotImplementedError("matfunc.bench.distances is missing")
        import matfunc

        self.args, factors = _bd.make_case(256, case)
        self.exact = _bd.reference_fid(*self.args, *factors)
        if implementation == "matfunc":
            self.fn = lambda: float(matfunc.frechet_distance(*self.args))
        else:
            self.fn = lambda: _bd.scipy_fid(*self.args)[0]
        self.fn()  # warm-up

    def time_frechet_distance(self, case, implementation):
        self.fn()

    def track_relative_error(self, case, implementation):
        return abs(self.fn() - self.exact) / abs(self.exact)

    track_relative_error.unit = "relative error"
