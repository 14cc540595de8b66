"""Values of conv_transpose and the layers against the NumPy reference, on the current backend.

The grid covers every value of every argument of the issue's grid (ranks 1-3,
kernel 1-4, strides 1-3, dilation 1-2 with strides, 'valid'/'same',
output_padding None/0/1, both data formats) plus groups, int and pair
padding and output_size; every path is forced on a part of it.
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


def _cases():
    """(rank, kernel, stride, dilation, padding, output_padding, data_format) tuples."""
    cases = []
    for rank, k, s, d, padding, op, fmt in itertools.product(
        (1, 2, 3), (1, 2, 3, 4), (1, 2, 3), (1, 2), ("valid", "same"), (None, 0, 1),
        ("channels_last", "channels_first"),
    ):
        if op is not None and op >= max(s, d):
            continue
        # Rank 3 keeps every value of every argument but not every combination
        # (the full product there costs minutes on JAX's eager dispatch).
        if rank == 3 and (k + s + d + (op or 0) + (fmt == "channels_first")) % 3:
            continue
        cases.append((rank, k, s, d, padding, op, fmt))
    return cases


GRID = _cases()


def _case_id(case):
    rank, k, s, d, padding, op, fmt = case
    return f"{rank}d-k{k}-s{s}-d{d}-{padding}-op{op}-{fmt[9:]}"


def _inputs(rng, rank, channels, fmt, size=3, batch=2):
    shape = (batch,) + (size,) * rank + (channels,)
    x = rng.standard_normal(shape).astype("float32")
    return np.moveaxis(x, -1, 1) if fmt == "channels_first" else x


def _check_grid_case(case, rng, assert_close, **options):
    """``conv_transpose`` (with ``options``, a path say) on a grid case's input, against the reference."""
    rank, k, s, d, padding, op, fmt = case
    x = _inputs(rng, rank, 3, fmt)
    w = rng.standard_normal((k,) * rank + (2, 3)).astype("float32")
    y = conv_transpose(x, w, strides=s, padding=padding, output_padding=op, data_format=fmt,
                       dilation_rate=d, **options)
    expected = reference_conv_transpose(
        x, w, (s,) * rank, padding, None if op is None else (op,) * rank, (d,) * rank,
        channels_first=fmt == "channels_first",
    )
    assert_close(y, expected)


@pytest.mark.parametrize("case", GRID, ids=[_case_id(c) for c in GRID])
def test_op_matches_reference_on_grid(case, rng, assert_close):
    _check_grid_case(case, rng, assert_close)


EXTRA = [
    # (rank, kernel, stride, dilation, padding, output_padding, groups, output_size)
    (1, 3, 2, 1, 1, None, 1, None),
    (1, 4, 3, 2, [(2, 0)], 1, 2, None),
    (1, 5, 2, 3, "same", 2, 1, None),
    (1, 3, 2, 1, "valid", None, 1, 10),
    (1, 4, 2, 1, "same", None, 1, 6),
    (2, 3, 2, 1, (1, 2), 1, 2, None),
    (2, 2, 2, 2, "same", None, 2, None),
    (2, 3, (2, 3), (2, 1), [(0, 1), 2], None, 1, None),
    (2, 4, 2, 1, "same", None, 1, (7, 8)),
    (2, 3, 3, 2, 1, None, 4, (12, 14)),
    (3, 3, 2, 1, "same", 1, 1, None),
    (3, 2, 2, 1, "valid", None, 2, None),
    (3, (1, 2, 3), (1, 2, 3), (2, 1, 1), [0, (1, 0), 2], None, 1, None),
    (3, 3, 2, 2, "same", None, 1, (7, 8, 8)),
    # Stride 1: the phase path pads only for the window, with the convolution's own
    # 'same' where that is its padding (odd spans), explicitly where it is not (even).
    (1, 4, 1, 1, "same", None, 1, None),
    (2, 2, 1, 1, "same", None, 1, None),
    (2, 3, 1, 2, "same", None, 2, None),
    (2, (4, 3), (1, 2), 1, "same", None, 1, None),
    (3, (2, 3, 1), 1, (1, 2, 1), "same", None, 1, None),
]


