"""Timing: warm-up, interleaved medians, the sgemm yardstick, and one case's rows."""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from keras_deconv.cli.bench import contenders
from keras_deconv.cli.bench.cases import Case

#: Row names as they appear in the results.
KERAS_DECONV = "keras_deconv"
KERAS_DECONV_XLA = "keras_deconv+xla"
#: keras_deconv with padding="circular" (same output length as 'same'), timed beside 'same'.
KERAS_DECONV_CIRCULAR = "keras_deconv circular"
KERAS_BUILTIN = "keras"
TORCH_NATIVE = "torch"
#: Torch's op on channels_last memory (a permuted channels_last array): its CPU
#: kernels ran it faster than on contiguous channels_first tensors (forward
#: 1.07-5.4x on an AMD EPYC VM, 2.4-9x on an Intel Xeon), so the yardstick is
#: the faster of the two (docs/benchmarks.md).
TORCH_CHANNELS_LAST = "torch channels_last"
TORCH_ROWS = (TORCH_NATIVE, TORCH_CHANNELS_LAST)
PHASES = ("forward", "forward_backward")

#: Each thunk warms up for at least this long (and at least ``warmup`` calls): a
#: process's first heavy calls run slower for a while (page faults on fresh
#: buffers until glibc's mmap threshold adapts, thread pools spinning up), and
#: two calls were not always enough to get past that.
WARMUP_SECONDS = 0.5

#: The seed of each run's order of the rows within a round (``interleaved_medians``).
ORDER_SEED = 0

#: A row this many times slower than the fastest row of its case and phase
#: (fastest warm-up calls) is timed in ``FEW_REPEATS`` rounds only: the other
#: rows get every round (``interleaved_medians``).
FAR_BEHIND = 4.0
FEW_REPEATS = 3


def warm_up(run: Callable[[], Any], calls: int, seconds: float = WARMUP_SECONDS) -> Optional[float]:
    """Call ``run()`` at least ``calls`` times and for at least ``seconds`` (if ``calls`` > 0).

    Returns the fastest call's seconds (None where no warm-up was asked).

    >>> warm_up(lambda: None, calls=2, seconds=0) >= 0
    True
    """
    if calls <= 0:
        return None
    start, done, fastest = time.perf_counter(), 0, float("inf")
    while done < calls or time.perf_counter() - start < seconds:
        before = time.perf_counter()
        run()
        fastest = min(fastest, time.perf_counter() - before)
        done += 1
    return fastest


def _warm_up_each(run: Callable[[], Any], calls: int, seconds: float) -> Optional[float]:
    """``warm_up`` the first compiled program behind ``run``, then call each other one once.

    Returns the fastest call of any (None where no warm-up was asked). The
    process has settled after the first program's warm-up; a call of each
    other one compiles it where that is still to do and touches its buffers,
    without tripling the warm-up of the slowest rows (Keras's op on the large
    3D volume takes 13-21 s a call on JAX).
    """
    first, *others = contenders.programs(run)
    fastest = [warm_up(first, calls, seconds)] + [warm_up(program, min(calls, 1), 0) for program in others]
    known = [call for call in fastest if call is not None]
    return min(known) if known else None


