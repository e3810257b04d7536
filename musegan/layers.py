"""Building blocks shared by the MuseGAN generator and critic."""

from __future__ import annotations

import keras

__all__ = ["bar_axis_kernels", "factor_strides", "normal_init"]


def normal_init() -> keras.initializers.Initializer:
    """Weight initializer N(0, 0.02), as in the MuseGAN paper."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def bar_axis_kernels(n_bars: int) -> tuple[int, int]:
    """Kernel sizes of the two layers that map one vector to ``n_bars`` (or back).

    The paper's (2, n_bars - 1) for 4 bars, generalized so that two valid (transposed)
    convolutions always produce exactly ``n_bars`` positions: ``k1 = min(2, n_bars)`` and
    ``k2 = n_bars - k1 + 1``.
    """
    if n_bars < 1:
        raise ValueError(f"n_bars must be at least 1, got {n_bars}")
    first = min(2, n_bars)
    return first, n_bars - first + 1


def factor_strides(total: int, start: int, what: str) -> list[int]:
    """Strides that grow ``start`` positions to ``total`` by integer factors, smallest first.

    ``factor_strides(16, 2, ...)`` is ``[2, 2, 2]``; ``factor_strides(48, 2, ...)`` is
    ``[2, 2, 2, 3]``.

    Raises:
        ValueError: ``total`` is not a whole multiple of ``start``.
    """
    if total % start:
        raise ValueError(f"{what}: {total} is not a multiple of {start}")
    ratio, factors, p = total // start, [], 2
    while ratio > 1:
        while ratio % p == 0:
            factors.append(p)
            ratio //= p
        p += 1
    return factors
