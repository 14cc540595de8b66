"""Mixed precision: low-precision compute with float32 variables; complex layers stay complex64."""

from __future__ import annotations

import keras
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv.reference import reference_conv_transpose


@pytest.fixture
def policy():
    """Set a global dtype policy for one test and restore float32 after."""
    def set_policy(name):
        keras.config.set_dtype_policy(name)

    yield set_policy
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("name, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_real_layer_computes_low_with_float32_variables(rng, policy, name, compute, assert_close):
    if keras.backend.backend() == "numpy" and compute == "bfloat16":
        pytest.skip("NumPy has no bfloat16 convolution")
    policy(name)
    layer = keras_deconv.Conv2DTranspose(4, 3, strides=2, padding="same", bias_initializer="random_normal")
    x = rng.standard_normal((2, 5, 5, 3)).astype("float32")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == compute
    assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
    assert keras.backend.standardize_dtype(layer.bias.dtype) == "float32"
    kernel = convert_to_numpy(layer.kernel)
    expected = reference_conv_transpose(x, kernel, (2, 2), "same") + convert_to_numpy(layer.bias)
    # Cast for NumPy (which has no bfloat16); the tolerance is the compute dtype's.
    assert_close(keras.ops.cast(y, "float32"), expected, dtype=compute)


def test_complex_layer_under_mixed_policy_computes_complex64(rng, policy):
    policy("mixed_float16")
    layer = keras_deconv.Conv2DTranspose(2, 3, dtype="complex64")
    x = (rng.standard_normal((1, 4, 4, 2)) + 1j * rng.standard_normal((1, 4, 4, 2))).astype("complex64")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "complex64"
    # The complex layer keeps float32 parts: its dtype is explicit, the global policy does not apply.
    assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
