"""DAC and ADC quantizers with named straight-through estimators.

Both converters are uniform mid-tread quantizers:

* `dac(x, bits=b, x_max=m)` maps inputs to normalized drive levels. Unsigned inputs
  (the default; spikes, rates, pixel intensities) use ``2**b`` levels on ``[0, 1]``
  with step ``1/(2**b - 1)``; signed inputs use sign-magnitude with ``2**b - 1``
  levels on ``[-1, 1]`` and step ``1/(2**(b-1) - 1)`` (so ``b >= 2``). Inputs outside
  the range are clipped.
* `adc(i, bits=b, full_scale=f)` digitizes a signed differential current with
  ``2**b - 1`` codes ``-(2**(b-1) - 1) ... 2**(b-1) - 1`` on ``[-f, f]`` (step
  ``f/(2**(b-1) - 1)``, so ``b >= 2``), and returns the reconstructed value
  ``code * step`` in the input's units. Currents beyond ``±f`` clip.

Gradients pass by a straight-through estimator named by ``ste``:

* ``"clipped"`` (default): derivative 1 inside the range (its ends included), 0 where
  the input clips.
* ``"identity"``: derivative 1 everywhere (rounding and clipping both ignored).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._tree import is_concrete

__all__ = ["ste_round", "quantize", "dac", "adc", "adc_grid", "STE_NAMES"]

STE_NAMES = ("clipped", "identity")


def ste_round(x):
    """``round(x)`` in the forward pass, identity derivative in the backward pass."""
    return x + jax.lax.stop_gradient(jnp.round(x) - x)


def _check_ste(ste: str) -> None:
    if ste not in STE_NAMES:
        raise ValueError(f"ste: expected one of {STE_NAMES}, got {ste!r}")


def check_bits(bits, name: str, minimum: int = 1) -> int:
    """Validate a static bit count (Python int >= minimum)."""
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise TypeError(f"{name}: expected an int number of bits, got {type(bits).__name__} {bits!r}")
    if bits < minimum:
        raise ValueError(f"{name}: expected at least {minimum} bits, got {bits}")
    if bits > 24:
        raise ValueError(f"{name}: expected at most 24 bits (float32 resolution), got {bits}")
    return bits


def quantize(x, *, step, lo, hi, ste: str = "clipped"):
    """Round ``x`` to the grid ``k*step`` and clip to ``[lo, hi]`` (grid points).

    ``step``, ``lo`` and ``hi`` may be arrays broadcastable with ``x``.
    """
    _check_ste(ste)
    inv = 1.0 / step  # one division, not one per element
    if ste == "identity":
        q = jnp.clip(jnp.round(x * inv) * step, lo, hi)
        return x + jax.lax.stop_gradient(q - x)
    # derivative 1 on [lo, hi], 0 outside: a mask (jnp.clip's gradient splits ties
    # between min and max with two divisions per element)
    xc = jnp.where(x > hi, hi, jnp.where(x < lo, lo, x))
    return ste_round(xc * inv) * step


def dac(x, *, bits: int, x_max=1.0, signed: bool = False, ste: str = "clipped"):
    """Quantize inputs to normalized DAC levels (``[0, 1]``, or ``[-1, 1]`` if signed)."""
    u = x * (1.0 / x_max)
    if signed:
        check_bits(bits, "dac_bits", minimum=2)
        n = 2 ** (bits - 1) - 1
        return quantize(u, step=1.0 / n, lo=-1.0, hi=1.0, ste=ste)
    check_bits(bits, "dac_bits")
    n = 2**bits - 1
    return quantize(u, step=1.0 / n, lo=0.0, hi=1.0, ste=ste)


def adc_grid(*, bits, full_scale, dtype):
    """``(step, lo, hi)`` of the ADC: code step and the lowest and highest grid points
    (``∓(2**(bits-1) - 1)·step``, i.e. ``∓full_scale`` up to rounding)."""
    if is_concrete(bits):
        check_bits(bits, "adc_bits", minimum=2)
        n = 2 ** (bits - 1) - 1
    else:
        n = jnp.exp2(jnp.asarray(bits, dtype) - 1.0) - 1.0
    step = full_scale / n
    return step, -n * step, n * step


def adc(i, *, bits, full_scale, ste: str = "clipped"):
    """Digitize a signed value on ``[-full_scale, full_scale]`` with ``2**bits - 1`` codes.

    `bits` may be traced (an array leaf, e.g. swept under `vmap`): it changes no shape."""
    step, lo, hi = adc_grid(bits=bits, full_scale=full_scale, dtype=i.dtype)
    return quantize(i, step=step, lo=lo, hi=hi, ste=ste)
