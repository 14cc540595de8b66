"""The rule table: which algorithm ``path="auto"`` runs, per backend, read top to bottom.

One class per backend, each answering the same questions:

- ``native_supports``: whether the backend's own op runs an argument set;
- ``runs_complex``: whether a path takes a complex dtype natively (else the op
  composes it from real calls, ``_paths/complex.py``);
- ``choose``: the values' algorithm (``auto_path`` on a CPU);
- ``splits_groups``: whether a grouped convolution runs one group at a time;
- ``derivative_paths``: the algorithms differentiated for the input and the kernel;
- ``wraps_circular_inputs``: whether circular axes wrap the input around
  rather than fold the full output;
- ``options``: what the paths need (``_paths/options.py``), built once;
- ``compile`` and ``fold_circular``: how a bound path is wrapped, and the fold;
- ``forward_supports`` and ``forward_runs_complex``: the same for the forward
  convolution (``ops.conv``), whose ``auto`` is ``native`` where it runs, else ``matmul``.

Each rule has an ID (``A1``, ``J1``...) and a one-line reason here; the
figures behind it are one row of ``docs/rules.md``. A rule exists for
correctness or portability, or for at least 1.3x in forward+backward time or
peak memory in two benchmark runs. The answers depend only on the backend,
the arguments, the dtype, static sizes and the device kind: never on the
host's instruction set, so a model traced anywhere is the same graph everywhere.

>>> for_backend("jax").choose((3, 3, 3), (2, 2, 2), (1, 1, 1), 1, "float32")
'depth_phases'
>>> for_backend("tensorflow").native_supports(2, (2, 2), 1, "float32")
False
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import keras

from keras_deconv._paths.common import fold_circular, taps_overlap
from keras_deconv._paths.options import Options, keras_conv
from keras_deconv.arithmetic import same_crop

#: Outputs of more than this many values are "large" (memory rules J2 and N1).
LARGE_OUTPUT = 2**24

Path = Callable[..., Any]
Crops = Optional[Sequence[Tuple[int, int]]]


def _large(output_elements: Optional[int]) -> bool:
    return output_elements is not None and output_elements > LARGE_OUTPUT


class Policy:
    """The defaults: no native op, ``matmul`` for ``auto``, every path's own derivatives."""

    name = ""
    #: Whether ``auto`` reads the output size (torch.compile cannot trace a product over its shape).
    sizes_outputs = False

    def native_supports(self, rank: int, dilation_rate: Sequence[int], groups: int, dtype: str) -> bool:
        """Whether ``native`` can run these arguments."""
        return False

    def runs_complex(self, path: str, dtype: str) -> bool:
        """Whether ``path`` takes ``dtype`` (complex64/complex128) without composition from real calls."""
        return True

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        """The algorithm ``path="auto"`` runs on a CPU."""
        return "matmul"

    def choose(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
               groups: int, dtype: str, output_elements: Optional[int] = None,
               accelerator: bool = False) -> str:
        """``auto_path``, except on an accelerator."""
        # A1: on a GPU or TPU, the backend's own op wherever it runs the arguments.
        if accelerator and self.native_supports(len(strides), dilation_rate, groups, dtype):
            return "native"
        return self.auto_path(kernel_size, strides, dilation_rate, groups, dtype, output_elements)

    def on_accelerator(self) -> bool:
        """Whether the backend computes on a GPU or TPU (the device kind)."""
        return False

    def splits_groups(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                      groups: int, accelerator: bool = False) -> bool:
        """Whether ``auto`` runs a grouped convolution one ungrouped call per group (``plan.one_group``)."""
        return False

    def derivative_paths(self, path: str, kernel_size: Sequence[int], strides: Sequence[int],
                         dilation_rate: Sequence[int], groups: int, output_elements: Optional[int] = None,
                         crops: Crops = None, dtype: str = "float32") -> Tuple[str, str]:
        """The algorithms whose derivatives ``auto`` uses, for the input and for the kernel.

        ``path`` is the values' algorithm; ``crops`` the ``(before, after)``
        cut off each axis of the full output (None: 'same''s).
        """
        return path, path

    def wraps_circular_inputs(self, path: str) -> bool:
        """Whether circular axes of known length wrap the input around rather than fold the full output."""
        return False

    def native(self) -> Optional[Path]:
        """The backend's own transposed convolution under the path contract, or None."""
        return None

    def conv(self, accelerator: bool) -> Path:
        """The stride-1 convolution ``phase`` runs (``Options.conv``)."""
        return keras_conv

    def options(self, accelerator: bool = False) -> Options:
        """The paths' options on this backend and device kind (``ops`` adds its 2D ``auto``)."""
        return Options(conv=self.conv(accelerator), native=self.native())

    def forward(self) -> Optional[Path]:
        """The backend's own forward convolution (``_paths/forward.py``'s contract), or None."""
        return None

    def forward_supports(self, strides: Sequence[int], dilation_rate: Sequence[int], dtype: str) -> bool:
        """Whether the forward ``native`` runs these arguments (complex: composed from its real parts)."""
        return False

    def forward_runs_complex(self, path: str, dtype: str) -> bool:
        """Whether the forward ``path`` takes a complex ``dtype`` without composition from real calls."""
        return True

    def forward_auto(self, strides: Sequence[int], dilation_rate: Sequence[int], dtype: str,
                     symbolic: bool = False) -> str:
        """The forward ``auto``: ``native`` where it runs, else ``matmul`` (``symbolic``: JAX sizes)."""
        return "native" if self.forward_supports(strides, dilation_rate, dtype) else "matmul"

    def compile(self, values: Path, derivatives: Optional[Tuple[Path, Path]] = None) -> Path:
        """Wrap a bound path; ``derivatives`` (if not None) differentiate it in the input and the kernel."""
        return values

    def fold_circular(self, y: Any, folds: Sequence[Any]) -> Any:
        """Fold a path's full output onto its circular axes (``common.fold_circular``'s contract)."""
        return fold_circular(y, folds)


