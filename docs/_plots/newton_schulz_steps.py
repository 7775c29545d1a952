"""Newton–Schulz page: the scalar step maps, and the eigenvalues of Z_k Y_k step by step for the default schedule.

Left: one step of the plain cubic (the paper's), the first step of the scaled cubic (Chen–Chow, capped) and the first
step of the default minimax quintic, as maps of sigma = sqrt(lambda). Right: the matrix iteration itself
(matfunc.core.newton_schulz.newton_schulz_steps on A_n = normalize(A)) run for k = 0, 1, ... of the default steps;
the dots are the eigenvalues of Z_k Y_k, which the scalar model says are p_k(...p_1(sigma))^2.
"""

import matplotlib.pyplot as plt
import numpy as np

from matfunc.core import options, root_schedules
from matfunc.core.newton_schulz import newton_schulz_steps
from matfunc.core.scaling import normalize

EPS = float(np.finfo(np.float64).eps)
k_default = options.default_forward_iters(EPS)  # the default float64 step count of the default schedule
express = root_schedules.root_steps(options.DEFAULT_SCHEDULE, k_default, EPS)
scaled = root_schedules.root_steps("scaled", options.default_forward_iters(EPS, "scaled"), EPS)
plain = root_schedules.root_steps("plain", 1, EPS)


def p(step, s):
    a, b, c = step
    return s * (a + b * s**2 + c * s**4)


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained")
s = np.linspace(0, 1.15, 400)
ax1.plot(s, p(plain[0], s), label="plain cubic (paper)")
ax1.plot(s, p(scaled[0], s), label="scaled cubic, step 1")
ax1.plot(s, p(express[0], s), label="minimax quintic, step 1 (default)")
ax1.axhline(1.0, color="k", lw=0.8, ls="--")
ax1.plot(s, s, color="gray", lw=0.8, ls=":", label=r"identity $\sigma$")
ax1.set_xlabel(r"$\sigma = \sqrt{\lambda}$ before the step")
ax1.set_ylabel(r"$p(\sigma)$ after one step")
ax1.set_ylim(0, 2.1)
ax1.legend(fontsize=7.5, loc="upper left")

rng = np.random.default_rng(0)
n, cond = 32, 1e8
q, _ = np.linalg.qr(rng.standard_normal((n, n)))
a = (q * np.logspace(0, -np.log10(cond), n)) @ q.T
a_n, _ = normalize(a, scale="spectral", xp=np)
for k in range(k_default + 1):
    y, z = newton_schulz_steps(a_n, steps=express[:k], want="both", xp=np)
    x = np.linalg.eigvals(z @ y).real
    ax2.semilogy(np.full(n, k), x, "o", ms=3, color="C2", alpha=0.6)
ax2.axhline(1.0, color="k", lw=0.8, ls="--")
ax2.set_xlabel(f"step k (default: {k_default} minimax quintic steps)")
ax2.set_ylabel(r"eigenvalues of $Z_k Y_k$")
ax2.set_title(f"n = {n}, cond(A) = {cond:.0e}", fontsize=9)
ax2.set_xticks(range(k_default + 1))
