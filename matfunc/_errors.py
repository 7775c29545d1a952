"""matfunc's exceptions."""

from __future__ import annotations

import numpy as np

__all__ = ["SingularMatrixError"]


class SingularMatrixError(np.linalg.LinAlgError):
    """The input of ``inv_sqrtm`` is singular to working precision.

    A subclass of :class:`numpy.linalg.LinAlgError`, itself a :class:`ValueError`: either catches it.
    """
