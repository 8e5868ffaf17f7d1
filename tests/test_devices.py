"""Tests for the cell models (xbar/devices/_models.py).

Monte Carlo statistics are compared to closed forms with tolerances computed from the
sample size: a sample mean within `Z` standard errors of its expectation, a sample
standard deviation within `Z` standard errors (delta method with the sample's fourth
central moment), a fraction within `Z` binomial standard errors. All keys are fixed,
so every run draws the same numbers.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

import xbar
from xbar import Effects
from xbar.devices import PCM, RRAM, STTMRAM, FloatingGate

Z = 5.0  # tolerance in standard errors
N = 100_000  # cells per Monte Carlo check
US = 1e-6  # one microsiemens
FAMILIES = ["rram_hfox", "pcm_gst", "stt_mtj", "fg_flash"]
WINDOWED = ["rram_hfox", "pcm_gst", "fg_flash"]  # families with a per-cell (lo, hi) window

# IBM / aihwkit PCMLikeNoiseModel constants (Nandakumar et al. 2019), written out here
# independently of the card so the card and the model are both checked against them.
AIHWKIT_G_MAX = 25 * US
AIHWKIT_PROG = (0.26348 * US, 1.9650 * US, -1.1731 * US)  # at x = G_T / 25 uS
AIHWKIT_T0 = 20.0
AIHWKIT_T_READ = 250e-9


# ---------------------------------------------------------------------- statistics
def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).ravel()


def _se_mean(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / math.sqrt(x.size))


def _se_std(x: np.ndarray) -> float:
    """Standard error of the sample standard deviation (delta method, any distribution)."""
    d = x - x.mean()
    m2, m4 = np.mean(d**2), np.mean(d**4)
    return float(math.sqrt(max(m4 - m2**2, 0.0) / x.size) / (2.0 * math.sqrt(m2)))


def assert_mean(x, expected: float, what: str) -> None:
    x = _f64(x)
    m, se = float(x.mean()), _se_mean(x)
    assert abs(m - expected) <= Z * se, f"{what}: mean {m:.6g}, expected {expected:.6g} ± {Z}·{se:.3g}"


def assert_std(x, expected: float, what: str) -> None:
    x = _f64(x)
    s, se = float(x.std(ddof=1)), _se_std(x)
    assert abs(s - expected) <= Z * se, f"{what}: std {s:.6g}, expected {expected:.6g} ± {Z}·{se:.3g}"


def assert_fraction(hits, expected: float, what: str) -> None:
    hits = np.asarray(hits, dtype=bool).ravel()
    n, f = hits.size, float(hits.mean())
    se = math.sqrt(expected * (1.0 - expected) / n)
    assert abs(f - expected) <= Z * se, f"{what}: fraction {f:.6g}, expected {expected:.6g} ± {Z}·{se:.3g}"


# ---------------------------------------------------------------------- closed forms
def folded_normal_mean(mu: float, sd: float) -> float:
    """E|X| for X ~ N(mu, sd²)."""
    return sd * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * sd**2)) + mu * (1 - 2 * norm.cdf(-mu / sd))


def folded_normal_std(mu: float, sd: float) -> float:
    return math.sqrt(mu**2 + sd**2 - folded_normal_mean(mu, sd) ** 2)


def folded_normal_mgf(mu: float, sd: float, a: float) -> float:
    """E[exp(−a·|X|)] for X ~ N(mu, sd²)."""
    return math.exp(-a * mu + (a * sd) ** 2 / 2) * norm.cdf(mu / sd - a * sd) + math.exp(
        a * mu + (a * sd) ** 2 / 2
    ) * norm.cdf(-mu / sd - a * sd)


def aihwkit_nu_stats(x: float) -> tuple[float, float]:
    """μ_ν(x), σ_ν(x) of PCMLikeNoiseModel."""
    mu = min(max(-0.0155 * math.log(x) + 0.0244, 0.049), 0.1)
    sd = min(max(-0.0125 * math.log(x) - 0.0059, 0.008), 0.045)
    return mu, sd


def aihwkit_prog_sigma(g):
    x = np.asarray(g, dtype=np.float64) / AIHWKIT_G_MAX
    return AIHWKIT_PROG[0] + AIHWKIT_PROG[1] * x + AIHWKIT_PROG[2] * x**2


def aihwkit_q_s(g_prog):
    x = np.abs(np.asarray(g_prog, dtype=np.float64)) / AIHWKIT_G_MAX
    return np.minimum(0.0088 / np.maximum(x**0.65, 1e-3), 0.2)


def aihwkit_read_scale(t: float) -> float:
    return math.sqrt(math.log((t + AIHWKIT_T0 + AIHWKIT_T_READ) / (2 * AIHWKIT_T_READ)))


def poly(coeffs, x):
    return sum(float(c) * np.asarray(x, np.float64) ** k for k, c in enumerate(np.asarray(coeffs)))


def _keys(seed: int, n: int = 3):
    return jax.random.split(jax.random.key(seed), n)


# ---------------------------------------------------------------------- shared runs
S = 2048  # cells (MTJs for STT-MRAM) of the exactness checks: jit, vmap, gradients


def _devices(dev, cells: int) -> int:
    """Number of devices holding `cells` cells (STT-MRAM devices hold k MTJs each)."""
    return cells // dev.mtjs_per_device if dev.family == "stt" else cells


def _pipeline(dev, fab, g_t, key, t, effects):
    state = dev.program(fab, g_t, key=key, effects=effects)
    g = dev.conductance(fab, state, t, effects=effects)
    return state, g, dev.read_std(fab, state, g, t, effects=effects)


_pipeline_jit = jax.jit(_pipeline, static_argnames="effects")


def _targets(dev, n: int):
    """n targets from below the window to above it."""
    return jnp.linspace(-0.1 * dev.g_max, 1.1 * dev.g_max, n, dtype=jnp.float32)


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _arrays(tree) -> list[np.ndarray]:
    """The leaves of a pytree as numpy arrays (PRNG keys as their key data)."""
    leaves = jax.tree.leaves(jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree, is_leaf=_is_key))
    return [np.asarray(x) for x in leaves]


# ====================================================================== PCM
def test_pcm_programming_noise_matches_aihwkit_polynomial(cards):
    dev = cards["pcm_gst"]
    kf, kp = _keys(1, 2)
    fab = dev.fabricate((N,), key=kf)
    eff = Effects.only("write_noise")
    for x in (0.1, 0.5, 1.0):
        g_t = jnp.full((N,), x * AIHWKIT_G_MAX, jnp.float32)
        state = dev.program(fab, g_t, key=kp, effects=eff)
        g = dev.conductance(fab, state, 3600.0, effects=eff)  # drift off: the programmed value
        np.testing.assert_array_equal(np.asarray(g), np.asarray(state["g"]))
        err = _f64(g) - _f64(g_t)
        assert_mean(err, 0.0, f"PCM programming error at x={x}")
        assert_std(err, float(aihwkit_prog_sigma(x * AIHWKIT_G_MAX)), f"PCM σ_prog at x={x}")


@pytest.mark.parametrize("mu, sd, a", [(0.049, 0.008, 5.2), (0.0958, 0.045, 10.4), (0.01, 0.03, 7.0)])
def test_folded_normal_closed_forms(mu, sd, a):
    """The folded-normal mean and MGF used below, against numerical integration over ξ."""

    def expect(f):
        return integrate.quad(lambda z: f(abs(mu + sd * z)) * norm.pdf(z), -12, 12, points=[-mu / sd])[0]

    assert folded_normal_mgf(mu, sd, a) == pytest.approx(expect(lambda v: math.exp(-a * v)), rel=1e-9)
    assert folded_normal_mean(mu, sd) == pytest.approx(expect(lambda v: v), rel=1e-9)
    var = expect(lambda v: v * v) - expect(lambda v: v) ** 2
    assert folded_normal_std(mu, sd) == pytest.approx(math.sqrt(var), rel=1e-7)


@pytest.mark.parametrize("x", [1.0, 0.1, 0.01])
def test_pcm_drift_exponent_and_drifted_conductance(cards, x):
    """ν = |μ_ν(x) + σ_ν(x)ξ| is folded normal; at t = 1 h, G = G_T·L^(−ν) with
    L = (t + t0)/t0, so E[G] = G_T·M(ln L) and E[G²] = G_T²·M(2 ln L), M(a) = E[e^(−aν)]."""
    dev = cards["pcm_gst"]
    mu, sd = aihwkit_nu_stats(x)
    kf, kp = _keys(2, 2)
    g_t = jnp.full((N,), x * AIHWKIT_G_MAX, jnp.float32)
    fab = dev.fabricate((N,), key=kf)
    eff = Effects.only("drift")
    state = dev.program(fab, g_t, key=kp, effects=eff)
    nu = _f64(dev.drift_exponents(state))
    assert np.all(nu >= 0)
    assert_mean(nu, folded_normal_mean(mu, sd), f"ν mean at x={x}")
    assert_std(nu, folded_normal_std(mu, sd), f"ν std at x={x}")

    t = 3600.0
    a = math.log((t + AIHWKIT_T0) / AIHWKIT_T0)
    m1, m2 = folded_normal_mgf(mu, sd, a), folded_normal_mgf(mu, sd, 2 * a)
    rel = _f64(dev.conductance(fab, state, t, effects=eff)) / _f64(g_t)
    assert_mean(rel, m1, f"E[G(1 h)]/G_T at x={x}")
    assert_std(rel, math.sqrt(m2 - m1**2), f"std G(1 h)/G_T at x={x}")
    # the conductance uses the same per-device exponent
    np.testing.assert_allclose(-np.log(rel) / a, nu, rtol=0, atol=1e-6)


def test_pcm_read_noise_formula(x64):
    dev = dataclasses.replace(xbar.devices.load("pcm_gst"), g_min=1e-12)  # reach small G_prog
    # G_prog/g_max; the last two on the q_max cap
    x_prog = np.resize([1.2, 1.0, 0.5, 0.1, 0.01, 0.005, 1e-6], S)
    g_prog = jnp.asarray(x_prog * AIHWKIT_G_MAX)
    fab = dev.fabricate((S,), key=jax.random.key(4))
    eff = Effects.only("drift", "read_noise")
    state = dev.program(fab, g_prog, key=jax.random.key(5), effects=eff)
    np.testing.assert_array_equal(np.asarray(state["g"]), np.minimum(np.asarray(g_prog), 25e-6))
    q = aihwkit_q_s(np.asarray(state["g"]))
    assert q[5] == q[6] == 0.2 and q[4] < 0.2 and q[1] == pytest.approx(0.0088, rel=1e-12)
    for t in [0, 1.0, 3600.0, 86_400.0, 3.15e7]:
        g_t = dev.conductance(fab, state, t, effects=eff)
        got = np.asarray(dev.read_std(fab, state, g_t, t, effects=eff))
        np.testing.assert_allclose(got, np.asarray(g_t) * q * aihwkit_read_scale(t), rtol=1e-12, atol=0)
    # about 3.7 % of G at x = 1 right after programming (research/devices.md §3.2)
    assert got[1] / np.asarray(g_t)[1] == pytest.approx(0.0088 * aihwkit_read_scale(3.15e7), rel=1e-12)
    assert 0.0088 * aihwkit_read_scale(0.0) == pytest.approx(0.037, abs=5e-4)


def test_pcm_aihwkit_side_by_side(cards):
    """aihwkit 1.1.0 PCMLikeNoiseModel defaults at g/g_max = 1 (research/aihwkit.md addendum):
    programmed 24.997 ± 1.057 uS, ν = 0.0491 ± 0.0080, after t = 86,400 s with one read
    16.61 ± 1.52 uS. The published numbers are Monte Carlo estimates themselves; the
    tolerance is Z·√2 standard errors of our sample (theirs assumed at least as large) plus
    half a unit of the last published digit."""
    dev = cards["pcm_gst"]
    t = 86_400.0
    kf, kp, kr = _keys(6)
    g_t = jnp.full((N,), AIHWKIT_G_MAX, jnp.float32)
    fab = dev.fabricate((N,), key=kf)
    eff = Effects.only("write_noise", "drift", "read_noise")
    state, g_mean, std = _pipeline(dev, fab, g_t, kp, t, eff)
    g_prog = _f64(state["g"]) / US
    nu = _f64(dev.drift_exponents(state))
    g_read = _f64(g_mean + std * jax.random.normal(kr, (N,), jnp.float32)) / US

    def close(sample, published, half_ulp, what):
        for got, se, want in [
            (sample.mean(), _se_mean(sample), published[0]),
            (sample.std(ddof=1), _se_std(sample), published[1]),
        ]:
            tol = Z * math.sqrt(2) * se + half_ulp
            assert abs(got - want) <= tol, f"{what}: {got:.5g} vs published {want} (tol {tol:.3g})"

    close(g_prog, (24.997, 1.057), 0.0005, "programmed G [uS]")
    close(nu, (0.0491, 0.0080), 0.00005, "ν")
    close(g_read, (16.61, 1.52), 0.005, "G after 1 day, one read [uS]")

    # the same sample against the closed form: expectation over G_prog (Gauss-Hermite; Q_s
    # depends on G_prog), ν (folded-normal MGF) and the read draw
    sp = float(aihwkit_prog_sigma(AIHWKIT_G_MAX))
    z, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    gp = AIHWKIT_G_MAX + sp * z
    mu, sd = aihwkit_nu_stats(1.0)
    a = math.log((t + AIHWKIT_T0) / AIHWKIT_T0)
    e_g = AIHWKIT_G_MAX * folded_normal_mgf(mu, sd, a)
    e_gp2 = np.sum(w * gp**2 * (1 + aihwkit_read_scale(t) ** 2 * aihwkit_q_s(gp) ** 2))
    e_g2 = e_gp2 * folded_normal_mgf(mu, sd, 2 * a)
    assert_mean(g_prog, 25.0, "programmed G vs closed form [uS]")
    assert_std(g_prog, sp / US, "programmed std vs closed form [uS]")
    assert_mean(g_read, e_g / US, "G after 1 day vs closed form [uS]")
    assert_std(g_read, math.sqrt(e_g2 - e_g**2) / US, "std after 1 day vs closed form [uS]")


# ====================================================================== RRAM
WAN_CUBIC = (1.053, 0.2374, -1.167e-2, 1.536e-4)  # σ_prog(G) in uS, G in uS (Wan 2022 / CrossSim)


def test_rram_programming_error_cubic(cards):
    dev = cards["rram_hfox"]
    kf, kp = _keys(7, 2)
    fab = dev.fabricate((N,), key=kf)
    eff = Effects.only("write_noise")
    for g0 in (5.0, 10.0, 20.0, 35.0):
        g_t = jnp.full((N,), g0 * US, jnp.float32)
        err = _f64(dev.program(fab, g_t, key=kp, effects=eff)["g"]) - _f64(g_t)
        assert_mean(err, 0.0, f"RRAM programming error at {g0} uS")
        assert_std(err, poly(WAN_CUBIC, g0) * US, f"RRAM σ_prog at {g0} uS")


def test_rram_relaxation_no_mean_drift_and_log_time_spread(cards):
    dev = cards["rram_hfox"]
    g0, t = 20.0, 86_400.0
    kf, kp = _keys(8, 2)
    fab = dev.fabricate((N,), key=kf)
    eff = Effects.only("write_noise", "drift")
    g_t = jnp.full((N,), g0 * US, jnp.float32)
    state = dev.program(fab, g_t, key=kp, effects=eff)
    g_day = _f64(dev.conductance(fab, state, t, effects=eff))
    sig_prog = poly(WAN_CUBIC, g0) * US
    sig_relax = 0.68 * US * math.log10(1 + t / 1.0)  # card: κ = 0.68 uS per decade, t_ref = 1 s
    assert_mean(g_day - _f64(g_t), 0.0, "RRAM mean drift after 1 day")
    assert_std(g_day, math.hypot(sig_prog, sig_relax), "RRAM total std after 1 day")
    d = g_day - _f64(state["g"])  # the relaxation alone
    assert_mean(d, 0.0, "RRAM relaxation shift")
    assert_std(d, sig_relax, "RRAM relaxation spread")
    assert abs(np.corrcoef(d, _f64(state["g"]))[0, 1]) <= Z / math.sqrt(N)  # independent of programming


def test_rram_read_std_constant(cards):
    dev = cards["rram_hfox"]
    kf, kp = _keys(9, 2)
    g_t = _targets(dev, S)
    fab = dev.fabricate((S,), key=kf)
    eff = Effects()
    state = dev.program(fab, g_t, key=kp, effects=eff)
    for t in [0, 1.0, 86_400.0]:
        s = np.asarray(dev.read_std(fab, state, dev.conductance(fab, state, t, effects=eff), t, effects=eff))
        assert s.shape == (S,)
        np.testing.assert_array_equal(s, np.float32(0.4 * US))


def test_rram_trajectory_consistent(cards):
    """One relaxation draw per cell, fixed at programming: two reads at the same t agree,
    and the displacement from the programmed value scales as log10(1 + t/t_ref)."""
    dev = cards["rram_hfox"]
    kf, kp = _keys(10, 2)
    fab = dev.fabricate((N,), key=kf)
    eff = Effects.only("write_noise", "drift")
    state = dev.program(fab, jnp.full((N,), 20 * US, jnp.float32), key=kp, effects=eff)
    g1 = dev.conductance(fab, state, 100.0, effects=eff)
    np.testing.assert_array_equal(np.asarray(g1), np.asarray(dev.conductance(fab, state, 100.0, effects=eff)))
    g2 = dev.conductance(fab, state, 1e6, effects=eff)
    g0 = _f64(state["g"])
    d1, d2 = _f64(g1) - g0, _f64(g2) - g0
    ratio = math.log10(1 + 1e6) / math.log10(1 + 100.0)
    # float32 conductances near 20 uS: rounding ~2e-12 S
    np.testing.assert_allclose(d2, ratio * d1, rtol=0, atol=1e-5 * 20 * US)
    assert np.std(d1) > 1 * US  # the displacements are not negligible
    # t = 0, a Python number or an array: the programmed value
    for t0 in (0, jnp.float32(0.0)):
        np.testing.assert_array_equal(np.asarray(dev.conductance(fab, state, t0, effects=eff)), np.asarray(state["g"]))


# ====================================================================== STT-MRAM
def _stt_levels(dev):
    """Nominal levels n·G_P + (k − n)·G_AP, n = 0..k, and G_P, G_AP (float64)."""
    k = dev.mtjs_per_device
    g_p, g_ap = 1.0 / float(dev.r_p), 1.0 / (float(dev.r_p) * float(dev.on_off))
    return np.array([n * g_p + (k - n) * g_ap for n in range(k + 1)]), g_p, g_ap


def _count_parallel(g, levels):
    """Number of parallel MTJs from a nominal (d2d off) conductance."""
    n = (_f64(g) - levels[0]) / (levels[1] - levels[0])
    np.testing.assert_allclose(n, np.rint(n), rtol=0, atol=1e-3)
    return np.rint(n)


def test_stt_levels_exact(cards):
    dev = cards["stt_mtj"]
    k = dev.mtjs_per_device
    levels, g_p, g_ap = _stt_levels(dev)
    assert k == 8 and g_p == pytest.approx(1 / 3.5e3) and g_ap == pytest.approx(1 / (3.5e3 * 2.3))
    n = N // k
    kf, kp = _keys(11, 2)
    g_t = jnp.asarray(np.random.default_rng(0).uniform(levels[0], levels[-1], n), jnp.float32)
    fab = dev.fabricate((n,), key=kf)
    eff = Effects(d2d=False, write_noise=False, stuck=False, read_noise=False)  # levels, drift on
    state = dev.program(fab, g_t, key=kp, effects=eff)
    values = np.unique(np.asarray(dev.conductance(fab, state, 3600.0, effects=eff)))
    assert values.size == k + 1
    np.testing.assert_allclose(values.astype(np.float64), levels, rtol=1e-6)


def test_stt_targets_map_to_nearest_level(cards):
    dev = cards["stt_mtj"]
    k = dev.mtjs_per_device
    levels, _, _ = _stt_levels(dev)
    step = levels[1] - levels[0]
    n = N // k
    rng = np.random.default_rng(1)
    m = rng.integers(-2, k + 3, n)  # level index, two beyond each end (clipped)
    g_t = levels[0] + (m + rng.uniform(-0.499, 0.499, n)) * step  # away from ties
    kf, kp = _keys(12, 2)
    fab = dev.fabricate((n,), key=kf)
    eff = Effects.only("levels")
    g = dev.conductance(fab, dev.program(fab, jnp.asarray(g_t, jnp.float32), key=kp, effects=eff), 0, effects=eff)
    np.testing.assert_allclose(_f64(g), levels[np.clip(m, 0, k)], rtol=1e-6)


def test_stt_write_error_rate(cards):
    wer = 0.2
    card = cards["stt_mtj"]
    eff = Effects.only("levels", "write_noise")
    kf, kp = _keys(13, 2)
    # one MTJ per device: a failed write shows in the conductance
    dev1 = dataclasses.replace(card, write_error_rate=wer, mtjs_per_device=1)
    levels1, _, _ = _stt_levels(dev1)
    written = np.arange(N) % 2  # half parallel, half antiparallel
    fab = dev1.fabricate((N,), key=kf)
    state = dev1.program(fab, jnp.asarray(levels1[written], jnp.float32), key=kp, effects=eff)
    g = dev1.conductance(fab, state, 0, effects=eff)
    wrong = _count_parallel(g, levels1) != written
    assert_fraction(wrong[written == 1], wer, "failed parallel writes")
    assert_fraction(wrong[written == 0], wer, "failed antiparallel writes")
    # eight MTJs written antiparallel: the parallel count is Binomial(8, wer)
    dev8 = dataclasses.replace(card, write_error_rate=wer)
    levels8, _, _ = _stt_levels(dev8)
    n = N // 8
    fab = dev8.fabricate((n,), key=kf)
    state = dev8.program(fab, jnp.full((n,), levels8[0], jnp.float32), key=kp, effects=eff)
    g = dev8.conductance(fab, state, 0, effects=eff)
    n_p = _count_parallel(g, levels8)
    assert_mean(n_p, 8 * wer, "parallel MTJs after write errors")
    assert_std(n_p, math.sqrt(8 * wer * (1 - wer)), "spread of the write-error count (independent MTJs)")


def test_stt_retention_flips(cards):
    """A low-Δ device: τ = tau0·e^Δ, flip probability (1 − exp(−2t/τ))/2 in both directions."""
    card = cards["stt_mtj"]
    tau = 1e-9 * math.exp(10.0)
    eff = Effects.only("levels", "drift")
    kf, kp = _keys(14, 2)
    dev1 = dataclasses.replace(card, delta=10.0, tau0=1e-9, mtjs_per_device=1)
    assert float(dev1.tau) == pytest.approx(tau, rel=1e-6)
    levels1, _, _ = _stt_levels(dev1)
    written = np.arange(N) % 2
    fab = dev1.fabricate((N,), key=kf)
    state = dev1.program(fab, jnp.asarray(levels1[written], jnp.float32), key=kp, effects=eff)
    for t in [0.1 * tau, 0.5 * tau, tau, 3 * tau]:
        flipped = _count_parallel(dev1.conductance(fab, state, t, effects=eff), levels1) != written
        p = 0.5 * (1 - math.exp(-2 * t / tau))
        assert_fraction(flipped[written == 1], p, f"P→AP flips at t = {t / tau:g} τ")
        assert_fraction(flipped[written == 0], p, f"AP→P flips at t = {t / tau:g} τ")
    # eight MTJs written parallel: the antiparallel count after t is Binomial(8, p)
    dev8 = dataclasses.replace(card, delta=10.0, tau0=1e-9)
    levels8, _, _ = _stt_levels(dev8)
    n = N // 8
    fab = dev8.fabricate((n,), key=kf)
    state = dev8.program(fab, jnp.full((n,), levels8[-1], jnp.float32), key=kp, effects=eff)
    t = 0.5 * tau
    p = 0.5 * (1 - math.exp(-2 * t / tau))
    n_ap = 8 - _count_parallel(dev8.conductance(fab, state, t, effects=eff), levels8)
    assert_mean(n_ap, 8 * p, "flipped MTJs of 8")
    assert_std(n_ap, math.sqrt(8 * p * (1 - p)), "spread of flipped MTJs of 8")
    # the card's memory-grade Δ = 60: no flips in ten years
    state = card.program(fab, jnp.full((n,), levels8[-1], jnp.float32), key=kp, effects=eff)
    assert np.all(_count_parallel(card.conductance(fab, state, 3.15e8, effects=eff), levels8) == 8)


def test_stt_d2d_resistance_spread(cards):
    dev = cards["stt_mtj"]
    fab = dev.fabricate((N // 8,), key=jax.random.key(15))  # N MTJs
    rp = 1.0 / _f64(fab["g_p"]) / float(dev.r_p) - 1.0
    rap = 1.0 / _f64(fab["g_ap"]) / (float(dev.r_p) * float(dev.on_off)) - 1.0
    for rel, what in [(rp, "R_P"), (rap, "R_AP")]:
        assert_mean(rel, 0.0, f"{what} relative deviation")
        assert_std(rel, 0.04, f"{what} relative d2d spread")
    r = float(np.corrcoef(rp, rap)[0, 1])
    assert abs(r) <= Z / math.sqrt(rp.size), f"R_P and R_AP spreads correlated: r = {r:.4g}"


def test_stt_straight_through_gradient(cards):
    """d(conductance)/d(target) through the level rounding equals the slope of the analog
    (levels-off) model: Σ_i (g_P,i − g_AP,i)/(g_max − g_min); 1 with nominal MTJs."""
    dev = cards["stt_mtj"]
    n = S // 8
    levels, _, _ = _stt_levels(dev)
    g_t = jnp.asarray(np.random.default_rng(2).uniform(levels[0] * 1.01, levels[-1] * 0.99, n), jnp.float32)
    kf, kp = _keys(16, 2)
    fab = dev.fabricate((n,), key=kf)

    def slope(effects):
        def total(g):
            return jnp.sum(dev.conductance(fab, dev.program(fab, g, key=kp, effects=effects), 0, effects=effects))

        return _f64(jax.jit(jax.grad(total))(g_t))

    window = float(dev.g_max - dev.g_min)
    per_mtj = _f64(fab["g_p"]).reshape(n, -1) - _f64(fab["g_ap"]).reshape(n, -1)
    np.testing.assert_allclose(slope(Effects.only("levels", "d2d")), per_mtj.sum(axis=1) / window, rtol=1e-5)
    # the rounding really happens: values differ from the analog ones by up to half a level
    eff = Effects.only("levels")
    g_lv = _f64(dev.conductance(fab, dev.program(fab, g_t, key=kp, effects=eff), 0, effects=eff))
    assert np.max(np.abs(g_lv - _f64(g_t))) > 0.4 * (levels[1] - levels[0])


def test_stt_stuck_mtjs_read_states(cards):
    dev = dataclasses.replace(cards["stt_mtj"], p_stuck_on=0.05, p_stuck_off=0.03)
    k = dev.mtjs_per_device
    n = N // k
    kf, kp = _keys(17, 2)
    fab = dev.fabricate((n,), key=kf)
    code = np.asarray(fab["stuck"])
    assert code.shape == (n, k)
    assert_fraction(code == 1, 0.05, "stuck-parallel MTJs")
    assert_fraction(code == 2, 0.03, "stuck-antiparallel MTJs")
    eff = Effects.only("levels", "stuck", "d2d")
    gp, gap = np.asarray(fab["g_p"], np.float64), np.asarray(fab["g_ap"], np.float64)
    for target, written in [(dev.g_min, 0.0), (dev.g_max, 1.0)]:
        g = dev.conductance(fab, dev.program(fab, jnp.full((n,), target), key=kp, effects=eff), 0, effects=eff)
        s = np.where(code == 1, 1.0, np.where(code == 2, 0.0, written))
        np.testing.assert_allclose(_f64(g), np.sum(s * gp + (1 - s) * gap, axis=1), rtol=1e-6)
        assert np.all(code.any(axis=1).sum() > 0.3 * n)  # many devices hold a stuck MTJ


# ====================================================================== floating gate
def test_fg_programming_relative_std(cards):
    dev = cards["fg_flash"]
    kf, kp = _keys(18, 2)
    fab = dev.fabricate((N,), key=kf)
    g_t = jnp.full((N,), 0.5 * US, jnp.float32)
    rel = _f64(dev.program(fab, g_t, key=kp, effects=Effects.only("write_noise"))["g"]) / _f64(g_t) - 1
    assert_mean(rel, 0.0, "FG programming error")
    assert_std(rel, 0.01, "FG relative programming std")


def test_fg_retention_factor(x64):
    dev = xbar.devices.load("fg_flash")
    g_t = jnp.linspace(0.01 * US, 1.0 * US, S)
    fab = dev.fabricate((S,), key=jax.random.key(19))
    eff = Effects.only("drift")
    state = dev.program(fab, g_t, key=jax.random.key(20), effects=eff)
    # 0.5 % per decade beyond t_ref = 1 h: 1 h, 1 day, 1 year
    for t, decades in [(3600.0, math.log10(2)), (86_400.0, math.log10(25)), (3.1536e7, math.log10(8761))]:
        want = np.asarray(g_t) * math.exp(-0.005 * decades)
        np.testing.assert_allclose(np.asarray(dev.conductance(fab, state, t, effects=eff)), want, rtol=1e-13, atol=0)
    assert math.exp(-0.005 * math.log10(8761)) == pytest.approx(0.98048, abs=1e-5)


def test_fg_read_std_formula(x64):
    dev = xbar.devices.load("fg_flash")
    g = jnp.asarray(np.resize([0.0, 0.001, 0.01, 0.0673, 0.3, 1.0, 2.0], S) * US)
    a, b = 3.9313656e-9, 67.301741e-9  # card: SONOS A, B scaled to i_max = 1 uA
    fab = dev.fabricate((S,), key=jax.random.key(21))
    state = dev.program(fab, g, key=jax.random.key(22), effects=Effects.ideal())
    for v_read in (1.0, 0.5):  # σ_g = σ_I/v_read with I = g·v_read
        d = dataclasses.replace(dev, v_read=v_read)
        got = np.asarray(d.read_std(fab, state, g, 3600.0, effects=Effects()))
        want = a * (1 - np.exp(-np.asarray(g) * v_read / b)) / v_read
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


# ====================================================================== all families
@pytest.mark.parametrize("name", WINDOWED)
def test_stuck_fractions_and_window_edges(cards, name):
    dev = dataclasses.replace(cards[name], p_stuck_on=0.05, p_stuck_off=0.03, d2d_sigma=0.05)
    kf, kp = _keys(23, 2)
    fab = dev.fabricate((N,), key=kf)
    code = np.asarray(fab["stuck"])
    assert_fraction(code == 1, 0.05, f"{name} stuck on")
    assert_fraction(code == 2, 0.03, f"{name} stuck off")
    eff = Effects.only("stuck", "d2d", "drift")
    g_t = jnp.full((N,), 0.5 * (dev.g_min + dev.g_max), jnp.float32)
    g = np.asarray(dev.conductance(fab, dev.program(fab, g_t, key=kp, effects=eff), 3600.0, effects=eff))
    hi, lo = np.asarray(fab["hi"]), np.asarray(fab["lo"])
    np.testing.assert_array_equal(g[code == 1], hi[code == 1])
    np.testing.assert_array_equal(g[code == 2], lo[code == 2])
    assert not np.any(g[code == 0] == hi[code == 0]) and not np.any(g[code == 0] == lo[code == 0])
    # with stuck switched off the same chip reads the programmed value
    eff = Effects.only("d2d")
    g = np.asarray(dev.conductance(fab, dev.program(fab, g_t, key=kp, effects=eff), 0, effects=eff))
    np.testing.assert_array_equal(g, np.clip(np.asarray(g_t), lo, hi))


@pytest.mark.parametrize("name", WINDOWED)
def test_d2d_window_spread(cards, name):
    dev = cards[name]
    sigma = float(dev.d2d_sigma) or 0.1  # the PCM card has none: use 0.1
    dev = dataclasses.replace(dev, d2d_sigma=sigma)
    kf, kp = _keys(24, 2)
    fab = dev.fabricate((N,), key=kf)
    for edge, nominal in [("hi", dev.g_max), ("lo", dev.g_min)]:
        ln = np.log(_f64(fab[edge]) / float(nominal))
        assert_mean(ln, 0.0, f"{name} log({edge}/nominal)")
        assert_std(ln, sigma, f"{name} d2d spread of {edge}")
    # each cell's own window bounds its programmed value; d2d off: the nominal window
    for target, edge in [(10 * dev.g_max, "hi"), (0.0, "lo")]:
        g_t = jnp.full((N,), target, jnp.float32)
        eff = Effects.only("d2d")
        g = dev.conductance(fab, dev.program(fab, g_t, key=kp, effects=eff), 0, effects=eff)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(fab[edge]))
        eff = Effects.ideal()
        g = dev.conductance(fab, dev.program(fab, g_t, key=kp, effects=eff), 0, effects=eff)
        np.testing.assert_array_equal(np.asarray(g), np.float32(dev.g_max if edge == "hi" else dev.g_min))


@pytest.mark.parametrize("name", FAMILIES)
def test_ideal_effects_return_clipped_target(cards, name):
    dev = cards[name]
    n = _devices(dev, S)
    g_t = _targets(dev, n)
    kf, kp = _keys(25, 2)
    fab = dev.fabricate((n,), key=kf)
    eff = Effects.ideal()
    state = dev.program(fab, g_t, key=kp, effects=eff)
    want = np.clip(np.asarray(g_t), np.float32(dev.g_min), np.float32(dev.g_max))
    assert np.sum(want == np.float32(dev.g_min)) > 10 and np.sum(want == np.float32(dev.g_max)) > 10
    for t in [0, 3600.0]:
        g = np.asarray(dev.conductance(fab, state, t, effects=eff))
        if name == "stt_mtj":  # a sum of k MTJ conductances: float32 rounding only
            np.testing.assert_allclose(g, want, rtol=1e-6, atol=0)
        else:
            np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("name", FAMILIES)
def test_same_key_same_state_different_key_differs(cards, name):
    dev = cards[name]
    n = _devices(dev, S)
    g_t = _targets(dev, n)

    def run(seed):
        kf, kp = _keys(seed, 2)
        fab = dev.fabricate((n,), key=kf)
        return fab, _pipeline(dev, fab, g_t, kp, 3600.0, Effects())

    a, b, c = run(26), run(26), run(27)
    for x, y in zip(_arrays(a), _arrays(b)):
        np.testing.assert_array_equal(x, y)
    same = np.mean(np.asarray(a[1][1]) == np.asarray(c[1][1]))
    assert same < 0.05, f"{name}: {same:.1%} of cells equal under a different key"


@pytest.mark.parametrize("name", FAMILIES)
def test_jit_equals_eager(cards, name):
    """Program, conductance and read std under jit equal the eager values (to float32
    rounding, as XLA may fuse differently: 1e-6 of each array's largest magnitude)."""
    dev = cards[name]
    n = _devices(dev, S)
    g_t = _targets(dev, n)
    kf, kp = _keys(28, 2)
    fab = dev.fabricate((n,), key=kf)
    eager = _pipeline(dev, fab, g_t, kp, 3600.0, Effects())
    jitted = _pipeline_jit(dev, fab, g_t, kp, 3600.0, effects=Effects())
    for x, y in zip(_arrays(eager), _arrays(jitted)):
        np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6 * np.max(np.abs(x), initial=0))


