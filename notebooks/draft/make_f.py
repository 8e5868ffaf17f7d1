import nbformat as nbf

cells = []
md = lambda s: cells.append(nbf.v4.new_markdown_cell(s))
code = lambda s: cells.append(nbf.v4.new_code_cell(s))

md("""# (f) Energy, latency and the theory of the read error

Two questions an algorithm designer asks before simulating anything:

1. **How wrong is one crossbar read?** `xbar.bounds` predicts the mean and standard
   deviation of the MVM error in closed form — from device variation, programming error,
   drift, read noise, DAC and ADC rounding and clipping, and the wires' IR drop — as a
   function of the spec. Below, every prediction is checked against Monte Carlo over
   fabricated chips (or the exact circuit solve), and the validity limits are shown.
2. **What does an inference cost?** `xbar.energy` counts what each stage spends — array
   reads, row drivers, ADC conversions, neuron updates, spikes — differentiably.

About two minutes on 2 CPU cores.""")

code("""import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import xbar
import xbar.plot
from xbar import bounds, energy

# the test suite runs every notebook with XBAR_NOTEBOOK_SHORT=1: smaller sizes, same code
SHORT = os.environ.get("XBAR_NOTEBOOK_SHORT") == "1"
CHIPS = 100 if SHORT else 1000
%matplotlib inline""")

code("""@jax.jit
def _chips(spec, w, x, t, keys):
    def one(k):
        k_fab, k_prog, k_read = jax.random.split(k, 3)
        arr = xbar.program(xbar.fabricate(spec, key=k_fab), w, key=k_prog)
        return xbar.mvm(arr, x, key=k_read, t=t) - x @ w

    return jax.lax.map(one, keys, batch_size=100)


def monte_carlo(spec, w, x, t=0.0, chips=CHIPS, seed=0):
    \"\"\"mvm − Wᵀx on `chips` independently fabricated, programmed and read chips (one
    compilation per shape: the spec's physical values, ADC bits and t are traced).\"\"\"
    keys = jax.random.split(jax.random.key(seed), chips)
    return np.asarray(_chips(spec, w, x, jnp.asarray(t, jnp.float32), keys))


predict = jax.jit(bounds.mvm_error)


rng = np.random.default_rng(0)
rram = xbar.devices.load("rram_hfox")""")

md("""## Error vs array size and ADC bits (RRAM)

One column's error adds the independent errors of its cells, so its standard deviation
grows like √(active rows); the ADC adds rounding (step²/12 per row tile) and clipping.
Lines: prediction (`bounds.mvm_error`, averaged over the 16 columns); markers: the
standard deviation over the fabricated chips.""")

code("""sizes = [32, 64] if SHORT else [32, 64, 128, 256, 512]
pred_n, mc_n = [], []
for n in sizes:
    spec = xbar.CrossbarSpec(device=rram, rows=n, cols=16, dac_bits=None)
    w = jnp.asarray(rng.normal(size=(n, 16)), jnp.float32)
    x = jnp.asarray(rng.uniform(size=(1, n)) < 0.3, jnp.float32)
    pred_n.append(float(jnp.mean(predict(spec, w, x).std)))
    mc_n.append(float(np.mean(monte_carlo(spec, w, x).std(0))))

bits = [3, 5, 8] if SHORT else [3, 4, 5, 6, 8]
spec_b = xbar.CrossbarSpec(device=rram, rows=128, cols=16, dac_bits=None)
w_b = jnp.asarray(rng.normal(size=(128, 16)), jnp.float32)
x_b = jnp.asarray(rng.uniform(size=(1, 128)) < 0.3, jnp.float32)
pred_b, mc_b, dither_b = [], [], []
for b in bits:
    s = xbar._tree.replace(spec_b, adc_bits=b)
    p = predict(s, w_b, x_b)
    pred_b.append(float(jnp.mean(p.std)))
    dither_b.append(float(jnp.min(p.adc_dither)))
    mc_b.append(float(np.mean(monte_carlo(s, w_b, x_b).std(0))))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
xbar.plot.plot_error_prediction(sizes, pred_n, mc_n, ax=axes[0], xlabel="rows (one tile)", logx=True, label="RRAM")
xbar.plot.plot_error_prediction(bits, pred_b, mc_b, ax=axes[1], xlabel="ADC bits (128 rows)", label="RRAM")
axes[1].set_yscale("log")
plt.tight_layout()
plt.show()
for b, d in zip(bits, dither_b):
    note = "  <- below 0.5: rounding no longer dithered" if d < 0.5 else ""
    print(f"{b} bits: sigma(partial sum)/ADC step = {d:.2f}{note}")""")

