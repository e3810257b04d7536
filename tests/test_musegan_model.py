"""MuseGAN networks: shapes for every mode and spec, noise inputs, the per-track critic, the
folded bar-generator calls, initialization and size errors (smoke-preset sizes, for speed)."""

import dataclasses
from importlib import resources

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import musegan_model_config
from omegaconf import OmegaConf

from gan.builder import build_model
from musegan.generator import BINARY_NOISE, CHORDS, GROOVE, MELODY, VOICE_NOISE, Mode
from musegan.model import MuseGAN
from pianoroll.errors import UserError
from pianoroll.spec import LPD5_TRACKS, PhraseSpec

#: The network sizes of the smoke preset (conf/experiment/smoke.yaml), as plain dicts.
SMOKE = OmegaConf.to_container(
    OmegaConf.load(resources.files("conf") / "experiment" / "smoke.yaml").model
)
Z = SMOKE["z_dim"]
BATCH = 2
SEED = tf.constant([7, 11], tf.int64)


def chorale_spec(n_bars: int) -> PhraseSpec:
    """conf/data/bach_chorales.yaml: 16 steps per bar, 84 pitches, 4 voices."""
    return PhraseSpec(n_bars=n_bars)


def lpd5_spec(n_bars: int) -> PhraseSpec:
    """conf/data/lpd5.yaml: 12 steps per beat (48 per bar), 5 tracks with drums first."""
    return PhraseSpec(n_bars=n_bars, steps_per_beat=12, tracks=LPD5_TRACKS)


def make_model(spec, mode, temporal=True, condition_track=None, **sizes) -> MuseGAN:
    kwargs = {**SMOKE, **sizes}
    return MuseGAN(
        spec, {"name": mode, "temporal": temporal}, condition_track=condition_track, **kwargs
    )


def real_batch(spec: PhraseSpec, seed: int = 0) -> tf.Tensor:
    rng = np.random.default_rng(seed)
    return tf.constant(rng.choice([-1.0, 1.0], (BATCH, *spec.shape)).astype(np.float32))


