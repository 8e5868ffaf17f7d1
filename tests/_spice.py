"""A small ngspice harness for the crossbar circuit of `xbar.circuit.solve` (tests only).

`ngspice_currents` writes the array as a SPICE netlist, runs ``ngspice -b`` on it and
returns the column output currents, so the JAX solver (and the scipy references) can be
checked against an independent circuit simulator. Keep arrays small (at most about
16 × 16): the netlist has ``4·M·N`` elements (``5·M·N`` with a series selector) and one run
should take well under a second.

Cells: a resistor of ``1/g`` ohms (``selector=None``); the 1S1R element, a behavioural
current source ``B… u w I = g·v0·sinh(V(u, w)/v0)`` (a selector with ``v0``); or a
resistor ``1/g`` from ``u`` to the internal node ``n{i}_{j}`` in series with the selector
``B… n w I = g0·v0·sinh(V(n, w)/v0)`` (a selector with ``v0`` and ``g0``). A B source's
current flows from its first node through the source to its second, so each of these
conducts from the row wire to the column wire when ``V(u) > V(w)``.

Node names: ``u{i}_{j}`` is the row wire at cell (i, j), ``w{i}_{j}`` the column wire,
``d{i}`` the terminal of row i (its driver, or the unselected-row bias), ``s{j}`` (and
``t{j}`` for ``sense="both"``) the terminal node(s) of column j. Each column terminal is
held at its voltage (0 V for a sensed/selected column) by a source ``VS{j}`` (``VT{j}``)
from the terminal node to ground, which serves as the ammeter: SPICE reports the current
through a voltage source flowing into its + terminal, through the source, and out of its
− terminal, so with + on the terminal node ``i(VS{j})`` is the current flowing from the
column wire into its terminal, ``(w_end − V_terminal)/(r_col + r_sense)`` (checked against
`xbar.circuit.reference_solve` in ``tests/test_circuit_solve.py``). A floating line has
no terminal at all, and its output current is 0.

Lines and cells that carry no current and have no path to any terminal (the unselected
rows of a 1T1R array under ``unselected="float"``; the internal nodes of cells that are
off) are left out of the deck, since SPICE cannot solve for a node with no DC path to
ground; their voltages come back as NaN from `ngspice_solve`.

Convergence: ``.options reltol=1e-10 abstol=1e-16 vntol=1e-13`` (`OPTIONS`). SPICE's
defaults (1e-3/1e-12/1e-6) leave errors up to ~1e-7 here; 1e-12/1e-18/1e-15 makes ngspice
fail to converge on sinh arrays (the iterates stall at the rounding floor). With these,
node voltages agree with the scipy Newton reference
(`xbar.circuit._reference.reference_solve_nonlinear`) to ~1e-10 of the drive voltage,
but the printed source currents only to ~1e-9 relative: a terminal current is
``(w_end − V_terminal)/(r_col + r_sense)`` inside SPICE's equations, a difference of two
nearly equal voltages when the terminal sits at v/2 or 2v/3, so it carries ~1e-16/1e-7
relative rounding. Summing the cell currents of each column from ngspice's node voltages
(KCL) agrees to ~1e-12 (``tests/test_circuit_passive.py``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["ngspice_available", "netlist", "ngspice_currents", "ngspice_solve", "OPTIONS"]

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
OPTIONS = ".options reltol=1e-10 abstol=1e-16 vntol=1e-13 itl1=1000 noacct"
_LEVELS = {"float": None, "ground": (0.0, 0.0), "v/2": (0.5, 0.5), "v/3": (1.0 / 3.0, 2.0 / 3.0)}


def ngspice_available() -> bool:
    return shutil.which("ngspice") is not None


def _r(x: float) -> str:
    return f"{float(x):.17g}"


def _selector(selector):
    """``(kind, v0, g0)``, duck-typed like the scipy reference: ``None`` → linear; an
    object with ``v0`` → sinh; with ``v0`` and ``g0`` → sinh selector in series."""
    if selector is None:
        return "linear", None, None
    v0 = float(np.asarray(selector.v0))
    g0 = getattr(selector, "g0", None)
    return ("sinh", v0, None) if g0 is None else ("series", v0, float(np.asarray(g0)))


def _elements(
    g,
    v,
    *,
    r_row,
    r_col,
    r_source,
    r_sense,
    drive,
    sense,
    access,
    selector,
    select,
    unselected,
):
    """Element lines as ``(node_a, node_b, text)`` (``node_b`` "0" for sources)."""
    m, n = g.shape
    kind, v0, g0 = _selector(selector)
    r_drive = r_source + r_row
    r_out = r_col + r_sense
    els = []
    if select is None:
        v = np.asarray(v, dtype=float)
        if v.shape != (m,):
            raise ValueError(f"v: expected shape ({m},), got {v.shape}")
        row_v = {i: float(v[i]) for i in range(m)}
        col_v = {j: 0.0 for j in range(n)}
        on = np.ones((m, n), bool)
    else:
        si, sj = select
        vs = float(v)
        if unselected not in _LEVELS:
            raise ValueError(f"unselected: expected one of {tuple(_LEVELS)}, got {unselected!r}")
        lv = _LEVELS[unselected]
        row_v = {i: vs if i == si else lv[0] * vs for i in range(m) if i == si or lv is not None}
        col_v = {j: 0.0 if j == sj else lv[1] * vs for j in range(n) if j == sj or lv is not None}
        on = np.ones((m, n), bool)
        if access == "1t1r":
            on[:] = False
            on[si] = True
    for i, vi in row_v.items():
        els.append((f"d{i}", "0", f"V{i} d{i} 0 DC {_r(vi)}"))
        els.append((f"d{i}", f"u{i}_0", f"RDA{i} d{i} u{i}_0 {_r(r_drive)}"))
        if drive == "both":
            els.append((f"d{i}", f"u{i}_{n - 1}", f"RDB{i} d{i} u{i}_{n - 1} {_r(r_drive)}"))
    for j, vj in col_v.items():
        els.append((f"w{m - 1}_{j}", f"s{j}", f"RSA{j} w{m - 1}_{j} s{j} {_r(r_out)}"))
        els.append((f"s{j}", "0", f"VS{j} s{j} 0 DC {_r(vj)}"))
        if sense == "both":
            els.append((f"w0_{j}", f"t{j}", f"RSB{j} w0_{j} t{j} {_r(r_out)}"))
            els.append((f"t{j}", "0", f"VT{j} t{j} 0 DC {_r(vj)}"))
    for i in range(m):
        for j in range(n - 1):
            els.append((f"u{i}_{j}", f"u{i}_{j + 1}", f"RR{i}_{j} u{i}_{j} u{i}_{j + 1} {_r(r_row)}"))
    for j in range(n):
        for i in range(m - 1):
            els.append((f"w{i}_{j}", f"w{i + 1}_{j}", f"RC{i}_{j} w{i}_{j} w{i + 1}_{j} {_r(r_col)}"))
    for i in range(m):
        for j in range(n):
            if not on[i, j]:
                continue
            u, w, gij = f"u{i}_{j}", f"w{i}_{j}", float(g[i, j])
            if kind == "linear":
                if gij > 0:
                    els.append((u, w, f"RX{i}_{j} {u} {w} {_r(1.0 / gij)}"))
            elif kind == "sinh":
                if gij > 0:
                    expr = f"{_r(gij * v0)}*sinh(V({u},{w})/{_r(v0)})"
                    els.append((u, w, f"BX{i}_{j} {u} {w} I = {expr}"))
            else:
                nd = f"n{i}_{j}"
                if gij > 0:
                    els.append((u, nd, f"RX{i}_{j} {u} {nd} {_r(1.0 / gij)}"))
                expr = f"{_r(g0 * v0)}*sinh(V({nd},{w})/{_r(v0)})"
                els.append((nd, w, f"BS{i}_{j} {nd} {w} I = {expr}"))
    return _prune(els)


def _prune(els):
    """Drop the elements whose nodes have no path to ground (through any element)."""
    adj: dict[str, set[str]] = {}
    for a, b, _ in els:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    seen, todo = {"0"}, ["0"]
    while todo:
        for nb in adj.get(todo.pop(), ()):
            if nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return [e for e in els if e[0] in seen and e[1] in seen]


def netlist(
    g,
    v,
    *,
    r_row,
    r_col,
    r_source=0.0,
    r_sense=0.0,
    drive="near",
    sense="far",
    access="passive",
    selector=None,
    select=None,
    unselected="float",
) -> str:
    """The SPICE deck (with a ``.control`` block that prints every node voltage and
    source current). `v`: row voltages ``(rows,)`` with ``select=None``, else the scalar
    select voltage. The other arguments are those of `xbar.circuit.solve`."""
    g = np.asarray(g, dtype=float)
    if drive not in ("near", "both") or sense not in ("far", "both"):
        raise ValueError(f"bad drive/sense: {drive!r}, {sense!r}")
    if access not in ("1t1r", "passive"):
        raise ValueError(f"bad access: {access!r}")
    els = _elements(
        g,
        v,
        r_row=r_row,
        r_col=r_col,
        r_source=r_source,
        r_sense=r_sense,
        drive=drive,
        sense=sense,
        access=access,
        selector=selector,
        select=select,
        unselected=unselected,
    )
    lines = ["* xbar crossbar (tests/_spice.py)"] + [e[2] for e in els]
    lines += [OPTIONS, ".control", "set numdgt=16", "op", "print all", "quit 0", ".endc", ".end", ""]
    return "\n".join(lines)


def _run(deck: str, timeout: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="xbar-spice-") as tmp:
        path = Path(tmp) / "xbar.cir"
        path.write_text(deck)
        proc = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True, timeout=timeout, cwd=tmp)
    out = proc.stdout + "\n" + proc.stderr
    if proc.returncode != 0 or re.search(r"singular|no convergence|not converge|timestep too small", out, re.I):
        raise RuntimeError(f"ngspice failed (status {proc.returncode}):\n{out[-4000:]}")
    vals = {}
    for name, num in re.findall(rf"^\s*([\w#()]+)\s*=\s*{_NUM}\s*$", out, flags=re.MULTILINE):
        vals[name.lower()] = float(num)
    return vals


def ngspice_solve(g, v, *, timeout=30.0, **kw) -> dict[str, np.ndarray]:
    """ngspice's solution for one input: ``{"currents": (cols,), "u", "w", "n": (rows,
    cols)}`` (``n`` only with a series selector; NaN for nodes left out of the deck).
    `v` as in `netlist`; `kw` are the circuit arguments of `netlist`."""
    g = np.asarray(g, dtype=float)
    m, n = g.shape
    vals = _run(netlist(g, v, **kw), timeout)
    cur = np.zeros(n)
    for j in range(n):
        for src in ("vs", "vt"):
            key = f"{src}{j}#branch"
            if key in vals:
                cur[j] += vals[key]
    if kw.get("select") is None and "vs0#branch" not in vals:
        raise RuntimeError(f"ngspice output: no column currents found in {sorted(vals)[:20]}…")

    def nodes(p):
        return np.array([[vals.get(f"{p}{i}_{j}", np.nan) for j in range(n)] for i in range(m)])

    res = {"currents": cur, "u": nodes("u"), "w": nodes("w")}
    if _selector(kw.get("selector"))[0] == "series":
        res["n"] = nodes("n")
    return res


def ngspice_currents(g, v, *, timeout=30.0, **kw) -> np.ndarray:
    """Column output currents ``(cols,)`` [A] computed by ngspice for one input `v`
    (``(rows,)``, or the scalar select voltage with ``select=(i, j)``); `kw` are the
    circuit arguments of `netlist`."""
    return ngspice_solve(g, v, timeout=timeout, **kw)["currents"]
