"""One :class:`Backend` per framework and device: moving data there and back, synchronising, compiling (JAX jit)
and the three timed phases (forward, backward alone, forward + backward) in the framework's own autodiff."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Backend", "NumpyBackend", "CupyBackend", "TorchBackend", "JaxBackend", "make_backend", "default_backends"]


class Backend:
    """How to move data, synchronise and differentiate on one framework/device."""

    autodiff = False
    torch: Any  # the framework module, on the backends that have one
    jax: Any
    cp: Any

    def __init__(self, name: str, device: str) -> None:
        self.name, self.device = name, device
        self.label = f"{name}:{device}"

    @property
    def on_gpu(self) -> bool:
        return self.device != "cpu"

    def to(self, a: np.ndarray) -> Any:
        return a

    def back(self, y: Any) -> np.ndarray:
        return np.asarray(y)

    def sync(self) -> None:
        pass

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def version(self) -> str:
        return np.__version__

    # Each returns a zero-argument callable that does the work once.
    def fwd(self, f: Callable, fvjp: Callable | None, x: Any) -> Callable[[], Any]:
        return lambda: f(x)

    def bwd(self, f: Callable, fvjp: Callable | None, x: Any, g: Any) -> Callable[[], Any]:
        if fvjp is None:
            raise NotImplementedError("no gradient")
        _, vjp = fvjp(x)
        return lambda: vjp(g)

    def fwdbwd(self, f: Callable, fvjp: Callable | None, x: Any, g: Any) -> Callable[[], Any]:
        if fvjp is None:
            raise NotImplementedError("no gradient")
        return lambda: fvjp(x)[1](g)

    def value_and_grad(self, f: Callable, fvjp: Callable | None, x: Any, g: Any) -> tuple[Any, Any]:
        if fvjp is None:
            return f(x), None
        y, vjp = fvjp(x)
        return y, vjp(g)


class NumpyBackend(Backend):
    def __init__(self) -> None:
        super().__init__("numpy", "cpu")


class CupyBackend(Backend):
    def __init__(self) -> None:
        super().__init__("cupy", "cuda")
        import cupy

        if not cupy.cuda.is_available():
            raise RuntimeError("no CUDA device")
        self.cp = cupy

    def to(self, a):
        return self.cp.asarray(a)

    def back(self, y):
        return self.cp.asnumpy(y)

    def sync(self):
        self.cp.cuda.Device().synchronize()

    def version(self):
        return self.cp.__version__


class TorchBackend(Backend):
    autodiff = True

    def __init__(self, device: str = "cpu") -> None:
        super().__init__("torch", device)
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("no CUDA device")
        self.torch = torch

    def to(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def back(self, y):
        return y.detach().cpu().numpy()

    def sync(self):
        if self.on_gpu:
            self.torch.cuda.synchronize()

    def version(self):
        return self.torch.__version__

    def fwd(self, f, fvjp, x):
        def run():
            with self.torch.no_grad():
                return f(x)

        return run

    def bwd(self, f, fvjp, x, g):
        xg = x.detach().clone().requires_grad_(True)
        y = f(xg)
        if not y.requires_grad:
            raise NotImplementedError("no gradient")
        return lambda: self.torch.autograd.grad(y, xg, g, retain_graph=True)[0]

    def fwdbwd(self, f, fvjp, x, g):
        xg = x.detach().clone().requires_grad_(True)
        return lambda: self.torch.autograd.grad(f(xg), xg, g)[0]

    def value_and_grad(self, f, fvjp, x, g):
        xg = x.detach().clone().requires_grad_(True)
        y = f(xg)
        return y, (self.torch.autograd.grad(y, xg, g)[0] if y.requires_grad else None)


class JaxBackend(Backend):
    autodiff = True

    def __init__(self, device: str = "cpu") -> None:
        super().__init__("jax", device)
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 accuracy runs; float32 arrays stay float32
        self.jax = jax
        self.jnp = importlib.import_module("jax.numpy")
        platform_name = "gpu" if device != "cpu" else "cpu"
        self.dev = jax.devices(platform_name)[0]

    def to(self, a):
        return self.jax.device_put(self.jnp.asarray(a), self.dev)

    def back(self, y):
        return np.asarray(y)

    def sync(self):
        pass  # results are blocked on in _measure

    def compile(self, fn):
        return self.jax.jit(fn)

    def version(self):
        return self.jax.__version__

    def _loss(self, f, g):
        return lambda x: self.jnp.sum(f(x) * g)

    def fwd(self, f, fvjp, x):
        jf = self.jax.jit(f)
        return lambda: jf(x)

    def bwd(self, f, fvjp, x, g):
        _, vjp_fn = self.jax.vjp(self.jax.jit(f), x)
        jb = self.jax.jit(lambda v, g: v(g)[0])
        return lambda: jb(vjp_fn, g)

    def fwdbwd(self, f, fvjp, x, g):
        vg = self.jax.jit(self.jax.value_and_grad(self._loss(f, g)))
        return lambda: vg(x)[1]

    def value_and_grad(self, f, fvjp, x, g):
        try:
            y, vjp_fn = self.jax.vjp(f, x)
        except NotImplementedError:  # no differentiation rule (jax.scipy.linalg.sqrtm: schur)
            return f(x), None
        return y, vjp_fn(g)[0]


def make_backend(spec: str) -> Backend:
    """``"numpy"``, ``"torch"``, ``"torch:cuda"``, ``"jax"``, ``"jax:gpu"``, ``"cupy"``."""
    name, _, device = spec.partition(":")
    if name == "numpy":
        return NumpyBackend()
    if name == "torch":
        return TorchBackend(device or "cpu")
    if name == "jax":
        return JaxBackend(device or "cpu")
    if name == "cupy":
        return CupyBackend()
    raise ValueError(f"unknown backend {spec!r}; expected numpy, torch[:cuda], jax[:gpu] or cupy")


def default_backends() -> list[str]:
    """Every installed backend, with its GPU where one is present."""
    out = ["numpy"]
    for spec, probe in (
        ("torch", lambda: importlib.import_module("torch")),
        ("torch:cuda", lambda: importlib.import_module("torch").cuda.is_available() or None),
        ("jax", lambda: importlib.import_module("jax")),
        ("jax:gpu", lambda: any(d.platform == "gpu" for d in importlib.import_module("jax").devices()) or None),
        ("cupy", lambda: importlib.import_module("cupy").cuda.is_available() or None),
    ):
        try:
            if probe() is not None:
                out.append(spec)
        except Exception:  # not installed, or no device
            continue
    return out
