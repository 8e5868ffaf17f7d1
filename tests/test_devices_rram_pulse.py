"""RRAM pulse programming (xbar/devices/_rram.py): the NeuroSim exponential model against
closed forms written out here independently, the NL -> A relation against the compendium's
spot values, cycle-to-cycle noise statistics, energy, the nominal inverse, wear, jit and
errors.

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
from scipy.optimize import brentq

import xbar
from xbar import Effects
from xbar.devices import CardError, load_card
from xbar.devices._card import cards_dir
from xbar.devices._rram import NL_MAX, a_to_nl, neurosim_curve, nl_to_a

Z = 5.0
QUIET = Effects.ideal()  # no d2d, no noise, no wear
US = 1e-6
M = 512  # cells of the exactness checks (one size: each new shape costs a compile)
BIG = 20_000  # cells of the Monte Carlo checks


def _dev(**changes):
    return dataclasses.replace(xbar.devices.load("rram_hfox"), **changes)


# jitted once per shape and dtype: eager calls would compile every primitive for every
# new shape, which dominates a test's time
_fabricate = jax.jit(lambda dev, key, shape: dev.fabricate(shape, key=key), static_argnums=2)
_pulse_jit = jax.jit(lambda dev, fab, st, n, key, eff: dev.pulse(fab, st, n, key=key, effects=eff), static_argnums=5)
_pulses_for_jit = jax.jit(lambda dev, fab, st, g, eff: dev.pulses_for(fab, st, g, effects=eff), static_argnums=4)


def _fab(dev, shape, seed=0):
    return _fabricate(dev, jax.random.key(seed), tuple(shape))


def _pulse(dev, fab, state, n, *, seed=0, effects=QUIET):
    return _pulse_jit(dev, fab, state, jnp.asarray(n), jax.random.key(seed), effects)


def _pulses_for(dev, fab, state, g, effects=None):
    return _pulses_for_jit(dev, fab, state, jnp.asarray(g, state["g"].dtype), effects)


def _state(dev, fab, g, cycles=1.0):
    g = jnp.asarray(g, jnp.result_type(float))
    return {"g": g, "key_time": jax.random.key(99), "cycles": jnp.full(g.shape, cycles, g.dtype)}


# ------------------------------------------------------------------ independent closed forms
def _g(u, a):
    """NeuroSim's normalised curve g_a(u) = (1 - exp(-u/a))/(1 - exp(-1/a)), float64."""
    return np.expm1(-u / a) / np.expm1(-1.0 / a)


def _nl_of_a(a: float) -> float:
    """10.10 * (g(u*) - u*) at the compendium's u* = -a ln(a (1 - exp(-1/a)))."""
    u = -a * math.log(-a * math.expm1(-1.0 / a))
    return 10.10 * (_g(u, a) - u)


def _a_of_nl(nl: float) -> float:
    """Independent root-find (scipy brentq in log a); sign symmetry for NL < 0."""
    if nl == 0:
        return math.inf
    la = brentq(lambda la: _nl_of_a(math.exp(la)) - abs(nl), -6.0, 12.0, xtol=1e-14)
    return math.copysign(math.exp(la), nl)


def _curve(p, p_max, a, g_min, g_max):
    """G(P) = B (1 - exp(-P/A)) + G_min, B = (G_max - G_min)/(1 - exp(-P_max/A)), A = a P_max."""
    p = np.asarray(p, np.float64)
    if math.isinf(a):
        return g_min + (g_max - g_min) * p / p_max
    big_a = a * p_max
    b = (g_max - g_min) / (1.0 - math.exp(-p_max / big_a))
    return b * (1.0 - np.exp(-p / big_a)) + g_min


