"""Building blocks shared by the MuseGAN generator and critic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

__all__ = [
    "PatchUpsample",
    "bar_axis_kernels",
    "check_pitch_strides",
    "factor_strides",
    "normal_init",
]


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


def check_pitch_strides(strides: Sequence[int], n_pitches: int, what: str) -> None:
    """Raise ValueError unless the pitch-axis strides multiply to the number of pitches."""
    product = math.prod(int(s) for s in strides)
    if product != n_pitches:
        raise ValueError(
            f"{what}: pitch_strides {list(strides)} multiply to {product}, not n_pitches {n_pitches}"
        )


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


@keras.saving.register_keras_serializable(package="musegan")
class PatchUpsample(keras.layers.Layer):
    """A transposed convolution whose kernel equals its stride, computed as one matrix product.

    Equal to ``Conv2DTranspose(filters, factors, strides=factors, padding="valid")``: every
    input position expands into its own, non-overlapping ``factors`` patch of the output, so
    the whole layer is one ``(positions, in) @ (in, patch * filters)`` product and a reshape.
    oneDNN runs that product several times faster than its transposed-convolution kernel on
    CPUs. The kernel ``(in, fh * fw * filters)`` is ``Conv2DTranspose``'s ``(fh, fw, filters,
    in)`` kernel moved to ``(in, fh, fw, filters)`` and flattened.

    Args:
        filters: output channels.
        factors: ``(fh, fw)``, the upsampling factor (kernel and stride) of each spatial axis.
        kernel_initializer: initializer of the kernel.

    Input ``(batch, h, w, in)`` -> output ``(batch, h * fh, w * fw, filters)``.
    """

    def __init__(
        self, filters: int, factors: tuple[int, int], kernel_initializer: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.factors = (int(factors[0]), int(factors[1]))
        self.kernel_initializer = keras.initializers.get(kernel_initializer or normal_init())

    def build(self, input_shape: tuple[int, ...]) -> None:
        fh, fw = self.factors
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], fh * fw * self.filters),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        h, w = inputs.shape[1], inputs.shape[2]
        fh, fw = self.factors
        y = ops.matmul(inputs, self.kernel)
        y = ops.reshape(y, (-1, h, w, fh, fw, self.filters))
        if w > 1 and fh > 1:  # else (h, w, fh, fw) and (h, fh, w, fw) have the same layout
            y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
        return ops.reshape(y, (-1, h * fh, w * fw, self.filters)) + self.bias

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[Any, ...]:
        return (
            input_shape[0],
            input_shape[1] * self.factors[0],
            input_shape[2] * self.factors[1],
            self.filters,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            filters=self.filters,
            factors=self.factors,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
