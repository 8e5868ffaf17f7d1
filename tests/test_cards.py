"""Tests for the device cards (devices/*.toml) and their loader (xbar.devices._card)."""

from __future__ import annotations

import math
import pathlib
import re

import pytest

from xbar.devices import _card
from xbar.devices._card import (
    FAMILIES,
    SCHEMA,
    TAGS,
    Card,
    CardError,
    available,
    cards_dir,
    format_card,
    load_card,
)

BUILTIN = {"rram_hfox": "rram", "pcm_gst": "pcm", "stt_mtj": "stt", "fg_flash": "fg",
           "pcm_hermes14": "pcm", "stt_mtj_stochastic": "stt"}


def _broken(tmp_path: pathlib.Path, name: str, *edits: tuple[str, str],
            stem: str | None = None) -> pathlib.Path:
    """Copy built-in card ``name`` to tmp_path, applying (old, new) text replacements."""
    text = (cards_dir() / f"{name}.toml").read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, f"edit target {old!r} not unique in {name}"
        text = text.replace(old, new)
    path = tmp_path / f"{stem or name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _edit(tmp_path: pathlib.Path, name: str, key: str, old: str, new: str) -> pathlib.Path:
    """Copy built-in card ``name``, replacing ``old`` by ``new`` in the line of param ``key``."""
    lines = (cards_dir() / f"{name}.toml").read_text(encoding="utf-8").splitlines()
    hits = [i for i, ln in enumerate(lines) if ln.startswith(f"{key} = {{")]
    assert len(hits) == 1, f"{key} not found once in {name}"
    line = lines[hits[0]]
    assert line.count(old) == 1, f"{old!r} not found once in {line!r}"
    lines[hits[0]] = line.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _raises(path: pathlib.Path, *fragments: str) -> CardError:
    """Loading ``path`` raises a CardError whose message holds the file name and fragments."""
    with pytest.raises(CardError, match=re.escape(path.name)) as info:
        load_card(path)
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return info.value


# ---------------------------------------------------------------------------------------------
# Built-in cards


def test_available_lists_exactly_the_builtin_cards():
    assert available() == sorted(BUILTIN)
    assert cards_dir().is_dir()


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_card_loads_with_right_family_and_keys(name):
    card = load_card(name)
    assert isinstance(card, Card)
    assert card.name == name
    assert card.family == BUILTIN[name] and card.family in FAMILIES
    assert set(card.params) == set(SCHEMA[card.family])
    assert card.title and card.description
    assert pathlib.Path(card.path).name == f"{name}.toml"


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_param_has_resolving_sources_and_a_tag(name):
    card = load_card(name)
    used = set()
    for key, p in card.params.items():
        assert p.name == key
        assert p.tag in TAGS
        assert p.source, key
        for s in p.source:
            assert s in card.references, (key, s)
            used.add(s)
        if "placeholder" in p.note.lower():
            assert p.tag == "D", f"{name}.{key} is a placeholder but tagged {p.tag}"
    # no dangling references
    assert used == set(card.references)
    for text in card.references.values():
        assert len(text) > 20


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_description_names_the_placeholders(name):
    card = load_card(name)
    assert "placeholder" in card.description.lower()


def test_load_by_name_path_and_pathlike_agree():
    by_name = load_card("pcm_gst")
    by_path = load_card(cards_dir() / "pcm_gst.toml")
    by_str = load_card(str(cards_dir() / "pcm_gst.toml"))
    assert by_name == by_path == by_str
    assert hash(by_name) == hash(by_path)
    assert load_card(by_name) is by_name
    assert {by_name, by_path} == {by_name}


