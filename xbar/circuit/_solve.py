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
from ._lines import DRIVES, SENSES, Lines, SolveError, _vdot, check_converged, linear_solve, schur_solve
from ._selectors import SELECTORS

__all__ = ["solve", "transfer_matrix", "CircuitSolution", "SolveError", "ACCESS_TYPES", "UNSELECTED"]

ACCESS_TYPES = ("1t1r", "passive")
UNSELECTED = ("float", "ground", "v/2", "v/3")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CircuitSolution:
    """A solved array: column currents and what produced them.

    - `currents`: column output currents [A], ``(..., cols)``.
    - `u`, `w`: row-wire and column-wire node voltages at every cell [V], ``(..., rows, cols)``.
    - `cell_currents`: current through each cell, row to column [A], ``(..., rows, cols)``.
    - `iterations`: conjugate-gradient iterations used (all Newton steps together).
    - `newton_iterations`: Newton steps (0 for linear cells).
    - `residual`: relative residual per input vector (linear: ``‖b − Ax‖/‖b‖`` of the
      correction system; nonlinear: ``‖F(x)‖/‖F(x₀)‖``, ``x₀`` every line at its
      terminals' voltage).
    - `converged`: whether every input vector reached the tolerance.
    - `select`: the selected cell ``(i, j)`` or ``None`` (static).
    """

    currents: jax.Array
    u: jax.Array
    w: jax.Array
    cell_currents: jax.Array
    iterations: jax.Array
    newton_iterations: jax.Array
    residual: jax.Array
    converged: jax.Array
    select: tuple | None = dataclasses.field(default=None, metadata=dict(static=True))

    @property
    def cell_voltages(self):
        """Voltage across each cell, ``u − w`` [V]."""
        return self.u - self.w

    @property
    def half_selected(self):
        """``(rows, cols)`` mask of the half-selected cells: those sharing the selected
        cell's row or column (all ``False`` for the MVM read)."""
        m, n = self.u.shape[-2:]
        if self.select is None:
            return np.zeros((m, n), bool)
        i, j = self.select
        mask = np.zeros((m, n), bool)
        mask[i, :] = True
        mask[:, j] = True
        mask[i, j] = False
        return mask

    def disturb(self):
        """Write disturb on the half-selected cells: ``(max |V| [V], max |I| [A])`` over
        them, per input vector (zeros for the MVM read)."""
        mask = jnp.asarray(self.half_selected)
        vmax = jnp.max(jnp.where(mask, jnp.abs(self.cell_voltages), 0.0), axis=(-2, -1))
        imax = jnp.max(jnp.where(mask, jnp.abs(self.cell_currents), 0.0), axis=(-2, -1))
        return vmax, imax


def _default_tol(dtype) -> float:
    return 1e-12 if jnp.finfo(dtype).bits == 64 else 1e-5


def _check_access_and_budget(access, max_iter):
    if access not in ACCESS_TYPES:
        raise ValueError(f"access: expected one of {ACCESS_TYPES}, got {access!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter: expected a positive int, got {max_iter!r}")


def _tolerance(tol, dtype) -> float:
    """`tol`, or the default for `dtype`; the error names it when it is not positive."""
    tol = _default_tol(dtype) if tol is None else float(tol)
    if not tol > 0:
        raise ValueError(f"tol: expected a positive relative residual, got {tol!r}")
    return tol


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


def _check_inputs(g, v, select=None):
    g = _as_conductances(g)
    v = jnp.asarray(v)
    if select is None and (v.ndim not in (1, 2) or v.shape[-1] != g.shape[0]):
        raise ValueError(
            f"v: expected row voltages of shape (rows,) or (batch, rows) with rows = {g.shape[0]}, got {v.shape}"
        )
    if select is not None and v.ndim > 1:
        raise ValueError(
            f"v: with select=(i, j), expected the read/write voltage as a scalar or (batch,) [V], got shape {v.shape}"
        )
    if is_concrete(g):
        gn = np.asarray(g)
        if not np.all(np.isfinite(gn)) or np.any(gn < 0):
            raise ValueError("g: expected finite, non-negative conductances [S]; got negative or non-finite entries")
    if is_concrete(v) and not np.all(np.isfinite(np.asarray(v))):
        raise ValueError("v: expected finite voltages [V]; got non-finite entries")
    dtype = jnp.result_type(g.dtype, v.dtype if jnp.issubdtype(v.dtype, jnp.floating) else g.dtype)
    return g.astype(dtype), v.astype(dtype)


