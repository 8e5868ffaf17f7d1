"""Device cards: TOML data files that give every device parameter a value, a unit and a source.

A card is data, not code. ``devices/<name>.toml`` at the top of the repository (shipped in the
wheel as the package ``xbar._cards``) holds the built-in cards; a user adds a device by writing
a card of the same form and passing its path to :func:`load_card`.

Card format::

    name = "rram_hfox"            # equals the file stem for built-in cards
    family = "rram"               # one of FAMILIES
    title = "one line"
    description = \"\"\"one paragraph\"\"\"

    [references]
    wan2022 = "W. Wan et al., ... doi:10.1038/s41586-022-04992-8"

    [params]
    g_max = { value = 40.0, unit = "uS", source = "wan2022", tag = "V", note = "..." }

Every parameter of the card's family (see ``SCHEMA``) must be present and no other. The loader
converts each value to SI (S, ohm, V, A, s, J, K; dimensionless stays as is, "%" divides by
100), checks its dimension, finiteness and range, checks that each source key names an entry
of ``[references]`` and that the tag is one of ``V`` (read in a primary source or simulator
code), ``L`` (literature value from domain knowledge) or ``D`` (derived here, or a
placeholder). Every problem raises :class:`CardError` naming the file, the key, what was
expected and what was got.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import importlib.util
import math
import os
import pathlib
import textwrap
import types
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

try:  # Python >= 3.11
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as _toml  # type: ignore[no-redef]

__all__ = [
    "FAMILIES",
    "SCHEMA",
    "TAGS",
    "Card",
    "CardError",
    "Param",
    "available",
    "cards_dir",
    "format_card",
    "load_card",
]


class CardError(ValueError):
    """A device card is missing, unreadable or malformed."""


FAMILIES: tuple[str, ...] = ("rram", "pcm", "stt", "fg")
TAGS: tuple[str, ...] = ("V", "L", "D")

# ---------------------------------------------------------------------------------------------
# Units

# dimension -> (SI symbol, noun used in messages)
_DIMENSIONS: dict[str, tuple[str, str]] = {
    "conductance": ("S", "a conductance"),
    "resistance": ("ohm", "a resistance"),
    "voltage": ("V", "a voltage"),
    "current": ("A", "a current"),
    "time": ("s", "a time"),
    "energy": ("J", "an energy"),
    "temperature": ("K", "a temperature"),
    "dimensionless": ("", "a dimensionless number"),
}

# unit as written (after NFKC normalisation: micro sign -> Greek mu, ohm sign -> Greek omega)
# -> (dimension, multiply, divide). Sub-units divide by an exact power of ten so that, e.g.,
# 40 uS becomes exactly float("4e-05").
_UNITS: dict[str, tuple[str, float, float]] = {}


def _add_units(dim: str, table: dict[str, tuple[float, float]]) -> None:
    for spelling, (mul, div) in table.items():
        _UNITS[unicodedata.normalize("NFKC", spelling)] = (dim, mul, div)


_add_units("conductance", {"S": (1, 1), "mS": (1, 1e3), "uS": (1, 1e6), "µS": (1, 1e6),
                           "nS": (1, 1e9)})
_add_units("resistance", {"ohm": (1, 1), "Ω": (1, 1), "kohm": (1e3, 1), "kΩ": (1e3, 1),
                          "Mohm": (1e6, 1), "MΩ": (1e6, 1)})
_add_units("voltage", {"V": (1, 1), "mV": (1, 1e3)})
_add_units("current", {"A": (1, 1), "mA": (1, 1e3), "uA": (1, 1e6), "µA": (1, 1e6),
                       "nA": (1, 1e9), "pA": (1, 1e12)})
_add_units("time", {"s": (1, 1), "ms": (1, 1e3), "us": (1, 1e6), "µs": (1, 1e6),
                    "ns": (1, 1e9), "h": (3600, 1), "day": (86400, 1)})
_add_units("energy", {"J": (1, 1), "nJ": (1, 1e9), "pJ": (1, 1e12), "fJ": (1, 1e15),
                      "eV": (1.602176634e-19, 1)})
_add_units("temperature", {"K": (1, 1)})
_add_units("dimensionless", {"1": (1, 1), "%": (1, 100)})

# For messages: the accepted spellings per dimension, as a user would type them.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "conductance": ("S", "mS", "uS", "µS", "nS"),
    "resistance": ("ohm", "Ω", "kohm", "kΩ", "Mohm", "MΩ"),
    "voltage": ("V", "mV"),
    "current": ("A", "mA", "uA", "µA", "nA", "pA"),
    "time": ("s", "ms", "us", "µs", "ns", "h", "day"),
    "energy": ("J", "nJ", "pJ", "fJ", "eV"),
    "temperature": ("K",),
    "dimensionless": ("1", "%"),
}


def _lookup_unit(unit: str) -> tuple[str, float, float] | None:
    return _UNITS.get(unicodedata.normalize("NFKC", unit.strip()))


def _to_si(x: float, mul: float, div: float) -> float:
    if mul != 1:
        x = x * mul
    if div != 1:
        x = x / div
    return float(x)


# ---------------------------------------------------------------------------------------------
# Schema


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What one parameter key must hold."""

    dim: str
    doc: str
    kind: str = "scalar"  # "scalar", "list" or "int"
    lo: float | None = None
    lo_open: bool = False  # True: value > lo; False: value >= lo
    hi: float | None = None
    hi_open: bool = False

    def range_text(self) -> str:
        if self.lo is not None and self.hi is not None:
            left = "(" if self.lo_open else "["
            right = ")" if self.hi_open else "]"
            return f"in {left}{_fmt(self.lo)}, {_fmt(self.hi)}{right}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {_fmt(self.hi)}"
        return ""

    def in_range(self, x: float) -> bool:
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        if self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi):
            return False
        return True


