"""Spiking neurons: LIF and IF, one time step at a time.

Discrete-time update (snnTorch ``Leaky`` conventions, stated fully because
libraries differ):

* the reset signal comes from the previous step's membrane, ``R[t] = H(U[t−1] − θ)``,
  and is detached (no gradient flows through the reset);
* ``reset="subtract"``: ``U[t] = β·U[t−1] + I[t] − R[t]·θ``;
* ``reset="zero"``: ``U[t] = β·(1 − R[t])·U[t−1] + I[t]`` (the decayed membrane is
  cleared; the new input still integrates);
* ``reset="none"``: ``U[t] = β·U[t−1] + I[t]``;
* the spike is ``S[t] = H(U[t] − θ)`` through the surrogate gradient.

``IF`` is the same neuron with ``β = 1`` (no leak). State is an explicit array (the
membrane); nothing is stored on the neuron object.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import as_float_leaf, is_concrete, pytree_dataclass, static_field
from ._surrogate import Surrogate, fast_sigmoid

__all__ = ["LIF", "IF", "RESETS"]

RESETS = ("subtract", "zero", "none")


def _init_common(neuron, cls_name: str) -> None:
    """Default surrogate, then validate reset, surrogate and threshold."""
    if neuron.surrogate is None:
        object.__setattr__(neuron, "surrogate", fast_sigmoid())
    if neuron.reset not in RESETS:
        raise ValueError(f"{cls_name}.reset: expected one of {RESETS}, got {neuron.reset!r}")
    if not isinstance(neuron.surrogate, Surrogate):
        raise TypeError(
            f"{cls_name}.surrogate: expected an xbar.snn surrogate such as fast_sigmoid(25), "
            f"got {type(neuron.surrogate).__name__}"
        )
    thr = as_float_leaf(neuron.threshold, f"{cls_name}.threshold")
    object.__setattr__(neuron, "threshold", thr)
    if is_concrete(thr) and not np.all(np.asarray(thr) > 0):
        raise ValueError(f"{cls_name}.threshold: expected a positive value, got {neuron.threshold}")


def _step(beta, threshold, reset_mode, surrogate, mem, current):
    thr = jnp.asarray(threshold, mem.dtype)
    if reset_mode == "none":
        mem = beta * mem + current
    else:
        r = jax.lax.stop_gradient((mem > thr).astype(mem.dtype))
        if reset_mode == "subtract":
            mem = beta * mem + current - r * thr
        else:
            mem = beta * (1.0 - r) * mem + current
    return mem, surrogate(mem - thr)


class _Neuron:
    def init(self, shape, dtype=None):
        """Zero membrane of the given shape."""
        return jnp.zeros(shape, dtype or jnp.result_type(float))


@pytree_dataclass
class LIF(_Neuron):
    """Leaky integrate-and-fire neuron.

    **Arguments:** `beta` (membrane decay per step, in ``[0, 1]``; default 0.9),
    `threshold` (default 1.0), `reset` (``"subtract"``, ``"zero"`` or ``"none"``),
    `surrogate` (default ``fast_sigmoid(25)``).
    """

    beta: jax.Array = 0.9
    threshold: jax.Array = 1.0
    reset: str = static_field(default="subtract")
    surrogate: Surrogate = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        beta = as_float_leaf(self.beta, "LIF.beta")
        object.__setattr__(self, "beta", beta)
        if is_concrete(beta) and not np.all((np.asarray(beta) >= 0) & (np.asarray(beta) <= 1)):
            raise ValueError(f"LIF.beta: expected a decay factor in [0, 1], got {self.beta}")
        _init_common(self, "LIF")

    def step(self, mem, current):
        """One time step: ``(U[t−1], I[t]) -> (U[t], S[t])``."""
        return _step(jnp.asarray(self.beta, mem.dtype), self.threshold, self.reset, self.surrogate, mem, current)


@pytree_dataclass
class IF(_Neuron):
    """Integrate-and-fire neuron (no leak, ``β = 1``).

    **Arguments:** `threshold` (default 1.0), `reset` (``"subtract"``, ``"zero"`` or
    ``"none"``), `surrogate` (default ``fast_sigmoid(25)``).
    """

    threshold: jax.Array = 1.0
    reset: str = static_field(default="subtract")
    surrogate: Surrogate = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        _init_common(self, "IF")

    def step(self, mem, current):
        return _step(1.0, self.threshold, self.reset, self.surrogate, mem, current)