def _wires(g, r_row, r_col, r_source, r_sense, drive, sense):
    """The validated resistances as arrays of `g`'s dtype (errors name the argument)."""
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
    return {k: r.astype(g.dtype) for k, r in rs.items()}


def _check_select(select, shape):
    if select is None:
        return None
    ok = isinstance(select, (tuple, list)) and len(select) == 2
    ok = ok and all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in select)
    if not ok or not (0 <= select[0] < shape[0] and 0 <= select[1] < shape[1]):
        raise ValueError(
            f"select: expected None or a cell (i, j) with 0 ≤ i < {shape[0]} and 0 ≤ j < {shape[1]}, got {select!r}"
        )
    return int(select[0]), int(select[1])


def _check_selector(selector):
    if selector is not None and not isinstance(selector, SELECTORS):
        names = ", ".join(f"xbar.circuit.{c.__name__}(...)" for c in SELECTORS)
        raise TypeError(f"selector: expected None, {names}; got {type(selector).__name__} {selector!r}")
    return selector


# terminal voltages of unselected rows / columns, as fractions of the selected-row voltage
_BIAS = {"float": (0.0, 0.0), "ground": (0.0, 0.0), "v/2": (0.5, 0.5), "v/3": (1.0 / 3.0, 2.0 / 3.0)}


def _setup(g, v, select, unselected, access):
    """Terminal voltages ``vr (B, M)``, ``vc (B, N)``, which lines are connected, and
    which cells conduct, for the MVM read (``select=None``) or a selected-cell scheme."""
    m, n = g.shape
    if select is None:
        vr = v
        vc = jnp.zeros(v.shape[:-1] + (n,), v.dtype)
        return vr, vc, {}, None
    i, j = select
    bias_r, bias_c = _BIAS[unselected]
    sel_r = np.arange(m) == i
    sel_c = np.arange(n) == j
    vr = v[:, None] * jnp.asarray(np.where(sel_r, 1.0, bias_r), v.dtype)
    vc = v[:, None] * jnp.asarray(np.where(sel_c, 0.0, bias_c), v.dtype)
    on = {}
    if unselected == "float":
        on = {"row_on": sel_r.astype(float), "col_on": sel_c.astype(float)}
    mask = None
    if access == "1t1r":  # word line i only: the other rows' transistors are off
        mask = jnp.asarray(sel_r[:, None], g.dtype)
        on["fixed_rows"] = (~sel_r).astype(float)
    return vr, vc, on, mask


