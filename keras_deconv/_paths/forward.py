"""Forward convolutions, the adjoints of the transposed ones: ``keras_deconv.ops.conv``'s algorithms.

The contract (like the transposed paths', ``_paths/__init__.py``):

- signature ``path(x, kernel, strides, dilation_rate, groups, pads, options)``;
- ``x`` is channels_last with one batch axis, ``kernel`` has Keras's layout
  ``kernel_size + (channels // groups, filters)``;
- ``pads`` holds one ``(before, after)`` pair of ints per spatial axis: zeros
  to add before a 'valid' convolution (circular axes arrive wrapped around);
- the result is ``out[o] = sum_k xp[o*stride + k*dilation] * w[k]`` over the
  padded input ``xp``, channels_last, with the input's dtype.

Two algorithms:

- ``forward_native``: the backend's own convolution (``Options.forward``);
- ``forward_matmul``: every tap's strided window of the padded input, stacked,
  and one matrix product with the kernel (im2col); ``keras.ops`` only, so
  it runs every argument set and dtype on every backend.

>>> import numpy as np
>>> x = np.arange(5.0).reshape(1, 5, 1)
>>> w = np.ones((2, 1, 1))
>>> np.asarray(forward_matmul(x, w, (2,), (1,), 1, ((0, 0),)))[0, :, 0].tolist()
[1.0, 5.0]
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence, Tuple

from keras import ops

from keras_deconv._paths.common import _symbolic_on_jax, dynamic_shape, reshape
from keras_deconv._paths.options import DEFAULT, Options
from keras_deconv.arithmetic import effective_kernel_size

Pads = Sequence[Tuple[int, int]]


def forward_native(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
                   pads: Pads, options: Options = DEFAULT) -> Any:
    """The backend's own convolution (``options.forward``; see ``_paths/policy.py`` for which)."""
    if options.forward is None:
        raise ValueError("This backend has no native convolution for these arguments; "
                         "use path='auto' or 'matmul'. Received: path='native'")
    return options.forward(x, kernel, strides, dilation_rate, groups, pads)


def forward_matmul(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
                   pads: Pads, options: Options = DEFAULT) -> Any:
    """im2col: the strided window of every tap, stacked, times the kernel (see module doc)."""
    rank = len(strides)
    taps = tuple(kernel.shape[:rank])
    if any(before or after for before, after in pads):
        x = ops.pad(x, [(0, 0), *pads, (0, 0)])
    k_eff = [effective_kernel_size(k, d) for k, d in zip(taps, dilation_rate)]
    windows = []
    for tap in itertools.product(*(range(k) for k in taps)):
        # Tap t of an axis reads rows t*d, t*d + s, ...: as many as the outputs, whatever the length.
        starts = [t * d for t, d in zip(tap, dilation_rate)]
        ends = [start - (extent - 1) for start, extent in zip(starts, k_eff)]
        windows.append(strided_window(x, starts, ends, strides))
    patches = ops.stack(windows, axis=-2)  # (B, *out, T, C)
    channels, filters = kernel.shape[rank], kernel.shape[rank + 1]
    lead = "abde"[: rank + 1]  # leading axes spelled out: TF differentiates "..." einsums slowly
    if groups == 1:
        weights = ops.reshape(kernel, [-1, channels, filters])
        return ops.einsum(f"{lead}tc,tcf->{lead}f", patches, weights)
    shape = dynamic_shape(patches)
    patches = reshape(patches, [*shape[:-1], groups, channels])
    weights = ops.reshape(kernel, [-1, channels, groups, filters // groups])
    y = ops.einsum(f"{lead}tgc,tcgf->{lead}gf", patches, weights)
    return reshape(y, [*shape[:-2], filters])


def strided_window(x: Any, starts: Sequence[int], ends: Sequence[int], strides: Sequence[int]) -> Any:
    """``x[:, start:end:stride, ..., :]`` per spatial axis; ``end <= 0`` counts from the axis's end.

    Static bounds for any length. On JAX's symbolic sizes, ``lax.slice`` (an
    exporter lowers it; jnp's strided indexing becomes a gather there).
    """
    if _symbolic_on_jax(x.shape):
        from jax import lax

        limits = [x.shape[0], *(n + end for n, end in zip(x.shape[1:-1], ends)), x.shape[-1]]
        return lax.slice(x, (0, *starts, 0), limits, (1, *strides, 1))
    index = [slice(None)]
    index += [slice(start, end if end < 0 else None, stride)
              for start, end, stride in zip(starts, ends, strides)]
    return x[tuple(index + [slice(None)])]


def jax_conv(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
             pads: Pads) -> Any:
    """XLA's convolution, the pads inside it (``Options.forward`` on JAX)."""
    from jax import lax

    from keras_deconv._paths.correlation import lax_dimension_numbers, strided_correlation

    rank = len(strides)
    if rank == 3 and all(isinstance(n, int) for n in x.shape[1:-1]):
        # As 2D convolutions per depth tap: XLA's 3D ones are slower on CPU (_paths/correlation.py).
        return strided_correlation(x, kernel, strides, dilation_rate, groups, pads)
    return lax.conv_general_dilated(x, kernel, window_strides=tuple(strides),
                                    padding=[(before, after) for before, after in pads],
                                    rhs_dilation=tuple(dilation_rate),
                                    dimension_numbers=lax_dimension_numbers(rank), feature_group_count=groups)


def torch_forward_conv(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                       groups: int, pads: Pads) -> Any:
    """``F.conv{1,2,3}d`` on the channels_last memory layout (``Options.forward`` on torch)."""
    import torch.nn.functional as F

    from keras_deconv._paths.torch_crop import trailing_pads

    rank = len(strides)
    channels_first = x.contiguous().permute(0, rank + 1, *range(1, rank + 1))
    weight = kernel.permute(rank + 1, rank, *range(rank)).contiguous()  # (F, C/G, *k)
    symmetric = all(before == after for before, after in pads)
    if not symmetric:
        channels_first = F.pad(channels_first, trailing_pads(pads))
    padding = tuple(before if symmetric else 0 for before, _ in pads)
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    y = conv(channels_first, weight, stride=tuple(strides), padding=padding, dilation=tuple(dilation_rate),
             groups=groups)
    return y.permute(0, *range(2, rank + 2), 1)


def tensorflow_forward_conv(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                            groups: int, pads: Pads) -> Any:
    """``tf.nn.convolution``, one call per group (``Options.forward`` on TensorFlow).

    TF's CPU kernels have no 3D groups, and ``tf.nn.convolution`` refuses a
    stride together with a dilation: the policy sends those to ``forward_matmul``.
    """
    import tensorflow as tf

    from keras_deconv._paths.native import tensorflow_by_group

    if any(before or after for before, after in pads):
        x = tf.pad(x, [(0, 0), *pads, (0, 0)])

    # The layout named: an eager Conv3D recorded without it has no gradient (its data_format is None).
    data_format = ("NWC", "NHWC", "NDHWC")[len(strides) - 1]

    def one(x_group: Any, kernel_group: Any) -> Any:
        return tf.nn.convolution(x_group, kernel_group, strides=list(strides), padding="VALID",
                                 dilations=list(dilation_rate), data_format=data_format)

    if groups == 1:
        return one(x, kernel)
    # The kernel's filter blocks follow the groups; split both on their last axis.
    return tensorflow_by_group(one, x, kernel, groups)
