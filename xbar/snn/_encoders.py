"""Spike encoders: turn intensities in [0, 1] into spike trains of shape (T, ...)."""

from __future__ import annotations

import jax.numpy as jnp

from .. import _random as _rnd

__all__ = ["rate", "latency", "LATENCY_CODES"]

LATENCY_CODES = ("linear", "log")


def _check_steps(num_steps) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps: expected a positive int, got {num_steps!r}")
    return num_steps


def rate(x, num_steps: int, *, key, gain=1.0):
    """Bernoulli rate code: at every step each input spikes with probability
    ``clip(gain·x, 0, 1)`` (discrete-time Poisson). Returns ``(num_steps, *x.shape)``."""
    _check_steps(num_steps)
    x = jnp.asarray(x)
    p = jnp.clip(gain * x, 0.0, 1.0)
    u = _rnd.uniform(key, (num_steps,) + x.shape, dtype=p.dtype if jnp.issubdtype(p.dtype, jnp.floating) else None)
    return (u < p).astype(u.dtype)


def latency(x, num_steps: int, *, code: str = "linear", tau=5.0, threshold=0.01):
    """Time-to-first-spike code: one spike per input, earlier for larger inputs.

    * ``code="linear"``: spike at step ``round((1 − x)·(num_steps − 1))``.
    * ``code="log"``: spike at step ``round(tau·ln(x/(x − threshold)))`` (the charging
      time of an RC neuron driven by ``x`` to ``threshold``); spikes later than the
      window are dropped.

    Inputs at or below `threshold` do not spike. Returns ``(num_steps, *x.shape)``.
    """
    _check_steps(num_steps)
    if code not in LATENCY_CODES:
        raise ValueError(f"code: expected one of {LATENCY_CODES}, got {code!r}")
    if not (isinstance(tau, (int, float)) and tau > 0) and not hasattr(tau, "shape"):
        raise ValueError(f"tau: expected a positive time constant in steps, got {tau!r}")
    if isinstance(threshold, (int, float)) and not (0 <= threshold < 1):
        raise ValueError(f"threshold: expected a value in [0, 1), got {threshold!r}")
    x = jnp.asarray(x, dtype=jnp.result_type(float))
    fires = x > threshold
    if code == "linear":
        t_spike = jnp.round((1.0 - jnp.clip(x, 0.0, 1.0)) * (num_steps - 1))
    else:
        safe = jnp.where(fires, x, 2.0 * threshold)
        t_spike = jnp.round(tau * jnp.log(safe / (safe - threshold)))
    steps = jnp.arange(num_steps, dtype=x.dtype).reshape((num_steps,) + (1,) * x.ndim)
    return ((steps == t_spike) & fires).astype(x.dtype)