# ------------------------------------------------------------------ NL -> a
@pytest.mark.parametrize(
    "nl, a",
    # compendium section 1.5 spot values (3 decimals) and the card's TaOx/HfOx entry (section 2.4)
    [
        (1.0, 1.252),
        (2.0, 0.609),
        (2.4, 0.499),
        (3.0, 0.387),
        (4.0, 0.269),
        (4.88, 0.200),
        (6.0, 0.136),
        (-2.4, -0.499),
        (-4.88, -0.200),
        (0.04, 31.6),
        (-0.63, -2.00),
    ],
)
def test_nl_to_a_spot_values(nl, a):
    tol = 0.05 if abs(a) > 10 else (0.005 if abs(a) > 1.5 else 6e-4)  # table rounding
    assert float(nl_to_a(nl)) == pytest.approx(a, abs=tol)


def test_nl_to_a_matches_independent_root_find_and_sign_symmetry(x64):
    nls = np.concatenate([-np.linspace(0.01, NL_MAX, 37), [0.0], np.linspace(0.01, NL_MAX, 37)])
    got = np.asarray(nl_to_a(jnp.asarray(nls)))
    want = np.array([_a_of_nl(x) for x in nls])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    np.testing.assert_array_equal(np.asarray(nl_to_a(-jnp.asarray(nls))), -got)  # g_{-a}(u) = 1 - g_a(1 - u)
    assert np.isinf(got[nls == 0]).all()
    # tiny labels: the small-curvature limit NL = 10.10/(8a)
    assert float(nl_to_a(1e-6)) == pytest.approx(10.10 / 8e-6, rel=1e-9)
    # a_to_nl inverts it; the definition: NL = 10.10 * max_u [g_a(u) - u] on a dense grid
    np.testing.assert_allclose(np.asarray(a_to_nl(jnp.asarray(got))), nls, rtol=1e-9, atol=1e-12)
    u = np.linspace(0.0, 1.0, 200_001)
    for a in [1.252, 0.2, 31.6, -2.0, -0.5]:
        dev = _g(u, a) - u
        extreme = dev.max() if a > 0 else dev.min()
        assert float(a_to_nl(a)) == pytest.approx(10.10 * extreme, rel=1e-8)
        # the mirrored curve of negative a
        np.testing.assert_allclose(_g(u, -a), 1.0 - _g(1.0 - u, a), atol=1e-12)


def test_nl_to_a_float32_jit_vmap_and_gradient(x64):
    nls = jnp.asarray([0.04, -0.63, 1.0, 2.4, -4.88, 8.9], jnp.float32)
    want = np.array([_a_of_nl(float(x)) for x in np.asarray(nls, np.float64)])
    with jax.enable_x64(False):
        eager = np.asarray(nl_to_a(jnp.asarray(nls, jnp.float32)))
        jitted = np.asarray(jax.jit(nl_to_a)(jnp.asarray(nls, jnp.float32)))
        vmapped = np.asarray(jax.vmap(nl_to_a)(jnp.asarray(nls, jnp.float32)))
    assert eager.dtype == np.float32
    np.testing.assert_allclose(eager, want, rtol=1e-5)
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
    np.testing.assert_allclose(vmapped, eager, rtol=1e-6)
    # implicit-function gradient against central differences (float64)
    for x in [0.04, 1.0, -4.88]:
        grad = float(jax.grad(nl_to_a)(x))
        h = 1e-6
        fd = (_a_of_nl(x + h) - _a_of_nl(x - h)) / (2 * h)
        assert grad == pytest.approx(fd, rel=1e-5)


def test_neurosim_curve_closed_form(x64):
    p = np.arange(0, 129)
    for a in [31.6, 1.252, 0.2, -2.0, -0.2, math.inf, -math.inf]:
        got = np.asarray(neurosim_curve(jnp.asarray(p), 128, a, 4 * US, 40 * US))
        np.testing.assert_allclose(got, _curve(p, 128, abs(a) if math.isinf(a) else a, 4 * US, 40 * US), rtol=1e-12)
        assert got[0] == pytest.approx(4 * US, abs=1e-20) and got[-1] == pytest.approx(40 * US, rel=1e-12)


