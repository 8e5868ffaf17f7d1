"""`xbar.circuit.solve` / `transfer_matrix`: the crossbar read with wire resistance.

Checked against the scipy direct solve of the same nodal equations
(`xbar.circuit.reference_solve`), against ngspice (`tests/_spice.py`, skipped when
ngspice is not installed), against circuit laws (KCL at the drivers and sense nodes,
mirror symmetry, the zero-wire-resistance limit) and against finite differences.

Most solves go through one module-level `jax.jit` of `solve(..., full=True)` with the
resistances traced, so each (shape, drive, sense) compiles once and is reused across
tests (compilation dominates the runtime); the eager path, which validates concrete
arguments, returns plain currents and raises `SolveError`, is exercised separately.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _fd import check_directional
from _spice import ngspice_available, ngspice_currents

from xbar import circuit
from xbar.circuit import SolveError, reference_solve, solve, transfer_matrix

STATIC = ("drive", "sense", "tol", "max_iter")


def _full(g, v, r_row, r_col, r_source, r_sense, *, drive, sense, tol, max_iter):
    kw = dict(drive=drive, sense=sense, tol=tol, max_iter=max_iter)
    return solve(g, v, r_row=r_row, r_col=r_col, r_source=r_source, r_sense=r_sense, full=True, **kw)


_jfull = jax.jit(_full, static_argnames=STATIC)


def jfull(g, v, *, r_row, r_col, r_source=0.0, r_sense=0.0, drive="near", sense="far", tol=None, max_iter=500):
    """`solve(..., full=True)` through one shared jit (defaults filled in here, so a call
    that spells them out and one that omits them hit the same compiled function)."""
    kw = dict(drive=drive, sense=sense, tol=tol, max_iter=max_iter)
    return _jfull(jnp.asarray(g), jnp.asarray(v), r_row, r_col, r_source, r_sense, **kw)


def jsolve(g, v, **kw):
    """Column currents through the shared jitted full solve."""
    return jfull(g, v, **kw).currents


COMBOS = [("near", "far"), ("near", "both"), ("both", "far"), ("both", "both")]
M, N, B = 12, 10, 3  # the shape most tests share (so its compilation is reused)


def _rand(seed, m=M, n=N, batch=B):
    """Conductances 1/U(10 kΩ, 1 MΩ) [S], voltages U(0, 0.2) [V], wire and
    driver/sense resistances [Ω] (all nonzero)."""
    rng = np.random.default_rng(seed)
    g = 1.0 / rng.uniform(1e4, 1e6, (m, n))
    v = rng.uniform(0.0, 0.2, (m,) if batch is None else (batch, m))
    r = dict(
        r_row=float(rng.uniform(1, 5)),
        r_col=float(rng.uniform(1, 5)),
        r_source=float(rng.uniform(1, 20)),
        r_sense=float(rng.uniform(1, 20)),
    )
    return g, v, r


def _rel(a, b):
    """Max elementwise relative error of `a` against `b` (b nonzero)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _ref(g, v, **kw):
    cur, x, _ = reference_solve(g, v, **kw)
    m, n = np.shape(g)
    u = x[:, : m * n].reshape(-1, m, n)
    w = x[:, m * n :].reshape(-1, m, n)
    return cur, u, w


# --- 1. agreement with the sparse direct solve ---------------------------------------


@pytest.mark.parametrize("drive,sense", COMBOS)
def test_matches_reference_all_terminations(x64, drive, sense):
    g, v, r = _rand(1)
    cur = jsolve(jnp.asarray(g), jnp.asarray(v), drive=drive, sense=sense, **r)
    assert cur.shape == (B, N) and cur.dtype == jnp.float64
    ref, _, _ = _ref(g, v, drive=drive, sense=sense, **r)
    assert _rel(cur, ref) <= 1e-9
    # the wires matter here: returning the ideal v @ g would fail by orders of magnitude
    assert _rel(v @ g, ref) > 1e-3


@pytest.mark.parametrize("shape", [(1, 1), (32, 48)])
def test_matches_reference_other_shapes(x64, shape):
    g, v, r = _rand(2, *shape, batch=2)
    cur = jsolve(jnp.asarray(g), jnp.asarray(v), **r)
    assert cur.shape == (2, shape[1])
    ref, _, _ = _ref(g, v, **r)
    assert _rel(cur, ref) <= 1e-9
    assert _rel(v @ g, ref) > 1e-6


def test_zero_conductances_and_zero_inputs(x64):
    """Cells at g = 0 (a dead row and a dead column included) and an all-zero input."""
    g, v, r = _rand(4)
    g[2, :] = 0.0
    g[:, 7] = 0.0
    g[5, 3] = 0.0
    v[1] = 0.0
    cur = np.asarray(jsolve(jnp.asarray(g), jnp.asarray(v), drive="both", sense="both", **r))
    ref, _, _ = _ref(g, v, drive="both", sense="both", **r)
    assert np.all(cur[:, 7] == 0.0) and np.all(cur[1] == 0.0)
    live = np.ones(N, bool)
    live[7] = False
    assert _rel(cur[[0, 2]][:, live], ref[[0, 2]][:, live]) <= 1e-9


