"""Cell models, first level: one per technology family.

Every model answers the same four questions for an array of cells, vectorized over any
shape, in SI units (siemens, seconds, volts):

* `fabricate(shape, key=...)` — the random draws fixed when the chip is made
  (device-to-device variation, stuck-at faults).
* `program(fab, g_target, key=..., effects=...)` — the programmed state: the target
  conductance clipped to the cell's reachable window, plus the card's programming
  error model, plus a key from which the time model draws its per-cell quantities
  (PCM drift exponents, RRAM relaxation, MTJ retention) when a read at ``t > 0`` needs
  them — the same draws at every read, so a cell's trajectory is consistent over t.
* `conductance(fab, state, t, effects=...)` — the mean conductance a read sees at time
  `t` seconds after programming (drift, relaxation, retention), stuck cells applied.
* `read_std(fab, state, g_t, t, effects=...)` — the standard deviation of one read.

Parameters are array leaves (sweepable with `vmap`, differentiable); the family and
the card name are static. Models are built from cards with `xbar.devices.load`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _random as _rnd
from .._effects import Effects
from .._tree import as_float_leaf, is_concrete, pytree_dataclass, static_field

__all__ = ["Device", "RRAM", "PCM", "STTMRAM", "FloatingGate", "FAMILY_MODELS", "after_programming"]

_TINY = 1e-30


def after_programming(t) -> bool:
    """True when `t` is statically zero (a Python number): a read right after
    programming, where every time model is the identity, so drift work is skipped."""
    return isinstance(t, (int, float)) and not isinstance(t, bool) and t == 0


def clip_window(g, lo, hi):
    """Clip to ``[lo, hi]``; a target on the boundary is reachable, so its gradient
    is 1 (``jnp.clip`` would give 1/2 at the tie)."""
    return jnp.where(g > hi, hi, jnp.where(g < lo, lo, g))


def _poly(coeffs, x):
    """sum_k coeffs[k] x**k (ascending powers)."""
    out = jnp.zeros_like(x)
    for c in reversed(coeffs):
        out = out * x + c
    return out


# Validation runs on concrete values with NumPy: jnp on a concrete array inside a jit
# trace would give a tracer (and bool() of it an error); tracers are skipped.
def _positive(name: str, value) -> None:
    if is_concrete(value) and not np.all(np.asarray(value) > 0):
        raise ValueError(f"{name}: expected a positive value, got {value}")


def _nonnegative(name: str, value) -> None:
    if is_concrete(value) and not np.all(np.asarray(value) >= 0):
        raise ValueError(f"{name}: expected a value >= 0, got {value}")


def _probability(name: str, value) -> None:
    if is_concrete(value) and not np.all((np.asarray(value) >= 0) & (np.asarray(value) <= 1)):
        raise ValueError(f"{name}: expected a probability in [0, 1], got {value}")


def _increasing(name: str, lo_name: str, lo, hi) -> None:
    if is_concrete(lo, hi) and not np.all(np.asarray(lo) < np.asarray(hi)):
        raise ValueError(f"{name}: expected > {lo_name} ({lo}), got {hi}")


@pytree_dataclass
class Device:
    """Base of the cell models (not instantiated directly).

    Common fields: `name` (static card name), `v_read` [V], `t_read` [s], `p_stuck_on`,
    `p_stuck_off` (probabilities per device; per MTJ for STT-MRAM), `d2d_sigma`
    (relative spread). Every model exposes its nominal programmable range as `g_min`,
    `g_max` [S].
    """

    name: str = static_field(default="custom")
    v_read: jax.Array
    t_read: jax.Array
    p_stuck_on: jax.Array
    p_stuck_off: jax.Array
    d2d_sigma: jax.Array

    family = "abstract"

    def __post_init__(self) -> None:
        if type(self) is Device:
            raise TypeError("Device is abstract: use RRAM, PCM, STTMRAM or FloatingGate")
        for f in self._leaf_names():
            object.__setattr__(self, f, as_float_leaf(getattr(self, f), f"{type(self).__name__}.{f}"))
        _positive(f"{type(self).__name__}.v_read", self.v_read)
        _positive(f"{type(self).__name__}.t_read", self.t_read)
        _probability(f"{type(self).__name__}.p_stuck_on", self.p_stuck_on)
        _probability(f"{type(self).__name__}.p_stuck_off", self.p_stuck_off)
        if is_concrete(self.p_stuck_on, self.p_stuck_off):
            total = np.asarray(self.p_stuck_on) + np.asarray(self.p_stuck_off)
            _probability(f"{type(self).__name__}.p_stuck_on + p_stuck_off", total)
        _nonnegative(f"{type(self).__name__}.d2d_sigma", self.d2d_sigma)
        self._check()

    def _leaf_names(self):
        import dataclasses

        return [f.name for f in dataclasses.fields(self) if not f.metadata.get("static", False)]

    def _check(self) -> None:  # family-specific validation
        pass

    # ------------------------------------------------------------------ fabrication
    def fabricate(self, shape, *, key) -> dict:
        """What is fixed when the chip is made, for cells of `shape`:

        - ``"lo"``, ``"hi"``: each cell's reachable window, the nominal bounds spread
          lognormally by `d2d_sigma` (independently for both bounds);
        - ``"stuck"``: int8 code per cell, 0 working, 1 stuck on, 2 stuck off.
        """
        k_lo, k_hi, k_stuck = jax.random.split(key, 3)
        lo = self.g_min * jnp.exp(self.d2d_sigma * _rnd.normal(k_lo, shape))
        hi = self.g_max * jnp.exp(self.d2d_sigma * _rnd.normal(k_hi, shape))
        return {"lo": jnp.minimum(lo, hi), "hi": jnp.maximum(lo, hi), "stuck": self._stuck_codes(k_stuck, shape)}

    def _stuck_codes(self, key, shape):
        u = _rnd.uniform(key, shape)
        on = u < self.p_stuck_on
        off = (u >= self.p_stuck_on) & (u < self.p_stuck_on + self.p_stuck_off)
        return jnp.where(on, 1, jnp.where(off, 2, 0)).astype(jnp.int8)

    def window(self, fab, effects: Effects):
        """Each cell's reachable window ``(lo, hi)``; nominal when d2d is off."""
        if not effects.d2d:
            return self.g_min, self.g_max
        return fab["lo"], fab["hi"]

    def apply_stuck(self, fab, g, effects: Effects):
        """Stuck-on cells read their window top, stuck-off cells its bottom."""
        if not effects.stuck:
            return g
        lo, hi = self.window(fab, effects)
        code = fab["stuck"]
        return jnp.where(code == 1, hi, jnp.where(code == 2, lo, g))

    # ------------------------------------------------------------------ per family
    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        raise NotImplementedError

    def conductance(self, fab, state, t, *, effects: Effects):
        raise NotImplementedError

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        raise NotImplementedError


# ====================================================================== RRAM
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


# ====================================================================== PCM
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


# ====================================================================== STT-MRAM
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


# ====================================================================== floating gate
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


FAMILY_MODELS = {"rram": RRAM, "pcm": PCM, "stt": STTMRAM, "fg": FloatingGate}