def _pos(dim: str, doc: str) -> _Spec:
    return _Spec(dim, doc, lo=0.0, lo_open=True)


def _nonneg(dim: str, doc: str) -> _Spec:
    return _Spec(dim, doc, lo=0.0)


def _prob(doc: str) -> _Spec:
    return _Spec("dimensionless", doc, lo=0.0, hi=1.0)


_COMMON: dict[str, _Spec] = {
    "v_read": _pos("voltage", "read voltage (fg: drain-source read voltage V_ds)"),
    "t_read": _pos("time", "read (integration) time"),
    "p_stuck_on": _prob("as-fabricated probability that a device is stuck at high conductance"),
    "p_stuck_off": _prob("as-fabricated probability that a device is stuck at low conductance"),
}

# endurance (compendium section 1.7): every family
_WEAR: dict[str, _Spec] = {
    "endurance_n63": _pos("dimensionless",
                          "Weibull scale of wear-out: write pulses (cycles) by which 63 % of cells fail"),
    "endurance_k": _pos("dimensionless",
                        "Weibull shape: P_fail(N) = 1 - exp(-(N/endurance_n63)^k)"),
    "endurance_p_on": _prob("fraction of worn-out cells that fail stuck on (the rest stuck off)"),
    "wear_n_th": _pos("dimensionless", "cycles after which the window closes and c2c noise grows"),
    "wear_window_beta": _nonneg("dimensionless",
                                "window lost per decade of cycles beyond wear_n_th: "
                                "window = max(0, 1 - beta*log10(N/wear_n_th))"),
    "wear_c2c_growth": _nonneg("dimensionless",
                               "relative growth of cycle-to-cycle noise per decade beyond wear_n_th"),
}

# temperature dependence of the time axis (RRAM, PCM, FG; STT rescales its barrier)
_THERMAL: dict[str, _Spec] = {
    "temperature": _pos("temperature", "temperature at which the card's time constants hold"),
    "activation_energy": _nonneg("energy",
                                 "Arrhenius activation energy of the time axis: t at T ages like "
                                 "t*exp(E_a/k_B*(1/temperature - 1/T)) at the card temperature"),
}

_WINDOW_G: dict[str, _Spec] = {
    "g_min": _pos("conductance", "lower end of the programmable conductance window"),
    "g_max": _pos("conductance", "upper end of the programmable conductance window"),
    "d2d_sigma": _nonneg(
        "dimensionless",
        "lognormal sigma of each cell's window bounds, sampled at fabrication "
        "(cell g_max = g_max*exp(sigma*xi), likewise g_min)",
    ),
    "prog_sigma_coeffs": _Spec(
        "conductance",
        "programming-error std sigma(G) = sum_k c_k (G/prog_sigma_gref)^k, ascending powers",
        kind="list",
    ),
    "prog_sigma_gref": _pos("conductance", "reference conductance of the sigma(G) polynomial"),
}

