"""`xbar.circuit.solve` with nonlinear selectors and selected-cell read/write schemes.

Passive (0T1R / 1S1R) arrays: every cell conducts, so a read of one cell sees sneak paths
through the others; the unselected lines float, are grounded, or are biased at v/2 or
v/3. The cell is linear (``selector=None``), the combined 1S1R element
``I = g·v0·sinh(V/v0)`` (`xbar.circuit.Sinh`), or a sinh selector ``g0·v0·sinh(Vs/v0)``
in series with the linear cell through an internal node (`xbar.circuit.SeriesSinh`).

1. The scipy reference (`xbar.circuit._reference.reference_solve_nonlinear`: damped Newton
   on the full nodal system, internal nodes kept as unknowns) against ngspice
   (`tests/_spice.py`, B-source sinh elements), and against closed forms (below).
2. `solve` against the reference and against ngspice, for every selector × mode
   (``select=None``, or ``select=(i, j)`` with each unselected scheme) × access.
3. Physics: the small-voltage limit is the linear solve; closed forms for a target cell
   surrounded by identical cells with negligible wire resistance (the sneak current under
   "float", none under "ground", half-selected cells at v/2 and v/3); a 1T1R read of one
   cell is a single series circuit.
4. Gradients against central differences (float64, under jit); jit = eager; vmap over
   the selector; float32.
5. Argument errors.

Most solves go through one module-level `jax.jit` of `solve(..., full=True)`, with the
scheme (selector type, ``select``, ``unselected``, ``access``, ``drive``, ``sense``) static
and fixed per configuration, and ``select`` fixed per array shape, so each configuration
compiles once and is reused across tests. A nonlinear configuration takes a few seconds to
compile, so the default run solves the ten configurations in `FAST` (every selector,
scheme, access and drive/sense pair appears) plus two gradient and one float32
compilations; the rest of the selector × scheme × access product, 16 × 16 arrays, eager
and vmap run with ``pytest -m slow``. The reference-vs-ngspice tests run in full.

The selector objects of the reference and ngspice are the stand-ins below (duck-typed:
``v0``, and ``g0`` for the series selector); `solve` gets `xbar.circuit.Sinh` /
`SeriesSinh`, imported when a test runs.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _fd import check_directional
from _spice import ngspice_available, ngspice_solve
from scipy.optimize import brentq

from xbar.circuit import reference_solve, solve
from xbar.circuit._reference import reference_solve_nonlinear

needs_spice = pytest.mark.skipif(not ngspice_available(), reason="ngspice not installed (apt-get install ngspice)")


# --- selectors: stand-ins for the references, the real ones for `solve` ---------------


@dataclasses.dataclass(frozen=True)
class RefSinh:
    v0: float


@dataclasses.dataclass(frozen=True)
class RefSeriesSinh:
    v0: float
    g0: float


def xsel(sel):
    """The `xbar.circuit` selector equal to a stand-in (keyword arguments only)."""
    if sel is None:
        return None
    import xbar.circuit as xc

    if isinstance(sel, RefSeriesSinh):
        return xc.SeriesSinh(v0=sel.v0, g0=sel.g0)
    return xc.Sinh(v0=sel.v0)


def _stand_in(kind, v0, g0):
    return {"linear": None, "sinh": RefSinh(v0), "series": RefSeriesSinh(v0, g0)}[kind]


# --- configurations ------------------------------------------------------------------

KINDS = ("linear", "sinh", "series")
SCHEMES = [(None, "passive")] + [(u, a) for u in ("float", "ground", "v/2", "v/3") for a in ("passive", "1t1r")]
TERMS = [("near", "far"), ("both", "both"), ("near", "both"), ("both", "far")]
SHAPE = (5, 8)  # wide (cols > rows + 1): see `test_target_cell_closed_forms`
SELECT = {SHAPE: (2, 3), (16, 16): (7, 9), (1, 4): (0, 2), (3, 1): (1, 0)}
B = 2
# The configurations the default run solves with `solve` (each compiles once, ~1-3 s, and
# the physics, gradient and transformation tests below reuse them): every selector, every
# scheme, both accesses, all four drive/sense pairs. The other configurations of the full
# selector × scheme × access product run with ``-m slow``.
FAST = {
    ("linear", "float", "passive"): ("near", "both"),
    ("linear", "float", "1t1r"): ("near", "both"),
    ("linear", "ground", "passive"): ("near", "far"),
    ("linear", "v/2", "passive"): ("both", "far"),
    ("sinh", None, "passive"): ("both", "both"),
    ("sinh", "float", "passive"): ("near", "far"),
    ("sinh", "v/2", "passive"): ("near", "both"),
    ("sinh", "v/3", "passive"): ("both", "far"),
    ("series", "float", "1t1r"): ("near", "far"),
    ("series", "v/2", "passive"): ("both", "both"),
}
# every selector × scheme × access, each with a drive/sense pair (the other ones cycled)
CONFIGS = [
    (kind, uns, acc, *FAST.get((kind, uns, acc), TERMS[k % 4]))
    for k, (kind, (uns, acc)) in enumerate(itertools.product(KINDS, SCHEMES))
]
_slow = pytest.mark.slow


def _params(configs):
    """`configs` as pytest params, those outside `FAST` marked slow."""
    return [pytest.param(c, id=_cid(c), marks=() if c[:3] in FAST else _slow) for c in configs]


def _terms(kind, uns, acc):
    """The (drive, sense) pair `CONFIGS` uses for a configuration."""
    return next(c[3:] for c in CONFIGS if c[:3] == (kind, uns, acc))


def _seed(kind, uns, acc):
    return next(k for k, c in enumerate(CONFIGS) if c[:3] == (kind, uns, acc))


def _cid(c):
    return "-".join(str(x) for x in c).replace("/", "")


def _case(seed, kind, uns, shape=SHAPE, batch=B):
    """Cells 1/U(10 kΩ, 1 MΩ), wires and terminals U(1, 5) Ω, v0 U(0.1, 0.3) V, g0
    1/U(5 kΩ, 50 kΩ); row voltages ``(batch, rows)`` or select voltages ``(batch,)``,
    U(0.2, 1) V."""
    rng = np.random.default_rng(seed)
    m, n = shape
    g = 1.0 / rng.uniform(1e4, 1e6, (m, n))
    r = {k: float(rng.uniform(1, 5)) for k in ("r_row", "r_col", "r_source", "r_sense")}
    sel = _stand_in(kind, float(rng.uniform(0.1, 0.3)), float(1.0 / rng.uniform(5e3, 5e4)))
    if uns is None:
        v = rng.uniform(0.2, 1.0, (batch, m))
        select = None
    else:
        v = rng.uniform(0.2, 1.0, (batch,))
        select = SELECT[shape]
    return g, v, r, sel, select


STATIC = ("access", "select", "unselected", "drive", "sense")


def _full(g, v, r_row, r_col, r_source, r_sense, selector, *, access, select, unselected, drive, sense):
    return solve(
        g,
        v,
        r_row=r_row,
        r_col=r_col,
        r_source=r_source,
        r_sense=r_sense,
        selector=selector,
        access=access,
        select=select,
        unselected=unselected,
        drive=drive,
        sense=sense,
        full=True,
    )


_jfull = jax.jit(_full, static_argnames=STATIC)


def jfull(
    g,
    v,
    *,
    r_row,
    r_col,
    r_source=0.0,
    r_sense=0.0,
    selector=None,
    access="passive",
    select=None,
    unselected="float",
    drive="near",
    sense="far",
):
    """`solve(..., full=True)` through one shared jit; `selector` is an `xbar.circuit`
    selector (a pytree argument, so its parameters are traced)."""
    if select is None:
        unselected = "float"  # irrelevant without select: one compilation per scheme
    kw = dict(access=access, select=select, unselected=unselected, drive=drive, sense=sense)
    return _jfull(jnp.asarray(g), jnp.asarray(v), r_row, r_col, r_source, r_sense, selector, **kw)


def _ref(g, v, *, selector=None, select=None, unselected="float", access="passive", **kw):
    return reference_solve_nonlinear(
        g, v, selector=selector, select=select, unselected=unselected or "float", access=access, **kw
    )


def _err(got, want, floor=1e-3):
    """Largest relative error of `got` against `want` along the last axis, each entry
    measured against ``max(|want|, floor·max|want|)`` (so near-zero entries are held to
    an absolute tolerance relative to the largest one)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    scale = np.max(np.abs(want), axis=-1, keepdims=True)
    den = np.maximum(np.maximum(np.abs(want), floor * scale), 1e-300)
    return float(np.max(np.abs(got - want) / den))