# ------------------------------------------------------------------ the pulse model
@pytest.mark.parametrize("nl_ltp, nl_ltd", [(0.04, -0.63), (2.4, -4.88), (-1.5, 3.0)])
def test_pulses_follow_the_neurosim_curve(x64, nl_ltp, nl_ltd):
    """From g_min, p LTP pulses in one call land on G_LTP(p); from g_max, p LTD pulses
    land on the LTD curve walked back p steps: G_LTD(P_max - p). Beyond the window: the bound."""
    dev = _dev(nl_ltp=nl_ltp, nl_ltd=nl_ltd)
    g_min, g_max, p_max = float(dev.g_min), float(dev.g_max), int(dev.p_max)
    p = np.resize(np.arange(0, p_max + 40), M)
    fab = _fab(dev, p.shape)
    a_ltp, a_ltd = _a_of_nl(nl_ltp), _a_of_nl(nl_ltd)
    up, e_up = _pulse(dev, fab, _state(dev, fab, np.full(p.shape, g_min)), jnp.asarray(p), seed=1, effects=QUIET)
    want = np.minimum(_curve(p, p_max, a_ltp, g_min, g_max), g_max)
    np.testing.assert_allclose(np.asarray(up["g"]), want, rtol=1e-9)
    down, _ = _pulse(dev, fab, _state(dev, fab, np.full(p.shape, g_max)), -jnp.asarray(p), seed=1, effects=QUIET)
    want = np.maximum(_curve(p_max - p, p_max, a_ltd, g_min, g_max), g_min)
    np.testing.assert_allclose(np.asarray(down["g"]), want, rtol=1e-9, atol=1e-18)


def test_one_pulse_at_a_time_equals_one_call(x64):
    """Noise off, d2d on (each cell its own curve): k single-pulse calls equal one call of k."""
    dev = _dev(nl_ltp=1.5, nl_ltd=-2.5, nl_d2d_sigma=0.5)
    rng = np.random.default_rng(0)
    cells = M
    fab = _fab(dev, (cells,), seed=3)
    g0 = rng.uniform(float(dev.g_min), float(dev.g_max), cells)
    n = rng.integers(-150, 151, cells)
    n[:10] = 0
    eff = Effects.only("d2d")
    state = _state(dev, fab, g0)
    once, _ = _pulse(dev, fab, state, jnp.asarray(n), seed=0, effects=eff)
    step = jax.jit(lambda s, k: dev.pulse(fab, s, k, key=jax.random.key(0), effects=eff)[0])
    s = state
    for i in range(int(np.abs(n).max())):
        s = step(s, jnp.asarray(np.sign(n) * (np.abs(n) > i)))
    np.testing.assert_allclose(np.asarray(s["g"]), np.asarray(once["g"]), rtol=1e-9)
    np.testing.assert_array_equal(np.asarray(s["cycles"]), np.asarray(once["cycles"]))
    np.testing.assert_array_equal(np.asarray(once["cycles"]), 1 + np.abs(n))
    np.testing.assert_array_equal(np.asarray(once["g"])[:10], g0[:10])  # n = 0: untouched


