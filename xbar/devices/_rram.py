"""Filamentary RRAM: the `RRAM` cell model (see `xbar.devices._base` for the common interface)."""

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
    _poly,
    _positive,
    after_programming,
    clip_window,
)

__all__ = ["RRAM"]


@pytree_dataclass
class RRAM(Device):
    """Filamentary RRAM (HfOx/TaOx) read as an analog conductance.

    * Window: ``[g_min, g_max]``; each cell's bounds spread lognormally by `d2d_sigma`.
    * Programming (write-verify) error: Gaussian with
      ``σ_prog(G) = Σ_k prog_sigma_coeffs[k]·(G/prog_sigma_gref)^k`` at the target G
      (Wan et al. 2022 cubic on the default card).
    * Relaxation: no mean drift; the spread broadens in log time,
      ``σ²(t) = σ_prog² + (relax_sigma_per_decade·log10(1 + t/relax_t_ref))²``, realized
      with one standard-normal draw per cell fixed at programming (so a cell's
      trajectory is consistent over t).
    * Read noise: additive Gaussian, `read_sigma` siemens per read.
    """

    g_min: jax.Array
    g_max: jax.Array
    prog_sigma_coeffs: jax.Array
    prog_sigma_gref: jax.Array
    read_sigma: jax.Array
    relax_sigma_per_decade: jax.Array
    relax_t_ref: jax.Array

    family = "rram"

    def _check(self) -> None:
        _positive("RRAM.g_min", self.g_min)
        _increasing("RRAM.g_max", "g_min", self.g_min, self.g_max)
        _positive("RRAM.prog_sigma_gref", self.prog_sigma_gref)
        _nonnegative("RRAM.read_sigma", self.read_sigma)
        _nonnegative("RRAM.relax_sigma_per_decade", self.relax_sigma_per_decade)
        _positive("RRAM.relax_t_ref", self.relax_t_ref)

    def prog_sigma(self, g):
        return jnp.abs(_poly(self.prog_sigma_coeffs, g * (1.0 / self.prog_sigma_gref)))

    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        k_prog, k_relax = jax.random.split(key)
        lo, hi = self.window(fab, effects)
        g = clip_window(g_target, lo, hi)
        if effects.write_noise:
            g = g + self.prog_sigma(g) * _rnd.normal(k_prog, g.shape)
        return {"g": jnp.maximum(g, 0.0), "key_time": k_relax}

    def relax_sigma(self, t):
        return self.relax_sigma_per_decade * jnp.log10(1.0 + t / self.relax_t_ref)

    def conductance(self, fab, state, t, *, effects: Effects):
        g = state["g"]
        if effects.drift and not after_programming(t):
            z = _rnd.normal(state["key_time"], g.shape, g.dtype)
            g = jnp.maximum(g + self.relax_sigma(t) * z, 0.0)
        return self.apply_stuck(fab, g, effects)

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        return jnp.broadcast_to(self.read_sigma, g_t.shape)
