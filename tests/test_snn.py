"""Tests for xbar.snn: surrogate gradients, LIF/IF neurons, encoders and spiking layers."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import xbar
from xbar import snn
from xbar.snn import IF, LIF, Network, SpikingDense, Surrogate

# ----------------------------------------------------------------------------- helpers

SLOPES = {
    "fast_sigmoid": (0.5, 5.0, 25.0),
    "arctan": (0.5, 2.0, 10.0),
    "triangle": (0.5, 1.0, 3.0),
}
FACTORIES = {"fast_sigmoid": snn.fast_sigmoid, "arctan": snn.arctan, "triangle": snn.triangle}


def _formula(kind, x, k):
    """The documented pseudo-derivatives, written out in NumPy."""
    x = np.asarray(x, dtype=np.float64)
    if kind == "fast_sigmoid":
        return 1.0 / (k * np.abs(x) + 1.0) ** 2
    if kind == "arctan":
        return (k / 2.0) / (1.0 + (np.pi * k * x / 2.0) ** 2)
    return k * np.maximum(0.0, 1.0 - k * np.abs(x))


def _z(p_two_sided: float) -> float:
    """Normal quantile for a two-sided tail probability."""
    return float(stats.norm.isf(p_two_sided / 2.0))


def _scan_neuron_jax(neuron, currents):
    """Drive a neuron with currents (T, ...) from a zero membrane: (spikes, membranes)."""

    def body(mem, c):
        mem, s = neuron.step(mem, c)
        return mem, (s, mem)

    _, out = jax.lax.scan(body, neuron.init(currents.shape[1:], currents.dtype), currents)
    return out


def _scan_neuron(neuron, currents):
    spk, mem = _scan_neuron_jax(neuron, currents)
    return np.asarray(spk), np.asarray(mem)


def _numpy_lif(beta, thr, reset, currents):
    """The documented discrete-time LIF in plain NumPy (float64)."""
    currents = np.asarray(currents, dtype=np.float64)
    u = np.zeros(currents.shape[1:])
    spikes, mems = [], []
    for c in currents:
        r = (u > thr).astype(np.float64)  # R[t] = H(U[t-1] - θ)
        if reset == "subtract":
            u = beta * u + c - r * thr
        elif reset == "zero":
            u = beta * (1.0 - r) * u + c
        else:
            u = beta * u + c
        spikes.append((u - thr > 0).astype(np.float64))
        mems.append(u)
    return np.stack(spikes), np.stack(mems)


def _assert_mem_close(actual, ref):
    """Membranes agree up to floating-point rounding: XLA contracts ``β·U + I`` into a
    fused multiply-add, so the last bit can differ from NumPy. Each step adds at most a
    few ulps of the largest magnitude, and β <= 1 does not amplify earlier errors."""
    ref = np.asarray(ref)
    bound = 4 * ref.shape[0] * np.finfo(ref.dtype).eps * max(1.0, float(np.max(np.abs(ref))))
    np.testing.assert_allclose(np.asarray(actual), ref, rtol=0, atol=bound)


def _rand_currents(seed, shape, scale=0.8, offset=0.3):
    rng = np.random.default_rng(seed)
    return offset + scale * rng.standard_normal(shape)


# ------------------------------------------------------------------------- surrogates


@pytest.mark.parametrize("kind", list(SLOPES))
def test_surrogate_grad_matches_documented_formula(x64, kind):
    x = jnp.asarray(np.concatenate([np.linspace(-3.0, 3.0, 241), [0.0, 1e-12, -1e-12]]))
    for k in SLOPES[kind]:
        sur = FACTORIES[kind](k)
        g = jax.grad(lambda v, s=sur: s(v).sum())(x)
        assert g.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(g), _formula(kind, x, k), rtol=1e-14, atol=0)
        # the public `derivative` is the same function as the backward pass
        np.testing.assert_allclose(np.asarray(sur.derivative(x)), _formula(kind, x, k), rtol=1e-14)


@pytest.mark.parametrize("kind", list(SLOPES))
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_surrogate_forward_is_heaviside(x64, kind, dtype):
    x = jnp.asarray([-np.inf, -2.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 1.0, np.inf], dtype=dtype)
    expected = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=np.float64)
    for k in SLOPES[kind]:
        s = FACTORIES[kind](k)(x)
        assert s.dtype == dtype
        np.testing.assert_array_equal(np.asarray(s), expected)


def test_spike_default_is_fast_sigmoid_25(x64):
    x = jnp.linspace(-1.0, 1.0, 41)
    np.testing.assert_array_equal(np.asarray(snn.spike(x)), (np.asarray(x) > 0).astype(float))
    g = jax.grad(lambda v: snn.spike(v).sum())(x)
    np.testing.assert_allclose(np.asarray(g), _formula("fast_sigmoid", x, 25.0), rtol=1e-14)
    g3 = jax.grad(lambda v: snn.spike(v, snn.triangle(2.0)).sum())(x)
    np.testing.assert_allclose(np.asarray(g3), _formula("triangle", x, 2.0), rtol=1e-14)


@pytest.mark.parametrize("alpha", [0.5, 2.0, 10.0])
def test_arctan_unit_area_and_antiderivative(x64, alpha):
    sur = snn.arctan(alpha)
    dfun = jax.jit(jax.grad(lambda v: sur(v)))
    area, err = integrate.quad(lambda v: float(dfun(v)), -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12)
    assert err < 1e-9
    assert area == pytest.approx(1.0, abs=1e-9)

    def primitive(v):
        return jnp.arctan(jnp.pi * alpha * v / 2.0) / jnp.pi + 0.5

    x = jnp.linspace(-4.0, 4.0, 161)
    g_sur = jax.vmap(jax.grad(lambda v: sur(v)))(x)
    g_prim = jax.vmap(jax.grad(primitive))(x)
    np.testing.assert_allclose(np.asarray(g_sur), np.asarray(g_prim), rtol=1e-13)


@pytest.mark.parametrize("slope", [0.5, 1.0, 3.0])
def test_triangle_unit_area(x64, slope):
    sur = snn.triangle(slope)
    dfun = jax.jit(jax.grad(lambda v: sur(v)))
    area, _ = integrate.quad(
        lambda v: float(dfun(v)), -2.0 / slope, 2.0 / slope, points=[-1.0 / slope, 0.0, 1.0 / slope], epsabs=1e-14
    )
    assert area == pytest.approx(1.0, abs=1e-12)
    # support is |x| < 1/slope
    outside = jnp.asarray([1.0, -1.0, 1.5, -40.0]) * (1.0 + 1e-12) / slope
    np.testing.assert_array_equal(np.asarray(jax.vmap(dfun)(outside)), np.zeros(4))
    inside = jnp.asarray([1.0, -1.0]) * (1.0 - 1e-6) / slope
    assert np.all(np.asarray(jax.vmap(dfun)(inside)) > 0.0)


@pytest.mark.parametrize("kind", list(SLOPES))
def test_surrogate_slope_gets_zero_gradient(x64, kind):
    x = jnp.linspace(-1.0, 1.0, 21)

    def loss(k, v):
        return (jnp.cos(v) * Surrogate(kind=kind, k=k)(v)).sum()

    gk, gx = jax.grad(loss, argnums=(0, 1))(jnp.asarray(2.0), x)
    assert float(gk) == 0.0
    assert np.any(np.asarray(gx) != 0.0)  # the input does get a gradient
    # also as a pytree leaf of the surrogate object
    g_tree = jax.grad(lambda s: (jnp.cos(x) * s(x)).sum())(FACTORIES[kind](2.0))
    assert float(g_tree.k) == 0.0


@pytest.mark.parametrize("kind", list(SLOPES))
def test_surrogate_slope_vmaps(x64, kind):
    ks = jnp.asarray(SLOPES[kind])
    x = jnp.linspace(-1.0, 1.0, 11)
    g = jax.vmap(lambda k: jax.grad(lambda v: Surrogate(kind=kind, k=k)(v).sum())(x))(ks)
    for i, k in enumerate(SLOPES[kind]):
        np.testing.assert_allclose(np.asarray(g[i]), _formula(kind, x, k), rtol=1e-14)


def test_surrogate_errors():
    with pytest.raises(ValueError, match=r"Surrogate\.kind.*'relu'"):
        Surrogate(kind="relu", k=1.0)
    for factory in FACTORIES.values():
        name = factory().kind
        for bad in (0.0, -1.0):
            with pytest.raises(ValueError, match=f"{name}.*positive"):
                factory(bad)
        with pytest.raises(ValueError, match=f"{name} slope.*finite"):
            factory(float("nan"))
        with pytest.raises(TypeError, match=f"{name} slope.*bool"):
            factory(True)
        with pytest.raises(TypeError, match=f"{name} slope"):
            factory("steep")


# ---------------------------------------------------------------------------- neurons


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_lif_matches_numpy_reference(x64, reset):
    cur = _rand_currents(1, (60, 40))
    for beta, thr in [(0.9, 1.0), (0.5, 0.7), (1.0, 1.3)]:
        neuron = LIF(beta=beta, threshold=thr, reset=reset)
        spk, mem = _scan_neuron(neuron, jnp.asarray(cur))
        ref_s, ref_m = _numpy_lif(beta, thr, reset, cur)
        assert 0 < ref_s.sum() < ref_s.size  # a non-trivial spike train
        np.testing.assert_array_equal(spk, ref_s)
        _assert_mem_close(mem, ref_m)


def test_lif_per_neuron_parameters(x64):
    cur = _rand_currents(2, (50, 6))
    beta = np.array([0.0, 0.3, 0.6, 0.9, 0.95, 1.0])
    thr = np.array([0.5, 0.8, 1.0, 1.2, 1.5, 2.0])
    spk, mem = _scan_neuron(LIF(beta=beta, threshold=thr), jnp.asarray(cur))
    ref_s, ref_m = _numpy_lif(beta, thr, "subtract", cur)
    np.testing.assert_array_equal(spk, ref_s)
    _assert_mem_close(mem, ref_m)


def test_lif_vmap_over_beta_equals_loop(x64):
    cur = jnp.asarray(_rand_currents(3, (30, 5)))
    betas = [0.2, 0.7, 0.95]
    spk_v, mem_v = jax.vmap(lambda b: _scan_neuron_jax(LIF(beta=b), cur))(jnp.asarray(betas))
    for i, b in enumerate(betas):
        ref_s, ref_m = _numpy_lif(b, 1.0, "subtract", cur)
        _assert_mem_close(mem_v[i], ref_m)
        np.testing.assert_array_equal(np.asarray(spk_v[i]), ref_s)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_if_equals_lif_with_beta_one(x64, reset):
    cur = jnp.asarray(_rand_currents(4, (50, 30), scale=0.6, offset=0.1))
    a = _scan_neuron(IF(threshold=0.9, reset=reset), cur)
    b = _scan_neuron(LIF(beta=1.0, threshold=0.9, reset=reset), cur)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    ref = _numpy_lif(1.0, 0.9, reset, cur)
    _assert_mem_close(a[1], ref[1])


def test_reset_is_detached_constructed_case(x64):
    """U1 = 1.5 spikes; U2 = β·U1 + I2 − θ (subtract) or I2 (zero): dU2/dI is the
    detached value, with no −θ·S'(U1 − θ) term from the reset."""
    i = jnp.asarray([1.5, 0.2])
    for reset, u2, grad in [
        ("subtract", 0.9 * 1.5 + 0.2 - 1.0, [0.9, 1.0]),
        ("zero", 0.2, [0.0, 1.0]),
        ("none", 0.9 * 1.5 + 0.2, [0.9, 1.0]),
    ]:
        neuron = LIF(beta=0.9, threshold=1.0, reset=reset, surrogate=snn.arctan(2.0))

        def final_mem(cur, neuron=neuron):
            m, _ = neuron.step(jnp.zeros(()), cur[0])
            m, _ = neuron.step(m, cur[1])
            return m

        assert float(final_mem(i)) == pytest.approx(u2, abs=1e-15)
        np.testing.assert_allclose(np.asarray(jax.grad(final_mem)(i)), grad, rtol=1e-15, atol=0)


