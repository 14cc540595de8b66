"""Gradients with respect to input and kernel, against finite differences of the reference.

The loss is ``sum(cotangent * conv_transpose(x, w))`` with a random
cotangent; its gradient with respect to every entry of ``x`` and ``w`` is
estimated by central differences of the NumPy reference in float64 and
compared with the backend's automatic differentiation (in float64, and in
float32 within float32's tolerance), for every path forced with ``path=``.
Then one ``model.fit`` step on a tiny functional model must change the
weights and lower the loss.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy

import keras_deconv
from keras_deconv.ops import available_paths, conv_transpose
from keras_deconv.reference import reference_conv_transpose

pytestmark = pytest.mark.needs_gradients

# (name, input shape channels_last, kernel shape, op keyword arguments, reference padding)
CASES = [
    ("1d-stride3-pairs-output_padding", (2, 3, 2), (4, 2, 2),
     dict(strides=3, padding=((1, 2),), output_padding=2), [(1, 2)]),
    ("2d-strides-with-dilation-same", (1, 3, 4, 2), (3, 2, 2, 2),
     dict(strides=(2, 1), dilation_rate=(1, 2), padding="same"), "same"),
    # Stride 1, dilated: one phase, a dilated 'same' convolution (oneDNN's own on TensorFlow in float32).
    ("2d-stride1-dilation-same", (1, 4, 5, 2), (3, 3, 3, 2),
     dict(dilation_rate=2, padding="same"), "same"),
    ("2d-groups-int-padding-channels_first", (1, 3, 3, 4), (3, 3, 1, 4),
     dict(strides=2, dilation_rate=2, padding=1, groups=2, data_format="channels_first"), [1, 1]),
    # Kernels a multiple of the stride: every phase reads the same rows.
    ("2d-kernel-multiple-of-stride-same", (1, 3, 3, 2), (4, 4, 3, 2),
     dict(strides=2, padding="same"), "same"),
    ("1d-kernel-multiple-of-stride-output_padding", (2, 3, 2), (6, 2, 2),
     dict(strides=3, output_padding=1), "valid"),
    ("2d-kernel-multiple-of-stride-groups-channels_first", (1, 3, 2, 4), (4, 2, 1, 4),
     dict(strides=2, padding="same", groups=2, data_format="channels_first"), "same"),
    ("2d-output_size", (1, 3, 3, 1), (2, 3, 2, 1),
     dict(strides=2, padding="same", output_size=(5, 6)), "same"),
    ("3d-valid-dilation", (1, 2, 2, 2, 1), (2, 2, 2, 2, 1),
     dict(strides=2, dilation_rate=(1, 1, 2)), "valid"),
    # Depth dilated, strided and output-padded: JAX's 3D derivatives fold the depth taps.
    ("3d-depth-dilation-output_padding", (1, 3, 2, 2, 2), (2, 2, 2, 3, 2),
     dict(strides=(3, 1, 2), dilation_rate=(2, 1, 1), output_padding=(1, 0, 1)), "valid"),
    ("2d-circular-and-same-groups", (1, 3, 2, 4), (3, 4, 1, 4),
     dict(strides=2, dilation_rate=(1, 2), padding=("same", "circular"), groups=2), ["same", "circular"]),
    ("1d-circular-wraps-twice", (2, 2, 2), (4, 2, 2),
     dict(strides=1, dilation_rate=2, padding="circular"), "circular"),
    # Stride 1, the kernel longer than the input on a dilated axis (wrapping tiles it).
    ("2d-circular-stride1-dilated", (1, 4, 3, 2), (3, 2, 2, 2),
     dict(dilation_rate=(2, 1), padding="circular"), "circular"),
    # Kernels a multiple of the stride, folded (every phase reads the same rows).
    ("2d-circular-kernel-multiple-of-stride", (1, 3, 3, 2), (4, 4, 3, 2),
     dict(strides=2, padding="circular"), "circular"),
    ("2d-circular-kernel-multiple-of-stride-groups-channels_first", (1, 3, 2, 4), (4, 2, 1, 4),
     dict(strides=2, padding=("circular", "same"), groups=2, data_format="channels_first"),
     ["circular", "same"]),
    # Every stride above 1: JAX wraps the input around (depth_phases, adjoint input derivatives).
    ("3d-circular-strided", (1, 2, 3, 2, 2), (3, 3, 2, 2, 2),
     dict(strides=2, padding="circular"), "circular"),
    # Every axis folds (rows wrapping from past the window and from before it), corners included.
    ("3d-circular-every-axis", (1, 3, 2, 3, 2), (3, 2, 4, 2, 2),
     dict(strides=(2, 1, 2), padding="circular"), "circular"),
]


def per_axis(value, rank):
    if value is None:
        return None
    return (value,) * rank if isinstance(value, int) else tuple(value)


def reference_output(x, w, arguments, padding):
    """The reference output for the op's keyword arguments (x and result channels_last)."""
    rank = w.ndim - 2
    return reference_conv_transpose(
        x, w, per_axis(arguments.get("strides", 1), rank), padding,
        output_padding=per_axis(arguments.get("output_padding"), rank),
        dilation=per_axis(arguments.get("dilation_rate", 1), rank), groups=arguments.get("groups", 1),
        output_size=per_axis(arguments.get("output_size"), rank),
    )