SCHEMA: Mapping[str, Mapping[str, _Spec]] = types.MappingProxyType({
    "rram": types.MappingProxyType({
        **_WINDOW_G,
        "read_sigma": _nonneg("conductance", "additive per-read noise std"),
        "relax_sigma_per_decade": _nonneg(
            "conductance",
            "relaxation broadening kappa: sigma^2(t) = sigma_prog^2 "
            "+ (kappa*log10(1 + t/relax_t_ref))^2",
        ),
        "relax_t_ref": _pos("time", "time reference of the relaxation broadening"),
        # pulse programming: NeuroSim exponential model (compendium 1.5 (a))
        "p_max": _Spec("dimensionless",
                       "pulses that take the NeuroSim curve from g_min to g_max (levels)", lo=1.0),
        "nl_ltp": _Spec("dimensionless", "NeuroSim nonlinearity label of potentiation (SET)",
                        lo=-9.0, hi=9.0),
        "nl_ltd": _Spec("dimensionless", "NeuroSim nonlinearity label of depression (RESET)",
                        lo=-9.0, hi=9.0),
        "nl_d2d_sigma": _nonneg("dimensionless",
                                "device-to-device std of the NL labels (NL + sigma*xi per device)"),
        "c2c_sigma": _nonneg("dimensionless",
                             "cycle-to-cycle std per pulse as a fraction of the window "
                             "(times sqrt(|n|))"),
        "v_set": _pos("voltage", "SET (potentiation) pulse amplitude"),
        "t_set": _pos("time", "SET (potentiation) pulse width"),
        "v_reset": _pos("voltage", "RESET (depression) pulse amplitude (magnitude)"),
        "t_reset": _pos("time", "RESET (depression) pulse width"),
        **_COMMON,
        **_WEAR,
        **_THERMAL,
    }),
    "pcm": types.MappingProxyType({
        **_WINDOW_G,
        "drift_t0": _pos("time", "drift reference time: G(t) = G_prog*((t + t0)/t0)^(-nu)"),
        "nu_mean_log_slope": _Spec("dimensionless", "mu_nu = clip(slope*ln x + offset, min, max)"),
        "nu_mean_offset": _Spec("dimensionless", "offset of mu_nu(x)"),
        "nu_mean_min": _nonneg("dimensionless", "lower clip of mu_nu"),
        "nu_mean_max": _nonneg("dimensionless", "upper clip of mu_nu"),
        "nu_std_log_slope": _Spec("dimensionless",
                                  "sigma_nu = clip(slope*ln x + offset, min, max)"),
        "nu_std_offset": _Spec("dimensionless", "offset of sigma_nu(x)"),
        "nu_std_min": _nonneg("dimensionless", "lower clip of sigma_nu"),
        "nu_std_max": _nonneg("dimensionless", "upper clip of sigma_nu"),
        "read_q0": _nonneg("dimensionless",
                           "1/f read noise Q_s = min(q0/max(x^q_exp, x_floor), q_max)"),
        "read_q_exp": _nonneg("dimensionless", "exponent q_exp of Q_s"),
        "read_q_max": _nonneg("dimensionless", "upper clip of Q_s"),
        "read_x_floor": _pos("dimensionless", "floor applied to x^q_exp in Q_s"),
        # branch functions (aihwkit HermesNoiseModel): a polynomial in x above a split
        "nu_mean_x_split": _pos("dimensionless",
                                "mu_nu uses the clipped log form for x < split, nu_mean_poly above"),
        "nu_mean_poly": _Spec("dimensionless", "mu_nu = sum_k c_k x^k for x >= nu_mean_x_split",
                              kind="list"),
        "nu_std_x_split": _pos("dimensionless",
                               "sigma_nu uses the clipped log form for x < split, nu_std_poly above"),
        "nu_std_poly": _Spec("dimensionless", "sigma_nu = sum_k c_k x^k for x >= nu_std_x_split",
                             kind="list"),
        "read_q_x_split": _pos("dimensionless",
                               "Q_s uses the clipped power form for x < split, read_q_poly above"),
        "read_q_poly": _Spec("dimensionless", "Q_s = sum_k c_k x^k for x >= read_q_x_split",
                             kind="list"),
        # pulse response: aihwkit ExpStep (PCMPresetDevice), weight units w in [0, set_w_range]
        "set_w_range": _pos("dimensionless",
                            "weight range the ExpStep fit is given on: "
                            "w = set_w_range*(G - g_min)/(g_max - g_min)"),
        "set_dw_min": _nonneg("dimensionless", "ExpStep dw_min (weight units)"),
        "set_a": _Spec("dimensionless", "ExpStep a: z = 2*a*w/w_ceiling + b"),
        "set_b": _Spec("dimensionless", "ExpStep b"),
        "set_gamma": _pos("dimensionless", "ExpStep gamma_up: dw = dw_min*max(1 - A*exp(gamma*z), 0)"),
        "set_big_a": _Spec("dimensionless", "ExpStep A_up"),
        "set_step_d2d": _nonneg("dimensionless",
                                "relative device-to-device spread of the SET step size (normal)"),
        "set_ceiling_d2d": _nonneg("dimensionless",
                                   "relative device-to-device spread of the SET saturation "
                                   "w_ceiling (normal)"),
        "set_c2c": _nonneg("dimensionless",
                           "SET cycle-to-cycle noise std = set_c2c*(|dw| + add + slope*w)"),
        "set_c2c_add": _nonneg("dimensionless", "additive part of the SET c2c noise (weight units)"),
        "set_c2c_slope": _nonneg("dimensionless", "part of the SET c2c noise growing with w"),
        "reset_level": _nonneg("dimensionless", "RESET level (weight units)"),
        "reset_d2d": _nonneg("dimensionless",
                             "device-to-device spread of the RESET level (weight units)"),
        "reset_c2c": _nonneg("dimensionless",
                             "cycle-to-cycle spread of the RESET level (weight units)"),
        "e_set": _nonneg("energy", "energy of one SET pulse"),
        "e_reset": _nonneg("energy", "energy of one RESET pulse"),
        "refresh_frac": _Spec("dimensionless",
                              "differential pair refresh when G+ or G- exceeds refresh_frac*g_max",
                              lo=0.0, lo_open=True, hi=1.0),
        **_COMMON,
        **_WEAR,
        **_THERMAL,
    }),
    "stt": types.MappingProxyType({
        "r_p": _pos("resistance", "parallel-state (low) resistance of one MTJ"),
        "on_off": _Spec("dimensionless", "R_AP / R_P", lo=1.0, lo_open=True),
        "mtjs_per_device": _Spec("dimensionless",
                                 "MTJs in parallel per device (k MTJs give k+1 levels)",
                                 kind="int", lo=1.0),
        "d2d_sigma": _nonneg("dimensionless", "relative resistance spread sigma_R/R (normal)"),
        "read_sigma_rel": _nonneg("dimensionless", "relative per-read noise std"),
        "delta": _pos("dimensionless", "thermal stability factor E_b/(k_B T) at `temperature`"),
        "tau0": _pos("time", "attempt time of the Neel-Brown law tau = tau0*exp(delta)"),
        "temperature": _pos("temperature", "temperature at which delta is given"),
        "write_error_rate": _prob("probability that a write pulse fails to switch an MTJ"),
        # stochastic switching (pulse): thermal regime below i_c0, precessional above
        "i_c0": _pos("current", "critical switching current I_c0 of one MTJ"),
        "i_write": _nonneg("current", "write pulse current through one MTJ (pulse)"),
        "t_write": _pos("time", "write pulse width (pulse)"),
        "v_write": _nonneg("voltage", "write voltage: energy per MTJ per pulse i_write*v_write*t_write"),
        "b_exp": _pos("dimensionless",
                      "thermal-regime exponent: tau = tau0*exp(delta*(1 - I/I_c0)^b)"),
        "tau_d": _pos("time",
                      "precessional time constant: P = exp(-(pi^2 delta/4)*exp(-2(I/I_c0 - 1)t_p/tau_d))"),
        **_COMMON,
        **_WEAR,
    }),
    "fg": types.MappingProxyType({
        "i_min": _pos("current", "lowest cell current at v_read (g = I/v_read)"),
        "i_max": _pos("current", "highest cell current at v_read"),
        "d2d_sigma": _nonneg("dimensionless", "relative device-to-device spread"),
        "prog_sigma_rel": _nonneg("dimensionless",
                                  "relative programming (tuning) error std"),
        "read_noise_a": _nonneg("current", "read noise sigma_I = A*(1 - exp(-I/B)): A"),
        "read_noise_b": _pos("current", "read noise sigma_I = A*(1 - exp(-I/B)): B"),
        "retention_loss_per_decade": _prob(
            "relative current loss per decade of t beyond retention_t_ref"),
        "retention_t_ref": _pos("time", "time after which retention loss starts"),
        # pulse programming: log-domain steps (compendium 5.1, 8.4)
        "eta_inj": _pos("dimensionless", "step in ln I per hot-electron injection pulse"),
        "eta_tun": _pos("dimensionless", "step down in ln I per Fowler-Nordheim tunnelling pulse"),
        "eta_c2c_rel": _nonneg("dimensionless",
                               "cycle-to-cycle std of a pulse's ln I step, as a fraction of eta"),
        "eta_d2d_sigma": _nonneg("dimensionless",
                                 "lognormal device-to-device spread of eta (per cell)"),
        "v_inj": _pos("voltage", "injection pulse drain-source voltage"),
        "t_inj": _pos("time", "injection pulse width"),
        "v_tun": _pos("voltage", "tunnelling pulse voltage"),
        "t_tun": _pos("time", "tunnelling pulse width"),
        "e_inj": _nonneg("energy", "energy per injection pulse"),
        "e_tun": _nonneg("energy", "energy per tunnelling pulse"),
        **_COMMON,
        **_WEAR,
        **_THERMAL,
    }),
})

