"""Per-backend set-up for the multi-device tests (run by ``nox -s distribution``).

TensorFlow fixes its devices when its runtime starts, so the CPU is split into
logical devices here, when pytest loads this file and before any test touches
TensorFlow. That only happens when the run selects these tests (``-m
distribution``): an ordinary run keeps one CPU device, and the tests skip.
JAX gets its virtual devices from ``XLA_FLAGS``, set by the nox session.
"""

from __future__ import annotations

import os

LOGICAL_CPUS = 2


def split_tensorflow_cpu(count: int) -> None:
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        # The runtime had already started (another test module imported and used TF first);
        # the tests then see one device and skip.
        pass


def pytest_configure(config):
    expression = config.getoption("markexpr", "") or ""
    selected = "distribution" in expression and "not distribution" not in expression
    if selected and os.environ.get("KERAS_BACKEND") == "tensorflow":
        split_tensorflow_cpu(LOGICAL_CPUS)
