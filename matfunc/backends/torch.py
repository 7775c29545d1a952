"""PyTorch glue: tracing detection and (later) autograd wiring of the core backward."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from ..core import primitives
from ..core.forward import forward
from ..core.options import Options


def is_traced(a: Any) -> bool:
    """True under ``torch.compile`` / ``torch.func`` transforms, where values cannot be read back."""
    if torch.compiler.is_compiling():
        return True
    return bool(torch._C._functorch.is_functorch_wrapped_tensor(a))


def apply(a: Any, /, *, opts: Options, xp: ModuleType, check: bool = True) -> Any:
    return forward(primitives.sym(a), opts=opts, xp=xp)[0]
