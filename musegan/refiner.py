"""BinaryMuseGAN's refiner: residual networks that turn a generator's real-valued phrases into
binary ones (Dong and Yang, ISMIR 2018, arXiv:1804.09399).

One private network per generated track, applied to every bar: residual units of batch norm,
ReLU and a 2D convolution over (time, pitch), twice, added to the unit's input; the result is
the pre-activation of binary neurons (:class:`musegan.binary.BinaryNeuron`). Before any
training the residuals are small, so a refiner with deterministic neurons starts as the hard
threshold at 0 of the generator's output.

The refiner trains on a schedule (:class:`Schedule`): after the generator (two stages, with the
generator fixed, or jointly with it), or with it from the first step (end to end). A stage is
a phase of the shared training loop (:class:`gan.model.Phase`), checkpointed and resumed like
any other step.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

import keras
from keras import layers, ops

from musegan.binary import BinaryNeuron, Output
from musegan.layers import BatchNorm, normal_init, one_or_list
from pianoroll.errors import choice_value
from pianoroll.spec import PhraseSpec

__all__ = ["REFINER_PHASE", "RefinerConfig", "Schedule", "build_refiner"]

#: The name of the refiner's phase (:class:`gan.model.Phase`) in staged schedules.
REFINER_PHASE = "refiner"


class Schedule(str, enum.Enum):
    """When the refiner trains (``model.refiner.schedule``)."""

    TWO_STAGE = "two_stage"  # the generator first; then the refiner, the generator fixed
    JOINT = "joint"  # the generator first; then the refiner and the generator together
    END_TO_END = "end_to_end"  # the refiner and the generator together from the first step

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class RefinerConfig:
    """The refiner's sizes and schedule.

    Attributes:
        schedule: a :class:`Schedule` value.
        first_stage_steps: generator steps of the first stage (the generator alone) for the
            two-stage and joint schedules; ignored end to end.
        units: residual units per track.
        filters: filters of each unit's first convolution (its second has one).
        kernel: ``(steps, pitches)`` of every convolution (``same`` padding).
        momentum: batch-norm momentum.
    """

    schedule: str = Schedule.TWO_STAGE.value
    first_stage_steps: int = 0
    units: int = 2
    filters: int = 64
    kernel: Sequence[int] = (3, 12)
    momentum: float = 0.9

    @property
    def staged(self) -> bool:
        """Whether the generator trains alone first."""
        return Schedule(self.schedule) is not Schedule.END_TO_END

    def check(self) -> None:
        """Raise ValueError naming the first bad field."""
        choice_value(Schedule, self.schedule, "model.refiner.schedule", "schedule")
        if self.staged and self.first_stage_steps < 1:
            raise ValueError(
                f"model.refiner.first_stage_steps: the {self.schedule} schedule needs at least"
                f" one step of the generator alone, got {self.first_stage_steps}"
            )
        if self.units < 1 or self.filters < 1:
            raise ValueError("model.refiner: units and filters must be at least 1")
        if len(self.kernel) != 2 or min(self.kernel) < 1:
            raise ValueError(
                f"model.refiner.kernel: two positive sizes (steps, pitches), got {self.kernel}"
            )


def _track_refiner(spec: PhraseSpec, cfg: RefinerConfig, name: str) -> keras.Model:
    """One track's residual network: ``(batch, steps, pitches, 1)`` in [-1, 1] -> the binary
    neurons' pre-activations, same shape (``float32``)."""
    x = inp = keras.Input((spec.steps_per_bar, spec.n_pitches, 1), name=f"{name}_in")
    for i in range(cfg.units):
        h = x
        for j, filters in enumerate((cfg.filters, 1)):
            h = BatchNorm(momentum=cfg.momentum, synchronized=True, name=f"{name}_unit{i}_bn{j}")(h)
            h = layers.ReLU(name=f"{name}_unit{i}_relu{j}")(h)
            h = layers.Conv2D(
                filters,
                tuple(cfg.kernel),
                padding="same",
                kernel_initializer=normal_init(),
                name=f"{name}_unit{i}_conv{j}",
            )(h)
        x = layers.Add(name=f"{name}_unit{i}_add")([x, h])
    out = layers.Activation("linear", dtype="float32", name=f"{name}_out")(x)
    return keras.Model(inp, out, name=name)


def build_refiner(
    spec: PhraseSpec, cfg: RefinerConfig, output: Output, condition_index: int | None
) -> keras.Model:
    """The refiner of every generated track, ending in binary neurons.

    Args:
        spec: the phrase spec.
        cfg: sizes (checked here).
        output: :attr:`Output.DETERMINISTIC` or :attr:`Output.STOCHASTIC`.
        condition_index: the track given as a condition, passed through unchanged; or None.

    Returns:
        A model ``phrases`` (``(batch, bars, steps, pitches, tracks)`` in [-1, 1]; for
        stochastic neurons ``[phrases, noise]`` with ``noise`` standard normal of shape
        ``(batch, bars, steps, pitches, generated tracks)``) -> ``(batch, bars, steps, pitches,
        tracks)`` in {-1, 1} (the condition track as given).

    Raises:
        ValueError: bad sizes, or ``output`` is not binary.
    """
    cfg.check()
    if output is Output.TANH:
        raise ValueError(
            "model.refiner: the refiner ends in binary neurons; set model.output to"
            " deterministic or stochastic"
        )
    bars, steps, pitches, n_tracks = spec.shape
    phrases = keras.Input(spec.shape, name="refiner_in")
    generated = [k for k in range(n_tracks) if k != condition_index]
    refined = []
    for k in generated:
        bar = ops.reshape(phrases[..., k], (-1, steps, pitches, 1))
        pre = _track_refiner(spec, cfg, f"refiner_{k}")(bar)
        refined.append(ops.reshape(pre, (-1, bars, steps, pitches)))
    pre_activation = ops.stack(refined, axis=-1)
    inputs = [phrases]
    neuron = BinaryNeuron(output, name="refiner_binary")
    if output is Output.STOCHASTIC:
        noise = keras.Input((bars, steps, pitches, len(generated)), name="refiner_noise")
        inputs.append(noise)
        binary = neuron([pre_activation, noise])
    else:
        binary = neuron(pre_activation)
    tracks = [binary[..., i] for i in range(len(generated))]
    if condition_index is not None:
        tracks.insert(condition_index, ops.cast(phrases[..., condition_index], binary.dtype))
    out = ops.stack(tracks, axis=-1)
    return keras.Model(one_or_list(inputs), out, name="refiner")
