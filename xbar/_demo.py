"""`xbar demo`: train a small SNN on the embedded digits with RRAM in the loop, then
evaluate the same weights ideal and programmed on every device family.

Steps (all numbers printed are measured in this run):

1. Load the embedded UCI digits (8×8, 1,438 train / 359 test, stratified by index).
2. Build a 64-128-10 LIF network (β = 0.9, θ = 1, fast-sigmoid surrogate), rate-coded
   inputs over T = 25 steps.
3. Train it with the crossbar read path in the loop on `rram_hfox` arrays
   (64 × 64 tiles, binary spike row drivers, 6-bit ADC per tile, every device effect
   on; a freshly
   fabricated chip at every step), and, for comparison, train the same network ideally.
4. Evaluate both weight sets on `chips` freshly fabricated and programmed chips of each
   family: RRAM, PCM (1 s and 1 day after programming, with global drift compensation),
   STT-MRAM (8 MTJs per device) and floating gate; report mean ± std over chips.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import jax
import numpy as np

from .circuit import CrossbarSpec
from .data import load_digits
from .devices import load
from .learn import TrainConfig, evaluate, init_weights, train
from .snn import LIF, Network, SpikingDense

__all__ = ["DemoConfig", "run_demo", "format_table", "demo_figure", "DEMO_EVALS"]

# (label, card, time since programming [s])
DEMO_EVALS = (
    ("RRAM HfOx (1 s)", "rram_hfox", 1.0),
    ("PCM GST (1 s)", "pcm_gst", 1.0),
    ("PCM GST (1 day)", "pcm_gst", 86400.0),
    ("STT-MRAM (1 s)", "stt_mtj", 1.0),
    ("Floating gate (1 s)", "fg_flash", 1.0),
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DemoConfig:
    epochs: int = 30
    chips: int = 5
    hidden: int = 128
    num_steps: int = 25
    tile: int = 64
    adc_bits: int = 6
    seed: int = 0
    train_card: str = "rram_hfox"


def _specs(device, sizes, cfg: DemoConfig):
    return tuple(
        CrossbarSpec(
            device=device, rows=a, cols=b, tile_rows=cfg.tile, tile_cols=cfg.tile, dac_bits=None, adc_bits=cfg.adc_bits
        )
        for a, b in zip(sizes[:-1], sizes[1:])
    )


def run_demo(cfg: DemoConfig = DemoConfig(), *, progress: bool = True, log=print) -> dict:
    """Run the demo; returns the results as a JSON-ready dict."""
    t_start = time.perf_counter()
    ds = load_digits()
    sizes = (ds.x_train.shape[1], cfg.hidden, 10)
    neuron = LIF(beta=0.9, threshold=1.0)
    net = Network(layers=tuple(SpikingDense(neuron=neuron) for _ in sizes[1:]))
    key = jax.random.key(cfg.seed)
    k_init, k_hil, k_naive, k_eval = jax.random.split(key, 4)
    w0 = init_weights(sizes, key=k_init)

    train_specs = _specs(load(cfg.train_card), sizes, cfg)
    hil_cfg = TrainConfig(num_steps=cfg.num_steps, epochs=cfg.epochs, resample_chips=True, seed=cfg.seed)
    log(f"training {'-'.join(map(str, sizes))} LIF SNN on digits with {cfg.train_card} in the loop ...")
    t0 = time.perf_counter()
    w_hil, hist_hil = train(
        net,
        w0,
        ds.x_train,
        ds.y_train,
        key=k_hil,
        config=hil_cfg,
        specs=train_specs,
        progress=progress,
        desc="HIL train",
    )
    t_hil = time.perf_counter() - t0
    log("training the same network ideally (for comparison) ...")
    t0 = time.perf_counter()
    w_naive, hist_naive = train(
        net,
        w0,
        ds.x_train,
        ds.y_train,
        key=k_naive,
        config=dataclasses.replace(hil_cfg, resample_chips=False),
        progress=progress,
        desc="ideal train",
    )
    t_naive = time.perf_counter() - t0

    ev = dict(num_steps=cfg.num_steps, encoder="rate")
    ideal_acc = float(evaluate(net, w_hil, ds.x_test, ds.y_test, key=k_eval, **ev)[0])
    naive_ideal_acc = float(evaluate(net, w_naive, ds.x_test, ds.y_test, key=k_eval, **ev)[0])
    rows, hardware = [], {}
    devices = {}
    from tqdm.auto import tqdm

    for label, card, t in tqdm(DEMO_EVALS, desc="evaluate", disable=not progress, leave=False):
        dev = devices.setdefault(card, load(card))
        specs = _specs(dev, sizes, cfg)
        acc = evaluate(net, w_hil, ds.x_test, ds.y_test, key=k_eval, specs=specs, chips=cfg.chips, t=t, **ev)
        acc_n = evaluate(net, w_naive, ds.x_test, ds.y_test, key=k_eval, specs=specs, chips=cfg.chips, t=t, **ev)
        row = {
            "label": label,
            "card": card,
            "t_s": t,
            "acc": float(acc.mean()),
            "acc_std": float(acc.std()),
            "acc_per_chip": acc.tolist(),
            "naive_acc": float(acc_n.mean()),
            "naive_acc_std": float(acc_n.std()),
        }
        rows.append(row)
        entry = hardware.setdefault(card, {"by_time": {}})
        entry["by_time"][f"{t:g}"] = {
            k: row[k] for k in ("acc", "acc_std", "acc_per_chip", "naive_acc", "naive_acc_std")
        }
        if "acc" not in entry:  # the first (1 s) evaluation is the headline figure
            entry.update({"acc": row["acc"], "acc_std": row["acc_std"], "t_s": t})
        if t == 86400.0:
            entry["acc_1day"] = row["acc"]
            entry["acc_1day_std"] = row["acc_std"]

    return {
        "dataset": "digits",
        "network": {
            "sizes": list(sizes),
            "neuron": "LIF beta=0.9 threshold=1 subtract reset",
            "num_steps": cfg.num_steps,
            "encoder": "rate",
        },
        "array": {
            "tile": [cfg.tile, cfg.tile],
            "dac_bits": None,
            "adc_bits": cfg.adc_bits,
            "mapping": "differential",
            "effects": "all on",
            "chips": cfg.chips,
        },
        "train": {
            "card": cfg.train_card,
            "epochs": cfg.epochs,
            "resample_chips": True,
            "final_train_acc": hist_hil["acc"][-1],
            "seconds": t_hil,
            "history": hist_hil,
        },
        "ideal_acc": ideal_acc,
        "naive": {"ideal_acc": naive_ideal_acc, "seconds": t_naive, "final_train_acc": hist_naive["acc"][-1]},
        "hardware": hardware,
        "rows": rows,
        "seconds": time.perf_counter() - t_start,
        "config": dataclasses.asdict(cfg),
        "versions": {"python": sys.version.split()[0], "jax": jax.__version__, "numpy": np.__version__},
    }


def format_table(result: dict) -> str:
    """The results as a plain-text table."""
    lines = [
        f"{'array':<22}{'trained with HW in loop':>26}{'trained ideal':>22}",
        f"{'ideal (no hardware)':<22}{100 * result['ideal_acc']:>25.1f}%{100 * result['naive']['ideal_acc']:>21.1f}%",
    ]
    for r in result["rows"]:
        hil = f"{100 * r['acc']:.1f} ± {100 * r['acc_std']:.1f}%"
        naive = f"{100 * r['naive_acc']:.1f} ± {100 * r['naive_acc_std']:.1f}%"
        lines.append(f"{r['label']:<22}{hil:>26}{naive:>22}")
    n = result["array"]["chips"]
    lines.append(f"(test accuracy on {result['dataset']}; mean ± std over {n} fabricated chips per row)")
    return "\n".join(lines)


def demo_figure(result: dict):
    """Accuracy bars and the training curve, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plot import plot_demo_accuracy, plot_training

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1.6, 1]})
    plot_demo_accuracy(result, ax=a1)
    plot_training(result["train"]["history"], ax=a2)
    fig.tight_layout()
    return fig
