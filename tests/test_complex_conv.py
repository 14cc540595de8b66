"""Conv1D/2D/3D layers, complex activations and complex losses: values, saving, training."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv import activations
from keras_deconv.complex_weights import weight_value
from keras_deconv.layers import ModReLU
from keras_deconv.losses import ComplexMeanAbsoluteError, ComplexMeanSquaredError
from keras_deconv.reference import reference_conv

LAYERS = {1: keras_deconv.Conv1D, 2: keras_deconv.Conv2D, 3: keras_deconv.Conv3D}


def complex_normal(rng, shape, dtype="complex64"):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


# ---------------------------------------------------------------- layers


@pytest.mark.parametrize("dtype", ["float32", "complex64", "complex128"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_layer_matches_reference(rng, rank, dtype, assert_close, precision):
    if keras.backend.backend() == "numpy" and dtype == "complex128":
        pytest.skip("the numpy backend's convert_to_tensor demotes complex128 to complex64")
    with precision(dtype):
        layer = LAYERS[rank](6, 3, strides=2, padding="same", dilation_rate=1, groups=2, dtype=dtype,
                             bias_initializer="random_normal", activation="complex_relu")
        x = complex_normal(rng, (2, *(5,) * rank, 4), dtype) if "complex" in dtype else \
            rng.standard_normal((2, *(5,) * rank, 4)).astype(dtype)
        y = convert_to_numpy(layer(x))
        kernel = convert_to_numpy(layer.kernel_value)
        bias = convert_to_numpy(layer.bias_value)
    parts = (2,) if "complex" in dtype else ()
    assert tuple(layer.kernel.shape) == (3,) * rank + (2, 6) + parts  # Keras's layout, real parts last
    assert kernel.shape == (3,) * rank + (2, 6) and kernel.dtype == np.dtype(dtype) == y.dtype
    linear = reference_conv(x, kernel, (2,) * rank, "same", groups=2) + bias
    expected = np.maximum(linear.real, 0) + (1j * np.maximum(linear.imag, 0) if "complex" in dtype else 0)
    assert_close(y, expected)
    assert y.shape == layer.compute_output_shape(x.shape)


def test_layer_kernel_is_the_transposed_layers_kernel(rng, assert_close):
    # One tensor serves both directions: Conv2D(F) on C channels and Conv2DTranspose(C) on F channels.
    forward = keras_deconv.Conv2D(6, 3, strides=2, padding="same", use_bias=False, dtype="complex64")
    backward = keras_deconv.Conv2DTranspose(4, 3, strides=2, padding="same", use_bias=False,
                                            dtype="complex64")
    forward.build((None, 8, 8, 4))
    backward.build((None, 4, 4, 6))
    assert tuple(forward.kernel.shape) == tuple(backward.kernel.shape)
    backward.kernel.assign(forward.kernel)
    x = complex_normal(rng, (2, 8, 8, 4))
    y = complex_normal(rng, (2, 4, 4, 6))
    left = np.sum(convert_to_numpy(backward(y)).astype(complex) * x)
    right = np.sum(y.astype(complex) * convert_to_numpy(forward(x)))
    assert abs(left - right) <= 1e-5 * abs(left)


def test_layer_channels_first_and_batch_axes(rng, assert_close):
    layer = keras_deconv.Conv2D(3, 3, strides=2, padding="circular", data_format="channels_first",
                                dtype="complex64", bias_initializer="random_normal")
    x = complex_normal(rng, (2, 3, 4, 6, 8))
    y = convert_to_numpy(layer(x))
    flat = convert_to_numpy(layer(x.reshape(6, 4, 6, 8)))
    assert y.shape == (2, 3, 3, 3, 4) == layer.compute_output_shape(x.shape)
    assert_close(y.reshape(flat.shape), flat, rtol=1e-6)
    kernel = convert_to_numpy(layer.kernel_value)
    expected = reference_conv(np.moveaxis(x.reshape(6, 4, 6, 8), 1, -1), kernel, (2, 2), "circular")
    expected += convert_to_numpy(layer.bias_value)
    assert_close(np.moveaxis(flat, 1, -1), expected)


def test_lora_matches_the_merged_kernel(rng, assert_close):
    layer = keras_deconv.Conv2D(4, 3, padding="same", lora_rank=2)
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    layer(x)
    layer.lora_kernel_b.assign(rng.standard_normal(layer.lora_kernel_b.shape).astype("float32"))
    assert tuple(layer.lora_kernel_a.shape) == (3, 3, 3, 2) and tuple(layer.lora_kernel_b.shape) == (2, 4)
    merged = convert_to_numpy(layer.kernel) + convert_to_numpy(layer.lora_kernel_a) @ convert_to_numpy(
        layer.lora_kernel_b)
    expected = reference_conv(x, merged, (1, 1), "same") + convert_to_numpy(layer.bias)
    assert_close(layer(x), expected)
    assert not layer.kernel.trainable
    with pytest.raises(ValueError, match="complex"):
        complex_layer = keras_deconv.Conv2D(4, 3, dtype="complex64")
        complex_layer.build((None, 6, 6, 3))
        complex_layer.enable_lora(2)


def test_complex_model_saves_and_loads(rng, tmp_path):
    inputs = keras.Input((8, 8, 2), dtype="complex64")
    x = keras_deconv.Conv2D(4, 3, strides=2, padding="same", dtype="complex64", activation="cardioid",
                            bias_initializer="he_normal")(inputs)
    x = ModReLU(dtype="complex64", bias_initializer=keras.initializers.Constant(-0.1))(x)
    x = keras_deconv.Conv2DTranspose(2, 3, strides=2, padding="same", dtype="complex64",
                                     activation="complex_relu")(x)
    model = keras.Model(inputs, x)
    z = complex_normal(rng, (2, 8, 8, 2))
    before = convert_to_numpy(model(z))
    path = str(tmp_path / "complex_conv.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(convert_to_numpy(loaded(z)), before)
    assert loaded.layers[1].activation is activations.cardioid
    assert loaded.layers[3].activation is activations.complex_relu


@pytest.mark.parametrize("layer_class", [keras_deconv.Conv2D, keras_deconv.Conv2DTranspose])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "gelu"])
def test_real_activations_are_refused_on_complex_layers(layer_class, activation):
    with pytest.raises(ValueError, match=f"activation='{activation}'"):
        layer_class(4, 3, dtype="complex64", activation=activation)
    layer_class(4, 3, activation=activation)  # real layers keep them
    layer_class(4, 3, dtype="complex64", activation="linear")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(filters=0), ValueError, "filters"),
    (dict(kernel_size=(3, 3, 3)), ValueError, "kernel_size"),
    (dict(strides=0), ValueError, "strides"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(groups=4), ValueError, "groups"),
    (dict(data_format="NHWC"), ValueError, "data_format"),
    (dict(use_bias="yes"), TypeError, "use_bias"),
])
def test_layer_refuses_bad_arguments(kwargs, error, match):
    arguments = dict(filters=6, kernel_size=3) | kwargs
    with pytest.raises(error, match=match):
        keras_deconv.Conv2D(**arguments)


def test_layer_refuses_bad_inputs():
    with pytest.raises(ValueError, match="groups"):
        keras_deconv.Conv2D(6, 3, groups=2).build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="channel"):
        keras_deconv.Conv2D(6, 3).build((None, 8, 8, None))
    with pytest.raises(ValueError, match="empty"):
        keras_deconv.Conv2D(6, 5).compute_output_shape((None, 3, 3, 2))


# ---------------------------------------------------------------- activations


def test_complex_activations_follow_their_definitions(rng, assert_close):
    z = complex_normal(rng, (50,))
    z[:3] = [0, 2, -1j]
    assert_close(activations.complex_relu(z), np.maximum(z.real, 0) + 1j * np.maximum(z.imag, 0))
    expected = 0.5 * (1 + np.cos(np.angle(z))) * z
    assert_close(activations.cardioid(z), expected)
    real = rng.standard_normal(20).astype("float32")
    for function in (activations.complex_relu, activations.cardioid):
        assert_close(function(real), np.maximum(real, 0))


def test_modrelu_follows_its_definition(rng, assert_close):
    z = complex_normal(rng, (4, 5, 3))
    z[0, 0, 0] = 0
    layer = ModReLU(bias_initializer="random_normal", dtype="complex64")
    y = layer(z)
    bias = convert_to_numpy(layer.bias)
    modulus = np.abs(z)
    scale = np.where(modulus > 0, np.maximum(modulus + bias, 0) / np.where(modulus > 0, modulus, 1), 0)
    assert layer.bias.dtype == "float32" and tuple(layer.bias.shape) == (3,)
    assert_close(y, scale * z)


@pytest.mark.needs_gradients
def test_activation_gradients_are_finite_at_zero():
    z = np.array([[0j, 1 + 1j]], "complex64")
    model = keras.Sequential([keras.Input((2,), dtype="complex64"), ModReLU(dtype="complex64")])
    for function in (activations.cardioid, activations.complex_relu):
        value = _gradient_of_sum_of_squares(function, z)
        assert np.all(np.isfinite(value)), function.__name__
    value = _gradient_of_sum_of_squares(model, z)
    assert np.all(np.isfinite(value))


def _gradient_of_sum_of_squares(function, z):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return np.asarray(jax.grad(lambda v: jnp.sum(jnp.abs(function(v)) ** 2))(jnp.asarray(z)))
    if backend == "torch":
        import torch

        v = torch.tensor(z, requires_grad=True)
        torch.sum(torch.abs(function(v)) ** 2).backward()
        return v.grad.numpy()
    import tensorflow as tf

    v = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(v)
        loss = tf.reduce_sum(tf.abs(function(v)) ** 2)
    return tape.gradient(loss, v).numpy()


# ---------------------------------------------------------------- losses


def test_losses_follow_their_definitions(rng):
    y_true, y_pred = complex_normal(rng, (4, 5, 3)), complex_normal(rng, (4, 5, 3))
    weights = rng.random(4).astype("float32")
    difference = np.abs(y_true - y_pred)
    for loss, per_position in ((ComplexMeanSquaredError(), np.mean(difference ** 2, -1)),
                               (ComplexMeanAbsoluteError(), np.mean(difference, -1))):
        assert float(loss(y_true, y_pred)) == pytest.approx(per_position.mean(), rel=1e-5)
        weighted = float(loss(y_true, y_pred, sample_weight=weights))
        assert weighted == pytest.approx((per_position * weights[:, None]).mean(), rel=1e-5)
        config = loss.get_config()
        assert type(loss).from_config(config).get_config() == config
    summed = ComplexMeanSquaredError(reduction="sum")(y_true, y_pred)
    assert float(summed) == pytest.approx(np.sum(np.mean(difference ** 2, -1)), rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        ComplexMeanSquaredError(reduction="average")


class RecordingLoss(ComplexMeanSquaredError):
    """Records the dtypes its function receives."""

    seen: list = []

    def call(self, y_true, y_pred):
        RecordingLoss.seen.append((keras.backend.standardize_dtype(y_true.dtype),
                                   keras.backend.standardize_dtype(y_pred.dtype)))
        return super().call(y_true, y_pred)


@pytest.mark.needs_gradients
def test_complex_encoder_decoder_trains_and_its_loss_sees_complex_values(rng):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 2), dtype="complex64")
    x = keras_deconv.Conv2D(8, 3, strides=2, padding="same", activation="complex_relu",
                            dtype="complex64")(inputs)
    x = keras_deconv.Conv2DTranspose(2, 3, strides=2, padding="same", dtype="complex64")(x)
    model = keras.Model(inputs, x)
    z = complex_normal(rng, (32, 8, 8, 2))
    target = 1j * z  # a rotation by 90 degrees: invisible to a loss that sees only real parts
    RecordingLoss.seen = []
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=RecordingLoss())
    history = model.fit(z, target, epochs=40, batch_size=16, verbose=0).history["loss"]
    assert set(RecordingLoss.seen) == {("complex64", "complex64")}
    assert history[-1] < 0.5 * history[0]


@pytest.mark.needs_gradients
def test_complex_student_matches_teacher_real_and_imaginary_parts(rng):
    keras.utils.set_random_seed(0)
    x = complex_normal(rng, (16, 8, 8, 3))
    teacher = keras_deconv.Conv2D(4, 3, strides=2, padding="same", dtype="complex64",
                                  bias_initializer="random_normal")
    target = convert_to_numpy(teacher(x))
    inputs = keras.Input((8, 8, 3), dtype="complex64")
    layer = keras_deconv.Conv2D(4, 3, strides=2, padding="same", dtype="complex64")
    student = keras.Model(inputs, layer(inputs))
    student.compile(optimizer=keras.optimizers.Adam(0.02), loss=ComplexMeanSquaredError())
    student.fit(x, target, epochs=150, batch_size=16, verbose=0)
    predicted = convert_to_numpy(student(x))
    for part in (np.real, np.imag):
        error = np.linalg.norm(part(predicted) - part(target)) / np.linalg.norm(part(target))
        assert error < 0.02, (part.__name__, error)
    kernel = convert_to_numpy(weight_value(student.layers[-1].kernel, "complex64"))
    teacher_kernel = convert_to_numpy(teacher.kernel_value)
    assert np.linalg.norm(kernel - teacher_kernel) < 0.05 * np.linalg.norm(teacher_kernel)
