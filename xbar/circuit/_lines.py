"""Nodal analysis of a crossbar with line resistance, solved matrix-free in JAX.

Circuit (the default convention, ``drive="near"``, ``sense="far"``)::

    v[i] ─ r_source + r_row ─ u[i,0] ─ r_row ─ u[i,1] ─ … ─ u[i,N-1]      (open end)
                                │                │                │
                             g[i,0]           g[i,1]           g[i,N-1]   (cells)
                                │                │                │
    column j (open at row 0):  w[0,j] ─ r_col ─ w[1,j] ─ … ─ w[M-1,j] ─ r_col + r_sense ─ 0 V

Row ``i`` is driven at its column-0 end through ``r_source`` plus one wire segment and is
open at the far end; column ``j`` is sensed at its last-row end through one segment plus
``r_sense`` into a virtual ground at 0 V and is open at the row-0 end. The output current
of column ``j`` is the current into its sense node, ``(w[M-1,j] − 0)/(r_col + r_sense)``.
With ``drive="both"`` each row is also driven (by the same voltage, through the same
resistance) at its far end; with ``sense="both"`` each column is also sensed at its row-0
end, and its output is the sum of the two sense currents.

Unknowns are the ``2·M·N`` node voltages ``x = (u, w)``; with ``L_r``, ``L_c`` the
Laplacians of the row and column wires (including their terminations) and ``D = diag(g)``
the nodal matrix is ``A = [[L_r + D, −D], [−D, L_c + D]]``: symmetric positive definite.
It is solved by conjugate gradients preconditioned with the exact inverse of each line
(``blockdiag(L_r + D, L_c + D)``, tridiagonal solves with factors computed once per
solve), inside `jax.lax.custom_linear_solve`, so derivatives with respect to inputs,
conductances and wire resistances cost one more solve (the system is symmetric).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import is_concrete

__all__ = ["Lines", "nodal_solve", "DRIVES", "SENSES"]

DRIVES = ("near", "both")
SENSES = ("far", "both")


class Lines:
    """Conductances of the wires and terminations of an ``M × N`` array (internal).

    ``g_r``/``g_c``: one wire segment along a row/column [S]; ``g_s``: the row driver
    (``1/(r_source + r_row)``); ``g_t``: the column sense path (``1/(r_col + r_sense)``).
    """

    def __init__(self, shape, r_row, r_col, r_source, r_sense, drive: str, sense: str):
        self.m, self.n = shape
        self.g_r = 1.0 / r_row
        self.g_c = 1.0 / r_col
        self.g_s = 1.0 / (r_source + r_row)
        self.g_t = 1.0 / (r_col + r_sense)
        self.drive, self.sense = drive, sense
        # per node of a row (along N) / a column (along M): wire neighbours, and the
        # conductance to a fixed potential (driver or sense node; zero elsewhere)
        self.row_nb, self.row_term = self._chain(self.n, self.g_s, self.g_s if drive == "both" else 0.0)
        self.col_nb, self.col_term = self._chain(self.m, self.g_t if sense == "both" else 0.0, self.g_t)

    @staticmethod
    def _chain(k, lo, hi):
        """Wire neighbours per node of a k-node chain, and its terminations at index 0
        (`lo`) and k − 1 (`hi`)."""
        nb = np.full(k, 2.0)
        nb[0] -= 1
        nb[-1] -= 1
        term = jnp.zeros(k, jnp.result_type(lo, hi)).at[0].add(lo).at[-1].add(hi)
        return jnp.asarray(nb), term

    # --- the wire Laplacians (terminations to 0 V included) -------------------------
    @staticmethod
    def _lap(x, axis: int, g_seg, ends):
        """``L x`` along `axis` (−1 or −2) for a chain of segment conductance `g_seg`,
        terminated to 0 V through `ends` (per node; zero except at the driven/sensed ends).
        Slices and pads only, so XLA fuses it into one pass (no transposes)."""
        k = x.shape[axis]
        lo = [slice(None)] * x.ndim
        hi = [slice(None)] * x.ndim
        lo[axis], hi[axis] = slice(0, k - 1), slice(1, k)
        s = g_seg * (x[tuple(lo)] - x[tuple(hi)])  # current from node k to k+1
        pad_hi = [(0, 0)] * x.ndim
        pad_lo = [(0, 0)] * x.ndim
        pad_hi[axis], pad_lo[axis] = (0, 1), (1, 0)
        e = ends if axis == -1 else ends[:, None]
        return jnp.pad(s, pad_hi) - jnp.pad(s, pad_lo) + e * x

    def matvec(self, g, x):
        u, w = x
        lu = self._lap(u, -1, self.g_r, self.row_term)
        lw = self._lap(w, -2, self.g_c, self.col_term)
        cell = g * (u - w)
        return lu + cell, lw - cell

    @staticmethod
    def currents(g, x):
        """Column output currents ``(B, N)``: by KCL, all current the cells inject into a
        column leaves through its sense node(s), so the output is ``Σᵢ g·(u − w)``."""
        u, w = x
        return jnp.sum(g * (u - w), axis=-2)

    # --- the preconditioner: exact inverse of every line (with its cells) ------------
    def _factor(self, diag, g_seg):
        """Thomas factors of tridiagonal systems (off-diagonal −g_seg) along the last
        axis of `diag`: ``inv_k = 1/(d_k − g² inv_{k−1})``."""

        def step(prev, d):
            inv = 1.0 / (d - g_seg * g_seg * prev)
            return inv, inv

        d0 = jnp.moveaxis(diag, -1, 0)
        _, inv = jax.lax.scan(step, jnp.zeros_like(d0[0]), d0)
        return inv  # (K, ...) line axis first

    def factor(self, g):
        d_row = g + self.g_r * self.row_nb + self.row_term  # (M, N): along N
        d_col = g + (self.g_c * self.col_nb + self.col_term)[:, None]  # (M, N): along M
        return self._factor(d_row, self.g_r), self._factor(d_col.T, self.g_c)

    @staticmethod
    def _thomas(inv, g_seg, f):
        """Solve along the leading axis of `f` (K, ...), given factors `inv` (K, lines)."""

        def fwd(y, a):
            fk, ik = a
            y = (fk + g_seg * y) * ik
            return y, y

        _, y = jax.lax.scan(fwd, jnp.zeros_like(f[0]), (f, inv))

        def bwd(x, a):
            yk, ik = a
            x = yk + g_seg * ik * x
            return x, x

        _, x = jax.lax.scan(bwd, y[-1], (y[:-1], inv[:-1]), reverse=True)
        return jnp.concatenate([x, y[-1:]], 0)

    def precondition(self, factors, r):
        inv_r, inv_c = factors  # (N, M), (M, N)
        r_u, r_w = r  # (B, M, N)
        z_u = self._thomas(inv_r[:, None, :], self.g_r, jnp.moveaxis(r_u, -1, 0))  # (N, B, M)
        z_w = self._thomas(inv_c[:, None, :], self.g_c, jnp.moveaxis(r_w, -2, 0))  # (M, B, N)
        return jnp.moveaxis(z_u, 0, -1), jnp.moveaxis(z_w, 0, -2)


def _vdot(a, b):
    """Per right-hand side inner product of two (u, w) pairs: ``(B,)``."""
    return jnp.sum(a[0] * b[0], axis=(-2, -1)) + jnp.sum(a[1] * b[1], axis=(-2, -1))


def _pcg(matvec, precond, b, x0, tol, max_iter):
    """Batched preconditioned CG (one independent recurrence per right-hand side).

    Returns ``(x, iterations, relative residual (B,))``; stops when every right-hand
    side has ``‖b − Ax‖ ≤ tol·‖b‖`` or after `max_iter` iterations.
    """
    bnorm = jnp.sqrt(_vdot(b, b))
    scale = jnp.where(bnorm > 0, bnorm, 1.0)
    add = jax.tree.map

    r = add(lambda bi, ai: bi - ai, b, matvec(x0))
    z = precond(r)
    p = z
    rz = _vdot(r, z)

    def cond(state):
        k, _, r, _, _, _ = state
        res = jnp.sqrt(_vdot(r, r)) / scale
        return (k < max_iter) & jnp.any(res > tol)

    def body(state):
        k, x, r, z, p, rz = state
        ap = matvec(p)
        pap = _vdot(p, ap)
        alpha = jnp.where(pap > 0, rz / jnp.where(pap > 0, pap, 1.0), 0.0)
        x = add(lambda xi, pi: xi + alpha[:, None, None] * pi, x, p)
        r = add(lambda ri, ai: ri - alpha[:, None, None] * ai, r, ap)
        z = precond(r)
        rz_new = _vdot(r, z)
        beta = jnp.where(rz > 0, rz_new / jnp.where(rz > 0, rz, 1.0), 0.0)
        p = add(lambda zi, pi: zi + beta[:, None, None] * pi, z, p)
        return k + 1, x, r, z, p, rz_new

    k, x, r, _, _, _ = jax.lax.while_loop(cond, body, (jnp.asarray(0), x0, r, z, p, rz))
    return x, k, jnp.sqrt(_vdot(r, r)) / scale


def nodal_solve(g, v, lines: Lines, *, tol, max_iter):
    """Node voltages for row voltages `v` ``(B, M)`` on cells `g` ``(M, N)``.

    Solved as a correction to the ideal read: ``u = v + δu``, ``w = δw``, so the residual
    is measured against the cell currents (not the much larger driver currents) and the
    IR drops keep their relative precision in float32. Returns ``(x, iterations, relative
    residual)`` with ``x = (u, w)``, each ``(B, M, N)``. Differentiable in `g`, `v` and the
    wire conductances by implicit differentiation.
    """
    factors = jax.lax.stop_gradient(lines.factor(g))
    u0 = jnp.broadcast_to(v[..., :, None], v.shape + (lines.n,))
    # residual of the ideal state (u0, 0): no wire or driver carries current there (each
    # row sits at its drive voltage, each column at the 0 V of its sense node); only the
    # cells do, g·v, leaving row nodes and entering column nodes
    cell = g * u0
    b = (-cell, cell)

    def matvec(x):
        return lines.matvec(g, x)

    def solve(mv, rhs):
        x0 = jax.tree.map(jnp.zeros_like, rhs)
        x, k, res = _pcg(mv, lambda r: lines.precondition(factors, r), rhs, x0, tol, max_iter)
        return x, (k, res)

    (du, dw), (k, res) = jax.lax.custom_linear_solve(matvec, b, solve, symmetric=True, has_aux=True)
    return (u0 + du, dw), k, res


def check_converged(iterations, residual, tol, max_iter, what="the circuit solve"):
    """Raise outside jit when the solve did not reach `tol`; a no-op on traced values."""
    if is_concrete(residual):
        worst = float(np.max(np.asarray(residual))) if np.size(residual) else 0.0
        if not np.isfinite(worst) or worst > tol:
            raise SolveError(
                f"{what} did not converge: relative residual {worst:.3g} after {int(iterations)} "
                f"iterations (tol {tol:.3g}, max_iter {max_iter}). Check for non-finite or extreme "
                "conductances/resistances, or raise max_iter."
            )


class SolveError(RuntimeError):
    """A circuit solve that did not converge (raised outside jit)."""
