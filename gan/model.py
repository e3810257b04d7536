"""What the shared trainer needs from a model package: a generator, a critic, and noise."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from pianoroll.spec import PhraseSpec
from pianoroll.targets import buildable

__all__ = ["GENERATOR_PHASE", "GANModel", "Phase", "without_older_defaults"]

#: The name of a model's first (or only) adversarial phase: the generator's own weights learn.
GENERATOR_PHASE = "generator"


@dataclasses.dataclass(frozen=True)
class Phase:
    """A span of adversarial generator steps in which one set of generator weights learns.

    A model with one phase (most) trains all its generator weights throughout. A model with
    several (a generator whose output a refiner learns to binarize, trained in two stages)
    names each: the trainer keeps one optimizer per phase, checkpointed as
    ``<name>_optimizer``, and a killed run resumes in the phase it was in.

    Attributes:
        name: the phase's name (:data:`GENERATOR_PHASE` for the first).
        start: its first generator step (0 for the first phase).
    """

    name: str
    start: int


def without_older_defaults(fields: Mapping[str, Any], older: Mapping[str, Any]) -> dict[str, Any]:
    """A shape config (:meth:`GANModel.config`) without each option of ``older`` that is at
    the value checkpoints made before the option existed imply, so that they keep matching.

    Args:
        fields: the config's fields.
        older: option name -> the value it had, implicitly, before it existed.

    Returns:
        ``fields`` without those options.
    """
    return {k: v for k, v in fields.items() if not (k in older and v == older[k])}


@buildable
class GANModel(abc.ABC):
    """An adversarial pair of networks over phrases of one :class:`PhraseSpec`.

    Attributes:
        spec: the phrase spec.
        generator: the generator network (its weights are checkpointed and exported).
        critic: maps ``(batch, bars, steps, pitches, channels)`` in [-1, 1] to ``(batch, 1)``
            scores (a WGAN critic) or logits (a standard discriminator).
        penalty_group_axis: the axis of independent critics for the gradient penalty, or None.
        recurrent: the networks have recurrent layers (LSTMs); their training step is never
            XLA-compiled on a GPU (see :func:`gan.strategy.check_jit`).
        has_critic_features: :meth:`critic_features` is implemented (for feature matching).
        time_noise: the noise inputs that vary with time; long pieces move them from phrase to
            phrase and keep the others fixed. None: all of them.
        draw_noise: the noise inputs that are per-cell draws of the output (stochastic binary
            neurons, Gumbel voices), not latent vectors: the truncation trick leaves them as
            they are, so the output stays a draw from the generator's distribution.
        condition_index: the track given as a condition (track-conditional models), or None.
        hold: the voices end in the hold form (``model.hold``, see :mod:`gan.voices`): their
            channels are the marginals of a chain that holds a note or chooses anew, which
            Bernoulli decoding follows (:func:`pianoroll.voices.sample_hold_chain`).
    """

    spec: PhraseSpec
    generator: keras.Model
    critic: keras.Model
    penalty_group_axis: int | None = None
    recurrent: bool = False
    has_critic_features: bool = False
    time_noise: frozenset[str] | None = None
    draw_noise: frozenset[str] = frozenset()
    condition_index: int | None = None
    hold: bool = False

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The adversarial phases, in order of their first step (the first starts at 0)."""
        return (Phase(GENERATOR_PHASE, 0),)

    def phase_at(self, step: int) -> Phase:
        """The phase that trains generator step ``step`` (0-based)."""
        return [phase for phase in self.phases if phase.start <= step][-1]

    def phase_variables(self, phase: Phase) -> list[tf.Variable]:
        """The generator weights that learn in ``phase``."""
        return list(self.generator.trainable_variables)

    def set_step(self, step: int) -> None:  # noqa: B027  (optional hook)
        """Set what depends on training progress for the coming forward passes: ``step``
        generator steps are done (the trainer calls it at the start and after every step, the
        run tools after restoring a checkpoint). Used by models whose output layer anneals
        or whose inference path changes with the phase."""

    @abc.abstractmethod
    def sample_noise(self, batch_size: int, seed: tf.Tensor) -> Mapping[str, tf.Tensor]:
        """Noise for ``batch_size`` examples, a pure function of a ``(2,)`` int ``seed``."""

    @abc.abstractmethod
    def generate(
        self,
        noise: Mapping[str, tf.Tensor],
        real: tf.Tensor | None,
        training: bool,
        phase: Phase | None = None,
    ) -> tf.Tensor:
        """Generate ``(batch, bars, steps, pitches, channels)`` in [-1, 1] from noise.

        ``real`` is the real batch in {-1, 1}, for models conditioned on part of it. ``phase``
        is the phase being trained (the trainer passes it); None for inference, which uses
        the phase of the last step done (see :meth:`set_step`).
        """

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """What identifies the networks' shapes; a checkpoint of another config is refused."""

    @property
    def supports_teacher_forcing(self) -> bool:
        """Whether :meth:`teacher_forced` is implemented (for maximum-likelihood pretraining)."""
        return False

    def teacher_forced(
        self, noise: Mapping[str, tf.Tensor], real: tf.Tensor, training: bool
    ) -> tf.Tensor:
        """The generator's pre-tanh outputs when fed the real data's previous steps.

        Args:
            noise: from :meth:`sample_noise`.
            real: ``(batch, bars, steps, pitches, channels)`` in {-1, 1}.
            training: training mode.

        Returns:
            ``(batch, bars, steps, pitches, channels)`` unbounded pre-activations ``a`` (the
            generator's output would be ``tanh(a)``), each predicting ``real`` at its step.
        """
        raise NotImplementedError(f"{type(self).__name__} has no teacher-forced generator")

    def critic_features(self, phrases: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """The critic's ``(batch, 1)`` output and its last hidden features ``(batch, ...)``."""
        raise NotImplementedError(f"{type(self).__name__} does not expose critic features")

    def generator_feed(self, inputs: Mapping[str, tf.Tensor]) -> Any:
        """What :attr:`generator` takes, from the serving inputs (the noise inputs by name, plus
        ``condition`` ``(batch, bars, steps, pitches)`` in {-1, 1} for conditional models): the
        dict itself unless a model's network takes something else."""
        return dict(inputs)

    def phrases_from_generator(self, output: tf.Tensor) -> tf.Tensor:
        """The generator network's output as ``(batch, bars, steps, pitches, channels)``."""
        return output

    def generate_bars(self, count: int, bars: int, seed: tf.Tensor) -> np.ndarray | None:
        """Generate ``count`` pieces of ``bars`` bars in one pass, for models that can (a
        recurrent generator runs for any length); None for the others, whose long pieces are
        consecutive phrases (see :mod:`gan.generate`).

        Returns:
            ``(count, bars, steps, pitches, channels)`` ``float32`` in (-1, 1), or None.
        """
        return None

    def generate_numpy(
        self,
        noise: Mapping[str, Any],
        real: np.ndarray | None = None,
        chunk: int = 256,
    ) -> np.ndarray:
        """Generate in inference mode, ``chunk`` examples at a time.

        Args:
            noise: input name -> ``(N, *shape)`` noise.
            real: ``(N, bars, steps, pitches, channels)`` in {-1, 1} holding the condition track
                of a conditional model; None otherwise.
            chunk: examples per forward pass (bounds the memory used).

        Returns:
            ``(N, bars, steps, pitches, channels)`` ``float32`` in (-1, 1).
        """
        count = len(next(iter(noise.values())))
        out = []
        for start in range(0, count, chunk):
            part = {k: tf.constant(np.asarray(v[start : start + chunk])) for k, v in noise.items()}
            condition = None if real is None else tf.constant(real[start : start + chunk])
            out.append(np.asarray(self.generate(part, condition, training=False), np.float32))
        return np.concatenate(out)
