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