def reference_loss(x, w, cotangent, arguments, padding):
    """The loss through the NumPy reference (everything channels_last)."""
    return float(np.sum(reference_output(x, w, arguments, padding) * cotangent))


def finite_difference_gradient(loss, value, step=1e-3):
    """Central differences, entry by entry (exact up to rounding: the loss is linear)."""
    gradient = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        plus, minus = value.copy(), value.copy()
        plus[index] += step
        minus[index] -= step
        gradient[index] = (loss(plus) - loss(minus)) / (2 * step)
    return gradient


def autodiff_gradients(function, x, w, cotangent):
    """d sum(cotangent * function(x, w)) / d(x, w) with the backend's own autodiff."""
    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        def loss(a, b):
            return jnp.sum(function(a, b) * cotangent)

        dx, dw = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x), jnp.asarray(w))
    elif keras.backend.backend() == "torch":
        import torch

        a = torch.tensor(x, requires_grad=True)
        b = torch.tensor(w, requires_grad=True)
        torch.sum(function(a, b) * torch.tensor(cotangent)).backward()
        dx, dw = a.grad, b.grad
    else:
        import tensorflow as tf

        a, b = tf.constant(x), tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            loss = tf.reduce_sum(function(a, b) * cotangent)
        dx, dw = tape.gradient(loss, [a, b])
    return convert_to_numpy(dx), convert_to_numpy(dw)


def check_gradients_against_finite_differences(name, x_shape, w_shape, arguments, padding, path,
                                               assert_close, precision, dtype="float64"):
    """Autodiff of ``conv_transpose(path=path)`` in ``dtype`` against central differences of the reference."""
    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.normal(size=x_shape)
    w = rng.normal(size=w_shape)
    cotangent = rng.normal(size=reference_output(x, w, arguments, padding).shape)

    expected_dx = finite_difference_gradient(lambda v: reference_loss(v, w, cotangent, arguments, padding), x)
    expected_dw = finite_difference_gradient(lambda v: reference_loss(x, v, cotangent, arguments, padding), w)

    channels_first = arguments.get("data_format") == "channels_first"
    x_in = np.moveaxis(x, -1, 1).copy() if channels_first else x
    cotangent_in = np.moveaxis(cotangent, -1, 1).copy() if channels_first else cotangent

    def function(a, b):
        return conv_transpose(a, b, path=path, **arguments)

    with precision(dtype):
        dx, dw = autodiff_gradients(function, x_in.astype(dtype), w.astype(dtype), cotangent_in.astype(dtype))
    if channels_first:
        dx = np.moveaxis(dx, 1, -1)
    assert dx.dtype == dtype and dw.dtype == dtype
    # Central differences of a linear loss are exact but for the loss's rounding over the
    # step (~2e-13 of the largest gradient here): looser than float64's default.
    rtol = 1e-10 if dtype == "float64" else None
    assert_close(dx, expected_dx, rtol=rtol, err_msg="d/dx")
    assert_close(dw, expected_dw, rtol=rtol, err_msg="d/dw")
    assert np.abs(dx).max() > 0 and np.abs(dw).max() > 0


