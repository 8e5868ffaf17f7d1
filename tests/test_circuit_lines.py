"""The exact line inverses behind the circuit solve (`xbar.circuit._lines`), against
dense numpy solves: blocked semiseparable application along rows and columns and the
dense-block form (batch-minor, for conductances the inputs share), lines that are not
a whole number of blocks, more blocks than the unroll cap, floating (unterminated)
lines, batched per-input conductances, and float32 precision."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xbar.circuit import _lines
from xbar.circuit._lines import MAX_BLOCKS

# jitted (as inside the solve): one compilation per shape instead of one per eager op
line_inverse = jax.jit(_lines.line_inverse)
apply_rows = jax.jit(_lines.apply_rows)
apply_cols = jax.jit(_lines.apply_cols)
block_inverse = jax.jit(_lines.block_inverse)
apply_blocks = jax.jit(_lines.apply_blocks)


def _dense(s, c):
    n = s.shape[0]
    lap = 2.0 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    lap[0, 0] = lap[-1, -1] = 1.0
    if n == 1:
        lap[:] = 0.0
    return c * lap + np.diag(s)


def _check(s, c, dtype, rtol, *, batch=3, seed=0):
    """Apply T⁻¹ to random vectors along rows, along columns and in the dense-block form
    (lines first, right-hand sides last); compare with numpy."""
    rng = np.random.default_rng(seed)
    n, lines = s.shape
    inv = line_inverse(jnp.asarray(s, dtype), jnp.asarray(c, dtype))
    rows = {k: (v if k == "carry" else v.T) for k, v in inv.items()}  # (L, n) per node
    f = rng.normal(size=(batch, lines, n))
    z_rows = np.asarray(apply_rows(rows, jnp.asarray(f, dtype)))
    z_cols = np.asarray(apply_cols(inv, jnp.asarray(np.swapaxes(f, -1, -2), dtype)))
    blocks = block_inverse(jnp.asarray(s, dtype), jnp.asarray(c, dtype))
    z_blocks = np.asarray(apply_blocks(blocks, jnp.asarray(np.transpose(f, (1, 2, 0)), dtype)))  # (L, n, B)
    for line in range(lines):
        want = np.linalg.solve(_dense(s[:, line], c), f[:, line, :].T).T
        scale = np.max(np.abs(want))
        assert np.max(np.abs(z_rows[:, line, :] - want)) <= rtol * scale
        assert np.max(np.abs(z_cols[:, :, line] - want)) <= rtol * scale
        assert np.max(np.abs(z_blocks[line].T - want)) <= rtol * scale


@pytest.mark.parametrize("n", [1, 2, 17, 250])
def test_terminated_lines_match_dense_inverse(x64, n):
    rng = np.random.default_rng(n)
    s = 1.0 / rng.uniform(1e4, 1e6, (n, 4))
    s[0] += 1.0 / 12.0  # driver at one end (r_source + r_row = 12 Ω)
    _check(s, 0.5, jnp.float64, 1e-12)


def test_floating_lines_keep_their_precision(x64):
    # no terminal: only the weak cells tie the line down (nearly singular), where the
    # pivots' cancellation-free form matters
    rng = np.random.default_rng(1)
    s = 1.0 / rng.uniform(1e4, 1e6, (256, 3))
    _check(s, 0.5, jnp.float64, 1e-10)


def test_floating_lines_in_float32():
    rng = np.random.default_rng(2)
    s = 1.0 / rng.uniform(1e4, 1e6, (256, 3))
    _check(s, 0.5, jnp.float32, 1e-5)


def test_more_blocks_than_the_unroll_cap(x64):
    n = 16 * MAX_BLOCKS + 40  # longer blocks, and a partial last one
    rng = np.random.default_rng(3)
    s = 1.0 / rng.uniform(1e4, 1e6, (n, 2))
    s[-1] += 1.0 / 7.0
    inv = line_inverse(jnp.asarray(s), jnp.asarray(0.2))
    assert inv["carry"].shape[-1] <= MAX_BLOCKS
    _check(s, 0.2, jnp.float64, 1e-11, batch=2)


def test_strongly_coupled_cells(x64):
    # cell conductances comparable to the wire's: the inverse decays within a block
    rng = np.random.default_rng(4)
    s = rng.uniform(0.05, 2.0, (40, 3))
    _check(s, 0.5, jnp.float64, 1e-12)


def test_batched_conductances_per_input(x64):
    # Newton's linearized cells differ per input vector: per-node data with a batch axis
    rng = np.random.default_rng(5)
    n, lines, batch = 23, 4, 3
    s = 1.0 / rng.uniform(1e4, 1e6, (n, batch, lines))
    s[0] += 0.1
    inv = line_inverse(jnp.asarray(s), jnp.asarray(0.5))  # per node (n_pad, B, L)
    rows = {k: (v if k == "carry" else jnp.moveaxis(v, 0, -1)) for k, v in inv.items()}  # (B, L, n_pad)
    f = rng.normal(size=(batch, lines, n))
    z = np.asarray(apply_rows(rows, jnp.asarray(f)))
    for b in range(batch):
        for line in range(lines):
            want = np.linalg.solve(_dense(s[:, b, line], 0.5), f[b, line])
            np.testing.assert_allclose(z[b, line], want, rtol=1e-11, atol=1e-12 * np.max(np.abs(want)))


@pytest.mark.slow  # secondary (13 s); run with -m slow
def test_shared_and_per_input_conductances_solve_alike(x64):
    # the two layouts of `schur_solve`: shared conductances (M, N) with batch-minor fields
    # (dense-block inverses) and the same conductances per input (B, M, N) with
    # batch-first fields (semiseparable inverses) give the same node voltages
    rng = np.random.default_rng(6)
    m, n, batch = 9, 19, 2
    g = jnp.asarray(1.0 / rng.uniform(1e4, 1e6, (m, n)))
    lines = _lines.Lines((m, n), 2.0, 3.0, 10.0, 5.0, "near", "far")
    b_u, b_w = (jnp.asarray(rng.normal(size=(batch, m, n))) for _ in range(2))
    gb = jnp.broadcast_to(g, (batch, m, n))
    (u1, w1), _, res1 = _lines.schur_solve(lines, gb, lines.factor(gb), (b_u, b_w), 1e-13, 200)
    to_minor = lambda a: jnp.transpose(a, (1, 2, 0))
    (u2, w2), _, res2 = _lines.schur_solve(lines, g, lines.factor(g), (to_minor(b_u), to_minor(b_w)), 1e-13, 200)
    assert np.all(np.asarray(res1) <= 1e-13) and np.all(np.asarray(res2) <= 1e-13)
    np.testing.assert_allclose(
        np.transpose(np.asarray(u2), (2, 0, 1)), u1, rtol=1e-9, atol=1e-12 * float(jnp.max(jnp.abs(u1)))
    )
    np.testing.assert_allclose(
        np.transpose(np.asarray(w2), (2, 0, 1)), w1, rtol=1e-9, atol=1e-12 * float(jnp.max(jnp.abs(w1)))
    )
    # and both satisfy the nodal equations
    au, aw = lines.matvec(gb, (u1, w1))
    np.testing.assert_allclose(au, b_u, atol=1e-9 * float(jnp.max(jnp.abs(b_u))))
    np.testing.assert_allclose(aw, b_w, atol=1e-9 * float(jnp.max(jnp.abs(b_w))))


def test_line_inverse_matmuls_ask_for_full_precision():
    # On GPUs JAX's default float32 matmul is TF32; the block sums of the line inverses
    # are matmuls with 0/1 triangles and lost the preconditioner its exactness there (500
    # CG iterations instead of 3 at 256x256 on an H100). CPUs ignore the setting, so
    # check the traced programs: every contraction asks for HIGHEST.
    rng = np.random.default_rng(7)
    s = jnp.asarray(1.0 / rng.uniform(1e4, 1e6, (40, 3)), jnp.float32)
    c = jnp.asarray(0.5, jnp.float32)
    inv = _lines.line_inverse(s, c)
    rows = {k: (v if k == "carry" else v.T) for k, v in inv.items()}
    blocks = _lines.block_inverse(s, c)
    programs = [
        jax.make_jaxpr(_lines.apply_rows)(rows, jnp.ones((2, 3, 40), jnp.float32)),
        jax.make_jaxpr(_lines.apply_blocks)(blocks, jnp.ones((3, 40, 2), jnp.float32)),
    ]
    for jaxpr in programs:
        dots = [e for e in jaxpr.eqns if e.primitive.name == "dot_general"]
        assert dots, "expected contractions in the line inverse"
        for e in dots:
            assert e.params["precision"] == (jax.lax.Precision.HIGHEST, jax.lax.Precision.HIGHEST), e.params
