"""The ``keras-deconv`` command: parsing in-process, the subcommands in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import pytest

from keras_deconv import cli
from keras_deconv.cli import check

BACKEND = keras.backend.backend()
TRAINABLE_BACKENDS = ("jax", "torch", "tensorflow")


def run_cli(*arguments, extra_env=None, timeout=300):
    """Run ``python -m keras_deconv ARGUMENTS`` on the test backend; the CompletedProcess."""
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_DECONV_INJECT_FAULT", None)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "keras_deconv", *arguments], env=env,
                          capture_output=True, text=True, timeout=timeout)


# --- argument parsing -------------------------------------------------------------------------

def test_demo_options_are_parsed():
    arguments = cli.build_parser().parse_args(
        ["demo", "--epochs", "2", "--samples", "8", "--seed", "5", "--output-dir", "out"])
    assert (arguments.command, arguments.epochs, arguments.samples, arguments.seed, arguments.output_dir) == (
        "demo", 2, 8, 5, "out")


def test_demo_defaults_write_to_a_folder_in_the_current_directory():
    arguments = cli.build_parser().parse_args(["demo"])
    assert arguments.output_dir == "keras-deconv-demo"
    assert arguments.epochs >= 1 and arguments.samples >= 1


@pytest.mark.parametrize("argv", [["demo", "--epochs", "0"], ["demo", "--samples", "-3"],
                                  ["check", "--backend", "mxnet"], [], ["train"]])
def test_bad_arguments_exit_with_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.build_parser().parse_args(argv)
    assert raised.value.code == 2
    assert "usage: keras-deconv" in capsys.readouterr().err


def test_check_backends_are_repeatable():
    arguments = cli.build_parser().parse_args(["check", "--backend", "jax", "--backend", "numpy"])
    assert arguments.backends == ["jax", "numpy"]
    assert cli.build_parser().parse_args(["check"]).backends is None


# --- backend choice -----------------------------------------------------------------------------

def test_an_explicit_keras_backend_is_kept():
    environ = {"KERAS_BACKEND": "torch"}
    assert cli.choose_backend(environ)[0] == "torch"
    assert environ == {"KERAS_BACKEND": "torch"}


def test_an_unset_backend_becomes_the_first_installed(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    installed = {"jax", "torch"}
    monkeypatch.setattr(cli, "find_spec", lambda name: object() if name in installed else None)
    environ = {}
    backend, why = cli.choose_backend(environ)
    assert backend == "jax" and environ["KERAS_BACKEND"] == "jax"
    assert "KERAS_BACKEND" in why


def test_numpy_is_the_last_resort(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setattr(cli, "find_spec", lambda name: None)
    environ = {}
    assert cli.choose_backend(environ)[0] == "numpy" and environ["KERAS_BACKEND"] == "numpy"


# (bench: tests/test_bench.py)

# --- check: the pieces ----------------------------------------------------------------------------

def _result(shape_ok=True, max_error=1e-7, error=None):
    return dict(shape_ok=shape_ok, max_error=max_error, time_s=0.5, error=error, shape=[1, 4, 2],
                expected_shape=[1, 4, 2] if shape_ok else [1, 5, 2])


def test_a_case_passes_only_when_every_runner_passes():
    assert check.summarize_case({"layer": _result(), "matmul": _result()}, 1e-4)[0]
    passed, _, max_error, time_s, note = check.summarize_case(
        {"layer": _result(), "phase": _result(max_error=0.5)}, 1e-4)
    assert not passed and max_error == 0.5 and time_s == 1.0 and "phase" in note
    passed, shape_ok, _, _, note = check.summarize_case({"native": _result(shape_ok=False, max_error=None)},
                                                        1e-4)
    assert not passed and not shape_ok and "(1, 4, 2) != (1, 5, 2)" in note
    passed, _, _, _, note = check.summarize_case({"layer": _result(error="ValueError: no")}, 1e-4)
    assert not passed and "ValueError: no" in note


def test_a_crashed_or_empty_backend_fails_the_check():
    crashed = dict(backend="torch", crashed="worker exited with status 1", cases=[], wall_s=1.0)
    ok = dict(backend="jax", crashed=None, tolerance=1e-4, wall_s=1.0,
              cases=[dict(name="1d", results={"layer": _result()})])
    assert check.build_rows([ok])[1]
    rows, all_passed = check.build_rows([ok, crashed])
    assert not all_passed and rows[-1][0] == "torch" and rows[-1][-1].startswith("FAIL")
    assert not check.build_rows([dict(ok, cases=[])])[1]


def test_plain_table_columns_line_up():
    text = check.format_plain_table(["backend", "error"], [["jax", "1e-7"], ["tensorflow", "2e-7"]])
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].index("error") == lines[2].index("1e-7") == lines[3].index("2e-7") == len("tensorflow  ")
    assert lines[1].split() == ["-" * len("tensorflow"), "-" * len("error")]


def test_worker_grid_covers_the_promised_arguments():
    from keras_deconv.cli.check_worker import CASES

    arguments = [case["arguments"] for case in CASES]
    assert {len(case["kernel_size"]) for case in CASES} == {1, 2, 3}
    def padding_kind(padding):
        return padding if isinstance(padding, str) else type(padding).__name__

    assert {padding_kind(a.get("padding", "valid")) for a in arguments} == {"valid", "same", "int", "tuple"}
    for key in ("output_padding", "output_size", "groups", "data_format"):
        assert any(key in a for a in arguments), key
    assert any(a.get("dilation_rate", 1) != 1 and a.get("strides", 1) != 1 for a in arguments)


# --- check and demo: end to end ---------------------------------------------------------------------

def test_check_passes_on_the_current_backend():
    completed = run_cli("check", "--backend", BACKEND)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert BACKEND in completed.stdout and "FAIL" not in completed.stdout
    assert "All" in completed.stdout


def test_check_fails_when_a_fault_is_injected():
    completed = run_cli("check", "--backend", BACKEND, extra_env={"KERAS_DECONV_INJECT_FAULT": "1"})
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "FAIL" in completed.stdout and "FAILED" in completed.stderr


@pytest.mark.skipif(BACKEND not in TRAINABLE_BACKENDS, reason="the numpy backend cannot train")
def test_demo_trains_saves_reloads_and_draws(tmp_path):
    output_dir = tmp_path / "demo"
    completed = run_cli("demo", "--epochs", "1", "--samples", "8", "--output-dir", str(output_dir))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert f"using the {BACKEND} backend" in completed.stdout
    assert "before training" in completed.stdout and "after 1 epoch" in completed.stdout
    assert "predictions identical" in completed.stdout
    assert (output_dir / "autoencoder.keras").stat().st_size > 1000
    from PIL import Image

    with Image.open(output_dir / "reconstructions.png") as picture:
        assert picture.format == "PNG"
        width, height = picture.size
    assert width > height > 0  # four rows of six slices, wider than tall


@pytest.mark.skipif(BACKEND != "numpy", reason="only the numpy backend refuses to train")
def test_demo_on_numpy_explains_why_it_cannot_train(tmp_path):
    completed = run_cli("demo", "--output-dir", str(tmp_path / "demo"))
    assert completed.returncode == 2
    assert "cannot train" in completed.stderr