def test_bare_name_prefers_builtin_and_existing_file_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pcm_gst").write_text("not toml [", encoding="utf-8")
    assert load_card("pcm_gst").path == str(cards_dir() / "pcm_gst.toml")
    text = (cards_dir() / "stt_mtj.toml").read_text(encoding="utf-8")
    (tmp_path / "mycard").write_text(text.replace('name = "stt_mtj"', 'name = "mine"'),
                                     encoding="utf-8")
    assert load_card("mycard").name == "mine"


def test_card_is_frozen_and_params_are_read_only():
    card = load_card("rram_hfox")
    with pytest.raises(AttributeError):
        card.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        card.params["g_max"] = None  # type: ignore[index]


def test_value_of_unknown_key_lists_known_keys():
    card = load_card("rram_hfox")
    with pytest.raises(CardError, match=r"rram_hfox\.toml: key: expected one of .*'g_max'.* "
                                        r"got 'g_maxx'"):
        card.value("g_maxx")


# ---------------------------------------------------------------------------------------------
# Units


def test_unit_conversion_to_si():
    pcm, stt, fg, rram = (load_card(n) for n in ("pcm_gst", "stt_mtj", "fg_flash", "rram_hfox"))
    assert pcm.value("g_max") == 25e-6
    assert pcm.value("g_min") == 0.25e-6
    assert pcm.value("t_read") == 2.5e-7
    assert stt.value("r_p") == 3500.0
    assert stt.value("tau0") == 1e-9
    assert fg.value("i_max") == 1e-6
    assert fg.value("i_min") == 1e-9
    assert fg.value("retention_t_ref") == 3600.0  # "h"
    assert fg.value("retention_loss_per_decade") == pytest.approx(0.005)  # "%"
    assert rram.value("g_max") == 40e-6
    assert rram.value("t_read") == 1e-8
    # raw value and unit are kept as written
    p = pcm.params["g_max"]
    assert (p.raw_value, p.unit) == (25.0, "uS")
    assert fg.params["retention_loss_per_decade"].raw_value == 0.5


@pytest.mark.parametrize("unit", ["µS", "μS", "uS"])  # micro sign, Greek mu, ASCII u
def test_micro_spellings_are_equivalent(tmp_path, unit):
    path = _edit(tmp_path, "rram_hfox", "g_max", 'unit = "uS"', f'unit = "{unit}"')
    card = load_card(path)
    assert card.value("g_max") == 40e-6
    assert card.params["g_max"].unit == unit


@pytest.mark.parametrize("value, unit, si", [
    ("3.5", "kΩ", 3500.0), ("3500", "ohm", 3500.0), ("3500", "Ω", 3500.0),
    ("0.0035", "Mohm", 3500.0), ("0.0035", "MΩ", 3500.0),
])
def test_resistance_spellings(tmp_path, value, unit, si):
    path = _edit(tmp_path, "stt_mtj", "r_p", 'value = 3.5, unit = "kohm"',
                 f'value = {value}, unit = "{unit}"')
    assert load_card(path).value("r_p") == pytest.approx(si, rel=1e-15)


@pytest.mark.parametrize("value, unit, si", [
    ("0.1", "s", 0.1), ("100", "ms", 0.1), ("1e5", "us", 0.1), ("1e5", "µs", 0.1),
    ("1e8", "ns", 0.1), ("2", "day", 172800.0), ("0.5", "h", 1800.0),
])
def test_time_spellings(tmp_path, value, unit, si):
    path = _edit(tmp_path, "fg_flash", "retention_t_ref", 'value = 1.0, unit = "h"',
                 f'value = {value}, unit = "{unit}"')
    assert load_card(path).value("retention_t_ref") == pytest.approx(si, rel=1e-15)


def test_percent_on_a_dimensionless_key(tmp_path):
    path = _edit(tmp_path, "rram_hfox", "p_stuck_on", 'value = 0.005, unit = "1"',
                 'value = 0.5, unit = "%"')
    assert load_card(path).value("p_stuck_on") == pytest.approx(0.005)


def test_list_values_are_converted_elementwise():
    c = load_card("rram_hfox").value("prog_sigma_coeffs")
    assert isinstance(c, tuple)
    assert c == pytest.approx((1.053e-6, 0.2374e-6, -1.167e-8, 1.536e-10), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Numbers against the compendium / reference simulators


def test_pcm_constants_equal_aihwkit_pcmlike_defaults():
    card = load_card("pcm_gst")
    v = card.value
    assert v("prog_sigma_coeffs") == pytest.approx((0.26348e-6, 1.9650e-6, -1.1731e-6))
    assert v("prog_sigma_gref") == 25e-6
    assert v("drift_t0") == 20.0
    assert (v("nu_mean_log_slope"), v("nu_mean_offset"), v("nu_mean_min"), v("nu_mean_max")) \
        == (-0.0155, 0.0244, 0.049, 0.1)
    assert (v("nu_std_log_slope"), v("nu_std_offset"), v("nu_std_min"), v("nu_std_max")) \
        == (-0.0125, -0.0059, 0.008, 0.045)
    assert (v("read_q0"), v("read_q_exp"), v("read_q_max"), v("read_x_floor")) \
        == (0.0088, 0.65, 0.2, 1e-3)
    assert v("t_read") == 250e-9
    assert v("d2d_sigma") == 0.0
    # compendium section 3.2 spot values: sigma_prog 0.26 / 0.95 / 1.06 uS at x = 0, 0.5, 1
    c, gref = v("prog_sigma_coeffs"), v("prog_sigma_gref")
    for x, want in [(0.0, 0.26e-6), (0.5, 0.95e-6), (1.0, 1.06e-6)]:
        sig = sum(ck * (x * 25e-6 / gref) ** k for k, ck in enumerate(c))
        assert sig == pytest.approx(want, abs=0.01e-6)
    # drift exponent mean/std at x = 1, 0.1, 0.01: 0.049/0.008, 0.060/0.023, 0.096/0.045

    def clip(y, lo, hi):
        return min(max(y, lo), hi)

    for x, mu, sd in [(1.0, 0.049, 0.008), (0.1, 0.060, 0.023), (0.01, 0.096, 0.045)]:
        m = clip(v("nu_mean_log_slope") * math.log(x) + v("nu_mean_offset"),
                 v("nu_mean_min"), v("nu_mean_max"))
        s = clip(v("nu_std_log_slope") * math.log(x) + v("nu_std_offset"),
                 v("nu_std_min"), v("nu_std_max"))
        assert m == pytest.approx(mu, abs=5e-4) and s == pytest.approx(sd, abs=5e-4)


def test_rram_numbers_match_compendium():
    v = load_card("rram_hfox").value
    assert (v("g_min"), v("g_max")) == (4e-6, 40e-6)
    assert v("prog_sigma_gref") == 1e-6
    c = v("prog_sigma_coeffs")

    def sig(g):
        return sum(ck * (g / v("prog_sigma_gref")) ** k for k, ck in enumerate(c))

    # Wan 2022 cubic: 1.05 uS at 0, ~2.4 uS at 10-20 uS, 1.7 uS at 39 uS
    assert sig(0.0) == pytest.approx(1.053e-6)
    assert sig(10e-6) == pytest.approx(2.4e-6, abs=0.05e-6)
    assert sig(20e-6) == pytest.approx(2.4e-6, abs=0.05e-6)
    assert sig(39e-6) == pytest.approx(1.7e-6, abs=0.05e-6)
    assert v("read_sigma") == pytest.approx(0.01 * v("g_max"))
    assert v("relax_sigma_per_decade") == pytest.approx(0.017 * v("g_max"), rel=0.01)
    assert v("relax_t_ref") == 1.0
    assert v("d2d_sigma") == 0.05
    assert (v("p_stuck_on"), v("p_stuck_off")) == (0.005, 0.005)
    assert v("v_read") == 0.2


def test_stt_and_fg_numbers_match_compendium():
    s = load_card("stt_mtj").value
    assert (s("r_p"), s("on_off"), s("mtjs_per_device")) == (3500.0, 2.3, 8)
    assert isinstance(s("mtjs_per_device"), int)
    assert (s("d2d_sigma"), s("read_sigma_rel"), s("delta"), s("tau0")) == (0.04, 0.01, 60.0, 1e-9)
    assert (s("temperature"), s("write_error_rate"), s("v_read"), s("t_read")) \
        == (300.0, 1e-6, 0.1, 1e-8)
    f = load_card("fg_flash").value
    assert (f("i_min"), f("i_max"), f("v_read"), f("t_read")) == (1e-9, 1e-6, 1.0, 1e-7)
    assert (f("d2d_sigma"), f("prog_sigma_rel")) == (0.02, 0.01)
    # SONOS read noise (CrossSim: A = 12.58037 nA, B = 215.36557 nA) scaled to i_max / 3.2 uA
    scale = f("i_max") / 3.2e-6
    assert f("read_noise_a") == pytest.approx(12.58037e-9 * scale, rel=1e-6)
    assert f("read_noise_b") == pytest.approx(215.36557e-9 * scale, rel=1e-6)
    assert f("retention_t_ref") == 3600.0


# ---------------------------------------------------------------------------------------------
# Formatting


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_format_card_lists_every_key_and_reference(name):
    card = load_card(name)
    text = format_card(card)
    for key, p in card.params.items():
        assert re.search(rf"^{key}\s", text, re.M), key
        assert p.unit in text
    for key, ref in card.references.items():
        assert f"[{key}] {ref}" in text
    assert card.title in text and card.path in text
    # every derived value or placeholder is named in the summary line above the table
    derived = [k for k, p in card.params.items() if p.tag == "D"]
    head = " ".join(text.split("\nkey ")[0].split())
    summary = head.split("derived here or placeholders (tag D, see the notes): ")
    assert len(summary) == 2 and derived, name
    assert summary[1].split(", ") == derived


# ---------------------------------------------------------------------------------------------
# Errors: names and files


def test_unknown_name_lists_known_names():
    with pytest.raises(CardError) as info:
        load_card("rram_hfo")
    msg = str(info.value)
    assert "'rram_hfo'" in msg
    for n in BUILTIN:
        assert n in msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    _raises(path, "expected an existing card file", "no such file")


def test_invalid_toml_reports_parser_message(tmp_path):
    path = _broken(tmp_path, "pcm_gst", ('family = "pcm"', 'family = "pcm'))
    err = _raises(path, "expected valid TOML, got a parse error")
    assert "line" in str(err)


@pytest.mark.parametrize("key, line", [
    ("name", 'name = "pcm_gst"\n'),
    ("family", 'family = "pcm"\n'),
])
def test_missing_top_level_keys(tmp_path, key, line):
    path = _broken(tmp_path, "pcm_gst", (line, ""))
    _raises(path, f": {key}: expected a string", "got nothing")


def test_missing_params_table(tmp_path):
    text = (cards_dir() / "pcm_gst.toml").read_text(encoding="utf-8").split("[params]")[0]
    path = tmp_path / "pcm_gst.toml"
    path.write_text(text, encoding="utf-8")
    _raises(path, ": params: expected a [params] table, got nothing")


def test_unknown_top_level_key(tmp_path):
    path = _broken(tmp_path, "pcm_gst", ('family = "pcm"\n', 'family = "pcm"\nfamly = "x"\n'))
    _raises(path, ": famly: expected only the top-level keys", "got unknown key(s) ['famly']")


def test_unknown_family_lists_known(tmp_path):
    path = _broken(tmp_path, "pcm_gst", ('family = "pcm"', 'family = "ferro"'))
    _raises(path, ": family: expected one of ['rram', 'pcm', 'stt', 'fg'], got 'ferro'")


def test_builtin_card_name_must_equal_stem(tmp_path, monkeypatch):
    path = _broken(tmp_path, "pcm_gst", ('name = "pcm_gst"', 'name = "pcm_other"'))
    load_card(path)  # a user card may be named freely
    monkeypatch.setattr(_card, "cards_dir", lambda: tmp_path)
    assert available() == ["pcm_gst"]
    with pytest.raises(CardError, match=r"pcm_gst\.toml: name: expected the file stem "
                                        r"'pcm_gst' \(built-in card\), got 'pcm_other'"):
        load_card("pcm_gst")


# ---------------------------------------------------------------------------------------------
# Errors: keys


def test_missing_required_keys_are_all_listed(tmp_path):
    text = (cards_dir() / "rram_hfox.toml").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines()
             if not ln.startswith(("read_sigma ", "relax_t_ref "))]
    path = tmp_path / "rram_hfox.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    _raises(path, ": params: expected every rram key",
            "got these missing: ['read_sigma', 'relax_t_ref']")