def _active(shape, select, access):
    on = np.ones(shape, bool)
    if select is not None and access == "1t1r":
        on[:] = False
        on[select[0]] = True
    return on


def _termed_cols(n, select, unselected):
    """Columns with a terminal (the others float and output 0)."""
    if select is None or unselected != "float":
        return np.ones(n, bool)
    out = np.zeros(n, bool)
    out[select[1]] = True
    return out


def _kcl_currents(g, sel, u, w, nn, on, termed):
    """Column currents from node voltages by KCL: the sum of the cell currents."""
    if sel is None:
        cell = g * (u - w)
    elif isinstance(sel, RefSeriesSinh):
        cell = g * (u - nn)
    else:
        cell = g * sel.v0 * np.sinh((u - w) / sel.v0)
    return np.where(termed, np.where(on, cell, 0.0).sum(axis=-2), 0.0)


# --- 1. the scipy reference against ngspice and the existing linear reference --------


def _check_against_spice(g, v, r, sel, select, uns, acc, drive, sense):
    kw = dict(selector=sel, select=select, unselected=uns or "float", access=acc, drive=drive, sense=sense, **r)
    ref = _ref(g, v, **kw)
    assert np.all(ref.residual <= 1e-9), ref.residual
    for b in range(v.shape[0]):
        sp = ngspice_solve(g, v[b], **kw)
        # terminal currents as ngspice's ammeters report them (rounding ~1e-9 at v/2, v/3)
        assert _err(sp["currents"], ref.currents[b]) <= 1e-8
        # the same nodes are left out (no path to any terminal), the others agree
        assert np.array_equal(np.isnan(sp["u"]), ref.isolated_u)
        assert np.array_equal(np.isnan(sp["w"]), ref.isolated_w)
        vmax = float(np.max(np.abs(v[b])))
        for name, mask in (("u", ref.isolated_u), ("w", ref.isolated_w), ("n", ref.isolated_n)):
            if name == "n" and ref.n is None:
                continue
            got, want = sp[name][~mask], getattr(ref, name)[b][~mask]
            assert np.max(np.abs(got - want), initial=0.0) <= 1e-9 * vmax, name
        # KCL currents from ngspice's node voltages: no cancellation, much tighter
        on = _active(g.shape, select, acc)
        termed = _termed_cols(g.shape[1], select, uns)
        nn = np.nan_to_num(sp.get("n", np.zeros_like(g)))
        kcl = _kcl_currents(g, sel, np.nan_to_num(sp["u"]), np.nan_to_num(sp["w"]), nn, on, termed)
        assert _err(kcl, ref.currents[b]) <= 1e-9
    return ref


