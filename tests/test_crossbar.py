"""xbar.circuit: CrossbarSpec, fabricate, program, mvm — references, transformations,
determinism, gradients and errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xbar
from xbar import Effects


def _spec(device, rows=300, cols=70, **kw):
    kw.setdefault("tile_rows", 128)
    kw.setdefault("tile_cols", 32)
    return xbar.CrossbarSpec(device=device, rows=rows, cols=cols, **kw)


def _weights_inputs(rows, cols, batch=(5,), seed=0):
    kw, kx = jax.random.split(jax.random.key(seed))
    w = jax.random.normal(kw, (rows, cols))
    x = jax.random.uniform(kx, batch + (rows,))
    return w, x


def _programmed(spec, w, seed=1):
    kf, kp = jax.random.split(jax.random.key(seed))
    return xbar.program(xbar.fabricate(spec, key=kf), w, key=kp)


# ----------------------------------------------------------------------- ideal read
@pytest.mark.parametrize(
    ("card", "mapping", "rows", "cols", "batch"),
    [
        ("rram_hfox", "differential", 300, 70, (5,)),
        ("pcm_gst", "reference", 300, 70, (5,)),
        ("stt_mtj", "differential", 129, 33, (2, 3)),
        ("fg_flash", "reference", 129, 33, (2, 3)),
        ("rram_hfox", "reference", 64, 10, ()),
        ("pcm_gst", "differential", 64, 10, ()),
    ],
)
def test_every_effect_off_equals_w_transpose_x(x64, card, mapping, rows, cols, batch):
    dev = xbar.devices.load(card)
    spec = _spec(dev, rows, cols, mapping=mapping, effects=Effects.ideal())
    w, x = _weights_inputs(rows, cols, batch)
    y = xbar.mvm(_programmed(spec, w), x)
    assert y.shape == batch + (cols,)
    np.testing.assert_allclose(np.asarray(y), np.asarray(x @ w), rtol=1e-11, atol=1e-11 * float(jnp.abs(x @ w).max()))
    np.testing.assert_allclose(
        np.asarray(xbar.effective_weights(_programmed(spec, w))), np.asarray(w), rtol=1e-11, atol=1e-12
    )


def test_default_float32_ideal_read_is_close(cards):
    spec = _spec(cards["rram_hfox"], effects=Effects.ideal())
    w, x = _weights_inputs(300, 70)
    y = xbar.mvm(_programmed(spec, w), x)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), np.asarray(x @ w), rtol=2e-5, atol=2e-5 * float(jnp.abs(x @ w).max()))


def test_tiling_geometry(cards):
    spec = xbar.CrossbarSpec(device=cards["rram_hfox"], rows=784, cols=256)
    assert spec.tile_shape == (128, 128) and spec.tile_grid == (7, 2)
    chip = xbar.fabricate(spec, key=jax.random.key(0))
    assert chip.fab["pos"]["lo"].shape == (7, 128, 256)
    small = xbar.CrossbarSpec(device=cards["rram_hfox"], rows=64, cols=10)
    assert small.tile_shape == (64, 10) and small.tile_grid == (1, 1)
    ref = xbar.CrossbarSpec(device=cards["rram_hfox"], rows=300, cols=70, tile_cols=32, mapping="reference")
    assert ref.plane_shape("main") == (3, 128, 96) and ref.plane_shape("ref") == (3, 128, 3)


# ----------------------------------------------------------------------- periphery
def _numpy_tiled_adc(w, x, tr, bits, fs):
    n = 2 ** (bits - 1) - 1
    step = fs / n
    out = np.zeros(x.shape[:-1] + (w.shape[1],))
    for r0 in range(0, w.shape[0], tr):
        part = x[..., r0 : r0 + tr] @ w[r0 : r0 + tr]
        out += np.clip(np.round(part / step), -n, n) * step
    return out


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_adc_is_per_row_tile_against_numpy_reference(x64, mapping):
    dev = xbar.devices.load("rram_hfox")
    bits, adc_range = 5, 0.05
    spec = _spec(dev, mapping=mapping, effects=Effects.only("adc"), adc_bits=bits, adc_range=adc_range, w_max=3.0)
    w, x = _weights_inputs(300, 70, (6,))
    w = jnp.clip(w, -3, 3)
    y = xbar.mvm(_programmed(spec, w), x)
    # full scale in weight·input units: adc_range · tile_rows (physical) · w_max
    ref = _numpy_tiled_adc(np.asarray(w), np.asarray(x), 128, bits, adc_range * 128 * 3.0)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-9, atol=1e-9)
    assert not np.allclose(ref, np.asarray(x @ w), atol=1e-3)  # the ADC really quantizes here


def test_dac_quantizes_inputs(x64):
    spec = _spec(xbar.devices.load("pcm_gst"), effects=Effects.only("dac"), dac_bits=3, x_max=2.0)
    w, x = _weights_inputs(300, 70)
    x = 2.0 * x
    y = xbar.mvm(_programmed(spec, w), x)
    xq = np.clip(np.round(np.asarray(x) / 2.0 * 7), 0, 7) / 7 * 2.0
    np.testing.assert_allclose(np.asarray(y), xq @ np.asarray(w), rtol=1e-10, atol=1e-10)


def test_binary_drivers_leave_spikes_exact(x64):
    spec = _spec(xbar.devices.load("rram_hfox"), effects=Effects.only("dac"), dac_bits=None)
    w, x = _weights_inputs(300, 70)
    s = (x > 0.5).astype(x.dtype)
    np.testing.assert_allclose(np.asarray(xbar.mvm(_programmed(spec, w), s)), np.asarray(s @ w), rtol=1e-10, atol=1e-10)


def test_stt_levels_quantize_weights_to_2k_plus_1_levels(x64):
    dev = xbar.devices.load("stt_mtj")
    k = dev.mtjs_per_device
    spec = _spec(dev, effects=Effects.only("levels"), w_max=1.0)
    w = jax.random.uniform(jax.random.key(0), (300, 70), minval=-1, maxval=1)
    w_eff = np.asarray(xbar.effective_weights(_programmed(spec, w)))
    np.testing.assert_allclose(w_eff, np.round(np.asarray(w) * k) / k, atol=1e-9)
    assert len(np.unique(np.round(w_eff * k))) == 2 * k + 1


# ----------------------------------------------------------------------- read noise
def _read_var_prediction(spec, array, x):
    """Var of y per output for RRAM's constant read noise: Σ u² (σ⁺² + σ⁻²) / s²."""
    sigma = float(spec.device.read_sigma)
    return float(np.sum(np.asarray(x) ** 2) * 2 * sigma**2 / float(array.scale) ** 2)


