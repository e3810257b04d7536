"""Training objectives: which losses the critic and the generator minimize.

An objective is chosen in the config by its ``_target_`` (``train.objective``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import tensorflow as tf

from gan.losses import (
    feature_matching_loss,
    gradient_penalty,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    wasserstein_discriminator_loss,
    wasserstein_generator_loss,
)
from gan.model import GANModel
from pianoroll.errors import UserError
from pianoroll.targets import buildable

__all__ = ["NonSaturating", "Objective", "WassersteinGP"]


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
            real: ``(batch, bars, steps, pitches, tracks)`` in {-1, 1}.
            fake: the same shape, generator output in (-1, 1).
            epsilon: ``(batch,)`` uniform(0, 1) draws for objectives that interpolate.
            global_batch_size: the batch size summed over replicas.
        """

    @abc.abstractmethod
    def generator_loss(
        self, model: GANModel, real: tf.Tensor, fake: tf.Tensor, global_batch_size: int
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The generator's loss and named parts of it; arguments as in :meth:`critic_loss`."""


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
        penalty = gradient_penalty(
            lambda x: model.critic(x, training=True),
            real,
            fake,
            epsilon,
            group_axis=model.penalty_group_axis,
            global_batch_size=global_batch_size,
        )
        loss = wasserstein + self.penalty_weight * penalty
        return loss, {"critic_loss": loss, "wasserstein": -wasserstein, "gradient_penalty": penalty}

    def generator_loss(self, model, real, fake, global_batch_size):
        loss = wasserstein_generator_loss(model.critic(fake, training=True), global_batch_size)
        return loss, {"generator_loss": loss}


class NonSaturating(Objective):
    """The standard GAN objective (Goodfellow et al. 2014, arXiv:1406.2661), C-RNN-GAN's.

    Critic: binary cross-entropy on logits, real labelled 1 and generated 0; generator: the
    non-saturating ``-mean(log sigmoid(D(G(z))))``. With ``feature_matching`` the generator
    instead minimizes the squared distance between the means of the critic's last hidden
    features on real and generated batches (Salimans et al. 2016, arXiv:1606.03498); its
    adversarial loss is still reported (``generator_adversarial``) and is what freezing
    compares.

    Freezing compares the losses on one scale: the generator's cross-entropy with the
    critic's mean cross-entropy per term (half its loss, which sums a real and a generated
    term). At the equilibrium (the critic says 1/2 everywhere) both are ``log 2``, so neither
    network counts as too strong; compared with the critic's whole loss, the generator would
    be frozen whenever the critic is near chance (on the chorales, model=recurrent, it was
    frozen on 497 of the first 550 adversarial steps).

    Args:
        feature_matching: the generator's loss is feature matching (the model must provide
            :meth:`~gan.model.GANModel.critic_features`).
    """

    freezable = True

    def __init__(self, feature_matching: bool = False) -> None:
        self.feature_matching = bool(feature_matching)

    def validate(self, model):
        if self.feature_matching and not model.has_critic_features:
            raise UserError(
                f"train.objective.feature_matching: {type(model).__name__} does not expose its"
                " critic's features"
            )

    def critic_loss(self, model, real, fake, epsilon, global_batch_size):
        loss = nonsaturating_discriminator_loss(
            model.critic(real, training=True), model.critic(fake, training=True), global_batch_size
        )
        return loss, {"critic_loss": loss}

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

    def balance_losses(self, parts):
        generator = parts.get("generator_adversarial", parts["generator_loss"])
        return parts["critic_loss"] / 2.0, generator
