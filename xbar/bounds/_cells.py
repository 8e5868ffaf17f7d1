"""Moments of one read of one freshly programmed cell, in closed form.

`cell_moments(device, g_target, t=..., effects=...)` gives the mean and variance [S, S²]
of the conductance that one read sees, ``t`` seconds after programming a fresh cell to
`g_target`, over every random draw of the device code: fabrication
(``device.fabricate``), programming (``device.program``), time
(``device.conductance``) and read noise (``device.read_std(...)·ξ``, added when
``effects.read_noise``). The formulas follow the code of each family line by line (the
window clip, ``max(g, 0)`` clips, the min/max of the fabricated window, level rounding);
where the code has no closed-form expectation, the expectation is a fixed Gauss–Legendre
quadrature over the Gaussian draw, split at every point where the integrand is not smooth,
so its error is at float precision (documented at `cell_moments`).

Structure (window families RRAM, PCM, floating gate): conditioned on the clipped target
``c = clip(g_target, lo, hi)``, every later stage has a closed form or a smooth 1-D integral;
``c`` itself is the target (an atom) or the lognormal window end that clips it (two
truncated lognormal parts), integrated by quadrature nodes ("scenarios"). Stuck and
worn-out cells read a window end; the mixture of working and stuck cells is combined by the
law of total variance. STT-MRAM devices are sums of independent MTJs, each a four-valued
state (written, flipped, stuck on, stuck off) times independent conductances: exact.
"""

from __future__ import annotations

import copy
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._effects import EFFECT_NAMES, Effects
from .._tree import is_concrete
from ..devices._base import Device
from ..devices._fg import FloatingGate
from ..devices._pcm import PCM
from ..devices._rram import RRAM
from ..devices._stt import STTMRAM

__all__ = ["cell_moments"]

_Z = 6.5  # standard-normal range of every quadrature (mass outside: 8e-11)
_N_D2D = 20  # Gauss–Legendre nodes per truncated lognormal window part
_N_WRITE = 24  # nodes over the write-noise draw (smooth integrand)
_N_SEGMENT = 20  # nodes per smooth segment of a piecewise integrand (PCM read noise)
_N_MTJ = 32  # nodes over an MTJ's resistance draw
_ALPHA_MAX = 40.0  # |mean/std| beyond which a rectified normal is exactly saturated in float
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_ALL_EFFECTS = Effects()
_UNIFORM_LEVELS = float(2**23)  # xbar._random.uniform: (j + 1/2)/2**23, j < 2**23


# ---------------------------------------------------------------------- validation
def _check_args(device, g_target, t, effects):
    if not isinstance(device, Device):
        raise TypeError(
            f"device: expected an xbar.devices.Device (RRAM, PCM, STTMRAM or FloatingGate, e.g. "
            f"xbar.devices.load('rram_hfox')), got {type(device).__name__}"
        )
    if not isinstance(effects, Effects):
        raise TypeError(f"effects: expected an xbar.Effects, got {type(effects).__name__} {effects!r}")
    if isinstance(g_target, (bool, np.bool_, int, np.integer)) or isinstance(g_target, str):
        raise TypeError(
            f"g_target: expected floating-point conductances [S], got {type(g_target).__name__} {g_target!r}"
        )
    try:
        g = jnp.asarray(g_target)
    except TypeError:
        raise TypeError(f"g_target: expected floating-point conductances [S], got {type(g_target).__name__}") from None
    if not jnp.issubdtype(g.dtype, jnp.floating):
        raise TypeError(f"g_target: expected floating-point conductances [S], got dtype {g.dtype}")
    if isinstance(t, (bool, np.bool_, str)):
        raise TypeError(f"t: expected a time >= 0 in seconds (a real number or array), got {type(t).__name__} {t!r}")
    try:
        t_arr = jnp.asarray(t)
    except TypeError:
        raise TypeError(f"t: expected a time >= 0 in seconds, got {type(t).__name__}") from None
    if not (jnp.issubdtype(t_arr.dtype, jnp.floating) or jnp.issubdtype(t_arr.dtype, jnp.integer)):
        raise TypeError(f"t: expected a time >= 0 in seconds, got dtype {t_arr.dtype}")
    if is_concrete(t) and not np.all(np.isfinite(np.asarray(t, dtype=float)) & (np.asarray(t, dtype=float) >= 0)):
        raise ValueError(f"t: expected a finite time >= 0 in seconds since programming, got {t!r}")
    try:
        shape = jnp.broadcast_shapes(g.shape, t_arr.shape)
    except ValueError:
        raise ValueError(
            f"t: expected a scalar or an array broadcastable to g_target's shape {g.shape}, got shape {t_arr.shape}"
        ) from None
    return g, t_arr, shape


