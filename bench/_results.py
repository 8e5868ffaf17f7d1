"""What every benchmark script records beside its figures: the machine and the command."""

from __future__ import annotations

import os
import platform
import sys

from xbar._io import write_json_atomic


def best_of(runs, f, *args) -> float:
    """Seconds of the fastest of `runs` calls ``f(*args)`` (JAX results waited for),
    after one untimed call that compiles."""
    import time

    import jax

    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t0)
    return min(ts)


def paired_ratio(runs, f, f_args, base, base_args) -> tuple[float, float]:
    """``(seconds of f, ratio to base)``: `runs` rounds, each timing one call of `f` and
    one of `base` back to back (both compiled first), so that both see the same machine
    conditions; the time is f's fastest, the ratio the median of the per-round ratios
    (steadier than a ratio of minima taken at different moments on a noisy VM)."""
    import time

    import jax

    jax.block_until_ready(f(*f_args))
    jax.block_until_ready(base(*base_args))
    ts, ratios = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*f_args))
        t1 = time.perf_counter()
        jax.block_until_ready(base(*base_args))
        t2 = time.perf_counter()
        ts.append(t1 - t0)
        ratios.append((t1 - t0) / (t2 - t1))
    ratios.sort()
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else 0.5 * (ratios[mid - 1] + ratios[mid])
    return min(ts), median


def save_results(path, results, **extra) -> None:
    """Write ``{"env": …, "results": results}`` to `path` atomically (no-op for None).
    `extra` adds script-specific settings (threads, …) to the environment record."""
    if path is None:
        return
    import jax  # after the caller has set its XLA flags

    env = {
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "devices": [str(d) for d in jax.devices()],
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "loadavg": os.getloadavg(),
        "command": " ".join(["python"] + sys.argv),
        **extra,
    }
    write_json_atomic(path, {"env": env, "results": results})


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory in the process instead of returning it to
    the OS, so the large temporaries of every run are not page-faulted in afresh (at
    256 × 256 × 64 a circuit solve otherwise takes ~33,000 page faults per call, ~40 ms):
    ``mallopt`` with ``M_MMAP_MAX = 0`` (no blocks served by ``mmap``, which are unmapped
    when freed), ``M_ARENA_MAX = 1`` (one heap for all threads: thread arenas shrink
    when freed) and ``M_TRIM_THRESHOLD`` at its maximum (the heap is never trimmed).
    Call it before the libraries start their threads. It applies to the whole process —
    xbar and its baseline alike. Returns whether it took effect (False where there is no
    glibc)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_max, m_arena_max = -1, -4, -8
        settings = ((m_arena_max, 1), (m_mmap_max, 0), (m_trim_threshold, 2**31 - 1))
        return all(libc.mallopt(option, value) == 1 for option, value in settings)
    except (OSError, AttributeError):
        return False
