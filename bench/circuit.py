"""Crossbar solve with line resistance: xbar vs a scipy sparse direct solve (splu).

For square arrays of each size, with random cells (1/g uniform in 10 kΩ…1 MΩ), `--r` Ω
per wire segment and a batch of 64 random input vectors (0…0.2 V), in one process:

- `splu`: build the nodal matrix, factor it (`scipy.sparse.linalg.splu`) and solve the
  64 right-hand sides — what a circuit-simulator user does per conductance state;
- `xbar`: `xbar.circuit.solve` (jitted; compile time excluded), forward only, returning
  the column currents (its default);
- `xbar f+b`: forward and the gradient of a scalar loss with respect to `g` and `v`;
- `T read` vs `ideal`: one read through the transfer matrix, `v @ T`, against the ideal
  `v @ g` (both one matmul);
- `err`: max relative error of xbar's column currents against splu's;
- `residual`: the solve's largest relative residual (the timed calls are jitted, so a
  solve that ran out of iterations shows here, not as an error).

Both are timed best of `--runs`. By default the process keeps freed memory in the heap
(`_results.keep_freed_memory`, for xbar and splu alike); `--system-malloc` leaves glibc's
defaults.

    python bench/circuit.py [--sizes 64,128,256,512] [--x64] [--tol 1e-7] [--r 2] [--threads 1] [--json F]
"""

from __future__ import annotations

import argparse
import os
import time

P = argparse.ArgumentParser(description=__doc__.splitlines()[0])
P.add_argument("--sizes", default="64,128,256,512")
P.add_argument("--batch", type=int, default=64)
P.add_argument("--r", type=float, default=2.0, help="wire resistance per segment [ohm]")
P.add_argument("--x64", action="store_true", help="float64 (default float32)")
P.add_argument("--tol", type=float, default=None, help="relative residual (default: solve's, 1e-5 f32 / 1e-12 f64)")
P.add_argument("--runs", type=int, default=3)
P.add_argument("--threads", type=int, default=0, help="CPU threads for XLA (0 = default)")
P.add_argument("--json", default=None)
P.add_argument("--system-malloc", action="store_true", help="do not keep freed memory in the heap")
ARGS = P.parse_args()
from _results import best_of, keep_freed_memory, save_results  # noqa: E402

# before jax starts its threads (importing xbar would apply it too; --system-malloc opts out of both)
if ARGS.system_malloc:
    os.environ["XBAR_KEEP_FREED_MEMORY"] = "0"
KEPT = keep_freed_memory()
from _threads import set_xla_threads  # noqa: E402

set_xla_threads(ARGS.threads)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", ARGS.x64)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from xbar import circuit  # noqa: E402

_read = jax.jit(lambda v, t: v @ t)


def main():
    kept = KEPT
    rng = np.random.default_rng(0)
    dtype = jnp.float64 if ARGS.x64 else jnp.float32
    wires = dict(r_row=ARGS.r, r_col=ARGS.r)
    kw = dict(wires, tol=ARGS.tol)
    rows = []
    hdr = f"{'size':>6}{'splu s':>9}{'xbar s':>9}{'speedup':>9}{'f+b s':>8}{'iters':>6}{'err':>9}"
    hdr += f"{'T read/ideal':>14}{'residual':>10}"
    print(f"dtype {np.dtype(dtype).name}, r = {ARGS.r} ohm/segment, batch {ARGS.batch}, freed memory kept: {kept}")
    print(hdr)
    for n in [int(s) for s in ARGS.sizes.split(",")]:
        g = 1.0 / rng.uniform(1e4, 1e6, (n, n))
        v = rng.uniform(0.0, 0.2, (ARGS.batch, n))
        t_splu = np.inf
        for _ in range(ARGS.runs):
            t0 = time.perf_counter()
            ref, _, _ = circuit.reference_solve(g, v, **wires)
            t_splu = min(t_splu, time.perf_counter() - t0)

        gj, vj = jnp.asarray(g, dtype), jnp.asarray(v, dtype)
        # timed: the entry point as users call it (column currents); the diagnostics
        # (iterations) come from one more call with full=True
        fwd = jax.jit(lambda g, v: circuit.solve(g, v, **kw))
        t_x = best_of(ARGS.runs, fwd, gj, vj)
        sol = jax.jit(lambda g, v: circuit.solve(g, v, full=True, **kw))(gj, vj)
        wts = jnp.asarray(rng.normal(size=ref.shape), dtype)
        fb = jax.jit(jax.value_and_grad(lambda g, v, c: jnp.sum(circuit.solve(g, v, **kw) * c), argnums=(0, 1)))
        t_fb = best_of(ARGS.runs, fb, gj, vj, wts)
        err = float(np.max(np.abs(np.asarray(fwd(gj, vj), float) - ref) / np.abs(ref)))

        t_mat = jax.jit(lambda g: circuit.transfer_matrix(g, **kw))(gj)
        t_read = best_of(20, _read, vj, t_mat)
        t_ideal = best_of(20, _read, vj, gj)
        row = {
            "size": n,
            "splu_s": t_splu,
            "xbar_s": t_x,
            "speedup": t_splu / t_x,
            "xbar_fwd_bwd_s": t_fb,
            "iterations": int(sol.iterations),
            "residual": float(jnp.max(sol.residual)),
            "max_rel_err": err,
            "t_read_over_ideal": t_read / t_ideal,
        }
        rows.append(row)
        print(
            f"{n:>6}{t_splu:>9.3f}{t_x:>9.4f}{t_splu / t_x:>8.1f}x{t_fb:>8.3f}{row['iterations']:>6}"
            f"{err:>9.1e}{t_read / t_ideal:>13.2f}x{row['residual']:>10.1e}"
        )
    save_results(ARGS.json, rows, freed_memory_kept=kept)


if __name__ == "__main__":
    main()
