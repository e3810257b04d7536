"""The matrix-product layers equal the Keras convolutions they replace, values and gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan.losses import gradient_penalty
from musegan.layers import AxisConv, LeakyReLU, leaky_relu

# (input shape without batch, axis, size, stride, padding): every case the critic builds
# (bars 2 and 4, pitch strides, 'same' time layers of odd and even lengths) and a few more.
CASES = [
    ((2, 16, 84, 4), 1, 2, 1, "valid"),
    ((4, 16, 84, 4), 1, 2, 1, "valid"),
    ((3, 16, 84, 8), 1, 3, 1, "valid"),
    ((1, 16, 84, 8), 1, 1, 1, "valid"),
    ((1, 16, 84, 8), 3, 12, 12, "valid"),
    ((1, 16, 7, 8), 3, 7, 7, "valid"),
    ((1, 16, 1, 8), 2, 2, 2, "same"),
    ((1, 4, 1, 8), 2, 4, 2, "same"),
    ((1, 2, 1, 8), 2, 3, 2, "same"),
    ((1, 3, 1, 8), 2, 3, 2, "same"),
    ((1, 48, 1, 8), 2, 3, 2, "same"),
    ((2, 5, 3, 8), 2, 2, 2, "same"),
    ((2, 7, 3, 8), 2, 2, 2, "valid"),
    ((3, 2, 3, 8), 1, 2, 2, "valid"),
]


@pytest.mark.parametrize(("shape", "axis", "size", "stride", "padding"), CASES)
def test_axis_conv_equals_conv3d_values_and_gradients(shape, axis, size, stride, padding):
    x = tf.constant(np.random.default_rng(0).normal(size=(3, *shape)), tf.float32)
    layer = AxisConv(6, axis, size, stride, padding, leak=0.2)
    layer.build(x.shape)
    kernel = [1, 1, 1]
    kernel[axis - 1] = size
    strides = [1, 1, 1]
    strides[axis - 1] = stride
    conv = keras.layers.Conv3D(6, kernel, strides=strides, padding=padding)
    conv.build(x.shape)
    bias = np.random.default_rng(1).normal(size=6).astype(np.float32)
    layer.set_weights([layer.get_weights()[0], bias])
    conv.set_weights(layer.get_weights())  # the same kernel shape: weights interchangeable

    def outputs(fn, weights):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            score = tf.reduce_sum(y * tf.cos(y))  # a non-linear read-out of every output
        return y, tape.gradient(score, [x, *weights])

    ours, ours_grads = outputs(layer, layer.trainable_weights)
    ref, ref_grads = outputs(lambda v: tf.nn.leaky_relu(conv(v), 0.2), conv.trainable_weights)
    assert ours.shape == ref.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(ours_grads, ref_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_axis_conv_rejects_bad_arguments_and_round_trips_its_config():
    with pytest.raises(ValueError, match="axis must be 1, 2 or 3"):
        AxisConv(4, 4, 2)
    with pytest.raises(ValueError, match="padding must be"):
        AxisConv(4, 1, 2, padding="causal")
    with pytest.raises(ValueError, match="does not fit"):
        AxisConv(4, 1, 3).build((None, 2, 4, 4, 1))
    layer = AxisConv(5, 2, 4, 2, "same", leak=0.1, name="probe")
    clone = AxisConv.from_config(layer.get_config())
    assert (clone.filters, clone.axis, clone.size, clone.stride, clone.padding, clone.leak) == (
        5,
        2,
        4,
        2,
        "same",
        0.1,
    )


def test_axis_conv_computes_in_bfloat16_under_mixed_precision():
    layer = AxisConv(4, 3, 12, 12, dtype="mixed_bfloat16")
    y = layer(tf.ones((2, 1, 4, 84, 3)))
    assert y.dtype == tf.bfloat16 and layer.kernel.dtype == "float32"
    assert tuple(y.shape) == (2, 1, 4, 7, 4)


def _penalized_critic(activation):
    """A two-layer critic's WGAN-GP penalty, its value and weight gradients, and the number
    of matrix products in the traced graph of that gradient."""
    rng = np.random.default_rng(3)
    w1 = tf.Variable(rng.normal(size=(6, 16)).astype(np.float32))
    w2 = tf.Variable(rng.normal(size=(16, 1)).astype(np.float32))
    real, fake = (tf.constant(rng.normal(size=(8, 6)), tf.float32) for _ in range(2))
    epsilon = tf.constant(rng.uniform(size=8), tf.float32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            penalty = gradient_penalty(
                lambda x: activation(activation(x @ w1) @ w2), real, fake, epsilon
            )
        return [penalty, *tape.gradient(penalty, [w1, w2])]

    graph = step.get_concrete_function().graph
    products = sum(op.type in ("MatMul", "BatchMatMulV2") for op in graph.get_operations())
    return [v.numpy() for v in step()], products


def test_leaky_relu_equals_tensorflows_in_values_and_first_and_second_derivatives():
    x = tf.constant([[-2.0, -0.5, 0.0, 0.25, 3.0], [1e-30, -1e-30, 7.0, -7.0, 0.5]])
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = leaky_relu(x, 0.2)
            score = tf.reduce_sum(y * tf.range(1.0, 11.0, dtype=tf.float32)[None, :5])
        grad = inner.gradient(score, x)
        second = tf.reduce_sum(grad**2)
    with tf.GradientTape() as ref_outer:
        ref_outer.watch(x)
        with tf.GradientTape() as ref_inner:
            ref_inner.watch(x)
            ref_y = tf.nn.leaky_relu(x, 0.2)
            ref_score = tf.reduce_sum(ref_y * tf.range(1.0, 11.0, dtype=tf.float32)[None, :5])
        ref_grad = ref_inner.gradient(ref_score, x)
        ref_second = tf.reduce_sum(ref_grad**2)
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(grad, ref_grad)  # 0.2 below zero and at zero, 1 above
    assert outer.gradient(second, x) is None  # TensorFlow's is zeros: no path through signs
    np.testing.assert_array_equal(ref_outer.gradient(ref_second, x), 0.0)
    assert LeakyReLU(0.3)(tf.constant([-1.0])).numpy()[0] == pytest.approx(-0.3)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\), got 0.0"):
        leaky_relu(x, 0.0)


def test_leaky_relu_leaves_the_zero_path_of_the_penalty_out_of_its_gradient():
    ours, ours_products = _penalized_critic(lambda v: leaky_relu(v, 0.2))
    ref, ref_products = _penalized_critic(lambda v: tf.nn.leaky_relu(v, 0.2))
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # TensorFlow's runs the interpolated forward pass backwards on zeros: a kernel gradient
    # and an input gradient for each of the two layers (the first needs no input gradient).
    assert ref_products - ours_products == 3


@pytest.mark.parametrize("shape", [(64, 40), (32, 16, 7, 24), (32, 2, 1, 8)])
def test_batch_norm_equals_keras_batch_norm_in_training(shape):
    from musegan.layers import BatchNorm

    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(1.0, 2.0, size=shape), tf.float32)
    ours = BatchNorm(momentum=0.9, synchronized=True)
    keras_bn = keras.layers.BatchNormalization(momentum=0.9, synchronized=True)
    for layer in (ours, keras_bn):
        layer.build(shape)
    channels = shape[-1]
    ours.set_weights(
        [
            rng.normal(size=channels).astype(np.float32),
            rng.normal(size=channels).astype(np.float32),
            rng.normal(size=channels).astype(np.float32),
            rng.uniform(0.5, 2.0, size=channels).astype(np.float32),
        ]
    )
    keras_bn.set_weights(ours.get_weights())

    def run(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            score = tf.reduce_sum(y * tf.sin(x))
        return [y, *tape.gradient(score, [x, *layer.trainable_weights])]

    for a, b in zip(run(ours), run(keras_bn), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-4)
    # The moving averages move the same way (Keras averages the biased batch variance).
    for a, b in zip(ours.non_trainable_weights, keras_bn.non_trainable_weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    # Inference uses the moving averages, as Keras does.
    np.testing.assert_allclose(ours(x, training=False), keras_bn(x, training=False), atol=1e-5)
