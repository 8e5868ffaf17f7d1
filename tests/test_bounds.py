"""xbar.bounds: the predicted MVM error against Monte Carlo over ≥ 1,000 fabricated chips
(devices, drift, ADC rounding and clipping), the DAC's input-averaged error against
random inputs, and the IR-drop expansion against the exact circuit — each within 10 % of
the predicted standard deviation (or of the exact IR-drop error) inside its validity
range, and shown to fail outside it."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xbar
from xbar import bounds

N_CHIPS = 6000  # stuck cells make the errors heavy-tailed: 2,000 chips left ±10 % sampling noise on a std


@functools.partial(jax.jit, static_argnames=("n",))
def _monte_carlo(spec, w, x, t, seed, n):
    """mvm − Wᵀx on `n` independently fabricated, programmed and read chips."""

    def one(k):
        k_fab, k_prog, k_read = jax.random.split(k, 3)
        arr = xbar.program(xbar.fabricate(spec, key=k_fab), w, key=k_prog)
        return xbar.mvm(arr, x, key=k_read, t=t) - x @ w

    return jax.lax.map(one, jax.random.split(jax.random.key(seed), n), batch_size=250)


def _weights(rows, cols, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(rows, cols)), jnp.float32)


def _spikes(n, rows, density, seed=1):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(n, rows)) < density, jnp.float32)


def _agree(pred, err, p_clip_max=1.0):
    """Mean and std of the Monte Carlo error against the prediction, in units of the
    predicted std (the issue's criterion: within 10 % of it), worst over the outputs whose
    every row tile clips with probability below `p_clip_max`."""
    err = np.asarray(err, np.float64)
    std = np.sqrt(np.asarray(pred.var, np.float64))
    d_mean = np.abs(err.mean(0) - np.asarray(pred.mean)) / std
    d_std = np.abs(err.std(0) / std - 1.0)
    keep = np.asarray(pred.clip_probability).max(axis=-2) < p_clip_max
    return float(d_mean[keep].max()), float(d_std[keep].max())


SLOW = pytest.mark.slow
CASES = [
    # card, rows, cols, tile, adc_bits, density, t
    ("rram_hfox", 64, 16, 32, 8, 0.3, 0.0),
    pytest.param("rram_hfox", 256, 16, 128, 8, 0.2, 0.0, marks=SLOW),
    pytest.param("rram_hfox", 128, 16, 128, 6, 0.5, 86400.0, marks=SLOW),
    pytest.param("pcm_gst", 64, 16, 64, 8, 0.3, 0.0, marks=SLOW),
    ("pcm_gst", 128, 16, 128, 8, 0.3, 86400.0),
    pytest.param("stt_mtj", 64, 16, 64, 8, 0.3, 0.0, marks=SLOW),
    pytest.param("fg_flash", 64, 16, 64, 8, 0.3, 86400.0, marks=SLOW),
]


@pytest.mark.parametrize("card,rows,cols,tile,bits,density,t", CASES)
def test_mvm_error_matches_monte_carlo(card, rows, cols, tile, bits, density, t):
    dev = xbar.devices.load(card)
    spec = xbar.CrossbarSpec(device=dev, rows=rows, cols=cols, tile_rows=tile, tile_cols=tile, dac_bits=None,
                             adc_bits=bits)  # fmt: skip
    w = _weights(rows, cols)
    x = _spikes(3, rows, density)
    pred = bounds.mvm_error(spec, w, x, t=t)
    err = _monte_carlo(spec, w, x, t, 0, N_CHIPS)
    d_mean, d_std = _agree(pred, err)
    assert d_mean < 0.1 and d_std < 0.1, (d_mean, d_std)
    assert float(jnp.min(pred.adc_dither)) > 0.5  # inside the rounding model's range


# ADC range, spike density, seed, rows (64-row tiles: one tile, or two whose clipping adds up)
CLIP_CASES = [(0.03, 0.5, 1, 64), (0.05, 0.5, 2, 64), (0.02, 0.3, 3, 64), (0.03, 0.5, 4, 128)]


def test_adc_clipping_moments_and_their_validity_limit():
    """Narrow ADC ranges that clip often. The clipped-Gaussian moments match Monte Carlo
    (within 10 % of the predicted std) for every output whose row tiles clip with
    probability below 0.6 (outputs of one and of two row tiles) — the validity limit the
    docstring states — and stop matching where one tile's clipping is near certain
    (P > 0.9): there the error is the constant clip level but for the rare chips whose
    partial sum escapes it, a tail the Gaussian model of the sum underestimates (stuck
    cells make it heavier), while the predicted std goes to 0."""
    dev = xbar.devices.load("rram_hfox")
    inside, beyond = [], []
    for adc_range, density, seed, rows in CLIP_CASES:
        spec = xbar.CrossbarSpec(device=dev, rows=rows, cols=16, tile_rows=64, tile_cols=16, dac_bits=None,
                                 adc_range=adc_range)  # fmt: skip
        w, x = _weights(rows, 16, seed=seed), _spikes(2, rows, density, seed=seed)
        pred = bounds.mvm_error(spec, w, x)
        err = np.asarray(_monte_carlo(spec, w, x, 0.0, 1, N_CHIPS), np.float64)
        std = np.sqrt(np.asarray(pred.var, np.float64))
        d_mean = np.abs(err.mean(0) - np.asarray(pred.mean)) / std
        d_std = np.abs(err.std(0) / std - 1.0)
        p = np.asarray(pred.clip_probability).max(axis=-2)
        inside += list(zip(p[p < 0.6], d_mean[p < 0.6], d_std[p < 0.6]))
        if rows == 64:  # one tile per output (with two, the other tile's noise can carry the spread)
            beyond += list(d_std[(p > 0.9) & (std > 0)])  # a certain clip predicts std 0: no ratio
    p_in = np.array([r[0] for r in inside])
    assert p_in.max() > 0.5 and np.sum(p_in > 0.2) >= 10  # the range really is tested up to the limit
    assert max(r[1] for r in inside) < 0.1 and max(r[2] for r in inside) < 0.1
    assert len(beyond) >= 3 and np.all(np.array(beyond) > 0.2)  # past the limit the model understates the spread


def test_adc_clip_probability_matches_the_analog_partial_sums():
    """The predicted P(clip) per row tile against the fraction of 6,000 chips whose analog
    partial sum lies beyond the ADC's full scale."""
    dev = xbar.devices.load("rram_hfox")
    spec = xbar.CrossbarSpec(device=dev, rows=64, cols=16, tile_rows=64, tile_cols=16, dac_bits=None, adc_range=0.03)
    w = _weights(64, 16)
    x = _spikes(2, 64, 0.5)
    pred = bounds.mvm_error(spec, w, x)
    p = np.asarray(pred.clip_probability)
    assert p.max() > 0.2  # the case really clips
    # the predicted clip probability against the analog partial sums of the same chips
    keys = jax.random.split(jax.random.key(1), N_CHIPS)
    no_adc = xbar._tree.replace(spec, effects=xbar.Effects(adc=False))

    def analog(k):
        k_fab, k_prog, k_read = jax.random.split(k, 3)
        arr = xbar.program(xbar.fabricate(no_adc, key=k_fab), w, key=k_prog)
        return xbar.mvm(arr, x, key=k_read)

    y = np.asarray(jax.lax.map(analog, keys, batch_size=250))
    arr0 = xbar.program(xbar.fabricate(spec, key=keys[0]), w, key=keys[0])
    lim = float(spec.adc_range * spec.tile_rows * spec.window_per_weight / arr0.scale)  # full scale, weight units
    emp = (np.abs(y) > lim).mean(0)
    p = p[:, 0, :]
    inside = p < 0.6  # the clipped moments' validity range (the module docstring)
    assert inside.sum() >= 20 and (~inside).sum() >= 4
    np.testing.assert_allclose(emp[inside], p[inside], atol=0.03)
    np.testing.assert_allclose(emp, p, atol=0.04)  # beyond it the sum's heavier tails show (up to 0.033 here)


def test_validity_limit_of_the_rounding_model():
    """With the device noise switched off but the ADC on, a coarse ADC's rounding is
    deterministic (dither ≪ 0.5): the uniform model's std no longer describes the error
    — the limit the docstring states. With noise on (dither ≥ 0.5) it does."""
    dev = xbar.devices.load("rram_hfox")
    w = _weights(128, 16)
    x = _spikes(2, 128, 0.3)
    noisy = xbar.CrossbarSpec(device=dev, rows=128, cols=16, dac_bits=None, adc_bits=6)
    quiet = xbar._tree.replace(noisy, adc_bits=4, effects=xbar.Effects.only("adc"))
    p_noisy, p_quiet = bounds.mvm_error(noisy, w, x), bounds.mvm_error(quiet, w, x)
    assert float(jnp.min(p_noisy.adc_dither)) > 0.5 and float(jnp.max(p_quiet.adc_dither)) == 0.0
    _, d_noisy = _agree(p_noisy, _monte_carlo(noisy, w, x, 0.0, 2, N_CHIPS))
    assert d_noisy < 0.1
    err_quiet = np.asarray(_monte_carlo(quiet, w, x, 0.0, 2, 8))
    assert np.allclose(err_quiet.std(0), 0.0, atol=1e-5)  # deterministic: every chip the same
    assert float(jnp.min(p_quiet.std)) > 0.01  # while the model predicts a spread


def test_dac_error_against_random_inputs():
    dev = xbar.devices.load("rram_hfox")
    spec = xbar.CrossbarSpec(device=dev, rows=64, cols=8, dac_bits=4, effects=xbar.Effects.only("dac"))
    w = _weights(64, 8)
    var, worst = bounds.dac_error(spec, w)
    x = jax.random.uniform(jax.random.key(0), (20000, 64))
    arr = xbar.program(xbar.fabricate(spec, key=jax.random.key(1)), w, key=jax.random.key(2))
    err = np.asarray(xbar.mvm(arr, x) - x @ w)
    np.testing.assert_allclose(err.std(0), np.sqrt(np.asarray(var)), rtol=0.05)
    assert np.all(np.abs(err) <= np.asarray(worst) * (1 + 1e-5))
    # the deterministic per-input DAC error is the prediction's mean, exactly
    pred = bounds.mvm_error(spec, w, x[:4])
    np.testing.assert_allclose(np.asarray(pred.mean), err[:4], atol=2e-5)
    np.testing.assert_allclose(np.asarray(pred.dac_mean), err[:4], atol=2e-5)
    spikes = xbar._tree.replace(spec, dac_bits=None)
    assert float(jnp.max(bounds.dac_error(spikes, w)[0])) == 0.0


@pytest.mark.parametrize("order,eps_ok,eps_bad", [(1, 0.05, 0.4), (2, 0.2, 1.0)])
def test_ir_drop_expansion_against_exact_solve(order, eps_ok, eps_bad):
    """Order 1 predicts the exact IR-drop error within 10 % up to ε ≈ 0.05 and not at
    ε = 0.4; order 2 up to ε ≈ 0.2 and not at ε = 1."""
    dev = xbar.devices.load("rram_hfox")
    results = {}
    for n in (16, 48):
        w = _weights(n, n, seed=n)
        x = _spikes(4, n, 0.5, seed=n)
        base = xbar.CrossbarSpec(device=dev, rows=n, cols=n, dac_bits=None, effects=xbar.Effects.ideal(),
                                 circuit="transfer", r_row=1.0, r_col=1.0)  # fmt: skip
        eps1 = float(bounds.ir_drop_error(base, w, x).epsilon)
        for eps in (eps_ok, eps_bad):
            r = eps / eps1
            spec = xbar._tree.replace(base, r_row=r, r_col=r)
            pred = bounds.ir_drop_error(spec, w, x, order=order)
            assert float(pred.epsilon) == pytest.approx(eps, rel=1e-4)
            arr = xbar.program(xbar.fabricate(spec, key=jax.random.key(0)), w, key=jax.random.key(0))
            exact = np.asarray(xbar.mvm(arr, x) - x @ w)
            rel = np.abs(np.asarray(pred.error) - exact).max() / np.abs(exact).max()
            results[(n, eps)] = rel
    for n in (16, 48):
        assert results[(n, eps_ok)] < 0.1, results
        assert results[(n, eps_bad)] > 0.1, results


def test_jit_vmap_grad_and_errors():
    dev = xbar.devices.load("rram_hfox")
    spec = xbar.CrossbarSpec(device=dev, rows=32, cols=8, dac_bits=None)
    w = _weights(32, 8)
    x = _spikes(2, 32, 0.4)
    eager = bounds.mvm_error(spec, w, x)
    jitted = jax.jit(bounds.mvm_error)(spec, w, x)
    np.testing.assert_allclose(np.asarray(jitted.var), np.asarray(eager.var), rtol=1e-5)
    # vmap over ADC bits equals a loop
    bits = jnp.array([4, 6, 8])
    f = lambda b: bounds.mvm_error(xbar._tree.replace(spec, adc_bits=b), w, x).var  # noqa: E731
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(bits)), np.stack([f(int(b)) for b in bits]), rtol=1e-5)
    g = jax.grad(lambda w: jnp.sum(bounds.mvm_error(spec, w, x).var))(w)
    assert np.all(np.isfinite(np.asarray(g))) and float(jnp.max(jnp.abs(g))) > 0
    with pytest.raises(TypeError, match="spec: expected an xbar.CrossbarSpec, got str"):
        bounds.mvm_error("rram", w, x)
    with pytest.raises(ValueError, match=r"weights: expected shape \(rows, cols\) = \(32, 8\), got \(8, 32\)"):
        bounds.mvm_error(spec, w.T, x)
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., rows\) with rows = 32, got \(2, 8\)"):
        bounds.mvm_error(spec, w, x[:, :8])
    with pytest.raises(ValueError, match="spec.circuit: mvm_error predicts the ideal-circuit read"):
        bounds.mvm_error(xbar._tree.replace(spec, circuit="transfer", r_row=1.0, r_col=1.0), w, x)
    with pytest.raises(ValueError, match="order: expected 1 or 2, got 3"):
        bounds.ir_drop_error(spec, w, x, order=3)
