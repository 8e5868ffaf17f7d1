"""In-situ training with device pulses: an optax transformation that turns each weight
update into write pulses on the devices that hold the weight, and returns the update the
devices actually made.

Chain it after any optimizer, ``optax.chain(optax.sgd(lr), pulsed(device, key=...))``:
the optimizer proposes ``Δw``; `pulsed` converts it to a signed pulse count per weight
with the controller's *nominal* view of the cell (the card's pulse response, no
variation, no noise): ``n = Δw·s / ΔG₁``, with ``s`` siemens per unit weight and ``ΔG₁``
the nominal conductance change of one pulse in that direction at the cell's present
state; ``n`` is rounded stochastically (``⌊n + u⌋``, u uniform: unbiased, so updates
smaller than a pulse still act on average) and clipped to ``±max_pulses``. The pulses
then act with every effect of the device model (nonlinearity, asymmetry, cycle-to-cycle
noise, device variation, wear, stochastic switching), and the returned update is the
weight read back from the devices minus the old weight — so the parameters always
equal what the chip holds.

Weights map to conductances as:

- ``"single"`` (bidirectional families: RRAM, floating gate, STT-MRAM): one device per
  weight against a reference at mid-window, ``G = G_ref + w·s``,
  ``G_ref = (g_min + g_max)/2``, ``s = (g_max − g_min)/(2·w_max)``;
- ``"pair"`` (PCM, which can only be SET gradually): a differential pair,
  ``w = (G⁺ − G⁻)/s`` with ``s = (g_max − g_min)/w_max``; ``Δw > 0`` SETs G⁺ and
  ``Δw < 0`` SETs G⁻, with the occasional refresh of `pcm_pair_update`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .. import _random as _rnd
from .._effects import Effects
from ..devices._base import ALL_EFFECTS
from ..devices._pcm import pcm_pair_update

__all__ = ["pulsed", "write_increment", "PulsedState", "MODES"]

MODES = ("single", "pair")
_NOMINAL = Effects.only()  # the controller's view: the card's curve, nothing random


class PulsedState(NamedTuple):
    """State of `pulsed`: per parameter leaf the fabricated draws and device states
    (``fab``, ``dev``; tuples ``(pos, neg)`` in pair mode), the key, and running totals
    of pulses applied and write energy [J] per leaf."""

    fab: Any
    dev: Any
    key: jax.Array
    pulses: Any
    energy: Any


def _read(device, fab, state, effects):
    return device.conductance(fab, state, 0.0, effects=effects)


def _nominal_step(device, fab, state, sign):
    """Nominal conductance change of one pulse of `sign` at each cell's present state."""
    g0 = _read(device, fab, state, _NOMINAL)
    n = jnp.full(g0.shape, sign, jnp.int32)
    moved, _ = device.pulse(fab, state, n, key=jax.random.key(0), effects=_NOMINAL)
    return _read(device, fab, moved, _NOMINAL) - g0


def _nominal_pulses(device, fab, state, dg):
    """The real-valued signed pulse count ``dg/ΔG₁`` per cell, ``ΔG₁`` the magnitude of
    one nominal pulse in the direction of `dg` at the cell's present state (0 where the
    cell cannot move that way)."""
    up, down = _nominal_step(device, fab, state, 1), -_nominal_step(device, fab, state, -1)
    step = jnp.where(dg >= 0, up, down)
    return dg / jnp.where(step > 0, step, jnp.inf)


def _stochastic_count(n_real, key, max_pulses):
    u = _rnd.uniform(key, n_real.shape, n_real.dtype)
    return jnp.clip(jnp.floor(n_real + u), -max_pulses, max_pulses).astype(jnp.int32)


def write_increment(device, fab, state, dg, *, key, max_pulses: int = 8, effects: Effects = ALL_EFFECTS):
    """Write a conductance change `dg` [S] per cell as pulses on a bidirectional cell
    (RRAM, floating gate, STT-MRAM): the signed count ``dg/ΔG₁`` with ``ΔG₁`` the nominal
    change of one pulse in that direction at each cell's present state (the card's
    curve, no variation or noise), rounded stochastically (``⌊n + u⌋``: unbiased) and
    clipped to ``±max_pulses``, then applied with `effects`. Returns ``(state, n,
    energy)`` — the new state, the pulse counts and the energy per cell [J]. This is how
    `pulsed` writes each update, and how an STDP increment (`stdp_step`'s ``dw`` times
    siemens per unit weight) becomes pulses. PCM, which can only be SET gradually,
    is written as a differential pair (`pulsed`, `xbar.devices.pcm_pair_update`)."""
    if device.family == "pcm":
        raise ValueError("device: PCM can only be SET gradually; write it as a pair (pulsed, pcm_pair_update)")
    if isinstance(max_pulses, bool) or not isinstance(max_pulses, int) or max_pulses < 1:
        raise ValueError(f"max_pulses: expected a positive int, got {max_pulses!r}")
    k_round, k_pulse = jax.random.split(key)
    n = _stochastic_count(_nominal_pulses(device, fab, state, jnp.asarray(dg)), k_round, max_pulses)
    state, energy = device.pulse(fab, state, n, key=k_pulse, effects=effects)
    return state, n, energy


