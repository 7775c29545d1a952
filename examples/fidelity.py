"""Quantum state fidelity of a batch of density matrices, and its gradient, on NumPy or CuPy.

.. math::

    F(\\rho, \\sigma) = \\left(\\operatorname{tr} \\sqrt{\\sqrt{\\rho}\\, \\sigma \\sqrt{\\rho}}\\right)^2

for Hermitian (complex, as quantum states are, or real symmetric) positive semidefinite ``rho``, ``sigma``
of trace 1. The gradient uses the manual VJPs ``matfunc.sqrtm_vjp`` and the chain rule through
``M = R sigma R`` with ``R = sqrt(rho)`` (the same formulas for complex input, with ``^H`` for ``^T``; the
gradient of the real ``F`` is ``dF/dRe(rho) + i dF/dIm(rho)``):

- ``F = t^2``, ``t = tr S``, ``S = sqrt(M)``: the cotangent of ``S`` is ``2 t I``;
- ``g_M = vjp_S(2 t I)``; then ``g_sigma = R g_M R`` and ``g_R = g_M R sigma + sigma R g_M``;
- ``g_rho = vjp_R(g_R)``.

Everything is written against the array API, so the same code runs on the GPU with CuPy arrays (the
matrix square roots then use Newton–Schulz, ``method="auto"``). Run ``python examples/fidelity.py``.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

import matfunc


def _trace(x: Any, xp: Any) -> Any:
    t = xp.sum(xp.linalg.diagonal(x), axis=-1)
    return xp.real(t) if xp.isdtype(t.dtype, "complex floating") else t


def _herm(x: Any, xp: Any) -> Any:
    """Hermitian part: rounding leaves ``R sigma R`` slightly non-Hermitian."""
    xh = xp.conj(x.mT) if xp.isdtype(x.dtype, "complex floating") else x.mT
    return (x + xh) / 2


def fidelity(rho: Any, sigma: Any, /, method: str = "auto") -> Any:
    """``F(rho, sigma)`` for batches ``(..., n, n)`` of density matrices; shape ``(...)``."""
    xp = array_api_compat.array_namespace(rho, sigma)
    r = matfunc.sqrtm(rho, method)
    return _trace(matfunc.sqrtm(_herm(r @ sigma @ r, xp), method), xp) ** 2


def fidelity_and_grad(rho: Any, sigma: Any, /, method: str = "auto") -> tuple[Any, Any, Any]:
    """``(F, dF/drho, dF/dsigma)``: the gradients of each ``F[i]`` with respect to ``rho[i]`` and ``sigma[i]``."""
    xp = array_api_compat.array_namespace(rho, sigma)
    r, vjp_r = matfunc.sqrtm_vjp(rho, method)
    m = r @ sigma @ r
    s, vjp_s = matfunc.sqrtm_vjp(_herm(m, xp), method)
    t = _trace(s, xp)
    eye = xp.eye(rho.shape[-1], dtype=rho.dtype, device=array_api_compat.device(rho))
    g_m = vjp_s(2 * t[..., None, None] * eye)
    g_sigma = r @ g_m @ r
    g_r = g_m @ r @ sigma + sigma @ r @ g_m
    return t**2, vjp_r(g_r), g_sigma


def random_density(batch: int, n: int, *, rank: int | None = None, seed: int = 0, complex: bool = False) -> np.ndarray:
    """Random mixed states ``W W^H / tr(W W^H)`` with ``W`` of shape ``(n, rank)`` (full rank by default),
    complex Gaussian (Ginibre) ``W`` if ``complex``, real otherwise."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((batch, n, rank or n))
    if complex:
        w = w + 1j * rng.standard_normal((batch, n, rank or n))
    rho = w @ np.conj(np.swapaxes(w, -1, -2))
    rho = (rho + np.conj(np.swapaxes(rho, -1, -2))) / 2
    return rho / np.trace(rho, axis1=-2, axis2=-1).real[:, None, None]


def main() -> None:
    rho, sigma = random_density(4, 8, seed=1, complex=True), random_density(4, 8, seed=2, complex=True)
    f, g_rho, g_sigma = fidelity_and_grad(rho, sigma)
    print("fidelity (NumPy):", np.round(f, 6))
    try:
        import scipy.linalg

        ref = [
            np.trace(scipy.linalg.sqrtm(scipy.linalg.sqrtm(p) @ q @ scipy.linalg.sqrtm(p))).real ** 2
            for p, q in zip(rho, sigma, strict=True)
        ]
        print("max |F - F_scipy|:", float(np.max(np.abs(f - np.array(ref)))))
    except ImportError:
        pass
    print("F(rho, rho) =", np.round(fidelity(rho, rho), 12), "(1 for any state)")
    try:
        import cupy

        if not cupy.cuda.is_available():
            raise RuntimeError("no CUDA device")
    except Exception as exc:  # no CuPy or no GPU: the NumPy run above is the whole example
        print(f"CuPy not run: {exc}")
        return
    f_gpu, g_rho_gpu, _ = fidelity_and_grad(cupy.asarray(rho), cupy.asarray(sigma))
    print("max |F_gpu - F|:", float(cupy.max(cupy.abs(f_gpu - cupy.asarray(f)))))
    print("max |dF/drho_gpu - dF/drho|:", float(cupy.max(cupy.abs(g_rho_gpu - cupy.asarray(g_rho)))))


if __name__ == "__main__":
    main()
