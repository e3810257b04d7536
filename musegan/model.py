"""MuseGAN as the adversarial pair the shared trainer expects (see :class:`gan.model.GANModel`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from gan.model import GANModel
from musegan.critic import CriticConfig, build_critic
from musegan.generator import (
    CONDITION,
    TIME_NOISE,
    BarGeneratorConfig,
    Mode,
    build_generator,
    noise_shapes,
)
from pianoroll.errors import UserError, number_value
from pianoroll.spec import PhraseSpec

__all__ = ["MuseGAN"]


class MuseGAN(GANModel):
    """The generator and critic of one MuseGAN mode.

    Args:
        spec: the phrase spec of the data.
        mode: the mode config: ``name`` (a :class:`~musegan.generator.Mode` value) and
            ``temporal``.
        z_dim: size of each noise vector.
        temporal_filters: filters of the temporal networks' first layer.
        bar_generator: :class:`BarGeneratorConfig` fields.
        critic: :class:`CriticConfig` fields.
        condition_track: name of the track given as a condition (track-conditional), or None.
    """

    def __init__(
        self,
        spec: PhraseSpec,
        mode: Mapping[str, Any],
        z_dim: int = 32,
        temporal_filters: int = 512,
        bar_generator: Mapping[str, Any] | None = None,
        critic: Mapping[str, Any] | None = None,
        condition_track: str | None = None,
    ) -> None:
        self.spec = spec
        name = str(mode["name"])
        try:
            self.mode = Mode(name)
        except ValueError:
            raise UserError(
                f"mode.name: unknown mode {name!r}; choose one of {', '.join(Mode)}"
            ) from None
        self.temporal = bool(mode.get("temporal", True))
        self.z_dim = number_value("model.z_dim", z_dim, low=1)
        number_value("model.temporal_filters", temporal_filters, low=1)
        try:
            self.condition_index = (
                None if condition_track is None else spec.track_index(condition_track)
            )
        except KeyError as err:
            raise UserError(f"model.condition_track: {err.args[0]}") from None
        bar_cfg = BarGeneratorConfig(**dict(bar_generator or {}))
        try:
            critic_cfg = CriticConfig(**dict(critic or {}))  # ValueError: unknown streams
            self.generator = build_generator(
                spec,
                self.mode,
                self.z_dim,
                self.temporal,
                int(temporal_filters),
                bar_cfg,
                self.condition_index,
            )
            self.critic = build_critic(spec, critic_cfg, per_track=self.mode is Mode.JAMMING)
        except ValueError as err:
            raise UserError(f"model: {err}") from None
        self.penalty_group_axis = -1 if self.mode is Mode.JAMMING else None
        # Inference outside a traced function (sampling, evaluation) runs as one compiled
        # graph rather than layer by layer: about twice as fast for thousands of phrases.
        self._infer = tf.function(
            lambda inputs: self.generator(inputs, training=False), reduce_retracing=True
        )
        self.time_noise = TIME_NOISE

    @property
    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        """Noise inputs and their shapes without the batch axis."""
        return noise_shapes(self.spec, self.mode, self.z_dim, self.temporal, self.condition_index)

    def sample_noise(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """Standard normal noise for every input, a pure function of ``seed`` (``(2,)`` int)."""
        return {
            name: tf.random.stateless_normal(
                [batch_size, *shape], tf.random.experimental.stateless_fold_in(seed, i)
            )
            for i, (name, shape) in enumerate(sorted(self.noise_shapes.items()))
        }

    def generate(
        self, noise: Mapping[str, tf.Tensor], real: tf.Tensor | None, training: bool
    ) -> tf.Tensor:
        """Generate ``(batch, bars, steps, pitches, tracks)`` in (-1, 1).

        ``real`` (``(batch, bars, steps, pitches, tracks)`` in {-1, 1}) supplies the condition
        track of a track-conditional model and is ignored otherwise.
        """
        inputs = dict(noise)
        if self.condition_index is not None:
            if real is None:
                raise ValueError("a track-conditional MuseGAN needs the real condition track")
            inputs[CONDITION] = real[..., self.condition_index]
        if not training and tf.executing_eagerly():
            return self._infer(inputs)
        return self.generator(inputs, training=training)

    def config(self) -> dict[str, Any]:
        """What identifies the networks' shapes (compared when a checkpoint is loaded)."""
        return {
            "mode": self.mode.value,
            "temporal": self.temporal,
            "z_dim": self.z_dim,
            "condition_track": None
            if self.condition_index is None
            else self.spec.tracks[self.condition_index].name,
            "spec": self.spec.to_dict(),
        }
