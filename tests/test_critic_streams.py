"""The critic's chroma, onset/offset, key, motion and rhythm streams: the features of a small
hand-written roll, the streams' shapes for the chorale and LPD-5 specs, the critic with each
stream (also per track), the plain critic unchanged without them, stream-name errors and a short
training run."""

from __future__ import annotations

import collections
import dataclasses
import math
from importlib import resources

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import compose_smoke, musegan_model_config
from omegaconf import OmegaConf

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.builder import build_model
from gan.loop import train
from musegan.critic import CriticConfig, build_critic
from musegan.critic_v2 import SharedPrivateCriticConfig, shared_private_critic
from musegan.model import MuseGAN
from musegan.streams import (
    Stream,
    chroma,
    key_profile,
    motion,
    onset_offset,
    rhythm_profile,
    split_strides,
    stream_features,
)
from pianoroll.errors import UserError
from pianoroll.spec import LPD5_TRACKS, PhraseSpec, Track

#: The critic sizes of the smoke preset (conf/experiment/smoke.yaml), as plain dicts.
SMOKE = OmegaConf.to_container(
    OmegaConf.load(resources.files("conf") / "experiment" / "smoke.yaml").model
)
CHORALES = PhraseSpec()  # 4 bars x 16 steps x 84 pitches x 4 tracks
LPD5 = PhraseSpec(steps_per_beat=12, tracks=LPD5_TRACKS)  # 4 bars x 48 steps x 84 x 5
BOTH = ["chroma", "onset_offset"]

# 1 bar of 8 steps, 2 steps per beat (4 beats), 24 pitches from MIDI 21 (A0): index 0 is A,
# 2 is B, 3 is C (MIDI 24), 14 is B again and 15 is C again, so the classes wrap.
SMALL = PhraseSpec(
    n_bars=1, steps_per_beat=2, n_pitches=24, lowest_pitch=21, tracks=(Track("a"), Track("b"))
)
A, B, C = 9, 11, 0


def small_roll() -> np.ndarray:
    """``(1, 1, 8, 24, 2)`` in {-1, 1}. Track 0: C (index 3) held over steps 0-3, then C an
    octave up (index 15) repeated at steps 4 and 6. Track 1: the two B's (2, 14) at steps 1-2,
    A (0) at step 7."""
    active = np.zeros((1, 1, 8, 24, 2), bool)
    active[0, 0, 0:4, 3, 0] = True
    active[0, 0, [4, 6], 15, 0] = True
    active[0, 0, 1:3, 2, 1] = active[0, 0, 1:3, 14, 1] = True
    active[0, 0, 7, 0, 1] = True
    return np.where(active, 1.0, -1.0).astype(np.float32)


def test_chroma_counts_active_cells_per_beat_and_real_pitch_class():
    out = keras.ops.convert_to_numpy(chroma(small_roll(), SMALL))
    assert out.shape == (1, 1, 4, 12, 2)
    expected = np.zeros((4, 12, 2), np.float32)
    expected[:, C, 0] = [2, 2, 1, 1]  # held C: 2 steps a beat; repeated C: 1 step a beat
    expected[0, B, 1] = 2  # both B's at step 1
    expected[1, B, 1] = 2  # ... and at step 2
    expected[3, A, 1] = 1
    np.testing.assert_array_equal(out[0, 0], expected)


def test_chroma_of_generator_output_counts_partial_activity():
    # x = 0 everywhere is activity 0.5: each class has 2 of the 24 pitches, 2 steps a beat.
    out = keras.ops.convert_to_numpy(chroma(np.zeros((3, *SMALL.shape), np.float32), SMALL))
    np.testing.assert_allclose(out, np.full((3, 1, 4, 12, 2), 2.0))


def test_key_profile_is_each_pitch_class_share_of_the_phrase():
    out = keras.ops.convert_to_numpy(key_profile(small_roll(), SMALL))
    assert out.shape == (1, 12, 2)
    expected = np.zeros((12, 2), np.float32)
    expected[C, 0] = 1.0  # 4 held + 2 repeated steps, all C (two octaves)
    expected[B, 1], expected[A, 1] = 4 / 5, 1 / 5  # two B's over 2 steps, one A step
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)


