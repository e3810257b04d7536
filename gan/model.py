"""What the shared trainer needs from a model package: a generator, a critic, and noise."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from pianoroll.spec import PhraseSpec

__all__ = ["GANModel"]


class GANModel(abc.ABC):
    """An adversarial pair of networks over phrases of one :class:`PhraseSpec`.

    Attributes:
        spec: the phrase spec.
        generator: the generator network (its weights are checkpointed and exported).
        critic: maps ``(batch, bars, steps, pitches, tracks)`` in [-1, 1] to ``(batch, 1)``
            scores (a WGAN critic) or logits (a standard discriminator).
        penalty_group_axis: the axis of independent critics for the gradient penalty, or None.
    """

    spec: PhraseSpec
    generator: keras.Model
    critic: keras.Model
    penalty_group_axis: int | None = None

    @abc.abstractmethod
    def sample_noise(self, batch_size: int, seed: tf.Tensor) -> Mapping[str, tf.Tensor]:
        """Noise for ``batch_size`` examples, a pure function of a ``(2,)`` int ``seed``."""

    @abc.abstractmethod
    def generate(
        self, noise: Mapping[str, tf.Tensor], real: tf.Tensor | None, training: bool
    ) -> tf.Tensor:
        """Generate ``(batch, bars, steps, pitches, tracks)`` in (-1, 1) from noise.

        ``real`` is the real batch in {-1, 1}, for models conditioned on part of it.
        """

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """What identifies the networks' shapes; a checkpoint of another config is refused."""
