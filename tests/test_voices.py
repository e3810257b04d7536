"""Monophonic voices: the spec flag, overlap resolution, the categorical encoding, decoding,
MIDI output, the voices' output layer, and MuseGAN generators with voices in every mode."""

from __future__ import annotations

import itertools

import numpy as np
import pretty_midi
import pytest
import tensorflow as tf
from conftest import compose_smoke, write_midi_file
from hydra import compose, initialize_config_module

from pianoroll.dataset import Dataset, unpack_channels
from pianoroll.errors import UserError
from pianoroll.midi import read_midi, write_midi
from pianoroll.phrases import SongRoll, cut_phrases
from pianoroll.pipeline import batch_stream
from pianoroll.prepare import make_spec, prepare
from pianoroll.sources import TrackFamilies
from pianoroll.spec import PhraseSpec, Track
from pianoroll.voices import (
    decode,
    decode_voice,
    encode_voice,
    make_monophonic,
    rest,
    skyline,
    split_channels,
    to_channels,
)

#: 1 bar of 8 steps, 6 pitches from MIDI 60; a voice, a free track, a second voice.
SPEC = PhraseSpec(
    n_bars=1,
    steps_per_beat=2,
    beats_per_bar=4,
    n_pitches=6,
    lowest_pitch=60,
    tracks=(Track("Melody", 0, False, True), Track("Chords", 0), Track("Bass", 32, False, True)),
)


def test_the_spec_flag_orders_channels_as_tracks_then_voice_onsets():
    assert SPEC.voices == (0, 2)
    assert SPEC.n_channels == 5 and SPEC.channel_shape == (1, 8, 6, 5)
    assert SPEC.track_channels(0) == (0, 3)
    assert SPEC.track_channels(1) == (1,)
    assert SPEC.track_channels(2) == (2, 4)
    assert SPEC.free_rolls().voices == () and SPEC.free_rolls().n_channels == 3
    assert PhraseSpec.from_dict(SPEC.to_dict()) == SPEC


def test_the_chorale_voices_are_monophonic_by_default_and_free_one_override_away():
    import gan.config  # noqa: F401  (registers the C-RNN-GAN config's resolvers)

    with initialize_config_module(config_module="conf", version_base="1.3"):
        default = compose("musegan", overrides=["+mode=hybrid"])
        free = compose("musegan", overrides=["+mode=hybrid", "data.voices=free"])
        lpd = compose("musegan", overrides=["+mode=hybrid", "data=lpd5"])
        crnngan = compose("crnngan")
        bad = compose("musegan", overrides=["+mode=hybrid", "data.voices=mono"])
    assert make_spec(default.data).voices == (0, 1, 2, 3)
    assert make_spec(free.data).voices == ()
    assert make_spec(lpd.data).voices == ()
    assert make_spec(crnngan.data).voices == (0, 1, 2, 3)
    with pytest.raises(UserError, match=r"data\.voices=mono: choose one of monophonic, free"):
        make_spec(bad.data)


def test_overlaps_keep_the_highest_pitch_and_are_counted():
    roll = np.zeros((6, 4), bool)
    onsets = np.zeros((6, 4), bool)
    roll[0:6, 1] = True  # a long low note
    onsets[0, 1] = True
    roll[2:4, 3] = True  # a higher one over steps 2 and 3
    onsets[2, 3] = True
    kept, starts, overlaps = make_monophonic(roll, onsets)
    assert overlaps == 2
    assert kept[:, 1].tolist() == [True, True, False, False, True, True]
    assert kept[:, 3].tolist() == [False, False, True, True, False, False]
    # The low note starts at 0, the high one at 2, and the low one again where it re-emerges.
    assert np.argwhere(starts).tolist() == [[0, 1], [2, 3], [4, 1]]


def test_held_and_repeated_notes_round_trip_through_categories_and_midi(tmp_path):
    categories = np.array([2, 2, 2, 2, 4, rest(6), 0, 0])
    starts = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)  # 2 repeated (0-1 and 2-3), then 4, 0
    roll, onsets = decode_voice(categories, starts, 6)
    assert roll.sum() == 7 and onsets.sum() == 4
    again, again_starts = encode_voice(roll, onsets)
    np.testing.assert_array_equal(again, categories)
    np.testing.assert_array_equal(again_starts, starts)
    rolls = np.zeros((8, 6, 3), bool)
    all_onsets = np.zeros((8, 6, 3), bool)
    rolls[:, :, 0], all_onsets[:, :, 0] = roll, onsets
    write_midi(tmp_path / "voice.mid", rolls, SPEC, tempo=120.0, onsets=all_onsets)
    melody = pretty_midi.PrettyMIDI(str(tmp_path / "voice.mid")).instruments[0]
    step = 60.0 / 120.0 / SPEC.steps_per_quarter
    notes = [(round(n.start / step), round(n.end / step), n.pitch - 60) for n in melody.notes]
    assert sorted(notes) == [(0, 2, 2), (2, 4, 2), (4, 5, 4), (6, 8, 0)]


def test_a_change_of_pitch_always_starts_a_note_but_the_first_step_may_continue():
    categories = np.array([[3, 3, 1, 1]])
    _, starts = encode_voice(*decode_voice(categories, np.zeros((1, 4), bool), 6))
    assert starts.tolist() == [[False, False, True, False]]


def test_encoding_refuses_a_chord():
    roll = np.zeros((2, 6), bool)
    roll[0, [1, 3]] = True
    with pytest.raises(ValueError, match="more than one pitch"):
        encode_voice(roll, roll)


def test_cut_phrases_resolves_overlaps_and_appends_the_voices_onsets():
    roll = np.zeros((8, 128, 3), bool)
    onsets = np.zeros((8, 128, 3), bool)
    roll[0:4, 62, 0] = onsets[0, 62, 0] = onsets[2, 62, 0] = True  # repeated D
    roll[0:8, 60, 0] = onsets[0, 60, 0] = True  # a C under it: an overlap of 4 steps
    roll[0:8, [60, 64], 1] = onsets[0, [60, 64], 1] = True  # a free chord
    cut = cut_phrases(SongRoll("song", roll, onsets=onsets), SPEC, hop_bars=1, min_notes=1)
    assert cut.voice_overlaps == 4
    assert cut.phrases.shape == (1, *SPEC.channel_shape)
    rolls, starts = split_channels(cut.phrases[0], SPEC)
    assert rolls[0, :, 2, 0].tolist() == [True] * 4 + [False] * 4
    assert rolls[0, :, 0, 0].tolist() == [False] * 4 + [True] * 4
    assert rolls[0, :, :, 1].sum() == 16  # the free track keeps its chord
    assert np.argwhere(starts[0, :, :, 0]).tolist() == [[0, 2], [2, 2], [4, 0]]
    assert not starts[..., 1].any()


def test_preparation_counts_the_overlaps_it_resolved(tmp_path, compose_prepare):
    songs = tmp_path / "songs"
    songs.mkdir()
    melody = [(0, 4, 64), (1, 2, 67), (4, 5, 64), (5, 6, 64), (6, 8, 65)]  # 2 beats overlap
    write_midi_file(songs / "a.mid", melody, program=0)
    cfg = compose_prepare(
        [
            "data=midi_dir",
            f"data.source.path={songs}",
            "data.spec.n_bars=2",
            "data.spec.tracks=[{name: Melody, program: 0, is_drum: false, monophonic: true}]",
            "data.source.families={Melody: [[0, 127]]}",
            "data.hop_bars=1",
            "data.min_notes=1",
        ]
    )
    dataset = prepare(cfg.data, workers=1, cache=tmp_path / "cache.npz")
    assert dataset.summary["voices"] == ["Melody"]
    assert dataset.summary["voice_overlaps_resolved"] == 12  # one beat at 12 steps per beat
    phrase = dataset.channels_at(slice(0, 1))[0]
    rolls, starts = split_channels(phrase, dataset.spec)
    voice = rolls[..., 0].reshape(-1, rolls.shape[2])
    assert (voice.sum(axis=1) <= 1).all()
    # E, the G over it, E again where it re-emerges, then the repeated E (beats 4 and 5) as two
    # notes, and F.
    notes = np.argwhere(starts[..., 0].reshape(-1, rolls.shape[2]))[:, 0].tolist()
    assert notes == [0, 12, 24, 48, 60, 72]


