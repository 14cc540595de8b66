"""The benchmark suite runs on the current backend and reports well-formed results.

Timings are not checked (the machine is shared); only the structure, the
arithmetic of the derived numbers (GFLOP/s, ratios, geometric mean), the
check that forward+backward computes the forward, and the files written.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from keras_deconv.cli import bench
from keras_deconv.cli.bench import allocator, contenders, memory, suite, tables, timing
from keras_deconv.cli.bench.cases import CASES, QUICK_CASES, Case

BACKEND = keras.backend.backend()

TINY = Case("tiny_2d_k2s2", (1, 4, 4, 4), 2, (2, 2), (2, 2), headline=True)
TINY_GROUPED = Case("tiny_1d_g2", (1, 8, 4), 4, (3,), (2,), groups=2, headline=True)


def test_flops_follow_the_formula():
    # 2 * batch * prod(spatial) * prod(kernel) * in_channels * filters / groups
    assert TINY.flops_forward == 2 * 1 * 16 * 4 * 4 * 2
    assert TINY_GROUPED.flops_forward == 2 * 1 * 8 * 3 * 4 * 4 // 2
    assert CASES[0].flops_forward == 2 * 2 * 16**3 * 8 * 64 * 32  # 0.27 GFLOP, as in issue 3
    assert sum(case.headline for case in CASES) == 4


@pytest.mark.parametrize("case", CASES + (TINY, TINY_GROUPED), ids=lambda c: c.name)
def test_torch_padding_gives_the_same_output_length(case):
    padding, output_padding = contenders.torch_padding(case)
    for n, k, s, d, p, q in zip(case.input_shape[1:-1], case.kernel_size, case.strides, case.dilation,
                                padding, output_padding, strict=True):
        assert (n - 1) * s - 2 * p + d * (k - 1) + q + 1 == n * s
        assert 0 <= q < max(s, d)  # torch's own rule for output_padding


@pytest.mark.parametrize("case", [TINY, TINY_GROUPED, *[c for c in QUICK_CASES if c.channels_first][:1]],
                         ids=lambda c: c.name)
def test_torch_rows_take_their_memory_layout_and_agree(case):
    torch = pytest.importorskip("torch")
    arrays = bench.cases.case_inputs(case)
    seen = []
    real = torch.nn.functional.conv_transpose2d if case.rank == 2 else torch.nn.functional.conv_transpose1d

    def spy(x, *args, **kwargs):
        seen.append(x)
        return real(x, *args, **kwargs)

    name = real.__name__
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.nn.functional, name, spy)
        first = contenders.torch_native_thunks(case, arrays)
        last = contenders.torch_native_thunks(case, arrays, channels_last=True)
        np.testing.assert_allclose(last.output(), first.output(), rtol=1e-5, atol=1e-5)
        loss = first.forward_backward()
        assert last.forward_backward() == pytest.approx(loss, rel=1e-5)
    # Calls: each row's shape check, the two outputs, first's then last's forward+backward.
    assert len(seen) == 6 and seen[0].is_contiguous() and seen[4].is_contiguous()
    for held in (seen[1], seen[5]):  # the channels_last row, forward and forward+backward
        if case.rank == 2:
            assert held.is_contiguous(memory_format=torch.channels_last) and not held.is_contiguous()
        else:  # 1D has no channels_last format: the permuted view goes in as it is
            assert held.stride()[1] == 1 and not held.is_contiguous()


def test_torch_cell_is_the_faster_layout():
    results = {"torch": {"forward": {"ms": 3.0}}, "torch channels_last": {"forward": {"ms": 2.0}}}
    assert tables._torch_cell(results, "forward") == "2.00 (cl)"
    results["torch channels_last"]["forward"]["ms"] = 4.0
    assert tables._torch_cell(results, "forward") == "3.00"
    # Reports from before the channels_last row still render.
    assert tables._torch_cell({"torch": {"forward": {"ms": 1.5}}}, "forward") == "1.50"


def test_geometric_mean():
    assert tables.geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert tables.geometric_mean([None, 3.0]) == pytest.approx(3.0)
    assert tables.geometric_mean([]) is None


# torch's native op is the suite's yardstick; the numpy environment has no torch.
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")


@pytest.fixture(scope="module")
def report():
    return suite.run_suite(BACKEND, (TINY, TINY_GROUPED), repeats=1, warmup=0, sgemm_size=64)


def _timings(result):
    return [result[phase] for phase in ("forward", "forward_backward") if "ms" in result.get(phase, {})]


@needs_torch
def test_report_structure(report):
    assert report["backend"] == BACKEND
    assert report["sgemm"]["gflops"] > 0
    assert report["machine"]["cores"] >= 1
    assert "keras" in report["versions"] and "torch" in report["versions"]
    if BACKEND == "tensorflow":
        # TF's kernels are oneDNN's or Eigen's: reported with the run.
        from keras_deconv.cli.bench.suite import onednn_enabled

        assert report["versions"]["oneDNN"] == ("on" if onednn_enabled() else "off")
    else:
        assert "oneDNN" not in report["versions"]
    assert [case["name"] for case in report["cases"]] == [TINY.name, TINY_GROUPED.name]
    for case in report["cases"]:
        results = case["results"]
        for row in ("torch", "torch channels_last", "keras_deconv", "keras_deconv[matmul]",
                    "keras_deconv[phase]", "keras"):
            assert row in results
        # torch's native op (both memory layouts) and keras_deconv's default path run every case,
        # forward and backward (except the numpy backend, which has no gradients).
        assert len(_timings(results["torch"])) == 2, results["torch"]
        assert len(_timings(results["torch channels_last"])) == 2, results["torch channels_last"]
        mine = results["keras_deconv"]
        assert len(_timings(mine)) == (1 if BACKEND == "numpy" else 2), mine
        for result in results.values():
            for measured in _timings(result):
                assert measured["ms"] > 0 and measured["gflops"] > 0
                assert measured["sgemm_percent"] == pytest.approx(
                    100 * measured["gflops"] / report["sgemm"]["gflops"])
            if "ms" in result["forward"]:
                flops = case["flops_forward"]
                assert result["forward"]["gflops"] == pytest.approx(flops / result["forward"]["ms"] / 1e6)
        # Ratios are to the fastest of torch's native op, in either memory layout, and Keras's
        # own op (where it ran).
        for phase in ("forward", "forward_backward"):
            ratio = case["ratios"]["keras_deconv"][phase]
            timed = {row: results[row][phase]["ms"] for row in ("torch", "torch channels_last", "keras")
                     if "ms" in (results[row].get(phase) or {})}
            if "ms" not in (results["keras_deconv"].get(phase) or {}):
                assert BACKEND == "numpy" and phase == "forward_backward"
                continue
            assert ratio == pytest.approx(results["keras_deconv"][phase]["ms"] / min(timed.values()))
            assert case["baselines"][phase] == min(timed, key=timed.get)


@needs_torch
def test_keras_refuses_groups_with_a_reason(report):
    grouped = report["cases"][1]["results"]["keras"]
    assert "groups" in grouped["forward"]["refused"]
    assert "groups" in grouped["forward_backward"]["refused"]
    assert report["cases"][1]["ratios"]["keras"]["forward"] is None


@needs_torch
def test_headline_is_the_geometric_mean(report):
    for phase in ("forward", "forward_backward"):
        ratios = [case["ratios"]["keras_deconv"][phase] for case in report["cases"]]
        if None in ratios:
            assert BACKEND == "numpy" and phase == "forward_backward", report["cases"]
            continue
        expected = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        assert report["headline"][phase] == pytest.approx(expected)


@needs_torch
def test_markdown_and_json_written(report, tmp_path):
    markdown, data = tables.write_results(report, tmp_path / "results")
    text = markdown.read_text()
    assert f"## Backend: {BACKEND}" in text
    assert TINY.name in text and TINY_GROUPED.name in text and "refused" in text
    assert report["machine"]["cpu"] in text
    assert f"Allocator: {report['allocator']}." in text
    assert json.loads(data.read_text())["headline"] == report["headline"]
    merged = tables.merge_markdown(tmp_path / "results")
    assert merged.startswith("# Benchmarks") and f"## Backend: {BACKEND}" in merged


@needs_torch
def test_headers_name_the_torch_layouts_a_report_timed(report):
    both = "on channels_first or channels_last memory"
    assert tables.times_channels_last(report) and both in tables.to_markdown(report)
    assert both in tables.summary_markdown([report])
    # A report from before the channels_last row says what its yardstick was.
    old = {**report, "cases": [{**case, "results": {row: result for row, result in case["results"].items()
                                                    if row != "torch channels_last"}}
                               for case in report["cases"]]}
    assert not tables.times_channels_last(old)
    text = tables.to_markdown(old)
    assert both not in text and "on channels_first memory" in text and "(cl)" not in text
    assert both not in tables.summary_markdown([old, report])


def test_tuning_variables_are_recorded_and_shown(monkeypatch):
    # A run with XLA_FLAGS (or another framework setting) says so in its header.
    for name in suite.TUNING_VARIABLES:  # TF_ENABLE_ONEDNN_OPTS is set in one of nox's passes
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution")
    recorded = suite.tuning_environment()
    assert recorded["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
    assert "OMP_NUM_THREADS" not in recorded
    report = {"machine": {"cpu": "cpu", "cores": 2, "platform": "linux"}, "versions": {}, "backend": "jax",
              "torch_threads": 2, "date": "today", "repeats": 1, "warmup": 0,
              "sgemm": {"size": 8, "gflops": 1.0}, "allocator": "glibc",
              "headline": {"forward": 1.0, "forward_backward": 1.0},
              "worst": {"forward": 1.0, "forward_backward": 1.0}}
    assert not any(line.startswith("Environment") for line in tables._header(report))
    lines = tables._header({**report, "environment": recorded})
    assert "Environment: XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution." in lines


def test_header_says_how_many_runs_the_rows_far_behind_got():
    report = {"machine": {"cpu": "cpu", "cores": 2, "platform": "linux"}, "versions": {}, "backend": "jax",
              "torch_threads": 2, "date": "today", "repeats": 15, "warmup": 2,
              "sgemm": {"size": 8, "gflops": 1.0}, "allocator": "glibc",
              "headline": {"forward": 1.0, "forward_backward": 1.0},
              "worst": {"forward": 1.0, "forward_backward": 1.0}}
    old = "\n".join(tables._header(report))  # runs before the limit: no such words
    assert "median of 15 runs after 2 warm-up" in old
    new = "\n".join(tables._header({**report, "far_behind": {"times": 4.0, "repeats": 3}, "primed": True,
                                     "order": "shuffled each round (seed 0)"}))
    assert ("median of 15 runs (3 for rows over 4x the fastest of their case), each right after an untimed "
            "call of its own, the rows shuffled each round (seed 0) after 2 warm-up") in new
    jax_run = "\n".join(tables._header({**report, "compilations": 3}))
    assert ("median of 15 runs, the rounds shared in turn by 3 compilations of each row after 2 warm-up"
            in jax_run)
    assert "compilations" not in "\n".join(tables._header({**report, "compilations": 1}))


@needs_torch
def test_main_quick_writes_files(tmp_path, capsys):
    quick = QUICK_CASES[0].name
    # --system-malloc: glibc's settings would otherwise stay changed for the rest of this
    # test process (tests/test_large.py reads its peak memory from the RSS).
    assert bench.main(["--quick", "--cases", quick, "--output", str(tmp_path), "--no-xla",
                       "--system-malloc"]) == 0
    assert "Headline" in capsys.readouterr().out
    assert (tmp_path / f"{BACKEND}.md").exists() and (tmp_path / f"{BACKEND}.json").exists()
    written = json.loads((tmp_path / f"{BACKEND}.json").read_text())
    assert written["allocator"] == allocator.describe(kept=False)
    assert bench.main(["--markdown-all", "--output", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").read_text().count("## Backend:") == 1


@needs_torch
def test_readme_section_is_rewritten_from_the_reports(report, tmp_path):
    tables.write_results(report, tmp_path)
    readme = tmp_path / "README.md.in"
    readme.write_text(f"# Title\n\n{tables.README_START}\nstale\n{tables.README_END}\n\nMore.\n")
    assert bench.main(["--markdown-all", "--output", str(tmp_path), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "stale" not in text and text.startswith("# Title") and text.endswith("More.\n")
    section = text.split(tables.README_START)[1].split(tables.README_END)[0]
    assert section.strip() == (tmp_path / "summary.md").read_text().strip()  # docs/benchmarks.md's
    assert f"| case | {BACKEND} |" in section and TINY.name in section
    headline = report["headline"]
    assert f"**{tables._fmt(headline['forward'])} / {tables._fmt(headline['forward_backward'])}**" in section
    assert report["machine"]["cpu"] in section


_ALLOCATION_PROBE = textwrap.dedent("""
    import ctypes, json, threading
    from keras_deconv.cli.bench import allocator

    class Info(ctypes.Structure):  # glibc's struct mallinfo2
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Info
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def allocate_and_free():
        # A 64 MiB block: mmapped while alive? How much free memory does the heap hold after?
        block = libc.malloc(64 << 20)
        mapped = libc.mallinfo2().hblkhd
        libc.free(block)
        return mapped, libc.mallinfo2().fordblks

    def on_a_new_thread():
        # As XLA allocates: off the main thread, where glibc gives each thread an arena.
        result = []
        thread = threading.Thread(target=lambda: result.append(allocate_and_free()))
        thread.start()
        thread.join()
        return result[0]

    before = allocate_and_free()
    words = allocator.keep_freed_memory()
    print(json.dumps([words, before, allocate_and_free(), on_a_new_thread()]))
