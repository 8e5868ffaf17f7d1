"""Matplotlib figures. Each function is ``plot_x(result, ax=None) -> Axes``."""

from __future__ import annotations

import numpy as np

__all__ = [
    "plot_demo_accuracy",
    "plot_training",
    "plot_conductance_histogram",
    "plot_cell_voltages",
    "plot_current_error",
]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def plot_demo_accuracy(result: dict, ax=None):
    """Bar chart of test accuracy per device: hardware-in-the-loop trained weights vs
    ideally trained weights, error bars = spread (std) over fabricated chips."""
    ax = _axes(ax)
    rows = result["rows"]
    labels = [r["label"] for r in rows]
    x = np.arange(len(rows))
    width = 0.38
    hil = np.array([r["acc"] for r in rows]) * 100
    hil_sd = np.array([r["acc_std"] for r in rows]) * 100
    naive = np.array([r.get("naive_acc", np.nan) for r in rows]) * 100
    naive_sd = np.array([r.get("naive_acc_std", 0.0) for r in rows]) * 100
    ax.bar(x - width / 2, hil, width, yerr=hil_sd, capsize=3, label="trained with RRAM in the loop", color="#1f77b4")
    ax.bar(x + width / 2, naive, width, yerr=naive_sd, capsize=3, label="trained ideal (naive)", color="#bbbbbb")
    ax.axhline(result["ideal_acc"] * 100, color="k", lw=1, ls="--", label="HIL weights, ideal hardware")
    ax.set_xticks(x, labels, rotation=20, ha="right")
    lo = max(0.0, min(np.nanmin(hil), np.nanmin(naive)) - 10)
    ax.set_ylim(lo, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result['dataset']}: SNN accuracy on memristive crossbars", pad=30)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    return ax


def plot_training(history: dict, ax=None):
    """Training loss and accuracy per epoch."""
    ax = _axes(ax)
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], color="C3", label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="C3")
    ax2 = ax.twinx()
    ax2.plot(epochs, np.array(history["acc"]) * 100, color="C0", label="train accuracy")
    ax2.set_ylabel("train accuracy (%)", color="C0")
    ax.set_title("hardware-in-the-loop training")
    return ax


def plot_conductance_histogram(conductances: dict, ax=None, bins: int = 100):
    """Histogram of programmed conductances [µS], one curve per plane."""
    ax = _axes(ax)
    for name, g in conductances.items():
        ax.hist(np.asarray(g).ravel() * 1e6, bins=bins, histtype="step", label=name)
    ax.set_xlabel("conductance (µS)")
    ax.set_ylabel("cells")
    ax.legend()
    return ax


def _heat(ax, data, title, label, cmap):
    im = ax.imshow(data, cmap=cmap, aspect="auto", origin="upper", interpolation="nearest")
    ax.set_xlabel("column j (sensed at the bottom)")
    ax.set_ylabel("row i (driven at the left)")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, label=label)
    return ax


def plot_cell_voltages(solution, v=None, ax=None, index: int = 0):
    """Heat map of the voltage across each cell of a solved array (an
    `xbar.circuit.CircuitSolution`). With the applied voltage `v` (the row voltages of an
    MVM read, or the read/write voltage of a selected-cell scheme), shows the fraction of
    it the cell actually sees; otherwise volts. `index` picks the input vector of a
    batch. A selected cell is circled: under the V/2 scheme its row and column show the
    half-selected cells at about 0.5."""
    ax = _axes(ax)
    vc = np.asarray(solution.cell_voltages)
    if vc.ndim == 3:
        vc = vc[index]
    select = getattr(solution, "select", None)
    if v is None:
        ax = _heat(ax, vc, "voltage across each cell", "V", "viridis")
    else:
        v = np.asarray(v, dtype=float)
        if select is not None:  # one read/write voltage per input vector
            v = v.reshape(-1)[index] if v.ndim else v
            scale = np.full(vc.shape[0], float(v))
        else:
            scale = v[index] if v.ndim == 2 else v
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(scale[:, None] != 0, vc / scale[:, None], np.nan)
        title = "cell voltage / applied voltage" if select is not None else "cell voltage / applied row voltage"
        ax = _heat(ax, frac, title, "fraction", "viridis")
    if select is not None:
        i, j = select
        ax.plot([j], [i], marker="o", markersize=12, markerfacecolor="none", markeredgecolor="red")
    return ax


def plot_current_error(currents, ideal, ax=None):
    """Per-column relative error of the column currents against the ideal ``v @ g``
    (line plot for one input vector; heat map over a batch of them)."""
    ax = _axes(ax)
    cur, ide = np.asarray(currents), np.asarray(ideal)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = (cur - ide) / np.abs(ide)
    if err.ndim == 1:
        ax.plot(np.arange(err.size), 100 * err, marker=".")
        ax.set_xlabel("column j")
        ax.set_ylabel("current error vs ideal (%)")
        ax.set_title("column current error from line resistance")
        return ax
    return _heat(ax, 100 * err, "column current error vs ideal", "%", "magma")