@pytest.mark.parametrize("mode", [pytest.param("output", marks=pytest.mark.slow), "conductance"])
def test_read_noise_variance_matches_prediction(mode):
    dev = xbar.devices.load("rram_hfox")
    spec = _spec(dev, rows=128, cols=16, effects=Effects.only("read_noise"), read_noise=mode, w_max=2.0)
    w, x = _weights_inputs(128, 16, ())
    arr = _programmed(spec, jnp.clip(w, -2, 2))
    n = 2000
    keys = jax.random.split(jax.random.key(5), n)
    ys = np.asarray(jax.vmap(lambda k: xbar.mvm(arr, x, key=k))(keys), dtype=np.float64)
    var = ys.var(axis=0)  # per output, over independent reads
    pred = _read_var_prediction(spec, arr, x)
    # pooled over 16 outputs: standard error of a variance estimate is var·sqrt(2/n)
    assert abs(var.mean() / pred - 1) < 5 * np.sqrt(2 / n) / np.sqrt(16) + 0.01
    np.testing.assert_allclose(ys.mean(axis=0), np.asarray(x @ jnp.clip(w, -2, 2)), atol=5 * np.sqrt(pred / n) + 1e-4)


def test_conductance_mode_shares_one_snapshot_output_mode_does_not(cards):
    w, x = _weights_inputs(128, 16, ())
    xb = jnp.stack([x, x, x])
    for mode, shared in (("conductance", True), ("output", False)):
        spec = _spec(cards["rram_hfox"], rows=128, cols=16, effects=Effects.only("read_noise"), read_noise=mode)
        y = np.asarray(xbar.mvm(_programmed(spec, w), xb, key=jax.random.key(1)))
        assert np.array_equal(y[0], y[1]) == shared and np.array_equal(y[1], y[2]) == shared


