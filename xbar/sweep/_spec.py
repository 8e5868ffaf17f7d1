"""Sweep specs: a TOML file naming a base configuration and the axes to sweep.

A spec (see `examples/adc_sweep.toml`)::

    mode = "grid"              # "grid": every combination of the axes; "zip": point by point

    [base]                     # the configuration every point starts from
    dataset = "digits"         # "digits" (embedded) or "mnist" (`mnist = DIR`, else find_mnist())
    hidden = [128]             # hidden layer sizes of the LIF network
    epochs = 20                # training of the network (once per sweep, cached in OUT)
    card = "rram_hfox"         # device card: a built-in name or a path to a .toml card
    adc_bits = 8
    t = 1.0                    # seconds after programming

    [base.device]              # overrides of the card's parameters, SI units
    d2d_sigma = 0.1

    [axes]                     # each a non-empty list
    adc_bits = [2, 3, 4, 5, 6, 7, 8]
    chip = [0, 1, 2, 3, 4]
    # device.d2d_sigma = [0.0, 0.05, 0.1]

Every key is checked here, with the file, the key, what is allowed and what was got,
before anything runs. `SWEEP_AXES` lists the axes; ``device.NAME`` sweeps any numeric
parameter of the card's model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import pathlib
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["SweepSpec", "SpecError", "load_spec", "parse_spec", "SWEEP_AXES", "GROUP_AXES", "BASE_DEFAULTS"]


class SpecError(ValueError):
    """A malformed sweep spec; the message names the file and the key."""


# name: (default, kind, allowed / lower bound, help). Kinds: "int", "float", "str",
# "ints" (list of ints), "bool".
_BASE = {
    "dataset": ("digits", "str", ("digits", "mnist"), "the data set"),
    "mnist": ("", "str", None, "MNIST directory (default: xbar.data.find_mnist())"),
    "test_samples": (0, "int", 0, "test images evaluated per point (0 = all)"),
    "hidden": ([128], "ints", 1, "hidden layer sizes"),
    "num_steps": (25, "int", 1, "time steps per sample (T)"),
    "encoder": ("rate", "str", ("rate", "latency"), "input encoding"),
    "epochs": (20, "int", 1, "training epochs (the network is trained once per sweep)"),
    "train": (
        "ideal",
        "str",
        ("ideal", "hardware"),
        "how the network is trained: ideally or with the base array in the loop",
    ),
    "weights": ("", "str", None, "an .npz of trained weights (w0, w1, ...) instead of training"),
    "seed": (0, "int", 0, "random seed (training, data encoding, chips)"),
    "batch_size": (512, "int", 1, "test images per compiled evaluation call"),
    "card": ("rram_hfox", "str", None, "device card: a built-in name or a path to a .toml card"),
    "tile_rows": (128, "int", 1, "physical array rows"),
    "tile_cols": (128, "int", 1, "physical array columns"),
    "mapping": ("differential", "str", ("differential", "reference"), "weight mapping"),
    "dac_bits": (0, "int", 0, "input DAC bits (0 = binary spike row drivers)"),
    "adc_bits": (8, "int", 2, "ADC bits per column per row-tile"),
    "adc_range": (0.125, "float", 0.0, "ADC full scale as a fraction of a tile's largest current"),
    "circuit": ("ideal", "str", ("ideal", "transfer", "expansion1", "expansion2"), "how currents are computed"),
    "r_wire": (0.0, "float", 0.0, "wire resistance per cell pitch, rows and columns [ohm]"),
    "t": (1.0, "float", 0.0, "time since programming [s]"),
    "endurance_cycles": (1.0, "float", 1.0, "write cycles every cell endured before programming"),
    "chip": (0, "int", 0, "chip index (its fabrication, programming and read-noise keys)"),
}
BASE_DEFAULTS = {k: v[0] for k, v in _BASE.items()}

# axes evaluated under vmap inside one compiled function (array leaves)
SWEEP_AXES = ("adc_bits", "adc_range", "r_wire", "t", "endurance_cycles", "chip")
# axes that change what is compiled (shapes, control flow): points are grouped by them
GROUP_AXES = ("dac_bits", "tile_rows", "tile_cols")
_MODES = ("grid", "zip")
_TOP = ("mode", "base", "axes", "name")


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec.

    - `base`: every base key (defaults filled in); `device`: the card parameter
      overrides ``{name: value}`` (SI).
    - `axes`: ``{axis: [values]}`` in file order; device parameters as ``"device.NAME"``.
    - `mode`: ``"grid"`` or ``"zip"``; `name`; `path` (the file, or None).
    """

    base: dict
    device: dict
    axes: dict
    mode: str = "grid"
    name: str = "sweep"
    path: str | None = None

    def points(self) -> list[dict]:
        """The points in order: dicts ``{axis: value}``."""
        names = list(self.axes)
        if not names:
            return [{}]
        if self.mode == "zip":
            return [dict(zip(names, vals)) for vals in zip(*self.axes.values())]
        return [dict(zip(names, vals)) for vals in itertools.product(*self.axes.values())]

    def fingerprint(self) -> str:
        """A hash of everything that decides the results (not the file's name)."""
        text = json.dumps(
            {"base": self.base, "device": self.device, "axes": self.axes, "mode": self.mode}, sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"name": self.name, "mode": self.mode, "base": self.base, "device": self.device, "axes": self.axes}


