"""IR drop of a uniform array in closed form: the first-order relative error of every
column current, as a function of the array size and the wires alone.

The array: ``rows × cols`` cells of one conductance `g`, every row driven at the same
voltage, with the circuit convention of `xbar.circuit.solve` (row `i` driven at its
column-0 end through `r_source` and one wire segment `r_row` per cell pitch; column `j`
sensed at its last-row end through one segment `r_col` per pitch and `r_sense`, into a
virtual ground). To first order in the wire resistance, each cell sees the ideal
voltage less the drop along its row and the rise along its column, both from the ideal
currents: row segment ``k`` carries ``(cols − k)·g·v``, column segment ``k`` carries
``(k + 1)·g·v``. Summing over a column gives its relative current error

    ΔI_j / I_j = −g·[ r_row·((j+1)·cols − j(j+1)/2) + r_source·cols
                      + r_col·(rows+1)(2·rows+1)/6 + r_sense·rows ],

largest at the far column ``j = cols − 1``, where for a square ``n × n`` array with one
wire resistance ``r`` it is ``−r·g·(n+1)(5n+1)/6 ≈ −(5/6)·r·g·n²``; the mean over the
columns is ``−r·g·(n+1)(2n+1)/3 ≈ −(2/3)·r·g·n²``. Validity is measured by
``ε = r·g·n² + g·(r_source·cols + r_sense·rows)`` with ``r·g·n² = g·(r_row·cols² +
r_col·rows²)/2`` (`rgn2`, the wires alone; `epsilon` adds the drivers and the sense
resistances): the first-order error is within 10 % of the exact solve's while ε ≲ 0.1
and overstates the drop beyond (the exact currents fall, and with them the drops that
cause them; `tests/test_bounds_irdrop.py` checks both against `xbar.circuit.solve`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._tree import as_float_leaf, check_positive_int, is_concrete, pytree_dataclass

__all__ = ["UniformIRDrop", "ir_drop_uniform"]


@pytree_dataclass
class UniformIRDrop:
    """`relative`: first-order relative error of each column current ``(cols,)``
    (negative: less current than ideal); `worst`: its largest magnitude (the far
    column); `mean`: the mean over the columns; `rgn2`: ``g·(r_row·cols² +
    r_col·rows²)/2``, the wires' part of `epsilon`, the validity parameter (first order
    within 10 % of exact while ≲ 0.1) that adds ``g·(r_source·cols + r_sense·rows)``."""

    relative: jnp.ndarray
    worst: jnp.ndarray
    mean: jnp.ndarray
    rgn2: jnp.ndarray
    epsilon: jnp.ndarray


def _scalar_at_least_zero(name, value):
    value = as_float_leaf(value, name)
    if jnp.ndim(value) != 0:
        raise ValueError(f"{name}: expected a scalar (vmap over several values), got shape {jnp.shape(value)}")
    if is_concrete(value) and not np.all(np.asarray(value) >= 0):
        raise ValueError(f"{name}: expected a value >= 0, got {value}")
    return value


def ir_drop_uniform(rows: int, cols: int, *, g, r_row, r_col=None, r_source=0.0, r_sense=0.0) -> UniformIRDrop:
    """First-order IR-drop error of a uniform ``rows × cols`` array of conductance `g`
    [S] with every row driven (module docstring). Resistances in ohms per cell pitch;
    `r_col` defaults to `r_row`. Differentiable and `vmap`-able in every resistance and
    in `g`."""
    rows = check_positive_int("rows", rows)
    cols = check_positive_int("cols", cols)
    r_col = r_row if r_col is None else r_col
    names = ("g", "r_row", "r_col", "r_source", "r_sense")
    g, r_row, r_col, r_source, r_sense = (
        _scalar_at_least_zero(n, v) for n, v in zip(names, (g, r_row, r_col, r_source, r_sense))
    )
    j = jnp.arange(cols, dtype=jnp.result_type(g, float))
    along_row = r_row * ((j + 1.0) * cols - 0.5 * j * (j + 1.0)) + r_source * cols
    along_col = r_col * (rows + 1.0) * (2.0 * rows + 1.0) / 6.0 + r_sense * rows
    rel = -g * (along_row + along_col)
    rgn2 = 0.5 * g * (r_row * cols**2 + r_col * rows**2)
    return UniformIRDrop(
        relative=rel,
        worst=jnp.max(jnp.abs(rel)),
        mean=jnp.mean(rel),
        rgn2=rgn2,
        epsilon=rgn2 + g * (r_source * cols + r_sense * rows),
    )
