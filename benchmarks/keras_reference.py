"""The straightforward Keras MuseGAN: the baseline of the training-speed benchmark.

A textbook Keras 3 implementation of the ``reference`` model preset (the layout of the widely
used Keras MuseGAN: hybrid mode with temporal networks), written the way tutorials write it:

- the generator is a ``keras.Model`` whose ``call`` loops over bars and tracks in Python and
  calls one bar generator per (bar, track), each a ``Sequential`` of ``Dense``,
  ``Conv2DTranspose``, ``BatchNormalization`` and ``ReLU`` layers; the temporal networks are
  ``Conv2DTranspose`` stacks;
- the critic is a ``Sequential`` of ``Conv3D`` and ``LeakyReLU`` layers, ``Flatten`` and two
  ``Dense`` layers;
- the GAN is a ``keras.Model`` with a custom ``train_step`` (``critic_steps`` WGAN-GP critic
  updates, then one generator update), trained with ``Model.fit``; as in the Keras WGAN-GP
  example, every critic update of a step sees the step's real batch.

The layer sizes come from the same dataclasses as :mod:`musegan` (``BarGeneratorConfig``,
``CriticConfig``), so the two implementations cannot drift apart in size; the losses are the
pure functions of :mod:`gan.losses`. One difference in the function computed, inherent to the
per-bar loop: each bar-generator call normalizes with the batch statistics of its own bar,
where :mod:`musegan` folds the bars into the batch and normalizes over all of them.

:func:`copy_weights` gives a straightforward MuseGAN the weights of the project's one (the
``reference`` preset), so that ``tests/test_reference_equivalence.py`` can check that both
compute the same outputs, losses and gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import keras
import tensorflow as tf
from keras import layers, ops

from gan.losses import (
    gradient_penalty,
    wasserstein_discriminator_loss,
    wasserstein_generator_loss,
)
from musegan.critic import CriticConfig
from musegan.generator import BarGeneratorConfig, noise_shapes
from musegan.layers import AxisConv, PatchUpsample, bar_axis_kernels, normal_init
from pianoroll.spec import PhraseSpec

if TYPE_CHECKING:
    from musegan.model import MuseGAN

__all__ = ["StraightforwardMuseGAN", "WeightPair", "copy_weights", "make_dataset", "weight_pairs"]


def _temporal(z_dim: int, n_bars: int, filters: int, momentum: float, name: str) -> keras.Model:
    first, second = bar_axis_kernels(n_bars)
    return keras.Sequential(
        [
            keras.Input((z_dim,)),
            layers.Reshape((1, 1, z_dim)),
            layers.Conv2DTranspose(filters, (first, 1), kernel_initializer=normal_init()),
            layers.BatchNormalization(momentum=momentum),
            layers.ReLU(),
            layers.Conv2DTranspose(z_dim, (second, 1), kernel_initializer=normal_init()),
            layers.BatchNormalization(momentum=momentum),
            layers.ReLU(),
            layers.Reshape((n_bars, z_dim)),
        ],
        name=name,
    )


def _bar_generator(input_dim: int, spec: PhraseSpec, cfg: BarGeneratorConfig, name: str):
    stack: list[Any] = [
        keras.Input((input_dim,)),
        layers.Dense(cfg.dense_units, kernel_initializer=normal_init()),
        layers.BatchNormalization(momentum=cfg.momentum),
        layers.ReLU(),
        layers.Reshape((2, 1, cfg.dense_units // 2)),
    ]
    upsampling = [(f, (s, 1)) for f, s in cfg.time_layers(spec.steps_per_bar)]
    upsampling += [(f, (1, s)) for f, s in zip(cfg.pitch_filters, cfg.pitch_strides, strict=False)]
    for filters, strides in upsampling:
        stack += [
            layers.Conv2DTranspose(
                filters, strides, strides=strides, kernel_initializer=normal_init()
            ),
            layers.BatchNormalization(momentum=cfg.momentum),
            layers.ReLU(),
        ]
    last = (1, cfg.pitch_strides[-1])
    stack += [
        layers.Conv2DTranspose(1, last, strides=last, kernel_initializer=normal_init()),
        layers.Activation("tanh", dtype="float32"),
    ]
    return keras.Sequential(stack, name=name)


def _critic(spec: PhraseSpec, cfg: CriticConfig) -> keras.Model:
    stack: list[Any] = [keras.Input(spec.shape)]

    def conv(filters, kernel, strides, padding):
        stack.extend(
            [
                layers.Conv3D(
                    filters,
                    kernel,
                    strides=strides,
                    padding=padding,
                    kernel_initializer=normal_init(),
                ),
                layers.LeakyReLU(cfg.leak),
            ]
        )

    for filters, kernel in zip(cfg.bar_filters, bar_axis_kernels(spec.n_bars), strict=True):
        conv(filters, (kernel, 1, 1), 1, "valid")
    for filters, stride in zip(cfg.pitch_filters, cfg.pitch_strides, strict=True):
        conv(filters, (1, 1, stride), (1, 1, stride), "valid")
    for filters, kernel, stride in cfg.time_layers:
        conv(filters, (1, kernel, 1), (1, stride, 1), "same")
    stack += [
        layers.Flatten(),
        layers.Dense(cfg.dense_units, kernel_initializer=normal_init()),
        layers.LeakyReLU(cfg.leak),
        layers.Dense(1, kernel_initializer=normal_init(), dtype="float32"),
    ]
    return keras.Sequential(stack, name="critic")


class StraightforwardGenerator(keras.Model):
    """Hybrid MuseGAN generator with one Python-level call per bar and track.

    Input: the noise dict of :func:`musegan.generator.noise_shapes` (hybrid, temporal); output
    ``(batch, bars, steps, pitches, tracks)`` in (-1, 1).
    """

    def __init__(
        self, spec: PhraseSpec, z_dim: int, temporal_filters: int, cfg: BarGeneratorConfig
    ) -> None:
        super().__init__(name="generator")
        self.spec = spec
        n_bars, tracks = spec.n_bars, range(spec.n_tracks)
        self.chords_net = _temporal(z_dim, n_bars, temporal_filters, cfg.momentum, "temporal")
        self.melody_nets = [
            _temporal(z_dim, n_bars, temporal_filters, cfg.momentum, f"temporal_{k}")
            for k in tracks
        ]
        self.bar_generators = [
            _bar_generator(4 * z_dim, spec, cfg, f"bar_generator_{k}") for k in tracks
        ]

    def call(self, noise: Mapping[str, Any], training: bool = False) -> Any:
        chords = self.chords_net(noise["chords"], training=training)
        melodies = [
            net(noise["melody"][:, k], training=training) for k, net in enumerate(self.melody_nets)
        ]
        bars = []
        for bar in range(self.spec.n_bars):
            tracks = []
            for k, net in enumerate(self.bar_generators):
                latent = ops.concatenate(
                    [noise["style"], chords[:, bar], noise["groove"][:, k], melodies[k][:, bar]],
                    axis=-1,
                )
                tracks.append(net(latent, training=training))
            bars.append(ops.concatenate(tracks, axis=-1))
        return ops.stack(bars, axis=1)


class StraightforwardMuseGAN(keras.Model):
    """Generator, critic and the WGAN-GP ``train_step`` that ``Model.fit`` runs.

    Args:
        spec: the phrase spec (2 bars for the reference).
        z_dim: size of each noise vector.
        temporal_filters: filters of the temporal networks' first layer.
        bar_generator: :class:`~musegan.generator.BarGeneratorConfig` fields.
        critic: :class:`~musegan.critic.CriticConfig` fields.
        critic_steps: critic updates per generator update.
        penalty_weight: the gradient penalty's lambda.
        seed: seed of the noise and interpolation draws.
    """

    def __init__(
        self,
        spec: PhraseSpec,
        z_dim: int = 32,
        temporal_filters: int = 1024,
        bar_generator: Mapping[str, Any] | None = None,
        critic: Mapping[str, Any] | None = None,
        critic_steps: int = 5,
        penalty_weight: float = 10.0,
        seed: int = 0,
    ) -> None:
        super().__init__(name="straightforward_musegan")
        self.spec = spec
        self.critic_steps = int(critic_steps)
        self.penalty_weight = float(penalty_weight)
        self.shapes = noise_shapes(spec, "hybrid", z_dim, True, None)
        self.generator = StraightforwardGenerator(
            spec, z_dim, temporal_filters, BarGeneratorConfig(**dict(bar_generator or {}))
        )
        self.critic = _critic(spec, CriticConfig(**dict(critic or {})))
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.generator(self.sample_noise(2))

    def compile(self, generator_optimizer, critic_optimizer, **kwargs):
        super().compile(**kwargs)
        self.generator_optimizer = generator_optimizer
        self.critic_optimizer = critic_optimizer

    def sample_noise(self, batch: int) -> dict[str, Any]:
        return {
            name: keras.random.normal((batch, *shape), seed=self.seed_generator)
            for name, shape in self.shapes.items()
        }

    def train_step(self, real: Any) -> dict[str, Any]:
        batch = ops.shape(real)[0]
        for _ in range(self.critic_steps):
            fake = self.generator(self.sample_noise(batch), training=True)
            epsilon = keras.random.uniform((batch,), seed=self.seed_generator)
            with tf.GradientTape() as tape:
                wasserstein = wasserstein_discriminator_loss(
                    self.critic(real, training=True), self.critic(fake, training=True)
                )
                penalty = gradient_penalty(
                    lambda x: self.critic(x, training=True), real, fake, epsilon
                )
                critic_loss = wasserstein + self.penalty_weight * penalty
            variables = self.critic.trainable_variables
            self.critic_optimizer.apply(tape.gradient(critic_loss, variables), variables)
        with tf.GradientTape() as tape:
            fake = self.generator(self.sample_noise(batch), training=True)
            generator_loss = wasserstein_generator_loss(self.critic(fake, training=True))
        variables = self.generator.trainable_variables
        self.generator_optimizer.apply(tape.gradient(generator_loss, variables), variables)
        return {
            "critic_loss": critic_loss,
            "gradient_penalty": penalty,
            "generator_loss": generator_loss,
        }


def make_dataset(phrases: Any, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """Real phrases ``(N, bars, steps, pitches, tracks)`` (binary) as endless shuffled batches
    in {-1, 1}, the way a tutorial feeds ``Model.fit``."""
    data = tf.data.Dataset.from_tensor_slices(tf.constant(phrases, tf.bool))
    data = data.map(lambda x: tf.cast(x, tf.float32) * 2.0 - 1.0)
    return data.shuffle(4096, seed=seed).repeat().batch(batch_size, drop_remainder=True).prefetch(2)


class WeightPair(NamedTuple):
    """One variable of :class:`musegan.model.MuseGAN` and its counterpart here.

    Attributes:
        ours: the variable of the project's model.
        theirs: the variable of :class:`StraightforwardMuseGAN` that holds the same numbers.
        to_theirs: maps a tensor of ``ours``' shape (the value, or a gradient) to ``theirs``'
            layout: a reshape and transpose, so gradients map through it like the values.
    """

    ours: Any
    theirs: Any
    to_theirs: Callable[[Any], Any]


def _same(x: Any) -> Any:
    return ops.convert_to_tensor(x)


def _patch_to_transposed_conv(factors: tuple[int, int]) -> Callable[[Any], Any]:
    # PatchUpsample's (in, fh * fw * filters) is Conv2DTranspose's (fh, fw, filters, in)
    # moved to (in, fh, fw, filters) and flattened (see PatchUpsample).
    def to_theirs(kernel: Any) -> Any:
        kernel = ops.convert_to_tensor(kernel)
        return ops.transpose(ops.reshape(kernel, (kernel.shape[0], *factors, -1)), (1, 2, 3, 0))

    return to_theirs


def _geometry_matches(ours: Any, theirs: Any) -> bool:
    """Whether two layers of matched types compute with the same kernel windows."""
    if isinstance(ours, PatchUpsample):
        # The stride along an axis of one input position does not matter (the temporal
        # networks' first layer: kernel (2, 1), stride 1, on a 1 x 1 input).
        sizes = ours.input.shape[1:3]
        return (
            tuple(theirs.kernel_size) == ours.factors
            and all(
                s == f or n == 1
                for s, f, n in zip(theirs.strides, ours.factors, sizes, strict=True)
            )
            and theirs.padding == "valid"
        )
    if isinstance(ours, AxisConv):
        strides = [1, 1, 1]
        strides[ours.axis - 1] = ours.stride
        return tuple(theirs.strides) == tuple(strides) and theirs.padding == ours.padding
    if isinstance(ours, layers.Conv2DTranspose):
        return tuple(theirs.strides) == tuple(ours.strides) and theirs.padding == ours.padding
    return True


#: Layer types of the project's networks -> the straightforward layer type holding its weights.
_COUNTERPARTS = (
    (PatchUpsample, layers.Conv2DTranspose),
    (AxisConv, layers.Conv3D),
    (layers.Conv2DTranspose, layers.Conv2DTranspose),
    (layers.BatchNormalization, layers.BatchNormalization),
    (layers.Dense, layers.Dense),
)


def _layer_pairs(ours: keras.Model, theirs: keras.Model) -> list[WeightPair]:
    """Pair the weighted layers of two networks in order, variable by variable."""
    mine = [layer for layer in ours.layers if layer.weights]
    other = [layer for layer in theirs.layers if layer.weights]
    if len(mine) != len(other):
        raise ValueError(
            f"{ours.name} has {len(mine)} layers with weights, {theirs.name} has {len(other)}"
        )
    pairs = []
    for a, b in zip(mine, other, strict=True):
        kind = next((t for s, t in _COUNTERPARTS if isinstance(a, s)), None)
        if kind is None or not isinstance(b, kind) or not _geometry_matches(a, b):
            raise ValueError(
                f"{ours.name}/{a.name} ({type(a).__name__}) does not correspond to"
                f" {theirs.name}/{b.name} ({type(b).__name__})"
            )
        if len(a.weights) != len(b.weights):
            raise ValueError(
                f"{ours.name}/{a.name} has {len(a.weights)} variables,"
                f" {theirs.name}/{b.name} has {len(b.weights)}"
            )
        for va, vb in zip(a.weights, b.weights, strict=True):
            to_theirs = _same
            if isinstance(a, PatchUpsample) and va is a.kernel:
                to_theirs = _patch_to_transposed_conv(a.factors)
            mapped = tuple(to_theirs(ops.zeros(va.shape)).shape)
            if mapped != tuple(vb.shape):
                raise ValueError(
                    f"{ours.name}/{va.path} of shape {tuple(va.shape)} maps to {mapped}, but"
                    f" {theirs.name}/{vb.path} has shape {tuple(vb.shape)}"
                )
            pairs.append(WeightPair(va, vb, to_theirs))
    return pairs


def weight_pairs(model: MuseGAN, gan: StraightforwardMuseGAN) -> list[WeightPair]:
    """The correspondence between every variable of a MuseGAN and of a straightforward one.

    The temporal networks, the bar generators (ours: ``PatchUpsample`` kernels ``(in, fh * fw *
    filters)``; theirs: ``Conv2DTranspose`` kernels ``(fh, fw, filters, in)``), batch norms
    (scale, offset, moving mean and variance) and the critic (ours: ``AxisConv`` kernels of
    ``Conv3D``'s shape; theirs: ``Conv3D``) are paired layer by layer in order; each pair maps
    our tensor to the straightforward layout, so it serves for values and gradients alike.

    Args:
        model: a hybrid MuseGAN with temporal networks and without a condition track.
        gan: a straightforward MuseGAN of the same spec and sizes.

    Returns:
        One :class:`WeightPair` per variable of ``model.generator`` and ``model.critic``
        (trainable or not), covering every variable of ``gan.generator`` and ``gan.critic``.

    Raises:
        ValueError: another mode, or the networks' layers, types, windows or shapes differ
            (the message names the first pair that does not match).
    """
    if model.mode != "hybrid" or not model.temporal or model.condition_index is not None:
        raise ValueError(
            "the straightforward MuseGAN is hybrid with temporal networks and no condition"
            f" track; got mode {model.mode!r}, temporal {model.temporal},"
            f" condition index {model.condition_index}"
        )
    if model.spec.shape != gan.spec.shape:
        raise ValueError(f"phrase shapes differ: {model.spec.shape} and {gan.spec.shape}")
    ours_gen, theirs_gen = model.generator, gan.generator
    nets = [(ours_gen.get_layer("temporal_shared"), theirs_gen.chords_net)]
    for k in range(gan.spec.n_tracks):
        nets.append((ours_gen.get_layer(f"temporal_{k}"), theirs_gen.melody_nets[k]))
        nets.append((ours_gen.get_layer(f"bar_generator_{k}"), theirs_gen.bar_generators[k]))
    nets.append((model.critic, gan.critic))
    pairs = [pair for a, b in nets for pair in _layer_pairs(a, b)]
    for side, networks in (
        ("ours", (model.generator, model.critic)),
        ("theirs", (gan.generator, gan.critic)),
    ):
        covered = {id(getattr(p, side)) for p in pairs}
        left = [v.path for net in networks for v in net.weights if id(v) not in covered]
        if left:
            raise ValueError(f"variables of {side} without a counterpart: {', '.join(left)}")
    return pairs


def copy_weights(model: MuseGAN, gan: StraightforwardMuseGAN) -> list[WeightPair]:
    """Give a straightforward MuseGAN the weights of a MuseGAN (see :func:`weight_pairs`).

    Args:
        model: the source, a hybrid MuseGAN with temporal networks.
        gan: the destination, a straightforward MuseGAN of the same spec and sizes.

    Returns:
        The pairs used, to map gradients the same way.

    Raises:
        ValueError: the two do not correspond (see :func:`weight_pairs`).
    """
    pairs = weight_pairs(model, gan)
    for pair in pairs:
        pair.theirs.assign(pair.to_theirs(pair.ours))
    return pairs
