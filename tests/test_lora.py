"""LoRA on the transposed layers: a frozen kernel plus a trained low-rank update."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv.reference import reference_conv_transpose

pytestmark = pytest.mark.skipif(keras.backend.backend() == "numpy",
                                reason="LoRA trains: jax, torch and tensorflow")

# (rank, layer keyword arguments, input shape without the batch)
CASES = [
    (1, dict(filters=4, kernel_size=3, strides=2, padding="same"), (6, 4)),
    (2, dict(filters=4, kernel_size=3, strides=2, padding="same", groups=2), (5, 5, 4)),
    (3, dict(filters=2, kernel_size=2, strides=2, groups=2), (3, 3, 3, 4)),
]
IDS = ["1d", "2d-groups", "3d-groups"]


def built_layer(rank, kwargs, shape, **extra):
    layer = getattr(keras_deconv, f"Conv{rank}DTranspose")(name="up", **kwargs, **extra)
    layer.build((None,) + shape)
    layer.bias.assign(np.linspace(-1, 1, layer.filters).astype("float32"))
    return layer


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal((3,) + shape).astype("float32")


@pytest.mark.parametrize("rank,kwargs,shape", CASES, ids=IDS)
def test_enable_lora_keeps_the_output_and_freezes_the_kernel(rank, kwargs, shape):
    layer = built_layer(rank, kwargs, shape)
    x = data(shape)
    before = convert_to_numpy(layer(x))
    layer.enable_lora(2)
    assert layer.lora_kernel_a.shape == layer.kernel.shape[:-1] + (2,)
    assert layer.lora_kernel_b.shape == (2, shape[-1])
    assert not layer.kernel.trainable
    trainable = {v.path.split("/")[-1] for v in layer.trainable_variables}
    assert trainable == {"bias", "lora_kernel_a", "lora_kernel_b"}
    np.testing.assert_array_equal(convert_to_numpy(layer(x)), before)


@pytest.mark.parametrize("rank,kwargs,shape", CASES, ids=IDS)
def test_effective_kernel_is_kernel_plus_scaled_product(rank, kwargs, shape, assert_close):
    layer = built_layer(rank, kwargs, shape)
    layer.enable_lora(3, lora_alpha=6.0, b_initializer="glorot_uniform")
    kernel, a, b = (convert_to_numpy(v) for v in (layer.kernel, layer.lora_kernel_a, layer.lora_kernel_b))
    effective = kernel + (6.0 / 3) * (a @ b)
    x = data(shape)
    strides, padding, groups = layer.strides, layer.padding, layer.groups
    expected = reference_conv_transpose(x, effective, strides, padding, None, (1,) * rank, groups=groups)
    expected = expected + convert_to_numpy(layer.bias)
    assert_close(layer(x), expected)


@pytest.mark.parametrize("rank,kwargs,shape", CASES, ids=IDS)
def test_training_lowers_the_loss_with_the_kernel_bit_identical(rank, kwargs, shape):
    layer = built_layer(rank, kwargs, shape)
    model = keras.Sequential([keras.Input(shape), layer])
    kernel = convert_to_numpy(layer.kernel).copy()
    layer.enable_lora(2, b_initializer="glorot_uniform")
    x = data(shape)
    # A reachable target: the output of a rank-2 update; then start again from B = 0.
    target = convert_to_numpy(model(x))
    layer.lora_kernel_b.assign(np.zeros(layer.lora_kernel_b.shape, "float32"))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    first = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=60, batch_size=3, verbose=0)
    assert model.evaluate(x, target, verbose=0) < 0.3 * first
    np.testing.assert_array_equal(convert_to_numpy(layer.kernel), kernel)


@pytest.mark.parametrize("rank,kwargs,shape", CASES, ids=IDS)
def test_keras_file_keeps_lora_weights_and_outputs(rank, kwargs, shape, tmp_path):
    layer = built_layer(rank, kwargs, shape)
    model = keras.Sequential([keras.Input(shape), layer])
    layer.enable_lora(2, lora_alpha=4.0, b_initializer="glorot_uniform")
    assert layer.get_config()["lora_rank"] == 2 and layer.get_config()["lora_alpha"] == 4.0
    x = data(shape)
    path = tmp_path / "lora.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path).layers[0]
    assert reloaded.lora_enabled and not reloaded.kernel.trainable
    for name in ("kernel", "lora_kernel_a", "lora_kernel_b"):
        np.testing.assert_array_equal(convert_to_numpy(getattr(reloaded, name)),
                                      convert_to_numpy(getattr(layer, name)))
    np.testing.assert_array_equal(convert_to_numpy(reloaded(x)), convert_to_numpy(layer(x)))


def test_lora_rank_argument_enables_lora_at_build():
    layer = keras_deconv.Conv2DTranspose(4, 3, lora_rank=2)
    layer.build((None, 4, 4, 2))
    assert layer.lora_enabled and layer.lora_alpha == 2


def test_refusals():
    unbuilt = keras_deconv.Conv2DTranspose(4, 3, name="up")
    with pytest.raises(ValueError, match=r"built layer.*'up'.*Received: layer.built=False"):
        unbuilt.enable_lora(2)
    layer = built_layer(2, dict(filters=4, kernel_size=3), (4, 4, 2))
    layer.enable_lora(2)
    with pytest.raises(ValueError, match=r"already enabled.*'up'.*Received: rank=1"):
        layer.enable_lora(1)
    constrained = built_layer(2, dict(filters=4, kernel_size=3), (4, 4, 2), kernel_constraint="non_neg")
    with pytest.raises(ValueError, match=r"kernel constraint.*Received: kernel_constraint="):
        constrained.enable_lora(2)
    complex_layer = keras_deconv.Conv2DTranspose(2, 3, dtype="complex64", name="z")
    complex_layer.build((None, 4, 4, 2))
    with pytest.raises(ValueError, match=r"complex layers.*Received: dtype='complex64'"):
        complex_layer.enable_lora(2)
    with pytest.raises(ValueError, match="rank"):
        built_layer(2, dict(filters=4, kernel_size=3), (4, 4, 2)).enable_lora(0)
