"""The MuseGAN critic as its authors build it today: private streams per track, a shared
stack, the optional feature streams, merged over the bars
(salu133445/musegan, ``src/musegan/presets/discriminator``).

Each track (a channel of the input) has two private branches mirroring the generator's:
pitch then time, and time then pitch; a 1x1 convolution merges them. The tracks' features are
concatenated and a shared stack reduces time to one position per bar and pitch to one; the
streams of :mod:`musegan.streams` (one position per bar each; the key and rhythm streams'
phrase-wide features repeated at every bar) join there; a convolution over
pairs of consecutive bars merges everything, and a dense layer gives the score. Leaky ReLU,
no normalization (see :mod:`musegan.critic`). Every convolution spans one axis (the authors'
(1, 4, 3) kernels become a time and a pitch layer), computed by
:class:`~musegan.layers.AxisConv`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
from keras import layers, ops

from musegan.layers import AxisConv, bar_axis_kernels, normal_init
from musegan.streams import PHRASE_STREAMS, configured_streams, parse_streams
from pianoroll.spec import PhraseSpec

__all__ = ["SharedPrivateCriticConfig", "shared_private_critic"]


@dataclasses.dataclass(frozen=True)
class SharedPrivateCriticConfig:
    """Sizes of the shared/private critic.

    Attributes:
        private_filters: filters of each private branch's two layers (the authors' 16, 32).
        private_time: kernel and stride of the private time layers (3 for 48 steps per bar,
            2 for 16).
        pitch_stride: kernel and stride of the private pitch layers (12: one octave).
        merged_filters: filters of the 1x1 convolution merging a track's branches.
        shared_time: ``[filters, kernel]`` of each shared time layer (kernel = stride); they
            must reduce the time axis to one position per bar.
        shared_pitch_filters: filters of the shared layer over the remaining pitches.
        merge_filters: filters of the convolution over consecutive bars.
        streams: feature streams (:class:`~musegan.streams.Stream` values) joined before it.
        chroma_filters: the chroma stream's filters (see :mod:`musegan.streams`).
        onset_filters: the onset/offset (and motion) stream's filters.
        key_units: the key stream's dense units.
        rhythm_units: the rhythm stream's dense units.
        leak: LeakyReLU slope.
    """

    private_filters: Sequence[int] = (16, 32)
    private_time: int = 2
    pitch_stride: int = 12
    merged_filters: int = 64
    shared_time: Sequence[Sequence[int]] = ((128, 4), (256, 2))
    shared_pitch_filters: int = 256
    merge_filters: int = 512
    streams: Sequence[str] = ("chroma", "onset_offset")
    chroma_filters: Sequence[int] = (32, 64)
    onset_filters: Sequence[int] = (16, 32, 64)
    key_units: Sequence[int] = (64, 64)
    rhythm_units: Sequence[int] = (64, 64)
    leak: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(self, "streams", parse_streams(self.streams, "critic.streams"))

    def check(self, spec: PhraseSpec) -> None:
        """Raise ValueError when the sizes do not fit the spec."""
        time = self.private_time
        for _, kernel in self.shared_time:
            time *= int(kernel)
        if time != spec.steps_per_bar:
            raise ValueError(
                f"critic: private_time x the shared_time kernels is {time}, not the bar's"
                f" {spec.steps_per_bar} steps"
            )
        if spec.n_pitches % self.pitch_stride:
            raise ValueError(
                f"critic.pitch_stride: {self.pitch_stride} does not divide {spec.n_pitches} pitches"
            )
        if len(self.private_filters) != 2:
            raise ValueError("critic.private_filters: two entries, one per branch layer")


def shared_private_critic(
    spec: PhraseSpec, cfg: SharedPrivateCriticConfig, channels: int, name: str
) -> keras.Model:
    """One shared/private critic network.

    Args:
        spec: the phrase spec.
        cfg: layer sizes (checked here).
        channels: input channels (tracks it sees), each with private branches.
        name: model name.

    Returns:
        A model ``(batch, bars, steps, pitches, channels)`` in [-1, 1] -> ``(batch, 1)``
        unbounded scores (``float32``).
    """
    cfg.check(spec)
    inp = keras.Input((*spec.shape[:3], channels), name=f"{name}_in")

    def conv(x, filters, axis, size, label, padding="valid"):
        return AxisConv(
            int(filters), axis, int(size), int(size), padding, leak=cfg.leak, name=f"{name}_{label}"
        )(x)

    first, second = cfg.private_filters
    tracks = []
    for k in range(channels):
        x = inp[..., k : k + 1]
        pitch_time = conv(
            conv(x, first, 3, cfg.pitch_stride, f"pt{k}_0"), second, 2, cfg.private_time, f"pt{k}_1"
        )
        time_pitch = conv(
            conv(x, first, 2, cfg.private_time, f"tp{k}_0"), second, 3, cfg.pitch_stride, f"tp{k}_1"
        )
        merged = layers.Concatenate(axis=-1)([pitch_time, time_pitch])
        tracks.append(conv(merged, cfg.merged_filters, 3, 1, f"merge{k}"))
    x = tracks[0] if channels == 1 else layers.Concatenate(axis=-1)(tracks)
    for i, (filters, kernel) in enumerate(cfg.shared_time):
        x = conv(x, filters, 2, kernel, f"shared_time{i}")
    x = conv(x, cfg.shared_pitch_filters, 3, spec.n_pitches // cfg.pitch_stride, "shared_pitch")
    if cfg.streams:
        extra = configured_streams(inp, spec, cfg, name)
        bars = spec.n_bars
        for i, stream in enumerate(cfg.streams):
            if stream in PHRASE_STREAMS:  # one vector for the phrase: every bar gets it
                extra[i] = ops.repeat(
                    ops.reshape(extra[i], (-1, 1, 1, 1, extra[i].shape[-1])), bars, axis=1
                )
            else:  # (bars, 1, 1, filters) flattened bar by bar
                extra[i] = ops.reshape(extra[i], (-1, bars, 1, 1, extra[i].shape[-1] // bars))
        x = layers.Concatenate(axis=-1)([x, *extra])
    x = AxisConv(
        cfg.merge_filters,
        1,
        bar_axis_kernels(spec.n_bars)[0],
        1,
        "valid",
        leak=cfg.leak,
        name=f"{name}_merge_bars",
    )(x)
    x = layers.Flatten()(x)
    out = layers.Dense(1, kernel_initializer=normal_init(), dtype="float32", name=f"{name}_out")(x)
    return keras.Model(inp, out, name=name)
