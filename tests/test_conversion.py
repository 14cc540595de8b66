"""from_keras / to_keras: whole models converted, outputs and files unchanged, the original untouched."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv.layers.base_conv_transpose import BaseConvTranspose

pytestmark = pytest.mark.skipif(keras.backend.backend() == "numpy", reason="run on jax, torch and tensorflow")

KERAS_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


def unet():
    """A small U-Net whose decoder block is a nested Sequential model."""
    inputs = keras.Input((16, 16, 3))
    skip = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    down = keras.layers.MaxPooling2D()(skip)
    block = keras.Sequential([
        keras.Input((8, 8, 8)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2DTranspose(8, 2, strides=2, name="block_up"),
    ], name="decoder_block")
    up = block(down)
    merged = keras.layers.Concatenate()([up, skip])
    refined = keras.layers.Conv2DTranspose(4, 3, padding="same", activation="relu", name="refine")(merged)
    outputs = keras.layers.Conv2D(1, 1)(refined)
    return keras.Model(inputs, outputs, name="unet")


def sequential_1d():
    return keras.Sequential([
        keras.Input((12, 2)),
        keras.layers.Conv1D(4, 3, padding="same"),
        keras.layers.Conv1DTranspose(4, 3, strides=2, padding="same", output_padding=1),
        keras.layers.Conv1DTranspose(2, 5, strides=3, padding="valid", dilation_rate=1, use_bias=False),
    ], name="sequential_1d")


def model_3d():
    inputs = keras.Input((4, 4, 4, 2))
    y = keras.layers.Conv3DTranspose(4, 3, strides=2, padding="same", activation="relu")(inputs)
    y = keras.layers.Conv3DTranspose(2, 2, strides=2, padding="valid")(y)
    return keras.Model(inputs, y, name="model_3d")


MODELS = {"unet": unet, "sequential_1d": sequential_1d, "model_3d": model_3d}


def sample(model, seed=0):
    shape = (2,) + tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def randomize(model):
    """Non-zero biases everywhere, so that a weight lost in conversion shows.

    Small enough that outputs stay of order 1: the 1e-6 bound then measures
    the conversion, not float32 rounding of large sums in two summation orders.
    """
    rng = np.random.default_rng(1)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.2 for w in model.get_weights()])


def transposed(model, classes):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, classes)]


@pytest.mark.parametrize("name", list(MODELS))
def test_from_keras_replaces_every_layer_and_keeps_outputs(name, tmp_path, assert_close):
    model = MODELS[name]()
    randomize(model)
    x = sample(model)
    expected = convert_to_numpy(model(x))
    weights_before = [w.copy() for w in model.get_weights()]
    originals = transposed(model, KERAS_TRANSPOSED)

    converted = keras_deconv.from_keras(model)

    assert len(transposed(converted, BaseConvTranspose)) == len(originals) > 0
    assert transposed(converted, KERAS_TRANSPOSED) == []
    # The same arithmetic in another layer class: tighter than a comparison with a reference.
    assert_close(converted(x), expected, rtol=1e-6)
    # The original is untouched: same layers, same weights, same outputs.
    assert transposed(model, KERAS_TRANSPOSED) == originals
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights_before))
    np.testing.assert_array_equal(convert_to_numpy(model(x)), expected)
    # The converted model saves and reloads as .keras.
    path = tmp_path / f"{name}.keras"
    converted.save(path)
    reloaded = keras.saving.load_model(path)
    assert len(transposed(reloaded, BaseConvTranspose)) == len(originals)
    assert_close(reloaded(x), expected, rtol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_to_keras_round_trip(name, assert_close):
    model = MODELS[name]()
    randomize(model)
    x = sample(model)
    back = keras_deconv.to_keras(keras_deconv.from_keras(model))
    assert len(transposed(back, KERAS_TRANSPOSED)) == len(transposed(model, KERAS_TRANSPOSED))
    assert transposed(back, BaseConvTranspose) == []
    assert_close(back(x), model(x), rtol=1e-6)  # as above


@pytest.mark.parametrize("kwargs,argument", [
    (dict(groups=2), "groups=2"),
    (dict(strides=2, dilation_rate=2), r"strides=\(2, 2\), dilation_rate=\(2, 2\)"),
    (dict(padding=1), r"padding=\(\(1, 1\), \(1, 1\)\)"),
    (dict(dilation_rate=(1, 3), output_padding=(0, 2)), "output_padding"),
])
def test_to_keras_refuses_what_keras_lacks(kwargs, argument):
    layer = keras_deconv.Conv2DTranspose(4, 3, name="up", **kwargs)
    model = keras.Sequential([keras.Input((5, 5, 4)), layer])
    with pytest.raises(ValueError, match=rf"Layer 'up' \(Conv2DTranspose\).*Received: {argument}"):
        keras_deconv.to_keras(model)


def test_subclassed_model_gets_a_clear_error():
    class Decoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.up = keras.layers.Conv2DTranspose(2, 3, strides=2)

        def call(self, x):
            return self.up(x)

    message = r"Decoder is a subclassed model.*set_weights.*Received: model of class Decoder"
    with pytest.raises(ValueError, match=message):
        keras_deconv.from_keras(Decoder())


def test_layer_out_of_reach_is_not_silently_left():
    class Wrapper(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.up = keras.layers.Conv2DTranspose(2, 3)

        def call(self, x):
            return self.up(x)

    model = keras.Sequential([keras.Input((4, 4, 2)), Wrapper(name="wrapper")])
    with pytest.raises(ValueError, match="could not reach layer"):
        keras_deconv.from_keras(model)


def test_from_keras_converts_graphs_with_keras_ops_calls_shared_layers_and_nested_models(rng, assert_close):
    # Preprocessing (x / 255.0), ops between layers, a shared layer called twice
    # and a nested functional model: every transposed layer replaced, the outputs kept.
    inputs = keras.Input((4, 4, 2))
    inner_inputs = keras.Input((8, 8, 3))
    inner_outputs = keras.layers.Conv2DTranspose(2, 2, strides=2)(keras.ops.tanh(inner_inputs))
    inner = keras.Model(inner_inputs, inner_outputs)
    shared = keras.layers.Conv2DTranspose(2, 3, padding="same")
    y = keras.layers.Conv2DTranspose(3, 2, strides=2)(inputs / 255.0)
    y = inner(keras.ops.concatenate([y, y * 2.0], axis=-1)[..., :3])
    model = keras.Model(inputs, shared(shared(y) + 1.0))
    converted = keras_deconv.from_keras(model)
    layers = list(converted._flatten_layers(include_self=False, recursive=True))
    assert not [layer for layer in layers if isinstance(layer, KERAS_TRANSPOSED)]
    assert sum(isinstance(layer, BaseConvTranspose) for layer in layers) == 3
    x = (rng.random((2, 4, 4, 2)) * 255).astype("float32")
    assert_close(converted(x), model(x))


def test_load_model_with_custom_objects_reads_an_h5_file_into_this_packages_layers(tmp_path, rng,
                                                                                   assert_close):
    # docs/migration.md: a legacy .h5 file (the format tf.keras 2 writes) loads
    # straight into this package's layers.
    model = keras.Sequential([
        keras.Input((4, 4, 2)),
        keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2DTranspose(2, 2, strides=2),
    ])
    path = str(tmp_path / "model.h5")
    model.save(path)
    custom_objects = {"Conv1DTranspose": keras_deconv.Conv1DTranspose,
                      "Conv2DTranspose": keras_deconv.Conv2DTranspose,
                      "Conv3DTranspose": keras_deconv.Conv3DTranspose}
    loaded = keras.models.load_model(path, custom_objects=custom_objects, compile=False)
    assert all(isinstance(layer, BaseConvTranspose) for layer in loaded.layers)
    x = rng.random((2, 4, 4, 2)).astype("float32")
    assert_close(loaded(x), model(x))
