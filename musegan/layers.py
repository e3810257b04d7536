"""Building blocks shared by the MuseGAN generator and critic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf
from keras import ops

__all__ = [
    "AxisConv",
    "BatchNorm",
    "LeakyReLU",
    "PatchUpsample",
    "bar_axis_kernels",
    "check_pitch_strides",
    "factor_strides",
    "leaky_relu",
    "normal_init",
    "one_or_list",
]


def one_or_list(tensors: list):
    """A functional model's inputs, or the arguments of its call: one tensor alone, several as a
    list (Keras warns when a one-input model is built or called with a list)."""
    return tensors[0] if len(tensors) == 1 else tensors


def normal_init() -> keras.initializers.Initializer:
    """Weight initializer N(0, 0.02), as in the MuseGAN paper."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def leaky_relu(x: Any, alpha: float) -> Any:
    """LeakyReLU, ``max(x, alpha * x)`` for ``0 < alpha < 1``, whose gradient reads its output.

    The same values and gradients as ``tf.nn.leaky_relu``, built for the WGAN-GP critic, whose
    loss differentiates the critic's input gradient once more:

    - The gradient is computed from the output instead of the input (``y > 0`` exactly where
      ``x > 0``, as ``alpha > 0``), so the pre-activation need not be kept: Grappler can then
      fuse the activation into the matrix product before it in training graphs too.
    - The input gradient of a piecewise-linear network depends on its activations only through
      their signs, which have zero derivative. TensorFlow's own second derivative returns
      ``zeros_like(x)`` for them, and the outer gradient then runs the whole interpolated
      forward pass backwards on zeros: 10 of the 46 backward matrix products of each of the
      reference critic's layers in one iteration. Here that term is None, so nothing is
      computed for it.

    Args:
        x: any tensor.
        alpha: the slope for negative inputs, in (0, 1).

    Returns:
        A tensor of ``x``'s shape and dtype.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"leaky_relu: alpha must be in (0, 1), got {alpha}")

    @tf.custom_gradient
    def activation(x):
        y = tf.nn.leaky_relu(x, alpha)
        return y, lambda upstream: _leaky_relu_grad(upstream, y)

    @tf.custom_gradient
    def _leaky_relu_grad(upstream, y):
        def second(outer):
            return tf.raw_ops.LeakyReluGrad(gradients=outer, features=y, alpha=alpha), None

        return tf.raw_ops.LeakyReluGrad(gradients=upstream, features=y, alpha=alpha), second

    return activation(x)


@keras.saving.register_keras_serializable(package="musegan")
class LeakyReLU(keras.layers.LeakyReLU):
    """``keras.layers.LeakyReLU`` computed with :func:`leaky_relu` (same config and values)."""

    def call(self, inputs: Any) -> Any:
        return leaky_relu(inputs, self.negative_slope)


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


@keras.saving.register_keras_serializable(package="musegan")
class AxisConv(keras.layers.Layer):
    """A ``Conv3D`` whose kernel spans one spatial axis, computed as one matrix product.

    Equal to ``Conv3D(filters, kernel, strides, padding)`` with ``kernel`` and ``strides`` 1 on
    every spatial axis but ``axis``, followed by an optional activation. When the windows do not
    overlap (``size`` equals ``stride``) the layer gathers the ``size`` input positions each
    output reads into the channel axis (a reshape and, unless nothing but channels follows the
    axis, a transpose) and multiplies by the ``(size * in, filters)`` kernel: oneDNN runs that
    product and its gradients several times faster than its 3D convolution kernels, whose
    backward passes dominate a WGAN-GP critic update. Overlapping windows run the 3D
    convolution itself, which is faster than gathering them. Bias and activation are applied to the
    product before it is reshaped, so that Grappler fuses them into the matrix product.

    The kernel has ``Conv3D``'s shape ``(kd, kh, kw, in, filters)`` and initializer order, so the
    weights (and checkpoints) of the two are interchangeable.

    Args:
        filters: output channels.
        axis: the spatial axis of the kernel: 1, 2 or 3 of ``(batch, d, h, w, channels)``.
        size: kernel size along ``axis``.
        stride: stride along ``axis``.
        padding: ``"valid"`` or ``"same"`` (TensorFlow's: the odd padding position at the end).
        leak: slope of a LeakyReLU applied to the output, or None for no activation.
        kernel_initializer: initializer of the kernel.

    Input ``(batch, d, h, w, in)`` -> output with ``axis`` resized as by ``Conv3D``.
    """

    def __init__(
        self,
        filters: int,
        axis: int,
        size: int,
        stride: int = 1,
        padding: str = "valid",
        leak: float | None = None,
        kernel_initializer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if axis not in (1, 2, 3):
            raise ValueError(f"axis must be 1, 2 or 3, got {axis}")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        self.filters = int(filters)
        self.axis = int(axis)
        self.size = int(size)
        self.stride = int(stride)
        self.padding = padding
        self.leak = None if leak is None else float(leak)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or normal_init())

    def _kernel_shape(self, channels: int) -> tuple[int, ...]:
        spatial = [1, 1, 1]
        spatial[self.axis - 1] = self.size
        return (*spatial, channels, self.filters)

    def _geometry(self, length: int) -> tuple[int, int, int]:
        """``(outputs, pad_before, pad_after)`` along the axis for an input of ``length``."""
        if self.padding == "valid":
            return (length - self.size) // self.stride + 1, 0, 0
        outputs = -(-length // self.stride)
        total = max((outputs - 1) * self.stride + self.size - length, 0)
        return outputs, total // 2, total - total // 2

    def build(self, input_shape: tuple[int, ...]) -> None:
        outputs, _, _ = self._geometry(input_shape[self.axis])
        if outputs < 1:
            raise ValueError(
                f"{self.name}: kernel {self.size} does not fit {input_shape[self.axis]} positions"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=self._kernel_shape(input_shape[-1]),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        shape = list(inputs.shape[1:])
        channels, length = shape[-1], shape[self.axis - 1]
        outputs, before, after = self._geometry(length)
        if self.size != self.stride:
            # Overlapping windows: gathering them (strided slices, then a concatenation) costs
            # more than it saves; at the critic's full-resolution bar convolutions the 3D
            # convolution is 3x faster with its gradient penalty (0.19 s against 0.58 s per
            # update of the default critic at batch 64 on 2 cores).
            strides = [1, 1, 1]
            strides[self.axis - 1] = self.stride
            y = ops.conv(inputs, self.kernel, strides, self.padding) + self.bias
            return y if self.leak is None else leaky_relu(y, self.leak)
        if before or after:
            pads = [[0, 0]] * 5
            pads[self.axis] = [before, after]
            inputs = ops.pad(inputs, pads)
        # Non-overlapping windows: a reshape splits the axis into (outputs, size) and a
        # transpose moves each window next to the channels (no copy when nothing but channels
        # follows the axis).
        if outputs * self.size != inputs.shape[self.axis]:  # valid: drop the remainder
            used = [slice(None)] * 5
            used[self.axis] = slice(0, outputs * self.size)
            inputs = inputs[tuple(used)]
        split = [-1, *shape[:-1], channels]
        split[self.axis : self.axis + 1] = [outputs, self.size]
        patches = ops.reshape(inputs, split)
        if math.prod(shape[self.axis : -1]) > 1:  # positions of the later spatial axes
            perm = list(range(6))
            perm.insert(4, perm.pop(self.axis + 1))
            patches = ops.transpose(patches, perm)
        patches = ops.reshape(patches, (-1, self.size * channels))
        kernel = ops.reshape(self.kernel, (self.size * channels, self.filters))
        y = ops.matmul(patches, kernel) + self.bias
        if self.leak is not None:
            y = leaky_relu(y, self.leak)
        shape[self.axis - 1] = outputs
        shape[-1] = self.filters
        return ops.reshape(y, (-1, *shape))

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[Any, ...]:
        shape = list(input_shape)
        shape[self.axis] = self._geometry(shape[self.axis])[0]
        shape[-1] = self.filters
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            filters=self.filters,
            axis=self.axis,
            size=self.size,
            stride=self.stride,
            padding=self.padding,
            leak=self.leak,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package="musegan")
class BatchNorm(keras.layers.BatchNormalization):
    """Keras batch normalization whose training pass on one replica is one fused kernel.

    The same function and variables as ``keras.layers.BatchNormalization`` (channels last): in
    training mode, outputs normalized by the batch's mean and (biased) variance, and moving
    averages updated with them. Keras computes that with a dozen element-wise passes over the
    input (and as many in the backward pass); TensorFlow's ``FusedBatchNormV3`` does it in one
    kernel each way, which matters for the bar generators' largest layers. With several
    replicas in sync (statistics over the global batch), a mask, renormalization or a channel
    axis other than the last, the layer falls back to Keras' implementation.
    """

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        replica = tf.distribute.get_replica_context()
        replicas = replica.num_replicas_in_sync if replica is not None else 2
        rank = len(inputs.shape)
        if (
            not (training and self.trainable)
            or mask is not None
            or self.renorm
            or replicas > 1
            or self.axis not in (-1, rank - 1)
            or rank not in (2, 4)
        ):
            return super().call(inputs, training=training, mask=mask)
        x = inputs if rank == 4 else ops.reshape(inputs, (-1, 1, 1, inputs.shape[-1]))
        if x.dtype not in (tf.float32, tf.bfloat16, tf.float16):
            x = ops.cast(x, "float32")
        channels = x.shape[-1]
        ones = ops.ones((channels,), "float32")
        y, mean, unbiased, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=x,
            scale=ops.cast(self.gamma, "float32") if self.scale else ones,
            offset=ops.cast(self.beta, "float32") if self.center else ones * 0.0,
            mean=ops.zeros((0,), "float32"),
            variance=ops.zeros((0,), "float32"),
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        # The kernel returns the Bessel-corrected variance; Keras averages the biased one.
        count = ops.cast(ops.size(x) // channels, "float32")
        variance = unbiased * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        )
        y = y if rank == 4 else ops.reshape(y, (-1, inputs.shape[-1]))
        return ops.cast(y, self.compute_dtype)
