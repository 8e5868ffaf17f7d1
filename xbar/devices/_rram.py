"""Filamentary RRAM: the `RRAM` cell model (see `xbar.devices._base` for the common interface).

Pulse programming follows the NeuroSim exponential model (Chen, Peng & Yu, TCAD 2018;
compendium §1.5 (a)). Potentiation (LTP, SET direction) climbs the curve

    G(P) = G_min + B·(1 − exp(−P/A)),   B = (G_max − G_min)/(1 − exp(−P_max/A)),

one step in the pulse index P per pulse; depression (LTD) walks its own curve of the same
form (parameter A_LTD) backwards. The curve is a soft-bound model with a virtual
asymptote ``G_min + B``: n pulses from any G give, in closed form,

    G_n = G_∞ + (G − G_∞)·exp(−n/A).

In the normalised coordinates ``y = (G − G_min)/(G_max − G_min)``, ``u = P/P_max`` and
``a = A/P_max`` the curve is ``g_a(u) = (1 − e^(−u/a))/(1 − e^(−1/a))``. NeuroSim labels a
curve by its nonlinearity NL; the compendium found that ``NL = 10.10·max_u[g_a(u) − u]``
for every entry of NeuroSim's table, with the maximum at ``u* = −a·ln(a(1 − e^(−1/a)))``.
`nl_to_a` inverts that relation by bisection (no table is copied); negative NL means
``a < 0`` (a convex curve, ``g_{−a}(u) = 1 − g_a(1 − u)``), and NL = 0 is the straight line
(``a = ±∞``). Everything is written with ``expm1``/``log1p`` in the rate ``1/a`` so that the
near-linear curves of real cards (NL = 0.04 means ``a ≈ 31.6``) stay accurate in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _random as _rnd
from .._effects import Effects
from .._tree import is_concrete, pytree_dataclass
from ._base import (
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

__all__ = ["RRAM", "NL_SCALE", "NL_MAX", "nl_to_a", "a_to_nl", "neurosim_curve"]


NL_SCALE = 10.10
"""NeuroSim's nonlinearity label is ``NL_SCALE·max_u[g_a(u) − u]`` (compendium §1.5 [D])."""

NL_MAX = 9.0
"""Largest |NL| accepted: the range of NeuroSim's own NL→A table (0.01…9.00). It keeps
``|1/a| ≤ 44`` so that every exponential stays finite in float32."""

_RATE_MAX = 45.0  # bisection bracket for |1/a|; NL(45) ≈ 9.02 > NL_MAX
_BISECT_STEPS = 14  # bracket 45/2**14 ≈ 0.003 wide, then Newton
_NEWTON_STEPS = 3
_DU_MAX = 1.5  # one full window is Δu = 1: any longer run ends at the bound anyway

# series of D(r) = max_u[g(u) − u] at rate r = 1/a, odd in r: r/8 − r³/576 + ...
_D_SERIES = (
    1 / 8,
    -1 / 576,
    1 / 25920,
    -1 / 1075200,
    1 / 43545600,
    -691 / 1207084032000,
    1 / 69742632960,
    -3617 / 10042939146240000,
    43867 / 4840194521530368000,
)


# ---------------------------------------------------------------------------- helpers
def _float(x):
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def _phi(x):
    """(1 − e^(−x))/x, 1 at x = 0 (smooth, correct derivative there)."""
    small = jnp.abs(x) < 1e-3
    xs = jnp.where(small, 1.0, x)
    series = 1.0 + x * (-0.5 + x * (1.0 / 6.0 - x / 24.0))
    return jnp.where(small, series, -jnp.expm1(-xs) / xs)


def _log1p_over(z):
    """log1p(z)/z, 1 at z = 0."""
    small = jnp.abs(z) < 1e-4
    zs = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 - z / 2.0 + z * z / 3.0, jnp.log1p(zs) / zs)


