"""How complex layer weights are stored, shared by the layers, the initialisers and the paths.

A complex layer keeps each weight as a real variable with one extra last axis
of (real, imaginary) parts, marked ``complex_parts``: every backend then hands
the optimisers real gradients, and Adam and SGD behave as for real weights.
``weight_value`` puts a weight back together as the layers compute with it;
users read it through the layers' ``kernel_value`` and ``bias_value``.

>>> import numpy as np
>>> parts = np.array([[1.0, 2.0], [3.0, -1.0]], "float32")  # two values: 1+2j, 3-1j
>>> np.asarray(complex_from_parts(parts[:, 0], parts[:, 1], "complex64")).tolist()
[(1+2j), (3-1j)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import backend, ops

#: The part (real) dtype of each complex dtype.
PART_DTYPES = {"complex64": "float32", "complex128": "float64"}


def is_complex_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` (a string or backend dtype) is complex64 or complex128."""
    return "complex" in str(dtype)


def standard_dtype(dtype: Any) -> str:
    """Keras's name for a string or backend dtype."""
    return str(backend.standardize_dtype(dtype))


def complex_from_parts(real: Any, imag: Any, dtype: str) -> Any:
    """``real + i imag`` as a ``dtype`` tensor, differentiable on every backend."""
    unit = ops.convert_to_tensor(np.asarray(1j, dtype=dtype), dtype=dtype)
    return ops.cast(real, dtype) + ops.cast(imag, dtype) * unit


def weight_value(variable: Any, dtype: Any) -> Any:
    """A layer weight in ``dtype``; weights marked ``complex_parts`` are put back together.

    A complex weight is complex64 or complex128 as ``dtype`` asks; for a real
    ``dtype`` it follows the stored parts (float64 parts give complex128).
    """
    if getattr(variable, "complex_parts", False):
        target = standard_dtype(dtype)
        if target not in PART_DTYPES:
            target = "complex128" if standard_dtype(variable.dtype) == "float64" else "complex64"
        return complex_from_parts(variable[..., 0], variable[..., 1], target)
    return ops.cast(variable, dtype)