# (larger key, relation, smaller key): cross-field orderings checked after each key is valid.
_ORDERINGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "rram": (("g_max", ">", "g_min"),),
    "pcm": (("g_max", ">", "g_min"), ("nu_mean_max", ">=", "nu_mean_min"),
            ("nu_std_max", ">=", "nu_std_min")),
    "stt": (),
    "fg": (("i_max", ">", "i_min"),),
}

_TOP_KEYS = ("name", "family", "title", "description", "references", "params")
_ENTRY_KEYS = ("value", "unit", "source", "tag", "note")


# ---------------------------------------------------------------------------------------------
# Data classes


@dataclasses.dataclass(frozen=True)
class Param:
    """One card parameter: its SI value and where it came from."""

    name: str
    value: float | tuple[float, ...]  # SI
    raw_value: float | tuple[float, ...]  # as written
    unit: str  # as written
    source: tuple[str, ...]
    tag: str
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Card:
    """A validated device card. ``params`` and ``references`` are read-only mappings."""

    name: str
    family: str
    title: str
    description: str
    path: str
    params: Mapping[str, Param]
    references: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", types.MappingProxyType(dict(self.params)))
        object.__setattr__(self, "references", types.MappingProxyType(dict(self.references)))

    def __hash__(self) -> int:
        return hash((self.name, self.family, self.path, tuple(self.params.values())))

    def value(self, key: str) -> float | tuple[float, ...]:
        """The SI value of parameter ``key``."""
        try:
            return self.params[key].value
        except KeyError:
            raise CardError(
                f"{self.path}: key: expected one of {sorted(self.params)}, got {key!r}"
            ) from None


