"""3D as 2D: one 2D transposed convolution per output depth phase, the depth taps on the channel axis.

Along depth alone, the output splits into ``stride`` phases (see ``common``):
output row ``o = q*stride + r`` of the window is full-output row ``t = o +
before``, which tap ``k`` (``k*dilation = q_k*stride + r_k``) writes from
input row ``(t - k*dilation) / stride`` when ``r_k == t % stride``. So each
output phase is a sum over a few depth taps of a 2D transposed convolution
of depth-shifted input rows; stacking those shifted rows on the channel axis
(and the taps' 2D kernels on theirs) makes it one 2D transposed convolution
with ``taps * channels`` input channels and every depth row in the batch.
The phases then interleave with a stack and a reshape, and the rows past the
window are trimmed: only the window's rows are computed.

Why: XLA's 3D convolutions on CPU are several times slower than its 2D ones
(see ``correlation``'s ``_depth_taps``, which does the same for the
derivatives' strided convolutions). On the benchmark's 3D (2, 16^3, 64) ->
32 k3 s2 case (2-core CPU, interleaved in one process), forward / forward
and backward: 3.9-5.0 / 17.0-18.0 ms against 10.6-12.5 / 20.4-26.7 for
``matmul`` with ``adjoint`` and ``correlation`` derivatives (torch 4.4-4.9 /
9.7-11.4); on (1, 64^3, 32) -> 16: 170 / 506 ms against 319 / 1606 for
``phase`` (torch 96 / 168).

The 2D transposed convolutions are ``options.plane``: ``ops`` hands its
``path="auto"`` for their arguments, with that path's derivatives.
Only sizes that are ints decide anything here (symbolic batch and lengths
work).
"""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

from keras import ops

from keras_deconv._paths.common import axis_phases, dynamic_shape, reshape, static_slice
from keras_deconv._paths.options import DEFAULT, Options
from keras_deconv._paths.phase import phase_decomposition
from keras_deconv.arithmetic import effective_kernel_size


def depth_phases(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
                 crops: Sequence[Tuple[int, int]], options: Options = DEFAULT) -> Any:
    """A 3D transposed convolution as 2D ones, one per output depth phase (the path contract).

    >>> import keras, numpy as np
    >>> from keras_deconv.reference import reference_conv_transpose
    >>> x = np.random.rand(1, 3, 2, 2, 2).astype("float32")
    >>> w = np.random.rand(3, 2, 2, 4, 2).astype("float32")
    >>> xt, wt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(w)
    >>> crops = ((0, 1), (0, 0), (0, 0))
    >>> got = keras.ops.convert_to_numpy(depth_phases(xt, wt, (2, 1, 1), (1, 1, 1), 1, crops))
    >>> want = reference_conv_transpose(x, w, (2, 1, 1), [(0, 1), (0, 0), (0, 0)])
    >>> got.shape, bool(np.allclose(got, want, atol=1e-5))
    ((1, 6, 3, 3, 4), True)
    """
    plane_path = options.plane or phase_decomposition  # ops hands its 2D auto; alone, phase
    if len(strides) != 3:
        raise ValueError("depth_phases computes 3D transposed convolutions. "
                         f"Received: strides={tuple(strides)}")
    taps, stride, dilation = kernel.shape[0], strides[0], dilation_rate[0]
    before, after = crops[0]
    per_phase = axis_phases(taps, stride, dilation)
    # Rows of each output phase beyond the input's n (0 for 'same'), and the
    # rows of the interleaved phases past the window.
    window = effective_kernel_size(taps, dilation) - before - after
    extra = -(-window // stride) - 1
    trim = stride * (extra + 1) - window
    batch, length, height, width, channels = dynamic_shape(x)
    rows = length + extra
    outputs: List[Any] = []
    for out_phase in range(stride):
        source, first = (out_phase + before) % stride, (out_phase + before) // stride
        entries = per_phase[source]
        if not entries:
            outputs.append(None)  # no tap lands here: zeros, below
            continue
        # Output row m of this phase reads input row m + first - q through tap (k, q).
        shifted = [_shift_rows(x, first - q, extra) for _, q in entries]
        plane = plane_path(
            reshape(_stack_channels(shifted, groups), [batch * rows, height, width, len(entries) * channels]),
            _stack_channels([kernel[k] for k, _ in entries], groups),
            tuple(strides[1:]), tuple(dilation_rate[1:]), groups, tuple(crops[1:]), options,
        )
        outputs.append(reshape(plane, [batch, rows, *dynamic_shape(plane)[1:]]))
    present = next(y for y in outputs if y is not None)
    outputs = [ops.zeros_like(present) if y is None else y for y in outputs]
    if stride == 1:
        y = outputs[0]
    else:
        # Depth is the first spatial axis: stacking the phases after it and
        # merging the two interleaves them, with no transpose.
        out_shape = dynamic_shape(present)
        y = reshape(ops.stack(outputs, axis=2), [batch, rows * stride, *out_shape[2:]])
    if trim:
        y = static_slice(y, [slice(None), slice(0, -trim), slice(None), slice(None), slice(None)])
    return y


def _shift_rows(x: Any, shift: int, extra: int) -> Any:
    """Rows ``x[m + shift]`` for ``m`` in ``[0, n + extra)`` along depth (zeros outside ``x``)."""
    pad_before, pad_after = max(-shift, 0), max(extra + shift, 0)
    if pad_before or pad_after:
        x = ops.pad(x, [(0, 0), (pad_before, pad_after), (0, 0), (0, 0), (0, 0)])
    start = max(shift, 0)
    cut = pad_before + pad_after - start - extra  # rows past the wanted ones
    if start or cut:
        x = static_slice(x, [slice(None), slice(start, -cut if cut else None), slice(None), slice(None),
                             slice(None)])
    return x


def _stack_channels(parts: Sequence[Any], groups: int) -> Any:
    """Concatenate tensors on the last axis, group by group (``(..., G, parts, C/G)`` order).

    A grouped convolution reads its input channels in ``groups`` blocks, so
    each block holds every part's channels of that group. Kernels (``(kh, kw,
    F/G, C)`` per tap) and inputs stack the same way.
    """
    if len(parts) == 1:
        return parts[0]
    if groups == 1:
        return ops.concatenate(list(parts), axis=-1)
    shape = dynamic_shape(parts[0])
    split = [reshape(p, [*shape[:-1], groups, shape[-1] // groups]) for p in parts]
    return reshape(ops.stack(split, axis=-2), [*shape[:-1], len(parts) * shape[-1]])
