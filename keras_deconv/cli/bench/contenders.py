"""The functions timed: keras_deconv, Keras's own op and torch's native op, each compiled as it runs.

Every contender gives three thunks:

- ``forward()``: the output, computed and waited for;
- ``forward_backward()``: the value **and** the gradients (input and kernel)
  of ``loss = sum(output ** 2)``, a loss that needs the output, so that no
  compiler can prune the forward pass (the gradient of a loss linear in the
  output, such as ``sum(output * c)``, does not need it: under ``jax.jit`` and
  ``tf.function`` that timed the backward pass alone). It returns the loss;
- ``output()``: the forward output as a NumPy array.

``check_loss`` holds a returned loss against ``sum(output()**2)``, so a
timing whose program skipped the forward pass fails instead of being reported.

Each backend's compile wrapper: ``jax.jit`` (forward and ``jax.value_and_grad``),
``tf.function`` (``tf.GradientTape`` inside; ``jit_compile=True`` for the
"+xla" row), eager torch autograd; numpy has no gradients.

On JAX a thunk can hold several compilations of its program
(``Compilations``): one compiled program ran at one of two speeds from one
compilation to the next (docs/benchmarks.md, "JAX: one program, two speeds"),
so the suite times each JAX row over ``JAX_COMPILATIONS`` of them.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from keras_deconv.cli.bench.cases import Case

Op = Callable[[Any, Any], Any]

#: How many times the suite compiles each JAX row; its rounds go to them in turn.
JAX_COMPILATIONS = 3


class Compilations:
    """Separately compiled programs of one computation, called one at a time.

    A call runs the current program; ``advance()`` makes the next one current
    (after the last, the first again). ``timing.interleaved_medians`` warms up
    the first, calls each other once, and advances once per round, so a
    median pools every compilation.

    >>> calls = Compilations([lambda: "first", lambda: "second"])
    >>> calls(), calls.advance(), calls(), len(calls.programs)
    ('first', None, 'second', 2)
    """

    def __init__(self, programs: Sequence[Callable[[], Any]]) -> None:
        if not programs:
            raise ValueError("Compilations needs at least one program, got none")
        self.programs = tuple(programs)
        self.current = 0

    def __call__(self) -> Any:
        return self.programs[self.current]()

    def advance(self) -> None:
        self.current = (self.current + 1) % len(self.programs)


def programs(run: Callable[[], Any]) -> Tuple[Callable[[], Any], ...]:
    """Each compiled program behind a thunk: a ``Compilations``'s, else the thunk itself.

    >>> len(programs(lambda: None)), len(programs(Compilations([print, print, print])))
    (1, 3)
    """
    return run.programs if isinstance(run, Compilations) else (run,)


class Thunks(NamedTuple):
    forward: Callable[[], Any]
    forward_backward: Optional[Callable[[], float]]
    output: Callable[[], np.ndarray]


def keras_deconv_op(case: Case, path: str, padding: str = "same") -> Op:
    from keras_deconv.ops import conv_transpose

    def op(x: Any, w: Any) -> Any:
        return conv_transpose(x, w, strides=case.strides, padding=padding, data_format=case.data_format,
                              dilation_rate=case.dilation, groups=case.groups, path=path)

    return op


def keras_builtin_op(case: Case) -> Op:
    import keras

    if case.groups != 1:
        raise NotImplementedError("keras.ops.conv_transpose has no `groups` argument")

    def op(x: Any, w: Any) -> Any:
        return keras.ops.conv_transpose(x, w, strides=case.strides, padding="same",
                                        data_format=case.data_format, dilation_rate=case.dilation)

    return op


def _jax(op: Op, x: Any, w: Any, xla: bool, compilations: int = 1) -> Thunks:
    import jax
    import jax.numpy as jnp

    xj, wj = jnp.asarray(x), jnp.asarray(w)

    def loss(a: Any, b: Any) -> Any:
        return jnp.sum(jnp.square(op(a, b)))

    def compile_forward() -> Callable[[], Any]:
        # A new function object each time: jax.jit caches by function, and
        # would hand back the program it compiled before.
        forward = jax.jit(lambda a, b: op(a, b))
        return lambda: jax.block_until_ready(forward(xj, wj))

    def compile_forward_backward() -> Callable[[], float]:
        value_and_grad = jax.jit(jax.value_and_grad(lambda a, b: loss(a, b), argnums=(0, 1)))

        def forward_backward() -> float:
            value, _ = jax.block_until_ready(value_and_grad(xj, wj))
            return float(value)

        return forward_backward

    if compilations == 1:
        forward, forward_backward = compile_forward(), compile_forward_backward()
    else:
        forward = Compilations([compile_forward() for _ in range(compilations)])
        forward_backward = Compilations([compile_forward_backward() for _ in range(compilations)])
    first_forward = programs(forward)[0]
    return Thunks(forward, forward_backward, lambda: np.asarray(first_forward()))


def _tensorflow(op: Op, x: Any, w: Any, xla: bool, compilations: int = 1) -> Thunks:
    import tensorflow as tf

    xt, wt = tf.constant(x), tf.constant(w)
    # autograph=False: the op has no tensor-dependent Python control flow to convert.
    forward = tf.function(op, jit_compile=xla, autograph=False)

    @tf.function(jit_compile=xla, autograph=False)
    def value_and_gradients(a: Any, b: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            loss = tf.reduce_sum(tf.square(op(a, b)))
        return loss, tape.gradient(loss, [a, b])

    def forward_backward() -> float:
        # A tf.function call runs every op its outputs need before it returns.
        loss, _ = value_and_gradients(xt, wt)
        return float(loss.numpy())

    # TF runs a tf.function synchronously (the default, checked here): the call
    # returns once its output is computed. The forward thunk returns the tensor;
    # converting it with .numpy() copies it (10.5 ms for a 134 MB output on this
    # machine), a cost torch's and JAX's forward timings do not carry.
    if not tf.config.experimental.get_synchronous_execution():
        raise RuntimeError("The benchmark times TensorFlow with synchronous execution "
                           "(tf.config.experimental.set_synchronous_execution(True)).")
    return Thunks(lambda: forward(xt, wt), forward_backward, lambda: forward(xt, wt).numpy())


def _torch(op: Op, x: Any, w: Any, xla: bool, compilations: int = 1) -> Thunks:
    import torch

    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    xg, wg = xt.clone().requires_grad_(True), wt.clone().requires_grad_(True)

    def forward() -> Any:
        with torch.no_grad():
            return op(xt, wt)

    def forward_backward() -> float:
        loss = op(xg, wg).square().sum()
        torch.autograd.grad(loss, (xg, wg))
        return float(loss.detach())

    return Thunks(forward, forward_backward, lambda: forward().numpy())


def _numpy(op: Op, x: Any, w: Any, xla: bool, compilations: int = 1) -> Thunks:
    return Thunks(lambda: op(x, w), None, lambda: np.asarray(op(x, w)))


#: Each Keras backend's way of compiling and differentiating a contender.
#: ``compilations`` matters on JAX only: TF's and torch's thunks hold one program each.
BACKEND_THUNKS: Dict[str, Callable[[Op, Any, Any, bool, int], Thunks]] = {
    "jax": _jax, "tensorflow": _tensorflow, "torch": _torch, "numpy": _numpy,
}


def backend_thunks(backend: str, op: Op, arrays: Tuple[Any, Any], xla: bool = False,
                   compilations: int = 1) -> Thunks:
    """A keras.ops-based contender compiled the way ``backend`` runs it (JAX: ``compilations`` times)."""
    return BACKEND_THUNKS[backend](op, *arrays, xla, compilations)


def torch_padding(case: Case) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Torch ``padding`` and ``output_padding`` giving the 'same' output length."""
    padding, output_padding = [], []
    for k, s, d in zip(case.kernel_size, case.strides, case.dilation, strict=True):
        crop = d * (k - 1) + 1 - s  # full length minus the 'same' length
        if crop >= 0:
            p = (crop + 1) // 2
            padding.append(p)
            output_padding.append(2 * p - crop)
        else:  # the full output is shorter than input * stride: pad the end
            padding.append(0)
            output_padding.append(-crop)
    return tuple(padding), tuple(output_padding)


