"""JAX glue: tracing detection and (later) custom derivative rules around the core."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import jax

from ..core import primitives
from ..core.forward import forward
from ..core.options import Options


def is_traced(a: Any) -> bool:
    """True for tracers (``jit``, ``vmap``, ``grad``): value checks are skipped there."""
    return isinstance(a, jax.core.Tracer)


def apply(a: Any, /, *, opts: Options, xp: ModuleType, check: bool = True) -> Any:
    return forward(primitives.sym(a), opts=opts, xp=xp)[0]