def test_mirror_symmetry_with_both_ends(x64):
    """Driven and sensed at both ends, the circuit is symmetric under reversing the
    column order and under reversing the row order."""
    g, v, r = _rand(5)
    kw = dict(drive="both", sense="both", **r)
    cur = np.asarray(jsolve(jnp.asarray(g), jnp.asarray(v), **kw))
    flip_cols = np.asarray(jsolve(jnp.asarray(g[:, ::-1].copy()), jnp.asarray(v), **kw))
    flip_rows = np.asarray(jsolve(jnp.asarray(g[::-1].copy()), jnp.asarray(v[:, ::-1].copy()), **kw))
    assert _rel(flip_cols[:, ::-1], cur) <= 1e-10
    assert _rel(flip_rows, cur) <= 1e-10


# --- 2. ngspice ------------------------------------------------------------------


@pytest.mark.skipif(not ngspice_available(), reason="ngspice not installed (apt-get install ngspice)")
@pytest.mark.parametrize("drive,sense", [("near", "far"), ("both", "both")])
def test_matches_ngspice(x64, drive, sense):
    g, v, r = _rand(7)
    cur = np.asarray(jsolve(jnp.asarray(g), jnp.asarray(v), drive=drive, sense=sense, **r))
    for b in range(2):
        spice = ngspice_currents(g, v[b], drive=drive, sense=sense, **r)
        assert _rel(cur[b], spice) <= 1e-6
        assert _rel(v[b] @ g, spice) > 1e-3


# --- 3. transfer matrix ----------------------------------------------------------


def test_transfer_matrix_reproduces_solve(x64):
    g, v, r = _rand(8)
    drive, sense = "both", "both"
    t = jax.jit(transfer_matrix, static_argnames=("drive", "sense"))(jnp.asarray(g), drive=drive, sense=sense, **r)
    assert t.shape == (M, N) and t.dtype == jnp.float64
    cur = jsolve(jnp.asarray(g), jnp.asarray(v), drive=drive, sense=sense, **r)
    assert _rel(v @ np.asarray(t), cur) <= 1e-10
    # T is not g: wire resistance lowers every effective conductance
    assert np.all(np.asarray(t) < g)


# --- 4. limits and circuit laws ----------------------------------------------------


def test_vanishing_wire_resistance_gives_ideal_product(x64):
    g, v, _ = _rand(9)
    sol = jfull(jnp.asarray(g), jnp.asarray(v), r_row=1e-9, r_col=1e-9, r_source=0.0, r_sense=0.0)
    assert bool(sol.converged)
    assert _rel(sol.currents, v @ g) <= 1e-6
    # every cell sees its full row voltage
    assert np.max(np.abs(np.asarray(sol.cell_voltages) - v[:, :, None])) <= 1e-6 * v.max()


@pytest.mark.parametrize("drive,sense", [("near", "far"), ("both", "both")])
def test_full_solution_and_kcl(x64, drive, sense):
    g, v, r = _rand(10)
    sol = jfull(jnp.asarray(g), jnp.asarray(v), drive=drive, sense=sense, **r)
    assert bool(sol.converged) is True
    assert 1 <= int(sol.iterations) <= 500
    assert sol.residual.shape == (B,) and np.all(np.asarray(sol.residual) <= 1e-12)
    assert sol.u.shape == sol.w.shape == sol.cell_voltages.shape == (B, M, N)
    np.testing.assert_array_equal(sol.cell_voltages, sol.u - sol.w)

    # node voltages agree with the direct solve
    ref, u_ref, w_ref = _ref(g, v, drive=drive, sense=sense, **r)
    assert _rel(sol.currents, ref) <= 1e-9
    assert np.max(np.abs(np.asarray(sol.u) - u_ref)) <= 1e-10 * v.max()
    assert np.max(np.abs(np.asarray(sol.w) - w_ref)) <= 1e-10 * v.max()

    u, w, cur = np.asarray(sol.u), np.asarray(sol.w), np.asarray(sol.currents)
    g_s = 1.0 / (r["r_source"] + r["r_row"])
    g_t = 1.0 / (r["r_col"] + r["r_sense"])
    # KCL over the whole array: current out of the drivers = current into the sense nodes
    supplied = g_s * np.sum(v - u[:, :, 0], axis=-1)
    if drive == "both":
        supplied = supplied + g_s * np.sum(v - u[:, :, -1], axis=-1)
    assert _rel(cur.sum(-1), supplied) <= 1e-9
    # each column's output is what flows through its sense resistor(s)
    sensed = g_t * w[:, -1, :]
    if sense == "both":
        sensed = sensed + g_t * w[:, 0, :]
    assert _rel(cur, sensed) <= 1e-9
    # IR drop: row nodes sit below their drive, column nodes above the 0 V sense node
    assert np.all(u <= v[:, :, None]) and np.all(w > 0)


