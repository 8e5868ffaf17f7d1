"""Energy and latency of a spiking network on crossbars: what every stage spends.

Stages, per layer and per time step (SI units: J, s):

* **array** — the cells' read energy ``t_read·Σ V·I`` over every physical cell of the
  layer's arrays (both planes of a differential pair, the reference column), from the
  conductances the read sees at time `t`. With the ideal circuit (``circuit="ideal"``,
  ``"transfer"`` or an expansion) it is ``t_read·v_read²·Σᵢ uᵢ²·Σⱼ Gᵢⱼ`` for drive
  levels ``u`` (rows at ``v = u·v_read``); with ``circuit="solve"`` it is the power the
  row drivers deliver, ``Σᵢ vᵢ·Σⱼ Iᵢⱼ`` from the exact nodal solve (cell currents and
  the wires' own dissipation). Wire resistance can only lower that power for the same
  drive (Rayleigh's monotonicity law: more resistance, less conductance seen by the
  sources), so the ideal figure is an upper bound for the other circuits.
* **dac** — row drivers: with spike inputs (``dac_bits=None``) one 1-bit drive of
  `e_drive` per spike; with a ``b``-bit DAC, ``e_drive·2^(b−1)`` per row conversion
  with a non-zero input (the 2ᵇ scaling of Accelergy's ISAAC DAC model).
* **adc** — one conversion per column output (a differential pair's ``I⁺ − I⁻``, or a
  column minus its tile's reference) per row-tile per time step, each
  ``E = adc_fom·2^ENOB`` with ``ENOB = adc_bits − adc_enob_loss`` (Walden figure of
  merit). With `gate_idle_tiles`, a row tile none of whose rows is driven in a step
  skips its conversions (its column currents are zero); for spikes the active fraction
  ``1 − Πᵢ(1 − sᵢ)`` is differentiable through the surrogate spikes.
* **neuron** — `e_neuron` per neuron per time step (the membrane update), and
  **spike** — `e_spike` per output spike.

Write energy comes from the device models' pulse energies (`device.pulse` returns it,
`xbar.learn.pulsed` keeps running totals); `training_step_energy` adds it to the
forward pass of a training step.

Latency per inference: every time step runs the layers in order, each layer a read
(`t_read` of its card), then the conversions of the columns that share an ADC
(``min(cols_per_adc, tile columns)`` conversions at `adc_rate`), then the neuron update
(`t_neuron`); row and column tiles work in parallel.

Default costs and their sources:

* `adc_fom` = 31 fJ per conversion step: median Walden FOM of SAR ADCs with ENOB 4–9.5
  at 10 MS/s–3 GS/s published since 2010 (34 designs; B. Murmann, "ADC Performance
  Survey 1997–2025", github.com/bmurmann/ADC-survey, as analysed in the project's device
  compendium §6.1). ``EnergyModel.isaac()`` uses ISAAC's 1.67 pJ per 8-bit conversion
  instead (Shafiee et al., ISCA 2016, from Kull et al., ISSCC 2013), i.e. 6.5 fJ/step.
* `adc_rate` = 1.2 GS/s: the 8-bit SAR of ISAAC (Kull et al. 2013).
* `cols_per_adc` = 8: NeuroSim's default column multiplexing (``numColMuxed``; compendium
  §6.2). ISAAC shares one ADC among all 128 columns of a crossbar.
* `e_drive` = 0.33 pJ per 1-bit row drive: ISAAC's 8×128 1-bit DACs at 4 mW per IMA,
  4 mW / (1024 DACs × 1.2·10⁷ drives/s), as transcribed in Accelergy's hwcomponents
  library (`isaac.py`).
* `e_neuron` = 81 pJ per active neuron update and `e_spike` = 1.7 pJ per spike: Intel
  Loihi (Davies et al., IEEE Micro 38(1), 2018, Table 2; neuron update, within-tile spike
  energy). A digital, programmable neuron core; a dedicated analog LIF costs less. These
  two numbers were recalled from the paper, not re-checked against it here.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._tree import as_float_leaf, is_concrete, pytree_dataclass, static_field
from ..circuit._crossbar import (
    CrossbarArray,
    CrossbarSpec,
    _check_array,
    _circuit_kwargs,
    _physical_tiles,
    check_inputs,
    conductances,
)
from ..circuit._solve import solve as circuit_solve
from ..snn._layers import Network

__all__ = [
    "EnergyModel",
    "EnergyReport",
    "STAGES",
    "adc_conversion_energy",
    "read_energy",
    "inference_energy",
    "training_step_energy",
    "latency",
]

STAGES = ("array", "dac", "adc", "neuron", "spike", "write")


@pytree_dataclass
class EnergyModel:
    """Costs of the periphery and the neurons (module docstring for the sources).

    **Arguments** (keyword only; SI units):

    - `adc_fom`: Walden figure of merit [J per conversion step]; default 31 fJ.
    - `adc_enob_loss`: bits lost to noise and non-linearity, ``ENOB = adc_bits − loss``
      (default 0).
    - `adc_rate`: conversions per second of one ADC [1/s]; default 1.2e9.
    - `cols_per_adc`: columns that share one ADC (static int; default 8).
    - `e_drive`: energy of one 1-bit row drive [J]; default 0.33 pJ.
    - `e_neuron`: energy of one neuron update (one neuron, one time step) [J]; default 81 pJ.
    - `e_spike`: energy of one output spike [J]; default 1.7 pJ.
    - `t_neuron`: time of one layer's neuron update [s]; default 0.
    - `gate_idle_tiles`: skip the conversions of a row tile with no driven row (static;
      default True — event-driven periphery).
    """

    adc_fom: jax.Array = 31e-15
    adc_enob_loss: jax.Array = 0.0
    adc_rate: jax.Array = 1.2e9
    cols_per_adc: int = static_field(default=8)
    e_drive: jax.Array = 0.33e-12
    e_neuron: jax.Array = 81e-12
    e_spike: jax.Array = 1.7e-12
    t_neuron: jax.Array = 0.0
    gate_idle_tiles: bool = static_field(default=True)

    def __post_init__(self) -> None:
        for name in ("adc_fom", "adc_enob_loss", "adc_rate", "e_drive", "e_neuron", "e_spike", "t_neuron"):
            value = as_float_leaf(getattr(self, name), f"EnergyModel.{name}")
            object.__setattr__(self, name, value)
            strict = name == "adc_rate"
            if is_concrete(value):
                arr = np.asarray(value)
                if arr.ndim != 0 or (arr <= 0 if strict else arr < 0):
                    want = "a positive scalar" if strict else "a scalar ≥ 0"
                    raise ValueError(f"EnergyModel.{name}: expected {want}, got {value}")
        c = self.cols_per_adc
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"EnergyModel.cols_per_adc: expected a positive int, got {c!r}")
        if not isinstance(self.gate_idle_tiles, bool):
            raise TypeError(f"EnergyModel.gate_idle_tiles: expected a bool, got {self.gate_idle_tiles!r}")

    @classmethod
    def isaac(cls, **changes) -> EnergyModel:
        """ISAAC's periphery (Shafiee et al., ISCA 2016): 1.67 pJ per 8-bit conversion
        (``adc_fom = 1.67 pJ / 2⁸``), 1.2 GS/s, one ADC per 128 columns."""
        kw = dict(adc_fom=1.67e-12 / 256.0, adc_rate=1.2e9, cols_per_adc=128)
        kw.update(changes)
        return cls(**kw)


@pytree_dataclass
class EnergyReport:
    """Energy by stage and layer, and the counts behind it.

    Fields (each ``(layers,)`` [J], per inference — per sample — or, from
    `training_step_energy`, per step): `array`, `dac`, `adc`, `neuron`, `spike`, `write`;
    `conversions` (ADC conversions), `spikes` (output spikes per layer), `drives` (row
    drives); `latency` [s] per inference.
    """

    array: jax.Array
    dac: jax.Array
    adc: jax.Array
    neuron: jax.Array
    spike: jax.Array
    write: jax.Array
    conversions: jax.Array
    spikes: jax.Array
    drives: jax.Array
    latency: jax.Array

    @property
    def per_stage(self) -> dict:
        """Energy per stage, summed over layers [J]."""
        return {s: jnp.sum(getattr(self, s)) for s in STAGES}

    @property
    def per_layer(self):
        """Energy per layer, summed over stages [J], ``(layers,)``."""
        return sum(getattr(self, s) for s in STAGES)

    @property
    def total(self):
        """Total energy [J]."""
        return jnp.sum(self.per_layer)

    @property
    def adc_share(self):
        """The ADCs' fraction of the total."""
        return jnp.sum(self.adc) / self.total

    def summary(self) -> dict:
        """Plain floats for printing or JSON: per-stage energy [J], total, ADC share,
        conversions, spikes and latency."""
        out = {f"{s}_J": float(v) for s, v in self.per_stage.items()}
        out.update(
            total_J=float(self.total),
            adc_share=float(self.adc_share),
            conversions=float(jnp.sum(self.conversions)),
            spikes=float(jnp.sum(self.spikes)),
            latency_s=float(self.latency),
        )
        return out


