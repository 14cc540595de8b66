"""Save a few .keras models built from these layers, with an input and its predictions.

Usage: ``KERAS_BACKEND=jax python tests/crossbackend/save_models.py FOLDER``

For each model this writes, into FOLDER (created if missing)::

    {model}-{backend}.keras              the model
    {model}-{backend}-input.npy          a fixed input (float32; complex64 for the complex model)
    {model}-{backend}-predictions.npy    the model's output on it, on this backend

``test_load_models.py`` then loads every file on every other backend and checks
the predictions. The models cover 1D/2D/3D, strides with dilation, groups,
'same', int and (before, after) padding, output_padding, channels_first,
use_bias=False and activations. Biases are random, so a lost bias would show.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import keras
import numpy as np

import keras_deconv

SEED = 20240611


def model_1d() -> keras.Model:
    inputs = keras.Input((9, 4))
    x = keras_deconv.Conv1DTranspose(
        6, 3, strides=2, dilation_rate=2, padding="same", groups=2, activation="tanh",
        bias_initializer="random_normal",
    )(inputs)
    x = keras_deconv.Conv1DTranspose(3, 4, strides=3, padding=1, output_padding=2, use_bias=False)(x)
    return keras.Model(inputs, x, name="model_1d")


def model_2d_channels_first() -> keras.Model:
    inputs = keras.Input((4, 5, 6))
    x = keras_deconv.Conv2DTranspose(
        6, (3, 2), strides=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2,
        data_format="channels_first", activation="relu", bias_initializer="random_normal",
    )(inputs)
    x = keras_deconv.Conv2DTranspose(
        2, 3, strides=2, dilation_rate=(2, 1), padding="valid", data_format="channels_first",
        bias_initializer="random_normal",
    )(x)
    return keras.Model(inputs, x, name="model_2d_channels_first")


def model_3d() -> keras.Model:
    inputs = keras.Input((3, 4, 2, 4))
    x = keras_deconv.Conv3DTranspose(
        4, 2, strides=2, padding="same", output_padding=1, activation="sigmoid",
        bias_initializer="random_normal",
    )(inputs)
    x = keras_deconv.Conv3DTranspose(
        2, (3, 1, 2), strides=(1, 2, 2), dilation_rate=(2, 1, 1), padding=((1, 0), 0, (0, 1)),
        groups=2, use_bias=False,
    )(x)
    return keras.Model(inputs, x, name="model_3d")


def model_complex_unet() -> keras.Model:
    """Forward and transposed complex layers, the complex activations and ModReLU."""
    inputs = keras.Input((8, 8, 2), dtype="complex64")
    down = keras_deconv.Conv2D(4, 3, strides=2, padding="same", activation="complex_relu", dtype="complex64",
                               bias_initializer="random_normal")(inputs)
    down = keras_deconv.ModReLU(dtype="complex64", bias_initializer="random_normal")(down)
    up = keras_deconv.Conv2DTranspose(2, 3, strides=2, padding="same", activation="cardioid",
                                      dtype="complex64", bias_initializer="random_normal")(down)
    x = keras_deconv.Conv2D(2, 3, padding="circular", groups=2, dtype="complex64")(up)
    return keras.Model(inputs, x, name="model_complex_unet")


MODELS = {
    "conv1d": model_1d,
    "conv2d_channels_first": model_2d_channels_first,
    "conv3d": model_3d,
    "complex_unet": model_complex_unet,
}


def save_all(folder: Path) -> list:
    """Build, run and save every model on the current backend; return the paths written."""
    backend = keras.backend.backend()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    written = []
    for name, build in MODELS.items():
        keras.utils.set_random_seed(SEED)
        model = build()
        shape = (2,) + tuple(model.input_shape[1:])
        dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
        x = rng.standard_normal(shape)
        if dtype.startswith("complex"):
            x = x + 1j * rng.standard_normal(shape)
        x = x.astype(dtype)
        predictions = keras.ops.convert_to_numpy(model(x))
        stem = folder / f"{name}-{backend}"
        model.save(f"{stem}.keras")
        np.save(f"{stem}-input.npy", x)
        np.save(f"{stem}-predictions.npy", predictions)
        written.append(f"{stem}.keras")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where the .keras and .npy files go")
    folder = parser.parse_args().folder
    for path in save_all(folder):
        print(f"saved {os.path.basename(path)} ({keras.backend.backend()})")


if __name__ == "__main__":
    main()
