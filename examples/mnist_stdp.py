"""MNIST by unsupervised STDP: the Diehl & Cook (2015) results of issue 5.

784 Poisson inputs (pixel/4 Hz, i.e. up to 63.75 Hz), 100 excitatory LIF neurons with
adaptive thresholds and lateral inhibition, 350 ms presentations at 0.5 ms steps,
D&C's nearest-spike STDP and weight normalization (`xbar.learn.DiehlCook` defaults),
on the real MNIST test set split 8,000 train / 2,000 test by index. After learning,
each neuron is labelled by its mean response per class over the training samples and
the test samples are classified by the labelled neurons' responses.

Runs, each from the same initial weights and keys:

1. ideal weights;
2. weights held in RRAM cells (`rram_hfox`, every device effect), written by pulses;
3. weights held in stochastic STT-MRAM cells (`stt_mtj_stochastic`), written by pulses.

`--write accumulate` keeps a digital residual per cell and pulses only whole nominal
steps (mixed precision) instead of rounding every increment stochastically;
`--without write_noise` (any `xbar.Effects` names) switches device effects off, to see
which one costs accuracy.

    python examples/mnist_stdp.py --mnist ../shared/data/mnist [--epochs 1]
        [--runs ideal,rram_hfox,stt_mtj_stochastic] [--json results.json]

The JSON is written atomically after every run, with the settings, the machine, the
times and the training throughput.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np

import xbar
from xbar import learn
from xbar._io import write_json_atomic


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", required=True, help="directory with the MNIST test-set IDX files")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--neurons", type=int, default=100)
    p.add_argument("--runs", default="ideal,rram_hfox,stt_mtj_stochastic", help="comma-separated: ideal or card names")
    p.add_argument("--without", default="", help="device effects to switch off, comma-separated (e.g. write_noise)")
    p.add_argument("--write", choices=("stochastic", "accumulate"), default="stochastic",
                   help="how increments become pulses on the devices (learn.diehl_cook_init)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the results here (atomically, after each run)")
    args = p.parse_args(argv)
    for name in ("epochs", "neurons"):
        if getattr(args, name) < 1:
            p.error(f"--{name}: expected a positive int, got {getattr(args, name)}")
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    for r in runs:
        if r != "ideal" and r not in xbar.devices.available():
            p.error(f"--runs: expected 'ideal' or one of {xbar.devices.available()}, got {r!r}")

    data = xbar.data.load_mnist(args.mnist)
    x = data.x_train.reshape(len(data.x_train), -1)
    xt = data.x_test.reshape(len(data.x_test), -1)
    net = learn.DiehlCook(n_neurons=args.neurons)
    without = [e.strip() for e in args.without.split(",") if e.strip()]
    effects = xbar.Effects().without(*without) if without else xbar.Effects()
    suffix = f" (without {', '.join(without)})" if without else ""
    suffix += f" [{args.write}]"
    k_init, k_train, k_assign, k_test = jax.random.split(jax.random.key(args.seed), 4)
    out = {}
    for run in runs:
        device = None if run == "ideal" else xbar.devices.load(run)
        state = learn.diehl_cook_init(net, key=k_init, device=device, effects=effects, write=args.write)
        t0 = time.perf_counter()
        state, spikes = learn.diehl_cook_train(net, state, x, key=k_train, epochs=args.epochs, effects=effects)
        t_train = time.perf_counter() - t0
        counts = learn.diehl_cook_responses(net, state, x, key=k_assign)
        labels = learn.assign_labels(counts, data.y_train)
        pred = learn.classify(learn.diehl_cook_responses(net, state, xt, key=k_test), labels)
        acc = float(np.mean(pred == data.y_test))
        res = {
            "accuracy": acc,
            "train_s": t_train,
            "samples_per_s": args.epochs * len(x) / t_train,
            "presentations": int(state.samples),
            "dropped_depressions": int(state.dropped),
            "mean_output_spikes": float(spikes.mean()),
            "theta_mean_mV": float(state.theta.mean()) * 1e3,
            "classes": np.bincount(labels, minlength=10).tolist(),
        }
        if device is not None:
            res.update(write_pulses=float(state.pulses), write_energy_J=float(state.energy))
        run = run + suffix if device is not None else run
        out[run] = res
        print(
            f"{run}: {acc:.2%} on {len(xt)} test samples; {res['samples_per_s']:.0f} samples/s in training"
            + (f"; {res['write_pulses']:.3g} pulses, {res['write_energy_J']:.3g} J" if device is not None else ""),
            flush=True,
        )
        if args.json:
            env = {"jax": jax.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count()}
            settings = {"n_neurons": args.neurons, "epochs": args.epochs, "seed": args.seed, "n_train": len(x)}
            write_json_atomic(args.json, {"settings": settings, "env": env, "results": out})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