md("""Where the device noise is smaller than about half an ADC step (σ/Δ < 0.5, the
coarsest ADCs), rounding stops being random: the error of a given input is nearly the
same on every chip, and the uniform rounding model gives its variance over inputs rather
than over chips — the validity limit of the ADC term (`ErrorPrediction.adc_dither`).""")

md("""## Error vs time: PCM drift with global drift compensation

PCM conductances decay as `(t/t0)^(−ν)` with a per-cell ν; global drift compensation
rescales the outputs by one measured factor. The spread of ν (and the growing 1/f read
noise) still widens the error.""")

code("""pcm = xbar.devices.load("pcm_gst")
times = [1.0, 86400.0] if SHORT else [1.0, 60.0, 3600.0, 86400.0, 2.6e6, 3.15e7]
spec_t = xbar.CrossbarSpec(device=pcm, rows=128, cols=16, dac_bits=None)
w_t = jnp.asarray(rng.normal(size=(128, 16)), jnp.float32)
x_t = jnp.asarray(rng.uniform(size=(1, 128)) < 0.3, jnp.float32)
pred_t = [float(jnp.mean(predict(spec_t, w_t, x_t, t=jnp.float32(t)).std)) for t in times]
mc_t = [float(np.mean(monte_carlo(spec_t, w_t, x_t, t=t).std(0))) for t in times]
ax = xbar.plot.plot_error_prediction(times, pred_t, mc_t, xlabel="time since programming [s]", logx=True, label="PCM")
plt.show()""")

md("""## IR drop: the expansion in the wire resistance vs the exact solve

`bounds.ir_drop_error` predicts the error the wires add by the first- or second-order
expansion of the array in its wire resistance; its validity is measured by
ε = max(row drop + column rise) per volt, which grows with r·G·N². Below, the
relative error of the prediction against the exact nodal solve, over ε: first order
stays within 10 % up to ε ≈ 0.1, second order to ε ≈ 0.3.""")

code("""n = 32 if SHORT else 64
w_r = jnp.asarray(rng.normal(size=(n, n)), jnp.float32)
x_r = jnp.asarray(rng.uniform(size=(4, n)) < 0.5, jnp.float32)
base = xbar.CrossbarSpec(device=rram, rows=n, cols=n, dac_bits=None, effects=xbar.Effects.ideal(),
                         circuit="transfer", r_row=1.0, r_col=1.0)

@jax.jit
def ir_errors(spec):
    arr = xbar.program(xbar.fabricate(spec, key=jax.random.key(0)), w_r, key=jax.random.key(0))
    exact = xbar.mvm(arr, x_r) - x_r @ w_r
    preds = [bounds.ir_drop_error(spec, w_r, x_r, order=o).error for o in (1, 2)]
    return [jnp.max(jnp.abs(p - exact)) / jnp.max(jnp.abs(exact)) for p in preds]


eps_1ohm = float(bounds.ir_drop_error(base, w_r, x_r).epsilon)
eps_grid = np.geomspace(0.003, 1.5, 6 if SHORT else 14)
rel = {1: [], 2: []}
for eps in eps_grid:
    r1, r2 = ir_errors(xbar._tree.replace(base, r_row=eps / eps_1ohm, r_col=eps / eps_1ohm))
    rel[1].append(float(r1))
    rel[2].append(float(r2))
fig, ax = plt.subplots(figsize=(5, 3.5))
for order in (1, 2):
    ax.loglog(eps_grid, rel[order], "o-", label=f"order {order}")
ax.axhline(0.1, color="k", lw=0.8, ls="--", label="10 %")
ax.set_xlabel("ε (expansion parameter)")
ax.set_ylabel("|predicted − exact| / |exact IR-drop error|")
ax.set_title(f"{n}×{n} RRAM array; ε = {eps_1ohm:.2e} per Ω of wire")
ax.legend()
plt.show()""")

