"""Cell selectors of passive (0T1R / 1S1R) arrays: the current–voltage law of a cell.

A selector object maps the cell conductance ``g`` [S] and the voltage across the cell
``V = u − w`` [V] (row node minus column node) to the cell current [A], and gives its
small-signal conductance ``dI/dV`` (what Newton's method linearizes with). Both laws are
odd and strictly increasing in ``V``, so the nodal equations remain the gradient of a
strictly convex function and have one solution.

- `Sinh`: the combined 1S1R element ``I = g·v0·sinh(V/v0)``: linear (``I ≈ g·V``) for
  ``|V| ≪ v0``; ``v0`` sets the nonlinearity that suppresses half-selected cells.
- `SeriesSinh`: a selector ``I = g0·v0·sinh(Vs/v0)`` in series with the linear cell ``g``
  through an internal node. The internal node is eliminated cell by cell: ``I`` solves
  ``V = I/g + v0·asinh(I/(g0·v0))`` (a scalar monotone equation, by Newton from the
  series small-signal current, which converges monotonically from below), differentiable
  by the implicit-function theorem (`jax.lax.custom_root`).

Parameters are pytree leaves, so `jax.grad` reaches them and `jax.vmap` can sweep them;
construct with keywords (``Sinh(v0=0.2)``). Validation runs at construction only, not when
JAX rebuilds the object from its leaves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import is_concrete, pytree_dataclass

__all__ = ["Sinh", "SeriesSinh", "SELECTORS"]


def _positive(name: str, value):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a positive number, got bool {value!r}")
    if is_concrete(value):
        arr = np.asarray(value, dtype=float)
        if arr.ndim != 0:
            raise ValueError(f"{name}: expected a scalar, got shape {arr.shape}")
        if not (np.isfinite(arr) and arr > 0):
            raise ValueError(f"{name}: expected a finite value > 0, got {float(arr)!r}")


@pytree_dataclass
class Sinh:
    """Combined 1S1R cell ``I = g·v0·sinh(V/v0)``; `v0` [V] > 0 (e.g. 0.1–0.3 V)."""

    v0: float

    def __post_init__(self):
        _positive("Sinh.v0", self.v0)

    def current(self, g, v):
        return g * self.v0 * jnp.sinh(v / self.v0)

    def conductance(self, g, v):
        return g * jnp.cosh(v / self.v0)

    def current_and_conductance(self, g, v):
        return self.current(g, v), self.conductance(g, v)

    @property
    def scale(self):
        """Voltage scale of the nonlinearity (Newton limits each step to a few of it)."""
        return self.v0


def _series_newton(v, g, g0, v0):
    """``I`` with ``I/g + v0·asinh(I/(g0·v0)) = V``: Newton from ``V/(1/g + 1/g0)``, which
    is below the root in magnitude (``asinh x ≤ x``); the function is concave in ``|I|``, so
    the iterates increase monotonically to it."""
    i0 = v / (1.0 / g + 1.0 / g0)
    eps = jnp.finfo(v.dtype).eps

    def phi(i):
        return i / g + v0 * jnp.arcsinh(i / (g0 * v0)) - v

    def dphi(i):
        return 1.0 / g + 1.0 / (g0 * jnp.sqrt(1.0 + (i / (g0 * v0)) ** 2))

    def cond(state):
        k, _, step = state
        return (k < 100) & (step > 4 * eps)

    def body(state):
        k, i, _ = state
        new = i - phi(i) / dphi(i)
        step = jnp.max(jnp.abs(new - i) / jnp.maximum(jnp.abs(new), jnp.finfo(v.dtype).tiny))
        return k + 1, new, step

    _, i, _ = jax.lax.while_loop(cond, body, (0, i0, jnp.asarray(jnp.inf, v.dtype)))
    return i


@pytree_dataclass
class SeriesSinh:
    """Selector ``I = g0·v0·sinh(Vs/v0)`` in series with the resistive cell ``g`` through
    an internal node; `v0` [V] > 0, `g0` [S] > 0 (the selector's conductance at 0 V)."""

    v0: float
    g0: float

    def __post_init__(self):
        _positive("SeriesSinh.v0", self.v0)
        _positive("SeriesSinh.g0", self.g0)

    def current(self, g, v):
        on = g > 0
        gs = jnp.where(on, g, 1.0)
        g0 = jnp.asarray(self.g0, v.dtype)
        v0 = jnp.asarray(self.v0, v.dtype)

        def f(i):
            return i / gs + v0 * jnp.arcsinh(i / (g0 * v0)) - v

        def solve(_, guess):
            return _series_newton(v, gs, g0, v0)

        def tangent_solve(lin, y):
            return y / lin(jnp.ones_like(y))

        i = jax.lax.custom_root(f, jnp.zeros_like(v), solve, tangent_solve)
        return jnp.where(on, i, 0.0)

    def conductance(self, g, v):
        return self.current_and_conductance(g, v)[1]

    def current_and_conductance(self, g, v):
        """Both from one solve of the internal node (what each Newton step needs)."""
        i = self.current(g, v)
        gsel = self.g0 * jnp.sqrt(1.0 + (i / (self.g0 * self.v0)) ** 2)  # g0·cosh(Vs/v0)
        return i, g * gsel / (g + gsel)

    @property
    def scale(self):
        return self.v0


SELECTORS = (Sinh, SeriesSinh)
