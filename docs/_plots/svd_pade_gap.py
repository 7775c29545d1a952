"""SVD-Padé page: the [N/N] Padé approximant of the truncated geometric series is 1/(1 - x) itself, and the
eigenvector route it feeds loses digits at close eigenvalues where the exact backward does not.

Left: relative error, on x = lambda_j / lambda_i in [0, 1), of the truncated series sum_{k <= 2N} x^k and of the
approximant p/q (matfunc.core.coefficients.geometric_pade_floats), for N = 5 and the default N. Right: the gradient
of <G, A^{1/2}> for A = V diag(1, 1 - gap, 0.5, 0.25, 0.1) V^T with 12 random rotations V per gap, by
matfunc.sqrtm_vjp(..., backward="svd-pade") and backward="eig", against the exact V [G^_ij / (s_i + s_j)] V^T
built from V and the eigenvalues (not from an eigensolver).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

import matfunc
from matfunc.core.coefficients import geometric_pade_floats
from matfunc.core.options import SVD_PADE_DEFAULT_DEGREE


def horner(coeffs, x):
    out = np.zeros_like(x)
    for c in reversed(coeffs):
        out = out * x + c
    return out


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained")
x = 1.0 - np.logspace(-8, 0, 400)[::-1]
for order, color in ((5, "C0"), (SVD_PADE_DEFAULT_DEGREE, "C1")):
    series = horner((1.0,) * (2 * order + 1), x)
    p, q = geometric_pade_floats(order)
    ax1.loglog(1 - x, np.abs(series * (1 - x) - 1), color=color, label=f"series to $x^{{{2 * order}}}$ (N = {order})")
    pade = np.abs(horner(p, x) / horner(q, x) * (1 - x) - 1)
    ax1.loglog(1 - x, np.maximum(pade, 1e-17), color=color, ls="--", label=f"Padé [{order}/{order}] of it")
ax1.set_xlabel(r"$1 - x$, $x = \lambda_j / \lambda_i$ (pole at $x = 1$)")
ax1.set_ylabel(r"relative error against $1 / (1 - x)$")
ax1.set_ylim(1e-17, 2)
ax1.legend(fontsize=7.5, loc="center right")

gaps = np.logspace(-2, -16, 15)
rng = np.random.default_rng(0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 in the eigenvector route at an exact tie
    for gap in gaps:
        w = np.array([1.0, 1.0 - gap, 0.5, 0.25, 0.1])
        s = np.sqrt(w)
        for _ in range(12):
            v, _ = np.linalg.qr(rng.standard_normal((5, 5)))
            a = (v * w) @ v.T
            a = (a + a.T) / 2
            g = rng.standard_normal((5, 5))
            ref = v @ ((v.T @ ((g + g.T) / 2) @ v) / (s[:, None] + s[None, :])) @ v.T
            for backward, marker, color in (("svd-pade", "x", "C3"), ("eig", ".", "C2")):
                da = matfunc.sqrtm_vjp(a, method="eig", backward=backward)[1](g)
                e = max(np.linalg.norm(da - ref) / np.linalg.norm(ref), 1e-17)
                ax2.loglog(gap, e, marker, color=color, ms=4, alpha=0.6)
ax2.plot([], [], "x", color="C3", label=f'backward="svd-pade" (N = {SVD_PADE_DEFAULT_DEGREE})')
ax2.plot([], [], ".", color="C2", label='backward="eig"')
ax2.invert_xaxis()
ax2.set_xlabel(r"gap $\lambda_1 - \lambda_2$ (shrinking to the right)")
ax2.set_ylabel("relative error of the gradient")
ax2.legend(fontsize=7.5, loc="upper left")
