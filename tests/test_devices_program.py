"""Programming schemes (`xbar.devices._program`): one-shot and write-verify, on a
minimal linear-step cell (the engine's contract) and on every family's pulse model."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xbar import Effects
from xbar.devices._program import one_shot, write_verify


@dataclasses.dataclass(frozen=True)
class LinearCell:
    """A test double of the pulse interface: each pulse moves G by ±step (with a
    relative step noise), clipped to [g_min, g_max]; a pulse costs e_pulse."""

    g_min: float = 1e-6
    g_max: float = 41e-6
    step: float = 0.5e-6
    step_noise: float = 0.3
    read_sigma: float = 0.05e-6
    v_read: float = 0.2
    t_read: float = 1e-8
    e_pulse: float = 1e-12

    def conductance(self, fab, state, t, *, effects):
        return state["g"]

    def read_std(self, fab, state, g, t, *, effects):
        return jnp.full_like(g, self.read_sigma)

    def pulses_for(self, fab, state, g_target):
        return jnp.round((g_target - state["g"]) / self.step).astype(jnp.int32)

    def pulse(self, fab, state, n, *, key, effects):
        noise = self.step_noise * jax.random.normal(key, state["g"].shape) if effects.write_noise else 0.0
        dg = n * self.step * (1.0 + noise * jnp.sqrt(jnp.abs(n)) / jnp.maximum(jnp.abs(n), 1))
        g = jnp.clip(state["g"] + dg, self.g_min, self.g_max)
        return {"g": g}, jnp.abs(n) * self.e_pulse


CELL = LinearCell()
SHAPE = (64, 32)


def _start():
    return {"g": jnp.full(SHAPE, CELL.g_min)}


def _targets(seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(CELL.g_min, CELL.g_max, SHAPE))


def test_converged_cells_are_within_tolerance(x64):
    tol = 0.01
    band = tol * (CELL.g_max - CELL.g_min)
    eff = Effects(read_noise=False)
    state, rep = write_verify(CELL, None, _start(), _targets(), key=jax.random.key(0), tol=tol, effects=eff)
    conv = np.asarray(rep.converged)
    err = np.asarray(rep.error)
    assert conv.mean() > 0.99
    assert np.all(np.abs(err[conv]) <= band + 1e-18)
    np.testing.assert_allclose(np.asarray(state["g"]) - np.asarray(_targets()), err)
    # pulses and energy are accounted per cell: each pulse costs e_pulse, each read v²·G·t
    started_outside = np.abs(np.asarray(_targets()) - CELL.g_min) > band
    assert np.all(np.asarray(rep.pulses)[started_outside] >= 1)
    assert np.all(np.asarray(rep.pulses)[~started_outside] == 0)
    assert np.all(np.asarray(rep.energy) >= np.asarray(rep.pulses) * CELL.e_pulse)
    s = rep.summary()
    assert s["cells"] == conv.size and s["converged"] + s["not_converged"] == conv.size
    assert s["pulses_total"] == int(np.asarray(rep.pulses).sum())


def test_read_noise_spreads_the_final_error_and_is_reported(x64):
    tol = 0.01
    band = tol * (CELL.g_max - CELL.g_min)
    state, rep = write_verify(CELL, None, _start(), _targets(1), key=jax.random.key(1), tol=tol)
    conv = np.asarray(rep.converged)
    err = np.asarray(rep.error)[conv]
    # the verify read, not the true conductance, was within the band: the true error
    # is the band widened by the read noise
    assert np.abs(err).max() <= band + 6 * CELL.read_sigma
    assert np.asarray(rep.reads).min() >= 2


def test_unreachable_targets_do_not_converge_and_are_counted(x64):
    # a window that cannot reach the upper targets: those cells exhaust their budget
    narrow = dataclasses.replace(CELL, g_max=21e-6)
    targets = _targets(2)
    state, rep = write_verify(narrow, None, _start(), targets, key=jax.random.key(2), tol=0.01, max_pulses=100)
    conv = np.asarray(rep.converged)
    beyond = np.asarray(targets) > 21e-6 + 0.01 * (narrow.g_max - narrow.g_min)
    # targets are clipped to the nominal window, so here every target is reachable...
    assert conv[beyond].mean() > 0.9
    # ...but a budget that is too small leaves cells unconverged, and they are counted
    state, rep = write_verify(CELL, None, _start(), targets, key=jax.random.key(2), tol=0.001, max_pulses=3)
    s = rep.summary()
    assert s["not_converged"] > 0 and s["pulses_max"] <= 3
    assert np.all(np.asarray(rep.pulses) <= 3)


def test_one_shot_is_open_loop(x64):
    eff = Effects(write_noise=False)
    state, rep = one_shot(CELL, None, _start(), _targets(3), key=jax.random.key(3), effects=eff)
    # noise-free, the nominal count lands within half a step of the target
    assert np.abs(np.asarray(rep.error)).max() <= 0.5 * CELL.step + 1e-15
    assert np.all(np.asarray(rep.reads) == 0)
    want = np.abs(np.round((np.asarray(_targets(3)) - CELL.g_min) / CELL.step))
    np.testing.assert_array_equal(np.asarray(rep.pulses), want)


def test_write_verify_jits_and_is_deterministic(x64):
    f = jax.jit(lambda k: write_verify(CELL, None, _start(), _targets(), key=k, tol=0.01))
    a, ra = f(jax.random.key(5))
    b, rb = f(jax.random.key(5))
    c, rc = write_verify(CELL, None, _start(), _targets(), key=jax.random.key(5), tol=0.01)
    np.testing.assert_array_equal(np.asarray(a["g"]), np.asarray(b["g"]))
    np.testing.assert_allclose(np.asarray(a["g"]), np.asarray(c["g"]), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(ra.pulses), np.asarray(rc.pulses))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tol=0.0), "tol"),
        (dict(tol=1.5), "tol"),
        (dict(max_pulses=0), "max_pulses"),
        (dict(max_pulses=2.5), "max_pulses"),
        (dict(max_step=0), "max_step"),
    ],
)
def test_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_verify(CELL, None, _start(), _targets(), key=jax.random.key(0), **kwargs)


def test_target_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="g_target"):
        write_verify(CELL, None, _start(), jnp.ones((3, 3)) * 1e-5, key=jax.random.key(0))


@pytest.mark.parametrize(
    "name",
    [
        "rram_hfox",
        "pcm_gst",
        pytest.param("fg_flash", marks=pytest.mark.slow),
        pytest.param("stt_mtj_stochastic", marks=pytest.mark.slow),  # the per-MTJ test below covers STT
    ],
)
def test_write_verify_on_every_family(name):
    # the check on the real pulse models: with exact verify reads, every cell
    # reported converged is within the tolerance, and the others are counted
    from xbar.devices import load

    dev = load(name)
    shape = (300,)
    fab = dev.fabricate(shape, key=jax.random.key(20))
    eff = Effects(read_noise=False)
    state = dev.program(fab, jnp.full(shape, dev.g_min), key=jax.random.key(21), effects=eff)
    lo, hi = float(dev.g_min), float(dev.g_max)
    targets = jnp.asarray(np.random.default_rng(22).uniform(lo + 0.2 * (hi - lo), lo + 0.8 * (hi - lo), shape))
    tol = 0.1
    state, rep = write_verify(dev, fab, state, targets, key=jax.random.key(23), tol=tol, max_pulses=300, effects=eff)
    conv = np.asarray(rep.converged)
    err = np.asarray(rep.error)
    assert np.all(np.abs(err[conv]) <= tol * (hi - lo) * (1 + 1e-5))
    s = rep.summary()
    assert s["converged"] + s["not_converged"] == 300 and s["converged"] > 0
    assert np.all(np.asarray(rep.pulses) <= 300) and s["energy_total_J"] > 0
    g = np.asarray(dev.conductance(fab, state, 0.0, effects=eff))
    np.testing.assert_allclose(g - np.asarray(targets), err, rtol=1e-5, atol=1e-12)


def test_stt_write_verify_per_mtj_reaches_intermediate_levels(x64):
    """Addressing each MTJ of a compound synapse (`pulses_for=dev.pulses_for_mtjs`):
    write-verify at a sub-critical (stochastic) pulse brings devices to an exact
    intermediate level of parallel MTJs, pulsing only the MTJs still missing, so no
    device overshoots."""
    from xbar.devices import load

    dev = load("stt_mtj_stochastic")
    shape = (400,)
    fab = dev.fabricate(shape, key=jax.random.key(30))
    eff = Effects(read_noise=False, d2d=False, stuck=False)
    state = dev.program(fab, jnp.full(shape, dev.g_min), key=jax.random.key(31), effects=eff)
    k = dev.mtjs_per_device
    levels = np.random.default_rng(32).integers(1, k, shape)  # intermediate levels only
    targets = jnp.asarray(float(dev.g_min) + levels * (float(dev.g_p) - float(dev.g_ap)))
    rule_calls = []

    def rule(f, s, g):
        n = dev.pulses_for_mtjs(f, s, g)
        rule_calls.append(n.shape)
        return n

    kw = dict(key=jax.random.key(33), tol=0.4 / k, max_pulses=256, effects=eff)  # within half a level
    new_state, rep = write_verify(dev, fab, state, targets, pulses_for=rule, **kw)
    assert rule_calls and rule_calls[0] == shape + (k,)  # the rule's per-MTJ counts were used
    conv = np.asarray(rep.converged)
    assert conv.mean() > 0.95
    m = np.asarray(jnp.sum(new_state["s"], axis=-1))
    np.testing.assert_array_equal(m[conv], levels[conv])
    # only the MTJs still missing get pulses, so no device overshoots its level
    assert np.all(m <= levels)
    assert np.asarray(rep.pulses).sum() > 0 and rep.summary()["energy_total_J"] > 0


def test_pulses_for_must_be_callable():
    with pytest.raises(TypeError, match="pulses_for: expected a callable"):
        write_verify(CELL, None, _start(), 1e-5, key=jax.random.key(0), pulses_for=3)
