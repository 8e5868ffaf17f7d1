"""`transfer_expansion`: the transfer matrix of a crossbar expanded in its wire resistance.

Same circuit and conventions as `xbar.circuit.solve` (see `xbar.circuit._lines`): row ``i``
driven at ``v[i]`` through ``r_source + r_row`` at its column-0 end (and, with
``drive="both"``, at its far end too), column ``j`` sensed into 0 V through
``r_col + r_sense`` at its last-row end (and, with ``sense="both"``, at row 0 too).

**Derivation.** Write the unknowns as the cell voltages ``e = u − w`` (``(rows, cols)``)
and the cell currents ``c = g∘e``. Every cell current leaves its row wire and enters its
column wire, so, with ``R_r`` the resistance (Green's function) of the row wires seen from
their drivers and ``R_c`` that of the column wires seen from their sense nodes,

    u = v − R_r c,   w = R_c c   ⇒   (I + K D) e = v,   K = R_r + R_c,  D = diag(g),

where ``v`` is broadcast along each row. ``R_r`` acts within each row and ``R_c`` within
each column; both are the inverses of the wire Laplacians (``K = L⁻¹`` restricted to the
cells, ``(L + C)⁻¹ = (I + L⁻¹C)⁻¹L⁻¹``), so this is the Neumann series of the nodal solve
around the wire Laplacian, ``e = Σₙ (−K D)ⁿ v``, one power of the wire resistances per
term. The output is ``I_j = Σᵢ g_ij e_ij``; reading off ``T_ij = ∂I_j/∂v_i`` with the
symmetry of ``K`` gives, with ``A = R_r[g]`` (the row IR drop per volt of drive with every
cell at full voltage) and ``B = R_c[g]`` (the same for the columns),

    T⁽⁰⁾ = g
    T⁽¹⁾ = −g∘(A + B)
    T⁽²⁾ = g∘(A∘B + R_r[g∘A] + R_c[g∘B]) + X,
    X_ij = Σ_kl R_c[i,k] R_r[j,l] g_kj g_kl g_il       (row i → column l → row k → column j)

and ``transfer_expansion(order=n)`` returns ``T⁽⁰⁾ + … + T⁽ⁿ⁾``. Every term but ``X`` is a
few cumulative sums over an ``(rows, cols)`` field; ``X`` (the only term in which the
current of one input crosses from a column wire back into another row) has
``rows·cols·min(rows, cols)`` independent sums and costs that much time, and memory in
chunks of at most about 2²² elements.

Green's functions by cumulative sums: a chain grounded at one end, with resistance
``ρ_m`` from node ``m−1`` to node ``m`` (``ρ_0`` from the grounded terminal), has
``R[k, l] = Σ_{m ≤ min(k, l)} ρ_m`` (the resistance of the shared path to ground), so
``(R x)_k = Σ_{m ≤ k} ρ_m S_m`` with ``S_m = Σ_{l ≥ m} x_l`` the current through segment
``m``: two cumulative sums. A chain terminated at both ends (``drive="both"``,
``sense="both"``) is that solution plus a uniform current through the whole chain that
brings its other terminal to 0 V: ``y − a·y_far/A_total`` with ``a_k = Σ_{m ≤ k} ρ_m``.

**Validity.** The measure is

    ε = max_ij (R_r[g] + R_c[g])_ij = ‖K D‖_∞,

the worst first-order relative cell-voltage drop when every row is driven at the same
voltage (what `expansion_epsilon` returns). For a uniform array of conductance ``g`` with
``drive="near"``, ``sense="far"``,
``ε = g·[(r_source + r_row)·cols + r_row·cols(cols−1)/2 + (r_sense + r_col)·rows + r_col·rows(rows−1)/2]``
— it grows with the *square* of the line length, not linearly. Because ``K`` and ``g`` are
non-negative, ``‖(K D)ⁿ‖_∞ ≤ εⁿ``, which gives a guaranteed bound for ``ε < 1``: for every
input ``v`` and column ``j``,

    |v @ T_n − solve(g, v)|_j ≤ ε^(n+1)/(1 − ε) · max|v| · Σᵢ g_ij,

i.e. ``err_n = max_j Σᵢ |T_n − T|_ij / Σᵢ g_ij ≤ ε^(n+1)/(1 − ε)`` (the worst relative
error of a column current over all inputs with ``|v| ≤ 1``, relative to the ideal
all-ones current). Measured in float64 against the exact solve (`reference_solve`, which
`transfer_matrix` matches to 1e-9) on 396 arrays (8×8, 16×32, 32×16, 32×32, 64×96, 96×24;
1/g uniform in 10 kΩ…1 MΩ, uniform g, log-uniform over four decades, sparse ON cells with
dead lines, one hot row or column; all four drive/sense combinations; wire-only, mixed,
and termination-dominated resistances), each with its resistances scaled to
the ε shown:

    ε       err_1 median   err_1 max   err_2 median   err_2 max   bound ε²/(1−ε), ε³/(1−ε)
    0.001   6.7e-7         1.0e-6      5.6e-10        1.0e-9      1.0e-6,  1.0e-9
    0.01    6.7e-5         9.9e-5      5.5e-7         9.9e-7      1.0e-4,  1.0e-6
    0.03    5.9e-4         8.7e-4      1.5e-5         2.6e-5      9.3e-4,  2.8e-5
    0.1     6.2e-3         9.1e-3      5.1e-4         9.1e-4      0.011,   1.1e-3
    0.2     0.023          0.033       3.8e-3         6.7e-3      0.050,   0.010
    0.3     0.049          0.069       0.012          0.021       0.13,    0.039
    0.5     0.12           0.17        0.050          0.083       0.50,    0.25
    0.8     0.26           0.36        0.17           0.28        3.2,     2.6
    1.0     0.37           0.50        0.31           0.50        —
    1.2     0.49           0.65        0.49           0.79        — (order 2 worse than 1 for 46 %)
    1.5     0.69           0.90        0.84           1.3         — (order 2 worse than 1 for 97 %)

So ``err_n = c·ε^(n+1)`` with ``c`` between 0.08 and about ``1/(1 + ε)`` (about 0.3–0.8 for
1/g ~ U(10 kΩ, 1 MΩ) arrays; the upper envelope is reached when the driver and
sense resistances dominate, where every row is one node and the series is exactly
geometric). ε is an upper bound on the spectral radius ρ of ``K D``; measured ρ/ε lay in
0.64…1.0 (≈ 0.81 for a uniform array with wires only). The series diverges once ρ ≥ 1:
never for ``ε < 1`` (where order 2 always beat order 1 and order 1 always beat order 0),
for about half of the arrays at ``ε = 1.2`` and for almost all at ``ε = 1.5``.

Use order 1 for ``ε ≲ 0.03`` (error < 0.1 %), order 2 for ``ε ≲ 0.1`` (< 0.1 %) or
``ε ≲ 0.3`` (< 2 %). The validity range is ``ε < 1``; beyond it the expansion must not be
used (solve the circuit with `transfer_matrix`), and above ``ε ≈ 0.5`` it is already off
by 5–20 %.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import is_concrete
from ._lines import DRIVES, SENSES
from ._solve import _as_conductances, _check_resistance

__all__ = ["transfer_expansion", "expansion_epsilon"]

ORDERS = (0, 1, 2)
_CHUNK = 1 << 22  # elements per chunk of the cross term's (chunk, rows, cols) fields


def _chain_green(x, axis: int, r_seg, r_term, both: bool, grounded_last: bool):
    """Apply the Green's function (node resistance matrix) of the chains along `axis` of `x`.

    Each chain has segments `r_seg` and is terminated to 0 V through `r_term` at index 0
    (``grounded_last=False``) or at index −1 (``True``); with `both`, through `r_term` at
    the other end too. Returns the node potentials for injected currents `x`.
    """
    k = x.shape[axis]
    end = k - 1 if grounded_last else 0
    rho = jnp.full((k,), r_seg, x.dtype).at[end].set(r_term)  # ρ_m: segment m, towards ground
    if axis == -2:
        rho = rho[:, None]
    s = jax.lax.cumsum(x, axis=x.ndim + axis, reverse=not grounded_last)  # current through segment m
    y = jax.lax.cumsum(rho * s, axis=x.ndim + axis, reverse=grounded_last)
    if both:
        a = jax.lax.cumsum(rho, axis=0, reverse=grounded_last)  # resistance from node to ground
        total = jnp.sum(rho) + r_term
        far_end = 0 if grounded_last else k - 1
        far = jax.lax.slice_in_dim(y, far_end, far_end + 1, axis=x.ndim + axis)
        safe = jnp.where(total > 0, total, 1.0)
        y = y - a * (far / safe)
    return y


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _Wires:
    """The two Green's functions of an array: `row(x)` along each row, `col(x)` along
    each column, for fields ``(..., rows, cols)``. `r_drv`/`r_sns`: the resistance from a
    row's first node to its driver / from a column's last node to its sense node."""

    r_row: jax.Array
    r_col: jax.Array
    r_drv: jax.Array
    r_sns: jax.Array
    drive_both: bool = dataclasses.field(metadata=dict(static=True))
    sense_both: bool = dataclasses.field(metadata=dict(static=True))

    def row(self, x):
        return _chain_green(x, -1, self.r_row, self.r_drv, self.drive_both, grounded_last=False)

    def col(self, x):
        return _chain_green(x, -2, self.r_col, self.r_sns, self.sense_both, grounded_last=True)


@jax.jit
def _cross_term(g, wires: _Wires):
    """``X_ij = Σ_kl R_c[i,k] R_r[j,l] g_kj g_kl g_il`` in ``rows·cols·min(rows, cols)``
    operations, by chunks of rows (or columns, whichever are fewer). Jitted only so that
    eager calls reuse the compiled `lax.map` of large arrays (it is inlined under an
    outer `jit`)."""
    m, n = g.shape
    if m <= n:
        # fix the input row i: Y = R_r[g ∘ g_i] along rows, X_i = (R_c[g ∘ Y])_i
        def one(i):
            y = wires.row(g * g[i][None, :])
            return jnp.take(wires.col(g * y), i, axis=0)

        idx, out_axis = jnp.arange(m), 0
    else:
        # fix the output column j: V = R_c[g ∘ g_:j] along columns, X_:j = (R_r[g ∘ V])_:j
        def one(j):
            y = wires.col(g * g[:, j][:, None])
            return jnp.take(wires.row(g * y), j, axis=1)

        idx, out_axis = jnp.arange(n), 1
    batch = _CHUNK // (m * n)
    if batch >= idx.shape[0]:
        x = jax.vmap(one)(idx)  # small arrays: one batched pass
    else:  # large ones: chunks of `batch`, rematerialised in the backward pass
        x = jax.lax.map(jax.checkpoint(one), idx, batch_size=max(batch, 1))
    return x if out_axis == 0 else x.T


def _check_g_values(g):
    if is_concrete(g):
        gn = np.asarray(g)
        if not np.all(np.isfinite(gn)) or np.any(gn < 0):
            raise ValueError("g: expected finite, non-negative conductances [S]; got negative or non-finite entries")


def _prepare(g, r_row, r_col, r_source, r_sense, drive, sense):
    g = _as_conductances(g)
    _check_g_values(g)
    if drive not in DRIVES:
        raise ValueError(f"drive: expected one of {DRIVES}, got {drive!r}")
    if sense not in SENSES:
        raise ValueError(f"sense: expected one of {SENSES}, got {sense!r}")
    rs = [
        _check_resistance(name, r, allow_zero=True)
        for name, r in (("r_row", r_row), ("r_col", r_col), ("r_source", r_source), ("r_sense", r_sense))
    ]
    r_row, r_col, r_source, r_sense = (r.astype(g.dtype) for r in rs)
    wires = _Wires(
        r_row=r_row,
        r_col=r_col,
        r_drv=r_source + r_row,
        r_sns=r_col + r_sense,
        drive_both=drive == "both",
        sense_both=sense == "both",
    )
    return g, wires


def expansion_epsilon(g, *, r_row, r_col, r_source=0.0, r_sense=0.0, drive: str = "near", sense: str = "far"):
    """The expansion parameter ``ε = max_ij (R_r[g] + R_c[g])_ij`` of `transfer_expansion`.

    The largest first-order relative voltage drop across a cell when every row is driven
    at the same voltage (row IR drop plus column IR rise); a scalar array [dimensionless].
    ``ε < 1`` guarantees convergence of the expansion, and order ``n`` is then accurate to
    ``ε^(n+1)/(1 − ε)`` relative to the column sums of `g` (see the module docstring for
    the measured, smaller, constants). Takes `transfer_expansion`'s arguments.
    """
    g, wires = _prepare(g, r_row, r_col, r_source, r_sense, drive, sense)
    return jnp.max(wires.row(g) + wires.col(g))


def transfer_expansion(
    g,
    *,
    r_row,
    r_col,
    r_source=0.0,
    r_sense=0.0,
    drive: str = "near",
    sense: str = "far",
    order: int = 1,
):
    """The transfer matrix of a crossbar with wire resistance, to `order` in the resistances.

    A closed-form approximation of `xbar.circuit.transfer_matrix` (the exact nodal solve)
    for small IR drop: ``v @ transfer_expansion(g, ...) ≈ solve(g, v, ...)``. No linear
    solve and no iteration, so it is cheap, exactly differentiable and never fails to
    converge — but it is only accurate while `expansion_epsilon` ε is small: the error of
    order n is at most ``ε^(n+1)/(1 − ε)`` (relative to the ideal column currents) and
    measured ``(0.08…1)·ε^(n+1)``; at ``ε = 0.1`` order 1 is within 0.9 % and order 2
    within 0.09 %. Valid for ``ε < 1``; beyond, the series may diverge (see the module
    docstring for the measured table).

    **Arguments:**

    - `g`: cell conductances ``(rows, cols)`` [S], finite and ≥ 0.
    - `r_row`, `r_col`: wire resistance of one cell pitch along a row / a column [Ω], ≥ 0.
    - `r_source`, `r_sense`: row driver and column sense resistance [Ω], ≥ 0.
    - `drive`: ``"near"`` or ``"both"``; `sense`: ``"far"`` or ``"both"`` (as in `solve`).
    - `order`: 0 (the ideal ``g``), 1 or 2 (terms kept, in powers of the resistances).

    **Returns:** ``T`` ``(rows, cols)`` [S], in the floating dtype of `g`.

    Order 0 and 1 cost a few cumulative sums over the array; order 2 adds a term costing
    ``rows·cols·min(rows, cols)``. Works under `jit`, `vmap` and `grad` (in `g` and in the
    resistances).
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or int(order) not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS}, got {order!r}")
    g, wires = _prepare(g, r_row, r_col, r_source, r_sense, drive, sense)
    if order == 0:
        return g
    a = wires.row(g)  # row IR drop per volt, every cell at full voltage
    b = wires.col(g)  # column IR rise per volt
    t = g - g * (a + b)
    if order == 1:
        return t
    return t + g * (a * b + wires.row(g * a) + wires.col(g * b)) + _cross_term(g, wires)
