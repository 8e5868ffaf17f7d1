"""The `xbar` command line.

    xbar demo [--epochs N] [--chips N] [--json PATH] [--plot PATH] [--quick]
    xbar devices list
    xbar devices show NAME_OR_PATH
    xbar devices plot NAME_OR_PATH [--out PATH] [--cells N] [--seed S]
    xbar train --out DIR [--data digits|mnist] [--mnist DIR] [--device CARD|ideal] [--resume] ...
    xbar sweep SPEC --out DIR [--resume] [--plot PATH]
    xbar plot DIR [--out PATH]
    xbar bench [--parts train,circuit] [--runs N] [--json PATH]

Bad input exits with code 2 and a one-line reason.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line on stderr with exit code 2."""

    def error(self, message):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="xbar", description="Spiking neural networks on simulated memristive crossbars.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser(
        "demo",
        help="train a small SNN on the embedded digits with RRAM in the loop; evaluate on every device family",
        description=(
            "Train a 64-128-10 LIF SNN on the embedded UCI digits with rram_hfox crossbars in the loop "
            "(64x64 tiles, spike row drivers, 6-bit ADC, all device effects), and the same network ideally; evaluate "
            "both on freshly fabricated RRAM, PCM (1 s and 1 day after programming), STT-MRAM and "
            "floating-gate chips. Prints a table and saves a plot."
        ),
    )
    d.add_argument("--epochs", type=_positive_int, default=30, help="training epochs (default 30)")
    d.add_argument("--chips", type=_positive_int, default=5,
                   help="fabricated chips per device for evaluation (default 5)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--json", metavar="PATH", default=None, help="write the figures as JSON to PATH")
    d.add_argument("--plot", metavar="PATH", default="xbar_demo.png",
                   help="save the figure to PATH (PNG or PDF; default xbar_demo.png; 'none' to skip)")
    d.add_argument("--quick", action="store_true", help="2 epochs, 2 chips: a smoke test, not a result")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")

    dv = sub.add_parser("devices", help="list, show or plot device cards",
                        description="Device technology cards: parameters with units and sources.")
    dsub = dv.add_subparsers(dest="devices_command", metavar="ACTION", parser_class=_Parser)
    dsub.add_parser("list", help="names of the built-in cards")
    show = dsub.add_parser("show", help="print a card: every value with its unit, SI value, tag and source")
    show.add_argument("name", help="a built-in card name (see 'xbar devices list') or a path to a .toml card")
    plot = dsub.add_parser(
        "plot",
        help="draw a card's pulse response, conductance vs time and window vs cycles",
        description="Monte Carlo over the cells of one fabricated chip: conductance after each "
        "potentiating then depressing pulse, conductance vs time since programming (at the card "
        "temperature and at 358 K = 85 C) and the worn window and failed fraction vs write cycles.",
    )
    plot.add_argument("name", help="a built-in card name (see 'xbar devices list') or a path to a .toml card")
    plot.add_argument("--out", default=None, metavar="PATH",
                      help="save the figure to PATH (PNG or PDF; default NAME.png)")
    plot.add_argument("--cells", type=int, default=200, help="cells in the Monte Carlo (default 200)")
    plot.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    from ._train_cli import add_parser

    add_parser(sub, _positive_int, _positive_float)
    from ._sweep_cli import add_parsers

    add_parsers(sub, _positive_int)
    b = sub.add_parser(
        "bench",
        help="measure this machine: the HIL training step vs plain JAX, the circuit solve vs scipy",
        description=(
            "train: one surrogate-gradient step of a 784-256-10 LIF network (T=25, batch 128) with rram_hfox "
            "crossbars in the loop (128x128 tiles, 8-bit ADCs, every effect) vs the same step with plain weight "
            "matrices, timed round-robin in one process (ratio = median of per-round ratios). circuit: "
            "xbar.circuit.solve of a 256x256 array with 2 ohm wires and 64 inputs vs scipy's sparse direct solve. "
            "The bench/ scripts of the source tree measure more (bench/RESULTS.md)."
        ),
    )
    b.add_argument("--parts", default="train,circuit", help="comma-separated: train, circuit (default both)")
    b.add_argument("--runs", type=_positive_int, default=10, help="timed rounds of the training steps (default 10)")
    b.add_argument("--size", type=_positive_int, default=256, help="circuit array size n (n x n; default 256)")
    b.add_argument("--json", metavar="PATH", default=None, help="write the figures as JSON to PATH")
    return p


def _cmd_demo(args) -> int:
    from ._demo import DemoConfig, demo_figure, format_table, run_demo
    from ._io import save_figure_atomic, write_json_atomic

    cfg = DemoConfig(epochs=2 if args.quick else args.epochs, chips=2 if args.quick else args.chips, seed=args.seed)
    result = run_demo(cfg, progress=not args.no_progress)
    print()
    print(format_table(result))
    print(f"(total {result['seconds']:.0f} s; HIL training {result['train']['seconds']:.0f} s)")
    if args.json:
        path = write_json_atomic(args.json, result)
        print(f"wrote {path}")
    if args.plot and args.plot.lower() != "none":
        fig = demo_figure(result)
        path = save_figure_atomic(fig, args.plot, dpi=120)
        print(f"saved {path}")
    return 0


def _cmd_devices(args, parser) -> int:
    from .devices import CardError, available, format_card, load_card

    if args.devices_command == "list":
        for name in available():
            card = load_card(name)
            print(f"{name:<14} {card.family:<5} {card.title}")
        return 0
    if args.devices_command == "show":
        try:
            card = load_card(args.name)
        except CardError as err:
            print(f"xbar devices show: error: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
        print(format_card(card))
        return 0
    if args.devices_command == "plot":
        return _cmd_devices_plot(args)
    parser.exit(2, "xbar devices: error: expected an action: list, show or plot\n")
    return 2


def _cmd_devices_plot(args) -> int:
    from ._io import save_figure_atomic
    from .devices import CardError, from_card, load_card

    if args.cells < 10:
        print(f"xbar devices plot: error: --cells: expected an int >= 10, got {args.cells}", file=sys.stderr)
        return 2
    try:
        card = load_card(args.name)
        device = from_card(card)
    except CardError as err:
        print(f"xbar devices plot: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    from .plot import device_figure

    fig = device_figure(device, cells=args.cells, seed=args.seed)
    path = save_figure_atomic(fig, args.out or f"{card.name}.png", dpi=110)
    print(f"saved {path}")
    return 0


def _cmd_bench(args) -> int:
    from ._bench import PARTS, run_bench
    from ._io import write_json_atomic

    parts = [x for x in args.parts.split(",") if x]
    bad = [x for x in parts if x not in PARTS]
    if bad or not parts:
        msg = f"--parts: expected names from {', '.join(PARTS)}, got {args.parts!r}"
        print(f"xbar bench: error: {msg}", file=sys.stderr)
        return 2
    result = run_bench(parts, runs=args.runs, size=args.size)
    if args.json:
        print(f"wrote {write_json_atomic(args.json, result)}")
    return 0


def main(argv=None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # output piped into e.g. `head`, which closed it: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _cmd_demo(args)
    if args.command == "devices":
        return _cmd_devices(args, parser)
    if args.command == "train":
        from ._train_cli import run

        return run(args)
    if args.command == "bench":
        return _cmd_bench(args)
    if args.command == "sweep":
        from ._sweep_cli import run_sweep

        return run_sweep(args)
    if args.command == "plot":
        from ._sweep_cli import run_plot

        return run_plot(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
