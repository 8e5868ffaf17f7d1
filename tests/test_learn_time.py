"""xbar.learn.evaluate_over_time: Monte Carlo accuracy over fabricated chips and over
time since programming (drift, with and without global drift compensation)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import xbar
from xbar import learn
from xbar.learn import TimeEvaluation, TrainConfig, evaluate_over_time
from xbar.snn import LIF, Network, SpikingDense

N = 64
T_STEPS = 8
YEAR = 3.156e7


@pytest.fixture(scope="module")
def problem():
    """Two classes of 8-dim prototypes (complementary halves) plus Gaussian noise."""
    rng = np.random.default_rng(0)
    protos = np.array([[0.9] * 4 + [0.1] * 4, [0.1] * 4 + [0.9] * 4])
    y = np.repeat(np.arange(2), N // 2)
    x = np.clip(protos[y] + 0.1 * rng.standard_normal((N, 8)), 0.0, 1.0)
    return x.astype(np.float32), y.astype(np.int32)


@pytest.fixture(scope="module")
def net():
    return Network(layers=(SpikingDense(neuron=LIF()), SpikingDense(neuron=LIF())))


@pytest.fixture(scope="module")
def weights(problem, net):
    x, y = problem
    w0 = learn.init_weights([8, 16, 2], key=jax.random.key(1))
    cfg = TrainConfig(num_steps=T_STEPS, epochs=5, batch_size=16, lr=2e-2)
    w, _ = learn.train(net, w0, x, y, key=jax.random.key(2), config=cfg, progress=False)
    return w


def _specs(weights, dev, **kw):
    return [
        xbar.CrossbarSpec(device=dev, rows=a.shape[0], cols=a.shape[1], tile_rows=8, tile_cols=8, dac_bits=None, **kw)
        for a in weights
    ]


@pytest.fixture(scope="module")
def pcm_runs(problem, net, weights, cards):
    """PCM read at 1 s, 1 day and 1 year, with and without global drift compensation."""
    x, y = problem
    out = {}
    for comp in (True, False):
        specs = _specs(weights, cards["pcm_gst"], drift_compensation=comp)
        out[comp] = evaluate_over_time(
            net,
            weights,
            x,
            y,
            key=jax.random.key(7),
            specs=specs,
            times=[1.0, 86400.0, YEAR],
            chips=4,
            num_steps=T_STEPS,
        )
    return out


def test_shapes_values_and_summary(pcm_runs):
    r = pcm_runs[True]
    assert isinstance(r, TimeEvaluation)
    assert r.accuracy.shape == (3, 4) and r.times.tolist() == [1.0, 86400.0, YEAR]
    np.testing.assert_allclose(r.accuracy * N, np.round(r.accuracy * N), atol=1e-9)  # k/n
    np.testing.assert_allclose(r.mean, r.accuracy.mean(axis=1))
    np.testing.assert_allclose(r.std, r.accuracy.std(axis=1, ddof=1))
    rows = r.summary()
    assert [row["t_s"] for row in rows] == [1.0, 86400.0, YEAR]
    assert all(row["min"] <= row["mean"] <= row["max"] and row["chips"] == 4 for row in rows)


def test_compensated_accuracy_holds_over_a_year(pcm_runs):
    """PCM conductances fall by (t/t0)^-nu (nu ~ 0.05: to ~40 % after a year); with the
    global compensation factor the accuracy stays near its 1 s value. (On this two-class
    problem the uncompensated network keeps its argmax too — a global scale does not
    reorder the outputs until the hidden layer stops spiking — so only the 1 s values
    are compared for it.)"""
    comp, raw = pcm_runs[True], pcm_runs[False]
    assert comp.mean[0] > 0.9 and raw.mean[0] > 0.9
    assert comp.mean[-1] >= comp.mean[0] - 0.1


def test_same_chips_as_evaluate_and_deterministic(problem, net, weights, cards):
    """Without read noise, one time of `evaluate_over_time` is `evaluate` at that time
    (same key: the same chips, programmed alike), and the same key repeats exactly."""
    x, y = problem
    eff = xbar.Effects(read_noise=False)
    specs = _specs(weights, cards["pcm_gst"], effects=eff)
    kw = dict(key=jax.random.key(9), specs=specs, chips=3, num_steps=T_STEPS)
    r = evaluate_over_time(net, weights, x, y, times=[0.0, 3600.0], **kw)
    for i, t in enumerate([0.0, 3600.0]):
        np.testing.assert_array_equal(r.accuracy[i], learn.evaluate(net, weights, x, y, t=t, **kw))
    again = evaluate_over_time(net, weights, x, y, times=[0.0, 3600.0], **kw)
    np.testing.assert_array_equal(r.accuracy, again.accuracy)


@pytest.mark.slow  # secondary (5 s); run with -m slow
def test_without_drift_time_changes_nothing(problem, net, weights, cards):
    x, y = problem
    eff = xbar.Effects(drift=False, read_noise=False)
    specs = _specs(weights, cards["rram_hfox"], effects=eff)
    r = evaluate_over_time(
        net,
        weights,
        x,
        y,
        key=jax.random.key(3),
        specs=specs,
        times=[1.0, YEAR],
        chips=2,
        num_steps=T_STEPS,
        chip_batch=2,
    )
    np.testing.assert_array_equal(r.accuracy[0], r.accuracy[1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(times=[]), "times: expected a non-empty 1-D"),
        (dict(times=[[1.0]]), "times: expected a non-empty 1-D"),
        (dict(times=[1.0, -1.0]), r"times: expected finite times >= 0 s, got \[1.0, -1.0\]"),
        (dict(times=[float("nan")]), "times: expected finite times"),
        (dict(chips=0), "chips: expected a positive int, got 0"),
        (dict(chip_batch=True), "chip_batch: expected a positive int, got True"),
        (dict(specs=None), "specs: expected one CrossbarSpec per layer"),
    ],
)
def test_errors_name_the_argument(problem, net, weights, cards, kwargs, match):
    x, y = problem
    args = dict(key=jax.random.key(0), specs=_specs(weights, cards["rram_hfox"]), times=[1.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        evaluate_over_time(net, weights, x, y, **args)


def test_plot_accuracy_over_time(pcm_runs):
    import matplotlib

    matplotlib.use("Agg")
    from xbar.plot import plot_accuracy_over_time

    ax = plot_accuracy_over_time([pcm_runs[True], pcm_runs[False]], labels=["compensated", "raw"])
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["compensated", "raw"]
    assert [lab.get_text() for lab in ax.get_xticklabels()] == [
        "1 s",
        "1 min",
        "1 h",
        "1 day",
        "1 week",
        "1 month",
        "1 year",
    ]
    with pytest.raises(ValueError, match="labels: expected one per result"):
        plot_accuracy_over_time([pcm_runs[True]], labels=["a", "b"])