def _as_tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def _extra_case(case, fmt, rng):
    """Inputs, kernel, the op's keyword arguments and the reference output of an EXTRA case."""
    rank, k, s, d, padding, op, groups, size = case
    kernel, strides, dilation = _as_tuple(k, rank), _as_tuple(s, rank), _as_tuple(d, rank)
    channels, filters = 2 * groups, 3 * groups
    x = _inputs(rng, rank, channels, fmt, size=4)
    w = rng.standard_normal(kernel + (filters // groups, channels)).astype("float32")
    if isinstance(padding, str):
        ref_padding = padding
    else:
        ref_padding = list(_as_tuple(padding, rank)) if not isinstance(padding, list) else padding
    expected = reference_conv_transpose(
        x, w, strides, ref_padding, None if op is None else _as_tuple(op, rank), dilation,
        groups=groups, output_size=None if size is None else _as_tuple(size, rank),
        channels_first=fmt == "channels_first",
    )
    arguments = dict(strides=strides, padding=padding, output_padding=op, data_format=fmt,
                     dilation_rate=dilation, groups=groups, output_size=size)
    return x, w, arguments, expected


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("case", EXTRA, ids=[f"extra{i}" for i in range(len(EXTRA))])
def test_every_path_matches_reference(case, fmt, rng, assert_close):
    x, w, arguments, expected = _extra_case(case, fmt, rng)
    paths = available_paths(rank=w.ndim - 2, dilation_rate=arguments["dilation_rate"],
                            groups=arguments["groups"])
    for path in ("auto",) + paths:
        y = conv_transpose(x, w, path=path, **arguments)
        assert_close(y, expected, err_msg=f"path={path}")


GROUPED = [case for case in EXTRA if case[6] > 1]


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("case", GROUPED, ids=[f"grouped{i}" for i in range(len(GROUPED))])
def test_auto_one_call_per_group_matches_reference(case, fmt, rng, assert_close, monkeypatch):
    # path="auto" computed group by group, as JAX's policy does for 2D overlapping
    # taps (Policy.splits_groups), forced on every backend and every grouped case.
    rules = type(policy.current())
    monkeypatch.setattr(rules, "splits_groups", lambda self, *args, **kwargs: True)
    x, w, arguments, expected = _extra_case(case, fmt, rng)
    assert_close(conv_transpose(x, w, **arguments), expected)


@pytest.mark.parametrize("case", GRID[::7], ids=[_case_id(c) for c in GRID[::7]])
def test_forced_path_on_grid_sample(case, path, rng, assert_close):
    rank, k, s, d, padding, op, fmt = case
    if path not in available_paths(rank=rank, dilation_rate=d):
        pytest.skip(f"path={path!r} does not run dilation {d} on {keras.backend.backend()}")
    _check_grid_case(case, rng, assert_close, path=path)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_layer_adds_bias_and_activation(rank, rng, assert_close):
    layer_class = getattr(keras_deconv, f"Conv{rank}DTranspose")
    layer = layer_class(4, 3, strides=2, padding="same", activation="relu",
                        bias_initializer=keras.initializers.RandomNormal(seed=1))
    x = _inputs(rng, rank, 2, "channels_last")
    y = layer(x)
    kernel = convert_to_numpy(layer.kernel)
    bias = convert_to_numpy(layer.bias)
    expected = reference_conv_transpose(x, kernel, (2,) * rank, "same") + bias
    assert_close(y, np.maximum(expected, 0))


def test_layer_output_size_and_channels_first_bias(rng, assert_close):
    layer = keras_deconv.Conv2DTranspose(3, 4, strides=2, padding="same", data_format="channels_first",
                                         bias_initializer="ones")
    x = _inputs(rng, 2, 2, "channels_first", size=5)
    y = layer(x, output_size=(9, 10))
    kernel = convert_to_numpy(layer.kernel)
    expected = reference_conv_transpose(x, kernel, (2, 2), "same", output_size=(9, 10),
                                        channels_first=True) + 1.0
    assert_close(y, expected)


def test_extra_batch_axes_equal_flattened(rng):
    x = rng.standard_normal((2, 3, 4, 5, 2)).astype("float32")
    w = rng.standard_normal((3, 3, 4, 2)).astype("float32")
    y = convert_to_numpy(conv_transpose(x, w, strides=2, padding="same"))
    flat = convert_to_numpy(conv_transpose(x.reshape(6, 4, 5, 2), w, strides=2, padding="same"))
    assert y.shape == (2, 3, 8, 10, 4)
    np.testing.assert_array_equal(y.reshape(flat.shape), flat)


def test_float64_keeps_the_input_dtype(rng, assert_close):
    x = keras.ops.convert_to_tensor(rng.standard_normal((1, 5, 2)))
    w = rng.standard_normal((3, 2, 2))
    y = conv_transpose(x, w, strides=2, dilation_rate=2)
    # JAX without jax_enable_x64 holds float64 data as float32: the dtype follows the input.
    assert keras.backend.standardize_dtype(y.dtype) == keras.backend.standardize_dtype(x.dtype)
    expected = reference_conv_transpose(convert_to_numpy(x), w, (2,), "valid", dilation=(2,))
    assert_close(y, expected)  # to float64's tolerance where y is float64


GRID_3D = [case for case in GRID if case[0] == 3]
EXTRA_3D = [case for case in EXTRA if case[0] == 3]


def _depth_phases_for_3d(monkeypatch):
    # path="auto" with the policy's 3D choice replaced by `depth_phases` (JAX's
    # choice for overlapping taps, _paths/depth.py): it is built from keras.ops and
    # 2D `auto` calls, so every backend checks it.
    rules = type(policy.current())
    choose = rules.auto_path

    def auto_path(self, kernel_size, *args, **kwargs):
        return "depth_phases" if len(kernel_size) == 3 else choose(self, kernel_size, *args, **kwargs)

    monkeypatch.setattr(rules, "auto_path", auto_path)
    monkeypatch.setattr(rules, "splits_groups", lambda self, *args, **kwargs: False)


@pytest.mark.parametrize("case", GRID_3D, ids=[_case_id(c) for c in GRID_3D])
def test_depth_phases_matches_reference_on_grid(case, rng, assert_close, monkeypatch):
    _depth_phases_for_3d(monkeypatch)
    _check_grid_case(case, rng, assert_close)


@pytest.mark.parametrize("case", EXTRA_3D, ids=[f"extra3d{i}" for i in range(len(EXTRA_3D))])
def test_depth_phases_matches_reference_with_groups_crops_and_output_size(case, rng, assert_close,
                                                                          monkeypatch):
    _depth_phases_for_3d(monkeypatch)
    x, w, arguments, expected = _extra_case(case, "channels_last", rng)
    assert_close(conv_transpose(x, w, **arguments), expected)