@needs_spice
@pytest.mark.parametrize("config", CONFIGS, ids=_cid)
def test_reference_matches_ngspice(x64, config):
    kind, uns, acc, drive, sense = config
    g, v, r, sel, select = _case(_seed(kind, uns, acc), kind, uns)
    ref = _check_against_spice(g, v, r, sel, select, uns, acc, drive, sense)
    if sel is not None:  # not a trivial circuit: the selector matters
        lin = _ref(g, v, select=select, unselected=uns, access=acc, drive=drive, sense=sense, **r)
        assert _err(lin.currents, ref.currents) > 1e-2


@needs_spice
@pytest.mark.parametrize(
    "shape,config",
    [
        ((16, 16), ("sinh", "v/2", "passive", "both", "both")),
        ((16, 16), ("series", "float", "passive", "near", "far")),
        ((16, 16), ("sinh", None, "passive", "near", "far")),
        ((1, 4), ("sinh", "v/3", "passive", "both", "far")),
        ((3, 1), ("series", "ground", "passive", "near", "both")),
        ((1, 4), ("series", None, "passive", "both", "both")),
    ],
    ids=lambda x: "x".join(map(str, x)) if isinstance(x[0], int) else _cid(x),
)
def test_reference_matches_ngspice_other_shapes(x64, shape, config):
    kind, uns, acc, drive, sense = config
    g, v, r, sel, select = _case(100 + shape[0], kind, uns, shape)
    _check_against_spice(g, v, r, sel, select, uns, acc, drive, sense)


