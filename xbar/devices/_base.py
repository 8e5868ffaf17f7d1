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

__all__ = ["Device", "after_programming", "clip_window", "pulse_counts", "ALL_EFFECTS"]

ALL_EFFECTS = Effects()  # the default of `effects=` arguments: every effect on

_TINY = 1e-30
K_BOLTZMANN = 1.380649e-23  # J/K (exact, SI 2019)


def after_programming(t) -> bool:
    """True when `t` is statically zero (a Python number): a read right after
    programming, where every time model is the identity, so drift work is skipped."""
    return isinstance(t, (int, float)) and not isinstance(t, bool) and t == 0


def clip_window(g, lo, hi):
    """Clip to ``[lo, hi]``; a target on the boundary is reachable, so its gradient
    is 1 (``jnp.clip`` would give 1/2 at the tie)."""
    return jnp.where(g > hi, hi, jnp.where(g < lo, lo, g))


def pulse_counts(name, n, shape):
    """Validate signed pulse counts: an integer array broadcastable to the cell shape."""
    if isinstance(n, (bool, np.bool_)) or (hasattr(n, "dtype") and n.dtype == bool):
        raise TypeError(f"{name}: n: expected signed integer pulse counts, got a bool")
    n = jnp.asarray(n)
    if not jnp.issubdtype(n.dtype, jnp.integer):
        raise TypeError(f"{name}: n: expected signed integer pulse counts, got dtype {n.dtype}")
    try:
        out = jnp.broadcast_shapes(n.shape, tuple(shape))
    except ValueError:
        out = None
    if out != tuple(shape):
        raise ValueError(f"{name}: n: expected a shape broadcastable to the cells' {tuple(shape)}, got {n.shape}")
    return jnp.broadcast_to(n, shape)


