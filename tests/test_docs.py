"""The documentation's code runs: every ```python block of docs/*.md and every
``>>>`` example in the package's docstrings, on the current backend.

A page's blocks run in order in one namespace, like a reader going down the
page. Comments just above a block qualify it: after ``<!-- skip -->`` it is a
fragment and is not run; after ``<!-- requires: torch -->`` it runs only where
that module imports (each nox environment installs one backend); after
``<!-- backends: jax tensorflow -->`` only on those Keras backends.
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

import keras
import pytest

import keras_deconv

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(
    r"((?:<!-- [^>]* -->\s*\n)*)^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL
)
MARKER = re.compile(r"<!-- (skip|requires: [\w.]+|backends: [\w ]+) -->")


def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a parent package that is missing or broken
        return False


def _holds(marker: str) -> bool:
    """Whether a block under ``<!-- marker -->`` runs here."""
    if marker == "skip":
        return False
    kind, _, names = marker.partition(": ")
    if kind == "requires":
        return module_available(names)
    return keras.backend.backend() in names.split()


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, code) of each ```python block of ``page`` to run here."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if not all(_holds(marker) for marker in MARKER.findall(match.group(1))):
            continue
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append((line, match.group(2)))
    return blocks


def test_fence_parser_finds_and_skips_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```python\na = 1\n```\n<!-- skip -->\n```python\nb = 2\n```\n"
                    "```bash\nls\n```\n```python\nc = a\n```\n"
                    "<!-- requires: no_such_module_here -->\n```python\nd = 4\n```\n"
                    "<!-- requires: json -->\n```python\ne = 5\n```\n"
                    "<!-- requires: json -->\n<!-- backends: no_such_backend -->\n```python\nf = 6\n```\n"
                    f"<!-- requires: json -->\n<!-- backends: {keras.backend.backend()} other -->\n"
                    "```python\ng = 7\n```\n")
    assert python_blocks(page) == [(3, "a = 1\n"), (13, "c = a\n"), (21, "e = 5\n"), (31, "g = 7\n")]


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


class SkippingRunner(doctest.DocTestRunner):
    """A doctest runner that lets ``pytest.importorskip`` in an example skip the test.

    The one way an example says it needs a framework, as under ``pytest
    --doctest-modules`` (the wheel session of noxfile.py runs the installed package's
    examples that way).
    """

    def report_unexpected_exception(self, out, test, example, exc_info):  # type: ignore[no-untyped-def]
        if issubclass(exc_info[0], pytest.skip.Exception):
            raise exc_info[1]
        super().report_unexpected_exception(out, test, example, exc_info)


def test_an_example_that_imports_what_is_missing_skips():
    test = doctest.DocTestParser().get_doctest(
        '>>> import pytest; pytest.importorskip("no_such_module_here")\n>>> 1\n2\n', {}, "needs", None, 0)
    with pytest.raises(pytest.skip.Exception):
        SkippingRunner().run(test)
    failing = doctest.DocTestParser().get_doctest(">>> 1\n2\n", {}, "wrong", None, 0)
    assert SkippingRunner(verbose=False).run(failing, out=lambda text: None).failed == 1


@pytest.mark.parametrize("name", package_modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = SkippingRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
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
