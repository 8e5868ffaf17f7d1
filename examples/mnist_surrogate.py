"""MNIST with the hardware in the loop: the surrogate-gradient results of issue 5.

784-256-10 LIF network (β = 0.9), rate-coded inputs, T = 25, snnTorch's `ce_rate_loss`,
Adam; the real MNIST test set split 8,000 train / 2,000 test by index
(`xbar.data.load_mnist`). Arrays: 128 × 128 tiles, binary spike row drivers, 8-bit
ADCs, every device effect on. Reports, each as mean ± std over `--chips` freshly
fabricated chips:

1. ideal training, evaluated on ideal weights;
2. the same weights programmed on RRAM (`rram_hfox`), naive;
3. hardware-aware training on RRAM (a fresh chip every step), on RRAM;
4. hardware-aware training on PCM (`pcm_gst`), read 1 s and 1 day after programming
   with global drift compensation (`learn.evaluate_over_time`).

    python examples/mnist_surrogate.py --mnist ../shared/data/mnist [--epochs 15]
        [--chips 5] [--json results.json]

The JSON is written atomically at the end with the settings, the machine and the times.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import jax

import xbar
from xbar import learn, snn
from xbar._io import write_json_atomic

SIZES = (784, 256, 10)


def _specs(card: str):
    dev = xbar.devices.load(card)
    return [
        xbar.CrossbarSpec(device=dev, rows=a, cols=b, tile_rows=128, tile_cols=128, dac_bits=None, adc_bits=8)
        for a, b in zip(SIZES, SIZES[1:], strict=False)
    ]


def _stats(acc) -> dict:
    acc = [float(a) for a in acc]
    mean = sum(acc) / len(acc)
    var = sum((a - mean) ** 2 for a in acc) / max(len(acc) - 1, 1)
    return {"mean": mean, "std": var**0.5, "per_chip": acc}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", required=True, help="directory with the MNIST test-set IDX files")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--chips", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the results here (atomically)")
    args = p.parse_args(argv)
    for name in ("epochs", "chips"):
        if getattr(args, name) < 1:
            p.error(f"--{name}: expected a positive int, got {getattr(args, name)}")

    data = xbar.data.load_mnist(args.mnist)
    net = snn.Network(layers=(snn.SpikingDense(neuron=snn.LIF(beta=0.9)), snn.SpikingDense(neuron=snn.LIF(beta=0.9))))
    w0 = learn.init_weights(SIZES, key=jax.random.key(args.seed))
    cfg = learn.TrainConfig(num_steps=25, epochs=args.epochs, batch_size=128, lr=2e-3, loss="ce_rate", seed=args.seed)
    cfg_hw = dataclasses.replace(cfg, resample_chips=True)
    k_train, k_eval = jax.random.split(jax.random.key(args.seed + 1))
    x, y, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
    out, times = {}, {}

    t0 = time.perf_counter()
    w_ideal, _ = learn.train(net, w0, x, y, key=k_train, config=cfg, desc="ideal")
    out["ideal"] = _stats(learn.evaluate(net, w_ideal, xt, yt, key=k_eval))
    times["ideal_s"] = time.perf_counter() - t0
    print(f"ideal: {out['ideal']['mean']:.2%}", flush=True)

    rram = _specs("rram_hfox")
    out["rram_naive"] = _stats(learn.evaluate(net, w_ideal, xt, yt, key=k_eval, specs=rram, chips=args.chips, t=1.0))
    print(f"RRAM, trained ideal: {out['rram_naive']['mean']:.2%} ± {out['rram_naive']['std']:.2%}", flush=True)

    t0 = time.perf_counter()
    w_hw, _ = learn.train(net, w0, x, y, key=k_train, config=cfg_hw, specs=rram, desc="RRAM in the loop")
    times["rram_hwa_s"] = time.perf_counter() - t0
    out["rram_hwa"] = _stats(learn.evaluate(net, w_hw, xt, yt, key=k_eval, specs=rram, chips=args.chips, t=1.0))
    print(f"RRAM, trained in the loop: {out['rram_hwa']['mean']:.2%} ± {out['rram_hwa']['std']:.2%}", flush=True)

    pcm = _specs("pcm_gst")
    t0 = time.perf_counter()
    w_pcm, _ = learn.train(net, w0, x, y, key=k_train, config=cfg_hw, specs=pcm, desc="PCM in the loop")
    times["pcm_hwa_s"] = time.perf_counter() - t0
    r = learn.evaluate_over_time(
        net, w_pcm, xt, yt, key=k_eval, specs=pcm, chips=args.chips, times=[1.0, 86400.0], num_steps=25
    )
    out["pcm_hwa_1s"], out["pcm_hwa_1day"] = _stats(r.accuracy[0]), _stats(r.accuracy[1])
    print(
        f"PCM, trained in the loop: 1 s {out['pcm_hwa_1s']['mean']:.2%} ± {out['pcm_hwa_1s']['std']:.2%}, "
        f"1 day {out['pcm_hwa_1day']['mean']:.2%} ± {out['pcm_hwa_1day']['std']:.2%}",
        flush=True,
    )
    if args.json:
        env = {"jax": jax.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count()}
        settings = {"sizes": SIZES, "epochs": args.epochs, "chips": args.chips, "seed": args.seed, "T": 25}
        write_json_atomic(args.json, {"settings": settings, "env": env, "times": times, "results": out})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
