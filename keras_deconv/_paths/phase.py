"""Sub-pixel (phase) decomposition into stride-1 forward convolutions.

Phase ``r`` of the output (``t = q*stride + r``) is an ordinary correlation
of the input with the taps that land on it (see ``common``). Those taps are
spaced ``stride / gcd(stride, dilation)`` apart in the kernel and their row
offsets ``dilation / gcd`` apart, so each phase is one ``keras.ops.conv``
with that dilation on the flipped sub-kernel: no zero-dilated input, no
wasted multiply, and a gradient that is again stride-1 convolutions.

The convolutions compute each phase as it lands; the phases are interleaved
into the full output and cropped to the window once.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Sequence, Tuple

from keras import ops

from keras_deconv._paths.common import (
    grouped_forward_kernel,
    join_phases,
    phase_indices,
    phase_overshoot,
    phase_tables,
    result_shape,
)
from keras_deconv._paths.numpy_assembly import assemble_phases
from keras_deconv._paths.options import DEFAULT, Options


def phase_decomposition(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                        groups: int, crops: Sequence[Tuple[int, int]], options: Options = DEFAULT) -> Any:
    """Transposed convolution as one stride-1 convolution per output phase (``options.conv``)."""
    rank = len(strides)
    taps = tuple(kernel.shape[:rank])
    per_axis, row_pad = phase_tables(taps, strides, dilation_rate)
    forward_kernel = grouped_forward_kernel(kernel, groups)  # (*k, C/G, F)
    # Per axis, each output phase with its input padding (None: no tap lands on it).
    plans = [[(r, (entries[-1][1], row_pad[axis] - entries[0][1]) if entries else None)
              for r, entries in enumerate(per_axis[axis])] for axis in range(rank)]
    overshoot = [phase_overshoot(k, s, d) for k, s, d in zip(taps, strides, dilation_rate)]

    def phase_convolutions() -> Iterator[Tuple[Tuple[int, ...], Any, List[Tuple[int, int]], Tuple[int, ...]]]:
        """``(output phase, sub-kernel, input padding, row steps)`` for every phase some tap lands on."""
        for phase in phase_indices(strides):
            sources = [plans[a][phase[a]] for a in range(rank)]
            spatial_pads = [pad for _, pad in sources if pad is not None]
            if len(spatial_pads) < rank:
                continue  # no tap lands here on some axis: zeros (join_phases)
            lists = [per_axis[a][source] for a, (source, _) in enumerate(sources)]
            sub_kernel = forward_kernel
            row_steps = []
            for axis, entries in enumerate(lists):
                # Flip: the tap with the largest row offset reads the earliest input.
                order = [tap for tap, _ in reversed(entries)]
                if order != list(range(taps[axis])):
                    sub_kernel = ops.take(sub_kernel, order, axis=axis)
                row_steps.append(entries[1][1] - entries[0][1] if len(entries) > 1 else 1)
            yield phase, sub_kernel, [(0, 0), *spatial_pads, (0, 0)], tuple(row_steps)

    def phase_outputs() -> Iterator[Tuple[Tuple[int, ...], Any]]:
        """``(output phase, its stride-1 convolution)`` for every phase some tap lands on."""
        for phase, sub_kernel, pads, row_steps in phase_convolutions():
            padding = "valid"
            if all(_same_padding(pad, k, step)
                   for pad, k, step in zip(pads[1:-1], sub_kernel.shape, row_steps)):
                # The convolution's own 'same' padding: no padded copy of the input
                # (nor its gradient) in memory.
                padding, pads = "same", [(0, 0)] * len(pads)
            padded = ops.pad(x, pads) if any(p != (0, 0) for p in pads) else x
            yield phase, options.conv(padded, sub_kernel, padding, row_steps)

    if options.writes_phases_eagerly:
        # Eager NumPy arrays: write each phase into the output as it comes (memory).
        shape = result_shape(x, kernel, strides, dilation_rate, groups, crops)
        return assemble_phases(phase_outputs(), shape, strides, crops, x.dtype)
    return join_phases(dict(phase_outputs()), strides, crops, overshoot)


def _same_padding(pad: Tuple[int, int], taps: int, step: int) -> bool:
    """Whether ``pad`` is what a stride-1 'same' convolution adds around the input.

    Every backend's 'same' pads a window of ``taps`` taps ``step`` apart by its
    span in all, the smaller half before.

    >>> _same_padding((2, 2), taps=3, step=2), _same_padding((1, 0), taps=2, step=1)
    (True, False)
    """
    span = (taps - 1) * step
    return pad[0] + pad[1] == span and pad[0] == span // 2