def _extremum(r):
    """``max_u[g_a(u) − u]`` (a minimum, negative, for r < 0) at rate ``r = 1/a``; odd in r.

    ``D = 1/c − 1/r + ln(c/r)/r`` with ``c = 1 − e^(−r)``; a series below |r| = 1.5 where
    that difference cancels."""
    small = jnp.abs(r) < 1.5
    r2 = r * r
    s = jnp.zeros_like(r)
    for c in reversed(_D_SERIES):
        s = c + r2 * s
    rb = jnp.where(small, 1.0, r)
    c = -jnp.expm1(-rb)
    direct = 1.0 / c - 1.0 / rb + jnp.log(c / rb) / rb
    return jnp.where(small, r * s, direct)


def _bisect(_, bounds):
    lo, hi, t = bounds
    mid = 0.5 * (lo + hi)
    above = _extremum(mid) > t
    return jnp.where(above, lo, mid), jnp.where(above, mid, hi), t


@jax.custom_jvp
def _rate_of_nl_impl(nl):
    """The rate ``1/a`` of the NeuroSim curve whose nonlinearity label is `nl` (signed;
    0 for nl = 0). Bisection on ``NL_SCALE·D(r) = |nl|``, then Newton steps."""
    nl = _float(nl)
    t = jnp.abs(nl) / NL_SCALE
    lo, hi, _ = jax.lax.fori_loop(0, _BISECT_STEPS, _bisect, (jnp.zeros_like(t), jnp.full_like(t, _RATE_MAX), t))
    r = 0.5 * (lo + hi)
    for _ in range(_NEWTON_STEPS):  # D is concave on r > 0: quadratic, kept in the bracket
        d, slope = jax.jvp(_extremum, (r,), (jnp.ones_like(r),))
        r = jnp.clip(r - (d - t) / slope, lo, hi)
    return jnp.sign(nl) * r


@_rate_of_nl_impl.defjvp
def _rate_of_nl_jvp(primals, tangents):
    (nl,), (dnl,) = primals, tangents
    r = _rate_of_nl_impl(nl)
    _, slope = jax.jvp(_extremum, (r,), (jnp.ones_like(r),))  # D'(r) is even in r
    return r, dnl / (NL_SCALE * slope)


# jitted so that eager calls reuse one compiled loop per shape (a no-op inside a trace)
_rate_of_nl = jax.jit(_rate_of_nl_impl)


def _check_nl(name, nl) -> None:
    if is_concrete(nl) and not np.all(np.abs(np.asarray(nl, dtype=float)) <= NL_MAX):
        raise ValueError(
            f"{name}: expected a nonlinearity label with |NL| <= {NL_MAX} (NeuroSim's table range), got {nl}"
        )


def nl_to_a(nl):
    """Normalised curve parameter ``a = A/P_max`` of the NeuroSim curve with nonlinearity
    label `nl` (any array shape; works under `jit`, `vmap` and `grad`).

    Solves ``nl = NL_SCALE·max_u[g_a(u) − u]`` with ``g_a(u) = (1 − e^(−u/a))/(1 − e^(−1/a))``
    by bisection in ``1/a``; negative `nl` gives ``a < 0`` (the mirrored, convex curve) and
    ``nl = 0`` gives ``a = ±inf`` (the straight line). |nl| must not exceed `NL_MAX`.
    Compendium spot values: NL = 1 → 1.252, 2.4 → 0.499, 4.88 → 0.200.
    """
    _check_nl("nl", nl)
    return 1.0 / _rate_of_nl(nl)


def a_to_nl(a):
    """The nonlinearity label of the normalised NeuroSim curve parameter `a`
    (``NL_SCALE·max_u[g_a(u) − u]``, signed; 0 for ``a = ±inf``); inverse of `nl_to_a`."""
    return NL_SCALE * _extremum(1.0 / _float(a))


def neurosim_curve(p, p_max, a, g_min, g_max):
    """NeuroSim's exponential pulse curve in closed form: the conductance after `p` pulses
    from `g_min`, ``G(p) = g_min + B·(1 − exp(−p/A))`` with ``A = a·p_max`` and
    ``B = (g_max − g_min)/(1 − exp(−p_max/A))`` (no clipping; ``a = ±inf`` is the line
    from `g_min` to `g_max`). Broadcasts over all arguments."""
    r = 1.0 / _float(a)
    u = _float(p) / p_max
    return g_min + (g_max - g_min) * u * (_phi(r * u) / _phi(r))


