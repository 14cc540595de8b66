"""``conv``: the forward convolution, the exact adjoint of ``conv_transpose`` with the same kernel.

Public as ``keras_deconv.ops.conv``. With ``x`` of the transposed output's
shape and ``y`` of its input's, and the same kernel, strides, padding,
dilation and groups::

    sum(conv_transpose(y, w) * x) == sum(y * conv(x, w))

The product is bilinear, not conjugated: for complex tensors the Hermitian
adjoint of ``conv_transpose(., w)`` is ``conv(., conj(w))``.

>>> import numpy as np
>>> from keras_deconv.ops import conv, conv_transpose
>>> x = np.random.rand(2, 8, 8, 4).astype("float32")
>>> y = np.random.rand(2, 4, 4, 6).astype("float32")
>>> w = np.random.rand(3, 3, 4, 6).astype("float32")  # kernel_size + (channels, filters)
>>> tuple(conv(x, w, strides=2, padding="same").shape)
(2, 4, 4, 6)
>>> left = np.sum(np.asarray(conv_transpose(y, w, strides=2, padding="same")) * x)
>>> right = np.sum(y * np.asarray(conv(x, w, strides=2, padding="same")))
>>> bool(np.isclose(left, right, rtol=1e-4))
True
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence, Tuple

import keras
from keras import ops

from keras_deconv import arguments
from keras_deconv._paths import complex as complex_paths
from keras_deconv._paths import policy
from keras_deconv._paths.common import (
    _symbolic_on_jax,
    as_tensors,
    channels_first,
    channels_last,
    dynamic_shape,
    flatten_batch,
    wrap_around,
)
from keras_deconv._paths.forward import forward_matmul, forward_native
from keras_deconv._paths.options import Options
from keras_deconv.arithmetic import effective_kernel_size
from keras_deconv.complex_weights import is_complex_dtype
from keras_deconv.plan import ConvPlan, plan_conv

#: The forward algorithms by ``path=`` name.
FORWARD_PATHS = {"matmul": forward_matmul, "native": forward_native}

#: Accepted values of ``path``.
FORWARD_PATH_NAMES = ("auto",) + tuple(FORWARD_PATHS)


class Conv(keras.Operation):
    """The symbolic form of ``conv`` (for ``keras.Input`` tensors)."""

    def __init__(self, strides: Any = 1, padding: Any = "valid", data_format: Optional[str] = None,
                 dilation_rate: Any = 1, groups: int = 1, path: str = "auto",
                 name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.strides = strides
        self.padding = padding
        self.data_format = data_format
        self.dilation_rate = dilation_rate
        self.groups = groups
        self.path = path

    def _plan(self, inputs: Any, kernel: Any) -> ConvPlan:
        return _plan(tuple(inputs.shape), tuple(kernel.shape), strides=self.strides, padding=self.padding,
                     data_format=self.data_format, dilation_rate=self.dilation_rate, groups=self.groups)

    def call(self, inputs: Any, kernel: Any) -> Any:
        inputs, kernel = as_tensors(inputs, kernel)
        return _run(inputs, kernel, self._plan(inputs, kernel), _check_path(self.path))

    def compute_output_spec(self, inputs: Any, kernel: Any) -> Any:
        _check_path(self.path)
        return keras.KerasTensor(self._plan(inputs, kernel).output_shape, dtype=inputs.dtype)


def conv(inputs: Any, kernel: Any, strides: Any = 1, padding: Any = "valid",
         data_format: Optional[str] = None, dilation_rate: Any = 1, groups: int = 1,
         path: str = "auto") -> Any:
    """Convolution ``out[o] = sum_k x[o*stride + k*dilation - pad_before] * w[k]``, the same on every backend.

    Args:
        inputs: tensor ``batch_shape + spatial + (channels,)`` (channels_last)
            or ``batch_shape + (channels,) + spatial`` (channels_first), with
            one or more batch axes; real or complex.
        kernel: tensor ``kernel_size + (channels // groups, filters)`` (Keras's
            Conv layout, and ``conv_transpose``'s kernel read from the other side).
        strides: int or tuple, one per spatial axis.
        padding: "valid"; "same" (``ceil(n / stride)`` outputs, tf.keras's
            zeros); "circular" (periodic axes, ``ceil(n / stride)`` outputs);
            an int or tuple of ints (zeros on both ends, as PyTorch); or a
            tuple with one mode, int or ``(before, after)`` pair per axis.
            On a length known only at run time, "same" with a stride reads
            it then; a dilated kernel of extent 3 or more that is shorter
            than the stride needs a known length (a clear error otherwise).
        data_format: "channels_last" or "channels_first" (default: Keras's
            image data format).
        dilation_rate: int or tuple; may be combined with strides.
        groups: number of groups; channels and filters must divide by it.
        path: "auto", "native" (the backend's own convolution, where it runs
            the arguments) or "matmul" (im2col, everywhere).

    Returns:
        The output tensor, with the input's dtype and layout.

    Raises:
        ValueError: on invalid arguments or shapes, naming the argument.
        TypeError: on arguments of the wrong type.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 9, 9, 4).astype("float32")
    >>> w = np.random.rand(3, 3, 2, 6).astype("float32")
    >>> tuple(conv(x, w, strides=2, padding="same", groups=2).shape)
    (2, 5, 5, 6)
    """
    if isinstance(inputs, keras.KerasTensor) or isinstance(kernel, keras.KerasTensor):
        return Conv(strides=strides, padding=padding, data_format=data_format, dilation_rate=dilation_rate,
                    groups=groups, path=path)(inputs, kernel)
    path = _check_path(path)
    inputs, kernel = as_tensors(inputs, kernel)
    plan = _plan(tuple(inputs.shape), tuple(kernel.shape), strides=strides, padding=padding,
                 data_format=data_format, dilation_rate=dilation_rate, groups=groups)
    return _run(inputs, kernel, plan, path)


def forward_path(backend: str, strides: Sequence[int], dilation_rate: Sequence[int], dtype: str) -> str:
    """The algorithm ``conv(path="auto")`` runs on ``backend``: ``native`` where it runs, else ``matmul``.

    >>> forward_path("tensorflow", (2, 2), (2, 2), "float32")
    'matmul'
    >>> forward_path("torch", (2, 2), (2, 2), "float32")
    'native'
    """
    return policy.for_backend(backend).forward_auto(strides, dilation_rate, dtype)


def _plan(input_shape: Tuple[Any, ...], kernel_shape: Tuple[Any, ...], **kwargs: Any) -> ConvPlan:
    """``plan_conv`` with Keras's image data format as the default."""
    kwargs["data_format"] = arguments.normalize_data_format(kwargs["data_format"],
                                                            keras.config.image_data_format())
    return plan_conv(input_shape, kernel_shape, **kwargs)