# --- 5. gradients ----------------------------------------------------------------


def test_gradients_match_central_differences(x64):
    g, v, r = _rand(11)
    rng = np.random.default_rng(111)
    weights = jnp.asarray(rng.normal(size=(B, N)))
    names = ("r_row", "r_col", "r_source", "r_sense")

    def loss(v, g, *rs):
        return jnp.sum(jsolve(g, v, **dict(zip(names, rs))) * weights)

    # resistances as Python floats (weakly typed, like every other call of `jfull`)
    args = [jnp.asarray(v), jnp.asarray(g)] + [r[k] for k in names]
    grads = jax.jit(jax.grad(loss, argnums=tuple(range(len(args)))))(*args)

    def check(i, direction, h):
        check_directional(loss, args, grads, i, direction, h, rtol=1e-5)

    check(0, jnp.asarray(rng.normal(size=v.shape)), 1e-3)  # v: a random direction
    check(1, jnp.asarray(g * rng.normal(size=g.shape)), 1e-4)  # g: relative random direction
    for k in range(4):  # every resistance
        check(2 + k, 1.0, 1e-4 * args[2 + k])
    # a few single conductances
    for i, j in [(0, 0), (M - 1, N - 1), (5, 3)]:
        e = np.zeros_like(g)
        e[i, j] = g[i, j]
        check(1, jnp.asarray(e), 1e-4)


# --- 6. jit, vmap, float32 -------------------------------------------------------


def test_eager_unbatched_equals_jit_and_reference(x64):
    """Eager call with numpy inputs and one input vector: plain currents ``(cols,)``."""
    g, v, r = _rand(12)
    eager = solve(g, v[0], **r)
    assert isinstance(eager, jax.Array) and eager.shape == (N,) and eager.dtype == jnp.float64
    assert _rel(eager, jsolve(g, v, **r)[0]) <= 1e-12
    assert _rel(eager, _ref(g, v[0], **r)[0][0]) <= 1e-9


def test_vmap_over_conductances_equals_loop(x64):
    gs = np.stack([_rand(20 + k)[0] for k in range(3)])
    _, v, r = _rand(13)
    batched = jax.vmap(lambda g: jsolve(g, jnp.asarray(v), **r))(jnp.asarray(gs))
    assert batched.shape == (3, B, N)
    for k in range(3):
        assert _rel(batched[k], jsolve(jnp.asarray(gs[k]), jnp.asarray(v), **r)) <= 1e-10
        assert _rel(batched[k], _ref(gs[k], v, **r)[0]) <= 1e-9


def test_float32_default_is_accurate():
    rng = np.random.default_rng(14)
    g = (1.0 / rng.uniform(1e4, 1e6, (64, 64))).astype(np.float32)
    v = rng.uniform(0.0, 0.2, (2, 64)).astype(np.float32)
    sol = jfull(jnp.asarray(g), jnp.asarray(v), r_row=2.0, r_col=2.0)
    assert sol.currents.dtype == jnp.float32
    assert bool(sol.converged)
    ref, _, _ = _ref(g.astype(np.float64), v.astype(np.float64), r_row=2.0, r_col=2.0)
    assert _rel(sol.currents, ref) <= 1e-4
    assert _rel(v.astype(np.float64) @ g.astype(np.float64), ref) > 1e-2  # IR drop is large here


# --- 7. argument errors ----------------------------------------------------------

