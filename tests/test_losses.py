"""Adversarial losses against hand-computed values and critics with known gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf

from gan.losses import (
    classic_generator_loss,
    feature_matching_loss,
    gradient_penalty,
    hinge_discriminator_loss,
    hinge_generator_loss,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    wasserstein_discriminator_loss,
    wasserstein_generator_loss,
)

# Two examples of two scores each: per-example means 2 and 6 (real), 0.5 and -0.5 (fake).
REAL = tf.constant([[1.0, 3.0], [5.0, 7.0]])
FAKE = tf.constant([[0.0, 1.0], [-1.0, 0.0]])


def value(tensor) -> float:
    assert tensor.shape == ()
    assert tensor.dtype == tf.float32
    return float(tensor)


def test_wasserstein_discriminator_loss_is_mean_fake_minus_mean_real():
    # mean(fake) = 0, mean(real) = 4.
    assert value(wasserstein_discriminator_loss(REAL, FAKE)) == pytest.approx(-4.0)
    assert value(wasserstein_discriminator_loss(FAKE, REAL)) == pytest.approx(4.0)


def test_wasserstein_generator_loss_is_minus_mean_fake():
    assert value(wasserstein_generator_loss(REAL)) == pytest.approx(-4.0)
    assert value(wasserstein_generator_loss(tf.constant([[0.5], [-1.5], [4.0]]))) == pytest.approx(
        -1.0
    )


def test_global_batch_size_divides_the_sum_by_it():
    # Sums of per-example means: real 8, fake 0; a replica holding 2 of 8 examples.
    assert value(wasserstein_discriminator_loss(REAL, FAKE, global_batch_size=8)) == pytest.approx(
        -1.0
    )
    assert value(wasserstein_generator_loss(REAL, global_batch_size=8)) == pytest.approx(-1.0)
    assert value(wasserstein_generator_loss(REAL, global_batch_size=2)) == pytest.approx(-4.0)
    logits = tf.constant([[0.0], [0.0]])
    assert value(nonsaturating_generator_loss(logits, global_batch_size=4)) == pytest.approx(
        2 * math.log(2) / 4
    )
    assert value(
        nonsaturating_discriminator_loss(logits, logits, global_batch_size=4)
    ) == pytest.approx(4 * math.log(2) / 4)


def test_nonsaturating_discriminator_loss_from_logits():
    # -log sigmoid(0) = log 2, -log sigmoid(log 3) = log 4/3;
    # -log(1 - sigmoid(0)) = log 2, -log(1 - sigmoid(-log 3)) = log 4/3.
    real = tf.constant([[0.0], [math.log(3.0)]])
    fake = tf.constant([[0.0], [-math.log(3.0)]])
    expected = (math.log(2) + math.log(4 / 3)) / 2 * 2  # = log 8/3
    assert value(nonsaturating_discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(math.log(8 / 3))
    # A confident, correct discriminator has a loss near 0; a confidently wrong one a large one.
    assert (
        value(nonsaturating_discriminator_loss(tf.constant([[20.0]]), tf.constant([[-20.0]])))
        < 1e-6
    )
    assert value(
        nonsaturating_discriminator_loss(tf.constant([[-20.0]]), tf.constant([[20.0]]))
    ) == pytest.approx(40.0, rel=1e-6)


def test_nonsaturating_generator_loss_from_logits():
    fake = tf.constant([[0.0], [math.log(3.0)]])
    assert value(nonsaturating_generator_loss(fake)) == pytest.approx(math.log(8 / 3) / 2, rel=1e-6)
    # Large negative logits: the loss is -log sigmoid(x) ~ -x, without overflow to inf.
    assert value(nonsaturating_generator_loss(tf.constant([[-100.0]]))) == pytest.approx(100.0)


def test_feature_matching_loss_is_squared_distance_of_batch_means():
    real = tf.constant([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = tf.constant([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1)
    assert value(feature_matching_loss(real, fake)) == pytest.approx(1.0 + 4.0)
    assert value(feature_matching_loss(real, real)) == 0.0
    # Only the means matter: a permutation of the fake batch changes nothing.
    assert value(feature_matching_loss(real, fake[::-1])) == pytest.approx(5.0)


# Hinge and minimax losses --------------------------------------------------------------------

# relu(1 - real): [[0.5, 2], [0, 0]] (2 and 1 are at or past the margin), per example 1.25, 0;
# relu(1 + fake): [[0.5, 0], [1.25, 2]] (-3 is past the margin), per example 0.25, 1.625.
HINGE_REAL = tf.constant([[0.5, -1.0], [2.0, 1.0]])
HINGE_FAKE = tf.constant([[-0.5, -3.0], [0.25, 1.0]])


def test_hinge_discriminator_loss_clips_scores_beyond_their_margin():
    expected = (1.25 + 0.0) / 2 + (0.25 + 1.625) / 2  # 0.625 + 0.9375
    assert value(hinge_discriminator_loss(HINGE_REAL, HINGE_FAKE)) == pytest.approx(expected)
    # Every score past its margin (real >= 1, fake <= -1): nothing to learn, the loss is 0.
    assert value(hinge_discriminator_loss(REAL, -REAL)) == 0.0
    assert value(hinge_discriminator_loss(tf.constant([[1.0]]), tf.constant([[-1.0]]))) == 0.0
    # No score clipped: the loss is linear, 2 + mean(fake) - mean(real) (-0.25 and 0 here).
    real, fake = tf.constant([[0.5], [-0.5]]), tf.constant([[0.0], [-0.5]])
    assert value(hinge_discriminator_loss(real, fake)) == pytest.approx(2.0 + (-0.25) - 0.0)
    # Swapped roles: relu(1 - fake) = [[1.5, 4], [0.75, 0]], relu(1 + real) = [[1.5, 0], [3, 2]].
    assert value(hinge_discriminator_loss(HINGE_FAKE, HINGE_REAL)) == pytest.approx(
        (2.75 + 0.375) / 2 + (0.75 + 2.5) / 2
    )


def test_hinge_generator_loss_is_minus_mean_fake_like_wasserstein():
    assert value(hinge_generator_loss(HINGE_FAKE)) == pytest.approx(0.5625)  # -(-1.75 + 0.625) / 2
    for scores in (REAL, FAKE, HINGE_FAKE):
        for batch in (None, 8):
            assert value(hinge_generator_loss(scores, batch)) == value(
                wasserstein_generator_loss(scores, batch)
            )


def test_hinge_and_minimax_losses_divide_their_sums_by_the_global_batch_size():
    # Sums of per-example values: real 1.25, fake 1.875; a replica holding 2 of 8 examples.
    assert value(
        hinge_discriminator_loss(HINGE_REAL, HINGE_FAKE, global_batch_size=8)
    ) == pytest.approx((1.25 + 1.875) / 8)
    assert value(hinge_generator_loss(HINGE_FAKE, global_batch_size=8)) == pytest.approx(1.125 / 8)
    logits = tf.constant([[0.0], [0.0]])
    assert value(classic_generator_loss(logits, global_batch_size=4)) == pytest.approx(
        -2 * math.log(2) / 4
    )


def test_hinge_loss_gradients():
    """One score per example, batch of 2 (of a global 4): each unclipped score moves the loss by
    -1/4 (real) or +1/4 (fake); a clipped one (real 2, fake -3) gets no gradient."""
    real = tf.constant([[0.5], [2.0]])
    fake = tf.constant([[-0.5], [-3.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([real, fake])
        critic = hinge_discriminator_loss(real, fake, global_batch_size=4)
        generator = hinge_generator_loss(fake, global_batch_size=4)
    assert value(critic) == pytest.approx((0.5 + 0.5) / 4)
    np.testing.assert_allclose(tape.gradient(critic, real).numpy(), [[-0.25], [0.0]])
    np.testing.assert_allclose(tape.gradient(critic, fake).numpy(), [[0.25], [0.0]])
    # The generator's loss is linear: every score, clipped for the critic or not, moves it.
    np.testing.assert_allclose(tape.gradient(generator, fake).numpy(), [[-0.25], [-0.25]])


def test_classic_generator_loss_is_the_minimax_log_one_minus_d():
    # log(1 - sigmoid(0)) = -log 2; log(1 - sigmoid(log 3)) = log(1/4) = -log 4.
    fake = tf.constant([[0.0], [math.log(3.0)]])
    assert value(classic_generator_loss(fake)) == pytest.approx(-1.5 * math.log(2), rel=1e-6)
    # Minus the discriminator's generated term (its real term alone: the loss with generated
    # logits -100): the two players of one zero-sum game.
    real = tf.constant([[1.0], [-2.0]])
    assert value(nonsaturating_discriminator_loss(real, fake)) == pytest.approx(
        value(nonsaturating_discriminator_loss(real, tf.constant([[-100.0], [-100.0]])))
        - value(classic_generator_loss(fake)),
        rel=1e-6,
    )
    # Stable from logits: a fooled discriminator (logit 100) gives -100, not -inf.
    assert value(classic_generator_loss(tf.constant([[100.0]]))) == pytest.approx(-100.0)
    assert value(classic_generator_loss(tf.constant([[-100.0]]))) == pytest.approx(0.0, abs=1e-30)
    # Low-precision logits give a float32 scalar too.
    assert value(classic_generator_loss(tf.cast(fake, tf.bfloat16))) == pytest.approx(
        -1.5 * math.log(2), rel=1e-2
    )


def test_classic_generator_loss_saturates_where_the_nonsaturating_one_does_not():
    """Against a confident discriminator (logit -10) the minimax gradient -sigmoid(x) is
    about -4.5e-5; the non-saturating one, -(1 - sigmoid(x)), about -1."""
    logits = tf.constant([[-10.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        classic = classic_generator_loss(logits)
        nonsaturating = nonsaturating_generator_loss(logits)
    sigmoid = 1 / (1 + math.exp(10.0))
    assert float(tape.gradient(classic, logits)[0, 0]) == pytest.approx(-sigmoid, rel=1e-5)
    assert float(tape.gradient(nonsaturating, logits)[0, 0]) == pytest.approx(
        -(1 - sigmoid), rel=1e-6
    )


# Gradient penalty ---------------------------------------------------------------------------

SHAPE = (3, 2, 4, 5)  # (batch, ...)


def linear_critic(w: np.ndarray):
    """D(x) = sum(w * x) per example: its gradient is w everywhere."""
    w = tf.constant(w, tf.float32)
    return lambda x: tf.reduce_sum(w * x, axis=list(range(1, len(SHAPE))))[:, None]


def random_pair(seed: int):
    rng = np.random.default_rng(seed)
    real = rng.choice([-1.0, 1.0], SHAPE).astype(np.float32)
    fake = rng.uniform(-1, 1, SHAPE).astype(np.float32)
    return real, fake


def with_norm(norm: float, seed: int = 0) -> np.ndarray:
    w = np.random.default_rng(seed).normal(size=SHAPE[1:])
    return (w * norm / np.linalg.norm(w)).astype(np.float32)


@pytest.mark.parametrize(("norm", "expected"), [(1.0, 0.0), (3.0, 4.0), (0.5, 0.25)])
def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared(norm, expected):
    real, fake = random_pair(0)
    epsilon = tf.constant([0.0, 0.3, 1.0])
    penalty = value(gradient_penalty(linear_critic(with_norm(norm)), real, fake, epsilon))
    assert penalty == pytest.approx(expected, abs=1e-5)


def test_gradient_penalty_of_a_quadratic_critic_is_taken_at_the_interpolate():
    """D(x) = 0.5 * sum(x^2) has gradient x_hat = eps * real + (1 - eps) * fake."""
    real, fake = random_pair(1)
    eps = np.array([0.0, 0.25, 0.9], np.float32)
    x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    norms = np.sqrt((x_hat.astype(np.float64) ** 2).reshape(len(eps), -1).sum(axis=1))
    expected = np.mean((norms - 1.0) ** 2)

    def critic(x):
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]

    penalty = value(gradient_penalty(critic, real, fake, tf.constant(eps)))
    assert penalty == pytest.approx(expected, rel=1e-5)
    # epsilon is per example: swapping two examples' epsilons changes the penalty.
    swapped = value(gradient_penalty(critic, real, fake, tf.constant(eps[[1, 0, 2]])))
    assert swapped != pytest.approx(expected, rel=1e-3)
    # With a global batch of 12, each replica's penalty is its sum over 12.
    shard = value(gradient_penalty(critic, real, fake, tf.constant(eps), global_batch_size=12))
    assert shard == pytest.approx(expected * 3 / 12, rel=1e-5)


def test_gradient_penalty_per_group_is_the_sum_of_each_groups_penalty():
    """A per-track linear critic sum_k sum(w_k * x_k): sum_k (||w_k|| - 1)^2 with group_axis=-1."""
    norms = np.array([1.0, 2.0, 3.0, 0.5, 1.5])  # one per track (last axis, 5 tracks)
    w = np.stack([with_norm(1.0, seed=k)[..., k] for k in range(SHAPE[-1])], axis=-1)
    w = (w / np.linalg.norm(w.reshape(-1, SHAPE[-1]), axis=0) * norms).astype(np.float32)
    real, fake = random_pair(2)
    epsilon = tf.constant([0.1, 0.5, 0.7])
    per_group = value(gradient_penalty(linear_critic(w), real, fake, epsilon, group_axis=-1))
    assert per_group == pytest.approx(np.sum((norms - 1.0) ** 2), rel=1e-5)  # 0 + 1 + 4 + .25 + .25
    # The same axis given as a positive index; and one group: the norm of the whole w.
    positive = value(gradient_penalty(linear_critic(w), real, fake, epsilon, group_axis=3))
    assert positive == pytest.approx(per_group, rel=1e-6)
    whole = value(gradient_penalty(linear_critic(w), real, fake, epsilon))
    assert whole == pytest.approx((np.linalg.norm(norms) - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_per_group_on_a_middle_axis():
    """group_axis=1: the groups are the second axis, whatever the layout of the rest."""
    norms = np.array([2.0, 0.0])  # group 1's critic ignores its input: (0 - 1)^2 = 1
    w = with_norm(1.0, seed=3)
    w[0] *= norms[0] / np.linalg.norm(w[0])
    w[1] = 0.0
    real, fake = random_pair(3)
    penalty = value(
        gradient_penalty(linear_critic(w), real, fake, tf.constant([0.2, 0.4, 0.6]), group_axis=1)
    )
    assert penalty == pytest.approx(1.0 + 1.0, rel=1e-5)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_gradient_penalty_stays_finite_for_low_precision_inputs_and_critics(dtype):
    """A half-precision critic with gradient 256 everywhere: sum(g^2) = 64 * 65536 overflows
    float16 (max 65504), so the norm must be taken in float32: (8 * 256 - 1)^2 exactly."""
    shape = (2, 4, 4, 4)  # 64 values per example
    w = tf.constant(np.full(shape[1:], 256.0), dtype)

    def critic(x):
        return tf.reduce_sum(w * tf.cast(x, dtype), axis=[1, 2, 3])[:, None]

    real = tf.cast(tf.fill(shape, 1.0), dtype)
    fake = tf.cast(tf.fill(shape, -1.0), dtype)
    penalty = gradient_penalty(critic, real, fake, tf.constant([0.3, 0.8]))
    assert penalty.dtype == tf.float32
    assert np.isfinite(float(penalty))
    assert float(penalty) == pytest.approx((8 * 256 - 1) ** 2, rel=1e-6)
    # The interpolate is formed in float32 too: a quadratic critic sees x_hat = 2 * eps - 1.
    eps = np.array([0.3, 0.8], np.float32)

    def quadratic(x):
        return 0.5 * tf.reduce_sum(tf.square(tf.cast(x, dtype)), axis=[1, 2, 3])[:, None]

    expected = np.mean((np.abs(2 * eps - 1) * 8 - 1) ** 2)
    got = float(gradient_penalty(quadratic, real, fake, tf.constant(eps)))
    assert got == pytest.approx(expected, rel=1e-2)  # the critic's own gradient is low precision
