"""Characteristic curves of a device card, computed by Monte Carlo over many cells of
one fabricated chip: the pulse response, conductance against time, and the window
against write cycles. `xbar.plot.plot_pulse_response`, `plot_retention` and
`plot_endurance` draw them; ``xbar devices plot NAME`` draws all three."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._effects import Effects

__all__ = ["pulse_response", "retention_curves", "endurance_curves"]

_BAND = (5.0, 95.0)  # percentiles of the spread bands


def _stats(samples):
    """Mean and the 5th/95th percentiles over the cells (axis 1) of ``(steps, cells)``."""
    x = np.asarray(samples, dtype=float)
    lo, hi = np.percentile(x, _BAND, axis=1)
    return {"mean": x.mean(axis=1), "lo": lo, "hi": hi}


def _fresh(device, cells, key, effects):
    """A fabricated row of cells programmed to the bottom of the window."""
    k_fab, k_prog = jax.random.split(key)
    fab = device.fabricate((cells,), key=k_fab)
    state = device.program(fab, jnp.full((cells,), device.g_min), key=k_prog, effects=effects)
    return fab, state


def pulse_response(device, *, cells: int = 200, n_up: int | None = None, n_down: int | None = None, key, effects=None):
    """Conductance after each of `n_up` potentiating pulses (``n = +1``) from the
    bottom of the window, then `n_down` depressing pulses (``n = −1``; for PCM, RESET),
    over `cells` cells. `n_up` defaults to the nominal pulse count from ``g_min`` to
    ``g_max`` (`pulses_for`, capped at 400) and `n_down` to `n_up`.

    Returns a dict: ``"pulse"`` (pulse index, 0 = start), ``"g"`` (mean / lo / hi
    [S] per pulse, 5–95 % band), ``"n_up"``, ``"n_down"``, ``"energy"`` (mean energy
    of one pulse [J], up and down)."""
    effects = Effects() if effects is None else effects
    effects = effects.without("read_noise")
    k0, k_up, k_down = jax.random.split(key, 3)
    fab, state = _fresh(device, cells, k0, effects)
    if n_up is None:
        n_nom = device.pulses_for(fab, state, jnp.full((cells,), device.g_max))
        n_up = int(np.clip(np.median(np.abs(np.asarray(n_nom).reshape(cells, -1).sum(-1))), 2, 400))
    n_down = n_up if n_down is None else n_down

    def run(state, key, sign, steps):
        def step(state, k):
            n = jnp.full(_cell_or_mtj_shape(state), sign, jnp.int32)
            state, e = device.pulse(fab, state, n, key=k, effects=effects)
            return state, (device.conductance(fab, state, 0.0, effects=effects), jnp.mean(e))

        return jax.lax.scan(step, state, jax.random.split(key, steps))

    g0 = device.conductance(fab, state, 0.0, effects=effects)
    state, (g_up, e_up) = jax.jit(run, static_argnums=(2, 3))(state, k_up, 1, n_up)
    state, (g_down, e_down) = jax.jit(run, static_argnums=(2, 3))(state, k_down, -1, n_down)
    g = np.concatenate([np.asarray(g0)[None], np.asarray(g_up), np.asarray(g_down)])
    return {
        "pulse": np.arange(g.shape[0]),
        "g": _stats(g),
        "n_up": n_up,
        "n_down": n_down,
        "energy": {"up": float(np.mean(e_up)), "down": float(np.mean(e_down))},
        "name": device.name,
        "family": device.family,
    }


def _cell_or_mtj_shape(state):
    return state["s"].shape if "s" in state else state["g"].shape


def retention_curves(
    device, *, t=None, levels=(0.25, 0.5, 0.75), temperatures=(None, 358.15), cells: int = 200, key, effects=None
):
    """Mean conductance and its 5–95 % band against time since programming, for cells
    programmed to `levels` (fractions of the window) at each of `temperatures` [K]
    (``None``: the card's temperature). `t` defaults to 1 s … 10 years.

    Returns ``{"t", "curves": [{"level", "temperature", "g": {mean, lo, hi}}...]}``."""
    effects = Effects() if effects is None else effects
    effects = effects.without("read_noise")
    t = np.logspace(0, np.log10(3.15e8), 40) if t is None else np.asarray(t, float)
    curves = []
    k_fab, k_prog = jax.random.split(key)
    fab = device.fabricate((cells,), key=k_fab)
    for i, level in enumerate(levels):
        target = device.g_min + level * (device.g_max - device.g_min)
        state = device.program(fab, jnp.full((cells,), target), key=jax.random.fold_in(k_prog, i), effects=effects)
        for temp in temperatures:
            g = jax.vmap(lambda tt, st=state, tp=temp: _read_at(device, fab, st, tt, tp, effects))(jnp.asarray(t))
            curves.append({"level": level, "temperature": temp, "g": _stats(g)})
    return {"t": t, "curves": curves, "name": device.name, "family": device.family}


def _read_at(device, fab, state, t, temperature, effects):
    if temperature is None:
        return device.conductance(fab, state, t, effects=effects)
    return device.conductance(fab, state, t, effects=effects, temperature=temperature)


def endurance_curves(device, *, cycles=None, cells: int = 2000, key, effects=None):
    """The window left and the worn-out fraction against write cycles: the mean of
    each cell's worn window ``(lo, hi)`` [S] (for STT-MRAM the device's, its MTJs in
    parallel) and the fraction of failed cells (per MTJ for STT-MRAM), with the
    card's Weibull CDF beside it. `cycles` defaults to 10 … 30 × `endurance_n63`.

    Returns ``{"cycles", "lo", "hi", "failed", "weibull"}``."""
    effects = Effects() if effects is None else effects
    n63 = float(device.endurance_n63)
    cycles = np.logspace(1, np.log10(30 * n63), 60) if cycles is None else np.asarray(cycles, float)
    fab = device.fabricate((cells,), key=key)
    shape = fab["wear"]["on"].shape  # per cell (per MTJ for STT-MRAM)

    def at(n):
        c = jnp.full(shape, n)
        lo, hi = (jnp.broadcast_to(a, shape) for a in device.worn_window(fab, effects, c))
        if len(shape) > 1:  # STT-MRAM: a device's window is the sum over its MTJs
            lo, hi = lo.sum(axis=-1), hi.sum(axis=-1)
        failed = device.wear(fab, c)["failed"]
        return jnp.mean(lo), jnp.mean(hi), jnp.mean(failed.astype(jnp.float32))

    lo, hi, failed = jax.jit(jax.vmap(at))(jnp.asarray(cycles))
    return {
        "cycles": cycles,
        "lo": np.asarray(lo),
        "hi": np.asarray(hi),
        "failed": np.asarray(failed),
        "weibull": np.asarray(device.failure_probability(jnp.asarray(cycles))),
        "name": device.name,
        "family": device.family,
    }
