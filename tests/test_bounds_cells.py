"""Tests for the closed-form cell moments (xbar/bounds/_cells.py).

The reference is the device code itself: Monte Carlo through ``fabricate → program →
conductance → + read_std·ξ`` with `N_CELLS` independent cells per target (one call for all
targets, shape ``(targets, N_CELLS)``), against `cell_moments`. Stuck cells (0.1-0.5 % of
cells, a whole window away, with PCM's read noise up to 80 % of the window) dominate the
variance near the window ends; their binomial count and their few samples would leave the
plain sample std uncertain by 10-40 % at 20 000 cells. So the sample is stratified by the
cells' stuck state: stuck cells are drawn more often than on the card, their fractions are
checked against the sampling probabilities (binomial), and the strata are weighed by the
card's probabilities (post-stratification; the stuck draw is independent of everything
else, so the strata's distributions do not depend on it). Then, per target:

- the mean within `Z` of its standard errors (per stratum ``sqrt(v/n)``), plus float32
  rounding (`REL_ROUND` of the largest read);
- the std within `Z` of its standard errors (delta method with each stratum's fourth
  moment) plus `STD_SLACK`: 1-4 % at these sizes, tighter than a flat 5 %. Where that
  tolerance would exceed `MAX_STD_TOL` (5 %) the sample does not resolve the spread (d2d
  alone moves only the few cells whose fabricated window clips the target) and the target
  is checked on its mean only; every configuration has its std checked at >= 2 targets.

All keys are fixed, so every run draws the same numbers. Reference tests against scipy
integration (float64) pin the quadratures to 1e-6.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from xbar import Effects
from xbar import _random as rnd
from xbar.bounds._cells import cell_moments
from xbar.devices import RRAM

Z = 4.0  # tolerance in standard errors
N_CELLS = 20_000  # independent cells per target
STD_SLACK = 0.002  # relative slack on the std (float32 rounding, quadrature: < 1e-5)
MAX_STD_TOL = 0.05  # the std is checked where the sample resolves it to 5 % (see `_assert_matches`)
REL_ROUND = 1e-6  # slack on the mean, relative to the largest read (float32 rounding)
DAY = 86_400.0
CARDS = ["rram_hfox", "pcm_gst", "pcm_hermes14", "stt_mtj", "stt_mtj_stochastic", "fg_flash"]


def _targets(dev):
    """Five targets: both window ends exactly (differential mapping programs many cells at
    g_min), one just above g_min (where the d2d window clips part of the cells), and two
    inside. STT-MRAM: the ends, a level, and two targets that round to a level."""
    lo, hi = float(dev.g_min), float(dev.g_max)
    if dev.family == "stt":
        k = dev.mtjs_per_device
        fr = [0.0, 1.0, 3.0 / k, 0.3, 0.77]
    else:
        fr = [0.0, 1.0, 0.04 * lo / (hi - lo), 0.37, 0.81]
    return np.asarray([lo + f * (hi - lo) for f in fr], np.float32)


# compiled once per card and shape: eagerly, their random draws are hundreds of small
# operations per call (program and conductance, one draw each, stay eager: compiling them for
# every effects configuration would cost more than it saves)
_fabricate_jit = jax.jit(lambda dev, key, shape: dev.fabricate(shape, key=key), static_argnums=2)


def _fabricate(dev, key, shape):
    anonymous = copy.copy(dev)  # the card name is static pytree data: one compile per family
    object.__setattr__(anonymous, "name", dev.family)
    return _fabricate_jit(anonymous, key, shape)


_normal = jax.jit(rnd.normal, static_argnums=1)


def _monte_carlo(dev, targets, t, effects, seed, boost=0.0, repeats=1):
    """One read of `N_CELLS` independent fresh cells per target (`repeats` times that, in
    batches of one shape: a new shape would compile the device code again), through the
    device code, with each cell's stratum and the strata's probabilities on the card and as
    sampled (`_strata`). `boost`: draw stuck cells (where the card has any) with this
    probability per cell or MTJ instead, to sample the stuck strata well."""
    if repeats > 1:
        runs = [_monte_carlo(dev, targets, t, effects, seed + 7919 * r, boost) for r in range(repeats)]
        return tuple(np.concatenate([run[i] for run in runs], axis=1) for i in (0, 1)) + runs[0][2:]
    shape = (len(targets), N_CELLS)
    k_fab, k_prog, k_read = jax.random.split(jax.random.key(seed), 3)
    sampled = dev
    if boost and effects.stuck:
        sampled = dataclasses.replace(
            dev,
            p_stuck_on=boost if float(dev.p_stuck_on) > 0 else 0.0,
            p_stuck_off=boost if float(dev.p_stuck_off) > 0 else 0.0,
        )
    fab = _fabricate(sampled, k_fab, shape)
    g_t = jnp.broadcast_to(jnp.asarray(targets)[:, None], shape)
    state = dev.program(fab, g_t, key=k_prog, effects=effects)
    g = dev.conductance(fab, state, t, effects=effects)
    if effects.read_noise:
        g = g + dev.read_std(fab, state, g, t, effects=effects) * _normal(k_read, shape)
    strata, probs, sampling = _strata(dev, sampled, fab, state, effects)
    return np.asarray(g, np.float64), strata, probs, sampling


def _grid(p):
    """P(u < p) for the sampler's float32 uniforms u = (j + ½)/2²³ (`xbar._random.uniform`)."""
    return float(np.clip(np.ceil(np.float64(np.float32(p)) * 2**23 - 0.5), 0, 2**23)) / 2**23


