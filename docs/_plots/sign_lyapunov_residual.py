"""Sign/Lyapunov page: the residual of S X + X S = G against the number of sign steps, with and without deflation.

X from matfunc.core.lyapunov (the 4-product symmetric form the gradients use; k scaled steps are the schedule
matfunc.core.coefficients.ns_schedule designs for k steps). Left: S = A^{1/2} of full rank, cond(A) = 1e8.
Right: a rank-deficient S = (F F^T)^{1/2}, F of shape 16 x 6: the null/null block of the equation has no solution
(0 = G there), so the residual is measured on the blocks a gradient through F sees (range/range and range/null).
"""

import matplotlib.pyplot as plt
import numpy as np

from matfunc.core import lyapunov
from matfunc.core.coefficients import ns_schedule

EPS = float(np.finfo(np.float64).eps)
rng = np.random.default_rng(0)
n = 16
q, _ = np.linalg.qr(rng.standard_normal((n, n)))
g = rng.standard_normal((n, n))
g = (g + g.T) / 2


def root(a):
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.maximum(w, 0))) @ v.T, v[:, w > 1e-8 * w.max()]


def residual(s, x, proj=None):
    r = s @ x + x @ s - g
    if proj is not None:  # drop the null/null block
        null = np.eye(n) - proj
        r = r - null @ r @ null
    return np.linalg.norm(r) / np.linalg.norm(g)


full, _ = root((q * np.logspace(0, -8, n)) @ q.T)
f = rng.standard_normal((n, 6))
singular, v_range = root(f @ f.T)
ks = range(1, 21)
fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained", sharey=True)
for ax, s, proj, title in (
    (axes[0], full, None, "full rank, cond(A) = 1e8"),
    (axes[1], singular, v_range @ v_range.T, r"rank 6 of 16: $A = F F^T$"),
):
    c = np.linalg.eigvalsh(s).max()
    s_n, g_n = s / c, g / c
    curves = {
        "scaled + deflation (matfunc)": lambda s_n, g_n, k: lyapunov.sign_lyapunov(
            s_n, g_n, num_iters=k, eps=EPS, symmetric=True, xp=np
        ),
        "scaled, no deflation": lambda s_n, g_n, k: lyapunov._sign_symmetric(
            s_n, g_n, ns_schedule(k, EPS), deflated=False, xp=np
        ),
        "plain steps (paper)": lambda s_n, g_n, k: lyapunov.sign_lyapunov(
            s_n, g_n, num_iters=k, eps=EPS, scaled=False, symmetric=True, xp=np
        ),
    }
    for (label, solve), style in zip(curves.items(), ("o-", "s--", "^:"), strict=True):
        ax.semilogy(list(ks), [max(residual(s, solve(s_n, g_n, k), proj), 1e-17) for k in ks], style, ms=3, label=label)
    exact = lyapunov.eig_lyapunov(s, g, xp=np)
    ax.axhline(residual(s, exact, proj), color="k", lw=0.8, ls="-.", label="eig (exact, floored)")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("sign steps k")
    ax.set_xticks([1, 5, 10, 15, 20])
axes[0].set_ylabel(r"$\|S X + X S - G\|_F / \|G\|_F$")
axes[1].set_ylabel("same, without the null/null block")
axes[0].legend(fontsize=8)
