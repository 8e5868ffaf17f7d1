"""xbar._memory: freed host memory is kept for reuse, so a loop that allocates and frees
the same large block (as every call of a compiled XLA program does with its
temporaries) stops taking a page fault per 4 KiB page on every iteration."""

import os
import pathlib
import subprocess
import sys

import pytest

import xbar

_MODULE = pathlib.Path(xbar.__file__).parent / "_memory.py"

# Loads only xbar/_memory.py (no JAX), optionally applies it, then, in a new thread (as
# XLA's runtime allocates), mallocs, touches and frees a 96 MiB block 5 times (with the
# C library's malloc, as XLA's CPU runtime does; NumPy's own large arrays ask for huge
# pages); prints what keep_freed_memory returned and the minor page faults of the last 4
# rounds. 96 MiB is above both glibc limits: the 32 MiB mmap threshold and a thread
# arena's 64 MiB heaps.
_PROBE = f"""
import ctypes, importlib.util, resource, threading
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
spec = importlib.util.spec_from_file_location("m", {str(_MODULE)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
applied = m.keep_freed_memory()
size = 96 * 2**20
faults = []

def rounds():
    for _ in range(5):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        a = libc.malloc(size)
        ctypes.memset(a, 1, size)  # every page touched
        libc.free(a)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)

t = threading.Thread(target=rounds)
t.start()
t.join()
print(applied, sum(faults[1:]) / 4)
"""

_LINUX_GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


def _probe(setting: str):
    env = dict(os.environ, XBAR_KEEP_FREED_MEMORY=setting)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", float(faults)


@pytest.mark.skipif(not _LINUX_GLIBC, reason="the setting is for glibc on Linux")
def test_freed_memory_is_reused_without_page_faults():
    applied, faults = _probe("1")
    assert applied
    assert faults < 200, faults  # the block is reused: no fresh pages
    applied_off, faults_off = _probe("0")
    assert not applied_off
    assert faults_off > 20_000, faults_off  # mmap/munmap every round: 24,576 pages of 4 KiB


def test_import_applies_it_where_glibc_is():
    """`import xbar` applied the settings (the suite runs without XBAR_KEEP_FREED_MEMORY=0),
    and only where there is glibc; release_freed_memory runs there too."""
    if os.environ.get("XBAR_KEEP_FREED_MEMORY", "1") == "0":
        pytest.skip("XBAR_KEEP_FREED_MEMORY=0 in this environment")
    assert xbar.keep_freed_memory() is _LINUX_GLIBC
    assert isinstance(xbar.release_freed_memory(), bool)
    if not _LINUX_GLIBC:
        assert xbar.release_freed_memory() is False