def _jax_lif_reference(beta, thr, reset, sur, currents, detach):
    """LIF written directly in JAX with the reset taken from the previous step's surrogate
    spike, detached or not (snnTorch semantics)."""

    def body(u, c):
        r = sur(u - thr)
        if detach:
            r = jax.lax.stop_gradient(r)
        if reset == "subtract":
            u = beta * u + c - r * thr
        else:
            u = beta * (1.0 - r) * u + c
        return u, (sur(u - thr), u)

    _, (s, u) = jax.lax.scan(body, jnp.zeros(currents.shape[1:]), currents)
    return s, u


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reset_is_detached_gradient(x64, reset):
    cur = jnp.asarray(_rand_currents(5, (25, 8)))
    weights = jnp.asarray(np.random.default_rng(6).standard_normal((25, 8)))
    sur = snn.fast_sigmoid(5.0)
    neuron = LIF(beta=0.85, threshold=1.0, reset=reset, surrogate=sur)

    def loss_lib(c):
        s, m = _scan_neuron_jax(neuron, c)
        return jnp.sum(weights * (s + 0.3 * m))

    def loss_ref(c, detach):
        s, m = _jax_lif_reference(0.85, 1.0, reset, sur, c, detach)
        return jnp.sum(weights * (s + 0.3 * m))

    g_lib = jax.grad(loss_lib)(cur)
    g_det = jax.grad(loss_ref)(cur, True)
    g_att = jax.grad(loss_ref)(cur, False)
    np.testing.assert_allclose(np.asarray(g_lib), np.asarray(g_det), rtol=1e-12, atol=1e-14)
    # the check has power: an attached reset gives a clearly different gradient
    assert float(jnp.max(jnp.abs(g_att - g_det))) > 1e-3