def pulsed(
    device,
    *,
    key,
    w_max: float = 1.0,
    max_pulses: int = 8,
    mode: str | None = None,
    effects: Effects = ALL_EFFECTS,
) -> optax.GradientTransformation:
    """An optax transformation that writes each update as device pulses (module
    docstring) and returns the update the devices made.

    **Arguments:**

    - `device`: the cell model (`xbar.devices.load(...)`).
    - `key`: fabrication, programming and write-noise draws.
    - `w_max`: the weight that maps to the edge of the window (weights are clipped to
      ``[−w_max, w_max]`` at programming).
    - `max_pulses`: at most this many pulses per weight per update.
    - `mode`: ``"single"`` or ``"pair"``; default ``"pair"`` for PCM, else ``"single"``.
    - `effects`: the effects the pulses act with.

    `init(params)` fabricates one device (or pair) per weight and programs the initial
    weights; `update(updates, state, params)` needs `params`.
    """
    if not (isinstance(w_max, (int, float)) and not isinstance(w_max, bool) and math.isfinite(w_max) and w_max > 0):
        raise ValueError(f"w_max: expected a positive weight, got {w_max!r}")
    if isinstance(max_pulses, bool) or not isinstance(max_pulses, int) or max_pulses < 1:
        raise ValueError(f"max_pulses: expected a positive int, got {max_pulses!r}")
    mode = mode if mode is not None else ("pair" if device.family == "pcm" else "single")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    if mode == "single" and device.family == "pcm":
        raise ValueError("mode: PCM can only be SET gradually; expected 'pair', got 'single'")
    if mode == "pair" and device.family != "pcm":
        raise ValueError(f"mode: 'pair' is the PCM differential pair; expected 'single' for {device.family}")
    span = device.g_max - device.g_min
    g_ref = 0.5 * (device.g_min + device.g_max)
    s = span / (2.0 * w_max) if mode == "single" else span / w_max

    def weight(fab, dev_state):
        if mode == "single":
            return (_read(device, fab, dev_state, effects) - g_ref) / s
        (f_p, f_n), (d_p, d_n) = fab, dev_state
        return (_read(device, f_p, d_p, effects) - _read(device, f_n, d_n, effects)) / s

    def init_leaf(w, k):
        w = jnp.clip(jnp.asarray(w), -w_max, w_max)
        k_fab, k_prog = jax.random.split(k)
        if mode == "single":
            fab = device.fabricate(w.shape, key=k_fab)
            return fab, device.program(fab, g_ref + w * s, key=k_prog, effects=effects)
        kf_p, kf_n = jax.random.split(k_fab)
        kp_p, kp_n = jax.random.split(k_prog)
        f_p, f_n = device.fabricate(w.shape, key=kf_p), device.fabricate(w.shape, key=kf_n)
        d_p = device.program(f_p, device.g_min + jnp.maximum(w, 0.0) * s, key=kp_p, effects=effects)
        d_n = device.program(f_n, device.g_min + jnp.maximum(-w, 0.0) * s, key=kp_n, effects=effects)
        return (f_p, f_n), (d_p, d_n)

    def init_fn(params):
        leaves, treedef = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(key, len(leaves) + 1)
        made = [init_leaf(w, k) for w, k in zip(leaves, keys[1:], strict=True)]
        zeros = [jnp.zeros((), jnp.result_type(float)) for _ in leaves]
        return PulsedState(
            fab=treedef.unflatten([m[0] for m in made]),
            dev=treedef.unflatten([m[1] for m in made]),
            key=keys[0],
            pulses=treedef.unflatten(zeros),
            energy=treedef.unflatten(list(zeros)),
        )

    def update_leaf(dw, w, fab, dev_state, k):
        dg = dw * s
        if mode == "single":
            dev_state, n, energy = write_increment(
                device, fab, dev_state, dg, key=k, max_pulses=max_pulses, effects=effects
            )
        else:
            k_round, k_pulse = jax.random.split(k)
            (f_p, f_n), (d_p, d_n) = fab, dev_state
            up_p, up_n = _nominal_step(device, f_p, d_p, 1), _nominal_step(device, f_n, d_n, 1)
            step = jnp.where(dg >= 0, up_p, up_n)
            n_mag = _stochastic_count(jnp.abs(dg) / jnp.where(step > 0, step, jnp.inf), k_round, max_pulses)
            n = jnp.where(dg >= 0, n_mag, -n_mag)
            d_p, d_n, energy, _ = pcm_pair_update(device, f_p, f_n, d_p, d_n, n, key=k_pulse, effects=effects)
            dev_state = (d_p, d_n)
        new_w = weight(fab, dev_state)
        return new_w - w, dev_state, jnp.sum(jnp.abs(n)).astype(jnp.result_type(float)), jnp.sum(energy)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("params: pulsed needs the current parameters (optax update(updates, state, params))")
        up_leaves, treedef = jax.tree_util.tree_flatten(updates)
        w_leaves = treedef.flatten_up_to(params)
        fab_leaves = treedef.flatten_up_to(state.fab)
        dev_leaves = treedef.flatten_up_to(state.dev)
        key_next, *keys = jax.random.split(state.key, len(up_leaves) + 1)
        out = [
            update_leaf(dw, w, f, d, k)
            for dw, w, f, d, k in zip(up_leaves, w_leaves, fab_leaves, dev_leaves, keys, strict=True)
        ]
        pulses = [p + o[2] for p, o in zip(treedef.flatten_up_to(state.pulses), out, strict=True)]
        energy = [e + o[3] for e, o in zip(treedef.flatten_up_to(state.energy), out, strict=True)]
        new_state = PulsedState(
            fab=state.fab,
            dev=treedef.unflatten([o[1] for o in out]),
            key=key_next,
            pulses=treedef.unflatten(pulses),
            energy=treedef.unflatten(energy),
        )
        return treedef.unflatten([o[0] for o in out]), new_state

    return optax.GradientTransformation(init_fn, update_fn)
