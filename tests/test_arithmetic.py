"""The pure-Python arithmetic, tested without touching a tensor."""

from __future__ import annotations

import itertools
import re

import pytest

from keras_deconv import arguments, arithmetic
from keras_deconv.reference import reference_axis


@pytest.mark.parametrize("n,k,s,d", itertools.product((1, 2, 5), (1, 2, 3, 4), (1, 2, 3), (1, 2)))
def test_lengths_and_pads_agree_with_the_reference_definitions(n, k, s, d):
    for padding in ("valid", "same", (1, 1), (0, 2)):
        for op in [None] + list(range(max(s, d))):
            expected_before, expected_length = reference_axis(n, k, s, d, padding, op)
            length = arithmetic.output_length(n, k, s, d, padding, op)
            assert length == expected_length
            if length is not None and length > 0:
                before, after = arithmetic.axis_geometry(n, k, s, d, padding, op)
                assert before == expected_before
                assert before + length + after == arithmetic.full_output_length(n, k, s, d)


@pytest.mark.parametrize("n,k,s,d", itertools.product((1, 4), (1, 2, 3, 4), (1, 2, 3), (1, 2)))
def test_output_size_range_is_exactly_the_reachable_lengths(n, k, s, d):
    for padding in ("valid", "same", (1, 0)):
        reachable = {arithmetic.output_length(n, k, s, d, padding, op)
                     for op in [None] + list(range(max(s, d)))}
        low, high = arithmetic.output_length_range(n, k, s, d, padding)
        assert reachable == set(range(low, high + 1))


@pytest.mark.parametrize("n,k,s,d", itertools.product((1, 5), (1, 2, 3, 4), (1, 2, 3), (1, 2)))
def test_same_crop_is_what_same_cuts_off_the_full_output(n, k, s, d):
    before, length = reference_axis(n, k, s, d, "same", None)
    full = (n - 1) * s + (k - 1) * d + 1
    cut = arithmetic.same_crop(k, s, d)
    # Where 'same' is longer than the full output, nothing is cut (zeros past it).
    assert cut == max(full - length, 0)
    assert before == cut // 2


def test_same_padding_matches_forward_convolution_rule():
    # Forward 'same' conv of length 8, kernel 4, stride 2 pads 2 in total, 1 before.
    assert arithmetic.pad_before(4, 4, 2, 1, "same", 8) == 1
    assert arithmetic.output_length(4, 4, 2, 1, "same") == 8


def test_unknown_lengths_stay_unknown_and_crops_do_not_depend_on_them():
    assert arithmetic.output_length(None, 3, 2) is None
    for n in (1, 7, 30):
        known = arithmetic.axis_geometry(n, 3, 2, 2, "same", 1)
        assert known == arithmetic.axis_geometry(None, 3, 2, 2, "same", 1)


def test_output_shape_channels_first_and_extra_batch_axes():
    shape = arithmetic.output_shape(
        (5, 2, 3, 4, 4), 8, (3, 3), (2, 2), "same", None, "channels_first", (1, 1)
    )
    assert shape == (5, 2, 8, 8, 8)


@pytest.mark.parametrize("value,name,error", [
    (0, "strides", ValueError), (-1, "strides", ValueError), (1.5, "strides", TypeError),
    ((1, 2, 3), "strides", ValueError), (True, "strides", TypeError), ("2", "strides", TypeError),
])
def test_normalize_tuple_errors_name_argument_and_value(value, name, error):
    pattern = re.escape(f"Received: {name}={value!r}")
    with pytest.raises(error, match=rf"`{name}`.*{pattern}"):
        arguments.normalize_tuple(value, 2, name)


def test_padding_normalisation():
    assert arguments.normalize_padding("Valid", 3) == "valid"
    assert arguments.normalize_padding((1, 2), 2) == ((1, 1), (2, 2))
    assert arguments.normalize_padding([[1, 0], 2], 2) == ((1, 0), (2, 2))
    with pytest.raises(ValueError, match="padding='causal'"):
        arguments.normalize_padding("causal", 1)
    with pytest.raises(ValueError, match="non-negative"):
        arguments.normalize_padding(-1, 1)


def test_output_padding_must_be_below_max_of_stride_and_dilation():
    assert arguments.normalize_output_padding(1, 1, (1,), (2,)) == (1,)
    with pytest.raises(ValueError, match=r"output_padding=2"):
        arguments.normalize_output_padding(2, 1, (2,), (1,))


def test_output_size_outside_range_names_range():
    with pytest.raises(ValueError, match=r"\[7, 8\].*output_size=9"):
        arithmetic.check_output_size(9, (4,), (3,), (2,), "same", (1,))
