"""Every path runs under each backend's compiler without graph breaks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_deconv.ops import conv_transpose
from keras_deconv.reference import reference_conv_transpose

BACKEND = keras.backend.backend()
ARGS = dict(strides=(2, 3), padding="same", output_padding=(1, 0), dilation_rate=(1, 1), groups=2)


def _data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 5, 4)).astype("float32")
    w = rng.standard_normal((3, 4, 3, 4)).astype("float32")
    expected = reference_conv_transpose(x, w, (2, 3), "same", (1, 0), (1, 1), groups=2)
    return x, w, expected


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit")
def test_jax_jit_with_gradients(path_or_auto, assert_close):
    path = path_or_auto
    import jax

    x, w, expected = _data()

    def loss(x, w):
        return (conv_transpose(x, w, path=path, **ARGS) ** 2).sum()

    y = jax.jit(lambda x, w: conv_transpose(x, w, path=path, **ARGS))(x, w)
    assert_close(y, expected)
    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, w)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.function(jit_compile=True)")
def test_tf_function_jit_compile(path_or_auto, assert_close):
    path = path_or_auto
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
    assert_close(y, expected)
    assert grad.shape == w.shape and np.isfinite(grad.numpy()).all()


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile")
@pytest.mark.parametrize("padding", ["same", "circular"])
def test_torch_compile_full_graph(path_or_auto, padding, assert_close):
    path = path_or_auto
    import torch

    x, w, expected = _data()
    arguments = {**ARGS, "padding": PADDINGS[padding]}
    if padding != "same":
        expected = reference_conv_transpose(x, w, (2, 3), list(PADDINGS[padding]), (1, 0), (1, 1), groups=2)
    # fullgraph=True turns any graph break into an error; the "eager" backend
    # checks the tracing without compiling C++.
    run = torch.compile(lambda x, w: conv_transpose(x, w, path=path, **arguments), fullgraph=True,
                        backend="eager")
    xt = torch.tensor(x)
    wt = torch.tensor(w, requires_grad=True)
    y = run(xt, wt)
    y.square().sum().backward()
    assert_close(y, expected)
    # The kernel's gradient, against the one computed eagerly.
    eager = torch.tensor(w, requires_grad=True)
    conv_transpose(xt, eager, path=path, **arguments).square().sum().backward()
    assert_close(wt.grad, eager.grad)


# Unknown sizes: every path traced once with symbolic (or unknown) batch and
# spatial sizes, then run on two inputs of different sizes.
SIZES = [(2, 4, 5), (3, 6, 3)]


#: 'same' as in ARGS, and a circular second axis (wrapped around the input when sizes are unknown).
PADDINGS = {"same": "same", "circular": ("same", "circular")}


def _inputs(batch, rows, cols, padding="same"):
    rng = np.random.default_rng(batch * 100 + rows * 10 + cols)
    x = rng.standard_normal((batch, rows, cols, 4)).astype("float32")
    w = np.random.default_rng(0).standard_normal((3, 4, 3, 4)).astype("float32")
    reference_padding = padding if isinstance(padding, str) else list(padding)
    expected = reference_conv_transpose(x, w, (2, 3), reference_padding, (1, 0), (1, 1), groups=2)
    return x, w, expected


@pytest.mark.skipif(BACKEND != "jax", reason="jax.export")
@pytest.mark.parametrize("padding", list(PADDINGS))
def test_jax_export_with_symbolic_batch_and_spatial_sizes(path_or_auto, padding, assert_close):
    path = path_or_auto
    import jax
    from jax import export

    x, w, _ = _inputs(*SIZES[0])
    arguments = {**ARGS, "padding": PADDINGS[padding]}
    batch, rows, cols = export.symbolic_shape("b, h, w")
    exported = export.export(jax.jit(lambda x, w: conv_transpose(x, w, path=path, **arguments)))(
        jax.ShapeDtypeStruct((batch, rows, cols, 4), np.float32), jax.ShapeDtypeStruct(w.shape, np.float32)
    )
    for size in SIZES:
        x, w, expected = _inputs(*size, padding=PADDINGS[padding])
        assert_close(exported.call(x, w), expected, err_msg=f"size {size}")


@pytest.mark.skipif(BACKEND != "jax", reason="jax.export")
@pytest.mark.parametrize("kernel_size", [(4, 4), (3, 3, 3)])
@pytest.mark.parametrize("symbolic", ["b", "b, h"])
def test_jax_export_of_gradients_with_symbolic_sizes(kernel_size, symbolic, assert_close):
    # path="auto" takes JAX's derivatives from other algorithms (ops.derivative_paths);
    # under symbolic sizes (jax2tf saves gradients so) they must still trace and agree.
    import jax
    from jax import export

    rank = len(kernel_size)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, *(5,) * rank, 3)).astype("float32")
    w = rng.standard_normal((*kernel_size, 4, 3)).astype("float32")

    def loss_and_gradients(a, b):
        return jax.value_and_grad(lambda a, b: jax.numpy.sum(
            conv_transpose(a, b, strides=2, padding="same") ** 2), argnums=(0, 1))(a, b)

    sizes = export.symbolic_shape(symbolic)
    shape = (*sizes, *x.shape[len(sizes):])
    exported = export.export(jax.jit(loss_and_gradients))(
        jax.ShapeDtypeStruct(shape, np.float32), jax.ShapeDtypeStruct(w.shape, np.float32))
    expected = loss_and_gradients(x, w)
    for got, want in zip(jax.tree_util.tree_leaves(exported.call(x, w)), jax.tree_util.tree_leaves(expected)):
        assert_close(got, want)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.function(jit_compile=True)")
@pytest.mark.parametrize("padding", list(PADDINGS))
def test_tf_function_jit_compile_with_unknown_sizes(path_or_auto, padding, assert_close):
    path = path_or_auto
    import tensorflow as tf

    arguments = {**ARGS, "padding": PADDINGS[padding]}
    run = tf.function(lambda x, w: conv_transpose(x, w, path=path, **arguments), jit_compile=True,
                      input_signature=[tf.TensorSpec((None, None, None, 4)), tf.TensorSpec((3, 4, 3, 4))])
    for size in SIZES:
        x, w, expected = _inputs(*size, padding=PADDINGS[padding])
        assert_close(run(x, w), expected, err_msg=f"size {size}")
    assert run.experimental_get_tracing_count() == 1  # traced once, for every size


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile(dynamic=True)")
def test_torch_compile_dynamic(path_or_auto, assert_close):
    path = path_or_auto
    import torch

    # The kernel is a parameter, as a layer's weight is: torch keeps its sizes static.
    kernel = torch.nn.Parameter(torch.tensor(_inputs(*SIZES[0])[1]))
    run = torch.compile(lambda x: conv_transpose(x, kernel, path=path, **ARGS), dynamic=True, fullgraph=True,
                        backend="eager")
    for size in SIZES:
        x, _, expected = _inputs(*size)
        assert_close(run(torch.tensor(x)), expected, err_msg=f"size {size}")


@pytest.mark.skipif(BACKEND != "torch", reason="torch.export")
def test_torch_export_with_dynamic_sizes(path_or_auto, assert_close):
    path = path_or_auto
    import torch

    class Module(torch.nn.Module):
        def forward(self, x, w):
            return conv_transpose(x, w, path=path, **ARGS)

    x, w, _ = _inputs(*SIZES[0])
    dynamic = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC, 2: torch.export.Dim.DYNAMIC}
    program = torch.export.export(Module(), (torch.tensor(x), torch.tensor(w)),
                                  dynamic_shapes=(dynamic, None))
    for size in SIZES:
        x, w, expected = _inputs(*size)
        assert_close(program.module()(torch.tensor(x), torch.tensor(w)), expected, err_msg=f"size {size}")
