"""Schedules page: matrix products each schedule needs against the condition number it is designed for.

Steps from matfunc.core.root_schedules.root_iters (the scalar model: the fewest steps that bring [1/cond, 1] within
the dtype's eps of 1), products from root_matmuls of root_steps (one output). The dotted line marks the condition
number the default step counts cover (matfunc.core.options.default_coverage).
"""

import matplotlib.pyplot as plt
import numpy as np

from matfunc.core import options, root_schedules

labels = {
    "plain": "plain cubic (paper)",
    "scaled": "scaled cubic (Chen–Chow, capped)",
    "minimax-cubic": "minimax cubic (uncapped)",
    "polar-express": "minimax quintic (default)",
}
fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained", sharey=True)
for ax, dtype, top in zip(axes, (np.float64, np.float32), (12, 7), strict=True):
    eps = float(np.finfo(dtype).eps)
    conds = np.logspace(1, top, 4 * (top - 1) + 1)
    for name, label in labels.items():
        prods = [
            root_schedules.root_matmuls(
                root_schedules.root_steps(name, root_schedules.root_iters(name, c, eps), eps, c)
            )
            for c in conds
        ]
        ax.semilogx(conds, prods, drawstyle="steps-post", label=label)
    cover = options.default_coverage(eps)
    k = options.default_forward_iters(eps)
    ax.axvline(cover, color="k", lw=0.8, ls=":")
    ax.text(
        cover,
        0.97,
        f"default: {k} steps,\ncovers {cover:.2g} ",
        transform=ax.get_xaxis_transform(),
        ha="right",
        va="top",
        fontsize=8,
    )
    ax.set_xlabel("condition number designed for")
    ax.set_title(np.dtype(dtype).name, fontsize=9)
axes[0].set_ylabel("matrix products (one output)")
axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="center left", bbox_to_anchor=(0, 0.62))
