"""STT-MRAM pulse physics (xbar/devices/_stt.py): stochastic binary switching of each MTJ in
the thermal (Néel–Brown) and precessional (He–Sun–Zhang) regimes, write error rate vs
current and width, repeated attempts, energy, temperature, and the two STT cards.

Monte Carlo switching fractions over 10⁴ MTJs are compared with the closed forms within 3
binomial standard deviations (fixed keys: every run draws the same numbers)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xbar
from xbar import Effects
from xbar.devices import STTMRAM
from xbar.devices._stt import switching_probability, write_error_rate

N_MTJ = 10_000
K = 8  # MTJs per device on both cards
N_DEV = N_MTJ // K
SWITCHING = Effects.only("write_noise")  # no d2d: every MTJ has the card's I_c0


@pytest.fixture
def stt():
    return xbar.devices.load("stt_mtj")


@pytest.fixture
def stoch():
    return xbar.devices.load("stt_mtj_stochastic")


# closed forms, written out here (compendium §1.6)
def neel_brown(i, t_p, delta, i_c0, tau0, b=1.0):
    tau = tau0 * math.exp(delta * (1.0 - i / i_c0) ** b)
    return -math.expm1(-t_p / tau)


def precessional(i, t_p, delta, i_c0, tau_d):
    return math.exp(-(math.pi**2 * delta / 4.0) * math.exp(-2.0 * (i / i_c0 - 1.0) * t_p / tau_d))


def assert_fraction(hits, p, what):
    hits = np.asarray(hits).ravel()
    sigma = math.sqrt(p * (1 - p) / hits.size)
    assert abs(hits.mean() - p) <= 3 * sigma + 1e-12, f"{what}: {hits.mean():.5f}, expected {p:.5f} ± 3·{sigma:.2g}"


def _antiparallel(dev, n_dev=N_DEV, key=0):
    fab = dev.fabricate((n_dev,), key=jax.random.key(key))
    st = dev.program(fab, jnp.full((n_dev,), float(dev.g_min)), key=jax.random.key(key + 1), effects=Effects.ideal())
    assert np.all(np.asarray(st["s"]) == 0)
    return fab, st


def _params(dev):
    return {
        "delta": float(dev.delta),
        "i_c0": float(dev.i_c0),
        "tau0": float(dev.tau0),
        "b": float(dev.b_exp),
        "tau_d": float(dev.tau_d),
    }


# ====================================================================== closed forms
def test_switching_probability_closed_forms(x64):
    p = {"delta": 60.0, "i_c0": 50e-6, "tau0": 1e-9, "b": 1.0, "tau_d": 1.14e-9}
    for r, t_p in [(0.5, 1e-6), (0.8, 1e-8), (0.9, 1e-7), (0.97, 1e-8), (1.0, 1e-8)]:
        want = neel_brown(r * 50e-6, t_p, 60.0, 50e-6, 1e-9)
        assert float(switching_probability(r * 50e-6, t_p, **p)) == pytest.approx(want, rel=1e-10, abs=1e-300)
        assert float(write_error_rate(r * 50e-6, t_p, **p)) == pytest.approx(1 - want, rel=1e-10)
    # b = 2 (Taniguchi–Imamura range) and Δ = 35
    q = dict(p, b=2.0, delta=35.0)
    assert float(switching_probability(0.7 * 50e-6, 1e-7, **q)) == pytest.approx(
        neel_brown(0.7 * 50e-6, 1e-7, 35.0, 50e-6, 1e-9, b=2.0), rel=1e-10
    )
    # compendium §1.6 worked numbers: Δ = 60, 0.8 I_c0, 10 ns → 6e-5; Δ = 30 → 2.5 %
    assert float(switching_probability(40e-6, 1e-8, **p)) == pytest.approx(6.1e-5, rel=0.02)
    assert float(switching_probability(40e-6, 1e-8, **dict(p, delta=30.0))) == pytest.approx(0.025, rel=0.03)
    # precessional, where it exceeds the barrier-free thermal floor 1 - exp(-t_p/tau0)
    for r, t_p in [(2.0, 1e-8), (2.5, 5e-9), (3.0, 2e-9)]:
        want = precessional(r * 50e-6, t_p, 60.0, 50e-6, 1.14e-9)
        assert want > 1 - math.exp(-t_p / 1e-9)
        assert float(switching_probability(r * 50e-6, t_p, **p)) == pytest.approx(want, rel=1e-10)
        # the WER of a memory write without cancellation
        wer = -math.expm1(-(math.pi**2 * 60 / 4) * math.exp(-2 * (r - 1) * t_p / 1.14e-9))
        assert float(write_error_rate(r * 50e-6, t_p, **p)) == pytest.approx(wer, rel=1e-10)
    # below the floor, above I_c0: the floor (the monotone envelope)
    floor = 1 - math.exp(-1e-8 / 1e-9)
    assert float(switching_probability(1.05 * 50e-6, 1e-8, **p)) == pytest.approx(floor, rel=1e-12)
    assert precessional(1.05 * 50e-6, 1e-8, 60.0, 50e-6, 1.14e-9) < floor


def test_write_error_rate_is_monotone_in_current_and_width(x64):
    p = {"delta": 60.0, "i_c0": 50e-6, "tau0": 1e-9, "b": 1.0, "tau_d": 1.14e-9}
    i = jnp.linspace(0.0, 4.0, 801)[:, None] * 50e-6  # across I_c0
    t = jnp.logspace(-10, -5, 201)[None, :]
    wer = np.asarray(write_error_rate(i, t, **p))
    prob = np.asarray(switching_probability(i, t, **p))
    assert np.all(np.diff(wer, axis=0) <= 0) and np.all(np.diff(wer, axis=1) <= 0)
    assert np.all(np.diff(prob, axis=0) >= 0) and np.all(np.diff(prob, axis=1) >= 0)
    assert np.all((wer >= 0) & (wer <= 1)) and np.all((prob >= 0) & (prob <= 1))
    np.testing.assert_allclose(prob + wer, 1.0, atol=1e-12)
    # continuous at I_c0
    eps = 1e-9 * 50e-6
    for t_p in [1e-9, 1e-8, 1e-7]:
        a, b = (float(switching_probability(50e-6 + s, t_p, **p)) for s in (-eps, eps))
        assert a == pytest.approx(b, rel=1e-6)
    # the same under b = 2 and for the stochastic card's barrier
    for q in [dict(p, b=2.0), dict(p, delta=35.0, i_c0=29.2e-6)]:
        wer = np.asarray(write_error_rate(jnp.linspace(0.0, 4.0, 401)[:, None] * q["i_c0"], t, **q))
        assert np.all(np.diff(wer, axis=0) <= 0) and np.all(np.diff(wer, axis=1) <= 0)


# ====================================================================== Monte Carlo
@pytest.mark.parametrize(
    "ratio, t_p",
    [(0.80, 100e-9), (0.85, 100e-9), (0.90, 20e-9), (0.70, 1e-6), (0.95, 10e-9)],
)
def test_switching_fraction_thermal_regime(stoch, ratio, t_p):
    """10⁴ MTJs (Δ = 35) written once toward parallel: the parallel fraction within 3σ of
    the Néel–Brown probability."""
    dev = stoch
    fab, st = _antiparallel(dev)
    i = ratio * float(dev.i_c0)
    out, _ = dev.pulse(
        fab,
        st,
        jnp.ones((N_DEV,), jnp.int32),
        key=jax.random.key(int(ratio * 100)),
        effects=SWITCHING,
        i_write=i,
        t_write=t_p,
    )
    p = neel_brown(i, t_p, float(dev.delta), float(dev.i_c0), float(dev.tau0))
    assert 0.01 < p < 0.99
    assert float(dev.switching_probability(i, t_p)) == pytest.approx(p, rel=1e-4)
    assert_fraction(np.asarray(out["s"]), p, f"switched at {ratio} I_c0, {t_p * 1e9:g} ns")


@pytest.mark.parametrize("ratio", [2.1, 2.2, 2.4])
def test_switching_fraction_precessional_regime(stt, ratio):
    """Short pulses above I_c0 (τ_D = 0.2 ns, t_p = 0.5 ns, where the He–Sun–Zhang CDF
    exceeds the thermal floor 1 − e^(−t_p/τ0) = 0.39): the fraction follows the
    precessional form."""
    dev = dataclasses.replace(stt, tau_d=0.2e-9)
    fab, st = _antiparallel(dev)
    i, t_p = ratio * float(dev.i_c0), 0.5e-9
    out, _ = dev.pulse(
        fab,
        st,
        jnp.ones((N_DEV,), jnp.int32),
        key=jax.random.key(int(ratio * 10)),
        effects=SWITCHING,
        i_write=i,
        t_write=t_p,
    )
    p = precessional(i, t_p, float(dev.delta), float(dev.i_c0), 0.2e-9)
    assert p > 1 - math.exp(-t_p / float(dev.tau0)) and 0.05 < p < 0.95
    assert float(dev.switching_probability(i, t_p)) == pytest.approx(p, rel=1e-4)
    assert_fraction(np.asarray(out["s"]), p, f"precessional switching at {ratio} I_c0")


@pytest.mark.parametrize("n", [1, 3, 10])
def test_attempts_compound(stoch, n):
    """|n| attempts: each not-yet-switched MTJ switches with 1 − (1 − P)^|n|, toward
    parallel for n > 0 and antiparallel for n < 0."""
    dev = stoch
    p = float(dev.switching_probability())
    fab, st = _antiparallel(dev)
    up, e = dev.pulse(fab, st, jnp.full((N_DEV,), n), key=jax.random.key(n), effects=SWITCHING)
    assert_fraction(np.asarray(up["s"]), 1 - (1 - p) ** n, f"parallel after {n} attempts")
    # and back: from all parallel toward antiparallel
    par = dict(st, s=jnp.ones_like(st["s"]))
    down, _ = dev.pulse(fab, par, jnp.full((N_DEV,), -n), key=jax.random.key(100 + n), effects=SWITCHING)
    assert_fraction(1 - np.asarray(down["s"]), 1 - (1 - p) ** n, f"antiparallel after {n} attempts")


def test_mtjs_in_the_target_state_stay_and_n_zero_changes_nothing(stoch):
    dev = stoch
    fab, st = _antiparallel(dev, n_dev=300)
    rng = np.random.default_rng(0)
    s = jnp.asarray(rng.integers(0, 2, (300, K)), jnp.float32)
    st = dict(st, s=s)
    n = jnp.asarray(rng.integers(-5, 6, 300))
    out, e = dev.pulse(fab, st, n, key=jax.random.key(1))
    s0, s1, n_np = np.asarray(s), np.asarray(out["s"]), np.asarray(n)
    assert np.all(s1[n_np > 0][s0[n_np > 0] == 1] == 1)
    assert np.all(s1[n_np < 0][s0[n_np < 0] == 0] == 0)
    np.testing.assert_array_equal(s1[n_np == 0], s0[n_np == 0])
    assert np.all(np.asarray(e)[n_np == 0] == 0)
    np.testing.assert_array_equal(np.asarray(out["cycles"]), np.asarray(st["cycles"]) + np.abs(n_np)[:, None])


@pytest.mark.slow  # secondary coverage; the default suite stays under 10 minutes
def test_counts_per_mtj(stoch, x64):
    """`n` with the state's trailing MTJ axis gives each MTJ its own count; energy sums them."""
    dev = xbar.devices.load("stt_mtj_stochastic")
    fab, st = _antiparallel(dev, n_dev=300)
    n = jnp.asarray(np.arange(300 * K).reshape(300, K) % 5)
    out, e = dev.pulse(fab, st, n, key=jax.random.key(0), effects=Effects.ideal())
    p = float(dev.switching_probability())
    np.testing.assert_allclose(np.asarray(out["s"]), 1 - (1 - p) ** np.asarray(n), rtol=1e-12)
    per_mtj = float(dev.i_write) * float(dev.v_write) * float(dev.t_write)
    np.testing.assert_allclose(np.asarray(e), np.asarray(n).sum(-1) * per_mtj, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(out["cycles"]), 1 + np.asarray(n))