def test_potentiation_depression_asymmetry(x64):
    """The card's curves: LTP nearly linear (first/last step e^(1/a) = 1.03), LTD convex
    (steps near g_max e^(1/|a|) = 1.65 times those near g_min); k up then k down does not
    return to the start."""
    dev = _dev()
    g_min, g_max, p_max = float(dev.g_min), float(dev.g_max), float(dev.p_max)
    a_ltp, a_ltd = _a_of_nl(0.04), _a_of_nl(-0.63)
    fab = _fab(dev, (M,))
    ends = _state(dev, fab, np.resize([g_min, g_max], M))
    one = jnp.ones(M, jnp.int32)
    up, _ = _pulse(dev, fab, ends, one, seed=0, effects=QUIET)
    last = _curve(p_max, p_max, a_ltp, g_min, g_max) - _curve(p_max - 1, p_max, a_ltp, g_min, g_max)
    first = float(up["g"][0]) - g_min
    assert first / last == pytest.approx(math.exp((p_max - 1) / (a_ltp * p_max)), rel=1e-8)
    assert first / last == pytest.approx(1.032, abs=1e-3)
    down, _ = _pulse(dev, fab, ends, -one, seed=0, effects=QUIET)
    top = g_max - float(down["g"][1])
    bottom = _curve(1, p_max, a_ltd, g_min, g_max) - g_min
    assert top / bottom == pytest.approx(math.exp((p_max - 1) / (abs(a_ltd) * p_max)), rel=1e-8)
    assert top / bottom == pytest.approx(1.64, abs=0.01)
    mid = _state(dev, fab, np.full(M, 0.5 * (g_min + g_max)))
    k = jnp.full((M,), 20)
    s, _ = _pulse(dev, fab, mid, k, seed=0, effects=QUIET)
    s, _ = _pulse(dev, fab, s, -k, seed=0, effects=QUIET)
    # up 20 on the LTP curve, down 20 on the LTD curve (larger steps there): below the start
    y = 0.5
    for a, dp in [(a_ltp, 20), (a_ltd, -20)]:
        u = -a * math.log1p(-y * -math.expm1(-1 / a)) + dp / p_max
        y = _g(u, a)
    assert float(s["g"][0]) == pytest.approx(g_min + y * (g_max - g_min), rel=1e-9)
    assert float(s["g"][0]) < 0.5 * (g_min + g_max) - 0.005 * (g_max - g_min)


def test_c2c_noise_std_scales_with_sqrt_n(x64):
    """Std over many cells of (noisy - noise-free) = c2c_sigma * sqrt(|n|) * range, times
    the wear factor wear(...)["c2c"] on worn cells. The noise-free value is the closed form."""
    dev = _dev()
    cells = BIG
    fab = _fab(dev, (cells,))
    g_min, g_max = float(dev.g_min), float(dev.g_max)
    span = g_max - g_min
    mid = 0.5 * (g_min + g_max)

    def clean(k):  # k pulses from mid-window along the card's LTP or LTD curve
        a = _a_of_nl(0.04 if k > 0 else -0.63)
        u = -a * math.log1p(-0.5 * -math.expm1(-1 / a)) + k / 128
        return g_min + span * _g(u, a)

    n = np.resize([1, 4, -9], cells)
    noisy, _ = _pulse(dev, fab, _state(dev, fab, np.full(cells, mid)), n, seed=10, effects=Effects.only("write_noise"))
    for k in [1, 4, -9]:
        x = np.asarray(noisy["g"])[n == k] - clean(k)
        _assert_normal_stats(x, float(dev.c2c_sigma) * math.sqrt(abs(k)) * span, f"k={k}")
    # worn cells: the window has closed by wear_window_beta per decade and the noise grown
    cycles = 10.0 * float(dev.wear_n_th)
    worn = _state(dev, fab, np.full(cells, mid), cycles=cycles)
    noisy, _ = _pulse(dev, fab, worn, np.ones(cells, int), seed=5, effects=Effects.only("write_noise", "wear"))
    factor = float(dev.wear(fab, jnp.asarray([cycles + 1]))["c2c"][0])
    assert factor > 1.4
    _assert_normal_stats(np.asarray(noisy["g"]) - clean(1), float(dev.c2c_sigma) * span * factor, "worn")


def _assert_normal_stats(x, sigma, what):
    x = np.asarray(x, np.float64)
    m, s = x.mean(), x.std(ddof=1)
    se_m = s / math.sqrt(x.size)
    d = x - m
    se_s = math.sqrt(max(np.mean(d**4) - np.mean(d**2) ** 2, 0.0) / x.size) / (2 * s)
    assert abs(m) <= Z * se_m, f"{what}: mean {m:.4g} != 0 ± {Z}·{se_m:.3g}"
    assert abs(s - sigma) <= Z * se_s, f"{what}: std {s:.6g}, expected {sigma:.6g} ± {Z}·{se_s:.3g}"


