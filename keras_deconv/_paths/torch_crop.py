"""Torch: a crop that is a view, with a gradient of one pad.

Torch's transposed convolution crops both ends by the same amount; 'same'
with an even stride needs one row more off the end. ``F.pad`` with negative
pads copies the output; a chain of ``narrow`` views costs nothing forward
but gives each axis its own zero-filled gradient. Here the forward is one
view and the gradient one ``F.pad`` of the upstream gradient, written with
differentiable operations, and the ``autograd.Function`` runs under
``torch.func``'s transforms.

Torch is imported inside the functions, so this module imports under any backend.
"""

from __future__ import annotations

import functools
from typing import Any, List, Sequence, Tuple


def _view(y: Any, crops: Sequence[Tuple[int, int]]) -> Any:
    """``y`` (channels_last, one batch axis) cut to ``crops`` per spatial axis: views only."""
    for axis, (before, after) in enumerate(crops):
        if before or after:
            y = y.narrow(1 + axis, before, y.shape[1 + axis] - before - after)
    return y


def crop_pads(crops: Sequence[Tuple[int, int]]) -> List[int]:
    """``F.pad``'s pads that undo ``crops`` of a channels_last tensor (its order: the last axis,
    channels, first); negated, they make the crops."""
    return [0, 0] + trailing_pads(crops)


def trailing_pads(pairs: Sequence[Tuple[int, int]]) -> List[int]:
    """``(before, after)`` per trailing axis in ``F.pad``'s order (the last axis first), flattened.

    >>> trailing_pads([(1, 2), (3, 4)])
    [3, 4, 1, 2]
    """
    return [amount for pair in reversed(pairs) for amount in pair]


def torch_crop(y: Any, crops: Sequence[Tuple[int, int]]) -> Any:
    """``y`` cut by ``crops`` (non-negative ``(before, after)`` per spatial axis), as a view.

    >>> import pytest; torch = pytest.importorskip("torch")  # skipped where torch is not installed
    >>> torch_crop(torch.arange(5.0).reshape(1, 5, 1), [(1, 2)])[0, :, 0].tolist()
    [1.0, 2.0]
    """
    import torch

    crops = tuple((int(before), int(after)) for before, after in crops)
    if not any(before or after for before, after in crops):
        return y
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        # torch.compile traces the views and plans the gradient itself (and
        # cannot trace the Function's class being made); the ONNX exporter's
        # tracer needs no gradient.
        return _view(y, crops)
    if torch.is_grad_enabled() or torch._C._functorch.is_functorch_wrapped_tensor(y):
        return _crop_function().apply(y, crops)
    return _view(y, crops)


@functools.cache
def _crop_function() -> Any:
    """The crop as a ``torch.autograd.Function`` (made once, on first use)."""
    import torch
    import torch.nn.functional as F

    class Crop(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(y: Any, crops: Tuple[Tuple[int, int], ...]) -> Any:
            return _view(y, crops)

        @staticmethod
        def setup_context(ctx: Any, inputs: Tuple[Any, Any], output: Any) -> None:
            ctx.crops = inputs[1]

        @staticmethod
        def backward(ctx: Any, gradient: Any) -> Any:
            return F.pad(gradient, crop_pads(ctx.crops)), None

        @staticmethod
        def jvp(ctx: Any, tangent: Any, _: Any) -> Any:
            return _view(tangent, ctx.crops)

    return Crop
