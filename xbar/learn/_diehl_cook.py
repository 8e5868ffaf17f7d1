"""Unsupervised digit learning with STDP: the network of Diehl & Cook, Front. Comput.
Neurosci. 9, 99 (2015), simulated event by event, with ideal weights or with weights
held in device cells that STDP writes by pulses.

**Network.** `n_input` Poisson inputs (rate ``x·intensity``; D&C: pixel/4, i.e. up to
63.75 Hz) project all-to-all onto `n_neurons` excitatory LIF neurons (rest −65 mV,
reset −60 mV, threshold −52 mV + θ, τ_m = 100 ms, 5 ms refractory). Each neuron's
threshold adapts: θ grows by `theta_plus` at each of its spikes and decays with
`tau_theta` (10⁴ s, so in practice it only grows while learning), which stops any one
neuron from winning every digit. Synapses are current based, as in BindsNET's
``DiehlAndCook2015`` (an input spike steps the membrane by ``w·v_input``), and the
inhibitory population is folded into direct lateral inhibition: a spike pushes every
other neuron down by `v_inhibit` (BindsNET's MNIST example uses 120 mV). At most one
neuron fires per step — the one furthest above threshold — as with BindsNET's
``one_spike``.

**Learning.** The input weights follow an `STDPRule` (default: D&C's rule, nearest-spike
traces with τ = 20 ms, η_pre = 10⁻⁴ depression at each input spike times the post
trace, η_post = 10⁻² potentiation at each output spike times the pre trace, weights in
[0, 1]); pair or triplet, additive or multiplicative, exactly as `stdp_step` computes it
(tested against it). After each presentation every neuron's input weights are scaled
to sum to `norm` (78.4 = 0.1·784, D&C). When a presentation makes fewer than
`min_spikes` output spikes the sample is shown again with the input rates raised by
`boost` (D&C: +32 Hz), at most `max_boosts` times. Between presentations the membrane
and traces are reset (D&C let them relax during a 150 ms rest).

**Event-driven simulation.** Input spikes are drawn as a Poisson process per step: the
count of events in each step, then for each event the input it comes from, with
probability proportional to its rate (superposition of independent Poisson inputs; two
events on one input in a step both count). Each step gathers only the rows of the
weight matrix of that step's events (`max_events` per pass; more spill into further
passes), and STDP touches only those rows and the winner's column, so the cost of a step
does not grow with `n_input`. Every event drives the neurons and enters the traces;
depression at input spikes is applied to the first `max_events` events of a step, and
the rest are counted in ``state.dropped``. With the default 16 and MNIST at the default
rates a step has more events with probability 7·10⁻⁸ for the mean digit and 5·10⁻³ for
the brightest, so about one input spike in 10⁵ loses its (10⁻⁴-sized) depression; pass
a larger value for dense input (each doubling costs about a third more time).

**Hardware.** With a ``device``, each weight is one cell, ``G = g_min + w·(g_max −
g_min)`` for the rule's ``w ∈ [w_min, w_max]``. A presentation runs on the weights read
from the cells; the STDP increments of the presentation and the normalization are
accumulated digitally, then written at its end as pulses with `write_increment`
(nominal pulse size, stochastic rounding, every device effect: nonlinearity, asymmetry,
cycle-to-cycle noise, stochastic STT switching, wear), and the next presentation reads
what the cells hold. Reads are noise free here.

**Labels.** After learning, each neuron is assigned the class for which its mean spike
count is highest (`assign_labels`), and a sample is classified as the class whose
assigned neurons have the highest mean count (`classify`; D&C's rule).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _random as _rnd
from .._effects import Effects
from ..devices._base import ALL_EFFECTS
from ._checkpoint import key_arrays, key_from, leaf_arrays, leaves_from, write_npz
from ._pulsed import _NOMINAL, _nominal_pulses, write_increment
from ._stdp import STDPRule

__all__ = [
    "DiehlCook",
    "DiehlCookState",
    "diehl_cook_init",
    "diehl_cook_present",
    "diehl_cook_train",
    "diehl_cook_responses",
    "assign_labels",
    "classify",
    "DIEHL_COOK_RULE",
]

WRITE_MODES = ("stochastic", "accumulate")
_MAX_PULSES = 8

#: D&C's learning rule: nearest-spike pair STDP, η_post = 10⁻² (potentiation at output
#: spikes), η_pre = 10⁻⁴ (depression at input spikes), τ = 20 ms, weights in [0, 1].
DIEHL_COOK_RULE = STDPRule(
    tau_plus=20e-3, tau_minus=20e-3, a2_plus=1e-2, a2_minus=1e-4, w_min=0.0, w_max=1.0, interaction="nearest"
)


def _check_positive(name, v, *, integer=False, allow_zero=False):
    if integer:
        ok = isinstance(v, int) and not isinstance(v, bool) and (v >= 0 if allow_zero else v >= 1)
        what = "a non-negative int" if allow_zero else "a positive int"
    else:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (v >= 0 if allow_zero else v > 0)
        what = "a finite value >= 0" if allow_zero else "a positive finite value"
    if not ok:
        raise ValueError(f"DiehlCook.{name}: expected {what}, got {v!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiehlCook:
    """The network and its learning settings (module docstring); SI units (s, V, Hz).

    Defaults are Diehl & Cook (2015) for 100 neurons with BindsNET's current-based
    synapses and lateral inhibition."""

    n_input: int = 784
    n_neurons: int = 100
    dt: float = 0.5e-3
    t_present: float = 0.35
    intensity: float = 63.75
    boost: float = 32.0
    min_spikes: int = 5
    max_boosts: int = 4
    v_rest: float = -65e-3
    v_reset: float = -60e-3
    v_thresh: float = -52e-3
    tau_m: float = 100e-3
    t_ref: float = 5e-3
    theta_plus: float = 0.05e-3
    tau_theta: float = 1e4
    v_input: float = 1e-3
    v_inhibit: float = 120e-3
    norm: float | None = 78.4
    w_init: float = 0.3
    rule: STDPRule = DIEHL_COOK_RULE
    max_events: int = 16

    def __post_init__(self) -> None:
        for name in ("n_input", "n_neurons", "max_events"):
            _check_positive(name, getattr(self, name), integer=True)
        _check_positive("min_spikes", self.min_spikes, integer=True, allow_zero=True)
        _check_positive("max_boosts", self.max_boosts, integer=True, allow_zero=True)
        for name in ("dt", "t_present", "intensity", "tau_m", "tau_theta", "v_input"):
            _check_positive(name, getattr(self, name))
        for name in ("boost", "t_ref", "theta_plus", "v_inhibit", "w_init"):
            _check_positive(name, getattr(self, name), allow_zero=True)
        for name in ("v_rest", "v_reset", "v_thresh"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
                raise ValueError(f"DiehlCook.{name}: expected a finite voltage in V, got {v!r}")
        if not self.v_thresh > max(self.v_rest, self.v_reset):
            raise ValueError(
                f"DiehlCook.v_thresh: expected above v_rest and v_reset ({self.v_rest}, {self.v_reset} V), "
                f"got {self.v_thresh}"
            )
        if self.t_present < self.dt:
            raise ValueError(f"DiehlCook.t_present: expected at least one step dt = {self.dt} s, got {self.t_present}")
        if self.norm is not None:
            _check_positive("norm", self.norm)
        if not isinstance(self.rule, STDPRule):
            raise TypeError(f"DiehlCook.rule: expected an STDPRule, got {type(self.rule).__name__}")

    @property
    def num_steps(self) -> int:
        return int(round(self.t_present / self.dt))


class DiehlCookState(NamedTuple):
    """What learning changes: input weights ``w`` ``(n_input, n_neurons)`` in the rule's
    range (read back from the cells when there is a device), adaptive thresholds
    ``theta`` [V] ``(n_neurons,)``, and with a device its fabricated draws ``fab``,
    cell states ``dev``, and running totals of write ``pulses`` and ``energy`` [J];
    ``samples`` counts presentations (boosted repeats included) and ``dropped`` the input
    spikes whose depression was left out because their step had more than `max_events`
    events (see `DiehlCook`; 121 of about 1.8·10⁷ input spikes in one MNIST epoch)."""

    w: jax.Array
    theta: jax.Array
    device: Any = None
    fab: Any = None
    dev: Any = None
    pulses: jax.Array | None = None
    energy: jax.Array | None = None
    samples: jax.Array | None = None
    dropped: jax.Array | None = None
    residual: jax.Array | None = None


def _siemens_per_weight(net, device):
    return (device.g_max - device.g_min) / (net.rule.w_max - net.rule.w_min)


def _g_of_w(net, device, w):
    return device.g_min + (w - net.rule.w_min) * _siemens_per_weight(net, device)


def _read_w(net, state, effects):
    g = state.device.conductance(state.fab, state.dev, 0.0, effects=effects)
    return net.rule.w_min + (g - state.device.g_min) / _siemens_per_weight(net, state.device)


def diehl_cook_init(
    net: DiehlCook, *, key, device=None, effects: Effects = ALL_EFFECTS, write: str = "stochastic"
) -> DiehlCookState:
    """Initial weights uniform in ``[w_min, w_min + w_init]`` (D&C: [0, 0.3]), θ = 0.
    With a `device`, one cell per weight is fabricated and programmed to them (one-shot,
    with `effects`), and ``w`` is what the cells hold.

    `write` says how each presentation's increment (STDP and normalization) becomes
    pulses: ``"stochastic"`` — `write_increment`, the nominal pulse count rounded
    stochastically (unbiased, but every cell with any increment is pulsed now and then,
    and each pulse brings the device's cycle-to-cycle noise); ``"accumulate"`` — the
    increments add up in a digital residual per cell and a cell is pulsed only when its
    residual reaches a whole nominal pulse (the mixed-precision scheme of Nandakumar et
    al., Front. Neurosci. 14, 406 (2020)): the residual loses what the pulses do in the
    controller's nominal view (open loop — a closed loop through the read-back would
    chase cycle-to-cycle noise larger than one step with ever more pulses); at most 8
    pulses per cell per presentation, the residual clipped to ± the weight range."""
    if not isinstance(net, DiehlCook):
        raise TypeError(f"net: expected a DiehlCook, got {type(net).__name__}")
    if write not in WRITE_MODES:
        raise ValueError(f"write: expected one of {list(WRITE_MODES)}, got {write!r}")
    k_w, k_fab, k_prog = jax.random.split(key, 3)
    r = net.rule
    w = r.w_min + net.w_init * jax.random.uniform(k_w, (net.n_input, net.n_neurons))
    w = jnp.clip(w, r.w_min, r.w_max)
    theta = jnp.zeros((net.n_neurons,), w.dtype)
    zero = jnp.zeros((), w.dtype)
    if device is None:
        return DiehlCookState(w, theta, samples=jnp.zeros((), jnp.int32), dropped=jnp.zeros((), jnp.int32))
    if device.family == "pcm":
        raise ValueError("device: PCM can only be SET gradually; STDP in situ needs a bidirectional cell")
    fab = device.fabricate(w.shape, key=k_fab)
    dev = device.program(fab, _g_of_w(net, device, w), key=k_prog, effects=effects)
    count = jnp.zeros((), jnp.int32)
    residual = jnp.zeros_like(w) if write == "accumulate" else None
    state = DiehlCookState(w, theta, device, fab, dev, zero, zero, count, count, residual)
    return state._replace(w=_read_w(net, state, effects))


def _events(net, x, rate_scale, key):
    """Per step: the event count and `max_events` candidate input indices."""
    k_n, k_i = jax.random.split(key)
    rates = x * rate_scale
    total = jnp.sum(rates)
    counts = jax.random.poisson(k_n, total * net.dt, (net.num_steps,)).astype(jnp.int32)
    cdf = jnp.cumsum(rates) / jnp.where(total > 0, total, 1.0)
    idx = _inputs_of(cdf, _rnd.uniform(k_i, (net.num_steps, net.max_events), cdf.dtype))
    return counts, idx, cdf


def _inputs_of(cdf, u):
    """The input each event comes from, for uniforms `u`: inverse CDF of the rates."""
    return jnp.minimum(jnp.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1).astype(jnp.int32)


def _present(net: DiehlCook, w, theta, x, rate_scale, key, learn: bool, record: bool = False):
    """One presentation; returns ``(w, theta, counts, dropped)`` (and the rasters
    ``(event counts, candidate inputs, output spikes)`` if `record`)."""
    r = net.rule
    counts, idx, cdf = _events(net, x, rate_scale, key)
    k_spill = jax.random.fold_in(key, 1)
    kmax, n_in, n_e = net.max_events, net.n_input, net.n_neurons
    dtype = w.dtype
    d_m = math.exp(-net.dt / net.tau_m)
    d_1, d_x = math.exp(-net.dt / r.tau_plus), math.exp(-net.dt / r.tau_x)
    d_o1, d_o2 = math.exp(-net.dt / r.tau_minus), math.exp(-net.dt / r.tau_y)
    ref_steps = int(round(net.t_ref / net.dt))
    span = r.w_max - r.w_min
    nearest = r.interaction == "nearest"
    soft = r.dependence == "multiplicative"
    triplet = r.triplet
    slots = jnp.arange(kmax)

    def spill_ids(t, c):
        return _inputs_of(cdf, _rnd.uniform(jax.random.fold_in(jax.random.fold_in(k_spill, t), c), (kmax,), cdf.dtype))

    def chunks(t, n_t, fn, init):
        """fold `fn(carry, ids, mask)` over the spill passes 1, 2, … of step t."""

        def cond(c):
            return c[0] * kmax < n_t

        def body(c):
            i, acc = c
            return i + 1, fn(acc, spill_ids(t, i), (slots + i * kmax < n_t).astype(dtype))

        return jax.lax.while_loop(cond, body, (jnp.int32(1), init))[1]

    def add_trace(tr, ids, m):
        return tr.at[ids].max(m) if nearest else tr.at[ids].add(m)

    def up_factor(wv):
        return jnp.clip((r.w_max - wv) / span, 0.0, 1.0) ** r.mu if soft else 1.0

    def down_factor(wv):
        return jnp.clip((wv - r.w_min) / span, 0.0, 1.0) ** r.mu if soft else 1.0

    def body(carry, inp):
        w, v, ref, theta, r1, r2, o1, o2, cnt, dropped = carry
        t, n_t, ids = inp
        m = (slots < n_t).astype(dtype)
        # traces decay; this step's input spikes enter the pre traces before potentiation,
        # while depression reads the post trace and the slow pre trace r2 from before them
        # (without learning the traces are not needed and stay at zero)
        if learn:
            r1, o1, o2 = r1 * d_1, o1 * d_o1, o2 * d_o2
        r2 = r2 * d_x if triplet and learn else r2
        drive = jnp.sum(w[ids] * m[:, None], axis=0)
        r1_new = add_trace(r1, ids, m) if learn else r1
        r2_new = add_trace(r2, ids, m) if triplet and learn else r2

        def spill(acc, i2, m2):  # further passes of events: their drive and traces
            d_a, r1_a, r2_a = acc
            r2_a = add_trace(r2_a, i2, m2) if triplet and learn else r2_a
            r1_a = add_trace(r1_a, i2, m2) if learn else r1_a
            return d_a + jnp.sum(w[i2] * m2[:, None], axis=0), r1_a, r2_a

        # the weight matrix must not pass through control flow in this body: XLA on CPU
        # then copies it every step (25-34 ms per sample instead of ~5); only small
        # vectors go through this cond, which is also why spilled depression is counted
        drive, r1_new, r2_new = jax.lax.cond(
            n_t > kmax, lambda a: chunks(t, n_t, spill, a), lambda a: a, (drive, r1_new, r2_new)
        )
        # neurons: leak, input (not while refractory), threshold, one winner, inhibition
        v = net.v_rest + (v - net.v_rest) * d_m + jnp.where(ref > 0, 0.0, drive * net.v_input)
        over = v - (net.v_thresh + theta)
        j = jnp.argmax(over)
        fire = over[j] >= 0
        s = (jnp.arange(n_e) == j) & fire
        v = jnp.where(s, net.v_reset, jnp.where(ref > 0, v, v - net.v_inhibit * fire))
        ref = jnp.where(s, ref_steps, ref - 1)
        theta = theta + net.theta_plus * s
        if learn:
            up_j = (r.a2_plus + r.a3_plus * o2[j] if triplet else r.a2_plus) * fire.astype(dtype) * r.eta * span
            # column j (the winner): potentiation by the pre trace; the rows of this
            # pass's events are rewritten below with their depression included
            col = w[:, j]
            col_new = jnp.clip(col + up_j * r1_new * up_factor(col), r.w_min, r.w_max)
            rows = w[ids]
            mult = jnp.sum((ids[:, None] == ids[None, :]) & (m[None, :] > 0), axis=1).astype(dtype) * m
            dep = (r.a2_minus + r.a3_minus * r2[ids] if triplet else r.a2_minus) * r.eta * span * mult
            onehot = (jnp.arange(n_e) == j).astype(dtype)
            d_rows = -dep[:, None] * o1[None, :] * down_factor(rows)
            d_rows = d_rows + (up_j * r1_new[ids])[:, None] * onehot[None, :] * up_factor(rows)
            rows_new = jnp.clip(rows + d_rows, r.w_min, r.w_max)
            # unused slots write nowhere (their candidate index may repeat a used one)
            w = w.at[:, j].set(col_new).at[jnp.where(m > 0, ids, n_in)].set(rows_new, mode="drop")
            sf = s.astype(dtype)
            o1 = jnp.where(s, 1.0, o1) if nearest else o1 + sf
            o2 = jnp.where(s, 1.0, o2) if nearest else o2 + sf
        out = (s, n_t) if record else None
        dropped = dropped + jnp.maximum(n_t - kmax, 0) if learn else dropped
        return (w, v, ref, theta, r1_new, r2_new, o1, o2, cnt + s.astype(jnp.int32), dropped), out

    zeros_in, zeros_e = jnp.zeros((n_in,), dtype), jnp.zeros((n_e,), dtype)
    carry = (
        w,
        jnp.full((n_e,), net.v_rest, dtype),
        jnp.zeros((n_e,), jnp.int32),
        theta,
        zeros_in,
        zeros_in,
        zeros_e,
        zeros_e,
        jnp.zeros((n_e,), jnp.int32),
        jnp.zeros((), jnp.int32),
    )
    steps = jnp.arange(net.num_steps)
    carry, rec = jax.lax.scan(body, carry, (steps, counts, idx))
    w, theta, cnt, dropped = carry[0], carry[3], carry[8], carry[9]
    theta = theta * math.exp(-net.t_present / net.tau_theta)
    if learn and net.norm is not None:
        total = jnp.sum(w, axis=0)
        w = jnp.clip(w * (net.norm / jnp.where(total > 0, total, 1.0))[None, :], r.w_min, r.w_max)
    if record:
        return w, theta, cnt, dropped, (counts, idx, rec[0])
    return w, theta, cnt, dropped


def _present_boosted(net, w, theta, x, key, learn):
    """A presentation, repeated with the rates raised by `boost` while it makes fewer
    than `min_spikes` output spikes (at most `max_boosts` times). Returns
    ``(w, theta, counts, presentations, dropped)``."""
    w1, th1, cnt, dropped = _present(net, w, theta, x, net.intensity, key, learn)
    if net.max_boosts == 0 or net.min_spikes == 0:
        return w1, th1, cnt, jnp.int32(1), dropped

    def cond(c):
        return (jnp.sum(c[2]) < net.min_spikes) & (c[3] <= net.max_boosts)

    def body(c):
        w_b, th_b, _, b, drop_b = c
        rate = net.intensity + net.boost * b.astype(w.dtype)
        w_b, th_b, cnt_b, d_b = _present(net, w_b, th_b, x, rate, jax.random.fold_in(key, b), learn)
        return w_b, th_b, cnt_b, b + 1, drop_b + d_b

    return jax.lax.while_loop(cond, body, (w1, th1, cnt, jnp.int32(1), dropped))


def _check_x(net, x, name="x"):
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.n_input:
        raise ValueError(f"{name}: expected samples of shape (n, n_input={net.n_input}), got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name}: expected floating intensities in [0, 1], got dtype {x.dtype}")
    return x


def _learn_one(net, effects, state: DiehlCookState, x, key):
    k_present, k_write = jax.random.split(key)
    w, theta, cnt, reps, dropped = _present_boosted(net, state.w, state.theta, x, k_present, True)
    samples, dropped = state.samples + reps, state.dropped + dropped
    if state.device is None:
        return state._replace(w=w, theta=theta, samples=samples, dropped=dropped), cnt
    scale = _siemens_per_weight(net, state.device)
    if state.residual is None:  # stochastic rounding of this presentation's increment
        dev, n, energy = write_increment(state.device, state.fab, state.dev, (w - state.w) * scale, key=k_write,
                                         effects=effects)  # fmt: skip
        residual = None
    else:  # accumulate digitally; write whole nominal pulses, keep the rest (mixed precision)
        chi = (state.residual + (w - state.w)) * scale
        n_real = _nominal_pulses(state.device, state.fab, state.dev, chi)
        n = jnp.clip(jnp.trunc(n_real), -_MAX_PULSES, _MAX_PULSES).astype(jnp.int32)
        dev, energy = state.device.pulse(state.fab, state.dev, n, key=k_write, effects=effects)
        # minus what n pulses do in the controller's nominal view (open loop: noise is not chased)
        g0 = state.device.conductance(state.fab, state.dev, 0.0, effects=_NOMINAL)
        moved, _ = state.device.pulse(state.fab, state.dev, n, key=k_write, effects=_NOMINAL)
        g1 = state.device.conductance(state.fab, moved, 0.0, effects=_NOMINAL)
        span = net.rule.w_max - net.rule.w_min
        residual = jnp.clip((chi - (g1 - g0)) / scale, -span, span)
    new = state._replace(
        theta=theta,
        dev=dev,
        residual=residual,
        pulses=state.pulses + jnp.sum(jnp.abs(n)).astype(state.pulses.dtype),
        energy=state.energy + jnp.sum(energy),
        samples=samples,
        dropped=dropped,
    )
    return new._replace(w=_read_w(net, new, effects)), cnt


def diehl_cook_present(net: DiehlCook, state: DiehlCookState, x, *, key, effects: Effects = ALL_EFFECTS):
    """Learn from one sample `x` ``(n_input,)`` (with boosted repeats): returns
    ``(state, counts)``, the output spike counts of the last presentation."""
    x = _check_x(net, jnp.asarray(x)[None])[0]
    return _present_fn(net, effects)(state, x, key)


# compiled once per network and effects (both hashable, frozen dataclasses)
@functools.cache
def _present_fn(net, effects):
    return jax.jit(functools.partial(_learn_one, net, effects))


@functools.cache
def _train_chunk(net, effects):
    @jax.jit
    def fn(state, xs, key):
        def one(st, inp):
            st, cnt = _learn_one(net, effects, st, inp[0], inp[1])
            return st, jnp.sum(cnt)

        return jax.lax.scan(one, state, (xs, jax.random.split(key, xs.shape[0])))

    return fn


def diehl_cook_train(
    net: DiehlCook,
    state: DiehlCookState,
    x,
    *,
    key,
    epochs: int = 1,
    chunk: int = 100,
    effects: Effects = ALL_EFFECTS,
    progress: bool = True,
    checkpoint=None,
    resume: bool = False,
):
    """Present the samples `x` ``(n, n_input)`` in order, `epochs` times (a fresh
    permutation each epoch after the first), learning from each. Returns ``(state,
    spikes)`` with ``spikes`` the output spike count of every presentation, shape
    ``(epochs, n)``. Runs `chunk` samples per compiled call; a progress bar counts
    samples.

    With `checkpoint` (a path), the whole loop state (network state, device state,
    key, position, spike counts) is written there atomically after every chunk (npz,
    no pickle); ``resume=True`` continues from it, giving the same result as an
    uninterrupted run, and refuses a file written with other settings."""
    x = _check_x(net, x)
    for name, v in (("epochs", epochs), ("chunk", chunk)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    if not isinstance(state, DiehlCookState) or state.w.shape != (net.n_input, net.n_neurons):
        got = getattr(getattr(state, "w", None), "shape", type(state).__name__)
        raise ValueError(f"state: expected a DiehlCookState with w of shape {(net.n_input, net.n_neurons)}, got {got}")
    if resume and checkpoint is None:
        raise ValueError("resume: expected a checkpoint path to resume from, got checkpoint=None")
    from ._train import _progress

    fn = _train_chunk(net, effects)
    n = x.shape[0]
    spikes = np.zeros((epochs, n), np.int32)
    settings = _settings_json(net, state, n, epochs, chunk, effects)
    e0, i0, order = 0, 0, None
    if resume:
        state, key, spikes, e0, i0, order = _load_dc_checkpoint(checkpoint, settings, state, spikes)
    bar = _progress(epochs * n, "stdp", progress)
    bar.update(e0 * n + i0)
    try:
        for e in range(e0, epochs):
            if order is None:
                key, k_perm = jax.random.split(key)
                order = np.arange(n) if e == 0 else np.asarray(jax.random.permutation(k_perm, n))
            for i in range(i0, n, chunk):
                key, k = jax.random.split(key)
                sel = order[i : i + chunk]
                state, tot = fn(state, x[sel], k)
                spikes[e, sel] = np.asarray(tot)
                bar.update(len(sel))
                if checkpoint is not None:
                    nxt = (e, i + chunk) if i + chunk < n else (e + 1, 0)
                    _save_dc_checkpoint(checkpoint, settings, state, key, spikes, *nxt, order)
            order, i0 = None, 0
    finally:
        bar.close()
    return state, spikes


def _settings_json(net, state, n, epochs, chunk, effects) -> str:
    dev = state.device
    desc = {
        "net": repr(net),
        "n_train": n,
        "epochs": epochs,
        "chunk": chunk,
        "effects": repr(effects),
        "device": None if dev is None else f"{type(dev).__name__}:{dev.name}",
        "write": None if dev is None else ("stochastic" if state.residual is None else "accumulate"),
    }
    return json.dumps(desc, sort_keys=True)


def _save_dc_checkpoint(path, settings, state, key, spikes, epoch, pos, order) -> None:
    arrays = {
        "settings": np.asarray(settings),
        **key_arrays(key),
        "spikes": spikes,
        "epoch": np.asarray(epoch),
        "pos": np.asarray(pos),
        "order": np.asarray(order),
        **leaf_arrays("s", state),
    }
    write_npz(path, arrays)


def _load_dc_checkpoint(path, settings, state, spikes):
    with np.load(path, allow_pickle=False) as z:
        saved = str(z["settings"])
        if saved != settings:
            raise ValueError(
                f"checkpoint: expected one written with these settings ({settings}), got {path} with {saved}"
            )
        state = leaves_from(z, "s", state, "state leaf")
        epoch, pos = int(z["epoch"]), int(z["pos"])
        order = np.asarray(z["order"]) if pos > 0 else None
        return state, key_from(z), np.asarray(z["spikes"]), epoch, pos, order


@functools.cache
def _respond_fn(net):
    @jax.jit
    def fn(w, theta, xs, key):  # samples in turn (lax.map): vmap made this 5x slower on CPU
        keys = jax.random.split(key, xs.shape[0])
        return jax.lax.map(lambda a: _present_boosted(net, w, theta, a[0], a[1], False)[2], (xs, keys))

    return fn


def diehl_cook_responses(net: DiehlCook, state: DiehlCookState, x, *, key, batch_size: int = 100):
    """Output spike counts ``(n, n_neurons)`` for the samples `x` with learning off
    (weights and thresholds fixed; boosted repeats as in training), `batch_size`
    samples per compiled call (the last padded)."""
    x = _check_x(net, x)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    fn = _respond_fn(net)
    out = []
    n = x.shape[0]
    for i in range(0, n, batch_size):
        xb = x[i : i + batch_size]
        pad = batch_size - xb.shape[0]  # every call has one shape: one compilation
        xb = jnp.concatenate([xb, jnp.zeros((pad, net.n_input), xb.dtype)]) if pad else xb
        out.append(np.asarray(fn(state.w, state.theta, xb, jax.random.fold_in(key, i)))[: batch_size - pad])
    return np.concatenate(out)


def _check_counts(counts, name="counts"):
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"{name}: expected spike counts of shape (n_samples, n_neurons), got {counts.shape}")
    return counts


def assign_labels(counts, labels, *, n_classes: int = 10) -> np.ndarray:
    """Each neuron's class: the one with its highest mean spike count over the samples
    of that class (D&C). `counts` ``(n, n_neurons)``, `labels` ``(n,)`` ints; a class
    with no samples is never assigned."""
    counts = _check_counts(counts)
    labels = np.asarray(labels)
    if labels.shape != (counts.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected {counts.shape[0]} integer labels, got shape {labels.shape} {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels: expected values in [0, {n_classes}), got [{labels.min()}, {labels.max()}]")
    rates = np.full((n_classes, counts.shape[1]), -1.0)
    for c in range(n_classes):
        if np.any(labels == c):
            rates[c] = counts[labels == c].mean(axis=0)
    return rates.argmax(axis=0)


def classify(counts, neuron_labels, *, n_classes: int = 10) -> np.ndarray:
    """Each sample's class: the one whose assigned neurons have the highest mean spike
    count (D&C's rule; classes with no neuron score −1)."""
    counts = _check_counts(counts)
    neuron_labels = np.asarray(neuron_labels)
    if neuron_labels.shape != (counts.shape[1],):
        raise ValueError(f"neuron_labels: expected shape ({counts.shape[1]},), got {neuron_labels.shape}")
    score = np.full((counts.shape[0], n_classes), -1.0)
    for c in range(n_classes):
        sel = neuron_labels == c
        if sel.any():
            score[:, c] = counts[:, sel].mean(axis=1)
    return score.argmax(axis=1)
