"""The C-RNN-GAN discriminator: LSTM layers over the time steps of a phrase.

The model tensor ``(bars, steps, pitches, channels)`` is read as a sequence of ``bars * steps`` time
steps of ``pitches * channels`` features. The discriminator has no sigmoid: it outputs a logit
(the standard GAN loss applies the sigmoid) or, for WGAN-GP, a score.

Two heads:

- on the final state (the dense preset): the last LSTM layer returns its final output, then
  dense layers, then one unit;
- on every step (the paper's): one dense unit shared by all steps gives a per-step logit, and
  the logits are pooled over time (:class:`TimePooling`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from gan.model import without_older_defaults
from pianoroll.errors import choice_value

__all__ = ["DiscriminatorConfig", "InputScale", "Pooling", "TimePooling", "build_discriminator"]


class Pooling(str, enum.Enum):
    """How per-step outputs are pooled over time (see :class:`TimePooling`)."""

    PROBABILITY = "probability"
    MEAN = "mean"

    def __str__(self) -> str:
        return self.value


class InputScale(str, enum.Enum):
    """How a step's cells enter the first LSTM (``model.discriminator.input_scale``)."""

    SIGNED = "signed"  # the model tensor's [-1, 1]
    PROBABILITY = "probability"  # (x + 1) / 2: a silent cell adds nothing to the input units

    def __str__(self) -> str:
        return self.value


@keras.saving.register_keras_serializable(package="crnngan")
class TimePooling(keras.layers.Layer):
    """Pool per-step outputs ``(batch, time, 1)`` over time to ``(batch, 1)``.

    ``probability``: the log-odds of the mean per-step probability, so that the loss's sigmoid
    of it is C-RNN-GAN's decision (the per-step sigmoids averaged over time):
    ``log(mean sigmoid(l)) - log(mean sigmoid(-l))``, computed with log-sum-exp so that it
    stays finite for large logits. ``mean``: the mean per-step score (for WGAN-GP, whose
    critic has no sigmoid anywhere).

    Args:
        mode: a :class:`Pooling` or its spelling.
    """

    def __init__(self, mode: Pooling | str = Pooling.PROBABILITY, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode = choice_value(Pooling, mode, self.name, "time pooling").value

    def call(self, logits):
        if self.mode == Pooling.MEAN:
            return ops.mean(logits, axis=1)
        # The 1/T of both means cancels in the difference.
        return ops.logsumexp(ops.log_sigmoid(logits), axis=1) - ops.logsumexp(
            ops.log_sigmoid(-logits), axis=1
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """Sizes and head of the discriminator.

    Attributes:
        units: LSTM widths, one per layer (a bidirectional layer has twice as many outputs).
        bidirectional: per LSTM layer, whether it reads both directions.
        per_step: True: a logit at every step, pooled over time (the paper's); False: the last
            LSTM layer's final output goes through the dense layers (the dense preset's).
        dense_units: widths of the LeakyReLU dense layers before the output unit (applied at
            every step when ``per_step``).
        time_pooling: with ``per_step``, a :class:`Pooling` spelling: ``probability`` (the
            standard loss on the mean per-step probability, as in the paper) or ``mean`` (the
            mean score, for WGAN-GP).
        leak: LeakyReLU slope.
        input_scale: an :class:`InputScale` spelling.
    """

    units: Sequence[int] = (512, 512)
    bidirectional: Sequence[bool] = (False, True)
    per_step: bool = False
    dense_units: Sequence[int] = (512, 256)
    time_pooling: str = Pooling.PROBABILITY.value
    leak: float = 0.2
    input_scale: str = InputScale.SIGNED.value

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(int(u) for u in self.units))
        object.__setattr__(self, "bidirectional", tuple(bool(b) for b in self.bidirectional))
        object.__setattr__(self, "dense_units", tuple(int(u) for u in self.dense_units))
        if not self.units or min(self.units) < 1:
            raise ValueError(
                f"discriminator: units needs at least one LSTM layer, got {list(self.units)}"
            )
        if len(self.bidirectional) != len(self.units):
            raise ValueError(
                f"discriminator: bidirectional needs one entry per LSTM layer ({len(self.units)}),"
                f" got {len(self.bidirectional)}"
            )
        for key, kind in (("time_pooling", Pooling), ("input_scale", InputScale)):
            value = choice_value(kind, getattr(self, key), "discriminator", key)
            object.__setattr__(self, key, value.value)

    def identity(self) -> dict[str, Any]:
        """The fields a checkpoint must match; a ``signed`` input scale is left out, as
        checkpoints made before the option existed do."""
        return without_older_defaults(
            dataclasses.asdict(self), {"input_scale": InputScale.SIGNED.value}
        )


def build_discriminator(
    phrase_shape: Sequence[int], cfg: DiscriminatorConfig
) -> tuple[keras.Model, keras.Model]:
    """The discriminator, and the same network returning its last hidden features too.

    Args:
        phrase_shape: ``(bars, steps, pitches, channels)`` (a model tensor's).
        cfg: sizes and head.

    Returns:
        ``critic``: ``(batch, bars, steps, pitches, channels)`` in [-1, 1] -> ``(batch, 1)``
        ``float32`` logits (or scores); ``with_features``: the same input -> ``[output,
        features]``, where ``features`` are the last hidden layer's activations,
        ``(batch, units)`` or, with ``per_step``, ``(batch, time, units)``. Both share every
        layer.
    """
    bars, steps, pitches, channels = (int(n) for n in phrase_shape)
    phrase = keras.Input((bars, steps, pitches, channels), name="phrase")
    x = layers.Reshape((bars * steps, pitches * channels), name="sequence")(phrase)
    if cfg.input_scale == InputScale.PROBABILITY:
        x = layers.Rescaling(0.5, offset=0.5, name="probability")(x)
    last = len(cfg.units) - 1
    for i, (units, both_ways) in enumerate(zip(cfg.units, cfg.bidirectional, strict=True)):
        lstm = layers.LSTM(units, return_sequences=cfg.per_step or i < last, name=f"lstm{i}")
        x = (layers.Bidirectional(lstm, name=f"bilstm{i}") if both_ways else lstm)(x)
    for i, units in enumerate(cfg.dense_units):
        x = layers.Dense(units, name=f"dense{i}")(x)
        x = layers.LeakyReLU(cfg.leak, name=f"dense{i}_leaky")(x)
    features = x
    out = layers.Dense(1, dtype="float32", name="logit")(x)
    if cfg.per_step:
        out = TimePooling(cfg.time_pooling, dtype="float32", name="pool")(out)
    critic = keras.Model(phrase, out, name="critic")
    with_features = keras.Model(phrase, [out, features], name="critic_with_features")
    return critic, with_features