# ---------------------------------------------------------------------- primitives
def _ndtr(x):
    """Standard normal CDF as one ``erfc`` (accurate in the lower tail, where it is small;
    `jax.scipy.special.ndtr` adds branches that cost compile time and gain nothing here)."""
    return 0.5 * jax.lax.erfc(x * -_INV_SQRT_2)


def _ndtr2(x):
    """``(Φ(x), Φ(−x))`` from one ``erfc`` of ``|x|``: the smaller of the two is exact to its
    relative precision, the larger is one minus it."""
    tail = 0.5 * jax.lax.erfc(jnp.abs(x) * _INV_SQRT_2)
    pos = x >= 0
    return jnp.where(pos, 1.0 - tail, tail), jnp.where(pos, tail, 1.0 - tail)


def _pdf(x):
    return jnp.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _safe(x, positive):
    """`x` where `positive`, else 1 (a denominator that keeps both `where` branches finite)."""
    return jnp.where(positive, x, 1.0)


def _rect(mu, s):
    """Mean and variance of ``max(mu + s·ξ, 0)``, ξ standard normal, s ≥ 0 (s = 0 allowed).

    With ``α = mu/s``: mean ``s·(αΦ(α) + φ(α))``, second moment ``s²((α²+1)Φ(α) + αφ(α))``.
    For α ≥ 0 both are written around the unclipped values (``mean = mu + s·δ``,
    ``δ = φ(α) − αΦ(−α)``, ``var = s²(1 + (α²−1)Φ(−α) − αφ(α) − δ²)``) so that float32
    does not cancel ``α²`` against ``α²``."""
    pos = s > 0
    s_ = _safe(s, pos)
    a = jnp.clip(mu / s_, -_ALPHA_MAX, _ALPHA_MAX)
    pdf, (up, lo) = _pdf(a), _ndtr2(a)
    delta = pdf - a * lo
    var_hi = 1.0 + (a * a - 1.0) * lo - a * pdf - delta * delta
    m_lo = a * up + pdf
    var_lo = (a * a + 1.0) * up + a * pdf - m_lo * m_lo
    above = a >= 0
    mean = jnp.where(above, mu + s * delta, s * m_lo)
    var = s * s * jnp.maximum(jnp.where(above, var_hi, var_lo), 0.0)
    return jnp.where(pos, mean, jnp.maximum(mu, 0.0)), jnp.where(pos, var, 0.0)


_GL = {n: np.polynomial.legendre.leggauss(n) for n in (_N_D2D, _N_WRITE, _N_SEGMENT, _N_MTJ)}


def _normal_nodes(a, b, n):
    """Gauss–Legendre nodes ``z`` and weights ``w·φ(z)`` of ``∫_a^b f(z)φ(z)dz`` (a ≤ b,
    arrays of any shape; a trailing axis of n nodes is added)."""
    x, w = _GL[n]
    dtype = jnp.result_type(a, b)
    x, w = jnp.asarray(x, dtype), jnp.asarray(w, dtype)
    half = 0.5 * (b - a)[..., None]
    z = 0.5 * (a + b)[..., None] + half * x
    return z, half * w * _pdf(z)


def _normalize(w, mass):
    """Scale quadrature weights (last axis) to sum to the exact probability `mass`."""
    total = jnp.sum(w, axis=-1, keepdims=True)
    return w * (mass[..., None] / _safe(total, total > 0))


def _write_nodes(c, s, n, breaks=()):
    """Quadrature of ``E[h(max(c + s·ξ, 0))]`` for smooth `h`: ``(y, w, p0)`` with nodes
    ``y = c + s·ξ > 0`` (last axis), weights summing to ``P(c + s·ξ > 0) = Φ(c/s)`` and
    ``p0 = Φ(−c/s)``, the atom at ``y = 0``; so ``E[h] = p0·h(0) + Σ w·h(y)``. The ξ range
    ``(−c/s, Z)`` is split at the conductances `breaks` (where `h` is not smooth) into
    segments of `n` nodes each. ``s = 0`` gives nodes at ``y = c`` with total weight 1."""
    pos = s > 0
    s_ = _safe(s, pos)
    alpha = jnp.where(pos, jnp.clip(c / s_, -1e4, 1e4), 1e4)
    lower = jnp.clip(-alpha, -_Z, _Z)
    upper = jnp.full_like(lower, _Z)
    if breaks:
        inner = [jnp.clip((jnp.broadcast_to(b, c.shape) - c) / s_, lower, upper) for b in breaks]
        inner = jnp.sort(jnp.stack(inner, axis=-1), axis=-1)
        edges = jnp.concatenate([lower[..., None], inner, upper[..., None]], axis=-1)
    else:
        edges = jnp.stack([lower, upper], axis=-1)
    zs, ws = _normal_nodes(edges[..., :-1], edges[..., 1:], n)  # (..., segments, n)
    z = zs.reshape(zs.shape[:-2] + (-1,))
    w = ws.reshape(ws.shape[:-2] + (-1,))
    p_pos, p_zero = _ndtr2(alpha)
    w = _normalize(w, p_pos)
    y = jnp.maximum(c[..., None] + s[..., None] * z, 0.0)
    return y, w, p_zero