DEFAULT_MODEL = EnergyModel()
"""The default costs (`EnergyModel()`)."""


def _check_model(model) -> EnergyModel:
    if not isinstance(model, EnergyModel):
        raise TypeError(f"model: expected an xbar.energy.EnergyModel, got {type(model).__name__}")
    return model


def adc_conversion_energy(bits, model: EnergyModel = DEFAULT_MODEL):
    """Energy of one conversion [J]: ``adc_fom·2^(bits − adc_enob_loss)`` (Walden).
    `bits` may be traced (a swept `CrossbarSpec.adc_bits`)."""
    _check_model(model)
    enob = jnp.asarray(bits, jnp.result_type(float)) - model.adc_enob_loss
    return model.adc_fom * jnp.exp2(enob)


def _drive_levels(spec: CrossbarSpec, x):
    """Row drive levels ``u = x/x_max`` (row voltage ``u·v_read``), as the read applies them
    before the DAC's rounding (the energy of a quantized level differs from it by at most
    half a step)."""
    return x * (1.0 / spec.x_max)


def read_energy(array: CrossbarArray, x, *, t=0.0):
    """The array's read energy for each input vector [J], shape ``x.shape[:-1]``
    (module docstring: ideal-circuit ``t_read·v_read²·Σᵢ uᵢ²·Σⱼ Gᵢⱼ``, or the driver
    power from the exact solve with ``circuit="solve"``), from the mean conductances at
    time `t` (read noise averages out). Differentiable in `x` and in the programmed
    weights."""
    spec = _check_array(array)
    x = check_inputs(spec, x)
    batch = x.shape[:-1]
    u = _drive_levels(spec, x.reshape(-1, spec.rows))
    dev = spec.device
    g = conductances(array, t=t)
    v_read = spec.read_voltage
    if spec.circuit != "solve":
        # Σⱼ Gᵢⱼ over every physical cell of row i (all planes; the reference column)
        rowsum = sum(jnp.sum(_from_tiles_rows(spec, gp), axis=-1) for gp in g.values())
        e = dev.t_read * v_read**2 * ((u * u) @ rowsum)
        return e.reshape(batch)
    tr, _ = spec.tile_shape
    n_r, _ = spec.tile_grid
    tiles = _physical_tiles(spec, g)
    ckw = _circuit_kwargs(spec)
    v = jnp.pad(u, ((0, 0), (0, n_r * tr - spec.rows))).reshape(-1, n_r, tr) * v_read
    power = 0.0
    for plane in tiles.values():  # (n_r, n_c, tr, cells)
        for r in range(n_r):
            sol = jax.vmap(lambda gt, vr=v[:, r]: circuit_solve(gt, vr, **ckw, full=True))(plane[r])
            # the current each driver sends into its row is the sum of the row's cell currents
            row_current = jnp.sum(sol.cell_currents, axis=-1)  # (n_c, batch, tr)
            power = power + jnp.einsum("cbt,bt->b", row_current, v[:, r])
    return (dev.t_read * power).reshape(batch)