def _w(y, r):
    """``1 − y·(1 − e^(−r))`` written without cancellation: the normalised distance to the
    virtual asymptote ``1/(1 − e^(−r))``, times ``1 − e^(−r)``."""
    return (1.0 - y) + y * jnp.exp(-r)


def _curve_step(y, du, r, consts=None):
    """Normalised position after moving `du` (signed, in units of P_max) along the curve
    of rate `r` from position `y`: ``y + (1 − y c)·du·phi(r du)/phi(r)``, c = 1 − e^(−r).
    `consts`: ``(e^(−r), 1/phi(r))`` if already at hand."""
    e, inv_phi = (jnp.exp(-r), 1.0 / _phi(r)) if consts is None else consts
    return y + ((1.0 - y) + y * e) * (du * (_phi(r * du) * inv_phi))


def _select(up, r_up, r_down):
    """``(r, (e^(−r), 1/phi(r)))`` per cell for the direction `up`; the constants are
    computed before the selection when both rates are scalars (the card's rates)."""
    r = jnp.where(up, r_up, r_down)
    if jnp.ndim(r_up) == 0 and jnp.ndim(r_down) == 0:
        e = jnp.where(up, jnp.exp(-r_up), jnp.exp(-r_down))
        inv_phi = jnp.where(up, 1.0 / _phi(r_up), 1.0 / _phi(r_down))
        return r, (e, inv_phi)
    return r, (jnp.exp(-r), 1.0 / _phi(r))


