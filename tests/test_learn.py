"""Tests for xbar.learn: weight init, encoding, losses, prediction, training (ideal and
hardware in the loop) and chip evaluation."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import xbar
from xbar import learn, snn
from xbar.learn import TrainConfig
from xbar.snn import LIF, Network, NetworkOutput, SpikingDense

SIZES = [8, 16, 2]
N_TRAIN = 64
T_STEPS = 8
EPOCHS = 5
CHANCE = 0.5
# "high accuracy": 0.9 is (0.9 - 0.5)/sqrt(0.25/64) = 6.4 standard deviations above a
# coin-flip classifier on 64 samples
HIGH_ACC = 0.9


def _z(p_two_sided: float) -> float:
    return float(stats.norm.isf(p_two_sided / 2.0))


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def problem():
    """Two classes of 8-dim prototypes (complementary halves) plus Gaussian noise."""
    rng = np.random.default_rng(0)
    protos = np.array([[0.9] * 4 + [0.1] * 4, [0.1] * 4 + [0.9] * 4])
    y = np.repeat(np.arange(2), N_TRAIN // 2)
    x = np.clip(protos[y] + 0.1 * rng.standard_normal((N_TRAIN, 8)), 0.0, 1.0)
    perm = rng.permutation(N_TRAIN)
    return x[perm].astype(np.float32), y[perm].astype(np.int32)


@pytest.fixture(scope="module")
def net():
    return Network(layers=(SpikingDense(neuron=LIF()), SpikingDense(neuron=LIF())))


@pytest.fixture(scope="module")
def w0():
    return learn.init_weights(SIZES, key=jax.random.key(1))


@pytest.fixture(scope="module")
def config():
    return TrainConfig(num_steps=T_STEPS, epochs=EPOCHS, batch_size=16, lr=2e-2)


@pytest.fixture(scope="module")
def specs(cards):
    dev = cards["rram_hfox"]
    # every effect on; binary row drivers (dac_bits=None), as for rate-coded spikes
    return [
        xbar.CrossbarSpec(device=dev, rows=8, cols=16, tile_rows=8, tile_cols=8, dac_bits=None),
        xbar.CrossbarSpec(device=dev, rows=16, cols=2, tile_rows=8, tile_cols=8, dac_bits=None),
    ]


@pytest.fixture(scope="module")
def trained_ideal(problem, net, w0, config):
    x, y = problem
    return learn.train(net, w0, x, y, key=jax.random.key(2), config=config, progress=False)


@pytest.fixture(scope="module")
def trained_hw(problem, net, w0, config, specs):
    x, y = problem
    return learn.train(net, w0, x, y, key=jax.random.key(2), config=config, specs=specs, progress=False)


# ------------------------------------------------------------------------- init_weights


def test_init_weights_shapes_bounds_and_distribution():
    sizes = [400, 300, 7]
    ws = learn.init_weights(sizes, key=jax.random.key(0))
    assert isinstance(ws, list) and len(ws) == 2
    for w, a, b in zip(ws, sizes[:-1], sizes[1:]):
        assert w.shape == (a, b)
        assert jnp.issubdtype(w.dtype, jnp.floating)
    w = np.asarray(ws[0], dtype=np.float64)
    bound = 1.0 / math.sqrt(400)
    n = w.size
    assert np.all(np.abs(w) <= bound)
    # the extremes approach ±bound: P(max < bound·(1 − d)) = (1 − d/2)^n = 1e-9
    d = 2.0 * (1.0 - 1e-9 ** (1.0 / n))
    assert w.max() >= bound * (1 - d) and w.min() <= -bound * (1 - d)
    # uniform: mean 0 and variance bound²/3 within 1e-6 two-sided bands
    z = _z(1e-6)
    assert abs(w.mean()) <= z * bound / math.sqrt(3 * n)
    var_sd = math.sqrt((bound**4 / 5 - bound**4 / 9) / n)  # sd of the mean of w²
    assert abs(np.mean(w**2) - bound**2 / 3) <= z * var_sd


def test_init_weights_gain_keys_and_determinism():
    k = jax.random.key(3)
    a = learn.init_weights([8, 8, 8], key=k)
    b = learn.init_weights([8, 8, 8], key=k)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert np.any(np.asarray(a[0]) != np.asarray(a[1]))  # each layer its own key
    assert np.any(np.asarray(a[0]) != np.asarray(learn.init_weights([8, 8, 8], key=jax.random.key(4))[0]))
    g = learn.init_weights([8, 8, 8], key=k, gain=3.0)
    for u, v in zip(a, g):
        # float32 rounding of values in ±3/sqrt(8): a few ulps of the bound
        np.testing.assert_allclose(np.asarray(v), 3.0 * np.asarray(u), rtol=0, atol=4e-7 * 3.0 / math.sqrt(8))
        assert np.all(np.abs(np.asarray(v)) <= 3.0 / math.sqrt(8))


def test_init_weights_errors():
    for bad in ([], [8], [8, 0], [8, -1], [8, 2.0], [8, True], [8, "4"]):
        with pytest.raises(ValueError, match="sizes: expected at least two positive ints"):
            learn.init_weights(bad, key=jax.random.key(0))


# ------------------------------------------------------------------------------ encode


def test_encode_each_encoder(key):
    x = jnp.asarray(np.random.default_rng(1).uniform(size=(5, 8)), jnp.float32)
    r = learn.encode(x, 6, encoder="rate", key=key)
    assert r.shape == (6, 5, 8)
    np.testing.assert_array_equal(np.asarray(r), np.asarray(snn.rate(x, 6, key=key)))
    lat = learn.encode(x, 6, encoder="latency")
    np.testing.assert_array_equal(np.asarray(lat), np.asarray(snn.latency(x, 6, code="linear")))
    np.testing.assert_array_equal(np.asarray(lat.sum(axis=0)), np.ones((5, 8)))
    d = learn.encode(x, 6, encoder="direct")
    assert d.shape == (6, 5, 8)
    for t in range(6):
        np.testing.assert_array_equal(np.asarray(d[t]), np.asarray(x))
    assert set(learn.ENCODERS) == {"rate", "latency", "direct"}
    with pytest.raises(ValueError, match=r"encoder: expected one of .*'poisson'"):
        learn.encode(x, 6, encoder="poisson", key=key)


# ------------------------------------------------------------------------------ losses


def _np_ce(logits, labels):
    logits = np.asarray(logits, np.float64)
    lse = special.logsumexp(logits, axis=-1)
    picked = np.take_along_axis(logits, np.asarray(labels)[..., None], axis=-1)[..., 0]
    return lse - picked


def test_ce_count_loss_matches_numpy(x64):
    rng = np.random.default_rng(5)
    spikes = (rng.uniform(size=(9, 6, 4)) < 0.4).astype(np.float64)
    labels = rng.integers(0, 4, size=6)
    counts = spikes.sum(axis=0)
    for scale in (1.0, 0.5, 2.5):
        got = learn.ce_count_loss(jnp.asarray(spikes), jnp.asarray(labels), logit_scale=scale)
        np.testing.assert_allclose(float(got), _np_ce(scale * counts, labels).mean(), rtol=1e-13)
    # default logit_scale is 1
    got = learn.ce_count_loss(jnp.asarray(spikes), jnp.asarray(labels))
    np.testing.assert_allclose(float(got), _np_ce(counts, labels).mean(), rtol=1e-13)
    # gradient w.r.t. every step's spikes: scale·(softmax(scale·counts) − onehot)/batch
    g = jax.grad(lambda s: learn.ce_count_loss(s, jnp.asarray(labels), logit_scale=0.5))(jnp.asarray(spikes))
    expected = 0.5 * (special.softmax(0.5 * counts, axis=-1) - np.eye(4)[labels]) / 6
    np.testing.assert_allclose(np.asarray(g), np.broadcast_to(expected, spikes.shape), rtol=1e-12, atol=1e-15)


def test_ce_rate_loss_matches_numpy(x64):
    rng = np.random.default_rng(6)
    spikes = (rng.uniform(size=(7, 5, 3)) < 0.5).astype(np.float64)
    labels = rng.integers(0, 3, size=5)
    expected = np.mean([_np_ce(spikes[t], labels) for t in range(7)])
    got = learn.ce_rate_loss(jnp.asarray(spikes), jnp.asarray(labels))
    np.testing.assert_allclose(float(got), expected, rtol=1e-13)
    # the binary-spike floor: target always on, others silent -> log(1 + (C-1)/e)
    perfect = np.zeros((7, 5, 3))
    perfect[:, np.arange(5), labels] = 1.0
    got = learn.ce_rate_loss(jnp.asarray(perfect), jnp.asarray(labels))
    np.testing.assert_allclose(float(got), math.log(1 + 2 / math.e), rtol=1e-13)
    assert set(learn.LOSSES) == {"ce_count", "ce_rate"}


# ----------------------------------------------------------------------------- predict


def _output(counts_per_class, mem_per_class, T=10):
    """NetworkOutput for one sample whose output neuron c spikes counts[c] times and
    sits at membrane mem[c] every step."""
    C = len(counts_per_class)
    spk = np.zeros((T, 1, C), np.float32)
    for c, n in enumerate(counts_per_class):
        spk[:n, 0, c] = 1.0
    mem = np.broadcast_to(np.asarray(mem_per_class, np.float32), (T, 1, C)).copy()
    hidden = np.zeros((T, 1, 3), np.float32)
    return NetworkOutput((jnp.asarray(hidden), jnp.asarray(spk)), (jnp.asarray(hidden), jnp.asarray(mem)))


@pytest.mark.parametrize(
    "counts, mem, expected",
    [
        ([3, 5, 4], [0.0, 0.0, 0.0], 1),  # most spikes wins
        ([5, 4, 0], [-0.9, 0.9, 0.9], 0),  # a count difference beats any membrane
        ([4, 4, 1], [0.2, 0.6, 0.9], 1),  # a tie broken by the membrane
        ([4, 4, 4], [0.6, 0.2, 0.3], 0),
        ([0, 0, 0], [-0.5, -0.1, -0.3], 1),  # no spikes at all: highest membrane
    ],
)
def test_predict_counts_then_membrane(counts, mem, expected):
    assert int(learn.predict(_output(counts, mem))[0]) == expected


def test_predict_batch():
    a, b = _output([1, 2], [0.0, 0.0]), _output([2, 2], [0.5, 0.1])
    out = NetworkOutput(
        tuple(jnp.concatenate([u, v], axis=1) for u, v in zip(a.spikes, b.spikes)),
        tuple(jnp.concatenate([u, v], axis=1) for u, v in zip(a.membranes, b.membranes)),
    )
    np.testing.assert_array_equal(np.asarray(learn.predict(out)), [1, 0])


@pytest.mark.parametrize(
    "counts, mem, expected",
    [
        ([0, 0], [-30.0, -12.0], 1),  # saturated: tanh(-30) == tanh(-12) == -1 in float32
        ([3, 3], [9.5, 12.0], 1),
        ([20, 20], [0.5, 0.5005], 1),  # 1e-3·Δtanh ≈ 4e-7 < ulp(20)/2
    ],
)
def test_predict_tie_break_documented_for_any_membrane(counts, mem, expected):
    assert int(learn.predict(_output(counts, mem, T=25))[0]) == expected


# ------------------------------------------------------------------------------- train


def test_train_ideal_learns(problem, net, w0, config, trained_ideal):
    x, y = problem
    w, hist = trained_ideal
    assert set(hist) == {"loss", "acc"}
    assert len(hist["loss"]) == len(hist["acc"]) == EPOCHS
    assert all(isinstance(v, float) for v in hist["loss"] + hist["acc"])
    assert len(w) == 2 and all(a.shape == b.shape for a, b in zip(w, w0))
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["loss"][-1] < math.log(2)  # better than a uniform guess
    assert hist["acc"][-1] >= HIGH_ACC
    acc = learn.evaluate(net, w, x, y, key=jax.random.key(9), num_steps=T_STEPS)
    assert acc.shape == (1,)
    assert acc[0] >= HIGH_ACC
    acc0 = learn.evaluate(net, w0, x, y, key=jax.random.key(9), num_steps=T_STEPS)
    assert acc[0] > acc0[0]  # training helped


def test_train_hardware_in_the_loop(problem, net, config, trained_hw):
    w, hist = trained_hw
    assert len(hist["loss"]) == len(hist["acc"]) == EPOCHS
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["loss"][-1] < math.log(2)
    assert hist["acc"][-1] >= HIGH_ACC
    assert all(np.all(np.isfinite(np.asarray(a))) for a in w)


def test_train_resample_chips(problem, net, w0, config, specs, trained_hw):
    x, y = problem
    cfg = dataclasses.replace(config, resample_chips=True)
    w, hist = learn.train(net, w0, x, y, key=jax.random.key(2), config=cfg, specs=specs, progress=False)
    assert len(hist["loss"]) == len(hist["acc"]) == EPOCHS
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["loss"][-1] < math.log(2)
    assert hist["acc"][-1] >= HIGH_ACC
    assert hist["loss"] != trained_hw[1]["loss"]  # the flag changes what is trained on


def test_evaluate_ideal_matches_direct_computation(problem, net, trained_ideal):
    x, y = problem
    w, _ = trained_ideal
    x_seq = learn.encode(jnp.asarray(x), T_STEPS, encoder="latency")
    expected = float(np.mean(np.asarray(learn.predict(net.run(w, x_seq))) == y))
    for bs in (512, 24):  # 64 = 24 + 24 + 16: the padded last batch must not count
        acc = learn.evaluate(net, w, x, y, key=jax.random.key(0), num_steps=T_STEPS, encoder="latency", batch_size=bs)
        assert acc.shape == (1,)
        assert acc[0] == expected
    # ideal ignores `chips`
    acc = learn.evaluate(net, w, x, y, key=jax.random.key(0), num_steps=T_STEPS, encoder="latency", chips=4)
    assert acc.shape == (1,) and acc[0] == expected


def test_evaluate_rate_same_key_same_accuracy(problem, net, w0):
    x, y = problem
    a = learn.evaluate(net, w0, x, y, key=jax.random.key(5), num_steps=T_STEPS)
    b = learn.evaluate(net, w0, x, y, key=jax.random.key(5), num_steps=T_STEPS)
    np.testing.assert_array_equal(a, b)


def test_evaluate_on_chips(problem, net, cards, trained_hw):
    x, y = problem
    w, _ = trained_hw
    # fabrication-time effects only (d2d, stuck cells, write noise): chips differ, and
    # the evaluation compiles faster than with every effect
    eff = xbar.Effects.only("d2d", "stuck", "write_noise")
    specs = [
        xbar.CrossbarSpec(
            device=cards["rram_hfox"],
            rows=a.shape[0],
            cols=a.shape[1],
            tile_rows=8,
            tile_cols=8,
            effects=eff,
            dac_bits=None,
        )
        for a in w
    ]
    a = learn.evaluate(net, w, x, y, key=jax.random.key(7), specs=specs, chips=3, num_steps=T_STEPS, t=60.0)
    assert a.shape == (3,)
    np.testing.assert_allclose(a * N_TRAIN, np.round(a * N_TRAIN), atol=1e-9)  # k/n
    assert np.all((a >= 0) & (a <= 1))
    # trained in the loop, it works on fresh chips: the mean over 3·64 predictions is
    # 5 standard deviations of a coin flip above chance
    assert a.mean() >= CHANCE + 5 * 0.5 / math.sqrt(3 * N_TRAIN)
    b = learn.evaluate(net, w, x, y, key=jax.random.key(7), specs=specs, chips=3, num_steps=T_STEPS, t=60.0)
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ errors


def test_train_errors(problem, net, w0, specs, cards):
    x, y = problem
    k = jax.random.key(0)
    cfg = TrainConfig(num_steps=2, epochs=1)
    with pytest.raises(ValueError, match=r"x_train: expected shape \(n, 8\), got \(64, 7\)"):
        learn.train(net, w0, x[:, :7], y, key=k, config=cfg, progress=False)
    with pytest.raises(ValueError, match=r"x_train: expected shape \(n, 8\), got \(512,\)"):
        learn.train(net, w0, x.ravel(), y, key=k, config=cfg, progress=False)
    with pytest.raises(ValueError, match=r"y_train: expected shape \(64,\), got \(63,\)"):
        learn.train(net, w0, x, y[:63], key=k, config=cfg, progress=False)
    with pytest.raises(ValueError, match=r"y_train: expected shape \(64,\), got \(64, 1\)"):
        learn.train(net, w0, x, y[:, None], key=k, config=cfg, progress=False)
    with pytest.raises(ValueError, match=r"specs: expected one CrossbarSpec per layer \(2\), got 1"):
        learn.train(net, w0, x, y, key=k, config=cfg, specs=specs[:1], progress=False)
    bad = [specs[0], xbar.CrossbarSpec(device=cards["rram_hfox"], rows=16, cols=3)]
    with pytest.raises(ValueError, match=r"specs\[1\]: expected rows, cols = \(16, 2\).*\(16, 3\)"):
        learn.train(net, w0, x, y, key=k, config=cfg, specs=bad, progress=False)
    with pytest.raises(TypeError, match=r"specs\[0\]: expected xbar.CrossbarSpec"):
        learn.train(net, w0, x, y, key=k, config=cfg, specs=[None, specs[1]], progress=False)


def test_evaluate_errors(problem, net, w0, specs):
    x, y = problem
    k = jax.random.key(0)
    with pytest.raises(ValueError, match=r"specs: expected one CrossbarSpec per layer"):
        learn.evaluate(net, w0, x, y, key=k, specs=specs[:1])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"chips: expected a positive int"):
            learn.evaluate(net, w0, x, y, key=k, specs=specs, chips=bad)


@pytest.mark.parametrize(
    "field, value",
    [
        ("encoder", "poisson"),
        ("loss", "mse"),
        ("num_steps", 0),
        ("num_steps", 2.0),
        ("num_steps", True),
        ("epochs", 0),
        ("epochs", -3),
        ("batch_size", 0),
        ("batch_size", 8.0),
        ("lr", 0.0),
        ("lr", -1e-3),
        ("lr", float("nan")),
        ("lr_schedule", "linear"),
        ("lr_final", 1.5),
        ("logit_scale", 0.0),
        ("t", -1.0),
    ],
)
def test_train_config_errors(field, value):
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field}: expected"):
        TrainConfig(**{field: value})


def test_train_config_defaults_and_frozen():
    cfg = TrainConfig()
    assert (cfg.num_steps, cfg.encoder, cfg.loss, cfg.epochs, cfg.batch_size) == (25, "rate", "ce_count", 20, 64)
    assert cfg.lr == 2e-3 and cfg.resample_chips is False and cfg.t == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        TrainConfig(25)  # keyword only


def test_learning_rate_schedules():
    cos = learn.learning_rate(learn.TrainConfig(lr=2e-3, lr_final=0.05), 100)
    assert float(cos(0)) == pytest.approx(2e-3)
    assert float(cos(50)) == pytest.approx(2e-3 * (0.05 + 0.95 * 0.5))  # half way down the cosine
    assert float(cos(100)) == pytest.approx(2e-3 * 0.05)
    assert learn.learning_rate(learn.TrainConfig(lr=1e-3, lr_schedule="constant"), 100) == 1e-3


# --------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("hardware", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_checkpoint_resume_equals_an_uninterrupted_run(problem, net, w0, specs, tmp_path, monkeypatch, hardware):
    """Train 4 epochs in one go; and the same call killed right after its epoch-2
    checkpoint, then called again with resume=True: identical weights and history."""
    from xbar.learn import _train

    x, y = problem
    cfg = TrainConfig(num_steps=T_STEPS, epochs=4, batch_size=16, lr=2e-2)
    kw = dict(key=jax.random.key(5), config=cfg, specs=specs if hardware else None, progress=False)
    w_full, h_full = learn.train(net, w0, x, y, **kw)
    ck = tmp_path / "run" / "ck.npz"
    save = _train._save_checkpoint

    def save_then_die(path, epoch, *args):
        save(path, epoch, *args)
        if epoch == 2:
            raise KeyboardInterrupt("killed after epoch 2")

    monkeypatch.setattr(_train, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        learn.train(net, w0, x, y, checkpoint=ck, **kw)
    saved = []

    def save_and_record(path, epoch, *args):
        saved.append(epoch)
        save(path, epoch, *args)

    monkeypatch.setattr(_train, "_save_checkpoint", save_and_record)
    with np.load(ck) as z:
        assert int(z["epoch"]) == 2
    w_done, h_done = learn.train(net, w0, x, y, checkpoint=ck, resume=True, **kw)
    assert saved == [3, 4]  # it went on from the checkpoint, not from the start
    for a, b in zip(w_done, w_full, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert h_done == h_full
    assert [p.name for p in ck.parent.iterdir()] == ["ck.npz"]  # no temporary files left
    # a finished checkpoint resumes to its result at once; another configuration is refused
    w_again, _ = learn.train(net, w0, x, y, checkpoint=ck, resume=True, **kw)
    np.testing.assert_array_equal(np.asarray(w_again[0]), np.asarray(w_full[0]))
    other = dict(kw, config=dataclasses.replace(cfg, lr=1e-2))
    with pytest.raises(ValueError, match="checkpoint: expected one written with this configuration"):
        learn.train(net, w0, x, y, checkpoint=ck, resume=True, **other)
    with pytest.raises(ValueError, match="resume: expected a checkpoint path"):
        learn.train(net, w0, x, y, resume=True, **kw)


def test_skip_if_not_finite_zeroes_the_update_and_materializes_it_on_cpu():
    """A non-finite loss gives a zero update (train then stops with FloatingPointError,
    the weights as they were); on CPU the gradients pass through a conditional, so XLA
    computes them into one buffer instead of once per consumer (Adam's two moments)."""
    from xbar.learn._train import _skip_if_not_finite

    grads = [jnp.arange(6.0).reshape(2, 3), jnp.ones(4)]
    f = jax.jit(_skip_if_not_finite)
    for got, want in zip(f(grads, jnp.float32(0.5)), grads):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    for loss in (jnp.nan, jnp.inf):
        for got in f(grads, jnp.float32(loss)):
            np.testing.assert_array_equal(np.asarray(got), 0.0)
    batched = jax.vmap(_skip_if_not_finite)([jnp.ones((2, 3))], jnp.array([1.0, jnp.nan]))
    np.testing.assert_array_equal(np.asarray(batched[0]), [[1.0] * 3, [0.0] * 3])
    if jax.default_backend() == "cpu":
        assert "conditional(" in f.lower(grads, jnp.float32(0.5)).compile().as_text()
