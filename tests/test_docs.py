"""The documentation's code runs: every ```python block of docs/*.md and every
``>>>`` example in the package's docstrings, on the current backend.

A page's blocks run in order in one namespace, like a reader going down the
page. A block preceded by ``<!-- skip -->`` is a fragment and is not run; one
preceded by ``<!-- requires: torch -->`` runs only where that module imports
(each nox environment installs one backend).
The figures script must still run too (it draws from ``keras_deconv.arithmetic``).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import keras_deconv

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(
    r"(?:<!-- (skip|requires: [\w.]+) -->\s*\n)?^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL
)


def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a parent package that is missing or broken
        return False


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, code) of each ```python block of ``page`` to run here."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        marker = match.group(1)
        if marker == "skip":
            continue
        if marker and not module_available(marker.split(": ")[1]):
            continue
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append((line, match.group(2)))
    return blocks


def test_fence_parser_finds_and_skips_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```python\na = 1\n```\n<!-- skip -->\n```python\nb = 2\n```\n"
                    "```bash\nls\n```\n```python\nc = a\n```\n"
                    "<!-- requires: no_such_module_here -->\n```python\nd = 4\n```\n"
                    "<!-- requires: json -->\n```python\ne = 5\n```\n")
    assert python_blocks(page) == [(3, "a = 1\n"), (13, "c = a\n"), (21, "e = 5\n")]


def test_docs_exist():
    names = {page.name for page in PAGES}
    assert {"index.md", "arithmetic.md", "backends.md", "migration.md", "api.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_examples_run(page):
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for line, code in python_blocks(page):
        compiled = compile(code, f"{page}:{line}", "exec")
        exec(compiled, namespace)  # a failing block names its page and line in the traceback


def package_modules() -> list[str]:
    names = [keras_deconv.__name__]
    for info in pkgutil.walk_packages(keras_deconv.__path__, prefix="keras_deconv."):
        # __main__ would run the command-line interface on import.
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", package_modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    # A module whose examples need a framework (``DOCTEST_REQUIRES``) runs them where it is installed.
    for requirement in getattr(module, "DOCTEST_REQUIRES", ()):
        pytest.importorskip(requirement)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=dict(vars(module))):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} doctest examples failed in {name}"


def test_figures_script_runs(tmp_path):
    pytest.importorskip("matplotlib")
    script = DOCS / "figures" / "make_figures.py"
    completed = subprocess.run([sys.executable, str(script), str(tmp_path)],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    for name in ("scatter.png", "padding_modes.png", "checkerboard.png", "circular.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
        # The committed figure must exist too (the docs link to it).
        assert (DOCS / "figures" / name).is_file()
