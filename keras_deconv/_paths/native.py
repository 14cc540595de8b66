"""Each backend's own transposed convolution, where it has one.

The backend module is imported inside the function that needs it, so this
file can be imported under any backend. Which backend has which op, and for
which arguments, is the policy's (``_paths/policy.py``).

- torch: ``torch.nn.functional.conv_transpose{1,2,3}d`` (strides, dilation,
  groups, complex). Symmetric crops go into torch's ``padding``.
- jax: ``jax.lax.conv_general_dilated`` with ``lhs_dilation`` (the op Keras
  uses; slow on CPU, kept for comparison and for accelerators).
- tensorflow: ``tf.nn.conv_transpose`` (channels_last; one call per group);
  TF's CPU kernels have no dilation, so only dilation 1 is taken, in
  float16/float32/float64.
- numpy: none.
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple

from keras_deconv._paths.common import crop_to_window, dynamic_shape, grouped_forward_kernel
from keras_deconv._paths.options import DEFAULT, Options, keras_conv
from keras_deconv.arithmetic import effective_kernel_size


def native(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
           crops: Sequence[Tuple[int, int]], options: Options = DEFAULT) -> Any:
    """Run the backend's own transposed convolution (``options.native``; see module doc)."""
    if options.native is None:
        raise ValueError("This backend has no native transposed convolution for these arguments; "
                         "use path='auto', 'matmul' or 'phase'. Received: path='native'")
    return options.native(x, kernel, strides, dilation_rate, groups, crops)


def torch_conv_transpose(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                         groups: int, crops: Sequence[Tuple[int, int]]) -> Any:
    import torch.nn.functional as F

    from keras_deconv._paths.torch_crop import crop_pads, torch_crop

    rank = len(strides)
    if rank == 1:
        # As a 2D op over a height of 1: the permuted channels_last input is
        # then torch's channels_last memory format, which its CPU kernels run
        # without a layout change (forward+backward 0.83x conv_transpose1d's
        # time on the audio benchmark case, against 1.2x through conv_transpose1d).
        y = torch_conv_transpose(x[:, None], kernel[None], (1, *strides), (1, *dilation_rate), groups,
                                 ((0, 0), *crops))
        return y[:, 0]
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
    # Torch crops the same amount from both ends; the rest is cropped after.
    padding = [max(min(before, after), 0) for before, after in crops]
    # Torch's CPU kernels run channels_last memory fastest: a contiguous
    # channels_last tensor, permuted, is that layout. (A channels_first input
    # comes as a permuted view and is copied once; no memory-format query,
    # which torch.func.vmap cannot answer.)
    channels_first = x.contiguous().permute(0, rank + 1, *range(1, rank + 1))
    # contiguous: torch's backward refuses a strided view as the weight.
    weight = kernel.permute(rank + 1, rank, *range(rank)).contiguous()  # (C, F/G, *k)
    y = conv(channels_first, weight, stride=tuple(strides), padding=tuple(padding),
             dilation=tuple(dilation_rate), groups=groups)
    y = y.permute(0, *range(2, rank + 2), 1)
    # The rest: a view where it is a crop (torch_crop: its gradient one pad),
    # else one pad (negative crops, positive pads with zeros).
    rest = [(before - p, after - p) for (before, after), p in zip(crops, padding)]
    if all(before >= 0 and after >= 0 for before, after in rest):
        return torch_crop(y, rest)
    return F.pad(y, [-pad for pad in crop_pads(rest)])


def jax_conv_transpose(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                       groups: int, crops: Sequence[Tuple[int, int]]) -> Any:
    from jax import lax

    from keras_deconv._paths.correlation import lax_dimension_numbers

    rank = len(strides)
    forward_kernel = grouped_forward_kernel(kernel, groups)
    flipped = lax.rev(forward_kernel, tuple(range(rank)))
    k_eff = [effective_kernel_size(k, d) for k, d in zip(kernel.shape[:rank], dilation_rate)]
    # A transposed convolution is a forward one over the input dilated by the
    # stride and padded by k_eff - 1, minus the crops (negative pads crop).
    padding = [(k - 1 - before, k - 1 - after) for k, (before, after) in zip(k_eff, crops)]
    return lax.conv_general_dilated(
        x, flipped, window_strides=(1,) * rank, padding=padding,
        lhs_dilation=tuple(strides), rhs_dilation=tuple(dilation_rate),
        dimension_numbers=lax_dimension_numbers(rank), feature_group_count=groups,
    )


