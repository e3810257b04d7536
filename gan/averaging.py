"""An exponential moving average of the generator's weights, the network that samples.

Yazıcı et al. (2019), "The Unusual Effectiveness of Averaging in GAN Training" (arXiv:1806.04498):
a GAN's generator oscillates around what it learns, and the running average of its weights
samples better than the weights of any one step. Progressive GAN, BigGAN and StyleGAN sample
from such an average. The trainer updates it after every generator step; samples, evaluations,
generation and export read the average, while training goes on with the raw weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from pianoroll.errors import UserError

__all__ = ["CHECKPOINT_NAME", "WeightAverage", "check_unaveraged"]

#: The average's name in a checkpoint's object graph.
CHECKPOINT_NAME = "generator_average"


#: Names of the non-trained weights that are averaged too: batch norm's statistics belong to
#: the weights they normalize for.
_STATISTICS = frozenset({"moving_mean", "moving_variance"})


def _averaged(weight: Any) -> bool:
    """Whether a network weight is averaged (else copied: a schedule's state, such as an
    annealed slope, stays what the trainer set)."""
    return tf.as_dtype(weight.dtype).is_floating and (
        weight.trainable or weight.name.split("/")[-1] in _STATISTICS
    )


class WeightAverage:
    """``average = decay * average + (1 - decay) * weights`` after every generator step.

    Until generator step ``start`` is done the average is a copy of the weights, so a run can
    average only its late steps; from then on each step moves it by ``1 - decay`` towards the
    weights (a memory of about ``1 / (1 - decay)`` steps). The trained weights and batch
    norm's statistics are averaged; other weights (the annealed slopes of binary neurons and
    Gumbel voices, which the trainer sets by step) are copied, so they stay the step's.

    Args:
        network: the generator (build it, and create this inside the same distribution scope).
        decay: the average's decay per generator step, in (0, 1); None for an average that is
            only restored from a checkpoint and read (inference), never updated.
        start: generator steps done before averaging starts.

    Attributes:
        trackable: what a checkpoint saves under :data:`CHECKPOINT_NAME`.
    """

    def __init__(self, network: keras.Model, decay: float | None, start: int = 0) -> None:
        if decay is not None and not 0.0 < decay < 1.0:
            raise ValueError(f"WeightAverage: decay {decay} is not in (0, 1)")
        self.network, self.decay, self.start = network, decay, int(start)
        self.averages = [
            tf.Variable(tf.convert_to_tensor(w), trainable=False, name=f"average_{i}")
            for i, w in enumerate(network.weights)
        ]
        self._averaged = [_averaged(w) for w in network.weights]
        self.trackable = tf.Module(name=CHECKPOINT_NAME)
        self.trackable.averages = self.averages

    def update(self, done: tf.Tensor) -> None:
        """Fold the network's current weights into the average.

        Args:
            done: generator steps done, this one included (an integer scalar; a tensor inside
                a ``tf.function``).
        """
        if self.decay is None:
            raise RuntimeError("WeightAverage: an average without a decay is read, not updated")
        self._fold(tf.where(tf.cast(done, tf.int64) > self.start, self.decay, 0.0))

    def reset(self) -> None:
        """Make the average a copy of the network's weights (a run that starts averaging when
        resumed from a checkpoint saved without it)."""
        self._fold(0.0)

    def _fold(self, keep: Any) -> None:
        """``average = keep * average + (1 - keep) * weights`` for the averaged weights, a copy
        for the others (``keep`` 0: a copy of all)."""
        for average, weight, averaged in zip(
            self.averages, self.network.weights, self._averaged, strict=True
        ):
            value = tf.convert_to_tensor(weight)
            if averaged:
                share = tf.cast(keep, average.dtype)
                value = share * average + (1 - share) * value
            average.assign(value)

    def copy_to_network(self) -> None:
        """Give the network the averaged weights (for inference; training would go on from
        them)."""
        for average, weight in zip(self.averages, self.network.weights, strict=True):
            weight.assign(average.value())

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Inside: the network holds the averaged weights; after: its own again, exactly."""
        own = [np.asarray(tf.convert_to_tensor(w)) for w in self.network.weights]
        self.copy_to_network()
        try:
            yield
        finally:
            for weight, value in zip(self.network.weights, own, strict=True):
                weight.assign(value)


def check_unaveraged(checkpoint: str, step: int, start: int) -> None:
    """Accept a checkpoint saved without a weight average only where the average would still
    be a copy of the weights: at step ``start`` or before (a run that switches averaging on
    when resumed).

    Args:
        checkpoint: the checkpoint's path prefix (named in the error).
        step: the generator steps done when it was saved.
        start: generator steps done before averaging starts.

    Raises:
        UserError: the average should have started by ``step``.
    """
    if step > start:
        raise UserError(
            f"{checkpoint}: saved without a weight average at step {step}; averaging can start"
            f" at that step or later (train.ema_start={step})"
        )
