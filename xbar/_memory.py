"""Host memory: keep freed blocks for reuse instead of handing them back to the OS.

Every call of a compiled XLA CPU program allocates its temporary buffers (all the
intermediate arrays of a training step, in one block) and frees them when it returns.
glibc serves a block above its mmap threshold (at most 32 MiB) with a fresh ``mmap``
and returns it with ``munmap`` on free, so the next call touches brand-new pages: one
page fault per 4 KiB, every step. A hardware-in-the-loop training step of a
784-256-10 network holds 40–65 MiB of temporaries (device states, noise, per-tile
partial sums), so on a 2-core machine it spent a third of its time in 10,000–16,000
page faults per step, while the plain step (27 MiB) stayed under the threshold and
paid none (measured with `resource.getrusage`; `bench/RESULTS.md`).

`keep_freed_memory` turns that off for the process (glibc's ``mallopt``: no ``mmap``
for large blocks, and up to 1 GiB kept at the top of the heap when freed), so each
step reuses the previous step's pages. The cost: the process keeps up to 1 GiB of
freed memory for reuse instead of returning it at once. xbar's long-running entry
points call it (training, evaluation, STDP, sweeps, the command line, the demo);
set ``XBAR_KEEP_FREED_MEMORY=0`` to leave the C library's defaults alone. It does
nothing outside Linux with glibc.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_KEEP_BYTES = 1 << 30


@functools.cache
def keep_freed_memory(*, arenas: int | None = None) -> bool:
    """Make the C library keep freed host memory for reuse (module docstring).

    `arenas`: also cap glibc's malloc arenas (``M_ARENA_MAX``; 1 = one heap for every
    thread). Only effective before the threads that allocate are started, so only for
    scripts that call it before importing JAX (the `bench/` scripts load this file
    directly for that); xbar itself leaves the arenas alone.

    Returns True if the settings were applied (Linux with glibc, and
    ``XBAR_KEEP_FREED_MEMORY`` is not ``0``), else False. Applied once per process and
    argument; later calls return the first answer."""
    if os.environ.get("XBAR_KEEP_FREED_MEMORY", "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl's mallopt is a no-op stub
            return False
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = [(_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _KEEP_BYTES)]
    if arenas is not None:
        settings.append((_M_ARENA_MAX, int(arenas)))
    return all(mallopt(option, value) == 1 for option, value in settings)
