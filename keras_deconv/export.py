"""Exporting models built from keras_deconv: Keras's ``model.export``, checked first.

Every format Keras exports to takes these layers as they are:
``model.export(path, format=...)`` traces the same graph that trains, and
every path in it is written so that each exporter lowers it to ops its
runtime has, with symbolic batch and spatial sizes (see
``docs/deploy.md``). Nothing needs switching on for export.

``export`` here adds what ``model.export`` cannot know:

- a clear error, naming the layer and the format, for a layer a format
  cannot express (``check_exportable``): complex layers in ONNX and LiteRT,
  whose runtimes have no complex arithmetic;
- LiteRT models restricted to LiteRT's builtin ops, so that conversion fails
  loudly rather than writing TF (Flex) ops the plain interpreter cannot run;
- dynamic batch and spatial sizes for ``torch.export``, where Keras would
  otherwise fix every unknown size to 1.

>>> import keras, keras_deconv
>>> model = keras.Sequential([keras.Input((None, 3)), keras_deconv.Conv1DTranspose(2, 3, strides=2)])
>>> keras_deconv.export.check_exportable(model, "onnx")  # nothing to refuse: returns None
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, Tuple

import keras

from keras_deconv._optional import require

#: The formats ``model.export`` writes on each backend, as tested by ``nox -s export``
#: (Keras 3.15's tf_saved_model exporter fails on the torch backend for Keras's own layers too).
EXPORT_FORMATS: Dict[str, Tuple[str, ...]] = {
    "tensorflow": ("tf_saved_model", "onnx", "litert"),
    "jax": ("tf_saved_model", "onnx"),
    "torch": ("onnx", "torch"),
}

#: Formats whose runtimes have no complex arithmetic.
REAL_ONLY_FORMATS = ("onnx", "litert")


def _package_layers(model: Any) -> Iterator[Any]:
    """Every keras_deconv convolution layer (forward or transposed) in ``model``, nested models included."""
    from keras_deconv.layers.base_convolution import BaseConvolution

    layers = model._flatten_layers(include_self=True, recursive=True)
    return (layer for layer in layers if isinstance(layer, BaseConvolution))


def check_exportable(model: Any, format: str) -> None:
    """Raise ``ValueError`` for the first keras_deconv layer of ``model`` that ``format`` cannot express.

    Args:
        model: a Keras model (or layer).
        format: a format of ``model.export``: "tf_saved_model", "onnx",
            "litert", "torch" or "openvino".

    Raises:
        ValueError: naming the layer, the format and the reason.
    """
    if format not in REAL_ONLY_FORMATS:
        return
    for layer in _package_layers(model):
        dtype = keras.backend.standardize_dtype(layer.compute_dtype)
        if dtype.startswith("complex"):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) computes {dtype} values, which "
                f"format={format!r} cannot express: its runtime has no complex arithmetic. "
                "Export with format='tf_saved_model' (or format='torch' on the torch backend), "
                f"or split the model into real and imaginary parts. Received: format={format!r}"
            )


def export(model: Any, filepath: Any, format: str = "tf_saved_model", **kwargs: Any) -> None:
    """``model.export(filepath, format=format, **kwargs)``, checked first and with this package's defaults.

    Defaults (each replaced by an explicit keyword argument):

    - ``format="litert"``: ``target_spec={"supported_ops": [TFLITE_BUILTINS]}``
      (no Flex ops).
    - ``format="torch"``: ``dynamic_shapes`` that keep every unknown input
      size of the model (``None`` in ``model.inputs``) dynamic, traced on a
      sample of 32 for each unknown size after the batch's (Keras traces on
      2, which a strided convolution shrinks to 1, a size torch.export fixes).
    - ``verbose=False``.

    Args:
        model: a Keras model that has been built or called.
        filepath: where to write the artifact.
        format: any format of ``model.export``.
        **kwargs: passed on to ``model.export``.

    Raises:
        ValueError: for a layer the format cannot express (``check_exportable``).
    """
    check_exportable(model, format)
    kwargs.setdefault("verbose", False)
    if format == "litert" and "target_spec" not in kwargs:
        tf = require("tensorflow", "export", "LiteRT export")

        kwargs["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    if format == "torch" and "dynamic_shapes" not in kwargs:
        kwargs["dynamic_shapes"] = _torch_dynamic_shapes(model)
        if kwargs["dynamic_shapes"] is not None:
            kwargs.setdefault("input_signature", torch_sample_signature(model))
    model.export(os.fspath(filepath), format=format, **kwargs)


def torch_sample_signature(model: Any, size: int = 32) -> Any:
    """The (single) input's spec with ``size`` for each unknown size after the first: torch.export's sample.

    >>> import keras
    >>> inputs = keras.Input((None, 3))
    >>> torch_sample_signature(keras.Model(inputs, inputs))[0].shape
    (2, 32, 3)
    """
    tensor = model.inputs[0]
    shape = tuple(2 if axis == 0 and n is None else (size if n is None else n)
                  for axis, n in enumerate(tensor.shape))
    return [keras.InputSpec(shape=shape, dtype=tensor.dtype)]


def _torch_dynamic_shapes(model: Any) -> Any:
    """``torch.export`` dynamic shapes: every ``None`` in the model's (single) input shape."""
    import torch

    if len(model.inputs) != 1:
        return None
    shape = model.inputs[0].shape
    return [{axis: torch.export.Dim.DYNAMIC for axis, size in enumerate(shape) if size is None}]
