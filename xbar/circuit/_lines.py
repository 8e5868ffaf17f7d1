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
The column nodes are eliminated (``A₂₂ = L_c + D`` is one tridiagonal matrix per column)
and the Schur complement ``S = A₁₁ − D A₂₂⁻¹ D`` (``A₁₁ = L_r + D``) is solved by
conjugate gradients preconditioned with ``A₁₁⁻¹``; the preconditioned operator
``I − A₁₁⁻¹D A₂₂⁻¹D`` has its spectrum in ``(0, 1]`` and CG needs a handful of iterations.
Every line inverse is applied exactly, in blocks of 16 nodes with a carry between
blocks — no sequential sweep along the lines. When every input vector sees the same
conductances (the MVM read, the transfer matrix) the fields are batch-minor,
``(M, N, B)``, and each inverse is one batched matmul of every block with its dense
block of ``T⁻¹`` (`block_inverse`, `apply_blocks`); with conductances per input vector
(Newton's linearized cells) the fields are ``(B, M, N)`` and the inverse is applied in
semiseparable form (`line_inverse`: elementwise scalings and cumulative sums within
blocks). The solve sits inside
`jax.lax.custom_linear_solve`, so derivatives with respect to inputs, conductances and
wire resistances cost one more solve (the system is symmetric).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import is_concrete

__all__ = ["Lines", "linear_solve", "schur_solve", "DRIVES", "SENSES"]

DRIVES = ("near", "both")
SENSES = ("far", "both")


class Lines:
    """Conductances of the wires and terminations of an ``M × N`` array (internal).

    ``g_r``/``g_c``: one wire segment along a row/column [S]; ``g_s``: the row driver
    (``1/(r_source + r_row)``); ``g_t``: the column sense path (``1/(r_col + r_sense)``).
    `row_on` ``(M,)`` / `col_on` ``(N,)``: which lines have their terminals connected
    (default all; a floating line has none). `fixed_rows` ``(M,)``: rows whose nodes are
    held by a unit conductance to their terminal voltage at every node — used for the
    rows of a 1T1R array whose transistors are off, which no current reaches.
    """

    def __init__(
        self, shape, r_row, r_col, r_source, r_sense, drive: str, sense: str, row_on=None, col_on=None, fixed_rows=None
    ):
        self.m, self.n = shape
        self.g_r = 1.0 / r_row
        self.g_c = 1.0 / r_col
        self.g_s = 1.0 / (r_source + r_row)
        self.g_t = 1.0 / (r_col + r_sense)
        self.drive, self.sense = drive, sense
        dtype = jnp.result_type(self.g_r, self.g_s)
        ones_m, ones_n = jnp.ones(self.m, dtype), jnp.ones(self.n, dtype)
        self.row_on = ones_m if row_on is None else jnp.asarray(row_on, dtype)
        self.col_on = ones_n if col_on is None else jnp.asarray(col_on, dtype)
        # wire neighbours per node of a row (along N) / a column (along M), and each
        # node's conductance to a fixed potential (terminals; zero elsewhere)
        self.row_nb = _neighbours(self.n)
        self.col_nb = _neighbours(self.m)
        ends_r = _ends(self.n, self.g_s, self.g_s if drive == "both" else 0.0)  # (N,)
        ends_c = _ends(self.m, self.g_t if sense == "both" else 0.0, self.g_t)  # (M,)
        self.row_term = self.row_on[:, None] * ends_r[None, :]  # (M, N)
        self.col_term = ends_c[:, None] * self.col_on[None, :]  # (M, N)
        if fixed_rows is not None:
            self.row_term = self.row_term + jnp.asarray(fixed_rows, dtype)[:, None]

    # --- the wire Laplacians (terminations to fixed potentials included) ------------
    @staticmethod
    def _lap(x, axis: int, g_seg, term):
        """``L x`` along `axis` (−1 or −2) for a chain of segment conductance `g_seg`,
        terminated through `term` (per node, ``(M, N)``). Slices and pads only, so XLA
        fuses it into one pass (no transposes)."""
        k = x.shape[axis]
        lo = [slice(None)] * x.ndim
        hi = [slice(None)] * x.ndim
        lo[axis], hi[axis] = slice(0, k - 1), slice(1, k)
        s = g_seg * (x[tuple(lo)] - x[tuple(hi)])  # current from node k to k+1
        pad_hi = [(0, 0)] * x.ndim
        pad_lo = [(0, 0)] * x.ndim
        pad_hi[axis], pad_lo[axis] = (0, 1), (1, 0)
        return jnp.pad(s, pad_hi) - jnp.pad(s, pad_lo) + term * x

    # Fields are ``(B, M, N)`` ("batch-first", with per-input conductances) or
    # ``(M, N, B)`` ("batch-minor", with conductances the right-hand sides share).
    def lap_rows(self, u, batch_minor: bool = False):
        if batch_minor:
            return self._lap(u, 1, self.g_r, self.row_term[:, :, None])
        return self._lap(u, -1, self.g_r, self.row_term)

    def lap_cols(self, w, batch_minor: bool = False):
        if batch_minor:
            return self._lap(w, 0, self.g_c, self.col_term[:, :, None])
        return self._lap(w, -2, self.g_c, self.col_term)

    def matvec(self, g, x):
        """The nodal matrix with cell conductances `g` applied to ``x = (u, w)``: `g`
        ``(M, N)`` with batch-minor fields ``(M, N, B)``, or ``(B, M, N)`` (for a
        nonlinear array, the cells' small-signal conductances) with batch-first fields."""
        u, w = x
        bm = g.ndim == 2
        cell = (g[:, :, None] if bm else g) * (u - w)
        return self.lap_rows(u, bm) + cell, self.lap_cols(w, bm) - cell

    @staticmethod
    def currents(i_cell):
        """Column output currents ``(B, N)`` from the cell currents ``(B, M, N)``: by KCL,
        all the current cells inject into a column leaves through its terminal(s)."""
        return jnp.sum(i_cell, axis=-2)

    # --- exact inverses of the lines (with their cells) -----------------------------
    def factor(self, g):
        """Line inverses of ``A₁₁ = L_r + D`` (rows) and ``A₂₂ = L_c + D`` (columns) for
        cell conductances `g`. Conductances every right-hand side shares, ``(M, N)``,
        give dense-block inverses (`block_inverse`, applied batch-minor); per-input
        conductances ``(B, M, N)`` (Newton's linearized cells) give the per-node
        semiseparable form (`line_inverse`)."""
        s_row = g + self.row_term  # diagonal excess over the wire Laplacian, along N
        s_col = g + self.col_term  # along M
        if g.ndim == 2:
            return block_inverse(s_row.T, self.g_r), block_inverse(s_col, self.g_c)
        rows = line_inverse(jnp.moveaxis(s_row, -1, 0), self.g_r)  # per node (Np, ..., M)
        cols = line_inverse(jnp.moveaxis(s_col, -2, 0), self.g_c)  # per node (Mp, ..., N)
        rows = {k: (v if k == "carry" else jnp.moveaxis(v, 0, -1)) for k, v in rows.items()}
        cols = {k: (v if k == "carry" else jnp.moveaxis(v, 0, -2)) for k, v in cols.items()}
        return rows, cols


def _neighbours(k):
    nb = np.full(k, 2.0)
    nb[0] -= 1
    nb[-1] -= 1
    return jnp.asarray(nb)


def _ends(k, lo, hi):
    """Per node of a k-node chain: `lo` at index 0 plus `hi` at index k − 1."""
    return jnp.zeros(k, jnp.result_type(lo, hi)).at[0].add(lo).at[-1].add(hi)


# --- exact inverse of many symmetric tridiagonal matrices, blocked semiseparable ------

BLOCK = 16
# The line inverses' matmuls are exact sums, not products of data: on GPUs JAX's default
# float32 matmul precision is TF32 (10-bit mantissa), which made the preconditioner
# inexact there (500 CG iterations and 6e-5 error at 256x256 on an H100, against 3 and
# 3e-7 on CPU). Full float32 precision for these; a no-op on CPU.
_EXACT = jax.lax.Precision.HIGHEST
MAX_BLOCKS = 64  # longer lines get longer blocks (the carries are unrolled over blocks)


def _excess_pivots(s, c):
    """Pivots of the tridiagonal matrices ``T = c·(path Laplacian) + diag(s)`` along the
    leading axis of `s` ``(n, ...)`` (``s ≥ 0``: cells and terminals), in a form with no
    cancellation. With ``h(e) = c·e/(c + e)``, the forward pivots are
    ``p_k = e_k + c·[k < n−1]`` with ``e_k = s_k + h(e_{k−1})``, the backward pivots
    ``q_k = f_k + c·[k > 0]`` with ``f_k = s_k + h(f_{k+1})`` (``e₋₁ = f_n = 0``), and
    ``1/(T⁻¹)_kk = p_k + q_k − d_k = f_k + h(e_{k−1})`` — sums of non-negative terms, so a
    nearly singular line (floating, weak cells) keeps its precision. Returns ``(e, h(e
    shifted), f)``."""

    def step(prev, sk):
        e = sk + c * prev / (c + prev)
        return e, e

    z = jnp.zeros_like(s[0])
    _, e = jax.lax.scan(step, z, s, unroll=8)
    _, f = jax.lax.scan(step, z, s, reverse=True, unroll=8)
    he = jnp.concatenate([z[None], c * e[:-1] / (c + e[:-1])])
    return e, he, f


def line_inverse(s, c, block: int = BLOCK):
    """What `apply_rows`/`apply_cols` need to apply ``T⁻¹`` for every line, where
    ``T = c·(path Laplacian) + diag(s)`` (`s` ``(n, ...)``, positions first: the cells'
    and terminals' conductances at each node; off-diagonal ``−c``).

    ``T`` is an M-matrix, so ``T⁻¹ > 0``, and it is semiseparable: with ``Dᵢ = (T⁻¹)ᵢᵢ``
    (from the two pivot sequences, `_excess_pivots`), ``αₖ = c/pₖ ∈ (0, 1]`` and
    ``Pₖ = Π_{l<k} α_l``, ``(T⁻¹)ᵢⱼ = Dⱼ·Pⱼ/Pᵢ`` for ``i ≤ j`` (and symmetric), so
    ``T⁻¹f`` is two cumulative sums. To keep every number in range the line is cut into
    blocks of `block` nodes: ``P̃`` is ``P`` relative to its block's start, and the sums are
    carried between blocks by products of block ratios ``ρ_b = Π_{l∈b} α_l ≤ 1`` — only
    ``1/P̃`` within one block can exceed 1, and a floor on ``α`` keeps it finite.

    Returns per-node ``pinv = 1/P̃`` and ``dpt = D·P̃`` ``(n_padded, ...)`` (padded to a
    whole number of blocks with inert nodes) and ``carry`` ``(..., nb, nb)``:
    ``carry[b, c] = Π_{c ≤ b' < b} ρ_b'`` below the diagonal, 0 elsewhere.
    """
    n = s.shape[0]
    e, he, f = _excess_pivots(s, c)
    diag = 1.0 / (f + he)
    k = min(max(block, -(-n // MAX_BLOCKS)), n)
    nb = -(-n // k)
    floor = float(jnp.finfo(s.dtype).tiny) ** (1.0 / (k + 1))
    alpha = jnp.maximum(c / (c + e), floor)  # c/p_k (p_k = c + e_k except at the last node)
    pad = nb * k - n
    if pad:
        alpha = jnp.concatenate([alpha, jnp.ones((pad,) + s.shape[1:], s.dtype)])
        diag = jnp.concatenate([diag, jnp.zeros((pad,) + s.shape[1:], s.dtype)])
    cp = jnp.cumprod(alpha.reshape((nb, k) + s.shape[1:]), axis=1)
    ones = jnp.ones((nb, 1) + s.shape[1:], s.dtype)
    pt = jnp.concatenate([ones, cp[:, :-1]], axis=1).reshape((nb * k,) + s.shape[1:])
    log_rho = jnp.log(cp[:, -1])  # (nb, ...)
    r = jnp.cumsum(log_rho, 0) - log_rho  # exclusive: R_b = Σ_{b'<b} log ρ_b'
    r = jnp.moveaxis(r, 0, -1)  # (..., nb)
    lower = np.tril(np.ones((nb, nb), bool), -1)
    carry = jnp.where(lower, jnp.exp(jnp.minimum(r[..., :, None] - r[..., None, :], 0.0)), 0.0)
    return {"pinv": 1.0 / pt, "dpt": diag * pt, "carry": carry}


def _triangles(k, dtype):
    j = np.arange(k)
    excl = jnp.asarray(j[:, None] < j[None, :], dtype)  # (x @ excl)_k = Σ_{j<k} x_j
    rincl = jnp.asarray(j[:, None] >= j[None, :], dtype)  # (x @ rincl)_k = Σ_{j≥k} x_j
    return excl, rincl


def apply_rows(inv, f):
    """``T⁻¹f`` for every row line: along the last axis of `f` ``(..., M, N)``; `inv`
    from `Lines.factor` (per-node arrays ``(..., M, Np)``). The cumulative sums within a
    block are one matmul each with a fixed triangle."""
    n = f.shape[-1]
    pinv, dpt, carry = inv["pinv"], inv["dpt"], inv["carry"]
    npad, nb = pinv.shape[-1], carry.shape[-1]
    k = npad // nb
    if npad != n:
        f = jnp.pad(f, [(0, 0)] * (f.ndim - 1) + [(0, npad - n)])
    excl, rincl = _triangles(k, f.dtype)
    blocks = f.shape[:-1] + (nb, k)
    a = (f * pinv).reshape(blocks)
    b = (f * dpt).reshape(blocks)
    ex = jnp.matmul(a, excl, precision=_EXACT)
    ri = jnp.matmul(b, rincl, precision=_EXACT)
    e = jnp.einsum("...lbc,...lc->...lb", carry, ex[..., -1] + a[..., -1], precision=_EXACT)  # carried Σ a
    h = jnp.einsum("...lcb,...lc->...lb", carry, ri[..., 0], precision=_EXACT)  # carried Σ b
    shp = pinv.shape[:-1] + (nb, k)
    z = dpt.reshape(shp) * (ex + e[..., None]) + pinv.reshape(shp) * (ri + h[..., None])
    z = z.reshape(f.shape)
    return z[..., :n] if npad != n else z


def apply_cols(inv, f):
    """``T⁻¹f`` for every column line: along axis −2 of `f` ``(..., M, N)``; `inv`'s
    per-node arrays are ``(..., Mp, N)``. The cumulative sums within a block run along
    a non-minor axis of the blocked view ``(..., nb, k, N)``."""
    m = f.shape[-2]
    pinv, dpt, carry = inv["pinv"], inv["dpt"], inv["carry"]
    mpad, nb = pinv.shape[-2], carry.shape[-1]
    k = mpad // nb
    if mpad != m:
        f = jnp.pad(f, [(0, 0)] * (f.ndim - 2) + [(0, mpad - m), (0, 0)])
    blocks = f.shape[:-2] + (nb, k, f.shape[-1])
    shp = pinv.shape[:-2] + (nb, k, f.shape[-1])
    pinv, dpt = pinv.reshape(shp), dpt.reshape(shp)
    a = f.reshape(blocks) * pinv
    b = f.reshape(blocks) * dpt
    # along a non-minor axis XLA's cumulative sum is the fast form (rows of N contiguous)
    ex = jax.lax.cumsum(a, axis=a.ndim - 2) - a
    ri = jax.lax.cumsum(b, axis=b.ndim - 2, reverse=True)
    # the carries between blocks by their recurrences E_{b+1} = ρ_b(E_b + s_b),
    # H_b = ρ_b(H_{b+1} + t_{b+1}), unrolled over the (few) blocks: XLA gives these small
    # fields the row-major layout the final pass reads them in (a contraction with the
    # carry matrix, batched over lines, leaves them line-major: 2.4x slower overall)
    rho = jnp.diagonal(carry, offset=-1, axis1=-2, axis2=-1)  # (..., L, nb − 1): ρ_b = carry[b + 1, b]
    rho = jnp.swapaxes(rho, -1, -2)
    s = ex[..., -1, :] + a[..., -1, :]  # block sums of a   (..., nb, L)
    t = ri[..., 0, :]  # block sums of b
    e_b = [jnp.zeros_like(s[..., 0, :])]
    for i in range(1, nb):
        e_b.append(rho[..., i - 1, :] * (e_b[-1] + s[..., i - 1, :]))
    h_b = [jnp.zeros_like(t[..., 0, :])]
    for i in range(nb - 2, -1, -1):
        h_b.append(rho[..., i, :] * (h_b[-1] + t[..., i + 1, :]))
    e = jnp.stack(e_b, axis=-2)
    h = jnp.stack(h_b[::-1], axis=-2)
    z = dpt * (ex + e[..., None, :]) + pinv * (ri + h[..., None, :])
    z = z.reshape(f.shape)
    return z[..., :m, :] if mpad != m else z


def block_inverse(s, c, block: int = BLOCK):
    """``T⁻¹`` (as in `line_inverse`, `s` ``(n, L)``: positions first) for lines that every
    right-hand side shares, in the form `apply_blocks` uses: per line and block of `k`
    nodes the dense ``k × k`` block of ``T⁻¹`` within the block, two more rows giving
    the block's sums ``Σ pinv·f`` and ``Σ dpt·f`` (what the other blocks see of it), and
    the carries. Returns ``K`` ``(L, nb, k + 2, k)``, ``pinv``/``dpt`` ``(L, nb, k)``,
    ``carry`` ``(L, nb, nb)`` and its transpose ``carry_t``. The block entries are
    ``D_i·P̃_i/P̃_j`` (``j ≤ i``) and their mirror — entries of ``T⁻¹`` itself, so
    bounded."""
    inv = line_inverse(s, c, block)
    carry = inv["carry"]
    nb = carry.shape[-1]
    k = inv["pinv"].shape[0] // nb
    pinv, dpt = (jnp.moveaxis(inv[key].reshape((nb, k) + s.shape[1:]), -1, 0) for key in ("pinv", "dpt"))
    i = np.arange(k)
    below = i[None, :] < i[:, None]  # [i, j]: j < i
    blk = jnp.where(below, dpt[..., :, None] * pinv[..., None, :], pinv[..., :, None] * dpt[..., None, :])
    kk = jnp.concatenate([blk, pinv[..., None, :], dpt[..., None, :]], axis=-2)
    return {"K": kk, "pinv": pinv, "dpt": dpt, "carry": carry, "carry_t": jnp.swapaxes(carry, -1, -2)}


def apply_blocks(inv, f):
    """``T⁻¹f`` for every line of `inv` (`block_inverse`), `f` ``(L, n, B)``: lines first,
    right-hand sides last (minor). One batched matmul of each block with its ``k + 2``
    rows — for every line and block a ``(k + 2) × k`` by ``k × B`` product, with no
    transposes in this layout — then the carries between blocks (one small matmul per
    line for each direction) and one elementwise pass."""
    kk = inv["K"]
    lines_, nb, _, k = kk.shape
    n, batch = f.shape[1], f.shape[2]
    if nb * k != n:
        f = jnp.pad(f, [(0, 0), (0, nb * k - n), (0, 0)])
    out = jnp.einsum("lbij,lbjr->lbir", kk, f.reshape(lines_, nb, k, batch), precision=_EXACT)
    e = jnp.einsum("lbc,lcr->lbr", inv["carry"], out[:, :, k], precision=_EXACT)  # Σ over earlier blocks
    h = jnp.einsum("lbc,lcr->lbr", inv["carry_t"], out[:, :, k + 1], precision=_EXACT)  # over later blocks
    z = out[:, :, :k] + inv["dpt"][..., None] * e[:, :, None] + inv["pinv"][..., None] * h[:, :, None]
    z = z.reshape(lines_, nb * k, batch)
    return z[:, :n] if nb * k != n else z


# --- conjugate gradients on the Schur complement of the column nodes ----------------


def _vdot(a, b):
    """Per right-hand side inner product over the last two axes: ``(B,)``."""
    return jnp.sum(a * b, axis=(-2, -1))


def _pcg(s_op, prec, dot, r, tol, scale, max_iter, *, rhs_first: bool):
    """Preconditioned CG from ``x = 0`` with residual `r` (one recurrence per right-hand
    side: `dot` gives ``(B,)``; the right-hand sides are the first axis of the fields if
    `rhs_first`, else the last). Stops when every right-hand side has
    ``‖r‖ ≤ tol·scale`` or after `max_iter` iterations. Returns ``(x, iterations,
    ‖r‖/scale)``."""
    z = prec(r)
    rz = dot(r, z)

    def bcast(a):  # (B,) against a field
        return a.reshape(a.shape + (1,) * (r.ndim - 1)) if rhs_first else a

    def cond(state):
        k, _, r, _, _ = state
        return (k < max_iter) & jnp.any(jnp.sqrt(dot(r, r)) / scale > tol)

    def body(state):
        k, x, r, p, rz = state
        sp = s_op(p)
        psp = dot(p, sp)
        alpha = bcast(jnp.where(psp > 0, rz / jnp.where(psp > 0, psp, 1.0), 0.0))
        x = x + alpha * p
        r = r - alpha * sp
        z = prec(r)
        rz_new = dot(r, z)
        beta = bcast(jnp.where(rz > 0, rz_new / jnp.where(rz > 0, rz, 1.0), 0.0))
        return k + 1, x, r, z + beta * p, rz_new

    k, x, r, _, _ = jax.lax.while_loop(cond, body, (jnp.asarray(0), jnp.zeros_like(r), r, z, rz))
    return x, k, jnp.sqrt(dot(r, r)) / scale


def schur_solve(lines: Lines, g, factors, b, tol, max_iter):
    """Solve ``A x = b`` for ``b = (b_u, b_w)``, with cell conductances `g` and `factors`
    from ``lines.factor(g)``: `g` ``(M, N)`` shared by every right-hand side with
    batch-minor fields ``(M, N, B)``, or ``(B, M, N)`` per right-hand side with
    batch-first fields ``(B, M, N)``.

    ``x_w = A₂₂⁻¹(b_w + D x_u)`` and ``S x_u = b_u + D A₂₂⁻¹ b_w`` with
    ``S = A₁₁ − D A₂₂⁻¹ D``, by CG preconditioned with ``A₁₁⁻¹`` (one recurrence per
    right-hand side). Stops when every right-hand side has ``‖r_S‖ ≤ tol·‖b‖`` (`tol` a
    scalar or ``(B,)``) or after `max_iter` iterations. Returns ``(x, iterations,
    relative residual (B,))``; the residual is CG's recurrence for ``‖r_S‖/‖b‖`` (the
    column equations are solved exactly, so it is the full system's residual up to
    rounding).

    Batch-minor, both line inverses are batched matmuls (`apply_blocks`): the row lines
    are the leading axis of ``(M, N, B)`` fields, the column lines that of the swapped
    ``(N, M, B)`` view, and the swap moves whole ``B``-vectors.
    """
    rows, cols = factors
    b_u, b_w = b
    if "K" not in rows:  # per-input conductances, batch-first fields: semiseparable inverses
        bnorm = jnp.sqrt(_vdot(b_u, b_u) + _vdot(b_w, b_w))

        def col_inv(f):
            return apply_cols(cols, f)

        def s_op(p):
            return lines.lap_rows(p) + g * p - g * col_inv(g * p)

        gd, dot, prec = g, _vdot, lambda r: apply_rows(rows, r)
    else:  # shared conductances, batch-minor fields: dense-block inverses

        def dot(a, b):
            return jnp.sum(a * b, axis=(0, 1))

        def col_inv(f):  # the column lines are the leading axis of (N, M, B)
            return jnp.swapaxes(apply_blocks(cols, jnp.swapaxes(f, 0, 1)), 0, 1)

        def s_op(p):
            return lines.lap_rows(p, True) + gd * p - gd * col_inv(gd * p)

        gd, prec = g[:, :, None], lambda r: apply_blocks(rows, r)
        bnorm = jnp.sqrt(dot(b_u, b_u) + dot(b_w, b_w))
    scale = jnp.where(bnorm > 0, bnorm, 1.0)
    x_u, k, res = _pcg(s_op, prec, dot, b_u + gd * col_inv(b_w), tol, scale, max_iter, rhs_first="K" not in rows)
    return (x_u, col_inv(b_w + gd * x_u)), k, res


def linear_solve(lines: Lines, g, b, *, tol, max_iter):
    """``A(g)⁻¹ b``, differentiable in `g`, `b` and the wire conductances (implicit
    differentiation: the backward pass is one more solve). Returns ``(x, iterations,
    relative residual)``."""
    factors = jax.lax.stop_gradient(lines.factor(g))

    def matvec(x):
        return lines.matvec(g, x)

    def solve(_, rhs):
        x, k, res = schur_solve(lines, g, factors, rhs, tol, max_iter)
        return x, (k, res)

    x, (k, res) = jax.lax.custom_linear_solve(matvec, b, solve, symmetric=True, has_aux=True)
    return x, k, res


def check_converged(iterations, residual, tol, max_iter, what="the circuit solve", ok=None):
    """Raise outside jit when the solve did not reach `tol` (or, when given, when `ok` is
    not all true); a no-op on traced values."""
    if is_concrete(residual, ok):
        worst = float(np.max(np.asarray(residual))) if np.size(residual) else 0.0
        failed = not np.all(np.asarray(ok)) if ok is not None else worst > tol
        if not np.isfinite(worst) or failed:
            raise SolveError(
                f"{what} did not converge: relative residual {worst:.3g} after {int(iterations)} "
                f"iterations (tol {tol:.3g}, max_iter {max_iter}). Check for non-finite or extreme "
                "conductances/resistances, or raise max_iter."
            )


class SolveError(RuntimeError):
    """A circuit solve that did not converge (raised outside jit)."""
