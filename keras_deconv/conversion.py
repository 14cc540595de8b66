"""Convert whole Keras models: Keras's transposed convolutions to this package's, and back.

``from_keras(model)`` returns a new model in which every
``keras.layers.Conv{1,2,3}DTranspose``, nested Sequential and Functional
sub-models included, is this package's layer of the same rank, with the same
configuration and weights (both store the kernel as ``kernel_size +
(filters, channels)``). Every other layer is cloned with its weights; the
original model is not touched. ``to_keras`` goes the other way, where
Keras's layers accept the arguments.

Keras clones only Sequential and Functional models, so a subclassed model
gets an error that names its class and says how to convert it by hand.

>>> import keras, keras_deconv
>>> model = keras.Sequential([keras.Input((5, 2)), keras.layers.Conv1DTranspose(3, 3, strides=2)])
>>> converted = keras_deconv.from_keras(model)
>>> type(converted.layers[0]).__module__
'keras_deconv.layers.conv1d_transpose'
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import keras

from keras_deconv import layers as package_layers

_KERAS_LAYERS = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
_PACKAGE_LAYERS = (package_layers.Conv1DTranspose, package_layers.Conv2DTranspose,
                   package_layers.Conv3DTranspose)


def from_keras(model: Any) -> Any:
    """A copy of ``model`` with every Keras transposed convolution replaced by this package's.

    Args:
        model: a Sequential or Functional Keras model.

    Returns:
        A new model of the same structure, configuration and weights.

    Raises:
        ValueError: for a subclassed model (Keras cannot clone it), or a
            Keras transposed convolution inside a layer Keras cannot clone
            into (a subclassed layer holding one).
    """
    return _convert(model, "from_keras", _package_layer, _KERAS_LAYERS)


def to_keras(model: Any) -> Any:
    """A copy of ``model`` with every layer of this package replaced by Keras's own.

    Keras's layers have no ``groups``, no strides together with dilation, no
    PyTorch-style (integer) padding, no complex dtypes, no LoRA, and an
    ``output_padding`` below the stride only; a layer that uses any of these
    cannot be converted.

    Raises:
        ValueError: naming the layer and the argument Keras's layer lacks, or
            for a subclassed model.
    """
    return _convert(model, "to_keras", _keras_layer, _PACKAGE_LAYERS)


def _is_cloneable(model: Any) -> bool:
    # Functional models are instances of Keras's (private) Functional class.
    return isinstance(model, keras.Sequential) or any(
        cls.__name__ == "Functional" for cls in type(model).__mro__
    )


def _convert(model: Any, function: str, convert: Callable[[Any], Optional[Any]],
             replaced: Tuple[type, ...]) -> Any:
    if not _is_cloneable(model):
        raise ValueError(
            f"{function}() converts Sequential and Functional models, which Keras can clone; "
            f"{type(model).__name__} is a subclassed model. Convert it by hand: build each new layer "
            "from the old one's get_config() in your model's code, then copy the weights with "
            "new_layer.set_weights(old_layer.get_weights()). "
            f"Received: model of class {type(model).__name__}"
        )
    pairs: List[Tuple[Any, Any]] = []

    def clone(layer: Any) -> Any:
        new = convert(layer)
        if new is None:
            new = layer.__class__.from_config(layer.get_config())
        pairs.append((layer, new))
        return new

    converted = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for old, new in pairs:
        # Operations that are not layers (``keras.ops`` calls on symbolic
        # tensors, such as ``x / 255.0``) are cloned too, and hold no weights.
        if isinstance(old, keras.layers.Layer):
            new.set_weights(old.get_weights())
    remaining: List[Any] = [layer for layer in converted._flatten_layers(include_self=False, recursive=True)
                            if isinstance(layer, replaced)]
    if remaining:
        raise ValueError(
            f"{function}() could not reach layer {remaining[0].name!r} ({type(remaining[0]).__name__}): "
            "it sits inside a layer that Keras clones from its config as a whole. Convert that layer by "
            f"hand. Received: model {model.name!r}"
        )
    return converted


def _package_layer(layer: Any) -> Optional[Any]:
    for rank, keras_class in enumerate(_KERAS_LAYERS, start=1):
        if type(layer) is keras_class:
            return _PACKAGE_LAYERS[rank - 1].from_config(layer.get_config())
    return None


def _keras_layer(layer: Any) -> Optional[Any]:
    if not isinstance(layer, _PACKAGE_LAYERS):
        return None
    config = layer.get_config()
    name = f"Layer {layer.name!r} ({type(layer).__name__})"
    output_padding = layer.output_padding or (0,) * layer.rank
    # (refused, what Keras's layer lacks, the values received)
    refusals = (
        (config.pop("groups") != 1, "has no `groups`", f"groups={layer.groups}"),
        (layer.lora_enabled, "has no LoRA for transposed convolutions", f"lora_rank={layer.lora_rank}"),
        (layer._complex_dtype, "has no complex dtypes", f"dtype={layer.dtype_policy.compute_dtype!r}"),
        (layer.padding not in ("valid", "same"), "takes only 'valid' and 'same' padding",
         f"padding={layer.padding!r}"),
        (max(layer.strides) > 1 and max(layer.dilation_rate) > 1,
         "refuses strides together with dilation",
         f"strides={layer.strides}, dilation_rate={layer.dilation_rate}"),
        (any(p >= s for p, s in zip(output_padding, layer.strides)),
         "needs each output_padding below its stride",
         f"output_padding={layer.output_padding}, strides={layer.strides}"),
    )
    for refused, lacks, received in refusals:
        if refused:
            raise ValueError(f"{name} cannot become Keras's layer, which {lacks}. Received: {received}")
    return _KERAS_LAYERS[layer.rank - 1].from_config(config)
