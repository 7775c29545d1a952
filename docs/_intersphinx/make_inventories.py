"""Write the small intersphinx inventories in this folder (run: ``python docs/_intersphinx/make_inventories.py``).

The docs build offline (CI and this project's machines reach package registries only), so instead of fetching
``objects.inv`` from numpy.org etc. at build time, ``conf.py`` reads these local inventories, which list the
objects of NumPy, SciPy, PyTorch and JAX that the pages cite, with their real URLs. Add an entry here when a
page cites a new object, rerun this script and commit the ``*.inv`` files.
"""

import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# project -> (version, [(name, role, relative uri)]); "$" in a uri stands for the name (Sphinx convention).
PROJECTS = {
    "python": (
        "3.11",
        [
            ("fractions", "py:module", "library/fractions.html#module-$"),
            ("fractions.Fraction", "py:class", "library/fractions.html#$"),
        ],
    ),
    "numpy": (
        "2.4",
        [
            ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#$"),
            ("numpy.linalg.eigh", "py:function", "reference/generated/numpy.linalg.eigh.html#$"),
            ("numpy.linalg.LinAlgError", "py:exception", "reference/generated/numpy.linalg.LinAlgError.html#$"),
            ("numpy.float32", "py:class", "reference/arrays.scalars.html#$"),
            ("numpy.float64", "py:class", "reference/arrays.scalars.html#$"),
        ],
    ),
    "scipy": (
        "1.17",
        [
            ("scipy.linalg.sqrtm", "py:function", "reference/generated/scipy.linalg.sqrtm.html#$"),
            (
                "scipy.linalg.solve_continuous_lyapunov",
                "py:function",
                "reference/generated/scipy.linalg.solve_continuous_lyapunov.html#$",
            ),
        ],
    ),
    "torch": (
        "2.13",
        [
            ("torch.Tensor", "py:class", "tensors.html#$"),
            ("torch.linalg.eigh", "py:function", "generated/torch.linalg.eigh.html#$"),
            ("torch.linalg.cholesky", "py:function", "generated/torch.linalg.cholesky.html#$"),
            ("torch.autograd.Function", "py:class", "autograd.html#$"),
            ("torch.autograd.gradcheck", "py:function", "generated/torch.autograd.gradcheck.gradcheck.html#$"),
            ("torch.compile", "py:function", "generated/torch.compile.html#$"),
            ("torch.nn.Module", "py:class", "generated/torch.nn.Module.html#$"),
            ("torch.nn.BatchNorm2d", "py:class", "generated/torch.nn.BatchNorm2d.html#$"),
        ],
    ),
    "jax": (
        "0.10",
        [
            ("jax.Array", "py:class", "_autosummary/jax.Array.html#$"),
            ("jax.jit", "py:function", "_autosummary/jax.jit.html#$"),
            ("jax.vmap", "py:function", "_autosummary/jax.vmap.html#$"),
            ("jax.grad", "py:function", "_autosummary/jax.grad.html#$"),
            ("jax.custom_vjp", "py:class", "_autosummary/jax.custom_vjp.html#$"),
            ("jax.scipy.linalg.sqrtm", "py:function", "_autosummary/jax.scipy.linalg.sqrtm.html#$"),
        ],
    ),
}


def write(project: str, version: str, entries: list[tuple[str, str, str]]) -> None:
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in entries).encode()
    with open(os.path.join(HERE, f"{project}.inv"), "wb") as fh:
        fh.write(header + zlib.compress(body))


if __name__ == "__main__":
    for name, (version, entries) in PROJECTS.items():
        write(name, version, entries)
