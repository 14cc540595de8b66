"""Benchmark suite: keras_deconv against Keras's built-in op and torch's native op.

One run measures, for the current ``KERAS_BACKEND`` and in the same process:

- forward and forward+backward time (median of ``--repeats`` runs after
  warm-up, the implementations interleaved round by round) of
  ``keras_deconv.ops.conv_transpose`` (path "auto", and with
  ``--paths`` every forced path), of ``keras.ops.conv_transpose`` (recorded as
  "refused" with the reason where Keras cannot run a case), and of torch's
  ``F.conv_transposeNd`` (torch is imported whatever the backend);
- achieved GFLOP/s and the percentage of this machine's float32 sgemm rate,
  itself timed in the same run (a square ``torch.mm``, the same threads);
- with ``--memory``, the peak memory of forward+backward relative to torch's
  native op, each measured in a fresh subprocess (method below).

Backward means the gradients with respect to the input and the kernel of
``sum(output * cotangent)`` for a fixed random cotangent, with each backend's
own autodiff: ``jax.grad`` under ``jax.jit``, torch autograd (eager),
``tf.GradientTape`` inside ``tf.function`` (and, on tensorflow, also under
``jit_compile=True`` as the extra "keras_deconv+xla" row). The forward runs
under ``jax.jit`` on jax, in ``tf.function`` on tensorflow, eagerly on torch.

Peak memory method: a child process builds the inputs and the function, runs
it twice (compilation and warm-up), then three times: before each, it resets
the kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``); the result
is the largest ``VmHWM`` minus the ``VmRSS`` just before that run. ``glibc``'s
mmap threshold is pinned (``MALLOC_MMAP_THRESHOLD_``) so that freed buffers
go back to the system instead of being silently reused. It counts the memory
a run adds on top of its inputs (outputs, gradients, temporaries). Limits: it
counts pages, not bytes; small buffers below the threshold come from the heap
and may reuse memory freed earlier; Linux's RSS counters are approximate to a
few pages per core; buffers freed asynchronously (jax) may or may not overlap
the next run; allocators other than glibc's malloc are not pinned. Where
``clear_refs`` is not writable the fallback is ``ru_maxrss`` minus the RSS
after imports and inputs, which then includes compilation memory (the
"method" field says which one was used).

Usage: ``python -m benchmarks.run`` (writes ``benchmarks/results/<backend>.md``
and ``.json``), ``keras-deconv bench``, or from Python:

>>> from keras_deconv.bench import Case
>>> case = Case("tiny", (1, 4, 4, 2), 3, (2, 2), (2, 2))
>>> case.flops_forward  # 2 * batch * 4*4 positions * 2*2 taps * 2 channels * 3 filters
768
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

#: Implementation names as they appear in the results.
KERAS_DECONV = "keras_deconv"
KERAS_DECONV_XLA = "keras_deconv+xla"
#: keras_deconv with padding="circular" (same output length as 'same'), timed beside 'same'.
KERAS_DECONV_CIRCULAR = "keras_deconv circular"
KERAS_BUILTIN = "keras"
TORCH_NATIVE = "torch"
#: Smallest torch-native peak (MiB) from which a memory ratio is reported.
MEMORY_RESOLUTION_MIB = 1.0


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case: a channels_last float32 input, 'same' padding.

    ``headline`` cases enter the geometric mean (the four cases of issue 3).
    """

    name: str
    input_shape: Tuple[int, ...]
    filters: int
    kernel_size: Tuple[int, ...]
    strides: Tuple[int, ...]
    dilation_rate: Optional[Tuple[int, ...]] = None
    groups: int = 1
    headline: bool = False

    @property
    def rank(self) -> int:
        return len(self.kernel_size)

    @property
    def dilation(self) -> Tuple[int, ...]:
        return self.dilation_rate or (1,) * self.rank

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
        return (2 * batch * math.prod(spatial) * math.prod(self.kernel_size) * channels
                * self.filters // self.groups)

    def describe(self) -> str:
        text = (f"{self.input_shape} -> {self.filters}, "
                f"k{_compact(self.kernel_size)} s{_compact(self.strides)}")
        if self.dilation_rate:
            text += f" d{_compact(self.dilation)}"
        if self.groups > 1:
            text += f" g{self.groups}"
        return text


def _compact(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


#: The four cases of issue 3 (headline), a grouped case and a dilated stride-1 case.
CASES: Tuple[Case, ...] = (
    Case("3d_unet_k2s2", (2, 16, 16, 16, 64), 32, (2, 2, 2), (2, 2, 2), headline=True),
    Case("3d_k3s2", (2, 16, 16, 16, 64), 32, (3, 3, 3), (2, 2, 2), headline=True),
    Case("2d_dcgan_k4s2", (8, 32, 32, 128), 64, (4, 4), (2, 2), headline=True),
    Case("1d_audio_k16s8", (4, 512, 64), 32, (16,), (8,), headline=True),
    Case("2d_grouped_g4", (8, 32, 32, 128), 64, (4, 4), (2, 2), groups=4),
    Case("2d_dilated_s1", (8, 32, 32, 64), 64, (3, 3), (1, 1), dilation_rate=(2, 2)),
)

#: Small cases for ``--quick`` (seconds, not minutes; for tests and smoke runs).
QUICK_CASES: Tuple[Case, ...] = (
    Case("quick_2d_k2s2", (2, 8, 8, 8), 4, (2, 2), (2, 2), headline=True),
    Case("quick_1d_k3s2_g2", (2, 16, 4), 4, (3,), (2,), groups=2, headline=True),
)


# --------------------------------------------------------------------------- timing


#: Each thunk warms up for at least this long (and at least ``warmup`` calls): a
#: process's first heavy calls run slower for a while (page faults on fresh
#: buffers until glibc's mmap threshold adapts, thread pools spinning up), and
#: two calls were not always enough to get past that.
WARMUP_SECONDS = 0.5


def warm_up(run: Callable[[], Any], calls: int, seconds: float = WARMUP_SECONDS) -> None:
    """Call ``run()`` at least ``calls`` times and for at least ``seconds`` (if ``calls`` > 0)."""
    if calls <= 0:
        return
    start, done = time.perf_counter(), 0
    while done < calls or time.perf_counter() - start < seconds:
        run()
        done += 1


def median_seconds(run: Callable[[], Any], repeats: int, warmup: int) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls after warming up (see ``warm_up``).

    ``run`` must return only once its work is done (it blocks on the result).

    >>> median_seconds(lambda: sum(range(100)), repeats=3, warmup=1) > 0
    True
    """
    return interleaved_medians({"run": run}, repeats, warmup, pause=0)["run"]


def machine_threads() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def sgemm_gflops(size: int, repeats: int, warmup: int = 2) -> Dict[str, float]:
    """This machine's float32 matmul rate: a ``size`` x ``size`` ``torch.mm``."""
    import torch

    a = torch.randn(size, size, dtype=torch.float32)
    b = torch.randn(size, size, dtype=torch.float32)
    seconds = median_seconds(lambda: torch.mm(a, b), repeats, warmup)
    return {"size": size, "seconds": seconds, "gflops": 2 * size**3 / seconds / 1e9}


# --------------------------------------------------------------------------- the functions timed


def _inputs(case: Case, seed: int = 0) -> Tuple[Any, Any, Any]:
    """NumPy input, kernel and cotangent (float32, channels_last, Keras kernel layout)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.input_shape).astype("float32")
    w = (rng.standard_normal(case.kernel_shape) / math.sqrt(math.prod(case.kernel_shape[:-2]))).astype(
        "float32")
    cotangent = rng.standard_normal((case.input_shape[0], *case.output_spatial, case.filters)).astype(
        "float32")
    return x, w, cotangent


def _keras_deconv_op(case: Case, path: str, padding: str = "same") -> Callable[[Any, Any], Any]:
    from keras_deconv.ops import conv_transpose

    def op(x: Any, w: Any) -> Any:
        return conv_transpose(x, w, strides=case.strides, padding=padding, data_format="channels_last",
                              dilation_rate=case.dilation, groups=case.groups, path=path)

    return op


def _keras_builtin_op(case: Case) -> Callable[[Any, Any], Any]:
    import keras

    if case.groups != 1:
        raise NotImplementedError("keras.ops.conv_transpose has no `groups` argument")

    def op(x: Any, w: Any) -> Any:
        return keras.ops.conv_transpose(x, w, strides=case.strides, padding="same",
                                        data_format="channels_last", dilation_rate=case.dilation)

    return op


def _backend_functions(backend: str, op: Callable[[Any, Any], Any], arrays: Tuple[Any, Any, Any],
                       xla: bool = False) -> Tuple[Callable[[], Any], Optional[Callable[[], Any]]]:
    """``(forward, forward_backward)`` thunks that block until their result is ready."""
    x, w, cotangent = arrays
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        xj, wj, cj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(cotangent)
        forward = jax.jit(op)
        gradient = jax.jit(jax.grad(lambda a, b: jnp.sum(op(a, b) * cj), argnums=(0, 1)))
        return (lambda: jax.block_until_ready(forward(xj, wj)),
                lambda: jax.block_until_ready(gradient(xj, wj)))
    if backend == "tensorflow":
        import tensorflow as tf

        xt, wt, ct = tf.constant(x), tf.constant(w), tf.constant(cotangent)
        # autograph=False: the op has no tensor-dependent Python control flow to convert.
        forward_tf = tf.function(op, jit_compile=xla, autograph=False)

        @tf.function(jit_compile=xla, autograph=False)
        def gradient_tf(a: Any, b: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch([a, b])
                loss = tf.reduce_sum(op(a, b) * ct)
            return tape.gradient(loss, [a, b])

        # Reading one element forces completion without copying the whole result.
        return (lambda: forward_tf(xt, wt).numpy().flat[0],
                lambda: gradient_tf(xt, wt)[0].numpy().flat[0])
    if backend == "torch":
        import torch

        xt, wt, ct = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(cotangent)
        xg, wg = xt.clone().requires_grad_(True), wt.clone().requires_grad_(True)

        def forward_torch() -> Any:
            with torch.no_grad():
                return op(xt, wt)

        def gradient_torch() -> Any:
            return torch.autograd.grad((op(xg, wg) * ct).sum(), (xg, wg))

        return forward_torch, gradient_torch
    # numpy backend: no autodiff.
    return (lambda: op(x, w)), None


def _torch_padding(case: Case) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Torch ``padding`` and ``output_padding`` giving the 'same' output length."""
    padding, output_padding = [], []
    for k, s, d in zip(case.kernel_size, case.strides, case.dilation, strict=True):
        crop = d * (k - 1) + 1 - s  # full length minus the 'same' length
        if crop >= 0:
            p = (crop + 1) // 2
            padding.append(p)
            output_padding.append(2 * p - crop)
        else:  # the full output is shorter than input * stride: pad the end
            padding.append(0)
            output_padding.append(-crop)
    return tuple(padding), tuple(output_padding)


def _torch_native_functions(case: Case, arrays: Tuple[Any, Any, Any]) -> Tuple[Callable, Callable]:
    """Torch's own op on its own layout (channels_first input, (C, F/G, *k) weight)."""
    import torch
    import torch.nn.functional as F

    x, w, cotangent = arrays
    rank = case.rank
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
    xt = torch.from_numpy(x).movedim(-1, 1).contiguous()
    wt = torch.from_numpy(w).permute(rank + 1, rank, *range(rank)).contiguous()
    ct = torch.from_numpy(cotangent).movedim(-1, 1).contiguous()
    padding, output_padding = _torch_padding(case)

    def op(a: Any, b: Any) -> Any:
        return conv(a, b, stride=case.strides, padding=padding, output_padding=output_padding,
                    groups=case.groups, dilation=case.dilation)

    xg, wg = xt.clone().requires_grad_(True), wt.clone().requires_grad_(True)

    def forward() -> Any:
        with torch.no_grad():
            return op(xt, wt)

    def gradient() -> Any:
        return torch.autograd.grad((op(xg, wg) * ct).sum(), (xg, wg))

    with torch.no_grad():
        shape = tuple(op(xt, wt).shape)
    expected = (case.input_shape[0], case.filters, *case.output_spatial)
    if shape != expected:  # a wrong torch padding would make the comparison unfair
        raise AssertionError(f"torch output shape {shape} != {expected}")
    return forward, gradient


def _functions(implementation: str, path: str, case: Case, backend: str,
               arrays: Tuple[Any, Any, Any]) -> Tuple[Callable[[], Any], Optional[Callable[[], Any]]]:
    if implementation == TORCH_NATIVE:
        return _torch_native_functions(case, arrays)
    if implementation == KERAS_BUILTIN:
        return _backend_functions(backend, _keras_builtin_op(case), arrays)
    if implementation == KERAS_DECONV_CIRCULAR:
        return _backend_functions(backend, _keras_deconv_op(case, path, "circular"), arrays)
    xla = implementation == KERAS_DECONV_XLA
    return _backend_functions(backend, _keras_deconv_op(case, path), arrays, xla=xla)


# --------------------------------------------------------------------------- measuring


def _refusal(error: BaseException) -> str:
    """The error in one line (tf.function's errors start with a traceback: keep their last line)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = (lines[-1] if lines[0] == "in user code:" else lines[0]) if lines else ""
    return f"{type(error).__name__}: {text[:200]}"


def _time_ratio(results: Dict[str, Dict[str, Any]], row: str, base: str, phase: str) -> Optional[float]:
    """``row``'s time over ``base``'s in one phase, None where either was refused or not run."""
    mine, other = results.get(row, {}).get(phase) or {}, results.get(base, {}).get(phase) or {}
    return mine["ms"] / other["ms"] if "ms" in mine and "ms" in other else None


def _rate(seconds: float, flops: int, sgemm: float) -> Dict[str, float]:
    gflops = flops / seconds / 1e9
    return {"ms": seconds * 1e3, "gflops": gflops, "sgemm_percent": 100 * gflops / sgemm}


def prepare_implementation(implementation: str, path: str, case: Case, backend: str,
                           arrays: Tuple[Any, Any, Any]) -> Dict[str, Any]:
    """Compile one implementation on one case and run each phase once.

    Returns ``{phase: thunk or {"refused": reason}}`` for the phases
    "forward" and "forward_backward"; a refusal reason is the first line of
    the error the implementation raised (or says the backend has no
    gradients).
    """
    try:
        forward, forward_backward = _functions(implementation, path, case, backend, arrays)
        forward()  # the first call compiles, and raises where the case is refused
    except Exception as error:  # noqa: BLE001 - any refusal is a result to report
        reason = {"refused": _refusal(error)}
        return {"forward": reason, "forward_backward": reason}
    ready: Dict[str, Any] = {"forward": forward}
    if forward_backward is None:
        ready["forward_backward"] = {"refused": f"the {backend} backend has no gradients"}
        return ready
    try:
        forward_backward()
        ready["forward_backward"] = forward_backward
    except Exception as error:  # noqa: BLE001
        ready["forward_backward"] = {"refused": _refusal(error)}
    return ready


def interleaved_medians(runs: Dict[str, Callable[[], Any]], repeats: int, warmup: int,
                        pause: float = 0.005, warmup_seconds: float = WARMUP_SECONDS) -> Dict[str, float]:
    """Median seconds of each thunk, timed in rounds that run every thunk once.

    Interleaving makes the ratios fair under a changing machine load: a busy
    second slows every implementation alike instead of whichever was being
    timed then. The order rotates each round, and a short untimed pause
    between thunks lets the other runtimes' spinning worker threads go idle.

    >>> sorted(interleaved_medians({"a": lambda: None, "b": lambda: None}, 3, 1))
    ['a', 'b']
    """
    names = list(runs)
    for name in names:
        warm_up(runs[name], warmup, seconds=warmup_seconds)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for round_index in range(max(1, repeats)):
        shift = round_index % max(1, len(names))
        for name in names[shift:] + names[:shift]:
            if pause:
                time.sleep(pause)
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def time_implementations(rows: Sequence[Tuple[str, str]], case: Case, backend: str,
                         arrays: Tuple[Any, Any, Any], repeats: int, warmup: int,
                         sgemm: float) -> Dict[str, Dict[str, Any]]:
    """Forward and forward+backward timings of every row on one case, interleaved.

    Returns ``{row: {"forward": {...}, "forward_backward": {...}}}`` with ms,
    GFLOP/s and % of sgemm, or ``{"refused": reason}`` for a phase the row
    cannot run.
    """
    ready = {row: prepare_implementation(_implementation_kind(row), path, case, backend, arrays)
             for row, path in rows}
    results: Dict[str, Dict[str, Any]] = {row: {} for row, _ in rows}
    for phase, flops in (("forward", case.flops_forward), ("forward_backward", 3 * case.flops_forward)):
        runnable = {row: thunks[phase] for row, thunks in ready.items() if callable(thunks[phase])}
        medians = interleaved_medians(runnable, repeats, warmup)
        for row, thunks in ready.items():
            results[row][phase] = (_rate(medians[row], flops, sgemm) if row in medians
                                   else thunks[phase])
    return results


def implementations(backend: str, paths: bool, xla: bool) -> List[Tuple[str, str]]:
    """``(row name, keras_deconv path)`` of every implementation timed on ``backend``."""
    rows = [(TORCH_NATIVE, ""), (KERAS_DECONV, "auto")]
    if xla and backend == "tensorflow":
        rows.append((KERAS_DECONV_XLA, "auto"))
    if paths:
        from keras_deconv._paths import PATHS

        rows += [(f"{KERAS_DECONV}[{name}]", name) for name in PATHS]
    rows.append((KERAS_DECONV_CIRCULAR, "auto"))
    rows.append((KERAS_BUILTIN, ""))
    return rows


def _implementation_kind(row: str) -> str:
    return KERAS_DECONV if row.startswith(KERAS_DECONV + "[") else row


# --------------------------------------------------------------------------- peak memory (subprocess)


def _read_status_kib(field: str) -> Optional[int]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM); Linux >= 4.0."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def memory_probe(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Run in a fresh process: peak extra memory (MiB) of one forward+backward."""
    import resource

    fields: Dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["case"].items()}
    case = Case(**fields)
    backend = spec["backend"]
    if spec["implementation"] == TORCH_NATIVE:
        import torch

        torch.set_num_threads(machine_threads())
    arrays = _inputs(case)
    _, forward_backward = _functions(spec["implementation"], spec["path"], case, backend, arrays)
    if forward_backward is None:
        raise RuntimeError(f"no gradients on the {backend} backend")
    rss_after_setup = _read_status_kib("VmRSS") or 0
    forward_backward()  # compilation
    forward_backward()  # warm-up: caches and thread pools settle
    if not _reset_peak_rss():
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        return {"mib": max(peak - rss_after_setup, 0) / 1024,
                "method": "ru_maxrss minus RSS after setup (includes compilation)"}
    # The largest of a few runs: frees from the run before (asynchronous on jax) and the
    # kernel's approximate RSS counters can hide part of one run's growth.
    growth = []
    for _ in range(3):
        gc.collect()
        time.sleep(0.05)
        _reset_peak_rss()
        before = _read_status_kib("VmRSS") or 0
        forward_backward()
        growth.append((_read_status_kib("VmHWM") or 0) - before)
    return {"mib": max(max(growth), 0) / 1024,
            "method": "VmHWM after clear_refs minus VmRSS before the run, max of 3 runs"}


def measure_memory(implementation: str, path: str, case: Case, backend: str,
                   timeout: float = 600) -> Dict[str, Any]:
    """Peak forward+backward memory of one implementation, in a fresh subprocess."""
    spec = {"implementation": implementation, "path": path, "backend": backend,
            "case": dataclasses.asdict(case)}
    env = dict(os.environ, KERAS_BACKEND=backend, MALLOC_MMAP_THRESHOLD_="131072",
               TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    # Run this file as a script rather than ``-m keras_deconv.bench``: the package's __init__
    # imports Keras and its backend, which torch's own op does not need (a faster probe).
    script = ("import runpy, sys; sys.argv = sys.argv[1:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")
    command = [sys.executable, "-c", script, __file__, "--memory-probe", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"refused": f"probe failed (exit {done.returncode}): {tail[:200]}"}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- the suite


def _versions(backend: str) -> Dict[str, str]:
    import keras
    import numpy
    import torch

    import keras_deconv

    versions = {"python": platform.python_version(), "keras_deconv": keras_deconv.__version__,
                "keras": keras.__version__, "numpy": numpy.__version__, "torch": torch.__version__}
    if backend in ("jax", "tensorflow"):
        module = __import__(backend)
        versions[backend] = module.__version__
    return versions


def machine() -> Dict[str, Any]:
    """CPU model (from /proc/cpuinfo), core counts and platform."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "threads_available": machine_threads(),
            "platform": platform.platform()}


def geometric_mean(values: Sequence[float]) -> Optional[float]:
    """Geometric mean, or None for an empty sequence.

    >>> round(geometric_mean([1.0, 4.0]), 6)
    2.0
    """
    values = [v for v in values if v is not None]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _ratio(results: Dict[str, Any], row: str, phase: str) -> Optional[float]:
    return _time_ratio(results, row, TORCH_NATIVE, phase)


def run_suite(backend: str, cases: Sequence[Case], repeats: int, warmup: int, paths: bool = False,
              xla: bool = True, memory: bool = False, sgemm_size: int = 2048, threads: Optional[int] = None,
              log: Callable[[str], None] = lambda text: None) -> Dict[str, Any]:
    """Measure every implementation on every case; returns the JSON-ready results."""
    from keras_deconv._optional import require

    torch = require("torch", "bench", "the benchmark suite (torch's op is its yardstick)")

    torch.set_num_threads(threads or machine_threads())
    sgemm = sgemm_gflops(sgemm_size, max(3, repeats))
    log(f"sgemm {sgemm_size}x{sgemm_size}: {sgemm['gflops']:.1f} GFLOP/s")
    rows = implementations(backend, paths, xla)
    report: Dict[str, Any] = {
        "backend": backend,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "versions": _versions(backend), "repeats": repeats, "warmup": warmup,
        "sgemm": sgemm, "torch_threads": torch.get_num_threads(), "cases": []}
    for case in cases:
        arrays = _inputs(case)
        log(f"{case.name}: " + ", ".join(row for row, _ in rows))
        results = time_implementations(rows, case, backend, arrays, repeats, warmup, sgemm["gflops"])
        ratios = {row: {phase: _ratio(results, row, phase) for phase in ("forward", "forward_backward")}
                  for row, _ in rows if row != TORCH_NATIVE}
        entry: Dict[str, Any] = {"name": case.name, "description": case.describe(), "headline": case.headline,
                 "flops_forward": case.flops_forward, "results": results, "ratios": ratios,
                 "circular_vs_same": {phase: _time_ratio(results, KERAS_DECONV_CIRCULAR, KERAS_DECONV, phase)
                                      for phase in ("forward", "forward_backward")}}
        if memory and backend != "numpy":
            log(f"{case.name}: peak memory (subprocesses)")
            entry["memory"] = {TORCH_NATIVE: measure_memory(TORCH_NATIVE, "", case, backend),
                               KERAS_DECONV: measure_memory(KERAS_DECONV, "auto", case, backend)}
            mine, base = entry["memory"][KERAS_DECONV].get("mib"), entry["memory"][TORCH_NATIVE].get("mib")
            # Below about a MiB the page-granular, approximate counters say nothing useful.
            measurable = mine is not None and base is not None and base >= MEMORY_RESOLUTION_MIB
            entry["memory"]["ratio"] = mine / base if measurable else None
        report["cases"].append(entry)
    headline = [c for c in report["cases"] if c["headline"]]
    report["headline"] = {
        phase: geometric_mean([c["ratios"][KERAS_DECONV][phase] for c in headline])
        for phase in ("forward", "forward_backward")}
    return report


# --------------------------------------------------------------------------- markdown


def _cell(measure: Optional[Dict[str, Any]], ratio: Optional[float] = None) -> str:
    if not measure:
        return "-"
    if "refused" in measure:
        return "refused"
    text = f"{measure['ms']:.2f}"
    return text if ratio is None else f"{text} ({ratio:.2f}x)"


def _fmt(value: Optional[float], suffix: str = "x") -> str:
    return "-" if value is None else f"{value:.2f}{suffix}"


def _mib(measure: Dict[str, Any]) -> str:
    return f"{measure['mib']:.1f}" if "mib" in measure else str(measure.get("refused"))


def to_markdown(report: Dict[str, Any]) -> str:
    """The results as a markdown section (headline, main table, per-row details)."""
    m, v = report["machine"], report["versions"]
    backend = report["backend"]
    lines = [
        f"## Backend: {backend}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; torch threads {report['torch_threads']}; "
        f"{m['platform']}.  ",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".  ",
        f"Date: {report['date']}; median of {report['repeats']} runs after {report['warmup']} warm-up; "
        f"float32, channels_last, 'same' padding.  ",
        f"sgemm ({report['sgemm']['size']}x{report['sgemm']['size']} float32 torch.mm): "
        f"{report['sgemm']['gflops']:.1f} GFLOP/s.",
        "",
        f"**Headline** (keras_deconv time / torch native time, geometric mean over the issue's cases): "
        f"forward {_fmt(report['headline']['forward'])}, "
        f"forward+backward {_fmt(report['headline']['forward_backward'])}.",
        "",
        "Times in ms (ratio to torch's native op in the same run). GFLOP/s and % of sgemm are keras_deconv's "
        "forward+backward.",
        "",
        "| case | torch fwd | torch fwd+bwd | keras_deconv fwd | keras_deconv fwd+bwd | GFLOP/s | % sgemm "
        "| Keras built-in fwd | Keras built-in fwd+bwd | peak memory vs torch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in report["cases"]:
        res, rat = case["results"], case["ratios"]
        mine = res[KERAS_DECONV].get("forward_backward") or {}
        builtin = res[KERAS_BUILTIN]
        rate = (f"{mine['gflops']:.3g} | {mine['sgemm_percent']:.3g}%" if "ms" in mine else "- | -")
        memory = case.get("memory", {}).get("ratio")
        lines.append(
            f"| {case['name']}{' *' if case['headline'] else ''} `{case['description']}` "
            f"| {_cell(res[TORCH_NATIVE].get('forward'))} "
            f"| {_cell(res[TORCH_NATIVE].get('forward_backward'))} "
            f"| {_cell(res[KERAS_DECONV].get('forward'), rat[KERAS_DECONV]['forward'])} "
            f"| {_cell(mine, rat[KERAS_DECONV]['forward_backward'])} | {rate} "
            f"| {_cell(builtin.get('forward'), rat[KERAS_BUILTIN]['forward'])} "
            f"| {_cell(builtin.get('forward_backward'), rat[KERAS_BUILTIN]['forward_backward'])} "
            f"| {_fmt(memory)} |")
    lines += ["", "(* = headline case.)", "",
              "padding='circular' against 'same' (keras_deconv auto, same run), forward / forward+backward: "
              + "; ".join(f"{c['name']} {_fmt(c.get('circular_vs_same', {}).get('forward'))} / "
                          f"{_fmt(c.get('circular_vs_same', {}).get('forward_backward'))}"
                          for c in report["cases"]) + ".",
              "", "Every row timed (ms, ratio to torch native):", "",
              "| case | implementation | forward | forward+backward | fwd+bwd GFLOP/s | note |",
              "|---|---|---|---|---|---|"]
    for case in report["cases"]:
        for row, result in case["results"].items():
            ratio = case["ratios"].get(row, {"forward": None, "forward_backward": None})
            fb = result.get("forward_backward") or {}
            note = (result.get("forward") or {}).get("refused") or fb.get("refused") or ""
            gflops = f"{fb['gflops']:.3g}" if "gflops" in fb else "-"
            lines.append(f"| {case['name']} | {row} "
                         f"| {_cell(result.get('forward'), ratio['forward'])} "
                         f"| {_cell(result.get('forward_backward'), ratio['forward_backward'])} "
                         f"| {gflops} | {note} |")
    if any("memory" in case for case in report["cases"]):
        lines += ["", "Peak extra memory of forward+backward (MiB, fresh subprocess each):", "",
                  "| case | torch native | keras_deconv | ratio | method |", "|---|---|---|---|---|"]
        for case in report["cases"]:
            mem = case.get("memory")
            if mem:
                t, k = mem[TORCH_NATIVE], mem[KERAS_DECONV]
                lines.append(f"| {case['name']} | {_mib(t)} | {_mib(k)} | {_fmt(mem['ratio'])} "
                             f"| {k.get('method', '')} |")
    return "\n".join(lines) + "\n"


def merge_markdown(folder: Path) -> str:
    """One document from every ``<backend>.json`` in ``folder`` (for the README and docs)."""
    reports = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
    if not reports:
        raise FileNotFoundError(f"No <backend>.json results in {folder}; run `nox -s bench` first.")
    lines = ["# Benchmarks", "", "Regenerated by `nox -s bench` (one environment per backend) and "
             "`python -m benchmarks.run --markdown-all`. Ratios are the headline: absolute times "
             "depend on the machine and its load.", "",
             "| backend | forward vs torch | forward+backward vs torch | machine | date |",
             "|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r['backend']} | {_fmt(r['headline']['forward'])} "
                     f"| {_fmt(r['headline']['forward_backward'])} | {r['machine']['cpu']}, "
                     f"{r['machine']['cores']} cores | {r['date']} |")
    return "\n".join(lines) + "\n\n" + "\n".join(to_markdown(r) for r in reports)


#: The README's benchmark section lies between these two lines.
README_START = "<!-- benchmark table: written by `nox -s bench`, do not edit by hand -->"
README_END = "<!-- end of benchmark table -->"


def summary_markdown(reports: Sequence[Dict[str, Any]]) -> str:
    """A compact table of every backend's ratios to torch's native op (for the README).

    One column per backend; each cell is the ``forward / forward+backward``
    time ratio and, where measured, the peak-memory ratio of forward+backward.
    """
    if not reports:
        raise ValueError("summary_markdown needs at least one report. Received: reports=[]")
    backends = [r["backend"] for r in reports]
    machines = sorted({f"{r['machine']['cpu']}, {r['machine']['cores']} cores" for r in reports})
    dates = sorted(r["date"][:10] for r in reports)
    lines = [
        f"Measured on {'; '.join(machines)}, {dates[0]}"
        + (f" to {dates[-1]}" if dates[-1] != dates[0] else "") + ". Each cell: keras_deconv's time "
        "divided by torch's native `F.conv_transposeNd` time in the same run (lower is better), "
        "forward / forward+backward, then the peak memory of forward+backward against torch's.",
        "",
        "| case | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    by_name = [{c["name"]: c for c in r["cases"]} for r in reports]
    for case in reports[0]["cases"]:
        cells = []
        for cases in by_name:
            entry = cases.get(case["name"])
            if entry is None:
                cells.append("-")
                continue
            ratios = entry["ratios"][KERAS_DECONV]
            memory = entry.get("memory", {}).get("ratio")
            cell = f"{_fmt(ratios['forward'])} / {_fmt(ratios['forward_backward'])}"
            cells.append(cell + (f", mem {_fmt(memory)}" if memory is not None else ""))
        star = " *" if case["headline"] else ""
        lines.append(f"| {case['name']}{star} `{case['description']}` | " + " | ".join(cells) + " |")
    lines.append("| **geometric mean of the * cases** | " + " | ".join(
        f"**{_fmt(r['headline']['forward'])} / {_fmt(r['headline']['forward_backward'])}**"
        for r in reports) + " |")
    builtin = []
    for r in reports:
        headline = [c for c in r["cases"] if c["headline"]]
        builtin.append(" / ".join(
            _fmt(geometric_mean([c["ratios"][KERAS_BUILTIN][phase] for c in headline]))
            for phase in ("forward", "forward_backward")))
    lines.append("| Keras 3's own layer, same mean | " + " | ".join(builtin) + " |")
    best = []
    for r in reports:
        rates = [c["results"][KERAS_DECONV][phase].get("sgemm_percent") for c in r["cases"]
                 if c["name"] == CASES[0].name for phase in ("forward", "forward_backward")]
        found = [rate for rate in rates if rate is not None]
        best.append(f"{max(found):.0f}% of {r['sgemm']['gflops']:.0f}" if found else "-")
    lines.append(f"| {CASES[0].name}: best % of the sgemm GFLOP/s | " + " | ".join(best) + " |")
    return "\n".join(lines) + "\n"


def replace_readme_section(text: str, section: str) -> str:
    r"""``text`` with the lines between README_START and README_END replaced by ``section``.

    >>> old = "\n".join(["intro", README_START, "old table", README_END, "outro"])
    >>> new = replace_readme_section(old, "new table\n")
    >>> new.splitlines()[1:4] == [README_START, "new table", README_END]
    True
    """
    if README_START not in text or README_END not in text:
        raise ValueError(f"The README has no benchmark section (the lines {README_START!r} and "
                         f"{README_END!r}). Received: a text of {len(text)} characters without them")
    before, rest = text.split(README_START, 1)
    _, after = rest.split(README_END, 1)
    return f"{before}{README_START}\n{section}{README_END}{after}"


def write_results(report: Dict[str, Any], folder: Path) -> Tuple[Path, Path]:
    """Write ``<backend>.md`` and ``<backend>.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    markdown, data = folder / f"{report['backend']}.md", folder / f"{report['backend']}.json"
    markdown.write_text(to_markdown(report))
    data.write_text(json.dumps(report, indent=1) + "\n")
    return markdown, data


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-deconv bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--quick", action="store_true",
                        help="tiny cases, 2 repeats, 1 warm-up, small sgemm (a smoke test)")
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="only these cases (by name)")
    parser.add_argument("--paths", action="store_true", help="also time every forced keras_deconv path")
    parser.add_argument("--no-xla", dest="xla", action="store_false",
                        help="tensorflow: skip the jit_compile=True row")
    parser.add_argument("--memory", action="store_true",
                        help="also measure peak forward+backward memory vs torch (subprocesses)")
    parser.add_argument("--threads", type=int,
                        help="torch threads (default: every core this process may use)")
    parser.add_argument("--output", type=Path, help="folder for <backend>.md and <backend>.json")
    parser.add_argument("--markdown-all", action="store_true",
                        help="merge every <backend>.json in --output into README.md there, and stop")
    parser.add_argument("--readme", type=Path,
                        help="with --markdown-all: also rewrite the benchmark section of this README")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the suite on ``KERAS_BACKEND``, print the markdown table; returns an exit status."""
    args = _parser().parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(json.loads(args.memory_probe))))
        return 0
    if args.markdown_all:
        if args.output is None:
            raise ValueError("`--markdown-all` needs `--output FOLDER`. Received: output=None")
        (args.output / "README.md").write_text(merge_markdown(args.output))
        print(f"wrote {args.output / 'README.md'}")
        if args.readme is not None:
            reports = [json.loads(p.read_text()) for p in sorted(args.output.glob("*.json"))]
            args.readme.write_text(replace_readme_section(args.readme.read_text(),
                                                          summary_markdown(reports)))
            print(f"updated the benchmark section of {args.readme}")
        return 0
    cases = QUICK_CASES if args.quick else CASES
    if args.cases:
        known = {c.name: c for c in CASES + QUICK_CASES}
        unknown = [n for n in args.cases if n not in known]
        if unknown:
            raise ValueError(f"Unknown case names {unknown}; known: {sorted(known)}. "
                             f"Received: cases={args.cases}")
        cases = tuple(known[n] for n in args.cases)
    repeats, warmup = args.repeats, args.warmup
    if repeats < 1 or warmup < 0:
        raise ValueError(f"`repeats` must be >= 1 and `warmup` >= 0. "
                         f"Received: repeats={repeats}, warmup={warmup}")
    if args.quick:
        repeats, warmup = min(repeats, 2), min(warmup, 1)

    import keras

    report = run_suite(keras.backend.backend(), cases, repeats, warmup, paths=args.paths, xla=args.xla,
                       memory=args.memory, sgemm_size=256 if args.quick else 2048, threads=args.threads,
                       log=lambda text: print(text, file=sys.stderr, flush=True))
    print(to_markdown(report))
    if args.output is not None:
        for path in write_results(report, args.output):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