def test_read_noise_needs_a_key(cards):
    spec = _spec(cards["rram_hfox"])
    w, x = _weights_inputs(300, 70)
    with pytest.raises(ValueError, match="key: expected a PRNG key because read noise is on"):
        xbar.mvm(_programmed(spec, w), x)


# ----------------------------------------------------------------------- drift compensation
def test_pcm_global_drift_compensation_restores_the_mean(cards):
    w, x = _weights_inputs(256, 64, (32,))
    x_ideal = np.asarray(x @ w)
    ratios = {}
    for comp in (True, False):
        spec = _spec(cards["pcm_gst"], rows=256, cols=64, effects=Effects.only("drift"), drift_compensation=comp)
        arr = _programmed(spec, w)
        y = np.asarray(xbar.mvm(arr, x, t=86400.0))
        ratios[comp] = float(np.sum(y * x_ideal) / np.sum(x_ideal**2))  # least-squares gain
    assert 0.95 < ratios[True] < 1.05
    assert ratios[False] < 0.75  # mean drift factor after one day at ν ≈ 0.05–0.1


# ----------------------------------------------------------------------- transformations
def _all_on_read(spec, w, x, key):
    kf, kp, kr = jax.random.split(key, 3)
    arr = xbar.program(xbar.fabricate(spec, key=kf), w, key=kp)
    return xbar.mvm(arr, x, key=kr, t=3600.0)


@pytest.mark.parametrize("card", ["rram_hfox", "pcm_gst", pytest.param("stt_mtj", marks=pytest.mark.slow), "fg_flash"])
def test_jit_equals_eager_and_same_key_same_result(cards, card):
    spec = _spec(cards[card], adc_bits=6)
    w, x = _weights_inputs(300, 70)
    k = jax.random.key(9)
    eager = np.asarray(_all_on_read(spec, w, x, k))
    jitted = np.asarray(jax.jit(_all_on_read, static_argnums=())(spec, w, x, k))
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-5 * np.abs(eager).max())
    np.testing.assert_array_equal(np.asarray(_all_on_read(spec, w, x, k)), eager)
    other = np.asarray(_all_on_read(spec, w, x, jax.random.key(10)))
    assert not np.allclose(other, eager)


def test_vmap_over_inputs_equals_loop(cards):
    spec = _spec(cards["rram_hfox"])
    w, x = _weights_inputs(300, 70, (4,))
    arr = _programmed(spec, w)
    keys = jax.random.split(jax.random.key(2), 4)
    read = jax.jit(lambda xi, k: xbar.mvm(arr, xi, key=k))
    batched = jax.vmap(read)(x, keys)
    looped = jnp.stack([read(xi, k) for xi, k in zip(x, keys)])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # secondary (10 s class); run with -m slow
def test_vmap_over_chips_equals_loop(cards):
    spec = _spec(cards["pcm_gst"])
    w, x = _weights_inputs(300, 70)
    keys = jax.random.split(jax.random.key(3), 3)
    batched = jax.vmap(lambda k: _all_on_read(spec, w, x, k))(keys)
    one = jax.jit(_all_on_read)
    looped = jnp.stack([one(spec, w, x, k) for k in keys])
    np.testing.assert_allclose(
        np.asarray(batched), np.asarray(looped), rtol=1e-5, atol=1e-5 * float(jnp.abs(looped).max())
    )