def _curve_distance(y0, y1, r):
    """Signed ``Δu`` (units of P_max) that takes the curve of rate `r` from `y0` to `y1`:
    ``ln(w(y0)/w(y1))/r``, written as log1p of a small ratio so that r → 0 is the line."""
    w1 = _w(y1, r)
    z = (y1 - y0) * (r * _phi(r)) / w1
    return _log1p_over(z) * (y1 - y0) * _phi(r) / w1


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
    * Pulses (`pulse`): the NeuroSim exponential model (module docstring) on each
      cell's window, `p_max` pulses from bottom to top, LTP / LTD nonlinearity labels
      `nl_ltp` / `nl_ltd` (drawn per device as ``NL + nl_d2d_sigma·ξ`` at fabrication);
      cycle-to-cycle noise ``c2c_sigma·(hi − lo)·sqrt(|n|)`` per call (NeuroSim); pulse
      energy ``V²·½(G_before + G_after)·t_p`` per pulse (NeuroSim) with the SET
      (`v_set`, `t_set`) or RESET (`v_reset`, `t_reset`) pulse.
    """

    g_min: jax.Array
    g_max: jax.Array
    prog_sigma_coeffs: jax.Array
    prog_sigma_gref: jax.Array
    read_sigma: jax.Array
    relax_sigma_per_decade: jax.Array
    relax_t_ref: jax.Array
    # pulse programming (NeuroSim exponential model)
    p_max: jax.Array
    nl_ltp: jax.Array
    nl_ltd: jax.Array
    nl_d2d_sigma: jax.Array
    c2c_sigma: jax.Array
    v_set: jax.Array
    t_set: jax.Array
    v_reset: jax.Array
    t_reset: jax.Array

    family = "rram"

    def _check(self) -> None:
        _positive("RRAM.g_min", self.g_min)
        _increasing("RRAM.g_max", "g_min", self.g_min, self.g_max)
        _positive("RRAM.prog_sigma_gref", self.prog_sigma_gref)
        _nonnegative("RRAM.read_sigma", self.read_sigma)
        _nonnegative("RRAM.relax_sigma_per_decade", self.relax_sigma_per_decade)
        _positive("RRAM.relax_t_ref", self.relax_t_ref)
        if is_concrete(self.p_max) and not np.all(np.asarray(self.p_max) >= 1):
            raise ValueError(f"RRAM.p_max: expected a pulse count >= 1, got {self.p_max}")
        _check_nl("RRAM.nl_ltp", self.nl_ltp)
        _check_nl("RRAM.nl_ltd", self.nl_ltd)
        _nonnegative("RRAM.nl_d2d_sigma", self.nl_d2d_sigma)
        _nonnegative("RRAM.c2c_sigma", self.c2c_sigma)
        for f in ("v_set", "t_set", "v_reset", "t_reset"):
            _positive(f"RRAM.{f}", getattr(self, f))

    def prog_sigma(self, g):
        return jnp.abs(_poly(self.prog_sigma_coeffs, g * (1.0 / self.prog_sigma_gref)))

    # ------------------------------------------------------------------ fabrication
    def fabricate(self, shape, *, key) -> dict:
        """The common draws (`Device.fabricate`) plus each device's pulse response:
        ``"inv_a_ltp"``, ``"inv_a_ltd"``, the rates ``1/a = P_max/A`` of its LTP and LTD
        curves for the labels ``NL + nl_d2d_sigma·ξ`` (NeuroSim's d2d model, clipped to
        ±`NL_MAX`; `a_to_nl` of ``1/rate`` gives the label back). A device's NL is fixed
        when it is made: to sweep `nl_ltp`, fabricate inside the sweep."""
        fab = super().fabricate(shape, key=key)
        k_ltp, k_ltd = jax.random.split(jax.random.fold_in(key, 0x4E4C))  # independent of the common draws
        for name, nl, k in (("inv_a_ltp", self.nl_ltp, k_ltp), ("inv_a_ltd", self.nl_ltd, k_ltd)):
            label = jnp.clip(nl + self.nl_d2d_sigma * _rnd.normal(k, shape), -NL_MAX, NL_MAX)
            fab[name] = _rate_of_nl(label)
        return fab

    # ------------------------------------------------------------------ programming
    def program(self, fab, g_target, *, key, effects: Effects) -> dict:
        k_prog, k_relax = jax.random.split(key)
        lo, hi = self.window(fab, effects)
        g = clip_window(g_target, lo, hi)
        if effects.write_noise:
            g = g + self.prog_sigma(g) * _rnd.normal(k_prog, g.shape)
        g = jnp.maximum(g, 0.0)
        return {"g": g, "key_time": k_relax, **self.initial_cycles(g.shape, g.dtype)}

    def relax_sigma(self, t):
        return self.relax_sigma_per_decade * jnp.log10(1.0 + t / self.relax_t_ref)

    def conductance(self, fab, state, t, *, effects: Effects, temperature=None):
        """The mean conductance a read sees `t` seconds after programming, at
        `temperature` [K] (default: the card's; time is rescaled by `thermal_time`),
        stuck and worn-out cells applied."""
        g = state["g"]
        if effects.drift and not after_programming(t):
            z = _rnd.normal(state["key_time"], g.shape, g.dtype)
            g = jnp.maximum(g + self.relax_sigma(self.thermal_time(t, temperature)) * z, 0.0)
        return self.apply_stuck(fab, g, effects, state.get("cycles"))

    def read_std(self, fab, state, g_t, t, *, effects: Effects):
        return jnp.broadcast_to(self.read_sigma, g_t.shape)

    # ------------------------------------------------------------------ pulses
    def rates(self, fab, effects: Effects):
        """``(1/a_LTP, 1/a_LTD)``: each device's (d2d on) or the card's curve rates."""
        if effects.d2d:
            return fab["inv_a_ltp"], fab["inv_a_ltd"]
        return _rate_of_nl(self.nl_ltp), _rate_of_nl(self.nl_ltd)

    def pulse(self, fab, state, n, *, key, effects: Effects = ALL_EFFECTS):
        """Apply `n` identical write pulses per cell (n > 0: SET / potentiation, n < 0:
        RESET / depression; an integer array broadcastable to the cells). Returns
        ``(state, energy)``, energy per cell in joules.

        Noise free, n pulses move the cell along its NeuroSim curve in closed form
        (module docstring) from its conductance clipped to its worn window. With
        `effects.write_noise`, Gaussian cycle-to-cycle noise of std
        ``c2c_sigma·(hi − lo)·sqrt(|n|)`` is added (NeuroSim's per-update model; ``hi − lo``
        the cell's fabricated window, the std times ``wear(...)["c2c"]`` with
        `effects.wear`), and the result is clipped to the worn window at the new
        cycle count. ``state["cycles"]`` grows by ``|n|``; cells with n = 0 are left
        exactly as they were.

        Energy (NeuroSim, `Cell.cpp`): ``|n|·V_w²·½(G_before + G_after)·t_p`` with
        (`v_set`, `t_set`) for SET and (`v_reset`, `t_reset`) for RESET pulses, G_before
        and G_after the cell's conductance before and after the call. For one pulse it
        is that pulse's energy; for many it is NeuroSim's trapezoid over the call (exact
        for a linear curve that stays inside the window). The wire-charging term
        ``V_w²·C_wire`` belongs to the array, not to the cell.
        """
        g0 = state["g"]
        n = pulse_counts("RRAM.pulse", n, g0.shape)
        nf = n.astype(g0.dtype)
        m = jnp.abs(nf)
        counted = self.add_cycles(state, m)
        cycles = counted["cycles"]
        lo, hi = self.window(fab, effects)
        lo_w, hi_w = self.worn_window(fab, effects, cycles)
        span = hi - lo
        r_ltp, r_ltd = self.rates(fab, effects)
        up = n > 0
        r, consts = _select(up, r_ltp, r_ltd)
        y0 = (clip_window(g0, lo_w, hi_w) - lo) / span
        y = _curve_step(y0, jnp.clip(nf / self.p_max, -_DU_MAX, _DU_MAX), r, consts)
        g = clip_window(lo + span * y, lo_w, hi_w)
        if effects.write_noise:
            sigma = self.c2c_sigma * span * jnp.sqrt(m)
            if effects.wear:
                sigma = sigma * self.wear(fab, cycles)["c2c"]
            g = clip_window(g + sigma * _rnd.normal(key, g.shape, g.dtype), lo_w, hi_w)
        g = jnp.where(n == 0, g0, g).astype(g0.dtype)
        v2t = jnp.where(up, self.v_set**2 * self.t_set, self.v_reset**2 * self.t_reset)
        energy = m * v2t * 0.5 * (g0 + g)
        return {**state, "g": g, **counted}, energy.astype(jnp.result_type(float))

    def pulses_for(self, fab, state, g_target, *, effects: Effects | None = None):
        """The signed pulse count (int32) that takes each cell from ``state["g"]`` to
        `g_target` [S] without noise: the inverse of the pulse curve, rounded to the
        nearest pulse (n > 0 LTP, n < 0 LTD), with the target clipped to the window.

        `effects` None: the card's nominal model (window ``[g_min, g_max]``, the card's
        NL), what a programmer who knows only the card computes. Given `effects`: each
        cell's own fabricated curve and worn window."""
        g0 = state["g"]
        shape = jnp.broadcast_shapes(g0.shape, jnp.shape(g_target))
        if effects is None:
            lo, hi = self.g_min, self.g_max
            lo_w, hi_w = lo, hi
            r_ltp, r_ltd = _rate_of_nl(self.nl_ltp), _rate_of_nl(self.nl_ltd)
        else:
            lo, hi = self.window(fab, effects)
            lo_w, hi_w = self.worn_window(fab, effects, state.get("cycles", jnp.ones(g0.shape, g0.dtype)))
            r_ltp, r_ltd = self.rates(fab, effects)
        span = hi - lo
        y0 = (clip_window(g0, lo_w, hi_w) - lo) / span
        y1 = (clip_window(jnp.asarray(g_target, g0.dtype), lo_w, hi_w) - lo) / span
        r = jnp.where(y1 > y0, r_ltp, r_ltd)
        n = jnp.round(self.p_max * _curve_distance(y0, y1, r))
        return jnp.broadcast_to(n, shape).astype(jnp.int32)

    def write_time(self, n):
        """Time the pulses `n` take per cell [s]: ``|n|·t_set`` (n > 0) or ``|n|·t_reset``."""
        n = jnp.asarray(n)
        return jnp.where(n > 0, n * self.t_set, -n * self.t_reset)
