"""The results as markdown: one backend's report, every backend's, and the README's summary."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from keras_deconv.cli.bench.timing import (
    KERAS_BUILTIN,
    KERAS_DECONV,
    PHASES,
    TORCH_CHANNELS_LAST,
    TORCH_NATIVE,
    TORCH_ROWS,
    fastest_row,
)

#: The README's benchmark section lies between these two lines.
README_START = "<!-- benchmark table: written by `nox -s bench`, do not edit by hand -->"
README_END = "<!-- end of benchmark table -->"


def geometric_mean(values: Sequence[Optional[float]]) -> Optional[float]:
    """Geometric mean of the values that are not None, or None.

    >>> round(geometric_mean([1.0, 4.0, None]), 6)
    2.0
    """
    present = [v for v in values if v is not None]
    if not present:
        return None
    return math.exp(sum(math.log(v) for v in present) / len(present))


def _cell(measure: Optional[Dict[str, Any]], ratio: Optional[float] = None) -> str:
    if not measure:
        return "-"
    if "refused" in measure:
        return "refused"
    text = f"{measure['ms']:.2f}"
    return text if ratio is None else f"{text} ({ratio:.2f}x)"


def _torch_cell(results: Dict[str, Any], phase: str) -> str:
    """Torch's faster time in ``phase`` of its two memory layouts, marked "(cl)" where channels_last won.

    Reports from before the channels_last row have the channels_first one alone.
    """
    fastest = fastest_row(results, phase, TORCH_ROWS)
    if fastest is None:
        return _cell((results.get(TORCH_NATIVE) or {}).get(phase))
    return _cell(results[fastest][phase]) + (" (cl)" if fastest == TORCH_CHANNELS_LAST else "")


def times_channels_last(report: Dict[str, Any]) -> bool:
    """Whether ``report`` timed torch's op on channels_last memory (none before 2026-12-02 did)."""
    return any(TORCH_CHANNELS_LAST in case["results"] for case in report.get("cases", ()))


def _fmt(value: Optional[float], suffix: str = "x") -> str:
    return "-" if value is None else f"{value:.2f}{suffix}"


def _mib(measure: Dict[str, Any]) -> str:
    return f"{measure['mib']:.1f}" if "mib" in measure else str(measure.get("refused"))


def _environment(report: Dict[str, Any]) -> List[str]:
    """The header's line for the tuning variables the run had set (none: no line)."""
    variables = report.get("environment") or {}
    if not variables:
        return []
    return ["Environment: " + "; ".join(f"{name}={value}" for name, value in variables.items()) + "."]


def _few(report: Dict[str, Any]) -> str:
    """How many runs the rows far behind got, where the report says (runs since 2026-12-04)."""
    few = report.get("far_behind")
    if not few:
        return ""
    return f" ({few['repeats']} for rows over {few['times']:g}x the fastest of their case)"


def _primed(report: Dict[str, Any]) -> str:
    """Whether each timed call followed an untimed call of its own (runs since 2026-12-04)."""
    words = ", each right after an untimed call of its own" if report.get("primed") else ""
    return words + (f", the rows {report['order']}" if report.get("order") else "")


def _compilations(report: Dict[str, Any]) -> str:
    """How many compilations of each row the rounds went to in turn (JAX runs since 2026-12-05)."""
    count = report.get("compilations") or 1
    return f", the rounds shared in turn by {count} compilations of each row" if count > 1 else ""


def _header(report: Dict[str, Any]) -> List[str]:
    m, v = report["machine"], report["versions"]
    environment = _environment(report)
    return [
        f"## Backend: {report['backend']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; torch threads {report['torch_threads']}; "
        f"{m['platform']}.  ",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".  ",
        f"Date: {report['date']}; median of {report['repeats']} runs{_few(report)}{_primed(report)}"
        f"{_compilations(report)} "
        f"after {report['warmup']} warm-up; "
        "float32, 'same' padding; forward+backward = value and gradients of sum(output**2).  ",
        f"sgemm ({report['sgemm']['size']}x{report['sgemm']['size']} float32 torch.mm): "
        f"{report['sgemm']['gflops']:.1f} GFLOP/s.  ",
        f"Allocator: {report.get('allocator', 'not recorded (the C library defaults)')}."
        + ("  " if environment else ""),  # a line break before the environment's
        *environment,
        "",
        "**Headline** (keras_deconv time / the fastest of torch's native op, on "
        + ("channels_first or channels_last" if times_channels_last(report) else "channels_first")
        + " memory, and Keras's own op, geometric "
        f"mean over the headline cases): forward {_fmt(report['headline']['forward'])}, "
        f"forward+backward {_fmt(report['headline']['forward_backward'])}; worst case "
        f"{_fmt(report['worst']['forward'])} / {_fmt(report['worst']['forward_backward'])}.",
        "",
    ]