def _check_path(path: str) -> str:
    if path not in FORWARD_PATH_NAMES:
        raise ValueError(f"`path` must be one of {FORWARD_PATH_NAMES}. Received: path={path!r}")
    return path


def _run(inputs: Any, kernel: Any, plan: ConvPlan, path: str) -> Any:
    """Run a plan: to channels_last with one batch axis, pad or wrap, the path, then back."""
    rank = plan.rank
    if 0 in plan.batch_shape:
        return ops.zeros(plan.output_shape, dtype=inputs.dtype)
    rules = policy.current()
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    supported = rules.forward_supports(plan.strides, plan.dilation_rate, dtype)
    if path == "native" and not supported:
        raise ValueError(
            f"The {rules.name!r} backend has no native convolution for strides={plan.strides}, "
            f"dilation_rate={plan.dilation_rate}, dtype={dtype}; use path='auto' or 'matmul'. "
            "Received: path='native'"
        )
    if path == "auto":
        path = rules.forward_auto(plan.strides, plan.dilation_rate, dtype, _symbolic_on_jax(inputs.shape))
    x = inputs
    lead = len(plan.batch_shape)
    if plan.data_format == "channels_first":
        x = channels_last(x, lead, rank)
    x, restore_batch = flatten_batch(x, lead, rank)
    x, pads = _pad_unknown_and_circular(x, plan)
    algorithm = FORWARD_PATHS[path]
    args = (plan.strides, plan.dilation_rate, plan.groups, pads, _options(rules.name))
    if is_complex_dtype(dtype) and not rules.forward_runs_complex(path, dtype):
        # No complex kernels here: four real products in one call (_paths/complex.py).
        y = complex_paths.complex_conv(algorithm, x, kernel, *args)
    else:
        y = algorithm(x, kernel, *args)
    y = restore_batch(y)
    if plan.data_format == "channels_first":
        y = channels_first(y, lead, rank)
    return y