@pytest.mark.parametrize("name", FAMILIES)
def test_vmap_over_keys_equals_loop(cards, name):
    """A vmapped sweep over programming keys equals a Python loop."""
    dev = cards[name]
    if name == "stt_mtj":  # at the card's WER and Δ the programming key hardly matters
        dev = dataclasses.replace(dev, write_error_rate=0.05)
    n = _devices(dev, S)
    g_t = _targets(dev, n)
    fab = dev.fabricate((n,), key=jax.random.key(33))
    keys = jax.random.split(jax.random.key(29), 3)
    vm = jax.jit(jax.vmap(lambda k: _pipeline(dev, fab, g_t, k, 86_400.0, Effects())[1:]))(keys)
    for i in range(3):
        loop = _pipeline(dev, fab, g_t, keys[i], 86_400.0, Effects())[1:]
        for x, y in zip(loop, vm):
            np.testing.assert_allclose(np.asarray(y[i]), np.asarray(x), rtol=1e-6, atol=1e-6 * float(dev.g_max))
    assert not np.array_equal(np.asarray(vm[0][0]), np.asarray(vm[0][1]))


def test_vmap_over_parameter_equals_loop(cards):
    """Parameters are pytree leaves: a vmapped sweep of the FG retention loss equals a loop
    and the closed form exp(−loss·log10(1 + t/t_ref)); its gradient is the closed form's."""
    dev = cards["fg_flash"]
    t = 3.15e7
    decades = math.log10(1 + t / 3600.0)
    g_t = _targets(dev, S)
    fab = dev.fabricate((S,), key=jax.random.key(30))
    state = dev.program(fab, g_t, key=jax.random.key(31), effects=Effects())
    losses = jnp.array([0.0, 0.005, 0.02, 0.1], jnp.float32)

    def read(loss):
        d = dataclasses.replace(dev, retention_loss_per_decade=loss)  # a tracer under vmap
        g = d.conductance(fab, state, t, effects=Effects())
        return g, d.read_std(fab, state, g, t, effects=Effects())

    vm = jax.vmap(read)(losses)
    g_work = _f64(dev.conductance(fab, state, t, effects=Effects().without("drift")))
    working = np.asarray(fab["stuck"]) == 0
    for i, loss in enumerate(losses):
        for x, y in zip(read(loss), vm):
            np.testing.assert_allclose(np.asarray(y[i]), np.asarray(x), rtol=1e-6)
        np.testing.assert_allclose(
            _f64(vm[0][i])[working], g_work[working] * math.exp(-float(loss) * decades), rtol=1e-6
        )
    grad = jax.grad(lambda loss: jnp.sum(read(loss)[0]))(jnp.float32(0.005))
    want = -decades * math.exp(-0.005 * decades) * np.sum(g_work[working])
    assert float(grad) == pytest.approx(want, rel=1e-5)