@pytest.mark.parametrize("drive,sense", TERMS)
def test_reference_linear_equals_reference_solve(x64, drive, sense):
    """With linear cells and every line terminated, the Newton reference is the existing
    direct solve (and the nodes are ordered the same way)."""
    g, v, r, _, _ = _case(7, "linear", None)
    ref = _ref(g, v, drive=drive, sense=sense, **r)
    cur, x, _ = reference_solve(g, v, drive=drive, sense=sense, **r)
    m, n = g.shape
    assert _err(ref.currents, cur) <= 1e-12
    assert np.max(np.abs(ref.u - x[:, : m * n].reshape(-1, m, n))) <= 1e-14
    assert np.max(np.abs(ref.w - x[:, m * n :].reshape(-1, m, n))) <= 1e-14


# --- 2. solve against the reference and ngspice ---------------------------------------


def _check_solve(sol, ref, g, v, select, acc):
    assert bool(sol.converged)
    batch, (m, n) = v.shape[0], g.shape
    assert sol.currents.shape == (batch, n) and sol.currents.dtype == jnp.float64
    assert sol.u.shape == sol.w.shape == sol.cell_voltages.shape == sol.cell_currents.shape == (batch, m, n)
    assert _err(sol.currents, ref.currents) <= 1e-6
    vmax = float(np.max(np.abs(v)))
    for name, iso in (("u", ref.isolated_u), ("w", ref.isolated_w)):
        got, want = np.asarray(getattr(sol, name))[:, ~iso], getattr(ref, name)[:, ~iso]
        assert np.max(np.abs(got - want), initial=0.0) <= 1e-6 * vmax, name
    np.testing.assert_allclose(np.asarray(sol.cell_voltages), np.asarray(sol.u - sol.w), rtol=0, atol=1e-15 * vmax)
    cells = np.asarray(sol.cell_currents).reshape(batch, -1)
    assert _err(cells, ref.cell_currents.reshape(batch, -1)) <= 1e-6
    off = ~_active((m, n), select, acc)
    assert np.all(np.asarray(sol.cell_currents)[:, off] == 0.0)
    if select is not None:
        want = np.zeros((m, n), bool)
        want[select[0], :] = True
        want[:, select[1]] = True
        want[select] = False
        assert np.array_equal(np.asarray(sol.half_selected), want)


@pytest.mark.parametrize("config", _params(CONFIGS))
def test_solve_matches_reference(x64, config):
    kind, uns, acc, drive, sense = config
    g, v, r, sel, select = _case(_seed(kind, uns, acc), kind, uns)
    kw = dict(select=select, unselected=uns, access=acc, drive=drive, sense=sense, **r)
    sol = jfull(g, v, selector=xsel(sel), **kw)
    ref = _ref(g, v, selector=sel, **kw)
    _check_solve(sol, ref, g, v, select, acc)


@needs_spice
@pytest.mark.parametrize("config", _params(CONFIGS))
def test_solve_matches_ngspice(x64, config):
    kind, uns, acc, drive, sense = config
    g, v, r, sel, select = _case(_seed(kind, uns, acc), kind, uns)
    kw = dict(select=select, unselected=uns or "float", access=acc, drive=drive, sense=sense, **r)
    cur = np.asarray(jfull(g, v, selector=xsel(sel), **kw).currents)
    for b in range(B):
        assert _err(cur[b], ngspice_solve(g, v[b], selector=sel, **kw)["currents"]) <= 1e-6


LARGE = [
    ("sinh", "v/2", "passive", "both", "both"),
    ("series", "float", "passive", "near", "far"),
    ("linear", "v/3", "1t1r", "near", "both"),
]


@_slow
@pytest.mark.parametrize("config", LARGE, ids=_cid)
def test_solve_matches_reference_16x16(x64, config):
    kind, uns, acc, drive, sense = config
    g, v, r, sel, select = _case(200 + LARGE.index(config), kind, uns, (16, 16))
    kw = dict(select=select, unselected=uns, access=acc, drive=drive, sense=sense, **r)
    sol = jfull(g, v, selector=xsel(sel), **kw)
    _check_solve(sol, _ref(g, v, selector=sel, **kw), g, v, select, acc)
    if ngspice_available():
        sp = ngspice_solve(g, v[0], selector=sel, **kw)
        assert _err(np.asarray(sol.currents[0]), sp["currents"]) <= 1e-6


