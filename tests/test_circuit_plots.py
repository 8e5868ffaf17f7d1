"""The circuit heat maps draw what the solution holds."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from xbar import circuit, plot  # noqa: E402


def test_cell_voltage_and_current_error_maps():
    rng = np.random.default_rng(0)
    g = 1.0 / rng.uniform(1e4, 1e5, (16, 12))
    v = np.full((3, 16), 0.2)
    sol = circuit.solve(g, v, r_row=2.0, r_col=2.0, full=True)
    fig, axes = plt.subplots(1, 3)
    ax = plot.plot_cell_voltages(sol, v, ax=axes[0], index=1)
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown, np.asarray(sol.cell_voltages[1]) / 0.2, rtol=1e-6)
    assert shown.max() < 1.0  # IR drop: no cell sees the full applied voltage
    ax = plot.plot_current_error(sol.currents[0], v[0] @ g, ax=axes[1])
    y = ax.lines[0].get_ydata()
    np.testing.assert_allclose(y, 100 * (np.asarray(sol.currents[0]) - v[0] @ g) / (v[0] @ g), rtol=1e-6)
    assert np.all(y < 0)  # line resistance only loses current
    ax = plot.plot_current_error(sol.currents, v @ g, ax=axes[2])
    assert ax.images[0].get_array().shape == (3, 12)
    plt.close(fig)


def test_selected_cell_map_shows_half_selected_cells():
    rng = np.random.default_rng(1)
    g = 1.0 / rng.uniform(1e4, 1e5, (8, 10))
    sol = circuit.solve(g, 0.6, r_row=1.0, r_col=1.0, access="passive", select=(2, 7), unselected="v/2", full=True)
    fig, ax = plt.subplots()
    ax = plot.plot_cell_voltages(sol, 0.6, ax=ax)
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown, np.asarray(sol.cell_voltages) / 0.6, rtol=1e-6)
    half = sol.half_selected
    assert half.sum() == 8 + 10 - 2
    np.testing.assert_allclose(shown[half], 0.5, atol=0.02)  # V/2 on half-selected cells
    assert shown[2, 7] > 0.9  # the selected cell sees nearly the full voltage
    others = ~half
    others[2, 7] = False
    assert np.max(np.abs(shown[others])) < 0.02  # unselected cells: about 0 V
    (marker,) = ax.lines
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (7, 2)
    plt.close(fig)