def test_unknown_key_lists_allowed_keys(tmp_path):
    path = _broken(tmp_path, "stt_mtj",
                   ('on_off = {', 'i_c1 = { value = 50.0, unit = "uA", source = "compendium", '
                                  'tag = "L" }\non_off = {'))
    err = _raises(path, ": params.i_c1: expected only the stt keys",
                  "got unknown key(s) ['i_c1']")
    for key in SCHEMA["stt"]:
        assert repr(key) in str(err)


def test_unknown_entry_field(tmp_path):
    path = _edit(tmp_path, "rram_hfox", "g_max", "value = 40.0,", "valeu = 1, value = 40.0,")
    _raises(path, ": params.g_max: expected only the fields", "got unknown field(s) ['valeu']")


def test_entry_must_be_a_table(tmp_path):
    path = _broken(tmp_path, "fg_flash", ('d2d_sigma = { value = 0.02, unit = "1", source = '
                                          '"compendium", tag = "D", note = "placeholder: no FG '
                                          'device-to-device number in the compendium" }',
                                          "d2d_sigma = 0.02"))
    _raises(path, ": params.d2d_sigma: expected an inline table", "got float 0.02")


# ---------------------------------------------------------------------------------------------
# Errors: units


def test_missing_unit(tmp_path):
    path = _edit(tmp_path, "rram_hfox", "g_max", ' unit = "uS",', "")
    _raises(path, ": params.g_max: expected a unit for a conductance (one of ['S', 'mS', 'uS', "
                  "'µS', 'nS']), got nothing")


