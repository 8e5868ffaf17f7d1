"""PCM pulse physics (xbar/devices/_pcm.py): gradual accumulative SET on aihwkit's ExpStep
curve, abrupt RESET, nominal pulse counts, pulse energies, the differential pair with
refresh, and the drift-exponent statistics of both PCM cards (PCMLikeNoiseModel and the
HERMES branch functions), against closed forms written out here from aihwkit's sources.

Monte Carlo checks compare a sample mean or standard deviation with its expectation
within `Z` standard errors (fixed keys: every run draws the same numbers)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import xbar
from xbar import Effects
from xbar.devices import PCM
from xbar.devices._pcm import exp_step_increment, pcm_pair_update

Z = 5.0
US = 1e-6
NOISE_FREE = Effects.ideal()  # no d2d, no write noise, no wear, no stuck cells

# aihwkit PCMPresetDevice (Nandakumar et al. 2020), written out independently of the card
AIH_DW_MIN, AIH_A, AIH_B, AIH_GAMMA, AIH_BIG_A = 0.01, -1.0, 0.0, 2.5, -27.235
AIH_W_MAX = 2.0
AIH_C2C, AIH_C2C_ADD, AIH_C2C_SLOPE = 0.6, 0.042, 0.108
AIH_RESET, AIH_RESET_DTOD, AIH_RESET_STD = 0.01, 0.02, 0.01


@pytest.fixture
def gst(request):
    # loaded after `x64` when a test asks for both (its leaves then are float64)
    if "x64" in request.fixturenames:
        request.getfixturevalue("x64")
    return xbar.devices.load("pcm_gst")


@pytest.fixture
def hermes():
    return xbar.devices.load("pcm_hermes14")


def _f64(x):
    return np.asarray(x, dtype=np.float64).ravel()


def assert_mean(x, expected, what):
    x = _f64(x)
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert abs(x.mean() - expected) <= Z * se, f"{what}: mean {x.mean():.6g}, expected {expected:.6g} ± {Z}·{se:.3g}"


def assert_std(x, expected, what):
    x = _f64(x)
    d = x - x.mean()
    m2, m4 = np.mean(d**2), np.mean(d**4)
    se = math.sqrt(max(m4 - m2**2, 0.0) / x.size) / (2.0 * math.sqrt(m2))
    s = x.std(ddof=1)
    assert abs(s - expected) <= Z * se, f"{what}: std {s:.6g}, expected {expected:.6g} ± {Z}·{se:.3g}"


def _w(dev, g):
    return AIH_W_MAX * (_f64(g) - float(dev.g_min)) / (float(dev.g_max) - float(dev.g_min))


def _g(dev, w):
    return float(dev.g_min) + np.asarray(w) / AIH_W_MAX * (float(dev.g_max) - float(dev.g_min))


def expstep_recurrence(w0, n, ceiling=AIH_W_MAX, scale=1.0):
    """aihwkit's ExpStep update (rpu_expstep_device.cpp), noise-free, n times, clipped to
    [0, ceiling]."""
    w = np.asarray(w0, dtype=np.float64).copy()
    for _ in range(n):
        z = 2.0 * AIH_A * w / ceiling + AIH_B
        w = np.minimum(w + scale * AIH_DW_MIN * np.maximum(1.0 - AIH_BIG_A * np.exp(AIH_GAMMA * z), 0.0), ceiling)
    return w


def _programmed(dev, g, shape, key=1, effects=NOISE_FREE):
    fab = dev.fabricate(shape, key=jax.random.key(key))
    st = dev.program(
        fab,
        jnp.broadcast_to(jnp.asarray(g, jnp.result_type(float)), shape),
        key=jax.random.key(key + 1),
        effects=effects,
    )
    return fab, st


# ====================================================================== SET curve
def test_card_holds_the_aihwkit_preset(gst):
    assert (float(gst.set_dw_min), float(gst.set_a), float(gst.set_b)) == pytest.approx((AIH_DW_MIN, AIH_A, AIH_B))
    assert (float(gst.set_gamma), float(gst.set_big_a)) == pytest.approx((AIH_GAMMA, AIH_BIG_A))
    assert float(gst.set_w_range) == pytest.approx(AIH_W_MAX)
    assert (float(gst.set_c2c), float(gst.set_c2c_add), float(gst.set_c2c_slope)) == pytest.approx(
        (AIH_C2C, AIH_C2C_ADD, AIH_C2C_SLOPE)
    )
    assert (float(gst.reset_level), float(gst.reset_d2d), float(gst.reset_c2c)) == pytest.approx(
        (AIH_RESET, AIH_RESET_DTOD, AIH_RESET_STD)
    )
    assert float(gst.set_step_d2d) == pytest.approx(math.hypot(0.2, 0.05), abs=5e-4)
    assert (float(gst.e_set), float(gst.e_reset)) == pytest.approx((5e-12, 20e-12))  # compendium 8.2
    # the first step from w = 0 is 0.282 (28 dw_min), the last ones ~0.0118
    assert float(exp_step_increment(0.0, w_ceiling=2.0, dw_min=0.01, a=-1.0, b=0.0, gamma=2.5, big_a=-27.235)) == (
        pytest.approx(0.28235)
    )


def test_set_curve_equals_the_expstep_recurrence(gst, x64):
    dev = gst
    w0 = np.array([0.0, 0.02, 0.3, 0.9, 1.2, 1.5, 1.8, 1.95])
    shape = w0.shape
    fab, st = _programmed(dev, _g(dev, w0), shape)
    np.testing.assert_allclose(_w(dev, st["g"]), w0, atol=1e-12)
    for n in [1, 2, 5, 17, 80]:
        out, _ = dev.pulse(fab, st, jnp.full(shape, n), key=jax.random.key(9), effects=NOISE_FREE)
        np.testing.assert_allclose(_w(dev, out["g"]), expstep_recurrence(w0, n), rtol=1e-10, atol=1e-12)
    # accumulative: 3 + 4 pulses equal 7
    a, _ = dev.pulse(fab, st, jnp.full(shape, 3), key=jax.random.key(1), effects=NOISE_FREE)
    a, _ = dev.pulse(fab, a, jnp.full(shape, 4), key=jax.random.key(2), effects=NOISE_FREE)
    b, _ = dev.pulse(fab, st, jnp.full(shape, 7), key=jax.random.key(3), effects=NOISE_FREE)
    np.testing.assert_allclose(_f64(a["g"]), _f64(b["g"]), rtol=1e-12)
    # set_curve is the same recurrence, and saturates at g_max after 72 pulses from g_min
    curve = np.asarray(dev.set_curve(jnp.asarray(float(dev.g_min)), 80))
    np.testing.assert_allclose(_w(dev, curve), [expstep_recurrence(np.zeros(1), k)[0] for k in range(81)], atol=1e-12)
    assert np.all(np.diff(curve) >= 0) and curve[72] == pytest.approx(float(dev.g_max)) and curve[71] < float(dev.g_max)
    # per-pulse steps shrink as the cell crystallizes (gradual SET)
    assert np.all(np.diff(np.diff(curve[:72])) < 0)


def test_set_uses_each_devices_step_and_ceiling(gst, x64):
    dev = dataclasses.replace(gst, set_step_d2d=0.3, set_ceiling_d2d=0.1)
    shape = (64,)
    fab, st = _programmed(dev, float(dev.g_min), shape, key=5)
    eff = Effects.only("d2d")
    out, _ = dev.pulse(fab, st, jnp.full(shape, 30), key=jax.random.key(0), effects=eff)
    scale, ceil = np.asarray(fab["set_scale"]), np.asarray(fab["set_ceiling"])
    assert np.std(scale) > 0.2 and np.std(ceil) > 0.05
    want = np.array(
        [expstep_recurrence(np.zeros(1), 30, ceiling=AIH_W_MAX * c, scale=s)[0] for s, c in zip(scale, ceil)]
    )
    want = np.minimum(want, AIH_W_MAX)  # the cell's window [g_min, g_max] (d2d_sigma = 0 on this card)
    np.testing.assert_allclose(_w(dev, out["g"]), want, rtol=1e-9, atol=1e-12)


def test_set_cycle_to_cycle_noise_is_aihwkits_complex_noise(gst):
    """One SET pulse at w = 1: mean w + Δw, std 0.6·(|Δw| + 0.042 + 0.108·w) (no clipping
    within 5 σ)."""
    dev = gst
    n_cells = 100_000
    fab, st = _programmed(dev, _g(dev, 1.0), (n_cells,), key=7)
    eff = Effects.only("write_noise")
    out, _ = dev.pulse(fab, st, jnp.ones((n_cells,), jnp.int32), key=jax.random.key(11), effects=eff)
    dw = AIH_DW_MIN * (1.0 - AIH_BIG_A * math.exp(AIH_GAMMA * (2 * AIH_A * 1.0 / AIH_W_MAX + AIH_B)))
    w = _w(dev, out["g"])
    assert_mean(w, 1.0 + dw, "w after one SET pulse")
    assert_std(w, AIH_C2C * (dw + AIH_C2C_ADD + AIH_C2C_SLOPE * 1.0), "c2c std of one SET pulse")


def test_wear_raises_the_set_noise_and_closes_the_window(gst):
    dev = gst
    n_cells = 100_000
    fab, st = _programmed(dev, _g(dev, 1.0), (n_cells,), key=8)
    decades = 2.0
    worn = dict(st, cycles=jnp.full((n_cells,), float(dev.wear_n_th) * 10**decades))
    eff = Effects.only("write_noise", "wear")
    out, _ = dev.pulse(fab, worn, jnp.ones((n_cells,), jnp.int32), key=jax.random.key(12), effects=eff)
    lo, hi = dev.worn_window(fab, eff, worn["cycles"])
    g = _f64(out["g"])
    assert np.all(g >= _f64(lo) - 1e-12) and np.all(g <= _f64(hi) + 1e-12)
    # away from the (closed) window edges the std is the card's c2c times 1 + growth·decades
    w = _w(dev, g)
    inside = (g > _f64(lo) + 1e-9) & (g < _f64(hi) - 1e-9)
    assert inside.mean() > 0.9
    dw = AIH_DW_MIN * (1.0 - AIH_BIG_A * math.exp(-AIH_GAMMA))
    growth = 1.0 + float(dev.wear_c2c_growth) * decades
    sd = np.std(w[inside])
    assert sd > 1.5 * AIH_C2C * (dw + AIH_C2C_ADD + AIH_C2C_SLOPE)  # grew (truncation only lowers it)
    assert sd < growth * AIH_C2C * (dw + AIH_C2C_ADD + AIH_C2C_SLOPE)


# ====================================================================== RESET
def test_reset_is_abrupt_and_counts_once(gst, x64):
    dev = gst
    g0 = np.array([0.3, 2.0, 5.0, 8.0, 12.0, 16.0, 20.0, 24.9]) * US
    fab, st = _programmed(dev, g0, g0.shape)
    st = dict(st, cycles=jnp.full(g0.shape, 10.0))
    level = _g(dev, AIH_RESET)
    for n in [-1, -7]:
        out, e = dev.pulse(fab, st, jnp.full(g0.shape, n), key=jax.random.key(4), effects=NOISE_FREE)
        np.testing.assert_allclose(_f64(out["g"]), level, rtol=1e-12)  # from any state, to the reset level
        np.testing.assert_allclose(_f64(e), 20e-12, rtol=1e-12)  # one RESET pulse, whatever |n|
        np.testing.assert_array_equal(_f64(out["cycles"]), 11.0)


def test_reset_level_spread(gst):
    """Reset level ``max(0.01 + 0.02·ξ_d2d + 0.01·ξ_c2c, 0)`` (weight units): the mean of a
    normal clipped at zero (window bottom g_min)."""
    dev = gst
    n_cells = 100_000
    fab, st = _programmed(dev, 20 * US, (n_cells,), key=21)
    out, _ = dev.pulse(fab, st, -jnp.ones((n_cells,), jnp.int32), key=jax.random.key(5), effects=Effects())
    w = _w(dev, out["g"])
    mu, sd = AIH_RESET, math.hypot(AIH_RESET_DTOD, AIH_RESET_STD)
    assert_mean(w, mu * norm.cdf(mu / sd) + sd * norm.pdf(mu / sd), "mean reset level (clipped normal)")
    assert abs(np.mean(w < 1e-6) - norm.cdf(-mu / sd)) < 0.01  # share clipped to g_min
    # the device-to-device part is fixed: RESET twice, the levels correlate
    out2, _ = dev.pulse(fab, out, -jnp.ones((n_cells,), jnp.int32), key=jax.random.key(6), effects=Effects())
    w2 = _w(dev, out2["g"])
    pos = (w > 0) & (w2 > 0)
    rho = np.corrcoef(w[pos], w2[pos])[0, 1]
    assert 0.6 < rho < 0.9  # 0.02² / (0.02² + 0.01²) = 0.8 before clipping


@pytest.mark.slow  # secondary coverage; the default suite stays under 10 minutes
def test_zero_pulses_change_nothing(gst):
    dev = gst
    shape = (300,)
    fab, st = _programmed(dev, 10 * US, shape, effects=Effects())
    n = jnp.where(jnp.arange(300) % 3 == 0, 0, jnp.where(jnp.arange(300) % 3 == 1, 4, -1))
    out, e = dev.pulse(fab, st, n, key=jax.random.key(3))
    zero = np.asarray(n) == 0
    for k in ("g", "g_target", "cycles"):
        np.testing.assert_array_equal(np.asarray(out[k])[zero], np.asarray(st[k])[zero])
    assert np.all(np.asarray(e)[zero] == 0)
    assert np.all(np.asarray(out["g"])[~zero] != np.asarray(st["g"])[~zero])


def test_energy_and_cycles(gst):
    dev = gst
    n = jnp.tile(jnp.asarray([0, 1, 3, 40, -1, -9]), 50)
    fab, st = _programmed(dev, 1 * US, n.shape)
    out, e = dev.pulse(fab, st, n, key=jax.random.key(0))
    np.testing.assert_allclose(np.asarray(e), np.tile([0, 5e-12, 15e-12, 200e-12, 20e-12, 20e-12], 50), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(out["cycles"]), np.tile([1, 2, 4, 41, 2, 2], 50))


def test_pulse_keeps_the_devices_drift_draw_and_follows_the_state(gst):
    dev = gst
    shape = (300,)
    fab, st = _programmed(dev, 1 * US, shape, effects=Effects())
    out, _ = dev.pulse(fab, st, jnp.full(shape, 20), key=jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(out["g_target"]), np.asarray(out["g"]))
    np.testing.assert_array_equal(
        np.asarray(jax.random.key_data(out["key_time"])), np.asarray(jax.random.key_data(st["key_time"]))
    )
    mu, sd = dev.nu_stats(out["g"])
    z = (np.asarray(dev.drift_exponents(out)), np.asarray(mu), np.asarray(sd))
    np.testing.assert_allclose(
        z[0], np.abs(z[1] + z[2] * np.asarray(xbar._random.normal(st["key_time"], shape))), rtol=1e-6
    )


# ====================================================================== nominal pulse counts
def test_pulses_for_reaches_the_nearest_nominal_state(gst, x64):
    dev = gst
    curve = np.asarray(dev.set_curve(jnp.asarray(float(dev.g_min)), 80))
    g_t = np.linspace(0.3, 25.0, 300) * US
    fab, st = _programmed(dev, float(dev.g_min), g_t.shape)
    n = np.asarray(dev.pulses_for(fab, st, jnp.asarray(g_t)))
    assert n.dtype == np.int32 and np.all(n >= 0)
    near = np.argmin(np.abs(curve[:, None] - g_t[None, :]), axis=0)
    # the closed-form count is the nearest point's except at near-ties: a target within
    # 1 % of a step of the midpoint between two curve points may get either of them
    k = np.clip(np.searchsorted(curve, g_t) - 1, 0, len(curve) - 2)
    tie = np.abs(g_t - 0.5 * (curve[k] + curve[k + 1])) < 0.01 * (curve[k + 1] - curve[k])
    np.testing.assert_array_equal(n[~tie], near[~tie])
    assert np.all(np.abs(n - near) <= 1) and tie.mean() < 0.05  # the exemption stays small
    out, _ = dev.pulse(fab, st, n, key=jax.random.key(0), effects=NOISE_FREE)
    np.testing.assert_allclose(_f64(out["g"]), curve[n], rtol=1e-10)


def test_set_pulse_index_counts_the_expstep_recurrence(gst, x64):
    """The Abel function: one nominal SET pulse raises it by 1, to 0.05 of a pulse on the
    large first steps from the bottom and to 0.01 beyond a quarter of the range."""
    dev = gst
    per_s = float(dev._w_per_siemens())
    for g0 in [float(dev.g_min), 2 * US, 8 * US]:
        curve = np.asarray(dev.set_curve(jnp.asarray(g0), 80))
        w = (curve - float(dev.g_min)) * per_s
        w = w[w < float(dev.set_w_range) - 1e-9]  # before the (clipped) top
        h = np.asarray(dev.set_pulse_index(jnp.asarray(w)))
        err = np.abs(np.diff(h) - 1.0)
        assert err.max() < 0.05, (g0, err.max())
        assert err[w[:-1] > 0.25 * float(dev.set_w_range)].max() < 0.01


def test_pulses_for_resets_first_when_the_target_is_below(gst, x64):
    dev = gst
    fab, st = _programmed(dev, 20 * US, (8,))
    g_t = jnp.asarray([3.5, 8.0, 19.98, 22.0, 0.5, 0.5, 0.5, 0.5]) * US
    n = np.asarray(dev.pulses_for(fab, st, g_t))
    assert n[0] == -1 and n[1] == -1 and n[4] == -1  # far below: RESET, then SET up
    assert n[2] == 0  # within a step below: stay (the nearest reachable state)
    assert n[3] > 0
    # after the RESET, the next call gives the SET count from the reset level
    st2, _ = dev.pulse(fab, st, jnp.asarray(n), key=jax.random.key(0), effects=NOISE_FREE)
    n2 = np.asarray(dev.pulses_for(fab, st2, g_t))
    assert n2[0] == 1 and n2[1] > n2[0] and n2[2] == 0 and n2[4] == 0
    curve = np.asarray(dev.set_curve(st2["g"][0], 100))
    np.testing.assert_array_equal(n2[:2], np.argmin(np.abs(curve[:, None] - np.asarray(g_t)[None, :2]), axis=0))


# ====================================================================== differential pair
def _pair(dev, g_pos, g_neg, key=0, effects=NOISE_FREE):
    shape = np.shape(g_pos)
    fp, sp = _programmed(dev, g_pos, shape, key=key, effects=effects)
    fn, sn = _programmed(dev, g_neg, shape, key=key + 100, effects=effects)
    return fp, fn, sp, sn


def test_pair_update_sets_one_side(gst, x64):
    dev = gst
    g_pos = np.full(8, 5.0 * US)
    g_neg = np.full(8, 3.0 * US)
    fp, fn, sp, sn = _pair(dev, g_pos, g_neg)
    n = jnp.asarray([4, -4, 0, 1, -1, 0, 7, -7])
    p, m, e, refreshed = pcm_pair_update(dev, fp, fn, sp, sn, n, key=jax.random.key(0), effects=NOISE_FREE)
    assert not np.any(np.asarray(refreshed))
    wp, wn = _w(dev, g_pos), _w(dev, g_neg)
    n_np = np.asarray(n)
    want_p = [expstep_recurrence(wp[:1], k)[0] if k > 0 else wp[0] for k in n_np]
    want_n = [expstep_recurrence(wn[:1], -k)[0] if k < 0 else wn[0] for k in n_np]
    np.testing.assert_allclose(_w(dev, p["g"]), want_p, atol=1e-12)
    np.testing.assert_allclose(_w(dev, m["g"]), want_n, atol=1e-12)
    np.testing.assert_allclose(np.asarray(e), 5e-12 * np.abs(n_np), rtol=1e-12)


def test_pair_refresh_preserves_the_difference(gst, x64):
    """Pairs pushed over 0.9 g_max are RESET and their difference rewritten onto one device
    by the nominal SET count: noise-free, the new difference is the nominal SET state (from
    the reset level) nearest the old one — the programming quantization."""
    dev = gst
    rng = np.random.default_rng(0)
    n_pairs = 300
    g_pos = rng.uniform(8, 24, n_pairs) * US
    g_neg = rng.uniform(8, 24, n_pairs) * US
    fp, fn, sp, sn = _pair(dev, g_pos, g_neg)
    n = jnp.asarray(rng.integers(-30, 31, n_pairs))
    thr = 0.9 * float(dev.g_max)
    # what the update alone does
    p0, _ = dev.pulse(fp, sp, jnp.maximum(n, 0), key=jax.random.key(1), effects=NOISE_FREE)
    m0, _ = dev.pulse(fn, sn, jnp.maximum(-n, 0), key=jax.random.key(1), effects=NOISE_FREE)
    d0 = _f64(p0["g"]) - _f64(m0["g"])
    p, m, e, refreshed = pcm_pair_update(dev, fp, fn, sp, sn, n, key=jax.random.key(2), effects=NOISE_FREE)
    refreshed = np.asarray(refreshed)
    want_ref = (_f64(p0["g"]) > thr) | (_f64(m0["g"]) > thr)
    np.testing.assert_array_equal(refreshed, want_ref)
    assert 20 < refreshed.sum() < n_pairs - 20
    gp, gm = _f64(p["g"]), _f64(m["g"])
    # untouched pairs: exactly the plain update
    np.testing.assert_allclose(gp[~refreshed], _f64(p0["g"])[~refreshed], rtol=1e-12)
    np.testing.assert_allclose(gm[~refreshed], _f64(m0["g"])[~refreshed], rtol=1e-12)
    # refreshed pairs: both below the threshold, one at the reset level, difference kept
    level = _g(dev, AIH_RESET)
    r = refreshed
    assert np.all(gp[r] <= thr) and np.all(gm[r] <= thr)
    assert np.all(np.isclose(gp[r], level, rtol=1e-12) | np.isclose(gm[r], level, rtol=1e-12))
    curve = np.asarray(dev.set_curve(jnp.asarray(level), 100))  # nominal states above the reset level
    reachable = curve - level
    quant = np.min(np.abs(np.abs(d0[r])[:, None] - reachable[None, :]), axis=1)
    np.testing.assert_allclose(np.abs(gp[r] - gm[r] - d0[r]), quant, atol=1e-15)
    assert np.all(np.sign(gp[r] - gm[r]) * np.sign(d0[r]) >= 0)
    # the local step of the nominal curve bounds the error: half the step near |d|
    steps = np.diff(curve)
    k = np.clip(np.searchsorted(reachable, np.abs(d0[r])), 1, steps.size)
    assert np.all(quant <= 0.5 * steps[k - 1] + 1e-15)
    # energy: update pulses, two RESETs and the rewrite's SET pulses on refreshed pairs
    assert np.all(np.asarray(e)[r] >= 2 * 20e-12)
    np.testing.assert_array_equal(np.asarray(p["cycles"])[r] + np.asarray(m["cycles"])[r] >= 4, True)


def test_pair_refresh_with_noise_keeps_the_difference_within_the_programming_error(gst):
    """A pair over the threshold (G⁺ = 24.5 uS, G⁻ = 12 uS) is refreshed with all noise on:
    the rewritten difference is centred on the old one and spread no more than the SET
    cycle-to-cycle noise along its nominal path plus the spread of the RESET levels."""
    dev = gst
    n_pairs = 4000
    d0 = 12.5 * US
    fp, fn, sp, sn = _pair(dev, np.full(n_pairs, 24.5 * US), np.full(n_pairs, 12.0 * US), effects=Effects.ideal())
    p, m, _, refreshed = pcm_pair_update(
        dev, fp, fn, sp, sn, jnp.zeros(n_pairs, jnp.int32), key=jax.random.key(3), effects=Effects(stuck=False)
    )
    assert np.all(np.asarray(refreshed))
    err = _f64(p["g"]) - _f64(m["g"]) - d0
    # the programming error of the rewrite, from the closed forms: c2c of each nominal SET
    # step from the reset level to the target, and the RESET-level spread of both devices
    w, wt, var = AIH_RESET, AIH_RESET + _w(dev, float(dev.g_min) + d0)[0], 0.0
    while True:
        dw = AIH_DW_MIN * (1.0 - AIH_BIG_A * math.exp(AIH_GAMMA * (2 * AIH_A * w / AIH_W_MAX + AIH_B)))
        if abs(w + dw - wt) > abs(w - wt):
            break
        var += (AIH_C2C * (dw + AIH_C2C_ADD + AIH_C2C_SLOPE * w)) ** 2
        w += dw
    var += 2 * (AIH_RESET_DTOD**2 + AIH_RESET_STD**2)
    sigma = math.sqrt(var) * (float(dev.g_max) - float(dev.g_min)) / AIH_W_MAX
    assert np.std(err) <= sigma
    assert abs(np.mean(err)) <= 0.25 * sigma
    assert np.mean(_f64(p["g"]) > _f64(m["g"])) > 0.95  # the sign survives


# ====================================================================== drift exponent statistics
def _pcmlike_nu(x):
    mu = np.clip(-0.0155 * np.log(x) + 0.0244, 0.049, 0.1)
    sd = np.clip(-0.0125 * np.log(x) - 0.0059, 0.008, 0.045)
    return mu, sd


def _hermes_nu(x):
    """aihwkit HermesNoiseModel.generate_drift_coefficients, num_devices = 1."""
    mu = np.where(x < 0.0945, np.clip(-0.0387 * np.log(x) - 0.0182, 0.0720, 0.13), -0.0436 * x**2 - 0.0126 * x + 0.0736)
    sd = np.where(x < 0.3039, np.clip(-0.0120 * np.log(x) - 0.0023, 0.0124, 0.04), -0.0165 * x**2 + 0.0116 * x + 0.0104)
    return mu, sd


def _folded(mu, sd):
    """Mean and std of |N(mu, sd²)|."""
    a = mu / sd
    m = sd * math.sqrt(2 / math.pi) * math.exp(-a * a / 2) + mu * (1 - 2 * norm.cdf(-a))
    return m, math.sqrt(mu * mu + sd * sd - m * m)


@pytest.mark.parametrize(
    "card, fits, xs",
    [
        ("pcm_gst", _pcmlike_nu, [1.0, 0.3, 0.1, 0.01]),
        ("pcm_hermes14", _hermes_nu, [1.0, 0.5, 0.2, 0.09, 0.05, 0.005]),
    ],
)
def test_drift_exponent_statistics(card, fits, xs):
    """ν = |μ_ν(x) + σ_ν(x)·ξ| over 10⁵ devices: the sample mean and std equal the folded
    normal's, with μ_ν and σ_ν the aihwkit fits (PCMLikeNoiseModel; HERMES branch
    functions) written out here."""
    dev = xbar.devices.load(card)
    n_cells = 100_000
    for i, x in enumerate(xs):
        mu, sd = (float(v) for v in fits(np.float64(x)))
        np.testing.assert_allclose(
            [float(v) for v in dev.nu_stats(jnp.asarray(x * float(dev.g_max)))], [mu, sd], rtol=2e-5
        )
        fab, st = _programmed(dev, x * float(dev.g_max), (n_cells,), key=30 + i, effects=Effects.only("drift"))
        nu = _f64(dev.drift_exponents(st))
        assert np.all(nu >= 0)
        m, s = _folded(mu, sd)
        assert_mean(nu, m, f"{card} ν mean at x={x}")
        assert_std(nu, s, f"{card} ν std at x={x}")


def test_drift_exponent_folding(gst):
    """Where μ_ν/σ_ν is small the |·| matters: mean and std follow the folded normal, not
    the normal."""
    dev = dataclasses.replace(gst, nu_mean_min=0.01, nu_mean_max=0.01, nu_std_min=0.03, nu_std_max=0.03)
    n_cells = 100_000
    fab, st = _programmed(dev, 12.5 * US, (n_cells,), key=40, effects=Effects.only("drift"))
    nu = _f64(dev.drift_exponents(st))
    m, s = _folded(0.01, 0.03)
    assert_mean(nu, m, "folded ν mean")
    assert_std(nu, s, "folded ν std")
    assert m > 0.01 + 10 * nu.std() / math.sqrt(n_cells)  # distinguishable from the unfolded mean


def test_hermes_card_values(hermes):
    dev = hermes
    assert float(dev.g_max) == pytest.approx(10.35 * US)
    assert float(dev.drift_t0) == 200.0 and float(dev.t_read) == pytest.approx(512e-9)
    np.testing.assert_allclose(
        np.asarray(dev.prog_sigma_coeffs) / US, [0.15781817, 2.32443916, -2.16310839, 0.68841818], rtol=1e-6
    )
    # μ_ν at x = 1 is 0.0174 (compendium 3.2): lower drift at high G than the older device
    mu1, _ = dev.nu_stats(jnp.asarray(float(dev.g_max)))
    assert float(mu1) == pytest.approx(0.0174, abs=1e-6)
    # Q_s: the polynomial branch exactly, the low branch within 4 % of aihwkit's log form
    x = np.concatenate([np.logspace(-3, np.log10(0.159), 40), np.linspace(0.1591, 1.0, 40)])
    q_true = np.where(
        x < 0.1591,
        np.clip(-0.0078 * np.log(x) + 0.0038, 0.0179, 0.04),
        0.0664 * x**3 - 0.1352 * x**2 + 0.0768 * x + 0.0088,
    )
    q = _f64(dev.q_s(jnp.asarray(x * float(dev.g_max))))
    np.testing.assert_allclose(q[x >= 0.1591], q_true[x >= 0.1591], rtol=1e-5)
    np.testing.assert_allclose(q[x < 0.1591], q_true[x < 0.1591], rtol=0.04)


def test_temperature_maps_drift_time(gst):
    dev = gst
    shape = (1000,)
    fab, st = _programmed(dev, 5 * US, shape, effects=Effects.only("drift"))
    eff = Effects.only("drift")
    for temp in [300.0, 358.15]:
        a = dev.conductance(fab, st, 3600.0, effects=eff, temperature=temp)
        b = dev.conductance(fab, st, dev.thermal_time(3600.0, temp), effects=eff)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    hot = dev.conductance(fab, st, 3600.0, effects=eff, temperature=358.15)
    room = dev.conductance(fab, st, 3600.0, effects=eff)
    assert np.all(np.asarray(hot) <= np.asarray(room))  # faster drift when hot


# ====================================================================== transformations and errors
def test_same_key_same_result_and_jit_equals_eager(gst):
    dev = gst
    shape = (300,)
    fab, st = _programmed(dev, 3 * US, shape, effects=Effects())
    n = jnp.asarray(np.random.default_rng(1).integers(-2, 12, shape))
    a, ea = dev.pulse(fab, st, n, key=jax.random.key(5))
    b, eb = dev.pulse(fab, st, n, key=jax.random.key(5))
    c, _ = dev.pulse(fab, st, n, key=jax.random.key(6))
    np.testing.assert_array_equal(np.asarray(a["g"]), np.asarray(b["g"]))
    assert np.any(np.asarray(a["g"]) != np.asarray(c["g"]))
    j, ej = jax.jit(lambda d, f, s, n, k: d.pulse(f, s, n, key=k))(dev, fab, st, n, jax.random.key(5))
    np.testing.assert_allclose(np.asarray(j["g"]), np.asarray(a["g"]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ej), np.asarray(ea), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(j["cycles"]), np.asarray(a["cycles"]))
    pf = jax.jit(lambda d, f, s, g: d.pulses_for(f, s, g))(dev, fab, st, jnp.full(shape, 15 * US))
    np.testing.assert_array_equal(np.asarray(pf), np.asarray(dev.pulses_for(fab, st, jnp.full(shape, 15 * US))))
    # the pair helper under jit
    fn, sn = _programmed(dev, 20 * US, shape, key=50, effects=Effects())
    pair = lambda k: pcm_pair_update(dev, fab, fn, st, sn, n, key=k)  # noqa: E731
    e1, e2 = pair(jax.random.key(8)), jax.jit(pair)(jax.random.key(8))
    for x, y in zip(jax.tree.leaves(e1[:2] + e1[2:]), jax.tree.leaves(e2[:2] + e2[2:])):
        if jnp.issubdtype(x.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-18)


def test_vmap_over_keys_equals_loop(gst):
    dev = gst
    shape = (300,)
    fab, st = _programmed(dev, 3 * US, shape, effects=Effects())
    keys = jax.random.split(jax.random.key(2), 3)
    n = jnp.full(shape, 6)
    vm = jax.vmap(lambda k: dev.pulse(fab, st, n, key=k)[0]["g"])(keys)
    loop = np.stack([np.asarray(dev.pulse(fab, st, n, key=k)[0]["g"]) for k in keys])
    np.testing.assert_allclose(np.asarray(vm), loop, rtol=1e-6)


def test_errors(gst):
    fab, st = _programmed(gst, 3 * US, (4,))
    with pytest.raises(TypeError, match=r"PCM\.pulse: n: expected signed integer pulse counts, got dtype float"):
        gst.pulse(fab, st, jnp.ones(4), key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"PCM\.pulse: n: .* got a bool"):
        gst.pulse(fab, st, jnp.ones(4, bool), key=jax.random.key(0))
    shape_error = r"PCM\.pulse: n: expected a shape broadcastable to the cells' \(4,\), got \(3,\)"
    with pytest.raises(ValueError, match=shape_error):
        gst.pulse(fab, st, jnp.ones(3, jnp.int32), key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"pcm_pair_update: n: expected signed integer pulse counts"):
        pcm_pair_update(gst, fab, fab, st, st, 1.5, key=jax.random.key(0))
    with pytest.raises(ValueError, match="refresh_frac"):
        dataclasses.replace(gst, refresh_frac=1.5)
    with pytest.raises(ValueError, match="set_w_range"):
        dataclasses.replace(gst, set_w_range=0.0)
    assert isinstance(gst, PCM)
