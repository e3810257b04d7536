"""Tests of pianoroll.metrics: hand-built cases with known answers and a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pianoroll import metrics

# Any NumPy RuntimeWarning (division by zero, invalid value, ...) fails the test.
pytestmark = pytest.mark.filterwarnings("error")

LOW = 24  # lowest_pitch: index 0 is C1
C, CS, D, E, G = 0, 1, 2, 4, 7  # pitch indices at lowest_pitch 24


def empty(n=1, bars=1, steps=16, pitches=24, tracks=1):
    """An all-False batch."""
    return np.zeros((n, bars, steps, pitches, tracks), dtype=bool)


def one(batch_metric, batch, **kwargs):
    """The value of a per-track metric for sample 0, track 0."""
    return batch_metric(batch, **kwargs)[0, 0]


# --------------------------------------------------------------------------------------------
# Pitch classes, scales
# --------------------------------------------------------------------------------------------


def test_c_major_triad_is_fully_in_scale():
    x = empty()
    x[0, 0, :4, [C, E, G], 0] = True
    assert one(metrics.in_scale_rate, x, lowest_pitch=LOW) == 1.0


def test_chromatic_cluster_is_seven_twelfths_in_scale():
    x = empty()
    x[0, 0, :2, :12, 0] = True
    assert one(metrics.in_scale_rate, x, lowest_pitch=LOW) == pytest.approx(7 / 12)


def test_in_scale_rate_is_weighted_by_active_steps():
    x = empty()
    x[0, 0, :8, C, 0] = True  # 8 steps of C
    x[0, 0, :1, [CS, D], 0] = True  # 1 step each of C#, D: no key holds C, C# and D
    assert one(metrics.in_scale_rate, x, lowest_pitch=LOW) == pytest.approx(0.9)


def test_c_in_three_octaves_is_one_pitch_class():
    x = empty(pitches=30)  # not a multiple of 12: no reshape of the pitch axis can work
    x[0, 0, 0, [C, C + 12, C + 24], 0] = True
    assert one(metrics.used_pitch_classes, x, lowest_pitch=LOW) == 1.0
    assert one(metrics.used_pitches, x) == 3.0
    assert one(metrics.pitch_range, x) == 24.0
    assert one(metrics.pitch_class_entropy, x, lowest_pitch=LOW) == 0.0


def test_c_and_c_sharp_are_two_pitch_classes():
    x = empty()
    x[0, 0, 0, [C, CS + 12], 0] = True
    assert one(metrics.used_pitch_classes, x, lowest_pitch=LOW) == 2.0
    assert one(metrics.pitch_class_entropy, x, lowest_pitch=LOW) == pytest.approx(1.0)


def test_used_pitch_classes_is_a_mean_over_non_empty_bars():
    x = empty(bars=4)
    x[0, 0, 0, [C, E, G], 0] = True  # 3 classes
    x[0, 2, 5, C, 0] = True  # 1 class; bars 1 and 3 are empty and left out
    assert one(metrics.used_pitch_classes, x, lowest_pitch=LOW) == 2.0


def test_lowest_pitch_offset_moves_the_pitch_class():
    # The fold behind every pitch-class metric: index p is pitch class (lowest_pitch + p) % 12.
    fold24 = metrics._pitch_class_matrix(3, lowest_pitch=24)
    fold25 = metrics._pitch_class_matrix(3, lowest_pitch=25)
    assert fold24.argmax(axis=1).tolist() == [0, 1, 2]  # index 0 is C
    assert fold25.argmax(axis=1).tolist() == [1, 2, 3]  # index 0 is C#
    counts = np.zeros((1, 30, 1))
    counts[0, [0, 12, 24], 0] = [1, 2, 4]
    np.testing.assert_array_equal(
        metrics._fold_pitch_classes(counts, lowest_pitch=25)[0, :, 0], [0, 7] + [0] * 10
    )
    # The public metrics only see pitch-class sets up to transposition (best key, entropy,
    # distinct classes, centroid distances), so a shifted offset must not change them.
    x = random_batch(np.random.default_rng(0), tracks=2)
    for name in ("used_pitch_classes", "pitch_class_entropy", "in_scale_rate"):
        function = getattr(metrics, name)
        np.testing.assert_allclose(
            function(x, lowest_pitch=24), function(x, lowest_pitch=31), equal_nan=True
        )


# --------------------------------------------------------------------------------------------
# Notes: qualified rate, lengths, onsets
# --------------------------------------------------------------------------------------------


def test_default_min_length():
    assert metrics._default_min_length(4) == 2
    assert metrics._default_min_length(12) == 2
    assert metrics._default_min_length(24) == 3
    assert metrics._default_min_length(48) == 6


def test_one_step_notes_are_not_qualified_two_step_notes_are():
    short = empty()
    short[0, 0, [0, 2, 4], C, 0] = True  # three 1-step notes
    assert one(metrics.qualified_note_rate, short, steps_per_beat=4) == 0.0
    long = empty()
    long[0, 0, 0:2, C, 0] = True
    long[0, 0, 4:7, E, 0] = True
    assert one(metrics.qualified_note_rate, long, steps_per_beat=4) == 1.0
    mixed = short | long
    mixed[0, 0, 2, C, 0] = False  # C: steps 0-1 (2 steps) and 4 (1 step); E: 3 steps
    assert one(metrics.qualified_note_rate, mixed, steps_per_beat=4) == pytest.approx(2 / 3)
    assert one(metrics.qualified_note_rate, long, steps_per_beat=4, min_length=3) == 0.5


def test_note_at_the_phrase_end_is_measured():
    x = empty(steps=8)
    x[0, 0, 6:8, C, 0] = True  # 2 steps up to the last step
    x[0, 0, 7, D, 0] = True  # 1 step, the last one
    assert one(metrics.qualified_note_rate, x, steps_per_beat=4) == 0.5
    assert one(metrics.mean_note_length, x) == 1.5


def test_note_crossing_a_bar_line_counts_once():
    x = empty(bars=2, steps=4)
    x[0, 0, 3, C, 0] = True  # last step of bar 0 ...
    x[0, 1, 0, C, 0] = True  # ... held into bar 1
    assert one(metrics.notes_per_bar, x) == 0.5
    assert one(metrics.mean_note_length, x) == 2.0
    assert one(metrics.qualified_note_rate, x, steps_per_beat=4) == 1.0
    assert one(metrics.empty_bar_rate, x) == 0.0


def test_repeated_onsets_are_separate_notes():
    x = empty(bars=2)
    x[0, 0, [0, 1, 3], C, 0] = True  # C: steps 0-1, then step 3
    x[0, 1, 0:4, E, 0] = True
    assert one(metrics.notes_per_bar, x) == 1.5
    assert one(metrics.mean_note_length, x) == pytest.approx(7 / 3)


def test_empty_bar_rate():
    x = empty(bars=4)
    x[0, 1, 3, C, 0] = True
    assert one(metrics.empty_bar_rate, x) == 0.75
    assert one(metrics.empty_bar_rate, empty(bars=4)) == 1.0


def test_polyphony_rate_divides_by_active_steps():
    x = empty()
    x[0, 0, 0:2, [C, E], 0] = True  # 2 polyphonic steps
    x[0, 0, 2:4, C, 0] = True  # 2 monophonic steps; 12 silent steps do not count
    assert one(metrics.polyphony_rate, x) == 0.5


def test_onset_polyphony():
    x = empty()
    x[0, 0, 0, [C, E, G], 0] = True  # chord onset
    x[0, 0, 0:3, D + 12, 0] = True  # starts with the chord: same onset step
    x[0, 0, 4, C, 0] = True  # single onset
    x[0, 0, 6, [C, E], 0] = True  # two onsets
    assert one(metrics.onset_polyphony, x) == pytest.approx(2 / 3)


# --------------------------------------------------------------------------------------------
# Repetitions
# --------------------------------------------------------------------------------------------


def melody(pitches, steps=16, bars=1, n_pitches=24):
    """One track playing the given pitch indices as 1-step notes on even steps."""
    x = empty(bars=bars, steps=steps, pitches=n_pitches)
    flat = x.reshape(1, bars * steps, n_pitches, 1)
    for k, pitch in enumerate(pitches):
        flat[0, 2 * k, pitch, 0] = True
    return x


def test_repetitions_counts_3grams_seen_before():
    # C D E C D E: 3-grams CDE, DEC, ECD, CDE -> one repeat over 6 notes.
    x = melody([C, D, E, C, D, E])
    assert one(metrics.repetitions_3gram, x) == pytest.approx(1 / 6)
    # C C C C: CCC twice -> one repeat over 4 notes.
    assert one(metrics.repetitions_3gram, melody([C, C, C, C])) == 0.25


def test_repetitions_orders_chord_notes_by_pitch():
    # Chords (C, E) at steps 0 and 2: sequence C E C E -> CEC, ECE: no repeat;
    # then another C, E: C E C E C E -> CEC, ECE, CEC, ECE: 2 repeats over 6 notes.
    x = empty()
    x[0, 0, [0, 2, 4], C, 0] = True
    x[0, 0, [0, 2, 4], E + 12, 0] = True
    assert one(metrics.repetitions_3gram, x) == pytest.approx(2 / 6)


def test_repetitions_edge_cases_and_sample_boundaries():
    assert np.isnan(one(metrics.repetitions_3gram, empty()))
    assert one(metrics.repetitions_3gram, melody([C])) == 0.0
    assert one(metrics.repetitions_3gram, melody([C, D])) == 0.0
    # Each sample plays C D E once: no 3-gram is repeated within a sample.
    x = np.concatenate([melody([C, D, E])] * 3)
    np.testing.assert_array_equal(metrics.repetitions_3gram(x), np.zeros((3, 1)))


# --------------------------------------------------------------------------------------------
# Drum pattern
# --------------------------------------------------------------------------------------------


def test_drum_onsets_on_the_16th_grid():
    x = empty(steps=16)
    x[0, 0, [0, 4, 8, 12], 0, 0] = True  # kick on the beats
    x[0, 0, 2, 1, 0] = True
    x[0, 0, 5:8, 2, 0] = True  # a held hit: one onset at step 5
    assert one(metrics.drum_pattern_rate, x, steps_per_beat=4) == 1.0


def test_drum_onset_at_step_one_of_a_beat_is_off_grid_at_12_steps_per_beat():
    x = empty(steps=48)
    x[0, 0, [0, 3, 12], 0, 0] = True  # on the 16th grid (multiples of 3)
    x[0, 0, 13, 1, 0] = True  # step 1 of beat 1: off the grid
    assert one(metrics.drum_pattern_rate, x, steps_per_beat=12) == 0.75


def test_drum_pattern_needs_a_16th_grid():
    with pytest.raises(ValueError, match="divisible by 4"):
        metrics.drum_pattern_rate(empty(steps=12), steps_per_beat=6)


# --------------------------------------------------------------------------------------------
# Tonal distance
# --------------------------------------------------------------------------------------------


def two_tracks(first, second, steps=16, pitches=48):
    """Two tracks holding the given pitch indices for the whole bar."""
    x = empty(steps=steps, pitches=pitches, tracks=2)
    x[0, 0, :, first, 0] = True
    x[0, 0, :, second, 1] = True
    return x


def tonal(x, **kwargs):
    values, names = metrics.tonal_distance(x, lowest_pitch=LOW, steps_per_beat=4, **kwargs)
    return values, names


def test_tonal_distance_of_identical_tracks_is_zero():
    values, names = tonal(two_tracks([C, E, G], [C, E, G]), track_names=["Piano", "Guitar"])
    assert names == ["Piano-Guitar"]
    assert values.shape == (1, 1)
    assert values[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_tonal_distance_ignores_the_octave():
    values, _ = tonal(two_tracks([C, E, G], [C + 12, E + 12, G + 12]))
    assert values[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_tonal_distance_of_c_and_g_by_hand():
    # Harte et al. 2006, radii (1, 1, 0.5). C (l = 0): (0, 1, 0, 1, 0, 0.5).
    # G (l = 7): 7 * 7pi/6 = pi/6 (mod 2pi), 7 * 3pi/2 = pi/2, 7 * 2pi/3 = 2pi/3:
    # (sin pi/6, cos pi/6, sin pi/2, cos pi/2, 0.5 sin 2pi/3, 0.5 cos 2pi/3)
    # = (0.5, sqrt(3)/2, 1, 0, sqrt(3)/4, -0.25).
    c = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.5])
    g = np.array([0.5, math.sqrt(3) / 2, 1.0, 0.0, math.sqrt(3) / 4, -0.25])
    expected = float(np.sqrt(np.sum((c - g) ** 2)))
    assert expected == pytest.approx(1.7372, abs=1e-4)
    values, _ = tonal(two_tracks([C], [G]))
    assert values[0, 0] == pytest.approx(expected)


def test_tonal_distance_averages_over_beats_where_both_sound():
    x = two_tracks([C], [G])
    x[0, 0, 4:, :, 1] = False  # the second track only sounds in beat 0
    values, _ = tonal(x)
    same = two_tracks([C], [G])
    assert values[0, 0] == pytest.approx(tonal(same)[0][0, 0])
    x[0, 0, :4, :, 1] = False  # no beat with both
    assert np.isnan(tonal(x)[0][0, 0])


def test_tonal_distance_pairs_skip_drums():
    x = empty(tracks=4)
    values, names = tonal(
        x, drum_mask=[True, False, False, False], track_names=["Drums", "A", "B", "C"]
    )
    assert names == ["A-B", "A-C", "B-C"]
    assert values.shape == (1, 3)
    assert np.isnan(values).all()


# --------------------------------------------------------------------------------------------
# Edge cases, warnings, input safety
# --------------------------------------------------------------------------------------------


def per_track_calls(lowest, steps_per_beat):
    """Every per-track metric as a function of the batch alone."""
    return {
        "empty_bar_rate": metrics.empty_bar_rate,
        "used_pitch_classes": lambda x: metrics.used_pitch_classes(x, lowest_pitch=lowest),
        "qualified_note_rate": lambda x: metrics.qualified_note_rate(
            x, steps_per_beat=steps_per_beat
        ),
        "drum_pattern_rate": lambda x: metrics.drum_pattern_rate(x, steps_per_beat=steps_per_beat),
        "polyphony_rate": metrics.polyphony_rate,
        "notes_per_bar": metrics.notes_per_bar,
        "mean_note_length": metrics.mean_note_length,
        "pitch_range": metrics.pitch_range,
        "tone_span": metrics.tone_span,
        "used_pitches": metrics.used_pitches,
        "pitch_class_entropy": lambda x: metrics.pitch_class_entropy(x, lowest_pitch=lowest),
        "in_scale_rate": lambda x: metrics.in_scale_rate(x, lowest_pitch=lowest),
        "onset_polyphony": metrics.onset_polyphony,
        "repetitions_3gram": metrics.repetitions_3gram,
    }


PER_TRACK = per_track_calls(LOW, steps_per_beat=4)
DEFINED_WHEN_EMPTY = {"empty_bar_rate": 1.0, "notes_per_bar": 0.0, "used_pitches": 0.0}


def test_public_api():
    assert set(metrics.__all__) == {*PER_TRACK, "tonal_distance", "compute_all"}
    assert metrics.tone_span is metrics.pitch_range


@pytest.mark.parametrize("name", sorted(PER_TRACK))
def test_empty_input_gives_empty_output(name):
    out = PER_TRACK[name](empty(n=0, tracks=3))
    assert out.shape == (0, 3)
    assert out.dtype == np.float64


def test_empty_input_tonal_distance_and_compute_all():
    values, names = tonal(empty(n=0, tracks=3))
    assert values.shape == (0, 3)
    assert len(names) == 3
    out = metrics.compute_all(empty(n=0, tracks=2), **spec_kwargs(["Drums", "Piano"], [1, 0]))
    assert out and all(v.shape == (0,) for v in out.values())


@pytest.mark.parametrize("name", sorted(PER_TRACK))
def test_all_empty_phrases_give_nan_where_documented(name):
    out = PER_TRACK[name](empty(n=2, bars=2, tracks=2))
    assert out.shape == (2, 2)
    if name in DEFINED_WHEN_EMPTY:
        np.testing.assert_array_equal(out, DEFINED_WHEN_EMPTY[name])
    else:
        assert np.isnan(out).all()


def random_batch(rng, n=8, bars=2, steps=8, pitches=15, tracks=3, density=0.25):
    """Random phrases with some held notes (runs), some 1-step notes and some empty tracks."""
    x = rng.random((n, bars, steps, pitches, tracks)) < density
    flat = x.reshape(n, bars * steps, pitches, tracks)
    flat[:, 1:] |= flat[:, :-1] & (rng.random(flat[:, 1:].shape) < 0.5)  # extend some notes
    x[0, ..., -1] = False  # an empty track
    x[1] = False  # an empty phrase
    return x


@pytest.mark.parametrize("name", sorted(PER_TRACK))
def test_inputs_are_not_modified(name):
    x = random_batch(np.random.default_rng(1))
    copy = x.copy()
    PER_TRACK[name](x)
    np.testing.assert_array_equal(x, copy)
    assert x.flags.writeable


def test_inputs_are_not_modified_by_tonal_distance_and_compute_all():
    x = random_batch(np.random.default_rng(2), steps=8, tracks=3)
    copy = x.copy()
    tonal(x)
    metrics.compute_all(x, **spec_kwargs(["D", "P", "G"], [True, False, False], steps=8))
    np.testing.assert_array_equal(x, copy)
    assert x.flags.writeable


def test_non_contiguous_input():
    x = random_batch(np.random.default_rng(3), n=10)
    view = x[::2, :, :, ::-1]
    np.testing.assert_array_equal(
        metrics.mean_note_length(view), metrics.mean_note_length(view.copy())
    )


def test_input_validation():
    with pytest.raises(TypeError, match="bool"):
        metrics.empty_bar_rate(empty().astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        metrics.empty_bar_rate(np.zeros((2, 16, 24, 1), dtype=bool))
    with pytest.raises(ValueError, match="divisor"):
        tonal(empty(steps=10))
    with pytest.raises(ValueError, match="min_length"):
        metrics.qualified_note_rate(empty(), steps_per_beat=4, min_length=0)


# --------------------------------------------------------------------------------------------
# compute_all
# --------------------------------------------------------------------------------------------


def spec_kwargs(names, drums, steps=16, steps_per_beat=4):
    return {
        "lowest_pitch": LOW,
        "steps_per_beat": steps_per_beat,
        "beats_per_bar": steps // steps_per_beat,
        "drum_mask": [bool(d) for d in drums],
        "track_names": names,
    }


def test_compute_all_keys_and_values():
    x = random_batch(np.random.default_rng(4), steps=8, tracks=3)
    out = metrics.compute_all(x, **spec_kwargs(["Drums", "Piano", "Bass"], [1, 0, 0], steps=8))
    pitched = metrics._PITCHED_METRICS
    expected = {f"{m}/{t}" for m in metrics._ALL_TRACK_METRICS for t in ("Drums", "Piano", "Bass")}
    expected |= {f"{m}/{t}" for m in pitched for t in ("Piano", "Bass")}
    expected |= {"drum_pattern_rate/Drums", "tonal_distance/Piano-Bass"}
    assert set(out) == expected
    for key, value in out.items():
        assert value.shape == (len(x),) and value.dtype == np.float64, key
    # Same values as the single functions.
    np.testing.assert_array_equal(out["empty_bar_rate/Drums"], metrics.empty_bar_rate(x)[:, 0])
    np.testing.assert_array_equal(out["repetitions_3gram/Bass"], metrics.repetitions_3gram(x)[:, 2])
    np.testing.assert_array_equal(
        out["drum_pattern_rate/Drums"], metrics.drum_pattern_rate(x, steps_per_beat=4)[:, 0]
    )
    np.testing.assert_array_equal(
        out["in_scale_rate/Piano"], metrics.in_scale_rate(x, lowest_pitch=LOW)[:, 1]
    )
    values, _ = tonal(x, drum_mask=[True, False, False])
    np.testing.assert_array_equal(out["tonal_distance/Piano-Bass"], values[:, 0])


def test_compute_all_one_track_and_drum_only():
    x = random_batch(np.random.default_rng(5), tracks=1)
    one_track = metrics.compute_all(x, **spec_kwargs(["Piano"], [False], steps=8))
    assert not [k for k in one_track if k.startswith(("tonal", "drum"))]
    assert "used_pitch_classes/Piano" in one_track
    drums = metrics.compute_all(x, **spec_kwargs(["Drums"], [True], steps=8))
    assert set(drums) == {"empty_bar_rate/Drums", "notes_per_bar/Drums", "drum_pattern_rate/Drums"}


def test_compute_all_skips_drum_pattern_without_16th_grid_and_checks_the_spec():
    x = empty(steps=12, tracks=2)
    out = metrics.compute_all(x, **spec_kwargs(["D", "P"], [1, 0], steps=12, steps_per_beat=6))
    assert not [k for k in out if k.startswith("drum")]
    with pytest.raises(ValueError, match="beats_per_bar"):
        metrics.compute_all(x, **{**spec_kwargs(["D", "P"], [1, 0], steps=12), "beats_per_bar": 4})
    with pytest.raises(ValueError, match="one entry per track"):
        metrics.compute_all(x, **spec_kwargs(["D"], [1], steps=12))


def test_chunking_does_not_change_results(monkeypatch):
    x = random_batch(np.random.default_rng(6), n=7, steps=8, tracks=3)
    kwargs = spec_kwargs(["D", "P", "G"], [1, 0, 0], steps=8)
    whole = metrics.compute_all(x, **kwargs)
    monkeypatch.setattr(metrics, "_CHUNK_CELLS", 1)  # one sample per chunk
    chunked = metrics.compute_all(x, **kwargs)
    for key in whole:
        np.testing.assert_allclose(chunked[key], whole[key], equal_nan=True, err_msg=key)


# --------------------------------------------------------------------------------------------
# Brute-force reference: loops over samples, tracks, notes
# --------------------------------------------------------------------------------------------


def ref_notes(roll):
    """Notes (onset, pitch, length) of a (time, pitches) roll."""
    notes = []
    for pitch in range(roll.shape[1]):
        t = 0
        while t < roll.shape[0]:
            if roll[t, pitch]:
                start = t
                while t < roll.shape[0] and roll[t, pitch]:
                    t += 1
                notes.append((start, pitch, t - start))
            else:
                t += 1
    return notes


def ref_track(phrase, lowest, steps_per_beat):
    """Every per-track metric of one (bars, steps, pitches) phrase, by the definitions."""
    bars, steps, n_pitches = phrase.shape
    roll = phrase.reshape(bars * steps, n_pitches)
    notes = ref_notes(roll)
    nan = float("nan")
    out = {}
    out["empty_bar_rate"] = sum(not bar.any() for bar in phrase) / bars
    classes = [len({(lowest + p) % 12 for p in np.flatnonzero(bar.any(axis=0))}) for bar in phrase]
    classes = [c for c in classes if c]
    out["used_pitch_classes"] = sum(classes) / len(classes) if classes else nan
    lengths = [length for _, _, length in notes]
    min_length = max(2, math.floor(3 * steps_per_beat / 24 + 0.5))
    out["qualified_note_rate"] = (
        sum(n >= min_length for n in lengths) / len(lengths) if lengths else nan
    )
    grid = steps_per_beat // 4
    out["drum_pattern_rate"] = (
        sum((t % steps) % grid == 0 for t, _, _ in notes) / len(notes) if notes else nan
    )
    per_step = roll.sum(axis=1)
    active = int((per_step >= 1).sum())
    out["polyphony_rate"] = (per_step >= 2).sum() / active if active else nan
    out["notes_per_bar"] = len(notes) / bars
    out["mean_note_length"] = sum(lengths) / len(lengths) if lengths else nan
    used = [p for p in range(n_pitches) if roll[:, p].any()]
    out["pitch_range"] = float(max(used) - min(used)) if used else nan
    out["tone_span"] = out["pitch_range"]
    out["used_pitches"] = float(len(used))
    histogram = [0] * 12
    for p in range(n_pitches):
        histogram[(lowest + p) % 12] += int(roll[:, p].sum())
    total = sum(histogram)
    out["pitch_class_entropy"] = (
        -sum(h / total * math.log2(h / total) for h in histogram if h) if total else nan
    )
    keys = [{(tonic + i) % 12 for i in (0, 2, 4, 5, 7, 9, 11)} for tonic in range(12)]
    keys += [{(tonic + i) % 12 for i in (0, 2, 3, 5, 7, 8, 10)} for tonic in range(12)]
    out["in_scale_rate"] = (
        max(sum(histogram[c] for c in key) for key in keys) / total if total else nan
    )
    onset_counts = {}
    for t, _, _ in notes:
        onset_counts[t] = onset_counts.get(t, 0) + 1
    out["onset_polyphony"] = (
        sum(c >= 2 for c in onset_counts.values()) / len(onset_counts) if onset_counts else nan
    )
    sequence = [p for _, p, _ in sorted(notes)]
    seen, repeats = set(), 0
    for k in range(len(sequence) - 2):
        gram = tuple(sequence[k : k + 3])
        repeats += gram in seen
        seen.add(gram)
    out["repetitions_3gram"] = repeats / len(sequence) if sequence else nan
    return out


def ref_tonal_distance(first, second, lowest, steps_per_beat):
    """Tonal distance of two (bars, steps, pitches) phrases, from the Harte formula."""
    n_pitches = first.shape[-1]
    beats = [
        (a.reshape(-1, n_pitches), b.reshape(-1, n_pitches))
        for a, b in zip(
            first.reshape(-1, steps_per_beat, n_pitches),
            second.reshape(-1, steps_per_beat, n_pitches),
            strict=True,
        )
    ]

    def centroid(beat):
        chroma = [0.0] * 12
        for p in range(n_pitches):
            chroma[(lowest + p) % 12] += beat[:, p].sum()
        total = sum(chroma)
        point = [0.0] * 6
        for pc, value in enumerate(chroma):
            for k, (radius, angle) in enumerate(
                [(1, 7 * math.pi / 6), (1, 3 * math.pi / 2), (0.5, 2 * math.pi / 3)]
            ):
                point[2 * k] += radius * math.sin(pc * angle) * value / total
                point[2 * k + 1] += radius * math.cos(pc * angle) * value / total
        return np.array(point)

    distances = [np.linalg.norm(centroid(a) - centroid(b)) for a, b in beats if a.any() and b.any()]
    return sum(distances) / len(distances) if distances else float("nan")


@pytest.mark.parametrize(("lowest", "steps_per_beat"), [(24, 8), (25, 4), (31, 16)])
def test_against_brute_force_reference(lowest, steps_per_beat):
    rng = np.random.default_rng(lowest)
    x = random_batch(rng, n=8, bars=2, steps=16, pitches=15, tracks=3)
    x[2, :, :, :, 2] = rng.random((2, 16, 15)) < 0.02  # a sparse track
    calls = per_track_calls(lowest, steps_per_beat)
    results = {name: call(x) for name, call in calls.items()}
    for i in range(len(x)):
        for track in range(x.shape[-1]):
            expected = ref_track(x[i, ..., track], lowest, steps_per_beat)
            for name, value in results.items():
                np.testing.assert_allclose(
                    value[i, track], expected[name], equal_nan=True, err_msg=f"{name} {i} {track}"
                )
    values, names = metrics.tonal_distance(x, lowest_pitch=lowest, steps_per_beat=steps_per_beat)
    assert names == ["0-1", "0-2", "1-2"]
    for i in range(len(x)):
        for column, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
            expected = ref_tonal_distance(x[i, ..., a], x[i, ..., b], lowest, steps_per_beat)
            np.testing.assert_allclose(values[i, column], expected, equal_nan=True, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Agreement with pypianoroll where it is right
# --------------------------------------------------------------------------------------------


def test_agreement_with_pypianoroll():
    pypianoroll_metrics = pytest.importorskip("pypianoroll.metrics")
    x = random_batch(np.random.default_rng(7), n=6, pitches=40, tracks=1, density=0.1)
    x[2, :, :, :, 0] = False
    x[3, :, :, :, 0] = False
    x[3, :, ::3, [5, 9], 0] = True  # every active step polyphonic
    ours_range = metrics.pitch_range(x)[:, 0]
    ours_used = metrics.used_pitches(x)[:, 0]
    ours_poly = metrics.polyphony_rate(x)[:, 0]
    for i in range(len(x)):
        roll = x[i, ..., 0].reshape(-1, x.shape[3])  # (time, pitches), as pypianoroll expects
        # pitch_range: index difference = semitones (NaN for an empty roll, like ours).
        np.testing.assert_equal(ours_range[i], pypianoroll_metrics.pitch_range(roll))
        assert ours_used[i] == pypianoroll_metrics.n_pitches_used(roll)
        # polyphonic_rate counts steps with MORE than `threshold` pitches (default 2, so a
        # two-note chord is not polyphonic) and divides by all steps, silent ones included; with
        # threshold=1 it equals ours times the share of active steps.
        active_share = roll.any(axis=1).mean()
        theirs = pypianoroll_metrics.polyphonic_rate(roll, threshold=1)
        np.testing.assert_allclose(np.nan_to_num(ours_poly[i]) * active_share, theirs)
    # Not compared, because pypianoroll is wrong or defines them differently:
    # - n_pitch_classes_used and in_scale_rate fold pitches with reshape(-1, 12, 10), which
    #   groups ten consecutive pitches instead of octaves and assumes 128 pitches;
    # - qualified_note_rate pairs onsets and offsets after flattening time-major over all
    #   pitches, which mismatches the notes of different pitches;
    # - drum_in_pattern_rate counts active steps (not onsets) with a tolerance;
    # - tonal_distance divides by zero on silent beats and sums (not averages) over beats.


# --------------------------------------------------------------------------------------------
# Time packed 8 steps per byte: lengths that are not a multiple of 8
# --------------------------------------------------------------------------------------------


def reference_table(x, lowest, steps_per_beat):
    """Every per-track metric of ref_track as arrays ``(N, tracks)``."""
    rows = [
        [ref_track(phrase[..., track], lowest, steps_per_beat) for track in range(x.shape[-1])]
        for phrase in x
    ]
    return {
        name: np.array([[row[name] for row in sample] for sample in rows]) for name in rows[0][0]
    }


@pytest.mark.parametrize(
    ("bars", "steps", "steps_per_beat", "pitches"),
    [(1, 4, 4, 1), (3, 12, 4, 13), (5, 20, 4, 2), (2, 36, 12, 25)],
)
def test_time_not_a_multiple_of_8_steps(bars, steps, steps_per_beat, pitches):
    # A partial last byte, phrases shorter than a byte, beats and bars straddling bytes, notes
    # held to the last step, and a single pitch (no halving of the pitch axis).
    rng = np.random.default_rng(bars * steps + pitches)
    x = random_batch(rng, n=6, bars=bars, steps=steps, pitches=pitches, tracks=2, density=0.4)
    x[2, -1, -2:, :, 0] = True
    expected = reference_table(x, LOW, steps_per_beat)
    for name, call in per_track_calls(LOW, steps_per_beat).items():
        np.testing.assert_allclose(call(x), expected[name], equal_nan=True, err_msg=name)
    values, _ = metrics.tonal_distance(x, lowest_pitch=LOW, steps_per_beat=steps_per_beat)
    reference = [ref_tonal_distance(p[..., 0], p[..., 1], LOW, steps_per_beat) for p in x]
    np.testing.assert_allclose(values[:, 0], reference, equal_nan=True, atol=1e-12)
    n_time = bars * steps
    for min_length in (1, 3, 9, n_time, n_time + 1):
        ours = metrics.qualified_note_rate(x, steps_per_beat=steps_per_beat, min_length=min_length)
        for i, phrase in enumerate(x):
            for track in range(2):
                lengths = [n for _, _, n in ref_notes(phrase[..., track].reshape(n_time, -1))]
                want = np.mean([n >= min_length for n in lengths]) if lengths else np.nan
                np.testing.assert_allclose(ours[i, track], want, equal_nan=True)


def test_repetitions_with_3gram_keys_beyond_int32(monkeypatch):
    # 1,100 samples of 128 pitches in one chunk: sample * 128**3 no longer fits in int32.
    rng = np.random.default_rng(8)
    x = rng.random((1100, 1, 32, 128, 1)) < 0.01
    x[:, 0, ::4, rng.integers(0, 128, 3), 0] = True  # a repeated figure in every sample
    assert x.size <= metrics._CHUNK_CELLS and len(x) * 128**3 >= 2**31
    whole = metrics.repetitions_3gram(x)
    monkeypatch.setattr(metrics, "_CHUNK_CELLS", 1 << 16)  # 16 samples per chunk: int32 keys
    np.testing.assert_array_equal(whole, metrics.repetitions_3gram(x))
    assert (whole > 0).mean() > 0.5  # the figure's repeats are found
