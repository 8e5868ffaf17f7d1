"""xbar.periphery: DAC/ADC levels, clipping and straight-through gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xbar.periphery import adc, dac, quantize, ste_round


def test_dac_unsigned_levels_and_clipping():
    x = jnp.linspace(-0.5, 1.5, 2001)
    u = np.asarray(dac(x, bits=3))
    levels = np.arange(8) / 7
    assert set(np.round(np.unique(u) * 7).astype(int)) == set(range(8))
    np.testing.assert_allclose(np.unique(u), levels, atol=1e-7)
    # a nearest level inside the range (ties may go either way), clipped outside
    inside = (x >= 0) & (x <= 1)
    assert np.all(np.abs(u[inside] - np.asarray(x)[inside]) <= 0.5 / 7 + 1e-6)
    assert np.all(u[np.asarray(x) < 0] == 0) and np.all(u[np.asarray(x) > 1] == 1)


def test_dac_x_max_scales_and_signed_is_sign_magnitude():
    assert float(dac(jnp.float32(1.0), bits=4, x_max=4.0)) == pytest.approx(round(0.25 * 15) / 15)
    u = np.asarray(dac(jnp.linspace(-2, 2, 4001), bits=3, signed=True))
    np.testing.assert_allclose(np.unique(u), np.arange(-3, 4) / 3, atol=1e-7)


def test_dac_spikes_are_exact():
    s = jnp.array([0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(dac(s, bits=1)), np.asarray(s))


def test_adc_codes_step_and_clipping():
    fs = 2.0
    x = jnp.linspace(-3, 3, 6001)
    q = np.asarray(adc(x, bits=4, full_scale=fs))
    n = 2**3 - 1
    step = fs / n
    np.testing.assert_allclose(np.unique(q), np.arange(-n, n + 1) * step, atol=1e-6)
    inside = np.abs(np.asarray(x)) <= fs
    assert np.all(np.abs(q[inside] - np.asarray(x)[inside]) <= step / 2 + 1e-6)
    assert np.all(q[np.asarray(x) > fs] == pytest.approx(fs)) and np.all(q[np.asarray(x) < -fs] == pytest.approx(-fs))


def test_adc_error_bounded_by_half_step_inside_range():
    x = jax.random.uniform(jax.random.key(0), (10_000,), minval=-1, maxval=1)
    q = adc(x, bits=6, full_scale=1.0)
    assert float(jnp.max(jnp.abs(q - x))) <= 0.5 / 31 + 1e-7


def test_ste_round_identity_gradient():
    g = jax.grad(lambda x: jnp.sum(ste_round(x) * jnp.arange(1.0, 4.0)))(jnp.array([0.2, 1.7, -3.4]))
    np.testing.assert_array_equal(np.asarray(g), [1.0, 2.0, 3.0])


def test_clipped_ste_zero_gradient_where_clipped_identity_ste_passes_all():
    x = jnp.array([-2.0, -0.5, 0.3, 0.9, 2.5])
    g_clip = jax.grad(lambda v: jnp.sum(adc(v, bits=4, full_scale=1.0, ste="clipped")))(x)
    g_id = jax.grad(lambda v: jnp.sum(adc(v, bits=4, full_scale=1.0, ste="identity")))(x)
    np.testing.assert_array_equal(np.asarray(g_clip), [0.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(g_id), np.ones(5))
    # both estimators give the same forward values
    np.testing.assert_array_equal(
        np.asarray(adc(x, bits=4, full_scale=1.0, ste="clipped")),
        np.asarray(adc(x, bits=4, full_scale=1.0, ste="identity")),
    )


def test_quantize_jit_equals_eager_and_vmap_equals_loop():
    x = jax.random.normal(jax.random.key(1), (4, 16))
    f = lambda v: quantize(v, step=0.1, lo=-0.5, hi=0.5)
    np.testing.assert_array_equal(np.asarray(jax.jit(f)(x)), np.asarray(f(x)))
    np.testing.assert_array_equal(np.asarray(jax.vmap(f)(x)), np.stack([np.asarray(f(r)) for r in x]))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: dac(jnp.ones(3), bits=0), "dac_bits: expected at least 1 bits, got 0"),
        (lambda: dac(jnp.ones(3), bits=1, signed=True), "dac_bits: expected at least 2 bits, got 1"),
        (lambda: dac(jnp.ones(3), bits=2.5), "dac_bits: expected an int number of bits, got float"),
        (lambda: adc(jnp.ones(3), bits=1, full_scale=1.0), "adc_bits: expected at least 2 bits, got 1"),
        (lambda: adc(jnp.ones(3), bits=40, full_scale=1.0), "adc_bits: expected at most 24 bits"),
        (lambda: quantize(jnp.ones(3), step=1.0, lo=0, hi=1, ste="magic"), "ste: expected one of"),
    ],
)
def test_errors_name_argument_expected_and_got(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
