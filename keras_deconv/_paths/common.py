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
from typing import Any, List, Mapping, Sequence, Tuple

from keras import ops

from keras_deconv.arithmetic import effective_kernel_size, full_output_length


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


def phases_share_window(kernel_size: Sequence[int], strides: Sequence[int],
                        dilation_rate: Sequence[int]) -> bool:
    """Whether, on every axis, every output phase reads the same input rows (and some stride is above 1).

    Then each phase's stride-1 convolution has the same window and padding,
    and ``phase`` can compute all of them as one (a kernel size that is a
    multiple of the stride, without dilation, for example).

    >>> phases_share_window((4, 4), (2, 2), (1, 1)), phases_share_window((3, 4), (2, 2), (1, 1))
    (True, False)
    """
    return any(s > 1 for s in strides) and all(
        len({tuple(row for _, row in entries) for entries in axis_phases(k, s, d)}) == 1
        for k, s, d in zip(kernel_size, strides, dilation_rate))


def max_row_offset(kernel_size: int, stride: int, dilation: int) -> int:
    """Largest row offset ``q_k`` of any tap: the output has ``n + this`` rows per phase."""
    return ((kernel_size - 1) * dilation) // stride


def phase_overshoot(kernel_size: int, stride: int, dilation: int) -> int:
    """Positions past the full output held by interleaved phases of ``n + max_row_offset`` rows."""
    rows = max_row_offset(kernel_size, stride, dilation) + 1
    return rows * stride - effective_kernel_size(kernel_size, dilation)


def phase_tables(kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int]
                 ) -> Tuple[List[List[List[Tuple[int, int]]]], List[int]]:
    """Per axis, ``axis_phases`` and ``max_row_offset``: what both phase-based paths start from.

    >>> phase_tables((3,), (2,), (1,))
    ([[[(0, 0), (2, 1)], [(1, 0)]]], [1])
    """
    per_axis = [axis_phases(k, s, d) for k, s, d in zip(kernel_size, strides, dilation_rate)]
    row_pad = [max_row_offset(k, s, d) for k, s, d in zip(kernel_size, strides, dilation_rate)]
    return per_axis, row_pad


def join_phases(computed: Mapping[Tuple[int, ...], Any], strides: Sequence[int],
                crops: Sequence[Tuple[int, int]], overshoot: Sequence[int]) -> Any:
    """Interleave per-phase outputs (the same number of rows each) and crop to the window.

    ``computed`` maps a phase (``phase_indices``) to its rows; phases that no
    tap lands on (stride > kernel span) are missing and become zeros.
    ``crops`` and ``overshoot`` are ``crop_to_window``'s: for phases of
    ``n + max_row_offset`` rows, the path's crops and ``phase_overshoot``.
    """
    order = phase_indices(strides)
    positions = [i for i, phase in enumerate(order) if phase in computed]
    run = len(positions) < len(order) and positions[-1] - positions[0] + 1 == len(positions)
    if run and len(strides) <= 2:
        # The phases some tap lands on are a run of the stacking order (one phase
        # of four on 2D k3 s2 d2): one pad of their stack makes the others'
        # zeros, not a zero tensor apiece. Up to 2D: the stack has rank + 3
        # axes, and LiteRT's builtin PAD takes at most 5 (a 6-axis one failed to convert).
        present = [computed[order[i]] for i in positions]
        stacked = ops.expand_dims(present[0], -2) if len(present) == 1 else ops.stack(present, axis=-2)
        pads = [(0, 0)] * (len(stacked.shape) - 2) + [(positions[0], len(order) - 1 - positions[-1]), (0, 0)]
        out = interleave(ops.pad(stacked, pads), strides)
    else:
        zeros = ops.zeros_like(computed[order[positions[0]]])
        out = interleave_phases([computed.get(phase, zeros) for phase in order], strides)
    return crop_to_window(out, crops, overshoot)


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


def _symbolic_on_jax(shape: Sequence[Any]) -> bool:
    """Whether ``shape`` holds JAX's symbolic sizes (``jax.export``, ``jax2tf``, ``jax2onnx``).

    Read off the sizes themselves (JAX's symbolic dimension class), so no
    lookup of the backend: TensorFlow's unknown sizes are None, torch's are
    its own classes.

    >>> _symbolic_on_jax((2, None, 3))
    False
    """
    return any(not isinstance(d, int) and d is not None and type(d).__module__.startswith("jax")
               for d in shape)


