#!/usr/bin/env python
"""Energy per inference of a 784-256-10 LIF network on each device family, with the
ADC's share, and the cost of the accounting itself.

The network (β = 0.9, T = 25, rate-coded inputs, `ce_rate_loss`) is trained ideally on
the MNIST split (`xbar.data.load_mnist`, 8,000 train / 2,000 test by index) for
`--epochs`, then programmed on one chip of every card (128 × 128 tiles, spike row
drivers, 8-bit ADCs, every device effect) and run on `--n` test images with
`xbar.energy.inference_energy`. Each card is costed twice: with the default periphery
(`EnergyModel()`: survey-median SAR FOM 31 fJ/step, 8 columns per ADC, Loihi neuron
costs) and with ISAAC's ADC (`EnergyModel.isaac()`: 1.67 pJ per 8-bit conversion).
Also printed: the energy per synaptic operation (per MAC of the dense layers) and the
time of `inference_energy` over the plain hardware run (`Network.run` on the same
arrays), as a ratio in the same process.

Usage: python bench/energy.py --mnist ../shared/data/mnist [--epochs 3] [--n 1000] [--json F]
"""

from __future__ import annotations

import argparse
import os
import sys

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--mnist", required=True, help="directory with the MNIST IDX files")
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--n", type=int, default=1000, help="test images costed")
p.add_argument("--cards", default="rram_hfox,pcm_gst,stt_mtj,fg_flash")
p.add_argument("--runs", type=int, default=5, help="timing rounds of the accounting overhead")
p.add_argument("--threads", type=int, default=0, help="CPU threads for XLA (0 = default)")
p.add_argument("--json", default=None)
ARGS = p.parse_args()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _threads import set_xla_threads  # noqa: E402

set_xla_threads(ARGS.threads)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _results import paired_ratio, save_results  # noqa: E402

import xbar  # noqa: E402
from xbar import energy, learn, snn  # noqa: E402

SIZES = (784, 256, 10)
T = 25


def main() -> int:
    data = xbar.data.load_mnist(ARGS.mnist)
    net = snn.Network(layers=tuple(snn.SpikingDense(neuron=snn.LIF(beta=0.9)) for _ in SIZES[1:]))
    cfg = learn.TrainConfig(num_steps=T, epochs=ARGS.epochs, batch_size=128, lr=2e-3, loss="ce_rate")
    w0 = learn.init_weights(SIZES, key=jax.random.key(0))
    w, _ = learn.train(net, w0, data.x_train, data.y_train, key=jax.random.key(1), config=cfg, desc="ideal")
    x = jnp.asarray(data.x_test[: ARGS.n])
    y = jnp.asarray(data.y_test[: ARGS.n])
    x_seq = learn.encode(x, T, encoder="rate", key=jax.random.key(2))
    macs = T * sum(a * b for a, b in zip(SIZES, SIZES[1:]))
    models = {"default": energy.EnergyModel(), "isaac": energy.EnergyModel.isaac()}

    @jax.jit
    def account(arrays, xs, k):  # inputs as arguments: as closure constants XLA would constant-fold them
        return {name: energy.inference_energy(net, arrays, xs, key=k, model=m) for name, m in models.items()}

    @jax.jit
    def plain(arrays, xs, k):
        return net.run(arrays, xs, key=k)

    results = {"macs_per_inference": macs, "cards": {}}
    print(f"{'card':<12} {'model':<8} {'total nJ':>9} {'array':>7} {'dac':>7} {'adc':>7} {'neuron':>7} {'spike':>7} "
          f"{'ADC %':>6} {'fJ/MAC':>7} {'conv':>7} {'lat us':>7} {'acc':>6}")  # fmt: skip
    for card in ARGS.cards.split(","):
        dev = xbar.devices.load(card)
        specs = [
            xbar.CrossbarSpec(device=dev, rows=a, cols=b, dac_bits=None, adc_bits=8) for a, b in zip(SIZES, SIZES[1:])
        ]
        k_fab, k_prog, k_read = jax.random.split(jax.random.key(3), 3)
        arrays = [
            xbar.program(xbar.fabricate(s, key=jax.random.fold_in(k_fab, i)), wi, key=jax.random.fold_in(k_prog, i))
            for i, (s, wi) in enumerate(zip(specs, w))
        ]
        reps = account(arrays, x_seq, k_read)
        row = {}
        for name, (rep, out) in reps.items():
            acc = float(jnp.mean(learn.predict(out) == y))
            s = rep.summary()
            s.update(accuracy=acc, fJ_per_mac=s["total_J"] / macs * 1e15, per_layer_J=[float(v) for v in rep.per_layer])
            row[name] = s
            print(
                f"{card:<12} {name:<8} {s['total_J'] * 1e9:9.2f} {s['array_J'] * 1e9:7.3f} {s['dac_J'] * 1e9:7.3f} "
                f"{s['adc_J'] * 1e9:7.3f} {s['neuron_J'] * 1e9:7.3f} {s['spike_J'] * 1e9:7.3f} "
                f"{100 * s['adc_share']:6.1f} {s['fJ_per_mac']:7.1f} {s['conversions']:7.0f} "
                f"{s['latency_s'] * 1e6:7.2f} {acc:6.1%}"
            )
        t_acc, ratio = paired_ratio(ARGS.runs, account, (arrays, x_seq, k_read), plain, (arrays, x_seq, k_read))
        row["accounting_s"], row["accounting_vs_run"] = t_acc, ratio
        print(f"{card:<12} accounting (both models) {t_acc * 1e3:.1f} ms for {ARGS.n} images, {ratio:.2f}x the run")
        results["cards"][card] = row
    if ARGS.json:
        save_results(ARGS.json, results, **vars(ARGS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