def test_unknown_unit(tmp_path):
    path = _edit(tmp_path, "rram_hfox", "g_max", 'unit = "uS"', 'unit = "microsiemens"')
    _raises(path, ": params.g_max: expected a unit for a conductance",
            "got unknown unit 'microsiemens'")


def test_unit_of_wrong_dimension(tmp_path):
    path = _edit(tmp_path, "rram_hfox", "g_max", 'unit = "uS"', 'unit = "kohm"')
    _raises(path, ": params.g_max: expected a unit for a conductance",
            "got 'kohm', which is a resistance")


def test_dimensionless_key_rejects_a_physical_unit(tmp_path):
    path = _edit(tmp_path, "stt_mtj", "on_off", 'unit = "1"', 'unit = "V"')
    _raises(path, ": params.on_off: expected a unit for a dimensionless number "
                  "(one of ['1', '%'])", "got 'V', which is a voltage")


# ---------------------------------------------------------------------------------------------
# Errors: values


def test_non_numeric_value(tmp_path):
    path = _broken(tmp_path, "rram_hfox", ('g_max = { value = 40.0,', 'g_max = { value = "40",'))
    _raises(path, ": params.g_max: expected a number (a conductance), got '40'")


def test_boolean_is_not_a_number(tmp_path):
    path = _broken(tmp_path, "stt_mtj", ('delta = { value = 60.0,', 'delta = { value = true,'))
    _raises(path, ": params.delta: expected a number", "got a boolean (true)")


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_value(tmp_path, bad):
    path = _edit(tmp_path, "pcm_gst", "drift_t0", "value = 20.0,", f"value = {bad},")
    _raises(path, ": params.drift_t0: expected a finite number (a time), got")


