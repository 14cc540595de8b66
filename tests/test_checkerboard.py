"""kernel_initializer="checkerboard_free": constant output blocks at initialisation, the base variance."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv.initializers import CheckerboardFree
from keras_deconv.reference import reference_axis


def _cases():
    """(rank, strides, kernel multiple, padding, groups): ranks 1-3, strides 2 and 3, k = s or 2s."""
    cases = []
    for rank, stride, multiple, padding, groups in itertools.product(
        (1, 2, 3), (2, 3), (1, 2), ("same", "valid"), (1, 2)
    ):
        if rank == 3 and (stride + multiple + groups) % 2:
            continue  # rank 3 keeps every value, not every combination
        cases.append((rank, (stride,) * rank, multiple, padding, groups))
    cases.append((2, (2, 3), 2, "same", 1))  # per-axis strides
    cases.append((3, (3, 2, 1), 1, "valid", 2))
    return cases


CASES = _cases()


def blocks_are_constant(y, strides, kernel_size, padding, n):
    """Whether ``y`` (batch, *spatial, filters) is constant on each block of the full output's stride grid."""
    for axis, stride in enumerate(strides):
        before, length = reference_axis(n, kernel_size[axis], stride, 1, padding)
        block = (np.arange(length) + before) // stride
        first = np.array([np.argmax(block == b) for b in block])  # first output of each one's block
        if not np.allclose(y, np.take(y, first, axis=1 + axis), rtol=1e-5, atol=1e-6):
            return False
    return True


def _layer_and_input(rank, strides, multiple, padding, groups, initializer, n=4):
    kernel_size = tuple(s * multiple for s in strides)
    layer = getattr(keras_deconv, f"Conv{rank}DTranspose")(
        2 * groups, kernel_size, strides=strides, padding=padding, groups=groups,
        kernel_initializer=initializer, bias_initializer="random_normal",
    )
    x = np.random.default_rng(0).standard_normal((2,) + (n,) * rank + (2 * groups,)).astype("float32")
    return layer, x, kernel_size


@pytest.mark.parametrize("rank,strides,multiple,padding,groups", CASES)
def test_every_output_block_is_constant(rank, strides, multiple, padding, groups):
    layer, x, kernel_size = _layer_and_input(rank, strides, multiple, padding, groups, "checkerboard_free")
    y = convert_to_numpy(layer(x))
    assert blocks_are_constant(y, strides, kernel_size, padding, 4)
    # The check can fail: the default initialiser gives a checkerboard.
    default, _, _ = _layer_and_input(rank, strides, multiple, padding, groups, "glorot_uniform")
    assert not blocks_are_constant(convert_to_numpy(default(x)), strides, kernel_size, padding, 4)


def test_layers_rebuilt_from_config_initialise_the_same_way():
    layer = keras_deconv.Conv2DTranspose(3, 4, strides=2, padding="same",
                                         kernel_initializer="checkerboard_free")
    config = layer.get_config()
    assert config["kernel_initializer"]["config"]["strides"] == [2, 2]
    rebuilt = keras_deconv.Conv2DTranspose.from_config(config)
    assert isinstance(rebuilt.kernel_initializer, CheckerboardFree)
    x = np.random.default_rng(1).standard_normal((1, 5, 5, 2)).astype("float32")
    assert blocks_are_constant(convert_to_numpy(rebuilt(x)), (2, 2), (4, 4), "same", 5)
    original = CheckerboardFree((2, 3), seed=3)
    restored = keras.initializers.deserialize(keras.initializers.serialize(original))
    assert np.array_equal(convert_to_numpy(restored((4, 6, 1, 1))), convert_to_numpy(original((4, 6, 1, 1))))


@pytest.mark.parametrize("base", ["glorot_uniform", "he_normal"])
def test_initial_output_variance_matches_the_base_initialiser(base):
    x = np.random.default_rng(2).standard_normal((4, 16, 16, 32)).astype("float32")
    variances = {}
    for name, initializer in (("base", base), ("checkerboard_free", CheckerboardFree(2, base, seed=5))):
        layer = keras_deconv.Conv2DTranspose(32, 4, strides=2, padding="same", use_bias=False,
                                             kernel_initializer=initializer)
        variances[name] = float(np.var(convert_to_numpy(layer(x))))
    assert 0.8 <= variances["checkerboard_free"] / variances["base"] <= 1.2, variances


def test_refusals():
    with pytest.raises(ValueError, match=r"multiple of its stride.*kernel_size=\(3,\), strides=\(2,\)"):
        keras_deconv.Conv1DTranspose(2, 3, strides=2, kernel_initializer="checkerboard_free")
    with pytest.raises(ValueError, match=r"no dilation.*dilation_rate=\(2, 2\)"):
        keras_deconv.Conv2DTranspose(2, 2, dilation_rate=2, kernel_initializer="checkerboard_free")
    with pytest.raises(ValueError, match="the layer's strides"):
        keras_deconv.Conv1DTranspose(2, 4, strides=2, kernel_initializer=CheckerboardFree(4))
    with pytest.raises(ValueError, match="real layers only"):
        keras_deconv.Conv1DTranspose(2, 4, strides=2, kernel_initializer="checkerboard_free",
                                     dtype="complex64")
    with pytest.raises(ValueError, match=r"Received: kernel_size=\(3,\), strides=\(2,\)"):
        CheckerboardFree(2)((3, 1, 1))
