"""keras-deconv: transposed convolutions that agree on every Keras 3 backend.

>>> import keras_deconv
>>> layer = keras_deconv.Conv2DTranspose(16, 3, strides=2, padding="same")
>>> layer.compute_output_shape((None, 8, 8, 4))
(None, 16, 16, 16)
"""

import importlib
import sys
from typing import Any

# The one version number: pyproject.toml reads it into the package metadata (see CHANGELOG.md).
__version__ = "0.1.0"

# Names load on first use: importing Keras fixes its backend, and the
# `keras-deconv` command must be able to choose one before that happens.
_LAYERS = ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
           "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose",
           "Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D", "ModReLU")
_MODULES = ("arithmetic", "ops", "initializers", "porting", "reference", "layers", "export", "conversion",
            "activations", "losses")
_FUNCTIONS = {"from_keras": "conversion", "to_keras": "conversion"}

__all__ = [*_LAYERS, "from_keras", "to_keras", "arithmetic", "ops", "activations", "losses", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAYERS:
        return getattr(importlib.import_module("keras_deconv.layers"), name)
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"keras_deconv.{_FUNCTIONS[name]}"), name)
    if name in _MODULES:
        return importlib.import_module(f"keras_deconv.{name}")
    raise AttributeError(f"module 'keras_deconv' has no attribute {name!r}")


if "keras" in sys.modules:
    # Keras's backend is already fixed: register the layers now, so that
    # `keras.saving.load_model` finds them right after `import keras_deconv`.
    importlib.import_module("keras_deconv.layers")