def load_spec(path) -> SweepSpec:
    """Read and validate a TOML sweep spec; `SpecError` names the file and the key."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"{path}: cannot read the sweep spec ({e.strerror or e})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})") from None
    return parse_spec(raw, where=str(path), base_dir=path.parent)


def parse_spec(raw: dict, *, where: str = "<spec>", base_dir=None) -> SweepSpec:
    """Validate a spec given as a dict (the parsed TOML). Relative paths in it
    (`mnist`, `weights`, a card file) are taken from `base_dir` (default: the current
    directory)."""

    def fail(key, msg):
        raise SpecError(f"{where}: {key}: {msg}")

    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a table of settings, got {type(raw).__name__}")
    for key in raw:
        if key not in _TOP:
            fail(key, f"unknown key; expected one of {', '.join(_TOP)}")
    mode = raw.get("mode", "grid")
    if mode not in _MODES:
        fail("mode", f"expected one of {', '.join(repr(m) for m in _MODES)}, got {mode!r}")
    name = raw.get("name", "sweep")
    if not isinstance(name, str) or not name:
        fail("name", f"expected a non-empty string, got {name!r}")
    base_raw = raw.get("base", {})
    if not isinstance(base_raw, dict):
        fail("base", f"expected a table, got {type(base_raw).__name__}")
    base_dir = pathlib.Path(base_dir) if base_dir is not None else pathlib.Path.cwd()

    base = dict(BASE_DEFAULTS)
    device_raw = {}
    for key, value in base_raw.items():
        if key == "device":
            if not isinstance(value, dict):
                fail("base.device", f"expected a table of card parameters, got {type(value).__name__}")
            device_raw = value
            continue
        if key not in _BASE:
            fail(f"base.{key}", f"unknown key; expected one of {', '.join(sorted(_BASE))} or a [base.device] table")
        base[key] = _check_value(f"base.{key}", key, value, fail)
    for key in ("mnist", "weights"):
        if base[key]:
            base[key] = str((base_dir / os.path.expanduser(base[key])).resolve())
    if base["card"].endswith(".toml"):
        base["card"] = str((base_dir / os.path.expanduser(base["card"])).resolve())

    params = _device_params(base["card"], fail)
    device = {}
    for key, value in device_raw.items():
        if key not in params:
            fail(
                f"base.device.{key}", f"unknown parameter of card {base['card']!r}; expected one of {', '.join(params)}"
            )
        device[key] = _check_number(f"base.device.{key}", value, fail)

    axes_raw = raw.get("axes", {})
    if not isinstance(axes_raw, dict):
        fail("axes", f"expected a table of lists, got {type(axes_raw).__name__}")
    axes = {}
    for key, values in _flatten(axes_raw):
        k = f"axes.{key}"
        if key.startswith("device."):
            pname = key[len("device.") :]
            if pname not in params:
                fail(k, f"unknown parameter of card {base['card']!r}; expected one of {', '.join(params)}")
        elif key not in SWEEP_AXES + GROUP_AXES:
            allowed = ", ".join(SWEEP_AXES + GROUP_AXES) + ", device.NAME"
            fail(k, f"not a sweepable axis; expected one of {allowed}")
        if not isinstance(values, list):
            fail(k, f"expected a list of values, got {type(values).__name__} {values!r}")
        if not values:
            fail(k, "expected a non-empty list, got []")
        if key.startswith("device."):
            axes[key] = [_check_number(f"{k}[{i}]", v, fail) for i, v in enumerate(values)]
        else:
            axes[key] = [_check_value(f"{k}[{i}]", key, v, fail) for i, v in enumerate(values)]
    if mode == "zip" and len({len(v) for v in axes.values()}) > 1:
        lens = ", ".join(f"{a}: {len(v)}" for a, v in axes.items())
        fail("axes", f"mode 'zip' expects lists of equal length, got {lens}")

    circuit_on = base["circuit"] != "ideal"
    r_values = axes.get("r_wire", [base["r_wire"]])
    if circuit_on and not all(r > 0 for r in r_values):
        fail(
            "axes.r_wire" if "r_wire" in axes else "base.r_wire",
            f"circuit {base['circuit']!r} expects r_wire > 0 ohm, got {r_values}",
        )
    if not circuit_on and any(r != 0 for r in r_values):
        fail(
            "axes.r_wire" if "r_wire" in axes else "base.r_wire",
            "a wire resistance needs base.circuit = 'transfer' (or 'expansion1'/'expansion2'); "
            f"the ideal read ignores it, got r_wire {r_values}",
        )
    if any(b > 24 for b in axes.get("adc_bits", [base["adc_bits"]])):
        fail(
            "axes.adc_bits" if "adc_bits" in axes else "base.adc_bits", "expected at most 24 bits (float32 resolution)"
        )
    if base["adc_range"] <= 0 or any(v <= 0 for v in axes.get("adc_range", [])):
        fail("adc_range", "expected a positive fraction")
    return SweepSpec(base=base, device=device, axes=axes, mode=mode, name=name, path=where)


def _flatten(table, prefix=""):
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _check_value(key: str, name: str, value, fail):
    default, kind, allowed, _ = _BASE[name]
    if kind == "str":
        if not isinstance(value, str):
            fail(key, f"expected a string, got {type(value).__name__} {value!r}")
        if allowed is not None and value not in allowed:
            fail(key, f"expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        return value
    if kind == "ints":
        if not isinstance(value, list) or not value or not all(_is_int(v) and v >= allowed for v in value):
            fail(key, f"expected a non-empty list of ints >= {allowed}, got {value!r}")
        return list(value)
    if kind == "int":
        if not _is_int(value):
            fail(key, f"expected an int, got {type(value).__name__} {value!r}")
        if value < allowed:
            fail(key, f"expected an int >= {allowed}, got {value}")
        return value
    value = _check_number(key, value, fail)
    if value < allowed:
        fail(key, f"expected a number >= {allowed}, got {value}")
    return value


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_number(key: str, value, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(key, f"expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        fail(key, f"expected a finite number, got {value}")
    return float(value)


def _device_params(card: str, fail) -> list[str]:
    """The scalar numeric parameters of the card's model (its array leaves)."""
    import numpy as np

    from ..devices import CardError, load

    try:
        dev = load(card)
    except CardError as e:
        fail("base.card", " ".join(str(e).split()))
    except (FileNotFoundError, OSError) as e:
        fail("base.card", f"cannot read the card ({e})")
    return [n for n in dev._leaf_names() if getattr(dev, n) is not None and np.ndim(getattr(dev, n)) == 0]
