"""Shape arithmetic of transposed convolutions, in pure Python.

Nothing here imports a backend: every function takes and returns plain
integers, tuples and strings, so it can be used (and tested) without Keras.

One definition governs every number the package produces::

    out[o] += x[i] * w[k]    with    o = i*stride + k*dilation - pad_before

For an input of length ``n``, the *full* output has length
``(n - 1) * stride + (kernel - 1) * dilation + 1``; a padding mode chooses
``pad_before`` (how much is cropped from the start of the full output) and the
output length (the end is cropped, or zero-padded when the output is longer).

- ``"valid"``: nothing cropped; the length is the full length plus
  ``output_padding`` (tf.keras's ``n*stride + max(k_eff - stride, 0)`` when
  ``output_padding`` is None).
- ``"same"``: length ``n * stride`` (or ``(n-1)*stride + k_eff % 2 +
  output_padding``); ``pad_before`` follows the forward-convolution 'same'
  rule on that length: ``max((n-1)*stride + k_eff - length, 0) // 2``.
- an int ``p`` (PyTorch's meaning): crop ``p`` from both ends of the full
  output, then add ``output_padding`` at the end.
- a pair ``(before, after)``: crop ``before`` and ``after``.
- ``"circular"``: the axis is periodic. The output has length ``L = n *
  stride`` and the full output folds onto it: ``out[(t - pad_before) mod L]
  += full[t]``, with the 'same' ``pad_before = max(k_eff - stride, 0) // 2``.
  Its interior equals 'same'; it is the exact adjoint of the circular
  strided convolution with that alignment. No ``output_padding``.

A tuple gives one entry per axis and may mix the modes: ``("same",
"circular")`` for a latitude x longitude grid.

>>> output_length(4, kernel_size=3, stride=2, padding="valid")
9
>>> output_length(4, kernel_size=3, stride=2, padding="same")
8
>>> output_length(4, kernel_size=3, stride=2, padding=(1, 1), output_padding=1)
8
>>> output_length_range(4, kernel_size=3, stride=2, padding=(1, 1))
(7, 8)
>>> pad_before(4, kernel_size=4, stride=2, padding="same", length=8)
1
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple

from keras_deconv.arguments import AxisPadding, Padding, axis_padding, axis_paddings, normalize_tuple


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Extent of a dilated kernel: ``(kernel_size - 1) * dilation + 1``.

    >>> effective_kernel_size(3, 2)
    5
    """
    return (kernel_size - 1) * dilation + 1