# ---------------------------------------------------------------------------------------------
# Locating cards


def cards_dir() -> pathlib.Path:
    """The folder that holds the built-in cards."""
    try:
        res = importlib.resources.files("xbar._cards")
    except (ImportError, TypeError, ValueError):
        res = None
    if isinstance(res, pathlib.Path) and res.is_dir():
        return res
    if res is not None:  # e.g. a namespace package: use its search locations
        try:
            spec = importlib.util.find_spec("xbar._cards")
        except (ImportError, ValueError):
            spec = None
        for loc in getattr(spec, "submodule_search_locations", None) or ():
            if pathlib.Path(loc).is_dir():
                return pathlib.Path(loc)
    return pathlib.Path(__file__).resolve().parents[2] / "devices"


def available() -> list[str]:
    """Sorted names of the built-in cards."""
    folder = cards_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if p.is_file())


def _looks_like_path(s: str) -> bool:
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(c in s for c in seps) or s.endswith(".toml")


# ---------------------------------------------------------------------------------------------
# Loading and validation


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _fmt_si(x: float, dim: str) -> str:
    sym = _DIMENSIONS[dim][0]
    return f"{_fmt(x)} {sym}" if sym else _fmt(x)


def _describe(x: Any) -> str:
    if isinstance(x, str):
        return repr(x)
    if isinstance(x, dict):
        return "a table"
    if isinstance(x, list):
        return f"a list {x!r}"
    if isinstance(x, bool):
        return f"a boolean ({str(x).lower()})"
    return f"{type(x).__name__} {x!r}"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def load_card(name_or_path: str | os.PathLike[str] | Card) -> Card:
    """Load and validate a card.

    ``name_or_path`` is a built-in card name (see :func:`available`), or a path to a ``.toml``
    file: anything that is a ``PathLike``, contains a path separator or ends in ``.toml``, or
    else names an existing file (a built-in name wins over a file of that name in the current
    folder). A :class:`Card` is returned unchanged.
    """
    if isinstance(name_or_path, Card):
        return name_or_path
    if isinstance(name_or_path, os.PathLike):
        path = pathlib.Path(name_or_path)
    elif isinstance(name_or_path, str):
        known = available()
        if _looks_like_path(name_or_path):
            path = pathlib.Path(name_or_path)
        elif name_or_path in known:
            path = cards_dir() / f"{name_or_path}.toml"
        elif pathlib.Path(name_or_path).is_file():
            path = pathlib.Path(name_or_path)
        else:
            raise CardError(
                f"card: expected a built-in card name, one of {known}, or a path to a "
                f".toml file, got {name_or_path!r}"
            )
    else:
        raise CardError(
            f"card: expected a card name (str) or a path, got {type(name_or_path).__name__}"
        )
    return _load_path(path)


