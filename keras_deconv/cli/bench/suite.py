"""One run of the suite on one backend: every case, every row, the ratios and the headline."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from keras_deconv._optional import require
from keras_deconv.cli.bench.cases import Case, case_inputs
from keras_deconv.cli.bench.contenders import JAX_COMPILATIONS
from keras_deconv.cli.bench.memory import MEMORY_RESOLUTION_MIB, measure_memory
from keras_deconv.cli.bench.tables import geometric_mean
from keras_deconv.cli.bench.timing import (
    FAR_BEHIND,
    FEW_REPEATS,
    KERAS_DECONV,
    KERAS_DECONV_CIRCULAR,
    ORDER_SEED,
    PHASES,
    TORCH_ROWS,
    baseline,
    machine_threads,
    rows,
    sgemm_gflops,
    time_case,
    time_ratio,
)


def _versions(backend: str) -> Dict[str, str]:
    import keras
    import numpy
    import torch

    import keras_deconv

    versions = {"python": platform.python_version(), "keras_deconv": keras_deconv.__version__,
                "keras": keras.__version__, "numpy": numpy.__version__, "torch": torch.__version__}
    if backend in ("jax", "tensorflow"):
        versions[backend] = __import__(backend).__version__
    if backend == "tensorflow":
        # TF's CPU kernels are oneDNN's or Eigen's (its default without AVX-512):
        # the graph is the same, the kernels' times differ.
        versions["oneDNN"] = "on" if onednn_enabled() else "off"
    return versions


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its CPU kernels through oneDNN (reported, never read by ``auto``).

    The x86 default with AVX-512; off with TF_ENABLE_ONEDNN_OPTS=0. A private
    module of TF's: False wherever it is missing.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return False


#: Environment variables that change how the frameworks compute (recorded where set).
TUNING_VARIABLES = ("XLA_FLAGS", "TF_XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS", "OMP_NUM_THREADS")


def tuning_environment() -> Dict[str, str]:
    """The ``TUNING_VARIABLES`` set in this process, as set: a run is repeated with them."""
    return {name: os.environ[name] for name in TUNING_VARIABLES if name in os.environ}


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


def case_entry(case: Case, backend: str, results: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """One case's results with its ratios: every row against the fastest of torch's two and Keras."""
    baselines = {phase: baseline(results, phase) for phase in PHASES}
    ratios = {row: {phase: time_ratio(results, row, baselines[phase] or "", phase) for phase in PHASES}
              for row in results if row not in TORCH_ROWS}
    return {"name": case.name, "description": case.describe(), "headline": case.headline,
            "kernel_equals_stride": case.kernel_size == case.strides and case.dilation_rate is None,
            "flops_forward": case.flops_forward, "baselines": baselines, "results": results,
            "ratios": ratios,
            "circular_vs_same": {phase: time_ratio(results, KERAS_DECONV_CIRCULAR, KERAS_DECONV, phase)
                                 for phase in PHASES}}


def _memory(case: Case, backend: str) -> Dict[str, Any]:
    """Peak memory of keras_deconv and of torch's op in both layouts; the ratio is to torch's smaller."""
    memory: Dict[str, Any] = {row: measure_memory(row, "", case, backend) for row in TORCH_ROWS}
    memory[KERAS_DECONV] = measure_memory(KERAS_DECONV, "auto", case, backend)
    mine = memory[KERAS_DECONV].get("mib")
    torch_peaks = [memory[row]["mib"] for row in TORCH_ROWS if memory[row].get("mib") is not None]
    base = min(torch_peaks) if torch_peaks else None
    # Below about a MiB the page-granular, approximate counters say nothing useful.
    measurable = mine is not None and base is not None and base >= MEMORY_RESOLUTION_MIB
    memory["ratio"] = mine / base if measurable else None  # type: ignore[operator]
    return memory


def summarise(report: Dict[str, Any]) -> None:
    """Add the headline (geometric means), the worst case and the kernel == stride sgemm rate."""
    cases = report["cases"]
    report["headline"] = {phase: geometric_mean([c["ratios"][KERAS_DECONV][phase] for c in cases
                                                 if c["headline"]]) for phase in PHASES}
    report["worst"] = {phase: max((c["ratios"][KERAS_DECONV][phase] for c in cases
                                   if c["ratios"][KERAS_DECONV][phase] is not None), default=None)
                       for phase in PHASES}
    rates = [max((c["results"][KERAS_DECONV][phase] or {}).get("sgemm_percent", 0.0) for phase in PHASES)
             for c in cases if c["kernel_equals_stride"]]
    report["kernel_equals_stride_sgemm_percent"] = min(rates) if rates else None


def run_suite(backend: str, cases: Sequence[Case], repeats: int, warmup: int, xla: bool = True,
              memory: bool = False, sgemm_size: int = 2048, threads: Optional[int] = None,
              allocator: str = "the C library's defaults",
              log: Callable[[str], None] = lambda text: None) -> Dict[str, Any]:
    """Measure every row on every case; returns the JSON-ready results.

    ``allocator`` is recorded as given: the C allocator's settings the caller made
    (``allocator.keep_freed_memory``).
    """
    torch = require("torch", "bench", "keras-deconv bench (torch's native op is its yardstick)")

    torch.set_num_threads(threads or machine_threads())
    sgemm = sgemm_gflops(sgemm_size, max(3, repeats))
    log(f"sgemm {sgemm_size}x{sgemm_size}: {sgemm['gflops']:.1f} GFLOP/s")
    timed = rows(backend, xla)
    compilations = JAX_COMPILATIONS if backend == "jax" else 1
    report: Dict[str, Any] = {
        "backend": backend,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "versions": _versions(backend), "repeats": repeats, "warmup": warmup,
        "far_behind": {"times": FAR_BEHIND, "repeats": min(repeats, FEW_REPEATS)}, "primed": True,
        "order": f"shuffled each round (seed {ORDER_SEED})", "compilations": compilations,
        "loss": "sum(output**2)", "sgemm": sgemm, "torch_threads": torch.get_num_threads(),
        "allocator": allocator, "environment": tuning_environment(), "cases": []}
    for case in cases:
        log(f"{case.name}: " + ", ".join(row for row, _ in timed))
        results = time_case(timed, case, backend, case_inputs(case), repeats, warmup, sgemm["gflops"],
                            compilations)
        entry = case_entry(case, backend, results)
        if memory and results[KERAS_DECONV]["forward_backward"].get("ms") is not None:
            log(f"{case.name}: peak memory (subprocesses)")
            entry["memory"] = _memory(case, backend)
        entry["case"] = dataclasses.asdict(case)
        report["cases"].append(entry)
    summarise(report)
    return report
