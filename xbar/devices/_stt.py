"""STT-MRAM: the `STTMRAM` cell model (see `xbar.devices._base` for the common interface)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _random as _rnd
from .._effects import Effects
from .._tree import is_concrete, pytree_dataclass, static_field
from ._base import (
    Device,
    _nonnegative,
    _positive,
    _probability,
    after_programming,
)

__all__ = ["STTMRAM"]


@pytree_dataclass
class STTMRAM(Device):
    """STT-MRAM: a device is `mtjs_per_device` binary MTJs in parallel (k+1 levels).

    * Each MTJ is parallel (``R_P``, high G) or antiparallel (``R_AP = on_off·R_P``);
      d2d spreads each MTJ's two resistances by a relative Normal(0, `d2d_sigma`).
    * Programming is open loop: the target maps to the nearest level
      ``n = round((G_T − k·G_AP)/(G_P − G_AP))`` using nominal values, and MTJs
      ``0..n−1`` are written parallel. Each MTJ write fails (ends in the other
      state) with probability `write_error_rate`. Gradients pass straight through
      the level rounding.
    * Retention (the `drift` effect): thermally activated flips, symmetric in both
      directions with ``τ = tau0·exp(delta)``; after time t an MTJ differs from its
      written state with probability ``(1 − exp(−2t/τ))/2`` (two-state Markov chain).
    * Read noise: relative, `read_sigma_rel`·G.

    `temperature` is the temperature at which the card's `delta` applies; the model
    does not rescale Δ with temperature yet.
    """

    r_p: jax.Array
    on_off: jax.Array
    mtjs_per_device: int = static_field(default=8)
    read_sigma_rel: jax.Array
    delta: jax.Array
    tau0: jax.Array
    temperature: jax.Array
    write_error_rate: jax.Array

    family = "stt"

    def _check(self) -> None:
        _positive("STTMRAM.r_p", self.r_p)
        if is_concrete(self.on_off) and not np.all(np.asarray(self.on_off) > 1):
            raise ValueError(f"STTMRAM.on_off: expected R_AP/R_P > 1, got {self.on_off}")
        if (
            isinstance(self.mtjs_per_device, bool)
            or not isinstance(self.mtjs_per_device, int)
            or self.mtjs_per_device < 1
        ):
            raise ValueError(f"STTMRAM.mtjs_per_device: expected an int >= 1, got {self.mtjs_per_device!r}")
        _positive("STTMRAM.tau0", self.tau0)
        _positive("STTMRAM.delta", self.delta)
        _probability("STTMRAM.write_error_rate", self.write_error_rate)
        _nonnegative("STTMRAM.read_sigma_rel", self.read_sigma_rel)

    @property
    def g_p(self):
        return 1.0 / self.r_p

    @property
    def g_ap(self):
        return 1.0 / (self.r_p * self.on_off)

    @property
    def g_min(self):
        return self.mtjs_per_device * self.g_ap

    @property
    def g_max(self):
        return self.mtjs_per_device * self.g_p

    @property
    def tau(self):
        """Mean time between thermal flips of one MTJ [s]."""
        return self.tau0 * jnp.exp(self.delta)

    def flip_probability(self, t):
        """Probability an MTJ differs from its written state after t seconds."""
        return -0.5 * jnp.expm1(-2.0 * t / self.tau)

    def fabricate(self, shape, *, key) -> dict:
        """Per MTJ (trailing axis of length k): parallel and antiparallel conductances
        with their d2d spread (``"g_p"``, ``"g_ap"``), and a stuck code (1: stuck
        parallel, 2: stuck antiparallel)."""
        k = self.mtjs_per_device
        k_p, k_ap, k_stuck = jax.random.split(key, 3)
        mshape = tuple(shape) + (k,)
        r_p = self.r_p * jnp.maximum(1.0 + self.d2d_sigma * _rnd.normal(k_p, mshape), 0.05)
        r_ap = self.r_p * self.on_off * jnp.maximum(1.0 + self.d2d_sigma * _rnd.normal(k_ap, mshape), 0.05)
        return {"g_p": 1.0 / r_p, "g_ap": 1.0 / r_ap, "stuck": self._stuck_codes(k_stuck, mshape)}

    def mtj_conductances(self, fab, effects: Effects):
        if effects.d2d:
            return fab["g_p"], fab["g_ap"]
        return self.g_p, self.g_ap

    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        k = self.mtjs_per_device
        k_wer, k_ret = jax.random.split(key)
        f = jnp.clip((g_target - self.g_min) / (self.g_max - self.g_min), 0.0, 1.0)
        idx = jnp.arange(k, dtype=f.dtype)
        s = jnp.broadcast_to(f[..., None], f.shape + (k,))
        if effects.levels:
            # MTJ i is written parallel iff i < n; straight-through: d(state_i)/df = 1
            n = jnp.round(jax.lax.stop_gradient(f) * k)
            s_disc = (idx < n[..., None]).astype(f.dtype)
            s = s + jax.lax.stop_gradient(s_disc - s)
        if effects.write_noise:
            fail = _rnd.uniform(k_wer, s.shape) < self.write_error_rate
            # a failed write leaves the other state; the straight-through gradient is kept
            s = s + jax.lax.stop_gradient(jnp.where(fail, 1.0 - 2.0 * s, 0.0))
        return {"s": s, "key_time": k_ret}

    def conductance(self, fab, state, t, *, effects: Effects):
        s = state["s"]
        if effects.drift and not after_programming(t):
            flip = _rnd.uniform(state["key_time"], s.shape, s.dtype) < self.flip_probability(t)
            s = jnp.where(flip, 1.0 - s, s)
        if effects.stuck:
            code = fab["stuck"]
            s = jnp.where(code == 1, 1.0, jnp.where(code == 2, 0.0, s))
        g_p, g_ap = self.mtj_conductances(fab, effects)
        return jnp.sum(s * g_p + (1.0 - s) * g_ap, axis=-1)

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        return self.read_sigma_rel * jnp.abs(g_t)