def _is_builtin(path: pathlib.Path) -> bool:
    try:
        return path.resolve().parent == cards_dir().resolve()
    except OSError:
        return False


def _load_path(path: pathlib.Path) -> Card:
    where = str(path)
    try:
        with open(path, "rb") as f:
            data = _toml.load(f)
    except FileNotFoundError:
        raise CardError(f"{where}: expected an existing card file, got no such file") from None
    except _toml.TOMLDecodeError as e:
        raise CardError(f"{where}: expected valid TOML, got a parse error: {e}") from None
    except UnicodeDecodeError as e:
        raise CardError(f"{where}: expected UTF-8 TOML text, got {e}") from None
    except OSError as e:
        raise CardError(
            f"{where}: expected a readable card file, got {type(e).__name__}: {e}"
        ) from None
    return _build(data, path)


def _build(data: dict[str, Any], path: pathlib.Path) -> Card:
    where = str(path)

    def fail(key: str, msg: str) -> CardError:
        return CardError(f"{where}: {key}: {msg}")

    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise fail(unknown[0], f"expected only the top-level keys {list(_TOP_KEYS)}, "
                               f"got unknown key(s) {unknown}")
    for key in ("name", "family", "params"):
        if key not in data:
            what = "a [params] table" if key == "params" else f"a string `{key} = ...`"
            raise fail(key, f"expected {what}, got nothing (key missing)")
    for key in ("name", "family", "title", "description"):
        if key in data and not isinstance(data[key], str):
            raise fail(key, f"expected a string, got {_describe(data[key])}")
    name, family = data["name"], data["family"]
    if not name:
        raise fail("name", "expected a non-empty string, got ''")
    if family not in FAMILIES:
        raise fail("family", f"expected one of {list(FAMILIES)}, got {family!r}")
    if _is_builtin(path) and name != path.stem:
        raise fail("name", f"expected the file stem {path.stem!r} (built-in card), got {name!r}")

    refs_raw = data.get("references", {})
    if not isinstance(refs_raw, dict):
        raise fail("references", f"expected a [references] table, got {_describe(refs_raw)}")
    references: dict[str, str] = {}
    for key, text in refs_raw.items():
        if not isinstance(text, str) or not text.strip():
            raise fail(f"references.{key}", f"expected a non-empty citation string, "
                                            f"got {_describe(text)}")
        references[key] = text

    params_raw = data["params"]
    if not isinstance(params_raw, dict):
        raise fail("params", f"expected a [params] table, got {_describe(params_raw)}")
    schema = SCHEMA[family]
    missing = [k for k in schema if k not in params_raw]
    if missing:
        raise fail("params", f"expected every {family} key, got these missing: {missing}")
    extra = sorted(set(params_raw) - set(schema))
    if extra:
        raise fail(f"params.{extra[0]}", f"expected only the {family} keys {list(schema)}, "
                                         f"got unknown key(s) {extra}")

    params: dict[str, Param] = {}
    for key, spec in schema.items():
        params[key] = _parse_param(key, spec, params_raw[key], references, fail)
    _check_relations(family, params, fail)

    return Card(name=name, family=family, title=data.get("title", ""),
                description=data.get("description", ""), path=where,
                params=params, references=references)


