"""Binary neurons (musegan.binary): values, straight-through gradients, slope annealing, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from musegan.binary import (
    BinaryNeuron,
    Output,
    SlopeSchedule,
    parse_output,
    probability,
    set_slopes,
)

#: Pre-activations, and by hand: sigmoid(a) = [0.11920292, 0.47502081, 0.57444252, 0.95257413],
#: sigmoid(3a) = [0.00247262, 0.42555748, 0.71094950, 0.99987661].
A = np.array([[-2.0, -0.1, 0.3, 3.0]], np.float32)
#: Noise per row and its uniform Phi(noise): Phi(0) = 0.5, Phi(±1.2816) = 0.9 / 0.1 (to 1e-5),
#: Phi(2) = 0.97725.
NOISE = np.array([[-1.2816, 0.0, 0.0, 1.2816], [1.2816, -1.2816, 1.2816, 2.0]], np.float32)
A2 = np.repeat(A, 2, axis=0)
#: 2 * slope * p * (1 - p) for A at slope 1 and slope 3. In float32, 1 - p keeps few digits
#: near p = 1 (the last value is 1e-4 off, relatively), hence an absolute tolerance too.
GRADIENT = {
    1.0: [0.20998717, 0.49875208, 0.48891662, 0.09035332],
    3.0: [0.01479906, 1.46674987, 1.23300184, 0.00074028],
}


@pytest.fixture
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_output_parses_config_strings_and_prints_its_value():
    assert parse_output("stochastic") is Output.STOCHASTIC
    assert parse_output(Output.DETERMINISTIC) is Output.DETERMINISTIC
    assert str(Output.TANH) == "tanh" and f"{Output.STOCHASTIC}" == "stochastic"
    with pytest.raises(ValueError) as err:
        parse_output("binary")
    assert str(err.value) == (
        "model.output: unknown output 'binary'; choose one of tanh, deterministic, stochastic"
    )


def test_binary_neuron_refuses_tanh_and_unknown_kinds():
    with pytest.raises(ValueError, match="kind must be deterministic or stochastic, got tanh"):
        BinaryNeuron(Output.TANH)
    with pytest.raises(ValueError, match=r"model\.output: unknown output .sign."):
        BinaryNeuron("sign")


def test_probability_is_the_sloped_sigmoid_in_float32():
    p = probability(tf.constant(A, tf.bfloat16), 3.0)
    assert p.dtype == tf.float32
    np.testing.assert_allclose(p, [[0.00247262, 0.42555748, 0.7109495, 0.99987661]], atol=2e-3)
    np.testing.assert_allclose(
        probability(A), [[0.11920292, 0.47502081, 0.57444252, 0.95257413]], rtol=1e-6
    )


def test_deterministic_neurons_fire_where_the_pre_activation_is_positive():
    layer = BinaryNeuron(Output.DETERMINISTIC)
    for slope in (1.0, 3.0):
        layer.set_slope(slope)
        y = layer(A)
        assert y.dtype == tf.float32 and y.shape == A.shape
        np.testing.assert_array_equal(y, [[-1.0, -1.0, 1.0, 1.0]])
    # Tiny pre-activations whose float32 sigmoid rounds to 1/2 still follow their sign.
    np.testing.assert_array_equal(layer(np.array([-1e-9, 0.0, 1e-9], np.float32)), [-1, -1, 1])


def test_stochastic_neurons_fire_where_phi_of_the_noise_is_below_p():
    layer = BinaryNeuron("stochastic")
    # Slope 1, p = [0.119, 0.475, 0.574, 0.953]; row 1 u = [0.1, 0.5, 0.5, 0.9],
    # row 2 u = [0.9, 0.1, 0.9, 0.977].
    np.testing.assert_array_equal(layer([A2, NOISE]), [[1, -1, 1, 1], [-1, 1, -1, -1]])
    # Slope 3, p = [0.0025, 0.426, 0.711, 0.9999].
    layer.set_slope(3.0)
    y = layer([A2, NOISE])
    assert y.dtype == tf.float32 and y.shape == A2.shape
    np.testing.assert_array_equal(y, [[-1, -1, 1, 1], [-1, 1, -1, 1]])


def test_stochastic_neurons_fire_with_probability_p_under_standard_normal_noise():
    a = np.repeat(A, 20_000, axis=0)
    noise = tf.random.stateless_normal(a.shape, seed=[3, 7])
    y = BinaryNeuron(Output.STOCHASTIC)([a, noise]).numpy()
    assert set(np.unique(y)) == {-1.0, 1.0}
    np.testing.assert_allclose(
        (y > 0).mean(axis=0), [0.11920292, 0.47502081, 0.57444252, 0.95257413], atol=0.01
    )


def test_the_neurons_check_their_inputs():
    with pytest.raises(ValueError, match="deterministic neurons take one tensor"):
        BinaryNeuron(Output.DETERMINISTIC)([A, A])
    with pytest.raises(ValueError, match=r"stochastic neurons take \[pre_activation, noise\]"):
        BinaryNeuron(Output.STOCHASTIC)(A)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="the slope must be finite and > 0"):
            BinaryNeuron(Output.DETERMINISTIC).set_slope(bad)


@pytest.mark.parametrize("kind", [Output.DETERMINISTIC, Output.STOCHASTIC])
@pytest.mark.parametrize("slope", [1.0, 3.0])
def test_straight_through_gradient_is_2_slope_p_1_minus_p_times_upstream(kind, slope):
    layer = BinaryNeuron(kind)
    layer.set_slope(slope)
    a = tf.constant(A2)
    noise = tf.constant(NOISE)
    upstream = tf.constant([[1.0, 2.0, -1.0, 0.5], [0.0, 1.0, 1.0, -2.0]])
    with tf.GradientTape() as tape:
        tape.watch([a, noise])
        y = layer([a, noise] if kind is Output.STOCHASTIC else a)
        loss = tf.reduce_sum(y * upstream)
    grad_a, grad_noise = tape.gradient(
        loss, [a, noise], unconnected_gradients=tf.UnconnectedGradients.ZERO
    )
    np.testing.assert_allclose(grad_a, upstream * np.array(GRADIENT[slope]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(grad_noise, np.zeros_like(NOISE))


def test_a_new_slope_takes_effect_in_a_traced_function_without_retracing():
    layer = BinaryNeuron(Output.DETERMINISTIC)

    @tf.function
    def gradient(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = layer(a)
        return tape.gradient(y, a)

    a = tf.constant(A)
    np.testing.assert_allclose(gradient(a), [GRADIENT[1.0]], rtol=1e-5)
    layer.set_slope(3.0)
    np.testing.assert_allclose(gradient(a), [GRADIENT[3.0]], rtol=1e-5, atol=1e-6)
    assert gradient.experimental_get_tracing_count() == 1


def test_slope_schedule_ramps_linearly_from_start_to_end():
    schedule = SlopeSchedule(start=100, end=300, end_value=5.0)
    schedule.check()
    steps = [0, 99, 100, 150, 200, 299, 300, 10_000]
    assert [schedule.slope_at(s) for s in steps] == [1.0, 1.0, 1.0, 2.0, 3.0, 4.98, 5.0, 5.0]
    # start == end: a jump at that step.
    jump = SlopeSchedule(start=50, end=50, end_value=3.0)
    assert [jump.slope_at(s) for s in (0, 49, 50, 51)] == [1.0, 1.0, 3.0, 3.0]
    # The default anneals nothing.
    SlopeSchedule().check()
    assert {SlopeSchedule().slope_at(s) for s in (0, 1, 1000)} == {1.0}


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(start=-1, end=10, end_value=5.0), "start: must be at least 0, got -1"),
        (dict(start=20, end=10, end_value=5.0), r"end: must be at least start \(20\), got 10"),
        (dict(start=0, end=10, end_value=0.5), "end_value: must be at least 1.0, got 0.5"),
        (dict(start=0, end=10, end_value=float("nan")), "end_value: must be at least 1.0"),
    ],
)
def test_slope_schedule_check_names_the_bad_field(fields, message):
    with pytest.raises(ValueError, match=message):
        SlopeSchedule(**fields).check()


def _binary_model() -> keras.Model:
    """A model with a deterministic neuron inside a nested model and a stochastic one."""
    x = keras.Input((4,))
    inner = keras.Model(x, BinaryNeuron(Output.DETERMINISTIC, name="dbn")(x), name="inner")
    a = keras.Input((4,), name="a")
    noise = keras.Input((4,), name="noise")
    sbn = BinaryNeuron(Output.STOCHASTIC, name="sbn")([keras.layers.Dense(4)(a), noise])
    return keras.Model([a, noise], [inner(a), sbn], name="outer")


def test_set_slopes_reaches_neurons_in_nested_models():
    model = _binary_model()
    assert set_slopes(model, 2.5) == 2
    assert float(model.get_layer("sbn").slope.numpy()) == 2.5
    assert float(model.get_layer("inner").get_layer("dbn").slope.numpy()) == 2.5
    assert set_slopes(model.get_layer("inner"), 4.0) == 1
    assert float(model.get_layer("sbn").slope.numpy()) == 2.5
    assert set_slopes(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), 3.0) == 0
    with pytest.raises(ValueError, match="the slope must be finite and > 0"):
        set_slopes(model, 0.0)


def test_the_slope_is_a_saved_non_trainable_weight_and_the_config_round_trips(tmp_path):
    model = _binary_model()
    slopes = [w for w in model.weights if w.name == "slope"]
    assert len(slopes) == 2 and all(w.dtype == "float32" for w in slopes)
    assert {id(w) for w in slopes} <= {id(w) for w in model.non_trainable_weights}
    assert not {id(w) for w in slopes} & {id(w) for w in model.trainable_weights}
    assert all(float(w.numpy()) == 1.0 for w in slopes)

    set_slopes(model, 3.0)
    clone = keras.Model.from_config(model.get_config())
    sbn = clone.get_layer("sbn")
    assert isinstance(sbn, BinaryNeuron) and sbn.kind is Output.STOCHASTIC
    assert clone.get_layer("inner").get_layer("dbn").kind is Output.DETERMINISTIC
    assert sbn.get_config()["kind"] == "stochastic" and sbn.dtype_policy.name == "float32"
    assert float(sbn.slope.numpy()) == 1.0  # a new model starts at slope 1
    clone.set_weights(model.get_weights())
    assert float(sbn.slope.numpy()) == 3.0
    assert float(clone.get_layer("inner").get_layer("dbn").slope.numpy()) == 3.0

    # And through a .keras file.
    model.save(tmp_path / "binary.keras")
    loaded = keras.saving.load_model(tmp_path / "binary.keras")
    assert float(loaded.get_layer("sbn").slope.numpy()) == 3.0
    inputs = [A, NOISE[:1]]
    for got, want in zip(loaded(inputs), model(inputs), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.usefixtures("restore_policy")
def test_under_mixed_bfloat16_the_output_is_float32_and_exact():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x = keras.Input((4,))
    noise = keras.Input((4,))
    h = keras.layers.Identity()(x)
    assert h.dtype == "bfloat16"
    dbn = BinaryNeuron(Output.DETERMINISTIC)
    sbn = BinaryNeuron(Output.STOCHASTIC)
    model = keras.Model([x, noise], [dbn(h), sbn([h, noise])])
    assert dbn.compute_dtype == "float32" and sbn.slope.dtype == "float32"
    deterministic, stochastic = model([A2, NOISE])
    assert deterministic.dtype == tf.float32 and stochastic.dtype == tf.float32
    np.testing.assert_array_equal(deterministic, [[-1, -1, 1, 1], [-1, -1, 1, 1]])
    np.testing.assert_array_equal(stochastic, [[1, -1, 1, 1], [-1, 1, -1, -1]])
    # Gradients flow back to the bfloat16 pre-activation.
    a = tf.constant(A, tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(a)
        y = dbn(a)
    grad = tape.gradient(y, a)
    assert grad.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(grad, tf.float32), [GRADIENT[1.0]], rtol=2e-2)
