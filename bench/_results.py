"""What every benchmark script records beside its figures: the machine and the command."""

from __future__ import annotations

import os
import platform
import sys

from xbar._io import write_json_atomic


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
