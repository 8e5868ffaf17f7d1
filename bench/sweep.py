#!/usr/bin/env python
"""Sweep throughput (points/s): the vmapped, sharded `xbar.sweep` runner vs a Python
loop over the same points with `xbar.learn.evaluate`, in one process.

The sweep: a 64-128-10 LIF network trained once on the embedded digits (ideal, 10
epochs), evaluated on freshly fabricated `rram_hfox` chips (64 × 64 tiles, spike row
drivers, 8-bit ADCs, every effect, read 1 s after programming) on all 359 test digits,
at every point of `--sigmas` device-to-device spreads (`device.d2d_sigma`) × `--chips`
chips: one group, so both sides compile once.

* `runner` — `xbar.sweep.run(spec, DIR, points_per_device=P)`: `P` points per device in
  each compiled call (default the runner's: 1 on CPU, 16 on GPU), results written to
  DIR after every chunk, as in real use;
* `loop`   — for each point, the card with that spread, one `CrossbarSpec` per layer and
  `learn.evaluate(..., specs=specs, chips=1, t=1.0)`: what a user writes without the
  runner.

Each side runs twice: `cold` includes compilation, `warm` is the second pass (the
runner's compiled function is reused by a later run in the same process). Ratios are
runner points/s over loop points/s. With `--adc`, the shipped ADC spec's shape
(7 ADC resolutions × 5 chips) is timed the same way.

Usage: python bench/sweep.py [--sigmas 8] [--chips 8] [--ppd 16] [--adc] [--json F]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--sigmas", type=int, default=8, help="d2d spreads, 0 ... 0.3")
p.add_argument("--chips", type=int, default=8)
p.add_argument("--ppd", type=int, default=None, help="points per device per compiled call (default: the runner's)")
p.add_argument("--adc", action="store_true", help="also time the ADC-bits spec shape (7 groups x 5 chips)")
p.add_argument("--threads", type=int, default=0, help="CPU threads for XLA (0 = default)")
p.add_argument("--json", default=None)
ARGS = p.parse_args()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _threads import set_xla_threads  # noqa: E402

set_xla_threads(ARGS.threads)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from _results import save_results  # noqa: E402

import xbar  # noqa: E402
from xbar import learn, sweep  # noqa: E402
from xbar.data import load_digits  # noqa: E402
from xbar.snn import LIF, Network, SpikingDense  # noqa: E402

SIZES = (64, 128, 10)


def train_weights(path):
    ds = load_digits()
    net = Network(layers=tuple(SpikingDense(neuron=LIF(beta=0.9, threshold=1.0)) for _ in SIZES[1:]))
    w0 = learn.init_weights(SIZES, key=jax.random.key(0))
    w, _ = learn.train(net, w0, ds.x_train, ds.y_train, key=jax.random.key(1),
                       config=learn.TrainConfig(epochs=10), progress=False)  # fmt: skip
    np.savez(path, **{f"w{i}": np.asarray(x) for i, x in enumerate(w)})
    return net, w, ds


def loop(net, w, ds, points):
    dev0 = xbar.devices.load("rram_hfox")
    accs = []
    for pt in points:
        dev = dataclasses.replace(dev0, d2d_sigma=pt.get("device.d2d_sigma", dev0.d2d_sigma))
        specs = [
            xbar.CrossbarSpec(device=dev, rows=a, cols=b, tile_rows=64, tile_cols=64, dac_bits=None,
                              adc_bits=pt.get("adc_bits", 8))
            for a, b in zip(SIZES, SIZES[1:])
        ]  # fmt: skip
        key = jax.random.fold_in(jax.random.key(7), pt["chip"])
        accs.append(float(learn.evaluate(net, w, ds.x_test, ds.y_test, key=key, specs=specs, chips=1, t=1.0)[0]))
    return accs


def timed(f):
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def compare(name, spec_dict, weights_path, net, w, ds, root):
    spec = sweep.parse_spec(spec_dict)
    points = spec.points()
    n = len(points)
    res = {"points": n}
    for phase in ("cold", "warm"):
        out = os.path.join(root, f"{name}-{phase}")
        t_run, rows = timed(lambda o=out: sweep.run(spec, o, progress=False, points_per_device=ARGS.ppd, log=None))
        t_loop, accs = timed(lambda: loop(net, w, ds, points))
        res[phase] = {
            "runner_s": t_run,
            "loop_s": t_loop,
            "runner_points_per_s": n / t_run,
            "loop_points_per_s": n / t_loop,
            "ratio": t_loop / t_run,
        }
        res["runner_mean_accuracy"] = float(np.mean([r["accuracy"] for r in rows]))
        res["loop_mean_accuracy"] = float(np.mean(accs))
        print(
            f"{name:<6} {phase:<5} {n:>4} points  runner {t_run:7.2f} s ({n / t_run:7.1f} points/s)  "
            f"loop {t_loop:7.2f} s ({n / t_loop:6.1f} points/s)  runner/loop {t_loop / t_run:5.1f}x"
        )
    return res


def main():
    root = tempfile.mkdtemp(prefix="xbar-bench-sweep-")
    try:
        wpath = os.path.join(root, "w.npz")
        net, w, ds = train_weights(wpath)
        base = {"hidden": [128], "weights": wpath, "tile_rows": 64, "tile_cols": 64, "card": "rram_hfox", "t": 1.0}
        sigmas = [round(0.3 * i / max(ARGS.sigmas - 1, 1), 4) for i in range(ARGS.sigmas)]
        ppd = ARGS.ppd or (1 if jax.default_backend() == "cpu" else 16)
        print(f"{len(jax.devices())} device(s), backend {jax.default_backend()}, {ppd} points per device per call")
        results = {
            "d2d": compare(
                "d2d",
                {"base": base, "axes": {"device": {"d2d_sigma": sigmas}, "chip": list(range(ARGS.chips))}},
                wpath,
                net,
                w,
                ds,
                root,
            )  # fmt: skip
        }
        if ARGS.adc:
            results["adc"] = compare(
                "adc", {"base": base, "axes": {"adc_bits": list(range(2, 9)), "chip": list(range(5))}},
                wpath, net, w, ds, root,
            )  # fmt: skip
        save_results(ARGS.json, results, ppd=ARGS.ppd, threads=ARGS.threads)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