def test_parameter_sweep_under_jit(cards):
    """A parameter sweep built inside jit (replace a leaf by a traced value)."""
    dev = cards["fg_flash"]
    losses = jnp.array([0.0, 0.005, 0.02, 0.1], jnp.float32)

    def factor(loss):
        return dataclasses.replace(dev, retention_loss_per_decade=loss).retention_factor(86_400.0)

    want = np.exp(-np.asarray(losses, np.float64) * math.log10(25))
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(factor))(losses)), want, rtol=1e-6)


@pytest.mark.parametrize("name", WINDOWED)
def test_gradient_matches_finite_differences(x64, name):
    """d G(t)/d G_T with write noise and drift on, against central differences in float64
    (STT-MRAM's straight-through gradient is checked against its closed form above)."""
    dev = xbar.devices.load(name)
    n = _devices(dev, S)
    lo, hi = float(dev.g_min), float(dev.g_max)
    if name == "pcm_gst":  # inside the unclipped range of μ_ν(x), σ_ν(x)
        g_t = jnp.linspace(0.03 * hi, 0.18 * hi, n)
    else:
        g_t = jnp.linspace(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), n)
    eff = Effects(stuck=False, levels=False, read_noise=False)
    kf, kp = _keys(32, 2)
    fab = dev.fabricate((n,), key=kf)

    def g_of(g):
        return dev.conductance(fab, dev.program(fab, g, key=kp, effects=eff), 3600.0, effects=eff)

    grad = np.asarray(jax.grad(lambda g: jnp.sum(g_of(g)))(g_t))
    h = 1e-6 * hi  # cells are independent: one perturbation of every target gives all partials
    fd = (np.asarray(g_of(g_t + h)) - np.asarray(g_of(g_t - h))) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9)
    assert np.std(grad) > 1e-3  # not a constant: the noise and drift depend on the target


