"""Every route of both ops under its framework's own transforms, forced paths and circular padding included.

- torch: ``torch.func`` ``vmap`` (against a loop), ``grad``, ``jacrev`` and
  ``jacfwd`` (against ``torch.autograd``), ``hessian`` (against autograd's
  double backward);
- jax: ``vmap`` against a loop, ``jacrev`` against ``jacfwd``, ``hessian``
  against the same function's hessian on a plain path (``matmul``);
- tensorflow: first- and second-order gradients inside
  ``tf.function(jit_compile=True)`` against eager ones (a gradient penalty).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_deconv.forward import forward_path
from keras_deconv.ops import available_paths, conv, conv_transpose

BACKEND = keras.backend.backend()

#: (kernel_size, strides, dilation_rate, groups): one of each family a route is chosen by.
CASES = [
    ((3,), (2,), (1,), 1),
    ((4,), (2,), (2,), 2),
    ((3, 3), (2, 2), (1, 1), 1),
    ((2, 2), (2, 2), (1, 1), 1),
    ((3, 3), (1, 1), (2, 2), 1),
    ((3, 3), (2, 2), (2, 2), 2),
    ((3, 3, 3), (2, 2, 2), (1, 1, 1), 1),
    ((3, 3, 3), (1, 1, 1), (2, 2, 2), 1),
]
PADDINGS = ["same", "circular"]


#: The ops: the transposed convolution and its adjoint, the forward one (same kernel, same arguments).
OPS = {"conv_transpose": conv_transpose, "conv": conv}


def _routes(op, kernel_size, strides, dilation, groups):
    if op == "conv":
        # The forward auto is the native op wherever that runs (symbolic sizes aside): not run twice.
        native = forward_path(BACKEND, strides, dilation, "float32") == "native"
        return ("auto", "matmul") if native else ("auto",)
    return ("auto",) + available_paths(rank=len(kernel_size), dilation_rate=dilation, groups=groups)


def _arguments(rng, kernel_size, groups, batch=2, length=4, channels=2):
    rank = len(kernel_size)
    channels *= groups
    x = rng.standard_normal((batch, *(length,) * rank, channels)).astype("float32")
    w = rng.standard_normal((*kernel_size, 2, channels)).astype("float32")
    return x, w


#: The forward op's cases: one 3D family (each 3D case costs seconds of compilation per route).
CONV_CASES = CASES[:-1]


def _cases():
    return [pytest.param(OPS[op], case, padding, route, id=f"{op}-{case}-{padding}-{route}")
            for op in OPS for case in (CASES if op == "conv_transpose" else CONV_CASES)
            for padding in PADDINGS for route in _routes(op, case[0], case[1], case[2], case[3])]


needs = {name: pytest.mark.skipif(BACKEND != name, reason=f"{name}'s transforms") for name in ("torch", "jax",
                                                                                               "tensorflow")}


@needs["torch"]
@pytest.mark.parametrize("op, case, padding, route", _cases())
def test_torch_func_transforms_match_autograd(rng, assert_close, op, case, padding, route):
    import torch

    kernel_size, strides, dilation, groups = case
    x, w = (torch.from_numpy(a).double() for a in _arguments(rng, kernel_size, groups))
    x, w = x.float(), w.float()

    def f(inputs):
        return op(inputs, w, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                  path=route)

    def loss(inputs):
        return (torch.tanh(f(inputs)) ** 2).sum()

    # vmap over an extra leading axis, against a loop.
    stacked = torch.stack([x, 2 * x, -x])
    assert_close(torch.func.vmap(f)(stacked), torch.stack([f(item) for item in stacked]))
    # grad, jacrev and jacfwd, against torch.autograd.
    leaf = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(loss(leaf), leaf)
    assert_close(torch.func.grad(loss)(x), expected)
    single = x[:1]
    jacobian = torch.autograd.functional.jacobian(f, single)
    assert_close(torch.func.jacrev(f)(single), jacobian)
    assert_close(torch.func.jacfwd(f)(single), jacobian)
    # hessian (forward over reverse), against autograd's double backward.
    small = x[:1].clone()
    assert_close(torch.func.hessian(loss)(small), torch.autograd.functional.hessian(loss, small))


@needs["torch"]
def test_torch_vmap_of_grad_with_circular_padding(rng, assert_close):
    import torch

    x, w = (torch.from_numpy(a) for a in _arguments(rng, (3, 3), 1))

    def loss(inputs):
        return (conv_transpose(inputs[None], w, strides=2, padding="circular")[0] ** 2).sum()

    expected = []
    for item in x:
        leaf = item.clone().requires_grad_(True)
        expected.append(torch.autograd.grad(loss(leaf), leaf)[0])
    assert_close(torch.func.vmap(torch.func.grad(loss))(x), torch.stack(expected))


@needs["jax"]
@pytest.mark.parametrize("op, case, padding, route", _cases())
def test_jax_transforms(rng, assert_close, op, case, padding, route):
    import jax
    import jax.numpy as jnp

    kernel_size, strides, dilation, groups = case
    x, w = (jnp.asarray(a) for a in _arguments(rng, kernel_size, groups))

    def f(inputs, path=route):
        return op(inputs, w, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                  path=path)

    stacked = jnp.stack([x, 2 * x, -x])
    assert_close(jax.vmap(f)(stacked), jnp.stack([f(item) for item in stacked]))
    single = x[:1]
    assert_close(jax.jacrev(f)(single), jax.jacfwd(f)(single))

    def loss(inputs, path=route):
        return jnp.sum(jnp.tanh(f(inputs, path)) ** 2)

    hessian = jax.hessian(loss)(single)
    assert np.all(np.isfinite(hessian))
    if route != "matmul":  # matmul is the yardstick: compared with itself, nothing to learn
        # Second derivatives through two algorithms' float32 round-off: a looser bound than values'.
        assert_close(hessian, jax.hessian(lambda inputs: loss(inputs, "matmul"))(single), rtol=1e-4)


@needs["tensorflow"]
@pytest.mark.parametrize("op, case, padding, route", _cases())
def test_tensorflow_second_order_under_xla_matches_eager(rng, assert_close, op, case, padding, route):
    _check_tensorflow_second_order(rng, assert_close, case, padding, route, op)


def _check_tensorflow_second_order(rng, assert_close, case, padding, route, op=conv_transpose):
    import tensorflow as tf

    kernel_size, strides, dilation, groups = case
    x_value, w_value = _arguments(rng, kernel_size, groups)
    x, w = tf.constant(x_value), tf.Variable(w_value)

    def penalty(inputs):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(inputs)
                y = op(inputs, w, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                       path=route)
                value = tf.reduce_sum(tf.tanh(y) ** 2)
            first = inner.gradient(value, inputs)
            total = tf.reduce_sum(first ** 2)
        return first, outer.gradient(total, w)

    compiled = tf.function(penalty, jit_compile=True)(x)
    eager = penalty(x)
    for got, want in zip(compiled, eager):
        assert_close(got, want, scale=max(1.0, float(np.abs(want.numpy()).max())), rtol=1e-4)
