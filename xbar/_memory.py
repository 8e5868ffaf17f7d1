"""Host memory: keep freed blocks for reuse instead of handing them back to the OS.

Every call of a compiled XLA CPU program allocates its temporary buffers (all the
intermediate arrays of a training step) and frees them when it returns. glibc serves a
block above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and returns it
with ``munmap`` on free, and a thread's own arena does the same with any block larger
than its heaps (64 MiB), so the next call touches brand-new pages: one page fault per
4 KiB, every step. A hardware-in-the-loop training step of a 784-256-10 network at
batch 128 holds 40–65 MiB of temporaries, so on a 2-core machine it spent a third of its
time in 10,000–16,000 page faults per step (at batch 512, 62,000 faults and a third of
135 ms), while the plain step (27 MiB) stayed under the threshold and paid none
(`resource.getrusage`; `bench/RESULTS.md`).

`keep_freed_memory` turns that off for the process with glibc's ``mallopt``: no ``mmap``
for large blocks, one arena (the main heap) for every thread, and up to 1 GiB free at
the top of the heap kept rather than trimmed — so each step reuses the previous step's
pages. `import xbar` calls it, before JAX starts its threads. The costs: freed memory
stays with the process for reuse, so its footprint stays at its peak until it exits or
calls `release_freed_memory`; and every thread allocates from one heap, which XLA's
compiler threads contend for: compiling the HIL training step took 2.9 s instead of 2.5 s
(`xbar demo`, mostly compilation, 29 s instead of 25 s), while every step of a long
run is faster (the MNIST HIL training of the README, 29 s instead of 55 s). Set ``XBAR_KEEP_FREED_MEMORY=0``
before importing xbar to leave the C library's defaults alone. Outside Linux with glibc
both functions do nothing; with another allocator preloaded (jemalloc, tcmalloc) the
settings reach glibc's unused heap and change nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

__all__ = ["keep_freed_memory", "release_freed_memory"]

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_KEEP_BYTES = 1 << 30
_OFF = ("0", "false", "no", "off")


@functools.cache
def _glibc():
    """The process's glibc (``ctypes.CDLL``), or None elsewhere (other systems, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl's mallopt is a no-op stub
            return None
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc keep freed host memory for reuse (module docstring); `import xbar`
    calls it. Returns True if every setting took (Linux with glibc, and
    ``XBAR_KEEP_FREED_MEMORY`` is not ``0``/``false``/``no``/``off``), else False.
    Applied once per process; later calls return the first answer."""
    if os.environ.get("XBAR_KEEP_FREED_MEMORY", "1").strip().lower() in _OFF:
        return False
    libc = _glibc()
    if libc is None:
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _KEEP_BYTES))
    results = [libc.mallopt(option, value) == 1 for option, value in settings]  # every one tried
    return all(results)


def release_freed_memory() -> bool:
    """Hand the free memory the process keeps back to the OS (glibc ``malloc_trim(0)``),
    e.g. in a notebook after a large run. The next large computation page-faults its
    memory in again. Returns whether any memory was released (False outside glibc)."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
