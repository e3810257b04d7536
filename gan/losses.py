"""Adversarial losses as pure functions of tensors.

Every loss averages over the *global* batch when ``global_batch_size`` is given: each replica
divides its sum by the global batch size, and the optimizer's all-reduce sums the replicas'
gradients, so N replicas make the same update as one device with the same global batch.
Without ``global_batch_size`` the loss is a plain mean over the batch it sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

__all__ = [
    "classic_generator_loss",
    "feature_matching_loss",
    "gradient_penalty",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "nonsaturating_discriminator_loss",
    "nonsaturating_generator_loss",
    "teacher_forcing_loss",
    "wasserstein_discriminator_loss",
    "wasserstein_generator_loss",
]


def _batch_mean(values: tf.Tensor, global_batch_size: int | None) -> tf.Tensor:
    """Mean of per-example values ``(batch, ...)`` over the batch (global if given) and the rest."""
    values = tf.cast(values, tf.float32)
    per_example = tf.reshape(values, [tf.shape(values)[0], -1])
    per_example = tf.reduce_mean(per_example, axis=1)
    if global_batch_size is None:
        return tf.reduce_mean(per_example)
    return tf.reduce_sum(per_example) / tf.cast(global_batch_size, tf.float32)


def wasserstein_discriminator_loss(
    real_scores: tf.Tensor, fake_scores: tf.Tensor, global_batch_size: int | None = None
) -> tf.Tensor:
    """Wasserstein GAN critic loss (Arjovsky et al. 2017, arXiv:1701.07875).

    ``mean(D(fake)) - mean(D(real))``: minimizing it widens the critic's score gap.

    Args:
        real_scores: ``(batch, ...)`` critic scores of real data, unbounded reals.
        fake_scores: ``(batch, ...)`` critic scores of generated data.
        global_batch_size: average over this many examples in all replicas (see module doc).

    Returns:
        A scalar ``float32``.
    """
    return _batch_mean(fake_scores, global_batch_size) - _batch_mean(real_scores, global_batch_size)


def wasserstein_generator_loss(
    fake_scores: tf.Tensor, global_batch_size: int | None = None
) -> tf.Tensor:
    """Wasserstein GAN generator loss (Arjovsky et al. 2017, arXiv:1701.07875): ``-mean(D(fake))``.

    Args:
        fake_scores: ``(batch, ...)`` critic scores of generated data.
        global_batch_size: see the module doc.

    Returns:
        A scalar ``float32``.
    """
    return -_batch_mean(fake_scores, global_batch_size)


def hinge_discriminator_loss(
    real_scores: tf.Tensor, fake_scores: tf.Tensor, global_batch_size: int | None = None
) -> tf.Tensor:
    """Hinge critic loss (Lim and Ye 2017, "Geometric GAN", arXiv:1705.02894), as used with
    spectral normalization by Miyato et al. 2018 (arXiv:1802.05957).

    ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``: real scores are pushed up to the
    margin 1 and generated ones down to -1; scores beyond their margin cost nothing and get no
    gradient. The loss is at least 0.

    Args:
        real_scores: ``(batch, ...)`` critic scores of real data, unbounded reals.
        fake_scores: ``(batch, ...)`` critic scores of generated data.
        global_batch_size: see the module doc.

    Returns:
        A scalar ``float32``.
    """
    real = tf.nn.relu(1.0 - tf.cast(real_scores, tf.float32))
    fake = tf.nn.relu(1.0 + tf.cast(fake_scores, tf.float32))
    return _batch_mean(real, global_batch_size) + _batch_mean(fake, global_batch_size)


def hinge_generator_loss(fake_scores: tf.Tensor, global_batch_size: int | None = None) -> tf.Tensor:
    """Hinge-GAN generator loss (Lim and Ye 2017, arXiv:1705.02894; Miyato et al. 2018,
    arXiv:1802.05957): ``-mean(D(fake))``.

    The same value as :func:`wasserstein_generator_loss`, which computes it.

    Args:
        fake_scores: ``(batch, ...)`` critic scores of generated data, unbounded reals.
        global_batch_size: see the module doc.

    Returns:
        A scalar ``float32``.
    """
    return wasserstein_generator_loss(fake_scores, global_batch_size)


def gradient_penalty(
    critic: Callable[[tf.Tensor], tf.Tensor],
    real: tf.Tensor,
    fake: tf.Tensor,
    epsilon: tf.Tensor,
    group_axis: int | None = None,
    global_batch_size: int | None = None,
) -> tf.Tensor:
    """WGAN-GP gradient penalty (Gulrajani et al. 2017, arXiv:1704.00028).

    ``mean((||grad D(x_hat)|| - 1)^2)`` with ``x_hat = epsilon * real + (1 - epsilon) * fake``,
    the norm taken over all non-batch axes (``sqrt(sum(g^2) + 1e-12)``: the small constant keeps
    the gradient of the norm finite at 0). The interpolation, the gradient and the norm are
    computed in ``float32`` whatever the critic's compute dtype, so the penalty stays
    numerically safe under mixed precision.

    With ``group_axis``, the input is split along that axis into independent groups, each with
    its own norm and penalty, summed over the groups: this is the penalty of one critic per
    group (MuseGAN's jamming mode, one critic per track) when ``critic`` returns the sum of the
    groups' scores, because then the gradient on group ``k`` is exactly critic ``k``'s gradient.

    Args:
        critic: maps ``(batch, ...)`` inputs to ``(batch, ...)`` scores.
        real: ``(batch, ...)`` real data.
        fake: ``(batch, ...)`` generated data of the same shape.
        epsilon: ``(batch,)`` interpolation weights, drawn from Uniform(0, 1) per example.
        group_axis: the axis of independent groups, or None for one group.
        global_batch_size: see the module doc.

    Returns:
        A scalar ``float32``: the penalty before its weight (lambda).
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    shape = tf.concat([tf.shape(real)[:1], tf.ones([tf.rank(real) - 1], tf.int32)], 0)
    epsilon = tf.reshape(tf.cast(epsilon, tf.float32), shape)
    mixed = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = tf.reduce_sum(tf.cast(critic(mixed), tf.float32))
    grads = tf.cast(tape.gradient(scores, mixed), tf.float32)
    if group_axis is None:
        grads = tf.reshape(grads, [tf.shape(grads)[0], 1, -1])
    else:
        axis = group_axis % len(real.shape)
        perm = [0, axis, *[a for a in range(1, len(real.shape)) if a != axis]]
        grads = tf.transpose(grads, perm)
        grads = tf.reshape(grads, [tf.shape(grads)[0], tf.shape(grads)[1], -1])
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=-1) + 1e-12)  # (batch, groups)
    per_example = tf.reduce_sum(tf.square(norms - 1.0), axis=1)
    return _batch_mean(per_example, global_batch_size)


