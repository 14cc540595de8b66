"""``conv_transpose`` and ``conv``: transposed and forward convolutions for every Keras backend.

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

import dataclasses
import functools
import math
from typing import Any, Callable, Optional, Sequence, Tuple

import keras
from keras import ops

from keras_deconv import arguments
from keras_deconv._paths import DERIVATIVE_PATHS, PATHS, policy
from keras_deconv._paths import complex as complex_paths
from keras_deconv._paths.common import as_tensors as _tensors
from keras_deconv._paths.common import channels_first, channels_last, result_shape, wrap_around
from keras_deconv._paths.common import flatten_batch as _flatten_batch
from keras_deconv._paths.options import DEFAULT, Options
from keras_deconv.complex_weights import PART_DTYPES, is_complex_dtype
from keras_deconv.forward import Conv, conv, forward_path  # noqa: F401 (public: the forward op)
from keras_deconv.plan import Plan, one_group, plan_conv_transpose, wrap_instead_of_fold

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

    def _plan(self, inputs: Any, kernel: Any) -> Plan:
        return _plan(tuple(inputs.shape), tuple(kernel.shape), strides=self.strides, padding=self.padding,
                     output_padding=self.output_padding, data_format=self.data_format,
                     dilation_rate=self.dilation_rate, groups=self.groups, output_size=self.output_size)

    def call(self, inputs: Any, kernel: Any) -> Any:
        inputs, kernel = _tensors(inputs, kernel)
        return _run(inputs, kernel, self._plan(inputs, kernel), _check_path(self.path))

    def compute_output_spec(self, inputs: Any, kernel: Any) -> Any:
        _check_path(self.path)
        return keras.KerasTensor(self._plan(inputs, kernel).output_shape, dtype=inputs.dtype)


def conv_transpose(inputs: Any, kernel: Any, strides: Any = 1, padding: Any = "valid",
                   output_padding: Any = None, data_format: Optional[str] = None, dilation_rate: Any = 1,
                   groups: int = 1, output_size: Any = None, path: str = "auto") -> Any:
    """Transposed convolution ``out[o] += x[i] * w[k]``, ``o = i*stride + k*dilation - pad_before``.

    Args:
        inputs: tensor ``batch_shape + spatial + (channels,)`` (channels_last)
            or ``batch_shape + (channels,) + spatial`` (channels_first), with
            one or more batch axes.
        kernel: tensor ``kernel_size + (filters // groups, channels)``.
        strides: int or tuple, one per spatial axis.
        padding: "valid", "same" (tf.keras's definitions), "circular"
            (periodic), an int or tuple of ints (crop that much from both
            ends, as PyTorch), or a tuple with one mode, int or
            ``(before, after)`` pair per axis.
        output_padding: None or int/tuple, each < max(stride, dilation).
        data_format: "channels_last" or "channels_first" (default: Keras's
            image data format).
        dilation_rate: int or tuple; may be combined with strides.
        groups: number of groups; channels and filters must divide by it.
        output_size: optional spatial output size (int or tuple), within the
            range the arguments allow (``arithmetic.output_length_range``);
            it takes the place of ``output_padding``, as in PyTorch.
        path: "auto" (fastest for the backend) or one algorithm from
            ``available_paths()`` ("matmul", "phase", "native").

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
    if isinstance(inputs, keras.KerasTensor) or isinstance(kernel, keras.KerasTensor):
        return ConvTranspose(strides=strides, padding=padding, output_padding=output_padding,
                             data_format=data_format, dilation_rate=dilation_rate, groups=groups,
                             output_size=output_size, path=path)(inputs, kernel)
    path = _check_path(path)
    inputs, kernel = _tensors(inputs, kernel)
    plan = _plan(tuple(inputs.shape), tuple(kernel.shape), strides=strides, padding=padding,
                 output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
                 groups=groups, output_size=output_size)
    return _run(inputs, kernel, plan, path)


def _plan(input_shape: Tuple[Any, ...], kernel_shape: Tuple[Any, ...], *, strides: Any, padding: Any,
          output_padding: Any, data_format: Optional[str], dilation_rate: Any, groups: int,
          output_size: Any) -> Plan:
    """``plan_conv_transpose`` with Keras's image data format as the default."""
    data_format = arguments.normalize_data_format(data_format, keras.config.image_data_format())
    return plan_conv_transpose(input_shape, kernel_shape, strides=strides, padding=padding,
                               output_padding=output_padding, data_format=data_format,
                               dilation_rate=dilation_rate, groups=groups, output_size=output_size)


def _check_path(path: str) -> str:
    if path not in PATH_NAMES:
        raise ValueError(f"`path` must be one of {PATH_NAMES}. Received: path={path!r}")
    return path


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
                output_elements: Optional[int] = None, accelerator: bool = False) -> str:
    """The algorithm ``path="auto"`` runs for these arguments on ``backend``.

    The rules are the backend policies' (``keras_deconv/_paths/policy.py``);
    ``docs/rules.md`` has the figures behind each. On an ``accelerator``
    (GPU, TPU), the backend's native op wherever it runs the arguments.
    The answer is a ``path=`` value or, on JAX for 3D kernels whose taps
    overlap, ``"depth_phases"``: an algorithm only ``auto`` runs (2D ``auto``
    calls, one per output depth phase; ``keras_deconv/_paths/depth.py``).

    >>> choose_path("jax", (3, 3, 3), (2, 2, 2), (1, 1, 1), 1, "float32")
    'depth_phases'
    >>> choose_path("jax", (4, 4), (2, 2), (1, 1), 1, "float32")
    'phase'
    >>> choose_path("tensorflow", (3, 3), (1, 1), (2, 2), 1, "float32")
    'phase'
    >>> choose_path("jax", (4, 4), (2, 2), (1, 1), 1, "float32", accelerator=True)
    'native'
    """
    return policy.for_backend(backend).choose(kernel_size, strides, dilation_rate, groups, dtype,
                                              output_elements, accelerator)


def derivative_paths(backend: str, path: str, kernel_size: Sequence[int], strides: Sequence[int],
                     dilation_rate: Sequence[int], groups: int, output_elements: Optional[int] = None,
                     crops: Optional[Sequence[Tuple[int, int]]] = None, dtype: str = "float32"
                     ) -> Tuple[str, str]:
    """The algorithms whose operations ``path="auto"`` differentiates, for the input and for the kernel.

    ``path`` is the values' algorithm (``choose_path``'s answer). On JAX, most
    overlapping 2D and 3D cases take other algorithms' derivatives (among them
    ``adjoint`` and ``correlation``, derivative-only algorithms, ``_paths/correlation.py``);
    elsewhere, and for any forced path, the derivatives are the path's own.
    ``crops``: the ``(before, after)`` cut off each axis of the full output
    (None: 'same''s); circular axes wrapped around crop more.

    >>> derivative_paths("jax", "phase", (4, 4), (2, 2), (1, 1), 1, output_elements=1000)
    ('phase', 'correlation')
    >>> derivative_paths("jax", "phase", (3, 3), (1, 1), (2, 2), 1, crops=((4, 4), (4, 4)))
    ('adjoint', 'adjoint')
    >>> derivative_paths("torch", "native", (4, 4), (2, 2), (1, 1), 1)
    ('native', 'native')
    """
    return policy.for_backend(backend).derivative_paths(path, kernel_size, strides, dilation_rate, groups,
                                                        output_elements, crops, dtype)


def available_paths(backend: Optional[str] = None, rank: int = 2, dilation_rate: Any = 1, groups: int = 1,
                    dtype: str = "float32") -> Tuple[str, ...]:
    """The paths ``path=`` can force for these arguments (``backend``: Keras's when None).

    ``matmul`` and ``phase`` run everywhere; ``native`` where the backend has
    an op for the arguments (complex dtypes: for their real parts, composed).

    >>> available_paths("tensorflow", rank=2, dilation_rate=2)
    ('matmul', 'phase')
    >>> available_paths("torch", rank=3, groups=2, dtype="complex64")
    ('matmul', 'phase', 'native')
    """
    rules = policy.current() if backend is None else policy.for_backend(backend)
    dilation = arguments.normalize_tuple(dilation_rate, rank, "dilation_rate")
    native = _native_runs(rules, rank, dilation, groups, dtype)
    return tuple(name for name in PATHS if name != "native" or native)


def _native_runs(rules: policy.Policy, rank: int, dilation_rate: Tuple[int, ...], groups: int,
                 dtype: str) -> bool:
    """Whether the backend's own op runs these arguments (complex dtypes: for their real parts, composed)."""
    if is_complex_dtype(dtype) and not rules.runs_complex("native", dtype):
        dtype = PART_DTYPES[dtype]
    return rules.native_supports(rank, dilation_rate, groups, dtype)


@functools.cache
def path_options(backend: str, accelerator: bool) -> Options:
    """The paths' options for ``backend`` (CPU or accelerator): the policy's, plus ``auto`` for 2D planes."""
    return dataclasses.replace(policy.for_backend(backend).options(accelerator), plane=_auto_plane)


@functools.lru_cache(maxsize=512)
def path_function(path: str, strides: Tuple[int, ...], dilation_rate: Tuple[int, ...], groups: int,
                  crops: Tuple[Tuple[int, int], ...], derivatives: Optional[Tuple[str, str]] = None,
                  options: Options = DEFAULT) -> Callable[[Any, Any], Any]:
    """The algorithm ``path`` with its arguments bound, compiled by the backend's policy: ``fn(x, kernel)``.

    ``derivatives`` (the algorithms for the input and for the kernel), where
    either differs from ``path``, compute the derivatives (see ``Policy.compile``).
    """

    def bind(name: str) -> Callable[[Any, Any], Any]:
        algorithm = DERIVATIVE_PATHS[name]
        return lambda x, kernel: algorithm(x, kernel, strides, dilation_rate, groups, crops, options)

    bound = None
    if derivatives is not None and derivatives != (path, path):
        for_input = bind(derivatives[0])  # one function where both are one algorithm
        bound = (for_input, for_input if derivatives[1] == derivatives[0] else bind(derivatives[1]))
    return policy.current().compile(bind(path), bound)


def _run(inputs: Any, kernel: Any, plan: Plan, path: str) -> Any:
    """Run a plan: to channels_last with one batch axis, the path, then back."""
    rank = plan.rank
    if 0 in plan.batch_shape:
        # Nothing to compute; some backend kernels mis-shape empty batches.
        return ops.zeros(plan.output_shape, dtype=inputs.dtype)
    rules = policy.current()
    if path == "native":
        _check_native(rules, plan, keras.backend.standardize_dtype(inputs.dtype))
    x = inputs
    lead = len(plan.batch_shape)
    if plan.data_format == "channels_first":
        x = channels_last(x, lead, rank)
    x, restore_batch = _flatten_batch(x, lead, rank)
    accelerator = rules.on_accelerator()
    plan, path, derivatives, by_group = _choose(x, plan, path, accelerator)
    each = one_group(plan) if by_group else plan
    if any(plan.extensions):
        # Circular axes of unknown length (or the policy's choice): the input
        # wrapped around; the crops cut the window.
        x = wrap_around(x, plan.extensions)
    options = path_options(rules.name, accelerator)

    def call(xg: Any, kernel_g: Any) -> Any:
        return _run_path(xg, kernel_g, each, path, derivatives, options)

    if by_group:
        # One ungrouped call per group (the policy's choice): group g reads its
        # slice of the input channels and of the kernel's last axis.
        pairs = zip(ops.split(x, plan.groups, -1), ops.split(kernel, plan.groups, -1))
        y = ops.concatenate([call(xg, kg) for xg, kg in pairs], axis=-1)
    else:
        y = call(x, kernel)
    if any(plan.folds):
        y = rules.fold_circular(y, plan.folds)
    y = restore_batch(y)
    if plan.data_format == "channels_first":
        y = channels_first(y, lead, rank)
    return y


def _check_native(rules: policy.Policy, plan: Plan, dtype: str) -> None:
    """``path="native"`` where the backend has no op for the arguments: a clear error."""
    if not _native_runs(rules, plan.rank, plan.dilation_rate, plan.groups, dtype):
        raise ValueError(
            f"The {rules.name!r} backend has no native transposed convolution for "
            f"dilation_rate={plan.dilation_rate}, groups={plan.groups}, dtype={dtype}; "
            "use path='auto', 'matmul' or 'phase'. Received: path='native'"
        )


def _choose(x: Any, plan: Plan, path: str, accelerator: bool
            ) -> Tuple[Plan, str, Optional[Tuple[str, str]], bool]:
    """The plan and the algorithm to run on channels_last ``x`` (``auto`` resolved by the policy).

    The plan may wrap its circular axes' input around instead of folding the
    full output (``Policy.wraps_circular_inputs``). Also, for ``auto``, the
    algorithms for its derivatives (``Policy.derivative_paths``, which see the
    crops that run), and whether the groups run one at a time
    (``Policy.splits_groups``; the algorithms are then those of one group,
    ``plan.one_group``).
    """
    rules = policy.current()
    auto = path == "auto"
    by_group = auto and rules.splits_groups(plan.kernel_size, plan.strides, plan.dilation_rate, plan.groups,
                                            accelerator)
    each = one_group(plan) if by_group else plan
    size = None
    if auto:
        size = _size_for_rules(each.output_shape)  # wrapping (below) keeps the output shape
        path = _auto_path(x, each.kernel_size, each.strides, each.dilation_rate, each.groups, size,
                          accelerator)
    if any(plan.folds) and rules.wraps_circular_inputs(path):
        plan = wrap_instead_of_fold(plan)
        each = one_group(plan) if by_group else plan
    derivatives = _auto_derivatives(x, path, each.kernel_size, each.strides, each.dilation_rate, each.groups,
                                    size, each.crops) if auto else None
    return plan, path, derivatives, by_group


def _size_for_rules(output_shape: Sequence[Any]) -> Optional[int]:
    """The output size the policy's rules see: a static bound, or None where the policy ignores it."""
    return static_size_bound(output_shape) if policy.current().sizes_outputs else None


def _auto_path(x: Any, kernel_size: Tuple[int, ...], strides: Tuple[int, ...], dilation_rate: Tuple[int, ...],
               groups: int, size: Optional[int], accelerator: bool) -> str:
    """``auto``'s algorithm for channels_last ``x`` (the policy's rules; ``size``: ``_size_for_rules``)."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    return policy.current().choose(kernel_size, strides, dilation_rate, groups, dtype, size, accelerator)


def _auto_derivatives(x: Any, path: str, kernel_size: Tuple[int, ...], strides: Tuple[int, ...],
                      dilation_rate: Tuple[int, ...], groups: int, size: Optional[int],
                      crops: Tuple[Tuple[int, int], ...]) -> Tuple[str, str]:
    """The algorithms for the derivatives of ``auto``'s ``path`` (the policy's rules)."""
    if not all(isinstance(length, int) for length in x.shape[1:-1]):
        # Symbolic spatial sizes (jax2tf saving gradients, circular axes of unknown
        # length): JAX's transposes of its convolutions need int paddings, so
        # only the paths' own operations are differentiated.
        return path, path
    dtype = keras.backend.standardize_dtype(x.dtype)
    return policy.current().derivative_paths(path, kernel_size, strides, dilation_rate, groups, size, crops,
                                             dtype)


def _auto_plane(x: Any, kernel: Any, strides: Tuple[int, ...], dilation_rate: Tuple[int, ...],
                groups: int, crops: Tuple[Tuple[int, int], ...], options: Options) -> Any:
    """``path="auto"`` under the paths' contract: ``Options.plane``, the 2D calls of ``depth_phases``.

    Each 2D transposed convolution is computed by whatever ``auto`` picks for
    its arguments, derivatives included (``_paths/depth.py``).
    """
    rank = len(strides)
    kernel_size = tuple(kernel.shape[:rank])
    accelerator = policy.current().on_accelerator()
    size = _size_for_rules(result_shape(x, kernel, strides, dilation_rate, groups, crops))
    path = _auto_path(x, kernel_size, strides, dilation_rate, groups, size, accelerator)
    derivatives = _auto_derivatives(x, path, kernel_size, strides, dilation_rate, groups, size, crops)
    return path_function(path, strides, dilation_rate, groups, crops, derivatives, options)(x, kernel)


def _run_path(x: Any, kernel: Any, plan: Plan, path: str, derivatives: Optional[Tuple[str, str]],
              options: Options) -> Any:
    """The path's call for channels_last ``x`` with one batch axis (``_choose``'s path and derivatives)."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    if is_complex_dtype(dtype) and not policy.current().runs_complex(path, dtype):
        # No complex kernels for this path here: composed from real calls, see _paths/complex.py.
        return complex_paths.complex_conv_transpose(PATHS[path], x, kernel, plan.strides,
                                                    plan.dilation_rate, plan.groups, plan.crops, options)
    return path_function(path, plan.strides, plan.dilation_rate, plan.groups, plan.crops,
                         derivatives, options)(x, kernel)