def _log_cycles(cycles):
    """``ln max(N, 1)`` of write-cycle counts (no gradient flows through counts; float32
    uses the polynomial log of `xbar._random`, the hot path of every pulse)."""
    n = jnp.maximum(jnp.asarray(cycles, dtype=jnp.result_type(float)), 1.0)
    return _rnd.log_f32(n) if n.dtype == jnp.float32 else jnp.log(n)


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
    # endurance (wear), common to every family; see `wear`
    endurance_n63: jax.Array
    endurance_k: jax.Array
    endurance_p_on: jax.Array
    wear_n_th: jax.Array
    wear_window_beta: jax.Array
    wear_c2c_growth: jax.Array
    # the temperature the card's time constants hold at, and the activation energy that
    # shifts them with temperature (`thermal_time`); STT-MRAM rescales its barrier
    # instead and has no activation energy
    temperature: jax.Array
    activation_energy: jax.Array | None = None

    family = "abstract"

    def __post_init__(self) -> None:
        if type(self) is Device:
            raise TypeError("Device is abstract: use RRAM, PCM, STTMRAM or FloatingGate")
        for f in self._leaf_names():
            if getattr(self, f) is not None:
                object.__setattr__(self, f, as_float_leaf(getattr(self, f), f"{type(self).__name__}.{f}"))
        _positive(f"{type(self).__name__}.v_read", self.v_read)
        _positive(f"{type(self).__name__}.t_read", self.t_read)
        _probability(f"{type(self).__name__}.p_stuck_on", self.p_stuck_on)
        _probability(f"{type(self).__name__}.p_stuck_off", self.p_stuck_off)
        if is_concrete(self.p_stuck_on, self.p_stuck_off):
            total = np.asarray(self.p_stuck_on) + np.asarray(self.p_stuck_off)
            _probability(f"{type(self).__name__}.p_stuck_on + p_stuck_off", total)
        _nonnegative(f"{type(self).__name__}.d2d_sigma", self.d2d_sigma)
        cls = type(self).__name__
        _positive(f"{cls}.endurance_n63", self.endurance_n63)
        _positive(f"{cls}.endurance_k", self.endurance_k)
        _probability(f"{cls}.endurance_p_on", self.endurance_p_on)
        _positive(f"{cls}.wear_n_th", self.wear_n_th)
        _nonnegative(f"{cls}.wear_window_beta", self.wear_window_beta)
        _nonnegative(f"{cls}.wear_c2c_growth", self.wear_c2c_growth)
        _positive(f"{cls}.temperature", self.temperature)
        if self.activation_energy is not None:
            _nonnegative(f"{cls}.activation_energy", self.activation_energy)
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
        - ``"stuck"``: int8 code per cell, 0 working, 1 stuck on, 2 stuck off;
        - ``"wear"``: the endurance draws (`wear_draws`).
        """
        k_lo, k_hi, k_stuck, k_wear = jax.random.split(key, 4)
        lo = self.g_min * jnp.exp(self.d2d_sigma * _rnd.normal(k_lo, shape))
        hi = self.g_max * jnp.exp(self.d2d_sigma * _rnd.normal(k_hi, shape))
        return {
            "lo": jnp.minimum(lo, hi),
            "hi": jnp.maximum(lo, hi),
            "stuck": self._stuck_codes(k_stuck, shape),
            "wear": self.wear_draws(shape, key=k_wear),
        }

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

    def apply_stuck(self, fab, g, effects: Effects, cycles=None):
        """Stuck-on cells read their window top, stuck-off cells its bottom: the
        as-fabricated ones (`effects.stuck`) and, given the cells' `cycles` and with
        `effects.wear`, the worn-out ones (at the top or bottom of their worn window)."""
        if effects.stuck:
            lo, hi = self.window(fab, effects)
            code = fab["stuck"]
            g = jnp.where(code == 1, hi, jnp.where(code == 2, lo, g))
        if cycles is not None and effects.wear:
            w = self.wear(fab, cycles)
            lo, hi = self.worn_window(fab, effects, cycles)
            g = jnp.where(w["failed"], jnp.where(w["fail_on"], hi, lo), g)
        return g

    # ------------------------------------------------------------------ endurance
    def wear_draws(self, shape, *, key) -> dict:
        """Per cell, fixed at fabrication: ``"log_e"``, the log of a unit-exponential
        draw ``E = −ln(1 − u)`` (u uniform) — the cell fails once the Weibull failure
        probability at its cycle count passes ``u``, i.e. once ``(N/endurance_n63)^k > E``,
        so failure is monotone in cycles — and ``"on"``, whether a failure leaves it
        stuck on (probability `endurance_p_on`) or off. Storing ``ln E`` makes the test
        per pulse one comparison against ``k·ln(N/endurance_n63)`` (`wear`)."""
        k_u, k_on = jax.random.split(key)
        u = _rnd.uniform(k_u, shape)
        return {"log_e": jnp.log(-jnp.log1p(-u)), "on": _rnd.uniform(k_on, shape) < self.endurance_p_on}

    def failure_probability(self, cycles):
        """Weibull probability that a cell has worn out after `cycles` write pulses:
        ``1 − exp(−(N/endurance_n63)^endurance_k)``."""
        n = jnp.maximum(jnp.asarray(cycles, dtype=jnp.result_type(float)), 0.0)
        return -jnp.expm1(-((n / self.endurance_n63) ** self.endurance_k))

    def wear_decades(self, cycles):
        """Decades of cycling beyond `wear_n_th` (0 before it)."""
        return self._wear_decades(_log_cycles(cycles))

    def _wear_decades(self, ln_n):
        return jnp.maximum((ln_n - jnp.log(self.wear_n_th)) * (1.0 / np.log(10.0)), 0.0)

    def wear(self, fab, cycles) -> dict:
        """Endurance state of each cell after `cycles` write pulses (compendium §1.7):

        - ``"window"``: the fraction of the on/off window left,
          ``max(0, 1 − wear_window_beta·d)`` with ``d`` the decades beyond `wear_n_th`;
        - ``"c2c"``: the factor on cycle-to-cycle noise, ``1 + wear_c2c_growth·d``;
        - ``"failed"``: worn out (Weibull in cycles, `failure_probability`, against the
          cell's draw fixed at fabrication, `wear_draws`);
        - ``"fail_on"``: a failed cell is stuck on (else off).

        One logarithm per cell serves all three: ``ln N``.
        """
        ln_n = _log_cycles(cycles)
        d = self._wear_decades(ln_n)
        draws = fab["wear"]
        return {
            "window": jnp.maximum(1.0 - self.wear_window_beta * d, 0.0),
            "c2c": 1.0 + self.wear_c2c_growth * d,
            "failed": self.endurance_k * (ln_n - jnp.log(self.endurance_n63)) > draws["log_e"],
            "fail_on": draws["on"],
        }

    def worn_window(self, fab, effects: Effects, cycles):
        """The window ``(lo, hi)`` left after `cycles`: both ends move toward the
        window's middle by the wear factor (equals `window` while no wear, or with
        `effects.wear` off)."""
        lo, hi = self.window(fab, effects)
        if not effects.wear:
            return lo, hi
        w = self.wear(fab, cycles)["window"]
        mid = 0.5 * (lo + hi)
        return mid - w * (mid - lo), mid + w * (hi - mid)

    @staticmethod
    def initial_cycles(shape, dtype=None) -> dict:
        """The write-cycle count of freshly programmed cells: one cycle each (state keys
        ``"cycles"`` and its summation carry ``"cycles_carry"``)."""
        dtype = dtype or jnp.result_type(float)
        return {"cycles": jnp.ones(shape, dtype), "cycles_carry": jnp.zeros(shape, dtype)}

    @staticmethod
    def add_cycles(state, added) -> dict:
        """``state``'s write-cycle count plus `added` pulses per cell, as the state keys
        ``"cycles"`` and ``"cycles_carry"``: a compensated (Kahan) sum, so a float32 count
        keeps counting single pulses far beyond 2²⁴ ≈ 1.7e7, where ``cycles + 1`` would
        round back to ``cycles``."""
        added = jnp.asarray(added)
        dtype = state["cycles"].dtype if "cycles" in state else jnp.result_type(float)
        cycles = state.get("cycles", jnp.ones(added.shape, dtype))
        carry = state.get("cycles_carry", jnp.zeros(cycles.shape, dtype))
        y = added.astype(dtype) - carry
        total = cycles + y
        return {"cycles": total, "cycles_carry": (total - cycles) - y}

    # ------------------------------------------------------------------ temperature
    def thermal_time(self, t, temperature=None):
        """The time at the card's `temperature` that ages a cell as much as `t` seconds
        at `temperature` [K] (Arrhenius: ``t·exp(E_a/k_B·(1/T_card − 1/T))`` with the
        card's `activation_energy`); `t` itself when `temperature` is None."""
        if temperature is None:
            return t
        if self.activation_energy is None:
            raise ValueError(f"{type(self).__name__}: this family has no activation energy; temperature acts otherwise")
        _positive("temperature", temperature)
        shift = self.activation_energy / K_BOLTZMANN * (1.0 / self.temperature - 1.0 / jnp.asarray(temperature))
        return t * jnp.exp(shift)

    # ------------------------------------------------------------------ per family
    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        raise NotImplementedError

    def conductance(self, fab, state, t, *, effects: Effects):
        raise NotImplementedError

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        raise NotImplementedError
