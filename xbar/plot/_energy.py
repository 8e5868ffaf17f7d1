"""Figures of energy and of predicted vs measured read error."""

from __future__ import annotations

import numpy as np

from ._plots import _axes

__all__ = ["plot_energy_breakdown", "plot_error_prediction"]

_STAGE_LABELS = {"array": "array reads", "dac": "row drivers", "adc": "ADCs", "neuron": "neuron updates",
                 "spike": "spikes", "write": "writes"}  # fmt: skip


def plot_energy_breakdown(reports, ax=None, unit: str = "nJ"):
    """Stacked bars of energy per stage, one bar per report.

    `reports`: a dict ``label -> xbar.energy.EnergyReport`` (e.g. one per device card);
    `unit`: ``"pJ"``, ``"nJ"`` or ``"uJ"``. Stages that are zero in every report are left
    out; the ADC share is written above each bar."""
    ax = _axes(ax)
    scales = {"pJ": 1e12, "nJ": 1e9, "uJ": 1e6}
    if unit not in scales:
        raise ValueError(f"unit: expected one of {list(scales)}, got {unit!r}")
    if not isinstance(reports, dict) or not reports:
        raise TypeError("reports: expected a non-empty dict label -> EnergyReport")
    labels = list(reports)
    stages = [s for s in _STAGE_LABELS if any(float(np.sum(getattr(r, s))) > 0 for r in reports.values())]
    bottom = np.zeros(len(labels))
    for stage in stages:
        vals = np.array([float(np.sum(getattr(reports[k], stage))) for k in labels]) * scales[unit]
        ax.bar(labels, vals, bottom=bottom, label=_STAGE_LABELS[stage])
        bottom += vals
    for i, k in enumerate(labels):
        ax.annotate(f"ADC {float(reports[k].adc_share):.0%}", (i, bottom[i]), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(f"energy per inference [{unit}]")
    ax.set_ylim(0, bottom.max() * 1.12)
    ax.legend(fontsize=8)
    return ax


def plot_error_prediction(x, predicted, measured, ax=None, xlabel: str = "", logx: bool = False, label=None):
    """Predicted error std (line) against a Monte Carlo or exact measurement (markers) over
    a swept parameter `x` — array size, wire resistance, ADC bits or time."""
    ax = _axes(ax)
    x = np.asarray(x, float)
    (line,) = ax.plot(x, np.asarray(predicted, float), lw=1.5, label=None if label is None else f"{label}: predicted")
    ax.plot(x, np.asarray(measured, float), "o", color=line.get_color(), mfc="none",
            label=None if label is None else f"{label}: measured")  # fmt: skip
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("error std [weight units]")
    ax.grid(True, alpha=0.3)
    if label is not None:
        ax.legend(fontsize=8)
    return ax
