"""The scalar map of one cubic Newton-Schulz step, x -> x (3 - x^2) / 2, iterated from small x."""

import matplotlib.pyplot as plt
import numpy as np

x = np.logspace(-4, 0, 200)
fig, ax = plt.subplots()
y = x.copy()
for k in range(1, 16):
    y = y * (3 - y * y) / 2
    if k in (1, 5, 10, 15):
        ax.semilogx(x, y, label=f"{k} steps")
ax.set_xlabel("singular value before")
ax.set_ylabel("after k cubic steps")
ax.legend()