def test_key_profile_of_silence_and_of_partial_activity():
    silent = keras.ops.convert_to_numpy(key_profile(-np.ones((1, *SMALL.shape), np.float32), SMALL))
    np.testing.assert_array_equal(silent, 0.0)  # no sounding cell: all 0, not NaN
    # x = 0 is activity 0.5 in every cell: each class holds 2 of the 24 pitches.
    half = keras.ops.convert_to_numpy(key_profile(np.zeros((2, *SMALL.shape), np.float32), SMALL))
    np.testing.assert_allclose(half, np.full((2, 12, 2), 1 / 12), rtol=1e-6)
    # One cell at activity 0.5 in all: below one sounding cell, divided by 1, not by 0.5.
    x = -np.ones((1, *SMALL.shape), np.float32)
    x[0, 0, 0, 3, 0] = 0.0
    out = keras.ops.convert_to_numpy(key_profile(x, SMALL))
    assert out[0, C, 0] == 0.5 and out.sum() == 0.5


#: A tiny current critic (streams set per test).
TINY_V2 = SharedPrivateCriticConfig(
    private_filters=(4, 4), merged_filters=4, shared_time=((4, 4), (4, 2)),
    shared_pitch_filters=4, merge_filters=4, chroma_filters=(4, 4), onset_filters=(4, 4, 4),
    key_units=(8,), rhythm_units=(8,), streams=(),
)  # fmt: skip


def added_by(streams: list[str]) -> tuple[dict[str, tuple[int, ...]], int, keras.Model]:
    """The AAAI critic with ``streams``: its weights and parameters beyond the plain critic's,
    and the critic."""
    plain = build_critic(CHORALES, CriticConfig(), per_track=False)
    critic = build_critic(CHORALES, CriticConfig(streams=streams), per_track=False)
    main = {w.path for w in plain.weights}
    extra = {w.path: tuple(w.shape) for w in critic.weights if w.path not in main}
    return extra, critic.count_params() - plain.count_params(), critic


def test_key_stream_in_both_critics():
    extra, added, keyed = added_by(["key"])
    assert extra == {
        "critic_key0/kernel": (48, 64),  # 12 classes x 4 voices
        "critic_key0/bias": (64,),
        "critic_key1/kernel": (64, 64),
        "critic_key1/bias": (64,),
    }
    # 3,136 + 4,160 stream parameters and 64 more dense inputs.
    assert added == 3_136 + 4_160 + 64 * 512
    x = np.random.default_rng(2).uniform(-1, 1, (3, *CHORALES.shape)).astype(np.float32)
    assert keyed(x).shape == (3, 1)
    # The current critic repeats the phrase's key features at every bar before the bar merge.
    v2 = dataclasses.replace(TINY_V2, streams=[*BOTH, "key"])
    critic = shared_private_critic(CHORALES, v2, 4, "critic")
    assert critic(x).shape == (3, 1)
    merge = critic.get_layer("critic_merge_bars")
    assert merge.input.shape == (None, 4, 1, 1, 4 + 2 * 4 + 8)
    assert critic.get_layer("critic_key0").kernel.shape == (48, 8)
    # Motion is per bar, as onset/offset is.
    moving = shared_private_critic(
        CHORALES, dataclasses.replace(v2, streams=[*BOTH, "key", "motion"]), 4, "critic"
    )
    assert moving(x).shape == (3, 1)
    assert moving.get_layer("critic_merge_bars").input.shape == (None, 4, 1, 1, 4 + 3 * 4 + 8)


@pytest.mark.parametrize("stream", ["key", "rhythm"])
def test_too_few_phrase_units_is_an_error(stream):
    sized = CriticConfig(streams=[stream], **{f"{stream}_units": []})
    with pytest.raises(ValueError, match=f"{stream}_units needs at least one entry"):
        build_critic(CHORALES, sized, False)


def test_onset_offset_is_starts_minus_ends_per_step():
    out = keras.ops.convert_to_numpy(onset_offset(small_roll()))
    assert out.shape == (1, 1, 8, 1, 2)
    # Track 0: C starts at 0; at 4 the held C ends as the high C starts (0); the repeated C
    # ends at 5, starts at 6, ends at 7. Track 1: two B's start at 1 and end at 3; A at 7.
    np.testing.assert_array_equal(out[0, 0, :, 0, 0], [1, 0, 0, 0, 0, -1, 1, -1])
    np.testing.assert_array_equal(out[0, 0, :, 0, 1], [0, 2, 0, -2, 0, 0, 0, 1])