def test_non_finite_in_list(tmp_path):
    path = _broken(tmp_path, "pcm_gst", ("value = [0.26348, 1.9650, -1.1731]",
                                         "value = [0.26348, nan, -1.1731]"))
    _raises(path, ": params.prog_sigma_coeffs: expected finite numbers, got nan at index 1")


def test_list_where_scalar_expected(tmp_path):
    path = _broken(tmp_path, "rram_hfox", ('g_max = { value = 40.0,', 'g_max = { value = [40.0],'))
    _raises(path, ": params.g_max: expected a single number (a conductance), got a list [40.0]")


def test_scalar_where_list_expected(tmp_path):
    path = _broken(tmp_path, "rram_hfox", ("[1.053, 0.2374, -1.167e-2, 1.536e-4]", "1.053"))
    _raises(path, ": params.prog_sigma_coeffs: expected a list of numbers (polynomial "
                  "coefficients), got float 1.053")


def test_non_number_inside_list(tmp_path):
    path = _broken(tmp_path, "rram_hfox", ("[1.053, 0.2374, -1.167e-2, 1.536e-4]", '[1.053, "x"]'))
    _raises(path, ": params.prog_sigma_coeffs: expected a list of numbers, got 'x' at index 1")


def test_non_integer_where_integer_required(tmp_path):
    path = _edit(tmp_path, "stt_mtj", "mtjs_per_device", "value = 8,", "value = 8.5,")
    _raises(path, ": params.mtjs_per_device: expected an integer, got 8.5")