# (spec, condition track): 4-bar specs get every mode x temporal x conditional combination,
# 2- and 3-bar specs every mode x temporal, conditional when not temporal.
FULL = [("chorale", 4, "Bass"), ("lpd5", 4, "Drums")]
SHORT = [
    ("chorale", 2, "Soprano"),
    ("lpd5", 2, "Guitar"),
    ("chorale", 3, "Alto"),
    ("lpd5", 3, "Bass"),
]
CASES = [
    pytest.param(
        kind,
        bars,
        mode,
        temporal,
        cond,
        id=f"{kind}{bars}-{mode}-{'temporal' if temporal else 'per_bar'}-{cond or 'free'}",
    )
    for kind, bars, track in FULL
    for mode in ("jamming", "composer", "hybrid")
    for temporal in (True, False)
    for cond in (None, track)
] + [
    pytest.param(
        kind,
        bars,
        mode,
        temporal,
        None if temporal else track,
        id=f"{kind}{bars}-{mode}-{'temporal' if temporal else 'per_bar'}-{'free' if temporal else track}",
    )
    for kind, bars, track in SHORT
    for mode in ("jamming", "composer", "hybrid")
    for temporal in (True, False)
]


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` differs from ``b`` by more than rounding: more than a millionth of ``b``'s
    largest value.

    Relative, since an untrained generator's outputs can be tiny (its weights depend on what
    the worker process built before), below any absolute tolerance; and small, since an
    untrained generator's outputs depend only slightly on its noise.
    """
    return float(np.abs(a - b).max()) > 1e-6 * float(np.abs(b).max())


@pytest.mark.parametrize(("kind", "n_bars", "mode", "temporal", "condition"), CASES)
def test_generator_and_critic_shapes_ranges_and_condition(kind, n_bars, mode, temporal, condition):
    # Seeded weights: otherwise they depend on what the worker process built before, and some
    # draws leave an untrained generator's noise path a millionth of its condition path.
    keras.utils.set_random_seed(0)
    spec = (chorale_spec if kind == "chorale" else lpd5_spec)(n_bars)
    model = make_model(spec, mode, temporal, condition)
    real = real_batch(spec)
    noise = model.sample_noise(BATCH, SEED)
    out = model.generate(noise, real, training=False).numpy()
    assert out.shape == (BATCH, n_bars, spec.steps_per_bar, spec.n_pitches, spec.n_tracks)
    assert out.dtype == np.float32
    generated = [
        k for k in range(spec.n_tracks) if condition is None or k != spec.track_index(condition)
    ]
    assert np.all(np.abs(out[..., generated]) < 1.0)  # a tanh: open interval
    if condition is not None:
        k = spec.track_index(condition)
        np.testing.assert_array_equal(out[..., k], real.numpy()[..., k])
        # And only the condition is carried: another real batch changes the generated tracks.
        other = model.generate(noise, real_batch(spec, seed=1), training=False).numpy()
        assert differs(other[..., generated], out[..., generated])
    # Other noise, other output.
    again = model.generate(model.sample_noise(BATCH, SEED + 1), real, training=False).numpy()
    assert differs(again[..., generated], out[..., generated])
    scores = model.critic(tf.constant(out), training=False)
    assert tuple(scores.shape) == (BATCH, 1)
    assert scores.dtype == tf.float32
    assert np.all(np.isfinite(scores.numpy()))


def test_generator_in_training_mode_has_the_same_shape():
    spec = chorale_spec(4)
    model = make_model(spec, "hybrid")
    out = model.generate(model.sample_noise(BATCH, SEED), None, training=True)
    assert tuple(out.shape) == (BATCH, *spec.shape)


def test_a_conditional_model_needs_the_real_batch():
    model = make_model(chorale_spec(2), "hybrid", condition_track="Bass")
    with pytest.raises(ValueError, match="condition"):
        model.generate(model.sample_noise(BATCH, SEED), None, training=False)


@pytest.mark.parametrize(
    ("mode", "temporal", "condition", "expected"),
    [
        ("composer", True, None, {"style": (Z,), "chords": (Z,)}),
        ("composer", False, None, {"style": (Z,), "chords": (4, Z)}),
        ("jamming", True, None, {"groove": (4, Z), "melody": (4, Z)}),
        ("jamming", False, None, {"groove": (4, Z), "melody": (4, 4, Z)}),
        (
            "hybrid",
            True,
            None,
            {"style": (Z,), "chords": (Z,), "groove": (4, Z), "melody": (4, Z)},
        ),
        (
            "hybrid",
            False,
            "Tenor",
            {"style": (Z,), "chords": (4, Z), "groove": (3, Z), "melody": (3, 4, Z)},
        ),
        ("jamming", True, "Soprano", {"groove": (3, Z), "melody": (3, Z)}),
    ],
)
def test_noise_shapes_per_mode(mode, temporal, condition, expected):
    model = make_model(chorale_spec(4), mode, temporal, condition)
    assert model.noise_shapes == expected
    noise = model.sample_noise(5, SEED)
    assert {k: tuple(v.shape) for k, v in noise.items()} == {
        k: (5, *shape) for k, shape in expected.items()
    }
    # A pure function of the seed; every input its own draw.
    for name, values in model.sample_noise(5, SEED).items():
        np.testing.assert_array_equal(values.numpy(), noise[name].numpy())
    for name, values in model.sample_noise(5, SEED + 1).items():
        assert not np.allclose(values.numpy(), noise[name].numpy())
    firsts = [v.numpy().reshape(5, -1)[:, 0] for v in noise.values()]
    assert len({tuple(np.round(f, 6)) for f in firsts}) == len(firsts)


def input_probe(net: keras.Model, prefix: str):
    """The nested models of ``net`` named ``prefix*`` and a function returning their inputs
    (as a list of tensors) in ``net``'s graph."""
    subnets = [
        layer
        for layer in net.layers
        if isinstance(layer, keras.Model) and layer.name.startswith(prefix)
    ]
    outputs = [t for layer in subnets for t in layer._inbound_nodes[0].input_tensors]
    probe = keras.Model(net.inputs, outputs)

    def inputs_of_subnets(x):
        seen = probe(x)
        return list(seen) if isinstance(seen, list | tuple) else [seen]

    return subnets, inputs_of_subnets


@pytest.mark.parametrize(
    ("mode", "condition"),
    [
        ("jamming", None),
        ("hybrid", None),
        ("hybrid", "Alto"),
        ("composer", None),
        ("composer", "Bass"),
    ],
)
@pytest.mark.parametrize("kind", ["chorale", "lpd5"])
def test_one_bar_generator_call_per_track_with_bars_folded_into_the_batch(kind, mode, condition):
    spec = (chorale_spec if kind == "chorale" else lpd5_spec)(4)
    if condition == "Alto" and kind == "lpd5":
        condition = "Guitar"
    model = make_model(spec, mode, condition_track=condition)
    tracks = [
        k for k in range(spec.n_tracks) if condition is None or k != spec.track_index(condition)
    ]
    subnets, probe = input_probe(model.generator, "bar_generator")
    if mode == "composer":
        assert [net.name for net in subnets] == ["bar_generator"]
        assert subnets[0].output.shape[-1] == len(tracks)  # all tracks as channels of one net
    else:
        assert [net.name for net in subnets] == [f"bar_generator_{k}" for k in tracks]
    for net in subnets:
        assert len(net._inbound_nodes) == 1, f"{net.name} is called more than once"
    inputs = model.sample_noise(BATCH, SEED)
    if condition is not None:
        inputs["condition"] = real_batch(spec)[..., spec.track_index(condition)]
    seen = probe(inputs)
    # The latent, and with a condition the bar encoder's features, computed once for all tracks.
    assert all((len(net.inputs) > 1) == (condition is not None) for net in subnets)
    assert len(seen) == sum(len(net.inputs) for net in subnets)
    if condition is not None:
        assert len(model.generator.get_layer("bar_encoder")._inbound_nodes) == 1
    for tensor in seen:
        assert tensor.shape[0] == BATCH * spec.n_bars
    if condition is not None:  # the condition bars are the real bars, folded the same way
        bars = np.reshape(inputs["condition"].numpy(), (-1, spec.steps_per_bar, spec.n_pitches, 1))
        encoders, encoder_inputs = input_probe(model.generator, "bar_encoder")
        assert len(encoders) == 1
        np.testing.assert_array_equal(encoder_inputs(inputs)[0].numpy(), bars)


@pytest.mark.parametrize("kind", ["chorale", "lpd5"])
def test_jamming_critic_is_the_sum_of_per_track_critics_each_seeing_its_track(kind):
    spec = (chorale_spec if kind == "chorale" else lpd5_spec)(4)
    model = make_model(spec, "jamming")
    assert model.penalty_group_axis == -1
    subnets, probe = input_probe(model.critic, "critic_")
    assert [net.name for net in subnets] == [f"critic_{k}" for k in range(spec.n_tracks)]
    x = real_batch(spec)
    seen = [t.numpy() for t in probe(x)]
    for k, tensor in enumerate(seen):
        np.testing.assert_array_equal(tensor, x.numpy()[..., k : k + 1])
    total = model.critic(x).numpy()
    parts = [net(x[..., k : k + 1]).numpy() for k, net in enumerate(subnets)]
    np.testing.assert_allclose(total, np.sum(parts, axis=0), rtol=1e-5, atol=1e-6)
    # Perturbing track k changes only critic k's input and score.
    k = spec.n_tracks - 2
    perturbed = x.numpy().copy()
    perturbed[..., k] *= -1
    after = [t.numpy() for t in probe(tf.constant(perturbed))]
    for j in range(spec.n_tracks):
        assert np.array_equal(after[j], seen[j]) == (j != k)
    delta = model.critic(tf.constant(perturbed)).numpy() - total
    np.testing.assert_allclose(
        delta, subnets[k](tf.constant(perturbed[..., k : k + 1])).numpy() - parts[k], atol=1e-5
    )


@pytest.mark.parametrize("mode", ["composer", "hybrid"])
def test_other_modes_have_one_critic_over_all_tracks(mode):
    spec = chorale_spec(4)
    model = make_model(spec, mode)
    assert model.penalty_group_axis is None
    assert model.critic.input.shape[1:] == spec.shape
    assert not [layer for layer in model.critic.layers if isinstance(layer, keras.Model)]


def test_weights_start_normal_with_std_002():
    model = make_model(lpd5_spec(4), "hybrid", condition_track="Drums")
    checked = 0
    critic_kernels = []
    for net in (model.generator, model.critic):
        for weight in net.weights:
            if not weight.path.endswith("kernel"):
                continue
            values = np.asarray(weight).ravel()
            if net is model.critic:
                critic_kernels.append(values)
            if values.size >= 2000:
                checked += 1
                assert abs(values.std() - 0.02) < 0.002, weight.path
                assert abs(values.mean()) < 0.002, weight.path
    assert checked >= 10
    values = np.concatenate(critic_kernels)
    assert abs(values.std() - 0.02) < 0.001
    # A large kernel: the default-size bar generator's first dense layer, 128 x 1024 values.
    big = MuseGAN(chorale_spec(4), {"name": "composer", "temporal": False}, z_dim=64)
    kernel = np.asarray(
        big.generator.get_layer("bar_generator").get_layer("bar_generator_dense").kernel
    )
    assert kernel.size >= 100_000
    assert kernel.std() == pytest.approx(0.02, rel=0.01)
    assert abs(kernel.mean()) < 0.0002


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (
            {"bar_generator": {**SMOKE["bar_generator"], "pitch_strides": [7, 11]}},
            "model: bar generator: pitch_strides [7, 11] multiply to 77, not n_pitches 84",
        ),
        (
            {"critic": {**SMOKE["critic"], "pitch_strides": [12, 6]}},
            "model: critic: pitch_strides [12, 6] multiply to 72, not n_pitches 84",
        ),
        (
            {"bar_generator": {**SMOKE["bar_generator"], "pitch_filters": [16, 16]}},
            "model: bar generator: pitch_filters needs one entry fewer than pitch_strides",
        ),
        ({"z_dim": 0}, "model.z_dim=0: must be a number at least 1"),
        ({"temporal_filters": -8}, "model.temporal_filters=-8: must be a number at least 1"),
    ],
)
def test_sizes_that_do_not_fit_the_spec_give_a_one_line_user_error(sizes, message):
    with pytest.raises(UserError) as info:
        make_model(chorale_spec(4), "hybrid", **sizes)
    assert str(info.value) == message
    # The same through the config, as the trainer builds it (Hydra wraps errors in its own).
    model_cfg = OmegaConf.merge(
        musegan_model_config(),
        {k: v for k, v in SMOKE.items() if k not in sizes},
        sizes,
    )
    cfg = OmegaConf.create({"mode": {"name": "hybrid", "temporal": True}})
    cfg.model = model_cfg
    with pytest.raises(UserError) as info:
        build_model(cfg, chorale_spec(4))
    assert str(info.value) == message


def test_steps_per_bar_that_no_stride_reaches_is_a_user_error():
    spec = PhraseSpec(n_bars=4, steps_per_beat=5, beats_per_bar=3)  # 15 steps: odd
    with pytest.raises(UserError, match=r"^model: steps_per_bar: 15 is not a multiple of 2$"):
        make_model(spec, "hybrid")


def test_unknown_mode_and_condition_track_are_user_errors():
    with pytest.raises(UserError, match=r"^mode\.name: unknown mode 'solo'; choose one of"):
        make_model(chorale_spec(4), "solo")
    with pytest.raises(UserError, match=r"^model\.condition_track: no track named 'Piano'"):
        make_model(chorale_spec(4), "hybrid", condition_track="Piano")


def test_the_mode_is_read_once_into_its_enum_and_saved_as_the_config_spelling():
    model = make_model(chorale_spec(4), "jamming")
    assert model.mode is Mode.JAMMING
    assert type(model.config()["mode"]) is str and model.config()["mode"] == "jamming"
    assert model.generator.name == "musegan_jamming_generator"
    assert set(model.noise_shapes) == {GROOVE, MELODY}
    assert model.time_noise == {CHORDS, MELODY, BINARY_NOISE, VOICE_NOISE}


def test_repeat_time_upsampling_reads_neighbouring_steps_and_bad_spellings_are_refused():
    """With ``time_upsample=repeat`` each time layer repeats steps, then convolves 3 of them:
    with only the centre taps left, every step of the 8-step block grown from one of the
    dense layer's 2 steps is the same; the paper's patches give each step its own weights."""
    from musegan.generator import BarGeneratorConfig, bar_generator

    spec = chorale_spec(1)
    sizes = dict(dense_units=32, time_filters=[8], pitch_filters=[8], pitch_strides=[7, 12])
    z = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
    outputs = {}
    for upsample in ("patch", "repeat"):
        net = bar_generator(16, spec, BarGeneratorConfig(**sizes, time_upsample=upsample), 1)
        assert net.output.shape[1:] == (spec.steps_per_bar, spec.n_pitches, 1)
        repeats = [x for x in net.layers if isinstance(x, keras.layers.UpSampling2D)]
        assert len(repeats) == (3 if upsample == "repeat" else 0)  # 2 -> 4 -> 8 -> 16 steps
        for conv in (x for x in net.layers if isinstance(x, keras.layers.Conv2D)):
            assert conv.kernel_size == (3, 1)
            kernel = conv.kernel.numpy()
            kernel[[0, 2]] = 0.0
            conv.kernel.assign(kernel)
        outputs[upsample] = net(z, training=False).numpy()
    blocks = outputs["repeat"].reshape(3, 2, 8, spec.n_pitches)
    # Not all zero (a step whose hidden units all fall below 0 under ReLU is exactly 0, so
    # single zeros happen with some initial weights); the untrained outputs are tiny, so the
    # comparison is relative.
    assert np.abs(blocks).max() > 0
    np.testing.assert_allclose(blocks, np.repeat(blocks[:, :, :1], 8, axis=2), rtol=1e-4)
    patch = outputs["patch"]
    assert np.abs(np.diff(patch, axis=1)).max() > 0.1 * np.abs(patch).max()
    bad = dict(bar_generator={**sizes, "time_upsample": "nearest"})
    with pytest.raises(UserError, match=r"^model: bar generator: unknown time_upsample 'nearest'"):
        make_model(spec, "hybrid", **bad)


def _mixed_spec() -> PhraseSpec:
    """The chorale shape with a voice (Soprano), two free tracks and a voice (Bass)."""
    tracks = chorale_spec(2).tracks
    voiced = [dataclasses.replace(t, monophonic=k in (0, 3)) for k, t in enumerate(tracks)]
    return PhraseSpec(n_bars=2, tracks=tuple(voiced))


@pytest.mark.parametrize(
    ("shared", "private_layers"),
    [
        ("dense", {"time0", "time1", "time2", "pitch0", "out"}),
        ("time", {"pitch0", "out"}),
        ("pitch", {"out"}),
    ],
)
@pytest.mark.parametrize("condition", [None, "Alto"])
def test_hybrid_shared_layers_run_once_and_private_noise_stays_in_its_track(
    shared, private_layers, condition
):
    """``bar_generator.shared``: one trunk for all tracks on the shared latent, called once;
    each track's own network keeps only the layers after it; a track's private noise moves that
    track alone, the shared noise every generated track; every weight gets a gradient."""
    spec = _mixed_spec()
    sizes = {**SMOKE["bar_generator"], "shared": shared}
    model = make_model(spec, "hybrid", condition_track=condition, bar_generator=sizes)
    baseline = make_model(
        spec, "hybrid", condition_track=condition, bar_generator={**sizes, "shared": "none"}
    )
    tracks = [
        k for k in range(spec.n_tracks) if condition is None or k != spec.track_index(condition)
    ]
    subnets, _ = input_probe(model.generator, "bar_generator")
    nets = sorted(net.name for net in subnets)
    assert nets == sorted(["bar_generator_shared"] + [f"bar_generator_{k}" for k in tracks])
    assert all(len(net._inbound_nodes) == 1 for net in subnets)
    # Each reads two noise vectors: the trunk style and chords, a track its groove and melody.
    assert all(net.inputs[0].shape[-1] == 2 * Z for net in subnets)
    for net in (net for net in subnets if net.name != "bar_generator_shared"):
        names = {layer.name.removeprefix(f"{net.name}_") for layer in net.layers}
        assert {
            n for n in names if n.rstrip("0123456789").endswith(("dense", "time", "pitch", "out"))
        } == private_layers
    assert model.generator.count_params() < baseline.generator.count_params()

    real = real_batch(spec)
    noise = model.sample_noise(BATCH, SEED)
    out = model.generate(noise, real, training=False)
    assert tuple(out.shape) == (BATCH, *spec.channel_shape)
    # Each track network's output (its pre-activations or tanh): the untrained voices'
    # softmax is too flat to show a change.
    own = {net.name: net._inbound_nodes[0].output_tensors[0] for net in subnets}
    per_track = keras.Model(model.generator.inputs, [own[f"bar_generator_{k}"] for k in tracks])
    if condition is not None:
        noise["condition"] = real[..., spec.track_index(condition)]
    before = [x.numpy() for x in per_track(noise, training=False)]
    # Large moves: with a condition track the encoder's features dominate the untrained
    # outputs, and a move of 1 changes them by about a millionth.
    groove = noise["groove"] + 100.0 * np.eye(len(tracks), dtype=np.float32)[0][:, None]
    after = per_track(dict(noise, groove=groove), training=False)
    assert [differs(a.numpy(), b) for a, b in zip(after, before, strict=True)] == [
        i == 0 for i in range(len(tracks))
    ]
    after = per_track(dict(noise, style=noise["style"] + 100.0), training=False)
    assert all(differs(a.numpy(), b) for a, b in zip(after, before, strict=True))
    noise.pop("condition", None)

    with tf.GradientTape() as tape:
        score = tf.reduce_mean(model.critic(model.generate(noise, real, training=True)))
    grads = tape.gradient(score, model.generator.trainable_variables)
    assert all(g is not None for g in grads)


@pytest.mark.parametrize("mode", ["composer", "jamming"])
def test_shared_layers_outside_the_hybrid_mode_are_a_user_error(mode):
    sizes = {**SMOKE["bar_generator"], "shared": "time"}
    with pytest.raises(UserError, match=rf"^model: bar_generator\.shared=time: .*; {mode} mode: "):
        make_model(chorale_spec(2), mode, bar_generator=sizes)
    with pytest.raises(UserError, match=r"^model: bar generator: unknown shared 'all'"):
        make_model(chorale_spec(2), "hybrid", bar_generator={**sizes, "shared": "all"})