def test_neuron_defaults_and_init(x64):
    n = LIF()
    assert float(n.beta) == 0.9 and float(n.threshold) == 1.0 and n.reset == "subtract"
    assert n.surrogate.kind == "fast_sigmoid" and float(n.surrogate.k) == 25.0
    m = n.init((3, 4))
    assert m.shape == (3, 4) and m.dtype == jnp.float64 and not np.any(np.asarray(m))
    assert IF().init((2,), jnp.float32).dtype == jnp.float32
    LIF(beta=0.0)  # both ends of [0, 1] are allowed
    LIF(beta=1.0)


def test_neuron_validation_errors():
    for bad in (-0.1, 1.1, [0.5, 1.2]):
        with pytest.raises(ValueError, match=r"LIF\.beta.*\[0, 1\]"):
            LIF(beta=bad)
    with pytest.raises(TypeError, match=r"LIF\.beta"):
        LIF(beta=True)
    for cls in (LIF, IF):
        name = cls.__name__
        for bad in (0.0, -1.0):
            with pytest.raises(ValueError, match=rf"{name}\.threshold.*positive"):
                cls(threshold=bad)
        with pytest.raises(ValueError, match=rf"{name}\.reset.*'hard'"):
            cls(reset="hard")
        with pytest.raises(TypeError, match=rf"{name}\.surrogate.*function"):
            cls(surrogate=lambda x: x > 0)
        with pytest.raises(ValueError, match=rf"{name}\.threshold.*finite"):
            cls(threshold=float("inf"))


