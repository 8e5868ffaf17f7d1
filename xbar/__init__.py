"""xbar: differentiable JAX models of memristive crossbars inside spiking neural networks.

The pipeline::

    spec  = xbar.CrossbarSpec(device=xbar.devices.load("rram_hfox"), rows=784, cols=256)
    chip  = xbar.fabricate(spec, key=k1)          # d2d variation, stuck cells
    array = xbar.program(chip, W, key=k2)         # write noise, levels
    y     = xbar.mvm(array, x, key=k3, t=3600.0)  # drift, read noise, DAC/ADC

Subpackages: `devices` (cell physics and cards), `circuit` (the array), `periphery`
(DAC/ADC), `energy` (energy and latency), `snn` (neurons, surrogates, encoders, layers), `learn` (training and
evaluation), `data` (datasets), `plot` (figures).
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from ._memory import keep_freed_memory as keep_freed_memory
from ._memory import release_freed_memory as release_freed_memory

keep_freed_memory()  # before JAX starts its threads: see xbar/_memory.py (XBAR_KEEP_FREED_MEMORY=0 opts out)

from . import circuit as circuit
from . import data as data
from . import devices as devices
from . import energy as energy
from . import learn as learn
from . import periphery as periphery
from . import snn as snn
from ._effects import EFFECT_NAMES as EFFECT_NAMES
from ._effects import Effects as Effects
from .circuit import CrossbarArray as CrossbarArray
from .circuit import CrossbarSpec as CrossbarSpec
from .circuit import conductances as conductances
from .circuit import effective_weights as effective_weights
from .circuit import fabricate as fabricate
from .circuit import mvm as mvm
from .circuit import program as program

try:
    __version__ = _version("xbar")
except _PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+source"