def reshape(x: Any, shape: Sequence[Any]) -> Any:
    """``keras.ops.reshape``, in a form every exporter can lower with symbolic sizes.

    Under ``jax.export``/``jax2tf``/``jax2onnx`` a size can be symbolic, and a
    target size such as ``2*n`` is derived from the input's sizes. jax2onnx
    lowers ``jnp.reshape`` (Keras's) only when every symbolic target size is
    one of the input's sizes; ``lax.reshape`` it lowers with shape arithmetic.
    Other backends and static shapes take ``keras.ops.reshape`` unchanged.
    """
    if _symbolic_on_jax(shape):
        from jax import lax

        return lax.reshape(x, tuple(shape))
    return ops.reshape(x, shape)


def interleave(y: Any, strides: Sequence[int]) -> Any:
    """Interleave phases: ``(batch, *rows, *strides, filters) -> (batch, *(rows * strides), filters)``.

    ``out[q*s + r] = y[q, r]`` on every axis. The phase axes may also come as
    one axis of ``prod(strides)`` entries, ordered like ``phase_indices``.
    The batch is merged with the first row axis and the last phase axis with
    the filters, so the one transpose has ``2 * rank`` axes: at most 6, which
    LiteRT's builtin TRANSPOSE takes (an 8-axis one needs its Flex delegate),
    and a 3D transpose that ran 1.7x faster than the 8-axis one under XLA.

    >>> import numpy as np
    >>> phases = np.array([[[[1.0], [10.0]], [[2.0], [20.0]]]])  # (1, rows 2, stride 2, 1)
    >>> np.asarray(interleave(phases, (2,)))[0, :, 0].tolist()
    [1.0, 10.0, 2.0, 20.0]
    """
    rank = len(strides)
    shape = dynamic_shape(y)
    batch, rows, filters = shape[0], shape[1 : rank + 1], shape[-1]
    # Axes now: (batch*row_1, row_2..row_r, s_1..s_(r-1), s_r*filters).
    y = reshape(y, [batch * rows[0], *rows[1:], *strides[:-1], strides[-1] * filters])
    if rank > 1:
        order = [0]
        for axis in range(rank - 1):
            order += [rank + axis, 1 + axis]  # s_(axis+1) before row_(axis+2)
        order.append(2 * rank - 1)
        y = ops.transpose(y, order)
    return reshape(y, [batch, *(r * s for r, s in zip(rows, strides)), filters])


def interleave_by_stacking(y: Any, strides: Sequence[int]) -> Any:
    """``interleave``'s result, built from stacks of the phases instead of one transpose.

    Each phase axis but the last is unstacked and its slices stacked again
    just after their row axis, innermost axis first; the last phase axis rides
    with the filters as in ``interleave``. XLA on CPU runs these nested stacks
    as concatenations, with less memory than the 6-axis transpose on 3D
    (rule J11, ``Options.stacks_depth_to_space``).

    >>> import numpy as np
    >>> y = np.arange(2 * 2 * 3 * 2 * 2 * 2 * 3 * 2, dtype="float32").reshape(2, 2, 3, 2, 2, 2, 3, 2)
    >>> strides = (2, 2, 3)
    >>> stacked, transposed = interleave_by_stacking(y, strides), interleave(y, strides)
    >>> bool(np.array_equal(np.asarray(stacked), np.asarray(transposed)))
    True
    """
    rank = len(strides)
    shape = dynamic_shape(y)
    batch, rows, filters = shape[0], shape[1 : rank + 1], shape[-1]
    y = reshape(y, [batch * rows[0], *rows[1:], *strides[:-1], strides[-1] * filters])

    def place(t: Any, axis: int) -> Any:
        # t: (batch*row_1, row_2..row_r, s_axis..s_(r-1), s_r*filters), the phase
        # axes before ``axis`` already placed by the callers; s_axis is at ``rank``.
        if axis == rank:
            return t
        return ops.stack([place(part, axis + 1) for part in ops.unstack(t, axis=rank)], axis=axis)

    return reshape(place(y, 1), [batch, *(r * s for r, s in zip(rows, strides)), filters])


def interleave_phases(phases: Sequence[Any], strides: Sequence[int]) -> Any:
    """Interleave per-phase outputs into one tensor.

    ``phases`` is ordered like ``phase_indices(strides)``; each entry is
    ``(batch, *rows, filters)``. The result is
    ``(batch, *(rows * stride), filters)`` with ``out[q*s + r] = phases[r][q]``.
    """
    if len(phases) == 1:
        return phases[0]
    return interleave(ops.stack(phases, axis=-2), strides)  # stacked: (B, *rows, S, F)


