"""Layer plumbing: config round trip, .keras files, registration, one training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv

FULL_CONFIGS = [
    (1, dict(filters=4, kernel_size=5, strides=3, padding=[(1, 2)], output_padding=2, dilation_rate=3,
             groups=2, data_format="channels_first", activation="tanh", use_bias=False)),
    (2, dict(filters=6, kernel_size=(3, 2), strides=(2, 1), padding="SAME", output_padding=(1, 0),
             dilation_rate=(1, 2), groups=3, activation="relu",
             kernel_initializer=keras.initializers.HeNormal(seed=3), bias_initializer="ones",
             kernel_regularizer=keras.regularizers.L2(1e-3), bias_regularizer="l1",
             activity_regularizer="l2", kernel_constraint=keras.constraints.MaxNorm(2.0),
             bias_constraint="non_neg")),
    (3, dict(filters=2, kernel_size=2, strides=2, padding=1, data_format="channels_last")),
]


@pytest.mark.parametrize("rank,kwargs", FULL_CONFIGS)
def test_get_config_round_trips_every_argument(rank, kwargs):
    layer_class = getattr(keras_deconv, f"Conv{rank}DTranspose")
    layer = layer_class(**kwargs)
    config = layer.get_config()
    clone = layer_class.from_config(config)
    assert clone.get_config() == config
    for name in ("filters", "kernel_size", "strides", "padding", "output_padding", "dilation_rate",
                 "groups", "data_format", "use_bias"):
        assert getattr(clone, name) == getattr(layer, name), name
    # Serialised by name and package, so a model file finds the class again.
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"keras_deconv>Conv{rank}DTranspose"
    assert type(keras.saving.deserialize_keras_object(serialized)) is layer_class


def test_aliases_are_the_same_classes():
    assert keras_deconv.Convolution1DTranspose is keras_deconv.Conv1DTranspose
    assert keras_deconv.Convolution2DTranspose is keras_deconv.Conv2DTranspose
    assert keras_deconv.Convolution3DTranspose is keras_deconv.Conv3DTranspose


def test_positional_argument_order():
    layer = keras_deconv.Conv2DTranspose(8, 3, 2, "same", 1, "channels_last", 1, 2)
    assert (layer.filters, layer.kernel_size, layer.strides, layer.padding) == (8, (3, 3), (2, 2), "same")
    assert (layer.output_padding, layer.data_format, layer.dilation_rate, layer.groups) == (
        (1, 1), "channels_last", (1, 1), 2)


def test_kernel_and_bias_shapes():
    layer = keras_deconv.Conv3DTranspose(6, (1, 2, 3), groups=3)
    layer.build((None, 4, 4, 4, 9))
    assert tuple(layer.kernel.shape) == (1, 2, 3, 2, 9)
    assert tuple(layer.bias.shape) == (6,)


@pytest.mark.parametrize("rank,kwargs", FULL_CONFIGS)
def test_keras_file_round_trip(rank, kwargs, tmp_path, rng):
    layer_class = getattr(keras_deconv, f"Conv{rank}DTranspose")
    channels = 6 if rank < 3 else 3
    spatial = (4,) * rank
    shape = (channels,) + spatial if kwargs.get("data_format") == "channels_first" else spatial + (channels,)
    inputs = keras.Input(shape)
    model = keras.Model(inputs, layer_class(**kwargs)(inputs))
    x = rng.standard_normal((2,) + shape).astype("float32")
    before = convert_to_numpy(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(convert_to_numpy(loaded(x)), before)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()


@pytest.mark.needs_gradients
def test_one_fit_step_changes_weights_and_gives_finite_loss(rng, backend):
    inputs = keras.Input((4, 4, 3))
    hidden = keras_deconv.Conv2DTranspose(4, 3, strides=2, padding="same", dilation_rate=2,
                                          activation="relu")(inputs)
    outputs = keras_deconv.Conv2DTranspose(2, 2, strides=1, groups=2)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = rng.standard_normal((4, 4, 4, 3)).astype("float32")
    y = rng.standard_normal((4,) + model.output_shape[1:]).astype("float32")
    before = [convert_to_numpy(w).copy() for w in model.weights]
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(b, convert_to_numpy(w)) for b, w in zip(before, model.weights)), backend


def test_output_size_rescues_a_padding_that_crops_the_default_output_away():
    # Length 1, kernel 1, padding 1: the default output has length -1, but output_size=1
    # is in range (output_padding up to stride - 1), so build must not refuse the layer.
    layer = keras_deconv.Conv1DTranspose(1, 1, strides=3, padding=1, use_bias=False)
    x = np.ones((1, 1, 1), "float32")
    assert tuple(layer(x, output_size=1).shape) == (1, 1, 1)
    with pytest.raises(ValueError, match="crops away the whole output"):
        layer(x)
