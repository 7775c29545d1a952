r"""FID on ``n``-dimensional covariances (default 2048, Inception's feature size): :func:`matfunc.frechet_distance`
against the SciPy formula as pytorch-fid computes it (``scipy.linalg.sqrtm(s1 @ s2)``, real part of its trace),
times and relative differences side by side, and the float32 error against the float64 value.

Run ``python -m matfunc.bench.distances`` (``--n``, ``--threads``, ``--no-torch``, ``--all``). Float64 statistics of
features with a power-law spectrum (eigenvalues of the population covariance ``k^-1``, randomly rotated) and
nonzero means; the first two cases by default (SciPy takes a minute or more for each at n = 2048), all with
``--all``:

- ``full rank``: covariances of ``2 n`` samples;
- ``n/2 samples + ridge``: fewer samples than features plus a ridge ``1e-6 * tr(S) / n`` on the diagonal;
- ``n/2 samples``: rank-deficient, no ridge (pytorch-fid's situation with few samples).

The reference is computed from the data, not from the covariances, with no matrix square root: with ``S = F^T F``
(``F`` the centred samples over ``sqrt(N - 1)``, stacked on ``sqrt(ridge) I`` when there is a ridge) and the QR
factorisation ``F = Q R``, ``tr (S1^{1/2} S2 S1^{1/2})^{1/2} = ||S1^{1/2} S2^{1/2}||_* = ||R1 R2^T||_*``, the sum of
the singular values of an ``n x n`` product (QR of the data is backward stable and never squares it).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any

import numpy as np

__all__ = ["main", "run", "CASES", "make_case", "reference_fid", "scipy_fid"]

CASES = ("full rank", "n/2 samples + ridge", "n/2 samples")


def _features(n: int, samples: int, *, rng: np.random.Generator, q: np.ndarray) -> np.ndarray:
    scales = np.arange(1, n + 1, dtype=np.float64) ** -0.5  # population covariance eigenvalues k^-1
    z = rng.standard_normal((samples, n)) * scales
    return z @ q.T + rng.standard_normal(n) * 0.1


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = x.mean(axis=0)
    xc = x - mu
    s = xc.T @ xc / (x.shape[0] - 1)
    return mu, (s + s.T) / 2, xc / np.sqrt(x.shape[0] - 1)


def scipy_fid(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> tuple[float, float]:
    """pytorch-fid's ``calculate_frechet_distance`` (without its retry): the value and the largest imaginary part
    of ``sqrtm(s1 @ s2)``'s diagonal (what makes pytorch-fid raise 'Imaginary component')."""
    import scipy.linalg

    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    imag = float(np.abs(np.diagonal(covmean).imag).max()) if np.iscomplexobj(covmean) else 0.0
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real)), imag


def reference_fid(
    mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray, f1: np.ndarray, f2: np.ndarray
) -> float:
    """FID from the data factors ``S = F^T F``: ``||R1 R2^T||_*`` with ``F = Q R``."""
    r1, r2 = np.asarray(np.linalg.qr(f1, mode="r")), np.asarray(np.linalg.qr(f2, mode="r"))
    t = np.linalg.svd(r1 @ r2.T, compute_uv=False).sum()
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * t)


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def _limits(threads: int | None) -> Any:
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print(f"(threadpoolctl not installed: BLAS threads not limited to {threads})")
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads)