def _from_tiles_rows(spec: CrossbarSpec, plane):
    """A plane ``(row tiles, tile rows, cells)`` as ``(rows, cells)`` (rows unpadded)."""
    n_r, tr, c = plane.shape
    return plane.reshape(n_r * tr, c)[: spec.rows]


def _tile_activity(spec: CrossbarSpec, a):
    """Per row tile, the fraction of reads in which the tile has a driven row:
    ``1 − Πᵢ(1 − aᵢ)`` over its rows, for activities ``a ∈ [0, 1]`` ``(n, rows)``; ``(n, row tiles)``."""
    tr, _ = spec.tile_shape
    n_r, _ = spec.tile_grid
    a = jnp.pad(a, ((0, 0), (0, n_r * tr - spec.rows))).reshape(a.shape[0], n_r, tr)
    return 1.0 - jnp.prod(1.0 - a, axis=-1)


def _layer_energy(spec: CrossbarSpec, array, h_in, h_out, model: EnergyModel, t):
    """Energy of one layer over a flattened run: inputs ``(n, rows)``, output spikes
    ``(n, cols)``, ``n`` = time steps × samples. Returns per-stage sums and counts."""
    n = h_in.shape[0]
    spikes_in = spec.dac_bits is None
    # row drives: spikes drive their row once; a DAC converts every non-zero input
    if spikes_in:
        active = h_in
        drives = jnp.sum(h_in)
        e_dac = model.e_drive * drives
    else:
        active = jax.lax.stop_gradient((h_in != 0).astype(h_in.dtype))
        drives = jnp.sum(active)
        e_dac = model.e_drive * 2.0 ** (spec.dac_bits - 1) * drives
    n_r, _ = spec.tile_grid
    outputs = spec.cols  # one conversion per column output per row tile (padding unread)
    if model.gate_idle_tiles:
        tiles_read = jnp.sum(_tile_activity(spec, active))
    else:
        tiles_read = jnp.asarray(float(n * n_r))
    conversions = tiles_read * outputs
    e_adc = conversions * adc_conversion_energy(spec.adc_bits, model)
    e_array = jnp.sum(read_energy(array, h_in, t=t))
    n_spikes = jnp.sum(h_out)
    e_neuron = model.e_neuron * n * spec.cols
    e_spike = model.e_spike * n_spikes
    return dict(array=e_array, dac=e_dac, adc=e_adc, neuron=e_neuron, spike=e_spike), conversions, n_spikes, drives


