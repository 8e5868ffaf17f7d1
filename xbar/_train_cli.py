"""`xbar train`: surrogate-gradient training of a two-layer LIF network, or unsupervised
STDP in a Diehl & Cook (2015) network, from the command line, ideal or with a device
card in the loop, with checkpoints that resume and a JSON summary."""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time

CHECKPOINT = "checkpoint.npz"
SUMMARY = "summary.json"


def add_parser(sub, positive_int, positive_float) -> None:
    t = sub.add_parser(
        "train",
        help="train an SNN (surrogate gradients or STDP), ideal or with a device in the loop",
        description=(
            "--mode surrogate (default): train an N_in-HIDDEN-10 LIF SNN (beta 0.9, rate-coded inputs, snnTorch's "
            "ce_rate loss, Adam) on the embedded digits or the MNIST split (8,000 train / 2,000 test), ideally or "
            "with a device card's crossbars in the loop (128x128 tiles, spike row drivers, 8-bit ADCs, every effect "
            "on); a checkpoint after every epoch. --mode stdp: unsupervised STDP in a Diehl & Cook (2015) network "
            "of --neurons excitatory LIF neurons (350 ms presentations at 0.5 ms steps), ideal weights or weights "
            "in a bidirectional device card's cells written by pulses, neurons labelled by their responses; a "
            "checkpoint after every 100 samples. Checkpoints go to OUT/checkpoint.npz; at the end OUT/summary.json "
            "holds the settings, the history and the test accuracy."
        ),
    )
    t.add_argument("--out", required=True, metavar="DIR", help="folder for checkpoint.npz and summary.json")
    t.add_argument(
        "--mode", choices=("surrogate", "stdp"), default="surrogate", help="learning rule (default surrogate)"
    )
    t.add_argument("--data", choices=("digits", "mnist"), default="digits", help="dataset (default digits)")
    t.add_argument("--mnist", metavar="DIR", default=None, help="folder with the MNIST IDX files (for --data mnist)")
    t.add_argument(
        "--device",
        default="ideal",
        help="a device card name (see 'xbar devices list') to train in the loop, or 'ideal' (default)",
    )
    t.add_argument(
        "--fresh-chips",
        action="store_true",
        help="fabricate a fresh chip at every step (variation-robust training; needs --device)",
    )
    t.add_argument("--hidden", type=positive_int, default=128, help="hidden LIF neurons (default 128)")
    t.add_argument(
        "--neurons", type=positive_int, default=100, help="excitatory neurons for --mode stdp (default 100)"
    )
    t.add_argument(
        "--epochs", type=positive_int, default=None, help="training epochs (default 15 surrogate, 1 stdp)"
    )
    t.add_argument("--steps", type=positive_int, default=25, help="time steps per sample, T (default 25)")
    t.add_argument("--batch", type=positive_int, default=128, help="batch size (default 128)")
    t.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate (default 2e-3)")
    t.add_argument(
        "--chips", type=positive_int, default=5, help="fabricated chips for the test accuracy with --device (default 5)"
    )
    t.add_argument(
        "--train-samples", type=positive_int, default=None, help="train on the first N training samples only"
    )
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    t.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _fail(message: str) -> int:
    print(f"xbar train: error: {message}", file=sys.stderr)
    return 2


def _resumable(train_fn, *args, **kwargs):
    """``(result, None)``, or ``(None, 2)`` after a one-line error when the checkpoint to
    resume does not fit this run."""
    try:
        return train_fn(*args, **kwargs), None
    except ValueError as err:
        if str(err).startswith("checkpoint:"):
            return None, _fail(f"--resume: {' '.join(str(err).split())}")
        raise


