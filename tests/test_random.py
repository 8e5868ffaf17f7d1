"""xbar._random: the fused counter-hash generator used for per-cell draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from xbar import _random as xr


def _mix32_reference(x: int) -> int:
    """lowbias32 in Python integers (Wellons 2018), independent of jnp's uint32 arithmetic."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_mix32_matches_a_python_integer_reference_and_is_a_bijection_on_a_range():
    xs = [0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0xDEADBEEF, 0xFFFFFFFF] + list(range(1000, 1100))
    got = np.asarray(xr.mix32(jnp.array(xs, jnp.uint32))).tolist()
    assert got == [_mix32_reference(x) for x in xs]
    out = np.asarray(xr.mix32(jnp.arange(2**20, dtype=jnp.uint32)))
    assert np.unique(out).size == 2**20  # no collisions among 1M counters


def test_bits_every_bit_position_is_fair():
    b = np.asarray(xr.bits(jax.random.key(11), (1 << 20,)))
    ones = ((b[:, None] >> np.arange(32, dtype=np.uint32)) & 1).mean(axis=0)
    # each bit a fair coin: 5 standard errors over 2**20 draws
    assert np.all(np.abs(ones - 0.5) < 5 * 0.5 / np.sqrt(b.size)), ones


def test_uniform_chi2_and_serial_pairs():
    n = 1 << 20
    u = np.asarray(xr.uniform(jax.random.key(12), (n,)), np.float64)
    counts = np.bincount((u * 1024).astype(int), minlength=1024)
    assert stats.chisquare(counts).pvalue > 1e-4
    # consecutive pairs (neighbouring cells of a row) on a 32 x 32 grid
    cells = (u[0::2] * 32).astype(int) * 32 + (u[1::2] * 32).astype(int)
    assert stats.chisquare(np.bincount(cells, minlength=1024)).pvalue > 1e-4


@pytest.mark.parametrize("lag", [1, 2, 1023, 1024, 4096])
def test_no_correlation_between_neighbouring_cells(lag):
    """Lags 1 and 1024 are the row and column neighbours of a 1024-wide array."""
    z = np.asarray(xr.normal(jax.random.key(13), (1 << 20,)), np.float64)
    r = np.corrcoef(z[:-lag], z[lag:])[0, 1]
    assert abs(r) < 5 / np.sqrt(z.size), r


def test_streams_of_different_keys_are_uncorrelated():
    keys = [jax.random.fold_in(jax.random.key(14), i) for i in range(6)] + list(jax.random.split(jax.random.key(15), 2))
    zs = np.stack([np.asarray(xr.normal(k, (1 << 18,)), np.float64) for k in keys])
    r = np.corrcoef(zs)[np.triu_indices(len(keys), 1)]
    assert np.all(np.abs(r) < 5 / np.sqrt(zs.shape[1])), r


def test_float32_normal_transform_against_scipy_erfinv_on_every_grid_point():
    """Every one of the 2**23 values `normal` can return in float32, against float64 scipy."""
    u = xr._open_unit(jnp.arange(2**23, dtype=jnp.uint32) << 9, jnp.float32)
    z = np.asarray(jax.jit(xr._normal_f32)(u), np.float64)
    ref = np.sqrt(2.0) * special.erfinv(2.0 * np.asarray(u, np.float64) - 1.0)
    assert np.all(np.isfinite(z))
    assert np.max(np.abs(z - ref) / np.maximum(np.abs(ref), 1.0)) < 2e-6
    assert z.min() < -5.2 and z.max() > 5.2  # tails reach |z| = 5.3


def test_log_f32_against_numpy():
    x = np.concatenate([np.geomspace(1.2e-38, 3e38, 200_001), np.linspace(0.5, 2.0, 100_001)]).astype(np.float32)
    got = np.asarray(jax.jit(xr.log_f32)(x), np.float64)
    ref = np.log(x.astype(np.float64))
    assert np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)) < 3e-7


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
    z = xr._normal_f32(xr._open_unit(b, jnp.float32))
    assert bool(jnp.all(jnp.isfinite(z)))