def _newton(lines, g, selector, u0, w0, *, tol, max_iter, max_newton=60):
    """Node voltages of an array of nonlinear cells, by damped Newton with the
    line-preconditioned Schur CG for each step, differentiable by `jax.lax.custom_root`.
    Works on the correction ``δ = x − x0``; returns ``(x, cg iterations, newton
    iterations, relative residual ‖F‖/‖F(x0)‖ per input vector, converged per input
    vector)``."""

    def cells(d):
        return selector.current(g, (u0 + d[0]) - (w0 + d[1]))

    def f(d):
        i = cells(d)
        return lines.lap_rows(d[0]) + i, lines.lap_cols(d[1]) - i

    def fnorm(r):
        return jnp.sqrt(_vdot(r[0], r[0]) + _vdot(r[1], r[1]))

    def evaluate(d):
        """The residual and the cells' small-signal conductances at `d`, from one
        evaluation of the cell law (for `SeriesSinh`, one solve of the internal nodes)."""
        i, ge = selector.current_and_conductance(g, (u0 + d[0]) - (w0 + d[1]))
        return (lines.lap_rows(d[0]) + i, lines.lap_cols(d[1]) - i), jax.lax.stop_gradient(ge)

    # Newton's step estimates the remaining error (convergence is quadratic), so a step
    # below tol × the largest terminal voltage also ends the iteration: in float32 the
    # residual itself has a rounding floor near tol on large or floating-line arrays
    vscale = jnp.maximum(jnp.max(jnp.abs(u0), axis=(-2, -1)), jnp.max(jnp.abs(w0), axis=(-2, -1)))
    vscale = jnp.where(vscale > 0, vscale, 1.0)

    def solve(_, d0):
        r0, ge0 = evaluate(d0)
        f0 = fnorm(r0)
        scale = jnp.where(f0 > 0, f0, 1.0)
        limit = 2.0 * selector.scale

        def cond(state):
            k, _, ok, _, _, _, _ = state
            return (k < max_newton) & ~jnp.all(ok)

        def body(state):
            # the residual and conductances at d travel in the state: one evaluation per step
            k, d, _, res, cg, r, ge = state
            # inexact Newton: a loose linear solve far from the root, tight near it
            eta = jnp.clip(jnp.minimum(0.1, res), 0.25 * tol / jnp.maximum(res, tol), 0.1)
            step, kk, _ = schur_solve(lines, ge, lines.factor(ge), (-r[0], -r[1]), eta, max_iter)
            dv = jnp.max(jnp.abs(step[0] - step[1]), axis=(-2, -1))
            t = jnp.minimum(1.0, limit / jnp.where(dv > 0, dv, 1.0))
            d = (d[0] + t[:, None, None] * step[0], d[1] + t[:, None, None] * step[1])
            moved = t * jnp.maximum(jnp.max(jnp.abs(step[0]), axis=(-2, -1)), jnp.max(jnp.abs(step[1]), axis=(-2, -1)))
            r, ge = evaluate(d)
            res = fnorm(r) / scale
            return k + 1, d, (res <= tol) | (moved <= tol * vscale), res, cg + kk, r, ge

        res0 = f0 / scale
        state = (jnp.asarray(0), d0, res0 <= tol, res0, jnp.asarray(0), r0, ge0)
        k, d, ok, res, cg, _, _ = jax.lax.while_loop(cond, body, state)
        # counts travel as floats: custom_root differentiates its aux outputs too
        return d, (cg.astype(res.dtype), k.astype(res.dtype), res, ok.astype(res.dtype))

    def tangent_solve(lin, y):
        # the linearized cells' conductances, probed: J·(1, 0) = (L_r·1 + G, −G)
        ones = jnp.ones_like(y[0])
        ge = -lin((ones, jnp.zeros_like(ones)))[1]
        factors = jax.lax.stop_gradient(lines.factor(ge))

        def lsolve(_, rhs):
            return jnp.stack(schur_solve(lines, ge, factors, (rhs[0], rhs[1]), tol, max_iter)[0])

        # (u, w) stacked into one array: custom_linear_solve's transpose needs every
        # leaf of the right-hand side to be linear, and one part may be a constant zero
        x = jax.lax.custom_linear_solve(lambda z: jnp.stack(lin((z[0], z[1]))), jnp.stack(y), lsolve, symmetric=True)
        return x[0], x[1]

    d0 = (jnp.zeros_like(u0), jnp.zeros_like(w0))
    d, (cg, k, res, ok) = jax.lax.custom_root(f, d0, solve, tangent_solve, has_aux=True)
    cg, k, res, ok = jax.lax.stop_gradient((cg, k, res, ok))
    return (u0 + d[0], w0 + d[1]), cg.astype(jnp.int32), k.astype(jnp.int32), res, ok > 0


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
    """Column currents of a crossbar read or write, with wire resistance and (in passive
    arrays) sneak paths, by exact nodal analysis.

    **Arguments:**

    - `g`: cell conductances ``(rows, cols)`` [S] (for 1T1R, the cell in series with its
      ON access transistor; with a selector, the cell's conductance in the selector law).
    - `v`: with ``select=None`` (the MVM read: every row driven by its input, every
      column sensed at 0 V) row voltages ``(rows,)`` or ``(batch, rows)`` [V]; with
      ``select=(i, j)`` the read/write voltage applied to row ``i``, a scalar or
      ``(batch,)`` [V], with column ``j`` held at 0 V.
    - `r_row`, `r_col`: wire resistance of one cell pitch along a row / a column [Ω], > 0.
    - `r_source`: row driver resistance [Ω]; `r_sense`: column sense resistance [Ω].
    - `access`: ``"1t1r"`` (default) or ``"passive"``. With ``select=None`` both are the
      same network. With a selected cell, 1T1R turns on word line ``i`` only (the other
      rows' cells carry no current); a passive array conducts through every cell, so
      current sneaks through unselected cells.
    - `selector`: the cell law: ``None`` (linear, ``I = g·V``), `xbar.circuit.Sinh` (1S1R,
      ``I = g·v0·sinh(V/v0)``) or `xbar.circuit.SeriesSinh` (a sinh selector in series
      with the cell through an internal node). Nonlinear cells are solved by Newton's
      method.
    - `select`: ``None`` or the selected cell ``(i, j)``.
    - `unselected`: with a selected cell, what the other lines do: ``"float"`` (no
      terminal), ``"ground"`` (terminals at 0 V), ``"v/2"`` (unselected rows and columns
      at ``v/2``) or ``"v/3"`` (unselected rows at ``v/3``, unselected columns at
      ``2v/3``). Terminals have the same ends and resistances as in the read.
    - `drive`: ``"near"`` (default: each row driven at its column-0 end, open at the far
      end) or ``"both"`` (driven at both ends).
    - `sense`: ``"far"`` (default: each column sensed at its last-row end, open at row 0)
      or ``"both"`` (sensed at both ends; the output is the sum).
    - `tol`: relative residual to reach (default 1e-5 in float32, 1e-12 in float64);
      `max_iter`: conjugate-gradient iteration budget per linear solve.
    - `full`: return a `CircuitSolution` (node voltages, cell voltages and currents,
      iterations, residual; with a selected cell, the half-selected cells) instead of
      the currents alone.

    **Returns:** the current from each column into its terminal(s) [A], ``(cols,)`` or
    ``(batch, cols)`` (0 for a floating column).

    Each row ``i`` is connected to its driver through ``r_source + r_row`` (the driver plus
    the first wire segment), and each column to its sense node through ``r_col + r_sense``.
    A solve that does not reach `tol` raises `xbar.circuit.SolveError` outside `jit`;
    under `jit`, check ``solve(..., full=True).converged``.
    """
    _check_access_and_budget(access, max_iter)
    if unselected not in UNSELECTED:
        raise ValueError(f"unselected: expected one of {UNSELECTED}, got {unselected!r}")
    selector = _check_selector(selector)
    g = _as_conductances(g)
    select = _check_select(select, g.shape)
    g, v = _check_inputs(g, v, select)
    single = v.ndim == (1 if select is None else 0)
    vb = v[None] if single else v
    tol = _tolerance(tol, g.dtype)
    rs = _wires(g, r_row, r_col, r_source, r_sense, drive, sense)
    statics = dict(select=select, unselected=unselected, access=access, drive=drive, sense=sense)
    sol, ok = _solve_jit(g, vb, rs, selector, tol=tol, max_iter=max_iter, **statics)
    check_converged(sol.iterations, sol.residual, tol, max_iter, ok=ok)
    if single:
        sol = dataclasses.replace(
            sol,
            currents=sol.currents[0],
            u=sol.u[0],
            w=sol.w[0],
            cell_currents=sol.cell_currents[0],
            residual=sol.residual[0],
        )
    return sol if full else sol.currents


