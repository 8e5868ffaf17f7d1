"""Floating-gate cells: the `FloatingGate` cell model (see `xbar.devices._base` for the common interface)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _random as _rnd
from .._effects import Effects
from .._tree import pytree_dataclass
from ._base import (
    ALL_EFFECTS,
    Device,
    _increasing,
    _nonnegative,
    _positive,
    after_programming,
    clip_window,
    pulse_counts,
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
    * Pulses (`pulse`): multiplicative, log-domain steps. A charge step ΔQ on the
      floating gate multiplies the subthreshold current by ``exp(κΔQ/(C_T U_T))``
      (compendium §5.1), so each hot-electron injection pulse adds `eta_inj` to ln I and
      each Fowler–Nordheim tunnelling pulse subtracts `eta_tun`; cycle-to-cycle noise
      of std ``eta_c2c_rel·η·sqrt(|n|)`` in ln I; each cell's η scaled by a lognormal
      factor (`eta_d2d_sigma`) fixed at fabrication; a fixed energy per pulse
      (`e_inj`, `e_tun`).
    """

    i_min: jax.Array
    i_max: jax.Array
    prog_sigma_rel: jax.Array
    read_noise_a: jax.Array
    read_noise_b: jax.Array
    retention_loss_per_decade: jax.Array
    retention_t_ref: jax.Array
    # pulse programming (log-domain steps)
    eta_inj: jax.Array
    eta_tun: jax.Array
    eta_c2c_rel: jax.Array
    eta_d2d_sigma: jax.Array
    v_inj: jax.Array
    t_inj: jax.Array
    v_tun: jax.Array
    t_tun: jax.Array
    e_inj: jax.Array
    e_tun: jax.Array

    family = "fg"

    def _check(self) -> None:
        _positive("FloatingGate.i_min", self.i_min)
        _increasing("FloatingGate.i_max", "i_min", self.i_min, self.i_max)
        _nonnegative("FloatingGate.prog_sigma_rel", self.prog_sigma_rel)
        _nonnegative("FloatingGate.read_noise_a", self.read_noise_a)
        _positive("FloatingGate.read_noise_b", self.read_noise_b)
        _nonnegative("FloatingGate.retention_loss_per_decade", self.retention_loss_per_decade)
        _positive("FloatingGate.retention_t_ref", self.retention_t_ref)
        for f in ("eta_inj", "eta_tun", "v_inj", "t_inj", "v_tun", "t_tun"):
            _positive(f"FloatingGate.{f}", getattr(self, f))
        for f in ("eta_c2c_rel", "eta_d2d_sigma", "e_inj", "e_tun"):
            _nonnegative(f"FloatingGate.{f}", getattr(self, f))

    @property
    def g_min(self):
        return self.i_min / self.v_read

    @property
    def g_max(self):
        return self.i_max / self.v_read

    def fabricate(self, shape, *, key) -> dict:
        """The common draws (`Device.fabricate`) plus ``"eta_scale"``: each cell's
        factor ``exp(eta_d2d_sigma·ξ)`` on both of its pulse steps (its charge-to-ln I
        gain κ/(C_T U_T) varies with its coupling ratios)."""
        fab = super().fabricate(shape, key=key)
        k = jax.random.fold_in(key, 0x4554)  # independent of the common draws
        fab["eta_scale"] = jnp.exp(self.eta_d2d_sigma * _rnd.normal(k, shape))
        return fab

    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        lo, hi = self.window(fab, effects)
        g = clip_window(g_target, lo, hi)
        if effects.write_noise:
            g = g * (1.0 + self.prog_sigma_rel * _rnd.normal(key, g.shape))
        g = jnp.maximum(g, 0.0)
        return {"g": g, **self.initial_cycles(g.shape, g.dtype)}

    def retention_factor(self, t):
        return jnp.exp(-self.retention_loss_per_decade * jnp.log10(1.0 + t / self.retention_t_ref))

    def conductance(self, fab, state, t, *, effects: Effects, temperature=None):
        """The mean conductance a read sees `t` seconds after programming, at
        `temperature` [K] (default: the card's; time is rescaled by `thermal_time`),
        stuck and worn-out cells applied."""
        g = state["g"]
        if effects.drift and not after_programming(t):
            g = g * self.retention_factor(self.thermal_time(t, temperature))
        return self.apply_stuck(fab, g, effects, state.get("cycles"))

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        i = jnp.abs(g_t) * self.v_read
        return self.read_noise_a * (-jnp.expm1(-i * (1.0 / self.read_noise_b))) * (1.0 / self.v_read)

    # ------------------------------------------------------------------ pulses
    def steps(self, fab, effects: Effects):
        """``(η_inj, η_tun)``: each cell's (d2d on) or the card's ln I steps per pulse."""
        if effects.d2d:
            return self.eta_inj * fab["eta_scale"], self.eta_tun * fab["eta_scale"]
        return self.eta_inj, self.eta_tun

    def pulse(self, fab, state, n, *, key, effects: Effects = ALL_EFFECTS):
        """Apply `n` pulses per cell (n > 0: hot-electron injection, raising ln I by
        η_inj each; n < 0: Fowler–Nordheim tunnelling, lowering it by η_tun each; an
        integer array broadcastable to the cells). Returns ``(state, energy)``, energy
        per cell in joules.

        Noise free: ``ln g_n = ln g + n·η`` from the cell's conductance clipped to its
        worn window, clipped again to it. With `effects.write_noise`, ln g gains
        Gaussian noise of std ``eta_c2c_rel·η·sqrt(|n|)`` (times ``wear(...)["c2c"]``
        with `effects.wear`) and is clipped to the worn window at the new cycle count.
        ``state["cycles"]`` grows by ``|n|``; cells with n = 0 are left exactly as they
        were. Energy: ``n·e_inj`` or ``|n|·e_tun``.
        """
        g0 = state["g"]
        n = pulse_counts("FloatingGate.pulse", n, g0.shape)
        nf = n.astype(g0.dtype)
        m = jnp.abs(nf)
        counted = self.add_cycles(state, m)
        cycles = counted["cycles"]
        lo_w, hi_w = self.worn_window(fab, effects, cycles)
        eta_inj, eta_tun = self.steps(fab, effects)
        up = n > 0
        eta = jnp.where(up, eta_inj, eta_tun)
        g = clip_window(clip_window(g0, lo_w, hi_w) * jnp.exp(nf * eta), lo_w, hi_w)
        if effects.write_noise:
            sigma = self.eta_c2c_rel * eta * jnp.sqrt(m)
            if effects.wear:
                sigma = sigma * self.wear(fab, cycles)["c2c"]
            g = clip_window(g * jnp.exp(sigma * _rnd.normal(key, g.shape, g.dtype)), lo_w, hi_w)
        g = jnp.where(n == 0, g0, g).astype(g0.dtype)
        energy = m * jnp.where(up, self.e_inj, self.e_tun)
        return {**state, "g": g, **counted}, energy.astype(jnp.result_type(float))

    def pulses_for(self, fab, state, g_target, *, effects: Effects | None = None):
        """The signed pulse count (int32) that takes each cell from ``state["g"]`` to
        `g_target` [S] without noise: ``round(ln(g_target/g)/η)`` with η = η_inj upward
        and η_tun downward, the target clipped to the window.

        `effects` None: the card's nominal model (window ``[g_min, g_max]``, the card's
        η). Given `effects`: each cell's own η and worn window."""
        g0 = state["g"]
        shape = jnp.broadcast_shapes(g0.shape, jnp.shape(g_target))
        if effects is None:
            lo_w, hi_w = self.g_min, self.g_max
            eta_inj, eta_tun = self.eta_inj, self.eta_tun
        else:
            lo_w, hi_w = self.worn_window(fab, effects, state.get("cycles", jnp.ones(g0.shape, g0.dtype)))
            eta_inj, eta_tun = self.steps(fab, effects)
        x = jnp.log(clip_window(jnp.asarray(g_target, g0.dtype), lo_w, hi_w)) - jnp.log(clip_window(g0, lo_w, hi_w))
        n = jnp.round(x / jnp.where(x > 0, eta_inj, eta_tun))
        return jnp.broadcast_to(n, shape).astype(jnp.int32)

    def write_time(self, n):
        """Time the pulses `n` take per cell [s]: ``|n|·t_inj`` (n > 0) or ``|n|·t_tun``."""
        n = jnp.asarray(n)
        return jnp.where(n > 0, n * self.t_inj, -n * self.t_tun)
