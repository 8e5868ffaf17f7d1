"""`xbar.circuit.solve`: column currents of a crossbar with line resistance.

The circuit and its conventions are described in `xbar.circuit._lines` and in the
docstring of `solve`. Everything here is differentiable (implicit differentiation of
the nodal solve) and works under `jit` and `vmap`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import is_concrete
from ._lines import DRIVES, SENSES, Lines, SolveError, check_converged, nodal_solve

__all__ = ["solve", "transfer_matrix", "CircuitSolution", "SolveError", "ACCESS_TYPES"]

ACCESS_TYPES = ("1t1r", "passive")
UNSELECTED = ("float", "ground", "v/2", "v/3")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CircuitSolution:
    """A solved array: column currents and what produced them.

    - `currents`: column output currents [A], ``(..., cols)``.
    - `u`, `w`: row-wire and column-wire node voltages at every cell [V], ``(..., rows, cols)``.
    - `iterations`: conjugate-gradient iterations used.
    - `residual`: relative residual ``‖b − Ax‖/‖b‖`` per input vector.
    - `converged`: whether every input vector reached the tolerance.
    """

    currents: jax.Array
    u: jax.Array
    w: jax.Array
    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array

    @property
    def cell_voltages(self):
        """Voltage across each cell, ``u − w`` [V]."""
        return self.u - self.w


def _default_tol(dtype) -> float:
    return 1e-12 if jnp.finfo(dtype).bits == 64 else 1e-5


def _check_resistance(name: str, r, *, allow_zero: bool):
    r = jnp.asarray(r)
    if r.ndim != 0:
        raise ValueError(f"{name}: expected a scalar resistance in ohms, got shape {r.shape}")
    if is_concrete(r):
        val = float(r)
        bad = not np.isfinite(val) or (val < 0 if allow_zero else val <= 0)
        if bad:
            want = "a finite resistance ≥ 0 Ω" if allow_zero else "a finite resistance > 0 Ω (per wire segment)"
            raise ValueError(f"{name}: expected {want}, got {val!r}")
    return r


def _as_conductances(g):
    """`g` as a floating (rows, cols) array, or the error naming it."""
    g = jnp.asarray(g)
    if g.ndim != 2:
        raise ValueError(f"g: expected a conductance matrix (rows, cols) in siemens, got shape {g.shape}")
    return g if jnp.issubdtype(g.dtype, jnp.floating) else g.astype(jnp.result_type(float))


def _check_inputs(g, v):
    g = _as_conductances(g)
    v = jnp.asarray(v)
    if v.ndim not in (1, 2) or v.shape[-1] != g.shape[0]:
        raise ValueError(
            f"v: expected row voltages of shape (rows,) or (batch, rows) with rows = {g.shape[0]}, got {v.shape}"
        )
    if is_concrete(g):
        gn = np.asarray(g)
        if not np.all(np.isfinite(gn)) or np.any(gn < 0):
            raise ValueError("g: expected finite, non-negative conductances [S]; got negative or non-finite entries")
    if is_concrete(v) and not np.all(np.isfinite(np.asarray(v))):
        raise ValueError("v: expected finite voltages [V]; got non-finite entries")
    dtype = jnp.result_type(g.dtype, v.dtype if jnp.issubdtype(v.dtype, jnp.floating) else g.dtype)
    return g.astype(dtype), v.astype(dtype)


def _lines(g, r_row, r_col, r_source, r_sense, drive, sense):
    if drive not in DRIVES:
        raise ValueError(f"drive: expected one of {DRIVES}, got {drive!r}")
    if sense not in SENSES:
        raise ValueError(f"sense: expected one of {SENSES}, got {sense!r}")
    rs = {
        "r_row": _check_resistance("r_row", r_row, allow_zero=False),
        "r_col": _check_resistance("r_col", r_col, allow_zero=False),
        "r_source": _check_resistance("r_source", r_source, allow_zero=True),
        "r_sense": _check_resistance("r_sense", r_sense, allow_zero=True),
    }
    rs = {k: r.astype(g.dtype) for k, r in rs.items()}
    return Lines(g.shape, drive=drive, sense=sense, **rs)


def solve(
    g,
    v,
    *,
    r_row,
    r_col,
    r_source=0.0,
    r_sense=0.0,
    access: str = "1t1r",
    selector=None,
    select=None,
    unselected: str = "float",
    drive: str = "near",
    sense: str = "far",
    tol: float | None = None,
    max_iter: int = 500,
    full: bool = False,
):
    """Column currents of a crossbar read, with wire resistance, by exact nodal analysis.

    **Arguments:**

    - `g`: cell conductances ``(rows, cols)`` [S] (for 1T1R, the cell in series with its
      ON access transistor).
    - `v`: row voltages ``(rows,)`` or ``(batch, rows)`` [V].
    - `r_row`, `r_col`: wire resistance of one cell pitch along a row / a column [Ω], > 0.
    - `r_source`: row driver resistance [Ω]; `r_sense`: column sense resistance [Ω].
    - `access`: ``"1t1r"`` or ``"passive"``. With every row driven and every column sensed
      (``select=None``) both are the same linear network.
    - `drive`: ``"near"`` (default: each row driven at its column-0 end, open at the far
      end) or ``"both"`` (driven at both ends).
    - `sense`: ``"far"`` (default: each column sensed at its last-row end into a virtual
      ground at 0 V, open at row 0) or ``"both"`` (sensed at both ends; the output is
      the sum).
    - `tol`: relative residual to reach (default 1e-5 in float32, 1e-12 in float64);
      `max_iter`: conjugate-gradient iteration budget.
    - `full`: return a `CircuitSolution` (node voltages, iterations, residual) instead of
      the currents alone.

    **Returns:** column currents [A], ``(cols,)`` or ``(batch, cols)``.

    Each row ``i`` is connected to its driver through ``r_source + r_row`` (the driver plus
    the first wire segment), and each column to its sense node through ``r_col + r_sense``.
    A solve that does not reach `tol` raises `xbar.circuit.SolveError` outside `jit`;
    under `jit`, check ``solve(..., full=True).converged``.
    """
    if access not in ACCESS_TYPES:
        raise ValueError(f"access: expected one of {ACCESS_TYPES}, got {access!r}")
    if selector is not None or select is not None:
        raise NotImplementedError(
            "selector= and select= (passive arrays with nonlinear selectors and selected-cell "
            "read/write schemes) are not implemented yet; use selector=None, select=None"
        )
    if unselected not in UNSELECTED:
        raise ValueError(f"unselected: expected one of {UNSELECTED}, got {unselected!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter: expected a positive int, got {max_iter!r}")
    g, v = _check_inputs(g, v)
    lines = _lines(g, r_row, r_col, r_source, r_sense, drive, sense)
    tol = _default_tol(g.dtype) if tol is None else float(tol)
    if not tol > 0:
        raise ValueError(f"tol: expected a positive relative residual, got {tol!r}")
    single = v.ndim == 1
    vb = v[None] if single else v
    (u, w), k, res = nodal_solve(g, vb, lines, tol=tol, max_iter=max_iter)
    converged = jnp.all(res <= tol)
    check_converged(k, res, tol, max_iter)
    cur = lines.currents(g, (u, w))
    if single:
        cur, u, w, res = cur[0], u[0], w[0], res[0]
    if not full:
        return cur
    return CircuitSolution(currents=cur, u=u, w=w, iterations=k, residual=res, converged=converged)


def transfer_matrix(g, **kwargs):
    """The effective conductance matrix ``T`` ``(rows, cols)`` [S] of a linear array:
    ``solve(g, v, ...) == v @ T`` for every `v`. One solve with ``rows`` right-hand sides;
    after that each read is one matmul. Takes `solve`'s keyword arguments."""
    if kwargs.get("full"):
        raise ValueError("full: transfer_matrix returns T only; call solve(..., full=True) for diagnostics")
    g = _as_conductances(g)
    return solve(g, jnp.eye(g.shape[0], dtype=g.dtype), **kwargs)