def _solve_core(g, vb, rs, selector, *, select, unselected, access, drive, sense, tol, max_iter):
    """`solve` after validation, batched: ``(CircuitSolution, converged per input)``.
    Jitted once per shape and option set (`_solve_jit`), so eager calls do not retrace."""
    vr, vc, on, mask = _setup(g, vb, select, unselected, access)
    lines = Lines(g.shape, drive=drive, sense=sense, **rs, **on)
    gm = g if mask is None else g * mask
    if selector is None:
        # correction to the state where each line sits at its terminals' voltage: there
        # only the cells carry current, leaving row nodes and entering column nodes.
        # Batch-minor fields (M, N, B), the solver's layout for shared conductances
        gt = gm[:, :, None]
        u0, w0 = vr.T[:, None, :], vc.T[None, :, :]
        cell = gt * (u0 - w0)
        (du, dw), k, res = linear_solve(lines, gm, (-cell, cell), tol=tol, max_iter=max_iter)
        u, w = u0 + du, w0 + dw
        i_cell = gt * (u - w)
        # by KCL, the current the cells inject into a column leaves through its
        # terminal(s); a floating column has none (exactly 0). (More accurate in float32
        # than the sense-path drop g_t·dw at the column's end, measured here.)
        cur = jnp.sum(i_cell, axis=0).T * lines.col_on
        u, w, i_cell = (jnp.transpose(a, (2, 0, 1)) for a in (u, w, i_cell))
        newton = jnp.asarray(0)
        ok = res <= tol
    else:
        u0 = jnp.broadcast_to(vr[..., :, None], vr.shape + (lines.n,))
        w0 = jnp.broadcast_to(vc[..., None, :], vc.shape[:-1] + (lines.m, lines.n))
        (u, w), k, newton, res, ok = _newton(lines, gm, selector, u0, w0, tol=tol, max_iter=max_iter)
        i_cell = selector.current(gm, u - w)
        cur = lines.currents(i_cell) * lines.col_on
    sol = CircuitSolution(
        currents=cur,
        u=u,
        w=w,
        cell_currents=i_cell,
        iterations=k,
        newton_iterations=newton,
        residual=res,
        converged=jnp.all(ok),
        select=select,
    )
    return sol, ok


