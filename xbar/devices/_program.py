"""Programming schemes on top of the pulse models: one-shot writes and iterative
write-verify, reporting the pulses used, the energy spent and the final error.

Both work for every family through the pulse interface of the cell models
(``device.pulse(fab, state, n, key=..., effects=...) -> (state, energy)`` and the
nominal inverse ``device.pulses_for(fab, state, g_target) -> n``), vectorized over
any array shape and jit-compatible (the verify loop is a `jax.lax.while_loop`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .. import _random as _rnd
from .._effects import Effects
from .._tree import is_concrete
from ._base import ALL_EFFECTS

__all__ = ["WriteReport", "one_shot", "write_verify"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class WriteReport:
    """What a programming scheme did, per cell.

    - `pulses`: write pulses applied (a PCM RESET counts one) [int32].
    - `energy`: energy spent on write pulses and verify reads [J].
    - `error`: final conductance minus the target [S] (the cell's true, noise-free
      conductance right after programming).
    - `converged`: whether the last verify read was within the tolerance (always
      ``True`` for `one_shot`, which does not verify).
    - `reads`: verify reads taken [int32].
    """

    pulses: jax.Array
    energy: jax.Array
    error: jax.Array
    converged: jax.Array
    reads: jax.Array

    def summary(self) -> dict:
        """Totals over the array (concrete values only): cells, converged and failed
        counts, pulses (total, mean, max), energy [J] and the error's mean and std
        over converged cells [S]."""
        conv = np.asarray(self.converged)
        err = np.asarray(self.error)
        pulses = np.asarray(self.pulses)
        ok = err[conv]
        return {
            "cells": int(conv.size),
            "converged": int(conv.sum()),
            "not_converged": int(conv.size - conv.sum()),
            "pulses_total": int(pulses.sum()),
            "pulses_mean": float(pulses.mean()) if pulses.size else 0.0,
            "pulses_max": int(pulses.max()) if pulses.size else 0,
            "energy_total_J": float(np.asarray(self.energy).sum()),
            "error_mean_S": float(ok.mean()) if ok.size else float("nan"),
            "error_std_S": float(ok.std()) if ok.size else float("nan"),
        }


def _cell_shape(state):
    """The cell shape of a programmed state (STT-MRAM keeps an axis more, per MTJ)."""
    return state["g"].shape if "g" in state else state["s"].shape[:-1]


def _target(device, g_target, state):
    cells = _cell_shape(state)
    g = jnp.asarray(g_target, dtype=jnp.result_type(float))
    try:
        ok = jnp.broadcast_shapes(g.shape, cells) == cells
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"g_target: expected a shape that broadcasts to the cells' {cells}, got {g.shape}")
    return jnp.broadcast_to(jnp.clip(g, device.g_min, device.g_max), cells)


def _per_cell(n, cells):
    """|n| summed to the cell shape (STT-MRAM pulses come per MTJ)."""
    a = jnp.abs(n)
    return jnp.sum(a, axis=tuple(range(len(cells), a.ndim)), dtype=a.dtype) if a.ndim > len(cells) else a


def _expand(mask, n):
    """A per-cell mask against per-cell or per-MTJ pulse counts."""
    return mask.reshape(mask.shape + (1,) * (n.ndim - mask.ndim))


def _read(device, fab, state, effects, key):
    """One verify read right after programming (t = 0), with read noise if on."""
    g = device.conductance(fab, state, 0.0, effects=effects)
    if effects.read_noise:
        g = g + device.read_std(fab, state, g, 0.0, effects=effects) * _rnd.normal(key, g.shape, g.dtype)
    return g


def _read_energy(device, g):
    return device.v_read**2 * jnp.abs(g) * device.t_read


def _check_budget(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")


def _count_rule(device, pulses_for):
    if pulses_for is None:
        return device.pulses_for
    if not callable(pulses_for):
        raise TypeError(f"pulses_for: expected a callable (fab, state, g_target) -> n, got {type(pulses_for).__name__}")
    return pulses_for


def one_shot(device, fab, state, g_target, *, key, effects: Effects = ALL_EFFECTS, pulses_for=None):
    """Open-loop write: the nominal number of pulses (`pulses_for`, the device's own
    rule by default) toward `g_target` [S] in one go, with no verify. Returns
    ``(state, WriteReport)``."""
    target = _target(device, g_target, state)
    n = _count_rule(device, pulses_for)(fab, state, target)
    state, energy = device.pulse(fab, state, n, key=key, effects=effects)
    g = device.conductance(fab, state, 0.0, effects=effects)
    report = WriteReport(
        pulses=_per_cell(n, target.shape).astype(jnp.int32),
        energy=energy,
        error=g - target,
        converged=jnp.ones(target.shape, bool),
        reads=jnp.zeros(target.shape, jnp.int32),
    )
    return state, report


def write_verify(
    device,
    fab,
    state,
    g_target,
    *,
    key,
    tol: float = 0.01,
    max_pulses: int = 256,
    max_step: int = 8,
    effects: Effects = ALL_EFFECTS,
    pulses_for=None,
):
    """Iterative program-and-verify: read every cell, stop those within `tol` of
    their target, pulse the others toward it, and repeat up to `max_pulses` pulses per
    cell.

    **Arguments:**

    - `device`, `fab`, `state`: the cell model, its fabricated draws and the cells'
      present state (from `program`, `pulse` or an earlier write).
    - `g_target`: target conductances [S], broadcast to the cells; clipped to the
      nominal window ``[g_min, g_max]`` (a cell whose own window does not reach its
      target does not converge, and is reported).
    - `tol`: acceptance band as a fraction of the nominal range ``g_max − g_min``.
    - `max_pulses`: the pulse budget per cell.
    - `max_step`: at most this many pulses per verify step (the nominal count from
      `pulses_for`, capped, and at least one toward the target).
    - `effects`: which effects act (write noise, read noise in the verify reads,
      device variation, wear).
    - `pulses_for`: the nominal count rule ``(fab, state, g_target) -> n``, by default
      ``device.pulses_for`` (one count per cell). A rule may return one count per MTJ
      for STT-MRAM arrays that address each MTJ of a compound synapse:
      ``pulses_for=dev.pulses_for_mtjs`` switches only the MTJs that must change, so
      a device can stop at an intermediate level.

    **Returns:** ``(state, WriteReport)``. A verify read costs ``v_read²·G·t_read``;
    write pulses cost what the family's `pulse` reports.
    """
    if not (is_concrete(tol) and np.ndim(tol) == 0 and 0.0 < float(tol) < 1.0):
        raise ValueError(f"tol: expected a fraction of the conductance range in (0, 1), got {tol!r}")
    _check_budget("max_pulses", max_pulses)
    _check_budget("max_step", max_step)
    count_rule = _count_rule(device, pulses_for)
    target = _target(device, g_target, state)
    band = tol * (device.g_max - device.g_min)
    zeros_i = jnp.zeros(target.shape, jnp.int32)

    def cond(carry):
        _, _, pulses, _, _, active, k = carry
        return jnp.any(active) & (k < max_pulses)

    def body(carry):
        state, key, pulses, energy, reads, active, k = carry
        key, k_read, k_pulse = jax.random.split(key, 3)
        g = _read(device, fab, state, effects, k_read)
        energy = energy + jnp.where(active, _read_energy(device, g), 0.0)
        reads = reads + active
        active = active & (jnp.abs(g - target) > band) & (pulses < max_pulses)
        n = count_rule(fab, state, target)
        if n.shape == target.shape:  # one count per cell: at least one toward the target
            n = jnp.where(n == 0, jnp.sign(target - g), n)
        left = _expand(max_pulses - pulses, n)
        n = jnp.clip(n, -jnp.minimum(max_step, left), jnp.minimum(max_step, left))
        n = jnp.where(_expand(active, n), n, 0).astype(jnp.int32)
        state, e = device.pulse(fab, state, n, key=k_pulse, effects=effects)
        return state, key, pulses + _per_cell(n, target.shape), energy + e, reads, active, k + 1

    energy0 = jnp.zeros(target.shape, jnp.result_type(float))
    carry = (state, key, zeros_i, energy0, zeros_i, jnp.ones(target.shape, bool), jnp.asarray(0))
    state, key, pulses, energy, reads, _, _ = jax.lax.while_loop(cond, body, carry)
    # the final verify
    g = _read(device, fab, state, effects, key)
    energy = energy + _read_energy(device, g)
    converged = jnp.abs(g - target) <= band
    g_true = device.conductance(fab, state, 0.0, effects=effects)
    return state, WriteReport(pulses=pulses, energy=energy, error=g_true - target, converged=converged, reads=reads + 1)
