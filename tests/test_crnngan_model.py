"""C-RNN-GAN's networks and the shared pieces it brought: shapes of both presets, generation at
other lengths, the time pooling, feature matching, teacher forcing and its pretraining,
freezing, and the XLA decision for recurrent models."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TWO_TRACK_SPEC
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import gan.config  # noqa: F401  (registers the config resolvers)
from crnngan.discriminator import TimePooling
from crnngan.generator import DenseGenerator, RecurrentGenerator
from crnngan.model import CRNNGAN
from gan.builder import build_model, build_objective
from gan.freezing import Freeze, freeze_decision
from gan.losses import feature_matching_loss, teacher_forcing_loss
from gan.objectives import NonSaturating, WassersteinGP
from gan.options import TrainOptions
from gan.strategy import check_jit
from gan.trainer import LinearDecay, Trainer
from musegan.model import MuseGAN
from pianoroll.errors import UserError
from pianoroll.pipeline import batch_stream
from pianoroll.prepare import make_spec
from pianoroll.spec import PhraseSpec

SEED = tf.constant([3, 4], tf.int64)


def compose_crnngan(*overrides: str):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose("crnngan", overrides=list(overrides))


def value(tensor) -> float:
    return float(np.asarray(tensor))


def tiny(generator, **discriminator) -> CRNNGAN:
    """A small model over the two-track spec: 32 steps of 48 features."""
    return CRNNGAN(TWO_TRACK_SPEC, generator, {"units": [8, 8], **discriminator})


# The presets at their full sizes ------------------------------------------------------------


@pytest.mark.parametrize("preset", ["dense", "recurrent"])
def test_each_preset_has_the_documented_shapes(preset):
    cfg = compose_crnngan(f"model={preset}")
    spec = make_spec(cfg.data)
    # The four chorale voices: their rolls, then their onset rolls.
    assert spec.channel_shape == (4, 16, 84, 8) and cfg.model.seq_len == 64
    model = build_model(cfg, spec)
    noise = model.sample_noise(2, SEED)
    phrases = model.generate(noise, None, training=False)
    assert tuple(phrases.shape) == (2, *spec.channel_shape)
    assert np.all(np.abs(phrases.numpy()) <= 1)
    output, features = model.critic_features(phrases, training=False)
    assert tuple(model.critic(phrases).shape) == (2, 1)
    np.testing.assert_allclose(output.numpy(), model.critic(phrases).numpy(), rtol=1e-6)
    layers = {layer.name: layer for layer in model.critic.layers}
    if preset == "dense":
        assert tuple(noise["noise"].shape) == (2, 1000)
        dense = [
            layer.units for layer in model.generator.layers if isinstance(layer, keras.layers.Dense)
        ]
        assert dense == [256, 512, 1024, 64 * 84 * 8]
        norms = [
            layer.momentum
            for layer in model.generator.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        assert norms == [0.8, 0.8, 0.8]
        assert layers["lstm0"].units == 512 and layers["lstm0"].return_sequences
        assert layers["bilstm1"].forward_layer.units == 512
        assert not layers["bilstm1"].forward_layer.return_sequences
        assert [layers["dense0"].units, layers["dense1"].units] == [512, 256]
        assert tuple(features.shape) == (2, 256)  # the last hidden layer
    else:
        # 100 noise features per step, then two uniform numbers per voice for its draw.
        assert tuple(noise["noise"].shape) == (2, 64, 100 + 2 * 4)
        assert set(np.unique(phrases.numpy())) <= {-1.0, 1.0}
        assert isinstance(layers["probability"], keras.layers.Rescaling)
        assert [lstm.units for lstm in model.generator.lstms] == [350, 350]
        assert layers["bilstm0"].forward_layer.units == 350
        assert layers["bilstm1"].forward_layer.return_sequences
        assert tuple(features.shape) == (2, 64, 700)  # per step, both directions
        assert isinstance(layers["pool"], TimePooling)


def all_lstms(model: CRNNGAN) -> list[keras.layers.LSTM]:
    found = []
    for network in (model.generator, model.critic):
        for layer in network._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.LSTM):
                found.append(layer)
    return found


@pytest.mark.parametrize("generator", [DenseGenerator(8, (8,)), RecurrentGenerator(4, (8, 8))])
def test_every_lstm_keeps_the_cudnn_settings(generator):
    model = tiny(generator, bidirectional=[True, False])
    lstms = all_lstms(model)
    # Generator LSTMs (recurrent) + critic: a bidirectional layer holds two.
    assert len(lstms) == (2 if isinstance(generator, RecurrentGenerator) else 0) + 3
    for lstm in lstms:
        assert lstm.activation is keras.activations.tanh, lstm.name
        assert lstm.recurrent_activation is keras.activations.sigmoid, lstm.name
        assert lstm.cell.recurrent_dropout == 0 and lstm.cell.dropout == 0
        assert lstm.unroll is False and lstm.cell.use_bias is True
        assert lstm.use_cudnn == "auto"


# Generation at other lengths ---------------------------------------------------------------


def test_the_recurrent_generator_runs_for_any_length():
    model = tiny(RecurrentGenerator(4, (8, 8)), per_step=True, dense_units=[])
    trained = model.generate_sequence(model.sample_noise(3, SEED))
    assert tuple(trained.shape) == (3, 32, 48)
    for length in (5, 96):
        noise = model.sample_noise(3, SEED, length)
        assert tuple(noise["noise"].shape) == (3, length, 4)
        sequence = model.generate_sequence(noise)
        assert tuple(sequence.shape) == (3, length, 48)
        assert np.all(np.abs(sequence.numpy()) < 1)
    # The same noise gives the same first steps whatever comes after: the generator is causal.
    long = model.generate_sequence(model.sample_noise(3, SEED, 96))
    noise = model.sample_noise(3, SEED, 96)
    short = model.generate_sequence({"noise": noise["noise"][:, :40]})
    np.testing.assert_allclose(short.numpy(), long.numpy()[:, :40], atol=1e-6)
    # Three bars of 16 steps as phrases; 5 steps are no whole bar.
    phrases = model.to_phrases(model.generate_sequence(model.sample_noise(2, SEED, 48)))
    assert tuple(phrases.shape) == (2, 3, 16, 24, 2)
    with pytest.raises(UserError, match="length 5: not a whole number of 16-step bars"):
        model.to_phrases(model.generate_sequence(model.sample_noise(2, SEED, 5)))


def test_the_dense_generator_refuses_another_length():
    model = tiny(DenseGenerator(8, (8,)))
    assert tuple(model.generate_sequence(model.sample_noise(2, SEED)).shape) == (2, 32, 48)
    with pytest.raises(UserError, match="DenseGenerator generates exactly 32 steps"):
        model.sample_noise(2, SEED, 48)


@pytest.mark.parametrize("kind", [DenseGenerator, RecurrentGenerator])
def test_initial_density_starts_the_output_at_that_share_of_sounding_cells(kind):
    model = tiny(kind(8, (8,), initial_density=0.02))
    output = model.generator.get_layer("output")
    # 2 * 0.02 - 1 = -0.96, and atanh(-0.96) = -ln(49) / 2.
    np.testing.assert_allclose(output.bias.numpy(), -math.log(49) / 2, rtol=1e-6)
    # Zeroing the kernel leaves the bias alone: every cell at probability 0.02 exactly.
    output.kernel.assign(tf.zeros_like(output.kernel))
    phrases = model.generate(model.sample_noise(2, SEED), None, training=False).numpy()
    np.testing.assert_allclose((phrases + 1) / 2, 0.02, rtol=1e-5)
    # Without it the bias is zero (half the cells), and only the initialization differs: a
    # checkpoint of one restores into the other.
    plain = tiny(kind(8, (8,)))
    np.testing.assert_array_equal(plain.generator.get_layer("output").bias.numpy(), 0.0)
    assert plain.config() == model.config()
    if kind is RecurrentGenerator:  # a subclassed network: its config must carry the bias
        network = model.generator
        rebuilt = type(network).from_config(network.get_config())
        rebuilt.build((None, None, network.noise_dim))
        np.testing.assert_allclose(
            rebuilt.get_layer("output").bias.numpy(), -math.log(49) / 2, rtol=1e-6
        )


@pytest.mark.parametrize("density", [0.0, 1.0, -0.5])
def test_an_initial_density_outside_zero_one_is_refused(density):
    cfg = compose_crnngan(f"model.generator.initial_density={density}")
    with pytest.raises(UserError, match=r"initial_density must be in \(0, 1\) or null"):
        build_model(cfg, make_spec(cfg.data))


def test_teacher_forced_outputs_equal_free_running_ones_fed_the_same_previous_steps():
    model = tiny(RecurrentGenerator(4, (8, 8)))
    noise = model.sample_noise(2, SEED)
    phrases = model.generate(noise, None, training=False)
    # Fed its own outputs as the "real" previous steps, the teacher-forced network (LSTM
    # layers over the whole sequence) computes what the free-running loop (the cells) did.
    predicted = model.teacher_forced(noise, phrases, training=False)
    assert predicted.shape == phrases.shape
    np.testing.assert_allclose(np.tanh(predicted.numpy()), phrases.numpy(), atol=1e-5)


def test_the_previous_step_is_fed_back_as_probabilities_and_starts_silent():
    model = tiny(RecurrentGenerator(4, (8, 8)))
    network = model.generator
    noise = tf.fill([2, 4], 0.25)
    previous = tf.constant([[-1.0] * network.n_features, [1.0] * network.n_features])
    fed = network._step_input(noise, previous).numpy()
    np.testing.assert_array_equal(fed[:, :4], 0.25)
    # -1 (off) enters as 0 and +1 (on) as 1, so a silent step adds nothing to the input units.
    np.testing.assert_array_equal(fed[0, 4:], 0.0)
    np.testing.assert_array_equal(fed[1, 4:], 1.0)
    # The free-running loop starts from a silent step, as teacher forcing pads the data.
    first = model.generate(model.sample_noise(2, SEED), None, training=False)
    silent = model.teacher_forced(model.sample_noise(2, SEED), -tf.ones_like(first), training=False)
    steps = model.to_sequence(first)
    np.testing.assert_allclose(
        np.tanh(model.to_sequence(silent).numpy()[:, 0]), steps.numpy()[:, 0], atol=1e-5
    )


def test_sequences_and_phrases_map_pitch_major():
    model = tiny(DenseGenerator(8, (8,)))
    phrases = np.zeros((1, *TWO_TRACK_SPEC.shape), np.float32)
    phrases[0, 1, 2, 5, 1] = 1  # bar 1, step 2, pitch 5, track 1
    sequence = model.to_sequence(tf.constant(phrases)).numpy()
    assert np.argwhere(sequence).tolist() == [[0, 16 + 2, 5 * 2 + 1]]
    np.testing.assert_array_equal(model.to_phrases(tf.constant(sequence)).numpy(), phrases)


# Config errors ------------------------------------------------------------------------------


def test_seq_len_sets_the_bars_of_the_data():
    cfg = compose_crnngan("model=recurrent", "model.seq_len=128")
    assert make_spec(cfg.data).n_bars == 8
    with pytest.raises(Exception, match="100 steps is not a positive whole number of 16-step bars"):
        make_spec(compose_crnngan("model.seq_len=100").data)


def test_a_seq_len_that_is_not_the_phrase_length_is_one_line():
    cfg = compose_crnngan("data.spec.n_bars=2")
    with pytest.raises(UserError) as info:
        build_model(cfg, make_spec(cfg.data))
    assert str(info.value) == (
        "model.seq_len: 64 steps, but the data's phrases have 32 (2 bars of 16);"
        " leave data.spec.n_bars to follow model.seq_len"
    )


def test_a_bad_discriminator_config_is_one_line():
    with pytest.raises(UserError, match=r"model.discriminator: discriminator: bidirectional needs"):
        tiny(DenseGenerator(8, (8,)), bidirectional=[True])
    with pytest.raises(UserError, match="unknown time_pooling 'max'"):
        tiny(DenseGenerator(8, (8,)), time_pooling="max")
    with pytest.raises(UserError, match="unknown input_scale 'unit'"):
        tiny(DenseGenerator(8, (8,)), input_scale="unit")


@pytest.mark.parametrize("per_step", [False, True])
def test_a_probability_input_scale_feeds_the_lstms_x_plus_one_over_two(per_step):
    head = {"per_step": per_step, "dense_units": [4], "bidirectional": [False, True]}
    scaled = tiny(DenseGenerator(8, (8,)), input_scale="probability", **head)
    signed = tiny(DenseGenerator(8, (8,)), **head)
    signed.critic_with_features.set_weights(scaled.critic_with_features.get_weights())
    phrases = tf.sign(tf.random.stateless_normal([3, *TWO_TRACK_SPEC.shape], [5, 6]))
    output, features = scaled.critic_features(phrases, training=False)
    expected, expected_features = signed.critic_features((phrases + 1) / 2, training=False)
    np.testing.assert_allclose(output.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features.numpy(), expected_features.numpy(), rtol=1e-5, atol=1e-6)
    # A silent phrase enters as zeros: the first LSTM sees only its biases.
    silent = -tf.ones([1, *TWO_TRACK_SPEC.shape])
    zeros = tf.zeros([1, *TWO_TRACK_SPEC.shape])
    np.testing.assert_allclose(
        scaled.critic(silent).numpy(), signed.critic(zeros).numpy(), rtol=1e-5, atol=1e-6
    )


# Time pooling -------------------------------------------------------------------------------


def test_probability_pooling_is_the_log_odds_of_the_mean_step_probability():
    # Steps with probabilities 1/2 and 3/4: the mean 5/8 has log-odds log(5/3).
    logits = tf.constant([[[0.0], [math.log(3.0)]]])
    pooled = TimePooling("probability")(logits)
    assert tuple(pooled.shape) == (1, 1)
    assert value(pooled[0, 0]) == pytest.approx(math.log(5 / 3), rel=1e-6)
    assert value(tf.sigmoid(pooled)[0, 0]) == pytest.approx(5 / 8, rel=1e-6)
    # Finite where the sigmoids saturate: probabilities ~1 and ~0 average to 1/2.
    assert value(TimePooling("probability")(tf.constant([[[200.0], [-200.0]]]))[0, 0]) == (
        pytest.approx(0.0, abs=1e-6)
    )
    assert value(TimePooling("mean")(logits)[0, 0]) == pytest.approx(math.log(3.0) / 2)


# Losses and objectives ----------------------------------------------------------------------


def test_feature_matching_on_known_per_step_features():
    # (batch 2, time 2, features 1): batch means (2, 3) and (1, 1).
    real = tf.constant([[[1.0], [2.0]], [[3.0], [4.0]]])
    fake = tf.constant([[[0.0], [0.0]], [[2.0], [2.0]]])
    assert value(feature_matching_loss(real, fake)) == pytest.approx(1.0 + 4.0)
    # On one replica of a global batch of 8 (this replica holds 2), its share: 2/8.
    assert value(feature_matching_loss(real, fake, global_batch_size=8)) == pytest.approx(1.25)
    assert value(feature_matching_loss(real, fake, global_batch_size=2)) == pytest.approx(5.0)


def test_teacher_forcing_loss_is_the_bernoulli_likelihood_of_tanh_outputs():
    # tanh(a) read as probability sigmoid(2a): a = log(3)/2 gives 3/4.
    a = math.log(3.0) / 2
    real = tf.constant([[1.0, -1.0, 1.0, -1.0]])
    pre = tf.constant([[a, a, 0.0, -a]])
    expected = (-math.log(0.75) - math.log(0.25) + math.log(2) - math.log(0.75)) / 4
    assert value(teacher_forcing_loss(real, pre)) == pytest.approx(expected, rel=1e-6)
    # Saturated outputs stay finite: -log sigmoid(-200) = 200.
    assert value(teacher_forcing_loss(tf.constant([[1.0]]), tf.constant([[-100.0]]))) == (
        pytest.approx(200.0)
    )
    assert value(teacher_forcing_loss(real, pre, global_batch_size=4)) == pytest.approx(
        expected / 4, rel=1e-6
    )


def test_nonsaturating_objective_with_feature_matching_uses_the_critic_features():
    model = tiny(RecurrentGenerator(4, (8, 8)), per_step=True, dense_units=[])
    real = tf.sign(tf.random.stateless_uniform((3, *TWO_TRACK_SPEC.shape), SEED) - 0.9)
    fake = model.generate(model.sample_noise(3, SEED), None, training=False)
    matching = NonSaturating(feature_matching=True)
    loss, parts = matching.generator_loss(model, real, fake, 3)
    _, real_features = model.critic_features(real, training=True)
    _, fake_features = model.critic_features(fake, training=True)
    means = real_features.numpy().mean(0) - fake_features.numpy().mean(0)
    assert value(loss) == pytest.approx(float(np.sum(means**2)), rel=1e-5)
    plain_loss, plain = NonSaturating().generator_loss(model, real, fake, 3)
    assert value(parts["generator_adversarial"]) == pytest.approx(value(plain_loss), rel=1e-6)
    assert set(plain) == {"generator_loss"}
    # Freezing compares the generator's adversarial loss with the critic's loss per term
    # (real, generated): both log 2 at the equilibrium.
    assert matching.balance_losses(
        {"critic_loss": 1.0, "generator_loss": 9.0, "generator_adversarial": 2.0}
    ) == (0.5, 2.0)
    assert NonSaturating().balance_losses({"critic_loss": 1.0, "generator_loss": 9.0}) == (0.5, 9.0)
    at_chance = NonSaturating().balance_losses(
        {"critic_loss": 2 * math.log(2), "generator_loss": math.log(2)}
    )
    assert freeze_decision(*at_chance, 0.7) == Freeze()


def test_feature_matching_needs_a_model_with_critic_features():
    muse = MuseGAN.__new__(MuseGAN)  # the attribute is all validate() reads
    with pytest.raises(UserError, match="MuseGAN does not expose its critic's features"):
        NonSaturating(feature_matching=True).validate(muse)
    NonSaturating().validate(muse)


# Freezing -----------------------------------------------------------------------------------


def test_freezing_decisions_on_scripted_losses():
    script = [
        # (critic loss, generator loss) -> (critic frozen, generator frozen); chance is log 2
        ((math.nan, math.nan), (False, False)),  # no step yet
        ((1.2, 0.5), (False, True)),  # 0.5 < 0.7 * 1.2 = 0.84, and 0.5 < log 2
        ((0.6, 0.5), (False, False)),  # 0.5 >= 0.42 and 0.6 >= 0.35
        ((0.3, 0.5), (True, False)),  # 0.3 < 0.35
        ((0.35, 0.5), (False, False)),  # 0.35 is not below 0.35
        ((0.6, 1.0), (True, False)),  # 0.6 < 0.7 and 0.6 < log 2
        ((1.32, 2.58), (False, False)),  # 1.32 < 1.81, but a discriminator worse than chance
        ((2.0, 0.9), (False, False)),  # 0.9 < 1.4, but a generator that fools less than half
        ((0.0, 0.0), (False, False)),
        ((2.0, math.inf), (False, False)),
    ]
    for (critic, generator), expected in script:
        freeze = freeze_decision(critic, generator, 0.7)
        assert (freeze.critic, freeze.generator) == expected, (critic, generator)
    frozen = freeze_decision(0.3, 0.5, 0.7)
    assert frozen.reason == (
        "discriminator frozen (discriminator loss 0.3, generator loss 0.5; ratio 0.7)"
    )
    assert freeze_decision(1.2, 0.5, 0.7).reason.startswith("generator frozen")
    assert freeze_decision(2.0, 0.9, 0.7, chance=1.0).generator  # another chance level
    # Equal decisions compare equal whatever their reasons.
    assert freeze_decision(0.3, 0.5, 0.7) == freeze_decision(0.1, 0.9, 0.7) == Freeze(critic=True)
    for ratio in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="freeze ratio must be in"):
            freeze_decision(1.0, 1.0, ratio)


# XLA and recurrent layers -------------------------------------------------------------------


def test_xla_is_refused_for_recurrent_models_on_a_gpu_only():
    assert check_jit(True, recurrent=False, n_gpus=1) is True
    assert check_jit(True, recurrent=True, n_gpus=0) is True
    assert check_jit(False, recurrent=True, n_gpus=2) is False
    with pytest.raises(UserError, match=r"train.jit_compile: XLA would replace the cuDNN LSTM"):
        check_jit(True, recurrent=True, n_gpus=1)
    assert CRNNGAN.recurrent and not MuseGAN.recurrent


# Trainer options ----------------------------------------------------------------------------


def options(**changes) -> TrainOptions:
    """The checked training options of the C-RNN-GAN preset at batch 4, with changes."""
    cfg = compose_crnngan().train
    OmegaConf.update(cfg, "batch_size", 4)
    for key, val in changes.items():
        OmegaConf.update(cfg, key, val, force_add=True)
    return TrainOptions.from_config(cfg, 0)


def test_options_a_model_or_objective_cannot_serve_are_refused():
    strategy = tf.distribute.get_strategy()
    dense = tiny(DenseGenerator(8, (8,)))
    with pytest.raises(UserError, match=r"train.pretrain_steps: CRNNGAN has no teacher-forced"):
        Trainer(dense, NonSaturating(), strategy, options(pretrain_steps=3))
    with pytest.raises(UserError, match=r"train.freeze_ratio: WassersteinGP's losses are not"):
        Trainer(dense, WassersteinGP(), strategy, options(freeze_ratio=0.7))
    with pytest.raises(UserError, match=r"train.freeze_ratio: 1.5 is not in \(0, 1\)"):
        Trainer(dense, NonSaturating(), strategy, options(freeze_ratio=1.5))
    cfg = compose_crnngan("train=wgan_gp")
    assert isinstance(build_objective(cfg.train), WassersteinGP)


def test_linear_decay_holds_then_falls_to_zero_at_the_last_update():
    # rate * clip((total - step) / (total - hold), 0, 1), by hand for total 10.
    hold = LinearDecay(2.0, 10, 6)
    assert [float(hold(step)) for step in (0, 6, 7, 8, 9, 10, 12)] == pytest.approx(
        [2.0, 2.0, 1.5, 1.0, 0.5, 0.0, 0.0]
    )
    whole = LinearDecay(1.0, 10)
    assert [float(whole(step)) for step in (0, 1, 5, 10)] == pytest.approx([1.0, 0.9, 0.5, 0.0])
    with pytest.raises(ValueError, match=r"hold 10 is not in \[0, 10\)"):
        LinearDecay(1.0, 10, 10)


def test_each_optimizer_decays_over_its_own_updates_from_the_same_share():
    keras.utils.set_random_seed(0)
    model = CRNNGAN(TWO_TRACK_SPEC, RecurrentGenerator(4, (8, 8)), {"units": [4, 4]})
    changes = {"steps": 14, "pretrain_steps": 4, "critic_steps": 3, "lr_decay": True}
    trainer = Trainer(
        model,
        NonSaturating(),
        tf.distribute.get_strategy(),
        options(**changes, lr_decay_start=0.75, generator_lr=1e-3, critic_lr=2e-3),
    )
    # 10 adversarial steps: the generator's decay starts after update 7 of 10, the critic's
    # after 22 = floor(3 * 10 * 0.75) of 30, pretraining's after 3 of 4 (counted from 0).
    schedules = {
        "generator": trainer.generator_optimizer,
        "critic": trainer.critic_optimizer,
        "pretrain": trainer.pretrain_optimizer,
    }
    shapes = {
        name: (o._learning_rate.total, o._learning_rate.hold) for name, o in schedules.items()
    }
    assert shapes == {"generator": (10, 7), "critic": (30, 22), "pretrain": (4, 3)}
    trainer.critic_optimizer.iterations.assign(26)
    assert float(trainer.critic_optimizer.learning_rate) == pytest.approx(2e-3 * 4 / 8)
    whole = Trainer(model, NonSaturating(), tf.distribute.get_strategy(), options(**changes))
    decay = whole.generator_optimizer._learning_rate
    assert (decay.total, decay.hold) == (10, 0)  # by default, over the whole run
    with pytest.raises(UserError, match=r"train.lr_decay_start: 1.0 is not in \[0, 1\)"):
        options(lr_decay_start=1.0)
    with pytest.raises(
        UserError, match=r"train.lr_decay_start=-0.5: must be a number at least 0.0"
    ):
        options(lr_decay_start=-0.5)
    with pytest.raises(UserError, match=r"train.lr_decay_start: 0.5 does nothing without train"):
        options(lr_decay_start=0.5)


def test_teacher_forced_pretraining_reduces_its_loss_on_a_tiny_set():
    spec = PhraseSpec(
        n_bars=1, steps_per_beat=2, n_pitches=12, lowest_pitch=60, tracks=TWO_TRACK_SPEC.tracks
    )
    # Eight phrases: a rising line in one track, a held note in the other.
    phrases = np.zeros((8, *spec.shape), bool)
    for i in range(8):
        for step in range(spec.steps_per_bar):
            phrases[i, 0, step, (i + step) % 12, 0] = True
            phrases[i, 0, step, i % 12, 1] = True
    keras.utils.set_random_seed(0)
    model = CRNNGAN(spec, RecurrentGenerator(4, (16, 16)), {"units": [4, 4]})
    trainer = Trainer(
        model,
        NonSaturating(),
        tf.distribute.get_strategy(),
        options(pretrain_steps=60, pretrain_lr=0.01, generator_lr=1e-4, critic_steps=2),
    )
    # Pretraining has its own learning rate; the adversarial phase keeps generator_lr.
    assert float(trainer.pretrain_optimizer.learning_rate.numpy()) == pytest.approx(0.01)
    assert float(trainer.generator_optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    iterator = iter(batch_stream(phrases, 4, seed=0))
    losses = []
    for step in range(60):
        result = trainer.train_step(iterator, step)
        assert result.step == step + 1 and result.freeze is None
        assert set(result.values) == {"pretrain_loss"}
        losses.append(result.values["pretrain_loss"])
    # Untrained outputs are near 0: probability about 1/2 for every cell, about log 2 nats.
    assert losses[0] == pytest.approx(math.log(2), abs=0.05)
    assert np.mean(losses[-5:]) < 0.5 * losses[0]
    # Only the generator and its own optimizer moved; the adversarial optimizers did not.
    assert int(trainer.pretrain_optimizer.iterations.numpy()) == 60
    assert int(trainer.generator_optimizer.iterations.numpy()) == 0
    assert int(trainer.critic_optimizer.iterations.numpy()) == 0
    assert trainer.batches_before(60) == 60 and trainer.batches_before(62) == 64
