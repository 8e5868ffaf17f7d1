"""A scipy sparse direct solve of the same nodal equations (reference and baseline).

Not differentiable and not jit-able: it exists to check `xbar.circuit.solve` and to time
it against (`bench/circuit.py`). Same circuit and conventions as `xbar.circuit.solve`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["nodal_matrix", "reference_solve"]


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
