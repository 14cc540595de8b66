"""``keras-deconv demo``: a 3D convolutional autoencoder on synthetic volumes.

What it shows, end to end, on whichever backend Keras runs:

1. a data set of random soft-edged ellipsoids in 32^3 volumes, made on the fly;
2. a Conv3D encoder (32^3 -> 8^3) and a ``keras_deconv.Conv3DTranspose``
   decoder with strides 2 (8^3 -> 32^3), trained with ``fit``;
3. the reconstruction error on held-out volumes before and after training;
4. the model saved as ``.keras``, reloaded, and its predictions compared with
   the original model's (a ``RuntimeError`` if they differ);
5. a PNG of the central slices, input next to reconstruction, written with Pillow.

Import it after KERAS_BACKEND is settled (``keras_deconv.cli`` does that).

>>> volumes = ellipsoid_volumes(2, size=8, seed=0)
>>> volumes.shape, bool(volumes.min() >= 0.0), bool(volumes.max() <= 1.0)
((2, 8, 8, 8, 1), True, True)
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict

import numpy as np

from keras_deconv._optional import require

#: Side of the cubic volumes.
VOLUME_SIZE = 32

#: Held-out volumes for the reconstruction error and the reload check.
HELD_OUT = 16

#: Largest difference allowed between the saved and the reloaded model's predictions.
RELOAD_TOLERANCE = 1e-6


def ellipsoid_volumes(count: int, size: int = VOLUME_SIZE, seed: int = 0) -> np.ndarray:
    """``count`` volumes ``(size, size, size, 1)`` holding one to three rotated ellipsoids each.

    Each ellipsoid has a random centre, radii, orientation and brightness in
    [0.4, 1]; edges fall off linearly over a few voxels so that the targets
    are smooth. Where ellipsoids overlap, the brighter one wins.
    """
    rng = np.random.default_rng(seed)
    axis = np.linspace(-1.0, 1.0, size, dtype="float32")
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)  # (size, size, size, 3)
    volumes = np.zeros((count, size, size, size), "float32")
    for n in range(count):
        for _ in range(rng.integers(1, 4)):
            centre = rng.uniform(-0.45, 0.45, 3)
            radii = rng.uniform(0.15, 0.5, 3)
            rotation, _ = np.linalg.qr(rng.standard_normal((3, 3)))
            local = (grid - centre) @ rotation  # coordinates along the ellipsoid's axes
            distance = np.sqrt(np.sum((local / radii) ** 2, axis=-1))  # 1 on the surface
            shape = np.clip((1.0 - distance) * 4.0, 0.0, 1.0)
            volumes[n] = np.maximum(volumes[n], rng.uniform(0.4, 1.0) * shape)
    return volumes[..., None]


def build_autoencoder(size: int = VOLUME_SIZE) -> Any:
    """Conv3D encoder (two stride-2 convolutions) and Conv3DTranspose decoder (two stride-2 layers).

    The encoder's 2x2x2 kernels with stride 2 keep it cheap on CPU (XLA's CPU
    Conv3D is slow); the decoder's 4x4x4 kernels with stride 2 overlap, which
    is where a transposed convolution's output arithmetic matters. The output
    is linear: a sigmoid there tended to collapse to all-zero reconstructions
    (most voxels are background) within the demo's few epochs.
    """
    import keras

    import keras_deconv

    inputs = keras.Input((size, size, size, 1), name="volume")
    x = keras.layers.Conv3D(8, 2, strides=2, activation="relu", name="encode_1")(inputs)
    x = keras.layers.Conv3D(16, 2, strides=2, activation="relu", name="encode_2")(x)
    x = keras_deconv.Conv3DTranspose(8, 4, strides=2, padding="same", activation="relu", name="decode_1")(x)
    outputs = keras_deconv.Conv3DTranspose(1, 4, strides=2, padding="same", name="decode_2")(x)
    return keras.Model(inputs, outputs, name="volume_autoencoder")


def central_slices_png(volumes: np.ndarray, reconstructions: np.ndarray, path: str, zoom: int = 4) -> None:
    """Write a PNG: one row per volume, its three central slices, then the reconstruction's."""
    require("PIL", "demo", "the demo's PNG")
    from PIL import Image, ImageDraw

    def slices(volume: np.ndarray) -> list:
        middle = volume.shape[0] // 2
        return [volume[middle], volume[:, middle], volume[:, :, middle]]

    gap = np.ones((volumes.shape[1], 4), "float32")
    rows = []
    for volume, reconstruction in zip(volumes[..., 0], reconstructions[..., 0], strict=True):
        tiles = slices(volume) + [gap] + slices(reconstruction)
        rows.append(np.concatenate([np.pad(t, 1, constant_values=1.0) for t in tiles], axis=1))
    picture = np.clip(np.concatenate(rows, axis=0), 0.0, 1.0)
    pixels = (picture * 255).round().astype("uint8").repeat(zoom, axis=0).repeat(zoom, axis=1)
    header = 14
    canvas = Image.new("L", (pixels.shape[1], pixels.shape[0] + header), color=255)
    canvas.paste(Image.fromarray(pixels, mode="L"), (0, header))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 1), "input (3 central slices)", fill=0)
    draw.text((pixels.shape[1] // 2 + 8, 1), "reconstruction", fill=0)
    canvas.save(path)


def run(epochs: int = 8, samples: int = 96, seed: int = 0, output_dir: str = "keras-deconv-demo",
        batch_size: int = 16) -> Dict[str, Any]:
    """Train, evaluate, save, reload, compare and draw; return what was measured and written.

    Raises:
        RuntimeError: if the reloaded model predicts other numbers than the trained one,
            or does not use ``keras_deconv.Conv3DTranspose``.
    """
    import keras

    import keras_deconv

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    os.makedirs(output_dir, exist_ok=True)
    print(f"Making {samples} training and {HELD_OUT} held-out volumes of {VOLUME_SIZE}^3 "
          "(random ellipsoids)...")
    train = ellipsoid_volumes(samples, seed=seed)
    held_out = ellipsoid_volumes(HELD_OUT, seed=seed + 1_000_003)

    model = build_autoencoder()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mean_squared_error")
    model.summary()
    before = float(model.evaluate(held_out, held_out, batch_size=batch_size, verbose=0))
    print(f"Reconstruction error before training (mean squared, held-out): {before:.5f}")
    model.fit(train, train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=1)
    after = float(model.evaluate(held_out, held_out, batch_size=batch_size, verbose=0))
    print(f"Reconstruction error after {epochs} epoch(s) (mean squared, held-out): {after:.5f}"
          f"  ({before / max(after, 1e-12):.1f}x lower)" if after < before else
          f"Reconstruction error after {epochs} epoch(s): {after:.5f} (not lower; train longer)")

    model_path = os.path.join(output_dir, "autoencoder.keras")
    model.save(model_path)
    reloaded = keras.models.load_model(model_path)
    decoders = [layer for layer in reloaded.layers if isinstance(layer, keras_deconv.Conv3DTranspose)]
    if len(decoders) != 2:
        raise RuntimeError(f"The reloaded model has {len(decoders)} keras_deconv.Conv3DTranspose layers, "
                           f"expected 2: {[type(layer).__name__ for layer in reloaded.layers]}")
    original = np.asarray(model.predict(held_out, batch_size=batch_size, verbose=0))
    restored = np.asarray(reloaded.predict(held_out, batch_size=batch_size, verbose=0))
    reload_difference = float(np.max(np.abs(original - restored)))
    if not reload_difference <= RELOAD_TOLERANCE:
        raise RuntimeError(f"The model reloaded from {model_path} predicts different numbers: max difference "
                           f"{reload_difference:.3e} > {RELOAD_TOLERANCE:.0e}")
    print(f"Saved {model_path}; reloaded, predictions identical (max difference {reload_difference:.1e}).")

    png_path = os.path.join(output_dir, "reconstructions.png")
    central_slices_png(held_out[:4], restored[:4], png_path)
    print(f"Wrote {png_path} (central slices: input | reconstruction).")
    elapsed = time.perf_counter() - start
    print(f"Done in {elapsed:.1f} s on the {keras.backend.backend()} backend.")
    return dict(before=before, after=after, reload_difference=reload_difference, model_path=model_path,
                png_path=png_path, seconds=elapsed)
