"""The benchmark suite's entry point (``python -m benchmarks.run``); the code is ``keras_deconv.bench``."""
