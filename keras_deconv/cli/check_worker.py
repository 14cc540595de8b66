"""The process behind ``keras-deconv check``: one backend, one grid, JSON out.

Keras fixes its backend when it is imported, so ``keras_deconv.cli.check`` starts
this module once per backend (``python -m keras_deconv.cli.check_worker`` with
``KERAS_BACKEND`` set). It runs every case of ``CASES`` through the layer
(``path="auto"``) and through each algorithm of ``keras_deconv._paths.PATHS``
forced with ``path=``, compares each result with the NumPy reference, and
prints one JSON document as the last line of stdout.

Self-test of the checker: with ``KERAS_DECONV_INJECT_FAULT=1`` in its
environment, the worker adds 1.0 to one element of the first result before
comparing it, as a backend that computes a wrong number would. ``check`` must
then report a mismatch and exit non-zero; the test-suite asserts that it does.
Nothing else in the package reads this variable.

>>> [case["name"] for case in CASES][:2]
['1d k3 s1 valid', '1d k3 s2 same']
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback
import zlib
from typing import Any, Callable, Dict, List

import numpy as np

#: Largest absolute difference from the float64 reference that counts as equal
#: (float32 arithmetic on values of order 1 to 10).
TOLERANCE = 1e-4

#: Environment variable that makes the worker perturb one result (see module doc).
FAULT_VARIABLE = "KERAS_DECONV_INJECT_FAULT"


def _case(name: str, input_shape: tuple, filters: int, kernel_size: tuple,
          **arguments: Any) -> Dict[str, Any]:
    """One grid point: shapes (channels_last or channels_first as given) and layer arguments."""
    return dict(name=name, input_shape=input_shape, filters=filters, kernel_size=kernel_size,
                arguments=arguments)


#: The grid: ranks 1-3, strides with dilation, every padding mode ('valid',
#: 'same', int, per-axis pairs), output_padding, groups, channels_first and
#: output_size. Inputs stay tiny so four backends finish in well under a minute.
CASES: List[Dict[str, Any]] = [
    _case("1d k3 s1 valid", (2, 5, 3), 4, (3,)),
    _case("1d k3 s2 same", (2, 5, 3), 4, (3,), strides=2, padding="same"),
    _case("1d k4 s3 d2 output_padding", (2, 4, 2), 3, (4,), strides=3, dilation_rate=2, output_padding=2),
    _case("1d k3 s2 int padding groups", (1, 6, 4), 6, (3,), strides=2, padding=1, output_padding=1,
          groups=2),
    _case("1d k3 s2 same output_size", (2, 4, 3), 2, (3,), strides=2, padding="same", output_size=7),
    _case("2d k3 s2 same channels_first", (2, 3, 4, 5), 4, (3, 3), strides=2, padding="same",
          data_format="channels_first"),
    _case("2d k(3,2) s(2,1) d(1,2) groups", (2, 4, 5, 4), 6, (3, 2), strides=(2, 1),
          dilation_rate=(1, 2), groups=2),
    _case("2d k3 s2 pair padding", (1, 4, 4, 3), 2, (3, 3), strides=2, padding=((1, 0), (0, 2))),
    _case("2d k3 s2 valid output_size", (2, 3, 4, 2), 3, (3, 3), strides=2, output_size=(8, 10)),
    _case("2d k4 s2 int padding channels_first groups", (1, 4, 3, 3), 4, (4, 4), strides=2, padding=1,
          groups=2, data_format="channels_first"),
    _case("2d k3 s3 d2 same output_padding", (1, 3, 4, 2), 3, (3, 3), strides=3, dilation_rate=2,
          padding="same", output_padding=(2, 1)),
    _case("3d k3 s2 same", (1, 3, 3, 3, 2), 3, (3, 3, 3), strides=2, padding="same"),
    _case("3d k(2,3,3) s(2,1,2) d(1,2,1) int padding", (1, 3, 4, 3, 2), 2, (2, 3, 3),
          strides=(2, 1, 2), dilation_rate=(1, 2, 1), padding=1, output_padding=(1, 0, 1)),
    _case("3d k3 s2 valid channels_first groups output_size", (1, 4, 2, 3, 2), 4, (3, 3, 3), strides=2,
          groups=2, data_format="channels_first", output_size=(6, 7, 6)),
]


def _reference_padding(padding: Any, rank: int) -> Any:
    """The op's padding argument in the reference's form ('valid', 'same' or per-axis list)."""
    if isinstance(padding, str):
        return padding
    if isinstance(padding, int):
        return [padding] * rank
    return [tuple(p) if isinstance(p, (tuple, list)) else p for p in padding]


def _per_axis(value: Any, rank: int) -> Any:
    if value is None:
        return None
    return (value,) * rank if isinstance(value, int) else tuple(value)


def expected_output(x: np.ndarray, kernel: np.ndarray, arguments: Dict[str, Any]) -> np.ndarray:
    """The reference result of one case (float64)."""
    from keras_deconv.reference import reference_conv_transpose

    rank = kernel.ndim - 2
    return reference_conv_transpose(
        x, kernel,
        strides=_per_axis(arguments.get("strides", 1), rank),
        padding=_reference_padding(arguments.get("padding", "valid"), rank),
        output_padding=_per_axis(arguments.get("output_padding"), rank),
        dilation=_per_axis(arguments.get("dilation_rate", 1), rank),
        groups=arguments.get("groups", 1),
        output_size=_per_axis(arguments.get("output_size"), rank),
        channels_first=arguments.get("data_format") == "channels_first",
    )


def _run_layer(x: np.ndarray, kernel: np.ndarray, case: Dict[str, Any]) -> Any:
    import keras_deconv

    arguments = dict(case["arguments"])
    output_size = arguments.pop("output_size", None)
    rank = kernel.ndim - 2
    layer_class = (keras_deconv.Conv1DTranspose, keras_deconv.Conv2DTranspose,
                   keras_deconv.Conv3DTranspose)[rank - 1]
    # A zeros initializer is the cheapest to build; the kernel is replaced at once.
    layer = layer_class(case["filters"], case["kernel_size"], use_bias=False, kernel_initializer="zeros",
                        **arguments)
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    return _compiled(lambda: layer(x, output_size=output_size))


def _run_path(x: np.ndarray, kernel: np.ndarray, case: Dict[str, Any], path: str) -> Any:
    from keras_deconv.ops import conv_transpose

    return _compiled(lambda: conv_transpose(x, kernel, path=path, **case["arguments"]))


def _compiled(function: Any) -> Any:
    """Call ``function`` once, compiled as a whole by the backend's policy (``jax.jit`` on JAX).

    Eager JAX compiles every primitive separately, which makes a first call
    seconds long; one ``jax.jit`` per case is several times faster, and it is
    how Keras runs layers on JAX anyway (``fit``/``predict`` are jitted).
    """
    from keras_deconv._paths import policy

    return policy.current().compile(function)()


def _applicable_paths(backend: str, case: Dict[str, Any], rank: int) -> List[str]:
    """Every forced path this backend can run for the case (``native`` is missing on some)."""
    from keras_deconv.ops import available_paths

    dilation = _per_axis(case["arguments"].get("dilation_rate", 1), rank)
    groups = case["arguments"].get("groups", 1)
    return list(available_paths(backend, rank, dilation, groups, "float32"))


def run_case(case: Dict[str, Any], backend: str, inject_fault: bool = False) -> Dict[str, Any]:
    """Run one case through the layer and every applicable path; one result per runner."""
    from keras import ops

    rng = np.random.default_rng(zlib.crc32(case["name"].encode()))
    rank = len(case["kernel_size"])
    channels_first = case["arguments"].get("data_format") == "channels_first"
    channels = case["input_shape"][1] if channels_first else case["input_shape"][-1]
    groups = case["arguments"].get("groups", 1)
    x = rng.standard_normal(case["input_shape"]).astype("float32")
    kernel_shape = case["kernel_size"] + (case["filters"] // groups, channels)
    kernel = rng.standard_normal(kernel_shape).astype("float32")
    expected = expected_output(x, kernel, case["arguments"])

    runners: Dict[str, Callable[[], Any]] = {"layer": lambda: _run_layer(x, kernel, case)}
    for path in _applicable_paths(backend, case, rank):
        runners[path] = functools.partial(_run_path, x, kernel, case, path)

    results: Dict[str, Any] = {}
    for runner_name, runner in runners.items():
        start = time.perf_counter()
        try:
            got = np.asarray(ops.convert_to_numpy(runner()), dtype="float64")
        except Exception as error:  # a crash is a result to report, not a reason to stop
            results[runner_name] = dict(shape_ok=False, max_error=None, time_s=time.perf_counter() - start,
                                        error=f"{type(error).__name__}: {error}")
            continue
        elapsed = time.perf_counter() - start
        if inject_fault:
            got.flat[0] += 1.0
            inject_fault = False
        shape_ok = got.shape == expected.shape
        max_error = float(np.max(np.abs(got - expected))) if shape_ok else None
        results[runner_name] = dict(shape_ok=shape_ok, max_error=max_error, time_s=elapsed,
                                    expected_shape=list(expected.shape), shape=list(got.shape),
                                    error=None)
    return results


def main() -> int:
    """Run the grid on the backend Keras was imported with and print the JSON report."""
    import keras

    backend = keras.backend.backend()
    inject_fault = os.environ.get(FAULT_VARIABLE, "") not in ("", "0")
    cases = []
    for index, case in enumerate(CASES):
        results = run_case(case, backend, inject_fault=inject_fault and index == 0)
        cases.append(dict(name=case["name"], results=results))
    report = dict(backend=backend, keras_version=keras.__version__, tolerance=TOLERANCE,
                  fault_injected=inject_fault, cases=cases)
    # Backends may print to stdout while importing; the report is always the last line.
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