def test_worn_window_bounds_the_result(x64):
    dev = _dev()
    cells = M
    fab = _fab(dev, (cells,))
    cycles = 1e3 * float(dev.wear_n_th)  # window closed to 1 - 3*beta = 40 %
    st = _state(dev, fab, np.linspace(float(dev.g_min), float(dev.g_max), cells), cycles=cycles)
    n = jnp.asarray(np.resize([500, -500, 3, -3], cells))
    eff = Effects(stuck=False)
    out, _ = _pulse(dev, fab, st, n, seed=0, effects=eff)
    lo, hi = dev.worn_window(fab, eff, out["cycles"])
    g, lo, hi = np.asarray(out["g"]), np.asarray(lo), np.asarray(hi)
    assert np.all(g >= lo * (1 - 1e-12)) and np.all(g <= hi * (1 + 1e-12))  # (eager vs jit rounding)
    assert np.sum(g > lo * (1 + 1e-9)) > cells // 4
    quiet, _ = _pulse(dev, fab, st, n, seed=0, effects=Effects(stuck=False, write_noise=False))
    np.testing.assert_allclose(np.asarray(quiet["g"])[::4], hi[::4], rtol=1e-12)  # 500 SET pulses: the top
    np.testing.assert_allclose(np.asarray(quiet["g"])[1::4], lo[1::4], rtol=1e-12)  # 500 RESET: the bottom
    width = (hi - lo) / (np.asarray(fab["hi"]) - np.asarray(fab["lo"]))
    np.testing.assert_allclose(width, 1 - 3 * float(dev.wear_window_beta), rtol=1e-4)


def test_energy_is_neurosims_formula(x64):
    """|n| V^2 (G_before + G_after)/2 t_p with the SET or RESET pulse, noise on; 0 for n = 0;
    one pulse from g_min costs V_set^2 (G_0 + G_1)/2 t_set (about 0.5 pJ on the card)."""
    dev = _dev(v_reset=1.3, t_reset=80e-9)
    rng = np.random.default_rng(1)
    cells = M
    fab = _fab(dev, (cells,))
    g0 = rng.uniform(float(dev.g_min), float(dev.g_max), cells)
    n = rng.integers(-20, 21, cells)
    out, e = _pulse(dev, fab, _state(dev, fab, g0), jnp.asarray(n), seed=2, effects=Effects(stuck=False))
    g1 = np.asarray(out["g"])
    v2t = np.where(n > 0, 1.6**2 * 50e-9, 1.3**2 * 80e-9)
    np.testing.assert_allclose(np.asarray(e), np.abs(n) * v2t * 0.5 * (g0 + g1), rtol=1e-12)
    assert np.all(np.asarray(e)[n == 0] == 0)
    one, e1 = _pulse(dev, fab, _state(dev, fab, np.full(M, float(dev.g_min))), jnp.ones(M, int), seed=0, effects=QUIET)
    want = (
        1.6**2 * 0.5 * (float(dev.g_min) + _curve(1, 128, _a_of_nl(0.04), float(dev.g_min), float(dev.g_max))) * 50e-9
    )
    assert float(e1[0]) == pytest.approx(want, rel=1e-9)
    assert 0.5e-12 < want < 0.55e-12
    np.testing.assert_allclose(np.asarray(dev.write_time(jnp.asarray([3, -2, 0]))), [150e-9, 160e-9, 0.0])


