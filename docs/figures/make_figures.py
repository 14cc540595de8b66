"""Draw the figures of docs/arithmetic.md and docs/periodic.md from the package itself.

Every window and length in the pictures is computed by keras_deconv.arithmetic,
and every up-sampled picture by keras_deconv.ops.conv_transpose with kernels
from keras_deconv.initializers, so a figure cannot drift from the code. Run
from anywhere:

    python docs/figures/make_figures.py [OUTPUT_FOLDER]

The PNGs go to OUTPUT_FOLDER (default: this script's folder). Needs
matplotlib and the package with a Keras backend.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot's import
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from keras_deconv import arithmetic  # noqa: E402
from keras_deconv.initializers import CheckerboardFree  # noqa: E402
from keras_deconv.ops import conv_transpose  # noqa: E402

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


def _numpy(tensor) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def checkerboard_figure(path: Path) -> None:
    """An image up-sampled x2 by a k4 s2 layer, default (Glorot) kernel against a checkerboard-free one."""
    size = 16
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    image = np.exp(-((rows - 5.0) ** 2 + (cols - 10.0) ** 2) / 18) + 0.6 * np.exp(
        -((rows - 11.0) ** 2 + (cols - 4.0) ** 2) / 30)
    x = image[None, :, :, None].astype("float32")
    kernels = {
        "default kernel (glorot_uniform)": keras.initializers.GlorotUniform(seed=3)((4, 4, 1, 1)),
        'kernel_initializer="checkerboard_free"': CheckerboardFree(2, seed=3)((4, 4, 1, 1)),
    }
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    axes[0].imshow(image, cmap="viridis")
    axes[0].set_title("input 16x16", fontsize=9)
    for ax, (title, kernel) in zip(axes[1:], kernels.items(), strict=True):
        y = _numpy(conv_transpose(x, kernel, strides=2, padding="same"))[0, :, :, 0]
        ax.imshow(y, cmap="viridis")
        ax.set_title(f"x2: {title}", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def circular_figure(path: Path) -> None:
    """A field periodic in longitude, up-sampled x2 with 'same' and with circular longitude, drawn twice."""
    lat, lon = 12, 24
    rows, cols = np.meshgrid(np.arange(lat), np.arange(lon), indexing="ij")
    field = np.cos(2 * np.pi * cols / lon) * np.sin(np.pi * (rows + 0.5) / lat) + 0.5
    x = field[None, :, :, None].astype("float32")
    taps = np.array([0.25, 0.75, 0.75, 0.25], "float32")  # bilinear x2 up-sampling
    kernel = np.outer(taps, taps)[:, :, None, None]
    fig, axes = plt.subplots(2, 1, figsize=(8, 4.6))
    for ax, padding in zip(axes, ["same", ("same", "circular")], strict=True):
        y = _numpy(conv_transpose(x, kernel, strides=2, padding=padding))[0, :, :, 0]
        ax.imshow(np.concatenate([y, y], axis=1), cmap="coolwarm", vmin=-0.6, vmax=1.6)
        ax.axvline(y.shape[1] - 0.5, color="black", lw=1, ls="--")
        ax.set_title(f"padding={padding!r}: the output twice, side by side (dashed: the wrap-around)",
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> list[Path]:
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    names = ("scatter.png", "padding_modes.png", "checkerboard.png", "circular.png")
    written = [folder / name for name in names]
    scatter_figure(written[0])
    padding_figure(written[1])
    checkerboard_figure(written[2])
    circular_figure(written[3])
    return written


if __name__ == "__main__":
    for path in main(sys.argv[1:]):
        print(path)