def test_onset_offset_runs_across_bar_lines_and_starts_from_silence():
    active = np.zeros((1, 2, 4, 24, 1), bool)  # 2 bars of 4 steps, 24 pitches, 1 track
    active[0, 0, 0, 7, 0] = True  # one step at the phrase's start
    active[0, 0, 3, 5, 0] = active[0, 1, 0:2, 5, 0] = True  # tied over the bar line
    x = np.where(active, 1.0, -1.0).astype(np.float32)
    out = keras.ops.convert_to_numpy(onset_offset(x))
    assert out.shape == (1, 2, 4, 1, 1)
    np.testing.assert_array_equal(out[0, :, :, 0, 0], [[1, -1, 0, 1], [0, 0, -1, 0]])
    # Silence everywhere: no change; x = 0 (activity 0.5) starts with half of every pitch.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(onset_offset(-np.ones_like(x))), 0)
    half = keras.ops.convert_to_numpy(onset_offset(np.zeros_like(x)))
    assert half[0, 0, 0, 0, 0] == 12 and not half.reshape(-1)[1:].any()


def test_motion_counts_the_pitches_that_start_or_stop_halved():
    out = keras.ops.convert_to_numpy(motion(small_roll()))
    assert out.shape == (1, 1, 8, 1, 2)
    # Track 0: C starts at 0 (1/2); at 4 the held C stops and the high C starts (1: a move,
    # where onset/offset gives 0); the repeated C stops at 5, starts at 6, stops at 7.
    # Track 1: two B's start at 1 and stop at 3 (2 x 1/2); A starts at 7.
    np.testing.assert_array_equal(out[0, 0, :, 0, 0], [0.5, 0, 0, 0, 1, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(out[0, 0, :, 0, 1], [0, 1, 0, 1, 0, 0, 0, 0.5])
    # Partial activity: x = 0 (activity 1/2 in all 24 pitches) from silence, then silence.
    x = np.full((1, 1, 2, 24, 1), -1.0, np.float32)
    x[0, 0, 0] = 0.0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(motion(x))[0, 0, :, 0, 0], [6, 6])


def test_rhythm_profile_is_activity_and_starts_per_step_of_the_bar():
    out = keras.ops.convert_to_numpy(rhythm_profile(small_roll(), SMALL))
    assert out.shape == (1, 8, 2, 2)  # steps of the bar, (activity, starts), channels
    # One bar, so the means are the bar itself. Track 0: sounds but at steps 5 and 7; a pitch
    # starts at 0, 4 (the move up an octave) and 6. Track 1: two B's at 1-2, A at 7.
    np.testing.assert_array_equal(out[0, :, 0, 0], [1, 1, 1, 1, 1, 0, 1, 0])
    np.testing.assert_array_equal(out[0, :, 1, 0], [1, 0, 0, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(out[0, :, 0, 1], [0, 2, 2, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(out[0, :, 1, 1], [0, 2, 0, 0, 0, 0, 0, 1])


def test_rhythm_profile_averages_the_bars_across_bar_lines():
    # Two bars of one channel: C (index 3) from the first step to the middle of bar 1, held
    # across the bar line (no start at bar 1's first step), then D (index 5) to the end.
    active = np.zeros((1, 2, 8, 24, 1), bool)
    active[0, 0, :, 3, 0] = active[0, 1, :4, 3, 0] = active[0, 1, 4:, 5, 0] = True
    out = keras.ops.convert_to_numpy(rhythm_profile(np.where(active, 1.0, -1.0), SMALL))
    np.testing.assert_array_equal(out[0, :, 0, 0], np.ones(8))
    np.testing.assert_array_equal(out[0, :, 1, 0], [0.5, 0, 0, 0, 0.5, 0, 0, 0])
    # x = 0 (activity 1/2 in all 24 pitches): 12 sounding at every step; only the phrase's
    # first step starts anything (12 halves, from silence), in one bar of two.
    half = keras.ops.convert_to_numpy(rhythm_profile(np.zeros((3, 2, 8, 24, 1)), SMALL))
    np.testing.assert_array_equal(half[:, :, 0, 0], np.full((3, 8), 12.0))
    np.testing.assert_array_equal(half[:, :, 1, 0], np.tile([6.0, 0, 0, 0, 0, 0, 0, 0], (3, 1)))
    with pytest.raises(
        ValueError, match="rhythm: input of 4 steps a bar does not fit the spec's 8"
    ):
        rhythm_profile(np.zeros((1, 2, 4, 24, 1)), SMALL)


def test_rhythm_stream_in_both_critics():
    extra, added, timed = added_by(["rhythm"])
    assert extra == {
        "critic_rhythm0/kernel": (128, 64),  # 16 steps x (activity, starts) x 4 voices
        "critic_rhythm0/bias": (64,),
        "critic_rhythm1/kernel": (64, 64),
        "critic_rhythm1/bias": (64,),
    }
    assert added == 8_256 + 4_160 + 64 * 512
    x = np.random.default_rng(3).uniform(-1, 1, (2, *CHORALES.shape)).astype(np.float32)
    assert timed(x).shape == (2, 1)
    # The current critic repeats it at every bar, beside the key stream's features.
    v2 = dataclasses.replace(TINY_V2, streams=["key", "rhythm"])
    critic = shared_private_critic(CHORALES, v2, 4, "critic")
    assert critic(x).shape == (2, 1)
    assert critic.get_layer("critic_merge_bars").input.shape == (None, 4, 1, 1, 4 + 8 + 8)
    assert critic.get_layer("critic_rhythm0").kernel.shape == (128, 8)


def test_rhythm_units_size_the_rhythm_stream_alone():
    sized = CriticConfig(streams=["key", "rhythm"], key_units=(32, 16), rhythm_units=(8,))
    critic = build_critic(CHORALES, sized, per_track=False)
    phrase = ("critic_key", "critic_rhythm")
    shapes = {w.path: tuple(w.shape) for w in critic.weights if w.path.startswith(phrase)}
    assert shapes == {
        "critic_key0/kernel": (48, 32),
        "critic_key0/bias": (32,),
        "critic_key1/kernel": (32, 16),
        "critic_key1/bias": (16,),
        "critic_rhythm0/kernel": (128, 8),
        "critic_rhythm0/bias": (8,),
    }
    # The dense layer reads the plain critic's features, then 16 key and 8 rhythm features.
    plain = build_critic(CHORALES, CriticConfig(), per_track=False)
    main = plain.get_layer("critic_dense").kernel.shape[0]
    assert critic.get_layer("critic_dense").kernel.shape[0] == main + 16 + 8


def test_motion_stream_layers_mirror_onset_offsets():
    inp = keras.Input(CHORALES.shape)
    model = keras.Model(inp, stream_features(inp, CHORALES, ["motion", "onset_offset"], name="c"))
    for i, (filters, length) in enumerate(zip((16, 32, 64), (8, 4, 1), strict=True)):
        for prefix in ("onset", "motion"):
            layer = model.get_layer(f"c_{prefix}{i}")
            assert layer.output.shape == (None, 4, length, 1, filters)
    assert [tuple(f.shape) for f in model.outputs] == [(None, 4 * 64)] * 2
    plain = build_critic(CHORALES, CriticConfig(), per_track=False).count_params()
    one = build_critic(CHORALES, CriticConfig(streams=["motion"]), per_track=False).count_params()
    # Its three convolutions (4 x 2 x 16 + 16, 16 x 2 x 32 + 32, 32 x 4 x 64 + 64; kernel and
    # stride 2, 2, 4 over 16 steps, 4 channels in) and 4 bars x 64 more inputs to the dense layer.
    assert one - plain == 144 + 1_056 + 8_256 + 256 * 512


def test_split_strides():
    assert split_strides(16, 3) == [2, 2, 4]
    assert split_strides(48, 3) == [3, 4, 4]  # the authors' onset/offset strides
    assert split_strides(16, 2) == [4, 4]
    assert split_strides(4, 1) == [4]
    assert split_strides(6, 3) == [1, 2, 3]
    assert split_strides(1, 2) == [1, 1]


@pytest.mark.parametrize(
    ("spec", "onset_strides"), [(CHORALES, [2, 2, 4]), (LPD5, [3, 4, 4])], ids=["chorales", "lpd5"]
)
def test_stream_shapes(spec, onset_strides):
    inp = keras.Input(spec.shape)
    features = stream_features(inp, spec, BOTH, name="c")
    model = keras.Model(inp, features)
    bars, steps, _, tracks = spec.shape
    beats = spec.beats_per_bar
    assert chroma(inp, spec).shape == (None, bars, beats, 12, tracks)
    assert onset_offset(inp).shape == (None, bars, steps, 1, tracks)
    assert model.get_layer("c_chroma0").output.shape == (None, bars, beats, 1, 32)
    assert model.get_layer("c_chroma1").output.shape == (None, bars, 1, 1, 64)
    lengths = [steps // math.prod(onset_strides[: i + 1]) for i in range(3)]
    for i, (filters, length) in enumerate(zip((16, 32, 64), lengths, strict=True)):
        assert model.get_layer(f"c_onset{i}").output.shape == (None, bars, length, 1, filters)
    assert [f.shape for f in features] == [(None, bars * 64), (None, bars * 64)]
    x = np.random.default_rng(0).choice([-1.0, 1.0], (2, *spec.shape)).astype(np.float32)
    assert [tuple(y.shape) for y in model(x)] == [(2, bars * 64), (2, bars * 64)]


@pytest.mark.parametrize(
    "streams", [["chroma"], ["onset_offset"], BOTH, ["key"], ["motion"], ["rhythm"]]
)
@pytest.mark.parametrize("per_track", [False, True], ids=["one", "jamming"])
def test_critic_with_streams_scores_each_example(streams, per_track):
    cfg = CriticConfig(**SMOKE["critic"], streams=streams)
    critic = build_critic(CHORALES, cfg, per_track=per_track)
    x = tf.constant(np.random.default_rng(1).uniform(-1, 1, (3, *CHORALES.shape)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = critic(x)
    assert scores.shape == (3, 1) and scores.dtype == tf.float32
    assert np.isfinite(tape.gradient(scores, x).numpy()).all()
    nets = [critic.get_layer(f"critic_{k}") for k in range(4)] if per_track else [critic]
    for net in nets:
        names = {layer.name for layer in net.layers}
        assert (f"{net.name}_chroma0" in names) == ("chroma" in streams)
        assert (f"{net.name}_onset0" in names) == ("onset_offset" in streams)
        assert (f"{net.name}_key0" in names) == ("key" in streams)
        assert (f"{net.name}_motion0" in names) == ("motion" in streams)
        assert (f"{net.name}_rhythm0" in names) == ("rhythm" in streams)
        if per_track:
            assert net.input.shape == (None, *CHORALES.shape[:3], 1)


def test_jamming_musegan_with_streams_builds_from_config_lists():
    critic = {**SMOKE["critic"], "streams": OmegaConf.create(BOTH)}
    model = MuseGAN(CHORALES, {"name": "jamming"}, **{**SMOKE, "critic": critic})
    x = tf.constant(np.ones((2, *CHORALES.shape), np.float32))
    assert model.critic(x).shape == (2, 1)
    assert model.critic.get_layer("critic_3").get_layer("critic_3_onset2") is not None


# The default critic on the chorale spec as it was before the streams: its weights, in order.
PLAIN_WEIGHTS = [
    ("critic_bar0/kernel", (2, 1, 1, 4, 128)),
    ("critic_bar0/bias", (128,)),
    ("critic_bar1/kernel", (3, 1, 1, 128, 64)),
    ("critic_bar1/bias", (64,)),
    ("critic_pitch0/kernel", (1, 1, 12, 64, 64)),
    ("critic_pitch0/bias", (64,)),
    ("critic_pitch1/kernel", (1, 1, 7, 64, 64)),
    ("critic_pitch1/bias", (64,)),
    ("critic_time0/kernel", (1, 2, 1, 64, 64)),
    ("critic_time0/bias", (64,)),
    ("critic_time1/kernel", (1, 2, 1, 64, 64)),
    ("critic_time1/bias", (64,)),
    ("critic_time2/kernel", (1, 4, 1, 64, 128)),
    ("critic_time2/bias", (128,)),
    ("critic_time3/kernel", (1, 3, 1, 128, 256)),
    ("critic_time3/bias", (256,)),
    ("critic_dense/kernel", (256, 512)),
    ("critic_dense/bias", (512,)),
    ("critic_out/kernel", (512, 1)),
    ("critic_out/bias", (1,)),
]


def test_no_streams_leaves_the_critic_unchanged():
    for cfg in (CriticConfig(), CriticConfig(streams=())):
        critic = build_critic(CHORALES, cfg, per_track=False)
        assert [(w.path, tuple(w.shape)) for w in critic.weights] == PLAIN_WEIGHTS
        assert critic.count_params() == 383_809
        assert [type(layer).__name__ for layer in critic.layers] == [
            "InputLayer", *["AxisConv"] * 8, "Flatten", "Dense", "LeakyReLU", "Dense"
        ]  # fmt: skip
    jamming = build_critic(CHORALES, CriticConfig(), per_track=True)
    assert jamming.count_params() == 1_532_164
    assert [layer.name for layer in jamming.layers] == [
        "critic_in",
        *(f"critic_{k}" for k in range(4)),
    ]


def test_streams_widen_the_dense_layer_and_add_their_own_layers():
    plain = build_critic(CHORALES, CriticConfig(), per_track=False)
    both = build_critic(CHORALES, CriticConfig(streams=BOTH), per_track=False)
    main = {w.path: tuple(w.shape) for w in plain.weights}
    extra = {w.path: tuple(w.shape) for w in both.weights if w.path not in main}
    assert extra == {
        "critic_chroma0/kernel": (1, 1, 12, 4, 32),
        "critic_chroma0/bias": (32,),
        "critic_chroma1/kernel": (1, 4, 1, 32, 64),
        "critic_chroma1/bias": (64,),
        "critic_onset0/kernel": (1, 2, 1, 4, 16),
        "critic_onset0/bias": (16,),
        "critic_onset1/kernel": (1, 2, 1, 16, 32),
        "critic_onset1/bias": (32,),
        "critic_onset2/kernel": (1, 4, 1, 32, 64),
        "critic_onset2/bias": (64,),
    }
    # 9,824 chroma and 9,456 onset/offset parameters, and 2 x 256 more dense inputs.
    assert both.get_layer("critic_dense").kernel.shape == (256 + 2 * 4 * 64, 512)
    assert both.count_params() - plain.count_params() == 9_824 + 9_456 + 512 * 512


def test_stream_names_are_parsed_in_stream_order():
    assert CriticConfig(streams=["onset_offset", "chroma"]).streams == (Stream.CHROMA, Stream.ONSET)
    assert CriticConfig(streams="chroma").streams == (Stream.CHROMA,)
    with pytest.raises(ValueError, match=r"^critic.streams: stream 'chroma' is listed twice$"):
        CriticConfig(streams=["chroma", "chroma"])


def test_an_unknown_stream_is_one_clear_error():
    message = (
        "critic.streams: unknown stream 'chords';"
        " choose one of chroma, onset_offset, key, motion, rhythm"
    )
    with pytest.raises(ValueError) as info:
        CriticConfig(streams=["chroma", "chords"])
    assert str(info.value) == message
    # Through the config, as the trainer builds the model: a one-line user error.
    cfg = OmegaConf.create({"mode": {"name": "hybrid", "temporal": True}})
    cfg.model = OmegaConf.merge(
        musegan_model_config(),
        SMOKE,
        {"critic": {"streams": ["chroma", "chords"]}},
    )
    with pytest.raises(UserError) as info:
        build_model(cfg, CHORALES)
    assert str(info.value) == f"model: {message}"


def test_too_few_chroma_filters_is_an_error():
    with pytest.raises(ValueError, match="chroma_filters needs at least two entries"):
        build_critic(CHORALES, CriticConfig(streams=["chroma"], chroma_filters=[32]), False)


def test_musegan_trains_with_every_stream(smoke_data_dir, tmp_path):
    every = "model.critic.streams=[chroma,onset_offset,key,motion,rhythm]"
    cfg = compose_smoke("musegan", smoke_data_dir, every)
    run = tmp_path / "run"
    summary = train(cfg, run, progress=False)
    assert summary["step"] == 2
    assert all(math.isfinite(v) for v in summary["losses"].values())
    assert summary["losses"]["gradient_penalty"] >= 0.0
    saved = collections.Counter(
        tuple(shape) for _, shape in tf.train.list_variables(str(run / "checkpoints" / "ckpt-2"))
    )
    # chroma0, onset0 and key0 kernels: over the 4 voices' rolls and their 4 onset rolls;
    # motion0's kernel is shaped as onset0's, so that shape is saved twice as often as chroma0's.
    assert saved[(1, 1, 12, 8, 32)] > 0 and saved[(96, 64)] > 0
    assert saved[(1, 2, 1, 8, 16)] == 2 * saved[(1, 1, 12, 8, 32)]
    # rhythm0's kernel: 16 steps x (activity, starts) x 8 channels in.
    assert saved[(256, 64)] == saved[(96, 64)] > 0
