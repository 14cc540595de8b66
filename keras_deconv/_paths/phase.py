"""Sub-pixel (phase) decomposition into stride-1 forward convolutions.

Phase ``r`` of the output (``t = q*stride + r``) is an ordinary correlation
of the input with the taps that land on it (see ``common``). Those taps are
spaced ``stride / gcd(stride, dilation)`` apart in the kernel and their row
offsets ``dilation / gcd`` apart, so each phase is one ``keras.ops.conv``
with that dilation on the flipped sub-kernel: no zero-dilated input, no
wasted multiply, and a gradient that is again stride-1 convolutions.

The convolutions compute only the output window where they can: the crops
come off each phase's input padding, and the output's phase ``r'`` is the
full output's phase ``(r' + before) % stride`` (``_window_plan``), so no
rows outside the window are computed, interleaved, cropped or differentiated.

Where every phase reads the same input window (on every axis the same row
offsets: a kernel size that is a multiple of the stride, say) and the policy
says so (``merges_phases``), the phases are one convolution instead, with
their sub-kernels side by side on its output channels: what sub-pixel
convolution computes, and each window position's matrix product is one
wider product.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Sequence, Tuple

from keras import ops

from keras_deconv._paths import policy
from keras_deconv._paths.common import (
    crop_to_window,
    dynamic_shape,
    grouped_forward_kernel,
    interleave,
    join_phases,
    phase_indices,
    phase_overshoot,
    phase_tables,
    phases_share_window,
    reshape,
    result_shape,
)
from keras_deconv._paths.numpy_assembly import assemble_phases
from keras_deconv.arithmetic import effective_kernel_size


def phase_decomposition(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                        groups: int, crops: Sequence[Tuple[int, int]]) -> Any:
    """Transposed convolution as one stride-1 convolution per output phase."""
    rank = len(strides)
    taps = tuple(kernel.shape[:rank])
    per_axis, row_pad = phase_tables(taps, strides, dilation_rate)
    forward_kernel = grouped_forward_kernel(kernel, groups)  # (*k, C/G, F)
    # Per axis, each output phase's (source phase, input padding); where the
    # backend's policy says so and the crops can come off that padding, the
    # convolutions compute only the window (TensorFlowPolicy has the timings).
    windows = policy.current().crops_phase_inputs
    plans = []
    join_crops, overshoot = [], []
    for axis in range(rank):
        k, s, d = taps[axis], strides[axis], dilation_rate[axis]
        window = None
        if windows:
            window = _window_plan(per_axis[axis], s, effective_kernel_size(k, d), crops[axis])
        if window is None:
            # The full output: each phase as it lands, cropped after interleaving.
            plans.append([(r, (entries[-1][1], row_pad[axis] - entries[0][1]) if entries else None)
                          for r, entries in enumerate(per_axis[axis])])
            join_crops.append(crops[axis])
            overshoot.append(phase_overshoot(k, s, d))
        else:
            plans.append(window[0])
            join_crops.append((0, window[1]))
            overshoot.append(0)

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
            yield phase, policy.current().conv(padded, sub_kernel, padding, row_steps)

    if policy.current().merges_phases and groups == 1 and not windows and phases_share_window(
            taps, strides, dilation_rate):
        # Every phase reads the same input window: one convolution with the
        # phases' sub-kernels side by side on its output channels, whose
        # channels are then the stacked phases that `interleave` takes.
        convolutions = list(phase_convolutions())
        _, _, pads, row_steps = convolutions[0]
        merged = ops.concatenate([sub_kernel for _, sub_kernel, _, _ in convolutions], axis=-1)
        # Padded as a tensor, not by the convolution: XLA then differentiates
        # the kernel with a window no larger than its input (it runs a larger
        # one reversed, in a slow generic kernel: 1.3 s against 44 ms on 2D
        # (8, 32, 32, 128) -> 64 k4 s2).
        padded = ops.pad(x, pads) if any(p != (0, 0) for p in pads) else x
        y = policy.current().conv(padded, merged, "valid", row_steps)
        sizes = dynamic_shape(y)
        y = reshape(y, [*sizes[:-1], len(convolutions), sizes[-1] // len(convolutions)])
        return crop_to_window(interleave(y, strides), join_crops, overshoot)

    if policy.current().writes_phases_eagerly:
        # Eager NumPy arrays: write each phase into the output as it comes (memory).
        shape = result_shape(x, kernel, strides, dilation_rate, groups, crops)
        return assemble_phases(phase_outputs(), shape, strides, join_crops, x.dtype)
    return join_phases(dict(phase_outputs()), strides, join_crops, overshoot)


def _window_plan(phases: Sequence[Sequence[Tuple[int, int]]], stride: int, k_eff: int,
                 crop: Tuple[int, int]) -> Optional[Tuple[List[Tuple[int, Optional[Tuple[int, int]]]], int]]:
    """How one axis's phases compute only the window: per output phase, its source and padding.

    Output position ``o = q'*stride + r'`` is full-output position ``t = o +
    before``: row ``q' + (r' + before) // stride`` of phase ``(r' + before) %
    stride``. Each output phase then has ``n - 1 + ceil(m / stride)`` rows
    (``m = k_eff - before - after``, whatever the input length ``n``), computed
    by padding the input less before and as needed after. Returns the list of
    ``(source phase, (pad before, pad after))`` (None for phases no tap lands
    on) and the rows to trim from the interleaved end, or None where a padding
    would be negative (a crop reaching past a phase's taps).

    >>> _window_plan([[(0, 0), (2, 1)], [(1, 0), (3, 1)]], 2, 4, (1, 1))  # k4 s2 'same'
    ([(1, (1, 0)), (0, (0, 1))], 0)
    """
    before, after = crop
    m = k_eff - before - after
    extra_rows = -(-m // stride) - 1  # each output phase's rows minus n
    plan: List[Tuple[int, Optional[Tuple[int, int]]]] = []
    for out_phase in range(stride):
        source, first = (out_phase + before) % stride, (out_phase + before) // stride
        rows = [row for _, row in phases[source]]
        if not rows:
            plan.append((source, None))
            continue
        pad_before = rows[-1] - first
        pad_after = extra_rows - pad_before + rows[-1] - rows[0]
        if pad_before < 0 or pad_after < 0:
            return None
        plan.append((source, (pad_before, pad_after)))
    return plan, stride * (extra_rows + 1) - m


def _same_padding(pad: Tuple[int, int], taps: int, step: int) -> bool:
    """Whether ``pad`` is what a stride-1 'same' convolution adds around the input.

    Every backend's 'same' pads a window of ``taps`` taps ``step`` apart by its
    span in all, the smaller half before.

    >>> _same_padding((2, 2), taps=3, step=2), _same_padding((1, 0), taps=2, step=1)
    (True, False)
    """
    span = (taps - 1) * step
    return pad[0] + pad[1] == span and pad[0] == span // 2