# float32 too: backends run other kernels in float32 than in float64 (oneDNN's on
# TensorFlow, some without a gradient), so every path's float32 gradient must run
# and agree, within float32's tolerance.
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, x_shape, w_shape, arguments, padding", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_finite_differences(name, x_shape, w_shape, arguments, padding, dtype, path_or_auto,
                                            assert_close, precision):
    path = path_or_auto
    rank = len(w_shape) - 2
    groups = arguments.get("groups", 1)
    dilation = per_axis(arguments.get("dilation_rate", 1), rank)
    if path != "auto" and path not in available_paths(rank=rank, dilation_rate=dilation, groups=groups,
                                                      dtype=dtype):
        pytest.skip(f"path={path!r} does not run dilation {dilation}, groups {groups} on "
                    f"{keras.backend.backend()}")
    check_gradients_against_finite_differences(name, x_shape, w_shape, arguments, padding, path,
                                               assert_close, precision, dtype)


CIRCULAR_CASES = [case for case in CASES if "circular" in case[0]]


@pytest.mark.parametrize("route", ["fold", "wrap"])
@pytest.mark.parametrize("name, x_shape, w_shape, arguments, padding", CIRCULAR_CASES,
                         ids=[c[0] for c in CIRCULAR_CASES])
def test_circular_gradients_either_route(name, x_shape, w_shape, arguments, padding, route, monkeypatch,
                                         assert_close, precision):
    # Both ways of computing circular axes of known length (each backend's policy picks
    # one), each with the derivatives auto picks for its crops (on JAX: wrapped stride-1
    # axes take `adjoint`'s for both, folded ones the values' own).
    from keras_deconv._paths import policy

    rules = type(policy.current())
    monkeypatch.setattr(rules, "wraps_circular_inputs", lambda self, path: route == "wrap")
    check_gradients_against_finite_differences(name, x_shape, w_shape, arguments, padding, "auto",
                                               assert_close, precision)


@pytest.mark.parametrize("crops, algorithms, strided", [
    (None, ("adjoint", "correlation"), ("phase", "correlation")),  # 'same'
    (((2, 2), (2, 2)), ("adjoint", "correlation"), ("adjoint", "correlation")),  # s1 'same', s2 past it
    (((1, 2), (2, 1)), ("phase", "phase"), ("adjoint", "correlation")),
    (((4, 4), (4, 4)), ("adjoint", "adjoint"), ("adjoint", "correlation")),  # circular, wrapped around
    (((2, 3), (4, 4)), ("adjoint", "adjoint"), ("adjoint", "correlation")),
    (((0, 0), (0, 0)), ("phase", "phase"), ("phase", "correlation")),  # circular folded, or 'valid'
    (((4, 4), (0, 0)), ("phase", "phase"), ("adjoint", "correlation")),  # one of each
])
def test_jax_derivatives_follow_the_crops(crops, algorithms, strided):
    # XLA's kernel derivatives of `correlation` and `adjoint` each run slow on one side of
    # 'same''s crops on stride-1 axes (rule J7), and `phase`'s input derivative past them
    # on strided ones (J8): 2D k3 d2 with strides 1, and k3 d1 with strides 2.
    from keras_deconv.ops import derivative_paths

    assert derivative_paths("jax", "phase", (3, 3), (1, 1), (2, 2), 1, 1000, crops) == algorithms
    assert derivative_paths("jax", "phase", (3, 3), (2, 2), (1, 1), 1, 1000, crops) == strided
    # Undilated stride 1: phase's own (J9 covers dilation only).
    assert derivative_paths("jax", "phase", (3, 3), (1, 1), (1, 1), 1, 1000) == ("phase", "phase")


def test_one_fit_step_changes_weights_and_lowers_the_loss():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 2))
    outputs = keras_deconv.Conv2DTranspose(3, 3, strides=2, padding="same", dilation_rate=1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4, 4, 2)).astype("float32")
    target = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    before = [w.copy() for w in model.get_weights()]
    loss_before = model.evaluate(x, target, verbose=0)
    history = model.fit(x, target, batch_size=8, epochs=1, verbose=0)
    loss_after = model.evaluate(x, target, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(loss_after)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert loss_after < loss_before


#: The (input, kernel) derivative algorithms that JAX's policy pairs with other values.
JAX_DERIVATIVE_PAIRS = [("phase", "correlation"), ("adjoint", "correlation"), ("native", "matmul"),
                        ("adjoint", "adjoint"), ("correlation", "correlation"),
                        ("matmul_rows", "matmul_rows")]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="derivatives from other paths: JAX's policy")
