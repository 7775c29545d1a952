"""Tutorial, step 1: Newton's iteration for a scalar square root, and why small numbers converge slowly.

Left: the relative error of Heron's iteration x <- (x + a / x) / 2 for sqrt(2), and of the division-free
Newton–Schulz iteration z <- z (3 - a z^2) / 2 for 1 / sqrt(1/2): the correct digits double every step once close.
Right: the coupled iteration's scalar model x <- x (3 - x)^2 / 4 (x = z y, the eigenvalue of Z_k Y_k) started at
x_0 = lambda for eigenvalues lambda of A_n from 1/2 down to 1e-8, with the paper's plain steps: before the fast
phase comes a slow one, a factor 9/4 a step, whose length grows with log(1/lambda).
"""

import matplotlib.pyplot as plt
import numpy as np

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.4), layout="constrained")
a, x, errs = 2.0, 1.0, []
for _ in range(6):
    x = (x + a / x) / 2
    errs.append(abs(x - np.sqrt(a)) / np.sqrt(a))
ax1.semilogy(range(1, 7), np.maximum(errs, 1e-17), "o-", ms=4, label=r"Heron: $x \leftarrow (x + a/x)/2$, $a = 2$")
a, z, errs = 0.5, 1.0, []
for _ in range(6):
    z = z * (3 - a * z * z) / 2
    errs.append(abs(z * np.sqrt(a) - 1))
ax1.semilogy(
    range(1, 7), np.maximum(errs, 1e-17), "s--", ms=4, label=r"Newton–Schulz: $z \leftarrow z(3 - a z^2)/2$, $a = 1/2$"
)
ax1.axhline(np.finfo(float).eps, color="k", lw=0.8, ls=":", label="float64 eps")
ax1.set_xlabel("step k")
ax1.set_ylabel("relative error")
ax1.legend(fontsize=7.5)

for lam in (0.5, 1e-2, 1e-4, 1e-6, 1e-8):
    x, errs = lam, [1 - lam]
    for _ in range(30):
        x = x * (3 - x) ** 2 / 4
        errs.append(abs(1 - x))
    ax2.semilogy(range(31), np.maximum(errs, 1e-17), label=rf"$\lambda$ = {lam:g}")
ax2.set_xlabel("plain Newton–Schulz step k")
ax2.set_ylabel(r"$|1 - x_k|$, $x_k$ an eigenvalue of $Z_k Y_k$")
ax2.legend(fontsize=7.5)
