"""The Diehl & Cook (2015) network: event-driven STDP equals the dense rule, neuron
dynamics, Poisson input, normalization, boosting, learning on digits, device mode,
label assignment and errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xbar
from xbar import learn
from xbar.learn._diehl_cook import _events, _present


def _small(**kw):
    base = dict(n_input=20, n_neurons=5, t_present=0.06, v_input=4e-3, v_inhibit=5e-3, norm=None, max_boosts=0,
                intensity=150.0, max_events=16)  # fmt: skip
    base.update(kw)
    return learn.DiehlCook(**base)


def _replay(net, w0, x, key):
    """Run one recorded presentation, then replay its spike rasters through the dense
    `stdp_step` from the same initial weights."""
    w_ev, _, cnt, _, (counts, idx, post) = _present(net, w0, jnp.zeros(net.n_neurons), x, net.intensity, key, True,
                                                 record=True)  # fmt: skip
    counts, idx, post = np.asarray(counts), np.asarray(idx), np.asarray(post)
    assert counts.max() <= net.max_events  # no spill pass: the replay sees every event
    traces, w = learn.stdp_init(net.n_input, net.n_neurons), w0
    for t in range(net.num_steps):
        pre = np.bincount(idx[t, : counts[t]], minlength=net.n_input).astype(np.float64)
        traces, w, _ = learn.stdp_step(net.rule, traces, w, pre, post[t].astype(np.float64), dt=net.dt)
    return w_ev, w, cnt, counts


@pytest.mark.parametrize(
    "rule",
    [
        learn.DIEHL_COOK_RULE,
        learn.STDPRule(
            tau_plus=16.8e-3,
            tau_minus=33.7e-3,
            a2_plus=5e-3,
            a2_minus=7e-3,
            a3_plus=6.2e-3,
            a3_minus=2.3e-4,
            dependence="multiplicative",
            interaction="all_to_all",
            eta=20.0,
        ),
    ],  # fmt: skip
    ids=["diehl_cook_nearest_pair", "triplet_multiplicative_all_to_all"],
)
def test_event_driven_stdp_equals_the_dense_rule(x64, rule):
    net = _small(rule=rule)
    key = jax.random.key(3)
    x = jax.random.uniform(jax.random.key(1), (net.n_input,), jnp.float64)
    w0 = 0.3 + 0.4 * jax.random.uniform(jax.random.key(2), (net.n_input, net.n_neurons), jnp.float64)
    w_ev, w_dense, cnt, counts = _replay(net, w0, x, key)
    assert int(cnt.sum()) >= 5 and counts.sum() >= 50  # pre and post spikes both happened
    assert np.any(np.asarray(counts) >= 2)  # and steps with several events (duplicates possible)
    np.testing.assert_allclose(np.asarray(w_ev), np.asarray(w_dense), rtol=0, atol=1e-12)
    assert float(jnp.max(jnp.abs(w_ev - w0))) > 1e-3  # the weights did move


def test_neuron_dynamics_one_winner_refractory_and_threshold_growth(x64):
    net = _small(t_present=0.2, v_inhibit=0.0, theta_plus=0.2e-3, tau_theta=50.0)
    x = jnp.ones(net.n_input, jnp.float64)
    w0 = jnp.full((net.n_input, net.n_neurons), 0.5, jnp.float64)
    _, theta, cnt, _, (_, _, post) = _present(net, w0, jnp.zeros(net.n_neurons), x, net.intensity, jax.random.key(0),
                                           False, record=True)  # fmt: skip
    post = np.asarray(post)
    assert post.sum(axis=1).max() == 1  # at most one neuron fires per step
    ref = int(round(net.t_ref / net.dt))
    for j in range(net.n_neurons):
        times = np.flatnonzero(post[:, j])
        assert len(times) >= 3 and np.diff(times).min() > ref  # refractory period respected
    want = net.theta_plus * np.asarray(cnt) * math.exp(-net.t_present / net.tau_theta)
    np.testing.assert_allclose(np.asarray(theta), want, rtol=1e-12)


def test_lateral_inhibition_silences_the_losers(x64):
    x = jnp.ones(20, jnp.float64)
    w0 = jnp.full((20, 5), 0.5, jnp.float64).at[:, 0].set(0.8)  # neuron 0 is driven hardest
    counts = {}
    for inh in (0.0, 0.1):
        net = _small(t_present=0.2, v_inhibit=inh)
        counts[inh] = np.asarray(_present(net, w0, jnp.zeros(5), x, net.intensity, jax.random.key(0), False)[2])
    assert counts[0.0][1:].min() >= 3  # without inhibition everyone fires
    assert counts[0.1][0] >= 3 and counts[0.1][1:].sum() == 0  # with it the winner takes all


def test_poisson_input_rates(x64):
    net = _small(t_present=2.0, max_events=32)
    x = jnp.linspace(0.0, 1.0, net.n_input)
    counts, idx, _ = _events(net, x, net.intensity, jax.random.key(0))
    counts, idx = np.asarray(counts), np.asarray(idx)
    per_input = np.zeros(net.n_input)
    for t in range(net.num_steps):
        np.add.at(per_input, idx[t, : counts[t]], 1)
    expect = np.asarray(x) * net.intensity * net.t_present
    assert per_input[0] == 0  # an input at 0 never fires
    z = (per_input.sum() - expect.sum()) / math.sqrt(expect.sum())
    assert abs(z) < 4
    chi2 = np.sum((per_input[1:] - expect[1:]) ** 2 / expect[1:])
    assert chi2 < 19 + 4 * math.sqrt(2 * 19)  # 19 degrees of freedom


def test_spill_passes_count_every_event(x64):
    """With equal weights the drive depends only on how many events a step has: one
    event per pass (the rest in spill passes) gives the same spikes as 64 per pass."""
    x = jnp.ones(20, jnp.float64)
    w0 = jnp.full((20, 5), 0.4, jnp.float64)
    out = []
    for k in (1, 64):
        net = _small(max_events=k, t_present=0.1, intensity=400.0)
        out.append(np.asarray(_present(net, w0, jnp.zeros(5), x, net.intensity, jax.random.key(4), False)[2]))
    assert out[0].sum() >= 5
    np.testing.assert_array_equal(out[0], out[1])
    # learning: depression beyond max_events per step is left out and counted
    net = _small(max_events=2, t_present=0.1, intensity=400.0)
    *_, dropped, (counts, _, _) = _present(net, w0, jnp.zeros(5), x, net.intensity, jax.random.key(4), True,
                                           record=True)  # fmt: skip
    assert int(dropped) == int(np.maximum(np.asarray(counts) - 2, 0).sum()) > 0


def test_normalization_and_boosting(key):
    net = _small(norm=2.0, max_boosts=3, min_spikes=10_000)  # never enough spikes: every boost is used
    state = learn.diehl_cook_init(net, key=key)
    x = jnp.full((2, net.n_input), 0.5)
    state, spikes = learn.diehl_cook_train(net, state, x, key=key, progress=False)
    assert int(state.samples) == 2 * (1 + net.max_boosts) and spikes.shape == (1, 2)
    np.testing.assert_allclose(np.asarray(state.w.sum(axis=0)), 2.0, rtol=1e-5)
    assert float(state.w.min()) >= 0.0 and float(state.w.max()) <= 1.0


def test_same_key_same_result_and_present_matches_train(key):
    net = _small(norm=3.0)
    s0 = learn.diehl_cook_init(net, key=key)
    x = jax.random.uniform(jax.random.key(1), (3, net.n_input))
    a, sa = learn.diehl_cook_train(net, s0, x, key=jax.random.key(2), progress=False)
    b, sb = learn.diehl_cook_train(net, s0, x, key=jax.random.key(2), progress=False)  # compiled: cheap
    np.testing.assert_array_equal(np.asarray(a.w), np.asarray(b.w))
    np.testing.assert_array_equal(sa, sb)
    # the chunked, jitted loop equals presenting the samples one by one (eager)
    key1, _ = jax.random.split(jax.random.key(2))  # train: epoch key, then one key per chunk
    _, k = jax.random.split(key1)
    st = s0
    for i, ki in enumerate(jax.random.split(k, 3)):
        st, cnt = learn.diehl_cook_present(net, st, x[i], key=ki)
        assert int(cnt.sum()) == sa[0, i]
    np.testing.assert_allclose(np.asarray(st.w), np.asarray(a.w), rtol=1e-6, atol=1e-7)


def test_learns_digits_unsupervised():
    d = xbar.data.load_digits()
    net = learn.DiehlCook(n_input=64, n_neurons=20, intensity=255.0, norm=6.4, t_present=0.2)
    state = learn.diehl_cook_init(net, key=jax.random.key(0))
    state, _ = learn.diehl_cook_train(net, state, d.x_train[:500], key=jax.random.key(1), progress=False)
    c = learn.diehl_cook_responses(net, state, d.x_train[:500], key=jax.random.key(2))
    labels = learn.assign_labels(c, d.y_train[:500])
    pred = learn.classify(learn.diehl_cook_responses(net, state, d.x_test, key=jax.random.key(3)), labels)
    acc = float(np.mean(pred == d.y_test))
    assert acc > 0.5, acc  # chance is 0.1; unsupervised, 20 neurons, 500 samples


@pytest.mark.parametrize("card", ["rram_hfox", pytest.param("stt_mtj_stochastic", marks=pytest.mark.slow)])
def test_device_weights_are_the_cells_and_learning_writes_pulses(card, tmp_path):
    dev = xbar.devices.load(card)
    net = _small(norm=None)
    state = learn.diehl_cook_init(net, key=jax.random.key(0), device=dev)
    x = jnp.ones((4, net.n_input))
    ck = tmp_path / "ck.npz"
    new, _ = learn.diehl_cook_train(net, state, x, key=jax.random.key(1), progress=False, chunk=2, checkpoint=ck)
    # the device state (fabricated draws, cell states, keys) round-trips through the checkpoint
    again, _ = learn.diehl_cook_train(net, state, x, key=jax.random.key(1), progress=False, chunk=2, checkpoint=ck,
                                      resume=True)  # fmt: skip
    for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(again), strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a checkpoint of stochastic writing does not resume a run that accumulates
    acc = learn.diehl_cook_init(net, key=jax.random.key(0), device=dev, write="accumulate")
    with pytest.raises(ValueError, match=r"checkpoint: expected one written with these settings"):
        learn.diehl_cook_train(net, acc, x, key=jax.random.key(1), progress=False, chunk=2, checkpoint=ck, resume=True)
    g = dev.conductance(new.fab, new.dev, 0.0, effects=xbar.Effects())
    np.testing.assert_allclose(
        np.asarray(new.w), np.asarray((g - dev.g_min) / (dev.g_max - dev.g_min)), rtol=1e-5, atol=1e-6
    )
    assert float(new.pulses) > 0 and float(new.energy) > 0
    assert float(jnp.max(jnp.abs(new.w - state.w))) > 0


def test_assign_labels_and_classify():
    counts = np.array([[5, 0, 1], [4, 1, 0], [0, 3, 2], [1, 0, 6]])
    labels = np.array([0, 0, 1, 2])
    neuron_labels = learn.assign_labels(counts, labels, n_classes=3)
    np.testing.assert_array_equal(neuron_labels, [0, 1, 2])
    np.testing.assert_array_equal(learn.classify(counts, neuron_labels, n_classes=3), [0, 0, 1, 2])
    # a class without neurons is never predicted
    np.testing.assert_array_equal(learn.classify(counts, np.array([0, 0, 2]), n_classes=3), [0, 0, 2, 2])


def test_errors(key):
    with pytest.raises(ValueError, match=r"DiehlCook.n_neurons: expected a positive int, got 0"):
        learn.DiehlCook(n_neurons=0)
    with pytest.raises(ValueError, match=r"DiehlCook.v_thresh: expected above v_rest"):
        learn.DiehlCook(v_thresh=-70e-3)
    with pytest.raises(ValueError, match=r"DiehlCook.dt: expected a positive finite value, got nan"):
        learn.DiehlCook(dt=float("nan"))
    with pytest.raises(TypeError, match=r"DiehlCook.rule: expected an STDPRule"):
        learn.DiehlCook(rule="pair")
    net = _small()
    state = learn.diehl_cook_init(net, key=key)
    with pytest.raises(ValueError, match=r"x: expected samples of shape \(n, n_input=20\), got \(3, 21\)"):
        learn.diehl_cook_train(net, state, jnp.zeros((3, 21)), key=key, progress=False)
    with pytest.raises(ValueError, match=r"epochs: expected a positive int, got 0"):
        learn.diehl_cook_train(net, state, jnp.zeros((3, 20)), key=key, epochs=0, progress=False)
    with pytest.raises(ValueError, match=r"state: expected a DiehlCookState with w of shape \(20, 6\), got \(20, 5\)"):
        learn.diehl_cook_train(_small(n_neurons=6), state, jnp.zeros((3, 20)), key=key, progress=False)
    with pytest.raises(ValueError, match=r"device: PCM can only be SET gradually"):
        learn.diehl_cook_init(net, key=key, device=xbar.devices.load("pcm_gst"))
    with pytest.raises(ValueError, match=r"labels: expected values in \[0, 3\), got \[0, 5\]"):
        learn.assign_labels(np.ones((2, 4)), np.array([0, 5]), n_classes=3)
    with pytest.raises(ValueError, match=r"neuron_labels: expected shape \(4,\), got \(3,\)"):
        learn.classify(np.ones((2, 4)), np.zeros(3, int))


def test_checkpoint_resume_equals_an_uninterrupted_run(tmp_path, key):
    net = _small(norm=3.0)
    s0 = learn.diehl_cook_init(net, key=key)
    x = jax.random.uniform(jax.random.key(1), (5, net.n_input))
    kw = dict(key=jax.random.key(2), epochs=2, chunk=2, progress=False)
    full, sp_full = learn.diehl_cook_train(net, s0, x, **kw)
    ck = tmp_path / "dc.npz"

    class Stop(Exception):
        pass

    calls = {"n": 0}
    import xbar.learn._diehl_cook as dc

    real = dc._save_dc_checkpoint

    def stop_after_four(*a):  # kill the run after its 4th chunk (in the 2nd epoch)
        real(*a)
        calls["n"] += 1
        if calls["n"] == 4:
            raise Stop

    dc._save_dc_checkpoint = stop_after_four
    try:
        with pytest.raises(Stop):
            learn.diehl_cook_train(net, s0, x, checkpoint=ck, **kw)
    finally:
        dc._save_dc_checkpoint = real
    with np.load(ck) as z:
        assert (int(z["epoch"]), int(z["pos"])) == (1, 2)
    resumed, sp_res = learn.diehl_cook_train(net, s0, x, checkpoint=ck, resume=True, **kw)
    np.testing.assert_array_equal(np.asarray(resumed.w), np.asarray(full.w))
    np.testing.assert_array_equal(np.asarray(resumed.theta), np.asarray(full.theta))
    np.testing.assert_array_equal(sp_res, sp_full)
    assert int(resumed.samples) == int(full.samples)
    # other settings are refused
    with pytest.raises(ValueError, match=r"checkpoint: expected one written with these settings"):
        learn.diehl_cook_train(net, s0, x, checkpoint=ck, resume=True, **{**kw, "epochs": 3})
    with pytest.raises(ValueError, match=r"resume: expected a checkpoint path"):
        learn.diehl_cook_train(net, s0, x, resume=True, **kw)


def test_accumulate_writes_whole_pulses_and_keeps_the_rest():
    """Mixed-precision writing with noise-free cells: what the cells hold plus the
    digital residual is the presentation's target plus the old residual; with every
    effect on, cells are pulsed only for whole nominal steps (far fewer pulses)."""
    from xbar.learn._diehl_cook import _present_boosted

    dev = xbar.devices.load("rram_hfox")
    net = _small(norm=3.0)
    x = jnp.ones(net.n_input)
    nominal = xbar.Effects.only()
    state = learn.diehl_cook_init(net, key=jax.random.key(0), device=dev, effects=nominal, write="accumulate")
    target_of = jax.jit(lambda w, th, k: _present_boosted(net, w, th, x, k, True)[0])  # one compilation
    for i in range(3):
        k = jax.random.key(10 + i)
        target = target_of(state.w, state.theta, jax.random.split(k)[0])
        before = state
        state, _ = learn.diehl_cook_present(net, state, x, key=k, effects=nominal)
        np.testing.assert_allclose(np.asarray(state.w + state.residual),
                                   np.asarray(target + before.residual), atol=2e-6)  # fmt: skip
    assert np.abs(np.asarray(state.residual)).max() > 0
    pulses = {}
    for write in ("stochastic", "accumulate"):
        s = learn.diehl_cook_init(net, key=jax.random.key(0), device=dev, write=write)
        s, _ = learn.diehl_cook_train(net, s, jnp.ones((3, net.n_input)), key=jax.random.key(1), progress=False)
        pulses[write] = float(s.pulses)
    assert 0 < pulses["accumulate"] < pulses["stochastic"]
    with pytest.raises(ValueError, match=r"write: expected one of \['stochastic', 'accumulate'\], got 'exact'"):
        learn.diehl_cook_init(net, key=jax.random.key(0), device=dev, write="exact")
