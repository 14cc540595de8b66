"""Peak memory of forward+backward, each measured in a fresh subprocess.

Method: a child process builds the inputs and the function, runs it twice
(compilation and warm-up), then three times: before each, it resets the
kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``); the result is
the largest ``VmHWM`` minus the ``VmRSS`` just before that run. ``glibc``'s
mmap threshold is pinned (``MALLOC_MMAP_THRESHOLD_``) so that freed buffers go
back to the system instead of being silently reused. It counts the memory a
run adds on top of its inputs (outputs, gradients, temporaries). Limits: it
counts pages, not bytes; small buffers below the threshold come from the heap
and may reuse memory freed earlier; Linux's RSS counters are approximate to a
few pages per core; buffers freed asynchronously (jax) may or may not overlap
the next run; allocators other than glibc's malloc are not pinned. Where
``clear_refs`` is not writable the fallback is ``ru_maxrss`` minus the RSS
after imports and inputs, which then includes compilation memory (the
"method" field says which one was used).

TensorFlow with oneDNN is the exception: its CPU allocator (oneDNN's) keeps
freed buffers in its own pool, so after the warm-up a run's growth in RSS is
close to zero (the suite read 0.00-0.26x of torch before 2026-11-24). Its
rows read the allocator's own counters instead: the peak bytes in use
during the run (``tf.config.experimental.get_memory_info``, reset before
each run) minus the bytes in use before it. Those count tensor bytes, torch's
row counts pages; both count what a run adds on top of its inputs. Without
oneDNN (TF's default on CPUs without AVX-512) TF's allocator keeps no
statistics, allocates with malloc, and its rows take the RSS method.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from keras_deconv.cli.bench.cases import Case, case_inputs
from keras_deconv.cli.bench.timing import TORCH_ROWS, machine_threads, thunks_for

#: Smallest torch-native peak (MiB) from which a memory ratio is reported.
MEMORY_RESOLUTION_MIB = 1.0


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
    if spec["row"] in TORCH_ROWS:
        import torch

        torch.set_num_threads(machine_threads())
    forward_backward = thunks_for(spec["row"], spec["path"], case, spec["backend"],
                                  case_inputs(case)).forward_backward
    if forward_backward is None:
        raise RuntimeError(f"no gradients on the {spec['backend']} backend")
    rss_after_setup = _read_status_kib("VmRSS") or 0
    forward_backward()  # compilation
    forward_backward()  # warm-up: caches and thread pools settle
    if spec["backend"] == "tensorflow" and spec["row"] not in TORCH_ROWS and _tensorflow_counts_bytes():
        return _tensorflow_peak(forward_backward)
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


def _tensorflow_counts_bytes() -> bool:
    """Whether TF's CPU allocator keeps statistics: oneDNN's does, the default one does not.

    oneDNN is TF's default only on CPUs with AVX-512 and newer; elsewhere (an
    AVX2-only AMD EPYC, 2026-12-05) TF allocates with the C library's malloc,
    which the RSS method measures like torch's.
    """
    import tensorflow as tf

    try:
        tf.config.experimental.reset_memory_stats("CPU:0")
    except ValueError:  # "Cannot reset memory stats for device 'CPU:0'"
        return False
    return True


def _tensorflow_peak(forward_backward: Any) -> Dict[str, Any]:
    """TensorFlow's allocator counters: peak bytes in use during a run minus those before, max of 3."""
    import tensorflow as tf

    growth = []
    for _ in range(3):
        gc.collect()
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        forward_backward()
        growth.append(tf.config.experimental.get_memory_info("CPU:0")["peak"] - before)
    return {"mib": max(max(growth), 0) / 2**20,
            "method": "TF allocator: peak bytes in use minus bytes in use before the run, max of 3 runs"}


def measure_memory(row: str, path: str, case: Case, backend: str, timeout: float = 600) -> Dict[str, Any]:
    """Peak forward+backward memory of one row, in a fresh subprocess (``--memory-probe``)."""
    spec = {"row": row, "path": path, "backend": backend, "case": dataclasses.asdict(case)}
    env = dict(os.environ, KERAS_BACKEND=backend, MALLOC_MMAP_THRESHOLD_="131072",
               TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    command = [sys.executable, "-m", "keras_deconv.cli.bench", "--memory-probe", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"refused": f"probe failed (exit {done.returncode}): {tail[:200]}"}
    return json.loads(lines[-1])
