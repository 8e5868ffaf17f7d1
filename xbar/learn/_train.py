"""Surrogate-gradient training (BPTT) with the crossbar read path in the loop, and
evaluation of trained weights on ideal and programmed hardware.

Hardware in the loop: every training step programs the current weights into the
layer arrays (fresh write noise), reads them through the DAC, the devices, read noise
and the per-tile ADCs, and back-propagates through all of it — noise is
reparameterized, rounding passes by straight-through estimators, clipping passes zero
gradient where it clips. With ``resample_chips=True`` each step also fabricates fresh
chips (device-to-device variation and stuck cells), so the weights cannot overfit one
chip's defects.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..circuit._crossbar import CrossbarSpec, fabricate, program
from ..snn._encoders import latency, rate
from ..snn._layers import Network
from ._checkpoint import key_arrays, key_from, leaf_arrays, leaves_from, write_npz

__all__ = [
    "TrainConfig",
    "init_weights",
    "learning_rate",
    "encode",
    "ce_count_loss",
    "ce_rate_loss",
    "predict",
    "train",
    "evaluate",
    "hardware_forward",
    "ENCODERS",
    "LOSSES",
]

ENCODERS = ("rate", "latency", "direct")
LR_SCHEDULES = ("cosine", "constant")
LOSSES = ("ce_count", "ce_rate")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Training hyper-parameters.

    - `num_steps`: time steps per sample (T).
    - `encoder`: ``"rate"`` (Bernoulli), ``"latency"`` (linear time-to-first-spike) or
      ``"direct"`` (the intensity itself as a constant input every step; needs a DAC).
    - `loss`: ``"ce_count"`` (cross entropy of output spike counts ×
      `logit_scale`) or ``"ce_rate"`` (mean over time of the per-step cross entropy of
      output spikes, snnTorch's ``ce_rate_loss``).
    - `epochs`, `batch_size`, `lr` (Adam's initial learning rate), `seed` (data order).
    - `lr_schedule`: ``"cosine"`` (decay to `lr_final`·`lr` over the run; default) or
      ``"constant"``.
    - `resample_chips`: fabricate fresh chips at every step (hardware training only).
    - `t`: time since programming seen during training [s].
    """

    num_steps: int = 25
    encoder: str = "rate"
    loss: str = "ce_count"
    logit_scale: float = 0.5
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    lr_schedule: str = "cosine"
    lr_final: float = 0.05
    seed: int = 0
    resample_chips: bool = False
    t: float = 0.0

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"TrainConfig.encoder: expected one of {ENCODERS}, got {self.encoder!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"TrainConfig.loss: expected one of {LOSSES}, got {self.loss!r}")
        for name in ("num_steps", "epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainConfig.{name}: expected a positive int, got {v!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainConfig.lr: expected a positive learning rate, got {self.lr!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"TrainConfig.lr_schedule: expected one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not (0 <= self.lr_final <= 1):
            raise ValueError(f"TrainConfig.lr_final: expected a fraction in [0, 1], got {self.lr_final!r}")
        if not (self.logit_scale > 0 and math.isfinite(self.logit_scale)):
            raise ValueError(f"TrainConfig.logit_scale: expected a positive number, got {self.logit_scale!r}")
        if not (self.t >= 0 and math.isfinite(self.t)):
            raise ValueError(f"TrainConfig.t: expected a time >= 0 s, got {self.t!r}")


def learning_rate(config: TrainConfig, total_steps: int):
    """The step size as optax takes it: a number, or a schedule over `total_steps`."""
    if config.lr_schedule == "cosine":
        return optax.cosine_decay_schedule(config.lr, total_steps, alpha=config.lr_final)
    return config.lr


def init_weights(sizes: Sequence[int], *, key, gain: float = 1.0) -> list:
    """Uniform ``±gain/sqrt(fan_in)`` weights ``(n_in, n_out)`` for each layer."""
    sizes = list(sizes)
    if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes: expected at least two positive ints (n_in, ..., n_out), got {sizes!r}")
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        jax.random.uniform(k, (a, b), minval=-gain / math.sqrt(a), maxval=gain / math.sqrt(a))
        for k, a, b in zip(keys, sizes[:-1], sizes[1:])
    ]


def encode(x, num_steps: int, *, encoder: str, key=None):
    """Encode intensities ``(..., n)`` in [0, 1] into inputs ``(T, ..., n)``."""
    if encoder == "rate":
        return rate(x, num_steps, key=key)
    if encoder == "latency":
        return latency(x, num_steps)
    if encoder == "direct":
        return jnp.broadcast_to(jnp.asarray(x), (num_steps,) + jnp.shape(x))
    raise ValueError(f"encoder: expected one of {ENCODERS}, got {encoder!r}")


