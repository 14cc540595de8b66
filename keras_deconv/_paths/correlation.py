"""JAX only: the transposed convolution written so that its kernel gradient is a correlation.

A transposed convolution ``T(x, w)`` is, in ``x``, the adjoint of a strided
forward convolution ``G(dy, w)`` (window strides = the strides, kernel dilation =
the dilation, padding = the crops): ``<T(x, w), dy> == <x, G(dy, w)>``. Hence
the kernel gradient of ``T`` at cotangent ``dy`` equals the kernel gradient of
``G`` at cotangent ``x``, which XLA computes as one convolution-shaped
correlation of ``dy`` with ``x``. On a 2-core CPU that took 15 ms on the
benchmark's 2D k4 s2 case, against 33 ms for the autodiff of ``matmul`` and
37 ms for that of ``phase``.

``correlation`` computes the values of ``T(x, w)`` (the path contract of
``_paths/__init__.py``) as the transpose of that kernel gradient, so that
JAX's reverse mode, transposing it back, runs the correlation. Its own
forward is slow: the policy uses it only as the kernel's derivative
(``JaxPolicy.derivative_paths``), never for values.
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple

from keras_deconv._paths.common import result_shape


def strided_correlation(dy: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int],
                        groups: int, crops: Sequence[Tuple[int, int]]) -> Any:
    """``G(dy, kernel)``: the input gradient of the transposed convolution at cotangent ``dy``.

    The Keras transposed layout ``(*k, filters // groups, channels)`` is already
    the forward layout ``(*k, in // groups, out)`` of ``G``, which reads the
    filters and writes the channels.
    """
    from jax import lax

    rank = len(strides)
    spatial = "DHW"[3 - rank:]
    return lax.conv_general_dilated(
        dy, kernel, window_strides=tuple(strides), padding=[(before, after) for before, after in crops],
        rhs_dilation=tuple(dilation_rate),
        dimension_numbers=("N" + spatial + "C", spatial + "IO", "N" + spatial + "C"),
        feature_group_count=groups,
    )


def correlation(x: Any, kernel: Any, strides: Sequence[int], dilation_rate: Sequence[int], groups: int,
                crops: Sequence[Tuple[int, int]]) -> Any:
    """``T(x, kernel)`` as the transpose (in ``dy``) of ``dy -> d<x, G(dy, w)>/dw``; see the module doc."""
    import jax

    output = jax.ShapeDtypeStruct(result_shape(x, kernel, strides, dilation_rate, groups, crops), x.dtype)
    kernel_shape = jax.ShapeDtypeStruct(kernel.shape, kernel.dtype)

    def kernel_gradient(dy: Any) -> Any:
        """``dy -> d<x, G(dy, w)>/dw``: linear in ``dy``."""
        def in_kernel(w: Any) -> Any:
            return strided_correlation(dy, w, strides, dilation_rate, groups, crops)

        (gradient,) = jax.linear_transpose(in_kernel, kernel_shape)(x)
        return gradient

    (values,) = jax.linear_transpose(kernel_gradient, output)(kernel)
    return values
