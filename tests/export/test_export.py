"""Models built from keras_deconv, exported with ``model.export``, run by each format's own runtime.

Run by ``nox -s export``, which installs every runtime and runs this module
once per backend. Each artifact must match ``model(x)`` within 1e-5 (relative
to the output's largest value) on two inputs of different batch and spatial
sizes, wherever the format keeps sizes dynamic (all of them here).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_deconv
from keras_deconv.export import EXPORT_FORMATS

BACKEND = keras.backend.backend()

pytestmark = [
    pytest.mark.export,
    pytest.mark.skipif(BACKEND not in EXPORT_FORMATS, reason=f"no export formats on {BACKEND}"),
]

#: Each model: (rank, data_format, [layer keyword arguments]); channels in = 4.
MODELS = {
    # The three models of the deployment issue.
    "1d": (1, "channels_last", [dict(filters=4, kernel_size=5, strides=3, padding="valid"),
                                dict(filters=2, kernel_size=4, strides=2, padding="same")]),
    "2d": (2, "channels_last", [dict(filters=4, kernel_size=3, strides=2, padding="same", activation="relu"),
                                dict(filters=4, kernel_size=4, strides=2, padding="same", groups=2),
                                dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"),
                                # kernel == stride: TF's own op in 2D (matmul in 1D and 3D).
                                dict(filters=2, kernel_size=2, strides=2, padding="same")]),
    "3d": (3, "channels_last", [dict(filters=4, kernel_size=3, strides=2, padding="same"),
                                dict(filters=2, kernel_size=2, strides=2, padding="valid")]),
    # The rest of the argument space: strides with dilation, output_padding,
    # PyTorch-style crops, groups with dilation, channels_first.
    "1d_options": (1, "channels_last", [dict(filters=4, kernel_size=3, strides=2, dilation_rate=2,
                                             output_padding=1, groups=2),
                                        dict(filters=2, kernel_size=4, strides=3, padding=1)]),
    "2d_options": (2, "channels_last", [
        dict(filters=4, kernel_size=3, strides=2, dilation_rate=2, padding="same"),
        dict(filters=4, kernel_size=3, strides=2, output_padding=1),
        dict(filters=2, kernel_size=(2, 3), strides=(1, 2), padding=((1, 0), (0, 1)), groups=2),
    ]),
    "3d_options": (3, "channels_last", [
        dict(filters=4, kernel_size=3, dilation_rate=2, padding="same", groups=2),
        dict(filters=4, kernel_size=3, dilation_rate=2, padding="same"),
        dict(filters=2, kernel_size=3, strides=2, output_padding=1),
    ]),
    "2d_channels_first": (2, "channels_first", [dict(filters=4, kernel_size=4, strides=2, padding="same"),
                                                dict(filters=2, kernel_size=3, strides=2, groups=2)]),
    "3d_channels_first": (3, "channels_first", [dict(filters=2, kernel_size=3, strides=2, padding="same")]),
    # Circular padding: the input wrapped around (slices, flips, concatenation).
    "2d_circular": (2, "channels_last", [
        dict(filters=4, kernel_size=3, strides=2, padding=("same", "circular")),
        dict(filters=2, kernel_size=4, strides=2, padding="circular", groups=2),
    ]),
    # Forward convolutions (ops.conv): 'same' with a stride on sizes unknown until run time,
    # circular, groups with dilation, strides with dilation, then a transposed layer.
    "2d_conv": (2, "channels_last", [
        dict(layer="Conv2D", filters=4, kernel_size=3, strides=2, padding="same"),
        dict(layer="Conv2D", filters=4, kernel_size=3, dilation_rate=2, padding="circular", groups=2),
        dict(layer="Conv2D", filters=4, kernel_size=2, strides=(1, 2), dilation_rate=(2, 1), padding=(1, 1)),
        dict(filters=2, kernel_size=3, strides=2, padding="same"),
    ]),
    "1d_conv_channels_first": (1, "channels_first", [
        dict(layer="Conv1D", filters=4, kernel_size=4, strides=3, padding="same"),
        dict(layer="Conv1D", filters=2, kernel_size=3, padding="same"),
    ]),
    # LoRA: the artifact computes with the merged kernel (the update is made non-zero below).
    "2d_lora": (2, "channels_last", [dict(filters=4, kernel_size=3, strides=2, padding="same", lora_rank=2,
                                          groups=2)]),
}
CHANNELS = 4
#: Two input sizes per rank: (batch, spatial length).
SIZES = [(2, 5), (3, 4)]


def build_model(name):
    rank, data_format, layers = MODELS[name]
    spatial = (None,) * rank
    shape = (CHANNELS, *spatial) if data_format == "channels_first" else (*spatial, CHANNELS)
    model = keras.Sequential(
        [keras.Input(shape)] + [make_layer(rank, data_format, kwargs) for kwargs in layers],
        name=f"model_{name}",
    )
    rng = np.random.default_rng(0)
    # Non-zero biases and LoRA updates, so that a lost one shows.
    for layer in model.layers:
        layer.bias.assign(rng.standard_normal(layer.bias.shape).astype("float32"))
        if layer.lora_enabled:
            layer.lora_kernel_b.assign(rng.standard_normal(layer.lora_kernel_b.shape).astype("float32"))
    return model


def make_layer(rank, data_format, kwargs):
    """The layer of ``kwargs``: ``layer`` names a forward one, else the rank's transposed layer."""
    kwargs = dict(kwargs)
    layer_class = getattr(keras_deconv, kwargs.pop("layer", f"Conv{rank}DTranspose"))
    return layer_class(data_format=data_format, **kwargs)


