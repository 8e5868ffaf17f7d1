"""Cell models: one per technology family (`_rram`, `_pcm`, `_stt`, `_fg`), on the common
interface of `_base.Device`."""

from __future__ import annotations

from ._base import Device, after_programming, clip_window
from ._fg import FloatingGate
from ._pcm import PCM
from ._rram import RRAM
from ._stt import STTMRAM

__all__ = ["Device", "RRAM", "PCM", "STTMRAM", "FloatingGate", "FAMILY_MODELS", "after_programming", "clip_window"]

FAMILY_MODELS = {"rram": RRAM, "pcm": PCM, "stt": STTMRAM, "fg": FloatingGate}
