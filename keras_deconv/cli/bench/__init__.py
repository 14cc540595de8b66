"""``keras-deconv bench``: keras_deconv against Keras's own op and torch's native op.

One run measures, for the current ``KERAS_BACKEND`` and in the same process,
every case of ``cases.CASES`` (``--quick``: ``QUICK_CASES``):

- forward and forward+backward time (median of ``--repeats`` runs after
  warm-up, the rows interleaved round by round; rows far behind the fastest
  get fewer, ``timing.interleaved_medians``) of
  ``keras_deconv.ops.conv_transpose`` with ``path="auto"`` and with every
  forced path, of ``keras.ops.conv_transpose`` (recorded as "refused" with
  the reason where Keras cannot run a case), and of torch's
  ``F.conv_transposeNd`` (torch is imported whatever the backend). Forward+
  backward is the value and the gradients of ``sum(output**2)``, checked
  against the forward's output (``contenders``);
- ratios to the faster of torch's native op and Keras's own op;
- achieved GFLOP/s and the percentage of this machine's float32 sgemm rate,
  itself timed in the same run (a square ``torch.mm``, the same threads);
- the C allocator's settings: glibc keeps freed memory for reuse unless
  ``--system-malloc`` (``allocator``: otherwise each call of an op faults
  its large buffers in again, a cost of the machine rather than the algorithm);
- with ``--memory``, the peak memory of forward+backward relative to torch's
  native op, each measured in a fresh subprocess (``memory``).

Modules: ``cases`` (what is timed), ``contenders`` (the functions),
``timing``, ``allocator``, ``memory``, ``suite`` (one run), ``tables`` (markdown).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from keras_deconv.cli.bench.cases import CASES, QUICK_CASES, Case
from keras_deconv.cli.bench.timing import FAR_BEHIND, FEW_REPEATS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-deconv bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15,
                        help=f"timed runs per measurement (median); rows over {FAR_BEHIND:g}x the fastest "
                        f"get {FEW_REPEATS}")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--quick", action="store_true",
                        help="tiny cases, 2 repeats, 1 warm-up, small sgemm (a smoke test)")
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="only these cases (by name)")
    parser.add_argument("--no-xla", dest="xla", action="store_false",
                        help="tensorflow: skip the jit_compile=True row")
    parser.add_argument("--memory", action="store_true",
                        help="also measure peak forward+backward memory vs torch (subprocesses)")
    parser.add_argument("--system-malloc", dest="keep_memory", action="store_false",
                        help="keep the C allocator's defaults (by default glibc keeps freed memory "
                             "for reuse: see the allocator module)")
    parser.add_argument("--threads", type=int,
                        help="torch threads (default: every core this process may use)")
    parser.add_argument("--output", type=Path, help="folder for <backend>.md and <backend>.json")
    parser.add_argument("--markdown-all", action="store_true",
                        help="merge every <backend>.json in --output into README.md and summary.md "
                             "there, and stop")
    parser.add_argument("--readme", type=Path,
                        help="with --markdown-all: also rewrite the benchmark section of this README")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    return parser


def _cases(names: Optional[Sequence[str]], quick: bool) -> Sequence[Case]:
    if not names:
        return QUICK_CASES if quick else CASES
    known = {c.name: c for c in CASES + QUICK_CASES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"Unknown case names {unknown}; known: {sorted(known)}. Received: cases={names}")
    return tuple(known[n] for n in names)


def _markdown_all(output: Optional[Path], readme: Optional[Path]) -> int:
    from keras_deconv.cli.bench.tables import (
        merge_markdown,
        read_reports,
        replace_readme_section,
        summary_markdown,
    )

    if output is None:
        raise ValueError("`--markdown-all` needs `--output FOLDER`. Received: output=None")
    (output / "README.md").write_text(merge_markdown(output))
    print(f"wrote {output / 'README.md'}")
    summary = summary_markdown(read_reports(output))
    (output / "summary.md").write_text(summary)  # docs/benchmarks.md includes it
    print(f"wrote {output / 'summary.md'}")
    if readme is not None:
        readme.write_text(replace_readme_section(readme.read_text(), summary))
        print(f"updated the benchmark section of {readme}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the suite on ``KERAS_BACKEND``, print the markdown table; returns an exit status."""
    args = _parser().parse_args(argv)
    if args.memory_probe:
        from keras_deconv.cli.bench.memory import memory_probe

        print(json.dumps(memory_probe(json.loads(args.memory_probe))))
        return 0
    if args.markdown_all:
        return _markdown_all(args.output, args.readme)
    cases = _cases(args.cases, args.quick)
    repeats, warmup = args.repeats, args.warmup
    if repeats < 1 or warmup < 0:
        raise ValueError(f"`repeats` must be >= 1 and `warmup` >= 0. "
                         f"Received: repeats={repeats}, warmup={warmup}")
    if args.quick:
        repeats, warmup = min(repeats, 2), min(warmup, 1)
    from keras_deconv.cli.bench.allocator import describe, keep_freed_memory

    # Before any framework allocates: freed memory is then reused, not faulted in again.
    allocator = keep_freed_memory() if args.keep_memory else describe(kept=False)

    import keras

    from keras_deconv.cli.bench.suite import run_suite
    from keras_deconv.cli.bench.tables import to_markdown, write_results

    report = run_suite(keras.backend.backend(), cases, repeats, warmup, xla=args.xla, memory=args.memory,
                       sgemm_size=256 if args.quick else 2048, threads=args.threads, allocator=allocator,
                       log=lambda text: print(text, file=sys.stderr, flush=True))
    print(to_markdown(report))
    if args.output is not None:
        for path in write_results(report, args.output):
            print(f"wrote {path}", file=sys.stderr)
    return 0
