"""Phase-change memory: the `PCM` cell model (see `xbar.devices._base` for the common interface),
its pulse response (gradual accumulative SET, abrupt RESET) and the differential-pair update
with refresh, `pcm_pair_update`."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _random as _rnd
from .._effects import Effects
from .._tree import is_concrete, pytree_dataclass
from ._base import (
    _TINY,
    ALL_EFFECTS,
    Device,
    _increasing,
    _nonnegative,
    _poly,
    _positive,
    after_programming,
    clip_window,
    pulse_counts,
)

__all__ = ["PCM", "exp_step_increment", "pcm_pair_update"]


def exp_step_increment(w, *, w_ceiling, dw_min, a, b, gamma, big_a):
    """Nominal (noise-free) size of one SET step of aihwkit's `ExpStepDevice`, in its
    weight units, at weight `w` of a device whose upper bound is `w_ceiling` (lower
    bound 0):

    ``z = 2·a·w/w_ceiling + b``, ``Δw = dw_min·max(1 − A·exp(γ·z), 0)``.

    With the `PCMPresetDevice` fit (a = −1, b = 0, γ = 2.5, A = −27.235, dw_min = 0.01 on
    ``w ∈ [0, 2]``) the first step from 0 is 0.282 and the last ones ≈ 0.0118: the
    saturating SET response of Nandakumar et al. 2020."""
    z = 2.0 * a * w / w_ceiling + b
    return dw_min * jnp.maximum(1.0 - big_a * jnp.exp(gamma * z), 0.0)


def _branch(x, log_slope, log_offset, lo, hi, x_split, poly):
    """``clip(log_slope·ln x + log_offset, lo, hi)`` for ``x < x_split``, else the
    polynomial ``Σ_k poly[k]·x^k`` (aihwkit's branch functions of the HERMES fits)."""
    low = jnp.clip(log_slope * jnp.log(x) + log_offset, lo, hi)
    return jnp.where(x < x_split, low, _poly(poly, x))


@pytree_dataclass
class PCM(Device):
    """Phase-change memory with IBM's statistical model (aihwkit `PCMLikeNoiseModel`, and
    its `HermesNoiseModel` branch functions) and aihwkit's `PCMPresetDevice` pulse response.

    With ``x = G_T/g_max`` for the target conductance ``G_T``:

    * Programming noise: ``G_prog = max(0, G_T + σ_prog(G_T)·ξ)`` with
      ``σ_prog = Σ_k c_k (G_T/prog_sigma_gref)^k``, where ``G_T`` is the target
      clipped to the cell's window (what write-verify can reach).
    * Drift exponent, drawn once per device at programming, ``ν = |μ_ν + σ_ν ξ|`` with
      ``μ_ν = clip(a_μ ln x + b_μ, μ_min, μ_max)`` for ``x < nu_mean_x_split`` and the
      polynomial `nu_mean_poly` in x above it (likewise σ_ν with the `nu_std_*` keys).
      The `pcm_gst` card puts the split above any reachable x (PCMLikeNoiseModel has one
      branch); `pcm_hermes14` uses the HERMES branches.
    * Drift: ``G(t) = G_prog·((t + t0)/t0)^(−ν)`` with `t` the time since programming
      (at ``temperature`` T, `t` is first mapped to the card temperature by
      `thermal_time`, Arrhenius with `activation_energy`).
    * Accumulated 1/f read noise: ``σ(t) = G(t)·Q_s·sqrt(ln((t + t0 + t_read)/(2 t_read)))``
      with ``Q_s = min(q0/max((G_prog/g_max)^q_exp, x_floor), q_max)`` below
      `read_q_x_split` and the polynomial `read_q_poly` above it.

    Pulse response (`pulse`), in aihwkit weight units ``w = set_w_range·(G − g_min)/
    (g_max − g_min)``:

    * SET (``n > 0``), gradual and accumulative: each pulse adds
      ``Δw = s_d·exp_step_increment(w, w_ceiling=c_d·set_w_range, ...)`` plus the
      cycle-to-cycle noise ``set_c2c·(|Δw| + set_c2c_add + set_c2c_slope·w)·ξ`` (aihwkit
      "complex noise"), then clips to ``[0, c_d·set_w_range]`` and the cell's worn window.
      ``s_d = max(1 + set_step_d2d·ξ, 0)`` and ``c_d = max(1 + set_ceiling_d2d·ξ, 0.05)``
      are drawn per device at fabrication.
    * RESET (``n < 0``), abrupt: the device melts and quenches to its reset level
      ``reset_level + reset_d2d·ξ_d`` (fixed per device) ``+ reset_c2c·ξ`` (per RESET),
      clipped to the window; |n| counts as one RESET.
    * Energy: ``n·e_set`` for SET pulses, ``e_reset`` for a RESET.

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
    # HERMES branch functions (above the split: a polynomial in x)
    nu_mean_x_split: jax.Array
    nu_mean_poly: jax.Array
    nu_std_x_split: jax.Array
    nu_std_poly: jax.Array
    read_q_x_split: jax.Array
    read_q_poly: jax.Array
    # pulse response (aihwkit PCMPresetDevice, ExpStep, in its weight units)
    set_w_range: jax.Array
    set_dw_min: jax.Array
    set_a: jax.Array
    set_b: jax.Array
    set_gamma: jax.Array
    set_big_a: jax.Array
    set_step_d2d: jax.Array
    set_ceiling_d2d: jax.Array
    set_c2c: jax.Array
    set_c2c_add: jax.Array
    set_c2c_slope: jax.Array
    reset_level: jax.Array
    reset_d2d: jax.Array
    reset_c2c: jax.Array
    e_set: jax.Array
    e_reset: jax.Array
    refresh_frac: jax.Array

    family = "pcm"

    def _check(self) -> None:
        _positive("PCM.g_min", self.g_min)
        _increasing("PCM.g_max", "g_min", self.g_min, self.g_max)
        _positive("PCM.prog_sigma_gref", self.prog_sigma_gref)
        _positive("PCM.drift_t0", self.drift_t0)
        _positive("PCM.read_x_floor", self.read_x_floor)
        _positive("PCM.set_w_range", self.set_w_range)
        _nonnegative("PCM.set_dw_min", self.set_dw_min)
        _positive("PCM.set_gamma", self.set_gamma)
        for f in (
            "set_step_d2d",
            "set_ceiling_d2d",
            "set_c2c",
            "set_c2c_add",
            "set_c2c_slope",
            "reset_level",
            "reset_d2d",
            "reset_c2c",
            "e_set",
            "e_reset",
        ):
            _nonnegative(f"PCM.{f}", getattr(self, f))
        if is_concrete(self.refresh_frac) and not np.all(
            (np.asarray(self.refresh_frac) > 0) & (np.asarray(self.refresh_frac) <= 1)
        ):
            raise ValueError(f"PCM.refresh_frac: expected a fraction of g_max in (0, 1], got {self.refresh_frac}")

    # ------------------------------------------------------------------ statistics
    def prog_sigma(self, g):
        return jnp.abs(_poly(self.prog_sigma_coeffs, g * (1.0 / self.prog_sigma_gref)))

    def nu_stats(self, g_target):
        """Mean and std of the drift exponent at target conductance ``g_target``."""
        x = jnp.maximum(jnp.abs(g_target) * (1.0 / self.g_max), _TINY)
        mu = _branch(
            x,
            self.nu_mean_log_slope,
            self.nu_mean_offset,
            self.nu_mean_min,
            self.nu_mean_max,
            self.nu_mean_x_split,
            self.nu_mean_poly,
        )
        sd = _branch(
            x,
            self.nu_std_log_slope,
            self.nu_std_offset,
            self.nu_std_min,
            self.nu_std_max,
            self.nu_std_x_split,
            self.nu_std_poly,
        )
        return mu, sd

    def q_s(self, g_prog):
        x = jnp.abs(g_prog) * (1.0 / self.g_max)
        x_pow = jnp.maximum(x, self.read_x_floor ** (1.0 / self.read_q_exp)) ** self.read_q_exp
        low = jnp.minimum(self.read_q0 / jnp.maximum(x_pow, self.read_x_floor), self.read_q_max)
        return jnp.where(x < self.read_q_x_split, low, _poly(self.read_q_poly, x))

    # ------------------------------------------------------------------ fabrication
    def fabricate(self, shape, *, key) -> dict:
        """The common draws (`Device.fabricate`) and, per device, the pulse response's
        d2d terms: ``"set_scale"`` (SET step-size factor), ``"set_ceiling"`` (SET
        saturation, as a fraction of the nominal range) and ``"reset_w"`` (reset level,
        aihwkit weight units)."""
        fab = super().fabricate(shape, key=key)
        k_s, k_c, k_r = (jax.random.fold_in(key, 1000 + i) for i in range(3))
        fab["set_scale"] = jnp.maximum(1.0 + self.set_step_d2d * _rnd.normal(k_s, shape), 0.0)
        fab["set_ceiling"] = jnp.maximum(1.0 + self.set_ceiling_d2d * _rnd.normal(k_c, shape), 0.05)
        fab["reset_w"] = self.reset_level + self.reset_d2d * _rnd.normal(k_r, shape)
        return fab

    # ------------------------------------------------------------------ programming
    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        k_prog, k_nu = jax.random.split(key)
        lo, hi = self.window(fab, effects)
        target = clip_window(g_target, lo, hi)  # write-verify aims at a reachable value
        g = target
        if effects.write_noise:
            g = g + self.prog_sigma(target) * _rnd.normal(k_prog, g.shape)
        # the drift exponent depends on the target state; store what it needs
        return {
            "g": jnp.maximum(g, 0.0),
            "g_target": target,
            "key_time": k_nu,
            **self.initial_cycles(jnp.shape(target)),
        }

    def drift_exponents(self, state):
        """Each device's drift exponent ν (drawn once per programming, from its key)."""
        mu, sd = self.nu_stats(state["g_target"])
        return jnp.abs(mu + sd * _rnd.normal(state["key_time"], mu.shape, mu.dtype))

    def drift_factor(self, nu, t):
        return ((t + self.drift_t0) / self.drift_t0) ** (-nu)

    def conductance(self, fab, state, t, *, effects: Effects, temperature=None):
        g = state["g"]
        if effects.drift and not after_programming(t):
            g = g * self.drift_factor(self.drift_exponents(state), self.thermal_time(t, temperature))
        return self.apply_stuck(fab, g, effects, state.get("cycles"))

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        tt = t + self.drift_t0
        scale = jnp.sqrt(jnp.log((tt + self.t_read) / (2.0 * self.t_read)))
        return jnp.abs(g_t) * self.q_s(state["g"]) * scale

    # ------------------------------------------------------------------ pulses
    def _w_per_siemens(self):
        return self.set_w_range / (self.g_max - self.g_min)

    def _step(self, w, ceiling, scale):
        return scale * exp_step_increment(
            w,
            w_ceiling=ceiling * self.set_w_range,
            dw_min=self.set_dw_min,
            a=self.set_a,
            b=self.set_b,
            gamma=self.set_gamma,
            big_a=self.set_big_a,
        )

    def _pulse_terms(self, fab, effects, shape):
        """Per device: SET step scale, ceiling (fraction of the range) and reset level (w)."""
        if effects.d2d:
            return fab["set_scale"], fab["set_ceiling"], fab["reset_w"]
        one = jnp.ones(shape, jnp.result_type(float))
        return one, one, jnp.broadcast_to(self.reset_level, shape)

    def pulse(self, fab, state, n, *, key, effects: Effects = ALL_EFFECTS):
        """Apply `n` pulses per cell (an integer array broadcastable to the cells):
        ``n > 0`` SET pulses (gradual, each a step of the ExpStep curve with its
        cycle-to-cycle noise), ``n < 0`` one RESET (abrupt, to the device's reset
        level), ``n = 0`` nothing. Returns ``(state, energy)`` with the energy per cell
        [J]. The SET pulses run as one `lax.fori_loop` bounded by ``max(n)`` with the
        cells that are done masked. The state's ``"g"`` is the conductance right after
        the last pulse (drift restarts from it; the drift exponent follows the new
        state through ``"g_target"``, with the device's own draw kept)."""
        n = pulse_counts("PCM.pulse", n, jnp.shape(state["g"])).astype(jnp.int32)
        return _jit_pulse(self, fab, state, n, key, effects=effects)

    def _pulse(self, fab, state, n, key, *, effects: Effects):
        g = state["g"]
        shape = jnp.shape(g)
        dtype = g.dtype
        cycles = state.get("cycles", jnp.ones(shape, dtype))
        lo, hi = self.worn_window(fab, effects, cycles)
        scale, ceiling, reset_w = self._pulse_terms(fab, effects, shape)
        c2c = self.set_c2c
        if effects.wear:
            c2c = c2c * self.wear(fab, cycles)["c2c"]
        per_s = self._w_per_siemens()
        w_lo = jnp.maximum((lo - self.g_min) * per_s, 0.0)
        w_hi = jnp.minimum((hi - self.g_min) * per_s, ceiling * self.set_w_range)
        n_set = jnp.maximum(n, 0)
        w0 = ((g - self.g_min) * per_s).astype(dtype)
        # one normal draw per cell serves the first SET pulse or the RESET (a cell takes
        # one or the other); later SET pulses draw their own
        z0 = _rnd.normal(jax.random.fold_in(key, 0), shape, dtype) if effects.write_noise else None
        w_set = _set_loop(self, w0, n_set, w_lo, w_hi, ceiling, scale, c2c, key, z0, noise=effects.write_noise)
        g_set = clip_window(self.g_min + w_set / per_s, lo, hi)  # (float rounding of the round trip)
        # RESET: to the device's reset level, with its cycle-to-cycle spread
        w_r = reset_w
        if effects.write_noise:
            w_r = w_r + self.reset_c2c * z0
        g_reset = self.g_min + jnp.maximum(w_r, 0.0) / per_s
        g_reset = clip_window(g_reset, lo, hi)
        g_new = jnp.where(n > 0, g_set, jnp.where(n < 0, g_reset, g)).astype(dtype)
        energy = jnp.where(n > 0, n_set * self.e_set, jnp.where(n < 0, self.e_reset, 0.0))
        new = dict(state)
        new["g"] = g_new
        new["g_target"] = jnp.where(n != 0, g_new, state.get("g_target", g)).astype(dtype)
        new.update(self.add_cycles(state, jnp.where(n > 0, n_set, jnp.where(n < 0, 1, 0))))
        return new, energy.astype(dtype)

    def set_curve(self, g0, n_max: int):
        """The nominal SET response from conductance `g0` [S]: an array of shape
        ``(n_max + 1,) + g0.shape`` with the conductance after 0..n_max SET pulses
        (card parameters, no variation or noise, nominal window)."""
        per_s = self._w_per_siemens()
        w0 = (jnp.asarray(g0, jnp.result_type(float)) - self.g_min) * per_s
        return self.g_min + _nominal_curve(self, w0, n_max=int(n_max)) / per_s

    def pulses_for(self, fab, state, g_target):
        """The nominal signed pulse count toward `g_target` [S] per cell (card values, no
        variation or noise): the number of SET pulses whose nominal end point is nearest
        the target; ``−1`` (a RESET comes first) when the target lies below the state
        and the nominal reset level, followed by SET pulses, gets nearer to it than
        staying. Write-verify calls it again after the RESET for the SET count.

        The count comes in closed form from an Abel function of the ExpStep recurrence,
        ``h(w_{k+1}) = h(w_k) + 1`` (`set_pulse_index`): the nearest whole number of
        steps from ``h(w)`` to ``h(w_t)``. `h` is exact to ~0.05 of a step on the first
        pulses from the bottom and to 1e-3 beyond a quarter of the range, so the count is
        the nearest curve point's except where the target lies within a few hundredths
        of a step of the midpoint between two points (one pulse off there)."""
        return _jit_pulses_for(self, state, g_target)

    def set_pulse_index(self, w):
        """The Abel function of the nominal SET recurrence ``w → w + Δ(w)`` (weight units,
        card values): ``h(w + Δ(w)) ≈ h(w) + 1``, so ``h(w_t) − h(w)`` counts the pulses
        from ``w`` to ``w_t``. With ``Δ(w) = dw_min·(1 − E)``, ``E = A·e^(γb)·e^(cw)``,
        ``c = 2aγ/set_w_range``, it is the continuum count ``K = (w − ln(1 − E)/c)/dw_min``
        (∫dw/Δ) plus the first two corrections of the Euler recurrence to its ODE,
        ``½·ln Δ`` and ``(dw_min·c/12)·(2E + ln(1 − E))`` (derived by matching
        ``Σ_n Δⁿh⁽ⁿ⁾/n! = 1`` order by order). States where the step has shrunk to 0
        are clamped just below that point."""
        c = 2.0 * self.set_a * self.set_gamma / self.set_w_range
        big_a = self.set_big_a * jnp.exp(self.set_gamma * self.set_b)
        linear = jnp.abs(c) < 1e-6
        c_safe = jnp.where(linear, 1.0, c)
        e = jnp.where(linear, big_a, big_a * jnp.exp(c_safe * w))
        one_minus = jnp.maximum(1.0 - e, 1e-6)  # Δ > 0 (no step beyond the saturation point)
        log_1me = jnp.log(one_minus)
        k_cont = jnp.where(linear, w / one_minus, w - log_1me / c_safe) / self.set_dw_min
        first = 0.5 * jnp.log(self.set_dw_min * one_minus)
        second = jnp.where(linear, 0.0, self.set_dw_min * c / 12.0 * (2.0 * e + log_1me))
        return k_cont + first + second

    def _set_count(self, w, wt):
        """Nominal SET pulses from `w` toward `wt` (weight units, ``wt ≥ w``): ``(count,
        distance of its end point from wt)``. The first two pulses are taken exactly
        (they are the large ones, where `set_pulse_index` is least accurate); beyond,
        the curve point ``p`` that is ``k₀`` pulses from `w`, with ``k₀`` the whole steps
        below `wt` counted by `set_pulse_index`, comes from inverting it by Newton, and
        the next point is one exact pulse on. The nearer of the two to `wt` wins."""
        top = self.set_w_range
        one = jnp.ones_like(w)

        def step(v):
            return jnp.minimum(v + self._step(v, one, one), top)

        wt_c = jnp.minimum(wt, top)
        a1 = step(w)
        a2 = step(a1)
        h2 = self.set_pulse_index(a2)
        x2 = jnp.maximum(self.set_pulse_index(wt_c) - h2, 0.0)  # pulses beyond a2
        j = jnp.floor(x2)
        target = h2 + j
        p = wt_c - (x2 - j) * self._step(wt_c, one, one)
        for _ in range(2):  # Newton on h(p) = target, h' ≈ 1/Δ
            p = p - (self.set_pulse_index(p) - target) * self._step(p, one, one)
        p = jnp.where(j == 0, a2, jnp.clip(p, a2, wt_c))
        k0 = jnp.where(wt_c < a1, 0.0, jnp.where(wt_c < a2, 1.0, 2.0 + j))
        p = jnp.where(wt_c < a1, w, jnp.where(wt_c < a2, a1, p))
        p_next = step(p)
        up = (jnp.abs(p_next - wt) < jnp.abs(wt - p)) & (p < top)
        return k0 + up, jnp.where(up, jnp.abs(p_next - wt), jnp.abs(wt - p))

    def _pulses_for(self, state, g_target):
        g = state["g"]
        dtype = g.dtype
        per_s = self._w_per_siemens()
        w = (g - self.g_min) * per_s
        wt = (jnp.broadcast_to(jnp.asarray(g_target, dtype), g.shape) - self.g_min) * per_s
        k_up, _ = self._set_count(w, jnp.maximum(wt, w))
        w_reset = jnp.broadcast_to(jnp.maximum(self.reset_level, 0.0), g.shape).astype(dtype)
        _, miss_reset = self._set_count(w_reset, jnp.maximum(wt, w_reset))
        miss_reset = miss_reset + jnp.maximum(w_reset - wt, 0.0)
        below = wt < w
        reset_first = below & (miss_reset < jnp.abs(w - wt))
        return jnp.where(reset_first, -1, jnp.where(below, 0, k_up)).astype(jnp.int32)


# `pulse` and `pulses_for` run compiled (once per card structure, shape and effects; inlined
# when the caller is jitted): eagerly, their many small array operations would each be
# compiled for every new shape, and their loops at every call.
@functools.partial(jax.jit, static_argnames=("effects",))
def _jit_pulse(dev, fab, state, n, key, *, effects):
    return dev._pulse(fab, state, n, key, effects=effects)


@jax.jit
def _jit_pulses_for(dev, state, g_target):
    return dev._pulses_for(state, g_target)


# The pulse loops are compiled once per device structure and shape (module-level jit with the
# device as a pytree argument; inlined when the caller is itself jitted). An eager call of a
# `lax` loop built from closures would be compiled again at every call.
@functools.partial(jax.jit, static_argnames=("noise",))
def _set_loop(dev, w0, n_set, w_lo, w_hi, ceiling, scale, c2c, key, z0, *, noise):
    """`n_set` SET pulses per cell (a loop bounded by max n_set, finished cells masked);
    pulse k draws its noise from ``fold_in(key, k)``, the first one uses `z0`."""

    def step(k, w, z):
        dw = dev._step(w, ceiling, scale)
        w_new = w + dw
        if noise:
            sd = c2c * (jnp.abs(dw) + dev.set_c2c_add + dev.set_c2c_slope * jnp.abs(w))
            w_new = w_new + sd * z
        w_new = jnp.minimum(jnp.maximum(w_new, w_lo), w_hi)
        return jnp.where(k < n_set, w_new, w)

    def body(k, w):
        z = _rnd.normal(jax.random.fold_in(key, k), w.shape, w.dtype) if noise else None
        return step(k, w, z)

    w1 = step(0, w0, z0)
    return jax.lax.fori_loop(1, jnp.maximum(jnp.max(n_set, initial=0), 1), body, w1)


@functools.partial(jax.jit, static_argnames=("n_max",))
def _nominal_curve(dev, w0, *, n_max):
    one = jnp.ones_like(w0)

    def step(w, _):
        w = jnp.minimum(w + dev._step(w, one, one), dev.set_w_range)
        return w, w

    _, ws = jax.lax.scan(step, w0, None, length=n_max)
    return jnp.concatenate([w0[None], ws])


def pcm_pair_update(
    device: PCM,
    fab_pos,
    fab_neg,
    state_pos,
    state_neg,
    n,
    *,
    key,
    effects: Effects = ALL_EFFECTS,
    refresh_at=None,
):
    """Update a PCM differential pair ``W ∝ G⁺ − G⁻`` by `n` signed pulses per pair,
    with occasional refresh (Burr et al. 2017; Nandakumar et al. 2020; aihwkit
    `OneSidedUnitCell`).

    PCM can only be SET gradually, so ``n > 0`` applies `n` SET pulses to G⁺ and
    ``n < 0`` applies ``|n|`` SET pulses to G⁻; ``n = 0`` leaves the pair alone. After
    the update, a pair with either device above `refresh_at` [S] (default
    ``refresh_frac·g_max`` of the card, 0.9·g_max) is refreshed: its difference
    ``d = G⁺ − G⁻`` is read (noise-free, right after programming), both devices are
    RESET, and ``d`` is reprogrammed onto one device (G⁺ when ``d > 0``, else G⁻) with
    the nominal number of SET pulses (`PCM.pulses_for`) toward ``G_reset,other + |d|``.
    The difference is then kept within the programming error: the nominal SET
    quantization (the nearest point of the ExpStep curve) plus the SET and RESET
    noise when `effects.write_noise` is on.

    Returns ``(state_pos, state_neg, energy, refreshed)``: the new states, the energy
    per pair [J] (update and refresh pulses) and a bool per pair, whether it was
    refreshed.
    """
    k_pos, k_neg, k_rp, k_rn, k_set = jax.random.split(key, 5)
    n = pulse_counts("pcm_pair_update", n, jnp.shape(state_pos["g"])).astype(jnp.int32)
    state_pos, e_pos = device.pulse(fab_pos, state_pos, jnp.maximum(n, 0), key=k_pos, effects=effects)
    state_neg, e_neg = device.pulse(fab_neg, state_neg, jnp.maximum(-n, 0), key=k_neg, effects=effects)
    energy = e_pos + e_neg
    thr = device.refresh_frac * device.g_max if refresh_at is None else refresh_at
    refresh = (state_pos["g"] > thr) | (state_neg["g"] > thr)
    d = state_pos["g"] - state_neg["g"]
    reset = jnp.where(refresh, -1, 0).astype(jnp.int32)
    state_pos, e_rp = device.pulse(fab_pos, state_pos, reset, key=k_rp, effects=effects)
    state_neg, e_rn = device.pulse(fab_neg, state_neg, reset, key=k_rn, effects=effects)
    energy = energy + e_rp + e_rn
    # reprogram |d| onto one device, above the other's reset level
    to_pos = d > 0
    n_pos = jnp.where(refresh & to_pos, device.pulses_for(fab_pos, state_pos, state_neg["g"] + d), 0)
    n_neg = jnp.where(refresh & ~to_pos, device.pulses_for(fab_neg, state_neg, state_pos["g"] - d), 0)
    k_sp, k_sn = jax.random.split(k_set)
    state_pos, e_sp = device.pulse(fab_pos, state_pos, jnp.maximum(n_pos, 0), key=k_sp, effects=effects)
    state_neg, e_sn = device.pulse(fab_neg, state_neg, jnp.maximum(n_neg, 0), key=k_sn, effects=effects)
    return state_pos, state_neg, energy + e_sp + e_sn, refresh
