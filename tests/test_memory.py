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

# Loads only xbar/_memory.py (no JAX), optionally applies it, then mallocs, touches and
# frees a 64 MiB block 5 times (with the C library's malloc, as XLA's CPU runtime does;
# NumPy's own large arrays ask for huge pages); prints the minor page faults of the last 4 rounds and
# what keep_freed_memory returned.
_PROBE = f"""
import ctypes, importlib.util, resource, sys
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
spec = importlib.util.spec_from_file_location("m", {str(_MODULE)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
applied = m.keep_freed_memory()
faults = []
for _ in range(5):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = libc.malloc(64 * 2**20)
    ctypes.memset(a, 1, 64 * 2**20)  # every page touched
    libc.free(a)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
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
    assert faults_off > 10_000, faults_off  # mmap/munmap every round: 16,384 pages of 4 KiB


def test_keep_freed_memory_answers_the_same_every_call():
    first = xbar.keep_freed_memory()
    assert isinstance(first, bool)
    assert xbar.keep_freed_memory() is first