def test_pulses_for_inverts_the_curve(x64):
    dev = _dev(nl_ltp=2.4, nl_ltd=-4.88)
    g_min, g_max, p_max = float(dev.g_min), float(dev.g_max), int(dev.p_max)
    p = np.resize(np.arange(0, p_max + 1), M)
    fab = _fab(dev, p.shape)
    start = _state(dev, fab, np.full(p.shape, g_min))
    up = _curve(p, p_max, _a_of_nl(2.4), g_min, g_max)
    np.testing.assert_array_equal(np.asarray(_pulses_for(dev, fab, start, up)), p)
    top = _state(dev, fab, np.full(p.shape, g_max))
    down = _curve(p_max - p, p_max, _a_of_nl(-4.88), g_min, g_max)
    n = _pulses_for(dev, fab, top, down)
    assert n.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(n), -p)
    # targets beyond the window saturate; one-shot lands within half a step
    assert np.all(np.asarray(_pulses_for(dev, fab, start, np.full(M, 2 * g_max))) == p_max)
    rng = np.random.default_rng(2)
    g0 = rng.uniform(g_min, g_max, M)
    target = rng.uniform(g_min, g_max, M)
    fab = _fab(dev, (M,))
    st = _state(dev, fab, g0)
    n = np.asarray(_pulses_for(dev, fab, st, target))
    # the same count from the curve's inverse u(y) = -a ln(1 - y (1 - e^(-1/a))), rounded
    a = np.where(target > g0, _a_of_nl(2.4), _a_of_nl(-4.88))

    def index(g):
        return -a * np.log1p(-(g - g_min) / (g_max - g_min) * -np.expm1(-1 / a)) * p_max

    exact = index(target) - index(g0)
    assert np.all(np.abs(n - exact) <= 0.5 + 1e-9)
    out, _ = _pulse(dev, fab, st, jnp.asarray(n), seed=0, effects=QUIET)
    np.testing.assert_allclose(index(np.asarray(out["g"])), index(g0) + n, rtol=1e-9, atol=1e-9)
    # with effects: each cell's own (d2d) window and curve; without: the card's
    dev = _dev(nl_d2d_sigma=0.5)
    fab = _fab(dev, (M,))
    st = _state(dev, fab, g0)
    n_own = _pulses_for(dev, fab, st, target, Effects.only("d2d"))
    out, _ = _pulse(dev, fab, st, n_own, seed=0, effects=Effects.only("d2d"))
    span = np.asarray(fab["hi"] - fab["lo"])
    inside = (target > np.asarray(fab["lo"])) & (target < np.asarray(fab["hi"]))
    assert np.all(np.abs(np.asarray(out["g"]) - target)[inside] < 0.1 * span[inside])
    assert not np.array_equal(np.asarray(n_own), np.asarray(_pulses_for(dev, fab, st, target)))


def test_fabricate_keeps_common_draws_and_spreads_nl(x64):
    dev = _dev(nl_d2d_sigma=0.3)
    cells = BIG
    fab = _fab(dev, (cells,), seed=4)
    common = xbar.devices.Device.fabricate(dev, (cells,), key=jax.random.key(4))
    for k in common:
        for x, y in zip(jax.tree.leaves(fab[k]), jax.tree.leaves(common[k])):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-15)
    for name, nl in [("inv_a_ltp", 0.04), ("inv_a_ltd", -0.63)]:
        labels = np.asarray(a_to_nl(1.0 / fab[name]))
        x = labels - nl
        se_m = x.std() / math.sqrt(cells)
        assert abs(x.mean()) <= Z * se_m
        _assert_normal_stats(x, 0.3, name)
    # d2d off: every cell the card's curve, whatever was fabricated
    fab = _fab(dev, (M,), seed=4)
    st = _state(dev, fab, np.full(M, float(dev.g_min)))
    out, _ = _pulse(dev, fab, st, np.full(M, 10), seed=0, effects=QUIET)
    assert np.ptp(np.asarray(out["g"])) == 0


