"""C-RNN-GAN generators: a dense one (the whole sequence at once) and a recurrent one.

A generator maps noise to a sequence ``(batch, time, features)`` in (-1, 1), where a time step
is one pianoroll step and its features are every track's pitches (``pitches * channels``, the
phrase's last two axes flattened). Each generator's config is a frozen dataclass instantiated
from ``model.generator`` (its ``_target_`` picks the kind); ``build`` makes the network.

Recurrent layers keep the settings under which Keras runs them with the cuDNN kernel on a GPU
(tanh and sigmoid activations, no recurrent dropout, ``unroll=False``, ``use_bias=True``).
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import keras
import tensorflow as tf
from keras import layers

from gan.model import without_older_defaults
from gan.voices import ChannelOutput, draw_channels, draws_per_step
from pianoroll.errors import choice_value
from pianoroll.targets import buildable

__all__ = [
    "DenseGenerator",
    "FreeRun",
    "GeneratorConfig",
    "RecurrentGenerator",
    "RecurrentGeneratorNetwork",
]


def _ints(values: Sequence[int], what: str) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if not out or min(out) < 1:
        raise ValueError(f"{what} needs at least one layer of at least one unit, got {list(out)}")
    return out


@buildable
@dataclasses.dataclass(frozen=True)
class GeneratorConfig(abc.ABC):
    """What the model needs from a generator config.

    Attributes:
        noise_dim: size of the noise vector (the dense generator's latent vector, or the
            recurrent generator's noise at each time step).
        units: widths of the hidden layers (dense layers, or LSTM layers).
        initial_density: share of pitch cells sounding at initialization, in (0, 1): the
            output layer's bias starts at ``atanh(2 p - 1)``, so a zero pre-activation maps to
            ``p`` on the [0, 1] scale of :func:`pianoroll.values.to_probability`. None: a zero
            bias, which starts the generator at half the cells sounding. Only the
            initialization depends on it, so it is not part of the checkpoint's identity.
    """

    noise_dim: int
    units: Sequence[int]
    initial_density: float | None = None

    #: Whether the network can be run teacher-forced (for maximum-likelihood pretraining).
    teacher_forcing: ClassVar[bool] = False
    #: Whether the network generates sequences of any length.
    any_length: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if int(self.noise_dim) < 1:
            raise ValueError(f"generator: noise_dim must be at least 1, got {self.noise_dim}")
        object.__setattr__(self, "noise_dim", int(self.noise_dim))
        object.__setattr__(self, "units", _ints(self.units, "generator: units"))
        if self.initial_density is not None:
            density = float(self.initial_density)
            if not 0.0 < density < 1.0:
                raise ValueError(
                    f"generator: initial_density must be in (0, 1) or null, got {density}"
                )
            object.__setattr__(self, "initial_density", density)

    def identity(self) -> dict[str, Any]:
        """The fields that shape the network (what a checkpoint must match)."""
        fields = dataclasses.asdict(self)
        fields.pop("initial_density")
        return {"type": type(self).__name__, **fields}

    def output_bias(self) -> keras.initializers.Initializer:
        """The output layer's bias initializer (see ``initial_density``)."""
        if self.initial_density is None:
            return keras.initializers.Zeros()
        return keras.initializers.Constant(math.atanh(2.0 * self.initial_density - 1.0))

    @abc.abstractmethod
    def sample_noise(self, batch_size: int, length: int, seed: tf.Tensor) -> tf.Tensor:
        """Noise for ``batch_size`` sequences of ``length`` steps, a pure function of ``seed``."""

    @abc.abstractmethod
    def build(
        self, seq_len: int, n_features: int, channels: dict[str, Any] | None = None
    ) -> keras.Model:
        """The network: noise -> ``(batch, time, n_features)`` in [-1, 1].

        ``channels``: :class:`gan.voices.ChannelOutput` arguments (``n_tracks``, ``voices``,
        ``relaxation``) when the features are ``pitches * channels`` with monophonic voices
        among them; None: every feature a ``tanh``.
        """


@dataclasses.dataclass(frozen=True)
class DenseGenerator(GeneratorConfig):
    """The dense preset: noise -> Dense layers (LeakyReLU, batch norm) -> the whole sequence.

    Attributes:
        noise_dim: size of the standard normal latent vector.
        units: widths of the hidden dense layers.
        momentum: batch-norm momentum.
        leak: LeakyReLU slope.
    """

    noise_dim: int = 1000
    units: Sequence[int] = (256, 512, 1024)
    momentum: float = 0.8
    leak: float = 0.2

    def sample_noise(self, batch_size: int, length: int, seed: tf.Tensor) -> tf.Tensor:
        """Standard normal ``(batch, noise_dim)``; ``length`` is the trained length only."""
        return tf.random.stateless_normal([batch_size, self.noise_dim], seed)

    def build(
        self, seq_len: int, n_features: int, channels: dict[str, Any] | None = None
    ) -> keras.Model:
        """``(batch, noise_dim)`` -> ``(batch, seq_len, n_features)`` in [-1, 1]."""
        z = keras.Input((self.noise_dim,), name="noise")
        x = z
        for i, units in enumerate(self.units):
            x = layers.Dense(units, name=f"dense{i}")(x)
            x = layers.LeakyReLU(self.leak, name=f"dense{i}_leaky")(x)
            x = layers.BatchNormalization(momentum=self.momentum, name=f"dense{i}_norm")(x)
        x = layers.Dense(
            seq_len * n_features,
            activation=None if channels else "tanh",
            bias_initializer=self.output_bias(),
            dtype="float32",
            name="output",
        )(x)
        if channels:
            head = ChannelOutput(**channels, name="channels")
            width = head.n_tracks + len(head.voices)
            x = layers.Reshape((seq_len, n_features // width, width), dtype="float32")(x)
            x = head(x)
        out = layers.Reshape((seq_len, n_features), dtype="float32", name="sequence")(x)
        return keras.Model(z, out, name="generator")


class FreeRun(str, enum.Enum):
    """What a recurrent generator running free emits and feeds back to its next step."""

    #: Its distributions themselves (``tanh`` outputs; the voices' relaxed categories).
    SOFT = "soft"
    #: A draw from them, one-hot in the forward pass, straight-through backward
    #: (:func:`gan.voices.draw_channels`), so that it is fed what teacher forcing fed it.
    SAMPLE = "sample"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class RecurrentGenerator(GeneratorConfig):
    """The paper's generator: stacked LSTMs fed per-step noise and their own previous output.

    At step ``t`` the input is uniform noise ``u_t`` concatenated with the previous output
    ``y_{t-1}`` read as probabilities, ``(y_{t-1} + 1) / 2`` (zeros, a silent step, before the
    first step), through a ReLU dense layer of ``units[0]`` units (as in Mogren's
    implementation), then the LSTM layers, then a dense layer with tanh: ``y_t``. Teacher-forced,
    the real previous step takes the place of ``y_{t-1}``.

    The previous step enters on the probability scale rather than the model tensor's [-1, 1]
    because nearly every cell is off: on [-1, 1] the off cells add a large constant to every
    input unit that swamps the few cells that sound, and teacher-forced pretraining then stays
    long where the generator has learnt only the data's pitch distribution and ignores its
    input (experiments/README.md, the recurrent C-RNN-GAN).

    Running free (training's adversarial phase, generation), ``free_run`` says what ``y_t`` is:
    the distributions themselves (``soft``: probabilities of each cell, or each voice's
    relaxed categories), or a draw from them (``sample``: one-hot per voice and step, binary per
    free cell, with straight-through gradients), so that what the generator is fed back is in
    the form that teacher forcing fed it and what the critic sees is in the form of the data.
    A soft previous step is an input that teacher-forced pretraining never showed it.

    Attributes:
        noise_dim: size of the uniform(0, 1) noise at each time step.
        units: LSTM widths, one per layer.
        free_run: a :class:`FreeRun` value; ``sample`` adds the draws' uniform numbers
            (:func:`gan.voices.draws_per_step`) to each step's noise, after its ``noise_dim``.
    """

    noise_dim: int = 100
    units: Sequence[int] = (350, 350)
    free_run: str = FreeRun.SOFT.value

    teacher_forcing: ClassVar[bool] = True
    any_length: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        free_run = choice_value(FreeRun, self.free_run, "generator", "free_run")
        object.__setattr__(self, "free_run", free_run.value)

    def identity(self) -> dict[str, Any]:
        """See :meth:`GeneratorConfig.identity`; ``feedback`` names how the previous step is
        fed back, so that a checkpoint of a generator fed it on [-1, 1] is refused. A soft free
        run leaves ``free_run`` out, as checkpoints made before it existed do."""
        fields = {**super().identity(), "feedback": "probability"}
        return without_older_defaults(fields, {"free_run": FreeRun.SOFT.value})

    def sample_noise(self, batch_size: int, length: int, seed: tf.Tensor) -> tf.Tensor:
        """Uniform(0, 1) ``(batch, length, noise_dim)``; the model appends the draws' numbers."""
        return tf.random.stateless_uniform([batch_size, length, self.noise_dim], seed)

    def build(
        self, seq_len: int, n_features: int, channels: dict[str, Any] | None = None
    ) -> RecurrentGeneratorNetwork:
        """The network (it runs for the length of the noise it is given, ``seq_len`` or not)."""
        network = RecurrentGeneratorNetwork(
            n_features, self.noise_dim, self.units, self.output_bias(), channels, self.free_run
        )
        network.build((None, seq_len, self.noise_dim + network.draws))
        return network


@keras.saving.register_keras_serializable(package="crnngan")
class RecurrentGeneratorNetwork(keras.Model):
    """Stacked LSTMs that feed their output back as the next step's input.

    Called on noise ``(batch, time, noise_dim)`` it runs free for ``time`` steps (a
    ``tf.while_loop`` over the LSTM cells); :meth:`teacher_forced` runs the same weights over a
    whole sequence of given previous steps with the LSTM layers, cuDNN's kernel on a GPU.

    Args:
        n_features: features per time step (``pitches * channels``).
        noise_dim: noise features per time step.
        units: LSTM widths.
        output_bias: the output layer's bias initializer (saved in the config, so that a
            ``.keras`` file rebuilds the same network; its weights come from the file).
        channels: :class:`gan.voices.ChannelOutput` arguments when the features are
            ``pitches * channels`` with monophonic voices; None: each output a ``tanh``.
        free_run: a :class:`FreeRun` value (see :class:`RecurrentGenerator`).
    """

    def __init__(
        self,
        n_features: int,
        noise_dim: int,
        units: Sequence[int],
        output_bias: keras.initializers.Initializer | str = "zeros",
        channels: dict[str, Any] | None = None,
        free_run: str = FreeRun.SOFT.value,
        **kwargs,
    ) -> None:
        super().__init__(name=kwargs.pop("name", "generator"), **kwargs)
        self.n_features = int(n_features)
        self.noise_dim = int(noise_dim)
        self.units = tuple(int(u) for u in units)
        self.input_layer = layers.Dense(self.units[0], activation="relu", name="input")
        # One attribute each: TensorFlow checkpoints track layers held in attributes, not in lists.
        for i, units in enumerate(self.units):
            setattr(self, f"lstm{i}", layers.LSTM(units, return_sequences=True, name=f"lstm{i}"))
        self.output_bias = keras.initializers.get(output_bias)
        self.output_layer = layers.Dense(
            self.n_features, bias_initializer=self.output_bias, dtype="float32", name="output"
        )
        self.channels = dict(channels) if channels else None
        self.head = ChannelOutput(**self.channels, name="channels") if self.channels else None
        self.free_run = FreeRun(free_run)
        # A step's cells as the head and draw_channels read them: (pitches, channels), or
        # every feature a free cell.
        if self.channels:
            self.n_tracks, self.voices = self.head.n_tracks, self.head.voices
        else:
            self.n_tracks, self.voices = 1, ()
        width = self.n_tracks + len(self.voices)
        self.cell_shape = (self.n_features // width, width)
        #: Uniform numbers per step that a sampled free run takes after the noise.
        self.draws = 0
        if self.free_run is FreeRun.SAMPLE:
            self.draws = draws_per_step(self.cell_shape[0], self.n_tracks, self.voices)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (so that a ``.keras`` file rebuilds the network)."""
        return {
            "n_features": self.n_features,
            "noise_dim": self.noise_dim,
            "units": list(self.units),
            "output_bias": keras.initializers.serialize(self.output_bias),
            "channels": self.channels,
            "free_run": self.free_run.value,
            "name": self.name,
        }

    @property
    def lstms(self) -> list[layers.LSTM]:
        """The LSTM layers, first to last."""
        return [getattr(self, f"lstm{i}") for i in range(len(self.units))]

    def build(self, input_shape) -> None:
        """Create every weight (``input_shape`` is the noise's, ``(batch, time, noise_dim)``)."""
        self.input_layer.build((None, self.noise_dim + self.n_features))
        width = self.units[0]
        for lstm in self.lstms:
            lstm.build((None, None, width))
            width = lstm.units
        self.output_layer.build((None, width))
        self.built = True

    def activate(self, preactivations: tf.Tensor) -> tf.Tensor:
        """One step's outputs ``(batch, n_features)`` in [-1, 1] from its pre-activations: a
        ``tanh``, or the voices' categorical output (see ``channels``)."""
        if self.head is None:
            return tf.tanh(preactivations)
        cells = tf.reshape(preactivations, [-1, *self.cell_shape])
        return tf.reshape(self.head(cells), [-1, self.n_features])

    def draw(self, preactivations: tf.Tensor, uniform: tf.Tensor, previous: tf.Tensor) -> tf.Tensor:
        """One step's draw ``(batch, n_features)`` in {-1, 1} (straight-through) from its
        pre-activations, ``uniform`` ``(batch, draws)`` and the previous step's draw: see
        :func:`gan.voices.draw_channels`."""
        batch = tf.shape(preactivations)[0]
        cells = draw_channels(
            tf.reshape(preactivations, [batch, *self.cell_shape]),
            uniform,
            tf.reshape(previous, [batch, *self.cell_shape]),
            self.n_tracks,
            self.voices,
        )
        return tf.reshape(cells, [batch, self.n_features])

    def _step_input(self, noise: tf.Tensor, previous: tf.Tensor) -> tf.Tensor:
        """The input layer's input: the noise and the previous step ``(..., n_features)`` in
        [-1, 1], read as probabilities (see :class:`RecurrentGenerator`)."""
        dtype = self.input_layer.compute_dtype
        probability = (tf.cast(previous, tf.float32) + 1.0) / 2.0
        return tf.concat([tf.cast(noise, dtype), tf.cast(probability, dtype)], axis=-1)

    def teacher_forced(
        self, noise: tf.Tensor, previous: tf.Tensor, training: bool = False
    ) -> tf.Tensor:
        """Pre-tanh outputs given the previous steps.

        Args:
            noise: ``(batch, time, noise_dim)`` (any draws' numbers after it are unused).
            previous: ``(batch, time, n_features)``: at step ``t`` the step before it (real
                data in {-1, 1} for teacher forcing; -1, a silent step, at ``t = 0``).
            training: training mode.

        Returns:
            ``(batch, time, n_features)`` ``float32`` pre-activations ``a``: the output is
            ``tanh(a)``.
        """
        x = self.input_layer(self._step_input(noise[..., : self.noise_dim], previous))
        for lstm in self.lstms:
            x = lstm(x, training=training)
        return self.output_layer(x)

    def call(self, noise: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Run free: ``(batch, time, noise_dim + draws)`` noise -> ``(batch, time, n_features)``
        in [-1, 1] (in {-1, 1} with ``free_run=sample``)."""
        dtype = self.input_layer.compute_dtype
        uniform = tf.transpose(tf.cast(noise[..., self.noise_dim :], tf.float32), [1, 0, 2])
        noise = tf.cast(noise[..., : self.noise_dim], dtype)
        batch, length = tf.shape(noise)[0], tf.shape(noise)[1]
        time_major = tf.transpose(noise, [1, 0, 2])
        previous = -tf.ones([batch, self.n_features], tf.float32)  # a silent step
        states = [[tf.zeros([batch, u], dtype), tf.zeros([batch, u], dtype)] for u in self.units]
        outputs = tf.TensorArray(tf.float32, size=length, element_shape=[None, self.n_features])

        def step(t, previous, states, outputs):
            x = self.input_layer(self._step_input(time_major[t], previous))
            new_states = []
            for lstm, state in zip(self.lstms, states, strict=True):
                x, state = lstm.cell(x, state, training=training)
                new_states.append(list(state))
            preactivations = self.output_layer(x)
            if self.draws:
                output = self.draw(preactivations, uniform[t], previous)
            else:
                output = self.activate(preactivations)
            return t + 1, output, new_states, outputs.write(t, output)

        _, _, _, outputs = tf.while_loop(
            lambda t, *_: t < length,
            step,
            (tf.constant(0), previous, states, outputs),
            maximum_iterations=length,
        )
        sequence = tf.transpose(outputs.stack(), [1, 0, 2])
        sequence.set_shape([*noise.shape[:2], self.n_features])  # the loop hides the length
        return sequence
