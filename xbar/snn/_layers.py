"""Spiking layers: a synapse (ideal matrix or crossbar read path) in front of a neuron.

A layer computes one time step for one sample (`SpikingDense.step`); `jax.lax.scan`
runs time and `jax.vmap` runs the batch. `SpikingDense.run` does both for a whole
sequence: because the synapse is stateless it reads the array once for every time
step and sample (one batched matrix product, with per-tile ADCs), then scans the
neuron — the same numbers as stepping, far fewer passes over the weights. A
feed-forward `Network` runs layer by layer the same way.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._tree import pytree_dataclass
from ..circuit._crossbar import CrossbarArray, mvm
from ._neurons import IF, LIF

__all__ = ["SpikingDense", "Network", "NetworkOutput", "synaptic_current"]


def synaptic_current(synapse, x, *, key=None, t=0.0):
    """Input currents ``W.T @ x`` for a weight matrix ``(n_in, n_out)`` (ideal) or a
    programmed `CrossbarArray` (the read path: DAC, devices at time `t`, read noise,
    per-tile ADCs). `x` has shape ``(..., n_in)``."""
    if isinstance(synapse, CrossbarArray):
        return mvm(synapse, x, key=key, t=t)
    w = jnp.asarray(synapse)
    if w.ndim != 2:
        raise ValueError(f"synapse: expected a weight matrix (n_in, n_out) or a CrossbarArray, got shape {w.shape}")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"x: expected last dimension n_in = {w.shape[0]} to match the synapse, got shape {x.shape}")
    return x @ w


@pytree_dataclass
class SpikingDense:
    """Fully connected spiking layer. **Arguments:** `neuron` (`LIF` or `IF`)."""

    neuron: LIF | IF

    def __post_init__(self) -> None:
        if not isinstance(self.neuron, (LIF, IF)):
            raise TypeError(f"SpikingDense.neuron: expected xbar.snn.LIF or IF, got {type(self.neuron).__name__}")

    def step(self, synapse, mem, x_t, *, key=None, t=0.0):
        """One time step for one sample (or any batch shape): returns ``(mem, spikes)``."""
        return self.neuron.step(mem, synaptic_current(synapse, x_t, key=key, t=t))

    def run(self, synapse, x_seq, *, key=None, t=0.0):
        """Run a sequence ``(T, ..., n_in)``: returns ``(spikes, membranes)``, each
        ``(T, ..., n_out)``."""
        cur = synaptic_current(synapse, x_seq, key=key, t=t)
        mem0 = self.neuron.init(cur.shape[1:], cur.dtype)

        def body(mem, c):
            mem, s = self.neuron.step(mem, c)
            return mem, (s, mem)

        _, (spk, mem) = jax.lax.scan(body, mem0, cur)
        return spk, mem


class NetworkOutput(NamedTuple):
    spikes: tuple  # per layer, (T, ..., n_l)
    membranes: tuple  # per layer, (T, ..., n_l)

    @property
    def out_spikes(self):
        return self.spikes[-1]

    @property
    def counts(self):
        """Output spike counts per sample, ``(..., n_out)``."""
        return self.spikes[-1].sum(axis=0)


@pytree_dataclass
class Network:
    """A feed-forward stack of `SpikingDense` layers, run layer by layer.

    **Arguments:** `layers` (a tuple of `SpikingDense`).
    """

    layers: tuple

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers or not all(isinstance(layer, SpikingDense) for layer in layers):
            raise TypeError("Network.layers: expected a non-empty sequence of xbar.snn.SpikingDense")
        object.__setattr__(self, "layers", layers)

    def run(self, synapses, x_seq, *, key=None, t=0.0) -> NetworkOutput:
        """Run inputs ``(T, ..., n_in)`` through every layer. `synapses` holds one weight
        matrix or programmed `CrossbarArray` per layer; `key` feeds read noise."""
        synapses = tuple(synapses)
        if len(synapses) != len(self.layers):
            raise ValueError(f"synapses: expected {len(self.layers)} (one per layer), got {len(synapses)}")
        keys = jax.random.split(key, len(self.layers)) if key is not None else [None] * len(self.layers)
        spikes, mems = [], []
        h = x_seq
        for layer, syn, k in zip(self.layers, synapses, keys):
            h, m = layer.run(syn, h, key=k, t=t)
            spikes.append(h)
            mems.append(m)
        return NetworkOutput(tuple(spikes), tuple(mems))
