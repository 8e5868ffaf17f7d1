"""Checkpoint files shared by the training loops: npz written atomically (no pickle),
with PRNG keys (typed or raw) and pytree leaves stored as plain arrays."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._io import _atomic


def _typed(key) -> bool:
    return jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key)


def key_arrays(key) -> dict:
    """`key` as the entries ``"key"`` (its data) and ``"key_typed"``."""
    return {"key": np.asarray(jax.random.key_data(key) if _typed(key) else key), "key_typed": np.asarray(_typed(key))}


def key_from(z):
    """The key stored by `key_arrays` in the open npz `z`."""
    key = jnp.asarray(z["key"])
    return jax.random.wrap_key_data(key) if bool(z["key_typed"]) else key


def leaf_arrays(prefix: str, tree) -> dict:
    """The leaves of `tree` as entries ``prefix0, prefix1, …`` (typed keys as their data)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return {f"{prefix}{i}": np.asarray(jax.random.key_data(x) if _typed(x) else x) for i, x in enumerate(leaves)}


def leaves_from(z, prefix: str, like, what: str):
    """A tree shaped like `like` from the entries `leaf_arrays` wrote in the open npz
    `z`, each leaf checked against its shape (named by `what` in the error) and cast
    to its dtype."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    new = []
    for i, leaf in enumerate(leaves):
        a = z[f"{prefix}{i}"]
        typed = _typed(leaf)
        want = np.shape(jax.random.key_data(leaf)) if typed else np.shape(leaf)
        if a.shape != want:
            raise ValueError(f"checkpoint: expected {what} {i} of shape {want}, got {a.shape}")
        new.append(jax.random.wrap_key_data(jnp.asarray(a)) if typed else jnp.asarray(a, dtype=jnp.asarray(leaf).dtype))
    return treedef.unflatten(new)


def write_npz(path, arrays: dict) -> None:
    """Write `arrays` to `path` as npz, atomically."""
    with _atomic(path, ".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
