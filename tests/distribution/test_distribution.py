"""The layers on several devices give the single-device numbers.

JAX (``XLA_FLAGS=--xla_force_host_platform_device_count=8``):
``keras.distribution.DataParallel`` over 8 devices, and ``ModelParallel`` on a
(batch=2, model=4) mesh with a ``LayoutMap`` that shards the kernel's filters
axis (axis -2 of ``kernel_size + (filters // groups, in_channels)``) and the bias.
TensorFlow: ``tf.distribute.MirroredStrategy`` over 2 logical CPU devices (split
in this folder's conftest.py). In both, the predictions and the weights after
one SGD step equal those of the same model on one device, computed first in the
same process. Run by ``nox -s distribution``; skipped elsewhere.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

import keras_deconv

BACKEND = keras.backend.backend()
BATCH = 8
DEVICES = 8  # JAX's virtual CPU devices
MODEL_AXIS = 4  # devices along the model axis; filters // groups must divide by it


def _skip_reason():
    if BACKEND == "jax":
        if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
            return "set XLA_FLAGS=--xla_force_host_platform_device_count=8 (nox -s distribution)"
        import jax

        if len(jax.devices()) < DEVICES:
            return f"needs {DEVICES} JAX devices, found {len(jax.devices())}"
        return None
    if BACKEND == "tensorflow":
        import tensorflow as tf

        if len(tf.config.list_logical_devices("CPU")) < 2:
            return "needs 2 logical CPU devices: run with -m distribution (nox -s distribution)"
        return None
    return f"no multi-device test for the {BACKEND} backend"


SKIP_REASON = _skip_reason()
pytestmark = [pytest.mark.distribution, pytest.mark.skipif(SKIP_REASON is not None, reason=str(SKIP_REASON))]

# (id, layer class, arguments, input shape without the batch)
CASES = [
    ("conv1d", keras_deconv.Conv1DTranspose,
     dict(filters=8, kernel_size=3, strides=2, dilation_rate=2, padding="same", groups=2,
          activation="tanh"), (6, 4)),
    ("conv2d_channels_first", keras_deconv.Conv2DTranspose,
     dict(filters=8, kernel_size=(3, 2), strides=2, padding=1, output_padding=1, groups=2,
          data_format="channels_first"), (4, 5, 5)),
    # On JAX, "auto" computes these values with "phase" and the derivatives through "matmul".
    ("conv2d_overlapping_taps", keras_deconv.Conv2DTranspose,
     dict(filters=8, kernel_size=3, strides=2, padding="same"), (5, 5, 4)),
    ("conv3d", keras_deconv.Conv3DTranspose,
     dict(filters=4, kernel_size=2, strides=(2, 1, 2), padding="valid"), (3, 3, 3, 2)),
]
IDS = [case[0] for case in CASES]


def build_model(case):
    _, layer_class, arguments, input_shape = case
    layer = layer_class(**arguments, bias_initializer="random_normal", name="deconv")
    model = keras.Sequential([keras.Input(input_shape), layer])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="mse")
    return model


def predict_and_step(model, x, y):
    """Predictions on ``x``, then the weights after one training step on (x, y)."""
    predictions = model.predict(x, batch_size=BATCH, verbose=0)
    model.train_on_batch(x, y)
    return predictions, [keras.ops.convert_to_numpy(w) for w in model.weights]


def single_device_result(case):
    """Initial weights, data, and the single-device predictions and stepped weights."""
    keras.utils.set_random_seed(7)
    model = build_model(case)
    initial = [keras.ops.convert_to_numpy(w) for w in model.weights]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((BATCH,) + case[3]).astype("float32")
    y = rng.standard_normal((BATCH,) + tuple(model.output_shape[1:])).astype("float32")
    predictions, stepped = predict_and_step(model, x, y)
    # The step must change the weights, or comparing them after it would prove nothing.
    assert max(np.abs(a - b).max() for a, b in zip(initial, stepped, strict=True)) > 1e-3
    return initial, x, y, predictions, stepped


def assert_same(result, expected_predictions, expected_weights, assert_close):
    predictions, weights = result
    assert_close(predictions, expected_predictions, err_msg="predictions")
    assert len(weights) == len(expected_weights)
    for index, (got, expected) in enumerate(zip(weights, expected_weights, strict=True)):
        assert_close(got, expected, err_msg=f"weight {index} after the step")


def distributed_run(case, distribution, initial, x, y):
    with distribution.scope():
        model = build_model(case)
        model.set_weights(initial)
        return model, predict_and_step(model, x, y)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution runs on JAX")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_data_parallel_matches_single_device(case, assert_close):
    initial, x, y, predictions, stepped = single_device_result(case)
    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    model, result = distributed_run(case, distribution, initial, x, y)
    # The kernel is replicated on every device: the distribution did apply.
    assert len(model.get_layer("deconv").kernel.value.sharding.device_set) == DEVICES
    assert_same(result, predictions, stepped, assert_close)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution runs on JAX")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_model_parallel_sharding_filters_matches_single_device(case, assert_close):
    from jax.sharding import PartitionSpec

    initial, x, y, predictions, stepped = single_device_result(case)
    rank = len(case[3]) - 1
    mesh = keras.distribution.DeviceMesh(
        shape=(DEVICES // MODEL_AXIS, MODEL_AXIS), axis_names=("batch", "model"),
        devices=keras.distribution.list_devices(),
    )
    layout_map = keras.distribution.LayoutMap(mesh)
    kernel_axes = (None,) * rank + ("model", None)  # the filters // groups axis
    layout_map[".*deconv/kernel"] = kernel_axes
    # JAX's path ("matmul") has no convolution in its graph. XLA (jax 0.10.2)
    # aborts compiling the gradient of a grouped *convolution* with a sharded
    # kernel and bias (keras.layers.Conv1D(groups=2) does), and gets the
    # kernel gradient wrong with only the kernel sharded; the "phase" path,
    # built on convolutions, inherits that, so it is not JAX's default.
    layout_map[".*deconv/bias"] = ("model",)
    distribution = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    model, result = distributed_run(case, distribution, initial, x, y)
    layer = model.get_layer("deconv")
    assert layer.kernel.value.sharding.spec == PartitionSpec(*kernel_axes)
    assert layer.bias.value.sharding.spec == PartitionSpec("model")
    assert_same(result, predictions, stepped, assert_close)


@pytest.fixture(scope="module")
def mirrored_strategy():
    """One strategy for the whole module.

    A second MirroredStrategy in the same process starts its collective keys
    afresh, and its all-reduce then collides with the first one's ("Shape
    mismatch in the collective instance").
    """
    import tensorflow as tf

    devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute runs on TensorFlow")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_mirrored_strategy_matches_single_device(case, mirrored_strategy, assert_close):
    import tensorflow as tf

    strategy = mirrored_strategy
    initial, x, y, predictions, stepped = single_device_result(case)
    assert strategy.num_replicas_in_sync >= 2
    model, result = distributed_run(case, strategy, initial, x, y)
    assert isinstance(model.get_layer("deconv").kernel.value, tf.distribute.DistributedValues)
    assert_same(result, predictions, stepped, assert_close)