def nonsaturating_discriminator_loss(
    real_logits: tf.Tensor, fake_logits: tf.Tensor, global_batch_size: int | None = None
) -> tf.Tensor:
    """Standard GAN discriminator loss (Goodfellow et al. 2014, arXiv:1406.2661).

    Binary cross-entropy with real labelled 1 and fake labelled 0:
    ``-mean(log sigmoid(real)) - mean(log(1 - sigmoid(fake)))``, computed from logits. The
    discriminator's loss of both the original minimax game (with
    :func:`classic_generator_loss`) and the non-saturating one.

    Args:
        real_logits: ``(batch, ...)`` discriminator logits on real data.
        fake_logits: ``(batch, ...)`` discriminator logits on generated data.
        global_batch_size: see the module doc.

    Returns:
        A scalar ``float32``.
    """
    real_logits = tf.cast(real_logits, tf.float32)
    fake_logits = tf.cast(fake_logits, tf.float32)
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return _batch_mean(real, global_batch_size) + _batch_mean(fake, global_batch_size)


def nonsaturating_generator_loss(
    fake_logits: tf.Tensor, global_batch_size: int | None = None
) -> tf.Tensor:
    """Non-saturating generator loss (Goodfellow et al. 2014, arXiv:1406.2661).

    ``-mean(log sigmoid(D(fake)))``: the generator maximizes the log-probability that the
    discriminator calls its output real.

    Args:
        fake_logits: ``(batch, ...)`` discriminator logits on generated data.
        global_batch_size: see the module doc.

    Returns:
        A scalar ``float32``.
    """
    fake_logits = tf.cast(fake_logits, tf.float32)
    loss = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits)
    return _batch_mean(loss, global_batch_size)


def classic_generator_loss(
    fake_logits: tf.Tensor, global_batch_size: int | None = None
) -> tf.Tensor:
    """Minimax (saturating) generator loss (Goodfellow et al. 2014, arXiv:1406.2661).

    ``mean(log(1 - sigmoid(D(fake))))``: the generator minimizes the discriminator's
    log-probability of calling its output generated, the other half of the minimax game whose
    discriminator loss is :func:`nonsaturating_discriminator_loss` (the same for both games).
    Computed from logits as minus the cross-entropy with label 0 (``log(1 - sigmoid(x)) =
    -softplus(x)``), finite for any logit. The loss is at most 0; its gradient vanishes when
    the discriminator confidently rejects the generator's output (very negative logits), which
    is why :func:`nonsaturating_generator_loss` is the usual choice.

    Args:
        fake_logits: ``(batch, ...)`` discriminator logits on generated data, unbounded reals.
        global_batch_size: see the module doc.

    Returns:
        A scalar ``float32``.
    """
    fake_logits = tf.cast(fake_logits, tf.float32)
    loss = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return -_batch_mean(loss, global_batch_size)