# --------------------------------------------------------------------------- encoders


def test_rate_shape_binary_and_determinism(key):
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(3, 4)))
    a = snn.rate(x, 7, key=key)
    assert a.shape == (7, 3, 4)
    assert jnp.issubdtype(a.dtype, jnp.floating)
    assert set(np.unique(np.asarray(a))) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.asarray(a), np.asarray(snn.rate(x, 7, key=key)))
    assert np.any(np.asarray(a) != np.asarray(snn.rate(x, 7, key=jax.random.key(1))))
    # jit equals eager
    b = jax.jit(lambda v, k: snn.rate(v, 7, key=k))(x, key)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_rate_frequency_is_binomial(key, gain):
    T = 4000
    x = np.concatenate([np.linspace(-0.2, 1.2, 29), [0.0, 1.0]])
    p = np.clip(gain * x, 0.0, 1.0)
    s = np.asarray(snn.rate(jnp.asarray(x, jnp.float32), T, key=key, gain=gain))
    counts = s.sum(axis=0)
    # p = 0 and p = 1 are exact
    np.testing.assert_array_equal(counts[p == 0.0], 0)
    np.testing.assert_array_equal(counts[p == 1.0], T)
    mid = (p > 0) & (p < 1)
    sd = np.sqrt(T * p[mid] * (1 - p[mid]))
    # every input within a Bonferroni-corrected 1e-6 two-sided band
    z = _z(1e-6 / mid.sum())
    assert np.all(np.abs(counts[mid] - T * p[mid]) <= z * sd)
    # steps are independent: lag-1 coincidences of a p = 1/2 input
    i = int(np.argmin(np.abs(p - 0.5)))
    q = p[i] ** 2
    pairs = float(np.sum(s[1:, i] * s[:-1, i]))
    n = T - 1
    var = n * q * (1 - q) + 2 * (n - 1) * (p[i] ** 3 - p[i] ** 4)
    assert abs(pairs - n * q) <= _z(1e-6) * math.sqrt(var)