def test_write_noise_off_gives_the_expected_state(stoch, x64):
    dev = xbar.devices.load("stt_mtj_stochastic")
    fab, st = _antiparallel(dev, n_dev=300)
    n = jnp.asarray(np.arange(300) % 7 - 3)
    out, _ = dev.pulse(fab, st, n, key=jax.random.key(0), effects=Effects.ideal())
    p = float(dev.switching_probability())
    want = np.where(np.asarray(n) > 0, 1 - (1 - p) ** np.abs(np.asarray(n)), 0.0)
    np.testing.assert_allclose(np.asarray(out["s"]), np.broadcast_to(want[:, None], (300, K)), rtol=1e-12)


def test_d2d_scales_each_mtjs_critical_current_with_its_area(stoch, x64):
    dev = xbar.devices.load("stt_mtj_stochastic")
    fab, st = _antiparallel(dev, n_dev=300)
    out, _ = dev.pulse(fab, st, jnp.ones((300,), jnp.int32), key=jax.random.key(0), effects=Effects.only("d2d"))
    i_c0 = float(dev.i_c0) * np.asarray(fab["g_p"]) / float(dev.g_p)
    p = _params(dev)
    want = np.vectorize(lambda ic: neel_brown(float(dev.i_write), float(dev.t_write), p["delta"], ic, p["tau0"]))(i_c0)
    np.testing.assert_allclose(np.asarray(out["s"]), want, rtol=1e-9)
    assert np.std(want) > 0.2 * np.mean(want)  # a 4 % area spread moves P a lot at Δ = 35


