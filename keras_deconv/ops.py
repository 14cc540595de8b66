"""``conv_transpose``: one transposed convolution for every Keras backend.

Validation, output arithmetic and the choice of algorithm happen here; the
algorithms themselves live in ``keras_deconv._paths``.

>>> import numpy as np
>>> from keras_deconv.ops import conv_transpose
>>> x = np.ones((1, 3, 1), "float32")
>>> w = np.ones((2, 1, 1), "float32")
>>> np.asarray(conv_transpose(x, w, strides=2))[0, :, 0].tolist()
[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Optional, Sequence, Tuple

import keras
from keras import ops

from keras_deconv import arithmetic
from keras_deconv._paths import PATHS
from keras_deconv._paths.common import dynamic_shape, fold_circular, taps_overlap, wrap_around
from keras_deconv._paths.native import native_supports

#: Accepted values of ``path``: "auto" or a name in ``PATHS``.
PATH_NAMES = ("auto",) + tuple(PATHS)


class ConvTranspose(keras.Operation):
    """The symbolic form of ``conv_transpose`` (for ``keras.Input`` tensors)."""

    def __init__(self, strides: Any = 1, padding: Any = "valid", output_padding: Any = None,
                 data_format: Optional[str] = None, dilation_rate: Any = 1, groups: int = 1,
                 output_size: Any = None, path: str = "auto", name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.strides = strides
        self.padding = padding
        self.output_padding = output_padding
        self.data_format = data_format
        self.dilation_rate = dilation_rate
        self.groups = groups
        self.output_size = output_size
        self.path = path

    def _arguments(self) -> dict:
        return dict(strides=self.strides, padding=self.padding, output_padding=self.output_padding,
                    data_format=self.data_format, dilation_rate=self.dilation_rate,
                    groups=self.groups, output_size=self.output_size, path=self.path)

    def call(self, inputs: Any, kernel: Any) -> Any:
        return _conv_transpose(inputs, kernel, **self._arguments())

    def compute_output_spec(self, inputs: Any, kernel: Any) -> Any:
        plan = _plan(tuple(inputs.shape), tuple(kernel.shape), **self._arguments())
        return keras.KerasTensor(plan.output_shape, dtype=inputs.dtype)


def conv_transpose(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: Any = "valid",
    output_padding: Any = None,
    data_format: Optional[str] = None,
    dilation_rate: Any = 1,
    groups: int = 1,
    output_size: Any = None,
    path: str = "auto",
) -> Any:
    """Transposed convolution ``out[o] += x[i] * w[k]``, ``o = i*stride + k*dilation - pad_before``.

    Args:
        inputs: tensor ``batch_shape + spatial + (channels,)`` (channels_last)
            or ``batch_shape + (channels,) + spatial`` (channels_first), with
            one or more batch axes.
        kernel: tensor ``kernel_size + (filters // groups, channels)``.
        strides: int or tuple, one per spatial axis.
        padding: "valid", "same" (tf.keras's definitions), an int or tuple of
            ints (crop that much from both ends, as PyTorch), or a tuple of
            ``(before, after)`` pairs.
        output_padding: None or int/tuple, each < max(stride, dilation).
        data_format: "channels_last" or "channels_first" (default: Keras's
            image data format).
        dilation_rate: int or tuple; may be combined with strides.
        groups: number of groups; channels and filters must divide by it.
        output_size: optional spatial output size (int or tuple), within the
            range the arguments allow (``arithmetic.output_length_range``);
            it takes the place of ``output_padding``, as in PyTorch.
        path: "auto" (fastest for the backend) or one algorithm from
            ``keras_deconv._paths.PATHS`` ("matmul", "phase", "native").

    Returns:
        The output tensor, with the input's dtype and layout.

    Raises:
        ValueError: on invalid arguments or shapes, naming the argument.
        TypeError: on arguments of the wrong type.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 5, 5, 3).astype("float32")
    >>> w = np.random.rand(3, 3, 4, 3).astype("float32")
    >>> tuple(conv_transpose(x, w, strides=2, padding="same").shape)
    (2, 10, 10, 4)
    """
    arguments = dict(strides=strides, padding=padding, output_padding=output_padding,
                     data_format=data_format, dilation_rate=dilation_rate, groups=groups,
                     output_size=output_size, path=path)
    if _is_symbolic(inputs) or _is_symbolic(kernel):
        return ConvTranspose(**arguments)(inputs, kernel)
    return _conv_transpose(inputs, kernel, **arguments)


def _is_symbolic(value: Any) -> bool:
    return isinstance(value, keras.KerasTensor)


class _Plan:
    """Everything ``conv_transpose`` decides before touching a tensor."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    rank: int
    strides: Tuple[int, ...]
    dilation_rate: Tuple[int, ...]
    groups: int
    data_format: str
    crops: Tuple[Tuple[int, int], ...]
    #: Per spatial axis, for circular axes (``arithmetic.circular_geometry``): the rows to wrap
    #: around the input, or the ``(pad_before, length)`` fold of the full output; else None.
    extensions: Tuple[Optional[Tuple[int, int]], ...]
    folds: Tuple[Optional[Tuple[int, int]], ...]
    output_shape: Tuple[Optional[int], ...]
    batch_shape: Tuple[Optional[int], ...]
    kernel_size: Tuple[int, ...]
    path: str


def _plan(input_shape: Tuple[Optional[int], ...], kernel_shape: Tuple[Optional[int], ...],
          strides: Any, padding: Any, output_padding: Any, data_format: Optional[str],
          dilation_rate: Any, groups: int, output_size: Any, path: str) -> _Plan:
    rank = len(kernel_shape) - 2
    if rank not in (1, 2, 3):
        raise ValueError(
            "`kernel` must have rank 3, 4 or 5 (kernel_size + (filters // groups, channels)). "
            f"Received: kernel.shape={kernel_shape}"
        )
    if any(d is None for d in kernel_shape):
        raise ValueError(f"`kernel` must have a fully known shape. Received: kernel.shape={kernel_shape}")
    strides_t = arithmetic.normalize_tuple(strides, rank, "strides")
    dilation_t = arithmetic.normalize_tuple(dilation_rate, rank, "dilation_rate")
    padding_n = arithmetic.normalize_padding(padding, rank)
    output_padding_t = arithmetic.normalize_output_padding(output_padding, rank, strides_t, dilation_t)
    arithmetic.check_circular_arguments(padding_n, rank, output_padding_t)
    data_format_n = arithmetic.normalize_data_format(data_format, keras.config.image_data_format())
    groups = arithmetic.normalize_positive_int(groups, "groups")
    if path not in PATH_NAMES:
        raise ValueError(f"`path` must be one of {PATH_NAMES}. Received: path={path!r}")

    if len(input_shape) < rank + 2:
        raise ValueError(
            f"`inputs` must have rank >= {rank + 2} for a {rank}D kernel "
            f"(batch axes, {rank} spatial axes, channels). Received: inputs.shape={input_shape}"
        )
    if data_format_n == "channels_last":
        spatial, channels = input_shape[-rank - 1 : -1], input_shape[-1]
    else:
        spatial, channels = input_shape[-rank:], input_shape[-rank - 1]
    kernel_size = tuple(int(k) for k in kernel_shape[:rank])  # type: ignore[arg-type]
    per_group_filters, kernel_channels = kernel_shape[rank], kernel_shape[rank + 1]
    if channels is None:
        raise ValueError(
            f"The channel axis of `inputs` must be known. Received: inputs.shape={input_shape}"
        )
    if channels % groups:
        raise ValueError(
            f"The number of input channels ({channels}) must be divisible by `groups`. "
            f"Received: groups={groups}, inputs.shape={input_shape}"
        )
    if kernel_channels != channels:
        raise ValueError(
            f"The last axis of `kernel` must equal the input channels ({channels}). "
            f"Received: kernel.shape={kernel_shape}, inputs.shape={input_shape}"
        )
    if any(n is not None and n < 1 for n in spatial):
        raise ValueError(
            f"Every spatial axis of `inputs` must be at least 1. Received: inputs.shape={input_shape}"
        )
    requested = None
    if output_size is not None:
        requested = arithmetic.check_output_size(output_size, spatial, kernel_size, strides_t,
                                                 padding_n, dilation_t)
    filters = per_group_filters * groups  # type: ignore[operator]
    out_shape = arithmetic.output_shape(input_shape, filters, kernel_size, strides_t, padding_n,
                                        output_padding_t, data_format_n, dilation_t, requested)
    arithmetic.check_output_lengths(
        out_shape, rank, data_format_n,
        f"padding={padding!r}, inputs.shape={input_shape}, kernel.shape={kernel_shape}",
    )
    paddings = arithmetic.axis_paddings(padding_n, rank)
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
    return _Plan(rank=rank, strides=strides_t, dilation_rate=dilation_t, groups=groups,
                 data_format=data_format_n, crops=crops, output_shape=out_shape,
                 batch_shape=tuple(input_shape[: len(input_shape) - rank - 1]), path=path,
                 kernel_size=kernel_size, extensions=extensions, folds=folds)


#: Above this many output values, JAX and NumPy trade the matmul path's speed for
#: the phase path's memory (on a 96^3 volume, JAX: peak ~2x input+output instead
#: of ~4x; NumPy: see tests/test_large.py).
LARGE_OUTPUT = 2**24


def static_size_bound(shape: Sequence[Any]) -> int:
    """The product of the dimensions of ``shape`` that are plain ints: a lower bound on its size.

    Under ``jax.export`` or ``jax2tf`` a dimension can be symbolic, and a Python
    comparison with it is inconclusive (an error). Counting unknown dimensions
    as 1 gives a size that is known now and never larger than the real one, so
    a rule such as "large outputs take ``phase``" fires only when the output is
    known to be large.

    >>> static_size_bound((None, 64, 64, 8))
    32768
    """
    return math.prod(d if isinstance(d, int) else 1 for d in shape)


def choose_path(backend: str, kernel_size: Sequence[int], strides: Sequence[int],
                dilation_rate: Sequence[int], groups: int, dtype: str,
                output_elements: Optional[int] = None) -> str:
    """The algorithm ``path="auto"`` runs for these arguments on ``backend``.

    Chosen from the benchmark suite (``benchmarks/``, forward+backward, 2-core CPU):

    - torch: its own ``conv_transposeNd`` (native kernels forward and backward).
    - jax: ``matmul``, except ``phase`` for 2D kernels whose taps overlap
      (groups 1).
      XLA on CPU runs the transposed convolution as a convolution over a
      zero-dilated input (``native``: 3-100x torch's time); its 2D stride-1
      convolutions (``phase``) give the fastest 2D forward pass, its 1D and
      3D ones lose to matmuls. Derivatives go through ``matmul`` (see
      ``derivative_path``). Outputs of more than ``LARGE_OUTPUT`` values take
      ``phase``, whose temporaries are smaller.
    - tensorflow: ``matmul`` when taps do not overlap (``kernel_size <=
      strides``: a matmul and a depth-to-space), else TF's own op where its
      CPU kernels exist (dilation 1; one call per group), else ``phase``, or
      ``matmul`` for groups (TF's grouped convolution gradient is slow on CPU).
    - numpy: ``matmul`` (no autodiff; NumPy's matmul is its fastest primitive),
      ``phase`` above ``LARGE_OUTPUT`` values (written phase by phase into the
      output, see ``_paths/numpy_assembly.py``).

    >>> choose_path("jax", (3, 3, 3), (2, 2, 2), (1, 1, 1), 1, "float32")
    'matmul'
    >>> choose_path("jax", (4, 4), (2, 2), (1, 1), 1, "float32")
    'phase'
    >>> choose_path("tensorflow", (3, 3), (1, 1), (2, 2), 1, "float32")
    'phase'
    """
    rank = len(strides)
    if backend == "torch" and native_supports(backend, rank, dilation_rate, groups, dtype):
        return "native"
    overlapping = taps_overlap(kernel_size, strides, dilation_rate)
    if backend == "tensorflow":
        if not overlapping:
            return "matmul"
        if native_supports(backend, rank, dilation_rate, groups, dtype):
            return "native"
        return "matmul" if groups > 1 else "phase"
    large = output_elements is not None and output_elements > LARGE_OUTPUT
    if backend == "jax":
        if large:
            return "phase"
        # Not for groups: no faster there, and under ModelParallel with the
        # filters axis sharded its grouped predictions differed from one
        # device's (tests/distribution; the cause was not isolated).
        return "phase" if overlapping and rank == 2 and groups == 1 else "matmul"
    # numpy: its phase path writes each phase straight into the output, the
    # frugal choice for large outputs.
    return "phase" if large else "matmul"


def derivative_path(backend: str, path: str, output_elements: Optional[int] = None) -> str:
    """The path whose operations ``path="auto"`` differentiates, given the values' path.

    On JAX, XLA's 2D stride-1 convolutions make ``phase`` the fastest forward
    pass, but their gradients (and those of grouped convolutions above all)
    are slow, while ``matmul``'s are fast: the values come from ``phase`` and
    the derivatives (forward and reverse mode) from ``matmul`` through a
    ``jax.custom_jvp``. Large outputs keep ``phase`` for both (memory).
    Elsewhere, and for any forced path, the derivatives are the path's own.

    >>> derivative_path("jax", "phase", output_elements=1000)
    'matmul'
    >>> derivative_path("torch", "native")
    'native'
    """
    large = output_elements is not None and output_elements > LARGE_OUTPUT
    if backend == "jax" and path == "phase" and not large:
        return "matmul"
    return path


@functools.lru_cache(maxsize=512)
def path_function(path: str, strides: Tuple[int, ...], dilation_rate: Tuple[int, ...], groups: int,
                  crops: Tuple[Tuple[int, int], ...], derivative: Optional[str] = None
                  ) -> Callable[[Any, Any], Any]:
    """The algorithm ``path`` with its arguments bound: ``fn(x, kernel)``.

    On JAX it is wrapped in ``jax.jit``: eagerly, a path is a few dozen small
    operations, and JAX would dispatch (and compile) each one on its own;
    inside an outer ``jit`` the inner one is simply inlined. A ``derivative``
    path other than ``path`` (JAX only) computes the derivatives: the op is
    bilinear, so its JVP is ``f(dx, w) + f(x, dw)``, evaluated with the
    derivative path and transposed by JAX for reverse mode.
    """

    def bind(name: str) -> Callable[[Any, Any], Any]:
        algorithm = PATHS[name]
        return lambda x, kernel: algorithm(x, kernel, strides, dilation_rate, groups, crops)

    bound = bind(path)
    if keras.backend.backend() != "jax":
        return bound
    import jax

    if derivative is not None and derivative != path:
        values, tangents = bound, bind(derivative)
        bound = jax.custom_jvp(values)

        def jvp(primals: Tuple[Any, Any], directions: Tuple[Any, Any]) -> Tuple[Any, Any]:
            (x, kernel), (dx, dkernel) = primals, directions
            return values(x, kernel), tangents(dx, kernel) + tangents(x, dkernel)

        bound.defjvp(jvp)
    return jax.jit(bound)  # type: ignore[no-any-return]


def _conv_transpose(inputs: Any, kernel: Any, **arguments: Any) -> Any:
    inputs = ops.convert_to_tensor(inputs)
    kernel = ops.convert_to_tensor(kernel, dtype=inputs.dtype)
    plan = _plan(tuple(inputs.shape), tuple(kernel.shape), **arguments)
    rank = plan.rank
    if 0 in plan.batch_shape:
        # Nothing to compute; some backend kernels mis-shape empty batches.
        return ops.zeros(plan.output_shape, dtype=inputs.dtype)
    x = inputs
    if plan.data_format == "channels_first":
        lead = len(plan.batch_shape)
        x = ops.transpose(x, list(range(lead)) + [lead + 1 + a for a in range(rank)] + [lead])
    x, restore_batch = _flatten_batch(x, len(plan.batch_shape), rank)
    if any(plan.extensions):
        # Circular axes of unknown length: the input wrapped around; the crops cut the window.
        x = wrap_around(x, plan.extensions)
    path = plan.path
    if path == "auto":
        backend = keras.backend.backend()
        # Only JAX and NumPy look at the output size; torch.compile cannot
        # trace a generator over the shape.
        size = static_size_bound(plan.output_shape) if backend in ("jax", "numpy") else None
        path = choose_path(backend, plan.kernel_size, plan.strides, plan.dilation_rate, plan.groups,
                           keras.backend.standardize_dtype(x.dtype), size)
        derivative = derivative_path(backend, path, size)
    else:
        derivative = path
    from keras_deconv._paths import complex as complex_paths

    dtype = keras.backend.standardize_dtype(x.dtype)
    if complex_paths.is_complex_dtype(dtype) and not complex_paths.supports_complex(
        keras.backend.backend(), path, dtype
    ):
        # No complex kernels for this path here: composed from real calls, see _paths/complex.py.
        y = complex_paths.complex_conv_transpose(PATHS[path], x, kernel, plan.strides,
                                                 plan.dilation_rate, plan.groups, plan.crops)
    else:
        y = path_function(path, plan.strides, plan.dilation_rate, plan.groups, plan.crops,
                          derivative)(x, kernel)
    if any(plan.folds):
        y = fold_circular(y, plan.folds)
    y = restore_batch(y)
    if plan.data_format == "channels_first":
        lead = len(plan.batch_shape)
        y = ops.transpose(y, list(range(lead)) + [lead + rank] + [lead + a for a in range(rank)])
    return y


def _flatten_batch(x: Any, batch_axes: int, rank: int) -> Tuple[Any, Any]:
    """Merge several leading batch axes into one (and give back the inverse)."""
    if batch_axes == 1:
        return x, lambda y: y
    shape = dynamic_shape(x)
    batch_shape = shape[:batch_axes]
    flat = ops.reshape(x, [-1, *shape[batch_axes:]])

    def restore(y: Any) -> Any:
        return ops.reshape(y, [*batch_shape, *dynamic_shape(y)[1:]])

    return flat, restore