def make_case(n: int, case: str, *, seed: int = 0) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, np.ndarray]]:
    """``((mu1, sigma1, mu2, sigma2), (f1, f2))`` for one of :data:`CASES`, with ``sigma = f^T f``."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    if case == "full rank":
        a, b = _features(n, 2 * n, rng=rng, q=q), _features(n, 2 * n, rng=rng, q=q) + 0.01
    elif case in CASES:  # fewer samples than features (FID on small sets): n/2 and n/2 + 10 samples
        a, b = _features(n, n // 2, rng=rng, q=q), _features(n, n // 2 + 10, rng=rng, q=q) + 0.01
    else:
        raise ValueError(f"unknown case {case!r}; expected one of {CASES}")
    mu1, s1, f1 = _stats(a)
    mu2, s2, f2 = _stats(b)
    if case == "n/2 samples + ridge":
        eye = np.eye(n)
        r1, r2 = 1e-6 * np.trace(s1) / n, 1e-6 * np.trace(s2) / n
        s1, s2 = s1 + r1 * eye, s2 + r2 * eye
        f1, f2 = np.vstack([f1, np.sqrt(r1) * eye]), np.vstack([f2, np.sqrt(r2) * eye])
    return (mu1, s1, mu2, s2), (f1, f2)


def run(
    n: int = 2048,
    *,
    threads: int | None = None,
    use_torch: bool = True,
    seed: int = 0,
    cases: tuple[str, ...] = CASES[:2],
) -> list[dict]:
    """Measure ``cases`` (of :data:`CASES`); returns one row (a dict) per case."""
    import matfunc

    torch: Any = None
    if use_torch:
        try:
            import torch
        except ImportError:
            torch = None
    if torch is not None and threads:
        torch.set_num_threads(threads)
    rows = []
    small = (np.zeros(4), np.eye(4), np.ones(4), 2 * np.eye(4))
    matfunc.frechet_distance(*small)  # warm-up: imports, LAPACK workspaces
    if torch is not None:
        matfunc.frechet_distance(*(torch.from_numpy(v.astype(np.float32)) for v in small))
    with _limits(threads):
        for case in cases:
            args, (f1, f2) = make_case(n, case, seed=seed)
            ref, t_ref = _timed(reference_fid, *args, f1, f2)
            ours, t_ours = _timed(matfunc.frechet_distance, *args)
            (sp, imag), t_sp = _timed(scipy_fid, *args)
            args32 = [v.astype(np.float32) for v in args]
            ours32, t_32 = _timed(matfunc.frechet_distance, *args32)
            ours, ours32 = float(ours), float(ours32)
            row = dict(
                case=case,
                n=n,
                fid=ref,
                t_matfunc=t_ours,
                t_scipy=t_sp,
                t_ref=t_ref,
                t_float32=t_32,
                rel_matfunc=abs(ours - ref) / abs(ref),
                rel_scipy=abs(sp - ref) / abs(ref),
                rel_matfunc_scipy=abs(ours - sp) / abs(sp),
                scipy_imag=imag,
                rel_float32=abs(ours32 - ours) / abs(ours),
            )
            if torch is not None:
                targs = [torch.from_numpy(v.astype(np.float32)) for v in args]
                t32, t_t32 = _timed(matfunc.frechet_distance, *targs)
                t32 = float(t32)
                row.update(rel_torch32=abs(t32 - ours) / abs(ours), t_torch32=t_t32)
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


_HEADER = (
    "| case | FID (reference) | matfunc s | scipy s | reference s | matfunc vs ref | scipy vs ref | "
    "matfunc vs scipy | scipy max imag | float32 NumPy err (s) | float32 torch err (s) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def _format_row(r: dict) -> str:
    torch = f"{r['rel_torch32']:.1e} ({r['t_torch32']:.2f})" if "rel_torch32" in r else "-"
    return (
        f"| {r['case']} | {r['fid']:.6g} | {r['t_matfunc']:.2f} | {r['t_scipy']:.2f} | {r['t_ref']:.2f} | "
        f"{r['rel_matfunc']:.1e} | {r['rel_scipy']:.1e} | {r['rel_matfunc_scipy']:.1e} | {r['scipy_imag']:.1e} | "
        f"{r['rel_float32']:.1e} ({r['t_float32']:.2f}) | {torch} |"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m matfunc.bench.distances", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2048, help="feature dimension (default 2048, Inception's)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="BLAS/torch threads (default 0: the libraries' default; 1 gives steadier timings on a busy "
        "machine, where multithreaded LAPACK can be many times slower)",
    )
    p.add_argument("--no-torch", action="store_true", help="skip the float32 PyTorch column")
    p.add_argument("--all", action="store_true", help="add the rank-deficient case without a ridge")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    print(f"FID, n = {a.n}, float64, threads = {a.threads or 'default'}; times in seconds, errors relative\n")
    print(_HEADER, flush=True)
    run(a.n, threads=a.threads or None, use_torch=not a.no_torch, seed=a.seed, cases=CASES if a.all else CASES[:2])


if __name__ == "__main__":
    main()
