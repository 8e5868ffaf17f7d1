"""What every benchmark script records beside its figures: the machine and the command."""

from __future__ import annotations

import os
import platform
import sys


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

    from xbar._io import write_json_atomic

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
    """Keep freed memory in the process for xbar and its baseline alike, so the large
    temporaries of every run are not page-faulted in afresh (at 256 × 256 × 64 a circuit
    solve otherwise takes ~33,000 page faults per call, ~40 ms): `xbar.keep_freed_memory`
    (glibc ``mallopt``: no ``mmap`` blocks, the heap kept) with one arena for every
    thread (thread arenas shrink when freed). Call it before JAX starts its threads: it
    loads xbar's ``_memory.py`` by path, without importing xbar (whose import starts
    JAX). Returns whether it took effect (False where there is no glibc)."""
    import importlib.util

    package = importlib.util.find_spec("xbar")
    path = os.path.join(package.submodule_search_locations[0], "_memory.py")
    spec = importlib.util.spec_from_file_location("_xbar_memory", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.keep_freed_memory()
