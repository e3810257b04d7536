"""The MuseGAN generator: temporal networks, per-track bar generators and the bar encoder.

Shapes follow the tensor contract of :mod:`pianoroll`: the generator returns model tensors
``(batch, bars, steps, pitches, channels)``: free tracks in (-1, 1) (a ``tanh``), or in {-1, 1}
with binary neurons at its output (``model.output``, see :mod:`musegan.binary`); monophonic
voices as :mod:`gan.voices` makes them. Bars are folded into the
batch axis, so each bar generator is called once per forward pass, not once per bar.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

import keras
from keras import layers, ops

from gan.voices import DEFAULT_HEAD, VoiceHead, VoiceOutput, voice_noise_channels
from musegan.binary import BinaryNeuron, Output
from musegan.layers import (
    BatchNorm,
    PatchUpsample,
    bar_axis_kernels,
    check_pitch_strides,
    factor_strides,
    normal_init,
    one_or_list,
)
from pianoroll.errors import choice_value
from pianoroll.spec import PhraseSpec

__all__ = [
    "BINARY_NOISE",
    "CHORDS",
    "CONDITION",
    "CONDITION_ONSETS",
    "DRAW_NOISE",
    "GROOVE",
    "MELODY",
    "STYLE",
    "TIME_NOISE",
    "VOICE_NOISE",
    "BarGeneratorConfig",
    "BarLatents",
    "GeneratorFrame",
    "Mode",
    "SharedLayers",
    "TimeUpsample",
    "bar_encoder",
    "bar_generator",
    "bar_trunk",
    "build_generator",
    "finish_tracks",
    "fold_bars",
    "noise_shapes",
    "temporal_network",
    "tile_join",
]


class Mode(str, enum.Enum):
    """The paper's three ways of sharing noise between tracks (``mode.name`` in the config)."""

    JAMMING = "jamming"  # one generator and one critic per track, private noise only
    COMPOSER = "composer"  # one generator for all tracks, shared noise only
    HYBRID = "hybrid"  # one generator per track, shared and private noise

    def __str__(self) -> str:
        # The config's spelling in f-strings and layer names, as enum.StrEnum (3.11+) gives.
        return self.value


# The generator's inputs by name: noise shared by all tracks, noise private to each track,
# and the condition track of track-conditional generation.
STYLE = "style"  #: shared, time-independent
CHORDS = "chords"  #: shared, through the shared temporal network (or one vector per bar)
GROOVE = "groove"  #: per track, time-independent
MELODY = "melody"  #: per track, through each track's temporal network (or one vector per bar)
CONDITION = "condition"  #: ``(batch, bars, steps, pitches)`` in {-1, 1}
#: A voice condition track's onset roll, ``(batch, bars, steps, pitches)`` in {-1, 1}.
CONDITION_ONSETS = "condition_onsets"
#: Stochastic binary neurons' draws, ``(bars, steps, pitches, generated tracks)``.
BINARY_NOISE = "binary_noise"
#: The drawing voice relaxations' noise (``model.voices=gumbel`` or ``sample``), ``(bars, steps,
#: pitches + 1, 2 x generated voices)``: per voice the two channels of :func:`gan.voices.voice_noise_channels`.
VOICE_NOISE = "voice_noise"
#: The noise inputs that carry the music from bar to bar (and change from phrase to phrase).
TIME_NOISE = frozenset({CHORDS, MELODY, BINARY_NOISE, VOICE_NOISE})
#: The noise inputs that are draws of output cells, not latent vectors (never truncated).
DRAW_NOISE = frozenset({BINARY_NOISE, VOICE_NOISE})


class TimeUpsample(str, enum.Enum):
    """How a bar generator's time-axis layers upsample (``model.bar_generator.time_upsample``).

    ``patch``, the paper's: a transposed convolution whose kernel equals its stride, so each
    step of an output patch has weights of its own and neighbouring steps of two patches share
    no input; ``repeat``: each step repeated ``stride`` times, then a convolution over 3
    steps (the resize-convolution of Odena et al. 2016, "Deconvolution and Checkerboard
    Artifacts", Distill), so that neighbouring steps start equal and a held value is the
    layer's easiest output.
    """

    PATCH = "patch"
    REPEAT = "repeat"

    def __str__(self) -> str:
        return self.value


