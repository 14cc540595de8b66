"""The benchmark cases: what is timed, and its inputs."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Tuple

from keras_deconv.arithmetic import conv_flops


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case: a float32 input with 'same' padding.

    ``input_shape`` is channels_last; ``channels_first`` cases transpose it
    for every contender that takes that layout. ``headline`` cases enter the
    geometric mean.

    >>> case = Case("tiny", (1, 4, 4, 2), 3, (2, 2), (2, 2))
    >>> case.flops_forward  # 2 * batch * 4*4 positions * 2*2 taps * 2 channels * 3 filters
    768
    """

    name: str
    input_shape: Tuple[int, ...]
    filters: int
    kernel_size: Tuple[int, ...]
    strides: Tuple[int, ...]
    dilation_rate: Optional[Tuple[int, ...]] = None
    groups: int = 1
    headline: bool = False
    channels_first: bool = False

    @property
    def rank(self) -> int:
        return len(self.kernel_size)

    @property
    def dilation(self) -> Tuple[int, ...]:
        return self.dilation_rate or (1,) * self.rank

    @property
    def data_format(self) -> str:
        return "channels_first" if self.channels_first else "channels_last"

    @property
    def kernel_shape(self) -> Tuple[int, ...]:
        """Keras layout: ``kernel_size + (filters // groups, in_channels)``."""
        return self.kernel_size + (self.filters // self.groups, self.input_shape[-1])

    @property
    def output_spatial(self) -> Tuple[int, ...]:
        """'same' padding: the output length is ``input length * stride``."""
        return tuple(n * s for n, s in zip(self.input_shape[1:-1], self.strides, strict=True))

    @property
    def flops_forward(self) -> int:
        """Multiply-adds counted as 2 FLOPs, of the transposed convolution's defining sum."""
        batch, *spatial, channels = self.input_shape
        return conv_flops(spatial, batch, channels, self.filters, self.kernel_size, self.groups)

    def describe(self) -> str:
        text = (f"{self.input_shape} -> {self.filters}, "
                f"k{_compact(self.kernel_size)} s{_compact(self.strides)}")
        if self.dilation_rate:
            text += f" d{_compact(self.dilation)}"
        if self.groups > 1:
            text += f" g{self.groups}"
        return text + (" channels_first" if self.channels_first else "")


def _compact(values: Tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


#: Four headline cases (the geometric mean), then the grouped, dilated, segmentation,
#: large-volume and channels_first cases.
CASES: Tuple[Case, ...] = (
    Case("3d_unet_k2s2", (2, 16, 16, 16, 64), 32, (2, 2, 2), (2, 2, 2), headline=True),
    Case("3d_k3s2", (2, 16, 16, 16, 64), 32, (3, 3, 3), (2, 2, 2), headline=True),
    Case("2d_dcgan_k4s2", (8, 32, 32, 128), 64, (4, 4), (2, 2), headline=True),
    Case("1d_audio_k16s8", (4, 512, 64), 32, (16,), (8,), headline=True),
    Case("2d_grouped_g4", (8, 32, 32, 128), 64, (4, 4), (2, 2), groups=4),
    Case("2d_dilated_s1", (8, 32, 32, 64), 64, (3, 3), (1, 1), dilation_rate=(2, 2)),
    Case("2d_dilated_k3s2d2", (8, 32, 32, 64), 64, (3, 3), (2, 2), dilation_rate=(2, 2)),
    Case("2d_segmentation_k2s2", (16, 64, 64, 64), 32, (2, 2), (2, 2)),
    Case("3d_large_k3s2", (1, 64, 64, 64, 32), 16, (3, 3, 3), (2, 2, 2)),
    Case("2d_dcgan_k4s2_cf", (8, 32, 32, 128), 64, (4, 4), (2, 2), channels_first=True),
    Case("3d_k3s2_cf", (2, 16, 16, 16, 64), 32, (3, 3, 3), (2, 2, 2), channels_first=True),
)

#: Small cases for ``--quick`` (seconds, not minutes; for tests and smoke runs).
QUICK_CASES: Tuple[Case, ...] = (
    Case("quick_2d_k2s2", (2, 8, 8, 8), 4, (2, 2), (2, 2), headline=True),
    Case("quick_1d_k3s2_g2", (2, 16, 4), 4, (3,), (2,), groups=2, headline=True),
    Case("quick_2d_k3s2_cf", (2, 6, 6, 4), 4, (3, 3), (2, 2), channels_first=True),
)


def case_inputs(case: Case, seed: int = 0) -> Tuple[Any, Any]:
    """NumPy input (in the case's layout) and kernel (Keras layout), float32."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.input_shape).astype("float32")
    if case.channels_first:
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    scale = math.sqrt(math.prod(case.kernel_shape[:-2]))
    w = (rng.standard_normal(case.kernel_shape) / scale).astype("float32")
    return x, w