def test_energy_per_pulse(stt, stoch):
    for dev in (stt, stoch):
        fab, st = _antiparallel(dev, n_dev=300)
        n = jnp.asarray(np.arange(300) % 9 - 4)
        _, e = dev.pulse(fab, st, n, key=jax.random.key(0))
        per_mtj = float(dev.i_write) * float(dev.v_write) * float(dev.t_write)
        np.testing.assert_allclose(np.asarray(e), np.abs(np.asarray(n)) * K * per_mtj, rtol=1e-6)
        # an explicit pulse: I·V·t_p per MTJ per attempt
        _, e2 = dev.pulse(fab, st, n, key=jax.random.key(0), i_write=80e-6, t_write=5e-9)
        np.testing.assert_allclose(
            np.asarray(e2), np.abs(np.asarray(n)) * K * 80e-6 * float(dev.v_write) * 5e-9, rtol=1e-6
        )
    # compendium 4.2: a memory write costs about 1 pJ per MTJ
    assert float(stt.i_write * stt.v_write * stt.t_write) == pytest.approx(1.0e-12, rel=0.1)


def test_cards_write_pulses(stt, stoch):
    # memory grade: 1.5-3 I_c0 and 10 ns; the model's WER of that pulse is the card's
    assert 1.5 <= float(stt.i_write / stt.i_c0) <= 3.0 and float(stt.t_write) == pytest.approx(10e-9)
    assert float(stt.pulse_write_error_rate()) == pytest.approx(float(stt.write_error_rate), rel=0.05)
    # stochastic: Δ = 35, 0.5-0.8 I_c0, P_sw in 0.05-0.5 (compendium 4.2, 8.3)
    assert float(stoch.delta) == 35.0
    assert 0.5 <= float(stoch.i_write / stoch.i_c0) <= 0.8 + 1e-6
    assert 0.05 <= float(stoch.switching_probability()) <= 0.5
    # read disturb: a read (v_read over R_P) is far below I_c0 and does not flip within t_read
    i_read = float(stt.v_read / stt.r_p)
    assert i_read < 0.6 * float(stt.i_c0)
    assert float(stt.switching_probability(i_read, float(stt.t_read))) < 1e-9


