"""Characteristic curves of the cards (`xbar.devices._curves`), their figures and
``xbar devices plot``."""

import jax
import matplotlib
import numpy as np
import pytest
from scipy.stats import binom

from xbar._cli import main
from xbar.devices import available, endurance_curves, load, pulse_response, retention_curves

matplotlib.use("Agg")

FAMILY_CARDS = ["rram_hfox", "pcm_gst", "stt_mtj", "fg_flash"]


@pytest.mark.parametrize("name", FAMILY_CARDS)
def test_endurance_curve_follows_the_weibull(name):
    dev = load(name)
    cells = 4000
    curves = endurance_curves(dev, cells=cells, key=jax.random.key(0))
    p = curves["weibull"]
    # per MTJ for STT-MRAM (k per device): more draws, a tighter band
    draws = cells * (getattr(dev, "mtjs_per_device", 1) if dev.family == "stt" else 1)
    # the failed count at each cycle count inside the exact binomial 99.99 % interval
    # (each point alone; the same cells serve every point)
    count = np.round(curves["failed"] * draws)
    lo, hi = binom.ppf(5e-5, draws, p), binom.ppf(1 - 5e-5, draws, p)
    assert np.all((count >= lo) & (count <= hi)), np.flatnonzero((count < lo) | (count > hi))
    width = curves["hi"] - curves["lo"]
    assert np.all(np.diff(width) <= 1e-12 * np.max(width))  # the window only closes
    assert curves["failed"][0] < 0.01 and curves["failed"][-1] > 0.99


@pytest.mark.parametrize(
    "name", ["rram_hfox", "pcm_gst"] + [pytest.param(n, marks=pytest.mark.slow) for n in ("stt_mtj", "fg_flash")]
)
def test_pulse_response_moves_up_then_down(name):
    resp = pulse_response(load(name), cells=64, n_up=20, n_down=20, key=jax.random.key(1))
    g = resp["g"]["mean"]
    assert g.shape == (41,)
    assert g[20] > g[0]  # potentiation raised the mean conductance
    assert g[-1] < g[20]  # depression (PCM: RESET) lowered it
    assert np.all(resp["g"]["lo"] <= g + 1e-18) and np.all(g <= resp["g"]["hi"] + 1e-18)
    assert resp["energy"]["up"] > 0 and resp["energy"]["down"] > 0


def test_retention_curves_have_a_band_per_level_and_temperature():
    dev = load("pcm_gst")
    t = np.logspace(0, 6, 7)
    out = retention_curves(dev, t=t, levels=(0.5, 1.0), temperatures=(None, 358.15), cells=64, key=jax.random.key(2))
    assert len(out["curves"]) == 4
    room, hot = out["curves"][2]["g"]["mean"], out["curves"][3]["g"]["mean"]
    assert np.all(np.diff(room) <= 0)  # PCM drifts down
    assert hot[-1] < room[-1]  # faster at 85 C


@pytest.mark.slow  # 12 s; notebooks/a_device_effects draws xbar.plot.device_figure in the default suite
def test_devices_plot_writes_a_figure(tmp_path, capsys):
    out = tmp_path / "rram.png"
    assert main(["devices", "plot", "rram_hfox", "--out", str(out), "--cells", "16"]) == 0
    assert out.stat().st_size > 10_000
    assert "saved" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["devices", "plot", "no_such_card"], "no_such_card"),
        (["devices", "plot", "rram_hfox", "--cells", "3"], "--cells"),
    ],
)
def test_devices_plot_bad_input_exits_2(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


@pytest.mark.slow
def test_every_card_plots(tmp_path):
    # every built-in card, variants included, has all three curves
    for name in available():
        assert main(["devices", "plot", name, "--out", str(tmp_path / f"{name}.png"), "--cells", "16"]) == 0
