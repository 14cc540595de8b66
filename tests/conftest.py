"""Test configuration: the backend comes from KERAS_BACKEND (one per process)."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def x64():
    """64-bit numbers inside the block: JAX holds them only with jax_enable_x64, other backends always.

    ``jax.config.update`` is a switch that every supported JAX has: ``jax.enable_x64`` is
    missing from JAX 0.4.30, ``jax.experimental.enable_x64`` from JAX 0.10.
    """
    if BACKEND != "jax":
        yield
        return
    import jax

    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


needs_gradients = pytest.mark.skipif(
    BACKEND not in TRAINABLE_BACKENDS, reason="the numpy backend has no gradients"
)


# Hypothesis profiles: "ci" (default, bounded so each backend's suite stays short) and
# "dev" (longer, HYPOTHESIS_PROFILE=dev). No deadline: JAX and TF compile on first use.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a test extra; suites without it still collect
    pass
else:
    settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=500, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
