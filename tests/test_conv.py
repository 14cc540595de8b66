"""The forward convolution ``ops.conv``: against the NumPy reference, as the adjoint of ``conv_transpose``.

The reference (``reference_conv``) is the forward definition written out
with loops; the adjoint identity ``sum(conv_transpose(y, w) * x) == sum(y *
conv(x, w))`` ties the op to the transposed one with the same kernel and
arguments, for every padding mode.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy
from test_gradients import autodiff_gradients, finite_difference_gradient

from keras_deconv._paths.policy import for_backend
from keras_deconv.forward import FORWARD_PATH_NAMES, forward_path
from keras_deconv.ops import conv, conv_transpose
from keras_deconv.reference import reference_conv

BACKEND = keras.backend.backend()

#: (name, spatial input, kernel_size, strides, dilation, groups, padding); channels 4 -> filters 6.
#: Circular axes have lengths the stride divides, so the transposed op (length n * stride) is the adjoint.
CASES = [
    ("1d_valid", (9,), (3,), (1,), (1,), 1, "valid"),
    ("1d_same_odd_length", (7,), (4,), (2,), (1,), 1, "same"),
    ("1d_circular_strided", (8,), (3,), (2,), (1,), 1, "circular"),
    ("1d_pair_strided_dilated_groups", (11,), (3,), (3,), (2,), 2, ((2, 1),)),
    ("2d_same_strided_dilated", (7, 6), (3, 3), (2, 2), (2, 2), 1, "same"),
    ("2d_valid_groups", (6, 7), (2, 3), (1, 2), (1, 1), 2, "valid"),
    ("2d_circular_dilated", (6, 5), (3, 3), (1, 1), (2, 2), 1, "circular"),
    ("2d_same_and_circular", (7, 8), (3, 3), (2, 2), (1, 1), 2, ("same", "circular")),
    ("2d_int_padding", (6, 6), (4, 4), (2, 2), (1, 1), 1, (1, 1)),
    ("2d_kernel_shorter_than_stride", (7, 5), (1, 2), (2, 3), (1, 1), 1, "same"),
    ("3d_same_strided", (5, 4, 6), (3, 3, 3), (2, 2, 2), (1, 1, 1), 1, "same"),
    ("3d_circular_groups", (4, 6, 4), (2, 2, 2), (2, 2, 2), (1, 1, 1), 2, "circular"),
    ("3d_valid_dilated_mixed", (6, 5, 4), (3, 2, 2), (1, 2, 1), (2, 1, 1), 1, "valid"),
]
IDS = [case[0] for case in CASES]
CHANNELS, FILTERS = 4, 6


def random(rng, shape, dtype):
    values = rng.standard_normal(shape)
    if dtype.startswith("complex"):
        values = values + 1j * rng.standard_normal(shape)
    return values.astype(dtype)


def skip_unsupported(path, strides, dilation, dtype):
    """Skip a forced ``native`` the backend lacks (or that ``auto`` runs already), and demoted dtypes."""
    if path == "native":
        if not for_backend(BACKEND).forward_supports(strides, dilation, dtype):
            pytest.skip(f"no native convolution for strides {strides}, dilation {dilation}, {dtype} here")
        if dtype != "float32" and forward_path(BACKEND, strides, dilation, dtype) == "native":
            pytest.skip("auto runs the native convolution here: forced once, in float32")
    if dtype == "complex128" and BACKEND == "numpy":
        pytest.skip("the numpy backend's convert_to_tensor demotes complex128 to complex64")


def case_arrays(rng, case, dtype, batch=(2,)):
    _, spatial, kernel_size, _, _, groups, _ = case
    x = random(rng, batch + spatial + (CHANNELS,), dtype)
    w = random(rng, kernel_size + (CHANNELS // groups, FILTERS), dtype)
    return x, w


def arguments(case):
    _, _, _, strides, dilation, groups, padding = case
    return dict(strides=strides, dilation_rate=dilation, groups=groups, padding=padding)


@pytest.mark.parametrize("dtype", ["float32", "complex64", "complex128"])
@pytest.mark.parametrize("path", FORWARD_PATH_NAMES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv_matches_reference(rng, case, path, dtype, assert_close, precision):
    skip_unsupported(path, case[3], case[4], dtype)
    x, w = case_arrays(rng, case, dtype)
    expected = reference_conv(x, w, case[3], case[6], case[4], case[5])
    with precision(dtype):
        y = conv(x, w, path=path, **arguments(case))
        assert keras.backend.standardize_dtype(y.dtype) == dtype
        assert_close(y, expected, dtype=dtype)


@pytest.mark.parametrize("layout", ["channels_first", "batch_axes"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv_layouts_match_reference(rng, case, layout, assert_close):
    batch = (2, 3) if layout == "batch_axes" else (2,)
    x, w = case_arrays(rng, case, "complex64", batch)
    flat = x.reshape((-1,) + x.shape[len(batch):])
    expected = reference_conv(flat, w, case[3], case[6], case[4], case[5])
    expected = expected.reshape(batch + expected.shape[1:])
    if layout == "channels_first":
        y = conv(np.moveaxis(x, -1, 1), w, data_format="channels_first", **arguments(case))
        y = np.moveaxis(convert_to_numpy(y), 1, -1)
    else:
        y = conv(x, w, **arguments(case))
    assert_close(y, expected)


@pytest.mark.parametrize("dtype", ["float32", "complex64"])
@pytest.mark.parametrize("path", FORWARD_PATH_NAMES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_adjoint_identity(rng, case, path, dtype):
    # sum(conv_transpose(y, w) * x) == sum(y * conv(x, w)): bilinear, no conjugate.
    skip_unsupported(path, case[3], case[4], dtype)
    x, w = case_arrays(rng, case, dtype)
    forward = convert_to_numpy(conv(x, w, path=path, **arguments(case)))
    y = random(rng, forward.shape, dtype)
    # The transposed op's output length: the forward input's (on circular axes it is n * stride).
    transposed = convert_to_numpy(conv_transpose(y, w, output_size=case[1], **arguments(case)))
    assert transposed.shape == x.shape
    left = np.sum(transposed.astype(np.complex128) * x)
    right = np.sum(y.astype(np.complex128) * forward)
    scale = np.sum(np.abs(transposed) * np.abs(x)) + np.sum(np.abs(y) * np.abs(forward))
    assert abs(left - right) <= 1e-5 * scale, (left, right)


def test_hermitian_adjoint_is_conv_with_the_conjugate_kernel(rng):
    # <T(y), x> with the complex inner product equals <y, conv(x, conj(w))>.
    case = CASES[4]
    x, w = case_arrays(rng, case, "complex64")
    forward = convert_to_numpy(conv(x, np.conj(w), **arguments(case)))
    y = random(rng, forward.shape, "complex64")
    transposed = convert_to_numpy(conv_transpose(y, w, output_size=case[1], **arguments(case)))
    left = np.vdot(x.astype(np.complex128), transposed)  # sum(conj(x) * T(y))
    right = np.vdot(forward.astype(np.complex128), y)  # sum(conj(conv(x, conj w)) * y)
    assert abs(left - right) <= 1e-5 * np.sum(np.abs(x) * np.abs(transposed))


GRADIENT_CASES = [CASES[i] for i in (1, 3, 4, 7, 11)]


@pytest.mark.needs_gradients
@pytest.mark.parametrize("path", FORWARD_PATH_NAMES)
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[case[0] for case in GRADIENT_CASES])
def test_conv_gradients_match_finite_differences(case, path, assert_close, precision):
    skip_unsupported(path, case[3], case[4], "float64")
    rng = np.random.default_rng(7)
    x, w = case_arrays(rng, case, "float64", batch=(1,))
    expected = reference_conv(x, w, case[3], case[6], case[4], case[5])
    cotangent = rng.standard_normal(expected.shape)

    def loss(a, b):
        return float(np.sum(reference_conv(a, b, case[3], case[6], case[4], case[5]) * cotangent))

    with precision("float64"):
        dx, dw = autodiff_gradients(lambda a, b: conv(a, b, path=path, **arguments(case)), x, w, cotangent)
    assert_close(dx, finite_difference_gradient(lambda v: loss(v, w), x), rtol=1e-8, err_msg="d/dx")
    assert_close(dw, finite_difference_gradient(lambda v: loss(x, v), w), rtol=1e-8, err_msg="d/dw")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(strides=0), ValueError, "strides"),
    (dict(strides=(1, 2, 3)), ValueError, "strides"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(dilation_rate=1.5), TypeError, "dilation_rate"),
    (dict(groups=3), ValueError, "groups"),
    (dict(data_format="NHWC"), ValueError, "data_format"),
    (dict(path="phase"), ValueError, "path"),
])
def test_bad_arguments_name_the_argument(kwargs, error, match):
    x = np.zeros((1, 6, 6, 4), "float32")
    w = np.zeros((3, 3, 4, 6), "float32")
    with pytest.raises(error, match=match):
        conv(x, w, **kwargs)


@pytest.mark.parametrize("x_shape, w_shape, match", [
    ((1, 6, 6, 4), (3, 3, 3, 6), "input channels"),
    ((1, 6, 6, 4), (3, 3, 4), "kernel"),
    ((6, 6, 4), (3, 3, 4, 6), "rank"),
    ((1, 2, 2, 4), (3, 3, 4, 6), "empty"),
])
def test_bad_shapes_are_refused(x_shape, w_shape, match):
    with pytest.raises(ValueError, match=match):
        conv(np.zeros(x_shape, "float32"), np.zeros(w_shape, "float32"))


def test_groups_must_divide_the_filters():
    with pytest.raises(ValueError, match="groups"):
        conv(np.zeros((1, 6, 6, 4), "float32"), np.zeros((3, 3, 2, 5), "float32"), groups=2)


def test_symbolic_call_gives_the_shape():
    x = keras.Input((None, 7, 4))
    w = keras.ops.zeros((3, 3, 4, 6))
    y = conv(x, w, strides=2, padding="same")
    assert tuple(y.shape) == (None, None, 4, 6)


@pytest.mark.parametrize("kernel_size, strides", [(1, 2), (2, 3), (3, 2), (5, 4)])
def test_same_padding_on_unknown_lengths_matches_known_ones(kernel_size, strides):
    # 'same''s zeros before depend on the length modulo the stride; the plan must not guess them.
    from keras_deconv.plan import plan_conv

    for n in range(1, 9):
        known = plan_conv((1, n, 2), (kernel_size, 2, 3), strides=strides, padding="same")
        unknown = plan_conv((1, None, 2), (kernel_size, 2, 3), strides=strides, padding="same")
        before = unknown.pads[0][0]
        assert before is None or before == known.pads[0][0], (n, before, known.pads)
    # The padded lengths a 'valid' convolution then reads give ceil(n / stride) outputs.
    assert unknown.output_shape == (1, None, 3)


def test_same_padding_with_a_short_kernel_and_a_long_stride_needs_a_known_length():
    # 3 <= k_eff < stride: zeros before vary with the length; where no length is known, a clear error.
    if BACKEND != "tensorflow":
        pytest.skip("unknown lengths at run time: TensorFlow graphs")
    import tensorflow as tf

    w = np.ones((3, 2, 2), "float32")
    function = tf.function(lambda x: conv(x, w, strides=4, padding="same"),
                           input_signature=[tf.TensorSpec((1, None, 2), tf.float32)])
    with pytest.raises(ValueError, match="strides=4"):
        function(np.ones((1, 9, 2), "float32"))
    assert tuple(conv(np.ones((1, 9, 2), "float32"), w, strides=4, padding="same").shape) == (1, 3, 2)


@pytest.mark.parametrize("kernel_size, strides", [(1, 2), (3, 2), (4, 3)])
def test_same_padding_on_lengths_known_only_at_run_time(rng, kernel_size, strides, assert_close):
    if BACKEND != "tensorflow":
        pytest.skip("unknown lengths at run time: TensorFlow graphs (the export tests cover jax and torch)")
    import tensorflow as tf

    w = rng.standard_normal((kernel_size, kernel_size, 2, 3)).astype("float32")
    function = tf.function(lambda x: conv(x, w, strides=strides, padding="same"),
                           input_signature=[tf.TensorSpec((None, None, None, 2), tf.float32)])
    for n in (5, 6, 7):
        x = rng.standard_normal((1, n, n + 1, 2)).astype("float32")
        assert_close(function(x), reference_conv(x, w, (strides,) * 2, "same"))
