"""`transfer_expansion`: the transfer matrix expanded in powers of the wire resistance.

Checked against the exact transfer matrix (`xbar.circuit.transfer_matrix`, and the scipy
direct solve `reference_solve` of the same circuit for the wider sweeps, which is much
cheaper to run over many shapes): the error of order n scales as ε^(n+1) (log-log slope
fits), stays inside the guaranteed bound ε^(n+1)/(1 − ε) and the measured constants the
docstring states, and order 2 beats order 1 inside the validity range. Also order 0 = g,
vanishing resistance, mirror symmetry, jit, vmap, float32, gradients against finite
differences, and the error messages.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _fd import check_directional

from xbar.circuit import reference_solve, transfer_matrix
from xbar.circuit._expansion import expansion_epsilon, transfer_expansion

NAMES = ("r_row", "r_col", "r_source", "r_sense")
PAD = 80  # every batched call is padded to this many arrays, so each (shape, combo) compiles once


def _expand(g, rs, drive, sense, order):
    return transfer_expansion(g, **dict(zip(NAMES, rs)), drive=drive, sense=sense, order=order)


def _eps_and_orders(g, rs, drive, sense):
    eps = expansion_epsilon(g, **dict(zip(NAMES, rs)), drive=drive, sense=sense)
    return eps, _expand(g, rs, drive, sense, 1), _expand(g, rs, drive, sense, 2)


_jbatch = jax.jit(jax.vmap(_eps_and_orders, in_axes=(0, 0, None, None)), static_argnums=(2, 3))


def batch(gs, rss, drive, sense):
    """``(ε, T_1, T_2)`` for a batch of conductances ``(B, rows, cols)`` and resistances
    ``(B, 4)`` (`NAMES` order), through one shared jit (float64 under `x64`)."""
    k = len(gs)
    assert k <= PAD
    gs = np.concatenate([gs, np.repeat(gs[-1:], PAD - k, 0)])
    rss = np.concatenate([rss, np.repeat(rss[-1:], PAD - k, 0)])
    eps, t1, t2 = _jbatch(jnp.asarray(gs), jnp.asarray(rss), drive, sense)
    return np.asarray(eps)[:k], np.asarray(t1)[:k], np.asarray(t2)[:k]


def exact(g, rs, drive, sense):
    """The exact transfer matrix by the scipy direct solve of the same circuit (float64)."""
    cur, _, _ = reference_solve(g, np.eye(g.shape[0]), **dict(zip(NAMES, rs)), drive=drive, sense=sense)
    return cur


def err(t_n, t, g):
    """``max_j Σᵢ |T_n − T|_ij / Σᵢ g_ij``: the worst relative error of a column current
    over all inputs with ``|v| ≤ 1`` (columns with no conductance are skipped)."""
    live = g.sum(0) > 0
    return float(np.max(np.abs(t_n - t).sum(0)[live] / g.sum(0)[live]))


def bound(eps, n):
    """The guaranteed bound of order n for ε < 1."""
    return eps ** (n + 1) / (1 - eps)


def arrays(kind, m, n, seed):
    """Conductances [S]: 1/U(10 kΩ, 1 MΩ) and harder cases."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return 1.0 / rng.uniform(1e4, 1e6, (m, n))
    if kind == "uniform":
        return np.full((m, n), 2e-5)
    if kind == "wide":  # four decades, log-uniform 1 kΩ … 10 MΩ
        return 10.0 ** -rng.uniform(3, 7, (m, n))
    if kind == "binary":  # sparse ON cells, a dead row and a dead column
        g = np.where(rng.random((m, n)) < 0.15, 1e-4, 1e-7)
        if m > 2:
            g[m // 2, :] = 0.0
        if n > 2:
            g[:, n // 2] = 0.0
        return g
    if kind == "hot":  # one column 100× the rest
        g = 1.0 / rng.uniform(1e5, 1e6, (m, n))
        g[:, n // 3] = 1e-3
        return g
    raise ValueError(kind)


KINDS = ("random", "uniform", "wide", "binary", "hot")
MIXES = np.array(
    [
        [1.0, 1.0, 0.0, 0.0],  # wires only
        [2.0, 0.5, 50.0, 20.0],
        [0.1, 0.1, 200.0, 300.0],  # terminations dominate
    ]
)
# (drive, sense, shape): each combination once, non-square both ways, single row / column
CASES = [
    ("near", "far", (12, 7)),
    ("near", "both", (7, 12)),
    ("both", "far", (9, 1)),
    ("both", "both", (6, 13)),
    ("near", "far", (1, 9)),
]


def sweep(drive, sense, shape, eps_grid, kinds=KINDS, mixes=MIXES, seed=0):
    """Errors ``(kinds, mixes, eps, order 0..2)`` against the exact solve, with the
    resistances in each mix scaled so that `expansion_epsilon` hits each target."""
    gs = np.stack([arrays(kind, *shape, seed + k) for k, kind in enumerate(kinds)])
    pairs = [(k, i) for k in range(len(kinds)) for i in range(len(mixes))]
    # ε is linear in the resistances: one call at the base mixes gives the scale factors
    base, _, _ = batch(gs[[k for k, _ in pairs]], mixes[[i for _, i in pairs]], drive, sense)
    todo = [(k, i, e) for k, i in pairs for e in range(len(eps_grid))]
    rss = np.array([mixes[i] * eps_grid[e] / base[k * len(mixes) + i] for k, i, e in todo])
    gb = gs[[k for k, _, _ in todo]]
    eps, t1, t2 = batch(gb, rss, drive, sense)
    np.testing.assert_allclose(eps, [eps_grid[e] for _, _, e in todo], rtol=1e-10)
    out = np.empty((len(kinds), len(mixes), len(eps_grid), 3))
    for b, (k, i, e) in enumerate(todo):
        t = exact(gb[b], rss[b], drive, sense)
        out[k, i, e] = [err(tn, t, gb[b]) for tn in (gb[b], t1[b], t2[b])]
    return out


# --- 1. exact limits ---------------------------------------------------------------


def test_order_zero_is_g():
    g = arrays("random", 12, 7, 0).astype(np.float32)
    t0 = transfer_expansion(g, r_row=3.0, r_col=2.0, r_source=10.0, order=0)
    assert t0.dtype == jnp.float32 and t0.shape == (12, 7)
    np.testing.assert_array_equal(t0, g)


@pytest.mark.parametrize("drive,sense,shape", CASES)
def test_zero_resistance_is_exact(x64, drive, sense, shape):
    g = arrays("wide", *shape, 1)
    eps, t1, t2 = batch(g[None], np.zeros((1, 4)), drive, sense)
    assert eps[0] == 0.0
    np.testing.assert_array_equal(t1[0], g)
    np.testing.assert_array_equal(t2[0], g)


def test_epsilon_closed_form_for_a_uniform_array(x64):
    g0, rs = 3e-5, np.array([1.5, 2.5, 20.0, 8.0])
    r_row, r_col, r_source, r_sense = rs
    for drive, sense, (m, n) in CASES:
        g = np.full((1, m, n), g0)
        near_far = g0 * (
            (r_source + r_row) * n + r_row * n * (n - 1) / 2 + (r_sense + r_col) * m + r_col * m * (m - 1) / 2
        )
        eps = batch(g, rs[None], drive, sense)[0][0]
        if (drive, sense) == ("near", "far"):
            assert eps == pytest.approx(near_far, rel=1e-12)
        else:  # terminated at both ends of some lines: a smaller worst drop
            assert 0 < eps < near_far


# --- 2. against the exact solve ------------------------------------------------------


def _tm(g, rs, drive, sense):
    return transfer_matrix(g, **dict(zip(NAMES, rs)), drive=drive, sense=sense)


_jtm = jax.jit(jax.vmap(_tm, in_axes=(0, 0, None, None)), static_argnums=(2, 3))


def test_matches_transfer_matrix(x64):
    """A grid of random arrays and resistances (near drive, far sense) against the exact
    `transfer_matrix`: within the bound, the neglected term really there, 2 < 1 < 0."""
    drive, sense, shape = CASES[0]
    gs = np.stack([arrays("random", *shape, 100 + k) for k in range(4)])
    eps_grid = [0.01, 0.1, 0.4]
    base, _, _ = batch(gs[:, None].repeat(3, 1).reshape(-1, *shape), np.tile(MIXES, (4, 1)), drive, sense)
    rss = np.array([MIXES[i % 3] * (e / base[i]) for i in range(12) for e in eps_grid])
    gb = np.repeat(gs, 9, axis=0)
    t_exact = np.asarray(_jtm(jnp.asarray(gb), jnp.asarray(rss), drive, sense))
    eps, t1, t2 = batch(gb, rss, drive, sense)
    for b in range(len(gb)):
        np.testing.assert_allclose(t_exact[b], exact(gb[b], rss[b], drive, sense), rtol=1e-9)
        errs = [err(tn, t_exact[b], gb[b]) for tn in (gb[b], t1[b], t2[b])]
        for n in range(3):
            assert errs[n] <= bound(eps[b], n)
            assert errs[n] >= 0.1 * eps[b] ** (n + 1)  # the neglected term is really there
        assert errs[2] < errs[1] < errs[0]


@pytest.mark.parametrize("drive,sense,shape", CASES)
def test_error_within_bound_and_order2_beats_order1(x64, drive, sense, shape):
    """Every hard case and resistance mix: the guaranteed bound ``ε^(n+1)/(1 − ε)``, the
    measured envelope the docstring states (``err_n ≤ ε^(n+1)``), and
    order 2 < order 1 < order 0 for every ε < 1."""
    eps_grid = np.array([0.01, 0.1, 0.3, 0.6, 0.9])
    out = sweep(drive, sense, shape, eps_grid)
    for n in range(3):
        assert np.all(out[..., n] <= bound(eps_grid, n)), out[..., n]
    for n in (1, 2):
        assert np.all(out[..., n] <= eps_grid ** (n + 1)), out[..., n]
    assert np.all(out[..., 2] < out[..., 1]) and np.all(out[..., 1] < out[..., 0])


@pytest.mark.parametrize("drive,sense,shape", CASES[:4])
def test_error_scales_as_powers_of_eps(x64, drive, sense, shape):
    """Fit log err_n against log ε for small ε: slopes 1, 2, 3 (a missing or wrong
    second-order term would leave slope 2 for order 2, a wrong first-order term slope 1)."""
    eps_grid = np.geomspace(0.003, 0.03, 4)
    out = sweep(drive, sense, shape, eps_grid, kinds=("random", "wide", "hot"), seed=50)
    for n in range(3):
        errs = out[..., n].reshape(-1, len(eps_grid))
        for row in errs:
            slope, _ = np.polyfit(np.log(eps_grid), np.log(row), 1)
            assert abs(slope - (n + 1)) < 0.06, (n, slope, row)
            # each step in ε multiplies the error by step^(n+1) (ratio check)
            steps = np.log(row[1:] / row[:-1]) / np.log(eps_grid[1:] / eps_grid[:-1])
            np.testing.assert_allclose(steps, n + 1, atol=0.08)
        # and the constant err_n / ε^(n+1) is in the measured range of the docstring
        c = errs / eps_grid ** (n + 1)
        assert np.all((c > 0.1) & (c <= 1.0)), c


# --- 3. symmetry, jit, vmap, float32 ---------------------------------------------------


def test_mirror_symmetry_with_both_ends(x64):
    drive, sense, shape = CASES[3]
    g = arrays("random", *shape, 4)
    rs = np.array([[3.0, 2.0, 15.0, 5.0]] * 3)
    _, t1, t2 = batch(np.stack([g, g[:, ::-1], g[::-1]]), rs, drive, sense)
    for t in (t1, t2):
        np.testing.assert_allclose(t[1][:, ::-1], t[0], rtol=1e-12)
        np.testing.assert_allclose(t[2][::-1], t[0], rtol=1e-12)


R = dict(r_row=2.0, r_col=3.0, r_source=10.0, r_sense=4.0)


def test_jit_and_vmap_equal_eager_loop(x64):
    gs = np.stack([arrays("random", 12, 7, 20 + k) for k in range(3)])
    _, t1, t2 = batch(gs, np.array([[R[k] for k in NAMES]] * 3), "near", "far")
    for k in range(3):
        eager = transfer_expansion(gs[k], order=2, **R)
        assert isinstance(eager, jax.Array) and eager.dtype == jnp.float64 and eager.shape == (12, 7)
        np.testing.assert_allclose(t2[k], eager, rtol=1e-13)
        np.testing.assert_allclose(t1[k], transfer_expansion(gs[k], order=1, **R), rtol=1e-13)


def test_float32_default_matches_float64():
    g = arrays("random", 12, 7, 5)
    t32 = transfer_expansion(g.astype(np.float32), order=2, **R)
    assert t32.dtype == jnp.float32
    with jax.enable_x64(True):
        t64 = batch(g[None], np.array([[R[k] for k in NAMES]]), "near", "far")[2][0]
    np.testing.assert_allclose(np.asarray(t32), t64, rtol=2e-6)


def dense_green(k, r_seg, r_term, both):
    """Node resistance matrix of a k-node chain grounded through `r_term` at node 0 (and
    at node k − 1 too if `both`), by the closed forms: the shared path to ground, or
    ``a_min (A − a_max)/A`` for a chain grounded at both ends."""
    a = r_term + r_seg * np.arange(k)  # resistance from the node to the node-0 terminal
    lo, hi = np.minimum.outer(a, a), np.maximum.outer(a, a)
    if not both:
        return lo
    total = 2 * r_term + r_seg * (k - 1)
    return lo * (total - hi) / total


@pytest.mark.parametrize("shape,drive,sense", [((5, 7), "near", "far"), ((7, 5), "both", "both")])
def test_cross_term_in_chunks_matches_dense_formula(x64, monkeypatch, shape, drive, sense):
    """The memory-bounded `lax.map` path of the second-order cross term (chunks of rows
    when rows ≤ cols, of columns otherwise) against ``Σ_kl R_c[i,k] R_r[j,l] g_kj g_kl g_il``
    with the dense Green's functions."""
    import xbar.circuit._expansion as mod

    m, n = shape
    g = arrays("random", m, n, 6)
    r_row, r_col, r_source, r_sense = (R[k] for k in NAMES)
    rr = dense_green(n, r_row, r_source + r_row, drive == "both")
    rc = dense_green(m, r_col, r_col + r_sense, sense == "both")[::-1, ::-1]  # grounded at row m − 1
    want = np.einsum("ik,jl,kj,kl,il->ij", rc, rr, g, g, g)
    monkeypatch.setattr(mod, "_CHUNK", 2 * m * n)  # two rows (columns) a chunk, three chunks

    @jax.jit
    def run(g, rs):
        g, wires = mod._prepare(g, *rs, drive, sense)
        return mod._cross_term.__wrapped__(g, wires), wires.row(jnp.eye(n)), wires.col(jnp.eye(m))

    cross, row, col = run(g, (r_row, r_col, r_source, r_sense))
    np.testing.assert_allclose(cross, want, rtol=1e-13)
    # and the wire Green's functions themselves
    np.testing.assert_allclose(row, rr, rtol=1e-13)
    np.testing.assert_allclose(col, rc, rtol=1e-13)


# --- 4. gradients --------------------------------------------------------------------


def test_gradients_match_central_differences(x64):
    """jax.grad of a loss through order 1 (near/far) and order 2 (both/both) against
    central differences, in `g` and in every resistance."""
    g = arrays("random", 12, 7, 7)
    rng = np.random.default_rng(8)
    w1, w2 = (jnp.asarray(rng.normal(size=g.shape)) for _ in range(2))
    rs = tuple(R[k] for k in NAMES)

    def loss(g, *rs):
        return jnp.sum(_expand(g, rs, "near", "far", 1) * w1) + jnp.sum(_expand(g, rs, "both", "both", 2) * w2)

    args = [jnp.asarray(g), *rs]
    grads = jax.jit(jax.grad(loss, argnums=tuple(range(5))))(*args)
    jloss = jax.jit(loss)

    def check(i, direction, h):
        check_directional(jloss, args, grads, i, direction, h, rtol=1e-7)

    check(0, jnp.asarray(g * rng.normal(size=g.shape)), 1e-4)  # g: relative random direction
    for k in range(4):  # every resistance
        check(1 + k, 1.0, 1e-3 * rs[k])


# --- 5. errors -----------------------------------------------------------------------
_G = np.full((4, 3), 1e-5)
_R = dict(r_row=1.0, r_col=1.0)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(r_row=-1.0), "^r_row:"),
        (dict(r_row=np.ones(2)), "^r_row:"),
        (dict(r_col=float("inf")), "^r_col:"),
        (dict(r_col=float("nan")), "^r_col:"),
        (dict(r_source=-1.0), "^r_source:"),
        (dict(r_sense=-1e-3), "^r_sense:"),
        (dict(drive="far"), "^drive:"),
        (dict(sense="near"), "^sense:"),
        (dict(order=3), "^order:"),
        (dict(order=-1), "^order:"),
        (dict(order=1.0), "^order:"),
        (dict(order=True), "^order:"),
        (dict(order="1"), "^order:"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(change, match):
    with pytest.raises(ValueError, match=match):
        transfer_expansion(_G, **{**_R, **change})
    if "order" not in change:
        with pytest.raises(ValueError, match=match):
            expansion_epsilon(_G, **{**_R, **change})


@pytest.mark.parametrize(
    "g",
    [
        np.full(4, 1e-5),
        np.full((2, 4, 3), 1e-5),
        -_G,
        np.where(np.eye(4, 3) > 0, np.nan, _G),
        np.where(np.eye(4, 3) > 0, np.inf, _G),
    ],
)
def test_bad_conductances_raise(g):
    with pytest.raises(ValueError, match="^g:"):
        transfer_expansion(g, **_R)
