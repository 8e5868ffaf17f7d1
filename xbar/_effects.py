"""Switches for each non-ideal effect of the read path."""

from __future__ import annotations

import dataclasses

__all__ = ["Effects", "EFFECT_NAMES"]

EFFECT_NAMES = ("d2d", "write_noise", "stuck", "levels", "drift", "read_noise", "dac", "adc", "wear")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Effects:
    """Which non-idealities are simulated. All on by default; `Effects.ideal()` turns all off.

    **Arguments** (each a bool):

    - `d2d`: device-to-device variation sampled at fabrication (each cell's reachable
      conductance window; STT-MRAM resistance spread).
    - `write_noise`: programming error (the card's write-verify error model; STT-MRAM
      write errors).
    - `stuck`: as-fabricated stuck-on / stuck-off cells.
    - `levels`: finite device states (an STT-MRAM device of k MTJs has k+1 levels).
    - `drift`: time dependence after programming (PCM drift, RRAM relaxation, MTJ thermal
      flips, floating-gate charge loss).
    - `read_noise`: noise at every read.
    - `dac`: input quantization to `dac_bits`.
    - `adc`: per-tile column-current quantization to `adc_bits`, with clipping.
    - `wear`: endurance — cells that have taken many write pulses see their window
      close, their cycle-to-cycle noise grow, and wear out stuck on or off.

    Fabrication always samples its random draws; the switches decide whether they are
    used, so one fabricated chip can be evaluated with effects turned on and off.
    """

    d2d: bool = True
    write_noise: bool = True
    stuck: bool = True
    levels: bool = True
    drift: bool = True
    read_noise: bool = True
    dac: bool = True
    adc: bool = True
    wear: bool = True

    def __post_init__(self) -> None:
        for name in EFFECT_NAMES:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"Effects.{name}: expected a bool, got {type(value).__name__} {value!r}")

    @classmethod
    def ideal(cls) -> Effects:
        """Every effect off: `mvm` reduces to ``W.T @ x``."""
        return cls(**{n: False for n in EFFECT_NAMES})

    @classmethod
    def only(cls, *names: str) -> Effects:
        """Only the named effects on."""
        _check_names(names)
        return cls(**{n: (n in names) for n in EFFECT_NAMES})

    def without(self, *names: str) -> Effects:
        """A copy with the named effects off."""
        _check_names(names)
        return dataclasses.replace(self, **{n: False for n in names})

    @property
    def is_ideal(self) -> bool:
        return not any(getattr(self, n) for n in EFFECT_NAMES)


def _check_names(names) -> None:
    for n in names:
        if n not in EFFECT_NAMES:
            raise ValueError(f"effect name: expected one of {EFFECT_NAMES}, got {n!r}")