def latency(specs, *, num_steps: int, model: EnergyModel = DEFAULT_MODEL):
    """Latency of one inference [s]: `num_steps` × Σ over layers of (read time ``t_read``
    + the conversions of one ADC, ``min(cols_per_adc, tile columns)/adc_rate``, +
    ``t_neuron``). Returns a dict ``{"read", "adc", "neuron", "total"}``."""
    _check_model(model)
    specs = _check_specs(specs)
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps: expected a positive int, got {num_steps!r}")
    read = sum(s.device.t_read for s in specs)
    adc = sum(min(model.cols_per_adc, s.tile_shape[1]) for s in specs) / model.adc_rate
    neuron = len(specs) * model.t_neuron
    out = {"read": num_steps * read, "adc": num_steps * adc, "neuron": num_steps * neuron}
    out["total"] = out["read"] + out["adc"] + out["neuron"]
    return out


def _check_specs(specs) -> tuple:
    specs = (specs,) if isinstance(specs, CrossbarSpec) else tuple(specs)
    if not specs or not all(isinstance(s, CrossbarSpec) for s in specs):
        raise TypeError("specs: expected a CrossbarSpec or a non-empty sequence of them")
    return specs


def _run_energy(net: Network, arrays, x_seq, *, key, t, model, per_sample: bool, writes=None):
    _check_model(model)
    if not isinstance(net, Network):
        raise TypeError(f"net: expected an xbar.snn.Network, got {type(net).__name__}")
    arrays = tuple(arrays)
    if len(arrays) != len(net.layers):
        raise ValueError(f"arrays: expected {len(net.layers)} programmed arrays (one per layer), got {len(arrays)}")
    for i, a in enumerate(arrays):
        if not isinstance(a, CrossbarArray) or not a.programmed:
            raise TypeError(
                f"arrays[{i}]: expected a programmed xbar.CrossbarArray (energy needs the hardware), "
                f"got {type(a).__name__}"
            )
    if writes is None:
        write = jnp.zeros(len(arrays))
    else:
        write = jnp.asarray(writes, jnp.result_type(float))
        if write.shape != (len(arrays),):
            raise ValueError(f"writes: expected one write energy per layer, shape ({len(arrays)},), got {write.shape}")
    x_seq = jnp.asarray(x_seq)
    if x_seq.ndim < 2:
        raise ValueError(f"x_seq: expected shape (T, ..., n_in), got {x_seq.shape}")
    steps = x_seq.shape[0]
    samples = math.prod(x_seq.shape[1:-1])
    out = net.run(arrays, x_seq, key=key, t=t)
    inputs = (x_seq,) + tuple(out.spikes[:-1])
    rows = []
    for a, h_in, h_out in zip(arrays, inputs, out.spikes):
        spec = a.spec
        e, conv, n_spk, drives = _layer_energy(
            spec, a, h_in.reshape(-1, spec.rows), h_out.reshape(-1, spec.cols), model, t
        )
        rows.append((e, conv, n_spk, drives))
    scale = 1.0 / samples if per_sample else 1.0
    stack = lambda f: jnp.stack([f(r) for r in rows]) * scale  # noqa: E731
    lat = latency([a.spec for a in arrays], num_steps=steps, model=model)["total"]
    report = EnergyReport(
        array=stack(lambda r: r[0]["array"]),
        dac=stack(lambda r: r[0]["dac"]),
        adc=stack(lambda r: r[0]["adc"]),
        neuron=stack(lambda r: r[0]["neuron"]),
        spike=stack(lambda r: r[0]["spike"]),
        write=write,
        conversions=stack(lambda r: r[1]),
        spikes=stack(lambda r: r[2]),
        drives=stack(lambda r: r[3]),
        latency=jnp.asarray(lat),
    )
    return report, out


