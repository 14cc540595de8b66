"""Complex transposed convolutions: ops, composition, initialisers, layers, training."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv import initializers
from keras_deconv._paths import PATHS
from keras_deconv._paths.complex import complex_conv_transpose
from keras_deconv._paths.policy import for_backend
from keras_deconv.complex_weights import weight_value
from keras_deconv.losses import ComplexMeanSquaredError
from keras_deconv.ops import available_paths, conv_transpose
from keras_deconv.reference import reference_conv_transpose

LAYERS = {1: keras_deconv.Conv1DTranspose, 2: keras_deconv.Conv2DTranspose, 3: keras_deconv.Conv3DTranspose}


def complex_normal(rng, shape, dtype="complex64"):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def known_demotion(path, dtype):
    """Keras returns complex64 for complex128 here (see docs/complex.md), in code outside this module."""
    if dtype != "complex128":
        return None
    if keras.backend.backend() == "numpy":
        return "the numpy backend's convert_to_tensor and matmul demote complex128 to complex64"
    return None


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_op_matches_complex_reference(rng, rank, strides, padding, groups, path_or_auto, dtype, assert_close,
                                      precision):
    path = path_or_auto
    if path != "auto" and path not in available_paths(rank=rank, groups=groups, dtype=dtype):
        pytest.skip(f"path={path!r} does not run groups {groups}, {dtype} on {keras.backend.backend()}")
    reason = known_demotion(path, dtype)
    if reason:
        pytest.xfail(reason)
    spatial = (4, 3, 3)[:rank]
    x = complex_normal(rng, (2, *spatial, 4), dtype)
    w = complex_normal(rng, (3,) * rank + (6 // groups, 4), dtype)
    with precision(dtype):
        y = convert_to_numpy(conv_transpose(x, w, strides=strides, padding=padding, groups=groups, path=path))
    expected = reference_conv_transpose(x, w, (strides,) * rank, padding, groups=groups)
    assert y.dtype == np.dtype(dtype)
    assert_close(y, expected)


@pytest.mark.parametrize("path", ["matmul", "phase"])
@pytest.mark.parametrize("groups", [1, 2])
def test_composition_matches_reference_on_every_backend(rng, path, groups, assert_close):
    # The composition is only *chosen* on TensorFlow; forcing it checks it everywhere.
    x = complex_normal(rng, (2, 4, 3, 4))
    w = complex_normal(rng, (3, 2, 6 // groups, 4))
    crops = ((1, 1), (0, 1))
    y = convert_to_numpy(complex_conv_transpose(PATHS[path], x, w, (2, 1), (1, 1), groups, crops))
    full = reference_conv_transpose(x, w, (2, 1), "valid", groups=groups)
    expected = full[:, 1:-1, 0:-1, :]
    assert y.dtype == np.complex64
    assert_close(y, expected)


def test_composition_rejects_bad_arguments(rng):
    x = complex_normal(rng, (1, 3, 2))
    w = complex_normal(rng, (2, 1, 2))
    with pytest.raises(TypeError, match="float32"):
        complex_conv_transpose(PATHS["matmul"], x.real.astype("float32"), w, (1,), (1,), 1, ((0, 0),))


def test_tensorflow_composes_exactly_where_it_lacks_kernels():
    assert not for_backend("tensorflow").runs_complex("phase", "complex64")
    assert not for_backend("tensorflow").runs_complex("matmul", "complex128")
    assert for_backend("tensorflow").runs_complex("matmul", "complex64")
    assert for_backend("jax").runs_complex("phase", "complex128")


# ---------------------------------------------------------------- initialisers


@pytest.mark.parametrize("name", sorted(initializers.COMPLEX_NAMES))
def test_string_names_give_complex_variance_scaling(name):
    init = initializers.get(name, complex_dtype=True)
    assert isinstance(init, initializers.ComplexVarianceScaling)
    real = keras.initializers.get(name)
    assert init.scale == real.scale and init.mode == real.mode
    # Real layers keep Keras's initialiser.
    assert type(initializers.get(name)) is type(real)


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_complex_variance_matches_the_real_initialiser(mode, distribution):
    shape = (3, 3, 32, 48)
    init = initializers.ComplexVarianceScaling(2.0, mode, distribution, seed=3)
    w = convert_to_numpy(init(shape, dtype="complex64"))
    real_init = keras.initializers.VarianceScaling(2.0, mode, "untruncated_normal", seed=3)
    real_w = convert_to_numpy(real_init(shape, dtype="float32"))
    assert w.dtype == np.complex64
    assert np.mean(np.abs(w) ** 2) == pytest.approx(np.var(real_w), rel=0.06)
    # Uniform phase: the mean of exp(i*theta) is near 0, and the parts have equal variance.
    assert abs(np.mean(np.exp(1j * np.angle(w)))) < 0.03
    assert np.var(w.real) == pytest.approx(np.var(w.imag), rel=0.1)


def test_rayleigh_modulus_and_disk_bound():
    shape = (64, 64, 8)
    normal = convert_to_numpy(initializers.ComplexVarianceScaling(1.0, "fan_in", "normal", seed=1)(shape))
    uniform = convert_to_numpy(initializers.ComplexVarianceScaling(1.0, "fan_in", "uniform", seed=1)(shape))
    variance = 1.0 / (64 * 64)
    sigma = np.sqrt(variance / 2)
    # Rayleigh mean is sigma * sqrt(pi / 2); the disk has radius sqrt(2 * variance).
    assert np.mean(np.abs(normal)) == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.03)
    assert np.max(np.abs(uniform)) <= np.sqrt(2 * variance) * (1 + 1e-6)


def test_initializer_is_seeded_and_serialisable():
    init = initializers.ComplexVarianceScaling(2.0, "fan_out", "uniform", seed=7)
    again = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(again, initializers.ComplexVarianceScaling)
    assert again.get_config() == init.get_config()
    np.testing.assert_array_equal(convert_to_numpy(init((4, 5))), convert_to_numpy(again((4, 5))))


@pytest.mark.parametrize("arguments, error", [
    (dict(scale=0.0), ValueError), (dict(mode="fan"), ValueError),
    (dict(distribution="cauchy"), ValueError), (dict(seed="x"), TypeError),
])
def test_initializer_rejects_bad_arguments(arguments, error):
    with pytest.raises(error, match=next(iter(arguments))):
        initializers.ComplexVarianceScaling(**arguments)


def test_initializer_rejects_real_dtype():
    with pytest.raises(TypeError, match="float32"):
        initializers.ComplexVarianceScaling(seed=1)((2, 2), dtype="float32")


# ---------------------------------------------------------------- layers


def complex_weights(layer):
    kernel = convert_to_numpy(weight_value(layer.kernel, layer.compute_dtype))
    bias = None if layer.bias is None else convert_to_numpy(weight_value(layer.bias, layer.compute_dtype))
    return kernel, bias


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_layer_matches_reference_with_complex_weights(rng, rank, dtype, assert_close, precision):
    if keras.backend.backend() == "numpy" and dtype == "complex128":
        pytest.xfail(known_demotion("auto", dtype))
    with precision(dtype):
        layer = LAYERS[rank](4, 3, strides=2, padding="same", groups=2, dtype=dtype,
                             bias_initializer="random_normal")
        x = complex_normal(rng, (2, *(3,) * rank, 4), dtype)
        y = convert_to_numpy(layer(x))
        kernel, bias = complex_weights(layer)
    assert tuple(layer.kernel.shape) == (3,) * rank + (2, 4, 2)  # real parts, last axis (re, im)
    assert kernel.dtype == np.dtype(dtype) and y.dtype == np.dtype(dtype)
    # Both parts are non-zero after initialisation (the default bias initializer is zeros).
    assert np.all(np.abs(kernel.imag) > 0) and np.all(np.abs(bias.imag) > 0)
    expected = reference_conv_transpose(x, kernel, (2,) * rank, "same", groups=2) + bias
    assert_close(y, expected)


def test_default_bias_is_zero_and_kernel_is_complex_glorot():
    layer = keras_deconv.Conv2DTranspose(8, 3, dtype="complex64")
    layer.build((None, 4, 4, 16))
    kernel, bias = complex_weights(layer)
    assert isinstance(layer.kernel_initializer, initializers.ComplexVarianceScaling)
    assert np.all(bias == 0)
    fan_in, fan_out = 9 * 8, 9 * 16
    assert np.mean(np.abs(kernel) ** 2) == pytest.approx(2.0 / (fan_in + fan_out), rel=0.15)


def test_extended_batch_dims_match_flattening(rng, assert_close):
    for dtype in ("float32", "complex64"):
        layer = keras_deconv.Conv2DTranspose(3, 3, strides=2, padding="same", dtype=dtype,
                                             bias_initializer="random_normal")
        x = complex_normal(rng, (2, 3, 4, 5, 2))
        x = x.astype(dtype) if dtype == "complex64" else x.real.astype(dtype)
        y = convert_to_numpy(layer(x))
        flat = convert_to_numpy(layer(x.reshape(6, 4, 5, 2)))
        assert y.shape == (2, 3, 8, 10, 3) == layer.compute_output_shape(x.shape)
        # The same arithmetic on a reshaped batch: tighter than a comparison with the reference.
        assert_close(y.reshape(flat.shape), flat, rtol=1e-6, err_msg=dtype)
        symbolic = layer(keras.Input(batch_shape=(None, 3, 4, 5, 2), dtype=dtype))
        assert tuple(symbolic.shape) == (None, 3, 8, 10, 3)
        assert keras.backend.standardize_dtype(symbolic.dtype) == dtype


def test_extended_batch_dims_channels_first_op(rng, assert_close):
    x = complex_normal(rng, (2, 3, 2, 4, 5))
    w = complex_normal(rng, (3, 3, 3, 2))
    y = convert_to_numpy(conv_transpose(x, w, strides=2, data_format="channels_first"))
    flat = convert_to_numpy(conv_transpose(x.reshape(6, 2, 4, 5), w, strides=2, data_format="channels_first"))
    assert y.shape == (2, 3, 3, 9, 11)
    # The same arithmetic on a reshaped batch: tighter than a comparison with the reference.
    assert_close(y.reshape(flat.shape), flat, rtol=1e-6)


def test_complex_layer_saves_and_loads(rng, tmp_path):
    inputs = keras.Input((4, 4, 2), dtype="complex64")
    layer = keras_deconv.Conv2DTranspose(3, 3, strides=2, dtype="complex64", bias_initializer="he_normal")
    model = keras.Model(inputs, layer(inputs))
    x = complex_normal(rng, (2, 4, 4, 2))
    before = convert_to_numpy(model(x))
    path = str(tmp_path / "complex.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[-1].kernel_initializer, initializers.ComplexVarianceScaling)
    np.testing.assert_array_equal(convert_to_numpy(loaded(x)), before)


# ---------------------------------------------------------------- training


@pytest.mark.needs_gradients
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_teacher_student_training(rng, optimizer):
    keras.utils.set_random_seed(0)
    x = complex_normal(rng, (8, 5, 5, 3))
    teacher = keras_deconv.Conv2DTranspose(4, 3, strides=2, padding="same", dtype="complex64",
                                           bias_initializer="random_normal")
    target = convert_to_numpy(teacher(x))
    inputs = keras.Input((5, 5, 3), dtype="complex64")
    student = keras.Model(inputs, keras_deconv.Conv2DTranspose(
        4, 3, strides=2, padding="same", dtype="complex64")(inputs))
    opt = keras.optimizers.Adam(0.02) if optimizer == "adam" else keras.optimizers.SGD(0.5)
    # A loss that sees complex values: Keras's own cast y_true and y_pred to float32 first.
    student.compile(optimizer=opt, loss=ComplexMeanSquaredError())
    initial = student.evaluate(x, target, verbose=0)
    history = student.fit(x, target, epochs=60, batch_size=8, verbose=0).history["loss"]
    final = student.evaluate(x, target, verbose=0)
    assert final < 0.01 * initial
    # Downhill from the first step: a conjugated gradient would move the imaginary parts uphill.
    assert history[1] < history[0] < initial * 1.0001
    predicted = convert_to_numpy(student(x))
    for part in (np.real, np.imag):
        error = np.linalg.norm(part(predicted) - part(target)) / np.linalg.norm(part(target))
        assert error < 0.06, (part.__name__, error)  # Keras's own MSE: imaginary parts 0.10-0.15