def _collapse(w, mean, var):
    """Total mean and variance of a mixture over the last axis (weights `w` summing to 1):
    ``Σw·m`` and ``Σw·(v + (m − m̄)²)``."""
    m = jnp.sum(w * mean, axis=-1)
    v = jnp.sum(w * (var + (mean - m[..., None]) ** 2), axis=-1)
    return m, v


# ---------------------------------------------------------------------- the window
def _z_of(g, m, sigma, pos, below_inf):
    """``ln(g/m)/σ`` where σ > 0; for σ = 0 (or d2d off) ``−inf`` where `below_inf` else
    ``+inf`` (the limit that gives the right step)."""
    gpos = g > 0
    z = jnp.log(_safe(g, gpos) / m) / _safe(sigma, pos)
    z = jnp.where(gpos, z, -jnp.inf)
    return jnp.where(pos, z, jnp.where(below_inf, -jnp.inf, jnp.inf))


def _window(device, g, on):
    """The clipped target ``c = clip(g, lo, hi)`` as scenarios along a new last axis.

    With d2d on, ``L = g_min·e^(σZ₁)``, ``H = g_max·e^(σZ₂)`` and ``lo, hi = min, max(L, H)``;
    neglecting ``P(L > H) = Φ(−ln(g_max/g_min)/(σ√2))`` (1e-232 for rram_hfox, 0 for
    σ = 0), ``lo = L``, ``hi = H`` and the code's ``where(g > hi, hi, where(g < lo, lo, g))``
    gives three regions: ``H < g`` (c = H), ``H ≥ g, L > g`` (c = L), else c = g. The two
    lognormal parts are integrated by Gauss–Legendre over Z (weights renormalized to the
    exact region masses), the atom is exact. Returns a dict with ``w``, ``c`` and the
    joint partial moments ``whi2 = w·E[hi²|scenario]``, ``wlo2`` (for read noise that
    couples a stuck cell's value with its programmed state), and the marginal mean and
    variance of ``lo`` and ``hi``. d2d off is σ = 0: the nominal window, c the clipped target."""
    g_min, g_max = device.g_min, device.g_max
    sigma = device.d2d_sigma * on["d2d"]
    pos = sigma > 0
    z_h = _z_of(g, g_max, sigma, pos, below_inf=g <= g_max)  # H < g  <=>  Z₂ < z_h
    z_l = _z_of(g, g_min, sigma, pos, below_inf=g < g_min)  # L > g  <=>  Z₁ > z_l
    p_h_below, p_h_above = _ndtr2(z_h)  # P(H < g), P(H ≥ g)
    p_l_below, p_l_above = _ndtr2(z_l)  # P(L ≤ g), P(L > g)
    # partial second moments E[X²; X ≥ c] and E[X²; X ≤ c] of X = m·e^(σZ)
    e2 = jnp.exp(2.0 * sigma**2)
    hi2_above = g_max**2 * e2 * _ndtr(2.0 * sigma - z_h)
    lo2_below = g_min**2 * e2 * _ndtr(z_l - 2.0 * sigma)
    lo2_all = g_min**2 * e2
    # region H < g: c = H, nodes over Z₂ in (−Z, z_h)
    zh, wh = _normal_nodes(jnp.full_like(g, -_Z), jnp.clip(z_h, -_Z, _Z), _N_D2D)
    wh = _normalize(wh, p_h_below)
    h_nodes = g_max * jnp.exp(sigma * zh)
    # region H ≥ g, L > g: c = L, nodes over Z₁ in (z_l, Z)
    zl, ul = _normal_nodes(jnp.clip(z_l, -_Z, _Z), jnp.full_like(g, _Z), _N_D2D)
    ul = _normalize(ul, p_l_above)
    l_nodes = g_min * jnp.exp(sigma * zl)
    wl = p_h_above[..., None] * ul
    w0 = (p_h_above * p_l_below)[..., None]
    c = jnp.concatenate([g[..., None], h_nodes, l_nodes], axis=-1)
    w = jnp.concatenate([w0, wh, wl], axis=-1)
    whi2 = jnp.concatenate([(p_l_below * hi2_above)[..., None], wh * h_nodes**2, ul * hi2_above[..., None]], axis=-1)
    wlo2 = jnp.concatenate([(p_h_above * lo2_below)[..., None], wh * lo2_all, wl * l_nodes**2], axis=-1)
    es = jnp.exp(0.5 * sigma**2)
    var_factor = jnp.exp(sigma**2) * jnp.expm1(sigma**2)
    return {
        "w": w,
        "c": c,
        "whi2": whi2,
        "wlo2": wlo2,
        "hi": (g_max * es, g_max**2 * var_factor),
        "lo": (g_min * es, g_min**2 * var_factor),
    }


