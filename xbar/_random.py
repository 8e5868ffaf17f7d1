"""Fast per-cell random numbers for large arrays.

`jax.random` lowers its Threefry-2x32 hash on CPU as a rolled loop whose every round
reads and writes the whole array; for the per-cell noise of a crossbar (a few
hundred thousand draws per training step) that costs several milliseconds per draw.
Here the same hash — Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random
numbers: as easy as 1, 2, 3", SC 2011) — is written out unrolled in `jax.numpy`, so
XLA fuses it with the conversion to floats into one pass. The hash is checked bit
for bit against `jax.extend.random.threefry_2x32` in the tests.

Keys are ordinary JAX keys (typed or raw, any implementation): two 32-bit words are
drawn from the key with `jax.random.bits`, then every element hashes its own
counter. Same key, same numbers; split keys for independent streams.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["threefry2x32", "bits", "uniform", "normal"]

_ROT = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotl(x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32, 20 rounds, on uint32 arrays: returns the two output words."""
    k0 = jnp.asarray(k0, jnp.uint32)
    k1 = jnp.asarray(k1, jnp.uint32)
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x0 = jnp.asarray(x0, jnp.uint32) + ks[0]
    x1 = jnp.asarray(x1, jnp.uint32) + ks[1]
    for block in range(5):
        for r in _ROT[block % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(block + 1) % 3]
        x1 = x1 + ks[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def _key_words(key):
    words = jax.random.bits(key, (2,), jnp.uint32)
    return words[0], words[1]


def bits(key, shape) -> jax.Array:
    """Uniform random uint32 of `shape`: element i is the first output word of the
    hash of counter (i, 0). One hash per element and no concatenation, so XLA fuses it
    into its consumer as one branch-free vector loop."""
    shape = tuple(shape)
    n = math.prod(shape)
    if n >= 2**32:
        raise ValueError(f"shape: expected fewer than 2**32 elements, got {n}")
    k0, k1 = _key_words(key)
    count = jax.lax.iota(jnp.uint32, n).reshape(shape) if shape else jnp.zeros((), jnp.uint32)
    y0, _ = threefry2x32(k0, k1, count, jnp.zeros_like(count))
    return y0


def _open_unit(b, dtype):
    """uint32 -> float strictly inside (0, 1), from the top 23 bits: ``(k + 1/2)/2**23``.

    23 bits, not 24: ``k + 1/2`` must be exact in float32, or the top value rounds
    to 1.0 and the inverse normal CDF returns infinity.
    """
    return ((b >> np.uint32(9)).astype(dtype) + 0.5) * (1.0 / 8388608.0)


def uniform(key, shape, dtype=None) -> jax.Array:
    """Uniform floats in (0, 1)."""
    dtype = dtype or jnp.result_type(float)
    return _open_unit(bits(key, shape), dtype)


def normal(key, shape, dtype=None) -> jax.Array:
    """Standard normal floats (inverse-CDF transform of `uniform`)."""
    dtype = dtype or jnp.result_type(float)
    u = _open_unit(bits(key, shape), dtype)
    return jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.lax.erf_inv(2.0 * u - 1.0)
