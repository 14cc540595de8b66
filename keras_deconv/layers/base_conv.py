"""The rank-generic forward-convolution layer behind Conv1D/2D/3D."""

from __future__ import annotations

from typing import Any, Tuple

from keras_deconv.forward import conv
from keras_deconv.layers.base_convolution import BaseConvolution
from keras_deconv.plan import plan_conv


class BaseConv(BaseConvolution):
    """Forward convolution of any rank; see ``Conv2D`` for the arguments.

    ``build`` creates Keras's kernel ``kernel_size + (channels // groups,
    filters)`` and the bias ``(filters,)``; ``call`` runs
    ``keras_deconv.ops.conv``. The kernel is the one a transposed layer with
    ``filters = channels`` would hold, so one kernel serves both directions.
    """

    def _kernel_shape(self, channels: int) -> Tuple[int, ...]:
        if channels % self.groups:
            raise ValueError(
                f"The number of input channels ({channels}) must be divisible by `groups`. "
                f"Received: groups={self.groups}"
            )
        return self.kernel_size + (channels // self.groups, self.filters)

    def _check(self, input_shape: Any, building: bool = False) -> Any:
        input_shape = tuple(input_shape)
        # A shape of too low a rank has no channel axis to read: the plan refuses it by its rank.
        channels = input_shape[self._channel_axis] if len(input_shape) >= self.rank + 2 else None
        if channels is not None:
            self._kernel_shape(channels)  # channels divisible by groups
        # Unknown channels: a kernel for none, which the plan refuses naming the input's channel axis.
        kernel_shape = self.kernel_size + ((channels or 0) // self.groups, self.filters)
        return plan_conv(input_shape, kernel_shape, strides=self.strides, padding=self.padding,
                         data_format=self.data_format, dilation_rate=self.dilation_rate, groups=self.groups,
                         shape_name="input_shape").output_shape

    def _convolve(self, inputs: Any, kernel: Any) -> Any:
        return conv(inputs, kernel, strides=self.strides, padding=self.padding, data_format=self.data_format,
                    dilation_rate=self.dilation_rate, groups=self.groups)
