"""Tutorial, step 4: the forward error of each method of matfunc.sqrtm against the condition number.

Test matrices A = Q diag(w) Q^T, w log-spaced from 1 to 1/cond, n = 32; the reference is the square root built
from Q and sqrt(w). Every method with its defaults (check=False so that an approximation past its range is shown
rather than refused).
"""

import matplotlib.pyplot as plt
import numpy as np

import matfunc

rng = np.random.default_rng(0)
n = 32
q, _ = np.linalg.qr(rng.standard_normal((n, n)))
conds = np.logspace(1, 12, 12)
methods = {
    "taylor": "Taylor, degree 10",
    "pade": "Padé [5/5]",
    "newton-schulz": "Newton–Schulz (default schedule)",
    "eig": "eigendecomposition",
}
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for (method, label), style in zip(methods.items(), ("v:", "s--", "o-", "^-"), strict=True):
    errs = []
    for cond in conds:
        w = np.logspace(0, -np.log10(cond), n)
        a = (q * w) @ q.T
        root = (q * np.sqrt(w)) @ q.T
        y = matfunc.sqrtm((a + a.T) / 2, method=method, check=False)
        errs.append(np.linalg.norm(y - root) / np.linalg.norm(root))
    ax.loglog(conds, errs, style, ms=4, label=label)
ax.loglog(conds, np.finfo(float).eps * np.sqrt(conds), "k:", lw=0.8, label=r"$\epsilon\sqrt{\kappa}$")
ax.set_xlabel(r"condition number $\kappa$ of A")
ax.set_ylabel("relative error of $A^{1/2}$")
ax.legend(fontsize=8)
