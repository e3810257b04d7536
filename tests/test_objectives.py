"""The hinge and classic objectives on a tiny linear critic with hand-computed scores and
gradients, and a two-step MuseGAN run with train=hinge on the smoke preset."""

from __future__ import annotations

import math
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import compose_smoke

from gan.builder import build_objective
from gan.freezing import Freeze, freeze_decision
from gan.loop import train
from gan.objectives import Classic, Hinge, NonSaturating, WassersteinGP
from gan.trainer import check_serves
from pianoroll.errors import UserError

# Phrases of 1 bar, 1 step, 3 pitches and 2 tracks; the critic D(x) = sum(W * x) + 0.25.
SHAPE = (1, 1, 3, 2)
# Per track (columns): track 0 has norm 3, track 1 norm 0.5; the whole W sqrt(9.25).
W = np.array([[1.0, 0.0], [2.0, 0.0], [2.0, 0.5]], np.float32)
BIAS = 0.25
REAL = np.zeros((2, *SHAPE), np.float32)
REAL[0, 0, 0, :, 0] = [1.0, 0.0, 0.0]  # score 1.25: past the margin
REAL[1, 0, 0, :, 1] = [0.0, 0.0, 1.0]  # score 0.75
FAKE = np.zeros((2, *SHAPE), np.float32)
FAKE[0, 0, 0, :, 0] = [-0.5, 0.0, -0.5]  # score -1.25: past the margin
FAKE[1, 0, 0, :, 0] = [0.0, 0.25, 0.0]  # score 0.75
EPSILON = tf.constant([0.3, 0.6])


def linear_model(penalty_group_axis: int | None = None) -> SimpleNamespace:
    """What the objectives read of a model: a Dense critic with known weights, and the axis
    of independent critics."""
    critic = keras.Sequential(
        [keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(1, name="score")]
    )
    critic.get_layer("score").set_weights([W.reshape(-1, 1), np.array([BIAS], np.float32)])
    return SimpleNamespace(
        critic=critic, penalty_group_axis=penalty_group_axis, supports_teacher_forcing=False
    )


def value(tensor) -> float:
    assert tensor.shape == () and tensor.dtype == tf.float32
    return float(tensor)


def test_the_linear_critic_scores_as_described():
    scores = linear_model().critic(np.concatenate([REAL, FAKE]))
    np.testing.assert_allclose(scores.numpy()[:, 0], [1.25, 0.75, -1.25, 0.75])


def test_hinge_objective_without_penalty():
    model = linear_model()
    loss, parts = Hinge().critic_loss(model, REAL, FAKE, EPSILON, 2)
    # relu(1 - real) = [0, 0.25], relu(1 + fake) = [0, 1.75].
    assert value(loss) == pytest.approx((0.25 + 1.75) / 2)
    assert parts == {"critic_loss": loss}
    # A replica holding 2 of a global batch of 4.
    assert value(Hinge().critic_loss(model, REAL, FAKE, EPSILON, 4)[0]) == pytest.approx(0.5)
    loss, parts = Hinge().generator_loss(model, REAL, FAKE, 2)
    assert value(loss) == pytest.approx(-(-1.25 + 0.75) / 2)
    assert parts == {"generator_loss": loss}


@pytest.mark.parametrize(
    ("group_axis", "penalty"),
    [(None, (math.sqrt(9.25) - 1) ** 2), (-1, (3 - 1) ** 2 + (0.5 - 1) ** 2)],
)
def test_hinge_objective_with_the_gradient_penalty_of_wgan_gp(group_axis, penalty):
    """A linear critic's gradient is W everywhere: (||W|| - 1)^2, or one term per track's
    critic with MuseGAN's jamming group axis (the tracks, last)."""
    model = linear_model(group_axis)
    loss, parts = Hinge(penalty_weight=10.0).critic_loss(model, REAL, FAKE, EPSILON, 2)
    assert set(parts) == {"critic_loss", "gradient_penalty"}
    assert value(parts["gradient_penalty"]) == pytest.approx(penalty, rel=1e-5)
    assert value(loss) == pytest.approx(1.0 + 10.0 * penalty, rel=1e-5)
    assert parts["critic_loss"] is loss
    # The same penalty as WGAN-GP's, from the same code.
    _, wgan = WassersteinGP(10.0).critic_loss(model, REAL, FAKE, EPSILON, 2)
    assert value(wgan["gradient_penalty"]) == value(parts["gradient_penalty"])