@_slow
def test_1t1r_equals_passive_without_select(x64):
    """With every row driven and every column sensed, access does not change the circuit."""
    g, v, r, sel, _ = _case(_seed("sinh", None, "passive"), "sinh", None)
    drive, sense = _terms("sinh", None, "passive")
    passive = jfull(g, v, selector=xsel(sel), access="passive", drive=drive, sense=sense, **r)
    t1r = jfull(g, v, selector=xsel(sel), access="1t1r", drive=drive, sense=sense, **r)
    assert _err(t1r.currents, passive.currents) <= 1e-10


# --- 3. physics ------------------------------------------------------------------------

SOLVERS = ["reference", "xbar"]


class _Sol:
    """numpy view of a solution from either solver."""

    def __init__(self, solver, g, v, *, selector, **kw):
        if solver == "xbar":
            s = jfull(g, v, selector=xsel(selector), **kw)
            assert bool(s.converged)
        else:
            s = _ref(g, v, selector=selector, **kw)
        self.currents = np.asarray(s.currents)
        self.cell_voltages = np.asarray(s.u) - np.asarray(s.w)
        self.half_selected = np.asarray(s.half_selected) if solver == "xbar" and kw.get("select") else None


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "kind,uns,acc", [("sinh", None, "passive"), ("sinh", "v/2", "passive"), ("series", "v/2", "passive")]
)
def test_small_voltage_limit_is_linear(x64, solver, kind, uns, acc):
    """For |V| ≪ v0, ``v0·sinh(V/v0) = V (1 + V²/6v0² + …)``: the currents approach the
    linear solve (for the series selector, of ``g·g0/(g + g0)``), with a relative deviation
    that shrinks 4× when the voltages halve."""
    drive, sense = _terms(kind, uns, acc)
    g, v, r, sel, select = _case(300, kind, uns)
    if kind == "series":  # a selector more resistive than most cells, so that it matters
        sel = RefSeriesSinh(sel.v0, 1e-5)
    kw = dict(select=select, unselected=uns, access=acc, drive=drive, sense=sense, **r)
    g_lin = g if kind == "sinh" else g * sel.g0 / (g + sel.g0)
    x_max = 0.05 * float(np.max(v)) / sel.v0  # the largest V/v0 any cell can see
    dev = []
    for scale in (0.05, 0.025):
        cur = _Sol(solver, g, scale * v, selector=sel, **kw).currents
        lin = _ref(g_lin, scale * v, **kw).currents
        dev.append(_err(cur, lin))
    assert 1e-7 < dev[0] <= 1.1 * x_max**2 / 6
    assert 3.8 <= dev[0] / dev[1] <= 4.2


# a target cell (i, j) = (2, 3) of 1 µS (HRS) among cells of 100 µS (LRS), on the 5 × 8
# array of the configurations above, with negligible wire resistance (so drive/sense do
# not matter and each configuration's compilation is reused): each scheme has a closed form
G_L, G_H = 1e-4, 1e-6
V_T = np.array([0.6, 0.3])
WIRES_T = dict(r_row=1e-4, r_col=1e-4, r_source=0.0, r_sense=0.0)


def _target_closed_form(f, finv, uns):
    """Column currents ``(B, N)`` for cell law ``I = g·f(V)`` (``finv``: inverse of f)."""
    m, n = SHAPE
    i, j = SELECT[SHAPE]
    out = np.zeros((V_T.size, n))
    for b, v in enumerate(V_T):
        if uns == "float":
            # v → (n−1) cells → unselected columns → (m−1)(n−1) cells → unselected rows →
            # (m−1) cells → column j: one current through three groups in series
            groups = [(n - 1) * G_L, (m - 1) * (n - 1) * G_L, (m - 1) * G_L]
            sneak = brentq(
                lambda s, v=v, gs=groups: sum(finv(s / gk) for gk in gs) - v, 0.0, groups[0] * f(v), xtol=1e-300
            )
            out[b, j] = G_H * f(v) + sneak
        else:
            lr, lc = {"ground": (0.0, 0.0), "v/2": (0.5, 0.5), "v/3": (1 / 3, 2 / 3)}[uns]
            out[b, :] = G_L * (f(v - lc * v) + (m - 1) * f(lr * v - lc * v))  # unselected columns
            out[b, j] = G_H * f(v) + (m - 1) * G_L * f(lr * v)
    return out