md("""For a uniform array (every cell at one conductance G, every row driven) the
first-order error has a closed form, `bounds.ir_drop_uniform`: the far column loses
about (5/6)·r·G·N² of its current, the average column (2/3)·r·G·N². Against the exact
solve it is within 10 % while r·G·N² ≲ 0.1 and overstates the drop beyond.""")

code("""n_u, g_u = (16 if SHORT else 64), 20e-6
rgn2 = np.geomspace(1e-3, 1.0, 5 if SHORT else 12)
worst_pred, worst_exact = [], []
for q in rgn2:
    r = q / (g_u * n_u**2)
    worst_pred.append(float(bounds.ir_drop_uniform(n_u, n_u, g=g_u, r_row=r).worst))
    i = np.asarray(xbar.circuit.solve(np.full((n_u, n_u), g_u), np.full((n_u,), 0.2), r_row=r, r_col=r))
    worst_exact.append(float(np.max(1.0 - i / (n_u * g_u * 0.2))))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].loglog(rgn2, worst_pred, "-", label="closed form (first order)")
axes[0].loglog(rgn2, worst_exact, "o", label="exact solve")
axes[0].set_xlabel("r·G·N²")
axes[0].set_ylabel("far column: relative current loss")
axes[0].legend()
miss = np.abs(np.array(worst_pred) - np.array(worst_exact)) / np.array(worst_exact)
axes[1].loglog(rgn2, miss, "o-")
axes[1].axhline(0.1, color="k", lw=0.8, ls="--", label="10 %")
axes[1].set_xlabel("r·G·N²")
axes[1].set_ylabel("|closed form − exact| / exact")
axes[1].legend()
plt.tight_layout()
plt.show()""")

md("""## Energy per inference on each device family

A small network trained on the embedded digits, programmed on each card, and costed
with the default periphery (survey-median SAR ADCs, 8 columns per ADC, Loihi-class
neurons). The ADC energy is set by the conversions, i.e. by the input spikes; the
array's own read energy by the cells' conductances (STT-MRAM's MTJs conduct most).""")

code("""digits = xbar.data.load_digits()
sizes_net = (64, 128, 10)
net = xbar.snn.Network(layers=tuple(xbar.snn.SpikingDense(neuron=xbar.snn.LIF()) for _ in sizes_net[1:]))
cfg = xbar.learn.TrainConfig(epochs=2 if SHORT else 10, num_steps=25)
w0 = xbar.learn.init_weights(sizes_net, key=jax.random.key(0))
w_net, _ = xbar.learn.train(net, w0, digits.x_train, digits.y_train, key=jax.random.key(1), config=cfg, progress=False)
x_seq = xbar.learn.encode(jnp.asarray(digits.x_test[:100 if SHORT else 359]), 25, encoder="rate", key=jax.random.key(2))

cost = jax.jit(lambda arrays, xs: energy.inference_energy(net, arrays, xs, key=jax.random.key(3))[0])
reports = {}
for card in ("rram_hfox", "pcm_gst", "stt_mtj", "fg_flash"):
    dev = xbar.devices.load(card)
    specs = [xbar.CrossbarSpec(device=dev, rows=a, cols=b, tile_rows=64, tile_cols=64, dac_bits=None)
             for a, b in zip(sizes_net, sizes_net[1:])]
    arrays = [xbar.program(xbar.fabricate(s, key=jax.random.key(i)), wi, key=jax.random.key(10 + i))
              for i, (s, wi) in enumerate(zip(specs, w_net))]
    reports[card] = cost(arrays, x_seq)
xbar.plot.plot_energy_breakdown(reports, unit="nJ")
plt.show()
for card, r in reports.items():
    print(f"{card:10s} {float(r.total) * 1e9:7.2f} nJ per inference, ADC {float(r.adc_share):.0%}, "
          f"latency {float(r.latency) * 1e6:.2f} µs")""")

md("""The energy functions are differentiable: adding `λ·report.total` to a training loss
trains the network to spike less and to wake fewer ADCs (`tests/test_energy.py` shows a
penalty halving the spike count).""")

nb = nbf.v4.new_notebook()
nb["cells"] = cells
nb["metadata"] = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
nbf.write(nb, "notebooks/draft/f_energy_and_bounds.ipynb")
