"""Frozen, keyword-only dataclasses registered as JAX pytrees.

`pytree_dataclass` turns a class into a frozen keyword-only dataclass whose fields are
pytree leaves unless declared with `static_field()`. A field is static only if it
changes shapes or Python control flow (sizes, bit counts, names, switches); every
physical quantity is a leaf so `jax.vmap` can sweep it and gradients reach it.

Unflattening bypasses `__init__`/`__post_init__`, so validation in `__post_init__` runs
once, at construction, on concrete values, never on tracers inside `jit`/`vmap`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

__all__ = ["pytree_dataclass", "static_field", "is_concrete", "replace"]


def static_field(**kwargs: Any) -> Any:
    """A dataclass field kept out of the pytree (hashable metadata)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def pytree_dataclass(cls: type) -> type:
    """Decorator: frozen keyword-only dataclass + JAX pytree registration."""
    cls = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
    fields = dataclasses.fields(cls)
    data_names = tuple(f.name for f in fields if not f.metadata.get("static", False))
    meta_names = tuple(f.name for f in fields if f.metadata.get("static", False))

    def flatten_with_keys(obj: Any):
        children = [(jax.tree_util.GetAttrKey(n), getattr(obj, n)) for n in data_names]
        return children, tuple(getattr(obj, n) for n in meta_names)

    def flatten(obj: Any):
        return [getattr(obj, n) for n in data_names], tuple(getattr(obj, n) for n in meta_names)

    def unflatten(meta: tuple, children: Any) -> Any:
        obj = object.__new__(cls)
        for n, v in zip(data_names, children):
            object.__setattr__(obj, n, v)
        for n, v in zip(meta_names, meta):
            object.__setattr__(obj, n, v)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def replace(obj: Any, **changes: Any) -> Any:
    """`dataclasses.replace` (re-runs validation on the new values)."""
    return dataclasses.replace(obj, **changes)


def is_concrete(*values: Any) -> bool:
    """True when no value is a JAX tracer, so it can be checked in Python."""
    for v in jax.tree_util.tree_leaves(values):
        if isinstance(v, jax.core.Tracer):
            return False
    return True


def as_float_leaf(value: Any, name: str) -> Any:
    """Convert a physical parameter to an array leaf; leave tracers alone."""
    if isinstance(value, jax.core.Tracer):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a real number, got bool {value!r}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return jax.numpy.asarray(value, dtype=jax.dtypes.canonicalize_dtype(float))


def check_positive_int(name: str, value: Any) -> int:
    """`value` as an int if it is a positive integer (Python or NumPy), else a ValueError
    naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)
