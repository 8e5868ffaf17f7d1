#!/usr/bin/env python
"""One SNN training step with the crossbar read path in the loop vs plain `jnp.dot`.

Network: 784-256-10 LIF (β = 0.9, θ = 1, subtractive reset, fast-sigmoid 25), T = 25,
batch 128, Bernoulli rate inputs (pre-generated, not timed), snnTorch-style
`ce_rate_loss`, Adam. Every variant is one jitted step (forward, backward, Adam) timed
in this process; ratios are against the `plain` variant:

* `plain`       — xbar's `Network.run` with weight matrices (ideal `x @ W`).
* `plain-loop`  — an independent plain-JAX LIF with the matmul inside the time scan
                  (the snnTorch-like structure), for context.
* `hw`          — programmed `rram_hfox` arrays, 128×128 tiles, binary spike row drivers
                  (no DAC: every layer's inputs are spikes), 8-bit ADC per tile,
                  every device effect on (d2d, write noise, stuck cells, read noise
                  as one conductance snapshot per step), a fixed fabricated chip; the
                  weights are re-programmed (fresh write noise) every step.
* `hw-fresh`    — `hw` plus a freshly fabricated chip every step.
* `hw-noadc`    — `hw` without ADCs (tiles summed in analog).
* `hw-out`      — `hw` with exact per-read output noise (`read_noise="output"`).
* `hw-ident`    — `hw` with the identity straight-through estimator for the ADC
                  (`adc_ste="identity"`; the default `"clipped"` zeroes the gradient of
                  saturated conversions, which needs a mask per tile in the backward pass).

Usage: python bench/snn_step.py [--threads N] [--runs 20] [--warmup 3] [--json out.json]
Thread control happens before JAX is imported.
"""

import argparse
import os
import statistics
import sys
import time

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--threads", type=int, default=0, help="CPU threads for XLA (0 = default, all cores)")
p.add_argument("--runs", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--variants", default="plain,plain-loop,hw,hw-ident,hw-fresh,hw-noadc,hw-out")
p.add_argument("--json", default=None)
ARGS = p.parse_args()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _threads import set_xla_threads  # noqa: E402

set_xla_threads(ARGS.threads)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from _results import save_results  # noqa: E402

import xbar  # noqa: E402
from xbar import snn  # noqa: E402
from xbar.learn import ce_rate_loss, hardware_forward, init_weights  # noqa: E402

T, B, SIZES = 25, 128, (784, 256, 10)


def inputs(key):
    kr, ks, ky = jax.random.split(key, 3)
    rates = jax.random.uniform(kr, (B, SIZES[0]))
    x = (jax.random.uniform(ks, (T, B, SIZES[0])) < rates[None]).astype(jnp.float32)
    return x, jax.random.randint(ky, (B,), 0, 10)


NET = snn.Network(layers=tuple(snn.SpikingDense(neuron=snn.LIF(beta=0.9)) for _ in SIZES[1:]))


def plain_loop_loss(ws, x, y):
    w1, w2 = ws
    lif = snn.LIF(beta=0.9)

    def body(carry, xt):
        m1, m2 = carry
        m1, s1 = lif.step(m1, xt @ w1)
        m2, s2 = lif.step(m2, s1 @ w2)
        return (m1, m2), s2

    init = (jnp.zeros((B, SIZES[1])), jnp.zeros((B, SIZES[2])))
    _, spk = jax.lax.scan(body, init, x)
    return ce_rate_loss(spk, y)


def make_step(variant, opt):
    if variant == "plain":

        def loss(ws, chips, x, y, key):
            return ce_rate_loss(NET.run(ws, x).spikes[-1], y)
    elif variant == "plain-loop":

        def loss(ws, chips, x, y, key):
            return plain_loop_loss(ws, x, y)
    else:
        fresh = variant == "hw-fresh"

        def loss(ws, chips, x, y, key):
            k_fab, k = jax.random.split(key)
            if fresh:
                kk = jax.random.split(k_fab, len(chips))
                chips = tuple(xbar.fabricate(c.spec, key=q) for c, q in zip(chips, kk))
            return ce_rate_loss(hardware_forward(NET, ws, chips, x, key=k).spikes[-1], y)

    @jax.jit
    def step(ws, opt_state, chips, x, y, key):
        value, grads = jax.value_and_grad(loss)(ws, chips, x, y, key)
        updates, opt_state = opt.update(grads, opt_state, ws)
        return optax.apply_updates(ws, updates), opt_state, value

    return step


def chips_for(variant):
    if not variant.startswith("hw"):
        return None
    effects = xbar.Effects(adc=variant != "hw-noadc")
    read_noise = "output" if variant == "hw-out" else "conductance"
    adc_ste = "identity" if variant == "hw-ident" else "clipped"
    dev = xbar.devices.load("rram_hfox")
    specs = [
        xbar.CrossbarSpec(
            device=dev, rows=a, cols=b, effects=effects, read_noise=read_noise, dac_bits=None, adc_ste=adc_ste
        )
        for a, b in zip(SIZES[:-1], SIZES[1:])
    ]
    keys = jax.random.split(jax.random.key(7), len(specs))
    return tuple(xbar.fabricate(s, key=k) for s, k in zip(specs, keys))


def build_variant(variant, x, y):
    ws = init_weights(SIZES, key=jax.random.key(0))
    opt = optax.adam(5e-4)
    state = {"w": ws, "o": opt.init(ws), "k": jax.random.key(1)}
    chips = chips_for(variant)
    step = make_step(variant, opt)

    def once():
        state["k"], k = jax.random.split(state["k"])
        state["w"], state["o"], value = step(state["w"], state["o"], chips, x, y, k)
        return value

    t0 = time.perf_counter()
    jax.block_until_ready(once())
    return once, time.perf_counter() - t0


def main():
    x, y = inputs(jax.random.key(3))
    variants = ARGS.variants.split(",")
    fns, compile_s, times = {}, {}, {}
    for v in variants:
        fns[v], compile_s[v] = build_variant(v, x, y)
        for _ in range(ARGS.warmup):
            jax.block_until_ready(fns[v]())
        times[v] = []
    # interleaved rounds: every variant sees the same machine conditions
    for _ in range(ARGS.runs):
        for v in variants:
            t0 = time.perf_counter()
            jax.block_until_ready(fns[v]())
            times[v].append(time.perf_counter() - t0)
    results = {}
    base = statistics.median(times[variants[0]])
    print(f"{'variant':<12}{'median ms':>11}{'min ms':>9}{'vs ' + variants[0]:>12}")
    for v in variants:
        med = statistics.median(times[v])
        results[v] = {
            "median_ms": 1e3 * med,
            "min_ms": 1e3 * min(times[v]),
            "compile_s": compile_s[v],
            "ratio": med / base,
        }
        print(f"{v:<12}{1e3 * med:>11.2f}{1e3 * min(times[v]):>9.2f}{med / base:>11.2f}x")
    save_results(ARGS.json, results, threads=ARGS.threads)


if __name__ == "__main__":
    main()
