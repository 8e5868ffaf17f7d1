"""Spike-timing-dependent plasticity with synaptic traces: pair-based and triplet rules
(Pfister & Gerstner, J. Neurosci. 26, 9673 (2006)), all-to-all or nearest-spike trace
interaction, and additive or multiplicative (soft-bound) weight dependence.

The rule is stepped in discrete time, one call per simulation step of length `dt`, on a
weight matrix ``w`` of shape ``(n_pre, n_post)`` (any leading batch axes are the caller's
to `vmap`). Per step, in this order:

1. every trace decays by ``exp(−dt/τ)`` (exact for the continuous-time exponential
   between steps);
2. **depression** at each presynaptic spike: ``Δw_ij −= (A2⁻ + A3⁻·r2_i)·o1_j``, with
   ``o1`` the postsynaptic trace (τ₋) and ``r2`` the slow presynaptic trace (τ_x) as
   they were *before* this step's spikes were added;
3. **potentiation** at each postsynaptic spike: ``Δw_ij += (A2⁺ + A3⁺·o2_j)·r1_i``, with
   ``r1`` the presynaptic trace (τ₊) *including* this step's presynaptic spikes (a pre
   and a post spike in the same step count as pre-before-post, Δt = 0⁺) and ``o2`` the
   slow postsynaptic trace (τ_y) before this step's spike;
4. the spikes are added to the traces: ``+1`` (all-to-all interaction) or set to 1
   (nearest-spike).

With ``A3⁺ = A3⁻ = 0`` this is the pair rule: one pre spike at t and one post spike at
``t + Δt`` change the weight by ``A2⁺·exp(−Δt/τ₊)`` for Δt ≥ 0 and by
``−A2⁻·exp(Δt/τ₋)`` for Δt < 0 (times on the step grid). Weight dependence scales the
two terms: ``"additive"`` — ``η·(w_max − w_min)`` per unit of A, then clipped to
``[w_min, w_max]``; ``"multiplicative"`` — potentiation times ``((w_max − w)/(w_max − w_min))^μ``
and depression times ``((w − w_min)/(w_max − w_min))^μ`` (soft bounds; μ = 1 is the
multiplicative rule of van Rossum et al. 2000, and with it no update leaves the bounds).

`stdp_step` returns the weight *increment* as well as the new weights, so that the
increment can be turned into device pulses instead of being added to ideal weights.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["STDPRule", "STDPTraces", "stdp_init", "stdp_step", "WEIGHT_DEPENDENCES", "INTERACTIONS"]

WEIGHT_DEPENDENCES = ("additive", "multiplicative")
INTERACTIONS = ("all_to_all", "nearest")


@dataclasses.dataclass(frozen=True, kw_only=True)
class STDPRule:
    """Parameters of a trace STDP rule (times in seconds, amplitudes per spike pair as a
    fraction of the weight range ``w_max − w_min``, times `eta`).

    Defaults: the pair rule with τ₊ = τ₋ = 20 ms, A2⁺ = 0.01, A2⁻ = 0.0105 (slightly
    depression-dominated, as in Song, Miller & Abbott 2000). For the triplet rule set
    `a3_plus` / `a3_minus` and `tau_x` / `tau_y` (Pfister & Gerstner 2006, Table 4,
    visual cortex all-to-all fit: τ₊ = 16.8 ms, τ₋ = 33.7 ms, τ_x = 101 ms,
    τ_y = 125 ms, A2⁺ = 5e-10, A3⁺ = 6.2e-3, A2⁻ = 7e-3, A3⁻ = 2.3e-4)."""

    tau_plus: float = 20e-3
    tau_minus: float = 20e-3
    a2_plus: float = 0.01
    a2_minus: float = 0.0105
    a3_plus: float = 0.0
    a3_minus: float = 0.0
    tau_x: float = 101e-3
    tau_y: float = 125e-3
    eta: float = 1.0
    w_min: float = 0.0
    w_max: float = 1.0
    dependence: str = "additive"
    mu: float = 1.0
    interaction: str = "all_to_all"

    def __post_init__(self) -> None:
        for name in ("tau_plus", "tau_minus", "tau_x", "tau_y"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                raise ValueError(f"STDPRule.{name}: expected a positive time in seconds, got {v!r}")
        for name in ("a2_plus", "a2_minus", "a3_plus", "a3_minus", "eta", "mu"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0):
                raise ValueError(f"STDPRule.{name}: expected a finite value >= 0, got {v!r}")
        if not (math.isfinite(self.w_min) and math.isfinite(self.w_max) and self.w_min < self.w_max):
            raise ValueError(f"STDPRule.w_max: expected a finite value > w_min ({self.w_min}), got {self.w_max!r}")
        if self.dependence not in WEIGHT_DEPENDENCES:
            raise ValueError(
                f"STDPRule.dependence: expected one of {list(WEIGHT_DEPENDENCES)}, got {self.dependence!r}"
            )
        if self.interaction not in INTERACTIONS:
            raise ValueError(f"STDPRule.interaction: expected one of {list(INTERACTIONS)}, got {self.interaction!r}")

    @property
    def triplet(self) -> bool:
        return self.a3_plus > 0 or self.a3_minus > 0


class STDPTraces(NamedTuple):
    """Synaptic traces: presynaptic ``r1`` (τ₊), ``r2`` (τ_x), shape ``(n_pre,)``;
    postsynaptic ``o1`` (τ₋), ``o2`` (τ_y), shape ``(n_post,)``."""

    r1: jax.Array
    r2: jax.Array
    o1: jax.Array
    o2: jax.Array


def stdp_init(n_pre: int, n_post: int, dtype=None) -> STDPTraces:
    """All traces at zero."""
    for name, v in (("n_pre", n_pre), ("n_post", n_post)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    dtype = dtype or jnp.result_type(float)
    pre, post = jnp.zeros((n_pre,), dtype), jnp.zeros((n_post,), dtype)
    return STDPTraces(pre, pre, post, post)


def _spikes(name, s, n):
    s = jnp.asarray(s)
    if s.shape != (n,):
        raise ValueError(f"{name}: expected spikes of shape ({n},), got {s.shape}")
    return s.astype(jnp.result_type(float)) if s.dtype == bool else s


def stdp_step(rule: STDPRule, traces: STDPTraces, w, pre_spikes, post_spikes, *, dt: float):
    """One step of `rule` (module docstring) for presynaptic spikes ``(n_pre,)`` and
    postsynaptic spikes ``(n_post,)`` (0/1 or bool) on weights ``w`` ``(n_pre, n_post)``.

    Returns ``(traces, w_new, dw)``: the updated traces, the new weights (clipped to
    ``[w_min, w_max]``) and the increment ``dw = w_new − w`` that a device model can
    turn into pulses."""
    if not (isinstance(dt, (int, float)) and not isinstance(dt, bool) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt: expected a positive step in seconds, got {dt!r}")
    w = jnp.asarray(w)
    n_pre, n_post = traces.r1.shape[0], traces.o1.shape[0]
    if w.shape != (n_pre, n_post):
        raise ValueError(f"w: expected shape (n_pre, n_post) = ({n_pre}, {n_post}) from the traces, got {w.shape}")
    pre = _spikes("pre_spikes", pre_spikes, n_pre)
    post = _spikes("post_spikes", post_spikes, n_post)

    def decay(x, tau):
        return x * math.exp(-dt / tau)

    r1, r2 = decay(traces.r1, rule.tau_plus), decay(traces.r2, rule.tau_x)
    o1, o2 = decay(traces.o1, rule.tau_minus), decay(traces.o2, rule.tau_y)

    def add(x, s):
        return x + s if rule.interaction == "all_to_all" else jnp.where(s > 0, 1.0, x)

    r1_new = add(r1, pre)
    # depression at pre spikes (post traces before this step's post spikes), potentiation
    # at post spikes (pre trace including this step's pre spikes)
    ltd = jnp.outer(pre * (rule.a2_minus + rule.a3_minus * r2), o1)
    ltp = jnp.outer(r1_new, post * (rule.a2_plus + rule.a3_plus * o2))
    span = rule.w_max - rule.w_min
    if rule.dependence == "additive":
        change = rule.eta * span * (ltp - ltd)
    else:
        up = jnp.clip((rule.w_max - w) / span, 0.0, 1.0) ** rule.mu
        down = jnp.clip((w - rule.w_min) / span, 0.0, 1.0) ** rule.mu
        change = rule.eta * span * (ltp * up - ltd * down)
    w_new = jnp.clip(w + change, rule.w_min, rule.w_max)
    traces = STDPTraces(r1_new, add(r2, pre), add(o1, post), add(o2, post))
    return traces, w_new, w_new - w
