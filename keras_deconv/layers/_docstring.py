"""The docstrings of Conv1D/2D/3DTranspose and Conv1D/2D/3D, filled in per rank."""

_TEMPLATE = """{rank}D transposed convolution ("deconvolution"), the same on every backend.

Computes ``out[o] += x[i] * w[k]`` with ``o = i*stride + k*dilation -
pad_before`` on each of the {rank} spatial axes (no kernel flip), then adds
the bias and applies the activation. The numbers agree across JAX, PyTorch,
TensorFlow and NumPy for every argument combination below.

Args:
    filters: int, the number of output channels.
    kernel_size: int or tuple of {rank} ints.
    strides: int or tuple of {rank} ints. May be combined with dilation.
    padding: ``"valid"`` or ``"same"`` (case-insensitive, as tf.keras),
        ``"circular"`` (periodic axes: length ``n * stride``, the full output
        wrapped around), an int or tuple of {rank} ints ``p`` (crop ``p`` from
        both ends of the full output, as PyTorch), or a tuple of {rank}
        entries mixing modes, ints and ``(before, after)`` pairs.
    output_padding: None, or int or tuple of {rank} ints, each smaller than
        ``max(stride, dilation)`` of its axis (PyTorch's rule): extra length
        at the end of the output. None infers the length (see Output shape).
    data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
        ``keras.config.image_data_format()``.
    dilation_rate: int or tuple of {rank} ints.
    groups: int; input channels and ``filters`` must both divide by it.
        Input channel group ``g`` feeds filters ``g*filters/groups`` to
        ``(g+1)*filters/groups - 1``.
    activation: activation function or name; None for linear.
    use_bias: bool, whether to add a bias of shape ``(filters,)``.
    kernel_initializer: initializer of the kernel (name or object);
        ``"checkerboard_free"`` starts the layer as a nearest-neighbour
        up-sampling of a stride-1 convolution (no checkerboard; see
        ``keras_deconv.initializers.CheckerboardFree``), and needs kernel
        sizes that are multiples of the strides and no dilation.
    bias_initializer: initializer of the bias (name or object).
    kernel_regularizer: regularizer of the kernel.
    bias_regularizer: regularizer of the bias.
    activity_regularizer: regularizer of the output.
    kernel_constraint: constraint applied to the kernel after each update.
    bias_constraint: constraint applied to the bias after each update.
    **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...),
        and ``lora_rank``/``lora_alpha``: when ``lora_rank`` is set, ``build``
        enables LoRA (see ``enable_lora``), as Keras's ``Conv`` layers do.

Call arguments:
    inputs: the input tensor (see Input shape).
    output_size: optional int or tuple of {rank} ints, the spatial output
        size to produce (as PyTorch's ``output_size``); it must lie in the
        range the arguments allow
        (``keras_deconv.arithmetic.output_length_range``) and replaces
        ``output_padding``.

Input shape:
    ``batch_shape + {spatial} + (channels,)`` for channels_last,
    ``batch_shape + (channels,) + {spatial}`` for channels_first;
    ``batch_shape`` is one or more axes.

Output shape:
    The same layout with ``filters`` channels. Per axis, with ``k_eff =
    (kernel_size - 1) * dilation + 1``: "valid" gives
    ``(n - 1) * stride + k_eff + output_padding`` (``n * stride +
    max(k_eff - stride, 0)`` when output_padding is None); "same" gives
    ``(n - 1) * stride + k_eff % 2 + output_padding`` (``n * stride`` when
    None); an int ``p`` gives ``(n - 1) * stride + k_eff - 2p +
    output_padding``.

Kernel shape:
    ``kernel_size + (filters // groups, channels)`` (the Keras layout).

Returns:
    A tensor of rank ``len(batch_shape) + {rank} + 1``:
    ``activation(conv_transpose(inputs, kernel) + bias)``.

Raises:
    ValueError: for non-positive sizes, wrong tuple lengths, unknown padding
        or data_format, negative padding, output_padding out of range,
        filters or channels not divisible by groups, an unknown channel axis,
        an output_size out of range, or a padding that crops the whole
        output. Each message names the argument and the received value.
    TypeError: for arguments of the wrong type.

Example:

>>> import numpy as np
>>> import keras_deconv
>>> x = np.random.rand({example_input}).astype("float32")
>>> layer = keras_deconv.Conv{rank}DTranspose(8, 3, strides=2, padding="same")
>>> tuple(layer(x).shape)
({example_output})
"""

