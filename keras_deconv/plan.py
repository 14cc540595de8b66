"""The one shape function: everything a transposed convolution decides before touching a tensor.

``plan_conv_transpose`` normalises and checks the arguments against the input
and kernel shapes, and returns a frozen ``Plan``: the output shape and, per
spatial axis, how the full output is cropped (or, on circular axes, wrapped
and folded). The op (``keras_deconv.ops``) runs a plan; the layers' ``build``
and ``compute_output_shape`` call the same function, so the layer and the op
can never disagree on a shape or on which arguments they refuse.

Shapes may hold None (unknown) or symbolic sizes (``jax.export``,
``torch.export``): only static facts (ranks, kernel sizes, strides) decide
anything here.

>>> plan = plan_conv_transpose((2, 5, 5, 3), (3, 3, 4, 3), strides=2, padding="same",
...                            data_format="channels_last")
>>> plan.output_shape, plan.crops
((2, 10, 10, 4), ((0, 1), (0, 1)))
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

from keras_deconv import arguments, arithmetic

#: Per spatial axis: None, or the ``(before, after)`` rows / ``(pad_before, length)`` of a circular axis.
Circular = Tuple[Optional[Tuple[int, int]], ...]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A checked transposed convolution: normalised arguments, output shape, crops per axis."""

    rank: int
    strides: Tuple[int, ...]
    dilation_rate: Tuple[int, ...]
    groups: int
    data_format: str
    kernel_size: Tuple[int, ...]
    #: The input's leading (batch) axes; one or more.
    batch_shape: Tuple[Any, ...]
    output_shape: Tuple[Any, ...]
    #: ``(before, after)`` cut from each end of the full output (``after < 0``: zeros past it).
    crops: Tuple[Tuple[int, int], ...]
    #: Circular axes of unknown length: rows to wrap around the input (``arithmetic.circular_geometry``).
    extensions: Circular
    #: Circular axes of known length: the ``(pad_before, length)`` fold of the full output.
    folds: Circular


def plan_conv_transpose(input_shape: Tuple[Any, ...], kernel_shape: Tuple[Any, ...], *, strides: Any = 1,
                        padding: Any = "valid", output_padding: Any = None, data_format: Optional[str] = None,
                        dilation_rate: Any = 1, groups: int = 1, output_size: Any = None,
                        shape_name: str = "inputs.shape", check_output: bool = True) -> Plan:
    """Check the arguments against the shapes and plan the computation.

    ``kernel_shape`` is ``kernel_size + (filters // groups, channels)``.
    ``data_format`` None means channels_last here (the op and the layers
    resolve Keras's image data format before calling). ``shape_name`` is how
    error messages name the input shape ("input_shape" from the layers).
    ``check_output=False`` skips the check that the output is not empty: a
    layer's ``build`` does not know the ``output_size`` its calls will ask for.

    Raises:
        ValueError, TypeError: naming the argument and the value received.
    """
    rank = _kernel_rank(kernel_shape)
    strides_t = arguments.normalize_tuple(strides, rank, "strides")
    dilation_t = arguments.normalize_tuple(dilation_rate, rank, "dilation_rate")
    padding_n = arguments.normalize_padding(padding, rank)
    output_padding_t = arguments.normalize_output_padding(output_padding, rank, strides_t, dilation_t)
    arguments.check_circular_arguments(padding_n, rank, output_padding_t)
    data_format_n = arguments.normalize_data_format(data_format)
    groups = arguments.normalize_positive_int(groups, "groups")
    received = f"{shape_name}={tuple(input_shape)}"
    spatial = _check_input(tuple(input_shape), kernel_shape, rank, data_format_n, groups, received)
    if any(d is None for d in kernel_shape):
        raise ValueError(f"`kernel` must have a fully known shape. Received: kernel.shape={kernel_shape}")
    kernel_size = tuple(int(k) for k in kernel_shape[:rank])
    requested = None
    if output_size is not None:
        requested = arithmetic.check_output_size(output_size, spatial, kernel_size, strides_t,
                                                 padding_n, dilation_t)
    out_shape = arithmetic.output_shape(input_shape, kernel_shape[rank] * groups, kernel_size, strides_t,
                                        padding_n, output_padding_t, data_format_n, dilation_t, requested)
    if check_output:
        context = f"padding={padding!r}, {received}, kernel.shape={tuple(kernel_shape)}"
        arithmetic.check_output_lengths(out_shape, rank, data_format_n, context)
    paddings = arguments.axis_paddings(padding_n, rank)
    # Per axis (extension, crops, fold); only circular axes extend or fold.
    geometry = [
        arithmetic.circular_geometry(spatial[a], kernel_size[a], strides_t[a], dilation_t[a])
        if paddings[a] == "circular" else
        (None, arithmetic.axis_geometry(
            spatial[a], kernel_size[a], strides_t[a], dilation_t[a], paddings[a],
            None if output_padding_t is None else output_padding_t[a],
            None if requested is None else requested[a],
        ), None)
        for a in range(rank)
    ]
    extensions, crops, folds = (tuple(part) for part in zip(*geometry))
    return Plan(rank=rank, strides=strides_t, dilation_rate=dilation_t, groups=groups,
                data_format=data_format_n, kernel_size=kernel_size,
                batch_shape=tuple(input_shape[: len(input_shape) - rank - 1]), output_shape=out_shape,
                crops=crops, extensions=extensions, folds=folds)  # type: ignore[arg-type]


