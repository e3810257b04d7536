"""Training objectives: which losses the critic and the generator minimize.

An objective is chosen in the config by its ``_target_`` (``train.objective``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

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
from gan.model import GANModel
from pianoroll.errors import UserError
from pianoroll.targets import buildable

__all__ = ["Classic", "Hinge", "NonSaturating", "Objective", "WassersteinGP"]


@buildable
class Objective(abc.ABC):
    """The critic's and the generator's losses for one batch on one replica."""

    #: Whether both losses are cross-entropies (at least 0, comparable), as freezing needs.
    freezable: bool = False

    def validate(self, model: GANModel) -> None:  # noqa: B027  (optional hook)
        """Raise :class:`UserError` if the model lacks what this objective needs."""

    def balance_losses(self, parts: Mapping[str, float]) -> tuple[float, float]:
        """The critic's and the generator's adversarial losses from a step's named parts, on
        one scale (what freezing compares)."""
        return parts["critic_loss"], parts["generator_loss"]

    @abc.abstractmethod
    def critic_loss(
        self,
        model: GANModel,
        real: tf.Tensor,
        fake: tf.Tensor,
        epsilon: tf.Tensor,
        global_batch_size: int,
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The critic's loss and named parts of it (each a global-batch mean on this replica).

        Args:
            model: the model; ``model.critic`` is called in training mode.
            real: ``(batch, bars, steps, pitches, channels)`` in {-1, 1}.
            fake: the same shape, generator output in (-1, 1).
            epsilon: ``(batch,)`` uniform(0, 1) draws for objectives that interpolate.
            global_batch_size: the batch size summed over replicas.
        """

    @abc.abstractmethod
    def generator_loss(
        self, model: GANModel, real: tf.Tensor, fake: tf.Tensor, global_batch_size: int
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The generator's loss and named parts of it; arguments as in :meth:`critic_loss`."""


def _penalty(
    model: GANModel, real: tf.Tensor, fake: tf.Tensor, epsilon: tf.Tensor, global_batch_size: int
) -> tf.Tensor:
    """The WGAN-GP gradient penalty of ``model.critic`` (before its weight), one per group of
    ``model.penalty_group_axis`` (one per track's critic in MuseGAN's jamming mode)."""
    return gradient_penalty(
        lambda x: model.critic(x, training=True),
        real,
        fake,
        epsilon,
        group_axis=model.penalty_group_axis,
        global_batch_size=global_batch_size,
    )


class WassersteinGP(Objective):
    """WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028), MuseGAN's objective.

    Critic: ``mean(D(fake)) - mean(D(real)) + penalty_weight * gradient_penalty``;
    generator: ``-mean(D(fake))``.

    Args:
        penalty_weight: lambda, the weight of the gradient penalty.
    """

    def __init__(self, penalty_weight: float = 10.0) -> None:
        self.penalty_weight = float(penalty_weight)

    def critic_loss(self, model, real, fake, epsilon, global_batch_size):
        real_scores = model.critic(real, training=True)
        fake_scores = model.critic(fake, training=True)
        wasserstein = wasserstein_discriminator_loss(real_scores, fake_scores, global_batch_size)
        penalty = _penalty(model, real, fake, epsilon, global_batch_size)
        loss = wasserstein + self.penalty_weight * penalty
        return loss, {"critic_loss": loss, "wasserstein": -wasserstein, "gradient_penalty": penalty}

    def generator_loss(self, model, real, fake, global_batch_size):
        loss = wasserstein_generator_loss(model.critic(fake, training=True), global_batch_size)
        return loss, {"generator_loss": loss}


class Hinge(Objective):
    """The hinge loss (Lim and Ye 2017, "Geometric GAN", arXiv:1705.02894), as trained by
    Miyato et al. 2018 (arXiv:1802.05957).

    Critic: ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``, plus
    ``penalty_weight * gradient_penalty`` (WGAN-GP's, per track's critic in jamming mode) when
    ``penalty_weight > 0``; generator: ``-mean(D(fake))``. Miyato et al. bound the critic with
    spectral normalization, which this project's critics lack: the optional penalty is the way
    to keep the critic Lipschitz here. Parts: ``critic_loss`` (penalty included),
    ``gradient_penalty`` (only when it is on) and ``generator_loss``.

    In MuseGAN's jamming mode the critic's score is the sum of the per-track critics' scores,
    so the hinge applies to that sum: unlike the Wasserstein loss (linear in the scores), this
    is not the sum of one hinge loss per track's critic.

    Args:
        penalty_weight: lambda, the weight of the gradient penalty; 0 leaves it out (and skips
            its computation).

    Raises:
        UserError: a negative ``penalty_weight``.
    """

    def __init__(self, penalty_weight: float = 0.0) -> None:
        self.penalty_weight = float(penalty_weight)
        if not self.penalty_weight >= 0.0:
            raise UserError(
                f"train.objective.penalty_weight: must be at least 0, got {penalty_weight}"
            )

    def critic_loss(self, model, real, fake, epsilon, global_batch_size):
        loss = hinge_discriminator_loss(
            model.critic(real, training=True), model.critic(fake, training=True), global_batch_size
        )
        if not self.penalty_weight:
            return loss, {"critic_loss": loss}
        penalty = _penalty(model, real, fake, epsilon, global_batch_size)
        loss = loss + self.penalty_weight * penalty
        return loss, {"critic_loss": loss, "gradient_penalty": penalty}

    def generator_loss(self, model, real, fake, global_batch_size):
        loss = hinge_generator_loss(model.critic(fake, training=True), global_batch_size)
        return loss, {"generator_loss": loss}


class _CrossEntropy(Objective):
    """Objectives whose critic is a discriminator trained with binary cross-entropy on logits,
    real labelled 1 and generated 0 (:func:`~gan.losses.nonsaturating_discriminator_loss`).

    Freezing compares the losses on one scale: the generator's cross-entropy with label 1
    (``-mean(log sigmoid(D(G(z))))``, read from the part named by :attr:`balance_part`, or
    ``generator_loss`` without it) with the critic's mean cross-entropy per term (half its
    loss, which sums a real and a generated term). At the equilibrium (the critic says 1/2
    everywhere) both are ``log 2``, so neither network counts as too strong; compared with
    the critic's whole loss, the generator would be frozen whenever the critic is near chance
    (on the chorales, model=recurrent, it was frozen on 497 of the first 550 adversarial
    steps).
    """

    freezable = True
    #: The part holding the generator's cross-entropy with label 1, when it is reported.
    balance_part: str = "generator_loss"

    def critic_loss(self, model, real, fake, epsilon, global_batch_size):
        loss = nonsaturating_discriminator_loss(
            model.critic(real, training=True), model.critic(fake, training=True), global_batch_size
        )
        return loss, {"critic_loss": loss}

    def balance_losses(self, parts):
        generator = parts.get(self.balance_part, parts["generator_loss"])
        return parts["critic_loss"] / 2.0, generator


class NonSaturating(_CrossEntropy):
    """The standard GAN objective (Goodfellow et al. 2014, arXiv:1406.2661), C-RNN-GAN's.

    Critic: binary cross-entropy on logits, real labelled 1 and generated 0; generator: the
    non-saturating ``-mean(log sigmoid(D(G(z))))``. With ``feature_matching`` the generator
    instead minimizes the squared distance between the means of the critic's last hidden
    features on real and generated batches (Salimans et al. 2016, arXiv:1606.03498); its
    adversarial loss is still reported (``generator_adversarial``) and is what freezing
    compares (see :class:`_CrossEntropy` for the scale).

    Args:
        feature_matching: the generator's loss is feature matching (the model must provide
            :meth:`~gan.model.GANModel.critic_features`).
    """

    balance_part = "generator_adversarial"

    def __init__(self, feature_matching: bool = False) -> None:
        self.feature_matching = bool(feature_matching)

    def validate(self, model):
        if self.feature_matching and not model.has_critic_features:
            raise UserError(
                f"train.objective.feature_matching: {type(model).__name__} does not expose its"
                " critic's features"
            )

    def generator_loss(self, model, real, fake, global_batch_size):
        if not self.feature_matching:
            loss = nonsaturating_generator_loss(
                model.critic(fake, training=True), global_batch_size
            )
            return loss, {"generator_loss": loss}
        fake_logits, fake_features = model.critic_features(fake, training=True)
        _, real_features = model.critic_features(real, training=True)
        loss = feature_matching_loss(real_features, fake_features, global_batch_size)
        adversarial = nonsaturating_generator_loss(fake_logits, global_batch_size)
        return loss, {"generator_loss": loss, "generator_adversarial": adversarial}


class Classic(_CrossEntropy):
    """The original minimax GAN (Goodfellow et al. 2014, arXiv:1406.2661).

    Critic: the same binary cross-entropy as :class:`NonSaturating`; generator: the saturating
    ``mean(log(1 - sigmoid(D(G(z)))))`` (:func:`~gan.losses.classic_generator_loss`), at most
    0, whose gradient vanishes while the critic confidently rejects the generated data.

    Freezing works as with :class:`NonSaturating`: the generator's loss is negative and not on
    the critic's scale, so the generator's cross-entropy with label 1 (the non-saturating
    loss of the same logits, which falls as the minimax loss falls) is reported as
    ``generator_cross_entropy`` and is what freezing compares.
    """

    balance_part = "generator_cross_entropy"

    def generator_loss(self, model, real, fake, global_batch_size):
        logits = model.critic(fake, training=True)
        loss = classic_generator_loss(logits, global_batch_size)
        cross_entropy = nonsaturating_generator_loss(logits, global_batch_size)
        return loss, {"generator_loss": loss, "generator_cross_entropy": cross_entropy}
