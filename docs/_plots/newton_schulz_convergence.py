"""Newton–Schulz page: distance of Z_k Y_k from I against the matrix products spent, per schedule.

Each schedule runs the steps that cover the default condition number (matfunc.core.options.default_coverage) on one
matrix of condition 1e8, through the package's kernel; the x axis counts products with
matfunc.core.root_schedules.root_matmuls (one output wanted), so the end of each curve is the product count of
its default.
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
eye = np.eye(n)

fig, ax = plt.subplots(figsize=(6.4, 3.6))
labels = {"plain": "plain cubic (paper)", "scaled": "scaled cubic", "polar-express": "minimax quintic (default)"}
for name, label in labels.items():
    k = root_schedules.root_iters(name, cover, EPS)
    steps = root_schedules.root_steps(name, k, EPS)
    prods, errs = [], []
    for i in range(1, k + 1):
        y, z = newton_schulz_steps(a_n, steps=steps[:i], want="both", xp=np)
        prods.append(root_schedules.root_matmuls(steps[:i]))
        errs.append(np.linalg.norm(z @ y - eye, 2))
    ax.semilogy(prods, errs, "o-", ms=3, label=f"{label}: {k} steps, {prods[-1]} products")
ax.axhline(EPS, color="k", lw=0.8, ls=":", label="float64 eps")
ax.set_xlabel("matrix products (one output)")
ax.set_ylabel(r"$\|Z_k Y_k - I\|_2$")
ax.set_title(f"n = {n}, cond(A) = {cond:.0e}; steps for the default coverage {cover:.2g}", fontsize=9)
ax.set_ylim(1e-21, 10)
ax.legend(fontsize=8, loc="lower left")
