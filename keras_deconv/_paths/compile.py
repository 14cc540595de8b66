"""JAX: how a bound path is compiled, and how its derivatives come from other algorithms.

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