def test_integral_float_is_accepted_as_integer(tmp_path):
    path = _edit(tmp_path, "stt_mtj", "mtjs_per_device", "value = 8,", "value = 8.0,")
    v = load_card(path).value("mtjs_per_device")
    assert v == 8 and isinstance(v, int)


def test_out_of_range_against_other_key(tmp_path):
    path = _broken(tmp_path, "rram_hfox", ('g_max = { value = 40.0,', 'g_max = { value = 1.0,'))
    _raises(path, "rram_hfox.toml: params.g_max: expected a conductance > g_min (4e-06 S), "
                  "got 1e-06 S")


@pytest.mark.parametrize("card, old, new, expect", [
    ("rram_hfox", 'd2d_sigma = { value = 0.05,', 'd2d_sigma = { value = -0.1,',
     ": params.d2d_sigma: expected a dimensionless number >= 0, got -0.1"),
    ("rram_hfox", 'g_min = { value = 4.0,', 'g_min = { value = 0.0,',
     ": params.g_min: expected a conductance > 0, got 0 S (0.0 uS)"),
    ("pcm_gst", 'p_stuck_on = { value = 0.002,', 'p_stuck_on = { value = 1.5,',
     ": params.p_stuck_on: expected a dimensionless number in [0, 1], got 1.5"),
    ("stt_mtj", 'on_off = { value = 2.3,', 'on_off = { value = 1.0,',
     ": params.on_off: expected a dimensionless number > 1, got 1"),
    ("stt_mtj", "mtjs_per_device = { value = 8,", "mtjs_per_device = { value = 0,",
     ": params.mtjs_per_device: expected a dimensionless number >= 1, got 0"),
    ("stt_mtj", 'write_error_rate = { value = 1e-6,', 'write_error_rate = { value = 2.0,',
     ": params.write_error_rate: expected a dimensionless number in [0, 1], got 2"),
    ("fg_flash", 'i_min = { value = 1.0, unit = "nA"', 'i_min = { value = 2.0, unit = "uA"',
     ": params.i_max: expected a current > i_min (2e-06 A), got 1e-06 A"),
    ("fg_flash", 'read_noise_b = { value = 67.301741,', 'read_noise_b = { value = 0.0,',
     ": params.read_noise_b: expected a current > 0, got 0 A (0.0 nA)"),
    ("pcm_gst", 'nu_mean_min = { value = 0.049,', 'nu_mean_min = { value = 0.2,',
     ": params.nu_mean_max: expected a dimensionless number >= nu_mean_min (0.2), got 0.1"),
    ("pcm_gst", 'nu_std_max = { value = 0.045,', 'nu_std_max = { value = 0.001,',
     ": params.nu_std_max: expected a dimensionless number >= nu_std_min (0.008), got 0.001"),
    ("pcm_gst", 'read_x_floor = { value = 1e-3,', 'read_x_floor = { value = 0,',
     ": params.read_x_floor: expected a dimensionless number > 0, got 0"),
    ("pcm_gst", 't_read = { value = 250.0,', 't_read = { value = -250.0,',
     ": params.t_read: expected a time > 0, got -2.5e-07 s (-250.0 ns)"),
])
def test_out_of_range_values(tmp_path, card, old, new, expect):
    path = _broken(tmp_path, card, (old, new))
    _raises(path, expect)


