"""The circuit inside the read path: `CrossbarSpec(circuit=...)` through `mvm`, the SNN
layers and training — references (ideal read, scipy nodal solve per physical tile, the
sinh closed form), IR-drop monotonicity, gradients against finite differences, and the
spec's error messages.

Compiling a circuit read is the expensive part here, so most tests share one jitted
`mvm` and one array geometry (30 × 20 weights on 16 × 8 tiles: 2 × 3 tiles, the last of
each partial); wire resistances and selector parameters are pytree leaves, so changing
them does not recompile.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xbar
from xbar import Effects
from xbar.circuit import Sinh, reference_solve
from xbar.snn import LIF, Network, SpikingDense

ROWS, COLS, TILE_ROWS, TILE_COLS = 30, 20, 16, 8
WIRES = dict(r_row=3.0, r_col=2.0, r_source=20.0, r_sense=10.0)  # distinct, to catch swaps

_mvm = jax.jit(xbar.mvm)


def _spec(mapping="differential", *, rows=ROWS, cols=COLS, tile_rows=TILE_ROWS, tile_cols=TILE_COLS, **kw):
    kw.setdefault("effects", Effects.ideal())
    return xbar.CrossbarSpec(
        device=xbar.devices.load("rram_hfox"),
        rows=rows,
        cols=cols,
        tile_rows=tile_rows,
        tile_cols=tile_cols,
        mapping=mapping,
        **kw,
    )


def _programmed(spec, w, seed=1):
    kf, kp = jax.random.split(jax.random.key(seed))
    return xbar.program(xbar.fabricate(spec, key=kf), w, key=kp)


def _with(array, **changes):
    """The same programmed cells read with other spec fields (circuit, wires, ...)."""
    return dataclasses.replace(array, spec=dataclasses.replace(array.spec, **changes))


def _weights_inputs(rows=ROWS, cols=COLS, batch=4, seed=0):
    kw, kx = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kw, (rows, cols)), jax.random.uniform(kx, (batch, rows))


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ------------------------------------------------------------- limits and consistency
@pytest.mark.parametrize("mapping", [pytest.param("differential", marks=pytest.mark.slow), "reference"])
def test_transfer_with_vanishing_wires_equals_ideal(x64, mapping):
    w, x = _weights_inputs()
    ideal = _programmed(_spec(mapping), w)
    y_ideal = _mvm(ideal, x)
    np.testing.assert_allclose(np.asarray(y_ideal), np.asarray(x @ w), rtol=1e-10, atol=1e-10)
    y = _mvm(_with(ideal, circuit="transfer", r_row=1e-7, r_col=1e-7), x)
    assert y.shape == (4, COLS) and y.dtype == jnp.float64
    assert _rel(y, y_ideal) < 1e-7
    # the wires are really in the circuit: 3 Ω per cell pitch is visible
    assert _rel(_mvm(_with(ideal, circuit="transfer", r_row=3.0, r_col=3.0), x), y_ideal) > 1e-3


@pytest.mark.parametrize("mapping", [pytest.param("differential", marks=pytest.mark.slow), "reference"])  # 12 s
def test_transfer_equals_solve_for_linear_cells(x64, mapping):
    w, x = _weights_inputs()
    a = _programmed(_spec(mapping, circuit="transfer", **WIRES), w)
    y_t = _mvm(a, x)
    y_s = _mvm(_with(a, circuit="solve"), x)
    np.testing.assert_allclose(np.asarray(y_s), np.asarray(y_t), rtol=1e-10, atol=1e-10 * float(jnp.abs(y_t).max()))
    assert _rel(y_t, x @ w) > 1e-3  # and both differ from the ideal product


# ------------------------------------------------- independent reconstruction (scipy)
def _reconstruct(array, x, wires):
    """`mvm` rebuilt by hand: cut the conductance planes into physical tiles, solve each
    tile's nodal equations with scipy for the physical drive voltages, subtract,
    convert to weight units and add the row tiles."""
    spec = array.spec
    g = {p: np.asarray(v) for p, v in xbar.conductances(array).items()}
    v_read, x_max, s = float(spec.read_voltage), float(spec.x_max), float(array.scale)
    tr, tc = spec.tile_rows, spec.tile_cols
    n_r, n_c = -(-spec.rows // tr), -(-spec.cols // tc)
    x = np.asarray(x, dtype=float)
    xp = np.zeros((x.shape[0], n_r * tr))
    xp[:, : spec.rows] = x  # padded rows: cells present, driven at 0 V
    out = np.zeros((x.shape[0], n_c * tc))
    for r in range(n_r):
        v = xp[:, r * tr : (r + 1) * tr] / x_max * v_read
        for c in range(n_c):
            cols = slice(c * tc, (c + 1) * tc)
            if spec.mapping == "differential":
                i_pos = reference_solve(g["pos"][r][:, cols], v, **wires)[0]
                i_neg = reference_solve(g["neg"][r][:, cols], v, **wires)[0]
                diff = i_pos - i_neg
            else:
                tile = np.concatenate([g["main"][r][:, cols], g["ref"][r][:, c : c + 1]], axis=1)
                assert tile.shape == (tr, tc + 1)
                i = reference_solve(tile, v, **wires)[0]
                diff = i[:, :tc] - i[:, tc:]
            out[:, cols] += diff * x_max / (s * v_read)
    return out[:, : spec.cols]


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_transfer_matches_scipy_nodal_solve_per_physical_tile(x64, mapping):
    w, x = _weights_inputs()
    a = _programmed(_spec(mapping, circuit="transfer", **WIRES), w)
    y = np.asarray(_mvm(a, x))
    ref = _reconstruct(a, x, WIRES)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    assert _rel(ref, x @ w) > 1e-3  # the reference is not just the ideal product


def test_scipy_reconstruction_uses_the_reference_column_as_the_last_column(x64):
    """Guard on the reconstruction itself: the reference column placed FIRST gives a
    measurably different answer, so the test above can tell the two apart."""
    w, x = _weights_inputs()
    a = _programmed(_spec("reference", circuit="transfer", **WIRES), w)
    g = {p: np.asarray(v) for p, v in xbar.conductances(a).items()}
    v = np.asarray(x[:, :TILE_ROWS]) * float(a.spec.read_voltage)
    last = np.concatenate([g["main"][0][:, :TILE_COLS], g["ref"][0][:, :1]], axis=1)
    first = np.concatenate([g["ref"][0][:, :1], g["main"][0][:, :TILE_COLS]], axis=1)
    i_last = reference_solve(last, v, **WIRES)[0]
    i_first = reference_solve(first, v, **WIRES)[0]
    d_last = i_last[:, :TILE_COLS] - i_last[:, TILE_COLS:]
    d_first = i_first[:, 1:] - i_first[:, :1]
    assert _rel(d_first, d_last) > 1e-3


# ---------------------------------------------------------------- IR drop, monotone
def test_ir_drop_shrinks_outputs_monotonically_in_wire_resistance(x64):
    w = jax.random.uniform(jax.random.key(3), (ROWS, COLS), minval=0.2, maxval=1.0)
    x = jnp.ones((4, ROWS))  # the batch shape of the tests above: no recompilation
    a = _programmed(_spec("differential", circuit="transfer", **WIRES), w)
    y_prev = np.asarray(x @ w)[0]
    for r in (0.1, 0.5, 2.0, 8.0, 32.0):
        y = np.asarray(_mvm(_with(a, r_row=r, r_col=r, r_source=0.0, r_sense=0.0), x))[0]
        assert np.all(y > 0)
        assert np.all(y < y_prev), f"r = {r} Ω: outputs did not shrink"
        y_prev = y
    assert np.all(y_prev < 0.95 * np.asarray(x @ w)[0])  # 32 Ω: a clear effect


@pytest.mark.slow  # secondary (10 s class); run with -m slow
def test_ir_drop_grows_with_tile_size(x64):
    w = jax.random.uniform(jax.random.key(4), (ROWS, COLS), minval=0.2, maxval=1.0)
    x = jnp.ones((4, ROWS))
    ideal = np.asarray(x @ w)[0]
    prev = None
    # 4 × 3 tiles of 8 × 8 cells; 2 × 3 of 16 × 8; one tile of 30 × 20
    for tr, tc in ((8, 8), (16, 8), (32, 32)):
        spec = _spec(tile_rows=tr, tile_cols=tc, circuit="transfer", r_row=2.0, r_col=2.0)
        y = np.asarray(_mvm(_programmed(spec, w), x))[0]
        drop = (ideal - y) / ideal
        assert np.all(drop > 0), f"tile {tr}×{tc}: no IR drop"
        if prev is not None:
            assert np.all(drop > prev), f"tile {tr}×{tc}: the drop did not grow with the tile"
        prev = drop


# ---------------------------------------------------------------------- gradients
def test_gradients_through_transfer_match_finite_differences(x64):
    spec = _spec("differential", circuit="transfer", w_max=3.0, **WIRES)
    kw, kx, kc, kd = jax.random.split(jax.random.key(5), 4)
    w = 0.5 * jax.random.normal(kw, (ROWS, COLS))
    x = jax.random.uniform(kx, (3, ROWS))
    c = jax.random.normal(kc, (3, COLS))
    chip = xbar.fabricate(spec, key=jax.random.key(6))
    names = ("r_row", "r_col", "r_source", "r_sense")

    def loss(w, r):
        s = dataclasses.replace(spec, **r)
        a = xbar.program(dataclasses.replace(chip, spec=s), w, key=jax.random.key(7))
        return jnp.sum(c * xbar.mvm(a, x))

    r0 = {n: jnp.asarray(WIRES[n]) for n in names}
    # one compiled function gives the gradient and the finite-difference values
    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

    def f(w, r):
        return vg(w, r)[0]

    g_w, g_r = vg(w, r0)[1]
    assert g_w.shape == w.shape and np.all(np.isfinite(np.asarray(g_w)))

    # weights: a random direction (no weight is within 1e-6 of a mapping kink)
    d = jax.random.normal(kd, w.shape)
    assert float(jnp.min(jnp.abs(w))) > 1e-4
    h = 1e-6
    fd = (f(w + h * d, r0) - f(w - h * d, r0)) / (2 * h)
    np.testing.assert_allclose(float(jnp.vdot(g_w, d)), float(fd), rtol=1e-5)
    # ... and a few single weights
    for i, j in ((0, 0), (17, 9), (29, 19)):
        e = jnp.zeros_like(w).at[i, j].set(1.0)
        fd = (f(w + h * e, r0) - f(w - h * e, r0)) / (2 * h)
        np.testing.assert_allclose(float(g_w[i, j]), float(fd), rtol=1e-5, atol=1e-8 * float(jnp.abs(g_w).max()))

    # every resistance, through the spec fields
    for n in names:
        hr = 1e-4 * WIRES[n]
        up = dict(r0, **{n: r0[n] + hr})
        dn = dict(r0, **{n: r0[n] - hr})
        fd = (f(w, up) - f(w, dn)) / (2 * hr)
        assert float(jnp.abs(g_r[n])) > 0, n
        np.testing.assert_allclose(float(g_r[n]), float(fd), rtol=1e-5, err_msg=n)


# ------------------------------------------------------------------ SNN and learning
def _spikes(key, shape, p=0.5):
    return jax.random.bernoulli(key, p, shape).astype(jnp.float32)


@pytest.mark.slow  # secondary (10 s class); run with -m slow
def test_spiking_layers_run_under_jit_with_circuit_specs():
    """`Network.run` (each layer's `SpikingDense.run`) with every layer on a circuit
    array: negligible wires give the ideal spikes; 100 Ω per cell pitch gives smaller
    currents for positive weights, so fewer spikes."""
    sizes, t_steps = (16, 8, 4), 12
    ws = [
        jax.random.uniform(jax.random.key(10 + i), (a, b), minval=0.0, maxval=0.3)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
    ]
    x = _spikes(jax.random.key(12), (t_steps, 3, sizes[0]))
    net = Network(layers=(SpikingDense(neuron=LIF(beta=0.9)), SpikingDense(neuron=LIF(beta=0.9))))
    ideal = [
        _programmed(_spec(rows=a, cols=b, tile_rows=8, tile_cols=8, dac_bits=None), w, seed=i)
        for i, (a, b, w) in enumerate(zip(sizes[:-1], sizes[1:], ws))
    ]
    run = jax.jit(net.run)
    out_i = run(ideal, x)
    out_s = run([_with(a, circuit="transfer", r_row=1e-6, r_col=1e-6) for a in ideal], x)
    out_b = run([_with(a, circuit="transfer", r_row=100.0, r_col=100.0) for a in ideal], x)
    assert [s.shape for s in out_b.spikes] == [(t_steps, 3, 8), (t_steps, 3, 4)]
    assert all(s.dtype == jnp.float32 for s in out_b.spikes)
    assert set(np.unique(np.asarray(out_b.spikes[0]))) <= {0.0, 1.0}
    spk_i, spk_b = np.asarray(out_i.spikes[0]), np.asarray(out_b.spikes[0])
    assert 0 < spk_i.sum() < spk_i.size  # neither silent nor saturated
    for a, b in zip(out_s.spikes, out_i.spikes):  # negligible wires: the ideal network
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(out_s.membranes, out_i.membranes):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
    # first step: the membranes are the input currents, all smaller with IR drop
    assert np.all(np.asarray(out_b.membranes[0][0]) < np.asarray(out_i.membranes[0][0]))
    assert np.any(spk_b != spk_i) and spk_b.sum() < spk_i.sum()
    assert np.all(np.isfinite(np.asarray(out_b.membranes[-1])))


@pytest.mark.slow  # 12 s; test_gradients_through_transfer_match_finite_differences covers the gradients
def test_training_step_with_transfer_circuit_has_finite_gradients():
    """One `xbar.learn.train` step (one batch, one epoch) with hardware in the loop:
    every effect on, binary row drivers, and the wire circuit. Adam's first update is
    ``−lr·sign(g)`` where ``g ≠ 0``: finite weights that moved mean finite, nonzero
    gradients (a NaN gradient makes NaN weights, which `train` reports)."""
    sizes, n, lr = [8, 4], 8, 1e-2
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (n, sizes[0])).astype(np.float32)
    y = (x[:, :4].sum(1) > x[:, 4:].sum(1)).astype(np.int32)
    w0 = xbar.learn.init_weights(sizes, key=jax.random.key(1), gain=3.0)
    net = Network(layers=(SpikingDense(neuron=LIF()),))
    spec = xbar.CrossbarSpec(
        device=xbar.devices.load("rram_hfox"),
        rows=sizes[0],
        cols=sizes[1],
        dac_bits=None,
        circuit="transfer",
        r_row=20.0,
        r_col=20.0,
    )
    cfg = xbar.learn.TrainConfig(num_steps=6, epochs=1, batch_size=n, lr=lr, lr_schedule="constant")
    w1, hist = xbar.learn.train(net, w0, x, y, key=jax.random.key(2), config=cfg, specs=[spec], progress=False)
    assert len(hist["loss"]) == 1 and np.isfinite(hist["loss"][0])
    step = np.abs(np.asarray(w1[0]) - np.asarray(w0[0]))
    assert np.all(np.isfinite(step))
    assert np.mean(step > 0.5 * lr) > 0.5  # most weights got a nonzero gradient
    assert np.all(step < 1.5 * lr)


# ------------------------------------------------------------------ nonlinear cells
def _sinh_reference(array, x, v0):
    """Negligible wires: every cell sees its row voltage, so the differential output is
    ``x_max/(s·v_read)·Σᵢ v0·sinh(vᵢ/v0)·ΔGᵢⱼ`` with ``vᵢ = (xᵢ/x_max)·v_read``."""
    spec = array.spec
    g = xbar.conductances(array)
    dg = np.asarray(g["pos"] - g["neg"]).reshape(-1, g["pos"].shape[-1])[: spec.rows, : spec.cols]
    v_read, x_max, s = float(spec.read_voltage), float(spec.x_max), float(array.scale)
    v = np.asarray(x) / x_max * v_read
    return (v0 * np.sinh(v / v0)) @ dg * x_max / (s * v_read)


@pytest.mark.parametrize(
    ("x_max", "dac"), [pytest.param(1.0, False, marks=pytest.mark.slow), (2.0, False), (2.0, True)]
)
def test_sinh_selector_matches_closed_form_with_negligible_wires(x64, x_max, dac):
    """Row voltages are physical: ``v = (x/x_max)·v_read`` whether or not a DAC
    quantizes the inputs (inputs here lie on the 8-bit DAC grid)."""
    v0 = 0.1
    eff = Effects.only("dac") if dac else Effects.ideal()
    spec = _spec(effects=eff, dac_bits=8, x_max=x_max, circuit="solve", r_row=1e-6, r_col=1e-6, selector=Sinh(v0=v0))
    w, _ = _weights_inputs()
    levels = jax.random.randint(jax.random.key(13), (4, ROWS), 0, 256).astype(jnp.float64)
    x = levels * (x_max / 255.0)
    a = _programmed(spec, w)
    y = np.asarray(_mvm(a, x))
    ref = _sinh_reference(a, x, v0)
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    assert _rel(ref, x @ w) > 0.1  # v_read = 2·v0: far from linear


def test_sinh_selector_raises_output_magnitude_and_tends_to_linear(x64):
    w = jax.random.uniform(jax.random.key(14), (ROWS, COLS), minval=0.2, maxval=1.0)
    x = jnp.ones((4, ROWS))
    lin = _programmed(_spec(circuit="solve", **WIRES), w)
    assert float(lin.spec.read_voltage) == pytest.approx(0.2)
    y_lin = np.asarray(_mvm(lin, x))[0]
    assert np.all(y_lin > 0)
    sinh = _with(lin, selector=Sinh(v0=0.2))
    # sinh(V/v0)·v0 > V: more current for the same voltage; more so for smaller v0
    y_prev = y_lin
    for v0 in (0.4, 0.2, 0.1):
        y = np.asarray(_mvm(_with(sinh, selector=Sinh(v0=v0)), x))[0]
        assert np.all(y > y_prev), f"v0 = {v0} V: output did not grow"
        y_prev = y
    assert np.all(y_prev > 1.3 * y_lin)  # v_read = 2·v0: sinh(2)/2 = 1.81 before IR drop
    # v0 → ∞: linear, with the leading error (v/v0)²/6
    errs = [_rel(_mvm(_with(sinh, selector=Sinh(v0=v0)), x), y_lin) for v0 in (1.0, 10.0, 1e3)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[0] < 0.2**2 / 6 * 1.5
    assert errs[2] < 1e-7


def test_spec_with_a_selector_is_a_pytree_jax_can_rebuild():
    """Sweeping a selector parameter with `vmap` builds `in_axes` as a copy of the spec
    with ``None`` / ``0`` leaves; JAX (tree_map, in_axes, cache-miss explanations)
    rebuilds pytrees from such placeholders, so unflattening must not validate them —
    as `CrossbarSpec` itself does (its unflatten bypasses ``__post_init__``)."""
    spec = _spec(circuit="solve", r_row=1.0, r_col=1.0, selector=Sinh(v0=0.2))
    none_axes = jax.tree_util.tree_map(lambda _: None, spec)
    assert isinstance(none_axes.selector, Sinh)
    zero_axes = jax.tree_util.tree_map(lambda _: 0, spec)
    assert zero_axes.selector.v0 == 0
    assert jax.tree_util.tree_structure(zero_axes) == jax.tree_util.tree_structure(spec)


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        (dict(circuit="spice"), ValueError, r"^CrossbarSpec\.circuit:.*'ideal'.*'transfer'.*'solve'"),
        (dict(circuit="transfer", r_row=1.0, r_col=1.0, access="2t2r"), ValueError, r"^CrossbarSpec\.access:.*1t1r"),
        (
            dict(circuit="transfer", r_row=1.0, r_col=1.0, selector=Sinh(v0=0.2)),
            ValueError,
            r"^CrossbarSpec\.circuit:.*solve",
        ),
        (dict(circuit="ideal", selector=Sinh(v0=0.2)), ValueError, r"^CrossbarSpec\.circuit:.*solve"),
        (dict(circuit="solve", r_row=1.0, r_col=1.0, selector="sinh"), TypeError, r"^CrossbarSpec\.selector:"),
        (dict(circuit="solve", r_row=1.0, r_col=1.0, selector=0.2), TypeError, r"^CrossbarSpec\.selector:"),
        (dict(circuit="transfer", r_row=0.0, r_col=1.0), ValueError, r"^CrossbarSpec\.r_row:.*> 0"),
        (dict(circuit="solve", r_row=1.0, r_col=0.0), ValueError, r"^CrossbarSpec\.r_col:.*> 0"),
        (dict(circuit="transfer", r_row=1.0, r_col=1.0, r_source=-1.0), ValueError, r"^CrossbarSpec\.r_source:"),
        (dict(circuit="transfer", r_row=1.0, r_col=1.0, r_sense=-0.5), ValueError, r"^CrossbarSpec\.r_sense:"),
        (dict(circuit="ideal", r_row=-1.0), ValueError, r"^CrossbarSpec\.r_row:"),
        (dict(circuit="transfer", r_row=float("nan"), r_col=1.0), ValueError, r"^CrossbarSpec\.r_row:"),
        (dict(circuit="transfer", r_row=1.0, r_col=float("inf")), ValueError, r"^CrossbarSpec\.r_col:"),
        (dict(circuit="transfer", r_row=[1.0, 2.0], r_col=1.0), ValueError, r"^CrossbarSpec\.r_row:"),
    ],
)
def test_spec_errors_name_the_field(kw, exc, match):
    with pytest.raises(exc, match=match):
        _spec(**kw)


def test_ideal_circuit_accepts_zero_wires_and_nonideal_accepts_positive():
    assert _spec().circuit == "ideal"
    s = _spec(circuit="transfer", r_row=1.0, r_col=1.0, access="passive")
    assert s.access == "passive"
