"""NumPy backend only: phases written straight into the cropped output.

Interleaving with ``keras.ops`` (stack, transpose, reshape, crop) holds about
three output-sized arrays at once. On the numpy backend nothing is traced, so
each phase can instead be written into one preallocated output as soon as it
is computed: the peak is about the output plus one phase (on the 96^3 volume of
``tests/test_large.py``: 3.5x input+output the ``keras.ops`` way).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence, Tuple

import numpy as np


def assemble_phases(phases: Iterable[Tuple[Tuple[int, ...], Any]], output_shape: Sequence[int],
                    strides: Sequence[int], crops: Sequence[Tuple[int, int]], dtype: Any) -> np.ndarray:
    """Write each ``(phase, rows)`` into ``out[:, o = q*stride + r - before, :]``.

    ``rows`` holds phase ``r``'s values at full-output positions
    ``q*stride + r`` for ``q = 0, 1, ...``; positions no phase reaches stay 0.

    >>> even, odd = np.array([[[1.0], [2.0]]]), np.array([[[10.0], [20.0]]])
    >>> assemble_phases([((0,), even), ((1,), odd)], (1, 3, 1), (2,), [(1, 0)], "float32")[0, :, 0]
    array([10.,  2., 20.], dtype=float32)
    """
    out = np.zeros(tuple(output_shape), dtype=dtype)
    for phase, values in phases:
        values = np.asarray(values)
        target, source = [slice(None)], [slice(None)]
        for axis, (r, s, (before, _)) in enumerate(zip(phase, strides, crops)):
            start = (r - before) % s  # first output position this phase writes
            first = (start + before - r) // s  # its row in the phase
            if first < 0:  # a negative crop: output positions before the full output stay 0
                start, first = start - first * s, 0
            length, rows = output_shape[1 + axis], values.shape[1 + axis]
            count = max(0, min(-(-(length - start) // s), rows - first))
            target.append(slice(start, start + count * s, s))
            source.append(slice(first, first + count))
        out[tuple(target)] = values[tuple(source)]
        del values  # let this phase go before the next one is computed
    return out