_SPATIAL = {1: "(steps,)", 2: "(rows, cols)", 3: "(depth, rows, cols)"}
_EXAMPLES = {
    1: ("4, 10, 3", "4, 20, 8"),
    2: ("4, 10, 12, 3", "4, 20, 24, 8"),
    3: ("2, 6, 8, 10, 3", "2, 12, 16, 20, 8"),
}


def layer_docstring(rank: int) -> str:
    """The full class docstring for the rank-``rank`` layer."""
    example_input, example_output = _EXAMPLES[rank]
    return _TEMPLATE.format(
        rank=rank, spatial=_SPATIAL[rank], example_input=example_input, example_output=example_output
    )


_FORWARD_TEMPLATE = """{rank}D convolution, the same on every backend, real or complex.

Computes ``out[o] = sum_k x[o*stride + k*dilation - pad_before] * w[k]`` on
each of the {rank} spatial axes, then adds the bias and applies the
activation: the exact adjoint of ``Conv{rank}DTranspose`` with the same
kernel (``keras_deconv.ops.conv``).

Args:
    filters: int, the number of output channels.
    kernel_size: int or tuple of {rank} ints.
    strides: int or tuple of {rank} ints. May be combined with dilation.
    padding: ``"valid"``, ``"same"`` (tf.keras's zeros, ``ceil(n / stride)``
        outputs), ``"circular"`` (periodic axes), an int or tuple of {rank}
        ints (zeros on both ends, as PyTorch), or a tuple of {rank} entries
        mixing modes, ints and ``(before, after)`` pairs.
    data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
        ``keras.config.image_data_format()``.
    dilation_rate: int or tuple of {rank} ints.
    groups: int; input channels and ``filters`` must both divide by it.
    activation: activation function or name; None for linear. Complex
        layers take ``"complex_relu"``, ``"cardioid"`` or a function of your
        own; Keras's real activations raise for them.
    use_bias: bool, whether to add a bias of shape ``(filters,)``.
    kernel_initializer: initializer of the kernel (name or object); for
        complex dtypes the variance-scaling names draw complex kernels.
    bias_initializer: initializer of the bias (name or object).
    kernel_regularizer: regularizer of the kernel.
    bias_regularizer: regularizer of the bias.
    activity_regularizer: regularizer of the output.
    kernel_constraint: constraint applied to the kernel after each update.
    bias_constraint: constraint applied to the bias after each update.
    **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``:
        ``"complex64"`` or ``"complex128"`` for complex layers), and
        ``lora_rank``/``lora_alpha`` (see ``enable_lora``).

Input shape:
    ``batch_shape + {spatial} + (channels,)`` for channels_last,
    ``batch_shape + (channels,) + {spatial}`` for channels_first;
    ``batch_shape`` is one or more axes.

Output shape:
    The same layout with ``filters`` channels. Per axis, with ``k_eff =
    (kernel_size - 1) * dilation + 1``: "valid" gives ``floor((n - k_eff) /
    stride) + 1``; "same" and "circular" ``ceil(n / stride)``; an int ``p``
    ``floor((n + 2p - k_eff) / stride) + 1``.

Kernel shape:
    ``kernel_size + (channels // groups, filters)`` (Keras's layout). A
    complex layer stores it as real parts with one more axis of 2;
    ``kernel_value`` gives the complex kernel.

Returns:
    A tensor of rank ``len(batch_shape) + {rank} + 1``:
    ``activation(conv(inputs, kernel) + bias)``.

Raises:
    ValueError: for non-positive sizes, wrong tuple lengths, unknown padding
        or data_format, negative padding, channels or filters not divisible
        by groups, an unknown channel axis, a real Keras activation on a
        complex layer, or an empty output. Each message names the argument
        and the received value.
    TypeError: for arguments of the wrong type.

Example:

>>> import numpy as np
>>> import keras_deconv
>>> x = np.random.rand({example_input}).astype("float32")
>>> layer = keras_deconv.Conv{rank}D(8, 3, strides=2, padding="same")
>>> tuple(layer(x).shape)
({example_output})
"""

_FORWARD_EXAMPLES = {
    1: ("4, 10, 3", "4, 5, 8"),
    2: ("4, 10, 12, 3", "4, 5, 6, 8"),
    3: ("2, 6, 8, 10, 3", "2, 3, 4, 5, 8"),
}


def forward_layer_docstring(rank: int) -> str:
    """The full class docstring for the rank-``rank`` forward layer."""
    example_input, example_output = _FORWARD_EXAMPLES[rank]
    return _FORWARD_TEMPLATE.format(
        rank=rank, spatial=_SPATIAL[rank], example_input=example_input, example_output=example_output
    )
