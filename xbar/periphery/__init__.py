"""Periphery: DAC (input levels) and ADC (column-current digitization) with named
straight-through estimators for rounding and clipping."""

from ._quant import STE_NAMES as STE_NAMES
from ._quant import adc as adc
from ._quant import dac as dac
from ._quant import quantize as quantize
from ._quant import ste_round as ste_round