def torch_native_thunks(case: Case, arrays: Tuple[Any, Any], channels_last: bool = False) -> Thunks:
    """Torch's own op, with its (C, F/G, *k) weight, on channels_first or channels_last memory.

    ``channels_last``: the input is held channels_last (moved there before timing
    in a channels_first case) and handed to torch's op permuted, a view with no
    copy, as a torch model kept in ``torch.channels_last`` memory runs it; 1D has
    no such format, and its permuted view goes to ``conv_transpose1d`` as it is.
    Otherwise: a contiguous channels_first input.
    """
    import torch.nn.functional as F

    x, w = arrays
    rank = case.rank
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
    if channels_last:
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if case.channels_first else x
    else:
        x = x if case.channels_first else np.ascontiguousarray(np.moveaxis(x, -1, 1))
    weight = np.ascontiguousarray(np.transpose(w, (rank + 1, rank, *range(rank))))
    padding, output_padding = torch_padding(case)

    def op(a: Any, b: Any) -> Any:
        if channels_last:
            a = a.permute(0, rank + 1, *range(1, rank + 1))
        return conv(a, b, stride=case.strides, padding=padding, output_padding=output_padding,
                    groups=case.groups, dilation=case.dilation)

    thunks = _torch(op, x, weight, False)
    shape = tuple(thunks.forward().shape)
    expected = (case.input_shape[0], case.filters, *case.output_spatial)
    if shape != expected:  # a wrong torch padding would make the comparison unfair
        raise AssertionError(f"torch output shape {shape} != {expected}")
    return thunks


def check_loss(thunks: Thunks, loss: float, name: str) -> None:
    """Raise unless ``loss``, returned by ``forward_backward()``, is ``sum(output**2)`` (see module doc)."""
    expected = float(np.sum(np.square(thunks.output().astype("float64"))))
    # The loss is a float32 sum of ~10**6 squares in the compiler's own order: TF under
    # jit_compile was 1.5e-3 off the float64 sum on 3d_k3s2. A program without the
    # forward pass returns no such sum at all, so 1e-2 still tells them apart.
    if not abs(loss - expected) <= 1e-2 * max(abs(expected), 1.0):
        raise AssertionError(f"{name}: forward+backward returned loss {loss}, but sum(forward()**2) "
                             f"is {expected}; the timed program does not compute the forward pass")
