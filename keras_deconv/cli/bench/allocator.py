"""The C allocator during a timing run: freed memory stays in the process.

glibc hands each block above its mmap threshold (adjusted up to 32 MiB by
default) straight back to the operating system when it is freed, so every
call of an op with a large output or temporary faults that memory in again,
page by page. On the 2-core VM the suite was written on, that costs about
10 ms per 32 MiB (about 1.2 microseconds a page): ``(a * a).sum()`` on a
32 MiB tensor took 10.6 ms against 3.6 ms with freed memory kept, and on
128 MiB 42.7 ms against 6.1 ms. Which contender pays it depends on how many
large buffers each allocates per call, not on its algorithm: torch's native
op on the 2D k2 s2 segmentation case read 41.6 / 99.7 ms (forward /
forward+backward) with glibc's defaults and 17.5 / 47.7 ms without the
faults.

``keep_freed_memory`` therefore raises glibc's mmap and trim thresholds to
1 GiB (``mallopt``) before anything is allocated, for every contender alike:
freed blocks are reused rather than returned and faulted in again. It also
makes every thread allocate from the main heap (one arena): a thread's own
arena grows in heaps of at most 64 MiB, so a larger block allocated off the
main thread is mmapped whatever the threshold, and handed back when freed.
XLA allocates its buffers on its worker threads: ``x * 2`` on a 64 MiB array
under ``jax.jit`` took 17.1 ms in per-thread arenas against 2.9 ms in one,
and the benchmark's 3D (1, 64^3, 32) -> 16 k3 s2 ``auto`` forward 138 ms
against 65 ms.
``keras-deconv bench --system-malloc`` keeps the defaults. Peak-memory probes
run in their own processes and keep the defaults either way. Elsewhere than
glibc nothing changes; the report records what held.

>>> describe(kept=False)
"the C library's defaults"
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any, Optional

#: Blocks up to this size come from the heap, and the heap keeps this much free memory.
KEPT_BYTES = 2**30

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _glibc() -> Optional[Any]:
    """The process's C library if it is glibc (the one with ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def _version(libc: Any) -> str:
    libc.gnu_get_libc_version.restype = ctypes.c_char_p
    return str(libc.gnu_get_libc_version().decode())


def glibc_version() -> Optional[str]:
    """glibc's version string ("2.36"), or None on another C library."""
    libc = _glibc()
    return None if libc is None else _version(libc)


def describe(kept: bool, version: Optional[str] = None) -> str:
    """The report's words for the allocator's settings."""
    if not kept:
        return "the C library's defaults"
    return (f"glibc {version}, freed memory kept in the process (mallopt: mmap and trim "
            f"thresholds {KEPT_BYTES // 2**20} MiB, one arena)")


def keep_freed_memory() -> str:
    """Make glibc keep freed memory for reuse; returns ``describe``'s words for what now holds.

    Changes nothing (and says so) where the C library is not glibc or refuses.
    """
    libc = _glibc()
    if libc is None:
        return describe(kept=False)
    # mallopt returns 1 on success, 0 where the value is out of its range.
    kept = (libc.mallopt(_M_MMAP_THRESHOLD, KEPT_BYTES) == 1
            and libc.mallopt(_M_TRIM_THRESHOLD, KEPT_BYTES) == 1
            and libc.mallopt(_M_ARENA_MAX, 1) == 1)
    return describe(kept, _version(libc))
