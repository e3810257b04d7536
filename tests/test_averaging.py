"""The generator's weight average against hand-computed values on a one-layer network."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan.averaging import WeightAverage, check_unaveraged
from pianoroll.errors import UserError


def network() -> keras.Model:
    """A dense layer of 2 x 3 weights plus 3 biases, and batch norm's 4 x 3 values (2 of them
    statistics that are not trained)."""
    inputs = keras.Input((2,))
    outputs = keras.layers.BatchNormalization()(keras.layers.Dense(3)(inputs))
    return keras.Model(inputs, outputs)


def fill(model: keras.Model, value: float) -> None:
    for weight in model.weights:
        weight.assign(np.full(weight.shape, value, np.float32))


def values(variables) -> list[np.ndarray]:
    return [np.asarray(tf.convert_to_tensor(v)) for v in variables]


def test_the_average_copies_the_weights_until_its_start_then_moves_a_quarter_of_the_way():
    model = network()
    average = WeightAverage(model, decay=0.75, start=1)
    assert len(average.averages) == len(model.weights) == 6
    expected = []
    for done, weights in ((1, 4.0), (2, 8.0), (3, 0.0)):
        fill(model, weights)
        average.update(tf.constant(done))
        expected.append([np.unique(v).tolist() for v in values(average.averages)])
    # Step 1: the start, a copy. Step 2: 0.75 * 4 + 0.25 * 8 = 5. Step 3: 0.75 * 5 + 0 = 3.75.
    assert expected == [[[4.0]] * 6, [[5.0]] * 6, [[3.75]] * 6]
    # The trained weights and the batch-norm statistics alike.
    assert {v.trainable for v in model.weights} == {True, False}


class Sloped(keras.layers.Layer):
    """Multiplies by a slope that a schedule sets (like binary neurons' annealed slope)."""

    def build(self, shape) -> None:
        self.slope = self.add_weight(shape=(), initializer="ones", trainable=False, name="slope")

    def call(self, x):
        return x * self.slope


def test_a_scheduled_slope_is_copied_not_averaged():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, Sloped()(keras.layers.Dense(3)(inputs)))
    average = WeightAverage(model, decay=0.5)  # averaging from the first step
    fill(model, 4.0)
    average.update(1)
    by_name = dict(zip([w.name for w in model.weights], values(average.averages), strict=True))
    assert by_name["slope"] == 4.0  # the step's slope
    assert np.all(by_name["bias"] == 2.0)  # half way from 0 to 4


def test_in_a_compiled_step_the_average_starts_at_step_0_from_the_initial_weights():
    model = network()
    fill(model, 2.0)
    average = WeightAverage(model, decay=0.5)  # start 0: the first step already averages
    fill(model, 6.0)
    tf.function(average.update)(tf.constant(1, tf.int64))
    assert all(np.all(v == 4.0) for v in values(average.averages))


def test_applied_lends_the_network_the_average_and_gives_its_own_weights_back_exactly():
    model = network()
    average = WeightAverage(model, decay=0.5)
    fill(model, 1.0)
    average.update(1)  # 0.5 * initial + 0.5 * 1
    own = values(model.weights)
    inputs = np.array([[0.3, -0.7]], np.float32)
    with average.applied():
        for weight, mean in zip(values(model.weights), values(average.averages), strict=True):
            np.testing.assert_array_equal(weight, mean)
        averaged_output = np.asarray(model(inputs, training=False))
    for weight, before in zip(values(model.weights), own, strict=True):
        np.testing.assert_array_equal(weight, before)
    assert not np.allclose(averaged_output, np.asarray(model(inputs, training=False)))


def test_the_average_is_saved_and_restored_with_a_checkpoint(tmp_path):
    model = network()
    average = WeightAverage(model, decay=0.5)
    fill(model, 3.0)
    average.update(1)
    path = tf.train.Checkpoint(average=average.trackable).save(str(tmp_path / "ckpt"))
    fresh = WeightAverage(network(), None)  # read only, as inference loads it
    tf.train.Checkpoint(average=fresh.trackable).restore(path).assert_consumed()
    for restored, saved in zip(values(fresh.averages), values(average.averages), strict=True):
        np.testing.assert_array_equal(restored, saved)
    fresh.copy_to_network()
    for weight, saved in zip(values(fresh.network.weights), values(average.averages), strict=True):
        np.testing.assert_array_equal(weight, saved)


def test_a_decay_outside_0_to_1_is_refused_and_a_read_only_average_is_never_updated():
    for decay in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="decay"):
            WeightAverage(network(), decay)
    with pytest.raises(RuntimeError, match="read, not updated"):
        WeightAverage(network(), None).update(1)


def test_a_checkpoint_without_an_average_is_accepted_only_until_the_average_starts():
    check_unaveraged("run/checkpoints/ckpt-200", 200, 200)  # still a copy of the weights
    with pytest.raises(UserError) as error:
        check_unaveraged("run/checkpoints/ckpt-200", 200, 100)
    assert str(error.value) == (
        "run/checkpoints/ckpt-200: saved without a weight average at step 200; averaging can"
        " start at that step or later (train.ema_start=200)"
    )
