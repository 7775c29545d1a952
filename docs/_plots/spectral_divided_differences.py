"""Divided differences f[x, y] as y -> x: matfunc's stable formula and the textbook quotient, against 50 digits.

The error of (f(x) - f(y)) / (x - y) grows like eps / gap as the gap closes; matfunc's form (quotients of
functions of the rounded ratio z = y / x, docs/derivations/spectral.md) stays at a few units of roundoff for every
gap. The reference is
Python's decimal arithmetic at 50 digits on the exact binary values of x and y (no extra dependency).
"""

from decimal import Decimal, localcontext

import array_api_compat.numpy as xp
import matplotlib.pyplot as plt
import numpy as np

from matfunc.core import spectral

EPS = float(np.finfo(np.float64).eps)
x = 0.7
gaps = np.logspace(-15, -0.3, 45)  # relative gap (x - y) / x
ys = x * (1.0 - gaps)
cases = [
    (r"$\log x$", spectral.LOG, np.log, Decimal.ln),
    (r"$x^{-1/4}$", spectral.power(-0.25), lambda t: t**-0.25, lambda t: t ** Decimal("-0.25")),
    (r"$e^x$", spectral.EXP, np.exp, Decimal.exp),
]

fig, ax = plt.subplots(figsize=(6.4, 3.8))
for k, (label, fn, f, fmp) in enumerate(cases):
    w = np.stack([np.full_like(ys, x), ys], axis=-1)  # a batch of 2 x 2 spectra {x, y}
    stable = spectral.divided_differences(fn, w, EPS, xp=xp)[:, 0, 1]
    naive = (f(x) - f(ys)) / (x - ys)
    with localcontext() as ctx:
        ctx.prec = 50
        exact = np.array([float((fmp(Decimal(x)) - fmp(Decimal(y))) / (Decimal(x) - Decimal(y))) for y in ys])
    floor = EPS / 10  # exact agreement plotted at eps/10, below the axis' interesting range
    err_s = np.maximum(np.abs(stable - exact) / np.abs(exact), floor)
    err_n = np.maximum(np.abs(naive - exact) / np.abs(exact), floor)
    color = f"C{k}"
    ax.loglog(gaps, err_s, "-", color=color, lw=2, label=f"{label}: matfunc")
    ax.loglog(gaps, err_n, "--", color=color, lw=1.2, label=f"{label}: $(f(x) - f(y))/(x - y)$")
ax.axhline(EPS, color="0.4", lw=0.8, ls=":")
ax.text(1.2e-15, EPS * 4, "machine epsilon", color="0.3", fontsize=8, ha="right")
ax.set_xlabel("relative gap $(x - y)/x$ between two eigenvalues ($x = 0.7$)")
ax.set_ylabel("relative error of $f^{[1]}(x, y)$")
ax.set_ylim(EPS / 20, 1)
ax.invert_xaxis()
ax.legend(fontsize=8, ncol=2, loc="upper left")