class TorchPolicy(Policy):
    """torch: its own ``conv_transposeNd`` runs every argument set, forward and backward."""

    name = "torch"

    def native_supports(self, rank: int, dilation_rate: Sequence[int], groups: int, dtype: str) -> bool:
        return True

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        return "native"  # P1: torch's own kernels, fastest on every benchmark case.

    def native(self) -> Path:
        from keras_deconv._paths.native import torch_conv_transpose

        return torch_conv_transpose

    def conv(self, accelerator: bool) -> Path:
        # P2 (portability): F.conv without Keras's memory-format conversion, which torch.func.vmap refuses.
        from keras_deconv._paths.native import torch_conv

        return torch_conv

    def forward(self) -> Path:
        from keras_deconv._paths.forward import torch_forward_conv

        return torch_forward_conv

    def forward_supports(self, strides: Sequence[int], dilation_rate: Sequence[int], dtype: str) -> bool:
        return True  # F1: F.convNd takes strides with dilation, groups and complex dtypes.

    def fold_circular(self, y: Any, folds: Sequence[Any]) -> Any:
        # P3: folded in place, the window a view (_paths/torch_fold.py).
        from keras_deconv._paths.torch_fold import torch_fold_circular

        return torch_fold_circular(y, folds)


class JaxPolicy(Policy):
    """jax: XLA's CPU transposed convolution is slow; ``matmul``, ``phase`` and 2D calls per depth phase."""

    name = "jax"
    sizes_outputs = True

    def native_supports(self, rank: int, dilation_rate: Sequence[int], groups: int, dtype: str) -> bool:
        return True

    def on_accelerator(self) -> bool:
        import jax

        return jax.default_backend() != "cpu"

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        overlapping = taps_overlap(kernel_size, strides, dilation_rate)
        if overlapping and len(strides) == 3 and groups == 1:
            return "depth_phases"  # J1: XLA's 2D convolutions beat its 3D ones on CPU.
        if _large(output_elements):
            return "phase"  # J2: smaller temporaries than matmul's.
        if overlapping and groups == 1 and len(strides) == 2:
            return "phase"  # J3: XLA's 2D stride-1 convolutions, the fastest 2D values.
        return "matmul"

    def splits_groups(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                      groups: int, accelerator: bool = False) -> bool:
        # J4: XLA's grouped convolutions are slow on CPU: 2D overlapping taps, up to 8 groups, one call each.
        overlapping = taps_overlap(kernel_size, strides, dilation_rate)
        return not accelerator and 1 < groups <= 8 and len(strides) == 2 and overlapping

    def derivative_paths(self, path: str, kernel_size: Sequence[int], strides: Sequence[int],
                         dilation_rate: Sequence[int], groups: int, output_elements: Optional[int] = None,
                         crops: Crops = None, dtype: str = "float32") -> Tuple[str, str]:
        overlapping = taps_overlap(kernel_size, strides, dilation_rate)
        if path == "matmul" and groups == 1 and not overlapping:
            return "matmul_rows", "matmul_rows"  # J5: XLA transposes a 2D product without a copy.
        if path != "phase" or groups > 1 or len(strides) != 2 or not overlapping:
            return path, path
        # Crops past 'same''s total, per axis (circular axes wrapped, 'valid', explicit crops).
        spare = [sum(crop) - same_crop(k, s, d)
                 for k, s, d, crop in zip(kernel_size, strides, dilation_rate, crops or ((0, 0),) * 2)]
        spare = spare if crops is not None else [0, 0]
        unit = [extra for extra, s in zip(spare, strides) if s == 1]
        if any(unit):
            # J7: XLA's kernel derivatives take a slow generic kernel on crops other than 'same''s.
            both_shorter = len(unit) == 2 and all(extra >= 0 for extra in unit)
            return ("adjoint", "adjoint") if both_shorter else (path, path)
        if any(s > 1 for s in strides):
            # J8: phase's own kernel derivative is slow; wrapped inputs: phase's input derivative too.
            return ("adjoint" if any(extra > 0 for extra in spare) else "phase"), "correlation"
        if any(d > 1 for d in dilation_rate):
            return "adjoint", "correlation"  # J9: stride 1 with dilation: one plain XLA convolution each.
        return path, path

    def wraps_circular_inputs(self, path: str) -> bool:
        return path == "depth_phases"  # J10: no fold over the full 3D output.

    def options(self, accelerator: bool = False) -> Options:
        # J11: 3D non-overlapping matmul's depth-to-space as stacks: XLA makes them concatenations (memory).
        return Options(conv=self.conv(accelerator), native=self.native(), stacks_depth_to_space=True)

    def compile(self, values: Path, derivatives: Optional[Tuple[Path, Path]] = None) -> Path:
        from keras_deconv._paths.compile import jax_compile

        return jax_compile(values, derivatives)

    def native(self) -> Path:
        from keras_deconv._paths.native import jax_conv_transpose

        return jax_conv_transpose

    def forward(self) -> Path:
        from keras_deconv._paths.forward import jax_conv

        return jax_conv

    def forward_supports(self, strides: Sequence[int], dilation_rate: Sequence[int], dtype: str) -> bool:
        return True  # F1: XLA's convolution takes strides with dilation, groups and complex dtypes.

    def forward_auto(self, strides: Sequence[int], dilation_rate: Sequence[int], dtype: str,
                     symbolic: bool = False) -> str:
        # F4 (portability): JAX cannot transpose a strided convolution on symbolic sizes (jax2tf
        # saving gradients); matmul's derivatives are slices and products.
        return "matmul" if symbolic and any(s > 1 for s in strides) else "native"


