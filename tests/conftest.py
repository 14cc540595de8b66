"""Test configuration: the backend comes from KERAS_BACKEND (one per process)."""

from __future__ import annotations

import os

import numpy as np
import pytest

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
TRAINABLE_BACKENDS = ("jax", "torch", "tensorflow")


def pytest_report_header(config):
    return f"KERAS_BACKEND={BACKEND}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def to_numpy(tensor):
    """A backend tensor as a NumPy array."""
    from keras import ops

    return np.asarray(ops.convert_to_numpy(tensor))


needs_gradients = pytest.mark.skipif(
    BACKEND not in TRAINABLE_BACKENDS, reason="the numpy backend has no gradients"
)
