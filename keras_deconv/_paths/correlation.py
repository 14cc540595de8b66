"""JAX only: the transposed convolution written so that its derivatives are strided convolutions.

A transposed convolution ``T(x, w)`` is, in ``x``, the adjoint of a strided
forward convolution ``G(dy, w)`` (window strides = the strides, kernel dilation =
the dilation, padding = the crops): ``<T(x, w), dy> == <x, G(dy, w)>``. So:

- the input gradient of ``T`` at cotangent ``dy`` is ``G(dy, w)``;
- the kernel gradient of ``T`` at ``dy`` equals the kernel gradient of ``G`` at
  cotangent ``x``, which XLA computes as one convolution-shaped correlation of
  ``dy`` with ``x``.

Two algorithms here compute the values of ``T(x, w)`` (the path contract of
``_paths/__init__.py``) as transposes, so that JAX's reverse mode, transposing
them back, runs those convolutions:

- ``adjoint``: the transpose of ``dy -> G(dy, w)``; its input derivative is ``G``;
- ``correlation``: the transpose of ``dy -> d<x, G(dy, w)>/dw``; its kernel
  derivative is that correlation.

Their own values are slow: the policy uses them only for derivatives
(``JaxPolicy.derivative_paths``), never for values. On a 2-core CPU, the
benchmark's 2D k4 s2 kernel gradient took 15 ms through ``correlation``,
against 33 ms for the autodiff of ``matmul`` and 37 ms for that of ``phase``.

XLA's 3D convolutions on CPU are slower than its 2D ones, so a 3D ``G`` is
computed as one 2D strided convolution per depth tap, with the depth rows that
tap reads folded into the batch (``_depth_taps``): 10 ms against 15 ms for the
3D convolution on the benchmark's 3D k3 s2 input gradient, and 16 ms against
70 ms for its kernel gradient.
"""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

from keras_deconv._paths.common import phases_share_window, result_shape
from keras_deconv._paths.options import DEFAULT, Options


def lax_dimension_numbers(rank: int) -> Tuple[str, str, str]:
    """``lax.conv_general_dilated``'s layouts here: channels_last input and output, kernel ``(*k, in, out)``.

    >>> lax_dimension_numbers(2)
    ('NHWC', 'HWIO', 'NHWC')
    """
    spatial = "DHW"[3 - rank:]
    return ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C")


def strided_correlation(dy: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                        groups: int, crops: Sequence[Tuple[int, int]]) -> Any:
    """``G(dy, kernel)``: the input gradient of the transposed convolution at cotangent ``dy``.

    The Keras transposed layout ``(*k, filters // groups, channels)`` is already
    the forward layout ``(*k, in // groups, out)`` of ``G``, which reads the
    filters and writes the channels.
    """
    from jax import lax

    rank = len(strides)
    if rank == 3:
        return _depth_taps(dy, kernel, strides, dilation_rate, groups, crops)
    return lax.conv_general_dilated(
        dy, kernel, window_strides=tuple(strides), padding=[(before, after) for before, after in crops],
        rhs_dilation=tuple(dilation_rate), dimension_numbers=lax_dimension_numbers(rank),
        feature_group_count=groups,
    )


