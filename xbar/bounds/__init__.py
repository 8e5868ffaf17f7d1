"""Theoretical error of the crossbar read, without simulation: closed-form per-cell
moments of every device family (`cell_moments`), the mean and variance of the MVM error
from the devices, the DAC and the ADC (`mvm_error`, `dac_error`), and the IR-drop error
by the expansion in the wire resistance (`ir_drop_error`) or, for a uniform array, in
closed form (`ir_drop_uniform`)."""

from ._cells import cell_moments as cell_moments
from ._irdrop import UniformIRDrop as UniformIRDrop
from ._irdrop import ir_drop_uniform as ir_drop_uniform
from ._mvm import ErrorPrediction as ErrorPrediction
from ._mvm import IRDropPrediction as IRDropPrediction
from ._mvm import dac_error as dac_error
from ._mvm import ir_drop_error as ir_drop_error
from ._mvm import mvm_error as mvm_error