#: Steps each ``repeat`` time layer's convolution reads (odd: centred on its step).
_REPEAT_KERNEL = 3


class SharedLayers(str, enum.Enum):
    """Which of the hybrid mode's bar-generator layers are one network for every track
    (``model.bar_generator.shared``).

    The shared layers read the shared latent (style and chords); each track's private latent
    (groove and melody) is tiled over their output and joins the track's own remaining layers:
    the shared-then-private layout of the authors' current networks, with private noise joined
    as :mod:`musegan.generator_v2` joins it. The output layer is always the track's own.
    """

    NONE = "none"  # every track's bar generator its own (the AAAI paper's hybrid)
    DENSE = "dense"  # the dense layer
    TIME = "time"  # the dense layer and the layers up the time axis; pitch layers per track
    PITCH = "pitch"  # every hidden layer; only the output layer per track

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class BarGeneratorConfig:
    """Sizes of one bar generator (and of the bar encoder that mirrors it).

    Attributes:
        dense_units: units of the first dense layer; reshaped to ``(2, 1, dense_units // 2)``.
        time_filters: filters of the layers up the time axis, from 2 steps to
            ``steps_per_bar``; the last entry repeats when more layers are needed.
        pitch_filters: filters of the pitch-axis layers before the output layer.
        pitch_strides: kernel and stride of each pitch-axis layer; their product is the
            number of pitches (``[7, 12]`` for 84).
        momentum: batch-norm momentum.
        time_upsample: a :class:`TimeUpsample` spelling.
        shared: a :class:`SharedLayers` spelling: the hybrid mode's layers shared by the
            tracks.
    """

    dense_units: int = 1024
    time_filters: Sequence[int] = (512, 256, 256)
    pitch_filters: Sequence[int] = (256,)
    pitch_strides: Sequence[int] = (7, 12)
    momentum: float = 0.9
    time_upsample: str = TimeUpsample.PATCH.value
    shared: str = SharedLayers.NONE.value

    def time_layers(self, steps_per_bar: int) -> list[tuple[int, int]]:
        """``(filters, stride)`` of each time-axis layer for this bar length."""
        strides = factor_strides(steps_per_bar, 2, "steps_per_bar")
        filters = list(self.time_filters) or [self.dense_units // 2]
        return [(filters[min(i, len(filters) - 1)], s) for i, s in enumerate(strides)]

    def check(self, spec: PhraseSpec) -> None:
        """Raise ValueError when the sizes cannot produce the spec's bar shape."""
        check_pitch_strides(self.pitch_strides, spec.n_pitches, "bar generator")
        if len(self.pitch_filters) != len(self.pitch_strides) - 1:
            raise ValueError(
                "bar generator: pitch_filters needs one entry fewer than pitch_strides"
            )
        if self.dense_units % 2:
            raise ValueError("bar generator: dense_units must be even (reshaped to 2 steps)")
        choice_value(TimeUpsample, self.time_upsample, "bar generator", "time_upsample")
        choice_value(SharedLayers, self.shared, "bar generator", "shared")
        self.time_layers(spec.steps_per_bar)

    def hidden_count(self, steps_per_bar: int) -> int:
        """How many hidden layers a bar generator has: the dense layer, the time layers and the
        pitch layers before the output layer."""
        return 1 + len(self.time_layers(steps_per_bar)) + len(self.pitch_filters)

    def shared_count(self, steps_per_bar: int) -> int:
        """How many hidden layers (the dense layer first) the tracks share (:attr:`shared`)."""
        return {
            SharedLayers.NONE: 0,
            SharedLayers.DENSE: 1,
            SharedLayers.TIME: 1 + len(self.time_layers(steps_per_bar)),
            SharedLayers.PITCH: self.hidden_count(steps_per_bar),
        }[SharedLayers(self.shared)]


def _time_layer(x, filters: int, stride: int, upsample: str, name: str):
    """One time-axis layer of a bar generator: ``(batch, steps, pitches, in)`` ->
    ``(batch, steps * stride, pitches, filters)`` (see :class:`TimeUpsample`)."""
    if TimeUpsample(upsample) is TimeUpsample.PATCH:
        return PatchUpsample(filters, (stride, 1), name=name)(x)
    x = layers.UpSampling2D((stride, 1), name=f"{name}_repeat")(x)
    return layers.Conv2D(
        filters, (_REPEAT_KERNEL, 1), padding="same", kernel_initializer=normal_init(), name=name
    )(x)


def _norm_relu(x, momentum: float, name: str):
    x = BatchNorm(momentum=momentum, synchronized=True, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def temporal_network(
    z_dim: int, n_bars: int, filters: int, momentum: float, name: str
) -> keras.Model:
    """Map one noise vector to one latent vector per bar (the paper's temporal network G_temp).

    Args:
        z_dim: noise and output size.
        n_bars: number of output vectors.
        filters: filters of the first transposed convolution.
        momentum: batch-norm momentum.
        name: model name.

    Returns:
        A model ``(batch, z_dim)`` -> ``(batch, n_bars, z_dim)``.
    """
    first, second = bar_axis_kernels(n_bars)
    z = keras.Input((z_dim,), name=f"{name}_in")
    x = layers.Reshape((1, 1, z_dim))(z)
    # On a 1x1 input a valid transposed convolution of kernel (first, 1) is a patch upsample.
    x = PatchUpsample(filters, (first, 1), name=f"{name}_conv1")(x)
    x = _norm_relu(x, momentum, f"{name}_1")
    x = layers.Conv2DTranspose(
        z_dim, (second, 1), kernel_initializer=normal_init(), name=f"{name}_conv2"
    )(x)
    x = _norm_relu(x, momentum, f"{name}_2")
    return keras.Model(z, layers.Reshape((n_bars, z_dim))(x), name=name)


def bar_encoder(
    spec: PhraseSpec, cfg: BarGeneratorConfig, channels: int = 1, name: str = "bar_encoder"
) -> keras.Model:
    """Encode a condition bar into features at every resolution of the bar generator.

    The mirror of :func:`bar_generator` (the paper's track-conditional encoder, Eq. 4): strided
    convolutions down the pitch axis, then down the time axis to 2 steps. Output ``i`` has the
    shape of the bar generator's hidden state before its layer ``i``.

    Args:
        spec: the phrase spec.
        cfg: the bar generator's sizes.
        channels: the condition's channels (1, or 2 for a voice: its roll and onsets).
        name: model name.

    Returns:
        A model ``(batch, steps, pitches, channels)`` in {-1, 1} -> a list of feature maps, coarsest
        first: ``(batch, 2, 1, f), ..., (batch, steps, 1, f), (batch, steps, 7, f)``.
    """
    x = inp = keras.Input((spec.steps_per_bar, spec.n_pitches, channels), name=f"{name}_in")
    features = []
    # Down the pitch axis: one conv per pitch stride, last stride first (12 then 7 for 84).
    for i, stride in enumerate(reversed(cfg.pitch_strides)):
        filters = 16 * 2**i
        x = layers.Conv2D(
            filters,
            (1, stride),
            strides=(1, stride),
            kernel_initializer=normal_init(),
            name=f"{name}_pitch{i}",
        )(x)
        x = layers.LeakyReLU(0.2)(x)
        features.append(x)
    # Down the time axis to 2 steps, mirroring the generator's strides.
    for i, (_, stride) in enumerate(reversed(cfg.time_layers(spec.steps_per_bar))):
        filters = min(16 * 2 ** (len(cfg.pitch_strides) + i), 256)
        x = layers.Conv2D(
            filters,
            (stride, 1),
            strides=(stride, 1),
            kernel_initializer=normal_init(),
            name=f"{name}_time{i}",
        )(x)
        x = layers.LeakyReLU(0.2)(x)
        features.append(x)
    return keras.Model(inp, features[::-1], name=name)


def fold_bars(latent):
    """``(batch, bars, d)`` -> ``(batch * bars, d)``: one row per bar, as bar networks take it."""
    return ops.reshape(latent, (-1, latent.shape[-1]))


def tile_join(state, vector, name: str | None = None):
    """A hidden state with a vector tiled over its positions and concatenated: ``(batch, steps,
    pitches, f)`` and ``(batch, d)`` -> ``(batch, steps, pitches, f + d)``."""
    tiled = ops.tile(ops.reshape(vector, (-1, 1, 1, vector.shape[-1])), (1, *state.shape[1:3], 1))
    return layers.Concatenate(axis=-1, name=name)([state, tiled])


def _condition_join(condition_shapes: Sequence[tuple[int, ...]], name: str):
    """Inputs for a condition bar's :func:`bar_encoder` features, and ``join``: a hidden state
    with the feature of its resolution concatenated (unchanged where there is none)."""
    inputs, features = [], {}
    for i, shape in enumerate(condition_shapes):
        feature = keras.Input(tuple(shape), name=f"{name}_condition{i}")
        inputs.append(feature)
        features.setdefault(tuple(feature.shape[1:3]), feature)

    def join(x):
        feature = features.get(tuple(x.shape[1:3]))
        return x if feature is None else layers.Concatenate(axis=-1)([x, feature])

    return inputs, join


def _hidden_layers(
    x, spec: PhraseSpec, cfg: BarGeneratorConfig, join, start: int, stop: int, name: str
):
    """A bar generator's hidden layers ``start`` to ``stop - 1`` applied to ``x``: layer 0 is
    the dense layer (``(batch, d)`` -> ``(batch, 2, 1, dense_units // 2)``), then the layers up
    the time axis, then those along the pitch axis; batch norm and ReLU after each."""
    time = cfg.time_layers(spec.steps_per_bar)
    for index in range(start, stop):
        if index == 0:
            x = layers.Dense(
                cfg.dense_units, kernel_initializer=normal_init(), name=f"{name}_dense"
            )(x)
            x = _norm_relu(x, cfg.momentum, f"{name}_dense")
            x = layers.Reshape((2, 1, cfg.dense_units // 2))(x)
        elif index <= len(time):
            i = index - 1
            filters, stride = time[i]
            x = _time_layer(join(x), filters, stride, cfg.time_upsample, f"{name}_time{i}")
            x = _norm_relu(x, cfg.momentum, f"{name}_time{i}")
        else:
            i = index - 1 - len(time)
            layer_name = f"{name}_pitch{i}"
            stride = (1, cfg.pitch_strides[i])
            x = PatchUpsample(cfg.pitch_filters[i], stride, name=layer_name)(join(x))
            x = _norm_relu(x, cfg.momentum, layer_name)
    return x


def bar_trunk(
    input_dim: int,
    spec: PhraseSpec,
    cfg: BarGeneratorConfig,
    condition_shapes: Sequence[tuple[int, ...]] = (),
    name: str = "bar_generator_shared",
) -> keras.Model:
    """The hidden layers the hybrid mode's bar generators share (:class:`SharedLayers`).

    Args:
        input_dim: size of the shared latent vector.
        spec: the phrase spec.
        cfg: layer sizes; ``cfg.shared`` says how many layers.
        condition_shapes: as for :func:`bar_generator`.
        name: model name.

    Returns:
        A model ``[(batch, input_dim), *features]`` -> the hidden state after the shared
        layers, ``(batch, steps, pitches, filters)`` at that layer's resolution.

    Raises:
        ValueError: ``cfg.shared`` is ``none`` (no layers to share).
    """
    cfg.check(spec)
    count = cfg.shared_count(spec.steps_per_bar)
    if not count:
        raise ValueError("bar generator: shared=none: no layers for a shared trunk")
    z = keras.Input((input_dim,), name=f"{name}_z")
    features, join = _condition_join(condition_shapes, name)
    x = _hidden_layers(z, spec, cfg, join, 0, count, name)
    return keras.Model(one_or_list([z, *features]), x, name=name)


def bar_generator(
    input_dim: int,
    spec: PhraseSpec,
    cfg: BarGeneratorConfig,
    channels: int,
    condition_shapes: Sequence[tuple[int, ...]] = (),
    name: str = "bar_generator",
    activation: bool = True,
    trunk_shape: tuple[int, ...] | None = None,
) -> keras.Model:
    """One bar generator (the paper's G_bar): a latent vector to one bar of pianoroll.

    Dense, reshape to ``(2, 1, dense_units // 2)``, layers up the time axis (see
    :class:`TimeUpsample`) to
    ``steps_per_bar``, then along the pitch axis; batch norm and ReLU after each hidden layer,
    ``tanh`` at the output. Every transposed convolution has kernel = stride, so it runs as a
    :class:`~musegan.layers.PatchUpsample` (one matrix product).

    Args:
        input_dim: size of the input vector (with a trunk: the track's private latent).
        spec: the phrase spec.
        cfg: layer sizes.
        channels: output channels (1 for one track, ``n_tracks`` for the composer).
        condition_shapes: shapes (without the batch axis) of the :func:`bar_encoder` features of
            a condition bar; the model then takes them as further inputs and concatenates each
            to the hidden state before the first layer of the same resolution. The encoder
            runs once outside, not inside every track's bar generator, so it is computed once
            per bar and the saved model has no shared sub-model.
        name: model name.
        activation: end in ``tanh``; False: return the pre-activations (for binary neurons).
        trunk_shape: with ``cfg.shared`` other than ``none``, the shape (without the batch
            axis) of the :func:`bar_trunk`'s output: the model then takes that hidden state
            after its input vector, tiles the vector over the state's steps and pitches,
            concatenates the two and runs only the layers after the trunk.

    Returns:
        A model ``[(batch, input_dim), *features]`` (with a trunk ``[(batch, input_dim),
        (batch, *trunk_shape), *features]``) -> ``(batch, steps, pitches, channels)`` in
        (-1, 1), or unbounded pre-activations (``float32``).

    Raises:
        ValueError: ``trunk_shape`` given without shared layers, or missing with them.
    """
    cfg.check(spec)
    start = cfg.shared_count(spec.steps_per_bar)
    if bool(start) != (trunk_shape is not None):
        raise ValueError(
            f"bar generator: shared={cfg.shared}: trunk_shape is needed with shared layers, and"
            " only then"
        )
    z = keras.Input((input_dim,), name=f"{name}_z")
    inputs, x = [z], z
    if trunk_shape is not None:
        state = keras.Input(tuple(trunk_shape), name=f"{name}_shared")
        inputs.append(state)
        x = tile_join(state, z, f"{name}_private")
    features, join = _condition_join(condition_shapes, name)
    inputs += features
    x = _hidden_layers(x, spec, cfg, join, start, cfg.hidden_count(spec.steps_per_bar), name)
    stride = cfg.pitch_strides[-1]
    x = PatchUpsample(channels, (1, stride), name=f"{name}_out")(join(x))
    if activation:
        out = layers.Activation("tanh", dtype="float32", name=f"{name}_tanh")(x)
    else:
        out = layers.Activation("linear", dtype="float32", name=f"{name}_preactivation")(x)
    return keras.Model(one_or_list(inputs), out, name=name)


def noise_shapes(
    spec: PhraseSpec,
    mode: Mode,
    z_dim: int,
    temporal: bool,
    condition_index: int | None,
    output: Output = Output.TANH,
    voices: VoiceHead = DEFAULT_HEAD,
) -> dict[str, tuple[int, ...]]:
    """The noise inputs of a mode, without the batch axis.

    :data:`STYLE` (shared, time-independent), :data:`CHORDS` (shared, through the shared
    temporal network, or one vector per bar without temporal networks), :data:`GROOVE` (per
    track, time-independent) and :data:`MELODY` (per track, through each track's temporal
    network, or per bar). The jamming mode has only the private inputs, the composer only the
    shared ones. Stochastic binary neurons at the output add :data:`BINARY_NOISE`, one channel
    per generated free track (voices have no binary neurons); voices that draw
    (``model.voices=gumbel`` or ``sample``) add :data:`VOICE_NOISE`.

    Raises:
        ValueError: ``mode`` is not a :class:`Mode` value.
    """
    mode = Mode(mode)  # callers besides MuseGAN (the benchmarks) pass the config's string
    n_gen = spec.n_tracks - (condition_index is not None)
    per_time = () if temporal else (spec.n_bars,)
    shapes: dict[str, tuple[int, ...]] = {}
    if mode is not Mode.JAMMING:
        shapes[STYLE] = (z_dim,)
        shapes[CHORDS] = (*per_time, z_dim)
    if mode is not Mode.COMPOSER:
        shapes[GROOVE] = (n_gen, z_dim)
        shapes[MELODY] = (n_gen, *per_time, z_dim)
    if Output(output) is Output.STOCHASTIC:
        free = [k for k in range(spec.n_tracks) if k != condition_index and k not in spec.voices]
        shapes[BINARY_NOISE] = (*spec.shape[:3], len(free))
    voices_generated = [k for k in spec.voices if k != condition_index]
    if voices.relaxation.noisy and voices_generated:
        categories, channels = voice_noise_channels(spec.n_pitches)
        shapes[VOICE_NOISE] = (*spec.shape[:2], categories, channels * len(voices_generated))
    return shapes


@dataclasses.dataclass(frozen=True)
class BarLatents:
    """The per-bar latent vectors of a mode's noise inputs (the paper's Fig. 4).

    A time-independent input is repeated over the bars; a time-dependent one goes through a
    temporal network (or is one vector per bar already, without temporal networks). Each call
    builds the temporal network it needs.

    Attributes:
        n_bars: bars per phrase.
        z_dim: size of each noise vector.
        temporal: use temporal networks.
        temporal_filters: filters of the temporal networks' first layer.
        momentum: their batch-norm momentum.
    """

    n_bars: int
    z_dim: int
    temporal: bool
    temporal_filters: int
    momentum: float

    def _over_bars(self, vector):  # (batch, z) -> (batch, bars, z)
        return ops.repeat(ops.expand_dims(vector, 1), self.n_bars, axis=1)

    def _per_bar(self, noise, name):  # (batch, z) or (batch, bars, z) -> (batch, bars, z)
        if not self.temporal:
            return noise
        net = temporal_network(self.z_dim, self.n_bars, self.temporal_filters, self.momentum, name)
        return net(noise)

    def shared(self, inputs: dict) -> list:
        """``[style, chords]``, each ``(batch, bars, z_dim)``; ``[]`` for the jamming mode."""
        if STYLE not in inputs:
            return []
        return [self._over_bars(inputs[STYLE]), self._per_bar(inputs[CHORDS], "temporal_shared")]

    def private(self, inputs: dict, i: int, track: int) -> list:
        """``[groove, melody]`` of the ``i``-th generated track (track index ``track``), each
        ``(batch, bars, z_dim)``; ``[]`` for the composer mode."""
        if GROOVE not in inputs:
            return []
        return [
            self._over_bars(inputs[GROOVE][:, i]),
            self._per_bar(inputs[MELODY][:, i], f"temporal_{track}"),
        ]


def finish_tracks(
    generated: list,
    inputs: dict,
    output: Output,
    condition_index: int | None,
    spec: PhraseSpec,
    voices: VoiceHead = DEFAULT_HEAD,
    activated: bool = True,
    name: str = "output_binary",
):
    """The generator's output (a model tensor) from its generated tracks: binary neurons (or a
    ``tanh``) for the free tracks, the voices' categorical output, then the condition track
    (if any) put back in its place.

    Args:
        generated: per generated track in track order, ``(batch, bars, steps, pitches, c)``:
            for a free track (``c = 1``) its ``tanh`` output, or its pre-activation when
            ``output`` is binary or ``activated`` is False; for a voice (``c = 2``) its pitch
            and start logits.
        inputs: the generator's inputs by name (:data:`BINARY_NOISE` for stochastic neurons,
            :data:`VOICE_NOISE` for drawing voices,
            :data:`CONDITION` and :data:`CONDITION_ONSETS` for a conditional generator).
        output: the free tracks' output layer.
        condition_index: the condition track's index, or None.
        spec: the phrase spec (which tracks are voices).
        voices: how the voices end (see :mod:`gan.voices`).
        activated: the free tracks' ``tanh`` is applied already (when ``output`` is ``tanh``).
        name: the binary neurons' layer name.

    Returns:
        ``(batch, bars, steps, pitches, channels)``: free tracks in (-1, 1), or {-1, 1} with
        binary neurons; voices as :class:`gan.voices.VoiceOutput` makes them.
    """
    tracks = [k for k in range(spec.n_tracks) if k != condition_index]
    rolls, onsets = {}, {}
    free = [k for k in tracks if k not in spec.voices]
    if free:
        stacked = ops.stack([generated[tracks.index(k)][..., 0] for k in free], axis=-1)
        if output is not Output.TANH:
            neuron = BinaryNeuron(output, name=name)
            stacked = neuron(
                [stacked, inputs[BINARY_NOISE]] if output is Output.STOCHASTIC else stacked
            )
        elif not activated:
            stacked = layers.Activation("tanh", dtype="float32", name="output_tanh")(stacked)
        rolls.update({k: stacked[..., i] for i, k in enumerate(free)})
    voice_output = VoiceOutput.of(voices, name="output_voices")
    _, width = voice_noise_channels(spec.n_pitches)
    for j, k in enumerate(k for k in tracks if k in spec.voices):
        logits = generated[tracks.index(k)]
        voice_inputs = [logits[..., 0], logits[..., 1]]
        if voices.relaxation.noisy:
            voice_inputs.append(inputs[VOICE_NOISE][..., width * j : width * (j + 1)])
        rolls[k], onsets[k] = voice_output(voice_inputs)
    if condition_index is not None:
        rolls[condition_index] = ops.cast(inputs[CONDITION], "float32")
        if condition_index in spec.voices:
            onsets[condition_index] = ops.cast(inputs[CONDITION_ONSETS], "float32")
    channels = [rolls[k] for k in range(spec.n_tracks)] + [onsets[k] for k in spec.voices]
    return ops.stack(channels, axis=-1)  # every part float32 already


@dataclasses.dataclass(frozen=True)
class GeneratorFrame:
    """What a MuseGAN generator is built for, whichever its networks (AAAI or v2).

    Attributes:
        spec: the phrase spec.
        mode: how the tracks share noise.
        z_dim: size of each noise vector.
        temporal: temporal networks for the time-dependent noise (else per-bar noise).
        temporal_filters: filters of the temporal networks' first layer.
        condition_index: the track given as a condition (track-conditional generation), or
            None. That track is not generated: the output carries the condition unchanged.
        output: the free tracks' output layer (``tanh`` or binary neurons).
        voices: how the voices end (see :mod:`gan.voices`).
    """

    spec: PhraseSpec
    mode: Mode
    z_dim: int
    temporal: bool
    temporal_filters: int
    condition_index: int | None = None
    output: Output = Output.TANH
    voices: VoiceHead = DEFAULT_HEAD

    def noise_shapes(self, output: Output | None = None) -> dict[str, tuple[int, ...]]:
        """:func:`noise_shapes` of this frame, with another free-track ``output`` if given (a
        refiner's binary neurons after a generator that ends in ``tanh``)."""
        return noise_shapes(
            self.spec,
            self.mode,
            self.z_dim,
            self.temporal,
            self.condition_index,
            self.output if output is None else output,
            self.voices,
        )

    def noise_inputs(self) -> dict:
        """A ``keras.Input`` per noise input of :func:`noise_shapes`, by name."""
        return {name: keras.Input(shape, name=name) for name, shape in self.noise_shapes().items()}

    def latents(self, momentum: float) -> BarLatents:
        """The per-bar latents of the noise inputs, batch norm with ``momentum``."""
        return BarLatents(
            self.spec.n_bars, self.z_dim, self.temporal, self.temporal_filters, momentum
        )

    def finish(self, per_track: list, inputs: dict, activated: bool = True):
        """The generator's output from its generated tracks (see :func:`finish_tracks`)."""
        return finish_tracks(
            per_track, inputs, self.output, self.condition_index, self.spec, self.voices, activated
        )


def build_generator(frame: GeneratorFrame, bar: BarGeneratorConfig) -> keras.Model:
    """The whole MuseGAN generator (the AAAI 2018 networks) for one mode.

    Args:
        frame: the spec, mode, noise, condition and output the generator is built for.
        bar: bar generator sizes.

    Returns:
        A model whose inputs are the noise dict of :func:`noise_shapes` (plus
        :data:`CONDITION`, ``(batch, bars, steps, pitches)`` in {-1, 1}, when conditional, and
        :data:`CONDITION_ONSETS` when the condition track is a voice) and whose output is
        ``(batch, bars, steps, pitches, channels)`` (a model tensor): free tracks in (-1, 1),
        or in {-1, 1} with binary neurons; voices as :class:`gan.voices.VoiceOutput` makes them.

    Raises:
        ValueError: sizes that do not fit the spec, or shared layers outside the hybrid mode.
    """
    spec, mode, condition_index = frame.spec, frame.mode, frame.condition_index
    bar.check(spec)
    n_shared = bar.shared_count(spec.steps_per_bar)
    if n_shared and mode is not Mode.HYBRID:
        reason = {
            Mode.COMPOSER: "its one generator shares every layer already",
            Mode.JAMMING: "it has no shared noise for shared layers to read",
        }[mode]
        raise ValueError(
            f"bar_generator.shared={bar.shared}: only the hybrid mode has per-track bar"
            f" generators to share layers; {mode} mode: {reason}"
            " (model.bar_generator.shared=none)"
        )
    inputs = frame.noise_inputs()
    n_bars = spec.n_bars
    tracks = [k for k in range(spec.n_tracks) if k != condition_index]
    latents = frame.latents(bar.momentum)
    shared = latents.shared(inputs)
    features = []
    if condition_index is not None:
        bar_shape = (n_bars, spec.steps_per_bar, spec.n_pitches)
        inputs[CONDITION] = keras.Input(bar_shape, name=CONDITION)
        given = [inputs[CONDITION]]
        if condition_index in spec.voices:
            inputs[CONDITION_ONSETS] = keras.Input(bar_shape, name=CONDITION_ONSETS)
            given.append(inputs[CONDITION_ONSETS])
        condition_bars = ops.reshape(
            ops.stack(given, axis=-1), (-1, spec.steps_per_bar, spec.n_pitches, len(given))
        )
        features = list(bar_encoder(spec, bar, len(given))(condition_bars))

    shapes = [tuple(f.shape[1:]) for f in features]

    def run_bars(
        latent, channels, net_name, activation, trunk=None
    ):  # (batch, bars, d) -> (batch, bars, steps, pitches, c)
        trunk_shape = None if trunk is None else tuple(trunk.shape[1:])
        net = bar_generator(
            latent.shape[-1], spec, bar, channels, shapes, net_name, activation, trunk_shape
        )
        given = [fold_bars(latent), *([] if trunk is None else [trunk]), *features]
        out = net(one_or_list(given))
        return ops.reshape(out, (-1, n_bars, spec.steps_per_bar, spec.n_pitches, channels))

    tanh = frame.output is Output.TANH
    if mode is Mode.COMPOSER:
        # One network for every track: each track's channels in turn.
        widths = [len(spec.track_channels(k)) for k in tracks]
        activated = tanh and not set(tracks) & set(spec.voices)
        outputs = run_bars(
            ops.concatenate(shared, axis=-1), sum(widths), "bar_generator", activated
        )
        ends = [sum(widths[: i + 1]) for i in range(len(widths))]
        per_track = [
            outputs[..., end - width : end] for end, width in zip(ends, widths, strict=True)
        ]
    else:
        activated, per_track, trunk = tanh, [], None
        if n_shared:
            # The shared layers read the shared latent once; each track's own layers get its
            # private latent beside their output.
            shared_latent = fold_bars(ops.concatenate(shared, axis=-1))
            net = bar_trunk(shared_latent.shape[-1], spec, bar, shapes)
            trunk = net(one_or_list([shared_latent, *features]))
            shared = []
        for i, k in enumerate(tracks):
            latent = ops.concatenate(shared + latents.private(inputs, i, k), axis=-1)
            # A voice's network makes its pitch and start logits: one per model-tensor channel.
            width = len(spec.track_channels(k))
            net_name = f"bar_generator_{k}"
            per_track.append(run_bars(latent, width, net_name, tanh and width == 1, trunk))
    return keras.Model(
        inputs, frame.finish(per_track, inputs, activated), name=f"musegan_{mode}_generator"
    )
