"""Complex convolutions (transposed and forward) composed from real ones, where a backend has none.

A transposed convolution ``B(x, w)`` is bilinear, so with ``x = xr + i xi`` and
``w = wr + i wi``::

    B(x, w) = [B(xr, wr) - B(xi, wi)] + i [B(xr, wi) + B(xi, wr)]

Four real products, computed in ONE real call of the path: the input parts
stacked along the batch axis and the kernel parts along the filter axis
(twice the batch, twice the filters). One call of several small operations
costs less than three or four calls (Gauss's three-product form read 2.3x
the time on TensorFlow, and rounds its sums before the products).

Backends and their complex paths (``Policy.runs_complex`` in ``_paths/policy.py``):

- jax: every path runs complex natively (XLA has complex convolutions and
  matmuls; complex128 needs ``jax_enable_x64``).
- torch: ``native`` and ``phase`` run complex natively; ``matmul`` does too,
  but Keras's ``ops.matmul`` returns complex64 for complex128 on torch, which
  composing from real parts cannot fix (its float64 matmul is demoted too).
- tensorflow: TF has no complex convolution kernels, so ``phase`` and
  ``native`` are composed from their real (float32/float64) selves here;
  ``matmul`` runs complex64 natively, and complex128 is composed from float64
  matmuls because ``ops.matmul`` demotes complex128 but not float64 on TF.
- numpy: ``matmul`` and ``phase`` run complex natively (NumPy and the JAX
  convolution Keras uses); ``native`` does not exist for any dtype.

>>> import numpy as np
>>> from keras_deconv._paths.matmul import matmul_overlap_add
>>> x = np.array([[[1 + 1j], [2 - 1j]]], "complex64")  # (batch, length, channels)
>>> w = np.array([[[1j]], [[1.0 + 0j]]], "complex64")   # (taps, filters, channels)
>>> y = complex_conv_transpose(matmul_overlap_add, x, w, (1,), (1,), 1, ((0, 0),))
>>> np.round(np.asarray(y)[0, :, 0], 4).tolist()
[(-1+1j), (2+3j), (2-1j)]
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Tuple

from keras import ops

from keras_deconv._paths.common import dynamic_shape
from keras_deconv._paths.options import DEFAULT, Options
from keras_deconv.complex_weights import PART_DTYPES, complex_from_parts, standard_dtype


def complex_conv_transpose(real_path: Callable[..., Any], x: Any, kernel: Any, strides: Sequence[int],
                           dilation_rate: Sequence[int], groups: int, crops: Sequence[Tuple[int, int]],
                           options: Options = DEFAULT) -> Any:
    """A complex transposed convolution from real calls of ``real_path`` (see module doc).

    Same contract as every path (``keras_deconv._paths``); ``x`` and
    ``kernel`` are complex64 or complex128, the result has their dtype.
    """
    return _composed(real_path, x, kernel, strides, dilation_rate, groups, crops, options, transposed=True)


def complex_conv(real_path: Callable[..., Any], x: Any, kernel: Any, strides: Sequence[int],
                 dilation_rate: Sequence[int], groups: int, pads: Sequence[Tuple[int, int]],
                 options: Options = DEFAULT) -> Any:
    """A complex forward convolution from real calls of ``real_path`` (``_paths/forward.py``'s contract).

    The same four products in one call; the kernel ``(*k, C/G, F)`` has its
    filters last, so its parts are joined group by group on that axis.
    """
    return _composed(real_path, x, kernel, strides, dilation_rate, groups, pads, options, transposed=False)


def _composed(real_path: Callable[..., Any], x: Any, kernel: Any, strides: Sequence[int],
              dilation_rate: Sequence[int], groups: int, windows: Sequence[Tuple[int, int]], options: Options,
              transposed: bool) -> Any:
    dtype = _standard_dtype(x)
    if dtype not in PART_DTYPES:
        raise TypeError(f"`x` must be complex64 or complex128. Received: x.dtype={dtype}")
    kernel = ops.cast(kernel, dtype)
    xr, xi = ops.real(x), ops.imag(x)
    wr, wi = ops.real(kernel), ops.imag(kernel)
    rank = len(strides)
    if transposed:
        # The per-group filter axis is the kernel's axis ``rank``: one concatenation
        # keeps every group's pair together (output channel g*2F/G + j is wr's filter
        # j for j < F/G, else wi's).
        per_group_filters = wr.shape[rank]
        weights = ops.concatenate([wr, wi], axis=rank)
    else:
        # Filters last, group-major: (..., G, F/G) parts stacked to (..., G, 2, F/G).
        per_group_filters = wr.shape[-1] // groups
        split = [*wr.shape[:-1], groups, per_group_filters]
        weights = ops.stack([ops.reshape(wr, split), ops.reshape(wi, split)], axis=-2)
        weights = ops.reshape(weights, [*wr.shape[:-1], 2 * wr.shape[-1]])
    batch = ops.concatenate([xr, xi], axis=0)
    y = real_path(batch, weights, strides, dilation_rate, groups, windows, options)  # (2B, *out, G*2F/G)
    shape = dynamic_shape(y)
    y = ops.reshape(y, [2, -1, *shape[1:-1], groups, 2, per_group_filters])
    rr, ri = y[0, ..., 0, :], y[0, ..., 1, :]  # xr*wr, xr*wi  (..., G, F/G)
    ir, ii = y[1, ..., 0, :], y[1, ..., 1, :]  # xi*wr, xi*wi
    out_shape = [-1, *shape[1:-1], groups * per_group_filters]
    return complex_from_parts(ops.reshape(rr - ii, out_shape), ops.reshape(ri + ir, out_shape), dtype)


def _standard_dtype(x: Any) -> str:
    return standard_dtype(x.dtype)
