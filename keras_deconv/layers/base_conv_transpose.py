"""The rank-generic transposed-convolution layer behind Conv1D/2D/3DTranspose."""

from __future__ import annotations

from typing import Any, Tuple

import keras

from keras_deconv import arguments
from keras_deconv import initializers as complex_initializers
from keras_deconv.layers.base_convolution import BaseConvolution
from keras_deconv.ops import conv_transpose
from keras_deconv.plan import Plan, plan_conv_transpose


class BaseConvTranspose(BaseConvolution):
    """Transposed convolution of any rank; see ``Conv2DTranspose`` for the arguments.

    Arguments are normalised and checked here, once; ``build`` creates the
    kernel ``kernel_size + (filters // groups, channels)`` and the bias
    ``(filters,)``; ``call`` runs ``keras_deconv.ops.conv_transpose``.
    """

    def __init__(self, rank: int, filters: int, kernel_size: Any, strides: Any = 1, padding: Any = "valid",
                 output_padding: Any = None, **kwargs: Any) -> None:
        # Checked before the rest, as the arguments come (the kernel initialiser reads the strides).
        strides_t = arguments.normalize_tuple(strides, rank, "strides")
        dilation_t = arguments.normalize_tuple(kwargs.get("dilation_rate", 1), rank, "dilation_rate")
        self.output_padding = arguments.normalize_output_padding(output_padding, rank, strides_t, dilation_t)
        arguments.check_circular_arguments(arguments.normalize_padding(padding, rank), rank,
                                           self.output_padding)
        super().__init__(rank, filters, kernel_size, strides=strides, padding=padding, **kwargs)

    def _kernel_initializer(self, identifier: Any) -> Any:
        """The kernel initialiser; "checkerboard_free" binds this layer's strides (and is checked)."""
        if isinstance(identifier, str) and identifier.lower() == "checkerboard_free":
            identifier = complex_initializers.CheckerboardFree(self.strides)
        initializer = complex_initializers.get(identifier, self._complex_dtype)
        if isinstance(initializer, complex_initializers.CheckerboardFree):
            received = (f"Received: kernel_size={self.kernel_size}, strides={self.strides}, "
                        f"dilation_rate={self.dilation_rate}")
            if self._complex_dtype:
                raise ValueError(f"The checkerboard-free initialiser takes real layers only. {received}, "
                                 f"dtype={self.dtype_policy.compute_dtype!r}")
            bound = initializer.strides
            bound = (bound,) * self.rank if isinstance(bound, int) else tuple(bound)
            if bound != self.strides:
                raise ValueError(f"A CheckerboardFree initialiser must have the layer's strides. {received}, "
                                 f"initializer strides={bound}")
            if any(k % s for k, s in zip(self.kernel_size, self.strides)) or max(self.dilation_rate) > 1:
                raise ValueError("A checkerboard-free kernel needs every kernel size to be a multiple of "
                                 f"its stride, and no dilation. {received}")
        return initializer

    def _kernel_shape(self, channels: int) -> Tuple[int, ...]:
        return self.kernel_size + (self.filters // self.groups, channels)

    def _plan(self, input_shape: Any, output_size: Any = None, check_output: bool = True) -> Plan:
        """The op's plan for this layer's arguments (``keras_deconv.plan``): checks and output shape."""
        input_shape = tuple(input_shape)
        # A shape of too low a rank has no channel axis to read: the plan refuses it by its rank.
        channels = input_shape[self._channel_axis] if len(input_shape) >= self.rank + 2 else None
        kernel_shape = self.kernel_size + (self.filters // self.groups, channels)
        return plan_conv_transpose(input_shape, kernel_shape, strides=self.strides, padding=self.padding,
                                   output_padding=self.output_padding, data_format=self.data_format,
                                   dilation_rate=self.dilation_rate, groups=self.groups,
                                   output_size=output_size, shape_name="input_shape",
                                   check_output=check_output)

    def _check(self, input_shape: Any, building: bool = False, output_size: Any = None) -> Any:
        # While building, the output may be empty without output_size, which each call may still give.
        return self._plan(input_shape, output_size, check_output=not building).output_shape

    def _convolve(self, inputs: Any, kernel: Any, output_size: Any = None) -> Any:
        return conv_transpose(inputs, kernel, strides=self.strides, padding=self.padding,
                              output_padding=self.output_padding, data_format=self.data_format,
                              dilation_rate=self.dilation_rate, groups=self.groups, output_size=output_size)

    def call(self, inputs: Any, output_size: Any = None) -> Any:
        return self._apply(inputs, lambda x, kernel: self._convolve(x, kernel, output_size))

    def compute_output_shape(self, input_shape: Any, output_size: Any = None) -> Any:
        return self._check(input_shape, output_size=output_size)

    def compute_output_spec(self, inputs: Any, output_size: Any = None) -> Any:
        # Keras's default would call compute_output_shape(inputs_shape) only, losing output_size.
        shape = self.compute_output_shape(tuple(inputs.shape), output_size=output_size)
        return keras.KerasTensor(shape, dtype=inputs.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config["output_padding"] = self.output_padding
        return config
