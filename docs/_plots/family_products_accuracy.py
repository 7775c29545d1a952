"""Relative error of the matrix-product methods (coupled Newton inverse roots, inverse scaling and squaring for
the logarithm, scaling and squaring for the exponential) and of "eig", float64, n = 32, against a reference
from the known eigenvectors."""

import matplotlib.pyplot as plt
import numpy as np

import matfunc

rng = np.random.default_rng(0)
n = 32
q, _ = np.linalg.qr(rng.standard_normal((n, n)))


def spd(w):
    return (q * w) @ q.T


def rel(x, y):
    return np.linalg.norm(x - y) / np.linalg.norm(y)


conds = np.logspace(1, 8, 8)
fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.4))
ax = axes[0]
for k, root in enumerate((3, 4, 8)):
    errs = []
    for cond in conds:
        w = np.logspace(0, -np.log10(cond), n)
        errs.append(rel(matfunc.powm(spd(w), -1.0 / root, "newton"), spd(w ** (-1.0 / root))))
    ax.loglog(conds, errs, "o-", ms=3, color=f"C{k}", label=f'$A^{{-1/{root}}}$, "newton"')
errs = [
    rel(matfunc.powm(spd(w), -0.25, "eig"), spd(w**-0.25)) for w in (np.logspace(0, -np.log10(c), n) for c in conds)
]
ax.loglog(conds, errs, "k--", lw=1, label=r'$A^{-1/4}$, "eig"')
ax.set_title("inverse $q$-th roots (coupled Newton)", fontsize=9)
ax.set_xlabel("condition number of $A$")
ax.set_ylabel("relative error (Frobenius)")

ax = axes[1]
for method, style in (("iss", "o-"), ("eig", "k--")):
    errs = []
    for cond in conds:
        w = np.logspace(0, -np.log10(cond), n)
        errs.append(rel(matfunc.logm(spd(w), method), spd(np.log(w))))
    ax.loglog(conds, errs, style, ms=3, lw=1 if method == "eig" else 1.5, label=f'$\\log A$, "{method}"')
ax.set_title("logarithm (inverse scaling and squaring)", fontsize=9)
ax.set_xlabel("condition number of $A$")

ax = axes[2]
spreads = np.logspace(0, 3, 7)
for method, style in (("taylor", "o-"), ("eig", "k--")):
    errs = []
    for r in spreads:
        w = np.linspace(-r, 0.0, n)
        errs.append(rel(matfunc.expm(spd(w), method), spd(np.exp(w))))
    ax.loglog(spreads, errs, style, ms=3, lw=1 if method == "eig" else 1.5, label=f'$e^A$, "{method}"')
ax.set_title("exponential (scaling and squaring)", fontsize=9)
ax.set_xlabel(r"spread $\lambda_{max} - \lambda_{min}$ of $A$")
for ax in axes:
    ax.set_ylim(1e-16, 1e-6)
    ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
