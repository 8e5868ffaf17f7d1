"""Fast per-cell random numbers for large arrays.

A crossbar needs one draw per cell per read or per write pulse — a million draws for a
1024 × 1024 array — and `jax.random` (Threefry-2x32, 20 rounds) costs several times a
whole elementwise pass over the array on CPU. Here every element hashes its own counter
with a short integer mixer that XLA fuses with the conversion to floats into one
branch-free vector loop:

    h(i) = mix(mix(i ⊕ k0) + k1),

with ``mix`` the "lowbias32" finaliser (two multiply–xorshift rounds; C. Wellons, "Hash
function prospector", 2018) and ``(k0, k1)`` two 32-bit words drawn from the JAX key.
``mix`` is a bijection of the 32-bit integers, so the draws of one key never repeat
within an array of up to 2³² elements, and a different key gives an unrelated stream.
This is a statistical generator for simulation noise (uniformity, lag and cross-key
correlations are tested in `tests/test_random.py`), not a cryptographic one.

Normals come from the inverse CDF, ``sqrt(2)·erfinv(2u − 1)``. In float32 the inverse
error function is M. Giles' single-precision approximation ("Approximating the erfinv
function", GPU Computing Gems Jade, 2011: two degree-8 polynomials, ~3e-7 relative
error) on a polynomial logarithm (Cephes ``logf``), about twice as fast as XLA's
``erf_inv``; other dtypes use ``lax.erf_inv``.

Keys are ordinary JAX keys (typed or raw, any implementation). Same key, same numbers;
split keys for independent streams.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["mix32", "bits", "uniform", "normal", "log_f32"]

_U = np.uint32


def mix32(x):
    """The "lowbias32" integer finaliser on uint32 (a bijection; Wellons 2018)."""
    x = jnp.asarray(x, jnp.uint32)
    x = x ^ (x >> _U(16))
    x = x * _U(0x7FEB352D)
    x = x ^ (x >> _U(15))
    x = x * _U(0x846CA68B)
    return x ^ (x >> _U(16))


def _key_words(key):
    words = jax.random.bits(key, (2,), jnp.uint32)
    return words[0], words[1]


def bits(key, shape) -> jax.Array:
    """Uniform random uint32 of `shape`: element i is ``mix(mix(i ⊕ k0) + k1)`` with
    ``(k0, k1)`` drawn from `key` (module docstring)."""
    shape = tuple(shape)
    n = math.prod(shape)
    if n >= 2**32:
        raise ValueError(f"shape: expected fewer than 2**32 elements, got {n}")
    k0, k1 = _key_words(key)
    count = jax.lax.iota(jnp.uint32, n).reshape(shape) if shape else jnp.zeros((), jnp.uint32)
    return mix32(mix32(count ^ k0) + k1)


def _open_unit(b, dtype):
    """uint32 -> float strictly inside (0, 1), from the top 23 bits: ``(k + 1/2)/2**23``.

    23 bits, not 24: ``k + 1/2`` must be exact in float32, or the top value rounds
    to 1.0 and the inverse normal CDF returns infinity.
    """
    return ((b >> _U(9)).astype(dtype) + 0.5) * (1.0 / 8388608.0)


def uniform(key, shape, dtype=None) -> jax.Array:
    """Uniform floats in (0, 1) (23-bit resolution, never 0 or 1)."""
    dtype = dtype or jnp.result_type(float)
    return _open_unit(bits(key, shape), dtype)


# Cephes logf: log(1 + f) = f − f²/2 + f³·P(f) on f ∈ [√½ − 1, √2 − 1]
_LOG_P = (
    3.3333331174e-1,
    -2.4999993993e-1,
    2.0000714765e-1,
    -1.6668057665e-1,
    1.4249322787e-1,
    -1.2420140846e-1,
    1.1676998740e-1,
    -1.1514610310e-1,
    7.0376836292e-2,
)
# Giles' single-precision erfinv: central branch in w − 2.5 (w < 5), tail in √w − 3
_ERFINV_CENTRAL = (
    1.50140941,
    0.246640727,
    -0.00417768164,
    -0.00125372503,
    0.00021858087,
    -4.39150654e-06,
    -3.5233877e-06,
    3.43273939e-07,
    2.81022636e-08,
)
_ERFINV_TAIL = (
    2.83297682,
    1.00167406,
    0.00943887047,
    -0.0076224613,
    0.00573950773,
    -0.00367342844,
    0.00134934322,
    0.000100950558,
    -0.000200214257,
)


def _horner(coeffs, x):
    """sum_k coeffs[k] x**k (ascending powers), in x's dtype."""
    p = jnp.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        p = p * x + c
    return p


def log_f32(x):
    """Natural log of positive, finite, normal float32 `x` (max error ~1e-7 absolute
    near 1, ~1 ulp elsewhere): exponent from the bits, Cephes polynomial on the
    mantissa. For hot elementwise loops; no checks (0, negatives, inf, NaN and
    subnormals give garbage)."""
    b = jax.lax.bitcast_convert_type(jnp.asarray(x, jnp.float32), jnp.int32)
    m = jax.lax.bitcast_convert_type((b & 0x7FFFFF) | 0x3F800000, jnp.float32)  # [1, 2)
    big = m > np.float32(math.sqrt(2.0))
    e = (b >> 23) - 127 + big.astype(jnp.int32)
    f = jnp.where(big, 0.5 * m, m) - 1.0
    z = f * f
    return f + z * (f * _horner(_LOG_P, f) - 0.5) + e.astype(jnp.float32) * np.float32(math.log(2.0))


def _normal_f32(u):
    """sqrt(2)·erfinv(2u − 1) for float32 u in (0, 1) (Giles, module docstring);
    ``w = −ln(1 − x²) = −ln(4u(1 − u))`` without the cancellation of ``1 − x²``."""
    x = 2.0 * u - 1.0
    w = -(log_f32(u * (1.0 - u)) + np.float32(math.log(4.0)))
    central = _horner(_ERFINV_CENTRAL, w - 2.5)
    tail = _horner(_ERFINV_TAIL, jnp.sqrt(w) - 3.0)
    return np.float32(math.sqrt(2.0)) * jnp.where(w < 5.0, central, tail) * x


def normal(key, shape, dtype=None) -> jax.Array:
    """Standard normal floats (inverse-CDF transform of `uniform`; |z| ≤ 5.3)."""
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    u = _open_unit(bits(key, shape), dtype)
    if dtype == jnp.float32:
        return _normal_f32(u)
    return jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.lax.erf_inv(2.0 * u - 1.0)