@pytest.mark.parametrize("for_input, for_kernel", JAX_DERIVATIVE_PAIRS)
@pytest.mark.parametrize("name, x_shape, w_shape, arguments, padding", CASES, ids=[c[0] for c in CASES])
def test_jax_derivatives_from_other_paths_match_finite_differences(
        name, x_shape, w_shape, arguments, padding, for_input, for_kernel, monkeypatch, assert_close,
        precision):
    # path="auto" with the policy's derivative choice replaced by each pair it uses
    # (and `correlation` for both), on every argument set of the finite-difference test.
    from keras_deconv._paths.policy import JaxPolicy

    monkeypatch.setattr(JaxPolicy, "derivative_paths", lambda *args, **kwargs: (for_input, for_kernel))
    check_gradients_against_finite_differences(name, x_shape, w_shape, arguments, padding, "auto",
                                               assert_close, precision)


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="forward-mode autodiff through path='auto' is a JAX concern")
@pytest.mark.parametrize("kernel_size, algorithms", [((3, 3), ("phase", "phase", "correlation")),
                                                     ((2, 2), ("matmul", "matmul_rows", "matmul_rows")),
                                                     ((3, 2, 3), ("depth_phases",) * 3)])
def test_jax_forward_and_reverse_mode_agree_where_values_and_derivatives_take_different_paths(
        kernel_size, algorithms, assert_close, precision):
    # On JAX, path="auto" takes its derivatives from other algorithms (a custom_jvp) for
    # 2D kernels, and computes 3D ones with 2D auto calls that do (depth_phases);
    # both modes of autodiff must give a plain path's Jacobian (matmul's).
    import jax

    from keras_deconv.ops import choose_path, derivative_paths

    rank = len(kernel_size)
    strides, dilation = (2,) * rank, (1,) * rank
    values = choose_path("jax", kernel_size, strides, dilation, 1, "float64")
    assert (values, *derivative_paths("jax", values, kernel_size, strides, dilation, 1, 100)) == algorithms
    rng = np.random.default_rng(3)
    with precision("float64"):
        x = jax.numpy.asarray(rng.standard_normal((1, *(3,) * rank, 2)))
        w = jax.numpy.asarray(rng.standard_normal((*kernel_size, 2, 2)))

        def op(path):
            return lambda a, b: conv_transpose(a, b, strides=2, padding="same", path=path)

        expected = jax.jacrev(op("matmul"), argnums=(0, 1))(x, w)
        for jacobian in (jax.jacfwd, jax.jacrev):
            got = jacobian(op("auto"), argnums=(0, 1))(x, w)
            for g, e in zip(got, expected):
                assert_close(g, e, err_msg=jacobian.__name__)
        # Second order: the op is bilinear, so d2/dx dw is the Jacobian's own derivative.
        hessian = jax.hessian(lambda a, b: jax.numpy.sum(op("auto")(a, b) ** 2), argnums=0)(x, w)
        hessian_plain = jax.hessian(lambda a, b: jax.numpy.sum(op("matmul")(a, b) ** 2), argnums=0)(x, w)
        assert_close(hessian, hessian_plain)
        # And under vmap (jacfwd and jacrev batch it; so do users).
        batched = jax.vmap(jax.grad(lambda a, b: jax.numpy.sum(op("auto")(a[None], b) ** 2), argnums=1),
                           in_axes=(0, None))(x, w)
        plain = jax.grad(lambda a, b: jax.numpy.sum(op("matmul")(a, b) ** 2), argnums=1)(x, w)
        assert_close(batched[0], plain)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's 3D derivatives fold the depth taps")