def ce_count_loss(out_spikes, labels, *, logit_scale=1.0):
    """Cross entropy of the output spike counts (``logit_scale × count`` as logits)."""
    counts = out_spikes.sum(axis=0)
    return optax.softmax_cross_entropy_with_integer_labels(logit_scale * counts, labels).mean()


def ce_rate_loss(out_spikes, labels):
    """Mean over time of the cross entropy of each step's output spikes (snnTorch)."""
    t = out_spikes.shape[0]
    lab = jnp.broadcast_to(labels, (t,) + labels.shape)
    return optax.softmax_cross_entropy_with_integer_labels(out_spikes, lab).mean()


def predict(out):
    """Class per sample: most output spikes; ties broken by the summed output membrane
    (among the tied classes only), then by the lowest index."""
    counts = out.spikes[-1].sum(axis=0)
    mem = out.membranes[-1].sum(axis=0)
    best = counts.max(axis=-1, keepdims=True)
    return jnp.argmax(jnp.where(counts == best, mem, -jnp.inf), axis=-1)


def _check_specs(specs, weights):
    if specs is None:
        return None
    specs = tuple(specs)
    if len(specs) != len(weights):
        raise ValueError(f"specs: expected one CrossbarSpec per layer ({len(weights)}), got {len(specs)}")
    for i, (s, w) in enumerate(zip(specs, weights)):
        if not isinstance(s, CrossbarSpec):
            raise TypeError(f"specs[{i}]: expected xbar.CrossbarSpec, got {type(s).__name__}")
        if (s.rows, s.cols) != tuple(w.shape):
            raise ValueError(
                f"specs[{i}]: expected rows, cols = {tuple(w.shape)} to match the weights, got {(s.rows, s.cols)}"
            )
    return specs


def _check_data(weights, x, y, x_name: str, y_name: str):
    """Inputs ``(n, n_in)`` as float32 and labels ``(n,)`` as int32, or a clear error."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int32)
    n_in = weights[0].shape[0]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"{x_name}: expected shape (n, {n_in}), got {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{y_name}: expected shape ({x.shape[0]},), got {y.shape}")
    return x, y


def _fabricate_all(specs, key):
    keys = jax.random.split(key, len(specs))
    return tuple(fabricate(s, key=k) for s, k in zip(specs, keys))


def _program_all(chips, weights, key):
    """Program each layer's weights into its chip, one key per layer."""
    keys = jax.random.split(key, len(chips))
    return tuple(program(c, w, key=k) for c, w, k in zip(chips, weights, keys))


def _batch_sums(x, y, batch_size, k_data, count):
    """Sum ``count(xb, yb, valid, key)`` over `x`, `y` in batches of `batch_size`, the
    last one zero-padded to the same shape (`valid` marks its real rows), so that one
    compiled function serves every batch; one data key per batch, split from `k_data`."""
    n = x.shape[0]
    bs = min(batch_size, n)
    total = 0
    for start in range(0, n, bs):
        xb, yb = x[start : start + bs], y[start : start + bs]
        m = xb.shape[0]
        valid = np.arange(bs) < m
        if m < bs:
            xb = np.concatenate([xb, np.zeros((bs - m, x.shape[1]), x.dtype)])
            yb = np.concatenate([yb, np.zeros((bs - m,), y.dtype)])
        k_data, k = jax.random.split(k_data)
        total = total + count(xb, yb, valid, k)
    return total


def _skip_if_not_finite(grads, loss):
    """`grads`, or zeros when `loss` is not finite (`train` then stops with a
    `FloatingPointError` at the end of the epoch, its weights still finite).

    On CPU through `jax.lax.cond`, whose result is a buffer of its own: XLA's CPU
    fusion otherwise recomputes the whole elementwise gradient chain through
    programming (write noise, d2d windows, the mapping: ~160 operations per weight)
    inside each of Adam's two moment updates, which cost the hardware-in-the-loop step
    ~10 % (`bench/RESULTS.md`). Elsewhere an elementwise select."""

    def zeros(g):
        return jax.tree_util.tree_map(jnp.zeros_like, g)

    def select(g, ok):
        return jax.tree_util.tree_map(lambda a: jnp.where(ok, a, jnp.zeros_like(a)), g)

    ok = jnp.isfinite(loss)
    return jax.lax.platform_dependent(
        grads, ok, cpu=lambda g, ok: jax.lax.cond(ok, lambda g: g, zeros, g), default=select
    )


