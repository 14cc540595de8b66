"""Argument normalisation and checks shared by the layers and the op, in pure Python.

Every user-facing argument (``strides``, ``padding``, ``data_format`` ...) is
turned into one canonical form here, and every refusal names the argument
and the value received. Nothing here imports a backend.

>>> normalize_tuple(2, 3, "strides")
(2, 2, 2)
>>> normalize_padding(("same", 1), 2)
('same', (1, 1))
"""

from __future__ import annotations

import numbers
from typing import Any, Optional, Sequence, Tuple, Union

#: A padding after normalisation: "valid", "same", or one (before, after) pair per axis.
Padding = Union[str, Tuple[Tuple[int, int], ...]]


#: The padding of one axis after normalisation.
AxisPadding = Union[str, Tuple[int, int]]


PADDING_MODES = ("valid", "same", "circular")


DATA_FORMATS = ("channels_last", "channels_first")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def normalize_tuple(
    value: Any, rank: int, name: str, *, allow_zero: bool = False
) -> Tuple[int, ...]:
    """Turn an int or a sequence of ints into a tuple of ``rank`` ints.

    Raises TypeError for non-integers and ValueError for a wrong length or
    for values below 1 (below 0 with ``allow_zero``).

    >>> normalize_tuple(2, 3, "strides")
    (2, 2, 2)
    >>> normalize_tuple([1, 2], 2, "kernel_size")
    (1, 2)
    """
    if _is_int(value):
        values: Tuple[Any, ...] = (value,) * rank
    elif isinstance(value, (tuple, list)):
        values = tuple(value)
        if len(values) != rank:
            raise ValueError(
                f"The `{name}` argument must be an int or a tuple of {rank} ints. "
                f"Received: {name}={value!r} (length {len(values)})"
            )
    else:
        raise TypeError(
            f"The `{name}` argument must be an int or a tuple of {rank} ints. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    for item in values:
        if not _is_int(item):
            raise TypeError(
                f"The `{name}` argument must contain only ints. "
                f"Received: {name}={value!r}"
            )
    lowest = 0 if allow_zero else 1
    if any(item < lowest for item in values):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"The `{name}` argument must contain only {bound} ints. "
            f"Received: {name}={value!r}"
        )
    return tuple(int(item) for item in values)