class TensorFlowPolicy(Policy):
    """tensorflow: TF's own op where its kernels exist; ``phase`` or 2D calls per depth phase for dilation."""

    name = "tensorflow"
    sizes_outputs = True

    def native_supports(self, rank: int, dilation_rate: Sequence[int], groups: int, dtype: str) -> bool:
        # T1 (correctness): TF's CPU kernels have no dilation and no complex dtypes.
        return all(d == 1 for d in dilation_rate) and dtype in ("float16", "float32", "float64")

    def runs_complex(self, path: str, dtype: str) -> bool:
        # TF has no complex convolutions, and ops.matmul demotes complex128.
        return path == "matmul" and dtype == "complex64"

    def on_accelerator(self) -> bool:
        return _tensorflow_has_gpu()

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        native = self.native_supports(len(strides), dilation_rate, groups, dtype)
        overlapping = taps_overlap(kernel_size, strides, dilation_rate)
        if overlapping and len(strides) == 3 and any(d > 1 for d in dilation_rate):
            # T3, T4 (portability): no 3D space-to-batch (LiteRT) and no dilated Conv3D (Eigen).
            return "depth_phases" if groups == 1 and dtype in ("float16", "float32", "float64") else "matmul"
        if not native:
            return "phase" if overlapping else "matmul"  # T2: dilation, complex, bfloat16.
        return "native"  # T5: Keras's own op on TensorFlow, so never slower than it.

    def conv(self, accelerator: bool) -> Path:
        if accelerator:
            return keras_conv
        # T6: TF's grouped convolution gradient is slow on CPU: one call per group.
        from keras_deconv._paths.native import tensorflow_conv_by_group

        return tensorflow_conv_by_group

    def fold_circular(self, y: Any, folds: Sequence[Any]) -> Any:
        # T7: one gather and one scatter of the wrapped values (_paths/tensorflow_fold.py).
        from keras_deconv._paths.tensorflow_fold import tensorflow_fold_circular

        return tensorflow_fold_circular(y, folds)

    def native(self) -> Path:
        from keras_deconv._paths.native import tensorflow_conv_transpose

        return tensorflow_conv_transpose

    def forward(self) -> Path:
        from keras_deconv._paths.forward import tensorflow_forward_conv

        return tensorflow_forward_conv

    def forward_supports(self, strides: Sequence[int], dilation_rate: Sequence[int], dtype: str) -> bool:
        # F2 (correctness): tf.nn.convolution refuses strides with dilations (on any axes), and has no
        # complex kernels (complex dtypes are composed from their real parts) nor CPU bfloat16.
        together = any(s > 1 for s in strides) and any(d > 1 for d in dilation_rate)
        return not together and dtype in ("float16", "float32", "float64", "complex64", "complex128")

    def forward_runs_complex(self, path: str, dtype: str) -> bool:
        # F2: TF's einsum takes complex64 (Keras's demotes complex128); its convolutions take none.
        return path == "matmul" and dtype == "complex64"


