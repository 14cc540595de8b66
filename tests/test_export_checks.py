"""keras_deconv.export: the refusals that model.export cannot make (no runtime needed)."""

from __future__ import annotations

import keras
import pytest

import keras_deconv
from keras_deconv.export import EXPORT_FORMATS, check_exportable

pytestmark = pytest.mark.skipif(keras.backend.backend() == "numpy",
                                reason="the numpy backend exports nothing")


def _model(dtype, nested=False):
    inner = keras.Sequential([keras.Input((None, None, 2), dtype=dtype),
                              keras_deconv.Conv2DTranspose(2, 3, strides=2, dtype=dtype, name="up")])
    if not nested:
        return inner
    return keras.Sequential([keras.Input((None, None, 2), dtype=dtype), inner], name="outer")


@pytest.mark.parametrize("export_format", ["onnx", "litert"])
@pytest.mark.parametrize("nested", [False, True])
def test_complex_layer_refused_naming_layer_and_format(export_format, nested):
    model = _model("complex64", nested)
    with pytest.raises(ValueError, match=rf"Layer 'up' \(Conv2DTranspose\) computes complex64.*"
                                         rf"Received: format='{export_format}'"):
        check_exportable(model, export_format)
    with pytest.raises(ValueError, match="cannot express"):
        keras_deconv.export.export(model, "unused.onnx", format=export_format)


@pytest.mark.parametrize("export_format", ["tf_saved_model", "torch"])
def test_complex_layer_accepted_where_the_runtime_has_complex(export_format):
    assert check_exportable(_model("complex64"), export_format) is None


@pytest.mark.parametrize("export_format", sorted({f for formats in EXPORT_FORMATS.values() for f in formats}))
def test_real_layers_accepted_by_every_format(export_format):
    assert check_exportable(_model("float32", nested=True), export_format) is None


def test_deploy_page_table_lists_every_tested_backend_and_format():
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    table = page.split("<!-- export table")[1].split("<!-- end of export table -->")[0]
    lines = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    rows = [line.split("|")[1:-1] for line in lines]
    listed = {(cells[0].strip(), cells[1].strip()) for cells in rows[1:]}
    tested = {(backend, fmt) for backend, formats in EXPORT_FORMATS.items() for fmt in formats}
    assert listed == tested