@pytest.mark.slow  # secondary coverage; the default suite stays under 10 minutes
def test_program_sets_cycles_and_same_key_same_result():
    dev = _dev()
    fab = _fab(dev, (M,))
    state = jax.jit(lambda f, k: dev.program(f, jnp.full((M,), 20 * US), key=k, effects=Effects()))(
        fab, jax.random.key(1)
    )
    assert state["cycles"].dtype == state["g"].dtype and np.all(np.asarray(state["cycles"]) == 1)
    n = jnp.asarray(np.resize([5, -5, 1, 0], M))
    a = _pulse(dev, fab, state, n, seed=7, effects=Effects())
    b = _pulse(dev, fab, state, n, seed=7, effects=Effects())
    c = _pulse(dev, fab, state, n, seed=8, effects=Effects())
    np.testing.assert_array_equal(np.asarray(a[0]["g"]), np.asarray(b[0]["g"]))
    np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))
    moved = np.asarray(n) != 0
    assert np.mean(np.asarray(a[0]["g"])[moved] == np.asarray(c[0]["g"])[moved]) < 0.05
    assert a[0]["g"].dtype == jnp.float32 and a[1].dtype == jnp.float32
    # float32 (the library default) follows the closed form too: p LTP pulses from g_min
    p = np.resize(np.arange(0, 168), M)
    up, _ = _pulse(dev, fab, _state(dev, fab, np.full(M, 4 * US, np.float32)), p.astype(np.int32), effects=QUIET)
    want = np.minimum(_curve(p, 128, _a_of_nl(0.04), 4 * US, 40 * US), 40 * US)
    np.testing.assert_allclose(np.asarray(up["g"], np.float64), want, rtol=2e-6)
    assert set(a[0]) == set(state)  # the state keeps its structure (lax loops need it)


def test_jit_equals_eager_and_vmap_equals_loop():
    dev = _dev()
    fab = _fab(dev, (M,))
    state = dev.program(fab, jnp.linspace(0.0, 45 * US, M), key=jax.random.key(1), effects=Effects())
    n = jnp.asarray(np.resize([7, -3, 0, 130, -200], M))
    eff = Effects()

    def run(dev, fab, state, n, key):
        out, e = dev.pulse(fab, state, n, key=key, effects=eff)
        return out["g"], out["cycles"], e, dev.pulses_for(fab, out, jnp.full(n.shape, 20 * US))

    eager = run(dev, fab, state, n, jax.random.key(3))
    jitted = jax.jit(run)(dev, fab, state, n, jax.random.key(3))
    for x, y in zip(eager, jitted):
        x, y = np.asarray(x), np.asarray(y)
        np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6 * np.max(np.abs(x)))
    keys = jax.random.split(jax.random.key(4), 3)
    vm = jax.jit(jax.vmap(lambda k: run(dev, fab, state, n, k)[0]))(keys)
    for i in range(3):
        np.testing.assert_allclose(
            np.asarray(vm[i]), np.asarray(run(dev, fab, state, n, keys[i])[0]), rtol=1e-6, atol=1e-12
        )


def test_gradients_reach_g_and_nl(x64):
    """d G_n / d G and d G_n / d NL (card rates, d2d off) against central differences."""
    dev = _dev(nl_ltp=1.0)
    fab = _fab(dev, (M,))
    g0 = jnp.linspace(6 * US, 30 * US, M)

    @jax.jit
    def out(g, nl):
        d = dataclasses.replace(dev, nl_ltp=nl)
        return jnp.sum(d.pulse(fab, _state(d, fab, g), jnp.full((M,), 5), key=jax.random.key(0), effects=QUIET)[0]["g"])

    dg, dnl = jax.jit(jax.grad(out, argnums=(0, 1)))(g0, 1.0)
    h = 1e-12
    fd = [(float(out(g0.at[i].add(h), 1.0)) - float(out(g0.at[i].add(-h), 1.0))) / (2 * h) for i in (0, 31, 63)]
    np.testing.assert_allclose(np.asarray(dg)[[0, 31, 63]], fd, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(dg), math.exp(-5 / (_a_of_nl(1.0) * 128)), rtol=1e-9)  # soft bounds: e^(-n/A)
    fd_nl = (float(out(g0, 1.0 + 1e-6)) - float(out(g0, 1.0 - 1e-6))) / 2e-6
    assert float(dnl) == pytest.approx(fd_nl, rel=1e-5)


