"""Atomic file output: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["write_json_atomic", "save_figure_atomic"]


def _atomic_target(path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path: expected a file name, got the directory {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_json_atomic(path, obj) -> Path:
    """Write `obj` as JSON so readers see the old file or the whole new one, never part."""
    path = _atomic_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_figure_atomic(fig, path, **kwargs) -> Path:
    """`fig.savefig` through a temporary file in the same folder, then rename."""
    path = _atomic_target(path)
    suffix = path.suffix or ".png"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, **kwargs)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