@pytest.mark.parametrize("T", [1, 10, 17])
def test_latency_linear_one_spike_at_documented_step(x64, T):
    x = np.concatenate([[-0.5, 0.0, 0.005, 0.01, 0.0100001, 0.5, 1.0, 1.7], np.random.default_rng(1).uniform(size=40)])
    s = np.asarray(snn.latency(jnp.asarray(x), T))
    assert s.shape == (T, x.size)
    fires = x > 0.01
    np.testing.assert_array_equal(s.sum(axis=0), fires.astype(float))
    expected = np.round((1.0 - np.clip(x, 0, 1)) * (T - 1))
    np.testing.assert_array_equal(np.argmax(s, axis=0)[fires], expected[fires])
    # custom threshold
    s2 = np.asarray(snn.latency(jnp.asarray(x), T, threshold=0.5))
    np.testing.assert_array_equal(s2.sum(axis=0), (x > 0.5).astype(float))


def test_latency_log_code(x64):
    T, tau, thr = 12, 5.0, 0.01
    rng = np.random.default_rng(2)
    x = np.concatenate(
        [
            [0.0, 0.01, 0.0105, 0.011, 0.02, 0.05, 1.0, 3.0],
            rng.uniform(0.01, 0.0125, size=40),
            rng.uniform(0.0, 0.2, size=160),
        ]
    ).reshape(13, 16)
    s = np.asarray(snn.latency(jnp.asarray(x), T, code="log", tau=tau, threshold=thr))
    assert s.shape == (T, 13, 16)
    fires = x > thr
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ref = np.round(tau * np.log(x / (x - thr)))
    in_window = fires & (t_ref < T)
    dropped = fires & (t_ref >= T)
    assert in_window.sum() > 50 and dropped.sum() > 20  # both cases exercised
    np.testing.assert_array_equal(s.sum(axis=0), in_window.astype(float))
    np.testing.assert_array_equal(np.argmax(s, axis=0)[in_window], t_ref[in_window])
    # different tau stretches the code
    s3 = np.asarray(snn.latency(jnp.asarray(x), 40, code="log", tau=15.0, threshold=thr))
    t3 = np.round(15.0 * np.log(np.where(fires, x, 1.0) / np.where(fires, x - thr, 1.0)))
    ok = fires & (t3 < 40)
    np.testing.assert_array_equal(np.argmax(s3, axis=0)[ok], t3[ok])


def test_encoder_errors(key):
    x = jnp.ones(3)
    for bad in (0, -2, 2.5, True, "8", None):
        with pytest.raises(ValueError, match="num_steps"):
            snn.rate(x, bad, key=key)
        with pytest.raises(ValueError, match="num_steps"):
            snn.latency(x, bad)
    with pytest.raises(ValueError, match=r"code.*'exp'"):
        snn.latency(x, 5, code="exp")


# ----------------------------------------------------------------------------- layers

N_IN, N_OUT, N_OUT2, T_STEPS, BATCH = 20, 10, 4, 12, 3


@pytest.fixture
def layer_data(x64):
    x = (jax.random.uniform(jax.random.key(11), (T_STEPS, BATCH, N_IN)) < 0.4).astype(jnp.float64)
    w = 0.6 * jax.random.normal(jax.random.key(12), (N_IN, N_OUT), jnp.float64)
    w2 = 0.8 * jax.random.normal(jax.random.key(13), (N_OUT, N_OUT2), jnp.float64)
    return x, w, w2


def _array(cards, w, effects, *, key=0):
    """Fabricate and program an rram_hfox crossbar for `w`, tiled 8 x 8 (so a 20 x 10
    matrix spans 3 x 2 tiles, the last ones partly used)."""
    rows, cols = w.shape
    spec = xbar.CrossbarSpec(device=cards["rram_hfox"], rows=rows, cols=cols, tile_rows=8, tile_cols=8, effects=effects)
    chip = xbar.fabricate(spec, key=jax.random.key(100 + key))
    return xbar.program(chip, w, key=jax.random.key(200 + key))


def _synapse(kind, cards, w):
    if kind == "ideal":
        return w
    # every effect but read noise: the read is deterministic, so run and step agree
    return _array(cards, w, xbar.Effects(read_noise=False))


