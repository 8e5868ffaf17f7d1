"""XLA's CPU thread count, set from a script's --threads before JAX is imported (this
module imports neither JAX nor xbar)."""

import os


def set_xla_threads(threads: int) -> None:
    """Pin XLA's CPU intra-op threads to `threads` (0 leaves XLA's default)."""
    if threads > 0:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
            + f" intra_op_parallelism_threads={threads}"
        ).strip()
