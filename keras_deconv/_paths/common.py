"""Pieces shared by the paths: per-axis phase tables, interleaving, cropping.

Phases: with ``t = o + pad_before`` the index in the full output, tap ``k`` of
an axis lands on ``t = i*stride + k*dilation``. Writing
``k*dilation = q_k*stride + r_k`` (``0 <= r_k < stride``), tap ``k`` writes
input ``i`` to row ``i + q_k`` of phase ``r_k``, where phase ``r`` holds the
outputs ``t = q*stride + r``. Every phase is then an ordinary (stride 1)
correlation of the input, and the phases interleave into the output.
"""

from __future__ import annotations

import itertools
from typing import Any, List, Sequence, Tuple

from keras import ops


def axis_phases(kernel_size: int, stride: int, dilation: int) -> List[List[Tuple[int, int]]]:
    """For each phase ``r`` of an axis, the ``(tap, row offset)`` pairs landing on it.

    >>> axis_phases(3, 2, 1)
    [[(0, 0), (2, 1)], [(1, 0)]]
    """
    phases: List[List[Tuple[int, int]]] = [[] for _ in range(stride)]
    for tap in range(kernel_size):
        row, phase = divmod(tap * dilation, stride)
        phases[phase].append((tap, row))
    return phases


def max_row_offset(kernel_size: int, stride: int, dilation: int) -> int:
    """Largest row offset ``q_k`` of any tap: the output has ``n + this`` rows per phase."""
    return ((kernel_size - 1) * dilation) // stride


def phase_overshoot(kernel_size: int, stride: int, dilation: int) -> int:
    """Positions past the full output held by interleaved phases of ``n + max_row_offset`` rows."""
    k_eff = (kernel_size - 1) * dilation + 1
    return (max_row_offset(kernel_size, stride, dilation) + 1) * stride - k_eff


def taps_overlap(kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int]) -> bool:
    """Whether two taps of some axis can write the same output position.

    They cannot when every axis has ``kernel_size <= stride`` and no dilation
    (or one tap): the transposed convolution is then a matmul plus a pure
    depth-to-space, with no additions (the U-Net case ``kernel_size == strides``).

    >>> taps_overlap((2, 2), (2, 2), (1, 1)), taps_overlap((3, 2), (2, 2), (1, 1))
    (False, True)
    """
    return not all(k <= s and (d == 1 or k == 1) for k, s, d in zip(kernel_size, strides, dilation_rate))


def dynamic_shape(x: Any) -> List[Any]:
    """Shape entries as ints where static and scalar tensors where not (TF graphs)."""
    static = tuple(x.shape)
    if all(isinstance(d, int) for d in static):
        return list(static)
    dynamic = ops.shape(x)
    return [s if isinstance(s, int) else dynamic[i] for i, s in enumerate(static)]


def interleave_phases(phases: Sequence[Any], strides: Sequence[int]) -> Any:
    """Interleave per-phase outputs into one tensor.

    ``phases`` is ordered like ``itertools.product(*map(range, strides))``;
    each entry is ``(batch, *rows, filters)``. The result is
    ``(batch, *(rows * stride), filters)`` with ``out[q*s + r] = phases[r][q]``.
    """
    rank = len(strides)
    if len(phases) == 1:
        return phases[0]
    stacked = ops.stack(phases, axis=-2)  # (B, *rows, S, F)
    shape = dynamic_shape(phases[0])
    batch, rows, filters = shape[0], shape[1:-1], shape[-1]
    stacked = ops.reshape(stacked, [batch, *rows, *strides, filters])
    # (B, Q1, ..., Qr, s1, ..., sr, F) -> (B, Q1, s1, ..., Qr, sr, F)
    order = [0]
    for axis in range(rank):
        order += [1 + axis, 1 + rank + axis]
    order.append(1 + 2 * rank)
    stacked = ops.transpose(stacked, order)
    return ops.reshape(stacked, [batch, *(r * s for r, s in zip(rows, strides)), filters])


def crop_to_window(y: Any, crops: Sequence[Tuple[int, int]], overshoot: Sequence[int]) -> Any:
    """Cut ``y`` (channels_last, holding full-output positions from 0) to ``crops``.

    ``overshoot[a]`` is how many positions past the full output ``y`` holds
    on axis ``a`` (zeros there); it is static even when lengths are not, so
    this works on unknown sizes. Ends past ``y`` are zero-padded.
    """
    slices: List[Any] = [slice(None)]
    pads = [(0, 0)]
    for (before, after), extra in zip(crops, overshoot):
        trim = after + extra  # positions to drop from the end of y
        slices.append(slice(before if before else None, -trim if trim > 0 else None))
        pads.append((0, max(-trim, 0)))
    slices.append(slice(None))
    pads.append((0, 0))
    if any(s.start is not None or s.stop is not None for s in slices):
        y = y[tuple(slices)]
    if any(p[1] for p in pads):
        y = ops.pad(y, pads)
    return y


def phase_indices(strides: Sequence[int]) -> List[Tuple[int, ...]]:
    """Every phase tuple, in the order ``interleave_phases`` expects."""
    return list(itertools.product(*(range(s) for s in strides)))


def grouped_forward_kernel(kernel: Any, groups: int) -> Any:
    """Keras transposed layout ``(*k, F/G, C)`` to forward-conv layout ``(*k, C/G, F)``.

    Output channel ``g*F/G + j`` of group ``g`` reads input channels
    ``g*C/G ... (g+1)*C/G - 1``, as in every framework's grouped convolution.
    """
    rank = len(kernel.shape) - 2
    taps = list(kernel.shape[:rank])
    per_group_filters, channels = kernel.shape[rank], kernel.shape[rank + 1]
    per_group_channels = channels // groups
    kernel = ops.reshape(kernel, [*taps, per_group_filters, groups, per_group_channels])
    axes = list(range(rank))
    kernel = ops.transpose(kernel, axes + [rank + 2, rank + 1, rank])
    return ops.reshape(kernel, [*taps, per_group_channels, groups * per_group_filters])
