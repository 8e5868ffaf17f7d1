"""STT-MRAM: the `STTMRAM` cell model (see `xbar.devices._base` for the common interface) and
the MTJ switching probability in the thermal (Néel–Brown) and precessional regimes."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _random as _rnd
from .._effects import Effects
from .._tree import is_concrete, pytree_dataclass, static_field
from ._base import (
    ALL_EFFECTS,
    Device,
    _nonnegative,
    _positive,
    _probability,
    after_programming,
    pulse_counts,
)

__all__ = ["STTMRAM", "switching_probability", "write_error_rate"]


_PI2_4 = math.pi**2 / 4.0


def _regimes(i, t_p, delta, i_c0, tau0, b, tau_d):
    """The two regime terms: ``t_p/τ`` of the thermal law at ``min(I, I_c0)`` and the
    exponent ``x`` of the precessional CDF ``P = exp(−x)`` (``x = ∞`` for ``I ≤ I_c0``)."""
    r = jnp.maximum(jnp.asarray(i), 0.0) / i_c0
    base = jnp.maximum(1.0 - r, 0.0)
    # base**b as exp(b·ln base): XLA's pow runs element by element on CPU (~10x an exp)
    pos = base > 0
    base_b = jnp.where(pos, jnp.exp(b * jnp.log(jnp.where(pos, base, 1.0))), 0.0)
    rate_t = (t_p / tau0) * jnp.exp(-delta * base_b)  # t_p/τ, τ = τ0·exp(Δ(1 − I/I_c0)^b)
    over = r - 1.0
    x = _PI2_4 * delta * jnp.exp(-2.0 * jnp.maximum(over, 0.0) * t_p / tau_d)
    x = jnp.where(over > 0, x, jnp.inf)
    return rate_t, x


def switching_probability(i, t_p, *, delta, i_c0, tau0, b=1.0, tau_d):
    """Probability that one current pulse of amplitude `i` [A] and width `t_p` [s] switches
    an MTJ (Koch, Katine & Sun 2004; Sun 2000; He, Sun & Zhang 2007; compendium §1.6):

    * thermally activated (Néel–Brown) regime, ``I ≤ I_c0``:
      ``P_th = 1 − exp(−t_p/τ)``, ``τ = tau0·exp(Δ·(1 − I/I_c0)^b)``;
    * precessional regime, ``I > I_c0`` (He–Sun–Zhang CDF over the thermal initial angle):
      ``P_pr = exp(−(π²Δ/4)·exp(−2·(I/I_c0 − 1)·t_p/τ_D))``.

    The two formulas do not meet at ``I_c0`` (just below it the thermal law with a vanishing
    barrier switches within ~tau0, just above it the precessional CDF is near 0 for pulses
    shorter than ~τ_D·ln(π²Δ/4)). Above ``I_c0`` this returns the monotone envelope
    ``max(P_th(I_c0), P_pr(I))``: the barrier-free thermal value at the critical current
    is a floor, and the precessional form takes over once it is larger. So ``P`` is
    continuous in I, nondecreasing in I and in t_p, equals the Néel–Brown law below
    ``I_c0`` and the precessional law wherever that exceeds the floor.

    Every argument broadcasts; `delta` is the barrier at the temperature of use.
    """
    rate_t, x = _regimes(i, t_p, delta, i_c0, tau0, b, tau_d)
    return jnp.maximum(-jnp.expm1(-rate_t), jnp.exp(-x))


def write_error_rate(i, t_p, *, delta, i_c0, tau0, b=1.0, tau_d):
    """``1 − switching_probability(...)``, computed without cancellation (accurate for
    write error rates far below float epsilon): ``min(exp(−t_p/τ(I_c0∧I)), 1 − exp(−x))``."""
    rate_t, x = _regimes(i, t_p, delta, i_c0, tau0, b, tau_d)
    return jnp.minimum(jnp.exp(-rate_t), -jnp.expm1(-x))


@pytree_dataclass
class STTMRAM(Device):
    """STT-MRAM: a device is `mtjs_per_device` binary MTJs in parallel (k+1 levels).

    * Each MTJ is parallel (``R_P``, high G) or antiparallel (``R_AP = on_off·R_P``);
      d2d spreads each MTJ's two resistances by a relative Normal(0, `d2d_sigma`).
    * Programming (`program`) is open loop: the target maps to the nearest level
      ``n = round((G_T − k·G_AP)/(G_P − G_AP))`` using nominal values, and MTJs
      ``0..n−1`` are written parallel. Each MTJ write fails (ends in the other
      state) with probability `write_error_rate` (the one-shot WER of the card's
      deterministic write). Gradients pass straight through the level rounding.
    * Pulses (`pulse`): stochastic binary switching. ``n > 0`` writes toward parallel,
      ``n < 0`` toward antiparallel; every MTJ of the device takes |n| attempts of the
      write pulse (`i_write` [A] per MTJ, `t_write` [s]), and one not yet in the target
      state switches with ``P_total = 1 − (1 − P)^|n|``, ``P = switching_probability``
      (thermal regime below `i_c0`, precessional above, time constant `tau_d`).
      With d2d on, an MTJ's critical current scales with its junction area,
      ``I_c0·G_P,MTJ/G_P`` (the area factor of its parallel conductance). Energy per
      device ``|n|·k·i_write·v_write·t_write``.
    * Retention (the `drift` effect): thermally activated flips, symmetric in both
      directions with ``τ = tau0·exp(Δ)``; after time t an MTJ differs from its
      written state with probability ``(1 − exp(−2t/τ))/2`` (two-state Markov chain).
    * Temperature: the energy barrier is fixed, so at ``T`` the stability factor is
      ``Δ(T) = delta·temperature/T`` in the retention and switching formulas
      (``temperature=None``: the card's); ``I_c0 ∝ Δ·T`` stays fixed.
    * Wear (per MTJ, `Effects.wear`): beyond `wear_n_th` each MTJ's P/AP conductances
      close toward their middle by the wear window factor; a worn-out MTJ (Weibull)
      reads stuck parallel (`endurance_p_on`) or antiparallel.
    * Read noise: relative, `read_sigma_rel`·G.
    """

    r_p: jax.Array
    on_off: jax.Array
    mtjs_per_device: int = static_field(default=8)
    read_sigma_rel: jax.Array
    delta: jax.Array
    tau0: jax.Array
    temperature: jax.Array
    write_error_rate: jax.Array
    i_c0: jax.Array
    i_write: jax.Array
    t_write: jax.Array
    v_write: jax.Array
    b_exp: jax.Array
    tau_d: jax.Array

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
        _positive("STTMRAM.i_c0", self.i_c0)
        _nonnegative("STTMRAM.i_write", self.i_write)
        _positive("STTMRAM.t_write", self.t_write)
        _nonnegative("STTMRAM.v_write", self.v_write)
        _positive("STTMRAM.b_exp", self.b_exp)
        _positive("STTMRAM.tau_d", self.tau_d)

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

    def delta_at(self, temperature=None):
        """The stability factor at `temperature` [K] (the barrier E_b = Δ·k_B·T_card is
        fixed): ``delta·T_card/T``; the card's `delta` when `temperature` is None."""
        if temperature is None:
            return self.delta
        _positive("temperature", temperature)
        return self.delta * self.temperature / jnp.asarray(temperature)

    def tau_at(self, temperature=None):
        """Mean time between thermal flips of one MTJ at `temperature` [s]."""
        return self.tau0 * jnp.exp(self.delta_at(temperature))

    @property
    def tau(self):
        """Mean time between thermal flips of one MTJ [s] at the card temperature."""
        return self.tau_at(None)

    def flip_probability(self, t, temperature=None):
        """Probability an MTJ differs from its written state after t seconds."""
        return -0.5 * jnp.expm1(-2.0 * t / self.tau_at(temperature))

    def _pulse_law(self, i, t_p, temperature, i_c0):
        """Arguments of the module-level switching laws for the card's parameters: the
        write pulse `i_write`, `t_write` unless given, Δ at `temperature`."""
        args = (self.i_write if i is None else i, self.t_write if t_p is None else t_p)
        kwargs = dict(
            delta=self.delta_at(temperature),
            i_c0=self.i_c0 if i_c0 is None else i_c0,
            tau0=self.tau0,
            b=self.b_exp,
            tau_d=self.tau_d,
        )
        return args, kwargs

    def switching_probability(self, i=None, t_p=None, *, temperature=None, i_c0=None):
        """`switching_probability` with the card's parameters (write pulse `i_write`,
        `t_write` unless given)."""
        args, kwargs = self._pulse_law(i, t_p, temperature, i_c0)
        return switching_probability(*args, **kwargs)

    def pulse_write_error_rate(self, i=None, t_p=None, *, temperature=None, i_c0=None):
        """`write_error_rate` (1 − P, without cancellation) with the card's parameters."""
        args, kwargs = self._pulse_law(i, t_p, temperature, i_c0)
        return write_error_rate(*args, **kwargs)

    def fabricate(self, shape, *, key) -> dict:
        """Per MTJ (trailing axis of length k): parallel and antiparallel conductances
        with their d2d spread (``"g_p"``, ``"g_ap"``), a stuck code (1: stuck
        parallel, 2: stuck antiparallel) and the endurance draws (``"wear"``)."""
        k = self.mtjs_per_device
        k_p, k_ap, k_stuck = jax.random.split(key, 3)
        mshape = tuple(shape) + (k,)
        r_p = self.r_p * jnp.maximum(1.0 + self.d2d_sigma * _rnd.normal(k_p, mshape), 0.05)
        r_ap = self.r_p * self.on_off * jnp.maximum(1.0 + self.d2d_sigma * _rnd.normal(k_ap, mshape), 0.05)
        return {
            "g_p": 1.0 / r_p,
            "g_ap": 1.0 / r_ap,
            "stuck": self._stuck_codes(k_stuck, mshape),
            "wear": self.wear_draws(mshape, key=jax.random.fold_in(key, 1000)),
        }

    def mtj_conductances(self, fab, effects: Effects):
        if effects.d2d:
            return fab["g_p"], fab["g_ap"]
        return self.g_p, self.g_ap

    def window(self, fab, effects: Effects):
        """Per MTJ (shape + (k,)): its antiparallel and parallel conductances ``(lo, hi)``
        (nominal when d2d is off); `worn_window` closes them toward their middle."""
        g_p, g_ap = self.mtj_conductances(fab, effects)
        return g_ap, g_p

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
        return {"s": s, "key_time": k_ret, **self.initial_cycles(s.shape, f.dtype)}

    def conductance(self, fab, state, t, *, effects: Effects, temperature=None):
        s = state["s"]
        if effects.drift and not after_programming(t):
            flip = _rnd.uniform(state["key_time"], s.shape, s.dtype) < self.flip_probability(t, temperature)
            s = jnp.where(flip, 1.0 - s, s)
        if effects.stuck:
            code = fab["stuck"]
            s = jnp.where(code == 1, 1.0, jnp.where(code == 2, 0.0, s))
        g_p, g_ap = self.mtj_conductances(fab, effects)
        cycles = state.get("cycles")
        if cycles is not None and effects.wear:
            g_ap, g_p = self.worn_window(fab, effects, cycles)
            w = self.wear(fab, cycles)
            s = jnp.where(w["failed"], jnp.where(w["fail_on"], 1.0, 0.0), s)
        return jnp.sum(s * g_p + (1.0 - s) * g_ap, axis=-1)

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        return self.read_sigma_rel * jnp.abs(g_t)

    # ------------------------------------------------------------------ pulses
    def _mtj_i_c0(self, fab, effects: Effects):
        if effects.d2d:
            return self.i_c0 * fab["g_p"] / self.g_p  # I_c0 scales with junction area
        return self.i_c0

    def pulse(
        self,
        fab,
        state,
        n,
        *,
        key,
        effects: Effects = ALL_EFFECTS,
        i_write=None,
        t_write=None,
        temperature=None,
    ):
        """Apply `n` write attempts (an integer array broadcastable to the device shape,
        each MTJ of a device taking them all, or with the trailing MTJ axis of the state,
        one count per MTJ): ``n > 0`` toward parallel, ``n < 0`` toward antiparallel. An
        MTJ not in the target state switches with ``P_total = 1 − (1 − P)^|n|`` (``P``
        the switching probability of one pulse of `i_write` [A] and `t_write` [s], the
        card's by default; either may be an array broadcastable to the device shape).
        With `effects.write_noise` off the MTJ moves to its expected state,
        ``s + (target − s)·P_total`` (the mean over write outcomes). Returns
        ``(state, energy)``, the energy per device ``Σ_MTJ |n|·I·v_write·t_p`` [J]
        (``|n|·k·I·v_write·t_p`` for a count per device)."""
        s_shape = state["s"].shape
        if jnp.ndim(n) == len(s_shape):  # one count per MTJ
            n = pulse_counts("STTMRAM.pulse", n, s_shape)
        else:
            n = jnp.broadcast_to(pulse_counts("STTMRAM.pulse", n, s_shape[:-1])[..., None], s_shape)
        if temperature is not None:
            _positive("temperature", temperature)
        i = self.i_write if i_write is None else jnp.asarray(i_write)
        t_p = self.t_write if t_write is None else jnp.asarray(t_write)
        return _jit_pulse(self, fab, state, n, key, i, t_p, temperature, effects=effects)

    def _pulse(self, fab, state, n, key, i, t_p, temperature, *, effects: Effects):
        s = state["s"]
        dshape = s.shape[:-1]
        m = jnp.abs(n).astype(s.dtype)  # per MTJ
        rate_t, x = _regimes(
            jnp.expand_dims(jnp.broadcast_to(i, dshape), -1),
            jnp.expand_dims(jnp.broadcast_to(t_p, dshape), -1),
            self.delta_at(temperature),
            self._mtj_i_c0(fab, effects),
            self.tau0,
            self.b_exp,
            self.tau_d,
        )
        # ln WER = min(−t_p/τ, ln(1 − e^(−x))) (`write_error_rate`), then
        # 1 − (1 − P)^|n| = 1 − WER^|n| = −expm1(|n|·ln WER), without cancellation
        log_wer = jnp.minimum(-rate_t, jnp.log(jnp.maximum(-jnp.expm1(-x), jnp.finfo(s.dtype).tiny)))
        p_total = -jnp.expm1(m * log_wer)
        p_total = jnp.where(m > 0, p_total, 0.0)
        target = (n > 0).astype(s.dtype)
        if effects.write_noise:
            switch = (_rnd.uniform(key, s.shape, s.dtype) < p_total).astype(s.dtype)
        else:
            switch = p_total
        s_new = s + (target - s) * switch
        s_new = jnp.where(m > 0, s_new, s)
        energy = jnp.sum(m, axis=-1) * jnp.broadcast_to(i * t_p, dshape) * self.v_write
        new = dict(state)
        new["s"] = s_new
        new.update(self.add_cycles(state, m))
        return new, energy.astype(s.dtype)

    def pulses_for(self, fab, state, g_target):
        """The nominal signed number of write attempts toward `g_target` [S] per device:
        the target level (the number of parallel MTJs, ``m_t``, nearest the target with
        nominal conductances) against the device's present count ``m``; the sign is the
        direction, the count the fewest attempts after which the expected number of
        switched MTJs, ``(k − m)(1 − WER^N)`` for ``m_t > m``, comes within half an MTJ
        of ``m_t − m`` (likewise toward antiparallel). One attempt at the memory-grade
        default pulse; several at a sub-critical (stochastic) one."""
        s = state["s"]
        k = self.mtjs_per_device
        dtype = s.dtype
        m = jnp.sum(s, axis=-1)
        g_t = jnp.broadcast_to(jnp.asarray(g_target, dtype), m.shape)
        m_t = jnp.clip(jnp.round((g_t - self.g_min) / (self.g_p - self.g_ap)), 0, k)
        up = m_t > m + 0.5
        down = m_t < m - 0.5
        # movable MTJs and the residual fraction allowed to stay unswitched
        movable = jnp.where(up, k - m, m)
        left = jnp.where(up, k - m_t, m_t) + 0.5
        frac = jnp.clip(left / jnp.maximum(movable, 1e-9), 1e-30, 1.0)
        wer = jnp.clip(self.pulse_write_error_rate(), 1e-30, 1.0 - 1e-7).astype(dtype)
        count = jnp.ceil(jnp.log(frac) / jnp.log(wer))
        count = jnp.clip(count, 1, 1_000_000)
        return jnp.where(up, count, jnp.where(down, -count, 0)).astype(jnp.int32)

    def pulses_for_mtjs(self, fab, state, g_target):
        """Nominal signed attempts per MTJ (shape + (k,)) toward `g_target` [S], for
        arrays that address each MTJ of a compound synapse: a device-level pulse drives
        every MTJ at once, so a deterministic write cannot stop at an intermediate level.
        The fewest MTJs change: for ``m_t > m`` the first ``m_t − m`` antiparallel MTJs
        (in index order) get ``+N``, for ``m_t < m`` the first ``m − m_t`` parallel ones
        ``−N``, the rest 0, with ``N`` the fewest attempts that make a switch more likely
        than not, ``1 − WER^N ≥ 1/2`` (one at the memory-grade default pulse). `pulse`
        takes the result as it is."""
        s = state["s"]
        k = self.mtjs_per_device
        dtype = s.dtype
        binary = s > 0.5
        m = jnp.sum(binary, axis=-1)
        g_t = jnp.broadcast_to(jnp.asarray(g_target, dtype), m.shape)
        m_t = jnp.clip(jnp.round((g_t - self.g_min) / (self.g_p - self.g_ap)), 0, k).astype(m.dtype)
        rank_ap = jnp.cumsum(~binary, axis=-1) - 1  # index among the antiparallel MTJs
        rank_p = jnp.cumsum(binary, axis=-1) - 1
        up = (~binary) & (rank_ap < (m_t - m)[..., None])
        down = binary & (rank_p < (m - m_t)[..., None])
        wer = jnp.clip(self.pulse_write_error_rate(), 1e-30, 1.0 - 1e-7).astype(dtype)
        count = jnp.clip(jnp.ceil(jnp.log(0.5) / jnp.log(wer)), 1, 1_000_000).astype(jnp.int32)
        return jnp.where(up, count, jnp.where(down, -count, 0)).astype(jnp.int32)


# compiled once per card structure, shape and effects (inlined when the caller is jitted):
# eagerly, each of its small array operations would be compiled for every new shape
@functools.partial(jax.jit, static_argnames=("effects",))
def _jit_pulse(dev, fab, state, n, key, i, t_p, temperature, *, effects):
    return dev._pulse(fab, state, n, key, i, t_p, temperature, effects=effects)
