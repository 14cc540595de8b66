"""How close to torch's op XLA's own kernels let any JAX algorithm come, per benchmark case.

Every algorithm of ``keras_deconv`` on JAX is built from XLA's matrix products
and convolutions, and does at least the case's direct multiply-adds
(``Case.flops_forward``; no path here reduces them, as Winograd or FFT
methods would). So its forward time is at least ``flops / R``, where ``R`` is
the fastest rate XLA's CPU matrix product reaches (its 2D convolution
(8, 32, 32, 64) k3 -> 64 ran at 84 GFLOP/s where its products reached 136-166 in the same run,
on 2026-12-03). Divided by torch's forward
time on its fastest layout (the suite's yardstick), that is a floor on the
forward ratio that no choice of path can beat::

    floor = torch's GFLOP/s on the case / XLA's best GFLOP/s

Run in an environment with jax and torch (``nox -s "bench(backend='jax')"``'s)::

    KERAS_BACKEND=jax python benchmarks/xla_ceiling.py

Everything is timed in one process, medians after a warm-up, with the suite's
allocator settings; the numbers move with the machine as the suite's do.
"""

from __future__ import annotations

import numpy as np

#: Matrix product shapes (m, k, n) tried for XLA's best rate: square ones and the
#: tall-skinny ones that the matmul and phase paths run.
DOT_SHAPES = ((2048, 2048, 2048), (4096, 1024, 1024), (8192, 512, 512), (16384, 512, 128),
              (8192, 1728, 32), (8192, 256, 256), (8192, 64, 256), (32768, 128, 64))


def xla_best_gflops(repeats: int = 11) -> float:
    """The fastest rate, GFLOP/s, of ``jax.jit(jnp.dot)`` over ``DOT_SHAPES`` (float32)."""
    import jax
    import jax.numpy as jnp

    from keras_deconv.cli.bench.timing import median_seconds

    rng = np.random.default_rng(0)
    dot = jax.jit(jnp.dot)
    best = 0.0
    for m, k, n in DOT_SHAPES:
        a = jnp.asarray(rng.standard_normal((m, k), dtype=np.float32))
        b = jnp.asarray(rng.standard_normal((k, n), dtype=np.float32))
        seconds = median_seconds(lambda: jax.block_until_ready(dot(a, b)), repeats, 2)  # noqa: B023
        rate = 2 * m * k * n / seconds / 1e9
        print(f"xla dot {m}x{k}x{n}: {seconds * 1e3:.2f} ms, {rate:.0f} GFLOP/s", flush=True)
        best = max(best, rate)
    return best


def main() -> None:
    import torch

    from keras_deconv.cli.bench.allocator import keep_freed_memory
    from keras_deconv.cli.bench.cases import CASES, case_inputs
    from keras_deconv.cli.bench.contenders import torch_native_thunks
    from keras_deconv.cli.bench.timing import interleaved_medians, machine_threads

    keep_freed_memory()
    torch.set_num_threads(machine_threads())
    best = xla_best_gflops()
    print(f"\nXLA's best matrix product: {best:.0f} GFLOP/s\n")
    print("| case | torch fwd ms (fastest layout) | torch GFLOP/s | floor on JAX's forward ratio |")
    print("|---|---|---|---|")
    for case in CASES:
        arrays = case_inputs(case)
        rows = {layout: torch_native_thunks(case, arrays, channels_last=layout == "cl").forward
                for layout in ("cf", "cl")}
        seconds = min(interleaved_medians(rows, 11, 2).values())
        rate = case.flops_forward / seconds / 1e9
        print(f"| {case.name} | {seconds * 1e3:.2f} | {rate:.0f} | {rate / best:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
