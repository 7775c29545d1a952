"""Gradients page: the error of each backward against the exact Daleckii–Krein gradient.

The exact gradient of <G, A^{1/2}> is V [G^_ij / (s_i + s_j)] V^T, s = sqrt(w), for A = V diag(w) V^T. The backwards
are matfunc.sqrtm_vjp's. Left: against the condition number of A (eigenvalues log-spaced, n = 32), the reference
from NumPy's eigh of the stored matrix (the rounding of A itself moves the exact gradient by up to eps * cond, which
would hide the backward's own error). Right: against the gap between the two largest
eigenvalues (1 and 1 - gap, the others log-spaced down to 1e-2): the formula divides by s_i + s_j, never by a gap,
so no backward of matfunc depends on it; the eigenvector route (svd-pade: (f_i - f_j) / (lambda_i - lambda_j) from
eigh, which is what autodiff through eigh computes) does.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

import matfunc
from matfunc.core import options

rng = np.random.default_rng(0)
n = 32
q, _ = np.linalg.qr(rng.standard_normal((n, n)))
g = rng.standard_normal((n, n))


def exact(v, w):
    s = np.sqrt(w)
    gh = v.T @ ((g + g.T) / 2) @ v
    return v @ (gh / (s[:, None] + s[None, :])) @ v.T


def err(w, stored=False, **kw):
    a = (q * w) @ q.T
    a = (a + a.T) / 2
    da = matfunc.sqrtm_vjp(a, check=False, **kw)[1](g)
    ref = exact(*np.linalg.eigh(a)[::-1]) if stored else exact(q, w)
    return max(np.linalg.norm(da - ref) / np.linalg.norm(ref), 1e-17)


backwards = {
    "lyapunov (default), after the NS forward": dict(method="newton-schulz"),
    "lyapunov (default), after an eig forward": dict(method="eig", backward="lyapunov"),
    "eig": dict(method="eig", backward="eig"),
    "paper: 8 plain sign steps, Frobenius": dict(
        method="eig", backward="lyapunov", backward_iters=8, scale="frobenius"
    ),
}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained", sharey=True)
conds = np.logspace(1, 10, 10)
for (label, kw), style in zip(backwards.items(), ("o-", "s--", "^-", "v:"), strict=True):
    ax1.loglog(conds, [err(np.logspace(0, -np.log10(c), n), True, **kw) for c in conds], style, ms=3, label=label)
cover = options.default_coverage(float(np.finfo(np.float64).eps))
ax1.axvline(cover, color="k", lw=0.8, ls=":")
ax1.text(cover, 1e-4, "default steps'\ncoverage ", ha="right", fontsize=7.5)
ax1.set_xlabel("condition number of A")
ax1.set_ylabel("relative error of the gradient")
ax1.legend(fontsize=7.5, loc="center", bbox_to_anchor=(0.4, 0.56))

gaps = np.logspace(-1, -15, 15)
rest = np.logspace(-0.5, -2, n - 2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # the eigenvector route divides 0 by 0 at a tie
    for (label, kw), style in zip(
        {
            "lyapunov, after the NS forward": backwards["lyapunov (default), after the NS forward"],
            "eig": backwards["eig"],
            "svd-pade: the eigenvector route": dict(method="eig", backward="svd-pade"),
        }.items(),
        ("o-", "^-", "x--"),
        strict=True,
    ):
        ax2.loglog(gaps, [err(np.concatenate(([1.0, 1.0 - d], rest)), **kw) for d in gaps], style, ms=4, label=label)
ax2.invert_xaxis()
ax2.set_xlabel(r"gap $\lambda_1 - \lambda_2$ (shrinking to the right)")
ax2.legend(fontsize=7.5)