def hardware_forward(net: Network, weights, chips, x_seq, *, key, t=0.0):
    """Program `weights` into `chips` (fresh write noise) and run `net` on them."""
    k_prog, k_read = jax.random.split(key)
    return net.run(_program_all(chips, weights, k_prog), x_seq, key=k_read, t=t)


def _make_loss(net, cfg: TrainConfig, hardware: bool):
    def loss_fn(weights, chips, xb, yb, key):
        k_enc, k_hw = jax.random.split(key)
        x_seq = encode(xb, cfg.num_steps, encoder=cfg.encoder, key=k_enc)
        if hardware:
            out = hardware_forward(net, weights, chips, x_seq, key=k_hw, t=cfg.t)
        else:
            out = net.run(weights, x_seq)
        if cfg.loss == "ce_count":
            loss = ce_count_loss(out.spikes[-1], yb, logit_scale=cfg.logit_scale)
        else:
            loss = ce_rate_loss(out.spikes[-1], yb)
        acc = jnp.mean(predict(out) == yb)
        return loss, acc

    return loss_fn


def train(
    net: Network,
    weights,
    x_train,
    y_train,
    *,
    key,
    config: TrainConfig = TrainConfig(),
    specs=None,
    progress: bool = True,
    desc: str = "train",
    checkpoint=None,
    resume: bool = False,
):
    """Train `weights` (one ``(n_in, n_out)`` matrix per layer) with Adam and BPTT.

    With `specs` (one `CrossbarSpec` per layer) the forward pass runs through the
    crossbar read path (hardware in the loop); without, through ideal matrices.
    Each epoch visits the data in a fresh random order in full batches (a last partial
    batch is dropped, so every step compiles once). Returns ``(weights, history)`` where
    history has per-epoch mean loss and accuracy. Raises `FloatingPointError` if the loss
    or the weights stop being finite (with hardware in the loop, a step whose loss is not
    finite contributes a zero gradient, so the weights stay finite).

    `checkpoint`: a file path; after every epoch the weights, the optimizer state, the
    random state and the history are written there atomically (NumPy ``.npz``, no
    pickle). With `resume=True` and that file present, training continues after its
    last epoch — with the same arguments, the result is the one an uninterrupted run
    gives. A checkpoint from another configuration or other weight shapes is an error.
    """
    weights = [jnp.asarray(w) for w in weights]
    specs = _check_specs(specs, weights)
    x_train, y_train = _check_data(weights, x_train, y_train, "x_train", "y_train")
    hardware = specs is not None
    if config.resample_chips and not hardware:
        raise ValueError(
            "config.resample_chips: expected specs (one CrossbarSpec per layer) to fabricate chips from, got specs=None"
        )
    n = x_train.shape[0]
    bs = min(config.batch_size, n)
    n_batches = n // bs
    opt = optax.adam(learning_rate(config, config.epochs * n_batches))
    opt_state = opt.init(weights)
    loss_fn = _make_loss(net, config, hardware)

    @jax.jit
    def step(weights, opt_state, chips, xb, yb, key):
        k_chip, k_loss = jax.random.split(key)
        if hardware and config.resample_chips:
            chips = _fabricate_all(specs, k_chip)
        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(weights, chips, xb, yb, k_loss)
        if hardware:
            grads = _skip_if_not_finite(grads, loss)
        updates, opt_state = opt.update(grads, opt_state, weights)
        return optax.apply_updates(weights, updates), opt_state, loss, acc

    if resume and checkpoint is None:
        raise ValueError("resume: expected a checkpoint path to resume from, got checkpoint=None")
    key, k_chips = jax.random.split(key)
    chips = _fabricate_all(specs, k_chips) if hardware else None
    rng = np.random.default_rng(config.seed)
    history = {"loss": [], "acc": []}
    start = 0
    if resume and pathlib.Path(checkpoint).exists():
        start, weights, opt_state, key, history = _load_checkpoint(checkpoint, config, n, weights, opt_state)
        for _ in range(start):  # the data orders of the epochs already done
            rng.permutation(n)
    bar = _progress(config.epochs * n_batches, desc, progress)
    bar.update(start * n_batches)
    for _epoch in range(start, config.epochs):
        order = rng.permutation(n)
        losses, accs = [], []
        for b in range(n_batches):
            idx = order[b * bs : (b + 1) * bs]
            key, k = jax.random.split(key)
            weights, opt_state, loss, acc = step(weights, opt_state, chips, x_train[idx], y_train[idx], k)
            losses.append(loss)
            accs.append(acc)
            bar.update(1)
        history["loss"].append(float(jnp.mean(jnp.stack(losses))))
        history["acc"].append(float(jnp.mean(jnp.stack(accs))))
        if not math.isfinite(history["loss"][-1]) or not bool(_all_finite(weights)):
            bar.close()
            raise FloatingPointError(
                f"train: non-finite values in epoch {len(history['loss'])} (mean loss "
                f"{history['loss'][-1]}, learning rate {config.lr}); the last weights may not be usable"
            )
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", acc=f"{history['acc'][-1]:.3f}")
        if checkpoint is not None:
            _save_checkpoint(checkpoint, _epoch + 1, config, n, weights, opt_state, key, history)
    bar.close()
    return weights, history