def _strata(dev, sampled, fab, state, effects):
    """Each cell's stratum, ``a·(k + 1) + b`` for ``a`` of its k MTJs (k = 1 for RRAM, PCM
    and FG) reading their top (stuck on, or worn out on) and ``b`` their bottom, and the
    strata's multinomial probabilities on the card (`dev`) and as sampled (`sampled`)."""
    code = np.asarray(fab["stuck"]) if effects.stuck else np.zeros(fab["stuck"].shape, np.int8)
    if effects.wear:
        worn = dev.wear(fab, state["cycles"])
        code = np.where(np.asarray(worn["failed"]), np.where(np.asarray(worn["fail_on"]), 1, 2), code)
    k = dev.mtjs_per_device if dev.family == "stt" else 1
    if k == 1:
        code = code[..., None]
    strata = (code == 1).sum(axis=-1) * (k + 1) + (code == 2).sum(axis=-1)

    def probs(d):
        p_on = _grid(d.p_stuck_on) if effects.stuck else 0.0
        p_off = _grid(np.float32(d.p_stuck_on) + np.float32(d.p_stuck_off)) - p_on if effects.stuck else 0.0
        q = _grid(d.failure_probability(1.0)) if effects.wear else 0.0
        pe = _grid(d.endurance_p_on)
        top, bottom = (1.0 - q) * p_on + q * pe, (1.0 - q) * p_off + q * (1.0 - pe)
        out = np.zeros((k + 1) ** 2)
        for a in range(k + 1):
            for b in range(k + 1 - a):
                ways = math.factorial(k) / (math.factorial(a) * math.factorial(b) * math.factorial(k - a - b))
                out[a * (k + 1) + b] = ways * top**a * bottom**b * (1.0 - top - bottom) ** (k - a - b)
        return out

    return strata, probs(dev), probs(sampled)


