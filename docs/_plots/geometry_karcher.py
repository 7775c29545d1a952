"""Karcher mean of matrices far apart: the norm of the Riemannian gradient (the tangent mean T_k) per step, for the
plain Karcher flow (unit step) and for matfunc.mean_riemann's step 2 / (1 + L) from the curvature bound."""

import matplotlib.pyplot as plt
import numpy as np

import matfunc

rng = np.random.default_rng(0)
n = 6


def spd_at(dist):
    """An SPD matrix at Riemannian distance ``dist`` from I: Q diag(exp(l)) Q^T, ||l|| = dist."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    logs = rng.standard_normal(n)
    return (q * np.exp(dist * logs / np.linalg.norm(logs))) @ q.T


def tangent_norm(m, xs):
    wi = matfunc.inv_sqrtm(m, "eig")
    return np.linalg.norm(np.mean(matfunc.logm(wi @ xs @ wi, "eig"), axis=0))


fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4), sharey=True)
steps = 40
for ax, (count, dist) in zip(axes, ((2, 6.0), (5, 4.0)), strict=True):
    if count == 2:  # two matrices at distance `dist` from each other: B = A^{1/2} C A^{1/2}, d(I, C) = dist
        a = spd_at(3.0)
        s = matfunc.sqrtm(a, "eig")
        b = s @ spd_at(dist) @ s
        xs = np.stack([a, (b + b.T) / 2])
        title = f"2 matrices {n}x{n} at distance {dist:g}"
    else:
        xs = np.stack([spd_at(dist) for _ in range(count)])
        title = f"{count} matrices {n}x{n}, each at distance {dist:g} from $I$"
    # the plain Karcher flow (pyRiemann's unit step), from the same log-Euclidean start
    m = matfunc.expm(np.mean(matfunc.logm(xs, "eig"), axis=0), "eig")
    plain = [tangent_norm(m, xs)]
    for _ in range(steps):
        s, wi = matfunc.sqrtm(m, "eig"), matfunc.inv_sqrtm(m, "eig")
        t = np.mean(matfunc.logm(wi @ xs @ wi, "eig"), axis=0)
        m = s @ matfunc.expm(t, "eig") @ s
        m = (m + m.T) / 2
        plain.append(tangent_norm(m, xs))
    ours = [tangent_norm(matfunc.mean_riemann(xs, maxiter=k, method="eig", check=False), xs) for k in range(steps + 1)]
    ax.semilogy(plain, "s--", ms=3, color="C3", label="unit step (plain Karcher flow)")
    ax.semilogy(np.maximum(ours, 1e-17), "o-", ms=3, color="C0", label=r"matfunc: step $2/(1 + L)$")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step $k$")
axes[0].set_ylabel(r"$\|T_k\|_F$, Riemannian gradient norm")
axes[0].legend(fontsize=8)
fig.tight_layout()
