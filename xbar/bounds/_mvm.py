"""Closed-form mean and variance of the crossbar MVM error, without simulation.

For a spec, a weight matrix ``W`` and inputs ``x``, `mvm_error` predicts the error
``e = mvm(array, x) − Wᵀx`` over everything random in the read path: fabrication
(device-to-device windows, stuck cells), programming error, drift or relaxation at time
`t`, read noise — the per-cell moments of `cell_moments` — and the ADC (rounding and
clipping), with the DAC's rounding of `x` and the global drift compensation. The steps:

1. **Cells.** Each weight maps to target conductances exactly as `xbar.program` maps it
   (differential pair or reference column). `cell_moments` gives each cell's read mean
   ``μ`` and variance ``v``; cells are independent, so the analog partial current of
   row tile ``r`` and column ``j``, ``cᵣⱼ = Σᵢ uᵢ(G⁺ᵢⱼ − G⁻ᵢⱼ)`` (drive levels ``u``), has
   mean ``Σᵢ uᵢ(μ⁺ − μ⁻)ᵢⱼ`` and variance ``Σᵢ uᵢ²(v⁺ + v⁻)ᵢⱼ``, and is close to Gaussian
   (a sum over the tile's rows; the central limit theorem needs several active rows).
2. **ADC.** Each ``cᵣⱼ`` is clipped to ``±L`` and rounded to the step ``Δ``. For a
   Gaussian ``c`` the clipped mean and variance are closed forms (truncated normal
   moments); rounding adds ``Δ²/12`` of the in-range probability, with zero mean — the
   uniform-noise model of quantization, valid while the spread of ``c`` dithers the
   rounding, ``σ(cᵣⱼ) ≳ Δ/2`` (`ErrorPrediction.adc_dither` reports ``σ/Δ``; where it is
   small the rounding error is deterministic and the model gives its variance, not its
   value). ``P(|c| > L)`` is `clip_probability`. Row tiles are independent, so their
   moments add. Validity of the clipped moments: while an output's row tiles clip with
   probability ≲ 0.6 the predicted mean and std are within 10 % of the std measured over
   6,000 chips; above that the error is the clip level but for the chips whose partial
   sum escapes it, a tail that stuck cells make heavier than the Gaussian's, so the
   measured std exceeds the prediction (by 13 % at P = 0.74, 23 % at 0.91, 2.5× at
   0.99 for `rram_hfox`; `tests/test_bounds.py`).
3. **Output.** ``y = α·k·Σᵣ ADC(cᵣⱼ)`` with ``k`` the mapping back to weight units and
   ``α`` the global drift compensation ``mean|ΔG(0)| / mean|ΔG(t)|``, a ratio of averages
   over every cell of the layer that hardly varies between chips (law of large numbers):
   it is taken from one chip sampled with a fixed key — the one sampled quantity of the
   prediction (the mean of ``|ΔG|`` depends on the shape of each cell's distribution
   near zero, which two moments do not fix).
4. **DAC.** For given inputs the DAC's rounding is deterministic: it enters the mean
   exactly, as ``(dac(x) − x)·W``. `dac_error` gives the input-averaged (uniform-noise)
   variance, for choosing DAC bits without inputs.

`ir_drop_error` predicts the (deterministic) IR-drop error by the first- or second-order
expansion of the array in its wire resistance (`xbar.circuit.transfer_expansion`), valid
for ``ε = r·G·N²``-like values well below 1 (`xbar.circuit.expansion_epsilon`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from .._effects import Effects
from .._tree import pytree_dataclass, replace
from ..circuit._crossbar import (
    CrossbarSpec,
    _compensates,
    _delta_g,
    _physical_tiles,
    _to_tiles,
    check_inputs,
    conductances,
    fabricate,
    mvm,
    program,
)
from ..circuit._expansion import expansion_epsilon
from ..periphery._quant import adc_grid, dac
from ._cells import cell_moments

__all__ = ["ErrorPrediction", "mvm_error", "dac_error", "ir_drop_error", "IRDropPrediction"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


@pytree_dataclass
class ErrorPrediction:
    """Predicted moments of the MVM error ``mvm(array, x) − Wᵀx`` in weight units.

    - `mean`, `var`: ``(..., cols)``.
    - `device_var`: the part of `var` from the cells (fabrication, programming, time,
      read noise), before the ADC.
    - `adc_var`: the ADC's rounding variance ``Σᵣ P(in range)·Δ²/12`` (weight units).
    - `dac_mean`: the DAC's deterministic error ``(dac(x) − x)·W`` (part of `mean`).
    - `clip_probability`: ``P(|cᵣⱼ| > L)`` per row tile, ``(..., row tiles, cols)``;
      the clipped moments hold while it is ≲ 0.6 (module docstring).
    - `adc_dither`: ``σ(cᵣⱼ)/Δ`` per row tile: the uniform rounding model holds where it
      is ≳ 0.5.
    - `worst_adc`: the worst-case rounding error of the in-range ADCs, ``n_r·Δ/2`` per
      column (weight units; clipping can exceed it).
    - `drift_factor`: the predicted global drift compensation ``α``.
    """

    mean: jax.Array
    var: jax.Array
    device_var: jax.Array
    adc_var: jax.Array
    dac_mean: jax.Array
    clip_probability: jax.Array
    adc_dither: jax.Array
    worst_adc: jax.Array
    drift_factor: jax.Array

    @property
    def std(self):
        return jnp.sqrt(self.var)

    @property
    def rms(self):
        """Root mean square error, ``sqrt(mean² + var)``."""
        return jnp.sqrt(self.mean**2 + self.var)


def _check_spec_weights(spec, weights):
    if not isinstance(spec, CrossbarSpec):
        raise TypeError(f"spec: expected an xbar.CrossbarSpec, got {type(spec).__name__}")
    w = jnp.asarray(weights)
    if w.shape != (spec.rows, spec.cols):
        raise ValueError(f"weights: expected shape (rows, cols) = ({spec.rows}, {spec.cols}), got {w.shape}")
    if not jnp.issubdtype(w.dtype, jnp.floating):
        raise TypeError(f"weights: expected a floating-point array, got dtype {w.dtype}")
    return w


def _targets(spec: CrossbarSpec, w):
    """Target conductances per plane (padded tiles), and the mapping scale, as `program`."""
    dev = spec.device
    w_max = jnp.maximum(jnp.max(jnp.abs(w)), jnp.finfo(w.dtype).tiny) if spec.w_max is None else spec.w_max
    scale = spec.window_per_weight / w_max
    w_t = _to_tiles(spec, w)
    if spec.mapping == "differential":
        return {
            "pos": dev.g_min + scale * jnp.maximum(w_t, 0.0),
            "neg": dev.g_min + scale * jnp.maximum(-w_t, 0.0),
        }, scale
    g_mid = 0.5 * (dev.g_min + dev.g_max)
    return {"main": g_mid + scale * w_t, "ref": jnp.broadcast_to(g_mid, spec.plane_shape("ref"))}, scale


def _pair_moments(spec: CrossbarSpec, mom: dict):
    """(mean, var) of ΔG per weight position ``(row tiles, tile rows, padded cols)``."""
    if spec.mapping == "differential":
        (m_p, v_p), (m_n, v_n) = mom["pos"], mom["neg"]
        return m_p - m_n, v_p + v_n
    _, tc = spec.tile_shape
    (m_m, v_m), (m_r, v_r) = mom["main"], mom["ref"]
    return m_m - jnp.repeat(m_r, tc, axis=-1), v_m + jnp.repeat(v_r, tc, axis=-1)


def _clipped_moments(m, v, lim):
    """Mean and variance of ``clip(c, −L, L)`` for ``c ~ N(m, v)``, and ``P(|c| > L)``."""
    s = jnp.maximum(jnp.sqrt(v), 1e-6 * lim)  # a deterministic c: a and b stay finite
    a, b = (-lim - m) / s, (lim - m) / s
    pa, pb = ndtr(a), ndtr(b)
    fa, fb = jnp.exp(-0.5 * a * a) / _SQRT_2PI, jnp.exp(-0.5 * b * b) / _SQRT_2PI
    inside = pb - pa
    e1_in = m * inside + s * (fa - fb)
    e2_in = (m * m + v) * inside + 2.0 * m * s * (fa - fb) + v * (a * fa - b * fb)
    mean = e1_in + lim * ((1.0 - pb) - pa)
    second = e2_in + lim * lim * ((1.0 - pb) + pa)
    return mean, jnp.maximum(second - mean * mean, 0.0), 1.0 - inside


def _drift_factor(spec: CrossbarSpec, w, t):
    """The global drift compensation ``α = mean|ΔG(0)| / mean|ΔG(t)|`` of one chip sampled
    with a fixed key: a ratio of averages over every cell of the layer, whose spread over
    chips is small (0.4 % for 128 × 16 PCM cells at one day, measured) while its value
    depends on the shape of the cells' distributions near ΔG = 0 (a folded-normal
    estimate from the moments was 3 % off for PCM at one day)."""
    k_fab, k_prog = jax.random.split(jax.random.key(0x5EED))
    arr = program(fabricate(spec, key=k_fab), w, key=k_prog)
    ref = jnp.mean(jnp.abs(_delta_g(spec, conductances(arr, t=0.0))))
    level = jnp.mean(jnp.abs(_delta_g(spec, conductances(arr, t=t))))
    return jax.lax.stop_gradient(ref / jnp.maximum(level, jnp.finfo(level.dtype).tiny))


def mvm_error(spec: CrossbarSpec, weights, x, *, t=0.0) -> ErrorPrediction:
    """Predict the mean and variance of ``mvm(program(fabricate(spec), weights), x, t=t) − Wᵀx``
    over chips, programming and read noise (module docstring), without simulation.

    **Arguments:** `spec` (its `effects` say which terms are on; ``circuit`` must be
    ``"ideal"`` — use `ir_drop_error` for the wires), `weights` ``(rows, cols)``, `x`
    ``(..., rows)``, `t` [s] after programming. Jit-able and differentiable in
    `weights`, `x` and the spec's and card's physical parameters.
    """
    w = _check_spec_weights(spec, weights)
    x = check_inputs(spec, x)
    if spec.circuit != "ideal":
        raise ValueError(
            f"spec.circuit: mvm_error predicts the ideal-circuit read; expected 'ideal', got {spec.circuit!r} "
            "(predict the wires' error with xbar.bounds.ir_drop_error)"
        )
    eff = spec.effects
    targets, scale = _targets(spec, w)
    mom = {p: cell_moments(spec.device, g, t=t, effects=eff) for p, g in targets.items()}
    m_dg, v_dg = _pair_moments(spec, mom)

    batch = x.shape[:-1]
    x2 = x.reshape(-1, spec.rows)
    dac_on = eff.dac and spec.dac_bits is not None
    if dac_on:
        u = dac(x2, bits=spec.dac_bits, x_max=spec.x_max, signed=spec.signed_inputs)
        in_scale = 1.0
    else:
        u = x2
        in_scale = 1.0 / spec.x_max
    out_k = in_scale * spec.x_max / scale
    tr, _ = spec.tile_shape
    n_r, _ = spec.tile_grid
    up = jnp.pad(u, ((0, 0), (0, n_r * tr - spec.rows))).reshape(-1, n_r, tr)
    c_mean = jnp.einsum("brk,rkc->brc", up, m_dg)[..., : spec.cols]  # (batch, row tiles, cols)
    c_var = jnp.einsum("brk,rkc->brc", up * up, v_dg)[..., : spec.cols]
    if eff.adc:
        full_scale = spec.adc_range * spec.tile_rows * spec.window_per_weight / in_scale
        step, _, hi = adc_grid(bits=spec.adc_bits, full_scale=full_scale, dtype=c_mean.dtype)  # as mvm reads
        q_mean, q_var, p_clip = _clipped_moments(c_mean, c_var, hi)
        round_var = (1.0 - p_clip) * step * step / 12.0
        dither = jnp.sqrt(c_var) / step
        worst = n_r * step / 2.0
    else:
        q_mean, q_var, p_clip = c_mean, c_var, jnp.zeros_like(c_mean)
        round_var = jnp.zeros_like(c_mean)
        dither = jnp.full_like(c_mean, jnp.inf)
        worst = jnp.zeros(())
    if _compensates(spec, t):
        alpha = _drift_factor(spec, w, t)
    else:
        alpha = jnp.ones(())
    k = alpha * out_k
    ideal = x2 @ w
    dac_mean = (u * spec.x_max - x2) @ w if dac_on else jnp.zeros_like(ideal)
    mean = k * jnp.sum(q_mean, axis=1) - ideal
    var = k * k * jnp.sum(q_var + round_var, axis=1)
    out = ErrorPrediction(
        mean=mean.reshape(batch + (spec.cols,)),
        var=var.reshape(batch + (spec.cols,)),
        device_var=(k * k * jnp.sum(c_var, axis=1)).reshape(batch + (spec.cols,)),
        adc_var=(k * k * jnp.sum(round_var, axis=1)).reshape(batch + (spec.cols,)),
        dac_mean=jnp.asarray(dac_mean).reshape(batch + (spec.cols,)),
        clip_probability=p_clip.reshape(batch + (n_r, spec.cols)),
        adc_dither=dither.reshape(batch + (n_r, spec.cols)),
        worst_adc=jnp.broadcast_to(k * worst, batch + (spec.cols,)),
        drift_factor=alpha,
    )
    return out


def dac_error(spec: CrossbarSpec, weights):
    """The DAC's input-averaged error per column, weight units: ``(var, worst)`` with
    ``var = (Δ·x_max)²/12·Σᵢ Wᵢⱼ²`` (uniform rounding error, for inputs spread over many
    levels) and ``worst = Δ·x_max/2·Σᵢ|Wᵢⱼ|``; ``Δ = 1/(2^b − 1)`` (unsigned) or
    ``1/(2^(b−1) − 1)`` (signed). Zero without a DAC (``dac_bits=None``: spikes are exact)."""
    w = _check_spec_weights(spec, weights)
    if spec.dac_bits is None or not spec.effects.dac:
        z = jnp.zeros((spec.cols,), w.dtype)
        return z, z
    levels = 2 ** (spec.dac_bits - 1) - 1 if spec.signed_inputs else 2**spec.dac_bits - 1
    d = spec.x_max / levels
    return d * d / 12.0 * jnp.sum(w * w, axis=0), d / 2.0 * jnp.sum(jnp.abs(w), axis=0)


@pytree_dataclass
class IRDropPrediction:
    """The IR-drop error predicted by the expansion: `error` ``(..., cols)`` (weight
    units, deterministic), `epsilon` (the largest `expansion_epsilon` over the layer's
    physical tiles; the prediction of order n is accurate to about ``ε^(n+1)`` relative to
    the column currents, and fails for ``ε ≳ 1``)."""

    error: jax.Array
    epsilon: jax.Array


def ir_drop_error(spec: CrossbarSpec, weights, x, *, order: int = 1) -> IRDropPrediction:
    """Predict the error the wires add to an otherwise ideal read, ``mvm`` with the exact
    circuit minus ``Wᵀx``, from the `order`-th expansion in the wire resistance of the
    target conductances (`xbar.circuit.transfer_expansion`), every other effect off.

    `spec` gives the array and its wires (`r_row`, `r_col`, `r_source`, `r_sense`; its
    ``circuit`` field is ignored). First order is within 10 % of the exact error while
    ε ≲ 0.1 (the relative error of the prediction is about ε), second order to ε ≈ 0.3.
    """
    w = _check_spec_weights(spec, weights)
    x = check_inputs(spec, x)
    if order not in (1, 2):
        raise ValueError(f"order: expected 1 or 2, got {order!r}")
    ideal_eff = Effects.ideal()
    s = replace(spec, circuit=f"expansion{order}", effects=ideal_eff, selector=None)
    arr = program(fabricate(s, key=jax.random.key(0)), w, key=jax.random.key(0))  # noiseless: keys unused
    err = mvm(arr, x) - x @ w
    tiles = _physical_tiles(s, conductances(arr))
    eps = jnp.max(jnp.stack([_tile_eps(s, gp) for gp in tiles.values()]))
    return IRDropPrediction(error=err, epsilon=eps)


def _tile_eps(spec: CrossbarSpec, tiles):
    n_r, n_c = tiles.shape[:2]
    flat = tiles.reshape((n_r * n_c,) + tiles.shape[2:])
    eps = jax.vmap(
        lambda g: expansion_epsilon(g, r_row=spec.r_row, r_col=spec.r_col, r_source=spec.r_source, r_sense=spec.r_sense)
    )(flat)
    return jnp.max(eps)
