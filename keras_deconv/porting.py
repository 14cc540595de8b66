"""Move weights between PyTorch's ``nn.ConvTranspose{1,2,3}d`` and these layers.

PyTorch stores a transposed-convolution weight as
``(in_channels, out_channels // groups, *kernel_size)``; this package stores
the kernel as ``kernel_size + (filters // groups, in_channels)``. Both follow
the same formula (``out[o] += x[i] * w[k]`` with ``o = i*stride + k*dilation -
padding``, no kernel flip), and both give output channel ``g * (filters //
groups) + j`` to group ``g``, so converting is a transpose of the axes and
nothing else. The bias is ``(out_channels,)`` on both sides.

Nothing here imports torch: the helpers take NumPy arrays (call
``weight.detach().cpu().numpy()`` first) or, for ``layer_from_torch``, any
object with the attributes of a ``ConvTranspose`` module.

>>> import numpy as np
>>> torch_weight = np.zeros((4, 3, 5, 2))        # in=4, out//groups=3, kernel (5, 2)
>>> kernel, bias = kernel_from_torch(torch_weight, np.zeros(6))
>>> kernel.shape, bias.shape
((5, 2, 3, 4), (6,))
>>> kernel_to_torch(kernel)[0].shape
(4, 3, 5, 2)
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np


def _check_array(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim not in (3, 4, 5):
        raise ValueError(
            f"`{name}` must have 3, 4 or 5 axes (a 1D, 2D or 3D transposed-convolution "
            f"weight). Received: {name} with shape {array.shape}"
        )
    return array


def _check_bias(bias: Any, filters: int) -> Optional[np.ndarray]:
    if bias is None:
        return None
    bias = np.asarray(bias)
    if bias.ndim != 1:
        raise ValueError(f"`bias` must have one axis. Received: bias with shape {bias.shape}")
    if bias.shape[0] % filters:
        # With groups the bias has groups * (filters // groups) entries; any
        # other length cannot belong to this weight.
        raise ValueError(
            f"The length of `bias` must be a multiple of {filters} (the weight's output "
            f"channels per group). Received: bias with shape {bias.shape}"
        )
    return bias


def kernel_from_torch(weight: Any, bias: Any = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Convert a PyTorch ``ConvTranspose`` weight (and bias) to this package's layout.

    Args:
        weight: array of shape ``(in_channels, out_channels // groups, *kernel_size)``.
        bias: optional array of shape ``(out_channels,)``; returned unchanged (as NumPy).

    Returns:
        ``(kernel, bias)`` with ``kernel`` of shape
        ``kernel_size + (out_channels // groups, in_channels)``.

    Raises:
        ValueError: when ``weight`` is not 3-, 4- or 5-dimensional, or ``bias``
            is not 1-dimensional with a length that fits the weight.

    >>> import numpy as np
    >>> weight = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # in=2, out=3, kernel=4
    >>> kernel, _ = kernel_from_torch(weight)
    >>> kernel.shape
    (4, 3, 2)
    >>> int(kernel[1, 2, 0]) == int(weight[0, 2, 1])
    True
    """
    weight = _check_array(weight, "weight")
    rank = weight.ndim - 2
    # (in, out, k1..kr) -> (k1..kr, out, in)
    kernel = np.transpose(weight, tuple(range(2, 2 + rank)) + (1, 0))
    return np.ascontiguousarray(kernel), _check_bias(bias, weight.shape[1])