def _law(kind, v0=0.15):
    """``(selector stand-in, f, f⁻¹)`` of a cell law ``I = g·f(V)``."""
    if kind == "linear":
        return None, (lambda x: x), (lambda y: y)
    return RefSinh(v0), (lambda x: v0 * np.sinh(x / v0)), (lambda y: v0 * np.arcsinh(y / v0))


def _target_solve(solver, kind, uns):
    g = np.full(SHAPE, G_L)
    g[SELECT[SHAPE]] = G_H
    drive, sense = _terms(kind, uns, "passive")
    kw = dict(select=SELECT[SHAPE], unselected=uns, access="passive", drive=drive, sense=sense, **WIRES_T)
    return _Sol(solver, g, V_T, selector=_law(kind)[0], **kw)


def _target_params():
    out = []
    for kind, uns in itertools.product(("linear", "sinh"), ("float", "ground", "v/2", "v/3")):
        marks = () if (kind, uns, "passive") in FAST else _slow
        out += [pytest.param(solver, kind, uns, marks=marks) for solver in SOLVERS]
    return out


@pytest.mark.parametrize("solver,kind,uns", _target_params())
def test_target_cell_closed_forms(x64, solver, kind, uns):
    """Every column current against its closed form: "float" adds the three-cell sneak
    paths to column j, "ground" leaves the target cell alone in it, "v/2" and "v/3" add
    its half-selected cells at v/2 and v/3. Half-selected cells see v/2 (v/3), the other
    unselected cells 0 (−v/3), the target v. Under v/2 an unselected column carries its
    half-selected cell at v/2: half the current of a fully selected linear cell, far less
    behind a selector."""
    sel, f, finv = _law(kind)
    s = _target_solve(solver, kind, uns)
    assert _err(s.currents, _target_closed_form(f, finv, uns)) <= 1e-4
    i, j = select = SELECT[SHAPE]
    hs = np.zeros(SHAPE, bool)
    hs[i, :] = hs[:, j] = True
    hs[select] = False
    if s.half_selected is not None:
        assert np.array_equal(s.half_selected, hs)
    if uns in ("v/2", "v/3"):
        half, other = (0.5, 0.0) if uns == "v/2" else (1 / 3, -1 / 3)
        rest = ~hs
        rest[select] = False
        cv, vb = s.cell_voltages, V_T[:, None]
        assert np.max(np.abs(cv[:, hs] - half * vb)) <= 1e-4 * V_T.max()
        assert np.max(np.abs(cv[:, rest] - other * vb)) <= 1e-4 * V_T.max()
        assert np.max(np.abs(cv[:, i, j] - V_T)) <= 1e-4 * V_T.max()
    if uns == "v/2":
        ratio = s.currents[:, 0] / (G_L * f(V_T))
        if kind == "linear":
            assert np.all(np.abs(ratio - 0.5) < 1e-4)
        else:
            assert np.all(ratio < 0.45)
            assert ratio[0] < 0.2  # v = 0.6 V = 4 v0: sinh(2)/sinh(4) = 0.13


@pytest.mark.parametrize("solver", SOLVERS)
def test_sneak_current_by_scheme(x64, solver):
    """Reading an HRS cell among LRS cells of a linear passive array: with floating lines
    the sneak paths carry most of the selected column's current; grounding the unselected
    lines leaves the target cell alone; on this wide array (cols > rows + 1) the sneak
    current with floating lines exceeds the half-selected current of the v/2 scheme (on a
    square or tall array it is the other way round: ``(M−1)(N−1)/(M+N−1)`` against
    ``(M−1)/2`` cells' worth)."""
    j = SELECT[SHAPE][1]
    cur = {uns: _target_solve(solver, "linear", uns).currents[:, j] for uns in ("float", "ground", "v/2")}
    target = G_H * V_T
    assert np.all(cur["float"] > 30 * target)
    assert np.all(np.abs(cur["ground"] / target - 1) < 1e-4)
    assert np.all(cur["float"] > cur["v/2"]) and np.all(cur["v/2"] > 30 * cur["ground"])