def _stratified(x, strata, probs, sampling, label):
    """Post-stratified mean and variance of the sample `x` and their squared standard errors:
    ``Σ_k P_k·m_k`` and ``Σ_k P_k·(v_k + (m_k − m)²)`` with each stratum's sample moments and
    its probability P_k on the card. Stuck cells (0.1-0.5 % of cells, a whole window away)
    dominate the variance near the window ends; their binomial count and their few samples
    would make the plain sample std uncertain by 10-40 % at 20 000 cells. Here they are
    sampled more often (`_monte_carlo`'s `boost`), their fractions checked against the
    sampling probabilities, and weighed by the card's."""
    n = x.size
    parts = []
    for k, (p, p_sampled) in enumerate(zip(probs, sampling)):
        xs = x[strata == k]
        frac_tol = Z * math.sqrt(p_sampled * (1.0 - p_sampled) / n) + 1.0 / n
        assert abs(xs.size / n - p_sampled) <= frac_tol, f"{label}: stratum {k}: {xs.size / n:.5f}, not {p_sampled:.5f}"
        if xs.size < 2:  # a stratum the sample cannot resolve must weigh nothing
            assert p * n < 0.01, f"{label}: stratum {k} (P = {p:.3g}) has {xs.size} cells"
            continue
        d = xs - xs.mean()
        parts.append((p, xs.size, xs.mean(), np.mean(d**2), np.mean(d**4)))
    total = sum(p for p, *_ in parts)
    mean = sum(p * m for p, _, m, _, _ in parts) / total
    var = sum(p * (v + (m - mean) ** 2) for p, _, m, v, _ in parts) / total
    se2_mean = sum(p**2 * v / nk for p, nk, _, v, _ in parts) / total**2
    se2_var = sum(p**2 * ((m4 - v**2) + 4.0 * (m - mean) ** 2 * v) / nk for p, nk, m, v, m4 in parts) / total**2
    return mean, var, se2_mean, se2_var


def _assert_matches(dev, t, effects, seed, what, repeats=1):
    targets = _targets(dev)
    boost = 0.05 if dev.family == "stt" else 0.15
    x, strata, probs, sampling = _monte_carlo(dev, targets, t, effects, seed, boost, repeats)
    mean, var = (np.asarray(a, np.float64) for a in cell_moments(dev, jnp.asarray(targets), t=t, effects=effects))
    assert mean.shape == var.shape == targets.shape
    assert np.all(var >= 0)
    checked = 0
    for i, g_t in enumerate(targets):
        label = f"{what}, target {g_t:.4g} S"
        m_mc, v_mc, se2_mean, se2_var = _stratified(x[i], strata[i], probs, sampling, label)
        sd = math.sqrt(var[i])
        tol_mean = Z * math.sqrt(se2_mean) + REL_ROUND * float(np.max(np.abs(x[i])))
        assert abs(m_mc - mean[i]) <= tol_mean, f"{label}: mean {m_mc:.7g}, predicted {mean[i]:.7g} ± {tol_mean:.3g}"
        if sd <= 1e-6 * abs(mean[i]):  # no spread predicted: the cells agree to rounding
            assert math.sqrt(v_mc) <= 1e-6 * abs(mean[i]), f"{label}: std {math.sqrt(v_mc):.3g}, predicted {sd:.3g}"
            checked += 1
            continue
        ratio = math.sqrt(v_mc) / sd
        tol = Z * math.sqrt(se2_var) / (2.0 * v_mc) + STD_SLACK if v_mc > 0 else STD_SLACK
        if tol > MAX_STD_TOL:  # the spread comes from a few cells of the sample: mean only
            continue
        checked += 1
        assert abs(ratio - 1.0) <= tol, (
            f"{label}: std {math.sqrt(v_mc):.5g}, predicted {sd:.5g} (ratio {ratio:.4f} ± {tol:.4f})"
        )
    assert checked >= 2, f"{what}: the std was resolved for {checked} targets only"


# ---------------------------------------------------------------------- Monte Carlo
# every card at t = 0 and one day (stt_mtj_stochastic programs as stt_mtj: one day only)
ALL = [(name, t) for name in CARDS for t in (0.0, DAY) if (name, t) != ("stt_mtj_stochastic", 0.0)]


@pytest.mark.parametrize("name, t", ALL)
def test_all_effects_match_monte_carlo(cards, name, t):
    _assert_matches(cards[name], t, Effects(), seed=1 + ALL.index((name, t)), what=f"{name} t={t:g}")


