"""Imports that only some features need, each one named with the extra that installs it.

A feature imports its optional dependency through ``require``, so a missing
one is a one-line ``ImportError`` that says what to install, rather than a bare
``No module named ...`` from deep inside the feature:

>>> require("json", "demo").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Distributions whose import name differs from the name that pip installs.
DISTRIBUTIONS = {"PIL": "pillow"}


def require(module: str, extra: str, feature: str = "this feature") -> ModuleType:
    """Import ``module``; when it is not installed, an ImportError naming the extra ``keras-deconv[extra]``.

    Args:
        module: the module name, e.g. ``"PIL"``.
        extra: the optional-dependency group of keras-deconv that installs it.
        feature: what needs it, for the message.

    Raises:
        ImportError: when ``module`` (or a package above it) is not installed. Any
            other failure while importing an installed module propagates unchanged.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        top = module.split(".")[0]
        if error.name is None or error.name.split(".")[0] != top:
            raise  # something that the installed module itself imports is missing
        name = DISTRIBUTIONS.get(top, top)
        raise ImportError(f"{feature} needs {name}, which is not installed: "
                          f"pip install 'keras-deconv[{extra}]'") from error
