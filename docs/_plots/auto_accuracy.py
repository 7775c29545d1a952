"""Forward error of sqrtm's two automatic choices, "eig" (CPU) and "newton-schulz" with the default steps (GPUs),
against the condition number, float64 and float32; shaded: past the condition number the default steps cover."""

import matplotlib.pyplot as plt
import numpy as np

import matfunc
from matfunc.core.options import default_coverage

rng = np.random.default_rng(0)
n = 32
q, _ = np.linalg.qr(rng.standard_normal((n, n)))
fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4))
for ax, dtype, top in zip(axes, (np.float64, np.float32), (1e11, 1e8), strict=True):
    conds = np.logspace(1, np.log10(top), 11)
    covered = default_coverage(float(np.finfo(dtype).eps))
    errs: dict[str, list[float]] = {"eig": [], "newton-schulz": []}
    for cond in conds:
        w = np.logspace(0, -np.log10(cond), n)
        a = (q * w) @ q.T
        exact = (q * np.sqrt(w)) @ q.T  # float64 reference from the known eigenvectors
        for method in errs:
            x = matfunc.sqrtm(a.astype(dtype), method, check=False).astype(np.float64)
            errs[method].append(np.linalg.norm(x - exact) / np.linalg.norm(exact))
    ax.loglog(conds, errs["eig"], "o-", ms=3, label='"eig" (auto on CPU)')
    ax.loglog(conds, errs["newton-schulz"], "s-", ms=3, label='"newton-schulz", default steps (auto on GPUs)')
    ax.axvspan(covered, top * 2, color="0.85", zorder=0)
    ax.text(covered * 1.3, 0.3, "beyond the\ndefault steps'\ncoverage", fontsize=8, va="top")
    ax.set_xlim(conds[0] / 2, top * 2)
    ax.set_ylim(float(np.finfo(dtype).eps) / 2, 1)
    ax.set_title(f"{np.dtype(dtype).name}, n = {n}", fontsize=9)
    ax.set_xlabel("condition number of $A$")
axes[0].set_ylabel(r"$\|X - A^{1/2}\|_F / \|A^{1/2}\|_F$")
axes[0].legend(fontsize=8, loc="upper left")
fig.tight_layout()