# (card, effects, t, card changes): each effect alone, on the family whose card shows it
SINGLE = [
    ("rram_hfox", ("write_noise",), 0.0, {}),
    ("rram_hfox", ("d2d",), 0.0, {}),
    ("rram_hfox", ("read_noise",), 0.0, {}),
    ("rram_hfox", ("stuck",), 0.0, {}),
    ("rram_hfox", ("drift",), DAY, {}),
    ("rram_hfox", ("write_noise", "drift"), DAY, {}),  # both max(·, 0) clips of relaxation
    ("pcm_gst", ("write_noise",), 0.0, {}),
    ("pcm_gst", ("read_noise",), DAY, {}),  # 1/f read noise grows with t
    ("pcm_gst", ("stuck",), 0.0, {}),
    ("pcm_gst", ("drift",), DAY, {}),
    ("pcm_hermes14", ("write_noise", "read_noise"), 0.0, {}),  # HERMES branch functions
    ("pcm_gst", ("d2d", "stuck", "read_noise"), 0.0, {"d2d_sigma": 0.1, "p_stuck_on": 0.02}),
    ("pcm_gst", (), DAY, {"d2d_sigma": 0.1}),  # every effect, with a window spread
    ("stt_mtj", ("write_noise",), 0.0, {"write_error_rate": 0.05}),
    ("stt_mtj", ("d2d",), 0.0, {}),
    ("stt_mtj", ("read_noise",), 0.0, {}),
    ("stt_mtj", ("stuck",), 0.0, {"p_stuck_off": 0.002}),
    ("stt_mtj_stochastic", ("drift",), DAY, {}),  # thermal flips, 5 % per MTJ in a day
    ("stt_mtj", ("levels", "d2d"), 0.0, {}),
    ("stt_mtj", ("d2d", "write_noise", "read_noise"), 0.0, {"write_error_rate": 0.02}),  # no levels
    ("fg_flash", ("write_noise",), 0.0, {}),
    ("fg_flash", ("d2d",), 0.0, {}),
    ("fg_flash", ("read_noise",), 0.0, {}),
    ("fg_flash", ("stuck",), 0.0, {}),
    ("fg_flash", ("drift", "read_noise"), DAY, {}),
]


@pytest.mark.parametrize(
    "name, on, t, changes", SINGLE, ids=lambda v: ("-".join(v) or "all") if isinstance(v, tuple) else None
)
def test_single_effects_match_monte_carlo(cards, name, on, t, changes):
    dev = dataclasses.replace(cards[name], **changes) if changes else cards[name]
    effects = Effects.only(*on) if on else Effects()
    seed = 100 + SINGLE.index((name, on, t, changes))
    repeats = 2 if on == ("d2d",) and dev.family != "stt" else 1  # d2d alone moves a minority of the cells
    _assert_matches(dev, t, effects, seed=seed, what=f"{name} {changes} only {on} t={t:g}", repeats=repeats)


# ---------------------------------------------------------------------- exact cases
@pytest.mark.parametrize("name", CARDS)
def test_ideal_and_wear_only_are_the_clipped_target(cards, name):
    """With every effect off the read is the clipped target (STT-MRAM: its level, or the
    fraction without levels), variance 0. Wear alone changes nothing for a freshly
    programmed cell (one write cycle): the window factor is 1 and the failure probability
    lies below the sampler's resolution on every card, in the code (Monte Carlo) as here."""
    dev = cards[name]
    targets = _targets(dev)
    configs = (Effects.ideal(), Effects.only("wear"), Effects.only("wear", "levels"))
    for effects in configs if dev.family == "stt" else configs[:2]:
        mean, var = cell_moments(dev, jnp.asarray(targets), t=DAY, effects=effects)
        x = _monte_carlo(dev, targets, DAY, effects, seed=7)[0]
        np.testing.assert_allclose(np.asarray(mean), x[:, 0], rtol=1e-6)
        np.testing.assert_array_equal(x, np.broadcast_to(x[:, :1], x.shape))
        np.testing.assert_array_equal(np.asarray(var), 0.0)
    full = cell_moments(dev, jnp.asarray(targets), t=DAY)
    no_wear = cell_moments(dev, jnp.asarray(targets), t=DAY, effects=Effects().without("wear"))
    for a, b in zip(full, no_wear):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_wear_counts_where_the_card_makes_it_likely(cards):
    """A card that wears out at the first cycle (endurance_n63 = 50, 2 % of cells fail)
    mixes failed cells at the window ends, as the code does."""
    dev = dataclasses.replace(cards["rram_hfox"], endurance_n63=50.0, endurance_k=1.0)
    _assert_matches(dev, 0.0, Effects.only("wear", "write_noise"), seed=11, what="rram, worn out at cycle 1")


