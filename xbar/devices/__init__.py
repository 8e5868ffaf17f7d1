"""Cell physics: one model per technology family, parameterized by device cards.

A card (`devices/*.toml`) is data: every number with its unit and citation. Add a
device by writing a card, not a class::

    import xbar
    xbar.devices.available()            # ['fg_flash', 'pcm_gst', 'rram_hfox', 'stt_mtj']
    rram = xbar.devices.load("rram_hfox")
    print(xbar.devices.format_card(xbar.devices.load_card("pcm_gst")))

Cells are written pulse by pulse (``device.pulse``), by one-shot or write-verify
programming (`one_shot`, `write_verify`), wear out with write cycles (``device.wear``)
and age with time and temperature (``device.conductance(..., t, temperature=...)``);
`pulse_response`, `retention_curves` and `endurance_curves` compute a card's
characteristic curves (drawn by ``xbar devices plot NAME``).
"""

from ._build import from_card as from_card
from ._build import load as load
from ._card import Card as Card
from ._card import CardError as CardError
from ._card import Param as Param
from ._card import available as available
from ._card import format_card as format_card
from ._card import load_card as load_card
from ._curves import endurance_curves as endurance_curves
from ._curves import pulse_response as pulse_response
from ._curves import retention_curves as retention_curves
from ._models import PCM as PCM
from ._models import RRAM as RRAM
from ._models import STTMRAM as STTMRAM
from ._models import Device as Device
from ._models import FloatingGate as FloatingGate
from ._pcm import pcm_pair_update as pcm_pair_update
from ._program import WriteReport as WriteReport
from ._program import one_shot as one_shot
from ._program import write_verify as write_verify
from ._rram import a_to_nl as a_to_nl
from ._rram import neurosim_curve as neurosim_curve
from ._rram import nl_to_a as nl_to_a
from ._stt import switching_probability as switching_probability
