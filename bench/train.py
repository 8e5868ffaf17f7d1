#!/usr/bin/env python
"""Training throughput (samples/s): the surrogate-gradient step that `learn.train` runs,
with the hardware in the loop vs plain `jnp.dot` vs snnTorch, and Diehl & Cook STDP.

Surrogate: 784-256-10 LIF (β = 0.9, θ = 1), T = 25, batch 128, rate encoding inside
the step (as `learn.train` does it), `ce_rate_loss`, Adam — the loss function of
`learn.train` itself (`xbar.learn._train._make_loss`), one jitted step each:

* `plain`    — weight matrices (`x @ W`);
* `hw`       — `rram_hfox` arrays on 128×128 tiles, binary spike row drivers, 8-bit
               ADCs, every device effect, the weights re-programmed every step, a fixed
               chip (`resample_chips=False`);
* `hw-fresh` — `hw` with a freshly fabricated chip every step (`resample_chips=True`);
* on request (`--variants`), a breakdown: `hw-ideal` (every effect off), `hw-adc` (only
  the ADCs), `hw-noadc` (every effect but the ADCs).

Variants are timed round-robin so that they share machine conditions; the ratio is
the median of the per-round ratios to `plain`. snnTorch runs the same network
(`../shared/bench/bench_snntorch.py`, its `hoisted` variant, 1 torch thread) in a
separate interpreter given by `--snntorch-python` (a venv with torch 2.13.0 CPU and
snntorch), on pre-generated spikes — so it has no encoding cost in its step.

STDP: `learn.diehl_cook_train` on the first `--stdp-samples` MNIST training images
(`xbar.data.find_mnist()`, or `--mnist DIR`), 100 neurons, 350 ms at 0.5 ms steps, with
ideal weights, RRAM cells and stochastic STT-MRAM cells; samples/s after compiling.

Usage: python bench/train.py [--threads N] [--runs 20] [--snntorch-python PATH]
       [--stdp-samples 500] [--json out.json]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--threads", type=int, default=0, help="CPU threads for XLA (0 = default, all cores)")
p.add_argument("--runs", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--snntorch-python", default=None, help="python of a venv with torch and snntorch")
p.add_argument("--mnist", default=None, help="MNIST directory (default: xbar.data.find_mnist())")
p.add_argument("--stdp-samples", type=int, default=500)
p.add_argument(
    "--variants",
    default="plain,hw,hw-fresh",
    help="surrogate variants: plain, hw, hw-fresh, and for a breakdown hw-ideal (every effect off), "
    "hw-adc (only the ADCs), hw-noadc (every effect but the ADCs)",
)
p.add_argument("--skip", default="", help="comma-separated parts to skip: surrogate, snntorch, stdp")
p.add_argument("--json", default=None)
ARGS = p.parse_args()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _threads import set_xla_threads  # noqa: E402

set_xla_threads(ARGS.threads)

import jax  # noqa: E402
from _results import save_results  # noqa: E402

import xbar  # noqa: E402
from xbar import learn  # noqa: E402
from xbar._bench import round_robin, surrogate_step  # noqa: E402

T, B, SIZES = 25, 128, (784, 256, 10)
SKIP = set(filter(None, ARGS.skip.split(",")))


def surrogate_variants():
    """``{name: (once, compile_s)}`` with `plain` first (the baseline of every ratio); the
    steps are `xbar._bench.surrogate_step`'s, as `xbar bench` times them."""
    names = ARGS.variants.split(",")
    out = {}
    for name in ["plain"] + [n for n in names if n != "plain"]:
        try:
            out[name] = surrogate_step(name, sizes=SIZES, num_steps=T, batch=B)
        except ValueError as err:
            raise SystemExit(f"--variants: {err}") from None
    return out


def run_surrogate():
    fns = surrogate_variants()
    timed = round_robin({v: f for v, (f, _) in fns.items()}, runs=ARGS.runs, warmup=ARGS.warmup)
    res = {}
    for v, t in timed.items():
        res[v] = {
            "median_ms": 1e3 * t["median_s"],
            "min_ms": 1e3 * t["min_s"],
            "samples_per_s": B / t["median_s"],
            "ratio_to_plain": t["ratio"],
            "compile_s": fns[v][1],
        }
        print(f"surrogate {v:<9} {res[v]['median_ms']:8.2f} ms/step  {res[v]['samples_per_s']:8.0f} samples/s  "
              f"{t['ratio']:.2f}x plain", flush=True)  # fmt: skip
    return res


def run_snntorch():
    py = ARGS.snntorch_python
    script = pathlib.Path(__file__).resolve().parents[2] / "shared" / "bench" / "bench_snntorch.py"
    if not py or not script.exists():
        print(f"snntorch: skipped (--snntorch-python {py!r}, script {script} exists: {script.exists()})")
        return None
    with tempfile.TemporaryDirectory() as d:
        js = pathlib.Path(d) / "snntorch.json"
        cmd = [py, str(script), "--threads", "1", "--runs", str(ARGS.runs), "--variants", "hoisted", "--json", str(js)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        r = json.loads(js.read_text())["results"]["hoisted"]["train_step"]
    res = {"median_ms": r["median_ms"], "min_ms": r["min_ms"], "samples_per_s": B / (r["median_ms"] / 1e3)}
    print(f"snntorch  hoisted   {r['median_ms']:8.2f} ms/step  {res['samples_per_s']:8.0f} samples/s (1 thread)")
    return res


def run_stdp():
    path = ARGS.mnist or xbar.data.find_mnist()
    if path is None:
        print("stdp: skipped (no MNIST found; pass --mnist DIR)")
        return None
    data = xbar.data.load_mnist(path)
    x = data.x_train.reshape(len(data.x_train), -1)
    n = ARGS.stdp_samples
    net = learn.DiehlCook()
    res = {}
    for run in ("ideal", "rram_hfox", "stt_mtj_stochastic"):
        dev = None if run == "ideal" else xbar.devices.load(run)
        st = learn.diehl_cook_init(net, key=jax.random.key(0), device=dev)
        st, _ = learn.diehl_cook_train(net, st, x[:100], key=jax.random.key(1), progress=False)  # compiles
        p0 = int(st.samples)
        t0 = time.perf_counter()
        st, _ = learn.diehl_cook_train(net, st, x[100 : 100 + n], key=jax.random.key(2), progress=False)
        jax.block_until_ready(st.w)
        dt = time.perf_counter() - t0
        res[run] = {"samples_per_s": n / dt, "presentations": int(st.samples) - p0, "samples": n}
        print(f"stdp      {run:<19} {n / dt:8.1f} samples/s ({int(st.samples) - p0} presentations of {n})",
              flush=True)  # fmt: skip
    return res


def main():
    results = {}
    if "surrogate" not in SKIP:
        results["surrogate"] = run_surrogate()
    if "snntorch" not in SKIP:
        results["snntorch"] = run_snntorch()
        if results["snntorch"] and "surrogate" in results:
            plain = results["surrogate"]["plain"]["median_ms"]
            print(f"snnTorch step / xbar plain step: {results['snntorch']['median_ms'] / plain:.2f}x")
    if "stdp" not in SKIP:
        results["stdp"] = run_stdp()
    save_results(ARGS.json, results, threads=ARGS.threads)


if __name__ == "__main__":
    main()
