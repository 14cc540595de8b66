"""Test configuration: the backend comes from KERAS_BACKEND (one per process).

What the test modules get from here, without importing this file:

- ``@pytest.mark.needs_gradients``: skips the test on backends without
  automatic differentiation (numpy);
- the ``backend`` fixture: Keras's backend name (modules that need it at
  import time, in marks or parametrisations, call ``keras.backend.backend()``);
- the ``path`` fixture: each path ``path=`` can force (every name in
  ``keras_deconv._paths.PATHS``: "matmul", "phase", "native"), skipped where
  ``keras_deconv.ops.available_paths()`` (default arguments) lacks it;
  ``path_or_auto`` adds "auto". A test whose rank, dilation, groups or dtype
  decide what runs asks ``available_paths(...)`` with them as well;
- the ``assert_close`` fixture: the one tolerance rule, by the dtype computed in.
"""

from __future__ import annotations

import contextlib
import os
import zlib

import numpy as np
import pytest

#: The backends with automatic differentiation (``needs_gradients``).
TRAINABLE_BACKENDS = ("jax", "torch", "tensorflow")

# Keras (and so the library) is imported inside the hooks and fixtures, not here:
# tests/distribution's conftest.py configures TensorFlow's devices before anything
# starts its runtime.


def pytest_addoption(parser):
    parser.addoption(
        "--sample", type=int, default=1, metavar="N",
        help="run about 1 in N of each test function's parameter sets (picked by a stable hash of "
             "the test id; each function keeps at least its first): `nox -s minimums` passes 3",
    )


def keep_in_sample(test_ids, every):
    """Which of one test function's ``test_ids`` a ``--sample=every`` run keeps.

    A stable hash (CRC-32 of the id) picks about one in ``every``, so each
    argument's values are all reached across a grid instead of a stride that
    could miss one factor of a product; the first id is always kept, so no
    test function drops out.

    >>> keep_in_sample(["t[a]", "t[b]"], 1)
    [True, True]
    """
    if every < 1:
        raise ValueError(f"`--sample` must be a positive integer. Received: --sample={every}")
    return [index == 0 or zlib.crc32(test_id.encode()) % every == 0 for index, test_id in enumerate(test_ids)]


def pytest_collection_modifyitems(config, items):
    every = config.getoption("sample")
    if every == 1:
        return
    try:
        keep_in_sample([], every)  # checks `every`
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None  # a usage message, not an internal error
    families = {}
    for item in items:
        # One family per test function: its parametrised ids share what precedes "[".
        families.setdefault(item.nodeid.split("[", 1)[0], []).append(item)
    kept = set()
    for family in families.values():
        for item, keep in zip(family, keep_in_sample([item.nodeid for item in family], every)):
            if keep:
                kept.add(item.nodeid)
    deselected = [item for item in items if item.nodeid not in kept]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.nodeid in kept]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_gradients: needs automatic differentiation (skipped on the numpy backend)"
    )


def pytest_report_header(config):
    return f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow')}"


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_gradients") is None:
        return
    import keras

    if keras.backend.backend() not in TRAINABLE_BACKENDS:
        pytest.skip(f"the {keras.backend.backend()} backend has no gradients")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def backend():
    """Keras's backend name: "jax", "torch", "tensorflow" or "numpy"."""
    import keras

    return keras.backend.backend()


@contextlib.contextmanager
def _x64():
    """64-bit numbers inside the block on JAX (``jax_enable_x64``); other backends always have them.

    ``jax.config.update`` is a switch every supported JAX has: ``jax.enable_x64`` is
    missing from JAX 0.4.30 (the oldest claimed), ``jax.experimental.enable_x64`` from JAX 0.10.
    """
    import jax

    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


@pytest.fixture(scope="session")
def precision():
    """``precision(dtype)``: a context in which ``dtype`` exists (float64 and complex128 need x64 on JAX)."""
    import keras

    def context(dtype):
        wide = str(dtype) in ("float64", "complex128")
        return _x64() if wide and keras.backend.backend() == "jax" else contextlib.nullcontext()

    return context


# ----------------------------------------------------------------------------- paths

PATH_FIXTURES = ("path", "path_or_auto")


