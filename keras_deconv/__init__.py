"""keras-deconv: transposed convolutions that agree on every Keras 3 backend.

>>> import keras_deconv
>>> layer = keras_deconv.Conv2DTranspose(16, 3, strides=2, padding="same")
>>> layer.compute_output_shape((None, 8, 8, 4))
(None, 16, 16, 16)
"""

from keras_deconv import arithmetic, ops
from keras_deconv.layers import (
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3DTranspose,
    Convolution1DTranspose,
    Convolution2DTranspose,
    Convolution3DTranspose,
)

__version__ = "0.1.0"

__all__ = [
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "Convolution1DTranspose",
    "Convolution2DTranspose",
    "Convolution3DTranspose",
    "arithmetic",
    "ops",
    "__version__",
]
