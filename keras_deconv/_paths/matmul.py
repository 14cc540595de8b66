"""Matmul followed by an overlap-add (col2im), on ``keras.ops`` only.

One matrix product gives every tap's contribution ``y[b, i, k, f]``; each tap
is then added, shifted by its row offset, into its phase (see ``common``).
When taps never overlap (``(k-1)*dilation < stride``, e.g. the U-Net case
``kernel_size == strides``), the overlap-add is a pure depth-to-space
rearrangement, with no additions at all.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Dict, Sequence, Tuple

from keras import ops

from keras_deconv._paths.common import (
    crop_to_window,
    dynamic_shape,
    interleave,
    interleave_by_stacking,
    join_phases,
    phase_indices,
    phase_overshoot,
    phase_tables,
    reshape,
    taps_overlap,
)
from keras_deconv._paths.options import DEFAULT, Options
from keras_deconv.arithmetic import effective_kernel_size


def tap_products(x: Any, taps: Any, groups: int, flat_rows: bool = False) -> Any:
    """``y[b, *i, t, f] = sum_c x[b, *i, c] * taps[t, f, c]`` (within each group).

    ``taps`` is a stack of kernel taps ``(T, filters // groups, channels)``.
    ``flat_rows``: one 2D matrix product over the input's rows (``matmul_rows``).
    """
    num_taps, per_group_filters, channels = taps.shape
    shape = dynamic_shape(x)
    # einsum rather than matmul: Keras 3.15's matmul on torch returns float32
    # for float64 (and complex64 for complex128) inputs; einsum keeps the dtype.
    if groups == 1:
        # (T, F, C) -> (T*F, C): a single plain matrix product over the last axis.
        # x keeps its leading axes unless asked (values as fast as flattening them,
        # measured): tf2onnx mis-converts a reshape from flattened rows back to
        # (B, *n, ...). ``flat_rows`` serves JAX's derivatives (``matmul_rows``).
        weights = ops.reshape(taps, [num_taps * per_group_filters, channels])
        if flat_rows:
            y = ops.einsum("mc,kc->mk", ops.reshape(x, [-1, channels]), weights)
        else:
            # Leading axes spelled out: TF's gradient of an "..." einsum took 60x longer.
            lead = "abdefgh"[: len(shape) - 1]
            y = ops.einsum(f"{lead}c,kc->{lead}k", x, weights)
    else:
        rows = ops.reshape(x, [-1, channels])  # (M, C)
        per_group_channels = channels // groups
        rows = ops.reshape(rows, [-1, groups, per_group_channels])
        rows = ops.transpose(rows, [1, 0, 2])  # (G, M, C/G)
        weights = ops.reshape(taps, [num_taps, per_group_filters, groups, per_group_channels])
        weights = ops.transpose(weights, [2, 3, 0, 1])  # (G, C/G, T, F/G)
        weights = ops.reshape(weights, [groups, per_group_channels, num_taps * per_group_filters])
        y = ops.einsum("gmc,gck->gmk", rows, weights)  # (G, M, T*F/G)
        y = ops.reshape(y, [groups, -1, num_taps, per_group_filters])
        y = ops.transpose(y, [1, 2, 0, 3])  # (M, T, G, F/G)
    return reshape(y, [*shape[:-1], num_taps, groups * per_group_filters])


def matmul_overlap_add(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
                       crops: Sequence[Tuple[int, int]], options: Options = DEFAULT,
                       flat_rows: bool = False) -> Any:
    """Transposed convolution as matmuls plus an overlap-add (see module doc).

    One matmul per output phase (over that phase's taps only), so the
    largest temporary holds ``n * taps_in_phase * filters`` values rather than
    ``n * all_taps * filters``. ``flat_rows``: see ``matmul_rows``.
    """
    rank = len(strides)
    taps = tuple(kernel.shape[:rank])
    flat_kernel = ops.reshape(kernel, [math.prod(taps), *kernel.shape[rank:]])  # (K, F/G, C)
    if not taps_overlap(taps, strides, dilation_rate):
        y = tap_products(x, flat_kernel, groups, flat_rows)  # (B, *n, K, F)
        shape = dynamic_shape(y)
        y = reshape(y, [*shape[:-2], *taps, shape[-1]])  # (B, *n, *k, F)
        return _depth_to_space(y, taps, strides, dilation_rate, crops, flat_rows,
                               options.stacks_depth_to_space)

    per_axis, row_pad = phase_tables(taps, strides, dilation_rate)
    phases: Dict[Tuple[int, ...], Any] = {}
    for phase in phase_indices(strides):
        combos = list(itertools.product(*(per_axis[a][phase[a]] for a in range(rank))))
        if not combos:
            continue  # no tap lands here: zeros (join_phases)
        flat_taps = [_flat_index(tuple(tap for tap, _ in combo), taps) for combo in combos]
        y = tap_products(x, ops.take(flat_kernel, flat_taps, axis=0), groups, flat_rows)  # (B, *n, T, F)
        total = None
        # unstack, not indexing: static slices even where sizes are symbolic.
        for part, combo in zip(ops.unstack(y, axis=rank + 1), combos):  # each (B, *n, F)
            pads = [(0, 0)] + [(row, row_pad[a] - row) for a, (_, row) in enumerate(combo)] + [(0, 0)]
            if any(p != (0, 0) for p in pads):
                part = ops.pad(part, pads)
            total = part if total is None else total + part
        phases[phase] = total
    overshoot = [phase_overshoot(k, s, d) for k, s, d in zip(taps, strides, dilation_rate)]
    return join_phases(phases, strides, crops, overshoot)


def matmul_rows(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
                crops: Sequence[Tuple[int, int]], options: Options = DEFAULT) -> Any:
    """``matmul_overlap_add`` whose matrix product takes the input's leading axes as one axis of rows.

    The same values. JAX's policy differentiates ``matmul`` with it where taps
    never overlap (``JaxPolicy.derivative_paths``): XLA transposes a 2D
    product's kernel derivative into one plain matrix product, where the
    leading axes' version first copies the output's cotangent transposed.
    (Its values are slower: 2D (16, 64, 64, 64) -> 32 k2 s2 forward, medians
    of four interleaved runs, 21-23 ms against 7-15 with the axes kept.)

    >>> import numpy as np
    >>> x, kernel = np.ones((1, 2, 3)), np.ones((2, 4, 3))
    >>> np.asarray(matmul_rows(x, kernel, (2,), (1,), 1, ((0, 0),))).shape
    (1, 4, 4)
    """
    return matmul_overlap_add(x, kernel, strides, dilation_rate, groups, crops, options, flat_rows=True)


def _flat_index(index: Tuple[int, ...], taps: Sequence[int]) -> int:
    flat = 0
    for i, k in zip(index, taps):
        flat = flat * k + i
    return flat


def _depth_to_space(
    y: Any,
    taps: Sequence[int],
    strides: Sequence[int],
    dilation_rate: Sequence[int],
    crops: Sequence[Tuple[int, int]],
    flat_rows: bool,
    stacks: bool,
) -> Any:
    """Non-overlapping taps: pad the tap axes up to the stride, then interleave.

    One transpose (``interleave``), which XLA transposes into another, or in
    3D values nested stacks where ``stacks`` (``Options.stacks_depth_to_space``).
    """
    rank = len(strides)
    pads = [(0, 0)] * (rank + 1) + [(0, s - k) for k, s in zip(taps, strides)] + [(0, 0)]
    if any(p != (0, 0) for p in pads):
        y = ops.pad(y, pads)
    if rank == 3 and not flat_rows and stacks:
        y = interleave_by_stacking(y, strides)
    else:
        y = interleave(y, strides)
    # y holds n*stride positions; the full output has (n-1)*stride + k_eff.
    overshoot = [s - effective_kernel_size(k, d) for k, s, d in zip(taps, strides, dilation_rate)]
    return crop_to_window(y, crops, overshoot)
