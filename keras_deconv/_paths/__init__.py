"""Algorithms that compute a transposed convolution, one module each.

The contract every path follows (so the op can swap them freely):

- signature ``path(x, kernel, strides, dilation_rate, groups, crops)``;
- ``x`` is channels_last with one batch axis: ``(batch, *spatial, channels)``;
- ``kernel`` has the Keras layout ``kernel_size + (filters // groups, channels)``;
- ``crops`` holds one ``(before, after)`` pair per spatial axis: how much to cut
  from each end of the full output (``after`` < 0 asks for zeros past its end);
- the result is channels_last ``(batch, *output_spatial, filters)``, exactly
  the window the crops describe, with the input's dtype.

Backends are not imported unless a backend-specific path actually runs.
"""

from keras_deconv._paths.correlation import adjoint, correlation
from keras_deconv._paths.depth import depth_phases
from keras_deconv._paths.matmul import matmul_overlap_add, matmul_rows
from keras_deconv._paths.native import native
from keras_deconv._paths.phase import phase_decomposition

#: Every path by its public name (the ``path=`` argument of ``conv_transpose``).
PATHS = {
    "matmul": matmul_overlap_add,
    "phase": phase_decomposition,
    "native": native,
}

#: Algorithms with the same contract that only the policies use, not accepted as
#: ``path=``: ``adjoint``, ``correlation`` and ``matmul_rows`` for derivatives
#: (values no faster, transposes faster), ``depth_phases`` for JAX's 3D values
#: (2D ``auto`` calls inside).
DERIVATIVE_PATHS = {**PATHS, "adjoint": adjoint, "correlation": correlation, "matmul_rows": matmul_rows,
                    "depth_phases": depth_phases}

__all__ = ["PATHS", "DERIVATIVE_PATHS", "matmul_overlap_add", "phase_decomposition", "native", "adjoint",
           "correlation", "matmul_rows", "depth_phases"]