def interleaved_medians(runs: Dict[str, Callable[[], Any]], repeats: int, warmup: int,
                        pause: float = 0.005, warmup_seconds: float = WARMUP_SECONDS,
                        far_behind: Optional[float] = FAR_BEHIND, primed: bool = True,
                        shuffled: bool = True) -> Dict[str, float]:
    """Median seconds of each thunk, timed in rounds that run every thunk once.

    Interleaving makes the ratios fair under a changing machine load: a busy
    second slows every implementation alike instead of whichever was being
    timed then. Each round runs them in its own random order (seeded:
    ``ORDER_SEED``; ``shuffled=False``: the order rotates by one each round),
    with a short pause between thunks. Whatever a thunk leaves behind (a
    spinning thread, a cold cache) then falls on different thunks from round
    to round, and the median drops it, where a rotation gave every thunk the
    same predecessor in almost every round: on 3d_unet_k2s2 (JAX) the row
    after Keras's op read 2.55 ms forward against 1.96 for the same program
    elsewhere in the round; shuffled, in four runs on it and on
    1d_audio_k16s8, the two read within 8% of each other.

    ``primed``: each timed call comes right after an untimed call of the same
    thunk, as in a loop that calls one op again and again, rather than after
    whatever thunk preceded it in the round. Torch's OpenMP workers (libgomp)
    keep spinning for 7.3-11.5 ms of CPU time after each of its ops returns,
    whatever the pause (10 ms to 0.3 s; JAX's and TensorFlow's pools: 0.0-0.2
    ms). On 2 cores that spin took half the machine from the next thunk: in
    the suite's rotation the row after torch's (``keras_deconv``'s own, once
    Keras's op had dropped out) read 4.5-5.8 ms against 3.5-4.3 for the same
    compiled program timed last in the round (1d_audio_k16s8,
    forward+backward, six runs); alike with ``GOMP_SPINCOUNT=0`` (which
    slowed torch itself), and alike primed (3.3-4.0 against 3.5-3.8, four runs).

    A ``contenders.Compilations`` thunk has its first compiled program warmed
    up and each other one called once (``_warm_up_each``), and the rounds go
    to them in turn.

    A thunk whose fastest warm-up call took over ``far_behind`` times the
    fastest thunk's (None: no such limit) is timed in the first ``FEW_REPEATS`` rounds only: its
    ratio is nowhere near any threshold, and the slowest rows (Keras's op on
    3D, up to 24 s a call) would otherwise take most of the run's time.

    >>> sorted(interleaved_medians({"a": lambda: None, "b": lambda: None}, 3, 1))
    ['a', 'b']
    """
    names = list(runs)
    fastest_calls = {name: _warm_up_each(runs[name], warmup, warmup_seconds) for name in names}
    rounds = {name: max(1, repeats) for name in names}
    known = [seconds for seconds in fastest_calls.values() if seconds is not None]
    if known and far_behind is not None:
        for name, seconds in fastest_calls.items():
            if seconds is not None and seconds > far_behind * min(known):
                rounds[name] = min(rounds[name], FEW_REPEATS)
    times: Dict[str, List[float]] = {name: [] for name in names}
    order = random.Random(ORDER_SEED)
    for round_index in range(max(1, repeats)):
        if shuffled:
            rounds_order = order.sample(names, len(names))
        else:
            shift = round_index % max(1, len(names))
            rounds_order = names[shift:] + names[:shift]
        for name in rounds_order:
            if len(times[name]) >= rounds[name]:
                continue
            run = runs[name]
            if isinstance(run, contenders.Compilations):
                run.advance()  # each round the next compilation: the median pools them all
            if pause:
                time.sleep(pause)
            if primed:
                runs[name]()  # untimed: the timed call follows a call of its own (see the doc)
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def median_seconds(run: Callable[[], Any], repeats: int, warmup: int) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls after warming up (see ``warm_up``).

    >>> median_seconds(lambda: sum(range(100)), repeats=3, warmup=1) > 0
    True
    """
    return interleaved_medians({"run": run}, repeats, warmup, pause=0, primed=False)["run"]


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


def rows(backend: str, xla: bool) -> List[Tuple[str, str]]:
    """``(row name, keras_deconv path)`` of every contender timed on ``backend``."""
    from keras_deconv._paths import PATHS

    timed = [(TORCH_NATIVE, ""), (TORCH_CHANNELS_LAST, ""), (KERAS_BUILTIN, ""), (KERAS_DECONV, "auto")]
    if xla and backend in ("tensorflow",):  # TF runs without XLA unless asked: both are timed
        timed.append((KERAS_DECONV_XLA, "auto"))
    timed += [(f"{KERAS_DECONV}[{name}]", name) for name in PATHS]
    timed.append((KERAS_DECONV_CIRCULAR, "auto"))
    return timed


def thunks_for(row: str, path: str, case: Case, backend: str, arrays: Tuple[Any, Any],
               compilations: int = 1) -> contenders.Thunks:
    """The thunks of one row on one case (``compilations``: see ``contenders.backend_thunks``)."""
    if row in TORCH_ROWS:
        return contenders.torch_native_thunks(case, arrays, channels_last=row == TORCH_CHANNELS_LAST)
    if row == KERAS_BUILTIN:
        return contenders.backend_thunks(backend, contenders.keras_builtin_op(case), arrays,
                                         compilations=compilations)
    padding = "circular" if row == KERAS_DECONV_CIRCULAR else "same"
    op = contenders.keras_deconv_op(case, path, padding)
    return contenders.backend_thunks(backend, op, arrays, xla=row == KERAS_DECONV_XLA,
                                     compilations=compilations)


def refusal(error: BaseException) -> str:
    """The error in one line (tf.function's errors start with a traceback: keep their last line)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = (lines[-1] if lines[0] == "in user code:" else lines[0]) if lines else ""
    return f"{type(error).__name__}: {text[:200]}"


def prepare(row: str, path: str, case: Case, backend: str, arrays: Tuple[Any, Any],
            compilations: int = 1) -> Dict[str, Any]:
    """Compile one row, run each phase once and check its loss (``contenders.check_loss``).

    With several ``compilations`` (JAX), each compiled program's loss is checked.

    Returns ``{phase: thunk or {"refused": reason}}``; a refusal reason is the
    first line of the error the contender raised (or says the backend has no
    gradients). A loss that is not the forward's reduction raises.
    """
    try:
        thunks = thunks_for(row, path, case, backend, arrays, compilations)
        thunks.forward()  # the first call compiles, and raises where the case is refused
    except Exception as error:  # noqa: BLE001 - any refusal is a result to report
        reason = {"refused": refusal(error)}
        return {"forward": reason, "forward_backward": reason}
    ready: Dict[str, Any] = {"forward": thunks.forward}
    if thunks.forward_backward is None:
        ready["forward_backward"] = {"refused": f"the {backend} backend has no gradients"}
        return ready
    try:
        losses = [program() for program in contenders.programs(thunks.forward_backward)]  # each compiles
    except Exception as error:  # noqa: BLE001
        ready["forward_backward"] = {"refused": refusal(error)}
        return ready
    for loss in losses:
        contenders.check_loss(thunks, loss, f"{row} on {case.name}")
    ready["forward_backward"] = thunks.forward_backward
    return ready


def _rate(seconds: float, flops: int, sgemm: float) -> Dict[str, float]:
    gflops = flops / seconds / 1e9
    return {"ms": seconds * 1e3, "gflops": gflops, "sgemm_percent": 100 * gflops / sgemm}


def time_case(timed: Sequence[Tuple[str, str]], case: Case, backend: str, arrays: Tuple[Any, Any],
              repeats: int, warmup: int, sgemm: float, compilations: int = 1) -> Dict[str, Dict[str, Any]]:
    """Forward and forward+backward timings of every row on one case, interleaved.

    Returns ``{row: {"forward": {...}, "forward_backward": {...}}}`` with ms,
    GFLOP/s and % of sgemm, or ``{"refused": reason}`` for a phase the row
    cannot run. Forward+backward counts three times the forward's FLOPs.
    ``compilations``: how many times each JAX row is compiled (``contenders.Compilations``).
    """
    ready = {row: prepare(row, path, case, backend, arrays, compilations) for row, path in timed}
    results: Dict[str, Dict[str, Any]] = {row: {} for row, _ in timed}
    for phase, flops in zip(PHASES, (case.flops_forward, 3 * case.flops_forward)):
        runnable = {row: thunks[phase] for row, thunks in ready.items() if callable(thunks[phase])}
        medians = interleaved_medians(runnable, repeats, warmup)
        for row, thunks in ready.items():
            results[row][phase] = _rate(medians[row], flops, sgemm) if row in medians else thunks[phase]
    return results


def time_ratio(results: Dict[str, Dict[str, Any]], row: str, base: str, phase: str) -> Optional[float]:
    """``row``'s time over ``base``'s in one phase, None where either was refused or not run."""
    mine, other = results.get(row, {}).get(phase) or {}, results.get(base, {}).get(phase) or {}
    return mine["ms"] / other["ms"] if "ms" in mine and "ms" in other else None


def fastest_row(results: Dict[str, Dict[str, Any]], phase: str, candidates: Sequence[str]) -> Optional[str]:
    """The candidate row with the shortest time in ``phase``, among those that ran it (None: none did).

    >>> fastest_row({"a": {"forward": {"ms": 2.0}}, "b": {"forward": {"refused": "no"}}},
    ...             "forward", ("a", "b"))
    'a'
    """
    timed = [row for row in candidates if "ms" in ((results.get(row) or {}).get(phase) or {})]
    return min(timed, key=lambda row: results[row][phase]["ms"]) if timed else None


def baseline(results: Dict[str, Dict[str, Any]], phase: str) -> Optional[str]:
    """The fastest of torch's native op (either memory layout) and Keras's own op in ``phase``.

    Keras counts only where it ran.
    """
    return fastest_row(results, phase, (*TORCH_ROWS, KERAS_BUILTIN))
