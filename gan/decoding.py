"""How a run's generator outputs become binary phrases: the ``binarize``, ``temperature`` and
``voices`` options of the generate and evaluate commands.

``voices=model`` (the default) decodes what the model makes: its categorical voices, if it was
trained with them, and free rolls otherwise. ``voices=skyline`` reads a model trained on free
rolls (``data.voices=free``) as monophonic voices: the tracks its data spec flags
``monophonic`` keep their highest sounding pitch at each step, the rule data preparation
applies to the data's overlaps (:func:`pianoroll.voices.skyline`), so the phrases have the
voices' form end to end (onsets, MIDI, the voice form of the data to compare with).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from pianoroll.errors import UserError, choice_value, number_option
from pianoroll.output import BINARIZATIONS
from pianoroll.prepare import make_spec
from pianoroll.spec import PhraseSpec
from pianoroll.voices import Voices, decode, skyline

__all__ = ["Decoding", "DecodingOptions", "VoiceDecoding", "parse_voice_decoding"]


class VoiceDecoding(str, enum.Enum):
    """How the voices come out of a generator (the ``voices`` option)."""

    MODEL = "model"  # as the model makes them: its categorical voices, or free rolls
    SKYLINE = "skyline"  # a free-roll model's flagged tracks, each step's highest pitch kept

    def __str__(self) -> str:
        return self.value


def parse_voice_decoding(value: Any) -> VoiceDecoding:
    """The ``voices`` option as a :class:`VoiceDecoding`.

    Raises:
        UserError: an unknown value.
    """
    return choice_value(VoiceDecoding, value, "voices", error=UserError)


@dataclasses.dataclass(frozen=True)
class DecodingOptions:
    """A command's decoding options, checked once, before any run is read.

    Attributes:
        method: ``binarize``, one of :data:`pianoroll.output.BINARIZATIONS`.
        temperature: ``temperature`` where the command has one, else 1.
        voices: ``voices`` (``model`` if absent).
    """

    method: str
    temperature: float
    voices: VoiceDecoding

    @classmethod
    def from_config(cls, cfg: DictConfig) -> DecodingOptions:
        """The options of a command's config (``binarize``, ``voices``, ``temperature``).

        Raises:
            UserError: a bad value.
        """
        method = str(cfg.binarize)
        if method not in BINARIZATIONS:
            raise UserError(f"binarize={method}: choose one of {', '.join(BINARIZATIONS)}")
        temperature = (
            number_option(cfg, "temperature", float, positive=True) if "temperature" in cfg else 1.0
        )
        return cls(
            method, temperature, parse_voice_decoding(cfg.get("voices", VoiceDecoding.MODEL))
        )


@dataclasses.dataclass(frozen=True)
class Decoding:
    """A run's decoding: generator outputs to binary phrases and their voices' onsets.

    Attributes:
        method: ``threshold`` or ``bernoulli`` (:func:`pianoroll.voices.decode`).
        temperature: divides the logits before Bernoulli sampling.
        voices: how the voices come out.
        model_spec: the spec of the generator's outputs.
        spec: the spec of the decoded phrases (with ``voices=skyline``, the data's voices).
        data: the data config whose phrases the decoded ones are compared with.
        hold: the model's voices are in the hold form (:attr:`gan.model.GANModel.hold`).
    """

    method: str
    temperature: float
    voices: VoiceDecoding
    model_spec: PhraseSpec
    spec: PhraseSpec
    data: DictConfig
    hold: bool = False

    @classmethod
    def of(
        cls,
        options: DecodingOptions,
        run_cfg: DictConfig,
        model_spec: PhraseSpec,
        hold: bool = False,
    ) -> Decoding:
        """The decoding a command's options ask of a run.

        Args:
            options: the command's decoding options.
            run_cfg: the run's saved config (its ``data`` node).
            model_spec: the spec of the run's generator outputs.
            hold: the model's voices are in the hold form.

        Raises:
            UserError: ``voices=skyline`` for a run that has no free-roll
                track to read as a voice.
        """
        method, temperature, voices = options.method, options.temperature, options.voices
        data = run_cfg.data
        spec = model_spec
        if voices is VoiceDecoding.SKYLINE:
            if model_spec.voices:
                raise UserError(
                    "voices=skyline: this run generates its voices as categories already"
                    f" (data.voices={Voices.MONOPHONIC}); skyline reads a free-roll run's tracks"
                )
            data = OmegaConf.merge(data, {"voices": str(Voices.MONOPHONIC)})
            spec = make_spec(data)
            if not spec.voices:
                raise UserError(
                    "voices=skyline: the run's data.spec flags no track monophonic, so no track"
                    " would be read as a voice"
                )
        return cls(method, temperature, voices, model_spec, spec, data, hold)

    def __call__(
        self, outputs: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode generator outputs.

        Args:
            outputs: ``(N, bars, steps, pitches, channels)`` in [-1, 1], the model spec's
                channels.
            rng: for Bernoulli sampling.

        Returns:
            ``(rolls, onsets)``: ``(N, bars, steps, pitches, tracks)`` binary each; ``onsets``
            marks where the voices' notes start (zero on other tracks), None without voices.
        """
        rolls, onsets = decode(
            outputs, self.model_spec, self.method, rng, self.temperature, self.hold
        )
        if self.voices is VoiceDecoding.SKYLINE:
            rolls, onsets = skyline(rolls, self.spec)
        return rolls, onsets

    def describe(self) -> str:
        """One line for a report or a gallery: the binarization, its temperature, the voices."""
        line = f"binarization {self.method}, temperature {self.temperature:g}"
        if self.hold and self.method == "bernoulli":
            line += ", voices drawn along their hold chain"
        return line + (f", voices {self.voices}" if self.voices is not VoiceDecoding.MODEL else "")
