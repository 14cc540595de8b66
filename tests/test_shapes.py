"""Shape inference: compute_output_shape and symbolic shapes equal the real shapes."""

from __future__ import annotations

import keras
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv.ops import available_paths, conv_transpose

CASES = [
    # (rank, layer kwargs, spatial input size)
    (1, dict(filters=3, kernel_size=4, strides=3, dilation_rate=2, padding="same"), 5),
    (1, dict(filters=2, kernel_size=3, strides=2, padding=(1,), output_padding=1), 4),
    (2, dict(filters=4, kernel_size=3, strides=2, padding="same", output_padding=1), 5),
    (2, dict(filters=4, kernel_size=(2, 5), strides=(2, 1), dilation_rate=(1, 2), padding="valid"), 3),
    (2, dict(filters=4, kernel_size=2, strides=3, padding=((1, 0), (0, 2)), groups=2), 4),
    (2, dict(filters=2, kernel_size=4, strides=2, padding="same", data_format="channels_first"), 3),
    (3, dict(filters=2, kernel_size=3, strides=2, padding="same", dilation_rate=2), 3),
    (3, dict(filters=2, kernel_size=2, strides=2, output_padding=1, dilation_rate=2), 2),
]


def _layer_and_input(rank, kwargs, size, rng):
    layer = getattr(keras_deconv, f"Conv{rank}DTranspose")(**kwargs)
    channels = 2 * kwargs.get("groups", 1)
    shape = (2,) + (size,) * rank + (channels,)
    if kwargs.get("data_format") == "channels_first":
        shape = (2, channels) + (size,) * rank
    return layer, rng.standard_normal(shape).astype("float32")


@pytest.mark.parametrize("rank,kwargs,size", CASES)
def test_compute_output_shape_equals_real_shape(rank, kwargs, size, rng):
    layer, x = _layer_and_input(rank, kwargs, size, rng)
    real = tuple(convert_to_numpy(layer(x)).shape)
    assert tuple(layer.compute_output_shape(x.shape)) == real
    assert tuple(layer.compute_output_shape((None,) + x.shape[1:])) == (None,) + real[1:]


@pytest.mark.parametrize("rank,kwargs,size", CASES)
def test_symbolic_shapes_static_and_unknown(rank, kwargs, size, rng):
    layer, x = _layer_and_input(rank, kwargs, size, rng)
    real = tuple(convert_to_numpy(layer(x)).shape)
    symbolic = layer(keras.Input(x.shape[1:]))
    assert tuple(symbolic.shape) == (None,) + real[1:]
    unknown = list(x.shape[1:])
    spatial_axes = range(1, rank + 1) if kwargs.get("data_format") == "channels_first" else range(rank)
    for axis in spatial_axes:
        unknown[axis] = None
    symbolic = layer(keras.Input(tuple(unknown)))
    expected = [None] + [None if i in spatial_axes else d for i, d in enumerate(real[1:])]
    assert list(symbolic.shape) == expected


def test_output_size_in_symbolic_and_compute_output_shape(rng):
    layer = keras_deconv.Conv2DTranspose(3, 3, strides=2, padding="same")
    x = rng.standard_normal((1, 4, 4, 2)).astype("float32")
    assert tuple(convert_to_numpy(layer(x, output_size=(7, 8))).shape) == (1, 7, 8, 3)
    assert layer.compute_output_shape((1, 4, 4, 2), output_size=(7, 8)) == (1, 7, 8, 3)
    kernel = convert_to_numpy(layer.kernel)
    symbolic = conv_transpose(keras.Input((4, 4, 2)), kernel, 2, "same", output_size=7)
    assert tuple(symbolic.shape) == (None, 7, 7, 3)


def test_op_on_symbolic_input_runs_inside_a_model(rng, assert_close):
    kernel = rng.standard_normal((3, 3, 4, 2)).astype("float32")
    inputs = keras.Input((None, None, 2))
    outputs = conv_transpose(inputs, kernel, strides=2, padding="same", dilation_rate=1)
    model = keras.Model(inputs, outputs)
    x = rng.standard_normal((1, 5, 6, 2)).astype("float32")
    y = convert_to_numpy(model(x))
    assert y.shape == (1, 10, 12, 4)
    # The same arithmetic through a model: tighter than a comparison with a reference.
    assert_close(y, conv_transpose(x, kernel, 2, "same"), rtol=1e-6)


def test_functional_model_with_unknown_volume_sizes(rng):
    inputs = keras.Input((None, None, None, 3))
    hidden = keras_deconv.Conv3DTranspose(4, 3, strides=2, padding="same")(inputs)
    outputs = keras_deconv.Conv3DTranspose(2, 2, strides=(1, 2, 3), dilation_rate=(2, 1, 1))(hidden)
    model = keras.Model(inputs, outputs)
    for size in [(2, 3, 4), (3, 1, 2)]:
        x = rng.standard_normal((2,) + size + (3,)).astype("float32")
        y = convert_to_numpy(model(x))
        assert y.shape == model.compute_output_shape(x.shape)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tf.function with unknown shapes is TensorFlow's")
def test_tf_function_with_unknown_spatial_sizes(path_or_auto, rng, assert_close):
    import tensorflow as tf

    path = path_or_auto
    kernel = rng.standard_normal((3, 3, 3, 2, 3)).astype("float32")
    # Dilated where the path runs it (TensorFlow's own op has no dilation with strides).
    dilation = 2 if path == "auto" or path in available_paths(rank=3, dilation_rate=(1, 1, 2)) else 1

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, None, 3), tf.float32)])
    def run(x):
        return conv_transpose(x, kernel, strides=2, padding="same", output_padding=1,
                              dilation_rate=(1, 1, dilation), path=path)

    for size in [(2, 3, 4), (1, 5, 2)]:
        x = rng.standard_normal((2,) + size + (3,)).astype("float32")
        eager = convert_to_numpy(conv_transpose(x, kernel, strides=2, padding="same", output_padding=1,
                                                dilation_rate=(1, 1, dilation), path="matmul"))
        graph = run(tf.constant(x)).numpy()
        assert graph.shape == eager.shape
        assert_close(graph, eager)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tf.function with unknown shapes is TensorFlow's")
def test_tf_function_model_with_unknown_spatial_sizes(rng, assert_close):
    import tensorflow as tf

    inputs = keras.Input((None, None, None, 2))
    layer = keras_deconv.Conv3DTranspose(3, 3, strides=2, padding="same", data_format="channels_last")
    outputs = layer(inputs)
    model = keras.Model(inputs, outputs)
    run = tf.function(model, input_signature=[tf.TensorSpec((None, None, None, None, 2), tf.float32)])
    x = rng.standard_normal((1, 3, 4, 5, 2)).astype("float32")
    assert_close(run(tf.constant(x)), model(x))
    assert run(tf.constant(x)).shape == (1, 6, 8, 10, 3)