def test_pulses_for(stt, stoch):
    g_p, g_ap = float(stt.g_p), float(stt.g_ap)
    for dev in (stt, stoch):
        fab, st = _antiparallel(dev, n_dev=9)
        targets = jnp.asarray([K * g_ap + m * (g_p - g_ap) for m in range(K + 1)])
        n = np.asarray(dev.pulses_for(fab, st, targets))
        assert n[0] == 0 and np.all(n[1:] > 0)
        wer = float(dev.pulse_write_error_rate())
        if dev is stt:
            np.testing.assert_array_equal(n[1:], 1)  # one deterministic write
        else:
            # fewest attempts with expected switched MTJs within 1/2 of the target count
            m_t = np.arange(K + 1)
            want = np.ceil(np.log((K - m_t + 0.5) / K) / np.log(wer))
            np.testing.assert_array_equal(n[1:], np.maximum(want[1:], 1))
            out, _ = dev.pulse(fab, st, jnp.asarray(n), key=jax.random.key(0), effects=Effects.ideal())
            m = np.asarray(out["s"]).sum(-1)
            assert np.all(m >= m_t - 0.5) and np.all(m[1:-1] < m_t[1:-1] + 1.5)
        # and downward from all parallel
        par = dict(st, s=jnp.ones_like(st["s"]))
        n_down = np.asarray(dev.pulses_for(fab, par, targets))
        assert n_down[-1] == 0 and np.all(n_down[:-1] < 0)


