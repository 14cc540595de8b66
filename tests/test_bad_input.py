"""Bad arguments and unusual inputs: clear errors, never a crash, never a silent wrong number.

Every invalid argument must raise ValueError (TypeError for a wrong type) at
construction, with a message naming the argument and the value received. At
build/call time: wrong rank, unknown or indivisible channels, out-of-range
``output_size`` and crops that leave nothing. Unusual but valid inputs (NaN,
Inf, empty batches, integer and complex inputs) give well-defined results.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv.ops import available_paths, conv_transpose
from keras_deconv.reference import reference_conv_transpose


def named(name, value):
    """A regex matching ``name=value`` as the messages print it (value by repr)."""
    return re.escape(f"{name}={value!r}")


# ---------------------------------------------------------------------------
# Construction: (keyword arguments, exception type, argument named in the message).
CONSTRUCTION_CASES = [
    ({"filters": 0}, ValueError, "filters"),
    ({"filters": -3}, ValueError, "filters"),
    ({"filters": 2.5}, TypeError, "filters"),
    ({"filters": "8"}, TypeError, "filters"),
    ({"filters": True}, TypeError, "filters"),
    ({"filters": None}, TypeError, "filters"),
    ({"kernel_size": 0}, ValueError, "kernel_size"),
    ({"kernel_size": (3, -1)}, ValueError, "kernel_size"),
    ({"kernel_size": 3.0}, TypeError, "kernel_size"),
    ({"kernel_size": (3, 2.0)}, TypeError, "kernel_size"),
    ({"kernel_size": True}, TypeError, "kernel_size"),
    ({"kernel_size": (3, 3, 3)}, ValueError, "kernel_size"),
    ({"kernel_size": (3,)}, ValueError, "kernel_size"),
    ({"strides": 0}, ValueError, "strides"),
    ({"strides": (2, -1)}, ValueError, "strides"),
    ({"strides": 1.5}, TypeError, "strides"),
    ({"strides": False}, TypeError, "strides"),
    ({"strides": (1, True)}, TypeError, "strides"),
    ({"strides": (1, 2, 1)}, ValueError, "strides"),
    ({"dilation_rate": 0}, ValueError, "dilation_rate"),
    ({"dilation_rate": -2}, ValueError, "dilation_rate"),
    ({"dilation_rate": 2.0}, TypeError, "dilation_rate"),
    ({"dilation_rate": True}, TypeError, "dilation_rate"),
    ({"dilation_rate": (1,)}, ValueError, "dilation_rate"),
    ({"groups": 0}, ValueError, "groups"),
    ({"groups": -1}, ValueError, "groups"),
    ({"groups": 1.0}, TypeError, "groups"),
    ({"groups": True}, TypeError, "groups"),
    ({"padding": "causal"}, ValueError, "padding"),
    ({"padding": "full"}, ValueError, "padding"),
    ({"padding": ""}, ValueError, "padding"),
    ({"padding": -1}, ValueError, "padding"),
    ({"padding": (1, -2)}, ValueError, "padding"),
    ({"padding": ((0, 1), (2, -1))}, ValueError, "padding"),
    ({"padding": (1, 1, 1)}, ValueError, "padding"),
    ({"padding": ((1, 2, 3), 1)}, ValueError, "padding"),
    ({"padding": 1.5}, TypeError, "padding"),
    ({"padding": (1, 0.5)}, TypeError, "padding"),
    ({"padding": True}, TypeError, "padding"),
    ({"output_padding": 1}, ValueError, "output_padding"),  # strides 1, dilation 1
    ({"output_padding": -1, "strides": 2}, ValueError, "output_padding"),
    ({"output_padding": 2, "strides": 2}, ValueError, "output_padding"),
    ({"output_padding": (1, 2), "strides": 2, "dilation_rate": (1, 2)}, ValueError, "output_padding"),
    ({"output_padding": (1, 1, 1), "strides": 2}, ValueError, "output_padding"),
    ({"output_padding": 1.0, "strides": 2}, TypeError, "output_padding"),
    ({"output_padding": True, "strides": 2}, TypeError, "output_padding"),
    ({"data_format": "channels_middle"}, ValueError, "data_format"),
    ({"data_format": "NHWC"}, ValueError, "data_format"),
    ({"data_format": 1}, ValueError, "data_format"),
    ({"use_bias": "yes"}, TypeError, "use_bias"),
]


@pytest.mark.parametrize("layer_class", [keras_deconv.Conv2DTranspose, keras_deconv.Conv2D],
                         ids=["transposed", "forward"])
@pytest.mark.parametrize("overrides, error, name", CONSTRUCTION_CASES, ids=repr)
def test_invalid_argument_is_rejected_at_construction(overrides, error, name, layer_class):
    if name == "output_padding" and layer_class is keras_deconv.Conv2D:
        pytest.skip("the forward layers take no output_padding")
    arguments = {"filters": 4, "kernel_size": 3, **overrides}
    with pytest.raises(error, match=named(name, overrides[name])):
        layer_class(**arguments)


def test_filters_not_divisible_by_groups():
    with pytest.raises(ValueError, match=re.escape("Received: filters=6, groups=4")):
        keras_deconv.Conv2DTranspose(6, 3, groups=4)


@pytest.mark.parametrize("layer_class, rank", [
    (keras_deconv.Conv1DTranspose, 1),
    (keras_deconv.Conv3DTranspose, 3),
])
def test_tuple_length_follows_the_rank(layer_class, rank):
    wrong = (2,) * (rank + 1)
    with pytest.raises(ValueError, match=named("kernel_size", wrong)):
        layer_class(2, wrong)
    with pytest.raises(ValueError, match=named("strides", wrong)):
        layer_class(2, 3, strides=wrong)


def test_padding_is_case_insensitive_but_strict():
    assert keras_deconv.Conv2DTranspose(2, 3, padding="SAME").padding == "same"
    with pytest.raises(ValueError, match=named("padding", "same ")):
        keras_deconv.Conv2DTranspose(2, 3, padding="same ")


def test_output_padding_below_dilation_is_accepted():
    # PyTorch's rule: output_padding < max(stride, dilation), not < stride.
    layer = keras_deconv.Conv2DTranspose(2, 3, strides=1, dilation_rate=2, output_padding=1)
    assert layer.output_padding == (1, 1)


# ---------------------------------------------------------------------------
# Build and call.


def test_wrong_input_rank_at_build():
    layer = keras_deconv.Conv2DTranspose(2, 3)
    with pytest.raises(ValueError, match=re.escape("input_shape=(4, 4, 3)")):
        layer.build((4, 4, 3))


def test_wrong_input_rank_at_call():
    layer = keras_deconv.Conv2DTranspose(2, 3)
    with pytest.raises(ValueError, match=r"ndim|rank"):
        layer(np.ones((4, 4, 3), "float32"))


def test_wrong_input_rank_in_compute_output_shape():
    layer = keras_deconv.Conv3DTranspose(2, 3)
    with pytest.raises(ValueError, match=re.escape("input_shape=(None, 4, 4, 3)")):
        layer.compute_output_shape((None, 4, 4, 3))


@pytest.mark.parametrize("data_format, shape", [
    ("channels_last", (None, 4, 4, None)),
    ("channels_first", (None, None, 4, 4)),
])
def test_unknown_channels_at_build(data_format, shape):
    layer = keras_deconv.Conv2DTranspose(2, 3, data_format=data_format)
    with pytest.raises(ValueError, match=re.escape(f"input_shape={shape}")):
        layer.build(shape)


def test_channels_not_divisible_by_groups_at_build():
    layer = keras_deconv.Conv2DTranspose(4, 3, groups=2)
    with pytest.raises(ValueError, match=re.escape("groups=2, input_shape=(1, 5, 5, 3)")):
        layer.build((1, 5, 5, 3))


def test_channels_not_divisible_by_groups_at_call():
    layer = keras_deconv.Conv2DTranspose(4, 3, groups=2)
    with pytest.raises(ValueError, match=re.escape("groups=2")):
        layer(np.ones((1, 5, 5, 3), "float32"))


@pytest.mark.parametrize("output_size", [(6, 6), (12, 12), (8, 13), 0])
def test_output_size_out_of_range(output_size):
    # n=4, k=3, s=2, "same": the allowed range is [7, 8] on each axis.
    layer = keras_deconv.Conv2DTranspose(2, 3, strides=2, padding="same")
    x = np.ones((1, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match=named("output_size", output_size)):
        layer(x, output_size=output_size)
    with pytest.raises(ValueError, match=named("output_size", output_size)):
        layer.compute_output_shape(x.shape, output_size=output_size)


def test_output_size_range_is_named():
    layer = keras_deconv.Conv2DTranspose(2, 3, strides=2, padding="same")
    with pytest.raises(ValueError, match=re.escape("[7, 8]")):
        layer(np.ones((1, 4, 4, 3), "float32"), output_size=(8, 9))


def test_output_size_wrong_type():
    layer = keras_deconv.Conv2DTranspose(2, 3, strides=2, padding="same")
    with pytest.raises(TypeError, match=named("output_size", 7.5)):
        layer(np.ones((1, 4, 4, 3), "float32"), output_size=7.5)


def test_crop_that_leaves_no_output_at_call():
    # Full output length (2-1)*1 + 3 = 4; cropping 2 from each end leaves 0.
    layer = keras_deconv.Conv2DTranspose(2, 3, padding=2)
    with pytest.raises(ValueError, match=named("padding", ((2, 2), (2, 2)))):
        layer(np.ones((1, 2, 2, 1), "float32"))


def test_crop_that_leaves_no_output_symbolic():
    layer = keras_deconv.Conv2DTranspose(2, 3, padding=(0, 3))
    with pytest.raises(ValueError, match="crops away the whole output"):
        layer(keras.Input((2, 2, 1)))


def test_crop_that_leaves_no_output_in_compute_output_shape():
    layer = keras_deconv.Conv2DTranspose(2, 3, padding=(0, 3))
    with pytest.raises(ValueError, match="crops away the whole output"):
        layer.compute_output_shape((1, 2, 2, 1))


def test_op_rejects_unknown_path():
    with pytest.raises(ValueError, match=named("path", "fft")):
        conv_transpose(np.ones((1, 3, 3, 2), "float32"), np.ones((3, 3, 2, 2), "float32"), path="fft")


def test_op_rejects_kernel_channel_mismatch():
    with pytest.raises(ValueError, match=re.escape("kernel.shape=(3, 3, 2, 5)")):
        conv_transpose(np.ones((1, 3, 3, 2), "float32"), np.ones((3, 3, 2, 5), "float32"))


# ---------------------------------------------------------------------------
# Unusual inputs.


def test_nan_and_inf_propagate(path_or_auto, assert_close):
    x = np.ones((1, 4, 4, 2), "float32")
    x[0, 1, 1, 0] = np.nan
    x[0, 3, 3, 1] = np.inf
    w = np.ones((3, 3, 2, 2), "float32")
    y = convert_to_numpy(conv_transpose(x, w, strides=2, path=path_or_auto))
    expected = reference_conv_transpose(x, w, (2, 2), "valid")
    # NaN spreads to every output the NaN input touches; +inf stays +inf where only it is non-finite.
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(y), np.isposinf(expected))
    finite = np.isfinite(expected)
    assert_close(y[finite], expected[finite])
    assert np.isnan(y).any() and np.isposinf(y).any()


@pytest.mark.parametrize("channels_first", [False, True])
def test_empty_batch(path_or_auto, channels_first):
    data_format = "channels_first" if channels_first else "channels_last"
    shape = (0, 3, 5, 4) if channels_first else (0, 5, 4, 3)
    x = np.zeros(shape, "float32")
    w = np.ones((3, 2, 2, 3), "float32")
    y = conv_transpose(x, w, strides=(2, 1), padding="same", data_format=data_format, path=path_or_auto)
    expected = (0, 2, 10, 4) if channels_first else (0, 10, 4, 2)
    assert tuple(y.shape) == expected
    assert convert_to_numpy(y).size == 0


def test_empty_batch_through_the_layer():
    layer = keras_deconv.Conv3DTranspose(3, 2, strides=2, padding="same")
    y = layer(np.zeros((0, 2, 3, 4, 5), "float32"))
    assert tuple(y.shape) == (0, 4, 6, 8, 3)
    assert tuple(layer.compute_output_shape((0, 2, 3, 4, 5))) == (0, 4, 6, 8, 3)


def test_integer_input_is_cast_to_the_compute_dtype(assert_close):
    # Decision: like keras.layers.Conv2DTranspose, integer inputs are converted
    # to the layer's compute dtype (float32 here); the kernel is never truncated.
    layer = keras_deconv.Conv2DTranspose(2, 3, strides=2)
    x = np.arange(18, dtype="int32").reshape(1, 3, 3, 2)
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    kernel = convert_to_numpy(layer.kernel)
    expected = reference_conv_transpose(x, kernel, (2, 2), "valid")
    assert_close(y, expected)


def test_complex_input_into_real_layer_promotes_the_kernel(assert_close):
    # Decision: a real layer applied to a complex input convolves it with its
    # real kernel (promoted to complex, imaginary part zero): exact, nothing dropped.
    layer = keras_deconv.Conv1DTranspose(2, 3, strides=2, use_bias=False)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(1, 4, 2)) + 1j * rng.normal(size=(1, 4, 2))).astype("complex64")
    y = convert_to_numpy(layer(x))
    assert np.iscomplexobj(y)
    expected = reference_conv_transpose(x, convert_to_numpy(layer.kernel), (2,), "valid")
    assert_close(y, expected)


# ---------------------------------------------------------------------------
# Determinism and process safety.


def test_two_calls_are_bit_identical(path_or_auto):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 6, 5, 4)).astype("float32")
    w = rng.normal(size=(3, 2, 3, 4)).astype("float32")
    dilation = (1, 2)
    if path_or_auto != "auto" and path_or_auto not in available_paths(rank=2, dilation_rate=dilation):
        dilation = (1, 1)
    arguments = dict(strides=2, dilation_rate=dilation, padding="same", path=path_or_auto)
    first = convert_to_numpy(conv_transpose(x, w, **arguments))
    second = convert_to_numpy(conv_transpose(x, w, **arguments))
    assert first.tobytes() == second.tobytes()


def test_layer_calls_are_bit_identical():
    layer = keras_deconv.Conv2DTranspose(3, 3, strides=2, padding="same", groups=1)
    x = np.random.default_rng(3).normal(size=(2, 7, 7, 4)).astype("float32")
    assert convert_to_numpy(layer(x)).tobytes() == convert_to_numpy(layer(x)).tobytes()


def test_nothing_aborts_the_process():
    """Argument sets that abort TF's own ops (keras 22127) raise ValueError here, in a subprocess."""
    script = textwrap.dedent(
        """
        import numpy as np
        import keras_deconv
        from keras_deconv.ops import conv_transpose
        x = np.ones((1, 3, 3, 2), "float32")
        cases = [
            lambda: keras_deconv.Conv2DTranspose(2, 3, strides=2, output_padding=3),
            lambda: conv_transpose(x, np.ones((3, 3, 2, 2), "float32"), strides=2, output_padding=5),
            lambda: conv_transpose(x, np.ones((3, 3, 2, 2), "float32"), padding=9),
            lambda: conv_transpose(x, np.ones((3, 3, 2, 2), "float32"), output_size=(50, 50)),
            lambda: keras_deconv.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=1)(x),
        ]
        outcomes = []
        for case in cases:
            try:
                case()
                outcomes.append("ok")
            except ValueError:
                outcomes.append("ValueError")
        print(",".join(outcomes))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "ValueError,ValueError,ValueError,ValueError,ok"
