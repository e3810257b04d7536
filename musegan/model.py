"""MuseGAN as the adversarial pair the shared trainer expects (see :class:`gan.model.GANModel`)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from gan.model import GENERATOR_PHASE, GANModel, Phase, without_older_defaults
from gan.voices import Relaxation, VoiceHead
from musegan.binary import Output, SlopeSchedule, parse_output, set_slopes
from musegan.critic import CriticConfig, build_critic, critic_network
from musegan.critic_v2 import SharedPrivateCriticConfig, shared_private_critic
from musegan.generator import (
    BINARY_NOISE,
    CONDITION,
    CONDITION_ONSETS,
    DRAW_NOISE,
    TIME_NOISE,
    BarGeneratorConfig,
    GeneratorFrame,
    Mode,
    build_generator,
)
from musegan.generator_v2 import SharedPrivateConfig, build_shared_private_generator
from musegan.refiner import REFINER_PHASE, RefinerConfig, Schedule, build_refiner
from pianoroll.errors import UserError, choice_value, number_value
from pianoroll.spec import PhraseSpec

__all__ = ["MuseGAN", "Networks"]


class Networks(str, enum.Enum):
    """Which generator and critic (``model.networks``)."""

    AAAI = "aaai"  # the AAAI 2018 paper's: temporal networks and bar generators per track
    V2 = "v2"  # the authors' current ones: shared and private networks, critic streams

    def __str__(self) -> str:
        return self.value


#: Options a shape config records only off these values: checkpoints saved before an option
#: existed imply its value here (no voices: the voices' relaxation is left out).
_OLDER_DEFAULTS = {
    "networks": Networks.AAAI.value,
    "output": Output.TANH.value,
    "voices": Relaxation.SOFTMAX.value,
    "hold": False,
    "voice_scale": 1.0,
    "refiner": None,
}


def _mode(mode: Mapping[str, Any]) -> Mode:
    return choice_value(Mode, mode["name"], "mode.name", "mode", UserError)


def _condition_index(spec: PhraseSpec, track: str | None) -> int | None:
    try:
        return None if track is None else spec.track_index(track)
    except KeyError as err:
        raise UserError(f"model.condition_track: {err.args[0]}") from None


def _networks(value: str, condition_index: int | None) -> Networks:
    networks = choice_value(Networks, value, "model.networks", "networks", UserError)
    if networks is Networks.V2 and condition_index is not None:
        raise UserError(
            "model.condition_track: the v2 networks do not generate track-conditionally;"
            " use model=musegan (the AAAI networks) for accompaniment"
        )
    return networks


def _check_voices(
    spec: PhraseSpec, output: Output, refiner: Mapping[str, Any] | None, condition: int | None
) -> None:
    """Refuse what monophonic voices cannot go with (ValueError naming the option)."""
    if not spec.voices:
        return
    names = ", ".join(spec.tracks[k].name for k in spec.voices)
    if refiner is not None:
        raise ValueError(
            f"refiner: the refiner binarizes free rolls and the voices ({names}) are categorical"
            " already; set data.voices=free to refine free rolls"
        )
    free = [k for k in range(spec.n_tracks) if k not in spec.voices and k != condition]
    if output is not Output.TANH and not free:
        raise ValueError(
            f"output={output}: binary neurons act on free tracks and every generated track is a"
            f" voice ({names}); keep output=tanh, or set data.voices=free"
        )


class MuseGAN(GANModel):
    """The generator and critic of one MuseGAN mode.

    Args:
        spec: the phrase spec of the data.
        mode: the mode config: ``name`` (a :class:`~musegan.generator.Mode` value) and
            ``temporal``.
        z_dim: size of each noise vector.
        temporal_filters: filters of the temporal networks' first layer.
        bar_generator: :class:`BarGeneratorConfig` fields (AAAI networks).
        critic: :class:`CriticConfig` fields (AAAI networks) or
            :class:`~musegan.critic_v2.SharedPrivateCriticConfig` fields (v2).
        condition_track: name of the track given as a condition (track-conditional), or None.
        output: the generator's output layer, a :class:`~musegan.binary.Output` value:
            ``tanh`` (real-valued), ``deterministic`` or ``stochastic`` binary neurons. With a
            refiner, the refiner's binary neurons (the generator then ends in ``tanh``).
        slope: :class:`~musegan.binary.SlopeSchedule` fields: the binary neurons' slope
            annealing by generator step (and the inverse temperature of ``voices=gumbel``).
        refiner: :class:`~musegan.refiner.RefinerConfig` fields, or None for no refiner.
        networks: a :class:`Networks` value.
        generator: :class:`~musegan.generator_v2.SharedPrivateConfig` fields (v2 networks).
        voices: how the monophonic tracks' categories are made differentiable, a
            :class:`~gan.voices.Relaxation` value (see :mod:`gan.voices`).
        hold: the voices' steps hold the note before them or choose a new one (see
            :mod:`gan.voices`); False: every step chooses its pitch, with a start flag.
        voice_scale: the factor on the voices' pitch logits (see :mod:`gan.voices`).
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
        output: str = Output.TANH.value,
        slope: Mapping[str, Any] | None = None,
        refiner: Mapping[str, Any] | None = None,
        networks: str = Networks.AAAI.value,
        generator: Mapping[str, Any] | None = None,
        voices: str = Relaxation.SOFTMAX.value,
        hold: bool = False,
        voice_scale: float = 1.0,
    ) -> None:
        self.spec = spec
        self.mode = _mode(mode)
        self.temporal = bool(mode.get("temporal", True))
        self.z_dim = number_value("model.z_dim", z_dim, low=1)
        number_value("model.temporal_filters", temporal_filters, low=1)
        self.condition_index = _condition_index(spec, condition_track)
        self.networks = _networks(networks, self.condition_index)
        try:
            self.output = parse_output(output)
            self.voices = VoiceHead.of(voices, hold, voice_scale)
            self.hold = bool(spec.voices) and self.voices.hold
            _check_voices(spec, self.output, refiner, self.condition_index)
            self.slope = SlopeSchedule(**dict(slope or {}))
            self.slope.check()
            self.refiner = None if refiner is None else RefinerConfig(**dict(refiner))
            self.base, self.critic = self._build_networks(
                int(temporal_filters), bar_generator, generator, critic
            )
            self.refine = (
                None
                if self.refiner is None
                else build_refiner(spec, self.refiner, self.output, self.condition_index)
            )
        except (TypeError, ValueError) as err:  # TypeError: a key the sizes do not have
            raise UserError(f"model: {err}") from None
        self.generator = self.base if self.refine is None else self._refined_generator()
        self._phase = self.phases[0]
        self.penalty_group_axis = -1 if self.mode is Mode.JAMMING else None
        # Inference outside a traced function (sampling, evaluation) runs as one compiled
        # graph rather than layer by layer: about twice as fast for thousands of phrases.
        self._infer = tf.function(
            lambda inputs, phase: self._forward(inputs, False, phase), reduce_retracing=True
        )
        self.time_noise = TIME_NOISE
        self.draw_noise = DRAW_NOISE

    def _build_networks(
        self,
        temporal_filters: int,
        bar_generator: Mapping[str, Any] | None,
        generator: Mapping[str, Any] | None,
        critic: Mapping[str, Any] | None,
    ) -> tuple[keras.Model, keras.Model]:
        """The generator (before any refiner: it then ends in ``tanh``) and the critic.

        Raises:
            ValueError: sizes that do not fit the spec; TypeError: an unknown size key.
        """
        frame = GeneratorFrame(
            self.spec,
            self.mode,
            self.z_dim,
            self.temporal,
            temporal_filters,
            self.condition_index,
            Output.TANH if self.refiner else self.output,
            self.voices,
        )
        self.frame = frame  # what the generator was built for (its noise inputs)
        if self.networks is Networks.V2:
            base = build_shared_private_generator(
                frame, SharedPrivateConfig(**dict(generator or {}))
            )
            critic_cfg = SharedPrivateCriticConfig(**dict(critic or {}))
            network = shared_private_critic
        else:
            base = build_generator(frame, BarGeneratorConfig(**dict(bar_generator or {})))
            critic_cfg = CriticConfig(**dict(critic or {}))  # ValueError: unknown streams
            network = critic_network
        per_track = self.mode is Mode.JAMMING
        return base, build_critic(self.spec, critic_cfg, per_track, network)

    def _refined_generator(self) -> keras.Model:
        """The generator and refiner as one network (checkpointed and exported)."""
        inputs = {name: keras.Input(shape, name=name) for name, shape in self.noise_shapes.items()}
        if self.condition_index is not None:
            inputs[CONDITION] = keras.Input(self.spec.shape[:3], name=CONDITION)
        out = self._forward(inputs, None, REFINER_PHASE)
        return keras.Model(inputs, out, name=f"{self.base.name}_refined")

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The generator alone, then the refiner, for the staged refiner schedules; else one."""
        first = Phase(GENERATOR_PHASE, 0)
        if self.refiner is None or not self.refiner.staged:
            return (first,)
        return first, Phase(REFINER_PHASE, self.refiner.first_stage_steps)

    def phase_variables(self, phase: Phase) -> list[tf.Variable]:
        """What learns: the generator (first stage), the refiner (second stage of two), or
        both (the joint schedule's second stage, end to end, or no refiner)."""
        if self.refine is None or (self.refiner.staged and phase.name == GENERATOR_PHASE):
            return list(self.base.trainable_variables)
        if Schedule(self.refiner.schedule) is Schedule.TWO_STAGE:
            return list(self.refine.trainable_variables)
        return list(self.generator.trainable_variables)

    def set_step(self, step: int) -> None:
        """Anneal the binary neurons' slope (and the drawing voices' inverse temperature) to
        generator step ``step`` and generate with the phase of the last step done."""
        set_slopes(self.generator, self.slope.slope_at(step))
        self._phase = self.phase_at(max(step - 1, 0))

    def _forward(self, inputs: Mapping[str, Any], training: Any, phase: str) -> Any:
        """The generator's output in the phase named ``phase`` (the refiner's phase adds the
        refiner; its two-stage schedule runs the fixed generator in inference mode)."""
        if self.refine is None:
            return self.base(inputs, training=training)
        base_inputs = {k: v for k, v in inputs.items() if k != BINARY_NOISE}
        if self.refiner.staged and phase == GENERATOR_PHASE:
            return self.base(base_inputs, training=training)
        fixed = Schedule(self.refiner.schedule) is Schedule.TWO_STAGE
        phrases = self.base(base_inputs, training=False if fixed else training)
        if self.output is Output.STOCHASTIC:
            return self.refine([phrases, inputs[BINARY_NOISE]], training=training)
        return self.refine(phrases, training=training)

    @property
    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        """Noise inputs and their shapes without the batch axis."""
        return self.frame.noise_shapes(self.output)

    def sample_noise(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """Standard normal noise for every input, a pure function of ``seed`` (``(2,)`` int)."""
        return {
            name: tf.random.stateless_normal(
                [batch_size, *shape], tf.random.experimental.stateless_fold_in(seed, i)
            )
            for i, (name, shape) in enumerate(sorted(self.noise_shapes.items()))
        }

    def generate(
        self,
        noise: Mapping[str, tf.Tensor],
        real: tf.Tensor | None,
        training: bool,
        phase: Phase | None = None,
    ) -> tf.Tensor:
        """Generate model tensors ``(batch, bars, steps, pitches, channels)``: free tracks in
        (-1, 1) (``tanh``) or {-1, 1} (binary neurons), voices as :mod:`gan.voices` makes them.

        ``real`` (``(batch, bars, steps, pitches, channels)`` in {-1, 1}) supplies the
        condition track (and its onsets if it is a voice) of a track-conditional model and is
        ignored otherwise. ``phase``: the phase
        trained (None: the phase of the last step done, see :meth:`set_step`).
        """
        inputs = dict(noise)
        if self.condition_index is not None:
            if real is None:
                raise ValueError("a track-conditional MuseGAN needs the real condition track")
            channels = self.spec.track_channels(self.condition_index)
            inputs[CONDITION] = real[..., channels[0]]
            if len(channels) > 1:
                inputs[CONDITION_ONSETS] = real[..., channels[1]]
        name = (phase or self._phase).name
        if not training and tf.executing_eagerly():
            return self._infer(inputs, name)
        return self._forward(inputs, training, name)

    def config(self) -> dict[str, Any]:
        """What identifies the networks' shapes (compared when a checkpoint is loaded)."""
        fields = {
            "mode": self.mode.value,
            "temporal": self.temporal,
            "z_dim": self.z_dim,
            "condition_track": None
            if self.condition_index is None
            else self.spec.tracks[self.condition_index].name,
            "spec": self.spec.to_dict(),
            "networks": self.networks.value,
            "output": self.output.value,
            "voices": (self.voices.relaxation if self.spec.voices else Relaxation.SOFTMAX).value,
            "hold": self.hold,
            "voice_scale": self.voices.scale if self.spec.voices else 1.0,
            "refiner": dataclasses.asdict(self.refiner) if self.refiner else None,
        }
        return without_older_defaults(fields, _OLDER_DEFAULTS)
