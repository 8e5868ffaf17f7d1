"""Figures of sweep results: accuracy against the swept axes."""

from __future__ import annotations

import numpy as np

from ._plots import _axes

__all__ = ["plot_sweep_lines", "plot_sweep_heatmap", "sweep_figure", "sweep_axes"]

_LABELS = {
    "adc_bits": "ADC bits",
    "dac_bits": "DAC bits (0 = spike drivers)",
    "adc_range": "ADC full scale [fraction of a tile's largest current]",
    "r_wire": "wire resistance per cell [Ω]",
    "t": "time since programming [s]",
    "endurance_cycles": "write cycles before programming",
    "tile_rows": "tile rows",
    "tile_cols": "tile columns",
}
_SPREAD = ("chip",)  # axes drawn as spread, not as a coordinate


def _label(axis: str) -> str:
    if axis.startswith("device."):
        return f"card parameter {axis[len('device.') :]}"
    return _LABELS.get(axis, axis)


def sweep_axes(rows) -> list[str]:
    """The swept axes of `rows` (results of `xbar.sweep.run`/`read_results`) that are
    drawn as coordinates: every axis column except `chip` (drawn as spread)."""
    fixed = {"point", "accuracy", "correct", "n_test", "seed", "seconds", "xbar_version", "jax_version", "backend",
             "devices"}  # fmt: skip
    return [k for k in (rows[0] if rows else {}) if k not in fixed and k not in _SPREAD]


def _stats(rows, keys):
    """Mean, std, min, max of accuracy [%] over the points that share `keys` values."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(100.0 * float(r["accuracy"]))
    return {k: (np.mean(v), np.std(v), np.min(v), np.max(v), len(v)) for k, v in groups.items()}


def _log_scale(values) -> bool:
    v = np.asarray(values, float)
    return bool(np.all(v > 0) and v.max() / v.min() >= 100)


def plot_sweep_lines(rows, x: str, hue: str | None = None, ax=None, ideal=None):
    """Accuracy [%] vs the axis `x`: the mean over chips (and any axis not drawn) with a
    ±1 std band and min–max as thin dotted lines; one line per value of `hue`.
    `ideal`: the software accuracy (a fraction), drawn as a dashed line."""
    ax = _axes(ax)
    if not rows:
        raise ValueError("rows: expected sweep results, got none")
    for name in (x, hue):
        if name is not None and name not in rows[0]:
            raise ValueError(f"axis: expected one of {sweep_axes(rows)}, got {name!r}")
    hues = sorted({r[hue] for r in rows}) if hue else [None]
    for h in hues:
        sub = [r for r in rows if hue is None or r[hue] == h]
        st = _stats(sub, [x])
        xs = sorted(st)
        mean = np.array([st[k][0] for k in xs])
        std = np.array([st[k][1] for k in xs])
        xv = np.array([k[0] for k in xs], float)
        (line,) = ax.plot(xv, mean, marker="o", label=None if hue is None else f"{_label(hue)} = {h:g}")
        ax.fill_between(xv, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
        ax.plot(xv, [st[k][2] for k in xs], color=line.get_color(), lw=0.7, ls=":")
        ax.plot(xv, [st[k][3] for k in xs], color=line.get_color(), lw=0.7, ls=":")
    if ideal is not None:
        ax.axhline(100.0 * ideal, color="k", ls="--", lw=1, label="ideal (software)")
    if _log_scale([r[x] for r in rows]):
        ax.set_xscale("log")
    ax.set_xlabel(_label(x))
    ax.set_ylabel("test accuracy [%]")
    ax.grid(True, alpha=0.3)
    if hue is not None or ideal is not None:
        ax.legend(fontsize="small")
    return ax


def plot_sweep_heatmap(rows, x: str, y: str, ax=None):
    """Mean accuracy [%] over chips on the grid of two axes, each cell labelled."""
    ax = _axes(ax)
    st = _stats(rows, [x, y])
    xs = sorted({k[0] for k in st})
    ys = sorted({k[1] for k in st})
    grid = np.full((len(ys), len(xs)), np.nan)
    for (a, b), s in st.items():
        grid[ys.index(b), xs.index(a)] = s[0]
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=np.nanmin(grid), vmax=np.nanmax(grid))
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=8, color="w")
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.figure.colorbar(im, ax=ax, label="mean test accuracy [%]")
    return ax


def sweep_figure(rows, meta: dict | None = None):
    """The figure `xbar plot` draws: lines (with spread bands over chips) against the
    first swept axis, one line per value of the second; for two axes also a heat map."""
    import matplotlib.pyplot as plt

    axes = sweep_axes(rows)
    ideal = (meta or {}).get("ideal_accuracy")
    title = (meta or {}).get("spec", {}).get("name")
    if len(axes) == 2:
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4.2))
        plot_sweep_lines(rows, axes[0], axes[1], ax=a0, ideal=ideal)
        plot_sweep_heatmap(rows, axes[0], axes[1], ax=a1)
    else:
        fig, a0 = plt.subplots(figsize=(6, 4.2))
        if axes:
            plot_sweep_lines(rows, axes[0], axes[1] if len(axes) > 1 else None, ax=a0, ideal=ideal)
        else:  # only chips: their accuracies
            acc = [100.0 * float(r["accuracy"]) for r in rows]
            a0.bar(range(len(acc)), acc)
            a0.set_xlabel("chip")
            a0.set_ylabel("test accuracy [%]")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
