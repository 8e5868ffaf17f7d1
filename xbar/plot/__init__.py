"""Figures (matplotlib). Nothing in the library imports this package."""

from ._devices import device_figure as device_figure
from ._devices import plot_endurance as plot_endurance
from ._devices import plot_pulse_response as plot_pulse_response
from ._devices import plot_retention as plot_retention
from ._energy import plot_energy_breakdown as plot_energy_breakdown
from ._energy import plot_error_prediction as plot_error_prediction
from ._learn import plot_accuracy_over_time as plot_accuracy_over_time
from ._plots import plot_cell_voltages as plot_cell_voltages
from ._plots import plot_conductance_histogram as plot_conductance_histogram
from ._plots import plot_current_error as plot_current_error
from ._plots import plot_demo_accuracy as plot_demo_accuracy
from ._plots import plot_training as plot_training
from ._sweep import plot_sweep_heatmap as plot_sweep_heatmap
from ._sweep import plot_sweep_lines as plot_sweep_lines
from ._sweep import sweep_axes as sweep_axes
from ._sweep import sweep_figure as sweep_figure