def _below(p):
    """``P(u < p)`` for the sampler's uniforms ``u = (j + ½)/2²³`` (`xbar._random.uniform`):
    ``ceil(2²³p − ½)/2²³``, the probability the code's threshold draws (stuck codes, wear,
    write errors, flips) really have; the gradient is that of `p` (straight through)."""
    p = jnp.asarray(p)
    levels = jnp.clip(jnp.ceil(p * _UNIFORM_LEVELS - 0.5), 0.0, _UNIFORM_LEVELS) / _UNIFORM_LEVELS
    return p + jax.lax.stop_gradient(levels - p)


def _thresholds(device, on):
    """Probabilities of the stuck states drawn from uniforms: ``(p_on, p_off, q, pe)``, the
    as-fabricated stuck-on / stuck-off codes, the wear failure at the first write cycle and
    a failed cell's chance to be stuck on (each 0 when its effect is off)."""
    p_on = _below(device.p_stuck_on)
    p_off = (_below(device.p_stuck_on + device.p_stuck_off) - p_on) * on["stuck"]
    q = _below(device.failure_probability(1.0)) * on["wear"]
    return p_on * on["stuck"], p_off, q, _below(device.endurance_p_on)


def _mix(device, on, working, stuck_on, stuck_off):
    """Mean and variance of the read over working, stuck-on and stuck-off cells (each a
    ``(mean, var)`` pair, independent of the stuck draw). As-fabricated stuck cells
    (`Effects.stuck`) and, with `Effects.wear`, cells worn out at their first write cycle
    (Weibull ``failure_probability(1)``, stuck on with `endurance_p_on`) read the window
    ends; at one cycle the wear window factor is 1 whenever ``wear_n_th ≥ 1`` (every card),
    so the worn window is the window."""
    p_on, p_off, q, pe = _thresholds(device, on)
    probs = ((1.0 - q) * (1.0 - p_on - p_off), (1.0 - q) * p_on + q * pe, (1.0 - q) * p_off + q * (1.0 - pe))
    parts = (working, stuck_on, stuck_off)
    mean = sum(p * m for p, (m, _) in zip(probs, parts))
    var = sum(p * (v + (m - mean) ** 2) for p, (m, v) in zip(probs, parts))
    return mean, var


# ---------------------------------------------------------------------- RRAM
def _rram(device: RRAM, g, t, on):
    win = _window(device, g, on)
    c = win["c"]
    s = device.prog_sigma(c) * on["write_noise"]
    r = jnp.broadcast_to(device.relax_sigma(t)[..., None] * on["drift"], c.shape)
    mean, var = _rram_relaxed(c, s, r)
    mean_w, var_w = _collapse(win["w"], mean, var)
    read = device.read_sigma**2 * on["read_noise"]
    (m_hi, v_hi), (m_lo, v_lo) = win["hi"], win["lo"]
    return _mix(device, on, (mean_w, var_w + read), (m_hi, v_hi + read), (m_lo, v_lo + read))


def _rram_relaxed(c, s, r):
    """``W = max(max(c + s·ξ, 0) + r·z, 0)``: given the programmed ``y = max(c + s·ξ, 0)``, W is
    a rectified normal (closed form); the expectation over ξ is the quadrature of
    `_write_nodes` (the atom y = 0 exact). ``r = 0`` (t = 0, drift off) is the rectified
    normal of the write, ``s = 0`` (write noise off) that of the relaxation."""
    y, w, p0 = _write_nodes(c, s, _N_WRITE)
    rn = r[..., None]
    m_y, v_y = _rect(y, rn)
    m_0, v_0 = _rect(jnp.zeros_like(r), r)
    mean = p0 * m_0 + jnp.sum(w * m_y, axis=-1)
    second = p0 * (v_0 + (m_0 - c) ** 2) + jnp.sum(w * (v_y + (m_y - c[..., None]) ** 2), axis=-1)
    var = jnp.maximum(second - (mean - c) ** 2, 0.0)
    m_s, v_s = _rect(c, s)
    return jnp.where(r > 0, mean, m_s), jnp.where(r > 0, var, v_s)


