"""Build a cell model from a device card."""

from __future__ import annotations

import os

from ._card import Card, CardError, load_card
from ._models import FAMILY_MODELS, Device

__all__ = ["from_card", "load"]

# card key -> model field, where they differ
_RENAME: dict[str, str] = {}
_INTEGER_FIELDS = {"mtjs_per_device"}


def from_card(card: Card) -> Device:
    """The cell model for a loaded card (values already in SI units)."""
    try:
        cls = FAMILY_MODELS[card.family]
    except KeyError:
        raise CardError(
            f"{card.path}: key 'family': expected one of {sorted(FAMILY_MODELS)}, got {card.family!r}"
        ) from None
    kwargs = {"name": card.name}
    for key, param in card.params.items():
        field = _RENAME.get(key, key)
        value = param.value
        if field in _INTEGER_FIELDS:
            value = int(value)
        kwargs[field] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise CardError(f"{card.path}: {err}") from None


def load(name_or_path: str | os.PathLike) -> Device:
    """Load a device card (a built-in name such as ``"rram_hfox"`` or a path to a
    ``.toml`` card) and return its cell model."""
    return from_card(load_card(name_or_path))
