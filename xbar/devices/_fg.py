"""Floating-gate cells: the `FloatingGate` cell model (see `xbar.devices._base` for the common interface)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _random as _rnd
from .._effects import Effects
from .._tree import pytree_dataclass
from ._base import (
    Device,
    _increasing,
    _nonnegative,
    _positive,
    after_programming,
    clip_window,
)

__all__ = ["FloatingGate"]


@pytree_dataclass
class FloatingGate(Device):
    """Floating-gate (NOR-flash / SONOS-like) analog cell read in subthreshold.

    The cell is a programmable current source gated by the input (binary spikes or
    pulse-width inputs); its effective conductance is ``g = I/v_read`` with
    ``I ∈ [i_min, i_max]`` at the read drain voltage `v_read`.

    * Window d2d: lognormal spread of both bounds by `d2d_sigma`.
    * Programming (write-verify tuning): relative Gaussian error `prog_sigma_rel`.
    * Retention (charge loss): ``g(t) = g·exp(−retention_loss_per_decade·log10(1 + t/retention_t_ref))``,
      about `retention_loss_per_decade` relative loss per decade of time beyond
      `retention_t_ref`.
    * Read noise (SONOS form): ``σ_I = read_noise_a·(1 − exp(−I/read_noise_b))``.
    """

    i_min: jax.Array
    i_max: jax.Array
    prog_sigma_rel: jax.Array
    read_noise_a: jax.Array
    read_noise_b: jax.Array
    retention_loss_per_decade: jax.Array
    retention_t_ref: jax.Array

    family = "fg"

    def _check(self) -> None:
        _positive("FloatingGate.i_min", self.i_min)
        _increasing("FloatingGate.i_max", "i_min", self.i_min, self.i_max)
        _nonnegative("FloatingGate.prog_sigma_rel", self.prog_sigma_rel)
        _nonnegative("FloatingGate.read_noise_a", self.read_noise_a)
        _positive("FloatingGate.read_noise_b", self.read_noise_b)
        _nonnegative("FloatingGate.retention_loss_per_decade", self.retention_loss_per_decade)
        _positive("FloatingGate.retention_t_ref", self.retention_t_ref)

    @property
    def g_min(self):
        return self.i_min / self.v_read

    @property
    def g_max(self):
        return self.i_max / self.v_read

    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        lo, hi = self.window(fab, effects)
        g = clip_window(g_target, lo, hi)
        if effects.write_noise:
            g = g * (1.0 + self.prog_sigma_rel * _rnd.normal(key, g.shape))
        return {"g": jnp.maximum(g, 0.0)}

    def retention_factor(self, t):
        return jnp.exp(-self.retention_loss_per_decade * jnp.log10(1.0 + t / self.retention_t_ref))

    def conductance(self, fab, state, t, *, effects: Effects):
        g = state["g"]
        if effects.drift and not after_programming(t):
            g = g * self.retention_factor(t)
        return self.apply_stuck(fab, g, effects)

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        i = jnp.abs(g_t) * self.v_read
        return self.read_noise_a * (-jnp.expm1(-i * (1.0 / self.read_noise_b))) * (1.0 / self.v_read)
