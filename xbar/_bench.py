"""`xbar bench`: this machine's figures for the two costs users ask about, measured in
one process as ratios against a baseline timed beside them.

- ``train``: one surrogate-gradient training step of a 784-256-10 LIF network (T = 25,
  batch 128, rate encoding inside the step, snnTorch's ce_rate loss, Adam) with
  `rram_hfox` crossbars in the loop (128 × 128 tiles, spike row drivers, 8-bit ADCs,
  every effect, the weights re-programmed every step) against the same step with plain
  weight matrices. The step builder is shared with ``bench/train.py``.
- ``circuit``: `xbar.circuit.solve` with 2 Ω wires on an n × n array and 64 input
  vectors against scipy's sparse direct solve of the same nodal equations
  (`xbar.circuit.reference_solve`), and its error against it.

The scripts in ``bench/`` (source tree only) measure more; ``bench/RESULTS.md`` keeps
their figures.
"""

from __future__ import annotations

import statistics
import time

__all__ = ["surrogate_step", "bench_train", "bench_circuit", "PARTS"]

PARTS = ("train", "circuit")
SIZES = (784, 256, 10)
T, B = 25, 128


def surrogate_step(name: str, *, sizes=SIZES, num_steps: int = T, batch: int = B, card: str = "rram_hfox"):
    """``(once, compile_s)``: `once()` runs one jitted training step of variant `name`
    and returns its loss; ``"plain"`` (weight matrices), ``"hw"`` (crossbars in the loop,
    a fixed chip), ``"hw-fresh"`` (a new chip every step), and for a breakdown
    ``"hw-ideal"`` (every effect off), ``"hw-adc"`` (only the ADCs), ``"hw-noadc"``
    (every effect but the ADCs)."""
    import jax
    import optax

    import xbar
    from xbar import learn, snn
    from xbar.learn._train import _fabricate_all, _make_loss, _skip_if_not_finite

    effects = {"hw-ideal": xbar.Effects.ideal(), "hw-adc": xbar.Effects.only("adc"),
               "hw-noadc": xbar.Effects().without("adc")}  # fmt: skip
    if name not in ("plain", "hw", "hw-fresh", *effects):
        raise ValueError(f"name: expected one of plain, hw, hw-fresh, {', '.join(effects)}, got {name!r}")
    net = snn.Network(layers=tuple(snn.SpikingDense(neuron=snn.LIF(beta=0.9)) for _ in sizes[1:]))
    cfg = learn.TrainConfig(num_steps=num_steps, batch_size=batch, loss="ce_rate")
    dev = xbar.devices.load(card)
    specs = tuple(
        xbar.CrossbarSpec(device=dev, rows=a, cols=b, tile_rows=128, tile_cols=128, dac_bits=None, adc_bits=8,
                          effects=effects.get(name, xbar.Effects()))
        for a, b in zip(sizes, sizes[1:])
    )  # fmt: skip
    kx, ky = jax.random.split(jax.random.key(3))
    x = jax.random.uniform(kx, (batch, sizes[0]))
    y = jax.random.randint(ky, (batch,), 0, sizes[-1])
    opt = optax.adam(5e-4)
    hardware, fresh = name != "plain", name == "hw-fresh"
    loss_fn = _make_loss(net, cfg, hardware)

    @jax.jit
    def step(ws, o, chips, key):
        k_chip, k = jax.random.split(key)
        if fresh:
            chips = _fabricate_all(specs, k_chip)
        (loss, _), g = jax.value_and_grad(loss_fn, has_aux=True)(ws, chips, x, y, k)
        if hardware:
            g = _skip_if_not_finite(g, loss)  # as learn.train's step
        up, o = opt.update(g, o, ws)
        return optax.apply_updates(ws, up), o, loss

    ws = learn.init_weights(sizes, key=jax.random.key(0))
    state = {"w": ws, "o": opt.init(ws), "k": jax.random.key(1)}
    chips = _fabricate_all(specs, jax.random.key(2)) if hardware else None

    def once():
        state["k"], k = jax.random.split(state["k"])
        state["w"], state["o"], loss = step(state["w"], state["o"], chips, k)
        return loss

    t0 = time.perf_counter()
    jax.block_until_ready(once())
    return once, time.perf_counter() - t0


