"""Kernel initialisers: complex variance scaling, and checkerboard-free kernels.

``CheckerboardFree`` (below) starts a transposed convolution as a
nearest-neighbour up-sampling of a stride-1 convolution (the ICNR idea of
Aitken et al. 2017), so its first outputs have no checkerboard.

Complex weight initialisers (Trabelsi et al. 2018, "Deep Complex Networks"):

A complex weight ``w = r * exp(i * theta)`` gets a uniform phase ``theta`` in
``[-pi, pi)`` and a modulus ``r`` whose second moment ``E[r^2] = Var(w)``
equals the variance the real initialiser of the same name gives
(``scale / fan``), so a complex layer starts with the same signal gain.

- ``distribution="normal"`` (``*_normal``): ``r`` is Rayleigh with
  ``sigma^2 = Var / 2``, Trabelsi's choice; with a uniform phase this is
  exactly a circular complex Gaussian (real and imaginary parts independent,
  each of variance ``Var / 2``).
- ``distribution="uniform"`` (``*_uniform``): ``w`` uniform on the disk of
  radius ``sqrt(2 * Var)`` (``r = R * sqrt(u)``), the complex analogue of a
  bounded uniform draw.

Fans: computed from the kernel shape exactly as Keras's real
``VarianceScaling`` does (``fan_in = prod(kernel_size) * shape[-2]``, ``fan_out
= prod(kernel_size) * shape[-1]``). For this package's transposed kernels
``kernel_size + (filters // groups, in_channels)`` that makes ``fan_in`` count
filters (the fan-in of the adjoint forward convolution) and ``fan_out`` count
input channels: the roles swap relative to a Conv kernel. We keep Keras's
convention so that a complex layer and a real layer with the same
initialiser name start at the same variance, as Keras's own
``Conv2DTranspose`` does; Glorot, which averages the two, is unaffected.

>>> import numpy as np
>>> init = ComplexVarianceScaling(scale=1.0, mode="fan_in", distribution="normal", seed=0)
>>> w = np.asarray(init((3, 3, 64, 64), dtype="complex64"))
>>> str(w.dtype), bool(abs(np.var(w) * 3 * 3 * 64 - 1.0) < 0.05)
('complex64', True)
"""

from __future__ import annotations

import math
import random
from typing import Any, Dict, Optional

import keras
from keras import ops

from keras_deconv.complex_weights import PART_DTYPES, complex_from_parts

#: Keras's real initialiser names and their complex counterparts' arguments.
COMPLEX_NAMES: Dict[str, Dict[str, Any]] = {
    "glorot_uniform": dict(scale=1.0, mode="fan_avg", distribution="uniform"),
    "glorot_normal": dict(scale=1.0, mode="fan_avg", distribution="normal"),
    "he_uniform": dict(scale=2.0, mode="fan_in", distribution="uniform"),
    "he_normal": dict(scale=2.0, mode="fan_in", distribution="normal"),
    "lecun_uniform": dict(scale=1.0, mode="fan_in", distribution="uniform"),
    "lecun_normal": dict(scale=1.0, mode="fan_in", distribution="normal"),
}

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("uniform", "normal")


@keras.saving.register_keras_serializable(package="keras_deconv")
class ComplexVarianceScaling(keras.initializers.Initializer):
    """Complex variance scaling: uniform phase, modulus scaled to ``scale / fan``.

    Args:
        scale: positive float, the variance ``E|w|^2`` times the fan.
        mode: "fan_in", "fan_out" or "fan_avg".
        distribution: "normal" (Rayleigh modulus) or "uniform" (uniform disk).
        seed: int or None.

    Calling it with a complex dtype gives complex values; ``parts`` gives the
    same draw as a real tensor ``shape + (2,)`` (real, imaginary), the layout
    the layers store.

    >>> init = ComplexVarianceScaling(2.0, "fan_in", "uniform", seed=1)
    >>> tuple(init.parts((4, 2), "float32").shape)
    (4, 2, 2)
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "normal",
                 seed: Optional[int] = None) -> None:
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
            raise ValueError(f"`scale` must be a positive float. Received: scale={scale!r}")
        if mode not in _MODES:
            raise ValueError(f"`mode` must be one of {_MODES}. Received: mode={mode!r}")
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"`distribution` must be one of {_DISTRIBUTIONS}. Received: distribution={distribution!r}"
            )
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.scale = float(scale)
        self.mode = mode
        self.distribution = distribution
        self.seed = seed
        # Like Keras: without a seed, each instance draws its own fixed seed.
        self._draw_seed = seed if seed is not None else random.randint(1, 10**9)

    def variance(self, shape: Any) -> float:
        """The target ``E|w|^2`` for a kernel of this shape."""
        fan_in, fan_out = _compute_fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, fan)

    def parts(self, shape: Any, dtype: str = "float32") -> Any:
        """Real and imaginary parts, stacked on a last axis of 2, in real ``dtype``."""
        shape = tuple(shape)
        variance = self.variance(shape)
        # One draw for modulus and phase: an int seed gives the same numbers on every call.
        u = keras.random.uniform(shape + (2,), dtype=dtype, seed=self._draw_seed)
        u_modulus, u_phase = u[..., 0], u[..., 1]
        if self.distribution == "normal":
            # Rayleigh(sigma) by inversion; 1 - u lies in (0, 1], so the log is finite.
            sigma = math.sqrt(variance / 2.0)
            modulus = sigma * ops.sqrt(-2.0 * ops.log(1.0 - u_modulus))
        else:
            radius = math.sqrt(2.0 * variance)
            modulus = radius * ops.sqrt(u_modulus)
        phase = (2.0 * u_phase - 1.0) * math.pi
        return ops.stack([modulus * ops.cos(phase), modulus * ops.sin(phase)], axis=-1)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        dtype = keras.backend.standardize_dtype(dtype or "complex64")
        if dtype not in PART_DTYPES:
            raise TypeError(
                f"{type(self).__name__} makes complex64 or complex128 weights. Received: dtype={dtype}"
            )
        parts = self.parts(shape, PART_DTYPES[dtype])
        return complex_from_parts(parts[..., 0], parts[..., 1], dtype)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _compute_fans(shape: tuple) -> tuple:
    """Keras's fans: the last two axes are (in, out), the rest the receptive field."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def get(identifier: Any, complex_dtype: bool = False) -> Any:
    """An initialiser from a name, config or instance; complex-aware when ``complex_dtype``.

    For complex layers the Keras variance-scaling names ("glorot_uniform",
    "he_normal", ...) and ``keras.initializers.VarianceScaling`` instances map
    to ``ComplexVarianceScaling`` with the same scale, mode and distribution;
    any other initialiser is kept (the layers then draw real and imaginary
    parts from it independently).

    >>> type(get("he_normal", complex_dtype=True)).__name__
    'ComplexVarianceScaling'
    >>> type(get("he_normal")).__name__
    'HeNormal'
    """
    if complex_dtype and isinstance(identifier, str) and identifier in COMPLEX_NAMES:
        return ComplexVarianceScaling(**COMPLEX_NAMES[identifier])
    initializer = keras.initializers.get(identifier)
    if complex_dtype and isinstance(initializer, keras.initializers.VarianceScaling):
        distribution = "uniform" if initializer.distribution == "uniform" else "normal"
        seed = initializer._init_seed if isinstance(getattr(initializer, "_init_seed", None), int) else None
        return ComplexVarianceScaling(initializer.scale, initializer.mode, distribution, seed)
    return initializer