def static_slice(y: Any, slices: Sequence[slice]) -> Any:
    """``y[slices]`` for slices with int (or None) bounds, also where sizes are symbolic.

    ``keras.ops.slice``: TF differentiates it with a pad, but a Python slice
    (a strided slice) with StridedSliceGrad, which made the circular fold's
    gradient 8x slower (142 against 25 ms on the 3D k3 s2 benchmark case)
    and the phase path's crop 1.5x (2D k3 s2 d2). jnp indexing falls back to
    a gather on symbolic sizes, which jax2onnx cannot lower; ``lax.slice``
    takes symbolic limits. Starts must be >= 0.

    >>> import numpy as np
    >>> np.asarray(static_slice(np.arange(6.0).reshape(1, 6), [slice(None), slice(1, -2)])).tolist()
    [[1.0, 2.0, 3.0]]
    """
    starts = [s.start or 0 for s in slices]
    if _symbolic_on_jax(y.shape):
        from jax import lax

        return lax.slice(y, starts, [_stop(n, s) for n, s in zip(y.shape, slices)])
    if type(y).__module__.startswith("tensorflow"):
        return _tensorflow_slice(y, slices)
    lengths = [_stop(n, s) - start for n, s, start in zip(dynamic_shape(y), slices, starts)]
    return ops.slice(y, starts, lengths)


def _stop(length: Any, cut: slice) -> Any:
    """Where ``cut`` ends on an axis of ``length`` (an int or a scalar tensor): its ``stop``, made >= 0."""
    if cut.stop is None:
        return length
    return length + cut.stop if cut.stop < 0 else cut.stop


def _tensorflow_slice(y: Any, slices: Sequence[slice]) -> Any:
    """``static_slice`` on TensorFlow: a split per cut axis.

    Under XLA, TF differentiates a slice with ``XlaDynamicUpdateSlice``, which
    has no gradient of its own (second order fails inside
    ``tf.function(jit_compile=True)``); a split's gradient is a concatenation,
    differentiable at any order, and like the slice's pad one pass. The sizes
    are computed, never -1, which ONNX's Split does not take.
    """
    import tensorflow as tf

    sizes = dynamic_shape(y)
    for axis, cut in enumerate(slices):
        if cut.start is None and cut.stop is None:
            continue
        length, start = sizes[axis], cut.start or 0
        stop = _stop(length, cut)
        parts = [start, stop - start, length - stop]
        keep = 1
        if not start:  # no rows before the window
            parts, keep = parts[1:], 0
        if cut.stop is None:  # no rows after it
            parts = parts[:-1]
        if len(parts) > 1:
            y = tf.split(y, parts, axis=axis)[keep]
    return y


def wrap_around(x: Any, extensions: Sequence[Any]) -> Any:
    """Extend circular axes periodically: the last ``a`` rows before, the first ``b`` after.

    ``x`` is channels_last with one batch axis; ``extensions`` holds one
    ``(a, b)`` (see ``arithmetic.circular_extension``) or None per spatial
    axis. Where the length is unknown, symbolic, or shorter than ``a`` or
    ``b``, the axis is tiled first, so the rows are right for any length and
    every slice is static.

    >>> import numpy as np
    >>> np.asarray(wrap_around(np.arange(3.0).reshape(1, 3, 1), [(2, 4)]))[0, :, 0].tolist()
    [1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0]
    """
    for axis, extension in enumerate(extensions):
        if not extension or extension == (0, 0):
            continue
        before, after = extension
        dim = 1 + axis
        length = x.shape[dim]
        known = isinstance(length, int) and length >= max(before, after)
        tiled = x if known else _concatenate([x] * max(before, after), dim)
        parts = []
        if known and before:
            parts.append(_rows(x, dim, length - before, length))
        elif before:
            # The last rows as the first rows of the reversed axis: no start depends on the length.
            parts.append(ops.flip(_rows(ops.flip(tiled, axis=dim), dim, 0, before), axis=dim))
        parts.append(x)
        if after:
            parts.append(_rows(tiled, dim, 0, after))
        x = _concatenate(parts, dim)
    return x