_G = np.full((4, 3), 1e-5)
_V = np.full(4, 0.1)
_R = dict(r_row=1.0, r_col=1.0)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(r_row=0.0), "^r_row:"),
        (dict(r_row=-1.0), "^r_row:"),
        (dict(r_row=float("nan")), "^r_row:"),
        (dict(r_row=np.ones(2)), "^r_row:"),
        (dict(r_col=0.0), "^r_col:"),
        (dict(r_col=-1.0), "^r_col:"),
        (dict(r_col=float("inf")), "^r_col:"),
        (dict(r_source=-1.0), "^r_source:"),
        (dict(r_sense=-1e-3), "^r_sense:"),
        (dict(drive="far"), "^drive:"),
        (dict(sense="near"), "^sense:"),
        (dict(access="2t2r"), "^access:"),
        (dict(unselected="v/4"), "^unselected:"),
        (dict(max_iter=0), "^max_iter:"),
        (dict(max_iter=-3), "^max_iter:"),
        (dict(max_iter=2.5), "^max_iter:"),
        (dict(max_iter=True), "^max_iter:"),
        (dict(tol=0.0), "^tol:"),
        (dict(tol=-1e-6), "^tol:"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(change, match):
    with pytest.raises(ValueError, match=match):
        solve(_G, _V, **{**_R, **change})


@pytest.mark.parametrize(
    "g,v,match",
    [
        (np.full(4, 1e-5), _V, "^g:"),
        (np.full((2, 4, 3), 1e-5), _V, "^g:"),
        (-_G, _V, "^g:"),
        (np.where(np.eye(4, 3) > 0, np.nan, _G), _V, "^g:"),
        (np.where(np.eye(4, 3) > 0, np.inf, _G), _V, "^g:"),
        (_G, np.full(3, 0.1), "^v:"),
        (_G, np.full((2, 5), 0.1), "^v:"),
        (_G, np.full((2, 2, 4), 0.1), "^v:"),
        (_G, np.array([0.1, np.nan, 0.1, 0.1]), "^v:"),
    ],
)
def test_bad_arrays_raise(g, v, match):
    with pytest.raises(ValueError, match=match):
        solve(g, v, **_R)


def test_transfer_matrix_errors():
    with pytest.raises(ValueError, match="^full:"):
        transfer_matrix(_G, full=True, **_R)
    with pytest.raises(ValueError, match="^g:"):
        transfer_matrix(np.full(4, 1e-5), **_R)
    with pytest.raises(ValueError, match="^r_row:"):
        transfer_matrix(_G, r_row=0.0, r_col=1.0)


def test_selector_and_select_errors_name_the_argument():
    with pytest.raises(TypeError, match="^selector:"):
        solve(_G, _V, **_R, selector="ovonic")
    with pytest.raises(ValueError, match="^select:"):
        solve(_G, 0.5, **_R, select=(0, _G.shape[1]))
    with pytest.raises(ValueError, match="^v:"):
        solve(_G, np.full((2, 4), 0.1), **_R, select=(0, 0))  # (batch, rows) where (batch,) is expected


def test_nonconvergence_raises_outside_jit(x64):
    # (the shape of the eager test above, so the eager op compilations are shared)
    g, v, _ = _rand(15)
    with pytest.raises(SolveError, match="did not converge"):
        solve(g, v[0], r_row=5.0, r_col=5.0, max_iter=1, tol=1e-14)
    assert issubclass(SolveError, RuntimeError)


def test_nonconvergence_is_reported_under_jit(x64):
    g, v, r = _rand(16)
    sol = jfull(jnp.asarray(g), jnp.asarray(v), max_iter=1, tol=1e-14, **r)
    assert bool(sol.converged) is False
    assert int(sol.iterations) == 1
    assert np.all(np.asarray(sol.residual) > 1e-14)


@pytest.mark.slow  # secondary (10 s class); run with -m slow
def test_transfer_matrix_in_chunks_equals_one_solve(x64):
    # chunks of right-hand sides bound memory for large arrays; the result must not change
    g, _, _ = _rand(21)
    kw = dict(r_row=2.0, r_col=3.0, r_source=5.0)
    whole = transfer_matrix(g, **kw)
    for chunk in (1, 4, 5):  # 5 does not divide the rows: a padded last chunk
        np.testing.assert_allclose(transfer_matrix(g, chunk=chunk, **kw), whole, rtol=1e-11)
    with pytest.raises(ValueError, match="^chunk:"):
        transfer_matrix(g, chunk=0, **kw)
    with pytest.raises(ValueError, match="^selector:"):
        transfer_matrix(g, selector=circuit.Sinh(v0=0.2), **kw)


@pytest.mark.slow  # secondary (10 s class); run with -m slow
def test_vmap_over_selector_and_wire_parameters_equals_loop(x64):
    # what a sweep does: vmap over a selector's v0 and over the wire resistance of a
    # selected-cell scheme
    rng = np.random.default_rng(31)
    g = 1.0 / rng.uniform(1e4, 1e6, (8, 6))
    v = rng.uniform(0.0, 0.5, (3, 8))
    v0s = jnp.array([0.1, 0.2, 0.4])
    got = jax.vmap(lambda v0: solve(g, v, r_row=2.0, r_col=2.0, selector=circuit.Sinh(v0=v0)))(v0s)
    want = [solve(g, v, r_row=2.0, r_col=2.0, selector=circuit.Sinh(v0=float(x))) for x in v0s]
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-10)
    rs = jnp.array([0.5, 2.0, 5.0])
    kw = dict(access="passive", select=(1, 2), unselected="v/3")
    got = jax.vmap(lambda r: solve(g, 0.8, r_row=r, r_col=r, **kw))(rs)
    want = [solve(g, 0.8, r_row=float(r), r_col=float(r), **kw) for r in rs]
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-10, atol=1e-12 * np.max(np.abs(want)))