@keras.saving.register_keras_serializable(package="keras_deconv")
class CheckerboardFree(keras.initializers.Initializer):
    """Kernels with ``w[j] = v[j // stride]`` on every axis: no checkerboard at initialisation.

    ``v`` (the kernel with ``kernel_size // strides`` taps per axis) is drawn
    by ``base_initializer``; each of its taps is repeated ``stride`` times.
    A transposed convolution with such a kernel is a stride-1 transposed
    convolution with ``v`` followed by nearest-neighbour up-sampling: every
    block of ``prod(strides)`` outputs that starts at a multiple of the
    stride in the full output holds one value. Layers take it by name,
    ``kernel_initializer="checkerboard_free"``, and bind their own strides.

    Variance: an output sums ``prod(kernel_size // strides)`` taps times the
    input channels either way, so ``v`` must have the variance the base
    initialiser gives the full kernel. For Keras's variance-scaling
    initialisers (Glorot, He, LeCun), whose variance is ``scale / fan`` and
    whose fans grow with the kernel's taps, ``v`` is drawn for its own shape
    and divided by ``sqrt(prod(strides))``; other initialisers have no fan,
    and ``v`` keeps their draw.

    Args:
        strides: int or tuple, the layer's strides.
        base_initializer: the initialiser of ``v`` (name, config or instance).
        seed: optional int, passed to the base initialiser.

    Raises:
        ValueError: when a kernel size is not a multiple of its stride
            (naming ``kernel_size`` and ``strides``).

    >>> import numpy as np
    >>> w = np.asarray(CheckerboardFree(2, "random_normal", seed=1)((4, 1, 1)))[:, 0, 0]
    >>> bool(w[0] == w[1] and w[2] == w[3] and w[1] != w[2])
    True
    """

    def __init__(self, strides: Any, base_initializer: Any = "glorot_uniform",
                 seed: Optional[int] = None) -> None:
        self.strides = strides
        self.seed = seed
        base = keras.initializers.get(base_initializer)
        if seed is not None and "seed" in base.get_config():
            base = base.__class__.from_config({**base.get_config(), "seed": seed})
        self.base_initializer = base

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        shape = tuple(shape)
        rank = len(shape) - 2
        strides = (self.strides,) * rank if isinstance(self.strides, int) else tuple(self.strides)
        kernel_size = shape[:rank]
        if len(strides) != rank or any(k % s for k, s in zip(kernel_size, strides)):
            raise ValueError(
                "A checkerboard-free kernel needs every kernel size to be a multiple of its stride. "
                f"Received: kernel_size={kernel_size}, strides={strides}"
            )
        small = tuple(k // s for k, s in zip(kernel_size, strides)) + shape[rank:]
        v = self.base_initializer(small, dtype=dtype)
        if isinstance(self.base_initializer, keras.initializers.VarianceScaling):
            v = v / math.sqrt(math.prod(strides))
        for axis, stride in enumerate(strides):
            v = ops.repeat(v, stride, axis=axis)
        return v

    def get_config(self) -> dict:
        strides = self.strides if isinstance(self.strides, int) else list(self.strides)
        return {"strides": strides, "base_initializer": keras.initializers.serialize(self.base_initializer),
                "seed": self.seed}


def real_parts_initializer(initializer: Any) -> Any:
    """An initialiser for the stored ``shape + (2,)`` real parts of a complex weight."""
    if isinstance(initializer, ComplexVarianceScaling):
        return lambda shape, dtype=None: initializer.parts(tuple(shape)[:-1], dtype or "float32")
    # Any real initialiser draws both parts from its own distribution.
    return initializer


__all__ = ["CheckerboardFree", "ComplexVarianceScaling", "COMPLEX_NAMES", "get", "real_parts_initializer"]
