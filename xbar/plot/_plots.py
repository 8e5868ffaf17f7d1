"""Matplotlib figures. Each function is ``plot_x(result, ax=None) -> Axes``."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_demo_accuracy", "plot_training", "plot_conductance_histogram"]


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