def _series_circuit_current(kind, sel, g_cell, v, r_th):
    """The current of one cell driven at `v` through a Thevenin resistance `r_th`."""
    if kind == "linear":
        return v / (r_th + 1.0 / g_cell)
    if kind == "sinh":
        return brentq(lambda x: x - g_cell * sel.v0 * np.sinh((v - x * r_th) / sel.v0), 0.0, v / r_th, xtol=1e-300)
    vs = lambda x: sel.v0 * np.arcsinh(x / (sel.g0 * sel.v0))  # noqa: E731
    return brentq(lambda x: x - g_cell * (v - x * r_th - vs(x)), 0.0, v * g_cell, xtol=1e-300)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("kind", [k if (k, "float", "1t1r") in FAST else pytest.param(k, marks=_slow) for k in KINDS])
def test_1t1r_select_is_a_series_circuit(x64, solver, kind):
    """A 1T1R read with floating unselected lines has no sneak path: the selected column
    carries exactly the current of the single cell in series with its drive and sense
    paths (each end's wire and terminal resistances, in parallel where both ends are
    connected); the other columns output nothing. The same passive array passes more."""
    drive, sense = _terms(kind, "float", "1t1r")
    g, v, r, sel, select = _case(_seed(kind, "float", "1t1r"), kind, "float")
    (m, n), (i, j) = g.shape, select

    def par(*rs):
        return 1.0 / sum(1.0 / x for x in rs)

    row = [r["r_source"] + (j + 1) * r["r_row"]] + ([r["r_source"] + (n - j) * r["r_row"]] if drive == "both" else [])
    col = [r["r_sense"] + (m - i) * r["r_col"]] + ([r["r_sense"] + (i + 1) * r["r_col"]] if sense == "both" else [])
    r_th = par(*row) + par(*col)
    kw = dict(select=select, unselected="float", drive=drive, sense=sense, **r)
    cur = _Sol(solver, g, v, selector=sel, access="1t1r", **kw).currents
    want = np.array([_series_circuit_current(kind, sel, g[i, j], vb, r_th) for vb in v])
    assert _err(cur[:, j], want) <= 1e-8
    others = np.delete(cur, j, axis=1)
    assert np.all(others == 0.0)
    if kind == "linear":  # more conducting paths between the same two terminals: more current
        passive = _Sol(solver, g, v, selector=sel, access="passive", **kw).currents
        assert np.all(passive[:, j] > want * (1 + 1e-3))


# --- 4. gradients, transformations, float32 --------------------------------------------


@pytest.mark.parametrize("kind,uns,acc", [("sinh", None, "passive"), ("series", "v/2", "passive")])
def test_gradients_match_central_differences(x64, kind, uns, acc):
    """d(loss)/d(v, g, r_row, v0 [, g0]) under jit, against central differences."""
    import xbar.circuit as xc

    drive, sense = _terms(kind, uns, acc)
    g, v, r, sel, select = _case(400, kind, uns)
    rng = np.random.default_rng(401)
    weights = jnp.asarray(rng.normal(size=(B, g.shape[1])))
    static = dict(select=select, unselected=uns, access=acc, drive=drive, sense=sense)
    others = {k: r[k] for k in ("r_col", "r_source", "r_sense")}

    def loss(v, g, r_row, v0, g0):
        selector = xc.Sinh(v0=v0) if kind == "sinh" else xc.SeriesSinh(v0=v0, g0=g0)
        return jnp.sum(jfull(g, v, selector=selector, r_row=r_row, **others, **static).currents * weights)

    g0 = sel.g0 if kind == "series" else 1.0
    # numpy arrays and Python floats, as everywhere else, so that the finite differences
    # reuse the configuration's compiled solve
    args = [v, g, r["r_row"], sel.v0, g0]
    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3, 4)))(*args)

    def check(k, direction, h):
        check_directional(loss, args, grads, k, direction, h, rtol=1e-5)

    check(0, rng.normal(size=v.shape), 1e-4)  # v: a random direction
    check(1, g * rng.normal(size=g.shape), 1e-4)  # g: a relative random direction
    check(2, 1.0, 1e-4 * r["r_row"])
    check(3, 1.0, 1e-5 * sel.v0)
    if kind == "series":
        check(4, 1.0, 1e-5 * g0)
    e = np.zeros_like(g)
    e[SELECT[g.shape]] = g[SELECT[g.shape]]
    check(1, e, 1e-4)  # the selected cell alone


