"""Learning: surrogate-gradient training with the hardware in the loop, evaluation of
trained weights on ideal and programmed hardware, and over chips and time; STDP rules
and the Diehl & Cook (2015) network learning in situ."""

from ._diehl_cook import DIEHL_COOK_RULE as DIEHL_COOK_RULE
from ._diehl_cook import DiehlCook as DiehlCook
from ._diehl_cook import DiehlCookState as DiehlCookState
from ._diehl_cook import assign_labels as assign_labels
from ._diehl_cook import classify as classify
from ._diehl_cook import diehl_cook_init as diehl_cook_init
from ._diehl_cook import diehl_cook_present as diehl_cook_present
from ._diehl_cook import diehl_cook_responses as diehl_cook_responses
from ._diehl_cook import diehl_cook_train as diehl_cook_train
from ._pulsed import MODES as MODES
from ._pulsed import PulsedState as PulsedState
from ._pulsed import pulsed as pulsed
from ._pulsed import write_increment as write_increment
from ._stdp import INTERACTIONS as INTERACTIONS
from ._stdp import WEIGHT_DEPENDENCES as WEIGHT_DEPENDENCES
from ._stdp import STDPRule as STDPRule
from ._stdp import STDPTraces as STDPTraces
from ._stdp import stdp_init as stdp_init
from ._stdp import stdp_step as stdp_step
from ._time import DEFAULT_TIMES as DEFAULT_TIMES
from ._time import TimeEvaluation as TimeEvaluation
from ._time import evaluate_over_time as evaluate_over_time
from ._train import ENCODERS as ENCODERS
from ._train import LOSSES as LOSSES
from ._train import LR_SCHEDULES as LR_SCHEDULES
from ._train import TrainConfig as TrainConfig
from ._train import ce_count_loss as ce_count_loss
from ._train import ce_rate_loss as ce_rate_loss
from ._train import encode as encode
from ._train import evaluate as evaluate
from ._train import hardware_forward as hardware_forward
from ._train import init_weights as init_weights
from ._train import learning_rate as learning_rate
from ._train import predict as predict
from ._train import train as train
