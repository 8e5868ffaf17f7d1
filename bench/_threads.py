"""CPU threads for a bench script, set from its --threads before JAX is imported (this
module imports neither JAX nor xbar)."""

import os


def set_xla_threads(threads: int) -> None:
    """Run XLA on `threads` cores (0 leaves XLA's default: every core).

    The process is pinned to the first `threads` cores it may use (XLA sizes its thread
    pool from them), and with one thread Eigen's own multithreading is off. An earlier
    version passed ``intra_op_parallelism_threads=N`` in ``XLA_FLAGS``: that is not an
    XLA flag, and XLA stopped reading the flags at it, so "1 thread" still ran XLA's
    pool on every core."""
    if threads <= 0:
        return
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[:threads])