def _step_loop(layer, syn, x_seq, t):
    """Step a layer through time in a Python loop (the step itself jitted)."""
    step = jax.jit(lambda s, m, x_t: layer.step(s, m, x_t, t=t))
    mem = layer.neuron.init(x_seq.shape[1:-1] + (N_OUT,), x_seq.dtype)
    spikes, mems = [], []
    for x_t in x_seq:
        mem, s = step(syn, mem, x_t)
        spikes.append(s)
        mems.append(mem)
    return np.stack(spikes), np.stack(mems)


@pytest.mark.parametrize("synapse", ["ideal", pytest.param("crossbar", marks=pytest.mark.slow)])
def test_dense_run_step_vmap_jit(layer_data, cards, synapse):
    """One layer on a sequence: `run` (eager) equals stepping in a loop, a `vmap` of
    per-sample runs, and `jit(run)`."""
    x, w, _ = layer_data
    syn = _synapse(synapse, cards, w)
    layer = SpikingDense(neuron=LIF(beta=0.8))
    spk, mem = layer.run(syn, x, t=100.0)
    assert spk.shape == mem.shape == (T_STEPS, BATCH, N_OUT)
    assert 0 < float(spk.sum()) < spk.size

    ref_s, ref_m = _step_loop(layer, syn, x, 100.0)
    np.testing.assert_array_equal(np.asarray(spk), ref_s)
    np.testing.assert_allclose(np.asarray(mem), ref_m, rtol=1e-12, atol=1e-12)

    vs, vm = jax.jit(jax.vmap(lambda s, xs: layer.run(s, xs, t=100.0), in_axes=(None, 1), out_axes=1))(syn, x)
    np.testing.assert_array_equal(np.asarray(vs), np.asarray(spk))
    np.testing.assert_allclose(np.asarray(vm), np.asarray(mem), rtol=1e-12, atol=1e-12)

    js, jm = jax.jit(lambda s, xs: layer.run(s, xs, t=100.0))(syn, x)
    np.testing.assert_array_equal(np.asarray(js), np.asarray(spk))
    np.testing.assert_allclose(np.asarray(jm), np.asarray(mem), rtol=1e-12, atol=1e-12)

    if synapse == "ideal":  # and the NumPy neuron driven by x @ W
        ref = _numpy_lif(0.8, 1.0, "subtract", np.asarray(x) @ np.asarray(w))
        np.testing.assert_array_equal(np.asarray(spk), ref[0])
        _assert_mem_close(mem, ref[1])


@pytest.mark.parametrize("reset", ["zero", "none"])
def test_dense_run_equals_step_loop_other_resets(layer_data, reset):
    x, w, _ = layer_data
    layer = SpikingDense(neuron=IF(threshold=1.2, reset=reset))
    spk, mem = layer.run(w, x)
    ref_s, ref_m = _step_loop(layer, w, x, 0.0)
    np.testing.assert_array_equal(np.asarray(spk), ref_s)
    np.testing.assert_allclose(np.asarray(mem), ref_m, rtol=1e-12, atol=1e-12)


def test_network_run_shapes_and_wiring(layer_data):
    x, w, w2 = layer_data
    w3 = 0.9 * jax.random.normal(jax.random.key(14), (N_OUT2, 3), jnp.float64)
    ws = [w + 0.15, w2 + 0.4, w3 + 0.6]  # excitatory bias: every layer spikes
    layers = (
        SpikingDense(neuron=LIF(beta=0.9)),
        SpikingDense(neuron=IF(threshold=0.8)),
        SpikingDense(neuron=LIF(beta=0.7, reset="zero")),
    )
    net = Network(layers=list(layers))  # any sequence is accepted and stored as a tuple
    assert isinstance(net.layers, tuple)
    out = jax.jit(net.run)(ws, x)
    assert isinstance(out, snn.NetworkOutput)
    assert len(out.spikes) == len(out.membranes) == 3
    for i, n in enumerate([N_OUT, N_OUT2, 3]):
        assert out.spikes[i].shape == out.membranes[i].shape == (T_STEPS, BATCH, n)
    h = x
    for i, layer in enumerate(layers):
        s, m = layer.run(ws[i], h)  # layer i+1 receives layer i's spikes
        np.testing.assert_array_equal(np.asarray(out.spikes[i]), np.asarray(s))
        np.testing.assert_allclose(np.asarray(out.membranes[i]), np.asarray(m), rtol=1e-12, atol=1e-12)
        assert 0 < float(s.sum()) < s.size
        h = s
    assert out.out_spikes is out.spikes[-1]
    np.testing.assert_array_equal(np.asarray(out.counts), np.asarray(out.spikes[-1].sum(axis=0)))
    assert out.counts.shape == (BATCH, 3)