def _rect_moments(mu, s):
    """Raw first and second moments of max(mu + s·z, 0), z standard normal (s > 0)."""
    a = mu / s
    return mu * norm.cdf(a) + s * norm.pdf(a), (mu**2 + s**2) * norm.cdf(a) + mu * s * norm.pdf(a)


def _quad(f, lo, hi, points=()):
    pts = [p for p in points if lo < p < hi] or None
    return integrate.quad(f, lo, hi, points=pts, limit=200, epsabs=0.0, epsrel=1e-11)[0]


def test_rram_against_integration(cards, x64):
    """RRAM in float64 against scipy quadrature: (a) both clips of relaxation at one day,
    ``max(max(g + σ_prog(g)ξ, 0) + σ_rel·z, 0)`` (z in closed form, ξ integrated), at g_min
    where both clips act; (b) the d2d window at g_min, ``c = max(g, g_min·e^(σZ))`` under
    the rectified write noise (Z integrated)."""
    dev = cards["rram_hfox"]
    g_min = float(dev.g_min)
    coeffs = np.asarray(dev.prog_sigma_coeffs, np.float64)
    gref, sigma = float(dev.prog_sigma_gref), float(dev.d2d_sigma)
    r = float(dev.relax_sigma_per_decade) * math.log10(1.0 + DAY / float(dev.relax_t_ref))

    def prog_sigma(c):
        return abs(np.polynomial.polynomial.polyval(c / gref, coeffs))

    def check(g, t, effects, moments):
        want_mean = moments(1)
        want_var = moments(2) - want_mean**2
        mean, var = cell_moments(dev, jnp.float64(g), t=t, effects=effects)
        assert float(mean) == pytest.approx(want_mean, rel=1e-7)
        assert float(var) == pytest.approx(want_var, rel=1e-6)

    for g in (g_min, 2.0 * g_min):
        s = prog_sigma(g)

        def relaxed(k, g=g, s=s):  # the atom max(g + sξ, 0) = 0 reads max(r·z, 0)
            at_zero = norm.cdf(-g / s) * _rect_moments(0.0, r)[k - 1]
            return at_zero + _quad(lambda u: _rect_moments(g + s * u, r)[k - 1] * norm.pdf(u), -g / s, 12.0)

        check(g, DAY, Effects.only("write_noise", "drift"), relaxed)

    def windowed(k):
        def f(z):
            c = max(g_min, g_min * math.exp(sigma * z))
            return _rect_moments(c, prog_sigma(c))[k - 1] * norm.pdf(z)

        return _quad(f, -12.0, 12.0, points=(0.0,))  # P(g_max·e^(σZ) < g_min) < 1e-300

    check(g_min, 0.0, Effects.only("d2d", "write_noise"), windowed)


