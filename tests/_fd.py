"""Central finite differences of a scalar loss along a direction, against a gradient."""

import jax.numpy as jnp


def check_directional(loss, args, grads, i, direction, h, rtol):
    """Assert that ``Σ grads[i]·direction`` equals the central difference of `loss` when
    argument `i` of `args` moves by ``±h·direction``, to `rtol`."""
    plus, minus = list(args), list(args)
    plus[i] = args[i] + h * direction
    minus[i] = args[i] - h * direction
    want = float((loss(*plus) - loss(*minus)) / (2 * h))
    got = float(jnp.sum(grads[i] * direction))
    assert abs(got - want) <= rtol * abs(want), (i, got, want)
