"""Floating-gate pulse programming (xbar/devices/_fg.py): multiplicative (log-domain)
steps against their closed form, clipping at the (worn) window, cycle-to-cycle and
device-to-device statistics, energy, the nominal inverse, jit and errors.

Monte Carlo checks compare a sample statistic to its expectation within `Z` standard
errors computed from the sample; every key is fixed, so every run draws the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xbar
from xbar import Effects
from xbar.devices import CardError, load_card
from xbar.devices._card import cards_dir

Z = 5.0
QUIET = Effects.ideal()  # no d2d, no noise, no wear
M = 512  # cells of the exactness checks (one size: each new shape costs a compile)
BIG = 20_000  # cells of the Monte Carlo checks

_fabricate = jax.jit(lambda dev, key, shape: dev.fabricate(shape, key=key), static_argnums=2)
_pulse_jit = jax.jit(lambda dev, fab, st, n, key, eff: dev.pulse(fab, st, n, key=key, effects=eff), static_argnums=5)
_pulses_for_jit = jax.jit(lambda dev, fab, st, g, eff: dev.pulses_for(fab, st, g, effects=eff), static_argnums=4)


def _dev(**changes):
    return dataclasses.replace(xbar.devices.load("fg_flash"), **changes)


def _fab(dev, shape, seed=0):
    return _fabricate(dev, jax.random.key(seed), tuple(shape))


def _state(g, cycles=1.0):
    g = jnp.asarray(g, jnp.result_type(float))
    return {"g": g, "cycles": jnp.full(g.shape, cycles, g.dtype)}


def _pulse(dev, fab, state, n, *, seed=0, effects=QUIET):
    return _pulse_jit(dev, fab, state, jnp.asarray(n), jax.random.key(seed), effects)


def _pulses_for(dev, fab, state, g, effects=None):
    return _pulses_for_jit(dev, fab, state, jnp.asarray(g, state["g"].dtype), effects)


def _assert_normal_stats(x, mean, sigma, what):
    x = np.asarray(x, np.float64)
    m, s = x.mean(), x.std(ddof=1)
    se_m = s / math.sqrt(x.size)
    d = x - m
    se_s = math.sqrt(max(np.mean(d**4) - np.mean(d**2) ** 2, 0.0) / x.size) / (2 * s)
    assert abs(m - mean) <= Z * se_m, f"{what}: mean {m:.6g}, expected {mean:.6g} ± {Z}·{se_m:.3g}"
    assert abs(s - sigma) <= Z * se_s, f"{what}: std {s:.6g}, expected {sigma:.6g} ± {Z}·{se_s:.3g}"


# ------------------------------------------------------------------ multiplicative steps
def test_k_pulses_multiply_the_current_by_exp_k_eta(x64):
    """Noise off: k injection pulses multiply I by exp(k η_inj), k tunnelling pulses divide
    it by exp(k η_tun); n = 0 leaves the cell exactly as it was."""
    dev = _dev(eta_inj=0.03, eta_tun=0.02)
    g_min, g_max = float(dev.g_min), float(dev.g_max)
    rng = np.random.default_rng(0)
    k = rng.integers(-60, 61, M)
    k[:8] = 0
    g0 = np.exp(rng.uniform(np.log(g_min) + 1.3, np.log(g_max) - 1.9, M))  # no clipping within 60 pulses
    fab = _fab(dev, (M,))
    out, _ = _pulse(dev, fab, _state(g0), k)
    want = g0 * np.exp(np.where(k > 0, 0.03 * k, 0.02 * k))
    np.testing.assert_allclose(np.asarray(out["g"]), want, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(out["g"])[:8], g0[:8])
    np.testing.assert_array_equal(np.asarray(out["cycles"]), 1 + np.abs(k))
    # float32 (the library default): the same within rounding
    with jax.enable_x64(False):
        dev32 = _dev(eta_inj=0.03, eta_tun=0.02)
        out32, _ = _pulse(dev32, _fab(dev32, (M,)), _state(np.float32(g0)), k.astype(np.int32))
    assert out32["g"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out32["g"], np.float64), want, rtol=1e-5)


def test_one_pulse_at_a_time_equals_one_call_and_clips_at_the_window(x64):
    dev = _dev()
    g_min, g_max = float(dev.g_min), float(dev.g_max)
    rng = np.random.default_rng(1)
    g0 = np.exp(rng.uniform(np.log(g_min), np.log(g_max), M))
    n = rng.integers(-400, 401, M)
    fab = _fab(dev, (M,))
    eff = Effects.only("d2d")  # each cell its own step and window
    once, _ = _pulse(dev, fab, _state(g0), n, effects=eff)
    s = _state(g0)
    for i in range(int(np.abs(n).max())):
        s, _ = _pulse(dev, fab, s, np.sign(n) * (np.abs(n) > i), effects=eff)
    np.testing.assert_allclose(np.asarray(s["g"]), np.asarray(once["g"]), rtol=1e-11)
    # long runs end exactly on the cell's window; otherwise ln g moved by n * η * scale
    # from the start (itself first brought into the cell's window)
    g = np.asarray(once["g"])
    lo, hi = np.asarray(fab["lo"]), np.asarray(fab["hi"])
    assert np.all(g >= lo) and np.all(g <= hi)
    free = np.log(np.clip(g0, lo, hi)) + n * np.where(n > 0, float(dev.eta_inj), float(dev.eta_tun)) * np.asarray(
        fab["eta_scale"]
    )
    want = np.clip(np.exp(free), lo, hi)
    np.testing.assert_allclose(g, want, rtol=1e-12)
    assert np.sum(g == hi) > 20 and np.sum(g == lo) > 20
    # a worn cell: the window has closed toward its middle
    cycles = 100.0 * float(dev.wear_n_th)
    eff = Effects.only("wear")
    up, _ = _pulse(dev, fab, _state(np.full(M, g_min), cycles), np.full(M, 10_000), effects=eff)
    w_lo, w_hi = dev.worn_window(fab, eff, up["cycles"])
    np.testing.assert_allclose(np.asarray(up["g"]), np.asarray(w_hi), rtol=1e-12)
    assert np.all(np.asarray(w_hi) < 0.95 * g_max)


@pytest.mark.slow  # secondary coverage; the default suite stays under 10 minutes
def test_d2d_step_spread_at_fabrication(x64):
    dev = _dev(eta_d2d_sigma=0.2)
    fab = _fab(dev, (BIG,), seed=2)
    scale = np.log(np.asarray(fab["eta_scale"]))
    _assert_normal_stats(scale, 0.0, 0.2, "ln eta_scale")
    common = xbar.devices.Device.fabricate(dev, (BIG,), key=jax.random.key(2))
    for k in common:  # the common draws are those of Device.fabricate
        for x, y in zip(jax.tree.leaves(fab[k]), jax.tree.leaves(common[k])):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-15)


def test_c2c_noise_in_ln_i_scales_with_sqrt_n(x64):
    """Std over many cells of ln(noisy/noise-free) = eta_c2c_rel * η * sqrt(|n|), times the
    wear factor on worn cells."""
    dev = _dev()
    fab = _fab(dev, (BIG,))
    mid = math.sqrt(float(dev.g_min) * float(dev.g_max))
    st = _state(np.full(BIG, mid))
    for k, eta in [(1, float(dev.eta_inj)), (9, float(dev.eta_inj)), (-4, float(dev.eta_tun))]:
        noisy, _ = _pulse(dev, fab, st, np.full(BIG, k), seed=k + 20, effects=Effects.only("write_noise"))
        clean, _ = _pulse(dev, fab, st, np.full(BIG, k), effects=QUIET)
        x = np.log(np.asarray(noisy["g"]) / np.asarray(clean["g"]))
        _assert_normal_stats(x, 0.0, float(dev.eta_c2c_rel) * eta * math.sqrt(abs(k)), f"k={k}")
    cycles = 10.0 * float(dev.wear_n_th)
    worn = _state(np.full(BIG, mid), cycles)
    eff = Effects.only("write_noise", "wear")
    noisy, _ = _pulse(dev, fab, worn, np.ones(BIG, int), seed=3, effects=eff)
    clean, _ = _pulse(dev, fab, worn, np.ones(BIG, int), seed=3, effects=eff.without("write_noise"))
    factor = float(dev.wear(fab, jnp.asarray([cycles + 1]))["c2c"][0])
    assert factor > 1.1
    x = np.log(np.asarray(noisy["g"]) / np.asarray(clean["g"]))
    _assert_normal_stats(x, 0.0, float(dev.eta_c2c_rel * dev.eta_inj) * factor, "worn")


def test_energy_per_pulse_and_write_time(x64):
    dev = _dev()
    rng = np.random.default_rng(3)
    n = rng.integers(-30, 31, M)
    fab = _fab(dev, (M,))
    _, e = _pulse(dev, fab, _state(np.full(M, 0.1e-6)), n, effects=Effects())
    want = np.where(n > 0, n * 100e-12, -n * 10e-12)
    np.testing.assert_allclose(np.asarray(e), want, rtol=1e-12)
    assert np.all(np.asarray(e)[n == 0] == 0)
    np.testing.assert_allclose(np.asarray(dev.write_time(jnp.asarray([3, -2, 0]))), [3e-6, 2e-3, 0.0])


def test_pulses_for_is_the_nominal_inverse(x64):
    dev = _dev()
    g_min, g_max = float(dev.g_min), float(dev.g_max)
    rng = np.random.default_rng(4)
    g0 = np.exp(rng.uniform(np.log(g_min), np.log(g_max), M))
    target = np.exp(rng.uniform(np.log(g_min), np.log(g_max), M))
    fab = _fab(dev, (M,))
    n = np.asarray(_pulses_for(dev, fab, _state(g0), target))
    x = np.log(target / g0)
    np.testing.assert_array_equal(n, np.round(x / np.where(x > 0, float(dev.eta_inj), float(dev.eta_tun))))
    out, _ = _pulse(dev, fab, _state(g0), n)
    assert np.all(np.abs(np.log(np.asarray(out["g"]) / target)) <= 0.5 * float(dev.eta_inj) + 1e-12)
    # beyond the window: the count that reaches the bound
    top = np.asarray(_pulses_for(dev, fab, _state(np.full(M, g_min)), np.full(M, 10 * g_max)))
    assert np.all(top == round(math.log(g_max / g_min) / float(dev.eta_inj)))
    # given effects: each cell's own step (d2d) and window
    dev = _dev(eta_d2d_sigma=0.3)
    fab = _fab(dev, (M,))
    eff = Effects.only("d2d")
    n_own = _pulses_for(dev, fab, _state(g0), target, eff)
    out, _ = _pulse(dev, fab, _state(g0), n_own, effects=eff)
    lo, hi = np.asarray(fab["lo"]), np.asarray(fab["hi"])
    inside = (target > lo) & (target < hi)
    step = float(dev.eta_inj) * np.asarray(fab["eta_scale"])
    assert np.all(np.abs(np.log(np.asarray(out["g"]) / target))[inside] <= 0.5 * step[inside] + 1e-12)
    assert n_own.dtype == jnp.int32


def test_program_sets_cycles_same_key_jit_equals_eager():
    dev = _dev()
    fab = _fab(dev, (M,))
    state = dev.program(fab, jnp.linspace(0.0, 1.2 * float(dev.g_max), M), key=jax.random.key(1), effects=Effects())
    assert np.all(np.asarray(state["cycles"]) == 1) and state["cycles"].dtype == jnp.float32
    n = jnp.asarray(np.resize([4, -4, 1, 0, 300], M))

    def run(dev, fab, state, n, key):
        out, e = dev.pulse(fab, state, n, key=key, effects=Effects())
        return out["g"], out["cycles"], e, dev.pulses_for(fab, out, jnp.full(n.shape, 0.3e-6))

    eager = run(dev, fab, state, n, jax.random.key(5))
    again = run(dev, fab, state, n, jax.random.key(5))
    other = run(dev, fab, state, n, jax.random.key(6))
    jitted = jax.jit(run)(dev, fab, state, n, jax.random.key(5))
    for x, y, z in zip(eager, again, jitted):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        x, z = np.asarray(x), np.asarray(z)
        np.testing.assert_allclose(z, x, rtol=1e-6, atol=1e-6 * np.max(np.abs(x)))
    moved = (np.asarray(n) != 0) & (np.asarray(n) < 300)
    assert np.mean(np.asarray(eager[0])[moved] == np.asarray(other[0])[moved]) < 0.05
    assert eager[0].dtype == jnp.float32 and eager[2].dtype == jnp.float32


def test_gradient_through_pulses(x64):
    """d g_n / d g = exp(n η) inside the window, d g_n / d η_inj = n g_n (noise off)."""
    dev = _dev()
    fab = _fab(dev, (M,))
    g0 = jnp.full((M,), 0.05e-6)
    n = jnp.asarray(np.resize(np.arange(1, 30), M))

    @jax.jit
    def total(g, eta):
        d = dataclasses.replace(dev, eta_inj=eta)
        return jnp.sum(d.pulse(fab, _state(g), n, key=jax.random.key(0), effects=QUIET)[0]["g"])

    dg, deta = jax.grad(total, argnums=(0, 1))(g0, 0.02)
    np.testing.assert_allclose(np.asarray(dg), np.exp(0.02 * np.asarray(n)), rtol=1e-12)
    assert float(deta) == pytest.approx(
        float(np.sum(np.asarray(n) * 0.05e-6 * np.exp(0.02 * np.asarray(n)))), rel=1e-12
    )


# ------------------------------------------------------------------ errors
def test_pulse_argument_errors():
    dev = _dev()
    fab = _fab(dev, (M,))
    st = _state(np.full(M, 0.1e-6))
    with pytest.raises(
        TypeError, match=r"FloatingGate\.pulse: n: expected signed integer pulse counts, got dtype float"
    ):
        dev.pulse(fab, st, jnp.ones(M), key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"FloatingGate\.pulse: n: .* got a bool"):
        dev.pulse(fab, st, True, key=jax.random.key(0))
    with pytest.raises(
        ValueError, match=r"FloatingGate\.pulse: n: expected a shape broadcastable to the cells' \(512,\), got \(7,\)"
    ):
        dev.pulse(fab, st, jnp.ones(7, jnp.int32), key=jax.random.key(0))


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"eta_inj": 0.0}, r"FloatingGate\.eta_inj: expected a positive value"),
        ({"eta_tun": -0.01}, r"FloatingGate\.eta_tun"),
        ({"eta_c2c_rel": -0.1}, r"FloatingGate\.eta_c2c_rel"),
        ({"eta_d2d_sigma": -0.1}, r"FloatingGate\.eta_d2d_sigma"),
        ({"e_inj": -1e-12}, r"FloatingGate\.e_inj: expected a value >= 0"),
        ({"t_tun": 0.0}, r"FloatingGate\.t_tun"),
        ({"v_inj": float("nan")}, r"FloatingGate\.v_inj"),
    ],
)
def test_bad_model_values(changes, match):
    with pytest.raises(ValueError, match=match):
        _dev(**changes)


@pytest.mark.parametrize(
    "key, old, new, match",
    [
        ("eta_inj", "value = 0.02", "value = 0", "params.eta_inj: expected a dimensionless number > 0, got 0"),
        ("e_inj", 'unit = "pJ"', 'unit = "V"', "params.e_inj: expected a unit for an energy"),
        ("t_tun", "value = 1.0", "value = -1.0", "params.t_tun: expected a time > 0"),
    ],
)
def test_bad_card_values(tmp_path, key, old, new, match):
    lines = (cards_dir() / "fg_flash.toml").read_text(encoding="utf-8").splitlines()
    (i,) = [j for j, ln in enumerate(lines) if ln.startswith(f"{key} = {{")]
    assert lines[i].count(old) == 1
    lines[i] = lines[i].replace(old, new)
    path = tmp_path / "fg_flash.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CardError, match=re.escape(match)):
        load_card(path)


def test_card_pulse_values_and_provenance():
    card = load_card("fg_flash")
    want = {
        "eta_inj": 0.02,
        "eta_tun": 0.02,
        "eta_c2c_rel": 0.1,
        "v_inj": 4.5,
        "t_inj": 1e-6,
        "v_tun": 11.0,
        "t_tun": 1e-3,
        "e_inj": 100e-12,
        "e_tun": 10e-12,
    }
    for k, v in want.items():
        assert card.value(k) == pytest.approx(v, rel=1e-12), k
    for k in ("eta_inj", "eta_tun", "eta_c2c_rel", "eta_d2d_sigma", "e_inj", "e_tun"):
        assert card.params[k].tag == "D" and "placeholder" in card.params[k].note, k
    assert 0.01 <= card.value("eta_inj") <= 0.05  # the compendium's range
