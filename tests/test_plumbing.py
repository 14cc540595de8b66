"""The shared test plumbing of tests/conftest.py: the tolerance rule, the path fixtures, the marker."""

from __future__ import annotations

import numpy as np
import pytest

from keras_deconv.ops import PATH_NAMES, available_paths


def test_assert_close_takes_the_tolerance_of_the_dtype_computed_in(assert_close):
    expected = np.array([0.5, -3.0, 10.0])
    # float32: 1e-5 of the largest value (10) is 1e-4.
    assert_close(np.float32(expected + [0, 9e-5, 0]), expected)
    with pytest.raises(AssertionError, match=r"1 of 3 values.*rtol=1e-05.*float32"):
        assert_close(np.float32(expected + [0, 2e-4, 0]), expected)
    # float64 holds the same numbers to 1e-12 of 10.
    with pytest.raises(AssertionError, match="float64"):
        assert_close(expected + [0, 2e-9, 0], expected)
    assert_close(expected + [0, 5e-12, 0], expected)
    # A result cast after computing in float16: that dtype's tolerance.
    assert_close(np.float32(expected * (1 + 5e-3)), expected, dtype="float16")
    with pytest.raises(AssertionError):
        assert_close(np.float32(expected * (1 + 5e-3)), expected)


def test_assert_close_scale_rtol_shapes_and_non_finite_values(assert_close):
    expected = np.array([1e-3, 2e-3])
    # Below 1 the bound is absolute (1e-5); an elementwise scale makes it relative.
    assert_close(np.float32(expected + 5e-6), expected)
    with pytest.raises(AssertionError, match="2 of 2"):
        assert_close(np.float32(expected + 5e-6), expected, scale=np.abs(expected))
    assert_close(expected + 5e-6, expected, rtol=1e-5)
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.zeros((2, 1)), np.zeros(2))
    special = np.array([np.nan, np.inf, -np.inf, 1.0])
    assert_close(special.copy(), special)
    with pytest.raises(AssertionError):
        assert_close(np.array([1.0, np.inf, -np.inf, 1.0]), special)
    with pytest.raises(AssertionError):
        assert_close(np.array([np.nan, np.inf, np.inf, 1.0]), special)
    complex_expected = np.array([1 + 1j, 2 - 1j], np.complex128)
    assert_close(np.complex64(complex_expected + 1e-6j), complex_expected)
    with pytest.raises(AssertionError, match="complex128"):
        assert_close(complex_expected + 1e-6j, complex_expected)
    with pytest.raises(ValueError, match="int32"):
        assert_close(np.zeros(2, np.int32), np.zeros(2))


def test_path_runs_only_what_the_backend_runs(path):
    assert path != "auto" and path in available_paths()


def test_path_or_auto_adds_auto(path_or_auto, request):
    assert path_or_auto in PATH_NAMES
    assert path_or_auto == "auto" or path_or_auto in available_paths()
    assert request.node.callspec.id in PATH_NAMES


@pytest.mark.needs_gradients
def test_needs_gradients_skips_where_there_are_none(backend):
    assert backend in ("jax", "torch", "tensorflow")


def test_sample_keeps_each_function_and_about_one_in_n_of_its_parameter_sets():
    from conftest import keep_in_sample

    ids = [f"tests/test_values.py::test_grid[case{i}]" for i in range(600)]
    kept = keep_in_sample(ids, 3)
    assert kept[0]
    assert 150 <= sum(kept) <= 250  # about 200
    assert keep_in_sample(ids, 3) == kept  # the same ids every run
    assert all(keep_in_sample(ids, 1))
    assert keep_in_sample(ids[:1], 1000) == [True]
    with pytest.raises(ValueError, match=r"--sample.*Received: --sample=0"):
        keep_in_sample(ids, 0)
