"""The one place that talks to array-api-compat, and that maps a namespace to matfunc's backend glue.

Backend detection never imports a framework: array-api-compat inspects ``sys.modules``, and a backend
module (``matfunc.backends.torch`` ...) is imported only once an array of that framework is seen.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import array_api_compat
from array_api_compat import device, is_array_api_strict_namespace  # noqa: F401  (re-exported)

__all__ = [
    "array_namespace",
    "device",
    "backend_module",
    "is_cpu",
    "backend_name",
    "values",
    "has_values",
    "is_concrete",
    "quiet",
]


def array_namespace(*arrays: Any) -> ModuleType:
    """The array-API namespace of ``arrays`` (NumPy, CuPy, PyTorch, JAX, Dask, array-api-strict)."""
    return array_api_compat.array_namespace(*arrays)


_KNOWN = {  # the namespaces array_namespace returns, by name: no checks to run (a small call made 4 of them)
    "array_api_compat.numpy": "numpy",
    "array_api_compat.torch": "torch",
    "jax.numpy": "jax",
    "array_api_compat.cupy": "cupy",
    "array_api_compat.dask.array": "dask",
    "array_api_strict": "array_api_strict",
}


def backend_name(xp: ModuleType) -> str:
    """A short name for the namespace: numpy, cupy, torch, jax, dask, array_api_strict, or other."""
    known = _KNOWN.get(getattr(xp, "__name__", ""))
    if known is not None:
        return known
    checks = (
        ("torch", array_api_compat.is_torch_namespace),
        ("jax", array_api_compat.is_jax_namespace),
        ("cupy", array_api_compat.is_cupy_namespace),
        ("dask", array_api_compat.is_dask_namespace),
        ("numpy", array_api_compat.is_numpy_namespace),
        ("array_api_strict", is_array_api_strict_namespace),
    )
    # the checks' undecorated functions: array-api-compat caches them, and torch.compile warns when it traces a cache
    return next((name for name, check in checks if getattr(check, "__wrapped__", check)(xp)), "other")


_GLUE = {"torch": "torch", "jax": "jax", "cupy": "cupy", "dask": "dask"}


def backend_module(xp: ModuleType) -> ModuleType | None:
    """matfunc's glue module for the namespace (autodiff wiring and quirks), or None for plain arrays."""
    name = _GLUE.get(backend_name(xp))
    if not name:
        return None
    # sys.modules first: importlib.import_module on every call is a graph break under torch.compile.
    module = sys.modules.get(f"matfunc.backends.{name}")
    return module if module is not None else importlib.import_module(f"matfunc.backends.{name}")


def is_cpu(x: Any) -> bool:
    """Whether ``x`` lives in host memory (used only for the static ``method="auto"`` rule)."""
    try:
        dev = device(x)
    except Exception:  # a framework whose arrays report no device: assume host memory
        dev = None
    if dev is None and type(x).__module__.startswith("jax"):
        # A tracer under jax.jit has no device: the computation lands on JAX's default backend.
        import jax  # already imported by the caller, who passed a JAX array

        return jax.default_backend() == "cpu"
    if dev is None:
        return True
    kind = getattr(dev, "type", None) or getattr(dev, "platform", None) or str(dev)
    return "cpu" in str(kind).lower()


def check_arrays(glue: Any, xp: Any, *arrays: Any) -> tuple[Any, tuple[Any, ...]]:
    """``(namespace, arrays)`` for value checks after a glue's forward, without autodiff history: through the
    glue's ``host_view`` where it has one (PyTorch's CPU tensors as NumPy arrays sharing their memory: the
    checks' small operations cost about 1 us each there instead of 8), else :func:`values` of each (None
    stays None)."""
    view = getattr(glue, "host_view", None)
    host = view(*arrays) if view is not None else None
    if host is not None:
        import array_api_compat.numpy as npx

        return npx, host
    return xp, tuple(None if t is None else values(t) for t in arrays)


def values(x: Any) -> Any:
    """``x`` without autodiff history (torch: ``x.detach()``), for value checks that read it back."""
    detach = getattr(x, "detach", None)
    return detach() if callable(detach) else x


def has_values(x: Any) -> bool:
    """False for arrays that only carry a shape (torch ``device="meta"``): nothing to check there."""
    return getattr(getattr(x, "device", None), "type", None) != "meta"


def is_concrete(*arrays: Any) -> bool:
    """Whether every array has values that can be read now, so that ``check=True``'s value checks can run: not a
    JAX tracer and no JAX trace active at all (inside ``jax.jit(lambda x: f(T) + x)`` with ``T`` concrete, values
    computed from ``T`` are tracers), not a torch meta tensor, not ``torch.func``-wrapped or under
    ``torch.compile``/``torch.jit.trace``, not a lazy Dask array. Each framework's rule is its glue's
    ``is_traced`` (``matfunc.backends``); non-arrays (Python scalars, None) count as concrete."""
    for x in arrays:
        if x is None or isinstance(x, (bool, int, float, complex)):
            continue
        if not has_values(x):
            return False
        glue = backend_module(array_namespace(x))
        if glue is not None and glue.is_traced(x):
            return False
    return True


def jax_precision() -> Any:
    """A context in which JAX traces float32 matrix products in full float32 (``"highest"``), unless the user
    chose a default matmul precision (``jax.default_matmul_precision`` / ``jax_default_matmul_precision``: theirs
    is kept). JAX's own default is TF32 on recent NVIDIA GPUs (bfloat16 passes on TPUs), which the Newton–Schulz
    steps do not converge through to float32 accuracy (docs/derivations/schedules.md, "Mixed precision"): about
    1e-2 at cond 1e3 where float32 products give 3e-6, and divergence past about 1e4. The precision is fixed
    when a product is traced, so this covers ``jit``-compiled calls too; the tangent rules of
    ``matfunc.backends.jax`` enter it themselves (:func:`precise`), since JAX may trace them later."""
    import contextlib

    import jax

    if jax.config.jax_default_matmul_precision is not None:  # type: ignore[attr-defined]
        return contextlib.nullcontext()
    return jax.default_matmul_precision("highest")


def precise(fn: Any) -> Any:
    """``fn`` traced under :func:`jax_precision` (for the JAX glue's primal and tangent rules)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with jax_precision():
            return fn(*args, **kwargs)

    return wrapper


def quiet(xp: ModuleType, x: Any) -> Any:
    """The numerics of matfunc's own kernels and checks around ``x``'s computation: NumPy's floating-point
    warnings off (a non-finite result is reported by the value checks, with its cause, instead of by an
    overflow warning from inside), torch autocast off (the checks' products must run in the compute
    dtype, not bfloat16), and JAX's products in full precision (:func:`jax_precision`)."""
    import contextlib

    name = backend_name(xp)
    if name == "jax":
        return jax_precision()
    if name in ("numpy", "array_api_strict"):  # array-api-strict computes with NumPy
        import numpy as np

        return np.errstate(over="ignore", invalid="ignore", divide="ignore")
    kind = getattr(getattr(x, "device", None), "type", None)
    if name == "torch" and kind in ("cpu", "cuda", "xpu", "mps"):
        import torch  # already imported: x is a tensor

        return torch.autocast(kind, enabled=False)
    return contextlib.nullcontext()
