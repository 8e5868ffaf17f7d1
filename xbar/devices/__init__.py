"""Cell physics: one model per technology family, parameterized by device cards.

A card (`devices/*.toml`) is data: every number with its unit and citation. Add a
device by writing a card, not a class::

    import xbar
    xbar.devices.available()            # ['fg_flash', 'pcm_gst', 'rram_hfox', 'stt_mtj']
    rram = xbar.devices.load("rram_hfox")
    print(xbar.devices.format_card(xbar.devices.load_card("pcm_gst")))
"""

from ._build import from_card as from_card
from ._build import load as load
from ._card import Card as Card
from ._card import CardError as CardError
from ._card import Param as Param
from ._card import available as available
from ._card import format_card as format_card
from ._card import load_card as load_card
from ._models import PCM as PCM
from ._models import RRAM as RRAM
from ._models import STTMRAM as STTMRAM
from ._models import Device as Device
from ._models import FloatingGate as FloatingGate
