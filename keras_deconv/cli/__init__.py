"""The ``keras-deconv`` command (also ``python -m keras_deconv``): tooling, apart from the library.

Subcommands, one module each in this package:

- ``demo``: train a small 3D convolutional autoencoder on synthetic volumes,
  save it as ``.keras``, reload it, check the predictions and write a PNG.
- ``check``: run the layers on every installed backend against the NumPy
  reference and print a table; non-zero exit status on any mismatch.
- ``bench``: the benchmark suite (``keras_deconv.cli.bench``; needs torch, its yardstick).

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so this module
imports no backend at load time: ``choose_backend`` settles the variable
first (the first importable of tensorflow, jax, torch when it is unset).

>>> build_parser().parse_args(["demo", "--epochs", "3"]).epochs
3
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.util import find_spec
from typing import MutableMapping, Optional, Sequence, Tuple

#: The order in which an unset KERAS_BACKEND is filled in (Keras's own default first).
BACKEND_PREFERENCE = ("tensorflow", "jax", "torch")


def choose_backend(environ: Optional[MutableMapping[str, str]] = None) -> Tuple[str, str]:
    """Set KERAS_BACKEND if it is unset; return ``(backend, why)``.

    >>> choose_backend({"KERAS_BACKEND": "torch"})
    ('torch', 'from KERAS_BACKEND')
    """
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"], "from KERAS_BACKEND"
    if "keras" in sys.modules:
        # Too late to choose: Keras has already read its configuration.
        import keras

        return keras.backend.backend(), "Keras was already imported"
    for backend in BACKEND_PREFERENCE:
        if find_spec(backend) is not None:
            environ["KERAS_BACKEND"] = backend
            return backend, f"first installed of {', '.join(BACKEND_PREFERENCE)}; set KERAS_BACKEND to choose"
    environ["KERAS_BACKEND"] = "numpy"
    return "numpy", f"none of {', '.join(BACKEND_PREFERENCE)} is installed"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``keras-deconv``."""
    parser = argparse.ArgumentParser(
        prog="keras-deconv",
        description="Transposed convolutions that give the same numbers on every Keras 3 backend.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="train a small 3D convolutional autoencoder on synthetic volumes",
        description="Train a 3D convolutional autoencoder (Conv3D encoder, keras_deconv.Conv3DTranspose "
                    "decoder) on random ellipsoids, save it as .keras, reload it, check its predictions "
                    "and write a PNG of central slices.",
    )
    demo.add_argument("--epochs", type=_positive_int, default=8, help="training epochs (default: 8)")
    demo.add_argument("--samples", type=_positive_int, default=96,
                      help="number of synthetic training volumes (default: 96)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data and the weights (default: 0)")
    demo.add_argument("--output-dir", default="keras-deconv-demo",
                      help="folder for the model and the PNG (default: ./keras-deconv-demo)")

    check = commands.add_parser(
        "check", help="check every installed backend against the NumPy reference",
        description="Run the layers and every conv_transpose path over a grid of arguments on each "
                    "installed backend (one process each) and compare with the NumPy reference. "
                    "Exit status 1 on any mismatch or crash.",
    )
    check.add_argument("--backend", action="append", dest="backends", metavar="NAME",
                       choices=("jax", "torch", "tensorflow", "numpy"),
                       help="check only this backend (repeatable; default: every installed one)")

    commands.add_parser("bench", help="benchmark conv_transpose against Keras's and torch's ops",
                        add_help=False)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def run_bench(argv: Sequence[str]) -> int:
    """Hand the arguments to ``keras_deconv.cli.bench.main``; exit status 2 without torch."""
    backend, why = choose_backend()
    print(f"keras-deconv: using the {backend} backend ({why})", file=sys.stderr)
    if find_spec("torch") is None:
        print("error: keras-deconv bench needs torch (its yardstick): pip install 'keras-deconv[bench]'",
              file=sys.stderr)
        return 2
    from keras_deconv.cli import bench

    status = bench.main(list(argv))
    return int(status or 0)


def run_demo(arguments: argparse.Namespace) -> int:
    """Choose the backend, then run ``keras_deconv.cli.demo``."""
    backend, why = choose_backend()
    print(f"keras-deconv demo: using the {backend} backend ({why})")
    missing = [name for name, module in {"pillow": "PIL"}.items() if find_spec(module) is None]
    if missing:
        print(f"error: the demo needs {', '.join(missing)}: pip install 'keras-deconv[demo]'",
              file=sys.stderr)
        return 2
    if backend == "numpy":
        print("error: the numpy backend cannot train; install jax, torch or tensorflow "
              "(pip install 'keras-deconv[demo]' installs jax).", file=sys.stderr)
        return 2
    from keras_deconv.cli import demo

    demo.run(epochs=arguments.epochs, samples=arguments.samples, seed=arguments.seed,
             output_dir=arguments.output_dir)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``keras-deconv``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # bench parses its own options, so everything after the word goes to it untouched.
    if argv[:1] == ["bench"]:
        return run_bench(argv[1:])
    arguments = build_parser().parse_args(argv)
    if arguments.command == "demo":
        return run_demo(arguments)
    from keras_deconv.cli import check

    return check.main(arguments.backends)
