"""Spiking networks: neurons, surrogate gradients, encoders and crossbar layers."""

from ._encoders import LATENCY_CODES as LATENCY_CODES
from ._encoders import latency as latency
from ._encoders import rate as rate
from ._layers import Network as Network
from ._layers import NetworkOutput as NetworkOutput
from ._layers import SpikingDense as SpikingDense
from ._layers import synaptic_current as synaptic_current
from ._neurons import IF as IF
from ._neurons import LIF as LIF
from ._neurons import RESETS as RESETS
from ._surrogate import SURROGATES as SURROGATES
from ._surrogate import Surrogate as Surrogate
from ._surrogate import arctan as arctan
from ._surrogate import fast_sigmoid as fast_sigmoid
from ._surrogate import spike as spike
from ._surrogate import triangle as triangle
