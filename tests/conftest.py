"""Shared fixtures. The library runs in float32 by default; reference tests that need
float64 use the `x64` fixture, which enables it only for their duration."""

import jax
import pytest

import xbar


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
