"""Batch sweeps over device, periphery and time settings: a TOML spec, vmapped
evaluation sharded over every JAX device, atomic resumable results.

    import xbar.sweep
    spec = xbar.sweep.load_spec("examples/adc_sweep.toml")
    rows = xbar.sweep.run(spec, "runs/adc")        # or: xbar sweep SPEC --out DIR
    xbar.sweep.read_results("runs/adc")            # the rows of runs/adc/results.csv

The `xbar` command line lives beside this package (`xbar/_cli.py`); `xbar plot DIR`
draws a sweep's results (`xbar.plot.sweep_figure`).
"""

from ._run import META as META
from ._run import RESULTS as RESULTS
from ._run import WEIGHTS as WEIGHTS
from ._run import SweepError as SweepError
from ._run import read_results as read_results
from ._run import run as run
from ._spec import BASE_DEFAULTS as BASE_DEFAULTS
from ._spec import GROUP_AXES as GROUP_AXES
from ._spec import SWEEP_AXES as SWEEP_AXES
from ._spec import SpecError as SpecError
from ._spec import SweepSpec as SweepSpec
from ._spec import load_spec as load_spec
from ._spec import parse_spec as parse_spec

__all__ = [
    "run", "read_results", "load_spec", "parse_spec", "SweepSpec", "SpecError", "SweepError",
    "SWEEP_AXES", "GROUP_AXES", "BASE_DEFAULTS", "RESULTS", "META", "WEIGHTS",
]  # fmt: skip
