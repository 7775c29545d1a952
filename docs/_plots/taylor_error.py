"""Taylor page: the error of the truncated binomial series on each eigenvalue, against the branch point.

The matrix polynomial acts on each eigenvalue lambda of A_n separately (z = 1 - lambda), so the scalar error on
(0, 1] is the matrix error. Coefficients: matfunc.core.coefficients.taylor_floats (what the kernel uses).
"""

import matplotlib.pyplot as plt
import numpy as np

from matfunc.core.coefficients import taylor_floats
from matfunc.core.options import DEFAULT_TAYLOR_DEGREE


def horner(coeffs, z):
    out = np.zeros_like(z)
    for c in reversed(coeffs):
        out = out * z + c
    return out


lam = np.logspace(-8, 0, 400)
z = 1.0 - lam
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained")
for d in (5, DEFAULT_TAYLOR_DEGREE, 20, 40, 80):
    label = f"degree {d}" + (" (default)" if d == DEFAULT_TAYLOR_DEGREE else "")
    err = np.abs(horner(taylor_floats(d, False), z) - np.sqrt(lam))
    ax1.loglog(lam, np.maximum(err, 1e-17), label=label)
    inv_err = np.abs(horner(taylor_floats(d, True), z) * np.sqrt(lam) - 1.0)
    ax2.loglog(lam, np.maximum(inv_err, 1e-17), label=label)
ax1.set_ylabel(r"$|p_d(z) - \sqrt{\lambda}|$")
ax1.set_title(r"$A_n^{1/2}$: series of $(1 - z)^{1/2}$", fontsize=9)
ax2.set_ylabel(r"$|p_d(z)\sqrt{\lambda} - 1|$ (relative)")
ax2.set_title(r"$A_n^{-1/2}$: series of $(1 - z)^{-1/2}$", fontsize=9)
for ax in (ax1, ax2):
    ax.set_xlabel(r"eigenvalue $\lambda = 1 - z$ of $A_n$ (branch point at $\lambda = 0$)")
    ax.set_ylim(1e-17, 2)
ax1.legend(fontsize=8)
