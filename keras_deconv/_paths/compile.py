"""How a bound path is compiled, and how its derivatives come from other algorithms.

``values(x, kernel)`` is a path with its arguments bound; ``derivatives``,
where not None, is the pair of bound algorithms whose derivatives stand for
the input's and the kernel's. A transposed convolution is bilinear, so any
two algorithms that compute it give the same derivatives.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

Path = Callable[..., Any]


def jax_compile(values: Path, derivatives: Optional[Tuple[Path, Path]] = None) -> Path:
    """``jax.jit`` of the path, with a ``jax.custom_jvp`` where the derivatives are another algorithm's.

    Eagerly a path is dozens of small operations; jit makes it one (inlined
    inside an outer jit).
    """
    import jax

    if derivatives is None:
        return jax.jit(values)  # type: ignore[no-any-return]
    for_input, for_kernel = derivatives
    function = jax.custom_jvp(values)

    def jvp(primals: Any, directions: Any) -> Any:
        # Bilinear: the JVP is f(dx, w) + f(x, dw); JAX transposes each term
        # for reverse mode, so each argument's gradient is its algorithm's.
        (x, kernel), (dx, dkernel) = primals, directions
        return values(x, kernel), for_input(dx, kernel) + for_kernel(x, dkernel)

    function.defjvp(jvp)
    return jax.jit(function)  # type: ignore[no-any-return]


def tensorflow_compile(values: Path, derivatives: Optional[Tuple[Path, Path]] = None) -> Path:
    """The path itself, or a ``tf.custom_gradient`` that differentiates the other algorithms.

    TF differentiates their operations inside the gradient (under tf.function
    the forward they record is pruned; eagerly it runs once more).
    """
    if derivatives is None:
        return values
    import tensorflow as tf

    for_input, for_kernel = derivatives

    @tf.custom_gradient
    def function(x: Any, kernel: Any) -> Any:
        def gradient(upstream: Any) -> Any:
            one = for_kernel is for_input
            with tf.GradientTape(persistent=not one) as tape:
                tape.watch([x, kernel])
                y_input = for_input(x, kernel)
                y_kernel = y_input if one else for_kernel(x, kernel)
            if one:
                return tape.gradient(y_input, [x, kernel], output_gradients=upstream)
            return (tape.gradient(y_input, x, output_gradients=upstream),
                    tape.gradient(y_kernel, kernel, output_gradients=upstream))

        return values(x, kernel), gradient

    # Tensors, not variables: a variable read inside a custom gradient would need a gradient of its own.
    return lambda x, kernel: function(tf.convert_to_tensor(x), tf.convert_to_tensor(kernel))