def kernel_to_torch(kernel: Any, bias: Any = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Convert this package's kernel (and bias) to PyTorch's ``ConvTranspose`` layout.

    The inverse of ``kernel_from_torch``.

    Args:
        kernel: array of shape ``kernel_size + (filters // groups, in_channels)``.
        bias: optional array of shape ``(filters,)``; returned unchanged (as NumPy).

    Returns:
        ``(weight, bias)`` with ``weight`` of shape
        ``(in_channels, filters // groups, *kernel_size)``.

    Raises:
        ValueError: when ``kernel`` is not 3-, 4- or 5-dimensional, or ``bias``
            is not 1-dimensional with a length that fits the kernel.

    >>> import numpy as np
    >>> kernel = np.ones((3, 3, 8, 4))
    >>> weight, _ = kernel_to_torch(kernel)
    >>> weight.shape
    (4, 8, 3, 3)
    """
    kernel = _check_array(kernel, "kernel")
    rank = kernel.ndim - 2
    # (k1..kr, out, in) -> (in, out, k1..kr)
    weight = np.transpose(kernel, (rank + 1, rank) + tuple(range(rank)))
    return np.ascontiguousarray(weight), _check_bias(bias, kernel.shape[-2])


def _module_tuple(module: Any, name: str, rank: int) -> Tuple[int, ...]:
    value = getattr(module, name)
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(value)
    if len(value) != rank or not all(isinstance(item, int) for item in value):
        raise ValueError(
            f"The module's `{name}` must be an int or {rank} ints. Received: {name}={value!r}"
        )
    return value


def layer_arguments_from_torch(module: Any) -> dict:
    """The layer arguments that reproduce a PyTorch ``ConvTranspose`` module.

    ``module`` is a ``torch.nn.ConvTranspose{1,2,3}d`` or any object with its
    attributes (``weight``, ``in_channels``, ``out_channels``,
    ``kernel_size``, ``stride``, ``padding``, ``output_padding``, ``dilation``,
    ``groups``, ``bias``, ``padding_mode``). PyTorch's int padding crops from
    both ends of the output, which is what an int ``padding`` means here too;
    the data format is ``channels_first``, as in PyTorch.

    Raises:
        ValueError: for a ``padding_mode`` other than "zeros" (PyTorch accepts
            no other for transposed convolutions) or a malformed argument.

    >>> from types import SimpleNamespace
    >>> module = SimpleNamespace(
    ...     in_channels=4, out_channels=6, kernel_size=(3, 3), stride=(2, 2),
    ...     padding=(1, 0), output_padding=(1, 0), dilation=(1, 1), groups=2,
    ...     bias=None, padding_mode="zeros")
    >>> arguments = layer_arguments_from_torch(module)
    >>> arguments["padding"], arguments["output_padding"], arguments["use_bias"]
    ((1, 0), (1, 0), False)
    """
    kernel_size = tuple(module.kernel_size)
    rank = len(kernel_size)
    if rank not in (1, 2, 3):
        raise ValueError(
            f"The module must be a 1D, 2D or 3D transposed convolution. "
            f"Received: kernel_size={kernel_size!r}"
        )
    padding_mode = getattr(module, "padding_mode", "zeros")
    if padding_mode != "zeros":
        raise ValueError(
            f"Only padding_mode='zeros' can be ported. Received: padding_mode={padding_mode!r}"
        )
    return {
        "filters": int(module.out_channels),
        "kernel_size": kernel_size,
        "strides": _module_tuple(module, "stride", rank),
        "padding": _module_tuple(module, "padding", rank),
        "output_padding": _module_tuple(module, "output_padding", rank),
        "data_format": "channels_first",
        "dilation_rate": _module_tuple(module, "dilation", rank),
        "groups": int(module.groups),
        "use_bias": module.bias is not None,
    }


def _to_numpy(tensor: Any) -> np.ndarray:
    # A torch Parameter: leave autograd and the device behind without importing torch.
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().numpy()
    return np.asarray(tensor)


def layer_from_torch(module: Any, **kwargs: Any) -> Any:
    """Build this package's layer equal to a PyTorch ``ConvTranspose`` module, weights included.

    The layer is built for ``channels_first`` inputs of ``module.in_channels``
    channels and carries the module's weight and bias; ``kwargs`` go to the
    layer (a ``name``, an ``activation``, a ``dtype``...).

    Returns:
        A built ``keras_deconv.Conv{1,2,3}DTranspose``.

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> module = SimpleNamespace(
    ...     in_channels=2, out_channels=3, kernel_size=(4,), stride=(2,), padding=(1,),
    ...     output_padding=(0,), dilation=(1,), groups=1, padding_mode="zeros",
    ...     weight=np.ones((2, 3, 4), "float32"), bias=np.zeros(3, "float32"))
    >>> layer = layer_from_torch(module)
    >>> type(layer).__name__, tuple(layer.kernel.shape)
    ('Conv1DTranspose', (4, 3, 2))
    >>> layer.compute_output_shape((None, 2, 5))
    (None, 3, 10)
    """
    from keras_deconv.layers import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose

    arguments = layer_arguments_from_torch(module)
    rank = len(arguments["kernel_size"])
    layer_class = {1: Conv1DTranspose, 2: Conv2DTranspose, 3: Conv3DTranspose}[rank]
    layer = layer_class(**arguments, **kwargs)
    layer.build((None, int(module.in_channels)) + (None,) * rank)
    bias = None if module.bias is None else _to_numpy(module.bias)
    kernel, bias = kernel_from_torch(_to_numpy(module.weight), bias)
    layer.set_weights([kernel] if bias is None else [kernel, bias])
    return layer


def layer_to_torch_weights(layer: Any) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A built layer's ``(weight, bias)`` in PyTorch's layout (bias None without ``use_bias``).

    Copy them into a ``ConvTranspose`` module made with the same arguments
    (``module.weight.data = torch.from_numpy(weight)``).

    >>> import keras_deconv
    >>> layer = keras_deconv.Conv2DTranspose(6, 3, groups=2, data_format="channels_first")
    >>> layer.build((None, 4, 5, 5))
    >>> weight, bias = layer_to_torch_weights(layer)
    >>> weight.shape, bias.shape
    ((4, 3, 3, 3), (6,))
    """
    from keras import ops

    kernel = ops.convert_to_numpy(layer.kernel)
    bias = ops.convert_to_numpy(layer.bias) if layer.use_bias else None
    return kernel_to_torch(kernel, bias)
