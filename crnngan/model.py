"""C-RNN-GAN as the adversarial pair the shared trainer expects (see :class:`gan.model.GANModel`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from crnngan.discriminator import DiscriminatorConfig, build_discriminator
from crnngan.generator import DenseGenerator, FreeRun, GeneratorConfig
from gan.model import GANModel, Phase, without_older_defaults
from gan.voices import Relaxation, VoiceHead
from pianoroll.errors import UserError
from pianoroll.spec import PhraseSpec

__all__ = ["CRNNGAN"]

#: Options a shape config records only off these values: checkpoints saved before an option
#: existed imply its value here.
_OLDER_DEFAULTS = {"hold": False}


class CRNNGAN(GANModel):
    """C-RNN-GAN (Mogren 2016, arXiv:1611.09904) over pianoroll phrases read as sequences.

    A phrase's model tensor ``(bars, steps, pitches, channels)`` (the tracks, then each
    monophonic voice's onsets: see :mod:`pianoroll`) is a sequence of ``seq_len = bars * steps``
    time steps, each the vector of every channel's pitches (``pitches * channels``
    features, pitch-major: feature ``p * channels + c`` is pitch ``p`` of channel ``c``).

    Args:
        spec: the phrase spec of the data.
        generator: a generator config (:class:`~crnngan.generator.DenseGenerator` or
            :class:`~crnngan.generator.RecurrentGenerator`).
        discriminator: :class:`~crnngan.discriminator.DiscriminatorConfig` fields.
        seq_len: time steps per training sequence; must be the data's phrase length (the
            configs derive ``data.spec.n_bars`` from it). None: the phrase length.
        voices: how the monophonic tracks' categories are made differentiable, a
            :class:`~gan.voices.Relaxation` value (see :mod:`gan.voices`).
        hold: the voices' steps hold the note before them or choose a new one (the hold form
            of :mod:`gan.voices`); the dense generator only, which makes a whole phrase at once.
    """

    recurrent = True
    has_critic_features = True

    def __init__(
        self,
        spec: PhraseSpec,
        generator: GeneratorConfig,
        discriminator: Mapping[str, Any] | None = None,
        seq_len: int | None = None,
        voices: str = Relaxation.SOFTMAX.value,
        hold: bool = False,
    ) -> None:
        self.spec = spec
        phrase_steps = spec.n_bars * spec.steps_per_bar
        self.seq_len = phrase_steps if seq_len is None else int(seq_len)
        if self.seq_len != phrase_steps:
            raise UserError(
                f"model.seq_len: {self.seq_len} steps, but the data's phrases have {phrase_steps}"
                f" ({spec.n_bars} bars of {spec.steps_per_bar}); leave data.spec.n_bars to follow"
                " model.seq_len"
            )
        if not isinstance(generator, GeneratorConfig):
            raise UserError(
                f"model.generator: {type(generator).__name__} is not a generator config"
                " (give it a _target_ such as crnngan.generator.RecurrentGenerator)"
            )
        self.n_features = spec.n_pitches * spec.n_channels
        try:
            self.discriminator_config = DiscriminatorConfig(**dict(discriminator or {}))
        except (TypeError, ValueError) as err:
            raise UserError(f"model.discriminator: {err}") from None
        try:
            head = VoiceHead.of(voices, hold)
        except ValueError as err:
            raise UserError(f"model.{err}") from None
        self.relaxation = head.relaxation
        if self.relaxation.noisy and spec.voices:
            raise UserError(
                f"model.voices: {self.relaxation} draws with noise that C-RNN-GAN's generators"
                f" do not take; choose {Relaxation.SOFTMAX} or {Relaxation.STRAIGHT_THROUGH}"
            )
        if (
            getattr(generator, "free_run", FreeRun.SOFT) == FreeRun.SAMPLE
            and spec.voices
            and self.relaxation is not Relaxation.SOFTMAX
        ):
            raise UserError(
                f"model.voices: {self.relaxation} with model.generator.free_run=sample; a sampled"
                f" free run draws its voices itself, through their {Relaxation.SOFTMAX}"
            )
        self.hold = head.hold and bool(spec.voices)
        if self.hold and not isinstance(generator, DenseGenerator):
            raise UserError(
                f"model.hold=true: {type(generator).__name__} makes one step at a time, and the"
                " hold form needs the whole phrase at once (DenseGenerator)"
            )
        self.generator_config = generator
        channels = None  # gan.voices.ChannelOutput's arguments
        if spec.voices:
            channels = {
                "n_tracks": spec.n_tracks,
                "voices": list(spec.voices),
                "relaxation": self.relaxation.value,
                "hold": self.hold,
            }
        self.generator = generator.build(self.seq_len, self.n_features, channels)
        self.critic, self.critic_with_features = build_discriminator(
            spec.channel_shape, self.discriminator_config
        )

    @property
    def supports_teacher_forcing(self) -> bool:
        """Whether the generator can be pretrained teacher-forced (the recurrent one)."""
        return self.generator_config.teacher_forcing

    def sample_noise(
        self, batch_size: int, seed: tf.Tensor, length: int | None = None
    ) -> dict[str, tf.Tensor]:
        """Noise for ``batch_size`` sequences of ``length`` steps (default ``seq_len``).

        Returns:
            ``{"noise": ...}``: ``(batch, noise_dim)`` standard normal for the dense generator,
            ``(batch, length, noise_dim + draws)`` uniform(0, 1) for the recurrent one (the
            ``draws`` numbers of a sampled free run, :class:`~crnngan.generator.FreeRun`,
            from a seed folded from ``seed``, so that its ``noise_dim`` part is the same with
            either free run).
        """
        length = self.seq_len if length is None else int(length)
        self._check_length(length)
        noise = self.generator_config.sample_noise(batch_size, length, seed)
        draws = getattr(self.generator, "draws", 0)
        if draws:
            uniform = tf.random.stateless_uniform(
                [batch_size, length, draws], tf.random.experimental.stateless_fold_in(seed, 1)
            )
            noise = tf.concat([noise, uniform], axis=-1)
        return {"noise": noise}

    def _check_length(self, length: int) -> None:
        if length < 1 or (length != self.seq_len and not self.generator_config.any_length):
            raise UserError(
                f"length {length}: the {type(self.generator_config).__name__} generates exactly"
                f" {self.seq_len} steps"
            )

    def generate_sequence(
        self, noise: Mapping[str, tf.Tensor], training: bool = False
    ) -> tf.Tensor:
        """Generate sequences as long as the noise says (any length for the recurrent generator).

        Args:
            noise: from :meth:`sample_noise`, with the length wanted.
            training: training mode (batch-norm statistics of the dense generator).

        Returns:
            ``(batch, time, pitches * channels)`` ``float32`` in (-1, 1).
        """
        return self.generator(noise["noise"], training=training)

    def generator_feed(self, inputs: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """The generator network takes the ``noise`` tensor itself."""
        return inputs["noise"]

    def phrases_from_generator(self, output: tf.Tensor) -> tf.Tensor:
        """``(batch, time, pitches * channels)`` sequences as phrases."""
        return self.to_phrases(output)

    def generate_bars(self, count: int, bars: int, seed: tf.Tensor) -> np.ndarray | None:
        """``count`` pieces of ``bars`` bars in one pass of the recurrent generator (None for the
        dense one, which makes exactly ``seq_len`` steps): see :meth:`GANModel.generate_bars`."""
        if not self.generator_config.any_length:
            return None
        noise = self.sample_noise(count, seed, length=bars * self.spec.steps_per_bar)
        return np.asarray(self.to_phrases(self.generate_sequence(noise)), np.float32)

    def to_phrases(self, sequence: tf.Tensor) -> tf.Tensor:
        """``(batch, time, pitches * channels)`` -> ``(batch, time / steps_per_bar, steps, pitches,
        tracks)``; ``time`` must be a whole number of bars."""
        length = int(sequence.shape[1])
        if length % self.spec.steps_per_bar:
            raise UserError(
                f"length {length}: not a whole number of {self.spec.steps_per_bar}-step bars"
            )
        shape = (length // self.spec.steps_per_bar, *self.spec.channel_shape[1:])
        return tf.reshape(sequence, [-1, *shape])

    def to_sequence(self, phrases: tf.Tensor) -> tf.Tensor:
        """``(batch, bars, steps, pitches, channels)`` -> ``(batch, bars * steps, pitches * channels)``."""
        return tf.reshape(phrases, [-1, phrases.shape[1] * phrases.shape[2], self.n_features])

    def generate(
        self,
        noise: Mapping[str, tf.Tensor],
        real: tf.Tensor | None,
        training: bool,
        phase: Phase | None = None,
    ) -> tf.Tensor:
        """Generate ``(batch, bars, steps, pitches, channels)`` in (-1, 1); ``real`` is unused,
        and so is ``phase`` (one phase)."""
        return self.to_phrases(self.generate_sequence(noise, training))

    def teacher_forced(
        self, noise: Mapping[str, tf.Tensor], real: tf.Tensor, training: bool
    ) -> tf.Tensor:
        """See :meth:`gan.model.GANModel.teacher_forced`: the recurrent generator fed the real
        steps before each step (a silent step before the first), its LSTM layers run over the whole
        sequence at once."""
        if not self.supports_teacher_forcing:
            raise UserError(
                f"{type(self.generator_config).__name__}: not a recurrent generator; only"
                " model=recurrent can be pretrained teacher-forced"
            )
        sequence = self.to_sequence(tf.cast(real, tf.float32))
        previous = tf.pad(sequence[:, :-1], [[0, 0], [1, 0], [0, 0]], constant_values=-1.0)
        logits = self.generator.teacher_forced(noise["noise"], previous, training=training)
        return tf.reshape(logits, tf.shape(real))

    def critic_features(self, phrases: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """The discriminator's ``(batch, 1)`` output and its last hidden features."""
        output, features = self.critic_with_features(phrases, training=training)
        return output, features

    def config(self) -> dict[str, Any]:
        """What identifies the networks' shapes (compared when a checkpoint is loaded)."""
        fields = {
            "seq_len": self.seq_len,
            "generator": self.generator_config.identity(),
            "discriminator": self.discriminator_config.identity(),
            "spec": self.spec.to_dict(),
            "hold": self.hold,
        }
        return without_older_defaults(fields, _OLDER_DEFAULTS)
