"""Phase-change memory: the `PCM` cell model (see `xbar.devices._base` for the common interface)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _random as _rnd
from .._effects import Effects
from .._tree import pytree_dataclass
from ._base import (
    _TINY,
    Device,
    _increasing,
    _poly,
    _positive,
    after_programming,
    clip_window,
)

__all__ = ["PCM"]


@pytree_dataclass
class PCM(Device):
    """Phase-change memory with IBM's statistical model (aihwkit `PCMLikeNoiseModel`).

    With ``x = G_T/g_max`` for the target conductance ``G_T``:

    * Programming noise: ``G_prog = max(0, G_T + σ_prog(G_T)·ξ)`` with
      ``σ_prog = Σ_k c_k (G_T/prog_sigma_gref)^k``, where ``G_T`` is the target
      clipped to the cell's window (what write-verify can reach).
    * Drift exponent, drawn once per device at programming:
      ``μ_ν = clip(a_μ ln x + b_μ, μ_min, μ_max)``, ``σ_ν = clip(a_σ ln x + b_σ, σ_min, σ_max)``,
      ``ν = |μ_ν + σ_ν ξ|``.
    * Drift: ``G(t) = G_prog·((t + t0)/t0)^(−ν)`` with `t` the time since programming.
    * Accumulated 1/f read noise: ``σ(t) = G(t)·Q_s·sqrt(ln((t + t0 + t_read)/(2 t_read)))``
      with ``Q_s = min(q0/max((G_prog/g_max)^q_exp, x_floor), q_max)``.

    The defaults on the `pcm_gst` card equal aihwkit's, so numbers can be compared
    (aihwkit's ``t_inference`` is this `t`).
    """

    g_min: jax.Array
    g_max: jax.Array
    prog_sigma_coeffs: jax.Array
    prog_sigma_gref: jax.Array
    drift_t0: jax.Array
    nu_mean_log_slope: jax.Array
    nu_mean_offset: jax.Array
    nu_mean_min: jax.Array
    nu_mean_max: jax.Array
    nu_std_log_slope: jax.Array
    nu_std_offset: jax.Array
    nu_std_min: jax.Array
    nu_std_max: jax.Array
    read_q0: jax.Array
    read_q_exp: jax.Array
    read_q_max: jax.Array
    read_x_floor: jax.Array

    family = "pcm"

    def _check(self) -> None:
        _positive("PCM.g_min", self.g_min)
        _increasing("PCM.g_max", "g_min", self.g_min, self.g_max)
        _positive("PCM.prog_sigma_gref", self.prog_sigma_gref)
        _positive("PCM.drift_t0", self.drift_t0)
        _positive("PCM.read_x_floor", self.read_x_floor)

    def prog_sigma(self, g):
        return jnp.abs(_poly(self.prog_sigma_coeffs, g * (1.0 / self.prog_sigma_gref)))

    def nu_stats(self, g_target):
        """Mean and std of the drift exponent at target conductance ``g_target``."""
        ln_x = jnp.log(jnp.maximum(jnp.abs(g_target) * (1.0 / self.g_max), _TINY))
        mu = jnp.clip(self.nu_mean_log_slope * ln_x + self.nu_mean_offset, self.nu_mean_min, self.nu_mean_max)
        sd = jnp.clip(self.nu_std_log_slope * ln_x + self.nu_std_offset, self.nu_std_min, self.nu_std_max)
        return mu, sd

    def q_s(self, g_prog):
        x = jnp.abs(g_prog) * (1.0 / self.g_max)
        x_pow = jnp.maximum(x, self.read_x_floor ** (1.0 / self.read_q_exp)) ** self.read_q_exp
        return jnp.minimum(self.read_q0 / jnp.maximum(x_pow, self.read_x_floor), self.read_q_max)

    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        k_prog, k_nu = jax.random.split(key)
        lo, hi = self.window(fab, effects)
        target = clip_window(g_target, lo, hi)  # write-verify aims at a reachable value
        g = target
        if effects.write_noise:
            g = g + self.prog_sigma(target) * _rnd.normal(k_prog, g.shape)
        # the drift exponent depends on the target state; store what it needs
        return {"g": jnp.maximum(g, 0.0), "g_target": target, "key_time": k_nu}

    def drift_exponents(self, state):
        """Each device's drift exponent ν (drawn once per programming, from its key)."""
        mu, sd = self.nu_stats(state["g_target"])
        return jnp.abs(mu + sd * _rnd.normal(state["key_time"], mu.shape, mu.dtype))

    def drift_factor(self, nu, t):
        return ((t + self.drift_t0) / self.drift_t0) ** (-nu)

    def conductance(self, fab, state, t, *, effects: Effects):
        g = state["g"]
        if effects.drift and not after_programming(t):
            g = g * self.drift_factor(self.drift_exponents(state), t)
        return self.apply_stuck(fab, g, effects)

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        tt = t + self.drift_t0
        scale = jnp.sqrt(jnp.log((tt + self.t_read) / (2.0 * self.t_read)))
        return jnp.abs(g_t) * self.q_s(state["g"]) * scale
