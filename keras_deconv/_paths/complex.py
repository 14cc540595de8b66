"""Complex transposed convolutions composed from real ones, where a backend has none.

A transposed convolution ``B(x, w)`` is bilinear, so with ``x = xr + i xi`` and
``w = wr + i wi``::

    B(x, w) = [B(xr, wr) - B(xi, wi)] + i [B(xr, wi) + B(xi, wr)]

Four real products. Gauss's trick needs three::

    k1 = B(xr + xi, wr)      k2 = B(xr, wi - wr)      k3 = B(xi, wr + wi)
    real = k1 - k3           imag = k1 + k2

(expand: ``k1 - k3 = B(xr, wr) + B(xi, wr) - B(xi, wr) - B(xi, wi)`` and
``k1 + k2 = B(xr, wr) + B(xi, wr) + B(xr, wi) - B(xr, wr)``).

Which one runs (``strategy``):

- ``"stacked"`` (the default): the four products in ONE real call, with the
  input parts stacked along the batch axis and the kernel parts along the
  filter axis (twice the batch, twice the filters).
- ``"gauss"``: three real calls of the path.

Measured on this package's shared 2-core CPU, TensorFlow backend (the backend
that uses the composition), ``x (4, 16, 16, 8)``, ``w (3, 3, 8, 8)``, strides 2,
"valid", phase path, complex64; error = max |y - ref| / max |ref| against the
complex128 reference; median of 7 eager calls, two alternating runs:

    strategy   time (ms)     relative error
    stacked    262, 236      1.8e-07
    gauss      660, 536      2.9e-07

Gauss does a quarter less arithmetic, but each real call of a path is several
small eager operations (one convolution per output phase, interleaving,
cropping), so three calls cost more than one call of twice the batch and
filters; and its sums ``xr + xi``, ``wr + wi`` round before the products,
which shows as a 1.5x larger error. Four products in one call are both
faster and more accurate here, so "stacked" is the default; "gauss" stays
available (and tested) for large compute-bound shapes.

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
from keras_deconv.complex_weights import PART_DTYPES, complex_from_parts, standard_dtype

STRATEGIES = ("gauss", "stacked")


def complex_conv_transpose(real_path: Callable[..., Any], x: Any, kernel: Any, strides: Sequence[int],
                           dilation_rate: Sequence[int], groups: int, crops: Sequence[Tuple[int, int]],
                           strategy: str = "stacked") -> Any:
    """A complex transposed convolution from real calls of ``real_path`` (see module doc).

    Same contract as every path (``keras_deconv._paths``); ``x`` and
    ``kernel`` are complex64 or complex128, the result has their dtype.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}. Received: strategy={strategy!r}")
    dtype = _standard_dtype(x)
    if dtype not in PART_DTYPES:
        raise TypeError(f"`x` must be complex64 or complex128. Received: x.dtype={dtype}")
    kernel = ops.cast(kernel, dtype)
    xr, xi = ops.real(x), ops.imag(x)
    wr, wi = ops.real(kernel), ops.imag(kernel)

    def conv(inputs: Any, weights: Any) -> Any:
        return real_path(inputs, weights, strides, dilation_rate, groups, crops)

    if strategy == "gauss":
        # real = k1 - k3, imag = k1 + k2 (module doc).
        k1 = conv(xr + xi, wr)
        k2 = conv(xr, wi - wr)
        k3 = conv(xi, wr + wi)
        return complex_from_parts(k1 - k3, k1 + k2, dtype)
    return _stacked(conv, xr, xi, wr, wi, groups, dtype)


def _stacked(conv: Callable[[Any, Any], Any], xr: Any, xi: Any, wr: Any, wi: Any,
             groups: int, dtype: str) -> Any:
    """All four products in one real call: batch ``[xr; xi]``, filters ``[wr | wi]`` per group."""
    rank = len(wr.shape) - 2
    per_group_filters = wr.shape[rank]
    batch = ops.concatenate([xr, xi], axis=0)
    # Concatenating along the per-group filter axis keeps every group's pair
    # together: output channel g*2F/G + j is wr's filter j (j < F/G), else wi's.
    weights = ops.concatenate([wr, wi], axis=rank)
    y = conv(batch, weights)  # (2B, *out, G * 2F/G)
    shape = dynamic_shape(y)
    y = ops.reshape(y, [2, -1, *shape[1:-1], groups, 2, per_group_filters])
    rr, ri = y[0, ..., 0, :], y[0, ..., 1, :]  # xr*wr, xr*wi  (..., G, F/G)
    ir, ii = y[1, ..., 0, :], y[1, ..., 1, :]  # xi*wr, xi*wi
    out_shape = [-1, *shape[1:-1], groups * per_group_filters]
    return complex_from_parts(ops.reshape(rr - ii, out_shape), ops.reshape(ri + ir, out_shape), dtype)


def _standard_dtype(x: Any) -> str:
    return standard_dtype(x.dtype)
