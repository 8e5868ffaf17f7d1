"""Shared fixtures. The library runs in float32 by default; reference tests that need
float64 use the `x64` fixture, which enables it only for their duration."""

import os

# The suite's time is mostly XLA compiling many small programs once each: LLVM's
# optimizations cost more than they save at these sizes (24 % less wall time on the
# notebook and sweep tests). Set before JAX starts, inherited by the subprocesses and
# notebook kernels the tests start; XBAR_TEST_XLA_OPT=1 keeps XLA's defaults.
_FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
if os.environ.get("XBAR_TEST_XLA_OPT") != "1" and _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FAST_COMPILE).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

import xbar  # noqa: E402


@pytest.fixture
def x64():
    """Run the test body with 64-bit floats enabled."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(scope="session")
def cards():
    """Every built-in cell model, by card name."""
    return {name: xbar.devices.load(name) for name in xbar.devices.available()}


# The longest tests (each 20-60 s, mostly compilation) run first, so that no worker
# starts one as the other runs out of work (pytest-xdist's work stealing balances
# the short ones that follow).
_LONG_FIRST = ("test_readme.py", "test_notebooks.py", "test_cli.py", "test_sweep.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return _LONG_FIRST.index(name) if name in _LONG_FIRST else len(_LONG_FIRST)

    items.sort(key=rank)  # stable: file order otherwise
