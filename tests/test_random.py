"""xbar._random: the fused Threefry-2x32 generator used for per-cell draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32
from scipy import stats

from xbar import _random as xr


def test_threefry_bit_exact_against_jax():
    key = jnp.array([0x12345678, 0x9ABCDEF0], jnp.uint32)
    count = jnp.arange(4096, dtype=jnp.uint32)
    expected = threefry_2x32(key, count)  # JAX hashes (first half, second half) pairs
    y0, y1 = xr.threefry2x32(key[0], key[1], count[:2048], count[2048:])
    np.testing.assert_array_equal(np.asarray(jnp.concatenate([y0, y1])), np.asarray(expected))


def test_same_key_same_numbers_and_split_keys_differ():
    k = jax.random.key(3)
    a = xr.normal(k, (1000,))
    b = xr.normal(k, (1000,))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    k1, k2 = jax.random.split(k)
    c, d = np.asarray(xr.normal(k1, (1000,))), np.asarray(xr.normal(k2, (1000,)))
    assert not np.array_equal(c, d)
    # independent streams: correlation consistent with zero (5 standard errors)
    assert abs(np.corrcoef(c, d)[0, 1]) < 5 / np.sqrt(1000)


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4)])
def test_shapes_odd_sizes_and_dtype(shape):
    assert xr.normal(jax.random.key(0), shape).shape == shape
    u = xr.uniform(jax.random.key(0), shape)
    assert u.shape == shape and u.dtype == jnp.float32
    assert xr.bits(jax.random.key(0), shape).dtype == jnp.uint32


def test_uniform_open_interval_and_distribution():
    u = np.asarray(xr.uniform(jax.random.key(1), (200_000,)))
    assert u.min() > 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4


def test_normal_moments_and_ks():
    n = 400_000
    z = np.asarray(xr.normal(jax.random.key(2), (n,)), dtype=np.float64)
    se = 1 / np.sqrt(n)
    assert abs(z.mean()) < 5 * se
    assert abs(z.std() - 1) < 5 * se / np.sqrt(2) * 1.5
    assert stats.kstest(z, "norm").pvalue > 1e-4


def test_works_under_jit_and_vmap():
    keys = jax.random.split(jax.random.key(4), 3)
    batched = jax.vmap(lambda k: xr.normal(k, (5,)))(keys)
    looped = jnp.stack([xr.normal(k, (5,)) for k in keys])
    np.testing.assert_array_equal(np.asarray(batched), np.asarray(looped))
    jitted = jax.jit(lambda k: xr.normal(k, (5,)))(keys[0])
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(looped[0]))


def test_extreme_bits_stay_strictly_inside_the_unit_interval():
    """Regression: the top 32-bit value once mapped to u = 1.0 in float32 (normal = inf)."""
    b = jnp.array([0, 1, 0xFFFFFE00, 0xFFFFFFFF], jnp.uint32)
    for dtype in (jnp.float32,):
        u = xr._open_unit(b, dtype)
        assert bool(jnp.all((u > 0) & (u < 1))), (dtype, u)
    z = jnp.sqrt(2.0) * jax.lax.erf_inv(2.0 * xr._open_unit(b, jnp.float32) - 1.0)
    assert bool(jnp.all(jnp.isfinite(z)))
