"""xbar.learn STDP rules against their closed forms: the pair window, the triplet terms
(Pfister & Gerstner 2006), all-to-all vs nearest-spike traces, soft bounds."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xbar.learn import STDPRule, stdp_init, stdp_step

DT = 0.5e-3


def _run(rule, pre_steps, post_steps, n_steps, w0=0.5):
    """One synapse; spikes at the given step indices. Returns the final weight."""
    traces = stdp_init(1, 1, jnp.float64)
    w = jnp.full((1, 1), w0, jnp.float64)
    for k in range(n_steps):
        pre = jnp.asarray([1.0 if k in pre_steps else 0.0])
        post = jnp.asarray([1.0 if k in post_steps else 0.0])
        traces, w, _ = stdp_step(rule, traces, w, pre, post, dt=DT)
    return float(w[0, 0])


@pytest.mark.parametrize("lag", [-40, -7, -1, 0, 1, 3, 25, 60])
def test_pair_window_is_the_exponential_closed_form(lag, x64):
    rule = STDPRule(tau_plus=16.8e-3, tau_minus=33.7e-3, a2_plus=0.01, a2_minus=0.012)
    t_pre = 70
    w = _run(rule, {t_pre}, {t_pre + lag}, 140)
    if lag >= 0:  # pre before (or with) post: potentiation
        expected = rule.a2_plus * math.exp(-lag * DT / rule.tau_plus)
    else:
        expected = -rule.a2_minus * math.exp(lag * DT / rule.tau_minus)
    assert w - 0.5 == pytest.approx(expected, rel=1e-12)


def test_triplet_post_pre_post_and_pre_post_pre(x64):
    """Pfister & Gerstner's triplet terms: the second post spike of a pre-post-post
    triplet adds A3+·exp(-Δ2/τy) to its pair term, the second pre spike of a
    pre-post-pre triplet A3-·exp(-Δ/τx)."""
    rule = STDPRule(
        tau_plus=16.8e-3,
        tau_minus=33.7e-3,
        tau_x=101e-3,
        tau_y=125e-3,
        a2_plus=5e-3,
        a3_plus=6.2e-3,
        a2_minus=7e-3,
        a3_minus=2.3e-3,
    )
    m1, m2 = 10, 30  # pre at 0, posts at m1 and m1 + m2
    w = _run(rule, {0}, {m1, m1 + m2}, 60)
    e = math.exp
    expected = rule.a2_plus * e(-m1 * DT / rule.tau_plus) + (
        rule.a2_plus + rule.a3_plus * e(-m2 * DT / rule.tau_y)
    ) * e(-(m1 + m2) * DT / rule.tau_plus)
    assert w - 0.5 == pytest.approx(expected, rel=1e-12)
    # pre at 0 and at m1 + m2, post at m1: LTP at the post, then LTD at the second pre
    w = _run(rule, {0, m1 + m2}, {m1}, 60)
    expected = rule.a2_plus * e(-m1 * DT / rule.tau_plus) - (
        rule.a2_minus + rule.a3_minus * e(-(m1 + m2) * DT / rule.tau_x)
    ) * e(-m2 * DT / rule.tau_minus)
    assert w - 0.5 == pytest.approx(expected, rel=1e-12)


def test_nearest_spike_keeps_only_the_last_pre_spike(x64):
    base = dict(a2_plus=0.01, a2_minus=0.0, tau_plus=20e-3)
    a2a = _run(STDPRule(**base), {0, 10}, {30}, 40)
    near = _run(STDPRule(**base, interaction="nearest"), {0, 10}, {30}, 40)
    e = math.exp
    assert a2a - 0.5 == pytest.approx(0.01 * (e(-30 * DT / 20e-3) + e(-20 * DT / 20e-3)), rel=1e-12)
    assert near - 0.5 == pytest.approx(0.01 * e(-20 * DT / 20e-3), rel=1e-12)


def test_multiplicative_soft_bound_closed_form_and_additive_clipping(x64):
    """Repeated coincident pre/post pairs (lag 0): the soft-bound rule with mu = 1 moves
    w toward w_max geometrically, w_n = w_max - (w_max - w0)(1 - A)^n, never past it;
    the additive rule steps by A·range and is clipped at w_max."""
    a = 0.1
    steps = set(range(0, 400, 40))  # 20 ms apart, tau 0.1 ms: no trace is left between pairs
    kw = dict(a2_plus=a, a2_minus=0.0, tau_plus=1e-4, w_min=0.2, w_max=1.2)
    w = _run(STDPRule(**kw, dependence="multiplicative"), steps, steps, 400, w0=0.4)
    n = len(steps)
    assert w == pytest.approx(1.2 - (1.2 - 0.4) * (1 - a) ** n, rel=1e-9)
    w = _run(STDPRule(**kw), steps, steps, 400, w0=0.4)
    assert w == pytest.approx(1.2)  # 0.4 + 10 * 0.1 * 1.0 = 1.4, clipped


def test_matrix_shapes_jit_and_increment():
    rule = STDPRule()
    rng = np.random.default_rng(0)
    tr = stdp_init(5, 3)
    w = jnp.asarray(rng.uniform(0, 1, (5, 3)), jnp.float32)
    step = jax.jit(lambda tr, w, a, b: stdp_step(rule, tr, w, a, b, dt=DT))
    for _ in range(20):
        pre = jnp.asarray(rng.random(5) < 0.3)
        post = jnp.asarray(rng.random(3) < 0.3)
        tr2, w2, dw = step(tr, w, pre, post)
        e_tr, e_w, e_dw = stdp_step(rule, tr, w, pre, post, dt=DT)
        np.testing.assert_allclose(np.asarray(w2), np.asarray(e_w), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(dw), np.asarray(w2 - w), atol=1e-7)
        tr, w = tr2, w2
    assert w.shape == (5, 3) and float(w.min()) >= 0.0 and float(w.max()) <= 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tau_plus=0.0), "STDPRule.tau_plus: expected a positive time"),
        (dict(a2_minus=-1.0), "STDPRule.a2_minus: expected a finite value >= 0"),
        (dict(w_min=1.0, w_max=1.0), r"STDPRule.w_max: expected a finite value > w_min"),
        (dict(dependence="soft"), "STDPRule.dependence: expected one of"),
        (dict(interaction="pairs"), "STDPRule.interaction: expected one of"),
    ],
)
def test_rule_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        STDPRule(**kwargs)


def test_step_errors():
    rule, tr, w = STDPRule(), stdp_init(4, 2), jnp.zeros((4, 2))
    with pytest.raises(ValueError, match=r"pre_spikes: expected spikes of shape \(4,\), got \(3,\)"):
        stdp_step(rule, tr, w, jnp.zeros(3), jnp.zeros(2), dt=DT)
    with pytest.raises(ValueError, match=r"w: expected shape \(n_pre, n_post\) = \(4, 2\)"):
        stdp_step(rule, tr, jnp.zeros((2, 4)), jnp.zeros(4), jnp.zeros(2), dt=DT)
    with pytest.raises(ValueError, match="dt: expected a positive step"):
        stdp_step(rule, tr, w, jnp.zeros(4), jnp.zeros(2), dt=0.0)
    with pytest.raises(ValueError, match="n_pre: expected a positive int"):
        stdp_init(0, 2)


def test_stdp_written_as_rram_pulses_follows_the_ideal_rule():
    """STDP in situ: each step's increment becomes pulses on nominal RRAM cells
    (`write_increment`: nominal count, stochastic rounding). Over 400 steps of random
    spiking the device weights follow the ideal rule's, cell by cell, to within the
    rounding noise: each nonzero increment adds at most (one pulse step)²/4 of variance,
    and the rounding is unbiased."""
    import xbar
    from xbar import Effects
    from xbar.learn import write_increment

    dev = xbar.devices.load("rram_hfox")
    quiet = Effects(write_noise=False, d2d=False, stuck=False)
    n_pre, n_post = 40, 8
    rule = STDPRule(a2_plus=0.005, a2_minus=0.00525)  # increments of up to ~4 pulses
    span = float(dev.g_max - dev.g_min)
    step_w = 1.0 / float(dev.p_max)  # one nominal pulse, in weight units (NL ~ 0: nearly linear)
    fab = dev.fabricate((n_pre, n_post), key=jax.random.key(0))
    w0 = np.random.default_rng(1).uniform(0.3, 0.7, (n_pre, n_post))
    state = dev.program(fab, dev.g_min + span * jnp.asarray(w0), key=jax.random.key(1), effects=quiet)

    def held(state):
        return (dev.conductance(fab, state, 0.0, effects=quiet) - dev.g_min) / span

    @jax.jit
    def step(tr_i, w_i, tr_d, state, pre, post, key):
        tr_i, w_i, _ = stdp_step(rule, tr_i, w_i, pre, post, dt=DT)
        tr_d, _, dw = stdp_step(rule, tr_d, held(state), pre, post, dt=DT)
        state, _, _ = write_increment(dev, fab, state, dw * span, key=key, max_pulses=16, effects=quiet)
        return tr_i, w_i, tr_d, state, dw != 0

    rng = np.random.default_rng(2)
    rates_pre = rng.uniform(0.02, 0.1, n_pre)  # spike probability per 0.5 ms step
    rates_post = rng.uniform(0.02, 0.1, n_post)
    tr_i = tr_d = stdp_init(n_pre, n_post)
    w_i = jnp.asarray(w0, jnp.float32)
    updates = np.zeros((n_pre, n_post))
    for k in range(400):
        pre = jnp.asarray(rng.random(n_pre) < rates_pre)
        post = jnp.asarray(rng.random(n_post) < rates_post)
        tr_i, w_i, tr_d, state, nonzero = step(tr_i, w_i, tr_d, state, pre, post, jax.random.key(100 + k))
        updates += np.asarray(nonzero)
    ideal = np.asarray(w_i) - w0
    device = np.asarray(held(state)) - w0
    assert np.std(ideal) > 0.02  # the rule did move the weights
    assert 0.0 < np.asarray(w_i).min() and np.asarray(w_i).max() < 1.0  # no clipping at the bounds
    bound = np.sqrt(updates.mean()) * step_w / 2  # rounding noise, at most
    diff = device - ideal
    assert diff.std() < 1.1 * bound
    assert abs(diff.mean()) < 4 * bound / np.sqrt(diff.size)
    assert np.corrcoef(ideal.ravel(), device.ravel())[0, 1] > 0.8


def test_triplet_drift_under_poisson_spiking_matches_the_expected_rate(x64):
    """Uncorrelated Bernoulli spike trains (probabilities p_x, p_y per step): in the
    steady state the mean weight change per step is, exactly on the step grid,
    p_y (A2+ + A3+ E[o2]) E[r1] − p_x (A2− + A3− E[r2]) E[o1], with E[r1] = p_x/(1 − a+)
    (this step's pre spike included) and E[o1], E[o2], E[r2] = p·a/(1 − a) (earlier
    spikes only), a = exp(−dt/τ) — Pfister & Gerstner's Poisson result discretized.
    The triplet terms change its sign here, so the pair rule alone would fail."""
    rule = STDPRule(
        tau_plus=16.8e-3, tau_minus=33.7e-3, tau_x=101e-3, tau_y=125e-3,
        a2_plus=5e-3, a2_minus=7e-3, a3_plus=6.2e-3, a3_minus=2.3e-3,
    )  # fmt: skip
    px, py = 0.02, 0.03  # 40 Hz and 60 Hz at dt = 0.5 ms
    n_pre, n_post, steps, burn = 400, 100, 4000, 1000

    def later(p, tau):
        a = math.exp(-DT / tau)
        return p * a / (1 - a)

    e_r1 = px / (1 - math.exp(-DT / rule.tau_plus))
    ltp = py * (rule.a2_plus + rule.a3_plus * later(py, rule.tau_y)) * e_r1
    ltd = px * (rule.a2_minus + rule.a3_minus * later(px, rule.tau_x)) * later(py, rule.tau_minus)
    expected = ltp - ltd
    pair_only = py * rule.a2_plus * e_r1 - px * rule.a2_minus * later(py, rule.tau_minus)
    assert expected > 0 > pair_only

    @jax.jit
    def run(key):
        def body(tr, k):
            k1, k2 = jax.random.split(k)
            pre = jax.random.uniform(k1, (n_pre,)) < px
            post = jax.random.uniform(k2, (n_post,)) < py
            tr, _, dw = stdp_step(rule, tr, jnp.full((n_pre, n_post), 0.5), pre, post, dt=DT)
            return tr, dw.mean()

        return jax.lax.scan(body, stdp_init(n_pre, n_post), jax.random.split(key, steps))[1]

    mean = float(np.asarray(run(jax.random.key(0)))[burn:].mean())
    # seeds 0-3 gave relative errors of +5, +2, -1, +1 %
    assert mean == pytest.approx(expected, rel=0.1)
