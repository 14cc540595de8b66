"""Matmul followed by an overlap-add (col2im), on ``keras.ops`` only.

One matrix product gives every tap's contribution ``y[b, i, k, f]``; each tap
is then added, shifted by its row offset, into its phase (see ``common``).
When taps never overlap (``(k-1)*dilation < stride``, e.g. the U-Net case
``kernel_size == strides``), the overlap-add is a pure depth-to-space
rearrangement, with no additions at all.
"""

from __future__ import annotations

import math
from typing import Any, List, Sequence, Tuple

from keras import ops

from keras_deconv._paths.common import (
    axis_phases,
    crop_to_window,
    dynamic_shape,
    interleave_phases,
    max_row_offset,
    phase_indices,
    phase_overshoot,
)


def tap_products(x: Any, kernel: Any, groups: int) -> Any:
    """``y[b, *i, *k, f] = sum_c x[b, *i, c] * w[*k, f, c]`` (within each group)."""
    rank = len(kernel.shape) - 2
    taps = list(kernel.shape[:rank])
    per_group_filters, channels = kernel.shape[rank], kernel.shape[rank + 1]
    num_taps = math.prod(taps)
    shape = dynamic_shape(x)
    rows = ops.reshape(x, [-1, channels])  # (M, C)
    if groups == 1:
        # (K, F, C) -> (C, K*F): a single plain matmul.
        weights = ops.reshape(kernel, [num_taps * per_group_filters, channels])
        y = ops.matmul(rows, ops.transpose(weights))
    else:
        per_group_channels = channels // groups
        rows = ops.reshape(rows, [-1, groups, per_group_channels])
        rows = ops.transpose(rows, [1, 0, 2])  # (G, M, C/G)
        weights = ops.reshape(kernel, [num_taps, per_group_filters, groups, per_group_channels])
        weights = ops.transpose(weights, [2, 3, 0, 1])  # (G, C/G, K, F/G)
        weights = ops.reshape(weights, [groups, per_group_channels, num_taps * per_group_filters])
        y = ops.matmul(rows, weights)  # (G, M, K*F/G)
        y = ops.reshape(y, [groups, -1, num_taps, per_group_filters])
        y = ops.transpose(y, [1, 2, 0, 3])  # (M, K, G, F/G)
    return ops.reshape(y, [*shape[:-1], *taps, groups * per_group_filters])


def matmul_overlap_add(
    x: Any,
    kernel: Any,
    strides: Sequence[int],
    dilation_rate: Sequence[int],
    groups: int,
    crops: Sequence[Tuple[int, int]],
) -> Any:
    """Transposed convolution as one matmul plus an overlap-add (see module doc)."""
    rank = len(strides)
    taps = tuple(kernel.shape[:rank])
    y = tap_products(x, kernel, groups)  # (B, *n, *k, F)
    if all((k - 1) * d < s and (d == 1 or k == 1) for k, s, d in zip(taps, strides, dilation_rate)):
        return _depth_to_space(y, taps, strides, dilation_rate, crops)

    per_axis = [axis_phases(k, s, d) for k, s, d in zip(taps, strides, dilation_rate)]
    row_pad = [max_row_offset(k, s, d) for k, s, d in zip(taps, strides, dilation_rate)]
    phases: List[Any] = []
    zeros = None
    for phase in phase_indices(strides):
        total = None
        for combo in _combinations([per_axis[a][phase[a]] for a in range(rank)]):
            tap_index = tuple(tap for tap, _ in combo)
            part = y[(slice(None),) * (rank + 1) + tap_index]  # (B, *n, F)
            pads = [(0, 0)] + [(row, row_pad[a] - row) for a, (_, row) in enumerate(combo)] + [(0, 0)]
            if any(p != (0, 0) for p in pads):
                part = ops.pad(part, pads)
            total = part if total is None else total + part
        if total is None:
            if zeros is None:
                zeros = ops.zeros_like(_first_tap_padded(y, rank, row_pad))
            total = zeros
        phases.append(total)
    out = interleave_phases(phases, strides)
    # Each phase holds n + row_pad rows, so out covers (n + row_pad) * stride positions.
    overshoot = [phase_overshoot(k, s, d) for k, s, d in zip(taps, strides, dilation_rate)]
    return crop_to_window(out, crops, overshoot)


def _combinations(per_axis_lists: List[List[Tuple[int, int]]]) -> List[Tuple[Tuple[int, int], ...]]:
    combos: List[Tuple[Tuple[int, int], ...]] = [()]
    for options in per_axis_lists:
        combos = [c + (o,) for c in combos for o in options]
    return combos


def _first_tap_padded(y: Any, rank: int, row_pad: Sequence[int]) -> Any:
    part = y[(slice(None),) * (rank + 1) + (0,) * rank]
    return ops.pad(part, [(0, 0)] + [(0, p) for p in row_pad] + [(0, 0)])


def _depth_to_space(
    y: Any,
    taps: Sequence[int],
    strides: Sequence[int],
    dilation_rate: Sequence[int],
    crops: Sequence[Tuple[int, int]],
) -> Any:
    """Non-overlapping taps: pad the tap axes up to the stride, then interleave."""
    rank = len(strides)
    pads = [(0, 0)] * (rank + 1) + [(0, s - k) for k, s in zip(taps, strides)] + [(0, 0)]
    if any(p != (0, 0) for p in pads):
        y = ops.pad(y, pads)
    shape = dynamic_shape(y)
    batch, rows, filters = shape[0], shape[1 : rank + 1], shape[-1]
    order = [0]
    for axis in range(rank):
        order += [1 + axis, 1 + rank + axis]
    order.append(1 + 2 * rank)
    y = ops.transpose(y, order)
    y = ops.reshape(y, [batch, *(r * s for r, s in zip(rows, strides)), filters])
    # y holds n*stride positions; the full output has (n-1)*stride + k_eff.
    overshoot = [s - ((k - 1) * d + 1) for k, s, d in zip(taps, strides, dilation_rate)]
    return crop_to_window(y, crops, overshoot)