def inference_energy(net: Network, arrays, x_seq, *, key=None, t=0.0, model: EnergyModel = DEFAULT_MODEL):
    """Run `net` on programmed `arrays` (one `CrossbarArray` per layer) for inputs
    ``(T, ..., n_in)`` and account for what every stage spent, per inference (the mean
    over the samples in `x_seq`).

    Returns ``(report, out)``: an `EnergyReport` and the network output. Jit-able, and
    differentiable in the weights the arrays were programmed with (through the surrogate
    spikes and the conductances), so ``report.total`` can be a training penalty."""
    return _run_energy(net, arrays, x_seq, key=key, t=t, model=model, per_sample=True)


def training_step_energy(
    net: Network, arrays, x_seq, *, key=None, t=0.0, writes=None, model: EnergyModel = DEFAULT_MODEL
):
    """Energy of one training step over the batch in `x_seq`: the forward pass on the
    arrays (all samples, not the mean) plus `writes`, the write energy per layer [J] spent
    updating the devices (e.g. the difference of `xbar.learn.PulsedState.energy` over the
    step; none for off-chip training). The backward pass is computed off the array and is
    not counted. Returns ``(report, out)``."""
    return _run_energy(net, arrays, x_seq, key=key, t=t, model=model, per_sample=False, writes=writes)