def _parse_param(key: str, spec: _Spec, entry: Any, references: Mapping[str, str],
                 fail: Callable[[str, str], CardError]) -> Param:
    k = f"params.{key}"
    noun = _DIMENSIONS[spec.dim][1]
    if not isinstance(entry, dict):
        raise fail(k, f"expected an inline table {{ value = ..., unit = ..., source = ..., "
                      f"tag = ... }}, got {_describe(entry)}")
    extra = sorted(set(entry) - set(_ENTRY_KEYS))
    if extra:
        raise fail(k, f"expected only the fields {list(_ENTRY_KEYS)}, got unknown field(s) "
                      f"{extra}")

    # unit
    if "unit" not in entry:
        raise fail(k, f"expected a unit for {noun} (one of {list(_SPELLINGS[spec.dim])}), "
                      f"got nothing")
    unit = entry["unit"]
    if not isinstance(unit, str):
        raise fail(k, f"expected a unit string, got {_describe(unit)}")
    found = _lookup_unit(unit)
    if found is None:
        raise fail(k, f"expected a unit for {noun} (one of {list(_SPELLINGS[spec.dim])}), "
                      f"got unknown unit {unit!r}")
    dim, mul, div = found
    if dim != spec.dim:
        raise fail(k, f"expected a unit for {noun} (one of {list(_SPELLINGS[spec.dim])}), "
                      f"got {unit!r}, which is {_DIMENSIONS[dim][1]}")

    # value
    if "value" not in entry:
        raise fail(k, f"expected a value ({noun}), got nothing")
    raw = entry["value"]
    raw_value: float | tuple[float, ...]
    value: float | tuple[float, ...]
    if spec.kind == "list":
        if not isinstance(raw, list):
            raise fail(k, f"expected a list of numbers (polynomial coefficients), "
                          f"got {_describe(raw)}")
        if not raw:
            raise fail(k, "expected a non-empty list of numbers, got []")
        for i, x in enumerate(raw):
            if not _is_number(x):
                raise fail(k, f"expected a list of numbers, got {_describe(x)} at index {i}")
            if not math.isfinite(x):
                raise fail(k, f"expected finite numbers, got {x!r} at index {i}")
        raw_value = tuple(float(x) for x in raw)
        value = tuple(_to_si(x, mul, div) for x in raw_value)
    else:
        if isinstance(raw, list):
            raise fail(k, f"expected a single number ({noun}), got {_describe(raw)}")
        if not _is_number(raw):
            raise fail(k, f"expected a number ({noun}), got {_describe(raw)}")
        if not math.isfinite(raw):
            raise fail(k, f"expected a finite number ({noun}), got {raw!r}")
        raw_value = raw if spec.kind == "int" else float(raw)
        value = _to_si(float(raw), mul, div)
        if spec.kind == "int":
            if not float(value).is_integer():
                raise fail(k, f"expected an integer, got {_fmt(value)}")
            value = int(value)
        if not spec.in_range(value):
            shown = _fmt_si(value, spec.dim)
            if (mul, div) != (1, 1):
                shown += f" ({raw!r} {unit})"
            raise fail(k, f"expected {noun} {spec.range_text()}, got {shown}")

    # provenance
    if "source" not in entry:
        raise fail(k, "expected a source (comma-separated keys of [references]), got nothing")
    src = entry["source"]
    if not isinstance(src, str):
        raise fail(k, f"expected a source string of comma-separated reference keys, "
                      f"got {_describe(src)}")
    sources = tuple(s.strip() for s in src.split(",") if s.strip())
    if not sources:
        raise fail(k, f"expected at least one reference key in source, got {src!r}")
    for s in sources:
        if s not in references:
            raise fail(k, f"expected source keys from [references] {sorted(references)}, "
                          f"got unknown source {s!r}")
    if "tag" not in entry:
        raise fail(k, f"expected a tag, one of {list(TAGS)}, got nothing")
    tag = entry["tag"]
    if tag not in TAGS:
        raise fail(k, f"expected a tag, one of {list(TAGS)}, got {_describe(tag)}")
    note = entry.get("note", "")
    if not isinstance(note, str):
        raise fail(k, f"expected a note string, got {_describe(note)}")
    return Param(name=key, value=value, raw_value=raw_value, unit=unit, source=sources,
                 tag=tag, note=note)