def round_robin(fns: dict, *, runs: int, warmup: int = 2, base: str = "plain") -> dict:
    """Time every callable of `fns` once per round, `runs` rounds (so all see the same
    machine conditions); per variant the median and fastest seconds and the median of
    the per-round ratios to `base`."""
    import jax

    for f in fns.values():
        for _ in range(warmup):
            jax.block_until_ready(f())
    times = {v: [] for v in fns}
    ratios = {v: [] for v in fns}
    for _ in range(runs):
        t = {}
        for v, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            t[v] = time.perf_counter() - t0
            times[v].append(t[v])
        for v in fns:
            ratios[v].append(t[v] / t[base])
    return {
        v: {"median_s": statistics.median(times[v]), "min_s": min(times[v]), "ratio": statistics.median(ratios[v])}
        for v in fns
    }


def bench_train(*, runs: int = 10, log=print) -> dict:
    """The HIL training step against the plain one (see the module docstring)."""
    fns, compile_s = {}, {}
    for name in ("plain", "hw"):
        fns[name], compile_s[name] = surrogate_step(name)
    res = round_robin(fns, runs=runs)
    for v, r in res.items():
        r.update(samples_per_s=B / r["median_s"], compile_s=compile_s[v])
        log(f"train   {v:<6} {1e3 * r['median_s']:8.2f} ms/step  {r['samples_per_s']:8.0f} samples/s  "
            f"{r['ratio']:.2f}x plain")  # fmt: skip
    return res


def bench_circuit(*, n: int = 256, batch: int = 64, r: float = 2.0, runs: int = 3, log=print) -> dict:
    """`xbar.circuit.solve` against scipy's sparse direct solve (see the module docstring)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from xbar import circuit

    rng = np.random.default_rng(0)
    g = 1.0 / rng.uniform(1e4, 1e6, (n, n))
    v = rng.uniform(0.0, 0.2, (batch, n))
    t_ref = []
    for _ in range(runs):
        t0 = time.perf_counter()
        ref, _, _ = circuit.reference_solve(g, v, r_row=r, r_col=r)
        t_ref.append(time.perf_counter() - t0)
    fwd = jax.jit(lambda g, v: circuit.solve(g, v, r_row=r, r_col=r))
    gj, vj = jnp.asarray(g, jnp.float32), jnp.asarray(v, jnp.float32)
    jax.block_until_ready(fwd(gj, vj))
    t_x = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fwd(gj, vj))
        t_x.append(time.perf_counter() - t0)
    err = float(np.max(np.abs(np.asarray(out, float) - ref) / np.abs(ref)))
    res = {"n": n, "splu_s": min(t_ref), "xbar_s": min(t_x), "speedup": min(t_ref) / min(t_x), "max_rel_err": err}
    log(f"circuit {n}x{n}, {batch} inputs: scipy splu {res['splu_s']:.3f} s, xbar {res['xbar_s']:.4f} s "
        f"({res['speedup']:.1f}x), max error {err:.1e}")  # fmt: skip
    return res


def run_bench(parts, *, runs: int = 10, size: int = 256, log=print) -> dict:
    """Run `parts` (names from `PARTS`); returns ``{part: figures, "env": ...}``."""
    import platform

    import jax

    from . import __version__

    out = {"env": {"xbar_version": __version__, "jax_version": jax.__version__, "backend": jax.default_backend(),
                   "devices": len(jax.devices()), "machine": platform.machine(), "processor": platform.processor(),
                   "python": platform.python_version()}}  # fmt: skip
    log(f"xbar {__version__}, jax {jax.__version__} on {jax.default_backend()} ({len(jax.devices())} device(s))")
    if "train" in parts:
        out["train"] = bench_train(runs=runs, log=log)
    if "circuit" in parts:
        out["circuit"] = bench_circuit(n=size, log=log)
    return out
