"""`xbar sweep SPEC --out DIR` and `xbar plot DIR`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys


def add_parsers(sub, positive_int) -> None:
    s = sub.add_parser(
        "sweep",
        help="run a TOML sweep spec (ADC bits, variation, drift time, endurance, wires, chips) into a folder",
        description=(
            "Evaluate a trained SNN on fabricated chips at every point of a sweep spec (a TOML file: a [base] "
            "configuration and [axes] lists; see examples/adc_sweep.toml and xbar.sweep). The network is trained "
            "once (or loaded from base.weights); points that share DAC bits and tile shape run vmapped in one "
            "compiled function, sharded over every JAX device (XLA_FLAGS=--xla_force_host_platform_device_count=N "
            "gives N CPU devices). Results: DIR/results.csv (one row per point, written atomically after every "
            "chunk), DIR/sweep.json (spec, versions, ideal accuracy, status), DIR/weights.npz. A killed run "
            "continues with --resume, running each remaining point once."
        ),
    )
    s.add_argument("spec", help="the sweep spec (.toml)")
    s.add_argument("--out", required=True, metavar="DIR", help="results folder (must not hold a sweep unless --resume)")
    s.add_argument("--resume", action="store_true", help="continue the sweep in DIR (same spec)")
    s.add_argument("--weights", metavar="NPZ", default=None,
                   help="trained weights (w0, w1, ...; e.g. another sweep's DIR/weights.npz) instead of "
                        "the spec's")  # fmt: skip
    s.add_argument("--points-per-device", type=positive_int, default=None,
                   help="points each device evaluates per compiled call (default 1 on CPU, 16 on GPU)")  # fmt: skip
    s.add_argument("--plot", metavar="PATH", default=None,
                   help="also draw the results to PATH (PNG or PDF) when done")  # fmt: skip
    s.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (a multi-host cluster: SLURM, Open MPI, cloud TPU; "
                        "start the same command on every host; process 0 writes the results)")  # fmt: skip
    s.add_argument("--no-progress", action="store_true", help="hide progress bars")

    p = sub.add_parser(
        "plot",
        help="draw a sweep's results: accuracy vs the swept axes (spread over chips), heat map for two axes",
        description=(
            "Read DIR/results.csv and DIR/sweep.json of 'xbar sweep' and draw test accuracy against the swept axes: "
            "the mean over chips with a +-1 std band and min-max lines against the first axis, one line per value "
            "of the second (other axes averaged), and for exactly two axes a heat map beside it; the network's "
            "ideal (software) accuracy as a dashed line."
        ),
    )
    p.add_argument("dir", help="a folder written by 'xbar sweep'")
    p.add_argument("--out", metavar="PATH", default=None, help="figure file, PNG or PDF (default DIR/sweep.png)")


def _fail(cmd: str, message: str) -> int:
    print(f"xbar {cmd}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def run_sweep(args: argparse.Namespace) -> int:
    from .sweep import SpecError, SweepError, load_spec, run

    try:
        spec = load_spec(args.spec)
    except SpecError as err:
        return _fail("sweep", err)
    if args.weights:
        if not pathlib.Path(args.weights).is_file():
            return _fail("sweep", f"--weights: expected an .npz file, got {args.weights!r} (not found)")
        spec = dataclasses.replace(spec, base={**spec.base, "weights": str(pathlib.Path(args.weights).resolve())})
    if args.plot and pathlib.Path(args.plot).suffix.lower() not in (".png", ".pdf", ".svg"):
        return _fail("sweep", f"--plot: expected a .png, .pdf or .svg file, got {args.plot!r}")
    if args.distributed:
        import jax

        try:
            jax.distributed.initialize()
        except (RuntimeError, ValueError) as err:
            return _fail("sweep", f"--distributed: jax.distributed.initialize() failed ({err})")
    try:
        run(spec, args.out, resume=args.resume, progress=not args.no_progress,
            points_per_device=args.points_per_device)  # fmt: skip
    except SweepError as err:
        return _fail("sweep", err)
    if args.plot:
        return _draw(args.out, args.plot, "sweep")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    if args.out and pathlib.Path(args.out).suffix.lower() not in (".png", ".pdf", ".svg"):
        return _fail("plot", f"--out: expected a .png, .pdf or .svg file, got {args.out!r}")
    return _draw(args.dir, args.out or str(pathlib.Path(args.dir) / "sweep.png"), "plot")


def _draw(folder, path, cmd: str) -> int:
    from ._io import save_figure_atomic
    from .sweep import META, read_results

    folder = pathlib.Path(folder)
    try:
        rows = read_results(folder)
    except FileNotFoundError as err:
        return _fail(cmd, err)
    if not rows:
        return _fail(cmd, f"{folder}: results.csv has no points yet")
    meta = {}
    if (folder / META).exists():
        meta = json.loads((folder / META).read_text())
    from .plot import sweep_figure

    fig = sweep_figure(rows, meta)
    out = save_figure_atomic(fig, path, dpi=120)
    print(f"saved {out}")
    return 0
