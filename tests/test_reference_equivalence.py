"""The reference preset computes the straightforward Keras MuseGAN's function (issue 8).

``+experiment=reference`` builds :class:`musegan.model.MuseGAN` with the sizes of
:class:`benchmarks.keras_reference.StraightforwardMuseGAN`; ours folds bars and tracks into
matrix products (``PatchUpsample``, ``AxisConv``), theirs loops over bars and tracks with
``Conv2DTranspose`` and ``Conv3D``. With the weights copied across
(:func:`benchmarks.keras_reference.copy_weights`), the same noise, real batch and epsilon, at the
full reference sizes (batch 4):

- the generators agree in inference mode, and so do the critics, the WGAN-GP critic loss and
  generator loss and their gradients (mapped through the same correspondence);
- in training mode the one difference is batch normalization's statistics: ours normalizes
  each bar generator's layers over all bars of the batch, theirs over one bar at a time. Ours
  equals theirs when their bar generators see all bars in one call (and then the moving
  statistics agree too), and differs from their per-bar loop by far more than the tolerance.

The gradient comparisons run with every rectifier (ReLU, LeakyReLU) replaced, in both networks
alike, by a smooth function of the same shape (:func:`smooth_rectifiers`). A rectifier
network's gradient jumps where a unit's input crosses zero, and among the generator's many
rectifier inputs some lie within float32 round-off of zero: the two summation orders put such
a unit on different sides, which moves a kernel's gradient by that unit's whole term, far
beyond the tolerance on some hosts. That is the kink, not a layout difference; with
smooth rectifiers what remains is round-off, and a mis-mapped kernel still differs by the
order of 1. The forward comparisons keep the real rectifiers, and
``tests/test_musegan_layers.py`` checks our leaky ReLU's own gradients.

Every weight is made non-trivial first (random biases and batch-norm scales and offsets,
moving statistics of a real forward pass, critic kernels at He scale), so a mis-mapped variable
changes the outputs: a transposed bar-generator kernel or a flipped critic window moves them by
about their own size, where float32 round-off moves them by about 1e-6 of it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from hydra import compose, initialize_config_module
from keras import ops
from omegaconf import OmegaConf

from benchmarks.keras_reference import StraightforwardMuseGAN, copy_weights, weight_pairs
from gan.builder import build_model
from gan.losses import gradient_penalty, wasserstein_discriminator_loss, wasserstein_generator_loss
from gan.objectives import WassersteinGP
from musegan import layers as musegan_layers
from musegan.model import MuseGAN
from pianoroll.prepare import make_spec
from pianoroll.spec import PhraseSpec

BATCH = 4
#: Largest difference allowed, relative to the largest magnitude of the straightforward
#: value. float32 round-off across the different summation orders is about 1e-6 of that;
#: a mis-mapped kernel is of the order of 1.
VALUE_TOL = 1e-5
#: Gradients (the critic's go through the penalty's second derivatives).
GRADIENT_TOL = 1e-4
#: Gradients of vectors (biases, normalization scales and offsets), relative to the network's
#: largest gradient (see :func:`assert_gradients_agree`).
SUM_TOL = 1e-4


@dataclasses.dataclass
class Setup:
    model: MuseGAN
    gan: StraightforwardMuseGAN
    sizes: dict[str, Any]
    snapshot: list[np.ndarray]
    noise: dict[str, tf.Tensor]
    real: tf.Tensor
    epsilon: tf.Tensor


def _sublayers(net: keras.Model):
    for layer in net.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _sublayers(layer)


def _our_variables(model: MuseGAN) -> list[Any]:
    return [*model.generator.weights, *model.critic.weights]


def _realistic_weights(model: MuseGAN, rng: np.random.Generator) -> None:
    """Random biases, batch-norm scales and offsets, and moving statistics of one forward
    pass (zero biases, unit scales and the initial statistics would hide a mis-mapped one)."""
    norms = []
    for layer in [*_sublayers(model.generator), *_sublayers(model.critic)]:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape))
            layer.beta.assign(rng.normal(0.0, 0.2, layer.beta.shape))
            norms.append(layer)
        elif getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0.0, 0.05, layer.bias.shape))
    # At the N(0, 0.02) initialization the critic's input gradients have norms near 2e-6 and
    # the penalty is 1 - 4e-6, almost whatever the weights; at He scale it is 0.06.
    for layer in _sublayers(model.critic):
        if getattr(layer, "kernel", None) is not None:
            kernel = layer.kernel
            fan_in = np.prod(kernel.shape[:-1])
            kernel.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape))
    momentum = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = 0.0  # the moving statistics become this pass's
    model.generator(model.sample_noise(16, tf.constant([5, 6], tf.int64)), training=True)
    for norm, value in zip(norms, momentum, strict=True):
        norm.momentum = value


def straightforward(spec: PhraseSpec, sizes: dict[str, Any]) -> StraightforwardMuseGAN:
    """The straightforward MuseGAN with the sizes of a ``model`` config node."""
    return StraightforwardMuseGAN(
        spec,
        z_dim=sizes["z_dim"],
        temporal_filters=sizes["temporal_filters"],
        bar_generator=sizes["bar_generator"],
        critic=sizes["critic"],
    )


@pytest.fixture(scope="module")
def setup() -> Setup:
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("musegan", overrides=["+experiment=reference"])
    spec = make_spec(cfg.data)  # free rolls, as the reference layout has them
    assert spec.shape == spec.channel_shape == (2, 16, 84, 4)
    keras.utils.set_random_seed(0)
    model = build_model(cfg, spec)
    sizes = OmegaConf.to_container(cfg.model, resolve=True)
    gan = straightforward(spec, sizes)
    rng = np.random.default_rng(0)
    _realistic_weights(model, rng)
    return Setup(
        model=model,
        gan=gan,
        sizes=sizes,
        snapshot=[v.numpy() for v in _our_variables(model)],
        noise=model.sample_noise(BATCH, tf.constant([1, 2], tf.int64)),
        real=tf.constant(rng.choice([-1.0, 1.0], (BATCH, *spec.shape)), tf.float32),
        epsilon=tf.constant(rng.uniform(size=BATCH), tf.float32),
    )


@pytest.fixture
def pairs(setup):
    """Our weights as the fixture made them, copied into the straightforward model."""
    for variable, value in zip(_our_variables(setup.model), setup.snapshot, strict=True):
        variable.assign(value)
    return copy_weights(setup.model, setup.gan)


def _smooth_leaky_relu(x: Any, alpha: float) -> Any:
    """``alpha * x + (1 - alpha) * gelu(x)``: a leaky ReLU without the kink at 0 (``alpha = 0``
    gives GELU, a smooth ReLU)."""
    return alpha * x + (1.0 - alpha) * ops.gelu(x)


@pytest.fixture
def smooth_rectifiers(monkeypatch):
    """Every ReLU and LeakyReLU of both networks, ours and Keras's, made smooth for one test."""
    monkeypatch.setattr(keras.layers.ReLU, "call", lambda self, x: _smooth_leaky_relu(x, 0.0))
    monkeypatch.setattr(
        keras.layers.LeakyReLU, "call", lambda self, x: _smooth_leaky_relu(x, self.negative_slope)
    )
    monkeypatch.setattr(musegan_layers, "leaky_relu", _smooth_leaky_relu)
    assert float(keras.layers.ReLU()(tf.constant(-1.0))) < 0.0  # the patch is in force


