"""docs/backends.md's table of what ``path="auto"`` runs comes from the policy.

``python tests/test_path_tables.py`` prints the table; paste it between the
markers when a rule in ``keras_deconv/_paths/policy.py`` changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_deconv._paths.policy import for_backend
from keras_deconv.ops import choose_path, derivative_paths

ROOT = Path(__file__).resolve().parent.parent
START = ("<!-- auto path table: generated from keras_deconv/_paths/policy.py, "
         "see tests/test_path_tables.py -->")
END = "<!-- end of auto path table -->"
BACKENDS = ("jax", "torch", "tensorflow", "numpy")

#: (description, kernel_size, strides, dilation_rate, groups, output values)
EXAMPLES = (
    ("2D k2 s2 (kernel = stride: taps never overlap)", (2, 2), (2, 2), (1, 1), 1, 2**16),
    ("2D k4 s2", (4, 4), (2, 2), (1, 1), 1, 2**16),
    ("2D k4 s2, groups 4", (4, 4), (2, 2), (1, 1), 4, 2**16),
    ("2D k3 s1, dilation 2", (3, 3), (1, 1), (2, 2), 1, 2**16),
    ("2D k3 s2, dilation 2, groups 2", (3, 3), (2, 2), (2, 2), 2, 2**16),
    ("1D k16 s8", (16,), (8,), (1,), 1, 2**16),
    ("3D k2 s2", (2, 2, 2), (2, 2, 2), (1, 1, 1), 1, 2**20),
    ("3D k3 s2", (3, 3, 3), (2, 2, 2), (1, 1, 1), 1, 2**20),
    ("3D k3 s2, output above 2**24 values", (3, 3, 3), (2, 2, 2), (1, 1, 1), 1, 2**25),
    ("3D k3 s1, dilation 2", (3, 3, 3), (1, 1, 1), (2, 2, 2), 1, 2**20),
)


def _cell(backend, kernel_size, strides, dilation_rate, groups, size):
    if for_backend(backend).splits_groups(kernel_size, strides, dilation_rate, groups):
        each = _cell(backend, kernel_size, strides, dilation_rate, 1, size // groups)
        return f"one call per group: {each}"
    path = choose_path(backend, kernel_size, strides, dilation_rate, groups, "float32", size)
    for_input, for_kernel = derivative_paths(backend, path, kernel_size, strides, dilation_rate, groups, size)
    if (for_input, for_kernel) == (path, path):
        return f"`{path}`"
    return f"`{path}` (derivatives: input `{for_input}`, kernel `{for_kernel}`)"


def auto_path_table():
    """The markdown table of ``path="auto"``'s choice, float32, per backend."""
    lines = ["| arguments (float32) | " + " | ".join(BACKENDS) + " |", "|---|" + "---|" * len(BACKENDS)]
    for description, *arguments in EXAMPLES:
        lines.append(f"| {description} | " + " | ".join(_cell(b, *arguments) for b in BACKENDS) + " |")
    return "\n".join(lines) + "\n"


def _section(path):
    text = path.read_text()
    assert START in text and END in text, f"{path.name} has no auto path table markers"
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


@pytest.mark.parametrize("document", ["docs/backends.md"])
def test_auto_path_table_matches_the_policy(document):
    assert _section(ROOT / document) == auto_path_table(), (
        f"{document}'s table of path='auto' disagrees with the policy; "
        "regenerate it with `python tests/test_path_tables.py`")


if __name__ == "__main__":
    print(auto_path_table(), end="")


def test_every_rule_id_in_the_code_has_a_row_of_figures():
    # Rule IDs (A1, J3, T5...) as the code's comments and docstrings name them.
    import re

    sources = [ROOT / "keras_deconv/_paths/policy.py", ROOT / "keras_deconv/_paths/correlation.py",
               ROOT / "keras_deconv/_paths/native.py"]
    ids = {match for path in sources for match in re.findall(r"\b([APJTNF]\d{1,2})\b", path.read_text())}
    rows = set(re.findall(r"^\| ([APJTNF]\d{1,2}) \|", (ROOT / "docs/rules.md").read_text(), re.MULTILINE))
    assert len(ids) >= 20, sorted(ids)
    assert ids <= rows, f"rule IDs without a row in docs/rules.md: {sorted(ids - rows)}"
    # Both ops' tables (conv_transpose's and the forward F1-F4): short enough to read in one sitting.
    assert len((ROOT / "keras_deconv/_paths/policy.py").read_text().splitlines()) < 400