def _parametrized_directly(metafunc, name):
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc):
    """Parametrise ``path`` over the library's paths (``path_or_auto``: with "auto").

    The names come from ``keras_deconv.ops.PATH_NAMES`` ("auto" and every name in
    ``PATHS``), so a new path is tested where the fixtures are used. A test that
    parametrises an argument of the same name itself keeps its own values.
    """
    for name in PATH_FIXTURES:
        if name in metafunc.fixturenames and not _parametrized_directly(metafunc, name):
            from keras_deconv.ops import PATH_NAMES

            names = PATH_NAMES if name == "path_or_auto" else tuple(n for n in PATH_NAMES if n != "auto")
            metafunc.parametrize(name, names, indirect=True)


def _runnable(name):
    """``name`` if the backend runs it for default arguments (rank 2, no dilation, one group, float32)."""
    from keras_deconv.ops import available_paths

    if name != "auto" and name not in available_paths():
        import keras

        pytest.skip(f"path={name!r} does not run on the {keras.backend.backend()} backend")
    return name


@pytest.fixture
def path(request):
    """Each path ``path=`` can force, skipped where the backend cannot run it."""
    return _runnable(request.param)


@pytest.fixture
def path_or_auto(request):
    """Each forced path and "auto", skipped where the backend cannot run it."""
    return _runnable(request.param)


# ----------------------------------------------------------------------------- tolerances

#: Relative tolerance per dtype computed in: float rounding of sums of up to a few
#: hundred products, relative to ``scale`` (by default the largest expected value).
RTOL = {
    "float64": 1e-12, "complex128": 1e-12,
    "float32": 1e-5, "complex64": 1e-5,
    "float16": 1e-2,  # ~3 decimal digits
    "bfloat16": 5e-2,  # ~2 decimal digits
}


def check_close(actual, expected, *, dtype=None, scale=None, rtol=None, err_msg=""):
    """Assert ``|actual - expected| <= rtol * scale`` elementwise, with equal shapes.

    ``actual`` and ``expected``: arrays or backend tensors. ``dtype``: the
    dtype the result was computed in, by default ``actual``'s (pass it when
    ``actual`` was cast). ``rtol``: ``RTOL[dtype]`` unless given (a test that
    needs another says why). ``scale``: a number or an array broadcast against
    ``expected`` (such as ``sum |x| |w|`` per output); by default
    ``max(1, max |expected|)``, an absolute bound below 1. NaNs and infinities
    must sit where ``expected`` has the same value.
    """
    import keras

    actual = np.asarray(keras.ops.convert_to_numpy(actual))
    expected = np.asarray(keras.ops.convert_to_numpy(expected))
    dtype = keras.backend.standardize_dtype(actual.dtype if dtype is None else dtype)
    if rtol is None:
        if dtype not in RTOL:
            raise ValueError(f"No tolerance for dtype {dtype!r}: pass dtype= or rtol=.")
        rtol = RTOL[dtype]
    where = f" ({err_msg})" if err_msg else ""
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}{where}"
    if scale is None:
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
    wide = np.complex128 if np.iscomplexobj(actual) or np.iscomplexobj(expected) else np.float64
    a, e = actual.astype(wide), expected.astype(wide)
    same = (a == e) | (np.isnan(a) & np.isnan(e))  # equal infinities and NaNs in the same places
    with np.errstate(invalid="ignore"):  # inf - inf where ``same`` holds
        error = np.where(same, 0.0, np.abs(a - e))
    bound = rtol * np.broadcast_to(np.asarray(scale, dtype=np.float64), error.shape)
    failed = ~(error <= bound)  # NaN errors fail
    if failed.any():
        index = np.unravel_index(np.argmax(np.where(failed, error - bound, -np.inf)), error.shape)
        raise AssertionError(
            f"{int(failed.sum())} of {error.size} values differ by more than rtol={rtol:g} * scale "
            f"(dtype {dtype}){where}: worst at {tuple(int(i) for i in index)}: "
            f"actual {a[index]}, expected {e[index]}, error {error[index]:.3g} > bound {bound[index]:.3g}"
        )


@pytest.fixture(scope="session")
def assert_close():
    """The tolerance rule (see ``check_close``), as a fixture: ``assert_close(actual, expected, ...)``."""
    return check_close


# Hypothesis profiles: "ci" (default, bounded so each backend's suite stays short) and
# "dev" (longer, HYPOTHESIS_PROFILE=dev). No deadline: JAX and TF compile on first use.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a test extra; suites without it still collect
    pass
else:
    settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=500, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