def relative_difference(ours: Any, theirs: Any, floor: float = 0.0) -> float:
    """``max |ours - theirs| / max(max |theirs|, floor)``."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), floor))


def assert_agree(what: str, ours: Any, theirs: Any, tol: float) -> float:
    difference = relative_difference(ours, theirs)
    print(f"{what}: max |difference| / max |value| = {difference:.2e}")
    assert difference <= tol, f"{what} differs by {difference:.2e} of its size (allowed {tol})"
    return difference


def assert_gradients_agree(what, pairs, ours_vars, ours_grads, theirs_vars, theirs_grads):
    """Map our gradients to the straightforward layout and compare them variable by variable.

    A kernel's difference is relative to its largest gradient, or to a thousandth of the
    network's largest one when smaller. A vector's (a bias, a normalization's scale or offset)
    is a sum over every position of its layer's output: the positions' terms cancel, so its
    round-off follows the network's scale rather than its own size, which may be near zero (the
    critic's output bias cancels in the Wasserstein difference and does not enter the penalty).
    Vectors are held to :data:`SUM_TOL` of the network's largest gradient: host-independent,
    and still far below the size of a mis-mapped vector's gradient.
    """
    index = {id(v): i for i, v in enumerate(ours_vars)}
    mapped = {
        id(p.theirs): p.to_theirs(ours_grads[index[id(p.ours)]])
        for p in pairs
        if id(p.ours) in index
    }
    assert len(mapped) == len(theirs_vars) > 0
    top = max(float(np.max(np.abs(g))) for g in theirs_grads)
    kernels, vectors = {}, {}
    for v, g in zip(theirs_vars, theirs_grads, strict=True):
        if len(v.shape) == 1:
            vectors[v.path] = float(np.max(np.abs(np.asarray(mapped[id(v)]) - np.asarray(g)))) / top
        else:
            kernels[v.path] = relative_difference(mapped[id(v)], g, 1e-3 * top)
    for kind, differences, tol in (
        ("kernels", kernels, GRADIENT_TOL),
        ("vectors", vectors, SUM_TOL),
    ):
        worst = max(differences, key=differences.get)
        print(f"{what}, {kind}: max |difference| = {differences[worst]:.2e} ({worst})")
        assert differences[worst] <= tol, (
            f"{what} differ by {differences[worst]:.2e} at {worst} (allowed {tol})"
        )


def test_weight_pairs_cover_every_variable_and_refuse_other_sizes(setup, pairs):
    ours, theirs = setup.model, setup.gan
    assert len(pairs) == len(_our_variables(ours))
    assert len({id(p.theirs) for p in pairs}) == len(theirs.generator.weights) + len(
        theirs.critic.weights
    )
    sizes = {**setup.sizes, "critic": {**setup.sizes["critic"], "dense_units": 8}}
    other = straightforward(ours.spec, sizes)
    with pytest.raises(ValueError, match="critic_dense/kernel of shape"):
        weight_pairs(ours, other)


def test_generators_agree_in_inference_mode(setup, pairs):
    ours = setup.model.generate(setup.noise, None, training=False)
    theirs = setup.gan.generator(setup.noise, training=False)
    assert float(np.std(theirs)) > 0.1  # not a near-constant output that anything matches
    assert_agree("generator output (inference)", ours, theirs, VALUE_TOL)


def test_critics_scores_agree(setup, pairs):
    ours, theirs = setup.model, setup.gan
    fake = ours.generate(setup.noise, None, training=False)
    for name, x in (("real", setup.real), ("fake", fake)):
        assert_agree(
            f"critic scores ({name})",
            ours.critic(x, training=True),
            theirs.critic(x, training=True),
            VALUE_TOL,
        )


def test_critic_loss_and_gradients_agree(setup, pairs, smooth_rectifiers):
    ours, theirs = setup.model, setup.gan
    real, epsilon = setup.real, setup.epsilon
    fake = ours.generate(setup.noise, None, training=False)
    with tf.GradientTape() as tape:
        ours_loss, parts = WassersteinGP(10.0).critic_loss(ours, real, fake, epsilon, BATCH)
    ours_vars = ours.critic.trainable_variables
    ours_grads = tape.gradient(ours_loss, ours_vars)
    with tf.GradientTape() as tape:  # as StraightforwardMuseGAN.train_step computes it
        wasserstein = wasserstein_discriminator_loss(
            theirs.critic(real, training=True), theirs.critic(fake, training=True)
        )
        penalty = gradient_penalty(lambda x: theirs.critic(x, training=True), real, fake, epsilon)
        theirs_loss = wasserstein + 10.0 * penalty
    theirs_vars = theirs.critic.trainable_variables
    theirs_grads = tape.gradient(theirs_loss, theirs_vars)
    assert_agree("gradient penalty", parts["gradient_penalty"], penalty, VALUE_TOL)
    assert_agree("critic loss", ours_loss, theirs_loss, VALUE_TOL)
    assert_gradients_agree(
        "critic loss gradients", pairs, ours_vars, ours_grads, theirs_vars, theirs_grads
    )


def test_generator_loss_and_gradients_agree_in_inference_mode(setup, pairs, smooth_rectifiers):
    ours, theirs = setup.model, setup.gan
    with tf.GradientTape() as tape:
        fake = ours.generator(setup.noise, training=False)
        ours_loss, _ = WassersteinGP(10.0).generator_loss(ours, setup.real, fake, BATCH)
    ours_vars = ours.generator.trainable_variables
    ours_grads = tape.gradient(ours_loss, ours_vars)
    with tf.GradientTape() as tape:
        fake = theirs.generator(setup.noise, training=False)
        theirs_loss = wasserstein_generator_loss(theirs.critic(fake, training=True))
    theirs_vars = theirs.generator.trainable_variables
    theirs_grads = tape.gradient(theirs_loss, theirs_vars)
    assert_agree("generator loss", ours_loss, theirs_loss, VALUE_TOL)
    assert_gradients_agree(
        "generator loss gradients", pairs, ours_vars, ours_grads, theirs_vars, theirs_grads
    )


def test_a_mis_mapped_vector_gradient_is_caught(setup, pairs):
    """The bound on vectors still fails a mapping that pairs two biases of the same shape
    wrongly: the bound is not so loose that the comparison cannot fail."""
    ours = setup.model
    with tf.GradientTape() as tape:
        fake = ours.generator(setup.noise, training=False)
        loss, _ = WassersteinGP(10.0).generator_loss(ours, setup.real, fake, BATCH)
    ours_vars = ours.generator.trainable_variables
    ours_grads = tape.gradient(loss, ours_vars)
    theirs_vars = setup.gan.generator.trainable_variables
    # Their gradients, as ours map to them: equal by construction, then two outputs swapped.
    index = {id(v): i for i, v in enumerate(ours_vars)}
    by_theirs = {id(p.theirs): p for p in pairs if id(p.ours) in index}
    theirs_grads = [
        by_theirs[id(v)].to_theirs(ours_grads[index[id(by_theirs[id(v)].ours)]])
        for v in theirs_vars
    ]
    assert_gradients_agree("identity", pairs, ours_vars, ours_grads, theirs_vars, theirs_grads)
    outputs = [i for i, v in enumerate(theirs_vars) if v.path.endswith("bias") and v.shape == (1,)]
    assert len(outputs) == 4  # each track's output bias
    first, second = outputs[0], outputs[1]
    theirs_grads[first], theirs_grads[second] = theirs_grads[second], theirs_grads[first]
    with pytest.raises(AssertionError, match="swapped differ by"):
        assert_gradients_agree("swapped", pairs, ours_vars, ours_grads, theirs_vars, theirs_grads)


def _all_bars_at_once(gan: StraightforwardMuseGAN, noise: dict[str, Any]) -> tf.Tensor:
    """The straightforward generator in training mode, each bar generator called once on all
    bars stacked along the batch axis, so that it normalizes over all bars as ours does."""
    generator, n_bars = gan.generator, gan.spec.n_bars
    chords = generator.chords_net(noise["chords"], training=True)
    tracks = []
    for k, net in enumerate(generator.bar_generators):
        melody = generator.melody_nets[k](noise["melody"][:, k], training=True)
        latent = [
            ops.concatenate(
                [noise["style"], chords[:, bar], noise["groove"][:, k], melody[:, bar]], axis=-1
            )
            for bar in range(n_bars)
        ]
        out = net(ops.concatenate(latent, axis=0), training=True)  # (bars * batch, ...)
        tracks.append(ops.stack(ops.split(out, n_bars, axis=0), axis=1))
    return ops.concatenate(tracks, axis=-1)


def test_training_mode_differs_only_by_batch_statistics(setup, pairs):
    per_bar = setup.gan.generator(setup.noise, training=True)
    copy_weights(setup.model, setup.gan)  # undo the per-bar loop's moving-statistics updates
    ours = setup.model.generator(setup.noise, training=True)
    gap = relative_difference(ours, per_bar)
    print(f"generator output (training), per-bar statistics: {gap:.2e}")
    assert gap > 100 * VALUE_TOL  # the documented difference is real, not round-off
    all_bars = _all_bars_at_once(setup.gan, setup.noise)
    assert_agree("generator output (training), statistics over all bars", ours, all_bars, VALUE_TOL)
    moving = [p for p in pairs if p.ours.path.endswith(("moving_mean", "moving_variance"))]
    assert len(moving) == 2 * (5 * 2 + 4 * 5)  # 5 temporal networks' 2 norms, 4 bar generators' 5
    worst = max(relative_difference(p.to_theirs(p.ours), p.theirs) for p in moving)
    print(f"moving statistics after one training pass: {worst:.2e}")
    assert worst <= VALUE_TOL
