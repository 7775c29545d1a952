"""Schedules page: the eigenvalues of Z_k Y_k after each step, for three schedules, against the products spent.

One matrix of condition 1e8 (n = 32), normalised by matfunc.core.scaling.normalize; each schedule runs the steps
that cover the default condition number (matfunc.core.options.default_coverage) through the package's kernel
matfunc.core.newton_schulz.newton_schulz_steps, and the dots after step k are the eigenvalues of Z_k Y_k, placed at
the products spent so far (matfunc.core.root_schedules.root_matmuls).
"""

import matplotlib.pyplot as plt
import numpy as np

from matfunc.core import options, root_schedules
from matfunc.core.newton_schulz import newton_schulz_steps
from matfunc.core.scaling import normalize

EPS = float(np.finfo(np.float64).eps)
cover = options.default_coverage(EPS)
rng = np.random.default_rng(0)
n, cond = 32, 1e8
q, _ = np.linalg.qr(rng.standard_normal((n, n)))
a = (q * np.logspace(0, -np.log10(cond), n)) @ q.T
a_n, _ = normalize(a, scale="spectral", xp=np)

labels = {"plain": "plain cubic (paper)", "scaled": "scaled cubic", "polar-express": "minimax quintic (default)"}
fig, axes = plt.subplots(3, 1, figsize=(7.0, 5.6), layout="constrained", sharex=True, sharey=True)
for ax, (name, label), color in zip(axes, labels.items(), ("C0", "C1", "C3"), strict=True):
    k = root_schedules.root_iters(name, cover, EPS)
    steps = root_schedules.root_steps(name, k, EPS)
    for i in range(k + 1):
        y, z = newton_schulz_steps(a_n, steps=steps[:i], want="both", xp=np)
        x = np.linalg.eigvals(z @ y).real
        ax.semilogy(np.full(n, root_schedules.root_matmuls(steps[:i]) if i else 0), x, ".", color=color, ms=3)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_title(f"{label}: {k} steps, {root_schedules.root_matmuls(steps)} products", fontsize=9, loc="left")
    ax.set_ylabel(r"eig. of $Z_k Y_k$")
axes[-1].set_xlabel("matrix products spent (one output)")
axes[0].set_ylim(1e-9, 5)
