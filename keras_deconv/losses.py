"""Losses that see complex values: mean squared and mean absolute error of the complex difference.

Keras's ``Loss`` converts ``y_true`` and ``y_pred`` to the loss's dtype
(float32 by default) before its function runs, so a complex target and
prediction reach Keras's own losses without their imaginary parts: silently
on TensorFlow, with a warning on JAX and torch. These losses keep the
complex tensors and reduce a real loss, as Keras's reductions do.

>>> import numpy as np
>>> y_true = np.array([[1 + 1j, 0j]], "complex64")
>>> y_pred = np.array([[1 - 1j, 1j]], "complex64")
>>> float(ComplexMeanSquaredError()(y_true, y_pred))  # (|2j|^2 + |1j|^2) / 2
2.5
>>> float(ComplexMeanAbsoluteError()(y_true, y_pred))  # (2 + 1) / 2
1.5
"""

from __future__ import annotations

from typing import Any, Optional

import keras
from keras import ops

_REDUCTIONS = (None, "none", "sum", "sum_over_batch_size", "mean", "mean_with_sample_weight")


class ComplexLoss(keras.losses.Loss):
    """Base of the complex losses: ``call`` receives ``y_true`` and ``y_pred`` with their own dtypes.

    Subclasses implement ``call(y_true, y_pred)``, returning a real loss per
    sample position (the last axis reduced). Reductions as Keras's; masks
    are not applied.
    """

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size", name: Optional[str] = None,
                 dtype: Any = None) -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"`reduction` must be one of {_REDUCTIONS}. Received: reduction={reduction!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        # Not Keras's __call__: it would cast both to the (real) loss dtype first.
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if y_true.dtype != y_pred.dtype:
            y_true = ops.cast(y_true, y_pred.dtype)
        losses = ops.cast(self.call(y_true, y_pred), self.dtype)
        if sample_weight is not None:
            weights = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
            while len(weights.shape) < len(losses.shape):
                weights = ops.expand_dims(weights, -1)
            losses = losses * weights
        if self.reduction in (None, "none"):
            return losses
        total = ops.sum(losses)
        if self.reduction == "sum":
            return total
        if self.reduction == "mean_with_sample_weight" and sample_weight is not None:
            return total / ops.sum(ops.broadcast_to(weights, ops.shape(losses)))
        return total / ops.cast(ops.size(losses), self.dtype)


@keras.saving.register_keras_serializable(package="keras_deconv")
class ComplexMeanSquaredError(ComplexLoss):
    """``mean(|y_true - y_pred|^2)`` over the last axis: the squared modulus of the complex difference.

    On real tensors it is Keras's mean squared error.

    Args:
        reduction: as Keras's losses ("sum_over_batch_size" by default).
        name: the loss's name.
        dtype: the loss value's (real) dtype; None for Keras's float type.
    """

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "complex_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        difference = y_true - y_pred
        return ops.mean(ops.square(ops.abs(difference)), axis=-1)


@keras.saving.register_keras_serializable(package="keras_deconv")
class ComplexMeanAbsoluteError(ComplexLoss):
    """``mean(|y_true - y_pred|)`` over the last axis: the modulus of the complex difference.

    On real tensors it is Keras's mean absolute error.

    Args:
        reduction: as Keras's losses ("sum_over_batch_size" by default).
        name: the loss's name.
        dtype: the loss value's (real) dtype; None for Keras's float type.
    """

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "complex_mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)