# ------------------------------------------------------------------ errors
def test_pulse_argument_errors():
    dev = _dev()
    fab = _fab(dev, (M,))
    st = _state(dev, fab, np.full(M, 10 * US))
    with pytest.raises(TypeError, match=r"RRAM\.pulse: n: expected signed integer pulse counts, got dtype float"):
        dev.pulse(fab, st, jnp.ones(M), key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"RRAM\.pulse: n: .* got a bool"):
        dev.pulse(fab, st, jnp.ones(M, bool), key=jax.random.key(0))
    with pytest.raises(
        ValueError, match=r"RRAM\.pulse: n: expected a shape broadcastable to the cells' \(512,\), got \(3,\)"
    ):
        dev.pulse(fab, st, jnp.ones(3, jnp.int32), key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"got \(2, 512\)"):
        dev.pulse(fab, st, jnp.ones((2, M), jnp.int32), key=jax.random.key(0))
    out, _ = jax.jit(lambda s: dev.pulse(fab, s, 2, key=jax.random.key(0)))(st)  # a Python int broadcasts
    assert np.all(np.asarray(out["cycles"]) == 3)
    with pytest.raises(ValueError, match=r"nl: expected a nonlinearity label with \|NL\| <= 9.0 .*got 9.5"):
        nl_to_a(9.5)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"nl_ltp": 9.5}, r"RRAM\.nl_ltp: expected a nonlinearity label with \|NL\| <= 9"),
        ({"nl_ltd": -12.0}, r"RRAM\.nl_ltd"),
        ({"p_max": 0.5}, r"RRAM\.p_max: expected a pulse count >= 1, got 0.5"),
        ({"c2c_sigma": -0.01}, r"RRAM\.c2c_sigma"),
        ({"nl_d2d_sigma": -1.0}, r"RRAM\.nl_d2d_sigma"),
        ({"v_set": 0.0}, r"RRAM\.v_set"),
        ({"t_reset": -1e-9}, r"RRAM\.t_reset"),
    ],
)
def test_bad_model_values(changes, match):
    with pytest.raises(ValueError, match=match):
        _dev(**changes)


@pytest.mark.parametrize(
    "key, old, new, match",
    [
        ("nl_ltp", "value = 0.04", "value = 9.5", "params.nl_ltp: expected a dimensionless number in [-9, 9], got 9.5"),
        ("p_max", "value = 128", "value = 0", "params.p_max: expected a dimensionless number >= 1, got 0"),
        ("c2c_sigma", "value = 3.7", "value = -3.7", "params.c2c_sigma: expected a dimensionless number >= 0"),
        ("t_set", 'unit = "ns"', 'unit = "V"', "params.t_set: expected a unit for a time"),
    ],
)
def test_bad_card_values(tmp_path, key, old, new, match):
    lines = (cards_dir() / "rram_hfox.toml").read_text(encoding="utf-8").splitlines()
    (i,) = [j for j, ln in enumerate(lines) if ln.startswith(f"{key} = {{")]
    assert lines[i].count(old) == 1
    lines[i] = lines[i].replace(old, new)
    path = tmp_path / "rram_hfox.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CardError, match=re.escape(match)):
        load_card(path)


def test_card_pulse_values_and_provenance():
    card = load_card("rram_hfox")
    want = {
        "p_max": 128,
        "nl_ltp": 0.04,
        "nl_ltd": -0.63,
        "c2c_sigma": 0.037,
        "v_set": 1.6,
        "t_set": 50e-9,
        "v_reset": 1.6,
        "t_reset": 50e-9,
    }
    for k, v in want.items():
        assert card.value(k) == pytest.approx(v, rel=1e-12), k
        assert card.params[k].tag == "V" and "neurosim" in card.params[k].source
    assert card.params["nl_d2d_sigma"].tag == "D" and "placeholder" in card.params["nl_d2d_sigma"].note