@functools.cache
def _options(backend: str) -> Options:
    """The forward paths' options on ``backend``: its own convolution (``Options.forward``), built once."""
    return Options(forward=policy.for_backend(backend).forward())


def _pad_unknown_and_circular(x: Any, plan: ConvPlan) -> Tuple[Any, Tuple[Tuple[int, int], ...]]:
    """Wrap circular axes around and pad 'same' axes of unknown length; the zeros left to the path.

    A 'same' axis with a stride, whose length is unknown now, pads
    ``total // 2`` before, where ``total`` depends on the length modulo the
    stride (``arithmetic.forward_axis``): the most it can be is padded and the
    excess cut off, with sizes computed from the run-time length.
    """
    x = wrap_around(x, [pair if periodic else None for pair, periodic in zip(plan.pads, plan.circular)])
    pads = []
    for axis, ((before, after), periodic) in enumerate(zip(plan.pads, plan.circular)):
        if before is None:
            x = _same_window(x, 1 + axis, plan.kernel_size[axis], plan.strides[axis],
                             plan.dilation_rate[axis])
        pads.append((0, 0) if periodic or before is None else (before, after))
    return x, tuple(pads)


def _same_window(x: Any, dim: int, kernel_size: int, stride: int, dilation: int) -> Any:
    """'same''s zeros on axis ``dim`` of unknown length ``n``: ``total // 2`` before, the rest after."""
    k_eff = effective_kernel_size(kernel_size, dilation)
    if k_eff < stride:
        raise ValueError(
            "padding='same' on an axis of unknown length needs a dilated kernel at least as long as the "
            f"stride. Received: kernel_size={kernel_size}, dilation_rate={dilation}, strides={stride}"
        )
    n = dynamic_shape(x)[dim]
    # The window holds exactly ceil(n / s) strides: written so, JAX's symbolic sizes simplify
    # downstream (a length that only equals it, such as n + total, leaves comparisons inconclusive).
    length = ((n + stride - 1) // stride - 1) * stride + k_eff
    total = length - n  # never negative here (k_eff >= stride)
    most = (k_eff - 1) // 2
    widths = [(0, 0)] * len(x.shape)
    widths[dim] = (most, k_eff - 1)
    padded = ops.pad(x, widths)
    return _window(padded, dim, most - total // 2, length)


def _window(x: Any, dim: int, start: Any, length: Any) -> Any:
    """``length`` rows of axis ``dim`` from ``start``, both known only at run time."""
    module = type(x).__module__
    if module.startswith("tensorflow"):
        # A strided slice keeps the other axes' static sizes (tf.slice with tensor sizes loses them,
        # and then LiteRT's converter keeps the convolution as a TF op and tf2onnx mis-shapes it).
        index = [slice(None)] * len(x.shape)
        index[dim] = slice(start, start + length)
        return x[tuple(index)]
    if module.startswith("torch"):
        return x.narrow(dim, start, length)
    from jax import lax

    return lax.slice_in_dim(x, start, start + length, axis=dim)