# ====================================================================== validation
def _rram(**changes):
    return dataclasses.replace(xbar.devices.load("rram_hfox"), **changes)


def _pcm(**changes):
    return dataclasses.replace(xbar.devices.load("pcm_gst"), **changes)


def _stt(**changes):
    return dataclasses.replace(xbar.devices.load("stt_mtj"), **changes)


def _fg(**changes):
    return dataclasses.replace(xbar.devices.load("fg_flash"), **changes)


@pytest.mark.parametrize(
    "make, changes, exc, match",
    [
        (_rram, {"g_min": 40e-6}, ValueError, r"RRAM\.g_max"),
        (_rram, {"g_min": 50e-6}, ValueError, r"RRAM\.g_max"),
        (_pcm, {"g_max": 0.25e-6}, ValueError, r"PCM\.g_max"),
        (_fg, {"i_min": 2e-6}, ValueError, r"FloatingGate\.i_max"),
        (_rram, {"g_min": 0.0}, ValueError, r"RRAM\.g_min"),
        (_rram, {"p_stuck_on": -0.01}, ValueError, r"RRAM\.p_stuck_on"),
        (_pcm, {"p_stuck_off": -1e-3}, ValueError, r"PCM\.p_stuck_off"),
        (_fg, {"p_stuck_on": 1.5}, ValueError, r"FloatingGate\.p_stuck_on"),
        (_stt, {"write_error_rate": -0.1}, ValueError, r"STTMRAM\.write_error_rate"),
        (_stt, {"write_error_rate": 1.1}, ValueError, r"STTMRAM\.write_error_rate"),
        (_rram, {"p_stuck_on": 0.6, "p_stuck_off": 0.5}, ValueError, r"p_stuck_on \+ p_stuck_off"),
        (_stt, {"p_stuck_on": 0.7, "p_stuck_off": 0.4}, ValueError, r"p_stuck_on \+ p_stuck_off"),
        (_stt, {"mtjs_per_device": 2.5}, (ValueError, TypeError), r"mtjs_per_device"),
        (_stt, {"mtjs_per_device": 8.0}, (ValueError, TypeError), r"mtjs_per_device"),
        (_stt, {"mtjs_per_device": True}, (ValueError, TypeError), r"mtjs_per_device"),
        (_stt, {"mtjs_per_device": 0}, (ValueError, TypeError), r"mtjs_per_device"),
        (_stt, {"on_off": 1.0}, ValueError, r"STTMRAM\.on_off"),
        (_stt, {"on_off": 0.5}, ValueError, r"STTMRAM\.on_off"),
        (_stt, {"delta": 0.0}, ValueError, r"STTMRAM\.delta"),
        (_stt, {"tau0": -1e-9}, ValueError, r"STTMRAM\.tau0"),
        (_rram, {"d2d_sigma": -0.01}, ValueError, r"RRAM\.d2d_sigma"),
        (_pcm, {"drift_t0": 0.0}, ValueError, r"PCM\.drift_t0"),
        (_fg, {"read_noise_b": 0.0}, ValueError, r"FloatingGate\.read_noise_b"),
        (_fg, {"v_read": 0.0}, ValueError, r"FloatingGate\.v_read"),
        (_rram, {"read_sigma": float("nan")}, ValueError, r"RRAM\.read_sigma"),
        (_rram, {"read_sigma": True}, TypeError, r"RRAM\.read_sigma"),
        (_pcm, {"drift_t0": "20 s"}, TypeError, r"PCM\.drift_t0"),
    ],
)
def test_validation_errors(make, changes, exc, match):
    with pytest.raises(exc, match=match):
        make(**changes)


def test_device_base_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        xbar.devices.Device(
            v_read=0.2,
            t_read=1e-8,
            p_stuck_on=0.0,
            p_stuck_off=0.0,
            d2d_sigma=0.0,
            endurance_n63=1e6,
            endurance_k=1.0,
            endurance_p_on=0.5,
            wear_n_th=1e4,
            wear_window_beta=0.1,
            wear_c2c_growth=0.0,
            temperature=300.0,
        )


def test_models_construct_directly_from_card_values(cards):
    """The four classes build from keyword arguments equal to their cards' values."""
    for name, cls in [("rram_hfox", RRAM), ("pcm_gst", PCM), ("stt_mtj", STTMRAM), ("fg_flash", FloatingGate)]:
        dev = cards[name]
        kw = {f.name: getattr(dev, f.name) for f in dataclasses.fields(dev)}
        again = cls(**kw)
        assert again.family == dev.family and again.name == name
        for x, y in zip(jax.tree.leaves(again), jax.tree.leaves(dev)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
