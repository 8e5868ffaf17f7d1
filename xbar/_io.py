"""Atomic file output: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

__all__ = ["write_json_atomic", "save_figure_atomic"]


@contextlib.contextmanager
def _atomic(path, suffix: str):
    """Yield a temporary path beside `path`; on success rename it onto `path`, on any
    error remove it, so readers see the old file or the whole new one, never part."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path: expected a file name, got the directory {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path, obj) -> Path:
    """Write `obj` as JSON atomically."""
    with _atomic(path, ".tmp") as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def save_figure_atomic(fig, path, **kwargs) -> Path:
    """`fig.savefig` atomically (the format follows the file's suffix)."""
    with _atomic(path, Path(path).suffix or ".png") as tmp:
        fig.savefig(tmp, **kwargs)
    return Path(path)
