"""Load the .keras files that save_models.py wrote on other backends; predictions must match.

Run by ``nox -s crossbackend``, which first runs save_models.py on each backend
into a folder and then this module on each backend with KERAS_DECONV_MODELS
pointing at that folder. Skipped when the variable is unset.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest
from save_models import MODELS

from keras_deconv.layers.base_convolution import BaseConvolution

FOLDER = os.environ.get("KERAS_DECONV_MODELS")
BACKEND = keras.backend.backend()

pytestmark = [
    pytest.mark.crossbackend,
    pytest.mark.skipif(not FOLDER, reason="KERAS_DECONV_MODELS is unset (run `nox -s crossbackend`)"),
]


def saved_models():
    """Every (model, backend) pair saved in the folder, as ``{model}-{backend}.keras``."""
    if not FOLDER:
        return []
    pairs = [path.stem.rsplit("-", 1) for path in sorted(Path(FOLDER).glob("*.keras"))]
    return [(name, backend) for name, backend in pairs]


def test_folder_holds_models_from_another_backend():
    backends = {backend for _, backend in saved_models()}
    assert backends - {BACKEND}, f"no models saved by a backend other than {BACKEND} in {FOLDER}"


@pytest.mark.parametrize(
    "name, saved_on",
    [pair for pair in saved_models() if pair[1] != BACKEND],
    ids=lambda value: value,
)
def test_model_from_another_backend_predicts_the_same(name, saved_on, assert_close):
    stem = Path(FOLDER) / f"{name}-{saved_on}"
    model = keras.saving.load_model(f"{stem}.keras")
    x = np.load(f"{stem}-input.npy")
    expected = np.load(f"{stem}-predictions.npy")
    # A model that lost its weights or its arguments would differ by far more.
    assert np.abs(expected).max() > 1e-3
    assert_close(model(x), expected)


def layer_configs(model):
    configs = []
    for layer in model.layers:
        if isinstance(layer, BaseConvolution):
            config = layer.get_config()
            config.pop("name")  # numbered per process, so it differs between sessions
            configs.append((type(layer).__name__, config))
    return configs


@pytest.mark.parametrize(
    "name, saved_on",
    [pair for pair in saved_models() if pair[1] != BACKEND],
    ids=lambda value: value,
)
def test_reloaded_layers_keep_their_arguments(name, saved_on):
    """The configuration survives the trip too: equal to the same model built here."""
    reloaded = keras.saving.load_model(Path(FOLDER) / f"{name}-{saved_on}.keras")
    configs = layer_configs(reloaded)
    assert configs, "the model holds none of this package's layers"
    assert configs == layer_configs(MODELS[name]())