@functools.lru_cache(maxsize=1)
def _tensorflow_has_gpu() -> bool:
    # TF places operations on its first GPU whenever it sees one.
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


class NumpyPolicy(Policy):
    """numpy: ``matmul`` (NumPy's fastest primitive), ``phase`` written phase by phase for large outputs."""

    name = "numpy"
    sizes_outputs = True

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        return "phase" if _large(output_elements) else "matmul"  # N1: memory (tests/test_large.py).

    def options(self, accelerator: bool = False) -> Options:
        # N2: eager arrays: each phase written into the output as it comes (memory).
        return Options(conv=self.conv(accelerator), writes_phases_eagerly=True)

    def forward_supports(self, strides: Sequence[int], dilation_rate: Sequence[int], dtype: str) -> bool:
        return False  # F3: NumPy has no convolution; forward ``matmul`` (im2col).


POLICIES: Dict[str, Policy] = {
    policy.name: policy for policy in (JaxPolicy(), TorchPolicy(), TensorFlowPolicy(), NumpyPolicy())
}


def for_backend(backend: str) -> Policy:
    """The policy of a Keras backend, by name."""
    try:
        return POLICIES[backend]
    except KeyError:
        raise ValueError(
            f"`backend` must be one of {tuple(POLICIES)}. Received: backend={backend!r}"
        ) from None


def current() -> Policy:
    """The policy of the backend Keras runs."""
    return for_backend(keras.backend.backend())