def test_pulses_for_mtjs_reaches_intermediate_levels(stt, stoch):
    """Per-MTJ counts: the fewest MTJs are written; deterministic writes land on the target
    level, a device-level pulse (all MTJs at once) could not."""
    g_p, g_ap = float(stt.g_p), float(stt.g_ap)
    rng = np.random.default_rng(3)
    for dev in (stt, stoch):
        fab, st = _antiparallel(dev, n_dev=300)
        s0 = jnp.asarray(rng.integers(0, 2, (300, K)), jnp.float32)
        st = dict(st, s=s0)
        m_t = rng.integers(0, K + 1, 300)
        targets = jnp.asarray(K * g_ap + m_t * (g_p - g_ap))
        n = np.asarray(dev.pulses_for_mtjs(fab, st, targets))
        m0 = np.asarray(s0).sum(-1)
        assert n.shape == (300, K)
        np.testing.assert_array_equal((n != 0).sum(-1), np.abs(m_t - m0))  # fewest MTJs change
        assert np.all(n[np.asarray(s0) == 1] <= 0) and np.all(n[np.asarray(s0) == 0] >= 0)
        wer = float(dev.pulse_write_error_rate())
        count = max(1, math.ceil(math.log(0.5) / math.log(wer)))
        assert set(np.unique(np.abs(n))) <= {0, count}
        if dev is stt:
            assert count == 1
            out, _ = dev.pulse(fab, st, jnp.asarray(n), key=jax.random.key(0), effects=SWITCHING)
            np.testing.assert_array_equal(np.asarray(out["s"]).sum(-1), m_t)  # WER 1e-6: exact here
        else:
            assert 1 - wer**count >= 0.5 > 1 - wer ** (count - 1)


# ====================================================================== temperature
def test_temperature_rescales_the_barrier(stoch, x64):
    dev = xbar.devices.load("stt_mtj_stochastic")
    p = _params(dev)
    t_card = float(dev.temperature)
    for temp in [250.0, 300.0, 358.15]:
        d_t = p["delta"] * t_card / temp
        assert float(dev.delta_at(temp)) == pytest.approx(d_t, rel=1e-12)
        want = neel_brown(float(dev.i_write), float(dev.t_write), d_t, p["i_c0"], p["tau0"])
        assert float(dev.switching_probability(temperature=temp)) == pytest.approx(want, rel=1e-10)
        tau = p["tau0"] * math.exp(d_t)
        assert float(dev.flip_probability(1e5, temp)) == pytest.approx(0.5 * (1 - math.exp(-2e5 / tau)), rel=1e-10)
    assert float(dev.switching_probability(temperature=358.15)) > float(dev.switching_probability())
    with pytest.raises(ValueError, match="temperature"):
        dev.delta_at(0.0)


def test_switching_fraction_at_temperature(stoch):
    """At 85 °C the barrier is Δ·300/358.15: the Monte Carlo fraction follows it."""
    dev = stoch
    fab, st = _antiparallel(dev)
    temp = 358.15
    out, _ = dev.pulse(
        fab, st, jnp.ones((N_DEV,), jnp.int32), key=jax.random.key(7), effects=SWITCHING, temperature=temp
    )
    p = neel_brown(
        float(dev.i_write), float(dev.t_write), float(dev.delta) * 300.0 / temp, float(dev.i_c0), float(dev.tau0)
    )
    assert_fraction(np.asarray(out["s"]), p, "switched at 85 C")


def test_retention_at_temperature_reads_through_conductance(stoch):
    dev = dataclasses.replace(stoch, mtjs_per_device=1)
    n = 20_000
    fab = dev.fabricate((n,), key=jax.random.key(3))
    eff = Effects.only("drift", "levels")
    st = dev.program(fab, jnp.full((n,), float(dev.g_max)), key=jax.random.key(4), effects=eff)
    t = 2e5
    g = np.asarray(dev.conductance(fab, st, t, effects=eff, temperature=330.0))
    flipped = np.isclose(g, float(dev.g_ap), rtol=1e-4)
    assert_fraction(flipped, float(dev.flip_probability(t, 330.0)), "thermal flips at 330 K")


