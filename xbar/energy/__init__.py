"""Energy and latency: what every stage of the read path spends (array reads, row
drivers, ADC conversions, neuron updates, spikes, write pulses), per inference and per
training step, as jit-able, differentiable functions."""

from ._energy import STAGES as STAGES
from ._energy import EnergyModel as EnergyModel
from ._energy import EnergyReport as EnergyReport
from ._energy import adc_conversion_energy as adc_conversion_energy
from ._energy import inference_energy as inference_energy
from ._energy import latency as latency
from ._energy import read_energy as read_energy
from ._energy import training_step_energy as training_step_energy