def _config_json(config: TrainConfig, n: int) -> str:
    return json.dumps({**dataclasses.asdict(config), "n_train": n}, sort_keys=True)


def _save_checkpoint(path, epoch, config, n, weights, opt_state, key, history) -> None:
    arrays = {
        "epoch": np.asarray(epoch),
        "config": np.asarray(_config_json(config, n)),
        **key_arrays(key),
        "loss": np.asarray(history["loss"], float),
        "acc": np.asarray(history["acc"], float),
        **leaf_arrays("opt", opt_state),
    }
    arrays.update({f"w{i}": np.asarray(w) for i, w in enumerate(weights)})
    write_npz(path, arrays)


def _load_checkpoint(path, config, n, weights, opt_state):
    """``(epochs done, weights, opt_state, key, history)`` from a `_save_checkpoint` file,
    checked against this run's configuration and shapes."""
    with np.load(path, allow_pickle=False) as z:
        saved = str(z["config"])
        if saved != _config_json(config, n):
            raise ValueError(
                f"checkpoint: expected one written with this configuration and {n} training samples, "
                f"got {path} with {saved}"
            )
        w = [jnp.asarray(z[f"w{i}"]) for i in range(len(weights))]
        for i, (a, b) in enumerate(zip(w, weights, strict=True)):
            if a.shape != b.shape:
                raise ValueError(f"checkpoint: expected weight {i} of shape {b.shape}, got {a.shape} in {path}")
        opt = leaves_from(z, "opt", opt_state, "optimizer state leaf")
        key = key_from(z)
        history = {"loss": [float(v) for v in z["loss"]], "acc": [float(v) for v in z["acc"]]}
        return int(z["epoch"]), w, opt, key, history


def evaluate(
    net: Network,
    weights,
    x,
    y,
    *,
    key,
    specs=None,
    chips: int = 1,
    t=0.0,
    num_steps: int = 25,
    encoder: str = "rate",
    batch_size: int = 512,
):
    """Test accuracy of `weights`, ideal or programmed on `chips` fabricated chips.

    With `specs`, each chip is fabricated and programmed once (its own keys), then read
    at time `t` seconds after programming. Returns an array of accuracies, one per chip
    (shape ``(chips,)``; ``(1,)`` when ideal).
    """
    weights = [jnp.asarray(w) for w in weights]
    specs = _check_specs(specs, weights)
    x, y = _check_data(weights, x, y, "x", "y")
    n = x.shape[0]
    if specs is None:
        chips = 1
    if isinstance(chips, bool) or not isinstance(chips, int) or chips < 1:
        raise ValueError(f"chips: expected a positive int, got {chips!r}")

    chip_keys = jax.random.split(key, chips + 1)
    k_data, chip_keys = chip_keys[0], chip_keys[1:]

    def count(xb, yb, valid, k):
        return _correct_counts(net, weights, specs, chip_keys, xb, yb, valid, k, t, num_steps, encoder)

    return np.asarray(_batch_sums(x, y, batch_size, k_data, count)) / n


@functools.partial(jax.jit, static_argnames=("num_steps", "encoder"))
def _correct_counts(net, weights, specs, chip_keys, xb, yb, valid, k_data, t, num_steps, encoder):
    """Correct predictions in one batch, per chip (chips run one after another)."""

    def one_chip(k_chip):
        k_fab, k_prog, k_read = jax.random.split(k_chip, 3)
        x_seq = encode(xb, num_steps, encoder=encoder, key=k_data)
        if specs is None:
            out = net.run(weights, x_seq)
        else:
            arrays = _program_all(_fabricate_all(specs, k_fab), weights, k_prog)
            out = net.run(arrays, x_seq, key=k_read, t=t)
        return jnp.sum((predict(out) == yb) & valid)

    return jax.lax.map(one_chip, chip_keys)


@jax.jit
def _all_finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]))


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)
