"""xbar.bounds.ir_drop_uniform: the first-order IR-drop error of a uniform array in
closed form, against the exact nodal solve (xbar.circuit.solve, float64), with its
validity limit in r·G·N²; transformations and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xbar import bounds, circuit

G, V = 1e-5, 0.2


def _exact_relative(rows, cols, **wires):
    i = np.asarray(circuit.solve(np.full((rows, cols), G), np.full((rows,), V), **wires))
    return i / (rows * G * V) - 1.0


def _r_for(rgn2, rows, cols):
    return rgn2 / (G * 0.5 * (cols**2 + rows**2))


@pytest.mark.parametrize(("rows", "cols"), [(16, 16), (64, 32), (32, 64)])
@pytest.mark.parametrize("rgn2", [1e-3, 1e-2, 0.05, 0.1])
def test_first_order_matches_the_exact_solve_inside_its_validity_range(x64, rows, cols, rgn2):
    r = _r_for(rgn2, rows, cols)
    pred = bounds.ir_drop_uniform(rows, cols, g=G, r_row=r)
    exact = _exact_relative(rows, cols, r_row=r, r_col=r)
    np.testing.assert_allclose(float(pred.rgn2), rgn2, rtol=1e-12)
    disagreement = np.max(np.abs(np.asarray(pred.relative) - exact) / np.abs(exact))
    assert disagreement < 0.1  # the stated validity: within 10 % while r·G·N² ≲ 0.1
    assert disagreement < 1.0 * rgn2  # and the miss is second order: about r·G·N² itself
    assert np.argmax(np.abs(exact)) == cols - 1 and float(pred.worst) == pytest.approx(abs(float(pred.relative[-1])))


@pytest.mark.parametrize("rgn2", [0.3, 1.0])
def test_validity_limit_first_order_overstates_the_drop_beyond(x64, rgn2):
    """Beyond ε ≈ 0.1 the first order misses by more than 10 %; the drivers count in ε."""
    rows = cols = 32
    r = _r_for(rgn2, rows, cols)
    pred = np.asarray(bounds.ir_drop_uniform(rows, cols, g=G, r_row=r).relative)
    exact = _exact_relative(rows, cols, r_row=r, r_col=r)
    assert np.all(np.abs(pred) > np.abs(exact))  # the exact currents fall, and their drops with them
    assert np.max(np.abs(pred - exact) / np.abs(exact)) > 0.2


def test_driver_sense_and_unequal_wires(x64):
    rows, cols = 24, 40
    wires = dict(r_row=0.5, r_col=2.0, r_source=30.0, r_sense=10.0)
    pred = bounds.ir_drop_uniform(rows, cols, g=G, **wires)
    exact = _exact_relative(rows, cols, **wires)
    small = float(pred.epsilon)
    np.testing.assert_allclose(small, float(pred.rgn2) + G * (30.0 * cols + 10.0 * rows), rtol=1e-12)
    assert small < 0.05
    np.testing.assert_allclose(np.asarray(pred.relative), exact, rtol=1.5 * small)


def test_square_array_closed_forms(x64):
    n, r = 50, 0.7
    pred = bounds.ir_drop_uniform(n, n, g=G, r_row=r)
    np.testing.assert_allclose(float(pred.worst), r * G * (n + 1) * (5 * n + 1) / 6, rtol=1e-12)
    np.testing.assert_allclose(float(pred.mean), -r * G * (n + 1) * (2 * n + 1) / 3, rtol=1e-12)
    np.testing.assert_allclose(float(pred.rgn2), r * G * n**2, rtol=1e-12)


def test_jit_vmap_and_gradient(x64):
    f = jax.jit(lambda r: bounds.ir_drop_uniform(20, 30, g=G, r_row=r, r_col=2 * r).mean)
    rs = jnp.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(rs)), [float(f(r)) for r in rs], rtol=1e-12)
    np.testing.assert_allclose(float(jax.grad(f)(1.0)), float(f(1.0)), rtol=1e-12)  # linear in r


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(rows=0, cols=4, g=G, r_row=1.0), "rows: expected a positive int, got 0"),
        (dict(rows=4, cols=2.5, g=G, r_row=1.0), "cols: expected a positive int, got 2.5"),
        (dict(rows=4, cols=4, g=G, r_row=-1.0), "r_row: expected a value >= 0, got -1.0"),
        (dict(rows=4, cols=4, g=-G, r_row=1.0), "g: expected a value >= 0"),
        (dict(rows=4, cols=4, g=G, r_row=1.0, r_sense="x"), "r_sense: expected a real number"),
        (dict(rows=4, cols=4, g=G, r_row=np.ones(4)), r"r_row: expected a scalar \(vmap over several .*\(4,\)"),
    ],
)
def test_errors(kwargs, match):
    rows, cols = kwargs.pop("rows"), kwargs.pop("cols")
    with pytest.raises((ValueError, TypeError), match=match):
        bounds.ir_drop_uniform(rows, cols, **kwargs)


def test_driver_resistance_counts_in_the_validity_parameter(x64):
    """A large driver resistance with thin wires: r·G·N² alone looks safe, ε does not, and
    the first order is indeed off by more than 10 % there."""
    rows = cols = 32
    wires = dict(r_row=0.01, r_col=0.01, r_source=2000.0)
    pred = bounds.ir_drop_uniform(rows, cols, g=G, **wires)
    assert float(pred.rgn2) < 0.01 and float(pred.epsilon) > 0.5
    exact = _exact_relative(rows, cols, **wires)
    assert np.max(np.abs(np.asarray(pred.relative) - exact) / np.abs(exact)) > 0.1