def feature_matching_loss(
    real_features: tf.Tensor, fake_features: tf.Tensor, global_batch_size: int | None = None
) -> tf.Tensor:
    """Feature matching (Salimans et al. 2016, arXiv:1606.03498), as used by C-RNN-GAN.

    ``||mean(f(real)) - mean(f(fake))||^2``: the squared distance between the batch means of the
    discriminator's last hidden features on real and on generated data, summed over every
    feature (and time step, for per-step features).

    The loss is not a mean of per-example values, so replicas cannot split it exactly: with
    ``global_batch_size``, each replica's value (over its own share of the batch) is weighted
    by that share, so that the replicas' values and gradients sum to their mean. On one device
    that is the loss itself.

    Args:
        real_features: ``(batch, ...)`` discriminator features of real data.
        fake_features: ``(batch, ...)`` discriminator features of generated data.
        global_batch_size: see the module doc.

    Returns:
        A scalar ``float32``.
    """
    real_features = tf.cast(real_features, tf.float32)
    real_mean = tf.reduce_mean(real_features, axis=0)
    fake_mean = tf.reduce_mean(tf.cast(fake_features, tf.float32), axis=0)
    loss = tf.reduce_sum(tf.square(real_mean - fake_mean))
    if global_batch_size is None:
        return loss
    share = tf.cast(tf.shape(real_features)[0], tf.float32) / tf.cast(global_batch_size, tf.float32)
    return loss * share


def teacher_forcing_loss(
    real: tf.Tensor,
    preactivations: tf.Tensor,
    global_batch_size: int | None = None,
    voices: Sequence[int] = (),
    n_tracks: int | None = None,
) -> tf.Tensor:
    """Maximum-likelihood loss of a tanh generator on binary data, for teacher-forced
    pretraining as in C-RNN-GAN (Mogren 2016, arXiv:1611.09904).

    An output ``tanh(a)`` in (-1, 1) is read as the probability ``(tanh(a) + 1) / 2 =
    sigmoid(2a)`` that a cell is on; the loss is the mean Bernoulli negative log-likelihood of
    the real cells, ``-mean(t log sigmoid(2a) + (1 - t) log sigmoid(-2a))`` with
    ``t = (real + 1) / 2``, computed from the pre-activations so that it stays finite where tanh
    saturates. (Mogren's pretraining minimizes a squared error on continuous note features;
    for binary cells the Bernoulli likelihood is the maximum-likelihood loss.)

    Monophonic voices (``voices``, model tensors ``(batch, ..., pitches, channels)``: see
    :mod:`gan.voices`) are one category per step: their term is the categorical negative
    log-likelihood of the real pitch or rest under ``softmax([l, 0])`` (``l`` the roll channel's
    pitch logits, the rest's logit 0), plus, where the voice sounds, the Bernoulli negative
    log-likelihood of the real start under ``sigmoid(s)`` at the sounding pitch (``s`` the
    onset channel's logits); in nats per voice step, added to the free cells' mean.

    Args:
        real: ``(batch, ...)`` real data in {-1, 1}.
        preactivations: ``(batch, ...)`` the generator's pre-tanh outputs, unbounded reals.
        global_batch_size: see the module doc.
        voices: the voices' track indices (their onset channels follow the ``n_tracks`` rolls).
        n_tracks: tracks of the model tensor; needed with ``voices``.

    Returns:
        A scalar ``float32``: nats per cell (plus nats per voice step with voices).
    """
    real = tf.cast(real, tf.float32)
    preactivations = tf.cast(preactivations, tf.float32)
    if not voices:
        return _free_cells_loss(real, preactivations, global_batch_size)
    free = [k for k in range(int(n_tracks)) if k not in voices]
    loss = tf.constant(0.0)
    if free:
        gather = [tf.gather(x, free, axis=-1) for x in (real, preactivations)]
        loss = _free_cells_loss(*gather, global_batch_size)
    for j, k in enumerate(voices):
        onset = int(n_tracks) + j
        per_step = _voice_loss(
            real[..., k], real[..., onset], preactivations[..., k], preactivations[..., onset]
        )
        loss += _batch_mean(per_step, global_batch_size)
    return loss


def _free_cells_loss(
    real: tf.Tensor, preactivations: tf.Tensor, global_batch_size: int | None
) -> tf.Tensor:
    """The Bernoulli term of :func:`teacher_forcing_loss`: nats per cell."""
    targets = (real + 1.0) / 2.0
    cells = tf.nn.sigmoid_cross_entropy_with_logits(targets, 2.0 * preactivations)
    return _batch_mean(cells, global_batch_size)


def _voice_loss(roll: tf.Tensor, onsets: tf.Tensor, logits: tf.Tensor, starts: tf.Tensor):
    """One voice's term of :func:`teacher_forcing_loss` at each step, ``(batch, ...)`` nats,
    from ``(batch, ..., pitches)`` real roll and onsets in {-1, 1}, pitch and start logits."""
    sounding = tf.cast(roll > 0, tf.float32)
    category = tf.concat([sounding, 1.0 - tf.reduce_max(sounding, -1, keepdims=True)], -1)
    full = tf.concat([logits, tf.zeros_like(logits[..., :1])], -1)
    choice = tf.nn.softmax_cross_entropy_with_logits(category, full)  # (batch, ...)
    struck = tf.cast(onsets > 0, tf.float32)
    start = tf.reduce_sum(sounding * tf.nn.sigmoid_cross_entropy_with_logits(struck, starts), -1)
    return choice + start
