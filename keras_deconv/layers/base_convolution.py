"""What the forward and transposed layers share: arguments, complex weights, LoRA, bias and activation.

``BaseConv`` (Conv1D/2D/3D) and ``BaseConvTranspose`` (Conv1D/2D/3DTranspose)
differ in their kernel's shape, their plan and the op they call; the rest is here.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import keras
from keras import ops

from keras_deconv import activations, arguments
from keras_deconv import initializers as complex_initializers
from keras_deconv.complex_weights import PART_DTYPES, is_complex_dtype, weight_value


class BaseConvolution(keras.layers.Layer):
    """A convolution layer of any rank, forward or transposed; subclasses give the kernel shape and the op.

    Subclasses implement ``_kernel_shape``, ``_check`` (the plan's checks,
    giving the output shape) and ``_convolve`` (the op).
    """

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: Any = "valid",
        data_format: Optional[str] = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: Optional[int] = None,
        lora_alpha: Optional[float] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.filters = arguments.normalize_positive_int(filters, "filters")
        self.kernel_size = arguments.normalize_tuple(kernel_size, rank, "kernel_size")
        self.strides = arguments.normalize_tuple(strides, rank, "strides")
        self.padding = arguments.normalize_padding(padding, rank)
        self.dilation_rate = arguments.normalize_tuple(dilation_rate, rank, "dilation_rate")
        self.data_format = arguments.normalize_data_format(
            data_format, keras.config.image_data_format()
        )
        self.groups = arguments.normalize_positive_int(groups, "groups")
        if self.filters % self.groups:
            raise ValueError(
                "The number of filters must be divisible by `groups`. "
                f"Received: filters={filters}, groups={groups}"
            )
        if not isinstance(use_bias, bool):
            raise TypeError(f"`use_bias` must be a bool. Received: use_bias={use_bias!r}")
        self.use_bias = use_bias
        # Complex layers keep each weight as real parts (see keras_deconv/complex_weights.py),
        # and the variance-scaling names select complex initialisers.
        self._complex_dtype = is_complex_dtype(self.dtype_policy.compute_dtype)
        # Complex layers refuse Keras's real activations, which would drop the imaginary part.
        self.activation = activations.get(activation, self._complex_dtype)
        self.kernel_initializer = self._kernel_initializer(kernel_initializer)
        self.bias_initializer = complex_initializers.get(bias_initializer, self._complex_dtype)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.InputSpec(min_ndim=rank + 2)
        if lora_rank is not None:
            arguments.normalize_positive_int(lora_rank, "lora_rank")
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False

    def _kernel_initializer(self, identifier: Any) -> Any:
        """The kernel initialiser (``keras_deconv.initializers.get``: complex names for complex layers)."""
        return complex_initializers.get(identifier, self._complex_dtype)

    @property
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else -self.rank - 1

    def build(self, input_shape: Any) -> None:
        self._check(input_shape, building=True)
        channels = tuple(input_shape)[self._channel_axis]
        self.input_spec = keras.InputSpec(
            min_ndim=self.rank + 2, axes={self._channel_axis: channels}
        )
        parts = (2,) if self._complex_dtype else ()
        weight_dtype = PART_DTYPES[self.dtype_policy.compute_dtype] if parts else self.dtype
        self.kernel = self.add_weight(
            name="kernel",
            shape=self._kernel_shape(channels) + parts,
            initializer=complex_initializers.real_parts_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            trainable=True,
            dtype=weight_dtype,
        )
        self.kernel.complex_parts = bool(parts)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,) + parts,
                initializer=complex_initializers.real_parts_initializer(self.bias_initializer),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                trainable=True,
                dtype=weight_dtype,
            )
            self.bias.complex_parts = bool(parts)
        else:
            self.bias = None
        if self.lora_rank:
            self.built = True  # enable_lora needs a built layer (Keras sets this after build returns)
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)

    def enable_lora(self, rank: int, lora_alpha: Optional[float] = None, a_initializer: Any = "he_uniform",
                    b_initializer: Any = "zeros") -> None:
        """Freeze the kernel and train a low-rank update of it: ``kernel + (lora_alpha / rank) * A @ B``.

        As Keras's ``Conv`` layers: ``lora_kernel_a`` has shape
        ``kernel.shape[:-1] + (rank,)`` and ``lora_kernel_b`` ``(rank, channels)``
        (the kernel's last axis); with ``b_initializer="zeros"`` the output is
        unchanged when LoRA is enabled. The bias stays trainable. The rank and
        alpha go into ``get_config``, and a ``.keras`` file keeps the kernel and
        both LoRA weights.

        Args:
            rank: int, the rank of the update.
            lora_alpha: scale numerator; defaults to ``rank`` (a scale of 1).
            a_initializer: initializer of ``lora_kernel_a``.
            b_initializer: initializer of ``lora_kernel_b``.

        Raises:
            ValueError: for an unbuilt layer, a second call, a kernel
                constraint, a complex layer, or a rank that is not a positive int.
        """
        name = type(self).__name__
        if self.kernel_constraint is not None:
            raise ValueError(
                f"LoRA cannot be enabled on {name} {self.name!r}: it has a kernel constraint, which a "
                "low-rank update would bypass. Received: "
                f"kernel_constraint={keras.constraints.serialize(self.kernel_constraint)}"
            )
        if not self.built:
            raise ValueError(f"LoRA can only be enabled on a built layer; build or call {name} "
                             f"{self.name!r} first. Received: layer.built=False")
        if self.lora_enabled:
            raise ValueError(f"LoRA is already enabled on {name} {self.name!r}; it can be enabled once. "
                             f"Received: rank={rank}")
        if self._complex_dtype:
            raise ValueError(f"LoRA is not supported on complex layers ({name} {self.name!r}). "
                             f"Received: dtype={self.dtype_policy.compute_dtype!r}")
        rank = arguments.normalize_positive_int(rank, "rank")
        # Low-precision layers keep their LoRA weights in float32 (as Keras does).
        dtype = "float32" if self.variable_dtype in ("float16", "bfloat16") else self.variable_dtype
        self._tracker.unlock()
        self.lora_kernel_a = self.add_weight(name="lora_kernel_a", shape=self.kernel.shape[:-1] + (rank,),
                                             initializer=keras.initializers.get(a_initializer),
                                             regularizer=self.kernel_regularizer, dtype=dtype)
        self.lora_kernel_b = self.add_weight(name="lora_kernel_b", shape=(rank, self.kernel.shape[-1]),
                                             initializer=keras.initializers.get(b_initializer),
                                             regularizer=self.kernel_regularizer, dtype=dtype)
        self._tracker.lock()
        self.kernel.trainable = False
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    @property
    def kernel_value(self) -> Any:
        """The kernel as the layer computes with it: complex for complex layers, LoRA update included.

        ``layer.kernel`` is the stored variable: for a complex layer its real
        parts, ``kernel_size + (filters // groups, channels, 2)``.

        >>> import keras, keras_deconv
        >>> layer = keras_deconv.Conv1DTranspose(4, 3, dtype="complex64")
        >>> layer.build((None, 8, 2))
        >>> keras.backend.standardize_dtype(layer.kernel_value.dtype), tuple(layer.kernel_value.shape)
        ('complex64', (3, 4, 2))
        """
        return self._kernel_value(self.compute_dtype)

    @property
    def bias_value(self) -> Any:
        """The bias as the layer adds it (complex for complex layers), or None without a bias."""
        return None if self.bias is None else weight_value(self.bias, self.compute_dtype)

    def _kernel_value(self, dtype: Any) -> Any:
        """The kernel the layer computes with, in ``dtype``: the stored one plus the LoRA update."""
        kernel = weight_value(self.kernel, dtype)
        if self.lora_enabled:
            scale = float(self.lora_alpha) / float(self.lora_rank)  # type: ignore[arg-type]
            update = ops.matmul(self.lora_kernel_a, self.lora_kernel_b) * scale
            kernel = kernel + ops.cast(update, kernel.dtype)
        return kernel

    def call(self, inputs: Any) -> Any:
        return self._apply(inputs, self._convolve)

    def _apply(self, inputs: Any, convolve: Callable[[Any, Any], Any]) -> Any:
        """``activation(convolve(inputs, kernel) + bias)``."""
        input_dtype = keras.backend.standardize_dtype(inputs.dtype)
        if not input_dtype.startswith(("float", "complex", "bfloat")):
            # Integer and bool inputs become the compute dtype, as in Keras's own
            # layers: the kernel must never be truncated to the input's dtype.
            inputs = ops.cast(inputs, self.compute_dtype)
        outputs = convolve(inputs, self._kernel_value(inputs.dtype))
        if self.use_bias:
            bias = weight_value(self.bias, outputs.dtype)
            if self.data_format == "channels_first":
                bias = ops.reshape(bias, (self.filters,) + (1,) * self.rank)
            outputs = outputs + bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self._check(input_shape)

    def compute_output_spec(self, inputs: Any) -> Any:
        return keras.KerasTensor(self.compute_output_shape(tuple(inputs.shape)), dtype=inputs.dtype)

    def _kernel_shape(self, channels: int) -> Tuple[int, ...]:
        """The kernel's shape for ``channels`` input channels (complex layers add an axis of 2)."""
        raise NotImplementedError

    def _check(self, input_shape: Any, building: bool = False) -> Any:
        """The plan's checks of ``input_shape``; the output shape."""
        raise NotImplementedError

    def _convolve(self, inputs: Any, kernel: Any) -> Any:
        """The op: the layer's convolution of ``inputs`` by ``kernel``."""
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "groups": self.groups,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        if self.lora_rank:
            config.update({"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha})
        return config
