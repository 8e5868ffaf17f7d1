"""Endurance and temperature, common to every family (`xbar.devices._base.Device`):
Weibull wear-out against the card's distribution, window closing and c2c growth
beyond the threshold, worn-out cells stuck on/off, the `wear` switch, and the
Arrhenius time shift."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xbar
from xbar import Effects
from xbar.devices import load
from xbar.devices._base import K_BOLTZMANN

FAMILIES = ["rram_hfox", "pcm_gst", "stt_mtj", "fg_flash"]
N_CELLS = 20_000


def _base_fab(dev, shape, seed=0):
    # the common draws (a family may add more, e.g. STT per MTJ)
    return {"wear": dev.wear_draws(shape, key=jax.random.key(seed))}


@pytest.mark.parametrize("name", FAMILIES)
def test_failure_fraction_follows_the_cards_weibull(name, x64):
    dev = load(name)
    fab = _base_fab(dev, (N_CELLS,))
    n63, k = float(dev.endurance_n63), float(dev.endurance_k)
    for ratio in [0.1, 0.5, 1.0, 2.0]:
        cycles = jnp.full((N_CELLS,), ratio * n63)
        failed = np.asarray(dev.wear(fab, cycles)["failed"])
        p = 1.0 - np.exp(-(ratio**k))  # closed form at N = ratio * n63
        sigma = np.sqrt(p * (1 - p) / N_CELLS)
        assert abs(failed.mean() - p) <= 3 * sigma + 1e-12, (name, ratio, failed.mean(), p)
    # the stuck-on share among failed cells is the card's endurance_p_on
    failed = np.asarray(dev.wear(fab, jnp.full((N_CELLS,), 3.0 * n63))["failed"])
    on = np.asarray(fab["wear"]["on"])[failed]
    p_on = float(dev.endurance_p_on)
    assert abs(on.mean() - p_on) <= 3 * np.sqrt(p_on * (1 - p_on) / on.size) + 1e-12


def test_float32_failure_test_agrees_with_the_weibull_probability_per_cell():
    """`wear` compares ``k·ln(N/n63)`` with the cell's ``ln E`` (polynomial log in
    float32); each cell must fail exactly when the float64 Weibull probability passes
    its uniform draw ``u = 1 − exp(−E)``, except within float32 rounding of the tie."""
    dev = load("pcm_gst")
    fab = _base_fab(dev, (N_CELLS,), seed=3)
    log_e = np.asarray(fab["wear"]["log_e"], np.float64)
    assert fab["wear"]["log_e"].dtype == jnp.float32
    u = -np.expm1(-np.exp(log_e))
    n63, k = float(dev.endurance_n63), float(dev.endurance_k)
    for ratio in [0.03, 0.3, 1.0, 3.0]:
        cycles = jnp.full((N_CELLS,), ratio * n63, jnp.float32)
        failed = np.asarray(dev.wear(fab, cycles)["failed"])
        p = -np.expm1(-((float(cycles[0]) / n63) ** k))
        tie = np.abs(np.log(-np.log1p(-u)) - np.log(-np.log1p(-p))) < 1e-5
        assert np.array_equal(failed[~tie], (p > u)[~tie]), ratio
        assert 0 < failed.mean() < 1


def test_failure_is_monotone_in_cycles():
    dev = load("rram_hfox")
    fab = _base_fab(dev, (5000,))
    n = jnp.logspace(5, 9, 30)
    failed = np.stack([np.asarray(dev.wear(fab, jnp.full((5000,), c))["failed"]) for c in n])
    # once failed, a cell stays failed
    assert np.all(np.diff(failed.astype(int), axis=0) >= 0)
    assert failed[0].mean() < 0.01 and failed[-1].mean() > 0.99


def test_window_closes_per_decade_beyond_threshold(x64):
    dev = load("rram_hfox")
    n_th, beta, gamma = float(dev.wear_n_th), float(dev.wear_window_beta), float(dev.wear_c2c_growth)
    fab = {"lo": jnp.full((4,), float(dev.g_min)), "hi": jnp.full((4,), float(dev.g_max))}
    fab.update(_base_fab(dev, (4,)))
    eff = Effects(d2d=True)
    cycles = jnp.asarray([1.0, n_th, 10 * n_th, 1e3 * n_th])
    lo, hi = (np.asarray(a) for a in dev.worn_window(fab, eff, cycles))
    w = np.maximum(1.0 - beta * np.array([0.0, 0.0, 1.0, 3.0]), 0.0)
    mid = 0.5 * (float(dev.g_min) + float(dev.g_max))
    np.testing.assert_allclose(hi - lo, w * (float(dev.g_max) - float(dev.g_min)), rtol=1e-12)
    np.testing.assert_allclose(0.5 * (hi + lo), mid, rtol=1e-12)
    c2c = np.asarray(dev.wear(fab, cycles)["c2c"])
    np.testing.assert_allclose(c2c, 1.0 + gamma * np.array([0.0, 0.0, 1.0, 3.0]), rtol=1e-12)
    # the window never inverts, however long the cycling
    lo, hi = dev.worn_window(fab, eff, jnp.full((4,), 1e30))
    assert np.all(np.asarray(hi) >= np.asarray(lo))
    # with the wear effect off the window is the fabricated one
    lo, hi = dev.worn_window(fab, Effects(wear=False), cycles)
    np.testing.assert_array_equal(np.asarray(hi), np.asarray(fab["hi"]))


def test_worn_out_cells_read_stuck(x64):
    dev = load("pcm_gst")
    shape = (4000,)
    fab = dev.fabricate(shape, key=jax.random.key(3))
    g = jnp.full(shape, 0.5 * float(dev.g_max))
    cycles = jnp.full(shape, float(dev.endurance_n63))
    eff = Effects(stuck=False)  # only wear
    out = np.asarray(dev.apply_stuck(fab, g, eff, cycles))
    w = dev.wear(fab, cycles)
    lo, hi = (np.asarray(a) for a in dev.worn_window(fab, eff, cycles))
    failed, on = np.asarray(w["failed"]), np.asarray(w["fail_on"])
    assert 0.5 < failed.mean() < 0.75  # 1 - 1/e of them at N = N63
    np.testing.assert_array_equal(out[failed & on], hi[failed & on])
    np.testing.assert_array_equal(out[failed & ~on], lo[failed & ~on])
    np.testing.assert_array_equal(out[~failed], np.asarray(g)[~failed])
    # without cycles, or with wear off, nothing changes
    np.testing.assert_array_equal(np.asarray(dev.apply_stuck(fab, g, eff)), np.asarray(g))
    np.testing.assert_array_equal(np.asarray(dev.apply_stuck(fab, g, eff.without("wear"), cycles)), np.asarray(g))


def test_wear_under_jit_and_vmap_over_the_weibull_scale():
    dev = load("fg_flash")
    fab = _base_fab(dev, (1000,))
    cycles = jnp.full((1000,), 2e5)

    def frac(n63):
        d = xbar._tree.replace(dev, endurance_n63=n63)
        return jnp.mean(d.wear(fab, cycles)["failed"].astype(jnp.float32))

    scales = jnp.asarray([1e4, 1e5, 1e6, 1e7])
    vm = np.asarray(jax.jit(jax.vmap(frac))(scales))
    loop = np.asarray([frac(s) for s in scales])
    np.testing.assert_allclose(vm, loop)
    assert np.all(np.diff(vm) <= 0)  # longer endurance, fewer failures


def test_thermal_time_is_arrhenius(x64):
    dev = load("rram_hfox")
    ea, t_card = float(dev.activation_energy), float(dev.temperature)
    assert dev.thermal_time(3600.0) == 3600.0
    np.testing.assert_allclose(float(dev.thermal_time(3600.0, t_card)), 3600.0, rtol=1e-12)
    for temp in [250.0, 358.15, 400.0]:
        want = 3600.0 * np.exp(ea / K_BOLTZMANN * (1.0 / t_card - 1.0 / temp))
        np.testing.assert_allclose(float(dev.thermal_time(3600.0, temp)), want, rtol=1e-12)
    # 85 C ages faster than room temperature, 250 K slower
    assert float(dev.thermal_time(1.0, 358.15)) > 1.0 > float(dev.thermal_time(1.0, 250.0))
    with pytest.raises(ValueError, match="temperature"):
        dev.thermal_time(1.0, 0.0)
    with pytest.raises(ValueError, match="activation energy"):
        load("stt_mtj").thermal_time(1.0, 350.0)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("endurance_n63", 0.0, r"endurance_n63"),
        ("endurance_k", -1.0, r"endurance_k"),
        ("endurance_p_on", 1.5, r"endurance_p_on"),
        ("wear_n_th", 0.0, r"wear_n_th"),
        ("wear_window_beta", -0.1, r"wear_window_beta"),
        ("temperature", 0.0, r"temperature"),
        ("activation_energy", -1e-19, r"activation_energy"),
    ],
)
def test_wear_parameter_errors_name_the_field(key, value, match):
    with pytest.raises(ValueError, match=match):
        xbar._tree.replace(load("rram_hfox"), **{key: value})


def test_card_gives_endurance_in_the_issue_ranges():
    # RRAM ~1e6-1e9, PCM ~1e8, STT-MRAM ~1e15, floating gate ~1e4-1e5 (issue 4)
    n63 = {name: float(load(name).endurance_n63) for name in FAMILIES}
    assert 1e6 <= n63["rram_hfox"] <= 1e9
    assert np.isclose(n63["pcm_gst"], 1e8, rtol=1e-6)  # leaves are float32 by default
    assert np.isclose(n63["stt_mtj"], 1e15, rtol=1e-6)
    assert 1e4 <= n63["fg_flash"] <= 1e5


@pytest.mark.parametrize("name", ["rram_hfox", "fg_flash"])
def test_conductance_at_temperature_reads_at_the_arrhenius_time(name, x64):
    dev = load(name)
    shape = (500,)
    fab = dev.fabricate(shape, key=jax.random.key(8))
    state = dev.program(fab, jnp.full(shape, 0.5 * (dev.g_min + dev.g_max)), key=jax.random.key(9), effects=Effects())
    eff = Effects(stuck=False)
    hot = 358.15
    t = 3600.0
    g_hot = np.asarray(dev.conductance(fab, state, t, effects=eff, temperature=hot))
    g_equiv = np.asarray(dev.conductance(fab, state, float(dev.thermal_time(t, hot)), effects=eff))
    np.testing.assert_allclose(g_hot, g_equiv, rtol=1e-12)
    # at the card's own temperature nothing changes
    g_card = np.asarray(dev.conductance(fab, state, t, effects=eff, temperature=float(dev.temperature)))
    np.testing.assert_allclose(g_card, np.asarray(dev.conductance(fab, state, t, effects=eff)), rtol=1e-12)
    # and it ages more than at room temperature (FG loses charge; RRAM broadens)
    g_room = np.asarray(dev.conductance(fab, state, t, effects=eff))
    g0 = np.asarray(dev.conductance(fab, state, 0.0, effects=eff))
    assert np.abs(g_hot - g0).mean() > np.abs(g_room - g0).mean()


def test_programmed_cells_carry_their_cycles_and_wear_reads_stuck(x64):
    dev = load("rram_hfox")
    shape = (3000,)
    fab = dev.fabricate(shape, key=jax.random.key(10))
    state = dev.program(fab, jnp.full(shape, 2e-5), key=jax.random.key(11), effects=Effects())
    assert np.all(np.asarray(state["cycles"]) == 1)
    worn = dict(state, cycles=jnp.full(shape, float(dev.endurance_n63)))
    eff = Effects(stuck=False, drift=False)
    g = np.asarray(dev.conductance(fab, worn, 0.0, effects=eff))
    failed = np.asarray(dev.wear(fab, worn["cycles"])["failed"])
    lo, hi = (np.asarray(a) for a in dev.worn_window(fab, eff, worn["cycles"]))
    assert 0.5 < failed.mean() < 0.75
    assert np.all((g[failed] == lo[failed]) | (g[failed] == hi[failed]))
    np.testing.assert_allclose(g[~failed], np.asarray(state["g"])[~failed])


def test_cycle_count_keeps_counting_single_pulses_past_float32_integers():
    # float32 stops representing n + 1 above 2**24; the compensated count does not
    dev = load("rram_hfox")
    state = {"cycles": jnp.full((3,), 2.0**25, jnp.float32), "cycles_carry": jnp.zeros((3,), jnp.float32)}

    def step(state, _):
        return dev.add_cycles(state, jnp.ones((3,), jnp.int32)), None

    state, _ = jax.lax.scan(step, state, None, length=1000)
    total = np.asarray(state["cycles"], np.float64) - np.asarray(state["cycles_carry"], np.float64)
    np.testing.assert_array_equal(total, 2.0**25 + 1000)
    naive = jnp.full((3,), 2.0**25, jnp.float32)
    for _ in range(10):
        naive = naive + 1.0
    assert float(naive[0]) == 2.0**25  # what a plain float32 count would have done


@pytest.mark.parametrize(
    "name", ["rram_hfox"] + [pytest.param(n, marks=pytest.mark.slow) for n in FAMILIES if n != "rram_hfox"]
)
def test_pulses_count_cycles_in_every_family(name):
    dev = load(name)
    fab = dev.fabricate((50,), key=jax.random.key(12))
    state = dev.program(fab, jnp.full((50,), 0.5 * (dev.g_min + dev.g_max)), key=jax.random.key(13), effects=Effects())
    n_shape = state["s"].shape if "s" in state else (50,)
    start = np.asarray(state["cycles"])
    for k in range(3):
        state, _ = dev.pulse(fab, state, jnp.full(n_shape, 2, jnp.int32), key=jax.random.key(k), effects=Effects())
    np.testing.assert_array_equal(np.asarray(state["cycles"]), start + 6)
    assert set(state) >= {"cycles", "cycles_carry"}
