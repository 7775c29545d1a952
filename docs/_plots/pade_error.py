"""Padé page: the error of the [m/m] approximants on each eigenvalue, against the branch point, with Taylor's.

As for the Taylor series the approximant acts on each eigenvalue lambda of A_n separately (z = 1 - lambda).
Coefficients: matfunc.core.coefficients.pade_floats and taylor_floats (what the kernels use).
"""

import matplotlib.pyplot as plt
import numpy as np

from matfunc.core.coefficients import pade_floats, taylor_floats
from matfunc.core.options import DEFAULT_PADE_DEGREE, DEFAULT_TAYLOR_DEGREE


def horner(coeffs, z):
    out = np.zeros_like(z)
    for c in reversed(coeffs):
        out = out * z + c
    return out


lam = np.logspace(-8, 0, 400)
z = 1.0 - lam
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained")
for m in (3, DEFAULT_PADE_DEGREE, 8, 12, 20):
    label = f"[{m}/{m}]" + (" (default)" if m == DEFAULT_PADE_DEGREE else "")
    p, q = pade_floats(m, m)
    pz, qz = horner(p, z), horner(q, z)
    ax1.loglog(lam, np.maximum(np.abs(pz / qz - np.sqrt(lam)), 1e-17), label=label)
    ax2.loglog(lam, np.maximum(np.abs(qz / pz * np.sqrt(lam) - 1.0), 1e-17), label=label)
t = DEFAULT_TAYLOR_DEGREE
ax1.loglog(lam, np.abs(horner(taylor_floats(t, False), z) - np.sqrt(lam)), "k--", lw=1, label=f"Taylor degree {t}")
ax2.loglog(lam, np.abs(horner(taylor_floats(t, True), z) * np.sqrt(lam) - 1), "k--", lw=1, label=f"Taylor degree {t}")
ax1.set_ylabel(r"$|p(z)/q(z) - \sqrt{\lambda}|$")
ax1.set_title(r"$A_n^{1/2} \approx q(Z)^{-1} p(Z)$", fontsize=9)
ax2.set_ylabel(r"$|q(z)/p(z)\,\sqrt{\lambda} - 1|$ (relative)")
ax2.set_title(r"$A_n^{-1/2} \approx p(Z)^{-1} q(Z)$", fontsize=9)
for ax in (ax1, ax2):
    ax.set_xlabel(r"eigenvalue $\lambda = 1 - z$ of $A_n$ (branch point at $\lambda = 0$)")
    ax.set_ylim(1e-17, 2)
ax1.legend(fontsize=8)
