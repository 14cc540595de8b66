"""The rank-generic transposed-convolution layer behind Conv1D/2D/3DTranspose."""

from __future__ import annotations

from typing import Any, Optional

import keras
from keras import ops

from keras_deconv import arguments
from keras_deconv import initializers as complex_initializers
from keras_deconv.complex_weights import PART_DTYPES, is_complex_dtype, weight_value
from keras_deconv.ops import conv_transpose
from keras_deconv.plan import Plan, plan_conv_transpose


class BaseConvTranspose(keras.layers.Layer):
    """Transposed convolution of any rank; see ``Conv2DTranspose`` for the arguments.

    Arguments are normalised and checked here, once; ``build`` creates the
    kernel ``kernel_size + (filters // groups, channels)`` and the bias
    ``(filters,)``; ``call`` runs ``keras_deconv.ops.conv_transpose``.
    """

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: Any = "valid",
        output_padding: Any = None,
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
        self.output_padding = arguments.normalize_output_padding(
            output_padding, rank, self.strides, self.dilation_rate
        )
        arguments.check_circular_arguments(self.padding, rank, self.output_padding)
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
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        # Complex layers keep each weight as real parts (see keras_deconv/complex_weights.py),
        # and the variance-scaling names select complex initialisers.
        self._complex_dtype = is_complex_dtype(self.dtype_policy.compute_dtype)
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

    @property
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else -self.rank - 1

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

    def build(self, input_shape: Any) -> None:
        # The output may be empty without output_size, which each call may still give.
        self._plan(input_shape, check_output=False)
        channels = tuple(input_shape)[self._channel_axis]
        self.input_spec = keras.InputSpec(
            min_ndim=self.rank + 2, axes={self._channel_axis: channels}
        )
        parts = (2,) if self._complex_dtype else ()
        weight_dtype = PART_DTYPES[self.dtype_policy.compute_dtype] if parts else self.dtype
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.filters // self.groups, channels) + parts,
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

    def call(self, inputs: Any, output_size: Any = None) -> Any:
        input_dtype = keras.backend.standardize_dtype(inputs.dtype)
        if not input_dtype.startswith(("float", "complex", "bfloat")):
            # Integer and bool inputs become the compute dtype, as in Keras's own
            # layers: the kernel must never be truncated to the input's dtype.
            inputs = ops.cast(inputs, self.compute_dtype)
        outputs = conv_transpose(
            inputs,
            self._kernel_value(inputs.dtype),
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            groups=self.groups,
            output_size=output_size,
        )
        if self.use_bias:
            bias = weight_value(self.bias, outputs.dtype)
            if self.data_format == "channels_first":
                bias = ops.reshape(bias, (self.filters,) + (1,) * self.rank)
            outputs = outputs + bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape: Any, output_size: Any = None) -> Any:
        return self._plan(input_shape, output_size).output_shape

    def compute_output_spec(self, inputs: Any, output_size: Any = None) -> Any:
        # Keras's default would call compute_output_shape(inputs_shape) only,
        # which rejects the second argument and would lose output_size.
        shape = self.compute_output_shape(tuple(inputs.shape), output_size=output_size)
        return keras.KerasTensor(shape, dtype=inputs.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "output_padding": self.output_padding,
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