def test_chorale_ties_continue_a_note(tmp_path):
    spec = PhraseSpec(tracks=(Track("Soprano", 52, False, True),), n_bars=1)
    path = write_midi_file(tmp_path / "s.mid", [(0, 2, 67), (2, 4, 67)], program=52)
    song = read_midi(path, spec, TrackFamilies(spec, {"Soprano": [[0, 127]]}))
    assert np.argwhere(song.onsets[:, 67, 0]).ravel().tolist() == [0, 8]  # struck twice


def test_datasets_pack_the_onsets_after_the_rolls_and_the_pipeline_streams_both():
    rng = np.random.default_rng(0)
    categories = rng.integers(0, 7, size=(5, 1, 8, 2))
    starts = rng.random((5, 1, 8, 2)) < 0.5
    rolls = rng.random((5, *SPEC.shape)) < 0.3
    onsets = np.zeros_like(rolls)
    for j, k in enumerate(SPEC.voices):
        flat = categories[..., j].reshape(5, 8)
        roll, onset = decode_voice(flat, starts[..., j].reshape(5, 8), 6)
        rolls[..., k], onsets[..., k] = roll.reshape(5, 1, 8, 6), onset.reshape(5, 1, 8, 6)
    dataset = Dataset.from_phrases(rolls, np.zeros(5, int), ["s"], SPEC, onsets=onsets)
    expected = to_channels(rolls, onsets, SPEC)
    np.testing.assert_array_equal(dataset.phrases_at(slice(None)), rolls)
    np.testing.assert_array_equal(dataset.channels_at(slice(None)), expected)
    np.testing.assert_array_equal(unpack_channels(dataset.packed, SPEC), expected)
    batch = next(iter(batch_stream(dataset, 5, seed=0, max_shift=0)))
    assert batch.shape == (5, *SPEC.channel_shape)
    got = np.sort((batch.numpy() > 0).reshape(5, -1), axis=0)
    np.testing.assert_array_equal(got, np.sort(expected.reshape(5, -1), axis=0))


