"""A feature whose optional dependency is missing says which extra installs it.

Each test hides one module (``sys.modules[name] = None`` makes ``import name``
fail as if it were not installed), calls the feature that needs it, and reads
the one-line error.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

import keras_deconv
from keras_deconv._optional import require

BACKEND = keras.backend.backend()


def hide(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)


def assert_names_extra(raised, distribution, extra):
    message = str(raised.value)
    assert "\n" not in message
    assert f"needs {distribution}" in message
    assert message.endswith(f"pip install 'keras-deconv[{extra}]'")


def test_require_returns_the_module():
    import json

    assert require("json", "demo") is json


def test_require_names_the_distribution_and_the_extra(monkeypatch):
    hide(monkeypatch, "PIL")
    with pytest.raises(ImportError) as raised:
        require("PIL", "demo", "the demo's PNG")
    assert_names_extra(raised, "pillow", "demo")
    assert str(raised.value).startswith("the demo's PNG needs pillow")


def test_a_missing_dependency_of_an_installed_module_is_not_blamed_on_the_extra(tmp_path, monkeypatch):
    (tmp_path / "installed_but_broken.py").write_text("import no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as raised:
        require("installed_but_broken", "demo")
    assert raised.value.name == "no_such_module_anywhere"
    assert "keras-deconv[" not in str(raised.value)


def test_demo_png_without_pillow(tmp_path, monkeypatch):
    from keras_deconv.cli import demo

    volumes = demo.ellipsoid_volumes(1, size=8, seed=0)
    hide(monkeypatch, "PIL")
    with pytest.raises(ImportError) as raised:
        demo.central_slices_png(volumes, volumes, str(tmp_path / "slices.png"))
    assert_names_extra(raised, "pillow", "demo")
    assert not (tmp_path / "slices.png").exists()


def test_bench_without_torch(monkeypatch):
    from keras_deconv.cli.bench.cases import QUICK_CASES
    from keras_deconv.cli.bench.suite import run_suite

    hide(monkeypatch, "torch")
    with pytest.raises(ImportError) as raised:
        run_suite(BACKEND, QUICK_CASES[:1], repeats=1, warmup=0, sgemm_size=8)
    assert_names_extra(raised, "torch", "bench")


@pytest.mark.skipif(BACKEND == "numpy", reason="the numpy backend exports nothing")
def test_litert_export_without_tensorflow(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((4, 2)), keras_deconv.Conv1DTranspose(2, 3, strides=2)])
    model(np.zeros((1, 4, 2), "float32"))
    hide(monkeypatch, "tensorflow")
    with pytest.raises(ImportError) as raised:
        keras_deconv.export.export(model, tmp_path / "model.tflite", format="litert")
    assert_names_extra(raised, "tensorflow", "export")
