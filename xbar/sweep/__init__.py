"""Batch sweeps over any parameter (TOML specs, vmapped evaluation, resumable results).

Not built yet; the `xbar` command line lives beside this package (`xbar/_cli.py`).
"""
