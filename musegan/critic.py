"""The MuseGAN critic: 3D convolutions over (bar, time, pitch) with tracks as channels.

No batch normalization: it makes each example's score depend on the rest of the batch, which
breaks the per-example gradient of the WGAN-GP penalty.

Optionally, the feature streams of :mod:`musegan.streams` (chroma, onset/offset, key, motion,
rhythm) run beside the main stack (``CriticConfig.streams``); their features join the main
stack's before the dense layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import layers, ops

from musegan.layers import AxisConv, LeakyReLU, bar_axis_kernels, check_pitch_strides, normal_init
from musegan.streams import configured_streams, parse_streams
from pianoroll.spec import PhraseSpec

__all__ = ["CriticConfig", "build_critic", "critic_network"]


@dataclasses.dataclass(frozen=True)
class CriticConfig:
    """Sizes of the critic.

    Attributes:
        bar_filters: filters of the two valid convolutions along the bar axis (kernels
            ``min(2, bars)`` then the rest, so the bar axis ends at 1).
        pitch_filters: filters of the strided convolutions along the pitch axis, one per
            ``pitch_strides`` entry.
        pitch_strides: kernel and stride of each pitch layer; their product is the number of
            pitches (``[12, 7]`` for 84).
        time_layers: ``[filters, kernel, stride]`` of each convolution along the time axis
            (``same`` padding, so any bar length works).
        dense_units: units of the hidden dense layer.
        leak: LeakyReLU slope.
        streams: feature streams beside the main stack, :class:`~musegan.streams.Stream` values
            (``"chroma"``, ``"onset_offset"``, ``"key"``, ``"motion"``, ``"rhythm"``); stored
            as a tuple of ``Stream`` in ``Stream`` order. Empty (the default): the critic
            without streams, layer for layer.
        chroma_filters: filters of the chroma stream: its layer over the 12 pitch classes, then
            each layer down the beats (at least two entries, checked when it is built).
        onset_filters: filters of the onset/offset (and motion) stream's layers down the time
            axis, whose kernels (= strides) split the steps per bar (``[2, 2, 4]`` for 16,
            ``[3, 4, 4]`` for 48; see :func:`musegan.streams.split_strides`; at least one
            entry).
        key_units: units of the dense layers over the key stream's pitch-class distribution
            (at least one entry).
        rhythm_units: units of the dense layers over the rhythm stream's profile (at least
            one entry).

    Raises:
        ValueError: an unknown or repeated stream name (naming ``critic.streams`` and the
            choices).
    """

    bar_filters: Sequence[int] = (128, 64)
    pitch_filters: Sequence[int] = (64, 64)
    pitch_strides: Sequence[int] = (12, 7)
    time_layers: Sequence[Sequence[int]] = ((64, 2, 2), (64, 2, 2), (128, 4, 2), (256, 3, 2))
    dense_units: int = 512
    leak: float = 0.2
    streams: Sequence[str] = ()
    chroma_filters: Sequence[int] = (32, 64)
    onset_filters: Sequence[int] = (16, 32, 64)
    key_units: Sequence[int] = (64, 64)
    rhythm_units: Sequence[int] = (64, 64)

    def __post_init__(self) -> None:
        object.__setattr__(self, "streams", parse_streams(self.streams, "critic.streams"))

    def check(self, spec: PhraseSpec) -> None:
        """Raise ValueError when the sizes do not fit the spec."""
        check_pitch_strides(self.pitch_strides, spec.n_pitches, "critic")
        if len(self.pitch_filters) != len(self.pitch_strides):
            raise ValueError("critic: pitch_filters needs one entry per pitch_strides entry")


def critic_network(spec: PhraseSpec, cfg: CriticConfig, channels: int, name: str) -> keras.Model:
    """One critic network.

    Args:
        spec: the phrase spec.
        cfg: layer sizes.
        channels: input channels (tracks it sees).
        name: model name.

    Returns:
        A model ``(batch, bars, steps, pitches, channels)`` in [-1, 1] -> ``(batch, 1)``
        unbounded scores (``float32``).
    """
    cfg.check(spec)
    x = inp = keras.Input((*spec.shape[:3], channels), name=f"{name}_in")

    # Every convolution spans one axis: a matrix product each (see AxisConv), with its
    # LeakyReLU applied inside the layer so that it fuses into the product.
    def conv(x, filters, axis, size, stride, padding, label):
        return AxisConv(
            filters, axis, size, stride, padding, leak=cfg.leak, name=f"{name}_{label}"
        )(x)

    for i, (filters, kernel) in enumerate(
        zip(cfg.bar_filters, bar_axis_kernels(spec.n_bars), strict=True)
    ):
        x = conv(x, filters, 1, kernel, 1, "valid", f"bar{i}")
    for i, (filters, stride) in enumerate(zip(cfg.pitch_filters, cfg.pitch_strides, strict=True)):
        x = conv(x, filters, 3, stride, stride, "valid", f"pitch{i}")
    for i, (filters, kernel, stride) in enumerate(cfg.time_layers):
        x = conv(x, filters, 2, kernel, stride, "same", f"time{i}")
    x = layers.Flatten()(x)
    if cfg.streams:  # none: the same layers as before streams existed (checkpoints load)
        extra = configured_streams(inp, spec, cfg, name)
        x = layers.Concatenate(name=f"{name}_features")([x, *extra])
    x = layers.Dense(cfg.dense_units, kernel_initializer=normal_init(), name=f"{name}_dense")(x)
    x = LeakyReLU(cfg.leak)(x)
    out = layers.Dense(1, kernel_initializer=normal_init(), dtype="float32", name=f"{name}_out")(x)
    return keras.Model(inp, out, name=name)


def build_critic(
    spec: PhraseSpec,
    cfg: Any,
    per_track: bool,
    network: Callable[[PhraseSpec, Any, int, str], keras.Model] | None = None,
) -> keras.Model:
    """The critic of a mode: one network over all tracks, or one per track (jamming).

    With ``per_track``, critic ``k`` sees only track ``k`` (with its onsets if it is a voice)
    and the model returns the sum of their scores; train it with
    ``gradient_penalty(..., group_axis=-1)`` so that each critic gets its own penalty (see
    :func:`gan.losses.gradient_penalty`).

    Args:
        spec: the phrase spec.
        cfg: the network's sizes (a :class:`CriticConfig` for :func:`critic_network`).
        per_track: one network per track.
        network: builds one network from ``(spec, cfg, channels, name)``;
            :func:`critic_network` (the AAAI critic) by default.

    Returns:
        A model ``(batch, bars, steps, pitches, channels)`` (model tensors) in [-1, 1] ->
        ``(batch, 1)``.
    """
    network = network or critic_network
    if not per_track:
        return network(spec, cfg, spec.n_channels, "critic")
    inp = keras.Input(spec.channel_shape, name="critic_in")
    scores = []
    for k in range(spec.n_tracks):
        channels = spec.track_channels(k)
        seen = ops.stack([inp[..., c] for c in channels], axis=-1)
        scores.append(network(spec, cfg, len(channels), f"critic_{k}")(seen))
    return keras.Model(inp, ops.sum(ops.stack(scores, axis=0), axis=0), name="critic_per_track")
