"""The array: weight-to-conductance mapping, tiling, and the read (`mvm`).

The ideal product ``I = Gᵀv`` per tile, and the exact circuit: `solve` (line resistance,
passive arrays with selectors and sneak paths, selected-cell read/write schemes) and
`transfer_matrix` (the effective conductance matrix of a linear array).
"""

from ._crossbar import MAPPINGS as MAPPINGS
from ._crossbar import READ_NOISE_MODES as READ_NOISE_MODES
from ._crossbar import CrossbarArray as CrossbarArray
from ._crossbar import CrossbarSpec as CrossbarSpec
from ._crossbar import conductances as conductances
from ._crossbar import effective_weights as effective_weights
from ._crossbar import fabricate as fabricate
from ._crossbar import mvm as mvm
from ._crossbar import program as program
from ._expansion import expansion_epsilon as expansion_epsilon
from ._expansion import transfer_expansion as transfer_expansion
from ._lines import SolveError as SolveError
from ._reference import reference_solve as reference_solve
from ._selectors import SeriesSinh as SeriesSinh
from ._selectors import Sinh as Sinh
from ._solve import ACCESS_TYPES as ACCESS_TYPES
from ._solve import UNSELECTED as UNSELECTED
from ._solve import CircuitSolution as CircuitSolution
from ._solve import solve as solve
from ._solve import transfer_matrix as transfer_matrix
