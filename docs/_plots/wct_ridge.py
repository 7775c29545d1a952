"""What the ridge eps does to whitening-colouring: with a style covariance C_s = I, the output covariance of
matfunc.whitening_coloring is C_c (C_c + eps I)^{-1}; its eigenvalues against the content's, for several eps."""

import matplotlib.pyplot as plt
import numpy as np

import matfunc

rng = np.random.default_rng(0)
C, N = 24, 400


def white(c, n):
    """(c, n) features with mean 0 and unbiased covariance exactly I (to rounding)."""
    z = rng.standard_normal((c, n))
    z -= z.mean(axis=1, keepdims=True)
    w, v = np.linalg.eigh(z @ z.T / (n - 1))
    return (v / np.sqrt(w)) @ v.T @ z


lam = np.logspace(0, -9, C)  # content variances along random orthogonal directions
q, _ = np.linalg.qr(rng.standard_normal((C, C)))
content = (q * np.sqrt(lam)) @ white(C, N) + 3.0
style = white(C, N + 100) - 1.0

fig, ax = plt.subplots(figsize=(6.4, 3.6))
grid = np.logspace(-10, 0.3, 200)
for k, eps in enumerate((1e-7, 1e-5, 1e-3)):
    out = matfunc.whitening_coloring(content, style, eps=eps, method="eig")
    d = out - out.mean(axis=1, keepdims=True)
    measured = np.linalg.eigvalsh(d @ d.T / (N - 1))  # ascending, as lam[::-1]
    ax.semilogx(lam[::-1], measured, "o", ms=4, color=f"C{k}", label=rf"$\epsilon = 10^{{{int(np.log10(eps))}}}$")
    ax.semilogx(grid, grid / (grid + eps), "-", lw=1, color=f"C{k}")
ax.set_xlabel(r"content variance $\lambda_i$ along an eigenvector of $C_c$")
ax.set_ylabel("output variance along it\n" + r"(style $C_s = I$: target 1)")
ax.set_ylim(-0.05, 1.1)
ax.legend(title=r"dots: matfunc; lines: $\lambda / (\lambda + \epsilon)$", fontsize=8, title_fontsize=8)
