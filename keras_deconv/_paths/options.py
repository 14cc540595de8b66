"""What a path needs to know of how it runs, handed to it as an argument.

``ops`` builds one ``Options`` per backend and device kind from the rule
table (``_paths/policy.py``) and passes it to every path it calls; no path
looks up the backend or the machine itself.

>>> import numpy as np
>>> from keras_deconv._paths.phase import phase_decomposition
>>> x, kernel = np.ones((1, 3, 1), "float32"), np.ones((2, 1, 1), "float32")
>>> y = phase_decomposition(x, kernel, (2,), (1,), 1, ((0, 0),), Options())
>>> np.asarray(y)[0, :, 0].tolist()
[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Tuple

import keras


def keras_conv(x: Any, kernel: Any, padding: str, dilation_rate: Tuple[int, ...]) -> Any:
    """A stride-1 channels_last convolution through ``keras.ops.conv`` (kernel ``(*k, C/G, F)``)."""
    return keras.ops.conv(x, kernel, strides=1, padding=padding, data_format="channels_last",
                          dilation_rate=dilation_rate)


@dataclasses.dataclass(frozen=True)
class Options:
    """A path's options (frozen: paths and their compiled forms are cached by them).

    Attributes:
        conv: ``conv(x, kernel, padding, dilation_rate)``, the stride-1
            convolution that ``phase`` runs per phase ("valid" or "same").
        native: the backend's own transposed convolution under the path
            contract, or None where it has none for these arguments.
        writes_phases_eagerly: ``phase`` writes each phase into a preallocated
            NumPy output (the NumPy backend: memory).
        plane: ``depth_phases``' 2D transposed convolution under the path
            contract (``ops`` gives its ``auto``), or None.
        stacks_depth_to_space: ``matmul``'s 3D depth-to-space as nested
            stacks (``common.interleave_by_stacking``), not one transpose.
        forward: the backend's own forward convolution under the forward
            paths' contract (``_paths/forward.py``), or None.
    """

    conv: Callable[..., Any] = keras_conv
    native: Optional[Callable[..., Any]] = None
    writes_phases_eagerly: bool = False
    plane: Optional[Callable[..., Any]] = None
    stacks_depth_to_space: bool = False
    forward: Optional[Callable[..., Any]] = None


#: The options of a path called on its own (docstrings, tests): Keras's convolution.
DEFAULT = Options()
