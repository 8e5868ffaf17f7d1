"""Sweeps: spec validation, the vmapped runner against a per-point loop, resume, one vs
four devices, and the `xbar sweep` / `xbar plot` commands."""

import functools
import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xbar
from xbar import sweep
from xbar._cli import main
from xbar.data import load_digits
from xbar.learn import TrainConfig, encode, init_weights, predict, train
from xbar.snn import LIF, Network, SpikingDense

HIDDEN = 32
N_TEST = 96


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A small trained 64-32-10 network (about 90 % ideally), as sweeps load it (`base.weights`)."""
    ds = load_digits()
    net = Network(layers=(SpikingDense(neuron=LIF(beta=0.9)), SpikingDense(neuron=LIF(beta=0.9))))
    w0 = init_weights((64, HIDDEN, 10), key=jax.random.key(0))
    w, _ = train(
        net, w0, ds.x_train, ds.y_train, key=jax.random.key(1), config=TrainConfig(epochs=3, lr=1e-2), progress=False
    )
    path = tmp_path_factory.mktemp("weights") / "w.npz"
    np.savez(path, **{f"w{i}": np.asarray(x) for i, x in enumerate(w)})
    return path


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    return path


def _spec_text(weights, axes: str, extra: str = "") -> str:
    return f"""