def wrap_instead_of_fold(plan: Plan) -> Plan:
    """``plan`` with its folded circular axes computed by wrapping the input around instead.

    Same output; the window of the wrapped input's full output is computed
    rather than the full output folded (``arithmetic.circular_geometry``). The
    backend's policy chooses (``Policy.wraps_circular_inputs``).

    >>> plan = plan_conv_transpose((1, 8, 3), (3, 4, 3), strides=2, padding="circular")
    >>> plan.folds, plan.extensions, plan.crops
    (((0, 16),), (None,), ((0, 0),))
    >>> wrapped = wrap_instead_of_fold(plan)
    >>> wrapped.folds, wrapped.extensions, wrapped.crops, wrapped.output_shape == plan.output_shape
    ((None,), ((1, 0),), ((2, 1),), True)
    """
    if not any(plan.folds):
        return plan
    geometry = [
        arithmetic.circular_geometry(None, k, s, d, fold=False) if fold else (extension, crops, None)
        for fold, extension, crops, k, s, d in zip(plan.folds, plan.extensions, plan.crops, plan.kernel_size,
                                                   plan.strides, plan.dilation_rate)
    ]
    extensions, crops, folds = (tuple(part) for part in zip(*geometry))
    return dataclasses.replace(plan, extensions=extensions, crops=crops, folds=folds)


def one_group(plan: Plan) -> Plan:
    """``plan`` for one of its groups computed alone: ``groups=1`` and ``1/groups`` of the output channels.

    The op runs a grouped convolution group by group where the backend's policy
    says so (``Policy.splits_groups``); each group reads its slice of the input
    channels and of the kernel's last axis.

    >>> plan = plan_conv_transpose((2, 5, 5, 8), (4, 4, 3, 8), strides=2, padding="same", groups=4)
    >>> plan.output_shape, one_group(plan).output_shape, one_group(plan).groups
    ((2, 10, 10, 12), (2, 10, 10, 3), 1)
    """
    lead = len(plan.batch_shape)
    channel_axis = lead if plan.data_format == "channels_first" else lead + plan.rank
    shape = list(plan.output_shape)
    shape[channel_axis] = shape[channel_axis] // plan.groups
    return dataclasses.replace(plan, groups=1, output_shape=tuple(shape))


def _kernel_rank(kernel_shape: Tuple[Any, ...]) -> int:
    rank = len(kernel_shape) - 2
    if rank not in (1, 2, 3):
        raise ValueError(
            "`kernel` must have rank 3, 4 or 5 (kernel_size + (filters // groups, channels)). "
            f"Received: kernel.shape={kernel_shape}"
        )
    return rank


def _check_input(input_shape: Tuple[Any, ...], kernel_shape: Tuple[Any, ...], rank: int,
                 data_format: str, groups: int, received: str) -> Tuple[Any, ...]:
    """Check the input against the kernel; return its spatial sizes."""
    if len(input_shape) < rank + 2:
        raise ValueError(
            f"The input must have rank >= {rank + 2} for a {rank}D kernel "
            f"(batch axes, {rank} spatial axes, channels). Received: {received}"
        )
    if data_format == "channels_last":
        spatial, channels = input_shape[-rank - 1 : -1], input_shape[-1]
    else:
        spatial, channels = input_shape[-rank:], input_shape[-rank - 1]
    if channels is None:
        raise ValueError(
            f"The channel axis of the input must be known (data_format={data_format!r}). Received: {received}"
        )
    if channels % groups:
        raise ValueError(
            f"The number of input channels ({channels}) must be divisible by `groups`. "
            f"Received: groups={groups}, {received}"
        )
    if kernel_shape[rank + 1] != channels:
        raise ValueError(
            f"The last axis of `kernel` must equal the input channels ({channels}). "
            f"Received: kernel.shape={tuple(kernel_shape)}, {received}"
        )
    if any(isinstance(n, int) and n < 1 for n in spatial):
        raise ValueError(f"Every spatial axis of the input must be at least 1. Received: {received}")
    return tuple(spatial)


