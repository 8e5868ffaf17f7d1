"""A scipy sparse direct solve of the same nodal equations (reference and baseline).

Not differentiable and not jit-able: it exists to check `xbar.circuit.solve` and to time
it against (`bench/circuit.py`). Same circuit and conventions as `xbar.circuit.solve`.

`reference_solve` is the linear read (every row driven, every column sensed), one `splu`.
`reference_solve_nonlinear` covers the rest: nonlinear selectors (duck-typed: an object
with ``v0``, and ``g0`` for a selector in series with the cell, whose internal node stays
an unknown), ``select=(i, j)`` with floating, grounded, v/2 or v/3 unselected lines, and
1T1R row gating, by damped Newton on the full nodal system. Checked against ngspice in
``tests/test_circuit_passive.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

__all__ = [
    "nodal_matrix",
    "reference_solve",
    "reference_solve_nonlinear",
    "NonlinearReference",
    "selector_params",
    "UNSELECTED_LEVELS",
]


def nodal_matrix(g, *, r_row, r_col, r_source=0.0, r_sense=0.0, drive="near", sense="far"):
    """The nodal matrix ``A`` (CSC, ``2MN × 2MN``; row nodes first, row-major, then
    column nodes) and the driver and sense conductances ``(g_s, g_t)``."""
    g = np.asarray(g, dtype=float)
    m, n = g.shape
    iu = np.arange(m * n).reshape(m, n)
    iw = m * n + iu
    g_r, g_c = 1.0 / r_row, 1.0 / r_col
    g_s, g_t = 1.0 / (r_source + r_row), 1.0 / (r_col + r_sense)
    diag = np.zeros(2 * m * n)
    rows, cols, vals = [], [], []

    def branch(a, b, cond):
        cond = np.broadcast_to(cond, a.shape).ravel()
        a, b = a.ravel(), b.ravel()
        rows.extend([a, b])
        cols.extend([b, a])
        vals.extend([-cond, -cond])
        np.add.at(diag, a, cond)
        np.add.at(diag, b, cond)

    branch(iu[:, :-1], iu[:, 1:], g_r)
    branch(iw[:-1, :], iw[1:, :], g_c)
    branch(iu, iw, g)
    diag[iu[:, 0]] += g_s
    if drive == "both":
        diag[iu[:, -1]] += g_s
    diag[iw[-1, :]] += g_t
    if sense == "both":
        diag[iw[0, :]] += g_t
    idx = np.arange(2 * m * n)
    a = sp.csc_matrix(
        (np.concatenate(vals + [diag]), (np.concatenate(rows + [idx]), np.concatenate(cols + [idx]))),
        shape=(2 * m * n, 2 * m * n),
    )
    return a, g_s, g_t


def reference_solve(g, v, *, r_row, r_col, r_source=0.0, r_sense=0.0, drive="near", sense="far", lu=None):
    """Column currents ``(batch, cols)`` for row voltages `v` ``(batch, rows)`` by
    ``scipy.sparse.linalg.splu``. Returns ``(currents, node voltages (batch, 2MN), lu)``;
    pass `lu` back to reuse the factorization."""
    g = np.asarray(g, dtype=float)
    m, n = g.shape
    v = np.atleast_2d(np.asarray(v, dtype=float))
    wires = dict(r_row=r_row, r_col=r_col, r_source=r_source, r_sense=r_sense)
    a, g_s, g_t = nodal_matrix(g, drive=drive, sense=sense, **wires)
    if lu is None:
        lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    b = np.zeros((2 * m * n, v.shape[0]))
    b[np.arange(m) * n] = g_s * v.T
    if drive == "both":
        b[np.arange(m) * n + n - 1] += g_s * v.T
    x = lu.solve(b).T
    w = x[:, m * n :].reshape(-1, m, n)
    cur = g_t * w[:, -1, :]
    if sense == "both":
        cur = cur + g_t * w[:, 0, :]
    return cur, x, lu


# --- nonlinear cells and selected-cell schemes ------------------------------------------

UNSELECTED_LEVELS = {"float": None, "ground": (0.0, 0.0), "v/2": (0.5, 0.5), "v/3": (1.0 / 3.0, 2.0 / 3.0)}
"""Terminal voltages of the unselected (rows, columns), as fractions of the select voltage;
``None``: the unselected lines have no terminal at all (they float)."""


def selector_params(selector):
    """``(kind, v0, g0)`` of a selector, duck-typed: ``None`` → ``("linear", None, None)``;
    an object with ``v0`` and ``g0`` → ``"series"`` (a sinh selector in series with the
    cell); with ``v0`` only → ``"sinh"`` (the combined 1S1R element)."""
    if selector is None:
        return "linear", None, None
    if not hasattr(selector, "v0"):
        raise TypeError(f"selector: expected None or an object with v0 (and g0), got {selector!r}")
    v0 = float(np.asarray(selector.v0))
    if not v0 > 0:
        raise ValueError(f"selector.v0: expected > 0 V, got {v0!r}")
    if getattr(selector, "g0", None) is None:
        return "sinh", v0, None
    g0 = float(np.asarray(selector.g0))
    if not g0 > 0:
        raise ValueError(f"selector.g0: expected > 0 S, got {g0!r}")
    return "series", v0, g0


@dataclasses.dataclass(frozen=True)
class NonlinearReference:
    """`reference_solve_nonlinear`'s result (numpy, float64, batch axis first).

    - `currents` ``(B, N)``: per column, the current from the column wire into its
      terminal(s), ``Σ (w_end − V_terminal)/(r_col + r_sense)`` (evaluated, by KCL, as the
      sum of the column's cell currents); 0 for a floating column.
    - `u`, `w` ``(B, M, N)``: row- and column-wire node voltages; `n`: the internal node of
      each cell (``selector="series"`` only, else ``None``).
    - `cell_currents` ``(B, M, N)``: current through each cell, row wire → column wire
      (0 for a cell that is off).
    - `isolated_u`, `isolated_w`, `isolated_n` ``(M, N)``: nodes with no conducting path to
      any terminal (their voltage is undefined; reported as 0 V).
    - `iterations` ``(B,)``: Newton steps; `residual` ``(B,)``: largest KCL mismatch over
      all nodes relative to the largest terminal current.
    """

    currents: np.ndarray
    u: np.ndarray
    w: np.ndarray
    n: np.ndarray | None
    cell_currents: np.ndarray
    isolated_u: np.ndarray
    isolated_w: np.ndarray
    isolated_n: np.ndarray | None
    iterations: np.ndarray
    residual: np.ndarray

    @property
    def cell_voltages(self):
        return self.u - self.w


def _terminals(m, n, v, *, g_s, g_t, select, unselected, drive, sense):
    """Terminals as ``(node index, conductance, voltage (B,), column or −1)`` lists.
    Node indices: ``u[i, k] = i·n + k``, ``w[i, k] = m·n + i·n + k``."""
    nodes, conds, volts, cols = [], [], [], []

    def add(node, cond, volt, col):
        nodes.append(node)
        conds.append(cond)
        volts.append(volt)
        cols.append(col)

    def row_terms(i, volt):
        add(i * n, g_s, volt, -1)
        if drive == "both":
            add(i * n + n - 1, g_s, volt, -1)

    def col_terms(j, volt):
        add(m * n + (m - 1) * n + j, g_t, volt, j)
        if sense == "both":
            add(m * n + j, g_t, volt, j)

    if select is None:
        for i in range(m):
            row_terms(i, v[:, i])
        for j in range(n):
            col_terms(j, np.zeros(v.shape[0]))
    else:
        si, sj = select
        levels = UNSELECTED_LEVELS[unselected]
        for i in range(m):
            if i == si:
                row_terms(i, v)
            elif levels is not None:
                row_terms(i, levels[0] * v)
        for j in range(n):
            if j == sj:
                col_terms(j, 0.0 * v)
            elif levels is not None:
                col_terms(j, levels[1] * v)
    return np.asarray(nodes, int), np.asarray(conds, float), np.stack(volts), np.asarray(cols, int)


def reference_solve_nonlinear(
    g,
    v,
    *,
    r_row,
    r_col,
    r_source=0.0,
    r_sense=0.0,
    access="passive",
    selector=None,
    select=None,
    unselected="float",
    drive="near",
    sense="far",
    tol=1e-13,
    max_iter=200,
) -> NonlinearReference:
    """Damped Newton on the full sparse nodal equations (every node an unknown, scipy
    `splu` per step, float64): the reference for `xbar.circuit.solve` with selectors and
    selected-cell schemes. Same conventions as `xbar.circuit.solve`:

    - cells between ``u[i,k]`` and ``w[i,k]``: linear ``g·V`` (``selector=None``), the
      1S1R element ``g·v0·sinh(V/v0)`` (a selector with ``v0``), or the linear cell ``g``
      from ``u`` to an internal node ``n`` in series with ``g0·v0·sinh((n − w)/v0)`` from
      ``n`` to ``w`` (a selector with ``v0`` and ``g0``); `selector` is duck-typed.
    - ``select=None``: every row driven at `v` ``(rows,)``/``(B, rows)``, every column at
      0 V. ``select=(i, j)``: `v` a scalar or ``(B,)``; row ``i`` driven at ``v``, column
      ``j`` at 0 V, the other lines per `unselected` (`UNSELECTED_LEVELS`).
    - ``access="1t1r"`` with `select`: only the cells of row ``i`` conduct.
    - drivers through ``r_source + r_row`` (column-0 end; also the far end with
      ``drive="both"``), sense/column terminals through ``r_col + r_sense`` (last-row end;
      also row 0 with ``sense="both"``).

    Newton steps are damped by backtracking on the circuit's co-content (a strictly convex
    function whose gradient is the KCL residual, since every element is monotone), with a
    fallback on the residual norm once rounding dominates; iterations stop when the step is
    below ``tol`` times the largest terminal voltage.
    """
    g = np.asarray(g, dtype=float)
    m, n = g.shape
    kind, v0, g0 = selector_params(selector)
    if access not in ("1t1r", "passive"):
        raise ValueError(f"access: expected '1t1r' or 'passive', got {access!r}")
    if drive not in ("near", "both") or sense not in ("far", "both"):
        raise ValueError(f"drive/sense: expected near|both / far|both, got {drive!r}, {sense!r}")
    v = np.asarray(v, dtype=float)
    if select is None:
        v = np.atleast_2d(v)
        if v.ndim != 2 or v.shape[1] != m:
            raise ValueError(f"v: expected (rows,) or (batch, rows) with rows = {m}, got {v.shape}")
        active = np.ones((m, n), bool)
    else:
        if unselected not in UNSELECTED_LEVELS:
            raise ValueError(f"unselected: expected one of {tuple(UNSELECTED_LEVELS)}, got {unselected!r}")
        si, sj = (int(k) for k in select)
        if not (0 <= si < m and 0 <= sj < n):
            raise ValueError(f"select: expected (i, j) with 0 ≤ i < {m}, 0 ≤ j < {n}, got {select!r}")
        v = np.atleast_1d(v)
        if v.ndim != 1:
            raise ValueError(f"v: expected a scalar or (batch,) select voltage, got shape {v.shape}")
        active = np.ones((m, n), bool)
        if access == "1t1r":
            active[:] = False
            active[si] = True
        select = (si, sj)
    batch = v.shape[0]
    g_r, g_c = 1.0 / r_row, 1.0 / r_col
    g_s, g_t = 1.0 / (r_source + r_row), 1.0 / (r_col + r_sense)

    mn = m * n
    iu = np.arange(mn).reshape(m, n)
    iw = mn + iu
    iv = 2 * mn + iu  # internal nodes (series selector only)
    size = 3 * mn if kind == "series" else 2 * mn

    # linear branches (a, b, conductance) and nonlinear ones (a, b, coefficient): current a → b
    lin = [
        (iu[:, :-1].ravel(), iu[:, 1:].ravel(), np.full(m * (n - 1), g_r)),
        (iw[:-1, :].ravel(), iw[1:, :].ravel(), np.full((m - 1) * n, g_c)),
    ]
    on = active.ravel()
    gv = g.ravel()[on]
    if kind == "linear":
        lin.append((iu.ravel()[on], iw.ravel()[on], gv))
        nl = (np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    elif kind == "sinh":
        nl = (iu.ravel()[on], iw.ravel()[on], gv)
    else:
        lin.append((iu.ravel()[on], iv.ravel()[on], gv))
        nl = (iv.ravel()[on], iw.ravel()[on], np.full(on.sum(), g0))
    t_node, t_cond, t_volt, t_col = _terminals(
        m, n, v, g_s=g_s, g_t=g_t, select=select, unselected=unselected, drive=drive, sense=sense
    )

    # nodes with no conducting path to a terminal: pinned at 0 V, removed from the unknowns
    ea = np.concatenate([b[0] for b in lin] + [nl[0], t_node])
    eb = np.concatenate([b[1] for b in lin] + [nl[1], np.full(t_node.size, size)])
    ec = np.concatenate([b[2] for b in lin] + [nl[2], t_cond])
    keep = ec > 0
    graph = sp.coo_matrix((np.ones(keep.sum()), (ea[keep], eb[keep])), shape=(size + 1, size + 1))
    _, label = connected_components(graph, directed=False)
    free = label[:size] == label[size]
    pos = np.full(size, -1)
    pos[free] = np.arange(free.sum())
    nf = int(free.sum())

    def branch_matrix(a, b, c):
        """Laplacian ``Σ c (e_a − e_b)(e_a − e_b)ᵀ`` over free nodes."""
        k = (c > 0) & free[a]
        a, b, c = pos[a[k]], pos[b[k]], c[k]
        r = np.concatenate([a, b, a, b])
        q = np.concatenate([a, b, b, a])
        return sp.coo_matrix((np.concatenate([c, c, -c, -c]), (r, q)), shape=(nf, nf))

    a_lin = sum((branch_matrix(*b) for b in lin), sp.coo_matrix((nf, nf)))
    tk = free[t_node]
    a_lin = (a_lin + sp.coo_matrix((t_cond[tk], (pos[t_node[tk]], pos[t_node[tk]])), shape=(nf, nf))).tocsc()
    rhs = np.zeros((nf, batch))
    np.add.at(rhs, pos[t_node[tk]], t_cond[tk, None] * t_volt[tk])

    k_nl = (nl[2] > 0) & free[nl[0]]
    na, nb, nc = pos[nl[0][k_nl]], pos[nl[1][k_nl]], nl[2][k_nl]
    ne = na.size
    inc = sp.csr_matrix(
        (np.concatenate([np.ones(ne), -np.ones(ne)]), (np.tile(np.arange(ne), 2), np.concatenate([na, nb]))),
        shape=(ne, nf),
    )

    def nl_current(vd):
        return nc * v0 * np.sinh(vd / v0) if ne else vd * 0

    x_all = np.zeros((batch, size))
    iters = np.zeros(batch, int)
    resid = np.zeros(batch)
    a_small = (a_lin + inc.T @ sp.diags(nc) @ inc).tocsc() if ne else a_lin
    lu0 = spla.splu(a_small) if nf else None
    for bi in range(batch):
        if nf == 0:
            continue
        b = rhs[:, bi]
        vscale = float(np.max(np.abs(t_volt[:, bi]))) if t_volt.size else 0.0
        x = lu0.solve(b)  # the small-signal (linearised) circuit: a good start
        if ne and vscale > 0:

            def resid_fn(x, b=b):
                return a_lin @ x - b + inc.T @ nl_current(inc @ x)

            def energy(x, b=b):
                with np.errstate(over="ignore"):
                    return 0.5 * x @ (a_lin @ x) - b @ x + np.sum(nc * v0 * v0 * np.cosh((inc @ x) / v0))

            last = np.inf
            for k in range(1, max_iter + 1):
                iters[bi] = k
                f = resid_fn(x)
                with np.errstate(over="ignore"):
                    jac = (a_lin + inc.T @ sp.diags(nc * np.cosh((inc @ x) / v0)) @ inc).tocsc()
                dx = spla.splu(jac).solve(-f)
                e0, slope, fn = energy(x), float(f @ dx), float(np.linalg.norm(f))
                t = 1.0
                while t > 1e-12:
                    xt = x + t * dx
                    with np.errstate(over="ignore", invalid="ignore"):
                        et = energy(xt)
                        ft = resid_fn(xt)
                    if np.isfinite(et) and (et <= e0 + 1e-4 * t * slope or np.linalg.norm(ft) < fn):
                        break
                    t *= 0.5
                x = xt
                step = float(np.max(np.abs(t * dx)))
                if step <= tol * vscale:
                    break
                # at the rounding floor the step stops shrinking: stop there
                if t == 1.0 and step <= 1e-10 * vscale and step >= 0.5 * last:
                    break
                last = step if t == 1.0 else np.inf
            else:
                raise RuntimeError(f"reference_solve_nonlinear: Newton did not converge in {max_iter} steps")
        x_all[bi, free] = x
        f = a_lin @ x - b + (inc.T @ nl_current(inc @ x) if ne else 0)
        i_term = t_cond * (x_all[bi, t_node] - t_volt[:, bi])
        scale = float(np.max(np.abs(i_term))) if i_term.size else 0.0
        resid[bi] = float(np.max(np.abs(f))) / scale if scale > 0 else float(np.max(np.abs(f), initial=0.0))

    u = x_all[:, :mn].reshape(batch, m, n)
    w = x_all[:, mn : 2 * mn].reshape(batch, m, n)
    nn = x_all[:, 2 * mn :].reshape(batch, m, n) if kind == "series" else None
    if kind == "linear":
        cell = g * (u - w)
    elif kind == "sinh":
        cell = g * v0 * np.sinh((u - w) / v0)
    else:
        cell = g * (u - nn)
    cell = np.where(active, cell, 0.0)
    # by KCL all the current the cells inject into a column leaves through its terminal(s)
    # (summed this way, not as (w_end − V_terminal)·g_t, to avoid cancellation when the
    # terminal sits at v/2 or 2v/3); a floating column outputs 0
    termed = np.zeros(n, bool)
    termed[t_col[t_col >= 0]] = True
    cur = np.where(termed, cell.sum(axis=1), 0.0)
    iso = ~free
    return NonlinearReference(
        currents=cur,
        u=u,
        w=w,
        n=nn,
        cell_currents=cell,
        isolated_u=iso[:mn].reshape(m, n),
        isolated_w=iso[mn : 2 * mn].reshape(m, n),
        isolated_n=iso[2 * mn :].reshape(m, n) if kind == "series" else None,
        iterations=iters,
        residual=resid,
    )
