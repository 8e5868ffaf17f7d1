"""Device figures: pulse response, conductance against time, window against cycles.
Each function draws a result of `xbar.devices.pulse_response`, `retention_curves` or
`endurance_curves`; `device_figure` computes all three for a card and draws them."""

from __future__ import annotations

from ._plots import _axes

__all__ = ["plot_pulse_response", "plot_retention", "plot_endurance", "device_figure"]

_US = 1e6  # siemens -> microsiemens


def _band(ax, x, g, color, label):
    ax.plot(x, g["mean"] * _US, color=color, lw=1.5, label=label)
    ax.fill_between(x, g["lo"] * _US, g["hi"] * _US, color=color, alpha=0.25, lw=0)


def plot_pulse_response(resp: dict, ax=None):
    """Mean conductance and its 5–95 % band over cells after each pulse: potentiation
    (``n = +1``) then depression (``n = −1``; PCM: RESET)."""
    ax = _axes(ax)
    x, g, n_up = resp["pulse"], resp["g"], resp["n_up"]
    up = slice(0, n_up + 1)
    down = slice(n_up, len(x))
    _band(ax, x[up], {k: v[up] for k, v in g.items()}, "C0", "potentiate (n = +1)")
    _band(ax, x[down], {k: v[down] for k, v in g.items()}, "C3", "depress (n = -1)")
    ax.axvline(n_up, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("pulse number")
    ax.set_ylabel("conductance (µS)")
    e = resp["energy"]
    ax.set_title(f"{resp['name']}: pulse response")
    ax.legend(
        fontsize=8, frameon=False, title=f"energy/pulse: {e['up']:.2g} J up, {e['down']:.2g} J down", title_fontsize=8
    )
    return ax


def plot_retention(curves: dict, ax=None):
    """Conductance against time since programming (log time) for each programmed level,
    at the card temperature (solid) and the others (dashed), 5–95 % bands."""
    ax = _axes(ax)
    t = curves["t"]
    levels = sorted({c["level"] for c in curves["curves"]})
    temps = []
    for c in curves["curves"]:
        if c["temperature"] not in temps:
            temps.append(c["temperature"])
    for c in curves["curves"]:
        color = f"C{levels.index(c['level'])}"
        k = temps.index(c["temperature"])
        label = f"{c['level']:.0%} of window, " + (
            "card T" if c["temperature"] is None else f"{c['temperature']:.0f} K"
        )
        ax.plot(t, c["g"]["mean"] * _US, color=color, ls="-" if k == 0 else "--", lw=1.5, label=label)
        ax.fill_between(t, c["g"]["lo"] * _US, c["g"]["hi"] * _US, color=color, alpha=0.15 if k == 0 else 0.08, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("time since programming (s)")
    ax.set_ylabel("conductance (µS)")
    ax.set_title(f"{curves['name']}: conductance vs time")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    return ax


def plot_endurance(curves: dict, ax=None):
    """The mean worn window (its low and high ends) against write cycles, and the
    worn-out fraction of cells beside the card's Weibull CDF (right axis)."""
    ax = _axes(ax)
    n = curves["cycles"]
    ax.fill_between(n, curves["lo"] * _US, curves["hi"] * _US, color="C2", alpha=0.3, lw=0, label="window")
    ax.plot(n, curves["lo"] * _US, color="C2", lw=1)
    ax.plot(n, curves["hi"] * _US, color="C2", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("write cycles")
    ax.set_ylabel("conductance window (µS)")
    ax2 = ax.twinx()
    ax2.plot(n, curves["failed"] * 100, color="C3", lw=1.5, label="worn out (Monte Carlo)")
    ax2.plot(n, curves["weibull"] * 100, color="k", lw=1, ls="--", label="card Weibull CDF")
    ax2.set_ylabel("worn-out cells (%)")
    ax2.set_ylim(0, 100)
    ax2.legend(fontsize=8, frameon=False, loc="center left")
    ax.set_title(f"{curves['name']}: endurance")
    return ax


def device_figure(device, *, cells: int = 200, seed: int = 0):
    """A three-panel figure for a device model (or a card name): pulse response,
    conductance vs time at the card temperature and at 85 °C, window vs cycles."""
    import jax
    import matplotlib.pyplot as plt

    from ..devices import endurance_curves, load, pulse_response, retention_curves

    if isinstance(device, str):
        device = load(device)
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    plot_pulse_response(pulse_response(device, cells=cells, key=k1), axes[0])
    plot_retention(retention_curves(device, cells=cells, key=k2), axes[1])
    plot_endurance(endurance_curves(device, cells=max(cells, 2000), key=k3), axes[2])
    fig.tight_layout()
    return fig