def test_pcm_against_integration(cards, x64):
    """PCM (pcm_gst) in float64: the folded-normal drift moments and the read term
    E[G²Q_s(G)²] with Q_s's cap, against scipy quadrature."""
    dev = cards["pcm_gst"]
    g_max = float(dev.g_max)
    coeffs = np.asarray(dev.prog_sigma_coeffs, np.float64)
    scale2 = math.log((DAY + 20.0 + 250e-9) / (2 * 250e-9))
    x_cap = (0.0088 / 0.2) ** (1 / 0.65)  # where Q_s reaches its cap
    log_t = math.log1p(DAY / 20.0)
    eff = Effects.only("write_noise", "drift", "read_noise")

    def q_s(g):
        return min(0.0088 / max((abs(g) / g_max) ** 0.65, 1e-3), 0.2)

    def over_write_noise(f, c, s):
        """E[f(G_prog)] over G_prog = c + sξ > 0 (the atom at 0 adds nothing here)."""
        return _quad(lambda u: f(c + s * u) * norm.pdf(u), -c / s, 12.0, points=((x_cap * g_max - c) / s,))

    def drift_moment(k, mu, sd):
        return _quad(lambda u: math.exp(-k * log_t * abs(mu + sd * u)) * norm.pdf(u), -12.0, 12.0, (-mu / sd,))

    for x in (0.012, 0.3):  # near the cap of Q_s (15 % of cells programmed to 0), and inside
        c = x * g_max
        s = abs(np.polynomial.polynomial.polyval(x, coeffs))
        mu = min(max(-0.0155 * math.log(x) + 0.0244, 0.049), 0.1)
        sd = min(max(-0.0125 * math.log(x) - 0.0059, 0.008), 0.045)
        e_g = over_write_noise(lambda g: g, c, s)
        e_g2 = over_write_noise(lambda g: g * g * (1.0 + scale2 * q_s(g) ** 2), c, s)
        want_mean = e_g * drift_moment(1, mu, sd)
        want_var = e_g2 * drift_moment(2, mu, sd) - want_mean**2
        mean, var = cell_moments(dev, jnp.float64(c), t=DAY, effects=eff)
        assert float(mean) == pytest.approx(want_mean, rel=1e-6)
        assert float(var) == pytest.approx(want_var, rel=1e-6)


# ---------------------------------------------------------------------- transformations
# one card per family: each compiled graph costs about a second
FAMILY_CARDS = ["rram_hfox", "pcm_hermes14", "stt_mtj_stochastic", "fg_flash"]


@pytest.mark.parametrize("name", FAMILY_CARDS)
def test_jit_vmap_equal_a_loop_of_eager_calls(cards, name):
    """jit of vmap over a batch of target vectors and times (t traced) equals a loop of eager
    calls (t a Python number), and an array of times broadcast against the targets."""
    dev = cards[name]
    targets = jnp.asarray(_targets(dev))
    batch = jnp.stack([jnp.roll(targets, i) for i in range(4)])  # (4, 5): every target, every time
    times = jnp.asarray([0.0, 60.0, DAY, 1e7], jnp.float32)
    effects = Effects().without("stuck")
    loop = [cell_moments(dev, batch[i], t=float(times[i]), effects=effects) for i in range(len(times))]
    loop = [np.stack([np.asarray(m[k]) for m in loop]) for k in (0, 1)]
    jit_vmap = jax.jit(jax.vmap(lambda g, t: cell_moments(dev, g, t=t, effects=effects)))(batch, times)
    per_cell_times = cell_moments(dev, batch[2], t=jnp.full(5, DAY), effects=effects)
    for k in (0, 1):
        np.testing.assert_allclose(np.asarray(jit_vmap[k]), loop[k], rtol=1e-5)
        np.testing.assert_allclose(np.asarray(per_cell_times[k]), loop[k][2], rtol=1e-5)
    assert jit_vmap[0].shape == jit_vmap[1].shape == (4, 5)
    assert jit_vmap[0].dtype == jit_vmap[1].dtype == jnp.float32


def test_any_shape(cards):
    """Targets of any shape, times broadcast against them."""
    dev = cards["stt_mtj"]
    targets = jnp.asarray(_targets(dev))
    mean, var = cell_moments(dev, jnp.stack([targets, targets[::-1]]), t=jnp.asarray([[0.0], [DAY]]))
    assert mean.shape == var.shape == (2, 5)
    np.testing.assert_allclose(np.asarray(mean[0]), np.asarray(cell_moments(dev, targets)[0]), rtol=1e-6)


