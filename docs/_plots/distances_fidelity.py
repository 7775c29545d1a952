"""Relative error of the root fidelity F(A, B) = tr (A^{1/2} B A^{1/2})^{1/2} of two sample covariances of
N samples of n = 64 features, N < n (singular), against the exact value; matfunc vs the textbook routes.

Integer samples X, Y make A = X X^T and B = Y Y^T exact in floating point, and F(A, B) = ||X^T Y||_* (the nuclear
norm of a small exact integer matrix) a reference accurate to rounding, for the very matrices each route is given.
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.linalg

import matfunc

rng = np.random.default_rng(0)
n = 64
samples = np.array([2, 4, 8, 16, 24, 32, 48, 63])


def textbook(a, b):  # sum sqrt(eigvalsh(A^{1/2} B A^{1/2})), A^{1/2} from eigh: what most FID code computes
    w, v = np.linalg.eigh(a)
    r = (v * np.sqrt(np.maximum(w, 0))) @ v.T
    lam = np.linalg.eigvalsh(r @ b @ r)
    return np.sum(np.sqrt(np.maximum(lam, 0)))


def scipy_route(a, b):  # trace(sqrtm(s1 @ s2)), pytorch-fid / clean-fid / torchmetrics
    return np.trace(scipy.linalg.sqrtm(a.astype(np.float64) @ b.astype(np.float64))).real


errs: dict[str, list[float]] = {k: [] for k in ("m64", "m32", "t64", "t32", "scipy")}
for N in samples:
    x = rng.integers(-8, 9, size=(n, N)).astype(np.float64)
    y = rng.integers(-8, 9, size=(n, N)).astype(np.float64)
    a, b = x @ x.T, y @ y.T  # exact: integers below 2^24, so exact in float32 too
    exact = np.linalg.svd(x.T @ y, compute_uv=False).sum()
    for dtype, tag in ((np.float64, "64"), (np.float32, "32")):
        errs["m" + tag].append(abs(float(matfunc.root_fidelity(a.astype(dtype), b.astype(dtype))) - exact) / exact)
        errs["t" + tag].append(abs(float(textbook(a.astype(dtype), b.astype(dtype))) - exact) / exact)
    errs["scipy"].append(abs(scipy_route(a, b) - exact) / exact)

eps64, eps32 = np.finfo(np.float64).eps, np.finfo(np.float32).eps
floor = eps64 / 10  # exact agreement plotted at eps/10
fig, ax = plt.subplots(figsize=(6.4, 3.8))
for key, label, style in (
    ("m64", "matfunc.root_fidelity, float64", "C0o-"),
    ("t64", r"textbook $\sum\sqrt{\lambda(A^{1/2}BA^{1/2})}$, float64", "C1s--"),
    ("scipy", "tr scipy.linalg.sqrtm(A @ B), float64", "C2^:"),
    ("m32", "matfunc.root_fidelity, float32", "C0o-"),
    ("t32", "textbook, float32", "C1s--"),
):
    fmt = style[:2], style[2], style[3:]
    ax.semilogy(
        samples,
        np.maximum(errs[key], floor),
        fmt[2],
        color=fmt[0],
        marker=fmt[1],
        ms=4,
        mfc="none" if key.endswith("32") else fmt[0],
        label=label,
    )
for e, name in ((eps64, "float64 eps"), (eps32, "float32 eps")):
    ax.axhline(e, color="0.5", lw=0.7, ls=":")
    ax.text(samples[-1], e * 1.5, name, fontsize=8, ha="right", color="0.3")
ax.set_xlabel(f"samples $N$ per covariance ($n = {n}$ features: rank $N$, {n} - $N$ zero eigenvalues)")
ax.set_ylabel("relative error of $F(A, B)$")
ax.set_ylim(floor / 2, 1)
ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)