@pytest.mark.slow  # secondary coverage; the default suite stays under 10 minutes
# ====================================================================== wear
def test_worn_out_mtjs_read_stuck_parallel(stt):
    dev = stt
    fab, st = _antiparallel(dev, n_dev=2000)
    st = dict(st, cycles=jnp.full(st["s"].shape, float(dev.endurance_n63)))
    eff = Effects.only("wear")
    g = np.asarray(dev.conductance(fab, st, 0.0, effects=eff))
    failed = np.asarray(dev.wear(fab, st["cycles"])["failed"])
    assert 0.55 < failed.mean() < 0.72  # 1 - 1/e at N = N63 (k = 1)
    # the card's failures are shorts (stuck parallel); the window is closed by wear
    w = float(dev.wear(fab, st["cycles"])["window"][0, 0])
    mid = 0.5 * (float(dev.g_p) + float(dev.g_ap))
    g_p_w, g_ap_w = mid + w * (float(dev.g_p) - mid), mid - w * (mid - float(dev.g_ap))
    np.testing.assert_allclose(g, failed.sum(-1) * g_p_w + (K - failed.sum(-1)) * g_ap_w, rtol=1e-5)
    # without wear the programmed antiparallel state reads
    np.testing.assert_allclose(
        np.asarray(dev.conductance(fab, st, 0.0, effects=Effects.ideal())), K * float(dev.g_ap), rtol=1e-6
    )


# ====================================================================== transformations, errors
def test_same_key_same_result_jit_and_vmap(stoch):
    dev = stoch
    fab, st = _antiparallel(dev, n_dev=300)
    n = jnp.asarray(np.arange(300) % 11 - 5)
    a, ea = dev.pulse(fab, st, n, key=jax.random.key(5))
    b, _ = dev.pulse(fab, st, n, key=jax.random.key(5))
    c, _ = dev.pulse(fab, st, n, key=jax.random.key(6))
    np.testing.assert_array_equal(np.asarray(a["s"]), np.asarray(b["s"]))
    assert np.any(np.asarray(a["s"]) != np.asarray(c["s"]))
    j, ej = jax.jit(lambda d, k: d.pulse(fab, st, n, key=k))(dev, jax.random.key(5))
    np.testing.assert_array_equal(np.asarray(j["s"]), np.asarray(a["s"]))
    np.testing.assert_allclose(np.asarray(ej), np.asarray(ea), rtol=1e-6)
    keys = jax.random.split(jax.random.key(9), 3)
    vm = jax.vmap(lambda k: dev.pulse(fab, st, n, key=k)[0]["s"])(keys)
    loop = np.stack([np.asarray(dev.pulse(fab, st, n, key=k)[0]["s"]) for k in keys])
    np.testing.assert_array_equal(np.asarray(vm), loop)
    # vmap over the write current equals a loop
    currents = jnp.asarray([0.6, 0.8, 1.5]) * float(dev.i_c0)
    f = lambda i: dev.pulse(fab, st, n, key=jax.random.key(1), i_write=i)[0]["s"].mean()  # noqa: E731
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(currents)), [float(f(i)) for i in currents], rtol=1e-6)


def test_gradient_of_the_switching_probability(x64):
    p = {"delta": 35.0, "i_c0": 29.2e-6, "tau0": 1e-9, "b": 1.0, "tau_d": 1.14e-9}
    f = lambda i: switching_probability(i, 1e-7, **p)  # noqa: E731
    i0, h = 0.8 * 29.2e-6, 1e-12
    fd = (float(f(i0 + h)) - float(f(i0 - h))) / (2 * h)
    assert float(jax.grad(f)(i0)) == pytest.approx(fd, rel=1e-5)


def test_errors(stoch):
    fab, st = _antiparallel(stoch, n_dev=4)
    with pytest.raises(TypeError, match=r"STTMRAM\.pulse: n: expected signed integer pulse counts, got dtype float"):
        stoch.pulse(fab, st, jnp.ones(4), key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"STTMRAM\.pulse: n: .* got a bool"):
        stoch.pulse(fab, st, True, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"STTMRAM\.pulse: n: expected a shape broadcastable to the cells' \(4,\)"):
        stoch.pulse(fab, st, jnp.ones(3, jnp.int32), key=jax.random.key(0))
    for key, value in [("i_c0", 0.0), ("t_write", -1e-9), ("tau_d", 0.0), ("b_exp", 0.0), ("i_write", -1.0)]:
        with pytest.raises(ValueError, match=key):
            dataclasses.replace(stoch, **{key: value})
    assert isinstance(stoch, STTMRAM)