# ---------------------------------------------------------------------- PCM
def _pcm(device: PCM, g, t, on):
    win = _window(device, g, on)
    c = win["c"]
    s = device.prog_sigma(c) * on["write_noise"]
    g_mean, g_var = _rect(c, s)  # G_prog = max(c + σ_prog(c)·ξ, 0)
    tn = t[..., None]
    # the read std's time factor uses t whether or not drift is on, as `PCM.read_std` does
    scale2 = jnp.log((tn + device.drift_t0 + device.t_read) / (2.0 * device.t_read)) * on["read_noise"]
    q2, g2q2 = _pcm_q_moments(device, c, s)
    mu, sd = device.nu_stats(c)
    d_mean, d_var = _drift_moments(mu, sd, jnp.log1p(tn / device.drift_t0) * on["drift"])
    d2 = d_mean**2 + d_var
    # G = G_prog·D·(1 + Q_s(G_prog)·scale·ζ), G_prog, D, ζ independent given c
    mean = g_mean * d_mean
    var = d2 * (g_var + scale2 * g2q2) + g_mean**2 * d_var
    mean_w, var_w = _collapse(win["w"], mean, var)
    # stuck cells read a window end; their read std is end·Q_s(G_prog)·scale
    read_hi = jnp.sum(win["whi2"] * scale2 * q2, axis=-1)
    read_lo = jnp.sum(win["wlo2"] * scale2 * q2, axis=-1)
    (m_hi, v_hi), (m_lo, v_lo) = win["hi"], win["lo"]
    return _mix(device, on, (mean_w, var_w), (m_hi, v_hi + read_hi), (m_lo, v_lo + read_lo))


def _pcm_q_moments(device: PCM, c, s):
    """``E[Q_s(G_prog)²]`` and ``E[G_prog²·Q_s(G_prog)²]`` with ``G_prog = max(c + s·ξ, 0)``:
    quadrature split where `PCM.q_s` changes branch (the x-floor, the cap at `read_q_max`,
    `read_q_x_split`), the atom G_prog = 0 exact; ``s = 0`` gives ``G_prog = c``."""
    g_max = device.g_max
    breaks = (
        g_max * device.read_x_floor ** (1.0 / device.read_q_exp),
        g_max * (device.read_q0 / device.read_q_max) ** (1.0 / device.read_q_exp),
        g_max * device.read_q_x_split,
    )
    y, w, p0 = _write_nodes(c, s, _N_SEGMENT, breaks)
    qy2 = device.q_s(y) ** 2
    q2 = p0 * device.q_s(jnp.zeros_like(c)) ** 2 + jnp.sum(w * qy2, axis=-1)
    return q2, jnp.sum(w * y * y * qy2, axis=-1)


def _drift_moments(mu, sd, log_t):
    """Mean and variance of ``D = ((t + t0)/t0)^(−ν)`` for the folded normal ``ν = |μ + σξ|``:
    ``E[D^k] = e^(−aμ + a²σ²/2)·[Φ(μ/σ − aσ) + e^(2aμ)·Φ(−μ/σ − aσ)]`` with ``a = k·ln(1 + t/t0)``
    (exact), the variance as ``E[D]²·expm1(…)`` so that it does not cancel at small t."""
    sd = jnp.abs(sd)
    pos = sd > 0
    sd_ = _safe(sd, pos)
    ratio = jnp.clip(mu / sd_, -1e4, 1e4)

    def log_bracket(k):  # ln[Φ(μ/σ − aσ) + e^(2aμ)Φ(−μ/σ − aσ)], accurate near 0
        a = k * log_t
        tail = jnp.exp(2.0 * a * mu) * _ndtr(-ratio - a * sd_)
        head, head_c = _ndtr2(ratio - a * sd_)
        b = tail - head_c  # the bracket − 1, without cancellation
        direct = jnp.log(jnp.maximum(head + tail, jnp.finfo(head.dtype).tiny))
        return jnp.where(b > -0.5, jnp.log1p(jnp.maximum(b, -0.5)), direct)

    l1, l2 = log_bracket(1.0), log_bracket(2.0)
    log_mean = -log_t * mu + 0.5 * (log_t * sd_) ** 2 + l1
    mean = jnp.exp(log_mean)
    var = mean**2 * jnp.expm1((log_t * sd_) ** 2 + l2 - 2.0 * l1)
    mean0 = jnp.exp(-log_t * jnp.abs(mu))
    return jnp.where(pos, mean, mean0), jnp.where(pos, jnp.maximum(var, 0.0), 0.0)