@pytest.mark.parametrize("depth_kernel, stride, dilation, depth_crops", [
    (3, 2, 1, (0, 1)), (2, 3, 2, (0, -1)), (3, 1, 2, (2, 2)),
    (1, 3, 1, (1, 1)),  # the window's rows lie between the taps: G is zero
])
def test_jax_3d_strided_convolution_by_depth_taps_equals_xla_3d(depth_kernel, stride, dilation, depth_crops,
                                                                 assert_close, precision):
    # The derivatives' strided convolution G, computed one 2D convolution per depth tap,
    # against XLA's own 3D convolution with the same arguments.
    import jax

    from keras_deconv._paths.correlation import strided_correlation

    rng = np.random.default_rng(5)
    strides, dilation_rate = (stride, 2, 1), (dilation, 1, 1)
    crops = (depth_crops, (0, 1), (1, 0))
    n, kernel_size = 2, (depth_kernel, 3, 2)
    full = [(n - 1) * s + (k - 1) * d + 1 for k, s, d in zip(kernel_size, strides, dilation_rate)]
    dy_shape = (1, *(f - b - a for f, (b, a) in zip(full, crops)), 3)
    with precision("float64"):
        dy = jax.numpy.asarray(rng.standard_normal(dy_shape))
        kernel = jax.numpy.asarray(rng.standard_normal((*kernel_size, 3, 2)))
        expected = jax.lax.conv_general_dilated(
            dy, kernel, window_strides=strides, padding=list(crops), rhs_dilation=dilation_rate,
            dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
        got = strided_correlation(dy, kernel, strides, dilation_rate, 1, crops)
        assert got.shape == expected.shape == (1, n, n, n, 2)
        assert_close(got, expected)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's kernel gradient in blocks")
@pytest.mark.parametrize("strides, dilation_rate, crops", [((2, 2), (1, 1), ((0, 1), (0, 1))),
                                                           ((2, 3), (2, 1), ((1, 2), (0, 0))),
                                                           ((1, 1), (1, 2), ((2, 2), (0, 3)))])
def test_jax_kernel_gradient_in_blocks_equals_one_convolution(strides, dilation_rate, crops, monkeypatch,
                                                              assert_close, precision):
    # correlation's kernel gradient with the batch and the channels cut into uneven
    # blocks (5 = 2 + 3), against one convolution, at a given cotangent.
    import importlib

    import jax

    # The module, not the function of the same name that keras_deconv._paths exports.
    correlation = importlib.import_module("keras_deconv._paths.correlation")
    rng = np.random.default_rng(11)
    with precision("float64"):
        x = jax.numpy.asarray(rng.standard_normal((5, 4, 5, 5)))
        kernel = jax.ShapeDtypeStruct((3, 2, 2, 5), x.dtype)
        dy_shape = correlation.result_shape(x, kernel, strides, dilation_rate, 1, crops)
        dy = jax.numpy.asarray(rng.standard_normal(dy_shape))
        whole = correlation._kernel_gradient(x, dy, kernel, strides, dilation_rate, 1, crops)
        monkeypatch.setattr(correlation, "kernel_gradient_block", lambda *args: 3)
        blocks = correlation._kernel_gradient(x, dy, kernel, strides, dilation_rate, 1, crops)
        assert whole.shape == blocks.shape == kernel.shape
        assert_close(blocks, whole)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's kernel gradient in blocks")
def test_jax_auto_gradients_where_the_policy_takes_blocks(monkeypatch, assert_close, precision):
    # The policy's own rule on a shape it applies to (a batch of 32 on a 32x32 plane,
    # k3 s2): path="auto"'s gradients against matmul's autodiff.
    import importlib

    import jax

    correlation = importlib.import_module("keras_deconv._paths.correlation")
    taken = []
    rule = correlation.kernel_gradient_block

    def recorded(*args):
        taken.append(rule(*args))
        return taken[-1]

    monkeypatch.setattr(correlation, "kernel_gradient_block", recorded)
    rng = np.random.default_rng(12)
    with precision("float64"):
        x = jax.numpy.asarray(rng.standard_normal((32, 32, 32, 3)))
        w = jax.numpy.asarray(rng.standard_normal((3, 3, 2, 3)))

        def loss(path):
            return lambda a, b: jax.numpy.sum(conv_transpose(a, b, strides=2, padding="same", path=path) ** 2)

        got = jax.grad(loss("auto"), argnums=(0, 1))(x, w)
        expected = jax.grad(loss("matmul"), argnums=(0, 1))(x, w)
    assert taken == [16]
    for g, e in zip(got, expected, strict=True):
        assert_close(g, e)


def test_kernel_gradient_block_rule():
    from keras_deconv._paths.correlation import kernel_gradient_block as rule

    assert rule((64, 64, 64, 64), (3, 3), (2, 2), (1, 1), 1) == 16  # a depth phase of the 64^3 volume
    assert rule((32, 16, 16, 128), (3, 3), (2, 2), (1, 1), 1) == 0  # a small plane
    assert rule((8, 64, 64, 64), (3, 3), (2, 2), (1, 1), 1) == 0  # a small batch
    assert rule((64, 64, 64, 64), (4, 4), (2, 2), (1, 1), 1) == 0  # merged phases
    assert rule((64, 64, 64, 64), (3, 3), (1, 1), (1, 1), 1) == 0  # stride 1
    assert rule((64, 64, 64, 64), (3, 3), (2, 2), (1, 1), 2) == 0  # grouped
    assert rule((None, 64, 64, 64), (3, 3), (2, 2), (1, 1), 1) == 0  # a symbolic batch
