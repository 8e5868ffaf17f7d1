"""A small ngspice harness for the crossbar circuit of `xbar.circuit.solve` (tests only).

`ngspice_currents` writes the array as a SPICE netlist (each linear cell a resistor of
``1/g`` ohms), runs ``ngspice -b`` on it and returns the column output currents, so the
JAX solver can be checked against an independent circuit simulator. Keep arrays small
(at most about 16 × 16): the netlist has ``4·M·N`` elements and one run should take
well under a second.

Node names: ``u{i}_{j}`` is the row wire at cell (i, j), ``w{i}_{j}`` the column wire,
``d{i}`` the drive source of row i, ``s{j}`` (and ``t{j}`` for ``sense="both"``) the
sense node(s) of column j. Each sense node is held at 0 V by a 0 V source ``VS{j}``
(``VT{j}``) from the sense node to ground, which serves as the ammeter: SPICE reports the
current through a voltage source flowing into its + terminal, through the source, and out
of its − terminal, so with + on the sense node ``i(VS{j})`` is the current flowing into
the sense node from the column (checked against `xbar.circuit.reference_solve` in
``tests/test_circuit_solve.py``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["ngspice_available", "netlist", "ngspice_currents"]

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"


def ngspice_available() -> bool:
    return shutil.which("ngspice") is not None


def _r(x: float) -> str:
    return f"{float(x):.17g}"


def netlist(g, v, *, r_row, r_col, r_source=0.0, r_sense=0.0, drive="near", sense="far") -> str:
    """The SPICE deck (with a ``.control`` block that prints the sense currents)."""
    g = np.asarray(g, dtype=float)
    v = np.asarray(v, dtype=float)
    m, n = g.shape
    if v.shape != (m,):
        raise ValueError(f"v: expected shape ({m},), got {v.shape}")
    if drive not in ("near", "both") or sense not in ("far", "both"):
        raise ValueError(f"bad drive/sense: {drive!r}, {sense!r}")
    lines = ["* xbar crossbar read (tests/_spice.py)"]
    r_drive = r_source + r_row
    r_out = r_col + r_sense
    for i in range(m):
        lines.append(f"V{i} d{i} 0 DC {_r(v[i])}")
        lines.append(f"RDA{i} d{i} u{i}_0 {_r(r_drive)}")
        if drive == "both":
            lines.append(f"RDB{i} d{i} u{i}_{n - 1} {_r(r_drive)}")
        for j in range(n - 1):
            lines.append(f"RR{i}_{j} u{i}_{j} u{i}_{j + 1} {_r(r_row)}")
    for j in range(n):
        for i in range(m - 1):
            lines.append(f"RC{i}_{j} w{i}_{j} w{i + 1}_{j} {_r(r_col)}")
        lines.append(f"RSA{j} w{m - 1}_{j} s{j} {_r(r_out)}")
        lines.append(f"VS{j} s{j} 0 DC 0")
        if sense == "both":
            lines.append(f"RSB{j} w0_{j} t{j} {_r(r_out)}")
            lines.append(f"VT{j} t{j} 0 DC 0")
    for i in range(m):
        for j in range(n):
            lines.append(f"RX{i}_{j} u{i}_{j} w{i}_{j} {_r(1.0 / g[i, j])}")
    lines += [".control", "set numdgt=16", "op"]
    for j in range(n):
        lines.append(f"print i(VS{j})")
        if sense == "both":
            lines.append(f"print i(VT{j})")
    lines += ["quit 0", ".endc", ".end", ""]
    return "\n".join(lines)


def _parse(out: str, name: str) -> float:
    hits = re.findall(rf"^\s*i\({name}\)\s*=\s*{_NUM}", out, flags=re.IGNORECASE | re.MULTILINE)
    if len(hits) != 1:
        raise RuntimeError(f"ngspice output: expected one value of i({name}), found {len(hits)}:\n{out}")
    return float(hits[0])


def ngspice_currents(g, v, *, timeout=30.0, **kw) -> np.ndarray:
    """Column output currents ``(cols,)`` [A] computed by ngspice for one input `v`
    ``(rows,)``; `kw` are the circuit arguments of `netlist`."""
    g = np.asarray(g, dtype=float)
    deck = netlist(g, v, **kw)
    with tempfile.TemporaryDirectory(prefix="xbar-spice-") as tmp:
        path = Path(tmp) / "xbar.cir"
        path.write_text(deck)
        proc = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True, timeout=timeout, cwd=tmp)
    out = proc.stdout + "\n" + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"ngspice exited with status {proc.returncode}:\n{out}")
    both = kw.get("sense", "far") == "both"
    cur = []
    for j in range(g.shape[1]):
        c = _parse(out, f"vs{j}")
        if both:
            c += _parse(out, f"vt{j}")
        cur.append(c)
    return np.asarray(cur)
