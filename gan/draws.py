"""What the generator outputs that draw share (stochastic binary neurons in :mod:`musegan.binary`,
Gumbel voices in :mod:`gan.voices`): their noise arrives standard normal, as every generator
input does, and their sharpness is a slope annealed between steps."""

from __future__ import annotations

import math
from typing import Any

from keras import ops

__all__ = ["assign_slope", "uniform_from_normal"]


def uniform_from_normal(normal: Any) -> Any:
    """Standard normal noise mapped through its CDF to uniform on [0, 1], float32."""
    return 0.5 * (1.0 + ops.erf(ops.cast(normal, "float32") * (1.0 / math.sqrt(2.0))))


def assign_slope(layer_name: str, slope: Any, value: float) -> None:
    """Assign ``value`` to a layer's slope variable, refusing what is not finite and > 0
    (ValueError naming the layer; call it outside traced functions)."""
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{layer_name}: the slope must be finite and > 0, got {value}")
    slope.assign(value)
