"""Evaluation over fabricated chips and over time since programming: Monte Carlo
accuracy of trained weights on `chips` chips, each fabricated and programmed once and
then read at every time of a time axis (drift, retention and relaxation of the same
programmed state, with the arrays' global drift compensation where their spec has it)."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import check_positive_int
from ._train import _batch_sums, _check_data, _check_specs, _fabricate_all, _program_all, encode, predict

__all__ = ["TimeEvaluation", "evaluate_over_time", "DEFAULT_TIMES"]

DEFAULT_TIMES = (1.0, 60.0, 3600.0, 86400.0, 7 * 86400.0, 30 * 86400.0, 3.156e7)
"""1 s, 1 min, 1 h, 1 day, 1 week, 1 month, 1 year [s]."""


@dataclasses.dataclass(frozen=True)
class TimeEvaluation:
    """Accuracy per read time and chip.

    - `times`: read times after programming [s], shape ``(n_t,)``.
    - `accuracy`: fraction correct, shape ``(n_t, chips)``; the same chips (fabricated
      and programmed once) at every time.
    """

    times: np.ndarray
    accuracy: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Mean accuracy over chips per time, ``(n_t,)``."""
        return self.accuracy.mean(axis=1)

    @property
    def std(self) -> np.ndarray:
        """Standard deviation over chips per time (ddof = 1; 0 for one chip), ``(n_t,)``."""
        if self.accuracy.shape[1] < 2:
            return np.zeros(self.accuracy.shape[0])
        return self.accuracy.std(axis=1, ddof=1)

    def summary(self) -> list[dict]:
        """One dict per time: ``t_s``, ``mean``, ``std``, ``min``, ``max``, ``chips``."""
        return [
            {
                "t_s": float(t),
                "mean": float(m),
                "std": float(s),
                "min": float(a.min()),
                "max": float(a.max()),
                "chips": int(a.size),
            }
            for t, m, s, a in zip(self.times, self.mean, self.std, self.accuracy, strict=True)
        ]


def _check_times(times) -> np.ndarray:
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times: expected a non-empty 1-D sequence of seconds, got shape {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"times: expected finite times >= 0 s, got {t.tolist()}")
    return t


def evaluate_over_time(
    net,
    weights,
    x,
    y,
    *,
    key,
    specs,
    times=DEFAULT_TIMES,
    chips: int = 8,
    chip_batch: int = 1,
    num_steps: int = 25,
    encoder: str = "rate",
    batch_size: int = 512,
) -> TimeEvaluation:
    """Accuracy of `weights` programmed on `chips` fabricated chips and read at each of
    `times` seconds after programming.

    **Arguments:**

    - `net`, `weights`, `x`, `y`: the network, its weight matrices and the test data
      (as for `evaluate`).
    - `specs`: one `CrossbarSpec` per layer. Each spec's effects decide what time does
      (drift, retention, relaxation) and its `drift_compensation` whether outputs are
      rescaled by one global factor measured on the array.
    - `times`: read times [s] (default `DEFAULT_TIMES`, 1 s … 1 year).
    - `chips`: Monte Carlo chips; each is fabricated and programmed once and read at
      every time, so its curve follows one programmed state. Read noise is drawn
      afresh at every time.
    - `chip_batch`: chips evaluated together with `vmap` (more memory, fewer passes);
      the rest run one batch after another.
    - `num_steps`, `encoder`, `batch_size`: as for `evaluate`.

    Returns a `TimeEvaluation` (``accuracy[i, c]``: time i, chip c). With the same
    `key` (and `chips`), ``evaluate(..., t=times[i])`` gives the same chips, so
    programming and fabrication agree between the two; the read noise differs.
    """
    weights = [jnp.asarray(w) for w in weights]
    specs = _check_specs(specs, weights)
    if specs is None:
        raise ValueError("specs: expected one CrossbarSpec per layer (time acts on programmed devices), got None")
    x, y = _check_data(weights, x, y, "x", "y")
    t = _check_times(times)
    chips = check_positive_int("chips", chips)
    chip_batch = min(check_positive_int("chip_batch", chip_batch), chips)
    batch_size = check_positive_int("batch_size", batch_size)
    chip_keys = jax.random.split(key, chips + 1)
    k_data, chip_keys = chip_keys[0], chip_keys[1:]
    t_arr = jnp.asarray(t, dtype=jnp.result_type(float))

    def count(xb, yb, valid, k):
        args = (net, weights, specs, chip_keys, xb, yb, valid, k, t_arr)
        return _counts_over_time(*args, num_steps, encoder, chip_batch)

    total = _batch_sums(x, y, batch_size, k_data, count)
    return TimeEvaluation(times=t, accuracy=np.asarray(total).T / x.shape[0])


@functools.partial(jax.jit, static_argnames=("num_steps", "encoder", "chip_batch"))
def _counts_over_time(net, weights, specs, chip_keys, xb, yb, valid, k_data, times, num_steps, encoder, chip_batch):
    """Correct predictions in one batch, ``(chips, n_t)``: each chip fabricated and
    programmed once (the keys of `evaluate`), then read at every time."""
    x_seq = encode(xb, num_steps, encoder=encoder, key=k_data)
    idx = jnp.arange(times.shape[0])

    def one_chip(k_chip):
        k_fab, k_prog, k_read = jax.random.split(k_chip, 3)
        arrays = _program_all(_fabricate_all(specs, k_fab), weights, k_prog)

        def at(args):
            i, t = args
            out = net.run(arrays, x_seq, key=jax.random.fold_in(k_read, i), t=t)
            return jnp.sum((predict(out) == yb) & valid)

        return jax.lax.map(at, (idx, times))

    return jax.lax.map(one_chip, chip_keys, batch_size=chip_batch if chip_batch > 1 else None)
