"""padding='circular': values, adjoint, shift equivariance, shapes, refusals and files.

The definition (``keras_deconv.arithmetic``): on a circular axis the output
has length ``L = n * stride`` and ``out[(t - pad_before) mod L] += full[t]``
with the 'same' ``pad_before = max(k_eff - stride, 0) // 2``.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv._paths import policy
from keras_deconv.ops import available_paths, conv_transpose
from keras_deconv.reference import reference_conv_transpose


def _grid():
    """(rank, kernel, stride, dilation, groups, padding per axis, data_format, length)."""
    rng = np.random.default_rng(12)
    cases = []
    # Rank 1: every kernel 1-4, stride 1-3, dilation 1-2 and groups 1-2, on a long
    # and a one-row input (where the kernel wraps around more than once).
    for k, s, d, g in itertools.product((1, 2, 3, 4), (1, 2, 3), (1, 2), (1, 2)):
        cases.append((1, (k,), (s,), (d,), g, ("circular",), "channels_last", 5 if (k + s) % 2 else 1))
    # Ranks 2 and 3: a seeded sample, every axis circular or mixed with the other modes.
    modes = ["circular", "same", "valid", (1, 0)]
    for rank, count in ((2, 16), (3, 8)):
        for _ in range(count):
            kernel = tuple(int(v) for v in rng.integers(1, 5, rank))
            strides = tuple(int(v) for v in rng.integers(1, 4, rank))
            dilation = tuple(int(v) for v in rng.integers(1, 3, rank))
            padding = tuple(modes[int(i)] for i in rng.integers(0, 4, rank))
            if "circular" not in padding:
                padding = ("circular",) + padding[1:]
            fmt = ("channels_last", "channels_first")[int(rng.integers(0, 2))]
            cases.append((rank, kernel, strides, dilation, int(rng.integers(1, 3)), padding, fmt, 3))
    return cases


GRID = _grid()


def _id(case):
    rank, k, s, d, g, padding, fmt, n = case
    modes = "-".join(p if isinstance(p, str) else "pair" for p in padding)
    return f"{rank}d-k{k}-s{s}-d{d}-g{g}-{modes}-{fmt[9:]}-n{n}"


@pytest.mark.parametrize("route", ["fold", "wrap"])
@pytest.mark.parametrize("case", GRID, ids=[_id(c) for c in GRID])
def test_every_path_matches_the_reference(case, route, rng, assert_close, monkeypatch):
    # Both ways of computing a circular axis of known length, whichever the
    # backend's policy takes: the full output folded, or the input wrapped around.
    rules = type(policy.current())
    monkeypatch.setattr(rules, "wraps_circular_inputs", lambda self, path: route == "wrap")
    rank, kernel, strides, dilation, groups, padding, fmt, n = case
    channels_first = fmt == "channels_first"
    x = rng.standard_normal((2,) + (n,) * rank + (2 * groups,)).astype("float32")
    w = rng.standard_normal(kernel + (2, 2 * groups)).astype("float32")
    expected = reference_conv_transpose(x, w, strides, list(padding), None, dilation, groups=groups)
    if channels_first:
        x, expected = np.moveaxis(x, -1, 1), np.moveaxis(expected, -1, 1)
    for path in ("auto",) + available_paths(rank=rank, dilation_rate=dilation, groups=groups):
        y = conv_transpose(x, w, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                           data_format=fmt, path=path)
        assert_close(y, expected, err_msg=f"path={path}")


def circular_strided_conv(y, w, stride, dilation, before):
    """The forward circular convolution, written on its own: ``x[i] = sum_k y[(i*s + k*d - pb) mod L] w[k]``.

    1D, one group: ``y`` (batch, L, filters), ``w`` (taps, filters, channels).
    """
    batch, length, _ = y.shape
    n = length // stride
    x = np.zeros((batch, n, w.shape[2]))
    for i in range(n):
        for k in range(w.shape[0]):
            x[:, i] += y[:, (i * stride + k * dilation - before) % length] @ w[k]
    return x


@pytest.mark.parametrize("k,s,d", [(3, 2, 1), (4, 2, 1), (3, 1, 2), (5, 3, 1), (2, 3, 1)])
def test_adjoint_of_the_circular_strided_convolution(k, s, d, rng, assert_close):
    x = rng.standard_normal((2, 6, 3))
    w = rng.standard_normal((k, 4, 3))
    y = rng.standard_normal((2, 6 * s, 4))
    before = max((k - 1) * d + 1 - s, 0) // 2
    forward = conv_transpose(x.astype("float32"), w.astype("float32"), strides=s, dilation_rate=d,
                             padding="circular")
    left = np.sum(convert_to_numpy(forward) * y)
    right = np.sum(x * circular_strided_conv(y, w, s, d, before))
    # One number summed from a few hundred products of a float32 output (and of x and w
    # rounded to float32): ten times float32's elementwise tolerance.
    assert_close(left, right, dtype="float32", rtol=1e-4)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_rolling_the_input_by_one_rolls_the_output_by_the_stride(rank, rng, assert_close):
    strides = (2, 3, 2)[:rank]
    x = rng.standard_normal((1,) + (4,) * rank + (2,)).astype("float32")
    w = rng.standard_normal((3,) * rank + (2, 2)).astype("float32")
    y = convert_to_numpy(conv_transpose(x, w, strides=strides, padding="circular"))
    for axis in range(rank):
        shifted = np.roll(x, 1, axis=1 + axis)
        rolled = conv_transpose(shifted, w, strides=strides, padding="circular")
        assert_close(rolled, np.roll(y, strides[axis], axis=1 + axis), err_msg=f"axis {axis}")


def _fold_by_definition(full, folds):
    """``out[(t - before) mod length] += full[t]`` on each folded axis, written with NumPy loops."""
    out = full
    for axis, fold in enumerate(folds):
        if fold is None:
            continue
        before, length = fold
        moved = np.moveaxis(out, 1 + axis, 0)
        folded = np.zeros((length,) + moved.shape[1:], moved.dtype)
        for t in range(moved.shape[0]):
            folded[(t - before) % length] += moved[t]
        out = np.moveaxis(folded, 0, 1 + axis)
    return out


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's own fold")
@pytest.mark.parametrize("shape, folds", [
    ((2, 5, 3), ((1, 3),)),  # rows on both sides of the window
    ((2, 7, 4, 6, 2), ((0, 6), None, (2, 3))),  # an axis left alone; a wrap of the whole window
    ((1, 9, 3), ((0, 2),)),  # wrapped more than once
])
def test_tensorflow_fold_matches_the_definition_with_its_gradient(shape, folds, rng, assert_close):
    import tensorflow as tf

    from keras_deconv._paths.tensorflow_fold import tensorflow_fold_circular

    full = rng.standard_normal(shape).astype("float32")
    expected = _fold_by_definition(full.astype("float64"), folds)
    upstream = rng.standard_normal(expected.shape).astype("float32")
    # The batch unknown, as under model.export or a Keras model's tf.function.
    spec = tf.TensorSpec((None,) + shape[1:], tf.float32)

    @tf.function(input_signature=[spec, tf.TensorSpec((None,) + expected.shape[1:], tf.float32)])
    def value_and_gradient(y, g):
        with tf.GradientTape() as tape:
            tape.watch(y)
            folded = tensorflow_fold_circular(y, folds)
            loss = tf.reduce_sum(folded * g)
        return folded, tape.gradient(loss, y)

    folded, gradient = value_and_gradient(tf.constant(full), tf.constant(upstream))
    assert_close(folded, expected, dtype="float32")
    # The fold's adjoint: each position's gradient is that of the window position it wraps to.
    columns = np.eye(full[0].size).reshape((-1,) + shape[1:])
    adjoint = np.stack([_fold_by_definition(column[None], folds)[0] for column in columns])
    expected_gradient = upstream.reshape(shape[0], -1) @ adjoint.reshape(adjoint.shape[0], -1).T
    assert_close(gradient, expected_gradient.reshape(shape), dtype="float32")


def test_interior_equals_same(rng, assert_close):
    x = rng.standard_normal((1, 8, 2)).astype("float32")
    w = rng.standard_normal((5, 3, 2)).astype("float32")
    circular = convert_to_numpy(conv_transpose(x, w, strides=2, padding="circular"))
    same = convert_to_numpy(conv_transpose(x, w, strides=2, padding="same"))
    assert circular.shape == same.shape
    assert_close(circular[:, 2:-2], same[:, 2:-2])
    assert not np.allclose(circular, same)  # the ends wrap


def test_refusals():
    with pytest.raises(ValueError, match=r"output_padding.*circular axis 1.*Received: padding="):
        keras_deconv.Conv2DTranspose(2, 3, strides=2, padding=("same", "circular"), output_padding=1)
    x = np.zeros((1, 4, 2), "float32")
    w = np.zeros((3, 2, 2), "float32")
    with pytest.raises(ValueError, match=r"output_size.*\[8, 8\]"):
        conv_transpose(x, w, strides=2, padding="circular", output_size=9)
    assert tuple(conv_transpose(x, w, strides=2, padding="circular", output_size=8).shape) == (1, 8, 2)
    with pytest.raises(ValueError, match="'valid', 'same', 'circular'"):
        keras_deconv.Conv1DTranspose(2, 3, padding="periodic")


@pytest.mark.parametrize("padding", ["circular", ("circular", "same"), ("valid", "circular")])
def test_shapes_static_unknown_and_symbolic(padding, rng):
    layer = keras_deconv.Conv2DTranspose(3, 3, strides=(2, 3), padding=padding)
    x = rng.standard_normal((2, 4, 5, 2)).astype("float32")
    real = convert_to_numpy(layer(x)).shape
    assert tuple(layer.compute_output_shape(x.shape)) == real
    assert tuple(layer(keras.Input((4, 5, 2))).shape) == (None,) + real[1:]
    unknown = layer(keras.Input((None, 5, 2))).shape
    assert tuple(unknown) == (None, None) + real[2:]


def test_config_and_keras_file_round_trip(rng, tmp_path):
    layer = keras_deconv.Conv2DTranspose(3, 3, strides=2, padding=("same", "circular"), groups=1)
    model = keras.Sequential([keras.Input((4, 4, 2)), layer])
    x = rng.standard_normal((2, 4, 4, 2)).astype("float32")
    assert keras_deconv.Conv2DTranspose.from_config(layer.get_config()).padding == ("same", "circular")
    model.save(tmp_path / "circular.keras")
    reloaded = keras.saving.load_model(tmp_path / "circular.keras")
    assert reloaded.layers[0].padding == ("same", "circular")
    np.testing.assert_array_equal(convert_to_numpy(reloaded(x)), convert_to_numpy(model(x)))


def test_complex_values(rng, assert_close):
    x = (rng.standard_normal((1, 4, 2)) + 1j * rng.standard_normal((1, 4, 2))).astype("complex64")
    w = (rng.standard_normal((3, 2, 2)) + 1j * rng.standard_normal((3, 2, 2))).astype("complex64")
    y = conv_transpose(x, w, strides=2, padding="circular")
    expected = reference_conv_transpose(x, w, (2,), "circular")
    assert_close(y, expected)
