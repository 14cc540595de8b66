"""Sub-pixel (phase) decomposition into stride-1 forward convolutions.

Phase ``r`` of the output (``t = q*stride + r``) is an ordinary correlation
of the input with the taps that land on it (see ``common``). Those taps are
spaced ``stride / gcd(stride, dilation)`` apart in the kernel and their row
offsets ``dilation / gcd`` apart, so each phase is one ``keras.ops.conv``
with that dilation on the flipped sub-kernel: no zero-dilated input, no
wasted multiply, and a gradient that is again stride-1 convolutions.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence, Tuple

from keras import ops

from keras_deconv._paths import policy
from keras_deconv._paths.common import (
    grouped_forward_kernel,
    join_phases,
    phase_indices,
    phase_tables,
    result_shape,
)
from keras_deconv._paths.numpy_assembly import assemble_phases


def phase_decomposition(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                        groups: int, crops: Sequence[Tuple[int, int]]) -> Any:
    """Transposed convolution as one stride-1 convolution per output phase."""
    rank = len(strides)
    taps = tuple(kernel.shape[:rank])
    per_axis, row_pad = phase_tables(taps, strides, dilation_rate)
    forward_kernel = grouped_forward_kernel(kernel, groups)  # (*k, C/G, F)
    # A stride-1 axis has one phase: its crops come off the input's padding, so
    # the convolution computes only the window (2D k3 s1 d2 'same' on TF: the
    # full output then a crop took 15.5 ms forward+backward, this 10).
    inner = [s == 1 and max(before, after) <= row_pad[a] for a, (s, (before, after))
             in enumerate(zip(strides, crops))]
    outer_crops = [(0, 0) if inner[a] else crop for a, crop in enumerate(crops)]

    def phase_outputs() -> Iterator[Tuple[Tuple[int, ...], Any]]:
        """``(phase, its stride-1 convolution)`` for every phase some tap lands on."""
        for phase in phase_indices(strides):
            lists = [per_axis[a][phase[a]] for a in range(rank)]
            if any(not entries for entries in lists):
                continue
            sub_kernel = forward_kernel
            pads = [(0, 0)]
            row_steps = []
            for axis, entries in enumerate(lists):
                # Flip: the tap with the largest row offset reads the earliest input.
                order = [tap for tap, _ in reversed(entries)]
                if order != list(range(taps[axis])):
                    sub_kernel = ops.take(sub_kernel, order, axis=axis)
                rows = [row for _, row in entries]
                cut_before, cut_after = crops[axis] if inner[axis] else (0, 0)
                pads.append((rows[-1] - cut_before, row_pad[axis] - rows[0] - cut_after))
                row_steps.append(rows[1] - rows[0] if len(rows) > 1 else 1)
            pads.append((0, 0))
            padding = "valid"
            if all(_same_padding(pad, len(entries), step) for pad, entries, step
                   in zip(pads[1:-1], lists, row_steps)):
                # The convolution's own 'same' padding: no padded copy of the input
                # (nor its gradient) in memory.
                padding, pads = "same", [(0, 0)] * len(pads)
            padded = ops.pad(x, pads) if any(p != (0, 0) for p in pads) else x
            yield phase, ops.conv(padded, sub_kernel, strides=1, padding=padding,
                                  data_format="channels_last", dilation_rate=tuple(row_steps))

    if policy.current().writes_phases_eagerly:
        # Eager NumPy arrays: write each phase into the output as it comes (memory).
        shape = result_shape(x, kernel, strides, dilation_rate, groups, crops)
        return assemble_phases(phase_outputs(), shape, strides, outer_crops, x.dtype)
    return join_phases(dict(phase_outputs()), taps, strides, dilation_rate, outer_crops)


def _same_padding(pad: Tuple[int, int], taps: int, step: int) -> bool:
    """Whether ``pad`` is what a stride-1 'same' convolution adds around the input.

    Every backend's 'same' pads a window of ``taps`` taps ``step`` apart by its
    span in all, the smaller half before.

    >>> _same_padding((2, 2), taps=3, step=2), _same_padding((1, 0), taps=2, step=1)
    (True, False)
    """
    span = (taps - 1) * step
    return pad[0] + pad[1] == span and pad[0] == span // 2