def test_hinge_critic_gradient_on_the_linear_critic():
    """Only the unclipped scores (real 0.75, fake 0.75) move the loss, each by 1/2: the kernel's
    gradient is (-x_real + x_fake) / 2 and the bias's (-1 + 1) / 2 = 0."""
    model = linear_model()
    with tf.GradientTape() as tape:
        loss, _ = Hinge().critic_loss(model, REAL, FAKE, EPSILON, 2)
    kernel, bias = tape.gradient(loss, model.critic.trainable_variables)
    expected = (FAKE[1] - REAL[1]).reshape(-1, 1) / 2
    np.testing.assert_allclose(kernel.numpy(), expected)
    np.testing.assert_allclose(bias.numpy(), [0.0])


def test_hinge_refuses_a_negative_penalty_weight():
    with pytest.raises(UserError, match=r"train\.objective\.penalty_weight: must be at least 0"):
        Hinge(penalty_weight=-1.0)


def test_classic_objective_signs_and_what_freezing_compares():
    model = linear_model()
    critic, critic_parts = Classic().critic_loss(model, REAL, FAKE, EPSILON, 2)
    standard, _ = NonSaturating().critic_loss(model, REAL, FAKE, EPSILON, 2)
    assert value(critic) == value(standard)
    assert critic_parts == {"critic_loss": critic}
    loss, parts = Classic().generator_loss(model, REAL, FAKE, 2)
    # log(1 - sigmoid(x)) = -log(1 + e^x) at the generated scores -1.25 and 0.75.
    expected = -(math.log1p(math.exp(-1.25)) + math.log1p(math.exp(0.75))) / 2
    assert value(loss) == pytest.approx(expected, rel=1e-6)
    assert value(loss) < 0
    # The cross-entropy with label 1: -log sigmoid(x) = log(1 + e^-x).
    cross_entropy = (math.log1p(math.exp(1.25)) + math.log1p(math.exp(-0.75))) / 2
    assert value(parts["generator_cross_entropy"]) == pytest.approx(cross_entropy, rel=1e-6)
    assert set(parts) == {"generator_loss", "generator_cross_entropy"}
    # Freezing compares the critic's loss per term with the generator's cross-entropy, never
    # with the negative minimax loss (which would always freeze the generator).
    values = {"critic_loss": 2.0, "generator_loss": -3.0, "generator_cross_entropy": 0.5}
    assert Classic().balance_losses(values) == (1.0, 0.5)
    at_chance = {"critic_loss": 2 * math.log(2), "generator_loss": -math.log(2)}
    at_chance["generator_cross_entropy"] = math.log(2)
    assert freeze_decision(*Classic().balance_losses(at_chance), 0.7) == Freeze()


def test_classic_may_freeze_and_hinge_may_not():
    options = SimpleNamespace(pretrain_steps=0, freeze_ratio=0.7)
    check_serves(linear_model(), Classic(), options)
    with pytest.raises(UserError, match=r"train.freeze_ratio: Hinge's losses are not"):
        check_serves(linear_model(), Hinge(), options)


def test_musegan_trains_two_steps_with_train_hinge(smoke_data_dir, tmp_path):
    cfg = compose_smoke(
        "musegan",
        smoke_data_dir,
        "train=hinge",
        "train.critic_steps=1",
        "train.sample_every=0",  # samples and a checkpoint at the end only
        "train.checkpoint_every=0",
        "train.n_samples=2",
    )
    assert isinstance(build_objective(cfg.train), Hinge)
    summary = train(cfg, tmp_path, progress=False)
    assert summary["step"] == 2
    assert set(summary["losses"]) == {"critic_loss", "generator_loss"}
    assert all(np.isfinite(v) for v in summary["losses"].values())
    assert summary["losses"]["critic_loss"] >= 0.0  # a hinge loss without penalty