name = "test"
[base]
hidden = [{HIDDEN}]
weights = "{weights}"
tile_rows = 32
tile_cols = 32
test_samples = {N_TEST}
batch_size = 64
{extra}
[axes]
{axes}
"""


# ----------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    "text, key, words",
    [
        ("[base]\nfoo = 1\n", "base.foo", "unknown key"),
        ("[base]\nadc_bits = 'six'\n", "base.adc_bits", "expected an int"),
        ("[axes]\nadc_bits = []\n", "axes.adc_bits", "non-empty list"),
        ("[base]\ncard = 'unobtainium'\n", "base.card", "built-in card name"),
        ("[axes]\nhidden = [8, 16]\n", "axes.hidden", "not a sweepable axis"),
        ("[axes]\ndevice.nope = [1.0]\n", "axes.device.nope", "unknown parameter"),
        ("[base.device]\nd2d_sigma = 'x'\n", "base.device.d2d_sigma", "expected a number"),
        ("[axes]\nadc_bits = [2, 1]\n", "axes.adc_bits[1]", ">= 2"),
        ("mode = 'zip'\n[axes]\nadc_bits = [2, 3]\nchip = [0]\n", "axes", "equal length"),
        ("[axes]\nr_wire = [1.0]\n", "axes.r_wire", "circuit"),
        ("[base]\ncircuit = 'transfer'\n", "base.r_wire", "r_wire > 0"),
        ("mode = 'random'\n", "mode", "'grid'"),
        ("[axes\n", "", "not valid TOML"),
    ],
)
def test_malformed_specs_name_the_file_and_key(tmp_path, text, key, words):
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(sweep.SpecError) as err:
        sweep.load_spec(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {key}") and words in msg and "\n" not in msg


@pytest.mark.parametrize(
    "text", ["[base]\nfoo = 1\n", "[base]\nepochs = 1.5\n", "[axes]\nchip = []\n", "[base]\ncard = 'nope'\n"]
)
def test_cli_rejects_a_malformed_spec_with_one_line_and_writes_nothing(tmp_path, capsys, text):
    path = _write(tmp_path / "bad.toml", text)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xbar sweep: error: ") and str(path) in err and "\n" not in err
    assert not out.exists()


def test_grid_and_zip_points():
    grid = sweep.parse_spec({"axes": {"adc_bits": [4, 8], "chip": [0, 1, 2]}})
    assert grid.points() == [{"adc_bits": b, "chip": c} for b in (4, 8) for c in (0, 1, 2)]
    zipped = sweep.parse_spec({"mode": "zip", "axes": {"t": [1.0, 10.0], "chip": [3, 4]}})
    assert zipped.points() == [{"t": 1.0, "chip": 3}, {"t": 10.0, "chip": 4}]
    nested = sweep.parse_spec({"axes": {"device": {"d2d_sigma": [0.0, 0.1]}}})
    assert nested.axes == {"device.d2d_sigma": [0.0, 0.1]}
    assert sweep.parse_spec({}).points() == [{}]
    assert grid.fingerprint() != zipped.fingerprint()


# ----------------------------------------------------------------------------- runner


@functools.partial(jax.jit, static_argnames=("adc_bits",))
def _direct_predictions(weights, chip, xb, k_data, t, *, adc_bits, seed=0):
    """One point's predictions on one test batch, without the runner, from the
    documented key scheme: chip keys ``fold_in(fold_in(key(seed), 2), chip)`` split into
    fabrication, programming and read; data keys split from ``fold_in(key(seed), 3)``
    per test batch."""
    net = Network(layers=(SpikingDense(neuron=LIF(beta=0.9, threshold=1.0)),) * 2)
    dev = xbar.devices.load("rram_hfox")
    sizes = (64, HIDDEN, 10)
    root = jax.random.key(seed)
    k_fab, k_prog, k_read = jax.random.split(jax.random.fold_in(jax.random.fold_in(root, 2), chip), 3)
    specs = [
        xbar.CrossbarSpec(device=dev, rows=a, cols=b, tile_rows=32, tile_cols=32, dac_bits=None, adc_bits=adc_bits)
        for a, b in zip(sizes, sizes[1:])
    ]
    chips = [xbar.fabricate(s, key=k) for s, k in zip(specs, jax.random.split(k_fab, 2))]
    arrays = [xbar.program(c, w, key=k) for c, w, k in zip(chips, weights, jax.random.split(k_prog, 2))]
    return predict(net.run(arrays, encode(xb, 25, encoder="rate", key=k_data), key=k_read, t=t))


def _direct_correct(weights, point: dict):
    ds = load_digits()
    x, y = ds.x_test[:N_TEST], ds.y_test[:N_TEST]
    correct, k_data = 0, jax.random.fold_in(jax.random.key(0), 3)
    for start in range(0, N_TEST, 64):
        xb, yb = x[start : start + 64], y[start : start + 64]
        m = xb.shape[0]
        if m < 64:
            xb = np.concatenate([xb, np.zeros((64 - m, 64), xb.dtype)])
        k_data, k = jax.random.split(k_data)
        pred = _direct_predictions([jnp.asarray(w) for w in weights], point["chip"], xb, k, point.get("t", 1.0),
                                   adc_bits=point.get("adc_bits", 8))  # fmt: skip
        correct += int(jnp.sum(pred[:m] == yb))
    return correct


def _weights(path):
    with np.load(path) as z:
        return [z["w0"], z["w1"]]


def test_runner_equals_a_per_point_loop(tmp_path, weights_file):
    spec = sweep.load_spec(_write(tmp_path / "s.toml", _spec_text(weights_file, "t = [1.0, 1e6]\nchip = [0, 1, 2]")))
    rows = sweep.run(spec, tmp_path / "a", progress=False, points_per_device=2, log=None)
    assert [r["point"] for r in rows] == list(range(6))
    assert [(r["t"], r["chip"]) for r in rows] == [(t, c) for t in (1.0, 1e6) for c in (0, 1, 2)]
    w = _weights(weights_file)
    for r in rows[:2] + rows[5:]:
        assert r["correct"] == _direct_correct(w, r), r
        assert r["accuracy"] == r["correct"] / N_TEST and r["n_test"] == N_TEST
    assert len({r["correct"] for r in rows}) > 2  # chips and times differ
    meta = json.loads((tmp_path / "a" / sweep.META).read_text())
    assert meta["status"] == "complete" and meta["points_done"] == 6 and 0.8 < meta["ideal_accuracy"] <= 1
    assert meta["fingerprint"] == spec.fingerprint() and meta["devices"] == len(jax.devices())


def test_killed_sweep_resumes_every_point_exactly_once(tmp_path, weights_file):
    spec = sweep.load_spec(_write(tmp_path / "s.toml", _spec_text(weights_file, "chip = [0, 1, 2, 3, 4]\nt = [1.0]")))
    full = sweep.run(spec, tmp_path / "full", progress=False, points_per_device=2, log=None)

    def kill(rows):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run(spec, tmp_path / "cut", progress=False, points_per_device=2, log=None, on_chunk=kill)
    assert [r["point"] for r in sweep.read_results(tmp_path / "cut")] == [0, 1]
    with pytest.raises(sweep.SweepError, match="already holds a sweep"):
        sweep.run(spec, tmp_path / "cut", progress=False, log=None)
    ran = []
    rows = sweep.run(spec, tmp_path / "cut", resume=True, progress=False, points_per_device=2, log=None,
                     on_chunk=lambda rows: ran.append(len(rows)))  # fmt: skip
    assert ran == [4, 5]  # only the three missing points ran
    assert [r["point"] for r in rows] == list(range(5))
    assert [r["correct"] for r in rows] == [r["correct"] for r in full]
    other = sweep.load_spec(_write(tmp_path / "o.toml", _spec_text(weights_file, "chip = [0, 1]")))
    with pytest.raises(sweep.SweepError, match="holds another sweep"):
        sweep.run(other, tmp_path / "cut", resume=True, progress=False, log=None)


def test_four_devices_give_the_same_numbers(tmp_path, weights_file):
    # one device, one point per call, against four devices with four points per call:
    # neither the device count nor the chunking changes a number
    text = _spec_text(weights_file, "chip = [0, 1, 2, 3, 4]")
    path = _write(tmp_path / "s.toml", text)
    one = sweep.run(sweep.load_spec(path), tmp_path / "one", progress=False, points_per_device=1, log=None)
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    env = {**os.environ, "XLA_FLAGS": flags.strip(), "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "-m", "xbar", "sweep", str(path), "--out", str(tmp_path / "four"), "--no-progress",
           "--points-per-device", "1"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    four = sweep.read_results(tmp_path / "four")
    assert {r["devices"] for r in four} == {4} and "4 device(s)" in proc.stdout
    assert [(r["point"], r["correct"]) for r in four] == [(r["point"], r["correct"]) for r in one]


def test_endurance_time_and_card_parameter_axes(tmp_path, weights_file):
    axes = "endurance_cycles = [1.0, 1e12]\ndevice.d2d_sigma = [0.0, 0.3]\nt = [1.0, 3.15e7]"
    spec = sweep.load_spec(_write(tmp_path / "s.toml", _spec_text(weights_file, axes)))
    rows = sweep.run(spec, tmp_path / "o", progress=False, log=None)
    assert len(rows) == 8
    fresh = [r["accuracy"] for r in rows if r["endurance_cycles"] == 1.0]
    worn = [r["accuracy"] for r in rows if r["endurance_cycles"] == 1e12]
    # 1e12 cycles is 1e5 Weibull scales of rram_hfox: every cell has worn out, stuck
    assert max(worn) <= 0.2 < min(fresh)
    # the card parameter and the time reach the chips: the four fresh points all differ
    assert len({r["correct"] for r in rows if r["endurance_cycles"] == 1.0}) == 4


def test_cli_sweep_resumes_and_plots(tmp_path, capsys, weights_file):
    # (training inside a sweep runs in notebooks/d_adc_endurance_sweep)
    path = _write(
        tmp_path / "s.toml",
        f"""
name = "cli"
[base]
hidden = [{HIDDEN}]
tile_rows = 32
tile_cols = 32
test_samples = 64
[axes]
adc_bits = [4, 8]
dac_bits = [0, 4]
""",
    )
    out = tmp_path / "run"
    args = ["sweep", str(path), "--out", str(out), "--no-progress", "--weights", str(weights_file)]
    assert main([*args, "--plot", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 10_000
    meta = json.loads((out / sweep.META).read_text())
    assert meta["training"] == {"source": str(weights_file)}
    rows = sweep.read_results(out)  # two groups (binary drivers, a 4-bit DAC), each vmapped over adc_bits
    assert [(r["adc_bits"], r["dac_bits"]) for r in rows] == [(4, 0), (4, 4), (8, 0), (8, 4)]
    before = (out / sweep.RESULTS).read_text()
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0  # nothing left to run
    assert (out / sweep.RESULTS).read_text() == before
    assert main(["plot", str(out)]) == 0 and (out / "sweep.png").exists()
    assert main(["plot", str(out), "--out", str(tmp_path / "x.txt")]) == 2
    assert main(["plot", str(tmp_path / "nowhere")]) == 2
    assert "no results.csv" in capsys.readouterr().err
