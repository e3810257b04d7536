"""The MuseGAN generator as its authors build it today: a shared network, then private
pitch-time and time-pitch branches per track (salu133445/musegan, ``src/musegan/presets``).

Each bar's latent vector (from the mode's noise: see :class:`musegan.generator.BarLatents`)
goes through a dense layer and a shared stack of transposed convolutions that grows the
(time, pitch) plane; every generated track then has two private branches, one upsampling
pitch then time and one time then pitch, whose outputs are concatenated and mixed by a 1x1
transposed convolution with batch norm into the track's output. Every transposed convolution
has kernel = stride, so it runs as a :class:`~musegan.layers.PatchUpsample` (one matrix
product); the authors' one overlapping pitch layer (3 -> 7 pitches, kernel 3, stride 2)
becomes a 7x upsample here.

How the modes map onto it: the composer's shared latent feeds one shared network for all
tracks; hybrid adds each track's private latent to its branches (tiled over the shared
network's output plane); jamming has only private latents, so each track gets a shared
network of its own. Track-conditional generation is not available with these networks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import keras
from keras import layers, ops

from musegan.binary import Output
from musegan.generator import GeneratorFrame, fold_bars, tile_join
from musegan.layers import BatchNorm, PatchUpsample, normal_init
from pianoroll.spec import PhraseSpec

__all__ = ["SharedPrivateConfig", "build_shared_private_generator"]


@dataclasses.dataclass(frozen=True)
class SharedPrivateConfig:
    """Sizes of the shared/private generator.

    Attributes:
        dense_units: units of the dense layer on each bar's latent vector (the authors' first
            transposed convolution, 512).
        shared: ``[filters, time factor, pitch factor]`` of each shared layer, from one
            position; the products of the factors give the shared plane, which must divide
            ``(steps_per_bar, n_pitches)``.
        private_filters: filters of each branch's two layers (the authors' 32 then 16).
        momentum: batch-norm momentum.
    """

    dense_units: int = 512
    shared: Sequence[Sequence[int]] = ((256, 4, 7), (128, 2, 1))
    private_filters: Sequence[int] = (32, 16)
    momentum: float = 0.9

    def plane(self) -> tuple[int, int]:
        """``(steps, pitches)`` of the shared network's output."""
        return (
            math.prod(int(layer[1]) for layer in self.shared),
            math.prod(int(layer[2]) for layer in self.shared),
        )

    def private_factors(self, spec: PhraseSpec) -> tuple[int, int]:
        """The branches' ``(time, pitch)`` upsampling factors for this spec.

        Raises:
            ValueError: the shared plane does not divide the bar's ``(steps, pitches)``.
        """
        steps, pitches = self.plane()
        if spec.steps_per_bar % steps or spec.n_pitches % pitches:
            raise ValueError(
                f"generator.shared: its plane ({steps} steps, {pitches} pitches) must divide"
                f" the bar's ({spec.steps_per_bar} steps, {spec.n_pitches} pitches)"
            )
        if len(self.private_filters) != 2:
            raise ValueError("generator.private_filters: two entries, one per branch layer")
        return spec.steps_per_bar // steps, spec.n_pitches // pitches


def _upsample(x, filters, factors, momentum, name):
    x = PatchUpsample(filters, factors, kernel_initializer=normal_init(), name=name)(x)
    x = BatchNorm(momentum=momentum, synchronized=True, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _shared_network(latent, cfg: SharedPrivateConfig, name: str):
    """``(batch * bars, d)`` -> ``(batch * bars, steps, pitches, filters)`` of the plane."""
    x = layers.Dense(cfg.dense_units, kernel_initializer=normal_init(), name=f"{name}_dense")(
        latent
    )
    x = BatchNorm(momentum=cfg.momentum, synchronized=True, name=f"{name}_dense_bn")(x)
    x = layers.ReLU(name=f"{name}_dense_relu")(x)
    x = layers.Reshape((1, 1, cfg.dense_units))(x)
    for i, (filters, time, pitch) in enumerate(cfg.shared):
        x = _upsample(x, int(filters), (int(time), int(pitch)), cfg.momentum, f"{name}_{i}")
    return x


def _private_branches(
    x, spec: PhraseSpec, cfg: SharedPrivateConfig, name: str, linear: bool, channels: int = 1
):
    """A track's pitch-time and time-pitch branches, merged: ``(batch * bars, steps,
    pitches, channels)`` ``tanh`` outputs or (``linear``) pre-activations, ``float32``."""
    time, pitch = cfg.private_factors(spec)
    first, second = (int(f) for f in cfg.private_filters)
    pitch_time = _upsample(x, first, (1, pitch), cfg.momentum, f"{name}_pt0")
    pitch_time = _upsample(pitch_time, second, (time, 1), cfg.momentum, f"{name}_pt1")
    time_pitch = _upsample(x, first, (time, 1), cfg.momentum, f"{name}_tp0")
    time_pitch = _upsample(time_pitch, second, (1, pitch), cfg.momentum, f"{name}_tp1")
    x = layers.Concatenate(axis=-1)([pitch_time, time_pitch])
    x = PatchUpsample(channels, (1, 1), kernel_initializer=normal_init(), name=f"{name}_merge")(x)
    x = BatchNorm(momentum=cfg.momentum, synchronized=True, name=f"{name}_merge_bn")(x)
    activation = "linear" if linear else "tanh"
    return layers.Activation(activation, dtype="float32", name=f"{name}_{activation}")(x)


def build_shared_private_generator(frame: GeneratorFrame, cfg: SharedPrivateConfig) -> keras.Model:
    """The shared/private generator of one mode.

    Args:
        frame: the spec, mode, noise and output the generator is built for (no condition
            track: the v2 networks have no track-conditional form).
        cfg: layer sizes.

    Returns:
        A model whose inputs are the noise dict of :func:`musegan.generator.noise_shapes` and
        whose output is ``(batch, bars, steps, pitches, channels)`` (a model tensor; see
        :func:`musegan.generator.finish_tracks`).

    Raises:
        ValueError: sizes that do not fit the spec.
    """
    spec, mode = frame.spec, frame.mode
    cfg.private_factors(spec)
    inputs = frame.noise_inputs()
    latents = frame.latents(cfg.momentum)
    bars, steps, pitches = spec.shape[:3]
    shared = latents.shared(inputs)
    trunk = (
        _shared_network(fold_bars(ops.concatenate(shared, axis=-1)), cfg, "shared")
        if shared
        else None
    )
    per_track = []
    for i in range(spec.n_tracks):
        private = latents.private(inputs, i, i)
        if trunk is None:  # jamming: a shared network of the track's own
            x = _shared_network(fold_bars(ops.concatenate(private, axis=-1)), cfg, f"shared_{i}")
        elif private:  # hybrid: the private latent tiled over the shared plane
            x = tile_join(trunk, fold_bars(ops.concatenate(private, axis=-1)))
        else:
            x = trunk
        width = len(spec.track_channels(i))  # a voice: pitch and start logits
        linear = frame.output is not Output.TANH or width > 1
        track = _private_branches(x, spec, cfg, f"private_{i}", linear, width)
        per_track.append(ops.reshape(track, (-1, bars, steps, pitches, width)))
    return keras.Model(inputs, frame.finish(per_track, inputs), name=f"musegan_v2_{mode}_generator")