def fold_circular(y: Any, folds: Sequence[Any]) -> Any:
    """Fold full outputs onto circular axes: ``out[(t - before) mod length] += y[t]``.

    ``y`` is channels_last with one batch axis; ``folds`` holds one
    ``(before, length)`` or None per spatial axis, for static lengths whose
    wrap (``y``'s length minus ``length``) is at most ``length``: the rows
    past the window are added onto its start, the rows before it onto its end.

    >>> import numpy as np
    >>> full = np.arange(1.0, 6.0).reshape(1, 5, 1)  # positions 0..4, window [1, 5)
    >>> np.asarray(fold_circular(full, [(1, 4)]))[0, :, 0].tolist()
    [2.0, 3.0, 4.0, 6.0]
    """
    for axis, fold in enumerate(folds):
        if fold is None:
            continue
        before, length = fold
        dim = 1 + axis
        tail = y.shape[dim] - before - length  # rows past the window: they wrap to its start
        # One split and one concatenation per axis: their gradients are each
        # other, one pass over the output apiece (slicing the rows one by one
        # gave every slice a gradient the size of the whole output).
        # y's rows: [head | start (tail rows) | middle | end (before rows) | past (tail rows)].
        bounds = [before, before + tail, length, before + length]
        head, start, middle, end, past = ops.split(y, bounds, axis=dim)
        parts = [start + past if tail else start, middle, end + head if before else end]
        y = _concatenate([part for part in parts if part.shape[dim] != 0], dim)
    return y


def _rows(y: Any, dim: int, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of axis ``dim`` (static bounds)."""
    index = [slice(None)] * len(y.shape)
    index[dim] = slice(start, stop)
    return static_slice(y, index)


def _concatenate(parts: Sequence[Any], axis: int) -> Any:
    # jax2onnx's rule for jnp.concatenate (Keras's) gave a length of 0 on a symbolic axis
    # (measured: the next layer saw it); lax.concatenate it lowers correctly.
    if _symbolic_on_jax(parts[0].shape):
        from jax import lax

        return lax.concatenate(list(parts), axis)
    return ops.concatenate(parts, axis=axis)



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
        y = static_slice(y, slices)
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


def result_shape(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                 groups: int, crops: Sequence[Tuple[int, int]]) -> Tuple[Any, ...]:
    """A path's result shape (see the contract in ``_paths/__init__.py``): the full output minus the crops.

    >>> import numpy as np
    >>> result_shape(np.zeros((2, 4, 3)), np.zeros((3, 5, 3)), (2,), (1,), 1, ((1, 0),))
    (2, 8, 5)
    """
    rank = len(strides)
    # None where the input's length is unknown (tf.function without static sizes).
    lengths = [None if n is None else full_output_length(n, k, s, d) - before - after
               for n, k, s, d, (before, after) in zip(x.shape[1:-1], kernel.shape[:rank], strides,
                                                      dilation_rate, crops)]
    return (x.shape[0], *lengths, kernel.shape[rank] * groups)


def as_tensors(inputs: Any, kernel: Any) -> Tuple[Any, Any]:
    """The op's input as a tensor, and the kernel as a tensor of the input's dtype."""
    inputs = ops.convert_to_tensor(inputs)
    return inputs, ops.convert_to_tensor(kernel, dtype=inputs.dtype)


def flatten_batch(x: Any, batch_axes: int, rank: int) -> Tuple[Any, Any]:
    """Merge several leading batch axes into one (and give back the inverse)."""
    if batch_axes == 1:
        return x, lambda y: y
    shape = dynamic_shape(x)
    batch_shape = shape[:batch_axes]
    flat = ops.reshape(x, [-1, *shape[batch_axes:]])

    def restore(y: Any) -> Any:
        return ops.reshape(y, [*batch_shape, *dynamic_shape(y)[1:]])

    return flat, restore


def channels_last(x: Any, batch_axes: int, rank: int) -> Any:
    """A channels_first tensor (``batch_axes`` leading axes) as channels_last."""
    lead = list(range(batch_axes))
    return ops.transpose(x, lead + [batch_axes + 1 + a for a in range(rank)] + [batch_axes])


def channels_first(y: Any, batch_axes: int, rank: int) -> Any:
    """A channels_last tensor (``batch_axes`` leading axes) as channels_first: ``channels_last``'s inverse."""
    lead = list(range(batch_axes))
    return ops.transpose(y, lead + [batch_axes + rank] + [batch_axes + a for a in range(rank)])

