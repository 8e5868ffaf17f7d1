"""xbar.learn.pulsed: optimizer updates written as device pulses (in-situ training)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import xbar
from xbar import Effects
from xbar.learn import pulsed

QUIET = Effects(write_noise=False, d2d=False, stuck=False)  # the nominal cell: no randomness


def _weights_held(dev, state, w_max=1.0):
    """The weights the devices hold, from the transformation state (single mode)."""
    ps = state[1]
    s = (dev.g_max - dev.g_min) / (2 * w_max)
    g_ref = 0.5 * (dev.g_min + dev.g_max)
    return (dev.conductance(ps.fab["w"], ps.dev["w"], 0.0, effects=QUIET) - g_ref) / s


@pytest.mark.parametrize("name", ["rram_hfox", "fg_flash"])
def test_stochastic_rounding_is_unbiased_and_params_equal_the_devices(name):
    dev = xbar.devices.load(name)
    tx = optax.chain(optax.sgd(1.0), pulsed(dev, key=jax.random.key(0), effects=QUIET))
    p = {"w": jnp.zeros((100, 40))}
    st = tx.init(p)
    request = 0.01  # a fraction of one pulse for both cards
    upd, st = jax.jit(tx.update)({"w": jnp.full((100, 40), -request)}, st, p)
    p = optax.apply_updates(p, upd)
    realized = np.asarray(upd["w"], np.float64) + np.asarray(_weights_held(dev, tx.init({"w": jnp.zeros((100, 40))})))
    # unbiased: the mean realized update is the request (5 standard errors)
    se = realized.std() / np.sqrt(realized.size)
    assert abs(realized.mean() - request) < 5 * se + 1e-4
    assert 0 < float(st[1].pulses["w"]) < realized.size  # most weights took 0 pulses, some 1
    np.testing.assert_allclose(np.asarray(p["w"]), np.asarray(_weights_held(dev, st)), atol=1e-6)
    # a zero update changes nothing once the parameters are the devices' weights
    upd0, _ = tx.update({"w": jnp.zeros((100, 40))}, st, p)
    np.testing.assert_array_equal(np.asarray(upd0["w"]), 0.0)


def test_max_pulses_clips_and_energy_is_counted():
    dev = xbar.devices.load("rram_hfox")
    tx = pulsed(dev, key=jax.random.key(1), max_pulses=3)
    p = {"w": jnp.zeros((30, 10))}
    st = tx.init(p)
    _, st = tx.update({"w": jnp.full((30, 10), 5.0)}, st, p)  # far beyond 3 pulses
    assert float(st.pulses["w"]) == 3 * 300
    assert float(st.energy["w"]) > 0


def test_pcm_pair_sets_the_side_of_the_update():
    dev = xbar.devices.load("pcm_gst")
    tx = pulsed(dev, key=jax.random.key(2), effects=QUIET)
    p = {"w": jnp.zeros((4, 6))}
    st = tx.init(p)
    (f_p, f_n), (d_p, d_n) = st.fab["w"], st.dev["w"]
    g_p0 = np.asarray(dev.conductance(f_p, d_p, 0.0, effects=QUIET))
    g_n0 = np.asarray(dev.conductance(f_n, d_n, 0.0, effects=QUIET))
    dw = jnp.asarray(np.repeat([[0.3], [-0.3]], 2, axis=0) * np.ones((4, 6)))
    upd, st = tx.update({"w": dw}, st, p)
    (_, _), (d_p, d_n) = st.fab["w"], st.dev["w"]
    g_p = np.asarray(dev.conductance(f_p, d_p, 0.0, effects=QUIET))
    g_n = np.asarray(dev.conductance(f_n, d_n, 0.0, effects=QUIET))
    assert np.all(g_p[:2] > g_p0[:2]) and np.all(g_n[:2] == g_n0[:2])  # w up: G+ SET
    assert np.all(g_n[2:] > g_n0[2:]) and np.all(g_p[2:] == g_p0[2:])  # w down: G- SET
    assert np.all(np.asarray(upd["w"])[:2] > 0) and np.all(np.asarray(upd["w"])[2:] < 0)


def _regression(dev, effects, steps=200):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((256, 20)), jnp.float32)
    y = x @ jnp.asarray(rng.uniform(-0.5, 0.5, (20, 5)), jnp.float32)

    def loss(p):
        return jnp.mean((x @ p["w"] - y) ** 2)

    tx = optax.chain(optax.sgd(0.05), pulsed(dev, key=jax.random.key(3), max_pulses=4, effects=effects))
    p = {"w": jnp.zeros((20, 5))}
    st = tx.init(p)

    @jax.jit
    def step(p, st):
        value, g = jax.value_and_grad(loss)(p)
        u, st = tx.update(g, st, p)
        return optax.apply_updates(p, u), st, value

    l0 = float(loss(p))
    for _ in range(steps):
        p, st, _ = step(p, st)
    return l0, float(loss(p))


def test_in_situ_regression_learns_on_the_devices():
    """A 20x5 least-squares fit by SGD written as pulses: the nominal RRAM cell fits to
    under 2 % of the initial loss; the floating-gate card with every effect on to under
    5 % (its multiplicative steps are fine-grained)."""
    l0, l_rram = _regression(xbar.devices.load("rram_hfox"), QUIET)
    assert l_rram < 0.02 * l0
    l0, l_fg = _regression(xbar.devices.load("fg_flash"), Effects())
    assert l_fg < 0.05 * l0


def test_errors():
    rram, pcm = xbar.devices.load("rram_hfox"), xbar.devices.load("pcm_gst")
    k = jax.random.key(0)
    with pytest.raises(ValueError, match="w_max: expected a positive weight, got 0"):
        pulsed(rram, key=k, w_max=0)
    with pytest.raises(ValueError, match="max_pulses: expected a positive int, got 0"):
        pulsed(rram, key=k, max_pulses=0)
    with pytest.raises(ValueError, match="mode: expected one of"):
        pulsed(rram, key=k, mode="triple")
    with pytest.raises(ValueError, match="mode: PCM can only be SET gradually"):
        pulsed(pcm, key=k, mode="single")
    with pytest.raises(ValueError, match="mode: 'pair' is the PCM differential pair"):
        pulsed(rram, key=k, mode="pair")
    tx = pulsed(rram, key=k)
    st = tx.init({"w": jnp.zeros(3)})
    with pytest.raises(ValueError, match="params: pulsed needs the current parameters"):
        tx.update({"w": jnp.zeros(3)}, st)
