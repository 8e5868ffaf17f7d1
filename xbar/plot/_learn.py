"""Figures of learning results: accuracy over time since programming."""

from __future__ import annotations

import numpy as np

from ._plots import _axes

__all__ = ["plot_accuracy_over_time"]

_TIME_MARKS = (
    (1.0, "1 s"),
    (60.0, "1 min"),
    (3600.0, "1 h"),
    (86400.0, "1 day"),
    (6.048e5, "1 week"),
    (2.592e6, "1 month"),
    (3.156e7, "1 year"),
    (3.156e8, "10 years"),
)


def plot_accuracy_over_time(results, ax=None, labels=None):
    """Accuracy vs time since programming on a log-time axis: the mean over chips with a
    ±1 std band and the min–max range as thin lines, one curve per result.

    `results`: one `xbar.learn.TimeEvaluation` or a sequence of them (e.g. with and
    without drift compensation, or one per device card); `labels`: one per result.
    Times of 0 s are drawn at the smallest positive time shown."""
    ax = _axes(ax)
    if not isinstance(results, (list, tuple)):
        results = [results]
    if labels is None:
        labels = [None] * len(results)
    if len(labels) != len(results):
        raise ValueError(f"labels: expected one per result ({len(results)}), got {len(labels)}")
    t_all = np.concatenate([np.asarray(r.times, float) for r in results])
    floor = t_all[t_all > 0].min() / 3 if np.any(t_all > 0) else 1.0
    for r, label in zip(results, labels, strict=True):
        t = np.maximum(np.asarray(r.times, float), floor)
        mean, std = r.mean * 100, r.std * 100
        acc = np.asarray(r.accuracy) * 100
        (line,) = ax.plot(t, mean, marker="o", label=label)
        ax.fill_between(t, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
        ax.plot(t, acc.min(axis=1), color=line.get_color(), lw=0.7, ls=":")
        ax.plot(t, acc.max(axis=1), color=line.get_color(), lw=0.7, ls=":")
    ax.set_xscale("log")
    lo, hi = t_all.min(), t_all.max()
    marks = [(s, lab) for s, lab in _TIME_MARKS if max(lo, floor) / 1.5 <= s <= hi * 1.5]
    if marks:
        ax.set_xticks([s for s, _ in marks], [lab for _, lab in marks])
    ax.set_xlabel("time since programming")
    ax.set_ylabel("test accuracy [%]")
    ax.grid(True, which="major", alpha=0.3)
    if any(lab is not None for lab in labels):
        ax.legend()
    return ax
