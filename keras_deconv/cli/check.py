"""``keras-deconv check``: verify an install on every backend it has.

Keras fixes its backend at import, so each backend runs in its own process
(``python -m keras_deconv.cli.check_worker`` with ``KERAS_BACKEND`` set). The
worker runs a small grid of arguments through the layers and every forced
path of ``keras_deconv.ops.conv_transpose``, compares with the NumPy
reference, and sends its results back as JSON; this module prints them as one
table (backend x case) and turns them into an exit status: 0 when every
result has the reference's shape and is within the tolerance, 1 otherwise
(a backend that crashes counts as a failure).

This module imports no backend, so it runs whatever KERAS_BACKEND says.

>>> summarize_case({"layer": {"shape_ok": True, "max_error": 2e-7, "time_s": 0.01, "error": None}}, 1e-4)
(True, True, 2e-07, 0.01, '')
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.util import find_spec
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: Backends ``check`` knows, in the order it runs them, with the module that must be importable.
BACKEND_MODULES = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow", "numpy": "numpy"}

#: Seconds one backend may take before it counts as crashed.
WORKER_TIMEOUT_S = 300


def installed_backends() -> List[str]:
    """The Keras backends whose framework is importable here, in ``BACKEND_MODULES`` order."""
    return [name for name, module in BACKEND_MODULES.items() if find_spec(module) is not None]


def run_worker(backend: str, timeout: float = WORKER_TIMEOUT_S) -> Dict[str, Any]:
    """Run the grid on ``backend`` in a subprocess; its JSON report, or a report of its crash."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter hides the table
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "keras_deconv.cli.check_worker"],
            env=env, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return dict(backend=backend, crashed=f"no answer within {timeout:.0f} s", cases=[],
                    wall_s=time.perf_counter() - start)
    wall_s = time.perf_counter() - start
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not lines:
        stderr_tail = "\n".join(completed.stderr.strip().splitlines()[-5:])
        return dict(backend=backend, cases=[], wall_s=wall_s,
                    crashed=f"worker exited with status {completed.returncode}: {stderr_tail}")
    try:
        report = json.loads(lines[-1])
    except json.JSONDecodeError:
        return dict(backend=backend, cases=[], wall_s=wall_s,
                    crashed=f"worker printed no JSON report; last line: {lines[-1][:200]!r}")
    report.update(crashed=None, wall_s=wall_s)
    return report


def summarize_case(results: Dict[str, Dict[str, Any]], tolerance: float) -> Tuple[bool, bool, Optional[float],
                                                                                   float, str]:
    """Collapse one case's runners (layer and paths) into ``(passed, shape_ok, max_error, time_s, note)``.

    ``note`` names the runners that failed and why.
    """
    failures = []
    errors = [r["max_error"] for r in results.values() if r["max_error"] is not None]
    for name, result in results.items():
        if result["error"]:
            failures.append(f"{name}: {result['error']}")
        elif not result["shape_ok"]:
            failures.append(f"{name}: shape {tuple(result['shape'])} != {tuple(result['expected_shape'])}")
        elif result["max_error"] > tolerance:
            failures.append(f"{name}: error {result['max_error']:.2e}")
    shape_ok = all(r["shape_ok"] for r in results.values())
    max_error = max(errors) if errors else None
    time_s = sum(r["time_s"] for r in results.values())
    return not failures, shape_ok, max_error, time_s, "; ".join(failures)


def build_rows(reports: Sequence[Dict[str, Any]]) -> Tuple[List[List[str]], bool]:
    """Table rows (backend, case, paths, shape, max error, time, status) and whether all passed."""
    rows = []
    all_passed = True
    for report in reports:
        if report["crashed"]:
            all_passed = False
            rows.append([report["backend"], "(worker crashed)", "", "", "", f"{report['wall_s']:.1f} s",
                         "FAIL " + report["crashed"]])
            continue
        if not report["cases"]:
            all_passed = False
        for case in report["cases"]:
            passed, shape_ok, max_error, time_s, note = summarize_case(case["results"], report["tolerance"])
            all_passed = all_passed and passed
            rows.append([
                report["backend"],
                case["name"],
                ",".join(case["results"]),
                "ok" if shape_ok else "WRONG",
                "-" if max_error is None else f"{max_error:.1e}",
                f"{time_s * 1000:.0f} ms",
                "ok" if passed else "FAIL " + note,
            ])
    return rows, all_passed


HEADERS = ["backend", "case", "runs (layer + paths)", "shape", "max error", "time", "status"]


def use_rich(stream: Any = None) -> bool:
    """Rich output only for a terminal, and only when rich is installed (it is optional)."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and find_spec("rich") is not None


def format_plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned with spaces, for logs and pipes.

    >>> print(format_plain_table(["a", "bb"], [["1", "2"], ["333", "4"]]))
    a    bb
    ---  --
    1    2
    333  4
    """
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows])


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on a terminal, aligned plain text otherwise."""
    if use_rich():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for header in headers:
            table.add_column(header)
        for row in rows:
            style = "red" if row[-1].startswith("FAIL") else None
            table.add_row(*row, style=style)
        Console().print(table)
    else:
        print(title)
        print(format_plain_table(headers, rows))


def run_all(backends: Sequence[str]) -> List[Dict[str, Any]]:
    """Run the worker for each backend, showing which one is running."""
    reports = []
    if use_rich():
        from rich.console import Console

        console = Console()
        for backend in backends:
            with console.status(f"checking the {backend} backend..."):
                report = run_worker(backend)
            console.print(f"{backend}: done in {report['wall_s']:.1f} s")
            reports.append(report)
    else:
        for backend in backends:
            print(f"checking the {backend} backend...", flush=True)
            report = run_worker(backend)
            print(f"{backend}: done in {report['wall_s']:.1f} s", flush=True)
            reports.append(report)
    return reports


def main(backends: Optional[Sequence[str]] = None) -> int:
    """Check ``backends`` (default: every installed one); 0 when all agree with the reference."""
    available = installed_backends()
    if backends:
        unknown = [b for b in backends if b not in BACKEND_MODULES]
        if unknown:
            raise ValueError(f"`backends` must be among {tuple(BACKEND_MODULES)}. Received: {unknown}")
        missing = [b for b in backends if b not in available]
        if missing:
            print(f"error: not installed here: {', '.join(missing)}", file=sys.stderr)
            return 2
    else:
        backends = available
    reports = run_all(backends)
    rows, all_passed = build_rows(reports)
    print_table("keras-deconv check: results against the NumPy reference", HEADERS, rows)
    failed = sum(row[-1].startswith("FAIL") for row in rows)
    if all_passed:
        print(f"All {len(rows)} cases agree with the reference on {', '.join(backends)}.")
        return 0
    print(f"{failed} of {len(rows)} rows FAILED.", file=sys.stderr)
    return 1
