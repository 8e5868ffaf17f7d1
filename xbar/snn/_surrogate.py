"""Surrogate gradients for the spike nonlinearity.

The forward pass is the Heaviside step ``S = H(x) = 1[x > 0]`` of ``x = U − θ``; the
backward pass replaces ``dS/dx`` by a smooth pseudo-derivative:

================  ==============================================  ==============================
name              dS/dx                                           same as
================  ==============================================  ==============================
fast_sigmoid(k)   ``1/(k|x| + 1)²``                               snnTorch ``fast_sigmoid(slope=k)``,
                                                                  Spyx/Norse/jaxsnn ``superspike(k)``
arctan(a)         ``(a/2)/(1 + (π a x/2)²)``, the derivative of   snnTorch ``atan(alpha=a)``
                  ``arctan(π a x/2)/π + 1/2``
triangle(k)       ``k·max(0, 1 − k|x|)`` (unit area)              Norse ``triangle`` with k = 1
================  ==============================================  ==============================

Each is a frozen pytree whose parameter is an array leaf (so it can be swept); the
parameter receives no gradient.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import as_float_leaf, is_concrete, pytree_dataclass, static_field

__all__ = ["Surrogate", "fast_sigmoid", "arctan", "triangle", "spike", "SURROGATES"]

SURROGATES = ("fast_sigmoid", "arctan", "triangle")


def _pseudo_derivative(kind: str, x, k):
    if kind == "fast_sigmoid":
        return 1.0 / (k * jnp.abs(x) + 1.0) ** 2
    if kind == "arctan":
        return (k / 2.0) / (1.0 + (jnp.pi * k * x / 2.0) ** 2)
    if kind == "triangle":
        return k * jnp.maximum(0.0, 1.0 - k * jnp.abs(x))
    raise ValueError(f"surrogate kind: expected one of {SURROGATES}, got {kind!r}")


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _spike(kind: str, x, k):
    return (x > 0).astype(x.dtype)


def _spike_fwd(kind, x, k):
    return (x > 0).astype(x.dtype), (x, k)


def _spike_bwd(kind, res, g):
    x, k = res
    return g * _pseudo_derivative(kind, x, k).astype(g.dtype), jnp.zeros_like(k)


_spike.defvjp(_spike_fwd, _spike_bwd)


@pytree_dataclass
class Surrogate:
    """A spike function with a surrogate gradient. Build with `fast_sigmoid`,
    `arctan` or `triangle`; call as ``surrogate(x)`` on ``x = U − θ``."""

    kind: str = static_field()
    k: jax.Array

    def __post_init__(self) -> None:
        if self.kind not in SURROGATES:
            raise ValueError(f"Surrogate.kind: expected one of {SURROGATES}, got {self.kind!r}")
        k = as_float_leaf(self.k, f"{self.kind} slope")
        object.__setattr__(self, "k", k)
        if is_concrete(k) and not np.all(np.asarray(k) > 0):
            raise ValueError(f"{self.kind}: expected a positive slope parameter, got {self.k}")

    def __call__(self, x):
        return _spike(self.kind, x, jnp.asarray(self.k, x.dtype))

    def derivative(self, x):
        """The pseudo-derivative dS/dx used in the backward pass."""
        return _pseudo_derivative(self.kind, x, self.k)


def fast_sigmoid(slope=25.0) -> Surrogate:
    """SuperSpike / fast sigmoid: ``dS/dx = 1/(slope·|x| + 1)²``."""
    return Surrogate(kind="fast_sigmoid", k=slope)


def arctan(alpha=2.0) -> Surrogate:
    """Arctangent: ``dS/dx = (alpha/2)/(1 + (π·alpha·x/2)²)``."""
    return Surrogate(kind="arctan", k=alpha)


def triangle(slope=1.0) -> Surrogate:
    """Triangle (unit area): ``dS/dx = slope·max(0, 1 − slope·|x|)``."""
    return Surrogate(kind="triangle", k=slope)


def spike(x, surrogate: Surrogate | None = None):
    """Heaviside step of `x` with the given surrogate gradient (default fast sigmoid, 25)."""
    return (surrogate or fast_sigmoid())(x)
