"""PyTorch DDP: a Keras model of keras_deconv layers trained over 2 CPU processes (gloo).

Each process takes half the batch; DDP averages the gradients, which equals
the gradient of the full-batch mean loss. After 5 SGD steps the parameters
must equal those of one process trained on the whole batch. Run by
``nox -s distribution`` on the torch backend; skipped elsewhere.
"""

from __future__ import annotations

import socket
from pathlib import Path

import keras
import numpy as np
import pytest

pytestmark = [
    pytest.mark.distribution,
    pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch DDP runs on the torch backend"),
]

STEPS = 5
LEARNING_RATE = 0.05
WORLD = 2
BATCH = 8


def build_model():
    import keras

    import keras_deconv

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((6, 6, 4)),
        keras_deconv.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
        keras_deconv.Conv2DTranspose(2, 4, strides=2, padding="same", groups=2),
    ])


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 6, 6, 4)).astype("float32")
    y = rng.standard_normal((BATCH, 24, 24, 2)).astype("float32")
    return x, y


def train(model, module, x, y):
    """``STEPS`` steps of plain SGD on the mean squared error; the model's weights after them."""
    import torch

    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = ((module(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    return [np.asarray(w) for w in model.get_weights()]


def worker(rank, port, folder):
    import os

    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model = build_model()
        shard = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
        x, y = data()
        weights = train(model, torch.nn.parallel.DistributedDataParallel(model), x[shard], y[shard])
        np.savez(Path(folder) / f"rank{rank}.npz", *weights)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ddp_takes_the_single_process_full_batch_steps(tmp_path, assert_close):
    import torch.multiprocessing

    torch.multiprocessing.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    model = build_model()
    x, y = data()
    initial = [np.asarray(w) for w in model.get_weights()]
    single = train(model, model, x, y)
    for rank in range(WORLD):
        with np.load(tmp_path / f"rank{rank}.npz") as saved:
            distributed = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        assert len(distributed) == len(single)
        for got, expected, start in zip(distributed, single, initial):
            assert not np.allclose(expected, start)  # the steps moved every weight
            assert_close(got, expected, err_msg=f"rank {rank}")