def inputs(name, batch, length):
    rank, data_format, _ = MODELS[name]
    # Uneven spatial sizes: an axis mix-up shows.
    spatial = tuple(length + axis for axis in range(rank))
    shape = (batch, CHANNELS, *spatial) if data_format == "channels_first" else (batch, *spatial, CHANNELS)
    return np.random.default_rng(batch * 10 + length).standard_normal(shape).astype("float32")


def run_saved_model(path, x):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return loaded.serve(tf.constant(x)).numpy()


def run_onnx(path, x):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def run_litert(path, x):
    # The plain interpreter: it has no Flex delegate, so TF ops in the model fail here.
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    (source,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(source["index"], x.shape, strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(source["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def run_torch(path, x):
    import torch

    program = torch.export.load(str(path))
    with torch.no_grad():
        return program.module()(torch.from_numpy(x)).numpy()


RUNTIMES = {
    "tf_saved_model": ("tensorflow", "saved_model", run_saved_model),
    "onnx": ("onnxruntime", "model.onnx", run_onnx),
    "litert": ("ai_edge_litert", "model.tflite", run_litert),
    "torch": ("torch", "model.pt2", run_torch),
}


def torch_dynamic_shapes(model):
    import torch

    shape = model.inputs[0].shape
    return [{axis: torch.export.Dim.DYNAMIC for axis, size in enumerate(shape) if size is None}]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("export_format", EXPORT_FORMATS.get(BACKEND, ()))
def test_exported_model_matches_model(export_format, name, tmp_path, assert_close):
    module, filename, run = RUNTIMES[export_format]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (nox -s export installs it)")
    model = build_model(name)
    model(inputs(name, *SIZES[0]))  # Keras exports only models that have been called
    path = tmp_path / filename
    # Keras's own call, as a user writes it; torch.export keeps sizes dynamic only when asked.
    # Traced on a sample of 32 per unknown size: Keras's own sample of 2 becomes 1 after a strided
    # convolution, a size torch.export fixes (Keras's own Conv layers fail the same way).
    kwargs = {}
    if export_format == "torch":
        kwargs = {"dynamic_shapes": torch_dynamic_shapes(model),
                  "input_signature": keras_deconv.export.torch_sample_signature(model)}
    model.export(str(path), format=export_format, verbose=False, **kwargs)
    for batch, length in SIZES:
        x = inputs(name, batch, length)
        assert_close(run(path, x), model(x), err_msg=f"input {x.shape}")
    if export_format == "litert":
        assert b"Flex" not in path.read_bytes(), "the LiteRT model holds TF (Flex) ops"


@pytest.mark.parametrize("export_format", EXPORT_FORMATS.get(BACKEND, ()))
def test_package_export_with_its_defaults_matches_model(export_format, tmp_path, assert_close):
    # keras_deconv.export.export: builtin-only LiteRT, dynamic torch.export sizes, by default.
    module, filename, run = RUNTIMES[export_format]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (nox -s export installs it)")
    model = build_model("2d")
    model(inputs("2d", *SIZES[0]))
    path = tmp_path / filename
    keras_deconv.export.export(model, path, format=export_format)
    for batch, length in SIZES:
        x = inputs("2d", batch, length)
        assert_close(run(path, x), model(x), err_msg=f"input {x.shape}")


def test_deploy_page_counts_the_models_tested_here():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
    table = page.split("<!-- export table")[1].split("<!-- end of export table -->")[0]
    rows = [line for line in table.splitlines() if line.startswith(f"| {BACKEND} |")]
    assert len(rows) == len(EXPORT_FORMATS[BACKEND])
    assert all(row.rstrip().endswith(f"| {len(MODELS)}/{len(MODELS)} |") for row in rows)


#: Saves every model above with oneDNN forced on (argv: folder, this module's folder); prints whether it ran.
_SAVE_WITH_ONEDNN = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from test_export import MODELS, SIZES, build_model, inputs
from keras_deconv.cli.bench.suite import onednn_enabled

folder = sys.argv[1]
for name in MODELS:
    model = build_model(name)
    x = inputs(name, *SIZES[0])
    np.save(f"{folder}/{name}_x.npy", x)
    np.save(f"{folder}/{name}_y.npy", np.asarray(model(x)))
    model.export(f"{folder}/{name}", format="tf_saved_model", verbose=False)
print("onednn" if onednn_enabled() else "no onednn")
"""

#: Runs those models with oneDNN off (Eigen's CPU kernels; same argv); prints the largest relative difference.
_RUN_WITHOUT_ONEDNN = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from test_export import MODELS, run_saved_model

folder = sys.argv[1]
worst = 0.0
for name in MODELS:
    x, y = np.load(f"{folder}/{name}_x.npy"), np.load(f"{folder}/{name}_y.npy")
    out = run_saved_model(f"{folder}/{name}", x)
    worst = max(worst, float(np.abs(out - y).max() / np.abs(y).max()))
print(worst)
"""


@pytest.mark.skipif(BACKEND != "tensorflow", reason="oneDNN is TensorFlow's")
def test_saved_models_made_with_onednn_run_without_it(tmp_path):
    # A SavedModel moves between machines: one saved where TF runs oneDNN (the
    # x86 default with AVX-512) must run where it does not (AVX2, Arm), whose
    # CPU kernels have no dilated Conv3D (3d_options failed here until 2026-12-06).
    def run(script, onednn):
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": onednn,
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(Path(__file__).parent)],
                              env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1]

    if run(_SAVE_WITH_ONEDNN, "1") != "onednn":
        pytest.skip("this TensorFlow build cannot run oneDNN")
    assert float(run(_RUN_WITHOUT_ONEDNN, "0")) < 1e-5