def _depth_taps(dy: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
                crops: Sequence[Tuple[int, int]]) -> Any:
    """3D ``G`` as a sum over depth taps of 2D ``G``s.

    Output depth row ``i`` of ``G`` reads, through depth tap ``j``, row
    ``i*stride + j*dilation - before`` of ``dy`` (zero outside it: the crops
    undone). Those rows, one per ``i``, are a strided slice; folded into the
    batch, they meet the 2D kernel ``kernel[j]``. Only the rows that fall
    outside ``dy`` are padded, per slice: padding ``dy`` itself first would
    copy it whole (on the 64^3 benchmark volume, ~100 MiB more at peak).
    Needs static sizes (``ops._run_path`` differentiates the paths' own
    operations where they are symbolic).
    """
    from jax import lax

    (before, after), stride, dilation = crops[0], strides[0], dilation_rate[0]
    batch, length, height, width, filters = dy.shape
    taps = kernel.shape[0]
    depth = (length + before + after - (taps - 1) * dilation - 1) // stride + 1  # the input's depth
    total = None
    for j in range(taps):
        first = j * dilation - before  # dy's row read by output row 0
        # Output rows [low, high) read rows inside dy: 0 <= first + i*stride < length.
        low = min(-(first // stride), depth) if first < 0 else 0
        high = max(min((length - 1 - first) // stride + 1, depth), low) if first < length else low
        if high == low:
            continue  # this tap reads only zeros
        start = first + low * stride
        rows = lax.slice(dy, (0, start, 0, 0, 0),
                         (batch, start + (high - low - 1) * stride + 1, height, width, filters),
                         (1, stride, 1, 1, 1))
        if (low, depth - high) != (0, 0):
            rows = lax.pad(rows, lax.full((), 0, dy.dtype),
                           [(0, 0, 0), (low, depth - high, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)])
        plane = strided_correlation(lax.reshape(rows, (batch * depth, height, width, filters)), kernel[j],
                                    strides[1:], dilation_rate[1:], groups, crops[1:])
        total = plane if total is None else total + plane
    if total is None:  # no tap reads dy: G is zero
        total = strided_correlation(lax.full((batch * depth, height, width, filters), 0, dy.dtype),
                                    kernel[0], strides[1:], dilation_rate[1:], groups, crops[1:])
    return lax.reshape(total, (batch, depth, *total.shape[1:]))


def adjoint(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
            crops: Sequence[Tuple[int, int]], options: Options = DEFAULT) -> Any:
    """``T(x, kernel)`` as the transpose (in ``dy``) of ``dy -> G(dy, kernel)``; see the module doc."""
    import jax

    output = jax.ShapeDtypeStruct(result_shape(x, kernel, strides, dilation_rate, groups, crops), x.dtype)

    def in_cotangent(dy: Any) -> Any:
        return strided_correlation(dy, kernel, strides, dilation_rate, groups, crops)

    (values,) = jax.linear_transpose(in_cotangent, output)(x)
    return values


def correlation(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
                crops: Sequence[Tuple[int, int]], options: Options = DEFAULT) -> Any:
    """``T(x, kernel)`` as the transpose (in ``dy``) of ``dy -> d<x, G(dy, w)>/dw``; see the module doc."""
    import jax

    output = jax.ShapeDtypeStruct(result_shape(x, kernel, strides, dilation_rate, groups, crops), x.dtype)
    kernel_shape = jax.ShapeDtypeStruct(kernel.shape, kernel.dtype)

    def kernel_gradient(dy: Any) -> Any:
        """``dy -> d<x, G(dy, w)>/dw``: linear in ``dy``."""
        return _kernel_gradient(x, dy, kernel_shape, strides, dilation_rate, groups, crops)

    (values,) = jax.linear_transpose(kernel_gradient, output)(kernel)
    return values


def _kernel_gradient(x: Any, dy: Any, kernel_shape: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                     groups: int, crops: Sequence[Tuple[int, int]]) -> Any:
    """``d<x, G(dy, w)>/dw``: JAX's transpose of ``G`` in ``w``, in blocks (``kernel_gradient_block``).

    The transpose is one convolution whose input channels are ``x``'s batch
    entries and whose output channels are ``x``'s channels. Blocks of at most
    ``block`` of each (``kernel_gradient_block``) make several smaller
    ones: the batch blocks' gradients add up, the channel blocks' concatenate.
    """
    import jax
    from jax import lax

    def transpose(x_part: Any, dy_part: Any) -> Any:
        part_shape = jax.ShapeDtypeStruct((*kernel_shape.shape[:-1], x_part.shape[-1]), kernel_shape.dtype)

        def in_kernel(w: Any) -> Any:
            return strided_correlation(dy_part, w, strides, dilation_rate, groups, crops)

        (gradient,) = jax.linear_transpose(in_kernel, part_shape)(x_part)
        return gradient

    rank = len(strides)
    block = kernel_gradient_block(tuple(x.shape), kernel_shape.shape[:rank], strides, dilation_rate, groups)
    if not block or groups != 1:  # a grouped G reads its channels in groups: not split here
        return transpose(x, dy)
    total = None
    for start, stop in _blocks(x.shape[0], block):
        x_rows, dy_rows = lax.slice_in_dim(x, start, stop), lax.slice_in_dim(dy, start, stop)
        parts = [transpose(lax.slice_in_dim(x_rows, first, last, axis=rank + 1), dy_rows)
                 for first, last in _blocks(x.shape[-1], block)]
        gradient = parts[0] if len(parts) == 1 else lax.concatenate(parts, rank + 1)
        total = gradient if total is None else total + gradient
    return total


def _blocks(length: int, most: int) -> List[Tuple[int, int]]:
    """``[0, length)`` in as few ``(start, stop)`` blocks of at most ``most`` as possible, sizes within one.

    >>> _blocks(34, 16)
    [(0, 11), (11, 22), (22, 34)]
    """
    count = -(-length // most)
    bounds = [length * i // count for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def kernel_gradient_block(input_shape: Tuple[Any, ...], kernel_size: Sequence[int], strides: Sequence[int],
                          dilation_rate: Sequence[int], groups: int) -> int:
    """Rule J6 (docs/rules.md): 0 for one kernel-gradient convolution, else the block size.

    XLA hands a 2D convolution with more than 16 input or output channels to
    YNNPACK; the kernel gradient reads the batch as its input channels, and on
    a large window YNNPACK is slower than Eigen. Blocks of 16 go to Eigen:
    strided 2D kernels (phases not merged), batch >= 32, planes >= 32x32.

    >>> kernel_gradient_block((64, 32, 32, 8), (3, 3), (2, 2), (1, 1), 1)
    16
    >>> kernel_gradient_block((8, 32, 32, 8), (3, 3), (2, 2), (1, 1), 1)
    0
    """
    batch, *plane, _ = input_shape
    if len(strides) != 2 or groups != 1 or not all(isinstance(n, int) for n in (batch, *plane)):
        return 0  # symbolic sizes: one convolution (blocks need static bounds)
    strided = any(s > 1 for s in strides) and not phases_share_window(kernel_size, strides, dilation_rate)
    return 16 if strided and batch >= 32 and plane[0] * plane[1] >= 32 * 32 else 0
