"""Everything that differs between Keras backends, in one place.

One class per backend, each with the same attributes and methods:

- ``native_supports``: whether the backend's own op runs an argument set;
- ``runs_complex``: whether a path takes complex dtypes natively (else the op
  composes it from real calls, ``_paths/complex.py``);
- ``auto_path``: the algorithm ``path="auto"`` runs on a CPU (``choose`` adds the
  accelerator rule: on a GPU or TPU, the backend's native op wherever it runs the
  arguments; the CPU measurements say nothing about accelerators);
- ``on_accelerator``: whether the backend computes on a GPU or TPU;
- ``splits_groups``: whether ``auto`` runs a grouped convolution one group at a time;
- ``derivative_paths``: the algorithms whose derivatives ``auto`` uses, one for
  the input and one for the kernel;
- ``conv``: the stride-1 convolution ``phase`` runs per phase (``keras.ops.conv``;
  TensorFlow with oneDNN takes dilated 2D ones itself);
- ``wraps_circular_inputs``: whether circular axes of known length wrap the
  input around (the window computed) rather than fold the full output;
  ``folds_values_wraps_derivatives``: where they wrap, whether ``auto``'s
  values fold all the same, only the derivatives running on the wrapped input;
- ``kernel_gradient_block``: JAX's ``correlation``, whether its kernel gradient
  runs as several smaller convolutions;
- ``compile``: how a bound path is wrapped (``jax.jit`` on JAX);
- ``native``: the backend's own transposed convolution (``_paths/native.py``);
- flags for the few places where a path must know how it is run
  (``sizes_outputs``, ``writes_phases_eagerly``, ``traces_symbolic_sizes``,
  ``stacks_3d_depth_to_space``, ``merges_phases``).

The rules come from the benchmark suite (``keras-deconv bench``,
forward+backward, 2-core CPU). ``for_backend`` picks a policy by name
(``current`` for Keras's backend); no other library module asks which
backend runs. Frameworks are imported only inside the methods that need them.

>>> for_backend("jax").auto_path((3, 3, 3), (2, 2, 2), (1, 1, 1), 1, "float32")
'depth_phases'
>>> for_backend("tensorflow").native_supports(2, (2, 2), 1, "float32")
False
>>> [for_backend(name).wraps_circular_inputs("phase", None, (1, 1)) for name in ("tensorflow", "jax")]
[True, False]
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import keras

from keras_deconv._paths.common import fold_circular, phases_share_window, taps_overlap
from keras_deconv.arithmetic import same_crop

#: Above this many output values, JAX and NumPy trade the matmul path's speed for
#: the phase path's memory (on a 96^3 volume, JAX: peak ~2x input+output instead
#: of ~4x; NumPy: see tests/test_large.py).
LARGE_OUTPUT = 2**24

Path = Callable[..., Any]


def _large(output_elements: Optional[int]) -> bool:
    return output_elements is not None and output_elements > LARGE_OUTPUT


class Policy:
    """The defaults: every path runs every dtype; no native op; ``matmul`` for ``auto``."""

    name = ""
    #: Whether ``auto`` looks at the output size (torch.compile cannot trace a product over its shape).
    sizes_outputs = False
    #: NumPy: phases are written into a preallocated output as they come (``_paths/numpy_assembly.py``).
    writes_phases_eagerly = False
    #: JAX: symbolic sizes (jax.export, jax2onnx) need ``lax`` reshapes, slices and concatenations.
    traces_symbolic_sizes = False
    #: ``phase``: whether the crops come off each phase's input padding (only the
    #: window computed) rather than off the interleaved full output.
    crops_phase_inputs = False
    #: ``matmul`` with taps that never overlap, 3D: its depth-to-space as nested
    #: stacks (``common.interleave_by_stacking``) rather than one transpose.
    stacks_3d_depth_to_space = False
    #: ``phase`` in the full output, ungrouped: where every phase reads the same
    #: input window, one convolution to all phases' channels.
    merges_phases = False

    def native_supports(self, rank: int, dilation_rate: Sequence[int], groups: int, dtype: str) -> bool:
        """Whether ``native`` can run these arguments."""
        return False

    def runs_complex(self, path: str, dtype: str) -> bool:
        """Whether ``path`` takes ``dtype`` (complex64/complex128) without composition from real calls."""
        return True

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        """The algorithm ``path="auto"`` runs."""
        return "matmul"

    def choose(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
               groups: int, dtype: str, output_elements: Optional[int] = None,
               accelerator: bool = False) -> str:
        """``auto_path``, except that accelerators take the native op where it runs the arguments."""
        if accelerator and self.native_supports(len(strides), dilation_rate, groups, dtype):
            return "native"
        return self.auto_path(kernel_size, strides, dilation_rate, groups, dtype, output_elements)

    def on_accelerator(self) -> bool:
        """Whether the backend computes on a GPU or TPU (then ``choose`` prefers ``native``)."""
        return False

    def splits_groups(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                      groups: int, accelerator: bool = False) -> bool:
        """Whether ``path="auto"`` runs a grouped convolution one group at a time (``plan.one_group``).

        Each group is then an ungrouped convolution with its own ``auto`` choice.
        """
        return False

    def derivative_paths(self, path: str, kernel_size: Sequence[int], strides: Sequence[int],
                         dilation_rate: Sequence[int], groups: int, output_elements: Optional[int] = None,
                         crops: Optional[Sequence[Tuple[int, int]]] = None, dtype: str = "float32"
                         ) -> Tuple[str, str]:
        """The algorithms whose derivatives ``path="auto"`` uses for the input and for the kernel.

        ``path`` is the values' algorithm (``choose``'s answer); ``crops`` the
        ``(before, after)`` cut off each axis of the full output (None: 'same''s);
        ``dtype`` the input's.
        """
        return path, path

    def compile(self, values: Path, derivatives: Optional[Tuple[Path, Path]] = None) -> Path:
        """Wrap a bound path; ``derivatives`` (if not None) differentiate it in the input and the kernel."""
        return values

    def native(self) -> Callable[..., Any]:
        """The backend's own transposed convolution, with the paths' contract."""
        raise NotImplementedError(f"The {self.name!r} backend has no native transposed convolution.")

    def conv(self, x: Any, kernel: Any, padding: str, dilation_rate: Tuple[int, ...]) -> Any:
        """A stride-1 channels_last convolution (each of ``phase``'s): ``keras.ops.conv``."""
        return keras.ops.conv(x, kernel, strides=1, padding=padding, data_format="channels_last",
                              dilation_rate=dilation_rate)

    def kernel_gradient_block(self, input_shape: Tuple[Any, ...], kernel_size: Sequence[int],
                              strides: Sequence[int], dilation_rate: Sequence[int], groups: int) -> int:
        """JAX's ``correlation``: 0 for one kernel-gradient convolution, else the most batch entries
        and channels of the input per convolution (``correlation._kernel_gradient``)."""
        return 0

    def wraps_circular_inputs(self, path: str, output_elements: Optional[int], strides: Sequence[int] = ()
                              ) -> bool:
        """Whether circular axes of known length wrap the input around rather than fold the full output.

        ``path`` is the algorithm that runs; ``plan.wrap_instead_of_fold`` says what changes.
        """
        return False

    def folds_values_wraps_derivatives(self, path: str, kernel_size: Sequence[int], strides: Sequence[int],
                                       dilation_rate: Sequence[int]) -> bool:
        """Where ``wraps_circular_inputs`` holds for ``auto``: whether the values fold the full output anyway.

        The derivatives then still run on the wrapped input (``ops._fold_values_wrap_derivatives``).
        """
        return False

    def fold_circular(self, y: Any, folds: Sequence[Any]) -> Any:
        """Fold a path's full output onto its circular axes (``common.fold_circular``'s contract)."""
        return fold_circular(y, folds)


class TorchPolicy(Policy):
    """torch: its own ``conv_transposeNd`` (strides, dilation, groups, complex), forward and backward."""

    name = "torch"

    def native_supports(self, rank: int, dilation_rate: Sequence[int], groups: int, dtype: str) -> bool:
        return True

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        return "native"

    def native(self) -> Callable[..., Any]:
        from keras_deconv._paths.native import torch_conv_transpose

        return torch_conv_transpose

    def fold_circular(self, y: Any, folds: Sequence[Any]) -> Any:
        # In place, the window a view (_paths/torch_fold.py): the keras.ops fold's
        # passes over the output cost more than the convolution on large volumes.
        from keras_deconv._paths.torch_fold import torch_fold_circular

        return torch_fold_circular(y, folds)


class JaxPolicy(Policy):
    """jax: ``matmul``; ``phase`` for overlapping 2D taps (1D: merged phases); 2D calls per depth phase in 3D.

    XLA on CPU runs the transposed convolution as a convolution over a
    zero-dilated input (``native``: 3-100x torch's time); its 2D stride-1
    convolutions (``phase``) give the fastest 2D forward pass, its 1D and 3D
    ones lose to matmuls. 3D kernels whose taps overlap (ungrouped) run as
    2D ``auto`` calls, one per output depth phase (``depth_phases``,
    ``_paths/depth.py``, which has the timings), at any output size. The 2D
    derivatives come from other algorithms through a ``jax.custom_jvp``
    (benchmark cases, forward+backward, 2-core CPU): with overlapping taps, the
    input's from ``phase``, the kernel's from ``correlation``
    (``_paths/correlation.py``): 49 ms on 2D k4 s2, against 92 ms with both
    from ``matmul`` and 51 ms with both from ``phase``; with stride 1, the
    input's from ``adjoint``; with strides and dilation, ``phase``'s own
    (see ``derivative_paths``). ``depth_phases``
    differentiates its own operations, so its 2D calls bring theirs (its 3D
    k3 s2 forward+backward: 17-18 ms, against 20-27 ms for ``matmul`` values
    with ``adjoint`` and ``correlation`` derivatives, interleaved).

    Where every output phase reads the same input window (a kernel size that
    is a multiple of the stride), ``phase`` runs one convolution for all
    phases (``merges_phases``), and 1D overlapping taps take it too.

    Other outputs of more than ``LARGE_OUTPUT`` values take ``phase`` (smaller
    temporaries), differentiated as ``phase`` in 3D. 2D overlapping taps in up
    to 8 groups run one ungrouped call per group (``splits_groups``), each as
    above; other grouped and 1D cases differentiate their own path, and
    non-overlapping ``matmul`` is differentiated as ``matmul_rows`` (the same
    product over flattened rows, which XLA transposes without copying the
    cotangent). Circular axes fold the full output, or wrap the input around
    for ``phase`` and ``depth_phases`` with every stride above 1 (2D merged
    phases: the values folded, the derivatives wrapped); the derivatives
    follow the crops that run (``derivative_paths``).
    """

    name = "jax"
    sizes_outputs = True
    traces_symbolic_sizes = True
    # XLA's CPU concatenations beat its 6-axis transpose there (ms, medians of
    # 25, interleaved; `auto`'s values, then value and gradients of
    # sum(y**2)): (2, 16^3, 64) -> 32 k2 s2 forward 3.1-3.9 against 4.0-4.7,
    # forward+backward 9.8-13.0 against 9.9-12.6 (four timings, two runs);
    # (1, 32^3, 64) -> 32 k2 s2 15.1-15.7 against 16.0-17.5 and 44.7-49.4
    # against 48.2-50.0 (two timings). The derivatives (``matmul_rows``) keep
    # the transpose, which XLA transposes back. Not on TensorFlow (6.0 -> 7.0
    # and 17.0 -> 26.9 ms forward) nor torch (5.6 -> 5.8, 17.0 -> 18.5); 2D
    # and the overlapping paths' phases gained nothing on JAX.
    stacks_3d_depth_to_space = True
    # One convolution to every phase's channels (one wider matrix product per
    # window position) instead of one per phase (ms, forward / forward+backward,
    # `auto`, interleaved in one process, median of 15, separate then merged):
    # 2D (8, 32, 32, 128) -> 64 k4 s2 13.6/45.3 -> 12.5/39.7 and 16.1/54.8 ->
    # 13.4/44.5; channels_first 15.6/47.7 -> 14.0/42.0; groups 4 (a call per
    # group) 6.8/19.4 -> 4.9/15.7; 1D (4, 512, 64) -> 32 k16 s8 1.51/4.13 ->
    # 1.24/3.55, where `matmul`, 1D's choice before, read 1.86-1.94/4.9-5.4.
    merges_phases = True

    def native_supports(self, rank: int, dilation_rate: Sequence[int], groups: int, dtype: str) -> bool:
        return True

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        overlapping = taps_overlap(kernel_size, strides, dilation_rate)
        if overlapping and len(strides) == 3 and groups == 1:
            # 2D transposed convolutions, one per depth phase (_paths/depth.py has the timings).
            return "depth_phases"
        if _large(output_elements):
            return "phase"
        # Not grouped `phase` (XLA's feature_group_count): no faster, and under
        # ModelParallel with the filters axis sharded its grouped predictions
        # differed from one device's (tests/distribution; the cause was not
        # isolated). ``splits_groups`` runs those cases one group at a time.
        if overlapping and groups == 1 and (len(strides) == 2 or phases_share_window(kernel_size, strides,
                                                                                     dilation_rate)):
            # 1D too where the phases merge into one convolution (see merges_phases).
            return "phase"
        return "matmul"

    def derivative_paths(self, path: str, kernel_size: Sequence[int], strides: Sequence[int],
                         dilation_rate: Sequence[int], groups: int, output_elements: Optional[int] = None,
                         crops: Optional[Sequence[Tuple[int, int]]] = None, dtype: str = "float32"
                         ) -> Tuple[str, str]:
        rank = len(strides)
        if path == "matmul" and groups == 1 and not taps_overlap(kernel_size, strides, dilation_rate):
            # Its own values, transposed from a 2D matrix product (``matmul_rows``;
            # ms, forward+backward, interleaved): 2D (16, 64, 64, 64) -> 32 k2 s2
            # 35.7 against 50.7 (torch 38.6-40.2 in two other runs); 3D (2, 16^3, 64) -> 32 k2 s2
            # 5.4 against 6.2; 2D (8, 32, 32, 64) -> 32 k2 s2 1.9 against 2.6.
            # Overlapping 1D taps gain nothing (k16 s8: 2.2 against 2.3).
            return "matmul_rows", "matmul_rows"
        if path in ("native", "depth_phases") or groups > 1 or rank == 1:
            # depth_phases: its 2D transposed convolutions come with their own choice.
            return path, path
        if rank == 3 and _large(output_elements):
            # The 3D derivatives' temporaries (see the class doc). 2D keeps its
            # choice at any size: `phase`'s own kernel derivative is slow, and
            # depth_phases' 2D calls on the 64^3 volume with circular padding
            # (17.3M values, just past LARGE_OUTPUT) took forward+backward from
            # 925 to 2907 ms with it ('same', 16.8M: 793 ms).
            return path, path
        if not taps_overlap(kernel_size, strides, dilation_rate):
            return path, path
        # Crops other than 'same''s on a stride-1 axis (circular axes wrapped
        # around or folded, 'valid', explicit crops): XLA's kernel derivatives of
        # `correlation` and `adjoint` each take a slow generic kernel on one
        # side. 2D (8, 32, 32, 64) -> 64 k3 s1 d2, the kernel gradient alone
        # (ms, correlation / adjoint): crops (2, 2) ('same') 5.9 / 5.8; (0, 0)
        # 7.8 / 183; (2, 3) 168 / 5.2; (4, 4) 158 / 7.8; `phase`'s 8-13 at
        # any crops. With stride 2 (k3 d2, crops (0, 0) to (5, 5))
        # `correlation`'s took 5-9 ms.
        # Crops past 'same''s total, per axis:
        spare = [sum(crop) - same_crop(k, s, d) for k, s, d, crop in zip(kernel_size, strides, dilation_rate,
                                                                         crops or ())]
        unit = [extra for extra, s in zip(spare, strides) if s == 1]
        if any(unit):
            if len(unit) == rank and all(extra >= 0 for extra in unit):
                # Outputs shorter than their inputs ('circular' wrapped around: k3 s1
                # d2 forward+backward 9.8-13.3 ms, against 183 with `correlation`'s).
                return "adjoint", "adjoint"
            # Longer ('circular' folded: 10.6-11.1 ms, against 13.6-14.2 with
            # `adjoint` and `correlation`), or strides 1 mixed with others.
            return path, path
        if rank == 2 and any(stride > 1 for stride in strides) and any(d > 1 for d in dilation_rate):
            # Strides with dilation: `phase`'s own derivatives, at any crops (2D
            # (8, 32, 32, 64) -> 64 k3 s2 d2, forward+backward, ms, interleaved,
            # three runs: 16.2, 17.7, 17.2 against 19.0-21.5, 21.5, 19.3 with
            # `correlation`'s kernel derivative, torch 14.8-17.0; 'valid' 21.4
            # against 27.7; circular, wrapped around, 19.6 against 24.8 with
            # `adjoint` and `correlation`, 'same' 17.9). The cost: peak memory
            # 53.5 against 40.2 MiB on 'same' (torch 31.9), equal on circular.
            return path, path
        if any(extra > 0 for extra in spare):
            if rank == 2 and phases_share_window(kernel_size, strides, dilation_rate):
                # Merged phases on a wrapped input (folds_values_wraps_derivatives):
                # `phase`'s own input derivative is one convolution too. Value and
                # gradients with circular padding (ms, interleaved, median of 15-21;
                # `adjoint`'s input derivative against `phase`'s, 'same' beside):
                # 2D (8, 32, 32, 128) -> 64 k4 s2 groups 4 (a call per group) 24.1,
                # 21.4, 25.6 against 20.5, 20.1, 20.5 ('same' 18.7, 17.3, 19.4);
                # ungrouped 50.8, 48.6, 52.7 against 50.9, 50.2, 52.8; channels_first
                # 51.1 against 50.1.
                return "phase", "correlation"
            # Strided axes cropped past 'same' (wrapped around): `phase`'s input
            # derivative computes the larger full output. depth_phases' 2D calls
            # on 3D (2, 16^3, 64) -> 32 k3 s2 circular, the input's derivative
            # alone: 20.4 ms against 7.2 from `adjoint` (crops 'same' 7.8).
            return "adjoint", "correlation"
        if rank == 2 and any(stride > 1 for stride in strides):
            return "phase", "correlation"
        # 2D stride 1, where `adjoint`'s transpose is one plain XLA
        # convolution: 2D (8, 32, 32, 64) -> 64 k3 s1 d2 forward+backward
        # 11.6-12.7 ms against 16.6-16.8 from `phase` (interleaved; torch
        # 9.0-9.4), k3 d1 11.5-12.2 against 15.2; k5 d1 44 against 41.5.
        return "adjoint", "correlation"

    def kernel_gradient_block(self, input_shape: Tuple[Any, ...], kernel_size: Sequence[int],
                              strides: Sequence[int], dilation_rate: Sequence[int], groups: int) -> int:
        # XLA hands a 2D convolution with more than 16 input or output channels
        # to YNNPACK; the kernel gradient's reads the batch as its input
        # channels, and on a large window (the input's plane, dilated by the
        # stride) YNNPACK's is slower than Eigen's. Blocks of 16 go to Eigen.
        # Value and gradients of sum(y**2), `auto`, ms, one process per setting,
        # two runs each, one convolution then blocks: 3D (1, 64^3, 32) -> 16 k3
        # s2 (its depth phases' 2D calls: batch 64, 64x64) 640, 640 -> 461, 464;
        # 2D k3 s2 (64, 32, 32, 128) -> 64 510, 503 -> 378, 385; (64, 32, 32,
        # 64) -> 32 168, 155 -> 126, 129; (32, 64, 64, 32) -> 16 136, 129 -> 96,
        # 98. Not smaller planes nor merged phases: 3D (2, 16^3, 64) -> 32 k3 s2
        # (batch 32, 16x16) 31.3, 30.9 -> 33.1, 39.8; 2D (64, 16, 16, 64) -> 32
        # k3 s2 36.0, 35.2 -> 34.6, 36.2; k4 s2 (64, 16, 16, 128) -> 64 108,
        # 112 -> 128, 128; (32, 32, 32, 128) -> 64 251, 260 -> 267, 269; nor
        # small batches (8, 32, 32, 128) -> 64 k4 s2, the kernel gradient alone
        # 14.4 -> 30.4.
        batch, *plane, _ = input_shape
        sizes = [batch, *plane]
        if len(strides) != 2 or groups != 1 or not all(isinstance(n, int) for n in sizes):
            return 0  # symbolic sizes: one convolution (blocks need static bounds)
        strided = any(s > 1 for s in strides) and not phases_share_window(kernel_size, strides, dilation_rate)
        return 16 if strided and batch >= 32 and plane[0] * plane[1] >= 32 * 32 else 0

    def wraps_circular_inputs(self, path: str, output_elements: Optional[int], strides: Sequence[int] = ()
                              ) -> bool:
        # `phase` with every stride > 1 (2D; ms, forward / forward+backward,
        # interleaved, 'same' then fold then wrap): (8, 32, 32, 64) -> 64 k3 s2
        # d2 2.4/12.1, 3.4/12.8, 2.6/13.1 (and 2.3/11.4, 3.4/13.1, 2.6/12.9);
        # (8, 32, 32, 128) -> 64 k4 s2 6.8/27.5, 8.3/28.9, 8.7/31.4 (and
        # 6.5/24.8, 7.4/28.3, 7.5/28.9). With stride 1 the wrapped input's
        # full output is computed, then cropped: k3 s1 d2 2.4/9.3, 2.5/10.6
        # (folded, `phase`'s own derivatives), 3.1/9.8 (see derivative_paths).
        # depth_phases (its 2D calls then take `adjoint`'s input derivative):
        # 3D (2, 16^3, 64) -> 32 k3 s2 7.1/27.4, 8.8/35.0, 8.3/29.2;
        # channels_first 6.0/21.2, 8.2/29.6, 6.5/22.5; (1, 64^3, 32) -> 16
        # 165/575, 233/923, 194/617.
        return path in ("phase", "depth_phases") and bool(strides) and all(stride > 1 for stride in strides)

    def folds_values_wraps_derivatives(self, path: str, kernel_size: Sequence[int], strides: Sequence[int],
                                       dilation_rate: Sequence[int]) -> bool:
        # 2D merged phases: the fold's values (the convolution 'same' runs, then
        # a fold of the edges) with the wrapped input's derivatives. Wrapped, the
        # merged convolution computes two more rows and columns per phase; folded,
        # its derivatives run on the full output. Ms, forward / forward+backward,
        # interleaved, median of 21, 'same' / wrap / fold / both: (8, 32, 32, 128)
        # -> 64 k4 s2 12.3/40.7, 14.0/47.0, 12.9/50.5, 12.7/44.8; channels_first
        # 13.6/41.8, 17.2/49.5, 14.2/52.4, 14.3/49.3; groups 4 (a call per group)
        # 4.8/15.8, 5.3/21.0, 5.7/20.6, 5.2/19.8. Not the unmerged phases of k3 s2
        # d2, whose fold was slower forward (1.44x 'same' against 1.11x wrapped).
        merged = phases_share_window(kernel_size, strides, dilation_rate)
        return path == "phase" and len(strides) == 2 and merged

    def splits_groups(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                      groups: int, accelerator: bool = False) -> bool:
        # XLA's grouped convolutions and their derivatives are slow on CPU
        # (feature_group_count): 2D overlapping taps with up to 8 groups run
        # faster as one ungrouped `phase` per group, with its derivatives. On
        # 2D (8, 32, 32, 128) -> 64 k4 s2, forward+backward (interleaved, same
        # process): 4 groups 23-24 ms against 45 ms grouped `matmul`, 8 groups
        # 21 against 40; 16 groups 35 against 25, and 3D or 1D no faster.
        overlapping = taps_overlap(kernel_size, strides, dilation_rate)
        return not accelerator and 1 < groups <= 8 and len(strides) == 2 and overlapping

    def on_accelerator(self) -> bool:
        import jax

        return jax.default_backend() != "cpu"

    def compile(self, values: Path, derivatives: Optional[Tuple[Path, Path]] = None) -> Path:
        # Eagerly, a path is a few dozen small operations that JAX would dispatch
        # (and compile) one by one; inside an outer jit this one is inlined.
        import jax

        if derivatives is None:
            return jax.jit(values)  # type: ignore[no-any-return]
        for_input, for_kernel = derivatives
        function = jax.custom_jvp(values)

        def jvp(primals: Any, directions: Any) -> Any:
            # Bilinear: the JVP is f(dx, w) + f(x, dw); JAX transposes each term
            # for reverse mode, so each argument's gradient is its algorithm's.
            (x, kernel), (dx, dkernel) = primals, directions
            return values(x, kernel), for_input(dx, kernel) + for_kernel(x, dkernel)

        function.defjvp(jvp)
        return jax.jit(function)  # type: ignore[no-any-return]

    def native(self) -> Callable[..., Any]:
        from keras_deconv._paths.native import jax_conv_transpose

        return jax_conv_transpose


class TensorFlowPolicy(Policy):
    """tensorflow: TF's op where its kernels exist; non-overlapping taps: ``matmul`` in 1D and grouped.

    TF's CPU kernels have no dilation (and no groups: one call per group);
    otherwise ``phase``, whose convolutions run one call per group on CPU
    (TF's grouped convolution gradient is slow there), or ``matmul`` for 1D
    groups. TF has no complex convolutions: ``phase`` and
    ``native`` are composed from real calls; ``matmul`` runs complex64, and
    complex128 is composed because ``ops.matmul`` demotes it.

    ``phase`` computes only the window (``crops_phase_inputs``): interleaved,
    2D k3 s1 d2 4.9/13.5 -> 4.2/10.7 ms forward/forward+backward, k3 s2 d2
    5.3/14.2 -> 4.8/11.7. (On JAX the same change made XLA's CPU
    convolutions slower: 4.7/16.5 -> 6.3/19.0 and 4.3/18.3 -> 6.7/17.7.)
    """

    name = "tensorflow"
    sizes_outputs = True
    crops_phase_inputs = True

    def native_supports(self, rank: int, dilation_rate: Sequence[int], groups: int, dtype: str) -> bool:
        return all(d == 1 for d in dilation_rate) and dtype in ("float16", "float32", "float64")

    def runs_complex(self, path: str, dtype: str) -> bool:
        return path == "matmul" and dtype == "complex64"

    def on_accelerator(self) -> bool:
        return _tensorflow_has_gpu()

    def conv(self, x: Any, kernel: Any, padding: str, dilation_rate: Tuple[int, ...]) -> Any:
        # Keras (tf.nn.convolution) runs a dilated convolution as space-to-batch,
        # convolution and batch-to-space; oneDNN's Conv2D takes the dilation
        # itself (2D (8, 32, 32, 64) k3 d2 'same', interleaved: forward 3.6-4.6
        # -> 3.0-3.1 ms, forward+backward unchanged, 10.2-10.7). Not Conv3D: a
        # model saved with a dilated Conv3D does not run where TF has no oneDNN
        # (Eigen's CPU kernels: "CPU implementation of Conv3D currently only
        # supports dilated rates of 1"; Eigen's Conv2D has the dilation, so a
        # dilated Conv2D saved with oneDNN runs there). Without oneDNN, and in
        # float64 (Eigen's kernels, not oneDNN's), TF's CPU kernels have no
        # dilated Conv2D gradient. ``auto_path`` takes `depth_phases` for 3D
        # with dilation: LiteRT has no 3D space-to-batch.
        groups = x.shape[-1] // kernel.shape[-2]
        if groups > 1 and not self.on_accelerator():
            # One call per group: TF's grouped convolution's gradient is slow on
            # CPU, with or without oneDNN. `phase` forced, value and gradients
            # of sum(y**2), ms, interleaved, median of 7, grouped then split
            # (AVX2 EPYC, 2026-12-05): 2D (8, 32, 32, 128) -> 64 k4 s2 groups 4
            # 761 -> 49 (oneDNN forced on: 744 -> 28); k3 s2 d2 469 -> 29; 3D
            # (2, 16^3, 64) -> 32 k3 s2 d2 groups 4 123 -> 42.
            from keras_deconv._paths.native import tensorflow_by_group

            return tensorflow_by_group(lambda part, group_kernel: self.conv(part, group_kernel, padding,
                                                                            dilation_rate), x, kernel, groups)
        onednn = keras.backend.standardize_dtype(x.dtype) == "float32" and _onednn_enabled()
        if len(dilation_rate) == 2 and max(dilation_rate) > 1 and groups == 1 and onednn:
            import tensorflow as tf

            if padding == "same":
                # Padded first: ONNX Runtime runs no dilated Conv with auto_pad SAME
                # (what tf2onnx makes of "SAME" on unknown sizes), and TF's
                # gradient of a dilated Conv2D with explicit padding is not oneDNN's
                # (none on CPU).
                totals = [(k - 1) * d for k, d in zip(kernel.shape[:2], dilation_rate)]
                x = tf.pad(x, [[0, 0], *([total // 2, total - total // 2] for total in totals), [0, 0]])
            return tf.nn.conv2d(x, kernel, strides=[1, 1, 1, 1], padding="VALID",
                                dilations=[1, *dilation_rate, 1])
        return super().conv(x, kernel, padding, dilation_rate)

    def wraps_circular_inputs(self, path: str, output_elements: Optional[int], strides: Sequence[int] = ()
                              ) -> bool:
        # TF makes each split, concatenation and slice a pass over the tensor.
        # phase computes only the window: the wrapped rows come off its inputs,
        # and nothing passes over the output (circular / 'same', interleaved,
        # 2D k3 s1 d2: fold 1.44/1.17 -> wrap 1.06/0.96 forward/forward+backward;
        # k3 s2 d2: 1.30/1.42 -> 1.05/1.08). native and matmul crop their
        # output once instead of folding it, and compute the extended input's
        # rows: only a large output gained, against the fold's earlier split and
        # concatenation per axis (``fold_circular`` below is since cheaper; 3D
        # (1, 64^3, 32) k3 s2: 1.87/1.69 -> 1.33/1.30; (2, 16^3, 64) k3 s2:
        # 1.27/1.19 -> 1.36/1.27; 2D k4 s2: 1.12/1.10 -> 1.21/1.27). With the
        # gather/scatter fold, on a faster VM (ms, interleaved, 'same' / fold /
        # wrap, forward and forward+backward), (1, 64^3, 32) -> 16 k3 s2:
        # 45.6/166.7, 82.7/226.8, 74.8/224.0: wrapping still wins there.
        return path == "phase" or _large(output_elements)

    def fold_circular(self, y: Any, folds: Sequence[Any]) -> Any:
        # One gather and one scatter of the wrapped values (_paths/tensorflow_fold.py):
        # the keras.ops fold's splits and concatenations are a pass over the output
        # each, both ways.
        from keras_deconv._paths.tensorflow_fold import tensorflow_fold_circular

        return tensorflow_fold_circular(y, folds)

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        native = self.native_supports(len(strides), dilation_rate, groups, dtype)
        if not taps_overlap(kernel_size, strides, dilation_rate):
            # 2D and 3D: TF's own op (ms, interleaved, median of 25, forward /
            # forward+backward, matmul then native): (16, 64, 64, 64) -> 32 k2 s2
            # 12.5/35.6, 9.9/35.0; (8, 32, 32, 128) -> 64 k2 s2 4.3/10.9, 3.9/10.5;
            # 3D (2, 16^3, 64) -> 32 k2 s2 (2026-12-04, forward timings without
            # the output's copy to NumPy, two runs, median of 15) 4.89/11.12,
            # 2.82/10.46 and 5.86/9.94, 4.20/9.53. Not 1D (4, 512, 64) -> 32 k8
            # s8: 1.3/2.5, 1.3/3.3 (forward+backward slower with TF's op there).
            # Without oneDNN, Eigen's kernels lose (suite run of 2026-12-05 17:23,
            # AVX2 EPYC, matmul then native): 3D k2 s2 2.70/9.96, 3.91/12.87; 2D
            # (16, 64, 64, 64) -> 32 k2 s2 9.39/45.09, 11.57/45.69.
            return "native" if native and len(strides) > 1 and groups == 1 and _onednn_enabled() else "matmul"
        if native and not (_large_without_onednn(output_elements) and groups == 1):
            return "native"
        dilated = any(d > 1 for d in dilation_rate)
        real = dtype in ("float16", "float32", "float64")
        if dilated and len(strides) == 3 and groups == 1 and real:
            # 3D with dilation: `depth_phases`, whose 2D convolutions TF runs
            # without a 3D space-to-batch (which LiteRT's builtin ops lack:
            # `phase` there failed to convert; with groups, tf2onnx converted
            # `depth_phases` to wrong values) and without a dilated Conv3D
            # (which Eigen's CPU kernels lack: ``conv``). Value and gradients
            # of sum(y**2), ms, forward / forward+backward, median of 7, AVX2
            # EPYC, 2026-12-05, phase / matmul / depth_phases: (2, 16^3, 64) ->
            # 32 k3 s2 d2 10.3/44.4, 17.0/39.1, 10.1/35.3; (2, 16^3, 32) -> 32
            # k3 s1 d2 5.1/26.0, 13.7/28.9, 5.1/17.3; k3 s2 d2 groups 4
            # 8.1/33.4, 16.4/39.1, 7.6/24.6. With oneDNN, `phase`'s derivatives
            # (``derivative_paths``).
            return "depth_phases"
        if groups > 1 and (len(strides) == 1 or (len(strides) == 3 and dilated)):
            # 2D groups with dilation: `phase`, its convolutions one call per
            # group (``conv``); 1D and 3D: `matmul`. In 3D `phase`'s dilated
            # Conv3D calls are Keras's 3D space-to-batch (``conv``), which
            # LiteRT cannot convert. With oneDNN `phase` read 5.7/16.8 against
            # `matmul`'s 17.5/34.9 on (2, 16^3, 64) -> 32 k3 s2 d2 groups 4.
            # Value and gradients of sum(y**2), ms, forward / forward+backward,
            # interleaved, median of 7, matmul then phase (AVX2 EPYC,
            # 2026-12-05): 2D (8, 32, 32, 128) -> 64 k3 s2 d2 groups 4
            # 14.1/38.9, 8.1/28.8 (oneDNN forced on: 11.3/23.5, 6.8/14.5); (8,
            # 32, 32, 64) -> 64 k3 s1 d2 groups 2 10.5/29.3, 5.5/15.8; 1D (4,
            # 512, 64) -> 32 k16 s8 d2 groups 4 2.8/6.7, 2.8/7.0.
            return "matmul"
        # Dilation otherwise, and large outputs without oneDNN (TF's default on
        # CPUs without AVX-512): TF's own 3D kernel (Eigen's) needs 3.9x the
        # input and output; phase 2.9x, and it is faster (1, 96^3, 8) -> 8 k3
        # s2 'valid' forward on an AVX2 EPYC, 2026-12-05: native 735 ms, 995
        # MB; phase 651 ms, 761 MB; matmul 1256 ms, 927 MB. With oneDNN,
        # native: 268 MB (1.04x). Its derivatives are TF's op's (``derivative_paths``).
        return "phase"

    def derivative_paths(self, path: str, kernel_size: Sequence[int], strides: Sequence[int],
                         dilation_rate: Sequence[int], groups: int, output_elements: Optional[int] = None,
                         crops: Optional[Sequence[Tuple[int, int]]] = None, dtype: str = "float32"
                         ) -> Tuple[str, str]:
        # `phase` for a large 3D output without oneDNN (``auto_path``): its own
        # derivatives took twice TF's op's. Value and gradients of sum(y**2), 3D
        # (1, 64^3, 32) -> 16 k3 s2 'same', AVX2 EPYC, 2026-12-05: suite run,
        # phase 797 ms, native 405 ms, peak 742 / 688 MiB (torch 512); one
        # process each, interleaved, phase's values with TF's op's derivatives
        # 955-1079 ms against native's 920-1038 (a slower allocator setting),
        # peak 593 MiB.
        large_3d = len(strides) == 3 and _large_without_onednn(output_elements)
        if path == "phase" and large_3d and self.native_supports(3, dilation_rate, groups, dtype):
            return "native", "native"
        if path == "depth_phases" and _onednn_enabled():
            # oneDNN's 3D convolutions differentiate faster than the 2D calls
            # (ms, forward / forward+backward, interleaved, median of 9, AVX2
            # EPYC with oneDNN forced on, 2026-12-06; depth_phases / phase /
            # this mix): (2, 16^3, 32) -> 32 k3 s1 d2 3.63/21.89, 3.58/12.48,
            # 3.65/12.50; (2, 16^3, 64) -> 32 k3 s2 d2 9.13/33.08, 9.28/30.25,
            # 9.93/31.72.
            return "phase", "phase"
        return path, path

    def compile(self, values: Path, derivatives: Optional[Tuple[Path, Path]] = None) -> Path:
        # The derivatives of another algorithm: TF differentiates its operations
        # inside the gradient. Under tf.function (Keras's fit, the suite) the
        # forward they record is never used and is pruned; run eagerly, it
        # is computed once more.
        if derivatives is None:
            return values
        import tensorflow as tf

        for_input, for_kernel = derivatives

        @tf.custom_gradient
        def function(x: Any, kernel: Any) -> Any:
            def gradient(upstream: Any) -> Any:
                one = for_kernel is for_input
                with tf.GradientTape(persistent=not one) as tape:
                    tape.watch([x, kernel])
                    y_input = for_input(x, kernel)
                    y_kernel = y_input if one else for_kernel(x, kernel)
                if one:
                    return tape.gradient(y_input, [x, kernel], output_gradients=upstream)
                return (tape.gradient(y_input, x, output_gradients=upstream),
                        tape.gradient(y_kernel, kernel, output_gradients=upstream))

            return values(x, kernel), gradient

        # Tensors, not variables: a variable read inside a custom gradient
        # would need a gradient of its own.
        return lambda x, kernel: function(tf.convert_to_tensor(x), tf.convert_to_tensor(kernel))

    def native(self) -> Callable[..., Any]:
        from keras_deconv._paths.native import tensorflow_conv_transpose

        return tensorflow_conv_transpose


@functools.lru_cache(maxsize=1)
def _tensorflow_has_gpu() -> bool:
    # TF places operations on its first GPU whenever it sees one.
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _large_without_onednn(output_elements: Optional[int]) -> bool:
    # TensorFlow's rules for large outputs on Eigen's kernels (``auto_path``,
    # ``derivative_paths``): `phase`'s values, TF's op's derivatives.
    return _large(output_elements) and not _onednn_enabled()


@functools.lru_cache(maxsize=1)
def _onednn_enabled() -> bool:
    # Whether TF runs its CPU kernels through oneDNN (the x86 default; off with
    # TF_ENABLE_ONEDNN_OPTS=0). A private module: False wherever it is missing.
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return False


class NumpyPolicy(Policy):
    """numpy: ``matmul`` (no autodiff; NumPy's fastest primitive), ``phase`` for large outputs.

    Its phase path writes each phase straight into the output (memory).
    """

    name = "numpy"
    sizes_outputs = True
    writes_phases_eagerly = True

    def auto_path(self, kernel_size: Sequence[int], strides: Sequence[int], dilation_rate: Sequence[int],
                  groups: int, dtype: str, output_elements: Optional[int] = None) -> str:
        return "phase" if _large(output_elements) else "matmul"


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
