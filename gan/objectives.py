"""Training objectives: which losses the critic and the generator minimize.

An objective is chosen in the config by its ``_target_`` (``train.objective``).
"""

from __future__ import annotations

import abc

import tensorflow as tf

from gan.losses import gradient_penalty, wasserstein_discriminator_loss, wasserstein_generator_loss
from gan.model import GANModel

__all__ = ["Objective", "WassersteinGP"]


class Objective(abc.ABC):
    """The critic's and the generator's losses for one batch on one replica."""

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