# ---------------------------------------------------------------------- floating gate
def _fg(device: FloatingGate, g, t, on):
    win = _window(device, g, on)
    c = win["c"]
    s = c * device.prog_sigma_rel * on["write_noise"]
    g_mean, g_var = _rect(c, s)  # G_prog = max(c·(1 + p·ξ), 0)
    ret = jnp.broadcast_to(device.retention_factor(t * on["drift"])[..., None], c.shape)
    amp2 = (device.read_noise_a / device.v_read) ** 2 * on["read_noise"]
    mean = ret * g_mean  # read std (a/v)(1 − exp(−|G_prog·R|·v/b)):
    var = ret**2 * g_var + amp2 * _fg_read2(c, s, ret * (device.v_read / device.read_noise_b))
    mean_w, var_w = _collapse(win["w"], mean, var)
    parts = [(m, v + amp2 * _fg_end_read2(device, end, on)) for end, (m, v) in (("hi", win["hi"]), ("lo", win["lo"]))]
    return _mix(device, on, (mean_w, var_w), parts[0], parts[1])


def _fg_read2(c, s, lam):
    """``E[(1 − e^(−λY))²]`` for ``Y = max(c + s·ξ, 0)``, exact:
    ``E[e^(−aY)] = Φ(−α) + e^(−ac + a²s²/2)Φ(α − as)``, α = c/s, each written as its
    difference from 1 (``T_a``) so that ``T_2λ − 2T_λ`` keeps its precision at small λc."""
    pos = s > 0
    s_ = _safe(s, pos)
    alpha = jnp.where(pos, jnp.clip(c / s_, -_ALPHA_MAX, _ALPHA_MAX), _ALPHA_MAX)

    def t_minus_one(k):
        a = k * lam
        b = alpha - a * s
        # Φ(α) − Φ(α − as), from the tails that are small
        dphi = jnp.where(b > 0, _ndtr(-b) - _ndtr(-alpha), _ndtr(alpha) - _ndtr(b))
        return jnp.expm1(-a * c + 0.5 * (a * s) ** 2) * _ndtr(b) - dphi

    return jnp.maximum(t_minus_one(2.0) - 2.0 * t_minus_one(1.0), 0.0)


def _fg_end_read2(device: FloatingGate, end, on):
    """``E[(1 − e^(−X·v/b))²]`` for a window end X (lognormal with d2d): Gauss–Legendre over Z."""
    nominal = device.g_max if end == "hi" else device.g_min
    lam = device.v_read / device.read_noise_b
    z, w = _normal_nodes(jnp.asarray(-_Z), jnp.asarray(_Z), _N_WRITE)
    w = w / jnp.sum(w)
    x = nominal * jnp.exp(device.d2d_sigma * on["d2d"] * z)
    return jnp.sum(w * jnp.expm1(-x * lam) ** 2)