""")


@pytest.mark.skipif(allocator.glibc_version() is None, reason="glibc's allocator only")
def test_kept_freed_memory_is_reused_not_returned():
    # In a subprocess: the settings stay the process's for good.
    version = tuple(int(part) for part in allocator.glibc_version().split(".")[:2])
    if version < (2, 33):
        pytest.skip("mallinfo2 is glibc 2.33's")
    done = subprocess.run([sys.executable, "-c", _ALLOCATION_PROBE], capture_output=True, text=True,
                          timeout=60, check=True)
    words, (mapped_before, free_before), (mapped_after, free_after), (mapped_thread, free_thread) = (
        json.loads(done.stdout))
    block = 64 << 20
    # glibc's defaults: the block is mmapped, and freeing it hands it back to the system.
    assert mapped_before >= block and free_before < block
    # Kept: the block comes from the heap, and the heap keeps it once freed.
    assert mapped_after < block and free_after >= block
    # On another thread too (one arena: a thread's own could not hold the block and would mmap it).
    assert mapped_thread < block and free_thread >= block
    assert words == allocator.describe(kept=True, version=allocator.glibc_version())
    assert "1024 MiB" in words and "one arena" in words


def test_readme_without_markers_is_refused(tmp_path):
    with pytest.raises(ValueError, match="benchmark section"):
        tables.replace_readme_section("# no markers here\n", "table\n")


def test_interleaved_medians_time_every_thunk_in_rotating_rounds():
    calls = []
    runs = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    medians = timing.interleaved_medians(runs, repeats=3, warmup=1, pause=0, warmup_seconds=0,
                                         far_behind=None, primed=False, shuffled=False)
    assert sorted(medians) == ["a", "b", "c"] and all(m >= 0 for m in medians.values())
    assert calls[:3] == ["a", "b", "c"]  # warm-up
    assert calls[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # one of each per round
    calls.clear()
    timing.interleaved_medians(runs, repeats=2, warmup=1, pause=0, warmup_seconds=0, far_behind=None,
                               shuffled=False)
    # Primed (the default): each timed call right after an untimed call of its own.
    assert calls[3:] == ["a", "a", "b", "b", "c", "c", "b", "b", "c", "c", "a", "a"]


def test_each_compilation_is_warmed_up_and_the_rounds_take_them_in_turn():
    calls = []
    compiled = contenders.Compilations([lambda i=i: calls.append(i) for i in range(3)])
    timing.interleaved_medians({"row": compiled}, repeats=4, warmup=2, pause=0, warmup_seconds=0,
                               far_behind=None)
    assert calls[:4] == [0, 0, 1, 2]  # the first warmed up, each other called once
    del calls[:1]
    # Each round advances to the next compilation, primed by an untimed call of that same one.
    assert calls[3:] == [1, 1, 2, 2, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="at least one program"):
        contenders.Compilations([])


def test_every_compilations_loss_is_checked(monkeypatch):
    output = np.arange(6.0, dtype="float32").reshape(1, 6, 1)
    honest = contenders.Compilations([lambda: 55.0, lambda: 55.0])  # sum(output**2) = 55
    one_pruned = contenders.Compilations([lambda: 55.0, lambda: 0.0])
    for forward_backward, passes in ((honest, True), (one_pruned, False)):
        thunks = contenders.Thunks(lambda: output, forward_backward, lambda: output)
        monkeypatch.setattr(timing, "thunks_for", lambda *args, thunks=thunks: thunks)
        if passes:
            assert timing.prepare("row", "auto", TINY, BACKEND, ((), ()), 2)["forward_backward"] is honest
        else:
            with pytest.raises(AssertionError, match="does not compute the forward pass"):
                timing.prepare("row", "auto", TINY, BACKEND, ((), ()), 2)


@pytest.mark.skipif(BACKEND != "jax", reason="only JAX rows are compiled more than once")
def test_jax_rows_compile_each_program_afresh():
    import jax

    compiled = []
    listening = [True]

    def listen(event, duration, **kwargs):
        if listening[0] and event == "/jax/core/compile/backend_compile_duration":
            compiled.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        thunks = timing.thunks_for("keras_deconv", "auto", TINY, "jax", bench.cases.case_inputs(TINY), 3)
        expected = float(np.sum(thunks.output().astype("float64") ** 2))
        before = len(compiled)
        outputs = [np.asarray(program()) for program in contenders.programs(thunks.forward)]
        losses = [program() for program in contenders.programs(thunks.forward_backward)]
        # Three forwards (the first already compiled for output()) and three value-and-gradients,
        # each its own XLA compilation: jax.jit's cache did not hand back an earlier program.
        assert len(compiled) - before == 2 + 3
    finally:
        listening[0] = False
        unregister = getattr(jax.monitoring, "unregister_event_duration_listener", None)
        if unregister is not None:
            unregister(listen)
    for output in outputs:
        np.testing.assert_array_equal(output, thunks.output())
    assert losses == pytest.approx([expected] * 3, rel=1e-4)


def test_shuffled_rounds_run_every_thunk_once_in_orders_that_change():
    calls = []
    runs = {name: (lambda name=name: calls.append(name)) for name in "abcdef"}
    timing.interleaved_medians(runs, repeats=12, warmup=0, pause=0, far_behind=None, primed=False)
    rounds = [tuple(calls[i:i + 6]) for i in range(0, len(calls), 6)]
    assert len(rounds) == 12 and all(sorted(r) == list("abcdef") for r in rounds)
    predecessors = {r[r.index("d") - 1] for r in rounds if r.index("d") > 0}
    assert len(predecessors) > 1  # unlike a rotation, "d" follows different thunks
    calls.clear()
    timing.interleaved_medians(runs, repeats=12, warmup=0, pause=0, far_behind=None, primed=False)
    assert [tuple(calls[i:i + 6]) for i in range(0, len(calls), 6)] == rounds  # seeded: the same orders


def test_a_primed_call_keeps_a_spinning_neighbour_out_of_the_timing():
    # A thunk that leaves work running for 30 ms after it returns (as torch's OpenMP
    # workers spin) slows whatever starts during that time; the primer call absorbs it.
    # The slowdown is modelled with sleeps rather than a real thread, so the test does
    # not depend on how a loaded machine schedules threads.
    busy_until = [0.0]

    def spinner():
        busy_until[0] = time.perf_counter() + 0.03

    def victim():
        time.sleep(max(busy_until[0] - time.perf_counter(), 0.0) + 0.02)  # waits out the spin, then 20 ms

    runs = {"spinner": spinner, "victim": victim}
    primed = timing.interleaved_medians(runs, repeats=5, warmup=1, pause=0, warmup_seconds=0, far_behind=None,
                                        shuffled=False)
    unprimed = timing.interleaved_medians(runs, repeats=5, warmup=1, pause=0, warmup_seconds=0,
                                          far_behind=None, primed=False, shuffled=False)
    # Primed: its own 20 ms, the spin over during the primer. Unprimed, three of five
    # rounds start it right after the spinner (about 50 ms), so the median is one of them.
    assert primed["victim"] < 0.028 and unprimed["victim"] > 0.045


def test_rows_far_behind_the_fastest_get_the_first_few_rounds_only():
    calls = []

    def sleeper(name, seconds):
        def run():
            calls.append(name)
            time.sleep(seconds)
        return run

    runs = {"fast": sleeper("fast", 0.001), "near": sleeper("near", 0.002), "far": sleeper("far", 0.03)}
    medians = timing.interleaved_medians(runs, repeats=6, warmup=1, pause=0, warmup_seconds=0, far_behind=4.0,
                                         primed=False,
                                         shuffled=False)
    timed = calls[3:]  # after one warm-up call each
    assert timed.count("fast") == 6 and timed.count("near") == 6
    assert timed.count("far") == timing.FEW_REPEATS == 3
    assert "far" not in timed[3 * 3:]  # its rounds are the first ones, so each pairs with the others'
    assert medians["far"] > 4 * medians["fast"]
    calls.clear()
    timing.interleaved_medians(runs, repeats=6, warmup=1, pause=0, warmup_seconds=0, far_behind=None,
                               primed=False)
    assert calls[3:].count("far") == 6  # no limit: every round
    calls.clear()
    timing.interleaved_medians(runs, repeats=6, warmup=0, pause=0, far_behind=4.0)
    assert calls.count("far") == 12  # without a warm-up nothing is known: every round, primed


def test_warm_up_lasts_long_enough_and_calls_enough():
    calls = []
    fastest = timing.warm_up(lambda: calls.append(1), calls=3, seconds=0)
    assert len(calls) == 3 and 0 <= fastest < 0.05
    assert timing.warm_up(lambda: time.sleep(0.01), calls=2, seconds=0) >= 0.01
    start = time.perf_counter()
    timing.warm_up(lambda: calls.append(1), calls=1, seconds=0.05)
    assert time.perf_counter() - start >= 0.05 and len(calls) > 4
    # No warm-up asked: none done.
    assert timing.warm_up(lambda: calls.append(1), calls=0, seconds=1.0) is None
    assert time.perf_counter() - start < 0.5


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="repeats"):
        bench.main(["--repeats", "0"])
    with pytest.raises(ValueError, match="nonexistent"):
        bench.main(["--cases", "nonexistent"])


@needs_torch
@pytest.mark.skipif(BACKEND == "numpy", reason="the numpy backend has no gradients")
def test_memory_probe_of_torch_native_sees_the_output():
    case = Case("probe_2d", (2, 64, 64, 16), 16, (2, 2), (2, 2))
    measured = memory.measure_memory("torch", "", case, BACKEND)
    assert "mib" in measured, measured
    output_mib = 4 * 2 * 128 * 128 * 16 / 2**20  # the float32 output alone: 2 MiB
    assert measured["mib"] >= 0.9 * output_mib


@pytest.mark.skipif(BACKEND == "numpy", reason="the numpy backend has no gradients")
def test_memory_probe_of_keras_deconv_sees_the_output():
    # On TensorFlow the RSS method read ~0 (its allocator pools freed buffers):
    # the probe reads TF's allocator counters there; an output of 2 MiB must show.
    case = Case("probe_2d", (2, 64, 64, 16), 16, (2, 2), (2, 2))
    measured = memory.measure_memory("keras_deconv", "auto", case, BACKEND)
    assert "mib" in measured, measured
    output_mib = 4 * 2 * 128 * 128 * 16 / 2**20
    assert measured["mib"] >= 0.9 * output_mib, measured


def test_forward_backward_that_skips_the_forward_is_caught():
    output = np.arange(6.0, dtype="float32").reshape(1, 6, 1)
    thunks = contenders.Thunks(lambda: output, None, lambda: output)
    contenders.check_loss(thunks, 55.0, "honest")  # sum(output**2) = 55
    with pytest.raises(AssertionError, match="does not compute the forward pass"):
        contenders.check_loss(thunks, 0.0, "pruned")  # what a gradient-only program returned


def _every_contender(case):
    """``(row, thunks)`` of every contender the suite times on this backend."""
    arrays = bench.cases.case_inputs(case)
    for row, path in timing.rows(BACKEND, xla=False):
        yield row, timing.thunks_for(row, path, case, BACKEND, arrays)


@needs_torch
@pytest.mark.skipif(BACKEND == "numpy", reason="the numpy backend has no gradients")
def test_every_contender_returns_the_forwards_loss():
    for row, thunks in _every_contender(TINY):
        expected = float(np.sum(thunks.output().astype("float64") ** 2))
        assert thunks.forward_backward() == pytest.approx(expected, rel=1e-4), row


@needs_torch
@pytest.mark.skipif(BACKEND == "numpy", reason="numpy's forward is a NumPy array")
def test_every_forward_thunk_returns_the_backends_own_output():
    # Not converted to NumPy: TensorFlow's .numpy() copies the output (10.5 ms
    # for 134 MB), a cost torch's and JAX's forward timings do not carry.
    for row, thunks in _every_contender(TINY):
        result = thunks.forward()
        assert not isinstance(result, np.ndarray), row
        np.testing.assert_allclose(np.asarray(result), thunks.output(), rtol=1e-6, err_msg=row)


def test_without_torch_bench_names_the_extra(monkeypatch, capsys):
    from keras_deconv import cli

    real_find_spec = cli.find_spec
    monkeypatch.setattr(cli, "find_spec", lambda name: None if name == "torch" else real_find_spec(name))
    assert cli.main(["bench", "--quick"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == "error: keras-deconv bench needs torch (its yardstick): pip install 'keras-deconv[bench]'"
