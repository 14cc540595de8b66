"""Draw the figures of docs/arithmetic.md from keras_deconv.arithmetic.

Every window and length in the pictures is computed by the package itself,
so a figure cannot drift from the code. Run from anywhere:

    python docs/figures/make_figures.py [OUTPUT_FOLDER]

The PNGs go to OUTPUT_FOLDER (default: this script's folder). Needs
matplotlib and the package (importing it imports Keras; no tensor is made).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot's import
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from keras_deconv import arithmetic  # noqa: E402

TAP_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]
KEPT, CROPPED, ZEROS = "#dbe9f6", "#d9d9d9", "#fff2b3"


def draw_scatter(ax, n: int, kernel_size: int, stride: int, dilation: int) -> None:
    """One row per input element; each tap ``k`` of input ``i`` lands on ``i*stride + k*dilation``."""
    full = arithmetic.full_output_length(n, kernel_size, stride, dilation)
    for i in range(n):
        for k in range(kernel_size):
            t = i * stride + k * dilation
            ax.add_patch(Rectangle((t, n - 1 - i), 1, 1, color=TAP_COLOURS[k % len(TAP_COLOURS)], alpha=0.85))
            ax.text(t + 0.5, n - 0.5 - i, f"x{i}·w{k}", ha="center", va="center", fontsize=7, color="white")
    # How many products each full-output position sums (overlaps show up as 2, 3, ...; gaps as 0).
    for t in range(full):
        count = sum(1 for i in range(n) for k in range(kernel_size) if i * stride + k * dilation == t)
        ax.text(t + 0.5, -0.5, str(count), ha="center", va="center", fontsize=8)
    ax.set_xlim(0, full)
    ax.set_ylim(-1, n)
    ax.set_xticks([t + 0.5 for t in range(full)], [str(t) for t in range(full)], fontsize=7)
    rows = [f"x[{i}]" for i in range(n)] + ["terms"]
    ax.set_yticks([n - 0.5 - i for i in range(n)] + [-0.5], rows, fontsize=8)
    ax.set_title(
        f"n={n}, kernel_size={kernel_size}, strides={stride}, dilation_rate={dilation}: "
        f"full output length {full}",
        fontsize=9,
    )
    ax.set_xlabel("position in the full output", fontsize=8)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def scatter_figure(path: Path) -> None:
    cases = [(3, 3, 2, 1), (3, 2, 2, 1), (3, 3, 2, 2)]
    fig, axes = plt.subplots(len(cases), 1, figsize=(8, 6.4))
    for ax, case in zip(axes, cases, strict=True):
        draw_scatter(ax, *case)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: (label, padding, output_padding, output_size) for n=4, kernel_size=4, strides=2.
PADDING_CASES = [
    ('"valid"', "valid", None, None),
    ('"valid", output_padding=1', "valid", 1, None),
    ('"same"', "same", None, None),
    ('"same", output_padding=0', "same", 0, None),
    ("padding=1", (1, 1), None, None),
    ("padding=1, output_padding=1", (1, 1), 1, None),
    ("padding=(0, 2)", (0, 2), None, None),
    ('"same", output_size=7', "same", None, 7),
]


def padding_figure(path: Path, n: int = 4, kernel_size: int = 4, stride: int = 2) -> None:
    """The output window that each padding mode cuts from (or adds to) the full output."""
    full = arithmetic.full_output_length(n, kernel_size, stride)
    left, right = -1, full + 2
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(PADDING_CASES) + 1.2))
    for row, (label, padding, output_padding, output_size) in enumerate(PADDING_CASES):
        y = len(PADDING_CASES) - 1 - row
        before, after = arithmetic.axis_geometry(
            n, kernel_size, stride, 1, padding, output_padding, output_size
        )
        length = full - before - after
        for t in range(full):
            kept = before <= t < full - after
            ax.add_patch(Rectangle((t, y + 0.1), 0.95, 0.8, color=KEPT if kept else CROPPED))
        for t in range(full, full - after):  # after < 0: zeros past the full output
            ax.add_patch(Rectangle((t, y + 0.1), 0.95, 0.8, color=ZEROS, hatch="//"))
        ax.plot([before, before], [y + 0.05, y + 0.95], color="black", lw=2)
        ax.plot([before + length, before + length], [y + 0.05, y + 0.95], color="black", lw=2)
        ax.text(left - 0.2, y + 0.5, label, ha="right", va="center", fontsize=8, family="monospace")
        ax.text(right + 0.3, y + 0.5, f"length {length}", ha="left", va="center", fontsize=8)
    ax.set_xlim(left - 7.5, right + 3.5)
    ax.set_ylim(-0.2, len(PADDING_CASES))
    ax.set_xticks([t + 0.5 for t in range(full)], [str(t) for t in range(full)], fontsize=7)
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(
        f"n={n}, kernel_size={kernel_size}, strides={stride}: full output positions 0..{full - 1}; "
        "blue kept, grey cropped, yellow zeros",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> list[Path]:
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "scatter.png", folder / "padding_modes.png"]
    scatter_figure(written[0])
    padding_figure(written[1])
    return written


if __name__ == "__main__":
    for path in main(sys.argv[1:]):
        print(path)
