"""What ``auto`` builds depends on the backend, the arguments, the dtype, static sizes and the
device kind, never on the host: TensorFlow's oneDNN switch (which follows the CPU's
instruction set) changes no route.

The grid of public answers (``choose_path``, ``derivative_paths``) is computed in two
processes, with ``TF_ENABLE_ONEDNN_OPTS=0`` and ``=1``, TensorFlow started in both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")

GRID = """
import itertools, json
import tensorflow as tf  # started first: its oneDNN state is set
tf.constant(1.0) + 1.0
from keras_deconv.ops import choose_path, derivative_paths
answers = []
for backend in ("jax", "torch", "tensorflow", "numpy"):
    for rank, k, s, d, g, size, dtype, crop in itertools.product(
            (1, 2, 3), (1, 2, 3, 4), (1, 2, 3), (1, 2), (1, 2, 4), (2**10, 2**25),
            ("float32", "float64", "bfloat16", "complex64"), (None, 0, 3)):
        kernel, strides, dilation = (k,) * rank, (s,) * rank, (d,) * rank
        crops = None if crop is None else ((crop, crop),) * rank
        path = choose_path(backend, kernel, strides, dilation, g, dtype, size)
        answers.append([backend, rank, k, s, d, g, size, dtype, crop, path,
                        derivative_paths(backend, path, kernel, strides, dilation, g, size, crops, dtype)])
print(json.dumps(answers))
"""


def _answers(onednn):
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "KERAS_BACKEND": "tensorflow",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", GRID], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_routes_are_the_same_with_and_without_onednn():
    without, with_onednn = _answers("0"), _answers("1")
    assert len(without) == 4 * 3 * 4 * 3 * 2 * 3 * 2 * 4 * 3
    differing = [(a, b) for a, b in zip(without, with_onednn) if a != b]
    assert not differing, f"{len(differing)} argument sets differ, first: {differing[0]}"
    # The grid reaches every value algorithm a CPU policy chooses.
    assert {row[9] for row in without} >= {"matmul", "phase", "native", "depth_phases"}