def _outputs(pitch: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Model tensors of SPEC, one phrase, from a voice's pitch and start probabilities
    ``(8, 6)`` for both voices; the free track silent."""
    out = np.full((1, *SPEC.channel_shape), -1.0, np.float32)
    for j, k in enumerate(SPEC.voices):
        out[0, 0, :, :, k] = 2 * pitch - 1
        out[0, 0, :, :, 3 + j] = 2 * pitch * start - 1
    return out


def test_threshold_decoding_takes_the_likeliest_category_and_its_start():
    pitch = np.zeros((8, 6), np.float32)
    pitch[:, 2] = 0.4  # a rest (0.6) is likelier on every step but those below
    pitch[2:4, 2] = 0.7
    pitch[4:8, 5] = 0.6
    pitch[4:8, 2] = 0.0
    start = np.full((8, 6), 0.2, np.float32)
    start[3, 2] = 0.9  # the D restarts at step 3
    rolls, onsets = decode(_outputs(pitch, start), SPEC, "threshold", np.random.default_rng(0))
    voice = rolls[0, 0, :, :, 0]
    assert np.argwhere(voice).tolist() == [[2, 2], [3, 2], [4, 5], [5, 5], [6, 5], [7, 5]]
    assert np.argwhere(onsets[0, 0, :, :, 0]).tolist() == [[2, 2], [3, 2], [4, 5]]
    assert not rolls[..., 1].any() and not onsets[..., 1].any()


def test_sampling_follows_the_probabilities_and_a_low_temperature_gives_the_argmax():
    pitch = np.zeros((8, 6), np.float32)
    pitch[:, 1], pitch[:, 4] = 0.7, 0.2  # rest 0.1
    start = np.ones((8, 6), np.float32)
    outputs = np.repeat(_outputs(pitch, start), 2000, axis=0)
    rolls, _ = decode(outputs, SPEC, "bernoulli", np.random.default_rng(0))
    shares = rolls[..., 0].reshape(-1, 6).mean(axis=0)
    np.testing.assert_allclose(shares[[1, 4]], [0.7, 0.2], atol=0.02)
    cold, _ = decode(outputs, SPEC, "bernoulli", np.random.default_rng(0), temperature=0.01)
    assert cold[..., 0].reshape(-1, 6)[:, 1].all()


def test_decoding_without_voices_is_binarization():
    from pianoroll.output import binarize

    spec = SPEC.free_rolls()
    outputs = np.random.default_rng(1).uniform(-1, 1, (4, *spec.shape)).astype(np.float32)
    for method in ("threshold", "bernoulli"):
        rolls, onsets = decode(outputs, spec, method, np.random.default_rng(2))
        assert onsets is None
        np.testing.assert_array_equal(rolls, binarize(outputs, method, np.random.default_rng(2)))


@pytest.mark.parametrize("relaxation", ["softmax", "straight_through"])
def test_the_voice_output_layer_values_and_gradients(relaxation):
    from gan.voices import VoiceOutput

    logits = tf.constant([[1.0, 0.5, -2.0], [-3.0, -3.0, -3.0]])
    start_logits = tf.constant([[2.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    layer = VoiceOutput(relaxation)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        roll, onsets = layer([logits, start_logits])
        target = tf.reduce_sum(roll * tf.constant([[1.0, 2.0, 3.0]]))
    full = np.concatenate([logits.numpy(), np.zeros((2, 1))], axis=1)
    soft = np.exp(full) / np.exp(full).sum(axis=1, keepdims=True)
    sigmoid = 1 / (1 + np.exp(-start_logits.numpy()))
    if relaxation == "softmax":
        q, s = soft[:, :3], sigmoid
    else:  # one-hot forward: pitch 0 in the first row, the rest in the second
        q, s = np.array([[1.0, 0, 0], [0, 0, 0]]), (sigmoid > 0.5).astype(float)
    np.testing.assert_allclose(roll.numpy(), 2 * q - 1, atol=1e-6)
    np.testing.assert_allclose(onsets.numpy(), 2 * q * s - 1, atol=1e-6)
    # Either way the gradient is the softmax's: d(sum 2 w q)/dl = 2 (J^T w) over the pitches.
    w = np.array([1.0, 2.0, 3.0, 0.0])
    jacobian = soft[:, :, None] * (np.eye(4)[None] - soft[:, None, :])  # dq_i / dl_j
    expected = 2 * np.einsum("i,nij->nj", w, jacobian)[:, :3]
    np.testing.assert_allclose(tape.gradient(target, logits).numpy(), expected, rtol=1e-5)


def test_the_gumbel_relaxation_against_its_definition():
    """Relaxed draws by hand at slope 2, the slope annealed by MuseGAN's schedule, and the
    gradient reaching the logits."""
    from math import erf, sqrt

    from gan.voices import VoiceOutput

    logits = tf.constant([[1.0, 0.5, -2.0], [-3.0, 2.0, 0.0]])
    start_logits = tf.constant([[2.0, -1.0, 0.0], [0.5, 0.0, -0.5]])
    noise = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 2)), tf.float32)
    layer = VoiceOutput("gumbel")
    layer.set_slope(2.0)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        roll, onsets = layer([logits, start_logits, noise])
        target = tf.reduce_sum(roll * tf.constant([[1.0, 2.0, 3.0]]))
    u = np.vectorize(lambda x: 0.5 * (1 + erf(x / sqrt(2))))(noise.numpy())
    full = np.concatenate([logits.numpy(), np.zeros((2, 1))], axis=1)
    z = 2.0 * (full - np.log(-np.log(u[..., 0])))
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    h = np.log(u[:, :3, 1] / (1 - u[:, :3, 1]))
    start = 1 / (1 + np.exp(-2.0 * (start_logits.numpy() + h)))
    np.testing.assert_allclose(roll.numpy(), 2 * q[:, :3] - 1, atol=1e-5)
    np.testing.assert_allclose(onsets.numpy(), 2 * q[:, :3] * start - 1, atol=1e-5)
    assert np.abs(tape.gradient(target, logits).numpy()).min() > 0
    with pytest.raises(ValueError, match="takes its noise"):
        layer([logits, start_logits])
    with pytest.raises(ValueError, match="has no temperature"):
        VoiceOutput("softmax").set_slope(2.0)


def test_gumbel_draws_follow_the_categories_and_sharpen_with_the_slope():
    """The argmax of a relaxed draw is a draw from softmax([l, 0]) (the Gumbel-max trick);
    a high slope makes the draws one-hot."""
    from gan.voices import VoiceOutput

    n = 20000
    logits = tf.tile(tf.constant([[1.0, 0.0, -1.0]]), [n, 1])
    noise = tf.random.stateless_normal([n, 4, 2], [5, 6])
    layer = VoiceOutput("gumbel")
    layer.set_slope(100.0)
    roll, _ = layer([logits, tf.zeros_like(logits), noise])
    q = (roll.numpy() + 1) / 2
    chosen = np.where(q.max(axis=1) > 0.5, q.argmax(axis=1), 3)
    full = np.array([1.0, 0.0, -1.0, 0.0])
    expected = np.exp(full) / np.exp(full).sum()
    np.testing.assert_allclose(np.bincount(chosen, minlength=4) / n, expected, atol=0.015)
    draws = {}
    for slope in (1.0, 100.0):
        layer.set_slope(slope)
        pitches = (layer([logits, tf.zeros_like(logits), noise])[0].numpy() + 1) / 2
        draws[slope] = np.concatenate([pitches, 1 - pitches.sum(axis=1, keepdims=True)], 1)
    # The largest share of a draw: near 1 (one-hot) at slope 100, well below it at slope 1.
    assert draws[100.0].max(axis=1).mean() > 0.97
    assert draws[1.0].max(axis=1).mean() < 0.8


def test_the_sample_relaxation_against_its_definition():
    """Exact draws by hand along a phrase (Gumbel-max categories, Bernoulli starts, a change
    of pitch always starting), and the softmax's gradient reaching the logits."""
    from math import erf, sqrt

    from gan.voices import VoiceOutput

    rng = np.random.default_rng(3)
    logits = tf.constant(rng.normal(size=(2, 2, 3, 3)) * 2, tf.float32)  # batch, bars, steps
    start_logits = tf.constant(rng.normal(size=(2, 2, 3, 3)), tf.float32)
    noise = tf.constant(rng.normal(size=(2, 2, 3, 4, 2)), tf.float32)
    layer = VoiceOutput("sample")
    assert layer.slope is None
    with tf.GradientTape() as tape:
        tape.watch(logits)
        roll, onsets = layer([logits, start_logits, noise])
        target = tf.reduce_sum(roll * tf.constant([1.0, 2.0, 3.0]))
    u = np.vectorize(lambda x: 0.5 * (1 + erf(x / sqrt(2))))(noise.numpy())
    full = np.concatenate([logits.numpy(), np.zeros((2, 2, 3, 1))], axis=-1)
    chosen = (full - np.log(-np.log(u[..., 0]))).argmax(axis=-1).reshape(2, 6)
    drawn = (u[..., :3, 1] < 1 / (1 + np.exp(-start_logits.numpy()))).reshape(2, 6, 3)
    pitch, start = np.zeros((2, 6, 3)), np.zeros((2, 6, 3))
    for b in range(2):
        for t in range(6):
            if chosen[b, t] < 3:
                pitch[b, t, chosen[b, t]] = 1
                changed = t > 0 and chosen[b, t - 1] != chosen[b, t]
                start[b, t, chosen[b, t]] = changed or drawn[b, t, chosen[b, t]]
    np.testing.assert_array_equal(roll.numpy().reshape(2, 6, 3), 2 * pitch - 1)
    np.testing.assert_array_equal(onsets.numpy().reshape(2, 6, 3), 2 * start - 1)
    soft = np.exp(full) / np.exp(full).sum(axis=-1, keepdims=True)
    jacobian = soft[..., :, None] * (np.eye(4) - soft[..., None, :])  # dq_i / dl_j
    expected = 2 * np.einsum("i,...ij->...j", np.array([1.0, 2.0, 3.0, 0.0]), jacobian)
    np.testing.assert_allclose(
        tape.gradient(target, logits).numpy(), expected[..., :3], rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="has no temperature"):
        layer.set_slope(2.0)


def test_sampled_voices_follow_the_categories_and_the_start_probability():
    """Draws' categories follow softmax([l, 0]); where the pitch stays, a note starts with
    probability sigmoid(s); every change of pitch starts one."""
    from gan.voices import VoiceOutput

    n = 20000
    logits = tf.tile(tf.constant([[[4.0, 0.0, 4.0]]]), [n, 2, 1])  # two steps
    start_logits = tf.fill([n, 2, 3], -1.0)
    noise = tf.random.stateless_normal([n, 2, 4, 2], [5, 6])
    roll, onsets = VoiceOutput("sample")([logits, start_logits, noise])
    q, o = (roll.numpy() + 1) / 2, (onsets.numpy() + 1) / 2
    chosen = np.where(q.max(axis=-1) > 0.5, q.argmax(axis=-1), 3)
    full = np.array([4.0, 0.0, 4.0, 0.0])
    expected = np.exp(full) / np.exp(full).sum()
    np.testing.assert_allclose(np.bincount(chosen[:, 0], minlength=4) / n, expected, atol=0.015)
    stays = (chosen[:, 1] == chosen[:, 0]) & (chosen[:, 1] < 3)
    moves = (chosen[:, 1] != chosen[:, 0]) & (chosen[:, 1] < 3)
    assert stays.sum() > 5000 and moves.sum() > 5000
    np.testing.assert_allclose(o[stays, 1].sum(axis=-1).mean(), 1 / (1 + np.e), atol=0.015)
    assert (o[moves, 1].sum(axis=-1) == 1).all()


def test_the_voice_scale_multiplies_the_pitch_logits_and_is_recorded_off_its_default():
    from gan.voices import VoiceOutput
    from musegan.model import MuseGAN

    logits = tf.constant([[1.0, 0.5, -2.0], [-0.3, 0.2, 0.1]])
    start_logits = tf.constant([[2.0, -1.0, 0.0], [0.5, 0.0, -0.5]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        scaled = VoiceOutput("softmax", scale=3.0)([logits, start_logits])
        plain = VoiceOutput("softmax")([3.0 * logits, start_logits])
        targets = [tf.reduce_sum(x[0] * tf.constant([1.0, 2.0, 3.0])) for x in (scaled, plain)]
    for a, b in zip(scaled, plain, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    gradients = [tape.gradient(t, logits).numpy() for t in targets]
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-5)
    assert "voice_scale" not in MuseGAN(SPEC, {"name": "hybrid"}, **SMALL).config()
    config = MuseGAN(SPEC, {"name": "hybrid"}, voice_scale=10, **SMALL).config()
    assert config["voice_scale"] == 10.0
    for bad in (0, -1.0, float("inf"), "big", True):
        with pytest.raises(UserError, match=r"^model: voice_scale=.*: must be a finite number"):
            MuseGAN(SPEC, {"name": "hybrid"}, voice_scale=bad, **SMALL)


def test_musegan_anneals_the_gumbel_temperature_and_refuses_it_where_it_cannot_go():
    from crnngan.generator import DenseGenerator
    from crnngan.model import CRNNGAN
    from gan.voices import ChannelOutput, VoiceOutput
    from musegan.model import MuseGAN

    model = MuseGAN(
        SPEC,
        {"name": "hybrid"},
        voices="gumbel",
        slope={"start": 0, "end": 10, "end_value": 5.0},
        **SMALL,
    )
    assert model.noise_shapes["voice_noise"] == (1, 8, 7, 4)  # two voices x (draw, start)
    model.set_step(5)
    (layer,) = [x for x in model.generator._flatten_layers() if isinstance(x, VoiceOutput)]
    assert float(layer.slope.numpy()) == 3.0
    # The truncation trick bounds the latent vectors only: the draws stay draws.
    from gan.noise import draw_noise

    noise = draw_noise(model, 4, seed=0, truncation=0.5)
    assert np.abs(noise["style"]).max() <= 0.5 < np.abs(noise["voice_noise"]).max()
    with pytest.raises(ValueError, match="voices=gumbel needs noise it does not take"):
        ChannelOutput(2, [0], "gumbel")
    with pytest.raises(UserError, match="model: hold=true: the hold form takes voices=softmax"):
        MuseGAN(SPEC, {"name": "hybrid"}, voices="gumbel", hold=True, **SMALL)
    with pytest.raises(UserError, match=r"model\.voices: gumbel draws with noise that C-RNN-GAN"):
        CRNNGAN(SPEC, DenseGenerator(4, (8,)), voices="gumbel")
    from crnngan.generator import RecurrentGenerator

    message = r"^model\.hold=true: RecurrentGenerator makes one step at a time, and the hold"
    with pytest.raises(UserError, match=message):
        CRNNGAN(SPEC, RecurrentGenerator(4, (8,)), hold=True)
    with pytest.raises(UserError, match=r"^model\.hold='yes': must be true or false$"):
        CRNNGAN(SPEC, DenseGenerator(4, (8,)), hold="yes")


def _hold_marginals(logits, keep_logits, hard):
    """The hold form's (sound, start) by its definition, one step after another (NumPy)."""
    n_steps, n_pitches = logits.shape
    sound, start = np.zeros((n_steps, n_pitches)), np.zeros((n_steps, n_pitches))
    previous = np.zeros(n_pitches)
    for t in range(n_steps):
        full = np.append(logits[t], 0.0)
        q = np.exp(full) / np.exp(full).sum()
        c = 1 / (1 + np.exp(-keep_logits[t]))
        if hard:
            holds = float((previous * (c > 0.5)).sum())
            new = np.eye(n_pitches + 1)[q.argmax()][:-1] * (1 - holds)
            sound[t] = holds * previous + new
        else:
            new = (1 - (previous * c).sum()) * q[:-1]
            sound[t] = previous * c + new
        start[t], previous = new, sound[t]
    return sound, start


@pytest.mark.parametrize("relaxation", ["softmax", "straight_through"])
def test_the_hold_form_against_its_definition(relaxation):
    """Values step by step (a held note, a new note, a rest), and the softmax form's gradient
    against finite differences of the definition."""
    from gan.voices import VoiceOutput

    logits = np.array(
        [[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [-1.0, 0.5, 3.0], [-4.0, -4.0, -4.0], [0.0, 1.0, 0.2]]
    )  # (steps, pitches)
    keep = np.array(
        [[0.0, 0.0, 0.0], [3.0, -2.0, 0.0], [-3.0, 2.0, 1.0], [0.0, 0.0, -2.0], [1.0, 1.0, 1.0]]
    )
    hard = relaxation == "straight_through"
    layer = VoiceOutput(relaxation, hold=True)
    # (batch 1, bars 1, steps 5, pitches 3): the axes between batch and pitches are time.
    x = tf.constant(logits[None, None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        roll, onsets = layer([x, tf.constant(keep[None, None], tf.float32)])
        weights = np.arange(15.0).reshape(5, 3) / 10
        target = tf.reduce_sum(roll * weights)
    sound, start = _hold_marginals(logits, keep, hard)
    np.testing.assert_allclose((roll.numpy()[0, 0] + 1) / 2, sound, atol=1e-6)
    np.testing.assert_allclose((onsets.numpy()[0, 0] + 1) / 2, start, atol=1e-6)
    if hard:  # the pitches: 0 new, 0 held, 2 new, rest, 1 new
        assert sound.argmax(1).tolist() == [0, 0, 2, 0, 1] and sound[3].sum() == 0
        assert start.sum(1).tolist() == [1, 0, 1, 0, 1]
        return
    eps, numeric = 1e-6, np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += eps
        down[index] -= eps
        f = [2 * (_hold_marginals(v, keep, False)[0] * weights).sum() for v in (up, down)]
        numeric[index] = (f[0] - f[1]) / (2 * eps)
    np.testing.assert_allclose(tape.gradient(target, x).numpy()[0, 0], numeric, atol=1e-4)


def _hold_outputs(sound, start, copies=1):
    """Model tensors of the first voice of SPEC carrying hold-form marginals ``(steps,
    pitches)`` (its roll channel ``2 r - 1``, its onset channel ``2 n - 1``), ``copies`` times."""
    out = np.full((copies, *SPEC.channel_shape), -1.0, np.float32)
    out[:, 0, :, :, 0], out[:, 0, :, :, 3] = 2 * sound - 1, 2 * start - 1
    return out


def _random_hold_case(seed, n_steps=8, n_pitches=6):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1.5, (n_steps, n_pitches)), rng.normal(0, 2, (n_steps, n_pitches))


def test_bernoulli_decoding_draws_along_the_hold_chain():
    """Drawn voices of hold-form marginals: each step's pitch as often as its marginal says,
    a sounding pitch held as often as its hold probability, and a new choice drawn from the
    categories; drawing each step on its own (without ``hold``) breaks the held notes."""
    logits, keep = _random_hold_case(3)
    sound, start = _hold_marginals(logits, keep, False)
    n = 20000
    outputs = _hold_outputs(sound, start, n)
    rolls, onsets = decode(outputs, SPEC, "bernoulli", np.random.default_rng(0), hold=True)
    voice, starts = rolls[:, 0, :, :, 0], onsets[:, 0, :, :, 0]  # (n, steps, pitches)
    np.testing.assert_allclose(voice.mean(axis=0), sound, atol=0.02)
    np.testing.assert_allclose(starts.mean(axis=0), start, atol=0.02)
    c, checked = 1 / (1 + np.exp(-keep)), 0
    for t in range(1, 8):
        for p in range(6):
            was = voice[:, t - 1, p]
            if was.sum() < 1000:
                continue
            held = voice[was, t, p] & ~starts[was, t, p]
            assert abs(held.mean() - c[t, p]) < 0.05, (t, p, held.mean(), c[t, p])
            checked += 1
    assert checked >= 5
    # Near-certain holds: whole notes along the chain, fragments when each step is drawn alone.
    long_sound, long_start = _hold_marginals(logits, np.full_like(keep, 4.0), False)
    outputs = _hold_outputs(long_sound, long_start, 2000)
    for hold, most in ((True, 1.5), (False, None)):
        _, notes = decode(outputs, SPEC, "bernoulli", np.random.default_rng(1), hold=hold)
        per_phrase = notes[..., 0].sum(axis=(1, 2, 3)).mean()
        if most is not None:
            assert per_phrase < most
        else:
            assert per_phrase > 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_cold_hold_chain_takes_the_likelier_decisions(seed):
    """Toward temperature 0 the chain drawn from softmax marginals makes the straight-through
    hold form's forward values (hold where its probability is above one half, else the
    likeliest category); one-hot marginals (that forward pass) decode to themselves."""
    logits, keep = _random_hold_case(seed)
    hard = _hold_marginals(logits, keep, True)
    soft = _hold_marginals(logits, keep, False)
    for marginals, temperature in ((soft, 1e-4), (hard, 1.0)):
        rolls, onsets = decode(
            _hold_outputs(*marginals, 4), SPEC, "bernoulli", np.random.default_rng(5),
            temperature=temperature, hold=True,
        )  # fmt: skip
        for k in range(4):
            np.testing.assert_array_equal(rolls[k, 0, :, :, 0], hard[0] > 0.5)
            np.testing.assert_array_equal(onsets[k, 0, :, :, 0], hard[1] > 0.5)
    assert 0 < hard[1].sum() < hard[0].sum()  # the cases hold notes and start them


def test_drawn_holds_against_their_definition():
    """The hold form with ``sample``: a note holds where its hold probability is above the
    step's uniform draw, else the step takes its Gumbel-max category (by hand along a phrase
    over two bars); the gradient reaches the logits; held notes are long where holds are
    likely and short where they are not."""
    from math import erf, sqrt

    from gan.voices import VoiceOutput

    rng = np.random.default_rng(5)
    logits = tf.constant(rng.normal(size=(2, 2, 4, 3)) * 2, tf.float32)  # batch, bars, steps
    keep_logits = tf.constant(rng.normal(size=(2, 2, 4, 3)) * 2, tf.float32)
    noise = tf.constant(rng.normal(size=(2, 2, 4, 4, 2)), tf.float32)
    layer = VoiceOutput("sample", hold=True)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        roll, onsets = layer([logits, keep_logits, noise])
        target = tf.reduce_sum(roll * tf.constant([1.0, 2.0, 3.0]))
    u = np.vectorize(lambda x: 0.5 * (1 + erf(x / sqrt(2))))(noise.numpy()).reshape(2, 8, 4, 2)
    full = np.concatenate([logits.numpy(), np.zeros((2, 2, 4, 1))], axis=-1).reshape(2, 8, 4)
    chosen = (full - np.log(-np.log(u[..., 0]))).argmax(axis=-1)
    keep = 1 / (1 + np.exp(-keep_logits.numpy().reshape(2, 8, 3)))
    pitch, start = np.zeros((2, 8, 3)), np.zeros((2, 8, 3))
    for b in range(2):
        sounding = None  # the pitch sounding at the previous step (None: a rest)
        for t in range(8):
            if sounding is not None and u[b, t, 0, 1] < keep[b, t, sounding]:
                pitch[b, t, sounding] = 1
                continue
            sounding = chosen[b, t] if chosen[b, t] < 3 else None
            if sounding is not None:
                pitch[b, t, sounding] = start[b, t, sounding] = 1
    assert 0 < start.sum() < pitch.sum()  # the case holds notes and starts them
    np.testing.assert_array_equal(roll.numpy().reshape(2, 8, 3), 2 * pitch - 1)
    np.testing.assert_array_equal(onsets.numpy().reshape(2, 8, 3), 2 * start - 1)
    gradient = tape.gradient(target, logits).numpy()
    assert np.isfinite(gradient).all() and np.abs(gradient).sum() > 0
    # One likely pitch: its notes last about 1 / (1 - hold probability) steps.
    lengths = {}
    for hold_logit in (-3.0, 3.0):
        x = tf.constant(np.tile([4.0, -4.0, -4.0], (64, 1, 32, 1)), tf.float32)
        h = tf.fill(x.shape, hold_logit)
        z = tf.constant(np.random.default_rng(0).normal(size=(64, 1, 32, 4, 2)), tf.float32)
        _, starts = layer([x, h, z])
        lengths[hold_logit] = 64 * 32 / float(tf.reduce_sum(tf.cast(starts > 0, tf.float32)))
    assert lengths[-3.0] < 1.2 and 10 < lengths[3.0] < 40  # 1 / (1 - sigmoid(3)) = 21


#: The smallest MuseGAN sizes (the model tests' own).
SMALL = dict(
    z_dim=8,
    temporal_filters=16,
    bar_generator=dict(dense_units=32, time_filters=[8], pitch_filters=[8], pitch_strides=[2, 3]),
    critic=dict(
        bar_filters=[8, 8],
        pitch_filters=[8, 8],
        pitch_strides=[2, 3],
        time_layers=[[8, 2, 2]],
        dense_units=8,
    ),
)


@pytest.mark.parametrize(
    "mode,temporal,condition,relaxation,hold",
    [
        ("jamming", True, None, "straight_through", False),
        ("composer", True, None, "straight_through", True),
        ("hybrid", True, None, "softmax", False),
        ("hybrid", True, None, "softmax", True),
        ("hybrid", False, None, "straight_through", False),
        ("hybrid", True, "Melody", "straight_through", False),
        ("hybrid", True, "Chords", "softmax", True),
        ("hybrid", True, None, "gumbel", False),
        ("jamming", False, None, "gumbel", False),
        ("hybrid", True, "Melody", "gumbel", False),
        ("hybrid", True, None, "sample", False),
        ("composer", False, "Chords", "sample", False),
        ("hybrid", True, "Melody", "sample", True),
    ],
)
def test_musegan_generates_one_category_per_voice_and_step(
    mode, temporal, condition, relaxation, hold
):
    from musegan.model import MuseGAN

    spec = PhraseSpec(**{**SPEC.to_dict(), "n_bars": 2})
    model = MuseGAN(
        spec,
        {"name": mode, "temporal": temporal},
        condition_track=condition,
        voices=relaxation,
        hold=hold,
        **SMALL,
    )
    real = -np.ones((3, *spec.channel_shape), np.float32)
    real[:, :, :, 1, 0] = real[:, :, 0, 1, 3] = 1.0  # a given melody note, and its start
    out = model.generate(model.sample_noise(3, tf.constant([0, 1])), tf.constant(real), False)
    assert out.shape == (3, *spec.channel_shape)
    assert model.critic(out).shape == (3, 1)
    x = (out.numpy() + 1) / 2
    for j, k in enumerate(spec.voices):
        total = x[..., k].sum(axis=-1)
        assert (total <= 1 + 1e-5).all()
        assert (x[..., 3 + j] <= x[..., k] + 1e-6).all()  # a start only where the pitch sounds
        if relaxation in ("straight_through", "sample"):
            assert set(np.unique(np.round(x[..., [k, 3 + j]], 6))) <= {0.0, 1.0}
    if condition == "Melody":
        np.testing.assert_array_equal(out.numpy()[..., [0, 3]], real[..., [0, 3]])


@pytest.mark.parametrize("relaxation", ["softmax", "straight_through", "sample"])
def test_a_musegan_generator_outputs_each_voices_roll_and_onsets_apart(relaxation):
    """The generator's channels are its voice layer's two outputs, the roll and the onsets, in
    their places (a functional model once carried the onsets in both)."""
    from gan.voices import VoiceOutput
    from musegan.model import MuseGAN

    model = MuseGAN(SPEC, {"name": "hybrid"}, voices=relaxation, **SMALL)
    (layer,) = [x for x in model.generator._flatten_layers() if isinstance(x, VoiceOutput)]
    seen = []
    call = layer.call
    layer.call = lambda inputs: seen.append(call(inputs)) or seen[-1]
    noise = model.sample_noise(4, tf.constant([0, 1]))
    out = model.generator(noise, training=False).numpy()
    assert len(seen) == len(SPEC.voices)
    for j, k in enumerate(SPEC.voices):
        roll, onsets = (x.numpy() for x in seen[j])
        np.testing.assert_array_equal(out[..., k], roll)
        np.testing.assert_array_equal(out[..., SPEC.n_tracks + j], onsets)
        assert not np.array_equal(roll, onsets)


def test_v2_networks_generate_voices_and_refuse_the_refiner():
    from musegan.model import MuseGAN

    spec = PhraseSpec(n_bars=2, tracks=SPEC.tracks)  # 16 steps, 84 pitches: v2's factors
    sizes = dict(
        generator=dict(dense_units=32, shared=[[8, 4, 7], [8, 2, 1]], private_filters=[4, 4]),
        critic=dict(
            private_filters=[4, 4],
            merged_filters=4,
            shared_time=[[8, 4], [8, 2]],
            shared_pitch_filters=8,
            merge_filters=8,
            chroma_filters=[4, 4],
            onset_filters=[4, 4, 4],
        ),
    )
    model = MuseGAN(spec, {"name": "hybrid"}, z_dim=8, networks="v2", **sizes)
    out = model.generate(model.sample_noise(2, tf.constant([0, 1])), None, False)
    assert out.shape == (2, *spec.channel_shape)
    with pytest.raises(UserError, match="refiner: the refiner binarizes free rolls"):
        MuseGAN(
            spec,
            {"name": "hybrid"},
            output="deterministic",
            refiner={"schedule": "two_stage", "first_stage_steps": 1},
            **SMALL,
        )


def test_binary_neurons_need_a_free_track():
    from musegan.model import MuseGAN

    voices_only = PhraseSpec(**{**SPEC.to_dict(), "tracks": [SPEC.tracks[0]]})
    with pytest.raises(UserError, match="output=deterministic: binary neurons act on free"):
        MuseGAN(voices_only, {"name": "hybrid"}, output="deterministic", **SMALL)
    # A mixed spec: binary neurons on the free track only.
    model = MuseGAN(SPEC, {"name": "hybrid"}, output="stochastic", **SMALL)
    assert model.noise_shapes["binary_noise"] == (*SPEC.shape[:3], 1)


@pytest.mark.parametrize("kind", ["dense", "recurrent", "dense_hold"])
@pytest.mark.parametrize("relaxation", ["softmax", "straight_through"])
def test_crnngan_generates_one_category_per_voice_and_step(kind, relaxation):
    from crnngan.generator import DenseGenerator, RecurrentGenerator
    from crnngan.model import CRNNGAN

    generator = (
        RecurrentGenerator(noise_dim=4, units=(8,))
        if kind == "recurrent"
        else DenseGenerator(noise_dim=8, units=(16,))
    )
    critic = dict(units=[8], bidirectional=[True], dense_units=[])
    hold = kind == "dense_hold"
    model = CRNNGAN(SPEC, generator, critic, voices=relaxation, hold=hold)
    assert model.config().get("hold", False) is hold
    out = model.generate(model.sample_noise(3, tf.constant([0, 1])), None, False).numpy()
    assert out.shape == (3, *SPEC.channel_shape)
    assert model.critic(out).shape == (3, 1)
    x = (out + 1) / 2
    for j, k in enumerate(SPEC.voices):
        total = x[..., k].sum(axis=-1)
        if relaxation == "straight_through":
            assert set(np.unique(np.round(total, 5))) <= {0.0, 1.0}
        else:
            assert (total < 1).all() and (total > 0).all()  # the rest takes the remainder
        assert (x[..., 3 + j] <= x[..., k] + 1e-6).all()
    assert ((out[..., 1] > -1) & (out[..., 1] < 1)).all()  # the free track: a tanh
    if kind == "recurrent":  # any length, one pass
        long = model.generate_bars(2, 3, tf.constant([0, 2]))
        assert long.shape == (2, 3, *SPEC.channel_shape[1:])


def test_a_drawn_step_against_its_definition():
    """draw_channels by hand: one voice and one free track of 3 pitches (channels: the two
    rolls, then the voice's onsets), values and straight-through gradients."""
    from gan.voices import draw_channels, draws_per_step

    a = tf.constant([[[2.0, -9.0, 0.0], [0.0, 9.0, 3.0], [-1.0, 0.0, -3.0]]] * 3)
    full = np.array([2.0, 0.0, -1.0, 0.0])  # the voice's logits and its rest
    q = np.exp(full) / np.exp(full).sum()
    cdf = np.cumsum(q)
    assert draws_per_step(3, 2, (0,)) == 5
    # Row 0 draws pitch 0 (u below its probability); row 1 pitch 1; row 2 the rest. The
    # voice's start: u = 0.9 above sigmoid(0) = 0.5, so no start unless the pitch changed.
    u = np.array(
        [
            [0.5 * cdf[0], 0.9, 0.5, 0.5, 0.5],
            [0.5 * (cdf[0] + cdf[1]), 0.9, 0.5, 0.5, 0.5],
            [0.5 * (cdf[2] + 1.0), 0.9, 0.5, 0.5, 0.5],
        ],
        np.float32,
    )
    # Before row 0, pitch 0 sounded (held: no onset); before row 1, pitch 0 (changed: onset).
    previous = -np.ones((3, 3, 3), np.float32)
    previous[0, 0, 0] = previous[1, 0, 0] = 1.0
    with tf.GradientTape() as tape:
        tape.watch(a)
        out = draw_channels(a, tf.constant(u), tf.constant(previous), 2, (0,))
        target = tf.reduce_sum(out[..., 0] * [1.0, 2.0, 3.0]) + tf.reduce_sum(out[..., 1])
    out = out.numpy()
    np.testing.assert_array_equal(out[:, :, 0], 2 * np.eye(4)[[0, 1, 3], :3] - 1)
    np.testing.assert_array_equal(out[:, :, 2], [[-1, -1, -1], [-1, 1, -1], [-1, -1, -1]])
    # The free track sounds where u = 0.5 is below (tanh(a) + 1) / 2: at a = 9 only.
    np.testing.assert_array_equal(out[:, :, 1], [[-1, 1, -1]] * 3)
    # Backward: the gradient of 2 q - 1 for the voice (the softmax's Jacobian), of tanh for
    # the free cells, whatever was drawn.
    w = np.array([1.0, 2.0, 3.0, 0.0])
    jacobian = q[:, None] * (np.eye(4) - q[None, :])
    grad = tape.gradient(target, a).numpy()
    for row in grad:
        np.testing.assert_allclose(row[:, 0], 2 * (w @ jacobian)[:3], rtol=1e-5)
        np.testing.assert_allclose(row[:, 1], 1 - np.tanh([-9.0, 9.0, 0.0]) ** 2, atol=1e-6)


def test_drawn_steps_follow_the_probabilities():
    from gan.voices import draw_channels

    n = 20000
    logits = np.array([1.0, -0.5, 0.0], np.float32)  # then the rest's 0
    a = np.zeros((n, 3, 3), np.float32)
    a[:, :, 0] = logits
    a[:, :, 1] = np.arctanh(np.array([-0.8, 0.0, 0.6], np.float32))  # probabilities .1 .5 .8
    a[:, :, 2] = 1.0  # start logits: sigmoid(1)
    u = tf.random.stateless_uniform([n, 5], [1, 2])
    previous = -np.ones((n, 3, 3), np.float32)
    previous[:, 0, 0] = 1.0  # pitch 0 sounding before: drawn again, it starts with sigmoid(1)
    x = (draw_channels(tf.constant(a), u, tf.constant(previous), 2, (0,)).numpy() + 1) / 2
    full = np.exp(np.append(logits, 0.0))
    np.testing.assert_allclose(x[:, :, 0].mean(axis=0), (full / full.sum())[:3], atol=0.015)
    np.testing.assert_allclose(x[:, :, 1].mean(axis=0), [0.1, 0.5, 0.8], atol=0.015)
    held = x[:, 0, 0] == 1
    np.testing.assert_allclose(x[held, 0, 2].mean(), 1 / (1 + np.exp(-1)), atol=0.02)
    assert (x[:, 1:, 2] == x[:, 1:, 0]).all()  # another pitch always starts


def test_a_sampled_free_run_emits_and_feeds_back_draws():
    from crnngan.generator import RecurrentGenerator
    from crnngan.model import CRNNGAN

    critic = dict(units=[8], bidirectional=[True], dense_units=[])
    model = CRNNGAN(SPEC, RecurrentGenerator(noise_dim=4, units=(8,), free_run="sample"), critic)
    soft = CRNNGAN(SPEC, RecurrentGenerator(noise_dim=4, units=(8,)), critic)
    noise = model.sample_noise(3, tf.constant([0, 1]))["noise"]
    # 4 noise features, then 2 numbers per voice (two voices) and 6 for the free track.
    assert noise.shape == (3, SPEC.n_bars * SPEC.steps_per_bar, 4 + 2 * 2 + 6)
    same = soft.sample_noise(3, tf.constant([0, 1]))["noise"]
    np.testing.assert_array_equal(noise[..., :4], same)
    out = model.generate({"noise": noise}, None, False).numpy()
    assert set(np.unique(out)) <= {-1.0, 1.0}
    x = out > 0
    for j, k in enumerate(SPEC.voices):
        assert (x[..., k].sum(axis=-1) <= 1).all()
        assert (x[..., 3 + j] <= x[..., k]).all()
    assert x[..., 1].any() and x[..., 0].any()
    # The loop fed each draw back: teacher forced on its own draws, the network computes the
    # pre-activations from which the free run drew them, and drawing again from those with
    # the same numbers gives the same steps.
    logits = model.to_sequence(model.teacher_forced({"noise": noise}, out, training=False))
    steps = model.to_sequence(tf.constant(out))
    previous = tf.pad(steps[:, :-1], [[0, 0], [1, 0], [0, 0]], constant_values=-1.0)
    width = model.n_features
    again = model.generator.draw(
        tf.reshape(logits, [-1, width]),
        tf.reshape(noise[..., 4:], [-1, noise.shape[-1] - 4]),
        tf.reshape(previous, [-1, width]),
    )
    np.testing.assert_array_equal(tf.reshape(again, steps.shape).numpy(), steps.numpy())
    with pytest.raises(UserError, match="free_run=sample"):
        CRNNGAN(
            SPEC,
            RecurrentGenerator(noise_dim=4, units=(8,), free_run="sample"),
            critic,
            voices="straight_through",
        )
    with pytest.raises(ValueError, match="unknown free_run 'argmax'"):
        RecurrentGenerator(noise_dim=4, units=(8,), free_run="argmax")


def test_teacher_forcing_loss_of_a_voice_by_hand():
    from gan.losses import teacher_forcing_loss

    # One voice of 2 pitches over 2 steps: pitch 1 struck at step 0, a rest at step 1.
    real = -np.ones((1, 1, 2, 2, 2), np.float32)  # (batch, bars, steps, pitches, channels)
    real[0, 0, 0, 1, 0] = real[0, 0, 0, 1, 1] = 1.0
    pre = np.zeros_like(real)
    pre[0, 0, 0, :, 0], pre[0, 0, 1, :, 0] = [0.5, 1.0], [-1.0, 2.0]  # pitch logits
    pre[0, 0, 0, :, 1] = [0.3, -0.7]  # start logits at step 0
    loss = teacher_forcing_loss(real, pre, None, voices=(0,), n_tracks=1)

    def nll(logits, index):
        full = np.array([*logits, 0.0])
        return -(full[index] - np.log(np.exp(full).sum()))

    step0 = nll([0.5, 1.0], 1) + np.log1p(np.exp(0.7))  # -log sigmoid(-0.7)
    step1 = nll([-1.0, 2.0], 2)  # the rest
    np.testing.assert_allclose(float(loss), (step0 + step1) / 2, rtol=1e-6)
    # Without voices it stays the Bernoulli loss of every cell.
    free = teacher_forcing_loss(real, pre)
    cells = (real + 1) / 2
    bce = np.log1p(np.exp(-2 * pre)) * cells + np.log1p(np.exp(2 * pre)) * (1 - cells)
    np.testing.assert_allclose(float(free), bce.mean(), rtol=1e-6)


@pytest.mark.parametrize(
    "voices",
    [
        [],
        [
            "model.voices=gumbel",
            "model.hold=false",
            "model.slope={start: 0, end: 2, end_value: 3.0}",
        ],
        ["model.voices=sample", "model.voice_scale=10", "model.bar_generator.time_upsample=repeat"],
    ],
)
def test_a_mixed_spec_trains_and_writes_repeated_notes_apart(smoke_data_dir, tmp_path, voices):
    from gan.loop import train

    tracks = (
        "data.spec.tracks=[{name: Soprano, program: 52, is_drum: false, monophonic: true},"
        " {name: Bass, program: 52, is_drum: false}]"
    )
    cfg = compose_smoke(
        "musegan", smoke_data_dir, tracks, "train.critic_steps=1", "train.sample_every=0", *voices
    )
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    with np.load(run / "samples" / "step-000002-threshold.npz") as saved:
        phrases, onsets = saved["phrases"], saved["onsets"]
    assert phrases.shape[-1] == 2 and onsets.shape == phrases.shape
    assert (phrases[..., 0].sum(axis=-1) <= 1).all()
    # The MIDI file plays the phrases one after the other: a note starts where the soprano
    # sounds after silence or another pitch, or where its onset says it is struck again.
    soprano = pretty_midi.PrettyMIDI(str(run / "samples" / "step-000002-threshold.mid"))
    flat = phrases[..., 0].reshape(-1, phrases.shape[3])
    struck = onsets[..., 0].reshape(flat.shape)
    previous = np.concatenate([np.zeros_like(flat[:1]), flat[:-1]])
    expected = int((flat & (struck | ~previous)).sum())
    # (pretty_midi leaves out an instrument without notes: a silent soprano has none.)
    notes = [i.notes for i in soprano.instruments if i.name == "Soprano"]
    assert len(notes[0] if notes else []) == expected


@pytest.fixture(scope="module")
def voice_runs(smoke_data_dir, tmp_path_factory):
    """Smoke hybrid runs (2 steps) with the chorales' four voices: ``hybrid``, and
    ``conditional`` accompanying the Soprano voice."""
    from gan.loop import train

    root = tmp_path_factory.mktemp("voices")
    runs = {}
    cheap = ["train.critic_steps=1", "train.sample_every=0"]
    for name, extra in (("hybrid", []), ("conditional", ["model.condition_track=Soprano"])):
        runs[name] = root / name
        train(compose_smoke("musegan", smoke_data_dir, *cheap, *extra), runs[name], progress=False)
    return runs


def run_generate(run, out, **options):
    from gan.generate import generate

    with initialize_config_module(config_module="conf.tools", version_base="1.3"):
        cfg = compose("generate", overrides=[f"{k}={v}" for k, v in {"run": run, "out": out, **options}.items()])  # fmt: skip
    return generate(cfg, "musegan")


def midi_notes(path, instrument: int = 0) -> list[tuple[float, float, int]]:
    notes = pretty_midi.PrettyMIDI(str(path)).instruments[instrument].notes
    return sorted((round(n.start, 4), round(n.end, 4), n.pitch) for n in notes)


def expected_note_count(roll: np.ndarray, onsets: np.ndarray) -> int:
    """Notes of one track's ``(time, pitches)`` roll and onsets: a note starts where a pitch
    sounds after silence or another pitch, or is struck again."""
    previous = np.concatenate([np.zeros_like(roll[:1]), roll[:-1]])
    return int((roll & (onsets | ~previous)).sum())


@pytest.mark.parametrize("options", [{}, {"binarize": "bernoulli", "temperature": 0.7}])
def test_samples_of_a_voice_run_are_one_pitch_a_step_with_their_notes_in_midi(
    voice_runs, tmp_path, options
):
    result = run_generate(voice_runs["hybrid"], tmp_path, n=3, **options)
    along = "voices drawn along their hold chain" in result["gallery"].read_text()
    assert along is (options.get("binarize") == "bernoulli")  # the smoke runs hold (default)
    with np.load(tmp_path / "phrases.npz") as saved:
        phrases, onsets = saved["phrases"], saved["onsets"]
    assert phrases.shape == onsets.shape == (3, 4, 16, 84, 4)
    assert (phrases.sum(axis=3) <= 1).all() and not (onsets & ~phrases).any()
    for piece, roll, starts in zip(result["pieces"], phrases, onsets, strict=True):
        for k in range(4):
            flat, flat_starts = roll[..., k].reshape(64, 84), starts[..., k].reshape(64, 84)
            notes = pretty_midi.PrettyMIDI(str(piece["mid"])).instruments
            count = next((len(i.notes) for i in notes if i.name == SPEC_NAMES[k]), 0)
            assert count == expected_note_count(flat, flat_starts)


SPEC_NAMES = ("Soprano", "Alto", "Tenor", "Bass")


def test_long_pieces_and_interpolations_of_a_voice_run(voice_runs, tmp_path):
    long = run_generate(voice_runs["hybrid"], tmp_path / "long", n=1, bars=10)
    (piece,) = long["pieces"]
    end = pretty_midi.PrettyMIDI(str(piece["mid"])).get_end_time()
    assert end <= 10 * 4 * 60 / 100 + 1e-6
    steps = run_generate(
        voice_runs["hybrid"], tmp_path / "interpolation", mode="interpolate", steps=3
    )
    assert len(steps["pieces"]) == 3
    with np.load(tmp_path / "interpolation" / "phrases.npz") as saved:
        assert (saved["phrases"].sum(axis=3) <= 1).all() and "onsets" in saved.files


def test_accompanying_a_voice_keeps_its_repeated_notes(voice_runs, tmp_path):
    # Repeated Gs, a held A, and a chord the voice cannot hold (its highest note is kept).
    melody = [(0, 1, 67), (1, 2, 67), (2, 4, 69), (4, 6, 72), (4, 6, 64), (6, 8, 71)]
    path = write_midi_file(tmp_path / "melody.mid", melody, program=52, tempo=100.0)
    result = run_generate(voice_runs["conditional"], tmp_path / "acc", mode="accompany", input=path)
    (piece,) = result["pieces"]
    soprano = midi_notes(piece["mid"], 0)
    assert soprano == midi_notes(path, 0)  # the user's track is written as given
    written = pretty_midi.PrettyMIDI(str(piece["mid"]))
    # The generated voices (pretty_midi leaves out one that is silent), one note at a time.
    names = [i.name for i in written.instruments[1:]]
    assert names == [n for n in ("Alto", "Tenor", "Bass") if n in names]
    for instrument in written.instruments[1:]:
        ends = sorted((n.start, n.end) for n in instrument.notes)
        assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(ends))


def test_a_voice_condition_is_fed_with_its_onsets_and_exports(voice_runs, tmp_path):
    from gan.export import SIGNATURE, export, serving_inputs
    from gan.run import load_run

    with initialize_config_module(config_module="conf.tools", version_base="1.3"):
        cfg = compose("export", overrides=[f"run={voice_runs['conditional']}", f"out={tmp_path}"])
    files = export(cfg, "musegan")
    run = load_run(voice_runs["conditional"])
    assert set(serving_inputs(run)) >= {"condition", "condition_onsets"}
    from gan.noise import draw_noise

    feed = {k: tf.constant(v) for k, v in draw_noise(run.model, 2, seed=3).items()}
    condition = -np.ones((2, 4, 16, 84), np.float32)
    condition[:, :, :, 40] = 1.0  # a held note, struck on every bar
    onsets = -np.ones_like(condition)
    onsets[:, :, 0, 40] = 1.0
    feed["condition"], feed["condition_onsets"] = tf.constant(condition), tf.constant(onsets)
    served = tf.saved_model.load(str(files["saved_model"])).signatures[SIGNATURE](**feed)
    pianoroll = served["pianoroll"].numpy()
    assert pianoroll.shape == (2, 4, 16, 84, 8)
    np.testing.assert_array_equal(pianoroll[..., 0], condition)
    np.testing.assert_array_equal(pianoroll[..., 4], onsets)
    binary = served["binary"].numpy()
    assert (binary[..., :4].sum(axis=3) <= 1).all() and not (
        binary[..., 4:] & ~binary[..., :4]
    ).any()


def test_evaluating_a_voice_run_saves_its_onsets(voice_runs, tmp_path):
    from gan.evaluate import evaluate_run

    with initialize_config_module(config_module="conf.tools", version_base="1.3"):
        cfg = compose(
            "evaluate",
            overrides=[f"run={voice_runs['hybrid']}", f"out={tmp_path}", "n=64", "wandb.mode=disabled", "samples=0"],
        )  # fmt: skip
    result = evaluate_run(cfg, "musegan")
    with np.load(tmp_path / "generated.npz") as saved:
        assert saved["phrases"].shape == saved["onsets"].shape == (64, 4, 16, 84, 4)
        assert (saved["phrases"].sum(axis=3) <= 1).all()
    assert result["files"]


def test_skyline_keeps_each_steps_highest_pitch_as_notes_of_a_voice():
    spec = PhraseSpec(
        n_bars=2,
        steps_per_beat=1,
        n_pitches=5,
        lowest_pitch=60,
        tracks=(Track("Soprano", 52, False, True), Track("Piano", 0)),
    )
    rolls = np.zeros((1, 2, 4, 5, 2), bool)  # 8 steps over two bars
    voice = rolls[0, ..., 0].reshape(8, 5)  # a view: writes reach ``rolls``
    voice[0:6, 1] = True  # a low note held over the bar line,
    voice[2:4, 3] = True  # a higher one above it, then the low one sounds alone again
    voice[6:8, 4] = True
    voice[7, 2] = True  # a chord at the last step: its top note is kept
    rolls[0, :, :, 0:3, 1] = True  # the free track's chords are not touched
    kept, onsets = skyline(rolls, spec)
    categories, starts = encode_voice(
        kept[0, ..., 0].reshape(8, 5), onsets[0, ..., 0].reshape(8, 5)
    )
    assert categories.tolist() == [1, 1, 3, 3, 1, 1, 4, 4]
    assert starts.tolist() == [True, False, True, False, True, False, True, False]
    assert np.array_equal(kept[..., 1], rolls[..., 1]) and not onsets[..., 1].any()
    with pytest.raises(ValueError, match=r"must be \(N, bars, steps, pitches, tracks\)"):
        skyline(rolls[0], spec)


def test_skyline_is_refused_for_a_run_whose_voices_are_categories(voice_runs, tmp_path):
    with pytest.raises(UserError) as error:
        run_generate(voice_runs["hybrid"], tmp_path / "out", voices="skyline")
    assert str(error.value) == (
        "voices=skyline: this run generates its voices as categories already"
        " (data.voices=monophonic); skyline reads a free-roll run's tracks"
    )
    assert not (tmp_path / "out").exists()