# ---------------------------------------------------------------------- STT-MRAM
def _stt(device: STTMRAM, g, t, on):
    k = device.mtjs_per_device
    dtype = g.dtype
    f = jnp.clip((g - device.g_min) / (device.g_max - device.g_min), 0.0, 1.0)
    # with levels, MTJ i is written parallel iff i < round(f·k); gradient straight through
    n = jnp.round(jax.lax.stop_gradient(f) * k)
    s_disc = (jnp.arange(k, dtype=dtype) < n[..., None]).astype(dtype)
    s0 = jnp.broadcast_to(f[..., None], f.shape + (k,))
    s0 = s0 + jax.lax.stop_gradient(jnp.where(on["levels"] > 0, s_disc, s0) - s0)
    e = _below(device.write_error_rate) * on["write_noise"]
    pf = (_below(device.flip_probability(t)) * on["drift"])[..., None]
    flipped = e + pf - 2.0 * e * pf  # odd number of (write error, thermal flip): 1 − s0
    p_on, p_off, q, pe = _thresholds(device, on)
    works = (1.0 - q) * (1.0 - p_on - p_off)
    states = (s0, 1.0 - s0, jnp.ones_like(s0), jnp.zeros_like(s0))
    probs = (works * (1.0 - flipped), works * flipped, (1.0 - q) * p_on + q * pe, (1.0 - q) * p_off + q * (1.0 - pe))
    # each MTJ's parallel / antiparallel conductance: r·max(1 + σξ, 0.05) inverted
    gp_m, gp_v = _mtj_conductance(device.g_p, device.d2d_sigma * on["d2d"])
    gap_m, gap_v = _mtj_conductance(device.g_ap, device.d2d_sigma * on["d2d"])
    # the worn window at one cycle: both conductances move to the middle by factor w
    w = jnp.maximum(1.0 - device.wear_window_beta * device.wear_decades(1.0), 0.0)
    w = jnp.where(on["wear"] > 0, w, 1.0)
    a, b = 0.5 * (1.0 + w), 0.5 * (1.0 - w)
    means, vars_ = [], []
    for sv in states:  # G_mtj = A·g_p + B·g_ap, g_p and g_ap independent
        coef_p = (1.0 - sv) * b + sv * a
        coef_ap = (1.0 - sv) * a + sv * b
        means.append(coef_p * gp_m + coef_ap * gap_m)
        vars_.append(coef_p**2 * gp_v + coef_ap**2 * gap_v)
    m_mtj = sum(p * m for p, m in zip(probs, means))
    v_mtj = sum(p * (v + (m - m_mtj) ** 2) for p, m, v in zip(probs, means, vars_))
    mean = jnp.sum(m_mtj, axis=-1)
    var = jnp.sum(v_mtj, axis=-1)  # the MTJs are independent
    var = var + (device.read_sigma_rel**2 * on["read_noise"]) * (var + mean**2)  # σ = read_sigma_rel·|G|
    return mean, var


def _mtj_conductance(g_nominal, sigma):
    """Mean and variance of ``g_nominal / max(1 + σξ, 0.05)``: the clip's atom exact, the
    rest by Gauss–Legendre over ξ > −0.95/σ (σ = 0: d2d off)."""
    pos = sigma > 0
    z_c = jnp.where(pos, -0.95 / _safe(sigma, pos), -jnp.inf)
    p_clip = _ndtr(z_c)
    z, w = _normal_nodes(jnp.clip(z_c, -_Z, _Z), jnp.asarray(_Z, z_c.dtype), _N_MTJ)
    w = _normalize(w, 1.0 - p_clip)
    dev = -sigma * z / (1.0 + sigma * z)  # 1/(1 + σz) − 1: exactly 0 without spread
    m = p_clip * 19.0 + jnp.sum(w * dev, axis=-1)
    v = p_clip * (19.0 - m) ** 2 + jnp.sum(w * (dev - m[..., None]) ** 2, axis=-1)
    return g_nominal * (1.0 + m), g_nominal**2 * v


# ---------------------------------------------------------------------- entry point
_FAMILIES = {"rram": (RRAM, _rram), "pcm": (PCM, _pcm), "fg": (FloatingGate, _fg), "stt": (STTMRAM, _stt)}


