"""The export tests run only when selected with ``-m export`` (``nox -s export`` installs the runtimes)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    expression = config.getoption("markexpr", "") or ""
    if "export" in expression and "not export" not in expression:
        return
    skip = pytest.mark.skip(reason="run by `nox -s export` (-m export)")
    for item in items:
        if "export" in item.keywords:
            item.add_marker(skip)