def test_stuck_probabilities_must_sum_to_at_most_one(tmp_path):
    path = _broken(tmp_path, "rram_hfox",
                   ('p_stuck_on = { value = 0.005,', 'p_stuck_on = { value = 0.6,'),
                   ('p_stuck_off = { value = 0.005,', 'p_stuck_off = { value = 0.5,'))
    _raises(path, ": params.p_stuck_on + params.p_stuck_off: expected a total stuck "
                  "probability <= 1, got 1.1")


def test_negative_programming_sigma_in_window(tmp_path):
    path = _broken(tmp_path, "rram_hfox", ("[1.053, 0.2374, -1.167e-2, 1.536e-4]", "[1.053, -0.1]"))
    _raises(path, ": params.prog_sigma_coeffs: expected sigma(G) >= 0 for G in [g_min, g_max]",
            "got sigma(4e-05 S) = -2.947e-06 S")


# ---------------------------------------------------------------------------------------------
# Errors: provenance


def test_missing_source(tmp_path):
    path = _edit(tmp_path, "rram_hfox", "g_max", ' source = "wan2022, aihwkit, crosssim",', "")
    _raises(path, ": params.g_max: expected a source (comma-separated keys of [references]), "
                  "got nothing")


def test_empty_source(tmp_path):
    path = _edit(tmp_path, "rram_hfox", "g_max", 'source = "wan2022, aihwkit, crosssim"',
                 'source = " , "')
    _raises(path, ": params.g_max: expected at least one reference key in source, got ' , '")


def test_source_key_not_in_references(tmp_path):
    path = _edit(tmp_path, "rram_hfox", "g_max", 'source = "wan2022, aihwkit, crosssim"',
                 'source = "wan2022, wan2023"')
    _raises(path, ": params.g_max: expected source keys from [references]", "'wan2022'",
            "got unknown source 'wan2023'")


def test_missing_tag(tmp_path):
    path = _edit(tmp_path, "pcm_gst", "drift_t0", ' tag = "V",', "")
    _raises(path, ": params.drift_t0: expected a tag, one of ['V', 'L', 'D'], got nothing")


def test_bad_tag(tmp_path):
    path = _edit(tmp_path, "pcm_gst", "drift_t0", 'tag = "V"', 'tag = "v"')
    _raises(path, ": params.drift_t0: expected a tag, one of ['V', 'L', 'D'], got 'v'")


def test_empty_reference_text(tmp_path):
    path = _broken(tmp_path, "fg_flash", ('guo2017 = "X. Guo', 'guo2018 = ""\nguo2017 = "X. Guo'))
    _raises(path, ": references.guo2018: expected a non-empty citation string, got ''")