def cell_moments(device: Device, g_target, *, t=0.0, effects: Effects = _ALL_EFFECTS):
    """Mean and variance of one read of a freshly programmed cell, in closed form.

    **Arguments:**

    - `device`: a cell model (`xbar.devices.load(name)`): RRAM, PCM, STTMRAM or FloatingGate.
    - `g_target`: programming targets [S], a floating-point array of any shape.
    - `t`: time since programming [s], ≥ 0: a number or an array broadcastable to `g_target`.
    - `effects`: which effects are on (`xbar.Effects`); an effect that is off contributes
      nothing. `dac`, `adc` and `levels` (except on STT-MRAM) do not act on a cell.

    **Returns:** ``(mean, var)`` [S, S²], of the broadcast shape of `g_target` and `t`: the
    moments of ``G = device.conductance(fab, state, t) + device.read_std(...)·ξ`` (ξ only with
    `effects.read_noise`) over fabrication, programming (one write cycle: wear enters only as
    the Weibull probability of failing at the first cycle), time and read noise, for
    ``fab = device.fabricate(...)``, ``state = device.program(fab, g_target, ...)``.

    **Model, per family** (c = the target clipped to the cell's window, ξ, ζ standard normals):

    - RRAM: ``max(max(c + σ_prog(c)ξ, 0) + σ_rel(t)ζ, 0)``, read std `read_sigma`. Exact at
      t = 0 (rectified normal); for t > 0 the expectation over ξ is a quadrature of the
      exact rectified normal in ζ (both clips kept: at g_min, ``P(c + σ_prog ξ < 0)`` ≈ 1.4 %
      on rram_hfox and the relaxed value is clipped for ≈ 15 % of cells at one day).
    - PCM: ``G_prog·D·(1 + Q_s(G_prog)·s(t)·ζ)`` with ``G_prog = max(c + σ_prog(c)ξ, 0)``
      (exact rectified normal), ``D = ((t + t0)/t0)^(−ν)``, ν = |μ_ν(c) + σ_ν(c)ξ'| folded normal
      (exact: ``E[D^k]`` in closed form), the read term ``E[G_prog²Q_s(G_prog)²]`` by
      quadrature split at the branch points of `PCM.q_s`; stuck cells read their window end
      with std ``end·Q_s(G_prog)·s(t)``, as the code does.
    - STT-MRAM: exact. Each MTJ ends written (s0), flipped by an odd number of write error /
      thermal flip, or stuck; its P and AP conductances are independent, their d2d moments
      (``1/(r·max(1 + σξ, 0.05))``) by quadrature (relative error < 1e-6 for σ ≤ 0.3, the
      card has 0.04); the device sums k independent MTJs; read
      std `read_sigma_rel`·|G|. Levels round as the code does, with its straight-through
      gradient.
    - Floating gate: ``max(c(1 + pξ), 0)·R(t)`` exact, read variance
      ``(a/v)²E[(1 − e^(−|G|v/b))²]`` exact for working cells and by quadrature over the
      lognormal window end for stuck ones.

    The fabricated window ``lo, hi = min, max(g_min·e^(σZ₁), g_max·e^(σZ₂))`` is taken
    without its swap, i.e. neglecting ``P(L > H) = Φ(−ln(g_max/g_min)/(σ√2))`` (below
    1e-200 on every card; 0 without d2d); the distribution of ``c`` is then an atom at the
    target and two truncated lognormals, integrated by Gauss–Legendre quadrature.
    Every quadrature in this module runs over a standard normal on ``[−6.5, 6.5]`` (mass
    outside 8e-11) with ≥ 20 nodes per smooth segment, weights renormalized to the exact
    probability masses: its relative error is below 1e-6, float32 rounding dominates.
    Probabilities that the code draws as ``uniform < p`` (stuck codes, wear failure, STT
    write errors and thermal flips) are counted on the sampler's grid of uniforms
    ``(j + ½)/2²³`` (`xbar._random.uniform`), as the code realizes them (e.g. a write error
    rate of 1e-6 is 8/2²³ = 9.54e-7), with the gradient of the unrounded probability.
    Wear at the first write cycle: the Weibull failure probability
    ``1 − exp(−(1/endurance_n63)^k)`` is below the first grid level (6e-8) on every card
    (fg_flash: 3.2e-8, the largest), so wear is inactive there, as in the code; where it is
    not, failed cells read the window end, the window factor at one cycle taken as 1 (exact
    for ``wear_n_th ≥ 1``) for RRAM, PCM and FG, and exactly on STT-MRAM.

    Works under `jit` (`g_target` and `t` may be traced; `effects` is a Python object, so
    close over it or mark it static) and `vmap`, and is differentiable in `g_target`
    (STT-MRAM: through the straight-through level rounding of `program`, and ½ at the window
    ends, as `jnp.clip` in the code). It runs compiled, once per family, shape and dtype:
    switching effects or cards of a family does not recompile.
    """
    g, t_arr, shape = _check_args(device, g_target, t, effects)
    family = getattr(device, "family", None)
    if family not in _FAMILIES or not isinstance(device, _FAMILIES[family][0]):
        raise NotImplementedError(
            f"cell_moments: no closed form for device family {family!r} ({type(device).__name__}); "
            f"known families: {sorted(_FAMILIES)}"
        )
    on = {name: jnp.asarray(getattr(effects, name), g.dtype) for name in EFFECT_NAMES}
    # the card name is static pytree data that nothing here reads: one compiled graph per family
    anonymous = copy.copy(device)
    object.__setattr__(anonymous, "name", family)
    return _moments(anonymous, jnp.broadcast_to(g, shape), jnp.broadcast_to(t_arr.astype(g.dtype), shape), on)


# Compiled once per device structure, shapes and dtype (inlined when the caller is jitted):
# eagerly, its few hundred small array operations would each be compiled for every new shape,
# and their gradients too. The effects enter as 0/1 arrays (an effect off is its parameter at
# zero: σ_d2d, σ_prog, t in the drift laws, the stuck and wear probabilities, the read std), so
# switching effects does not recompile.
@jax.jit
def _moments(device, g, t, on):
    mean, var = _FAMILIES[device.family][1](device, g, t, on)
    return jnp.broadcast_to(mean, g.shape).astype(g.dtype), jnp.broadcast_to(var, g.shape).astype(g.dtype)