def _count_loss(net, syns, x, key=None, t=0.0):
    out = net.run(syns, x, key=key, t=t)
    target = jnp.arange(out.counts.shape[-1], dtype=out.counts.dtype)
    return jnp.sum((out.counts - target) ** 2) + 0.1 * jnp.sum(out.spikes[0])


def _two_layer_net(surrogate):
    return Network(
        layers=(SpikingDense(neuron=LIF(surrogate=surrogate)), SpikingDense(neuron=LIF(surrogate=surrogate)))
    )


def test_grad_through_crossbar_all_effects(layer_data, cards):
    """Surrogate gradients reach the weights through programming (d2d, write noise,
    stuck cells, levels) and the read (drift, read noise, DAC, per-tile ADCs)."""
    x, w, _ = layer_data
    net = Network(layers=(SpikingDense(neuron=LIF(surrogate=snn.fast_sigmoid(5.0))),))
    assert not xbar.Effects().is_ideal

    def loss(wi, k):
        return _count_loss(net, [_array(cards, wi, xbar.Effects())], x, key=k, t=3600.0)

    g = jax.jit(jax.grad(loss))(w, jax.random.key(43))
    assert g.shape == w.shape
    assert np.all(np.isfinite(np.asarray(g)))
    assert float(jnp.sum(jnp.abs(g))) > 0.0


def test_grad_through_ideal_crossbar_equals_ideal_weights(layer_data, cards):
    x, w, w2 = layer_data
    net = _two_layer_net(snn.arctan(2.0))

    def loss_hw(ws):
        arrays = [_array(cards, wi, xbar.Effects.ideal(), key=i) for i, wi in enumerate(ws)]
        return _count_loss(net, arrays, x, t=3600.0)

    l_hw, g_hw = jax.jit(jax.value_and_grad(loss_hw))([w, w2])
    l_id, g_id = jax.jit(jax.value_and_grad(lambda ws: _count_loss(net, ws, x)))([w, w2])
    assert float(l_hw) == float(l_id)
    for a, b in zip(g_hw, g_id):
        assert float(jnp.sum(jnp.abs(b))) > 0.0
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)


def test_synaptic_current(layer_data, cards):
    x, w, _ = layer_data
    np.testing.assert_allclose(
        np.asarray(snn.synaptic_current(w, x)), np.asarray(x) @ np.asarray(w), rtol=1e-12, atol=1e-15
    )
    arr = _array(cards, w, xbar.Effects.ideal())
    np.testing.assert_allclose(
        np.asarray(snn.synaptic_current(arr, x)), np.asarray(x) @ np.asarray(w), rtol=1e-10, atol=1e-12
    )
    with pytest.raises(ValueError, match=r"synapse.*\(20,\)"):
        snn.synaptic_current(w[:, 0], x)
    with pytest.raises(ValueError, match=r"synapse.*\(1, 20, 10\)"):
        snn.synaptic_current(w[None], x)
    with pytest.raises(ValueError, match=r"x: expected last dimension n_in = 20.*\(12, 3, 19\)"):
        snn.synaptic_current(w, x[..., :19])
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., rows\) with rows = 20"):
        snn.synaptic_current(arr, x[..., :19])


def test_layer_and_network_errors(layer_data):
    x, w, _ = layer_data
    with pytest.raises(TypeError, match=r"SpikingDense\.neuron.*Surrogate"):
        SpikingDense(neuron=snn.fast_sigmoid())
    with pytest.raises(TypeError, match=r"Network\.layers"):
        Network(layers=())
    with pytest.raises(TypeError, match=r"Network\.layers"):
        Network(layers=(LIF(),))
    net = Network(layers=(SpikingDense(neuron=LIF()), SpikingDense(neuron=LIF())))
    with pytest.raises(ValueError, match=r"synapses: expected 2 \(one per layer\), got 1"):
        net.run([w], x)
