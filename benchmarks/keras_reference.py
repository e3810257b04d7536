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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from musegan.layers import bar_axis_kernels, normal_init
from pianoroll.spec import PhraseSpec

__all__ = ["StraightforwardMuseGAN", "make_dataset"]


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