def run(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        return _fail(f"--out: expected a folder, got the file {str(out)!r}")
    ck = out / CHECKPOINT
    if ck.exists() and not args.resume:
        return _fail(f"--out: {str(out)!r} holds a checkpoint; pass --resume to continue it or choose another --out")
    if args.data == "mnist" and (args.mnist is None or not pathlib.Path(args.mnist).is_dir()):
        return _fail(f"--mnist: expected the folder with the MNIST IDX files for --data mnist, got {args.mnist!r}")
    if args.fresh_chips and args.device == "ideal":
        return _fail("--fresh-chips: expected a --device to fabricate chips of, got --device ideal")
    if args.fresh_chips and args.mode == "stdp":
        return _fail("--fresh-chips: expected --mode surrogate (STDP learns on one chip), got --mode stdp")
    if args.epochs is None:
        args.epochs = 15 if args.mode == "surrogate" else 1

    import jax

    import xbar
    from xbar import learn, snn
    from xbar._io import write_json_atomic

    specs = None
    if args.device != "ideal":
        try:
            dev = xbar.devices.load(args.device)
        except xbar.devices.CardError as err:
            return _fail(f"--device: {' '.join(str(err).split())}")
    try:
        data = xbar.data.load_mnist(args.mnist) if args.data == "mnist" else xbar.data.load_digits()
    except (OSError, ValueError) as err:
        return _fail(f"--mnist: {' '.join(str(err).split())}")
    if args.train_samples is not None:
        data = data._replace(x_train=data.x_train[: args.train_samples], y_train=data.y_train[: args.train_samples])
    if args.mode == "stdp":
        return _run_stdp(args, data, None if args.device == "ideal" else dev, out, ck)
    sizes = (data.x_train.shape[1], args.hidden, 10)
    if args.device != "ideal":
        specs = [
            xbar.CrossbarSpec(device=dev, rows=a, cols=b, tile_rows=128, tile_cols=128, dac_bits=None, adc_bits=8)
            for a, b in zip(sizes, sizes[1:], strict=False)
        ]
    net = snn.Network(layers=(snn.SpikingDense(neuron=snn.LIF(beta=0.9)), snn.SpikingDense(neuron=snn.LIF(beta=0.9))))
    cfg = learn.TrainConfig(
        num_steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch,
        lr=args.lr,
        loss="ce_rate",
        seed=args.seed,
        resample_chips=args.fresh_chips,
    )
    k_init, k_train, k_eval = jax.random.split(jax.random.key(args.seed), 3)
    w0 = learn.init_weights(sizes, key=k_init)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result, code = _resumable(
        learn.train, net, w0, data.x_train, data.y_train, key=k_train, config=cfg, specs=specs,
        progress=not args.no_progress, checkpoint=ck, resume=args.resume,
    )  # fmt: skip
    if code is not None:
        return code
    w, history = result
    t_train = time.perf_counter() - t0
    ideal = learn.evaluate(net, w, data.x_test, data.y_test, key=k_eval, num_steps=args.steps)
    summary = {
        "settings": {**vars(args), "sizes": list(sizes), "config": dataclasses.asdict(cfg)},
        "history": history,
        "train_seconds_this_run": t_train,
        "test_accuracy_ideal": float(ideal[0]),
        "versions": {"xbar": xbar.__version__, "jax": jax.__version__},
    }
    print(f"test accuracy, ideal weights: {float(ideal[0]):.2%}")
    if specs is not None:
        acc = learn.evaluate(net, w, data.x_test, data.y_test, key=k_eval, specs=specs, chips=args.chips,
                             num_steps=args.steps, t=1.0)  # fmt: skip
        summary["test_accuracy_chips"] = {
            "device": args.device,
            "mean": float(acc.mean()),
            "std": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
            "per_chip": [float(a) for a in acc],
        }
        print(f"test accuracy on {args.chips} {args.device} chips (1 s): {acc.mean():.2%} ± {acc.std():.2%}")
    path = write_json_atomic(out / SUMMARY, summary)
    print(f"wrote {path}")
    return 0


def _run_stdp(args, data, dev, out, ck) -> int:
    import jax
    import numpy as np

    import xbar
    from xbar import learn
    from xbar._io import write_json_atomic

    x = data.x_train.reshape(len(data.x_train), -1)
    xt = data.x_test.reshape(len(data.x_test), -1)
    if x.shape[1] == 784:
        net = learn.DiehlCook(n_neurons=args.neurons)
    else:  # the 8x8 digits: four times the rate and a tenth of the inputs' weight sum, as for MNIST
        net = learn.DiehlCook(n_input=x.shape[1], n_neurons=args.neurons, intensity=255.0, norm=0.1 * x.shape[1])
    if dev is not None and dev.family == "pcm":
        return _fail(f"--device: expected a bidirectional cell for STDP (PCM only SETs gradually), got {args.device}")
    k_init, k_train, k_assign, k_test = jax.random.split(jax.random.key(args.seed), 4)
    state = learn.diehl_cook_init(net, key=k_init, device=dev)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result, code = _resumable(
        learn.diehl_cook_train, net, state, x, key=k_train, epochs=args.epochs, progress=not args.no_progress,
        checkpoint=ck, resume=args.resume,
    )  # fmt: skip
    if code is not None:
        return code
    state, spikes = result
    t_train = time.perf_counter() - t0
    labels = learn.assign_labels(learn.diehl_cook_responses(net, state, x, key=k_assign), data.y_train)
    pred = learn.classify(learn.diehl_cook_responses(net, state, xt, key=k_test), labels)
    acc = float(np.mean(pred == data.y_test))
    summary = {
        "settings": {**vars(args), "network": repr(net)},
        "history": {"output_spikes_per_sample_by_epoch": [float(v) for v in spikes.mean(axis=1)]},
        "train_seconds_this_run": t_train,
        "test_accuracy": acc,
        "neuron_classes": np.bincount(labels, minlength=10).tolist(),
        "presentations": int(state.samples),
        "dropped_depressions": int(state.dropped),
        "versions": {"xbar": xbar.__version__, "jax": jax.__version__},
    }
    if dev is not None:
        summary.update(device=args.device, write_pulses=float(state.pulses), write_energy_J=float(state.energy))
    print(f"test accuracy ({args.device}, {args.neurons} neurons, STDP): {acc:.2%}")
    path = write_json_atomic(out / SUMMARY, summary)
    print(f"wrote {path}")
    return 0