def test_vmap_over_a_device_parameter(cards):
    """Physical quantities are array leaves: a sweep can vmap over them."""
    dev = cards["rram_hfox"]
    w, x = _weights_inputs(300, 70)
    sigmas = jnp.array([0.0, 0.4e-6, 4e-6])

    def read(sig):
        spec = _spec(dataclasses.replace(dev, read_sigma=sig), effects=Effects.only("read_noise"))
        return xbar.mvm(_programmed(spec, w), x, key=jax.random.key(4))

    ys = jax.vmap(read)(sigmas)
    errs = [float(jnp.linalg.norm(y - x @ w)) for y in ys]
    assert errs[0] < 1e-3 * float(jnp.linalg.norm(x @ w)) and errs[0] < errs[1] < errs[2]


# ----------------------------------------------------------------------- gradients
def test_gradients_match_central_differences(x64):
    """d loss / dW through programming noise, d2d windows, stuck cells and read noise."""
    dev = xbar.devices.load("rram_hfox")
    spec = _spec(dev, rows=40, cols=12, tile_rows=16, effects=Effects(adc=False, dac=False), w_max=4.0)
    w, x = _weights_inputs(40, 12, (3,))
    w = jnp.clip(w, -3.5, 3.5)
    c = jax.random.normal(jax.random.key(7), (3, 12))
    chip = xbar.fabricate(spec, key=jax.random.key(8))

    def loss(w_):
        arr = xbar.program(chip, w_, key=jax.random.key(9))
        return jnp.sum(xbar.mvm(arr, x, key=jax.random.key(10)) * c)

    g = jax.grad(loss)(w)
    assert bool(jnp.all(jnp.isfinite(g)))
    for i in range(3):
        d = jax.random.normal(jax.random.key(20 + i), w.shape)
        eps = 1e-6
        fd = (loss(w + eps * d) - loss(w - eps * d)) / (2 * eps)
        np.testing.assert_allclose(float(jnp.vdot(g, d)), float(fd), rtol=1e-6)


def test_adc_gradient_is_straight_through(x64):
    dev = xbar.devices.load("rram_hfox")
    w, x = _weights_inputs(300, 70)
    c = jax.random.normal(jax.random.key(7), (5, 70))
    ideal_grad = jax.grad(lambda w_: jnp.sum((x @ w_) * c))(w)
    for ste, adc_range in (("identity", 0.05), ("clipped", 1.0)):  # 1.0: no saturation
        spec = _spec(dev, effects=Effects.only("adc"), adc_ste=ste, adc_range=adc_range, adc_bits=4)
        chip = xbar.fabricate(spec, key=jax.random.key(1))
        g = jax.grad(lambda w_, chip=chip: jnp.sum(xbar.mvm(xbar.program(chip, w_, key=jax.random.key(2)), x) * c))(w)
        np.testing.assert_allclose(np.asarray(g), np.asarray(ideal_grad), rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------- errors
def test_program_and_mvm_errors(cards):
    spec = _spec(cards["rram_hfox"])
    chip = xbar.fabricate(spec, key=jax.random.key(0))
    w, x = _weights_inputs(300, 70)
    with pytest.raises(
        ValueError, match=r"weights: expected shape \(rows, cols\) = \(300, 70\) from the spec, got \(70, 300\)"
    ):
        xbar.program(chip, w.T, key=jax.random.key(1))
    with pytest.raises(TypeError, match="weights: expected a floating-point array, got dtype int32"):
        xbar.program(chip, jnp.ones((300, 70), jnp.int32), key=jax.random.key(1))
    with pytest.raises(ValueError, match="array: expected a programmed array"):
        xbar.mvm(chip, x, key=jax.random.key(1))
    arr = xbar.program(chip, w, key=jax.random.key(1))
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., rows\) with rows = 300, got \(5, 299\)"):
        xbar.mvm(arr, x[:, :299], key=jax.random.key(1))
    with pytest.raises(TypeError, match="array: expected an xbar.CrossbarArray"):
        xbar.mvm(w, x, key=jax.random.key(1))
    with pytest.raises(TypeError, match="spec: expected xbar.CrossbarSpec"):
        xbar.fabricate("rram_hfox", key=jax.random.key(0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"device": "rram_hfox"}, "CrossbarSpec.device: expected a cell model"),
        ({"rows": 0}, "CrossbarSpec.rows: expected a positive int, got 0"),
        ({"cols": 2.5}, "CrossbarSpec.cols: expected a positive int, got float"),
        ({"mapping": "single"}, r"CrossbarSpec.mapping: expected one of \('differential', 'reference'\), got 'single'"),
        ({"read_noise": "both"}, "CrossbarSpec.read_noise: expected one of"),
        ({"dac_bits": 0}, "CrossbarSpec.dac_bits: expected at least 1 bits, got 0"),
        ({"adc_bits": 1}, "CrossbarSpec.adc_bits: expected at least 2 bits, got 1"),
        ({"adc_ste": "soft"}, "CrossbarSpec.adc_ste: expected one of"),
        ({"x_max": -1.0}, "CrossbarSpec.x_max: expected a positive value, got -1.0"),
        ({"adc_range": float("nan")}, "CrossbarSpec.adc_range: expected a finite number"),
        ({"effects": {"adc": False}}, "CrossbarSpec.effects: expected xbar.Effects"),
    ],
)
def test_spec_errors_name_field_expected_and_got(cards, kwargs, match):
    args = {"device": cards["rram_hfox"], "rows": 8, "cols": 8}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        xbar.CrossbarSpec(**args)


