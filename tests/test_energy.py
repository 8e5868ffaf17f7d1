"""xbar.energy: read energy against closed forms and the scipy nodal solve, conversion
counts against direct counting, latency, jit/vmap, differentiability (an energy penalty
lowers spikes and ADC use), and the error messages."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import xbar
from xbar import energy
from xbar.circuit._reference import nodal_matrix, reference_solve

RRAM = xbar.devices.load("rram_hfox")


def _programmed(spec, w, seed=0):
    k = jax.random.key(seed)
    return xbar.program(xbar.fabricate(spec, key=k), w, key=jax.random.fold_in(k, 1))


def _net(n_layers):
    return xbar.snn.Network(layers=tuple(xbar.snn.SpikingDense(neuron=xbar.snn.LIF()) for _ in range(n_layers)))


def test_conversion_energy_walden_and_isaac():
    m = energy.EnergyModel()
    for b in (4, 6, 8):
        assert float(energy.adc_conversion_energy(b, m)) == pytest.approx(31e-15 * 2**b, rel=1e-6)
    # ISAAC's 8-bit SAR: 1.67 pJ per conversion
    assert float(energy.adc_conversion_energy(8, energy.EnergyModel.isaac())) == pytest.approx(1.67e-12, rel=1e-6)
    # an ENOB loss of one bit halves it
    lossy = energy.EnergyModel(adc_enob_loss=1.0)
    assert float(energy.adc_conversion_energy(8, lossy)) == pytest.approx(31e-15 * 2**7, rel=1e-6)


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_read_energy_closed_form(mapping):
    """Ideal circuit, no effects: E = t_read·v_read²·Σᵢ uᵢ²·Σⱼ Gᵢⱼ over every cell."""
    rows, cols = 40, 24
    spec = xbar.CrossbarSpec(
        device=RRAM, rows=rows, cols=cols, tile_rows=16, tile_cols=16, mapping=mapping, effects=xbar.Effects.ideal()
    )
    w = np.random.default_rng(0).normal(size=(rows, cols)).astype(np.float32)
    arr = _programmed(spec, w)
    x = np.random.default_rng(1).uniform(size=(5, rows)).astype(np.float32)
    got = np.asarray(energy.read_energy(arr, x))
    g_min, g_max = float(RRAM.g_min), float(RRAM.g_max)
    # every physical cell: tiles of 16 rows × 16 columns cover 24 columns with 32
    pad_cols = 32 - cols
    if mapping == "differential":
        s = (g_max - g_min) / np.abs(w).max()
        gsum = (g_min + s * np.maximum(w, 0)).sum(1) + (g_min + s * np.maximum(-w, 0)).sum(1) + 2 * pad_cols * g_min
    else:
        s = (g_max - g_min) / (2 * np.abs(w).max())
        mid = 0.5 * (g_min + g_max)
        gsum = (mid + s * w).sum(1) + pad_cols * mid + 2 * mid  # two column tiles: two reference cells per row
    want = float(RRAM.t_read) * float(RRAM.v_read) ** 2 * (x**2) @ gsum
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_read_energy_solve_matches_scipy_and_is_below_ideal(x64):
    """With wire resistance, the drivers' power from the exact solve equals scipy's nodal
    solve (Σᵢ vᵢ·current into row i), and is below the ideal figure (Rayleigh)."""
    rows, cols = 12, 10
    wires = dict(r_row=5.0, r_col=5.0, r_source=20.0, r_sense=10.0)
    spec = xbar.CrossbarSpec(
        device=RRAM, rows=rows, cols=cols, circuit="solve", effects=xbar.Effects.ideal(), dac_bits=None, **wires
    )
    ideal = xbar.CrossbarSpec(device=RRAM, rows=rows, cols=cols, effects=xbar.Effects.ideal(), dac_bits=None)
    w = np.random.default_rng(2).normal(size=(rows, cols))
    x = (np.random.default_rng(3).uniform(size=(4, rows)) < 0.5).astype(float)
    e_solve = np.asarray(energy.read_energy(_programmed(spec, w), x))
    e_ideal = np.asarray(energy.read_energy(_programmed(ideal, w), x))
    g = xbar.conductances(_programmed(spec, w))
    v = x * float(RRAM.v_read)
    want = np.zeros(len(x))
    for plane in ("pos", "neg"):
        gp = np.asarray(g[plane])[0]
        _, nodes, _ = reference_solve(gp, v, **wires)
        _, g_s, _ = nodal_matrix(gp, **wires)
        u_first = nodes[:, : rows * cols].reshape(-1, rows, cols)[:, :, 0]
        want += np.sum(v * g_s * (v - u_first), axis=1)  # power into every row from its driver
    want *= float(RRAM.t_read)
    np.testing.assert_allclose(e_solve, want, rtol=1e-8)
    assert np.all(e_solve < e_ideal) and np.all(e_solve > 0.8 * e_ideal)


def test_inference_counts_and_latency():
    """ADC conversions, drives, spikes and neuron updates equal direct counts; the
    latency is T × Σ (t_read + cols_per_adc/adc_rate)."""
    sizes = (40, 20, 5)
    specs = [
        xbar.CrossbarSpec(device=RRAM, rows=a, cols=b, tile_rows=16, tile_cols=16, dac_bits=None)
        for a, b in zip(sizes[:-1], sizes[1:])
    ]
    ws = xbar.learn.init_weights(list(sizes), key=jax.random.key(0), gain=3.0)
    arrays = [_programmed(s, w, i) for i, (s, w) in enumerate(zip(specs, ws))]
    x_seq = (jax.random.uniform(jax.random.key(1), (6, 3, 40)) < 0.05).astype(jnp.float32)
    net = _net(2)
    model = energy.EnergyModel()
    rep, out = energy.inference_energy(net, arrays, x_seq, key=jax.random.key(2), model=model)
    inputs = [np.asarray(x_seq), np.asarray(out.spikes[0])]
    for layer, (spec, h, s_out) in enumerate(zip(specs, inputs, out.spikes)):
        h = h.reshape(-1, spec.rows)
        n_r = spec.tile_grid[0]
        active = [np.any(h[:, r * 16 : (r + 1) * 16] > 0, axis=1).sum() for r in range(n_r)]
        conv = sum(active) * spec.cols / 3
        assert float(rep.conversions[layer]) == pytest.approx(conv, rel=1e-6)
        assert float(rep.drives[layer]) == pytest.approx(h.sum() / 3, rel=1e-6)
        assert float(rep.spikes[layer]) == pytest.approx(float(np.sum(s_out)) / 3, rel=1e-6)
        e_adc = conv * 31e-15 * 2**8
        assert float(rep.adc[layer]) == pytest.approx(e_adc, rel=1e-5)
        assert float(rep.neuron[layer]) == pytest.approx(81e-12 * 6 * spec.cols, rel=1e-6)
        assert float(rep.dac[layer]) == pytest.approx(0.33e-12 * h.sum() / 3, rel=1e-5)
    assert np.sum(inputs[0]) > 0 and conv > 0  # the counts are not trivially zero
    # without gating every row tile converts at every step
    rep_all, _ = energy.inference_energy(
        net, arrays, x_seq, key=jax.random.key(2), model=energy.EnergyModel(gate_idle_tiles=False)
    )
    assert float(rep_all.conversions[0]) == pytest.approx(6 * 3 * 20, rel=1e-6)  # 3 row tiles × 20 cols × 6 steps
    lat = energy.latency(specs, num_steps=6, model=model)
    want = 6 * (2 * float(RRAM.t_read) + (8 + 5) / 1.2e9)  # layer 2 has 5 columns < 8 per ADC
    assert float(lat["total"]) == pytest.approx(want, rel=1e-6)
    assert float(rep.latency) == pytest.approx(want, rel=1e-6)
    total = sum(float(v) for v in rep.per_stage.values())
    assert float(rep.total) == pytest.approx(total, rel=1e-6)
    assert 0 < float(rep.adc_share) < 1


def test_jit_eager_vmap_adc_bits():
    spec = xbar.CrossbarSpec(device=RRAM, rows=20, cols=8, dac_bits=None)
    w = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    arr = _programmed(spec, w)
    x_seq = (jax.random.uniform(jax.random.key(1), (4, 2, 20)) < 0.3).astype(jnp.float32)
    net = _net(1)
    f = lambda a: energy.inference_energy(net, [a], x_seq, key=jax.random.key(3))[0].total  # noqa: E731
    np.testing.assert_allclose(float(jax.jit(f)(arr)), float(f(arr)), rtol=1e-5)
    bits = jnp.array([4, 6, 8])

    def adc_energy(b):
        a = xbar.CrossbarArray(spec=xbar._tree.replace(spec, adc_bits=b), fab=arr.fab, state=arr.state, scale=arr.scale)
        return energy.inference_energy(net, [a], x_seq, key=jax.random.key(3))[0].adc[0]

    got = jax.vmap(adc_energy)(bits)
    loop = [float(adc_energy(int(b))) for b in bits]
    np.testing.assert_allclose(np.asarray(got), loop, rtol=1e-5)
    assert loop[2] == pytest.approx(loop[0] * 16, rel=1e-5)


def test_energy_penalty_lowers_spikes_and_adc_use():
    """Training with an energy penalty ends with fewer spikes and fewer ADC conversions
    than the same training without it (same data, keys and start)."""
    digits = xbar.data.load_digits()
    x, y = np.asarray(digits.x_train[:256], np.float32), np.asarray(digits.y_train[:256])
    sizes = [64, 32, 10]
    specs = [
        xbar.CrossbarSpec(device=RRAM, rows=a, cols=b, tile_rows=16, tile_cols=16, dac_bits=None)
        for a, b in zip(sizes[:-1], sizes[1:])
    ]
    net = _net(2)
    chips = [xbar.fabricate(s, key=jax.random.key(10 + i)) for i, s in enumerate(specs)]
    w0 = xbar.learn.init_weights(sizes, key=jax.random.key(0), gain=2.0)
    opt = optax.adam(3e-3)

    def loss_fn(ws, xb, yb, k, lam):
        k_enc, k_prog, k_read = jax.random.split(k, 3)
        x_seq = xbar.learn.encode(xb, 10, encoder="rate", key=k_enc)
        arrays = [xbar.program(c, w, key=jax.random.fold_in(k_prog, i)) for i, (c, w) in enumerate(zip(chips, ws))]
        rep, out = energy.inference_energy(net, arrays, x_seq, key=k_read)
        ce = xbar.learn.ce_count_loss(out.spikes[-1], yb, logit_scale=0.5)
        return ce + lam * rep.total / 1e-7, rep

    @jax.jit
    def step(ws, st, xb, yb, k, lam):
        (_, rep), g = jax.value_and_grad(loss_fn, has_aux=True)(ws, xb, yb, k, lam)
        up, st = opt.update(g, st, ws)
        return optax.apply_updates(ws, up), st, rep

    finals = {}
    for lam in (0.0, 3.0):
        ws, st = list(w0), opt.init(list(w0))
        for i in range(40):
            j = (i * 64) % 256
            ws, st, rep = step(ws, st, x[j : j + 64], y[j : j + 64], jax.random.key(100 + i), lam)
        _, rep = loss_fn(ws, x, y, jax.random.key(7), 0.0)
        finals[lam] = rep
    plain, penal = finals[0.0], finals[3.0]
    assert float(jnp.sum(penal.spikes)) < 0.8 * float(jnp.sum(plain.spikes))
    assert float(jnp.sum(penal.conversions)) < float(jnp.sum(plain.conversions))
    assert float(penal.total) < float(plain.total)


def test_gradient_reaches_weights():
    spec = xbar.CrossbarSpec(device=RRAM, rows=16, cols=6, dac_bits=None)
    chip = xbar.fabricate(spec, key=jax.random.key(0))
    x_seq = (jax.random.uniform(jax.random.key(1), (5, 4, 16)) < 0.4).astype(jnp.float32)
    w = jnp.asarray(np.random.default_rng(0).normal(size=(16, 6)), jnp.float32)

    def total(w):
        arr = xbar.program(chip, w, key=jax.random.key(2))
        return energy.inference_energy(_net(1), [arr], x_seq, key=jax.random.key(3))[0].total

    g = jax.grad(total)(w)
    assert np.all(np.isfinite(np.asarray(g))) and float(jnp.max(jnp.abs(g))) > 0


def test_training_step_energy_adds_writes():
    spec = xbar.CrossbarSpec(device=RRAM, rows=16, cols=6, dac_bits=None)
    arr = _programmed(spec, np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32))
    x_seq = (jax.random.uniform(jax.random.key(1), (5, 4, 16)) < 0.4).astype(jnp.float32)
    net = _net(1)
    per, _ = energy.inference_energy(net, [arr], x_seq, key=jax.random.key(3))
    step, _ = energy.training_step_energy(net, [arr], x_seq, key=jax.random.key(3), writes=[2e-9])
    assert float(step.write[0]) == pytest.approx(2e-9)
    assert float(step.array[0]) == pytest.approx(4 * float(per.array[0]), rel=1e-5)  # 4 samples, not the mean
    assert float(step.total) == pytest.approx(4 * float(per.total) + 2e-9, rel=1e-5)


def test_errors():
    spec = xbar.CrossbarSpec(device=RRAM, rows=8, cols=4)
    chip = xbar.fabricate(spec, key=jax.random.key(0))
    arr = xbar.program(chip, jnp.ones((8, 4)), key=jax.random.key(1))
    x_seq = jnp.zeros((3, 8))
    with pytest.raises(ValueError, match="EnergyModel.adc_fom: expected a scalar ≥ 0"):
        energy.EnergyModel(adc_fom=-1.0)
    with pytest.raises(ValueError, match="EnergyModel.adc_rate: expected a positive scalar"):
        energy.EnergyModel(adc_rate=0.0)
    with pytest.raises(ValueError, match="cols_per_adc: expected a positive int, got 0"):
        energy.EnergyModel(cols_per_adc=0)
    with pytest.raises(TypeError, match="model: expected an xbar.energy.EnergyModel, got dict"):
        energy.inference_energy(_net(1), [arr], x_seq, model={})
    with pytest.raises(TypeError, match=r"arrays\[0\]: expected a programmed xbar.CrossbarArray"):
        energy.inference_energy(_net(1), [chip], x_seq)
    with pytest.raises(TypeError, match=r"arrays\[0\]: expected a programmed xbar.CrossbarArray.*got ndarray"):
        energy.inference_energy(_net(1), [np.ones((8, 4))], x_seq)
    with pytest.raises(ValueError, match="arrays: expected 2 programmed arrays"):
        energy.inference_energy(_net(2), [arr], x_seq)
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., rows\) with rows = 8, got \(3, 5\)"):
        energy.read_energy(arr, jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match="writes: expected one write energy per layer"):
        energy.training_step_energy(_net(1), [arr], x_seq, writes=[1.0, 2.0])
    with pytest.raises(ValueError, match="num_steps: expected a positive int, got 0"):
        energy.latency([spec], num_steps=0)
    with pytest.raises(TypeError, match="specs: expected a CrossbarSpec"):
        energy.latency(["x"], num_steps=3)


def test_plot_energy_breakdown():
    import matplotlib

    matplotlib.use("Agg")
    from xbar.plot import plot_energy_breakdown

    spec = xbar.CrossbarSpec(device=RRAM, rows=16, cols=6, dac_bits=None)
    arr = _programmed(spec, np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32))
    x_seq = (jax.random.uniform(jax.random.key(1), (5, 4, 16)) < 0.4).astype(jnp.float32)
    reps = {m: energy.inference_energy(_net(1), [arr], x_seq, key=jax.random.key(3), model=mod)[0]
            for m, mod in (("default", energy.EnergyModel()), ("isaac", energy.EnergyModel.isaac()))}  # fmt: skip
    ax = plot_energy_breakdown(reps, unit="pJ")
    heights = {}
    for bar in ax.patches:
        heights[bar.get_x()] = heights.get(bar.get_x(), 0.0) + bar.get_height()
    want = sorted(float(r.total) * 1e12 for r in reps.values())
    np.testing.assert_allclose(sorted(heights.values()), want, rtol=1e-5)
    with pytest.raises(ValueError, match="unit: expected one of"):
        plot_energy_breakdown(reps, unit="kJ")
    with pytest.raises(TypeError, match="reports: expected a non-empty dict"):
        plot_energy_breakdown([])
