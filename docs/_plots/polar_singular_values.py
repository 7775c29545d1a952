"""Singular values of X_k after each step of matfunc's polar schedules on one 128 x 64 matrix (cond 1e3).

Runs matfunc's own forward (matfunc.core.polar.polar_forward) with the first k steps of each default schedule.
"""

import dataclasses

import array_api_compat.numpy as xp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from matfunc import _polar
from matfunc.core import polar as core

rng = np.random.default_rng(0)
m, n, cond = 128, 64, 1e3
w, _ = np.linalg.qr(rng.standard_normal((m, n)))
v, _ = np.linalg.qr(rng.standard_normal((n, n)))
a = (w * np.logspace(0, -np.log10(cond), n)) @ v.T
eps = float(np.finfo(np.float64).eps)

methods = [("newton-schulz", "Newton–Schulz (scaled cubic)"), ("polar-express", "Polar Express"), ("muon", "Muon")]
fig, axd = plt.subplot_mosaic([["newton-schulz", "polar-express", "muon"], ["err", "err", "err"]], figsize=(8.4, 6.4))
for i, (method, title) in enumerate(methods):
    ax = axd[method]
    opts = _polar.resolve(
        method,
        num_iters=None,
        lower_bound=None,
        scale="spectral",
        matmul_dtype=None,
        backward="auto",
        backward_iters=None,
        eps=eps,
        on_cpu=True,
    )
    sv = []
    for k in range(len(opts.steps) + 1):
        if k == 0:
            ok = dataclasses.replace(opts, steps=((1.0, 0.0, 0.0),))  # identity step: the normalised input
        else:
            ok = dataclasses.replace(opts, steps=opts.steps[:k])
        u, _ = core.polar_forward(a, opts=ok, xp=xp)
        sv.append(np.linalg.svd(u, compute_uv=False))
    sv = np.array(sv)
    steps = np.arange(len(sv))
    colors = plt.cm.viridis(np.linspace(0, 1, n))
    for j in range(n):
        ax.semilogy(steps, sv[:, j], color=colors[j], lw=0.8)
    ax.axhline(1.0, color="k", lw=0.6, ls=":")
    ax.set_title(f"{title}\n{len(opts.steps)} steps, {core.polar_products(opts, m, n)} products", fontsize=9)
    ax.set_xlabel("step $k$")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(1e-4, 3)
    products = [core.polar_products(dataclasses.replace(opts, steps=opts.steps[:j]), m, n) for j in steps[1:]]
    axd["err"].semilogy(products, np.abs(1 - sv[1:]).max(axis=1), "o-", color=f"C{i}", ms=3, label=title)
axd["newton-schulz"].set_ylabel(r"singular values of $X_k$")
axd["err"].axhline(eps, color="0.4", lw=0.8, ls=":")
axd["err"].text(33, eps * 2, "machine epsilon", color="0.3", fontsize=8, ha="right")
axd["err"].set_xlabel("matrix products (Gram matrix, spectral scale and steps)")
axd["err"].set_ylabel(r"$\max_j |1 - \sigma_j(X_k)|$")
axd["err"].legend(fontsize=8)
fig.tight_layout()