def full_output_length(input_length: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """Length of the uncropped output: ``(n - 1) * stride + k_eff``.

    >>> full_output_length(4, 3, stride=2)
    9
    """
    return (input_length - 1) * stride + effective_kernel_size(kernel_size, dilation)


def same_crop(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """Positions 'same' cuts off the full output in all: ``max(k_eff - stride, 0)``.

    The full output minus ``n * stride``; ``pad_before`` takes half of it
    (rounded down) off the start.

    >>> same_crop(3, stride=2), same_crop(3, stride=1, dilation=2), same_crop(2, stride=2)
    (1, 4, 0)
    """
    return max(effective_kernel_size(kernel_size, dilation) - stride, 0)


def output_length(
    input_length: Optional[int],
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    padding: AxisPadding = "valid",
    output_padding: Optional[int] = None,
) -> Optional[int]:
    """Output length along one axis (None when ``input_length`` is None).

    ``padding`` is "valid", "same", an int or a (before, after) pair.

    >>> output_length(5, 4, stride=2, padding="same")
    10
    >>> output_length(5, 4, stride=2, padding="same", output_padding=0)
    8
    >>> output_length(None, 3)
    """
    if input_length is None:
        return None
    k_eff = effective_kernel_size(kernel_size, dilation)
    padding = axis_padding(padding)
    if padding == "valid":
        if output_padding is None:
            return input_length * stride + same_crop(kernel_size, stride, dilation)
        return full_output_length(input_length, kernel_size, stride, dilation) + output_padding
    if padding == "same":
        if output_padding is None:
            return input_length * stride
        return (input_length - 1) * stride + k_eff % 2 + output_padding
    if padding == "circular":
        return input_length * stride
    assert not isinstance(padding, str)
    before, after = padding
    extra = output_padding or 0
    return full_output_length(input_length, kernel_size, stride, dilation) - before - after + extra


def output_length_range(
    input_length: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    padding: AxisPadding = "valid",
) -> Tuple[int, int]:
    """Inclusive range of output lengths that ``output_size`` may request.

    The lengths reachable with ``0 <= output_padding < max(stride, dilation)``,
    plus the default length (for "same" with an even kernel, ``n * stride``).

    >>> output_length_range(4, 3, stride=2, padding="same")
    (7, 8)
    >>> output_length_range(4, 4, stride=2, padding="same")
    (6, 8)
    >>> output_length_range(4, 4, stride=2, padding="circular")
    (8, 8)
    """
    if axis_padding(padding) == "circular":
        return input_length * stride, input_length * stride
    largest_pad = max(stride, dilation) - 1
    low = output_length(input_length, kernel_size, stride, dilation, padding, 0)
    high = output_length(input_length, kernel_size, stride, dilation, padding, largest_pad)
    default = output_length(input_length, kernel_size, stride, dilation, padding, None)
    assert low is not None and high is not None and default is not None
    return low, max(high, default)


def pad_before(
    input_length: Optional[int],
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    padding: AxisPadding = "valid",
    length: Optional[int] = None,
) -> int:
    """How much of the start of the full output is cropped.

    For "same" this is the forward-convolution 'same' rule applied to the
    output ``length``; it depends on ``length - (n - 1) * stride`` only, so an
    unknown ``input_length`` is fine when ``length`` is derived from it.

    >>> pad_before(4, 3, stride=2, padding="same", length=8)
    0
    >>> pad_before(4, 5, stride=1, padding="same", length=4)
    2
    """
    padding = axis_padding(padding)
    if padding == "valid":
        return 0
    if padding == "circular":
        return same_crop(kernel_size, stride, dilation) // 2
    if padding == "same":
        if input_length is None or length is None:
            raise ValueError("'same' padding needs the input and output lengths.")
        k_eff = effective_kernel_size(kernel_size, dilation)
        return max((input_length - 1) * stride + k_eff - length, 0) // 2
    assert not isinstance(padding, str)
    return padding[0]


def output_shape(
    input_shape: Sequence[Optional[int]],
    filters: int,
    kernel_size: Sequence[int],
    strides: Sequence[int],
    padding: Padding,
    output_padding: Optional[Sequence[int]],
    data_format: str,
    dilation_rate: Sequence[int],
    output_size: Optional[Sequence[int]] = None,
) -> Tuple[Optional[int], ...]:
    """Full output shape for a batched input shape (any number of batch axes).

    ``input_shape`` is ``batch_shape + spatial + (channels,)`` for
    channels_last and ``batch_shape + (channels,) + spatial`` for
    channels_first. Arguments must already be normalised.

    >>> output_shape((2, 4, 4, 3), 8, (3, 3), (2, 2), "same", None, "channels_last", (1, 1))
    (2, 8, 8, 8)
    """
    rank = len(kernel_size)
    input_shape = tuple(input_shape)
    if data_format == "channels_last":
        batch, spatial = input_shape[: -rank - 1], input_shape[-rank - 1 : -1]
    else:
        batch, spatial = input_shape[: -rank - 1], input_shape[-rank:]
    if output_size is not None:
        lengths: Tuple[Optional[int], ...] = tuple(output_size)
    else:
        paddings = axis_paddings(padding, rank)
        lengths = tuple(
            output_length(
                spatial[axis],
                kernel_size[axis],
                strides[axis],
                dilation_rate[axis],
                paddings[axis],
                None if output_padding is None else output_padding[axis],
            )
            for axis in range(rank)
        )
    if data_format == "channels_last":
        return tuple(batch) + lengths + (filters,)
    return tuple(batch) + (filters,) + lengths


def check_output_lengths(output_shape: Sequence[Optional[int]], rank: int, data_format: str,
                         received: str) -> None:
    """Raise when a padding crops away the whole output on some spatial axis.

    ``received`` is the "Received: ..." text naming the arguments.

    >>> check_output_lengths((1, 4, 2), 1, "channels_last", "padding=1")
    """
    spatial = output_shape[-rank - 1 : -1] if data_format == "channels_last" else output_shape[-rank:]
    for axis, length in enumerate(spatial):
        # Only known lengths: a symbolic one (jax.export) cannot be compared in Python.
        if isinstance(length, int) and length < 1:
            raise ValueError(
                f"The padding crops away the whole output on spatial axis {axis} "
                f"(output length {length}). Received: {received}"
            )


def check_output_size(
    output_size: Any,
    input_spatial: Sequence[Optional[int]],
    kernel_size: Sequence[int],
    strides: Sequence[int],
    padding: Padding,
    dilation_rate: Sequence[int],
) -> Tuple[int, ...]:
    """Validate a requested spatial ``output_size`` against the allowed ranges.

    >>> check_output_size(8, (4,), (3,), (2,), "same", (1,))
    (8,)
    """
    rank = len(kernel_size)
    sizes = normalize_tuple(output_size, rank, "output_size")
    paddings = axis_paddings(padding, rank)
    for axis in range(rank):
        n = input_spatial[axis]
        if n is None:
            raise ValueError(
                "`output_size` needs statically known spatial input sizes. "
                f"Received: output_size={output_size!r} for spatial input shape "
                f"{tuple(input_spatial)}"
            )
        low, high = output_length_range(
            n, kernel_size[axis], strides[axis], dilation_rate[axis], paddings[axis]
        )
        if not low <= sizes[axis] <= high:
            raise ValueError(
                f"`output_size` on spatial axis {axis} must lie in [{low}, {high}] for "
                f"input length {n}. Received: output_size={output_size!r}"
            )
    return sizes


def axis_geometry(
    input_length: Optional[int],
    kernel_size: int,
    stride: int,
    dilation: int,
    padding: AxisPadding,
    output_padding: Optional[int],
    requested_length: Optional[int] = None,
) -> Tuple[int, int]:
    """``(pad_before, pad_after)`` crops of the full output along one axis.

    ``pad_after`` is negative when the output extends past the full output
    (zeros there). Both are independent of ``input_length`` unless
    ``requested_length`` is given, so they exist for unknown lengths too.

    >>> axis_geometry(4, 3, 2, 1, "same", None)
    (0, 1)
    >>> axis_geometry(4, 1, 2, 1, "valid", None)
    (0, -1)
    """
    if axis_padding(padding) == "circular":
        # Crops of the full output of the input extended by circular_extension:
        # the window [pad_before + a*stride, ... + n*stride) (see circular_extension).
        a, b = circular_extension(kernel_size, stride, dilation)
        before = pad_before(None, kernel_size, stride, dilation, padding)
        return before + a * stride, (b - 1) * stride + effective_kernel_size(kernel_size, dilation) - before
    # Any length gives the same crops (see the docstring); 1 stands in for a length
    # that is unknown or symbolic (jax.export, torch.export), so the crops are ints.
    n = input_length if isinstance(input_length, int) else 1
    if requested_length is None:
        length = output_length(n, kernel_size, stride, dilation, padding, output_padding)
    else:
        length = requested_length
    assert length is not None
    before = pad_before(n, kernel_size, stride, dilation, padding, length)
    after = full_output_length(n, kernel_size, stride, dilation) - before - length
    return before, after


def conv_flops(
    input_spatial: Sequence[int], batch: int, in_channels: int, filters: int,
    kernel_size: Sequence[int], groups: int = 1,
) -> int:
    """Multiply-adds times two of a transposed convolution (full output).

    >>> conv_flops((16,), 1, 4, 8, (3,))
    3072
    """
    return 2 * batch * math.prod(input_spatial) * math.prod(kernel_size) * in_channels * filters // groups


def circular_extension(kernel_size: int, stride: int = 1, dilation: int = 1) -> Tuple[int, int]:
    """Rows ``(a, b)`` to wrap around a circular axis so that cropping computes the fold.

    Input row ``i`` reaches output positions ``i*stride .. i*stride + k_eff - 1``
    of the full output; the circular output is the window ``[pad_before,
    pad_before + n*stride)`` of the full output of the periodic input. The
    rows that reach that window are ``-a .. n - 1 + b``, with ``a = (k_eff - 1
    - pad_before) // stride`` and ``b = ceil(pad_before / stride)``: the
    input extended by its last ``a`` rows before and first ``b`` rows after,
    a static amount whatever ``n`` is. Each ``x[i] * w[k]`` then lands in the
    window exactly once (the window is one period long).

    >>> circular_extension(3, stride=2)  # k_eff 3, pad_before 0
    (1, 0)
    >>> circular_extension(4, stride=1, dilation=2)  # k_eff 7, pad_before 3
    (3, 3)
    """
    before = pad_before(None, kernel_size, stride, dilation, "circular")
    k_eff = effective_kernel_size(kernel_size, dilation)
    return (k_eff - 1 - before) // stride, -(-before // stride)


def circular_geometry(
    input_length: Optional[int], kernel_size: int, stride: int = 1, dilation: int = 1, fold: bool = True
) -> Tuple[Optional[Tuple[int, int]], Tuple[int, int], Optional[Tuple[int, int]]]:
    """How a circular axis is computed: ``(extension, crops, fold)``.

    - ``k_eff <= stride``: no tap wraps around; the 'same' crops (zeros past
      the full output), no extension, no fold.
    - With ``fold``, a known length with ``k_eff - stride <= n * stride``: the
      full output (crops ``(0, 0)``), then ``fold = (pad_before, n * stride)``:
      its ends are added onto the other ends (no extra arithmetic).
    - Otherwise (no ``fold``: the backend's policy, ``wraps_circular_inputs``;
      or a length unknown now, symbolic, or shorter than the wrap): the input
      extended by ``circular_extension`` rows and the crops of the window in
      its full output (a few rows of extra arithmetic).

    >>> circular_geometry(8, 3, 2)
    (None, (0, 0), (0, 16))
    >>> circular_geometry(None, 3, 2)
    ((1, 0), (2, 1), None)
    >>> circular_geometry(8, 2, 2)
    (None, (0, 0), None)
    >>> circular_geometry(8, 3, 2, fold=False)
    ((1, 0), (2, 1), None)
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    wrap = k_eff - stride
    if wrap <= 0:
        return None, (0, wrap), None
    before = pad_before(None, kernel_size, stride, dilation, "circular")
    if fold and isinstance(input_length, int) and wrap <= input_length * stride:
        return None, (0, 0), (before, input_length * stride)
    crops = axis_geometry(input_length, kernel_size, stride, dilation, "circular", None)
    return circular_extension(kernel_size, stride, dilation), crops, None


def forward_axis(input_length: Any, kernel_size: int, stride: int = 1, dilation: int = 1,
                 padding: AxisPadding = "valid") -> Tuple[Any, int, Any]:
    """``(pad_before, pad_after, output length)`` of a forward convolution along one axis.

    The forward definition is ``out[o] = sum_k x[o*stride + k*dilation -
    pad_before] * w[k]``, zeros outside the input ('circular': the index
    taken modulo the length). 'valid' pads nothing; 'same' gives
    ``ceil(n / stride)`` outputs and pads ``total // 2`` before, the rest
    after (tf.keras); 'circular' gives ``ceil(n / stride)`` outputs with the
    transposed circular alignment ``max(k_eff - stride, 0) // 2``, the same as
    'same' when the stride divides ``n``; ints and pairs pad zeros (PyTorch).

    ``pad_after`` is the zeros a 'valid' convolution of the padded input
    needs for exactly that many outputs: it may exceed the rows read, never
    fall short, so it is an int for any length. ``pad_before`` is None for
    'same' with a stride above 1 on a length unknown now (it depends on ``n
    mod stride``); the output length is None for an unknown (None) length.

    >>> forward_axis(8, 3, stride=2, padding="same")
    (0, 2, 4)
    >>> forward_axis(7, 3, stride=2, padding="same")
    (1, 1, 4)
    >>> forward_axis(10, 3, stride=1, dilation=2, padding="valid")
    (0, 0, 6)
    >>> forward_axis(None, 3, stride=2, padding="circular")
    (0, 2, None)
    >>> forward_axis(None, 1, stride=2, padding="same")  # a strided 1x1: nothing before, any n
    (0, 0, None)
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    padding = axis_padding(padding)
    if padding == "valid" or not isinstance(padding, str):
        low, high = (0, 0) if isinstance(padding, str) else padding
        length = None if input_length is None else (input_length + low + high - k_eff) // stride + 1
        return low, high, length
    length = None if input_length is None else (input_length + stride - 1) // stride
    before: Any
    if padding == "circular":
        before = same_crop(kernel_size, stride, dilation) // 2
    elif stride == 1:
        before = (k_eff - 1) // 2
    elif isinstance(input_length, int) and length is not None:
        before = max((length - 1) * stride + k_eff - input_length, 0) // 2
    elif k_eff <= 2:
        before = 0  # the total is at most k_eff - 1 <= 1 whatever n is: nothing before
    else:
        return None, k_eff - 1, length
    return before, k_eff - 1 - before, length