def to_markdown(report: Dict[str, Any]) -> str:
    """One backend's results: headline, main table, every row, peak memory."""
    lines = _header(report) + [
        "Times in ms; keras_deconv's ratio is to the fastest of torch and Keras in the same run. "
        + ("Torch's columns are the faster of its two memory layouts, (cl) where channels_last won. "
           if times_channels_last(report) else "")
        +         "GFLOP/s and % of sgemm are keras_deconv's forward+backward.",
        "",
        "| case | torch fwd | torch fwd+bwd | Keras fwd | Keras fwd+bwd | keras_deconv fwd "
        "| keras_deconv fwd+bwd | GFLOP/s | % sgemm | peak memory vs torch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in report["cases"]:
        res, rat = case["results"], case["ratios"][KERAS_DECONV]
        mine = res[KERAS_DECONV].get("forward_backward") or {}
        rate = f"{mine['gflops']:.3g} | {mine['sgemm_percent']:.3g}%" if "ms" in mine else "- | -"
        lines.append(
            f"| {case['name']}{' *' if case['headline'] else ''} `{case['description']}` "
            + "".join(f"| {_torch_cell(res, phase)} " for phase in PHASES)
            + "".join(f"| {_cell(res[KERAS_BUILTIN].get(phase))} " for phase in PHASES)
            + f"| {_cell(res[KERAS_DECONV].get('forward'), rat['forward'])} "
            f"| {_cell(mine, rat['forward_backward'])} | {rate} "
            f"| {_fmt(case.get('memory', {}).get('ratio'))} |")
    lines += ["", "(* = headline case.)", "",
              "padding='circular' against 'same' (keras_deconv auto, same run), forward / forward+backward: "
              + "; ".join(f"{c['name']} " + " / ".join(_fmt(c["circular_vs_same"][p]) for p in PHASES)
                          for c in report["cases"]) + ".",
              "", "Every row timed (ms, ratio to the fastest of torch and Keras):", "",
              "| case | implementation | forward | forward+backward | fwd+bwd GFLOP/s | note |",
              "|---|---|---|---|---|---|"]
    for case in report["cases"]:
        for row, result in case["results"].items():
            ratio = case["ratios"].get(row, {})
            fb = result.get("forward_backward") or {}
            note = (result.get("forward") or {}).get("refused") or fb.get("refused") or ""
            gflops = f"{fb['gflops']:.3g}" if "gflops" in fb else "-"
            lines.append(f"| {case['name']} | {row} | {_cell(result.get('forward'), ratio.get('forward'))} "
                         f"| {_cell(fb, ratio.get('forward_backward'))} | {gflops} | {note} |")
    return "\n".join(lines + _memory_lines(report)) + "\n"


def _memory_lines(report: Dict[str, Any]) -> List[str]:
    if not any("memory" in case for case in report["cases"]):
        return []
    lines = ["", "Peak extra memory of forward+backward (MiB, fresh subprocess each):", "",
             "| case | torch native | torch channels_last | keras_deconv | ratio (to torch's smaller) "
             "| method |",
             "|---|---|---|---|---|---|"]
    for case in report["cases"]:
        mem = case.get("memory")
        if mem:
            t, k = mem[TORCH_NATIVE], mem[KERAS_DECONV]
            cl = _mib(mem[TORCH_CHANNELS_LAST]) if TORCH_CHANNELS_LAST in mem else "-"
            lines.append(f"| {case['name']} | {_mib(t)} | {cl} | {_mib(k)} | {_fmt(mem['ratio'])} "
                         f"| {k.get('method', '')} |")
    return lines


def read_reports(folder: Path) -> List[Dict[str, Any]]:
    """Every ``<backend>.json`` in ``folder``."""
    reports = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
    if not reports:
        raise FileNotFoundError(f"No <backend>.json results in {folder}; run `nox -s bench` first.")
    return reports


def merge_markdown(folder: Path) -> str:
    """One document from every ``<backend>.json`` in ``folder`` (benchmarks/results/README.md)."""
    reports = read_reports(folder)
    lines = ["# Benchmarks", "", "Regenerated by `nox -s bench` (one environment per backend) and "
             "`keras-deconv bench --markdown-all`. Ratios are the headline: absolute times "
             "depend on the machine and its load.", "",
             "| backend | forward | forward+backward | worst case | machine | date |",
             "|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r['backend']} | {_fmt(r['headline']['forward'])} "
                     f"| {_fmt(r['headline']['forward_backward'])} "
                     f"| {_fmt(r['worst']['forward'])} / {_fmt(r['worst']['forward_backward'])} "
                     f"| {r['machine']['cpu']}, {r['machine']['cores']} cores | {r['date']} |")
    return "\n".join(lines) + "\n\n" + "\n".join(to_markdown(r) for r in reports)


def summary_markdown(reports: Sequence[Dict[str, Any]]) -> str:
    """A compact table of every backend's ratios (for the README); one column per backend."""
    if not reports:
        raise ValueError("summary_markdown needs at least one report. Received: reports=[]")
    machines = sorted({f"{r['machine']['cpu']}, {r['machine']['cores']} cores" for r in reports})
    dates = sorted(r["date"][:10] for r in reports)
    lines = [
        f"Measured on {'; '.join(machines)}, {dates[0]}"
        + (f" to {dates[-1]}" if dates[-1] != dates[0] else "") + ". Each cell: keras_deconv's time "
        "divided by the fastest of torch's native `F.conv_transposeNd` (on "
        + ("channels_first or channels_last" if all(map(times_channels_last, reports)) else "channels_first")
        + " memory) and Keras's own op on that backend, "
        "in the same run (lower is better), forward / forward+backward (the value and gradients of "
        "`sum(output**2)`), then the peak memory of forward+backward against torch's smaller.",
        "",
        "| case | " + " | ".join(r["backend"] for r in reports) + " |",
        "|---|" + "---|" * len(reports),
    ]
    by_name = [{c["name"]: c for c in r["cases"]} for r in reports]
    for case in reports[0]["cases"]:
        cells = []
        for cases in by_name:
            entry = cases.get(case["name"])
            if entry is None:
                cells.append("-")
                continue
            ratios, memory = entry["ratios"][KERAS_DECONV], entry.get("memory", {}).get("ratio")
            cell = f"{_fmt(ratios['forward'])} / {_fmt(ratios['forward_backward'])}"
            cells.append(cell + (f", mem {_fmt(memory)}" if memory is not None else ""))
        star = " *" if case["headline"] else ""
        lines.append(f"| {case['name']}{star} `{case['description']}` | " + " | ".join(cells) + " |")
    lines.append("| **geometric mean of the * cases** | " + " | ".join(
        f"**{_fmt(r['headline']['forward'])} / {_fmt(r['headline']['forward_backward'])}**"
        for r in reports) + " |")
    lines.append("| worst case | " + " | ".join(
        f"{_fmt(r['worst']['forward'])} / {_fmt(r['worst']['forward_backward'])}" for r in reports) + " |")
    lines.append("| kernel == stride cases: lowest % of the sgemm GFLOP/s | " + " | ".join(
        f"{_fmt(r.get('kernel_equals_stride_sgemm_percent'), '%')}" for r in reports) + " |")
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


def write_results(report: Dict[str, Any], folder: Path) -> List[Path]:
    """Write ``<backend>.md`` and ``<backend>.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    markdown, data = folder / f"{report['backend']}.md", folder / f"{report['backend']}.json"
    markdown.write_text(to_markdown(report))
    data.write_text(json.dumps(report, indent=1) + "\n")
    return [markdown, data]
