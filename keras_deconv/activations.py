"""Activations for complex tensors, and the check that keeps Keras's real ones off complex layers.

Keras's activations are defined on real numbers: on a complex tensor they
fail or drop the imaginary part, depending on the backend. The two here
are defined on complex values and reduce to ReLU on real ones:

- ``complex_relu(z) = relu(Re z) + i relu(Im z)`` (Trabelsi et al. 2018, "CReLU");
- ``cardioid(z) = (1 + cos(arg z)) / 2 * z`` (Virtue et al. 2017): the phase
  is kept and the modulus scaled by how far ``z`` points along the real axis.

``keras_deconv.layers.ModReLU`` is the third, with a learnable bias.

>>> import numpy as np
>>> z = np.array([1 - 2j, -3 + 4j, -1j], "complex64")
>>> np.asarray(complex_relu(z)).tolist()
[(1+0j), 4j, 0j]
>>> np.asarray(cardioid(np.array([3 + 4j, -3 + 4j], "complex64"))).astype(complex).round(3).tolist()
[(2.4+3.2j), (-0.6+0.8j)]
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import keras
from keras import ops

from keras_deconv.complex_weights import complex_from_parts, is_complex_dtype, standard_dtype


@keras.saving.register_keras_serializable(package="keras_deconv")
def complex_relu(x: Any) -> Any:
    """ReLU on the real and on the imaginary part: ``relu(Re x) + i relu(Im x)``; ReLU on real tensors."""
    x = ops.convert_to_tensor(x)
    dtype = standard_dtype(x.dtype)
    if not is_complex_dtype(dtype):
        return ops.relu(x)
    return complex_from_parts(ops.relu(ops.real(x)), ops.relu(ops.imag(x)), dtype)


@keras.saving.register_keras_serializable(package="keras_deconv")
def cardioid(x: Any) -> Any:
    """``(1 + cos(arg x)) / 2 * x``, 0 at 0; ReLU on real tensors (cos(arg) is then the sign)."""
    x = ops.convert_to_tensor(x)
    dtype = standard_dtype(x.dtype)
    if not is_complex_dtype(dtype):
        return ops.relu(x)
    real = ops.real(x)
    modulus = ops.abs(x)
    nonzero = modulus > 0
    # cos(arg x) = Re x / |x|; the safe denominator keeps the gradient finite at 0.
    safe = ops.where(nonzero, modulus, ops.ones_like(modulus))
    cosine = ops.where(nonzero, real / safe, ops.ones_like(real))
    scale = ops.cast((1 + cosine) / 2, dtype)
    return scale * x


#: The complex activations by name.
COMPLEX_ACTIVATIONS = {"complex_relu": complex_relu, "cardioid": cardioid}


def get(identifier: Any, complex_dtype: bool = False) -> Optional[Callable[[Any], Any]]:
    """An activation from a name, config or function: this module's names, then Keras's.

    For a complex layer (``complex_dtype``), only activations defined on
    complex values are accepted: this module's, ``"linear"``/None, and
    callables that are not Keras's real activations. A Keras real activation
    raises instead of silently dropping the imaginary part.

    >>> get("cardioid").__name__
    'cardioid'
    >>> get("relu", complex_dtype=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Keras's real activation 'relu' is not defined on complex tensors; ...
    """
    if isinstance(identifier, str) and identifier in COMPLEX_ACTIVATIONS:
        return COMPLEX_ACTIVATIONS[identifier]
    activation = keras.activations.get(identifier)
    if complex_dtype and _is_keras_real(activation):
        raise ValueError(
            f"Keras's real activation {activation.__name__!r} is not defined on complex tensors; use "
            '"complex_relu", "cardioid", a keras_deconv.layers.ModReLU layer or a function of your own. '
            f"Received: activation={identifier!r}"
        )
    return activation


def _is_keras_real(activation: Any) -> bool:
    """Whether ``activation`` is one of Keras's built-in activations other than ``linear``."""
    module = getattr(activation, "__module__", "") or ""
    return module.startswith("keras.") and getattr(activation, "__name__", "") != "linear"
