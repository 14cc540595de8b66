"""The lower bounds that pyproject.toml claims are the versions that ``nox -s minimums`` tests.

``nox -s minimums`` installs each backend's environment with the pins of
``backends/minimums.txt`` (``minimums-torch.txt`` for torch) as constraints.
A claim raised or lowered without its pin, or a pin moved without its claim,
fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
from packaging.requirements import Requirement  # noqa: E402 (after the skip above)
from packaging.utils import canonicalize_name  # noqa: E402
from packaging.version import Version  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS = PROJECT["optional-dependencies"]
#: The constraints file of each backend's minimums session.
FILES = {"jax": "minimums.txt", "torch": "minimums-torch.txt", "tensorflow": "minimums.txt"}
#: The minimums sessions install tensorflow's CPU build (the same release) for the `tensorflow` claim.
PINNED_AS = {"tensorflow": "tensorflow-cpu"}
#: Claims that the export session tests instead, at the versions of backends/export.txt.
EXPORT_ONLY = {"onnx", "onnxscript", "tf2onnx", "jax2onnx"}


def floors(requirements):
    """``{name: lower bound}`` of the requirements that have a ``>=`` bound."""
    found = {}
    for text in requirements:
        requirement = Requirement(text)
        for specifier in requirement.specifier:
            if specifier.operator == ">=":
                found[canonicalize_name(requirement.name)] = Version(specifier.version)
    return found


def pins(file_name):
    """``{name: version}`` of the ``name==version`` lines of a constraints file in backends/."""
    found = {}
    for line in (ROOT / "backends" / file_name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{file_name}: {line!r} is not a pin"
            found[canonicalize_name(requirement.name)] = Version(specifier.version)
    return found


def test_the_parsers_read_bounds_and_pins():
    assert floors(["keras>=3.8", "numpy", "torch>=2.13,<3"]) == {"keras": Version("3.8"),
                                                                  "torch": Version("2.13")}
    assert pins("minimums.txt")["keras"] == Version("3.8.0")


@pytest.mark.parametrize("backend", sorted(FILES))
def test_each_session_pins_the_claims_of_its_environment(backend):
    # What the session installs: the core, the backend's extra, the test extra, and Pillow
    # (the demo's, for its end-to-end test). Where two claims name one package, the higher holds.
    claimed = {}
    requirements = [*PROJECT["dependencies"], *EXTRAS[backend], *EXTRAS["test"],
                    *(text for text in EXTRAS["demo"] if Requirement(text).name == "pillow")]
    for text in requirements:
        for name, bound in floors([text]).items():
            claimed[name] = max(bound, claimed.get(name, bound))
    pinned = pins(FILES[backend])
    for name, bound in claimed.items():
        assert pinned.get(PINNED_AS.get(name, name)) == bound, (backend, name, bound, pinned)


def test_every_lower_bound_is_pinned_somewhere():
    pinned = [pins(name) for name in sorted(set(FILES.values()))]
    for group, requirements in {"dependencies": PROJECT["dependencies"], **EXTRAS}.items():
        for name, bound in floors(requirements).items():
            if name in EXPORT_ONLY:
                continue
            assert any(p.get(PINNED_AS.get(name, name)) == bound for p in pinned), (group, name, bound)