@dataclasses.dataclass(frozen=True)
class ConvPlan:
    """A checked forward convolution: normalised arguments, output shape, padding per axis."""

    rank: int
    strides: Tuple[int, ...]
    dilation_rate: Tuple[int, ...]
    groups: int
    data_format: str
    kernel_size: Tuple[int, ...]
    batch_shape: Tuple[Any, ...]
    output_shape: Tuple[Any, ...]
    #: ``(before, after)`` zeros (or wrapped rows on circular axes) per axis; ``before`` is None
    #: for 'same' with a stride on a length unknown now (``arithmetic.forward_axis``).
    pads: Tuple[Tuple[Optional[int], int], ...]
    #: Whether each axis is periodic ('circular').
    circular: Tuple[bool, ...]


def plan_conv(input_shape: Tuple[Any, ...], kernel_shape: Tuple[Any, ...], *, strides: Any = 1,
              padding: Any = "valid", data_format: Optional[str] = None, dilation_rate: Any = 1,
              groups: int = 1, shape_name: str = "inputs.shape") -> ConvPlan:
    """Check a forward convolution's arguments against the shapes and plan it.

    ``kernel_shape`` is Keras's ``kernel_size + (channels // groups, filters)``:
    the transposed layout read from the other side, so one kernel serves a
    convolution and its adjoint, ``conv_transpose``.

    >>> plan = plan_conv((2, 7, 7, 4), (3, 3, 2, 6), strides=2, padding="same", groups=2)
    >>> plan.output_shape, plan.pads
    ((2, 4, 4, 6), ((1, 1), (1, 1)))
    """
    rank = _kernel_rank(kernel_shape)
    strides_t = arguments.normalize_tuple(strides, rank, "strides")
    dilation_t = arguments.normalize_tuple(dilation_rate, rank, "dilation_rate")
    paddings = arguments.axis_paddings(arguments.normalize_padding(padding, rank), rank)
    data_format_n = arguments.normalize_data_format(data_format)
    groups = arguments.normalize_positive_int(groups, "groups")
    received = f"{shape_name}={tuple(input_shape)}"
    if any(d is None for d in kernel_shape):
        raise ValueError(f"`kernel` must have a fully known shape. Received: kernel.shape={kernel_shape}")
    channels = kernel_shape[rank] * groups
    if len(input_shape) >= rank + 2:
        axis = -1 if data_format_n == "channels_last" else -rank - 1
        if input_shape[axis] is not None and input_shape[axis] != channels:
            raise ValueError(
                f"The input channels ({input_shape[axis]}) must equal kernel.shape[{rank}] * groups "
                f"({kernel_shape[rank]} * {groups}). Received: kernel.shape={tuple(kernel_shape)}, "
                f"groups={groups}, {received}"
            )
    # The rest of the input's checks are the transposed convolution's (same channel rules).
    spatial = _check_input(tuple(input_shape), tuple(kernel_shape[:rank]) + (0, channels), rank,
                           data_format_n, groups, received)
    filters = kernel_shape[rank + 1]
    if filters % groups:
        raise ValueError(f"The last axis of `kernel` ({filters} filters) must be divisible by `groups`. "
                         f"Received: groups={groups}, kernel.shape={tuple(kernel_shape)}")
    kernel_size = tuple(int(k) for k in kernel_shape[:rank])
    axes = [arithmetic.forward_axis(n, k, s, d, p)
            for n, k, s, d, p in zip(spatial, kernel_size, strides_t, dilation_t, paddings)]
    lengths = tuple(length for _, _, length in axes)
    if any(isinstance(length, int) and length < 1 for length in lengths):
        raise ValueError(
            f"The output would be empty: the dilated kernel is longer than the padded input. Received: "
            f"padding={padding!r}, {received}, kernel.shape={tuple(kernel_shape)}, dilation_rate={dilation_t}"
        )
    batch = tuple(input_shape[: len(input_shape) - rank - 1])
    out_shape = batch + (lengths + (filters,) if data_format_n == "channels_last" else (filters,) + lengths)
    return ConvPlan(rank=rank, strides=strides_t, dilation_rate=dilation_t, groups=groups,
                    data_format=data_format_n, kernel_size=kernel_size, batch_shape=batch,
                    output_shape=out_shape, pads=tuple((before, after) for before, after, _ in axes),
                    circular=tuple(p == "circular" for p in paddings))