def _check_relations(family: str, params: Mapping[str, Param],
                     fail: Callable[[str, str], CardError]) -> None:
    schema = SCHEMA[family]
    for big, rel, small in _ORDERINGS[family]:
        a, b = params[big].value, params[small].value
        ok = a > b if rel == ">" else a >= b
        if not ok:
            spec = schema[big]
            raise fail(f"params.{big}", f"expected {_DIMENSIONS[spec.dim][1]} {rel} {small} "
                                        f"({_fmt_si(b, spec.dim)}), got {_fmt_si(a, spec.dim)}")
    on, off = params["p_stuck_on"].value, params["p_stuck_off"].value
    if on + off > 1.0:
        raise fail("params.p_stuck_on + params.p_stuck_off",
                   f"expected a total stuck probability <= 1, got {_fmt(on + off)}")
    if "prog_sigma_coeffs" in params:
        _check_sigma_poly(params, fail)


def _check_sigma_poly(params: Mapping[str, Param],
                      fail: Callable[[str, str], CardError]) -> None:
    """The programming-error std must be >= 0 over the whole window [g_min, g_max]."""
    coeffs = params["prog_sigma_coeffs"].value
    gref = params["prog_sigma_gref"].value
    g_lo, g_hi = params["g_min"].value, params["g_max"].value
    worst_g, worst = g_lo, math.inf
    for i in range(201):
        g = g_lo + (g_hi - g_lo) * i / 200
        u = g / gref
        s = sum(c * u**n for n, c in enumerate(coeffs))
        if s < worst:
            worst_g, worst = g, s
    if worst < 0:
        raise fail("params.prog_sigma_coeffs",
                   f"expected sigma(G) >= 0 for G in [g_min, g_max], "
                   f"got sigma({_fmt(worst_g)} S) = {_fmt(worst)} S")


# ---------------------------------------------------------------------------------------------
# Formatting


def _fmt_raw(x: float | tuple[float, ...]) -> str:
    if isinstance(x, tuple):
        return "[" + ", ".join(repr(v) for v in x) + "]"
    return repr(x)


def _fmt_si_value(x: float | tuple[float, ...]) -> str:
    if isinstance(x, tuple):
        return "[" + ", ".join(f"{v:.8g}" for v in x) + "]"
    return f"{x:.8g}"


def format_card(card: Card) -> str:
    """A human-readable table of the card: key, value as written, SI value, tag, sources,
    followed by the references."""
    schema = SCHEMA.get(card.family, {})
    rows = [("key", "value", "SI", "tag", "source")]
    for key, p in card.params.items():
        dim = schema[key].dim if key in schema else "dimensionless"
        sym = _DIMENSIONS[dim][0]
        written = f"{_fmt_raw(p.raw_value)} {p.unit}" if p.unit != "1" else _fmt_raw(p.raw_value)
        si = _fmt_si_value(p.value) + (f" {sym}" if sym else "")
        rows.append((key, written, si, p.tag, ", ".join(p.source)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"{card.name} ({card.family}): {card.title}", f"file: {card.path}"]
    if card.description:
        lines += textwrap.wrap(" ".join(card.description.split()), width=96)
    derived = [k for k, p in card.params.items() if p.tag == "D"]
    if derived:
        lines += textwrap.wrap(f"derived here or placeholders (tag D, see the notes): {', '.join(derived)}",
                               width=96, subsequent_indent="  ")
    lines.append("")
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [(k, p.note) for k, p in card.params.items() if p.note]
    if notes:
        lines += ["", "notes:"]
        for k, n in notes:
            lines += textwrap.wrap(f"{k}: {' '.join(n.split())}", width=96,
                                   initial_indent="  ", subsequent_indent="      ")
    lines += ["", "references:"]
    for k, text in card.references.items():
        lines.append(f"  [{k}] {' '.join(text.split())}")
    return "\n".join(lines)