_solve_jit = jax.jit(
    _solve_core, static_argnames=("select", "unselected", "access", "drive", "sense", "tol", "max_iter")
)


# right-hand sides per solve in `transfer_matrix`: at most this many node voltages per field
_TRANSFER_CHUNK_NODES = 2**24


def transfer_matrix(
    g,
    *,
    r_row,
    r_col,
    r_source=0.0,
    r_sense=0.0,
    access: str = "1t1r",
    selector=None,
    drive: str = "near",
    sense: str = "far",
    tol: float | None = None,
    max_iter: int = 500,
    chunk: int | None = None,
    full: bool = False,
):
    """The effective conductance matrix ``T`` ``(rows, cols)`` [S] of a linear array:
    ``solve(g, v, ...) == v @ T`` for every `v` (the MVM read). One right-hand side per
    row; after that each read is one matmul. The arguments are `solve`'s; `selector` must
    be ``None`` (a nonlinear array has no transfer matrix) and `full` ``False``.

    `chunk`: right-hand sides solved together (default: as many as keep each field under
    2²⁴ node voltages — all rows up to 128 × 128 arrays, 16 at 1024 × 1024); the chunks
    run one after another (`jax.lax.map`), which bounds memory."""
    if full:
        raise ValueError("full: transfer_matrix returns T only; call solve(..., full=True) for diagnostics")
    if selector is not None:
        raise ValueError("selector: a nonlinear array has no transfer matrix; call solve(...) per input")
    _check_access_and_budget(access, max_iter)
    g = _as_conductances(g)
    m, n = g.shape
    if chunk is None:
        chunk = max(1, min(m, _TRANSFER_CHUNK_NODES // (m * n)))
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: expected a positive int (right-hand sides per solve), got {chunk!r}")
    n_chunks = -(-m // chunk)
    eye = jnp.eye(n_chunks * chunk, m, dtype=g.dtype).reshape(n_chunks, chunk, m)
    g, _ = _check_inputs(g, eye[0])
    tol = _tolerance(tol, g.dtype)
    rs = _wires(g, r_row, r_col, r_source, r_sense, drive, sense)
    statics = dict(select=None, unselected="float", access=access, drive=drive, sense=sense)

    def one(vb):
        sol, ok = _solve_jit(g, vb, rs, None, tol=tol, max_iter=max_iter, **statics)
        return sol.currents, sol.iterations, sol.residual, ok

    if n_chunks == 1:
        cur, k, res, ok = (x[None] for x in one(eye[0]))
    else:
        cur, k, res, ok = jax.lax.map(one, eye)
    check_converged(jnp.max(k), res, tol, max_iter, ok=ok)
    return cur.reshape(n_chunks * chunk, n)[:m]
