"""ModReLU: ``relu(|z| + b) * z / |z|``, a complex activation with a learnable bias per channel."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_deconv.complex_weights import PART_DTYPES, standard_dtype


@keras.saving.register_keras_serializable(package="keras_deconv")
class ModReLU(keras.layers.Layer):
    """ModReLU (Arjovsky et al. 2016): ``relu(|z| + b) * z / |z|``, 0 where ``z`` is 0.

    The phase of ``z`` is kept; its modulus is shifted by a learnable real
    bias ``b`` (one per channel) and clipped at 0. On real tensors it is
    ``relu(|x| + b) * sign(x)``.

    Args:
        axis: the channel axis (-1 for channels_last, 1 for channels_first).
        bias_initializer: initializer of the bias ``(channels,)``; zeros by
            default (the layer then starts as the identity).
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Input shape:
        Any; the ``axis`` dimension must be known.

    Output shape:
        The input's shape and dtype.

    Example:

    >>> import numpy as np
    >>> import keras_deconv
    >>> z = np.array([[3 + 4j, 0.3 + 0.4j]], "complex64")  # moduli 5 and 0.5
    >>> layer = keras_deconv.layers.ModReLU(bias_initializer=keras.initializers.Constant(-1.0))
    >>> keras.ops.convert_to_numpy(layer(z)).astype(complex).round(3).tolist()
    [[(2.4+3.2j), 0j]]
    """

    def __init__(self, axis: int = -1, bias_initializer: Any = "zeros", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"`axis` must be an int. Received: axis={axis!r}")
        self.axis = axis
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape: Any) -> None:
        input_shape = tuple(input_shape)
        if not -len(input_shape) <= self.axis < len(input_shape) or input_shape[self.axis] is None:
            raise ValueError(f"The channel axis {self.axis} of the input must exist and be known. "
                             f"Received: axis={self.axis}, input_shape={input_shape}")
        dtype = PART_DTYPES.get(standard_dtype(self.variable_dtype), self.variable_dtype)
        self.bias = self.add_weight(name="bias", shape=(input_shape[self.axis],),
                                    initializer=self.bias_initializer, dtype=dtype)

    def call(self, inputs: Any) -> Any:
        dtype = standard_dtype(inputs.dtype)
        modulus = ops.abs(inputs)
        shape = [1] * len(inputs.shape)
        shape[self.axis] = -1
        bias = ops.reshape(ops.cast(self.bias, modulus.dtype), shape)
        nonzero = modulus > 0
        # relu(|z| + b) / |z|, with a safe denominator so the gradient stays finite at 0.
        safe = ops.where(nonzero, modulus, ops.ones_like(modulus))
        scale = ops.where(nonzero, ops.relu(modulus + bias) / safe, ops.zeros_like(modulus))
        return ops.cast(scale, dtype) * inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"axis": self.axis,
                       "bias_initializer": keras.initializers.serialize(self.bias_initializer)})
        return config
