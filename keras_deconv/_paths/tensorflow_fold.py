"""TensorFlow's circular fold: one gather and one scatter of the wrapped rows, with a gradient of its own.

``common.fold_circular`` (keras.ops) splits the full output and concatenates
it again on each circular axis, and TF makes each of those a pass over the
whole output, both ways: on 3D (2, 16^3, 64) -> 32 k3 s2, 'circular' cost
1.3-2x 'same'. Here the output is the window (one slice of the full output)
with the values outside it added onto the positions they wrap to, in one
``tensor_scatter_nd_add`` of what one ``gather_nd`` read: only the wrapped
values move, in whatever number of axes. The gradient is the fold's adjoint,
the window's gradient wrapped around: padded to the full shape once, with
the wrapped positions written by one ``tensor_scatter_nd_update`` (TF's own
derivatives of the forward would pad the output's gradient once per gather
and slice, each a pass over the full output).

The positions are static (the folds are, by the plan's construction); the
batch may be unknown. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence, Tuple

import numpy as np

#: Per spatial axis: None, or ``(before, length)`` (see ``common.fold_circular``).
Folds = Tuple[Optional[Tuple[int, int]], ...]


@functools.lru_cache(maxsize=64)
def wrapped_positions(full_shape: Tuple[int, ...], folds: Folds) -> Tuple[np.ndarray, np.ndarray]:
    """The spatial positions of the full output outside the window, and the window positions they wrap to.

    Position ``t`` on a folded axis ``(before, length)`` is outside the window
    when ``t < before`` or ``t >= before + length``, and wraps to
    ``(t - before) mod length``; other axes are kept as they are. Returns two
    int32 arrays ``(count, rank)``: sources in the full output, targets in the window.

    >>> source, target = wrapped_positions((5,), ((1, 3),))  # window [1, 4)
    >>> source[:, 0].tolist(), target[:, 0].tolist()
    ([0, 4], [2, 0])
    """
    grids = np.meshgrid(*[np.arange(length) for length in full_shape], indexing="ij")
    outside = np.zeros(full_shape, dtype=bool)
    targets = []
    for grid, fold in zip(grids, folds):
        if fold is None:
            targets.append(grid)
            continue
        before, length = fold
        outside |= (grid < before) | (grid >= before + length)
        targets.append((grid - before) % length)
    source = np.stack([grid[outside] for grid in grids], axis=-1).astype(np.int32)
    target = np.stack([grid[outside] for grid in targets], axis=-1).astype(np.int32)
    return source, target


def _batched(positions: np.ndarray, batch: Any) -> Any:
    """``positions`` (count, rank) for every batch index: (batch * count, 1 + rank) scatter indices."""
    import tensorflow as tf

    count = positions.shape[0]
    batch_index = tf.repeat(tf.range(batch, dtype=tf.int32), count)[:, None]
    return tf.concat([batch_index, tf.tile(tf.constant(positions), [batch, 1])], axis=1)


def tensorflow_fold_circular(y: Any, folds: Sequence[Optional[Tuple[int, int]]]) -> Any:
    """``common.fold_circular``'s values, moving only the wrapped values (see the module doc).

    ``y`` is channels_last with one batch axis and static spatial lengths.

    >>> import pytest; tf = pytest.importorskip("tensorflow")  # skipped where TensorFlow is not installed
    >>> full = tf.reshape(tf.range(1.0, 6.0), (1, 5, 1))  # positions 0..4, window [1, 5)
    >>> tensorflow_fold_circular(full, [(1, 4)])[0, :, 0].numpy().tolist()
    [2.0, 3.0, 4.0, 6.0]
    """
    import tensorflow as tf

    # Hashable, for wrapped_positions' cache (the plan may hold lists).
    folds = tuple(None if fold is None else (int(fold[0]), int(fold[1])) for fold in folds)
    rank = len(folds)
    full_shape = tuple(int(length) for length in y.shape[1:1 + rank])
    source, target = wrapped_positions(full_shape, folds)
    window = (slice(None),) + tuple(slice(None) if fold is None else slice(fold[0], fold[0] + fold[1])
                                    for fold in folds)
    # The window's zero padding back to the full shape (the gradient's first step).
    pads = [[0, 0]] + [[0, 0] if fold is None else [fold[0], full - fold[0] - fold[1]]
                       for fold, full in zip(folds, full_shape)] + [[0, 0]]

    @tf.custom_gradient
    def fold(full: Any) -> Any:
        batch = tf.shape(full)[0]
        sources, targets = _batched(source, batch), _batched(target, batch)
        folded = tf.tensor_scatter_nd_add(full[window], targets, tf.gather_nd(full, sources))

        def gradient(upstream: Any) -> Any:
            # The sources are outside the window, so the padding holds zeros there.
            return tf.tensor_scatter_nd_update(tf.pad(upstream, pads), sources,
                                               tf.gather_nd(upstream, targets))

        return folded, gradient

    return fold(y)