def normalize_positive_int(value: Any, name: str) -> int:
    """Check that ``value`` is a positive int and return it.

    >>> normalize_positive_int(4, "filters")
    4
    """
    if not _is_int(value):
        raise TypeError(
            f"The `{name}` argument must be a positive int. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    if value < 1:
        raise ValueError(
            f"The `{name}` argument must be a positive int. Received: {name}={value!r}"
        )
    return int(value)


def normalize_padding(padding: Any, rank: int) -> Padding:
    """Normalise ``padding`` to one mode for every axis, or one entry per axis.

    Accepted: "valid", "same" or "circular" in any case; an int ``p`` (crop
    ``p`` from both ends of every axis, as PyTorch); a tuple of ``rank``
    entries, each a mode, an int ``p`` or a (before, after) pair. The result
    is a mode, or a tuple of modes and (before, after) pairs.

    >>> normalize_padding("SAME", 2)
    'same'
    >>> normalize_padding(1, 2)
    ((1, 1), (1, 1))
    >>> normalize_padding((1, (0, 2)), 2)
    ((1, 1), (0, 2))
    >>> normalize_padding(("Same", "circular"), 2)
    ('same', 'circular')
    """
    if isinstance(padding, str):
        return _padding_mode(padding, padding)
    if _is_int(padding):
        if padding < 0:
            raise ValueError(
                f"The `padding` argument must be non-negative. Received: padding={padding!r}"
            )
        return ((int(padding), int(padding)),) * rank
    if not isinstance(padding, (tuple, list)):
        raise TypeError(
            "The `padding` argument must be a string, an int, or a tuple. "
            f"Received: padding={padding!r} of type {type(padding).__name__}"
        )
    if len(padding) != rank:
        raise ValueError(
            f"The `padding` argument must have one entry per spatial axis ({rank}). "
            f"Received: padding={padding!r}"
        )
    pairs: list = []
    for item in padding:
        if isinstance(item, str):
            pairs.append(_padding_mode(item, padding))
            continue
        if _is_int(item):
            pair: Tuple[Any, ...] = (item, item)
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pair = tuple(item)
        else:
            raise (TypeError if not isinstance(item, (tuple, list)) else ValueError)(
                "Each entry of the `padding` argument must be an int or a "
                f"(before, after) pair of ints. Received: padding={padding!r}"
            )
        if not all(_is_int(p) for p in pair):
            raise TypeError(
                f"The `padding` argument must contain only ints. Received: padding={padding!r}"
            )
        if any(p < 0 for p in pair):
            raise ValueError(
                f"The `padding` argument must be non-negative. Received: padding={padding!r}"
            )
        pairs.append((int(pair[0]), int(pair[1])))
    return tuple(pairs)


def _padding_mode(mode: str, padding: Any) -> str:
    if mode.lower() not in PADDING_MODES:
        raise ValueError(
            "The `padding` argument must be 'valid', 'same', 'circular', an int, or a tuple "
            f"of modes, ints or (before, after) pairs. Received: padding={padding!r}"
        )
    return mode.lower()


def check_circular_arguments(padding: Padding, rank: int, output_padding: Optional[Sequence[int]]) -> None:
    """Refuse ``output_padding`` on a circular axis (its length is always ``n * stride``).

    >>> check_circular_arguments(("same", "circular"), 2, (1, 0))
    """
    if output_padding is None:
        return
    for axis, mode in enumerate(axis_paddings(padding, rank)):
        if mode == "circular" and output_padding[axis]:
            raise ValueError(
                f"`output_padding` cannot extend the circular axis {axis}: its output length is "
                f"input length * stride. Received: padding={padding!r}, "
                f"output_padding={tuple(output_padding)}"
            )


def normalize_data_format(data_format: Optional[str], default: str = "channels_last") -> str:
    """Return "channels_last" or "channels_first" (``default`` for None).

    >>> normalize_data_format("Channels_First")
    'channels_first'
    """
    if data_format is None:
        data_format = default
    if not isinstance(data_format, str) or data_format.lower() not in DATA_FORMATS:
        raise ValueError(
            "The `data_format` argument must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return data_format.lower()


def normalize_output_padding(
    output_padding: Any,
    rank: int,
    strides: Sequence[int],
    dilation_rate: Sequence[int],
) -> Optional[Tuple[int, ...]]:
    """Normalise ``output_padding``; each value must be < max(stride, dilation).

    >>> normalize_output_padding(1, 2, strides=(2, 1), dilation_rate=(1, 2))
    (1, 1)
    """
    if output_padding is None:
        return None
    values = normalize_tuple(output_padding, rank, "output_padding", allow_zero=True)
    for axis, (value, stride, dilation) in enumerate(zip(values, strides, dilation_rate)):
        if value >= max(stride, dilation):
            raise ValueError(
                "Each value of `output_padding` must be smaller than the stride or the "
                f"dilation of its axis (whichever is larger); axis {axis} has "
                f"stride {stride} and dilation {dilation}. "
                f"Received: output_padding={output_padding!r}"
            )
    return values


def axis_padding(padding: Any) -> AxisPadding:
    """One axis's padding in normal form: a mode or a (before, after) pair.

    >>> axis_padding(2)
    (2, 2)
    """
    if isinstance(padding, str):
        return padding
    if _is_int(padding):
        return (int(padding), int(padding))
    return (int(padding[0]), int(padding[1]))


def axis_paddings(padding: Padding, rank: int) -> Tuple[AxisPadding, ...]:
    """Split a normalised padding into one entry per axis.

    >>> axis_paddings("same", 2)
    ('same', 'same')
    """
    if isinstance(padding, str):
        return (padding,) * rank
    return tuple(padding)
