"""The NumPy reference: the definitions, written out with loops, nothing else.

It is the oracle of the test-suite and of ``keras-deconv check``, so it
imports nothing from the rest of the package: it is written from the
definition alone (not from ``arithmetic``, not from Keras's padding helpers)::

    out[o] += x[i] * w[k]    with    o = i*stride + k*dilation - pad_before

Kernel layout ``kernel_size + (filters // groups, in_channels)``; input
channel ``c`` belongs to group ``c // (in_channels // groups)`` and feeds
filters ``group * filters_per_group + j``.

The forward convolution (``reference_conv``) reads instead of writing::

    out[o] += x[i] * w[k]    with    i = o*stride + k*dilation - pad_before

with Keras's kernel layout ``kernel_size + (in_channels // groups, filters)``.
"""

from __future__ import annotations

import itertools

import numpy as np


def reference_axis(n, k, s, d, padding, output_padding=None, output_size=None):
    """(pad_before, output length) of one axis, straight from the definitions.

    - 'valid': nothing cropped; tf.keras's length ``n*s + max(k_eff - s, 0)``
      without output_padding, ``(n-1)*s + k_eff + op`` with it.
    - 'same': ``n*s`` without output_padding, ``(n-1)*s + k_eff - 2*(k_eff//2)
      + op`` with it; pad_before from the forward 'same' rule: a forward
      convolution of the output (length L) with stride s and the dilated
      kernel gives n outputs when padded by ``(n-1)*s + k_eff - L`` in
      total, of which the smaller half goes before.
    - int p / pair (a, b): PyTorch crops p (a, b) from the full output, then
      output_padding extends the end.
    - 'circular': the axis is periodic with length ``n*s``; pad_before as
      'same' (``max(k_eff - s, 0) // 2``), and every position of the full
      output wraps modulo the length (done in ``reference_conv_transpose``).
    """
    k_eff = (k - 1) * d + 1
    full = (n - 1) * s + k_eff
    if padding == "valid":
        before = 0
        if output_size is not None:
            length = output_size
        elif output_padding is None:
            length = n * s + max(k_eff - s, 0)
        else:
            length = full + output_padding
    elif padding == "circular":
        # Periodic: length n*s, the full output folded onto it after 'same''s pad_before.
        length = n * s
        before = max(k_eff - s, 0) // 2
    elif padding == "same":
        if output_size is not None:
            length = output_size
        elif output_padding is None:
            length = n * s
        else:
            length = (n - 1) * s + k_eff - 2 * (k_eff // 2) + output_padding
        before = max((n - 1) * s + k_eff - length, 0) // 2
    else:
        a, b = (padding, padding) if isinstance(padding, int) else padding
        before = a
        if output_size is not None:
            length = output_size
        else:
            length = full - a - b + (output_padding or 0)
    return before, length


def reference_conv_transpose(x, w, strides, padding, output_padding=None, dilation=None,
                             groups=1, output_size=None, channels_first=False):
    """Transposed convolution of ``x`` (batch, *spatial, C) by ``w`` in float64 or complex128.

    ``padding`` is 'valid', 'same', 'circular', or a per-axis list of those, ints or pairs;
    ``strides``, ``dilation``, ``output_padding`` and ``output_size`` are
    per-axis tuples.

    >>> x = np.ones((1, 3, 1)); w = np.ones((2, 1, 1))
    >>> reference_conv_transpose(x, w, (2,), "valid")[0, :, 0].tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    x = np.asarray(x)
    w = np.asarray(w)
    rank = w.ndim - 2
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    dtype = np.complex128 if np.iscomplexobj(x) or np.iscomplexobj(w) else np.float64
    x = x.astype(dtype)
    w = w.astype(dtype)
    dilation = dilation or (1,) * rank
    spatial_in = x.shape[1:-1]
    channels = x.shape[-1]
    per_group_filters = w.shape[rank]
    per_group_channels = channels // groups
    filters = per_group_filters * groups
    axes = []
    for a in range(rank):
        pad = padding if isinstance(padding, str) else padding[a]
        op = None if output_padding is None else output_padding[a]
        size = None if output_size is None else output_size[a]
        axes.append(reference_axis(spatial_in[a], w.shape[a], strides[a], dilation[a], pad, op, size))
    periodic = [(padding if isinstance(padding, str) else padding[a]) == "circular" for a in range(rank)]
    out = np.zeros((x.shape[0],) + tuple(length for _, length in axes) + (filters,), dtype)
    for i in itertools.product(*(range(n) for n in spatial_in)):
        for k in itertools.product(*(range(kk) for kk in w.shape[:rank])):
            o = tuple(i[a] * strides[a] + k[a] * dilation[a] - axes[a][0] for a in range(rank))
            # A periodic axis wraps every position into [0, length).
            o = tuple(o[a] % axes[a][1] if periodic[a] else o[a] for a in range(rank))
            if not all(0 <= o[a] < axes[a][1] for a in range(rank)):
                continue
            for g in range(groups):
                xs = x[(slice(None),) + i + (slice(g * per_group_channels, (g + 1) * per_group_channels),)]
                ws = w[k + (slice(None), slice(g * per_group_channels, (g + 1) * per_group_channels))]
                filters_of_group = slice(g * per_group_filters, (g + 1) * per_group_filters)
                out[(slice(None),) + o + (filters_of_group,)] += xs @ ws.T
    if channels_first:
        out = np.moveaxis(out, -1, 1)
    return out


def reference_conv(x, w, strides, padding, dilation=None, groups=1, channels_first=False):
    """Forward convolution of ``x`` (batch, *spatial, C) by ``w`` (*k, C/groups, F) in float64 or complex128.

    Per axis, with ``k_eff = (k - 1) * dilation + 1``:

    - 'valid': no padding, ``floor((n - k_eff) / s) + 1`` outputs;
    - 'same': ``ceil(n / s)`` outputs; the zeros needed, ``(out - 1)*s + k_eff - n``
      (at least 0), split with the smaller half before (tf.keras);
    - 'circular': ``ceil(n / s)`` outputs, pad_before ``max(k_eff - s, 0) // 2``
      (the transposed circular alignment), every index read modulo ``n``;
    - int p / pair (a, b): that many zeros before and after (PyTorch).

    >>> x = np.arange(4.0).reshape(1, 4, 1); w = np.ones((2, 1, 1))
    >>> reference_conv(x, w, (2,), "valid")[0, :, 0].tolist()
    [1.0, 5.0]
    """
    x = np.asarray(x)
    w = np.asarray(w)
    rank = w.ndim - 2
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    dtype = np.complex128 if np.iscomplexobj(x) or np.iscomplexobj(w) else np.float64
    x = x.astype(dtype)
    w = w.astype(dtype)
    dilation = dilation or (1,) * rank
    spatial_in = x.shape[1:-1]
    per_group_channels = w.shape[rank]
    filters = w.shape[rank + 1]
    per_group_filters = filters // groups
    axes = []
    for a in range(rank):
        mode = padding if isinstance(padding, str) else padding[a]
        n, s, k_eff = spatial_in[a], strides[a], (w.shape[a] - 1) * dilation[a] + 1
        if mode == "valid":
            before, length = 0, (n - k_eff) // s + 1
        elif mode == "same":
            length = -(-n // s)
            before = max((length - 1) * s + k_eff - n, 0) // 2
        elif mode == "circular":
            length, before = -(-n // s), max(k_eff - s, 0) // 2
        else:
            lo, hi = (mode, mode) if isinstance(mode, int) else mode
            before, length = lo, (n + lo + hi - k_eff) // s + 1
        axes.append((before, length, mode == "circular"))
    out = np.zeros((x.shape[0],) + tuple(length for _, length, _ in axes) + (filters,), dtype)
    for o in itertools.product(*(range(length) for _, length, _ in axes)):
        for k in itertools.product(*(range(kk) for kk in w.shape[:rank])):
            i = [o[a] * strides[a] + k[a] * dilation[a] - axes[a][0] for a in range(rank)]
            # A periodic axis reads every index modulo its length; elsewhere, zeros outside.
            i = [i[a] % spatial_in[a] if axes[a][2] else i[a] for a in range(rank)]
            if not all(0 <= i[a] < spatial_in[a] for a in range(rank)):
                continue
            for g in range(groups):
                channels_of_group = slice(g * per_group_channels, (g + 1) * per_group_channels)
                filters_of_group = slice(g * per_group_filters, (g + 1) * per_group_filters)
                xs = x[(slice(None),) + tuple(i) + (channels_of_group,)]
                ws = w[k + (slice(None), filters_of_group)]
                out[(slice(None),) + o + (filters_of_group,)] += xs @ ws
    if channels_first:
        out = np.moveaxis(out, -1, 1)
    return out
