"""Normalisation page: where each scale c puts the spectrum of A_n = A / c, and how far c overshoots lambda_max.

Left: the eigenvalues of A_n (matfunc.core.scaling.normalize) for a spread spectrum (log-spaced, cond 1e4) and a
clustered one (uniform in [0.5, 1]), n = 64. Right: c / lambda_max for the worst case, all eigenvalues equal
(A = I), against n: sqrt(n) for the Frobenius norm, n^(1/16) for the spectral scale.
"""

import matplotlib.pyplot as plt
import numpy as np

from matfunc.core.scaling import normalize

rng = np.random.default_rng(0)
n = 64
q, _ = np.linalg.qr(rng.standard_normal((n, n)))
spectra = {
    "spread (cond 1e4)": np.logspace(0, -4, n),
    "clustered in [0.5, 1]": rng.uniform(0.5, 1.0, n),
}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.4), layout="constrained", width_ratios=(1.6, 1))
rows, names = [], []
for label, w in spectra.items():
    a = (q * w) @ q.T
    for scale in ("frobenius", "spectral"):
        a_n, c = normalize(a, scale=scale, xp=np)
        rows.append(np.linalg.eigvalsh(a_n))
        names.append(f"{label}\n{scale}: c = {c.item() / w.max():.2f} $\\lambda_{{max}}$")
colors = ["C0", "C1", "C0", "C1"]
ax1.eventplot(rows, orientation="horizontal", colors=colors, lineoffsets=range(4), linelengths=0.7, linewidths=0.8)
ax1.set_xscale("log")
ax1.axvline(1.0, color="k", lw=0.8, ls="--")
ax1.set_yticks(range(4), names, fontsize=7.5)
ax1.invert_yaxis()
ax1.set_xlabel(r"eigenvalues of $A_n = A / c$ (the methods want them in $(0, 1]$, near 1)")

ns = 2 ** np.arange(1, 10)
for scale, color in (("frobenius", "C0"), ("spectral", "C1")):
    over = [normalize(np.eye(int(m)), scale=scale, xp=np)[1].item() for m in ns]
    ax2.loglog(ns, over, "o-", color=color, ms=3, label=scale)
ax2.loglog(ns, np.sqrt(ns), "k:", lw=0.8, label=r"$\sqrt{n}$")
ax2.loglog(ns, ns ** (1 / 16), "k--", lw=0.8, label=r"$n^{1/16}$")
ax2.set_xlabel("n (all eigenvalues equal)")
ax2.set_ylabel(r"$c / \lambda_{max}$")
ax2.legend(fontsize=8)
