"""Every path runs under each backend's compiler without graph breaks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BACKEND, to_numpy

from keras_deconv.ops import conv_transpose
from keras_deconv.reference import reference_conv_transpose

PATHS = ["auto", "matmul", "phase", "native"]
ARGS = dict(strides=(2, 3), padding="same", output_padding=(1, 0), dilation_rate=(1, 1), groups=2)


def _data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 5, 4)).astype("float32")
    w = rng.standard_normal((3, 4, 3, 4)).astype("float32")
    expected = reference_conv_transpose(x, w, (2, 3), "same", (1, 0), (1, 1), groups=2)
    return x, w, expected


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit")
@pytest.mark.parametrize("path", PATHS)
def test_jax_jit_with_gradients(path):
    import jax

    x, w, expected = _data()

    def loss(x, w):
        return (conv_transpose(x, w, path=path, **ARGS) ** 2).sum()

    y = jax.jit(lambda x, w: conv_transpose(x, w, path=path, **ARGS))(x, w)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-5)
    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, w)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.function(jit_compile=True)")
@pytest.mark.parametrize("path", PATHS)
def test_tf_function_jit_compile(path):
    import tensorflow as tf

    x, w, expected = _data()

    @tf.function(jit_compile=True)
    def run(x, w):
        with tf.GradientTape() as tape:
            tape.watch(w)
            y = conv_transpose(x, w, path=path, **ARGS)
            loss = tf.reduce_sum(y ** 2)
        return y, tape.gradient(loss, w)

    y, grad = run(tf.constant(x), tf.constant(w))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert grad.shape == w.shape and np.isfinite(grad.numpy()).all()


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile")
@pytest.mark.parametrize("path", PATHS)
def test_torch_compile_full_graph(path):
    import torch

    x, w, expected = _data()
    # fullgraph=True turns any graph break into an error; the "eager" backend
    # checks the tracing without compiling C++.
    run = torch.compile(lambda x, w: conv_transpose(x, w, path=path, **ARGS), fullgraph=True, backend="eager")
    xt = torch.tensor(x)
    wt = torch.tensor(w, requires_grad=True)
    y = run(xt, wt)
    y.square().sum().backward()
    np.testing.assert_allclose(to_numpy(y.detach()), expected, rtol=1e-5, atol=1e-5)
    assert wt.grad is not None and torch.isfinite(wt.grad).all()