@_slow
def test_eager_equals_jit_and_scalar_select_voltage(x64):
    import xbar.circuit as xc

    kind, uns, acc = "sinh", "v/3", "passive"
    drive, sense = _terms(kind, uns, acc)
    g, v, r, sel, select = _case(_seed(kind, uns, acc), kind, uns)
    kw = dict(select=select, unselected=uns, access=acc, drive=drive, sense=sense, **r)
    eager = solve(g, float(v[1]), selector=xc.Sinh(v0=sel.v0), **kw)
    assert isinstance(eager, jax.Array) and eager.shape == (g.shape[1],) and eager.dtype == jnp.float64
    jitted = jfull(g, v, selector=xsel(sel), **kw).currents
    assert _err(eager, jitted[1]) <= 1e-10


@_slow
def test_vmap_over_selector_equals_loop(x64):
    """A sweep over v0: `vmap` through the selector's leaf."""
    import xbar.circuit as xc

    kind, uns, acc = "sinh", "v/2", "passive"
    drive, sense = _terms(kind, uns, acc)
    g, v, r, _, select = _case(500, kind, uns)
    kw = dict(select=select, unselected=uns, access=acc, drive=drive, sense=sense, **r)
    v0s = jnp.asarray([0.1, 0.2, 0.3])
    batched = jax.vmap(lambda v0: jfull(g, v, selector=xc.Sinh(v0=v0), **kw).currents)(v0s)
    assert batched.shape == (3, B, g.shape[1])
    for k, v0 in enumerate(np.asarray(v0s)):
        assert _err(batched[k], _ref(g, v, selector=RefSinh(float(v0)), **kw).currents) <= 1e-6


def test_float32_default_is_accurate():
    kind, uns, acc = "sinh", "v/2", "passive"
    drive, sense = _terms(kind, uns, acc)
    g, v, r, sel, select = _case(600, kind, uns)
    kw = dict(select=select, unselected=uns, access=acc, drive=drive, sense=sense, **r)
    import xbar.circuit as xc

    sol = jfull(g.astype(np.float32), v.astype(np.float32), selector=xc.Sinh(v0=np.float32(sel.v0)), **kw)
    assert sol.currents.dtype == jnp.float32
    assert bool(sol.converged)
    ref = _ref(g.astype(np.float32).astype(float), v.astype(np.float32).astype(float), selector=sel, **kw)
    assert _err(sol.currents, ref.currents, floor=1e-2) <= 1e-3


# --- 5. argument errors ----------------------------------------------------------------

_G = np.full((4, 3), 1e-5)
_R = dict(r_row=1.0, r_col=1.0)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(select=(4, 0)), "^select:"),
        (dict(select=(0, 3)), "^select:"),
        (dict(select=(-1, 0)), "^select:"),
        (dict(select=(0, -1)), "^select:"),
        (dict(select=(0, 0), unselected="v/4"), "^unselected:"),
        (dict(select=(0, 0), unselected="floating"), "^unselected:"),
        (dict(select=(0, 0), v=np.full((2, 4), 0.5)), "^v:"),
        (dict(select=(0, 0), v=np.full((2, 2, 2), 0.5)), "^v:"),
        (dict(selector="ovonic"), "selector"),
    ],
)
def test_bad_select_arguments_raise(kw, match):
    kw = {"v": 0.5 if "select" in kw else np.full(4, 0.5), **kw}
    with pytest.raises((ValueError, TypeError), match=match) as info:
        solve(_G, **_R, **kw)
    if "selector" not in kw:
        assert info.type is ValueError


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda xc: xc.Sinh(v0=0.0), r"\bv0\b"),
        (lambda xc: xc.Sinh(v0=-0.1), r"\bv0\b"),
        (lambda xc: xc.SeriesSinh(v0=-0.1, g0=1e-4), r"\bv0\b"),
        (lambda xc: xc.SeriesSinh(v0=0.0, g0=1e-4), r"\bv0\b"),
        (lambda xc: xc.SeriesSinh(v0=0.1, g0=0.0), r"\bg0\b"),
        (lambda xc: xc.SeriesSinh(v0=0.1, g0=-1e-4), r"\bg0\b"),
    ],
)
def test_bad_selector_parameters_raise(make, match):
    """Raised when the selector is made or, at the latest, when it is used."""
    import xbar.circuit as xc

    with pytest.raises(ValueError, match=match):
        solve(_G, 0.5, select=(1, 1), unselected="v/2", selector=make(xc), **_R)