@pytest.mark.parametrize("name", FAMILY_CARDS)
def test_gradient_is_finite_and_matches_differences(cards, name):
    """d(mean)/dg and d(var)/dg (one forward-mode pass for both, t traced) are finite below,
    at and above the window ends and inside, at t = 0 and one day, and inside the window
    they match central differences (float32: step 1e-3·g, tolerance 1e-3). STT-MRAM
    passes gradients straight through its level rounding, as `STTMRAM.program` does: each of
    the k MTJs adds ``(g_p − g_ap)/(g_max − g_min) = 1/k`` to d(mean)/dg, so the slope is 1."""
    dev = cards[name]
    lo, hi = float(dev.g_min), float(dev.g_max)
    scale = jnp.asarray([[hi], [hi**2]], jnp.float32)

    def moments(g, t, effects):
        return jnp.stack(cell_moments(dev, g, t=t, effects=effects)) / scale

    tangent = jax.jit(
        lambda g, t, e: jax.jvp(lambda x: moments(x, t, e), (g,), (jnp.ones_like(g),))[1], static_argnums=2
    )
    edges = jnp.asarray([0.0, 0.5 * lo, lo, hi, 1.2 * hi], jnp.float32)
    inside = jnp.asarray([1.03 * lo, lo + 0.37 * (hi - lo), lo + 0.55 * (hi - lo), lo + 0.81 * (hi - lo), 0.97 * hi])
    for t in (0.0, DAY):
        assert np.all(np.isfinite(np.asarray(tangent(edges, t, Effects())))), f"{name} t={t}"
        if dev.family == "stt":
            slope = tangent(jnp.asarray(_targets(dev)), t, Effects.only("levels"))[0] * hi
            np.testing.assert_allclose(np.asarray(slope)[2:], 1.0, rtol=1e-5)  # at the ends, clip's ½
            continue
        h = 1e-3 * inside
        fd = (moments(inside + h, t, Effects()) - moments(inside - h, t, Effects())) / (2 * h)
        got = tangent(inside, t, Effects())
        np.testing.assert_allclose(np.asarray(got), np.asarray(fd), rtol=1e-3, atol=1e-3 * float(jnp.abs(fd).max()))


# ---------------------------------------------------------------------- errors
def test_errors_name_the_argument(cards):
    dev = cards["rram_hfox"]
    with pytest.raises(TypeError, match=r"device: expected an xbar\.devices\.Device"):
        cell_moments("rram_hfox", 1e-5)
    with pytest.raises(TypeError, match=r"g_target: expected floating-point conductances.*int"):
        cell_moments(dev, 1)
    with pytest.raises(TypeError, match=r"g_target: expected floating-point conductances.*dtype int32"):
        cell_moments(dev, jnp.arange(3))
    with pytest.raises(TypeError, match=r"g_target: expected floating-point conductances.*bool"):
        cell_moments(dev, True)
    with pytest.raises(TypeError, match=r"g_target"):
        cell_moments(dev, "1e-5")
    with pytest.raises(ValueError, match=r"t: expected a finite time >= 0 .*-1"):
        cell_moments(dev, 1e-5, t=-1.0)
    with pytest.raises(ValueError, match=r"t: expected a finite time >= 0"):
        cell_moments(dev, jnp.ones(2) * 1e-5, t=jnp.asarray([1.0, -2.0]))
    with pytest.raises(TypeError, match=r"t: expected a time >= 0 in seconds"):
        cell_moments(dev, 1e-5, t=True)
    with pytest.raises(ValueError, match=r"t: expected a scalar or an array broadcastable"):
        cell_moments(dev, jnp.ones(3) * 1e-5, t=jnp.ones(2))
    with pytest.raises(TypeError, match=r"effects: expected an xbar\.Effects"):
        cell_moments(dev, 1e-5, effects={"d2d": True})

    class Custom(RRAM):
        family = "custom"

    custom = dataclasses.replace(dev)
    object.__setattr__(custom, "__class__", Custom)
    with pytest.raises(NotImplementedError, match="custom"):
        cell_moments(custom, 1e-5)