def test_effects_switches_and_errors():
    assert Effects.ideal().is_ideal and not Effects().is_ideal
    assert Effects.only("adc").adc and not Effects.only("adc").dac
    assert not Effects().without("drift").drift
    with pytest.raises(ValueError, match="effect name: expected one of"):
        Effects.only("noise")
    with pytest.raises(TypeError, match="Effects.adc: expected a bool, got int 1"):
        Effects(adc=1)


def test_adc_bits_is_a_leaf_that_vmaps():
    # adc_bits changes no shape: specs that differ only in it share a compilation, and a
    # sweep can vmap over it with the same reads as one spec per value
    dev = xbar.devices.load("rram_hfox")
    w = 0.1 * jax.random.normal(jax.random.key(1), (70, 20))
    x = jax.random.uniform(jax.random.key(2), (5, 70))

    def read(bits):
        spec = xbar.CrossbarSpec(device=dev, rows=70, cols=20, tile_rows=32, adc_bits=bits)
        arr = xbar.program(xbar.fabricate(spec, key=jax.random.key(0)), w, key=jax.random.key(3))
        return xbar.mvm(arr, x, key=jax.random.key(4))

    swept = jax.jit(jax.vmap(read))(jnp.array([3, 5, 8]))
    one = jax.jit(read)  # a traced bit count: one compilation for every value
    for i, bits in enumerate((3, 5, 8)):
        np.testing.assert_array_equal(swept[i], one(bits))
    np.testing.assert_array_equal(swept[1], jax.jit(lambda: read(5))())  # a concrete bit count, as a constant
    assert not np.allclose(swept[0], swept[2])  # the resolution reaches the reads
    spec = xbar.CrossbarSpec(device=dev, rows=70, cols=20, adc_bits=np.int64(6))
    assert spec.adc_bits == 6 and isinstance(spec.adc_bits, int)
    for bad, kind in [(2.5, TypeError), ("8", TypeError), (True, TypeError), (1, ValueError), (30, ValueError)]:
        with pytest.raises(kind, match="CrossbarSpec.adc_bits"):
            xbar.CrossbarSpec(device=dev, rows=70, cols=20, adc_bits=bad)
