"""The crossbar read path: spec, fabrication, programming and the matrix-vector product.

Conventions (SI units throughout):

* A weight matrix ``W`` of shape ``(rows, cols)`` maps inputs on the word lines
  (``rows``) to outputs on the bit lines (``cols``); the ideal product is ``W.T @ x``.
* The matrix is tiled over physical arrays of ``tile_rows × tile_cols`` cells. Each
  row-tile has its own ADCs; the digitized partial sums are added digitally.
* Mapping ``"differential"``: every weight uses two devices,
  ``G⁺ = g_min + s·max(W, 0)`` and ``G⁻ = g_min + s·max(−W, 0)`` with
  ``s = (g_max − g_min)/w_max``; the column outputs ``I⁺ − I⁻`` are subtracted before
  the ADC. Mapping ``"reference"``: one device per weight,
  ``G = (g_min + g_max)/2 + s·W`` with ``s = (g_max − g_min)/(2·w_max)``, and one
  reference column per tile programmed to ``(g_min + g_max)/2`` whose current is
  subtracted from every column of the tile before the ADC.
* Inputs ``x`` in ``[0, x_max]`` (or ``[−x_max, x_max]`` with ``signed_inputs``) drive
  the rows at ``v = (x/x_max)·v_read`` after the DAC. The output is converted back to
  weight units, ``y = I·x_max/(s·v_read)``, so with every effect off ``mvm`` returns
  ``W.T @ x``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _random as _rnd
from .._effects import Effects
from .._tree import as_float_leaf, is_concrete, pytree_dataclass, static_field
from ..devices._models import Device, after_programming
from ..periphery._quant import STE_NAMES, adc_grid, check_bits, dac, quantize
from ._expansion import transfer_expansion
from ._selectors import SELECTORS
from ._solve import ACCESS_TYPES, transfer_matrix
from ._solve import solve as circuit_solve

__all__ = [
    "CrossbarSpec",
    "CrossbarArray",
    "fabricate",
    "program",
    "mvm",
    "conductances",
    "effective_weights",
    "MAPPINGS",
    "READ_NOISE_MODES",
    "CIRCUITS",
]

MAPPINGS = ("differential", "reference")
CIRCUITS = ("ideal", "transfer", "solve", "expansion1", "expansion2")
READ_NOISE_MODES = ("conductance", "output")


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    return value


def _bits_leaf(value, name: str):
    """A concrete bit count as a Python int (checked: an integer in 2..24); a traced
    one as it is."""
    if not is_concrete(value):
        return value
    ok = isinstance(value, (int, np.integer)) or (hasattr(value, "dtype") and np.ndim(value) == 0)
    if isinstance(value, (bool, np.bool_)) or not ok:
        raise TypeError(f"{name}: expected an int number of bits, got {type(value).__name__} {value!r}")
    as_float = float(np.asarray(value))
    if not as_float.is_integer():
        raise TypeError(f"{name}: expected an int number of bits, got {value!r}")
    return check_bits(int(as_float), name, minimum=2)


@pytree_dataclass
class CrossbarSpec:
    """Everything needed to build a crossbar for one weight matrix.

    **Arguments** (keyword only):

    - `device`: a cell model, e.g. ``xbar.devices.load("rram_hfox")``.
    - `rows`, `cols`: the weight matrix shape (inputs × outputs).
    - `tile_rows`, `tile_cols`: the physical array size the matrix is tiled over
      (default 128 × 128). Each row-tile has its own ADCs.
    - `mapping`: ``"differential"`` (two devices per weight, default) or
      ``"reference"`` (one device per weight plus a reference column per tile).
    - `v_read`: read voltage at full-scale input [V]; default: the device card's. The
      linear read's outputs do not depend on it (currents scale with it, and so does the
      ADC's full scale); it sets the physical current scale (`spec.read_voltage`), which
      the energy and circuit models build on.
    - `x_max`: input full scale (inputs are in ``[0, x_max]``, default 1: spikes).
    - `signed_inputs`: allow negative inputs (bipolar read voltages).
    - `dac_bits`: input DAC resolution (default 8), or ``None`` for binary row drivers:
      inputs are applied as given (spikes), with no quantization — what an SNN
      crossbar driven by spikes has.
    - `adc_bits`: ADC resolution per column per tile (default 8, at least 2). An array
      leaf, not a static field (it changes no shape): sweeps `vmap` over it, and specs
      that differ only in it share one compilation.
    - `adc_range`: ADC full scale as a fraction of the largest differential column
      current a tile can carry (``tile_rows`` full-scale inputs on cells at the weight
      extreme): ``I_fs = adc_range·tile_rows·s·w_max·v_read``. Default 1/8.
    - `adc_ste`: the straight-through estimator of the ADC, ``"clipped"`` (derivative 1
      inside the range, 0 where it saturates; default) or ``"identity"`` (1 everywhere;
      faster backward pass, blind to saturation).
    - `w_max`: the weight magnitude mapped to the full conductance window; default
      ``None`` uses ``max|W|`` at programming time. Larger weights clip.
    - `effects`: which non-idealities are on (`xbar.Effects`; all on by default).
    - `read_noise`: ``"conductance"`` (default) draws one noisy conductance snapshot per
      `mvm` call, shared by every vector in that call — the semantics of aihwkit's
      inference noise, right for slow (1/f) noise, and cheap; ``"output"`` draws
      independent per-read noise for every vector, exactly in distribution, as
      Gaussian column-current noise of variance ``Σᵢ vᵢ²σᵢⱼ²`` (costs one more matmul
      and a normal draw per output).
    - `drift_compensation`: scale outputs by one global factor measured on the array
      (aihwkit's `GlobalDriftCompensation`): ``α = mean|ΔG(0)| / mean|ΔG(t)|``.
    - `circuit`: how the array's currents are computed: ``"ideal"`` (default, ``I = Gᵀv``;
      the wire fields below are ignored), ``"transfer"`` (exact nodal solve of every
      physical tile with its wire resistance, as its effective conductance matrix
      ``T(G, r)`` — one solve per `mvm` call, i.e. per conductance snapshot, then every
      input vector is one matmul; linear cells only) or ``"solve"`` (the nodal solve for
      every input vector: needed for nonlinear `selector` cells), or ``"expansion1"`` /
      ``"expansion2"`` (``T`` from the first/second-order expansion in the wire
      resistance, `xbar.circuit.transfer_expansion`: far cheaper, valid while
      `xbar.circuit.expansion_epsilon` of a tile is well below 1). See
      `xbar.circuit.solve` for the circuit and its conventions. Each tile of each plane
      (``G⁺`` and ``G⁻``; for the reference mapping, the tile with its reference column
      as its last column) is its own array. The model: inputs are row voltages with
      every cell connected, rows with zero input held at 0 V by their drivers — exact
      for voltage-driven rows. Where spikes instead gate 1T1R word lines, the rows
      without a spike are disconnected, which changes the circuit every step; this
      approximation ignores that (their cells still load the columns at 0 V).
    - `r_row`, `r_col`: wire resistance per cell pitch along a row / a column [Ω]
      (> 0 when `circuit` is not ``"ideal"``; default 0); `r_source`: row driver
      resistance, `r_sense`: column sense resistance [Ω] (≥ 0, default 0).
    - `access`: ``"1t1r"`` or ``"passive"`` (the same network for the all-rows read).
    - `selector`: ``None`` (linear cells) or a nonlinear cell law such as
      ``xbar.circuit.Sinh(v0=0.2)`` (needs ``circuit="solve"``; read voltages are
      physical, ``v = (x/x_max)·v_read``, so `v_read` matters).
    """

    device: Device
    rows: int = static_field()
    cols: int = static_field()
    tile_rows: int = static_field(default=128)
    tile_cols: int = static_field(default=128)
    mapping: str = static_field(default="differential")
    v_read: jax.Array | None = None
    x_max: jax.Array = 1.0
    signed_inputs: bool = static_field(default=False)
    dac_bits: int | None = static_field(default=8)
    adc_bits: int | jax.Array = 8
    adc_range: jax.Array = 0.125
    adc_ste: str = static_field(default="clipped")
    w_max: jax.Array | None = None
    effects: Effects = static_field(default=Effects())
    read_noise: str = static_field(default="conductance")
    drift_compensation: bool = static_field(default=True)
    circuit: str = static_field(default="ideal")
    r_row: jax.Array = 0.0
    r_col: jax.Array = 0.0
    r_source: jax.Array = 0.0
    r_sense: jax.Array = 0.0
    access: str = static_field(default="1t1r")
    selector: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.device, Device):
            raise TypeError(
                "CrossbarSpec.device: expected a cell model such as xbar.devices.load('rram_hfox'), "
                f"got {type(self.device).__name__}"
            )
        for name in ("rows", "cols", "tile_rows", "tile_cols"):
            _check_positive_int(getattr(self, name), f"CrossbarSpec.{name}")
        if self.mapping not in MAPPINGS:
            raise ValueError(f"CrossbarSpec.mapping: expected one of {MAPPINGS}, got {self.mapping!r}")
        if self.read_noise not in READ_NOISE_MODES:
            raise ValueError(f"CrossbarSpec.read_noise: expected one of {READ_NOISE_MODES}, got {self.read_noise!r}")
        if not isinstance(self.effects, Effects):
            raise TypeError(f"CrossbarSpec.effects: expected xbar.Effects, got {type(self.effects).__name__}")
        if self.dac_bits is not None:
            check_bits(self.dac_bits, "CrossbarSpec.dac_bits", minimum=2 if self.signed_inputs else 1)
        object.__setattr__(self, "adc_bits", _bits_leaf(self.adc_bits, "CrossbarSpec.adc_bits"))
        if self.adc_ste not in STE_NAMES:
            raise ValueError(f"CrossbarSpec.adc_ste: expected one of {STE_NAMES}, got {self.adc_ste!r}")
        for name in ("v_read", "x_max", "adc_range", "w_max"):
            value = getattr(self, name)
            if value is None:
                continue
            value = as_float_leaf(value, f"CrossbarSpec.{name}")
            object.__setattr__(self, name, value)
            if is_concrete(value) and not np.all(np.asarray(value) > 0):
                raise ValueError(f"CrossbarSpec.{name}: expected a positive value, got {value}")
        self._check_circuit()

    def _check_circuit(self) -> None:
        if self.circuit not in CIRCUITS:
            raise ValueError(f"CrossbarSpec.circuit: expected one of {CIRCUITS}, got {self.circuit!r}")
        if self.access not in ACCESS_TYPES:
            raise ValueError(f"CrossbarSpec.access: expected one of {ACCESS_TYPES}, got {self.access!r}")
        if self.selector is not None and not isinstance(self.selector, SELECTORS):
            raise TypeError(
                "CrossbarSpec.selector: expected None or a selector such as xbar.circuit.Sinh(v0=0.2), "
                f"got {type(self.selector).__name__}"
            )
        if self.selector is not None and self.circuit != "solve":
            raise ValueError(
                f"CrossbarSpec.circuit: a nonlinear selector needs circuit='solve' (a nonlinear array has no "
                f"transfer matrix, and the ideal read ignores it), got circuit={self.circuit!r}"
            )
        for name in ("r_row", "r_col", "r_source", "r_sense"):
            value = as_float_leaf(getattr(self, name), f"CrossbarSpec.{name}")
            object.__setattr__(self, name, value)
            if not is_concrete(value):
                continue
            val = np.asarray(value)
            wire = name in ("r_row", "r_col")
            if val.ndim != 0 or val < 0 or (wire and self.circuit != "ideal" and not val > 0):
                want = "> 0 Ω per segment (the circuit is on)" if wire and self.circuit != "ideal" else "≥ 0 Ω"
                raise ValueError(f"CrossbarSpec.{name}: expected a scalar resistance {want}, got {value}")

    # --------------------------------------------------------------- geometry
    @property
    def tile_shape(self) -> tuple[int, int]:
        """Cells used per tile: the physical tile, or the whole matrix if smaller."""
        return min(self.tile_rows, self.rows), min(self.tile_cols, self.cols)

    @property
    def tile_grid(self) -> tuple[int, int]:
        """Number of tiles along rows and columns."""
        tr, tc = self.tile_shape
        return math.ceil(self.rows / tr), math.ceil(self.cols / tc)

    @property
    def read_voltage(self):
        return self.device.v_read if self.v_read is None else self.v_read

    @property
    def planes(self) -> tuple[str, ...]:
        return ("pos", "neg") if self.mapping == "differential" else ("main", "ref")

    def plane_shape(self, plane: str) -> tuple[int, int, int]:
        """Cell-array shape of a plane: (row tiles, tile rows, padded columns)."""
        tr, tc = self.tile_shape
        n_r, n_c = self.tile_grid
        if plane == "ref":
            return (n_r, tr, n_c)
        return (n_r, tr, n_c * tc)

    @property
    def window_per_weight(self):
        """Conductance swing that spans one weight range ``w_max`` [S]."""
        dg = self.device.g_max - self.device.g_min
        return dg if self.mapping == "differential" else dg / 2.0


@pytree_dataclass
class CrossbarArray:
    """A fabricated (and, after `program`, programmed) crossbar.

    Fields: `spec`; `fab` (per plane, the draws fixed at fabrication); `state` (per
    plane, the programmed device state, ``None`` before programming); `scale` (``s``,
    siemens per weight unit).
    """

    spec: CrossbarSpec
    fab: dict
    state: dict | None = None
    scale: jax.Array | None = None

    @property
    def programmed(self) -> bool:
        return self.state is not None


def fabricate(spec: CrossbarSpec, *, key) -> CrossbarArray:
    """Make a chip: sample device-to-device variation and stuck cells once.

    Same key, same chip. Fabrication always samples; `spec.effects` decides later
    whether the draws are used.
    """
    if not isinstance(spec, CrossbarSpec):
        raise TypeError(f"spec: expected xbar.CrossbarSpec, got {type(spec).__name__}")
    keys = jax.random.split(key, len(spec.planes))
    fab = {p: spec.device.fabricate(spec.plane_shape(p), key=k) for p, k in zip(spec.planes, keys)}
    return CrossbarArray(spec=spec, fab=fab)


def _to_tiles(spec: CrossbarSpec, w):
    """(rows, cols) -> (row tiles, tile rows, padded cols), zero padded."""
    tr, tc = spec.tile_shape
    n_r, n_c = spec.tile_grid
    w = jnp.pad(w, ((0, n_r * tr - spec.rows), (0, n_c * tc - spec.cols)))
    return w.reshape(n_r, tr, n_c * tc)


def _from_tiles(spec: CrossbarSpec, w_tiles):
    n_r, tr, cp = w_tiles.shape
    return w_tiles.reshape(n_r * tr, cp)[: spec.rows, : spec.cols]


def _check_array(array, name: str = "array", need_programmed: bool = True) -> CrossbarSpec:
    if not isinstance(array, CrossbarArray):
        raise TypeError(f"{name}: expected an xbar.CrossbarArray (from xbar.fabricate), got {type(array).__name__}")
    if need_programmed and not array.programmed:
        raise ValueError(f"{name}: expected a programmed array; call xbar.program(array, weights, key=...) first")
    return array.spec


def check_inputs(spec: CrossbarSpec, x):
    """Inputs ``(..., rows)`` for a read of `spec`, as a floating-point array."""
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] != spec.rows:
        raise ValueError(f"x: expected shape (..., rows) with rows = {spec.rows}, got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def program(array: CrossbarArray, weights, *, key) -> CrossbarArray:
    """Write a weight matrix ``(rows, cols)`` into a fabricated array.

    Maps weights to target conductances (see the module docstring), then applies the
    device's programming model: window clipping (d2d), programming error, finite
    levels. Differentiable with respect to `weights` (noise is reparameterized;
    window clipping passes zero gradient where it clips; the mapping scale ``s`` is a
    calibration constant, not differentiated).
    """
    spec = _check_array(array, need_programmed=False)
    weights = jnp.asarray(weights)
    if weights.shape != (spec.rows, spec.cols):
        raise ValueError(
            f"weights: expected shape (rows, cols) = ({spec.rows}, {spec.cols}) from the spec, got {weights.shape}"
        )
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        raise TypeError(f"weights: expected a floating-point array, got dtype {weights.dtype}")
    dev, eff = spec.device, spec.effects
    if spec.w_max is None:
        w_max = jnp.maximum(jnp.max(jnp.abs(weights)), jnp.finfo(weights.dtype).tiny)
    else:
        w_max = spec.w_max
    # The mapping scale is a calibration constant of the programmed array: gradients
    # treat it as fixed (exact for the ideal read, where it cancels).
    scale = jax.lax.stop_gradient(spec.window_per_weight / w_max)
    w_t = _to_tiles(spec, weights)
    if spec.mapping == "differential":
        targets = {
            "pos": dev.g_min + scale * jnp.maximum(w_t, 0.0),
            "neg": dev.g_min + scale * jnp.maximum(-w_t, 0.0),
        }
    else:
        g_mid = 0.5 * (dev.g_min + dev.g_max)
        targets = {
            "main": g_mid + scale * w_t,
            "ref": jnp.broadcast_to(g_mid, spec.plane_shape("ref")),
        }
    keys = jax.random.split(key, len(spec.planes))
    state = {p: dev.program(array.fab[p], targets[p], key=k, effects=eff) for p, k in zip(spec.planes, keys)}
    # materialize the programmed state once: otherwise XLA may fuse (and recompute) the
    # random draws inside every consumer (reads, reductions, the backward pass). XLA's
    # CPU pipeline drops optimization barriers (seen in its optimized HLO, JAX 0.10.2);
    # there its fusion kept one draw per plane in the training step all the same
    state = jax.lax.optimization_barrier(state)
    return CrossbarArray(spec=spec, fab=array.fab, state=state, scale=scale)


def _compensates(spec: CrossbarSpec, t) -> bool:
    """Global drift compensation applies; at a statically zero t its factor is exactly 1."""
    return spec.drift_compensation and spec.effects.drift and not after_programming(t)


def conductances(array: CrossbarArray, *, t=0.0) -> dict:
    """Mean conductance of every plane at time `t` [s] after programming (no read noise).

    Planes have shape (row tiles, tile rows, padded cols); the ``"ref"`` plane of the
    reference mapping has one column per column-tile.
    """
    spec = _check_array(array)
    return {p: spec.device.conductance(array.fab[p], array.state[p], t, effects=spec.effects) for p in spec.planes}


def _pair(spec: CrossbarSpec, planes: dict, sign: float):
    """Combine each weight position's two devices: ``a + sign·b`` for (G⁺, G⁻), or for
    (G, the reference cell of its tile)."""
    if spec.mapping == "differential":
        return planes["pos"] + sign * planes["neg"]
    _, tc = spec.tile_shape
    return planes["main"] + sign * jnp.repeat(planes["ref"], tc, axis=-1)


def _delta_g(spec: CrossbarSpec, g: dict):
    """Signed conductance per weight position: G⁺ − G⁻, or G − G_ref of its tile."""
    return _pair(spec, g, -1.0)


def _circuit_kwargs(spec: CrossbarSpec) -> dict:
    return dict(
        r_row=spec.r_row,
        r_col=spec.r_col,
        r_source=spec.r_source,
        r_sense=spec.r_sense,
        access=spec.access,
        selector=spec.selector,
    )


def _physical_tiles(spec: CrossbarSpec, planes: dict) -> dict:
    """The physical arrays of every plane, ``(row tiles, col tiles, tile rows, cells per
    row)``: each tile of ``G⁺``/``G⁻``, or each main tile with its reference cell column
    appended as its last column."""
    n_r, n_c = spec.tile_grid
    tr, tc = spec.tile_shape

    def split(x):
        return x.reshape(n_r, tr, n_c, tc).transpose(0, 2, 1, 3)

    if spec.mapping == "differential":
        return {"pos": split(planes["pos"]), "neg": split(planes["neg"])}
    ref = jnp.swapaxes(planes["ref"], 1, 2)[..., None]  # (n_r, n_c, tr, 1)
    return {"main": jnp.concatenate([split(planes["main"]), ref], axis=-1)}


def _from_physical(spec: CrossbarSpec, tiles: dict) -> dict:
    """Inverse of `_physical_tiles` for anything laid out per tile column like it:
    ``(A, col tiles, R, cells)`` → planes ``(A, R, padded cols)`` (reference: ``(A, R,
    col tiles)``)."""
    _, tc = spec.tile_shape

    def join(x):
        a, n_c, r, c = x.shape
        return x.transpose(0, 2, 1, 3).reshape(a, r, n_c * c)

    if spec.mapping == "differential":
        return {"pos": join(tiles["pos"]), "neg": join(tiles["neg"])}
    main = tiles["main"]
    return {"main": join(main[..., :tc]), "ref": jnp.swapaxes(main[..., tc], 1, 2)}


def effective_weights(array: CrossbarArray, *, t=0.0):
    """The weight matrix ``(rows, cols)`` the array realizes at time `t`, without read
    noise, DAC/ADC or drift compensation: ``ΔG/s``."""
    spec = _check_array(array)
    return _from_tiles(spec, _delta_g(spec, conductances(array, t=t)) / array.scale)


def mvm(array: CrossbarArray, x, *, key=None, t=0.0):
    """Read the array: the analog product ``W.T @ x`` with every enabled effect.

    **Arguments:**

    - `array`: a programmed `CrossbarArray`.
    - `x`: inputs of shape ``(..., rows)`` in ``[0, x_max]`` (any leading batch shape).
    - `key`: PRNG key for read noise (required when read noise is on).
    - `t`: time since programming [s] (drift, relaxation, retention).

    **Returns:** outputs of shape ``(..., cols)`` in weight units.
    """
    spec = _check_array(array)
    x = check_inputs(spec, x)
    eff, dev = spec.effects, spec.device
    noisy = eff.read_noise
    if noisy and key is None:
        raise ValueError(
            "key: expected a PRNG key because read noise is on (spec.effects.read_noise); got None. "
            "Pass key=jax.random.key(...) or turn read noise off with Effects(read_noise=False)."
        )
    batch_shape = x.shape[:-1]
    n = math.prod(batch_shape)
    x2 = x.reshape(n, spec.rows)

    # DAC: normalized drive levels u (row voltage v = u·v_read). Linear factors
    # (v_read, 1/x_max) are applied to the outputs, not to every input.
    if eff.dac and spec.dac_bits is not None:
        # applied per tile slice below, so XLA fuses it into each slice (no full-size copy)
        def drive(xs):
            return dac(xs, bits=spec.dac_bits, x_max=spec.x_max, signed=spec.signed_inputs)

        in_scale = 1.0
    else:

        def drive(xs):
            return xs

        in_scale = 1.0 / spec.x_max
    tr, _ = spec.tile_shape
    n_r, _ = spec.tile_grid

    g = conductances(array, t=t)
    delta_g_mean = _delta_g(spec, g)
    out_var = None
    if noisy:
        k_g, k_out = jax.random.split(key)
        stds = {p: dev.read_std(array.fab[p], array.state[p], g[p], t, effects=eff) for p in spec.planes}
        if spec.read_noise == "conductance":
            ks = jax.random.split(k_g, len(spec.planes))
            g_read = {p: g[p] + stds[p] * _rnd.normal(kp, g[p].shape, g[p].dtype) for p, kp in zip(spec.planes, ks)}
        else:
            g_read = g
            out_var = _pair(spec, {p: s**2 for p, s in stds.items()}, 1.0)  # independent devices
    else:
        g_read = g

    ckw = _circuit_kwargs(spec)
    if spec.circuit in ("transfer", "expansion1", "expansion2"):
        # one nodal solve per physical tile (rows right-hand sides), then matmuls
        if spec.circuit == "transfer":
            tmat = functools.partial(transfer_matrix, **ckw)
        else:
            wires = {k: ckw[k] for k in ("r_row", "r_col", "r_source", "r_sense")}
            tmat = functools.partial(transfer_expansion, order=int(spec.circuit[-1]), **wires)
        tiles = _physical_tiles(spec, g_read)
        t_mat = {p: jax.vmap(jax.vmap(tmat))(x) for p, x in tiles.items()}
        delta_g = _delta_g(spec, _from_physical(spec, t_mat))
    elif spec.circuit == "solve":
        tiles = _physical_tiles(spec, g_read)
        delta_g = None
    else:
        delta_g = _delta_g(spec, g_read)

    def read(r, u_r):
        """Column currents (in units of v_read) of row tile `r` for its drive levels."""
        used = u_r.shape[-1]
        if spec.circuit != "solve":
            return u_r @ delta_g[r, :used]
        volts = spec.read_voltage * in_scale  # physical row voltage per unit of u: (x/x_max)·v_read
        v = jnp.pad(u_r, ((0, 0), (0, tr - used))) * volts
        cur = {p: jax.vmap(lambda gt: circuit_solve(gt, v, **ckw))(x[r])[None] for p, x in tiles.items()}
        return _delta_g(spec, _from_physical(spec, cur))[0] / volts

    cp = spec.plane_shape(spec.planes[0])[-1]
    if eff.adc:
        # per row-tile column currents, digitized separately, summed digitally. An
        # unrolled loop over row tiles: one plain matmul each (XLA's batched dot is
        # several times slower on CPU).
        # currents in units of v_read: I = v_read·(u @ ΔG); the ADC full scale likewise
        full_scale = spec.adc_range * spec.tile_rows * spec.window_per_weight / in_scale
        step, lo, hi = adc_grid(bits=spec.adc_bits, full_scale=full_scale, dtype=x2.dtype)
        cur = None
        for r in range(n_r):
            used = min(tr, spec.rows - r * tr)  # rows of this tile that carry inputs
            u_r = drive(x2[:, r * tr : r * tr + used])
            c_r = read(r, u_r)
            if out_var is not None:
                std = jnp.sqrt((u_r**2) @ out_var[r, :used])
                c_r = c_r + std * _rnd.normal(jax.random.fold_in(k_out, r), c_r.shape, c_r.dtype)
            c_r = quantize(c_r, step=step, lo=lo, hi=hi, ste=spec.adc_ste)
            cur = c_r if cur is None else cur + c_r
    else:
        u = drive(x2)
        if spec.circuit == "solve":
            cur = sum(read(r, u[:, r * tr : min((r + 1) * tr, spec.rows)]) for r in range(n_r))
        else:
            cur = u @ delta_g.reshape(n_r * tr, cp)[: spec.rows]
        if out_var is not None:
            std = jnp.sqrt((u**2) @ out_var.reshape(n_r * tr, cp)[: spec.rows])
            cur = cur + std * _rnd.normal(k_out, cur.shape, cur.dtype)

    # back to weight units: I/v_read = u·ΔG, and ΔG = s·W
    y = cur * (in_scale * spec.x_max / array.scale)
    if _compensates(spec, t):
        # α = mean|ΔG| right after programming / mean|ΔG| now: a measured calibration
        # constant (aihwkit's GlobalDriftCompensation), so no gradient flows through it
        ref = jnp.mean(jnp.abs(_delta_g(spec, conductances(array, t=0.0))))
        level = jnp.maximum(jnp.mean(jnp.abs(delta_g_mean)), jnp.finfo(y.dtype).tiny)
        y = y * jax.lax.stop_gradient(ref / level)
    return y[:, : spec.cols].reshape(batch_shape + (spec.cols,))