def tensorflow_conv_transpose(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                              groups: int, crops: Sequence[Tuple[int, int]]) -> Any:
    import tensorflow as tf

    if groups > 1:
        # TF's CPU kernels have no groups.
        return tensorflow_by_group(
            lambda x_group, kernel_group: tensorflow_conv_transpose(x_group, kernel_group, strides,
                                                                    dilation_rate, 1, crops),
            x, kernel, groups)
    rank = len(strides)
    shape = dynamic_shape(x)
    taps = kernel.shape[:rank]
    cropped = [k - before - after for k, (before, after) in zip(taps, crops)]
    # TF's "SAME" crops max(total, 0) // 2 before, the rest after, and needs the
    # output length L to satisfy ceil(L / stride) == n (else it aborts): use it
    # when the crops are exactly that, and crop a "VALID" result otherwise.
    same = all(after - before in (0, 1) and 0 < c <= s
               for (before, after), c, s in zip(crops, cropped, strides))
    lengths = [(n - 1) * s + (c if same else k) for n, s, k, c in zip(shape[1:-1], strides, taps, cropped)]
    output_shape = tf.stack([shape[0], *lengths, kernel.shape[rank]])
    padding = "SAME" if same else "VALID"
    y = tf.nn.conv_transpose(x, kernel, output_shape, strides=list(strides), padding=padding)
    return y if same else crop_to_window(y, crops, [0] * rank)


def tensorflow_by_group(function: Any, x: Any, kernel: Any, groups: int) -> Any:
    """``function(x_group, kernel_group)`` per group, joined on channels (TensorFlow).

    ``x`` and ``kernel`` split into ``groups`` equal blocks on their last axis.
    Split, not sliced: a strided slice's gradient is a zero-filled input-sized
    tensor per group; a split's is one concatenation.
    """
    import tensorflow as tf

    parts = zip(tf.split(x, groups, axis=-1), tf.split(kernel, groups, axis=-1))
    return tf.concat([function(x_group, kernel_group) for x_group, kernel_group in parts], axis=-1)


def torch_conv(x: Any, kernel: Any, padding: str, dilation_rate: Tuple[int, ...]) -> Any:
    """A stride-1 channels_last convolution on torch (``Options.conv``), kernel ``(*k, C/G, F)``.

    ``F.conv{1,2,3}d`` on the channels_last memory layout, without
    ``keras.ops.conv``'s memory-format conversion, which torch.func.vmap
    cannot run. 'same' pads ``total // 2`` before, the rest after.
    """
    import torch.nn.functional as F

    from keras_deconv._paths.torch_crop import trailing_pads

    rank = len(dilation_rate)
    groups = x.shape[-1] // kernel.shape[-2]
    channels_first = x.contiguous().permute(0, rank + 1, *range(1, rank + 1))
    weight = kernel.permute(rank + 1, rank, *range(rank)).contiguous()  # (F, C/G, *k)
    pads = [0] * rank
    if padding == "same":
        totals = [(k - 1) * d for k, d in zip(kernel.shape[:rank], dilation_rate)]
        if any(total % 2 for total in totals):
            channels_first = F.pad(channels_first, trailing_pads([(t // 2, t - t // 2) for t in totals]))
        else:
            pads = [total // 2 for total in totals]
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    y = conv(channels_first, weight, padding=tuple(pads), dilation=tuple(dilation_rate), groups=groups)
    return y.permute(0, *range(2, rank + 2), 1)


def tensorflow_conv_by_group(x: Any, kernel: Any, padding: str, dilation_rate: Tuple[int, ...]) -> Any:
    """``Options.conv`` on TensorFlow's CPU: Keras's convolution, one call per group.

    TF's grouped convolution gradient is slow on CPU (rule T6, docs/rules.md).
    """
    groups = x.shape[-1] // kernel.shape[-2]
    if groups == 1:
        return keras_conv(x, kernel, padding, dilation_rate)

    def one(part: Any, group_kernel: Any) -> Any:
        return keras_conv(part, group_kernel, padding, dilation_rate)

    return tensorflow_by_group(one, x, kernel, groups)
