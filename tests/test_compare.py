"""Tests of pianoroll.compare: known answers for OA, KL, Fréchet distance and memorization.

Also checks pianoroll.metrics against muspy on real chorale phrases, for the metrics whose
definitions agree (see test_metrics_agree_with_muspy_on_chorales).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import linalg, stats

from pianoroll import compare, dataset
from pianoroll.compare import (
    compare_sets,
    frechet_distance,
    kl_divergence,
    memorization,
    overlapping_area,
)
from pianoroll.dataset import Dataset
from pianoroll.metrics import compute_all
from pianoroll.spec import PhraseSpec, Track

# Any warning (NumPy division by zero, empty slices, ...) fails the test.
pytestmark = pytest.mark.filterwarnings("error")


def normal_quantiles(n: int, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """A deterministic, evenly spread 'sample' of a normal distribution."""
    return stats.norm.ppf((np.arange(n) + 0.5) / n, loc=loc, scale=scale)


# --------------------------------------------------------------------------------------------
# Overlapping area and KL divergence
# --------------------------------------------------------------------------------------------


def test_log_kde_equals_scipy_gaussian_kde():
    x = np.random.default_rng(0).normal(size=300)
    grid = np.linspace(-4, 4, 50)
    ours = compare._log_kde(x, compare._scott_bandwidth(x), grid)
    np.testing.assert_allclose(ours, stats.gaussian_kde(x).logpdf(grid), atol=1e-10)


def test_identical_samples_overlap_fully_with_zero_divergence():
    x = np.random.default_rng(1).normal(size=500)
    assert overlapping_area(x, x.copy()) == pytest.approx(1.0, abs=1e-9)
    assert kl_divergence(x, x.copy()) == pytest.approx(0.0, abs=1e-12)


def test_disjoint_samples_do_not_overlap():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 400), rng.normal(100, 1, 400)
    assert overlapping_area(a, b) < 1e-6
    assert kl_divergence(a, b) > 100


@pytest.mark.parametrize("shift", [0.5, 1.0, 2.0])
def test_gaussian_shift_matches_closed_forms(shift):
    # Two unit Gaussians at distance mu: OA = 2 Phi(-mu/2), KL = mu^2 / 2. The KDE widens both
    # by the same bandwidth (~0.19 here), which lowers KL by a few percent.
    a, b = normal_quantiles(4000), normal_quantiles(4000, loc=shift)
    assert overlapping_area(a, b) == pytest.approx(2 * stats.norm.cdf(-shift / 2), abs=0.015)
    assert kl_divergence(a, b) == pytest.approx(shift**2 / 2, rel=0.06)


def test_kl_of_gaussians_of_different_spread_matches_closed_form():
    # KL(N(0, 1) || N(0, 2^2)) = log 2 + 1/8 - 1/2.
    a, b = normal_quantiles(4000), normal_quantiles(4000, scale=2.0)
    assert kl_divergence(a, b) == pytest.approx(math.log(2) + 1 / 8 - 1 / 2, abs=0.01)


def test_overlap_is_symmetric_and_kl_is_not():
    a, b = normal_quantiles(1000), normal_quantiles(1000, loc=0.5, scale=3.0)
    assert overlapping_area(a, b) == pytest.approx(overlapping_area(b, a), abs=1e-9)
    assert kl_divergence(a, b) != pytest.approx(kl_divergence(b, a), rel=0.1)


def test_nan_values_are_dropped():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=200), rng.normal(0.3, 1, size=200)
    with_nan = np.concatenate([a, [np.nan] * 50])
    assert overlapping_area(with_nan, b) == overlapping_area(a, b)
    assert kl_divergence(with_nan, b) == kl_divergence(a, b)


@pytest.mark.parametrize(
    "a, b",
    [([], [1.0, 2.0]), ([1.0, 2.0], []), ([np.nan, np.nan], [1.0, 2.0]), ([], [])],
)
def test_empty_sets_give_nan(a, b):
    assert math.isnan(overlapping_area(a, b))
    assert math.isnan(kl_divergence(a, b))


def test_equal_constants_are_identical():
    assert overlapping_area([3.0, 3.0, 3.0], [3.0]) == 1.0
    assert kl_divergence([3.0, 3.0, 3.0], [3.0]) == 0.0


def test_different_constants_are_disjoint_and_finite():
    assert overlapping_area([1.0] * 5, [2.0] * 7) < 1e-6
    kl = kl_divergence([1.0] * 5, [2.0] * 7)
    assert math.isfinite(kl) and kl > 1000


def test_a_constant_set_borrows_the_bandwidth_of_the_other():
    spread = normal_quantiles(500)
    # A point mass at the centre of a unit Gaussian, smoothed with the Gaussian's bandwidth.
    oa, kl = overlapping_area([0.0] * 10, spread), kl_divergence([0.0] * 10, spread)
    assert 0.1 < oa < 0.5 and 0.1 < kl < 3
    assert math.isfinite(kl_divergence(spread, [0.0]))
    assert overlapping_area([0.0], [0.5]) < 1e-6  # two single values


def test_distribution_distances_do_not_modify_inputs():
    a = np.array([1.0, np.nan, 2.0, 2.5])
    b = np.array([[0.5, 1.5], [np.nan, 3.0]])
    a0, b0 = a.copy(), b.copy()
    overlapping_area(a, b)
    kl_divergence(a, b)
    frechet_distance(b, b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_too_few_grid_points_are_refused():
    with pytest.raises(ValueError, match="bins"):
        overlapping_area([1.0, 2.0], [1.0, 3.0], bins=4)


# --------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------


def correlated(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x @ np.array([[2, 0, 0, 0], [1, 1, 0, 0], [0, 0.5, 3, 0], [0, 0, 1, 0.1]]) + 5


def test_identical_sets_have_zero_frechet_distance():
    x = correlated(300, 0)
    assert frechet_distance(x, x.copy()) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("d", [0.5, 2.0])
def test_mean_shift_in_one_standardized_column_adds_its_square(d):
    b = correlated(300, 1)
    a = b.copy()
    a[:, 2] += d * b[:, 2].std()  # d reference standard deviations (ddof=0)
    assert frechet_distance(a, b) == pytest.approx(d**2, rel=1e-9)


def fd_formula(za: np.ndarray, zb: np.ndarray) -> float:
    """The textbook Fréchet distance of already standardized rows, with scipy's sqrtm."""
    ca, cb = np.cov(za, rowvar=False), np.cov(zb, rowvar=False)
    root = linalg.sqrtm(ca @ cb).real
    return float(np.sum((za.mean(0) - zb.mean(0)) ** 2) + np.trace(ca + cb - 2 * root))


def test_frechet_distance_equals_the_sqrtm_formula():
    a, b = correlated(200, 2), correlated(300, 3) * 1.3 - 1
    mean, std = b.mean(axis=0), b.std(axis=0)
    expected = fd_formula((a - mean) / std, (b - mean) / std)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_nan_cells_are_imputed_with_the_reference_mean():
    a, b = correlated(80, 5), correlated(100, 4)
    a[::7, 1] = np.nan
    b[::5, 3] = np.nan
    # Standardized with the mean and std of the defined reference values; NaN cells of
    # either set then take the reference mean, 0.
    mean, std = np.nanmean(b, axis=0), np.nanstd(b, axis=0)
    za, zb = np.nan_to_num((a - mean) / std), np.nan_to_num((b - mean) / std)
    assert frechet_distance(a, b) == pytest.approx(fd_formula(za, zb), rel=1e-8)


def test_constant_and_undefined_reference_columns():
    rng = np.random.default_rng(6)
    b = np.column_stack([rng.normal(size=50), np.full(50, 2.0), np.full(50, np.nan)])
    a = b.copy()
    assert frechet_distance(a, b) == pytest.approx(0.0, abs=1e-9)
    a[:, 1] = 3.0  # a constant reference column is only centered: a shift of 1 adds 1
    assert frechet_distance(a, b) == pytest.approx(1.0, rel=1e-9)


def test_frechet_edge_cases():
    assert math.isnan(frechet_distance(np.empty((0, 3)), np.ones((4, 3))))
    assert math.isnan(frechet_distance(np.ones((4, 3)), np.empty((0, 3))))
    assert math.isnan(frechet_distance(np.ones((4, 1)), np.full((4, 1), np.nan)))
    assert frechet_distance([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(frechet_distance(np.ones((1, 2)), correlated(10, 7)[:, :2]))
    with pytest.raises(ValueError, match="same columns"):
        frechet_distance(np.ones((3, 2)), np.ones((3, 3)))


# --------------------------------------------------------------------------------------------
# Memorization
# --------------------------------------------------------------------------------------------


def random_phrases(n: int, seed: int, shape=(2, 16, 24, 2), density=0.1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape)) < density


def test_copies_near_copies_and_new_phrases():
    training = random_phrases(50, 0)
    generated = random_phrases(4, 1)
    generated[0] = training[17]  # exact copy
    generated[1] = training[30]
    generated[1, 0, 3, 5, 1] ^= True  # one flipped cell: a near copy
    generated[2] = np.zeros_like(generated[2])  # empty, no empty training phrase
    training0, generated0 = training.copy(), generated.copy()

    result = memorization(generated, training, threshold=0.05)

    np.testing.assert_array_equal(training, training0)
    np.testing.assert_array_equal(generated, generated0)
    assert result["nearest_distance"][:2].tolist() == [0.0, 1.0]
    assert result["nearest_index"][:2].tolist() == [17, 30]
    exact = result["nearest_distance"] == 0
    near = result["nearest_relative"] <= 0.05
    assert exact.tolist() == [True, False, False, False]
    assert near.tolist() == [True, True, False, False]
    assert result["exact_share"] == 0.25
    assert result["near_share"] == 0.5
    assert result["threshold"] == 0.05


def test_nearest_distances_match_brute_force():
    training = random_phrases(30, 2, density=0.3)
    generated = random_phrases(12, 3, density=0.3)
    flat_g, flat_t = generated.reshape(12, -1), training.reshape(30, -1)
    hamming = (flat_g[:, None, :] != flat_t[None, :, :]).sum(axis=2)
    active = np.maximum(flat_g.sum(1)[:, None], flat_t.sum(1)[None, :])
    result = memorization(generated, training)
    np.testing.assert_array_equal(result["nearest_distance"], hamming.min(axis=1))
    np.testing.assert_array_equal(
        hamming[np.arange(12), result["nearest_index"]], hamming.min(axis=1)
    )
    np.testing.assert_allclose(result["nearest_relative"], (hamming / active).min(1), rtol=1e-6)


def test_near_threshold_is_relative_to_the_active_cells():
    training = np.zeros((1, 1, 4, 10, 1), bool)
    training[0, 0, :, :5] = True  # 20 active cells
    generated = training.copy()
    generated[0, 0, 0, 0] = False  # 1 of 20 cells differs: relative distance 0.05
    assert memorization(generated, training, threshold=0.05)["near_share"] == 1.0
    assert memorization(generated, training, threshold=0.04)["near_share"] == 0.0


def test_memorization_of_empty_sets():
    phrases = random_phrases(3, 4)
    none = phrases[:0]
    result = memorization(phrases, none)
    assert math.isnan(result["exact_share"]) and math.isnan(result["near_share"])
    assert np.isnan(result["nearest_distance"]).all()
    assert result["nearest_index"].tolist() == [-1, -1, -1]
    result = memorization(none, phrases)
    assert math.isnan(result["exact_share"]) and len(result["nearest_distance"]) == 0
    # Two empty phrases are equal.
    empty = np.zeros((2, 1, 4, 3, 1), bool)
    assert memorization(empty, empty[:1])["exact_share"] == 1.0


def test_memorization_rejects_bad_input():
    phrases = random_phrases(3, 5)
    with pytest.raises(ValueError, match="shape"):
        memorization(phrases, phrases[:, :1])
    with pytest.raises(TypeError, match="bool"):
        memorization(phrases.astype(np.uint8), phrases)
    with pytest.raises(ValueError, match="threshold"):
        memorization(phrases, phrases, threshold=1.5)


def test_memorization_summary_is_json():
    summary = compare.memorization_summary(memorization(random_phrases(5, 6), random_phrases(5, 7)))
    json.dumps(summary, allow_nan=False)
    assert set(summary) >= {"exact_share", "near_share", "threshold", "nearest_distance"}


# --------------------------------------------------------------------------------------------
# compare_sets
# --------------------------------------------------------------------------------------------

SMALL_SPEC = PhraseSpec(
    n_bars=2,
    steps_per_beat=4,
    beats_per_bar=4,
    n_pitches=36,
    lowest_pitch=48,
    tracks=(Track("Drums", 0, True), Track("Piano", 0), Track("Bass", 32)),
)


def small_set(n: int, seed: int, density: float = 0.05) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *SMALL_SPEC.shape)) < density


def metric_keys(spec: PhraseSpec) -> list[str]:
    values = compute_all(
        np.zeros((1, *spec.shape), bool),
        lowest_pitch=spec.lowest_pitch,
        steps_per_beat=spec.steps_per_beat,
        beats_per_bar=spec.beats_per_bar,
        drum_mask=spec.drum_mask,
        track_names=spec.track_names,
    )
    return list(values)


def test_compare_identical_sets():
    x = small_set(40, 0)
    x0 = x.copy()
    result = compare_sets(x, x.copy(), SMALL_SPEC, names=("gen", "train"))
    np.testing.assert_array_equal(x, x0)
    assert list(result["metrics"]) == metric_keys(SMALL_SPEC)
    assert result["sets"] == {"a": {"name": "gen", "n": 40}, "b": {"name": "train", "n": 40}}
    assert result["frechet_distance"] == pytest.approx(0.0, abs=1e-8)
    for key, entry in result["metrics"].items():
        assert entry["a"] == entry["b"], key
        if entry["a"]["n"]:
            assert entry["overlapping_area"] == pytest.approx(1.0, abs=1e-9), key
            assert entry["kl_divergence"] == pytest.approx(0.0, abs=1e-12), key
        histogram = entry["histogram"]
        assert histogram["a"] == histogram["b"]
        assert len(histogram["edges"]) == len(histogram["a"]) + 1 or not histogram["a"]
    json.dumps(result, allow_nan=False)


def test_compare_different_sets_and_undefined_metrics():
    sparse = small_set(30, 1, density=0.01)
    sparse[:, :, :, :, 0] = False  # no drums at all: drum_pattern_rate is undefined in a
    dense = small_set(50, 2, density=0.2)
    result = compare_sets(sparse, dense, SMALL_SPEC)
    json.dumps(result, allow_nan=False)  # NaN became None
    drums = result["metrics"]["drum_pattern_rate/Drums"]
    assert drums["a"] == {"mean": None, "std": None, "n": 0}
    assert drums["overlapping_area"] is None and drums["kl_divergence"] is None
    notes = result["metrics"]["notes_per_bar/Piano"]
    assert notes["overlapping_area"] < 0.05 and notes["kl_divergence"] > 1
    assert notes["a"]["mean"] < notes["b"]["mean"]
    assert result["frechet_distance"] > 10


def test_compare_carries_the_noise_floor_and_memorization():
    train, validation, generated = small_set(40, 3), small_set(30, 4), small_set(20, 5)
    generated[0] = train[0]
    floor = compare_sets(validation, train, SMALL_SPEC, names=("validation", "train"))
    result = compare_sets(generated, train, SMALL_SPEC, floor, memorization_threshold=0.1)
    key = "pitch_range/Piano"
    assert result["metrics"][key]["floor"] == {
        "overlapping_area": floor["metrics"][key]["overlapping_area"],
        "kl_divergence": floor["metrics"][key]["kl_divergence"],
    }
    assert result["floor_frechet_distance"] == floor["frechet_distance"]
    assert result["memorization"]["exact_share"] == pytest.approx(1 / 20)
    assert result["memorization"]["threshold"] == 0.1
    json.dumps(result, allow_nan=False)


def test_compare_empty_set_gives_none():
    result = compare_sets(small_set(0, 6), small_set(10, 7), SMALL_SPEC)
    assert result["frechet_distance"] is None
    assert all(e["overlapping_area"] is None for e in result["metrics"].values())
    json.dumps(result, allow_nan=False)


def test_compare_rejects_other_shapes_and_dtypes():
    with pytest.raises(ValueError, match="set b"):
        compare_sets(small_set(3, 8), small_set(3, 9)[:, :1], SMALL_SPEC)
    with pytest.raises(TypeError, match="bool"):
        compare_sets(small_set(3, 8).astype(np.float32), small_set(3, 9), SMALL_SPEC)


def packed(phrases: np.ndarray) -> Dataset:
    """The phrases as a dataset of one song per phrase."""
    return Dataset.from_phrases(
        phrases, np.arange(len(phrases)), [str(i) for i in range(len(phrases))], SMALL_SPEC
    )


def sets_with_copies_and_ties() -> tuple[np.ndarray, np.ndarray]:
    """A generated and a training set with exact copies, a near copy, two training phrases
    at the same distance and cells that no phrase uses."""
    generated, training = small_set(23, 10), small_set(37, 11)
    generated[..., 30:, :] = False
    training[..., 31:, :] = False
    training[20] = training[7]
    generated[3] = generated[5] = training[7]
    generated[6] = training[9]
    generated[6, 0, 0, 0, 1] ^= True
    return generated, training


@pytest.mark.parametrize("chunk_size", [1, 4, 1024])
def test_a_packed_dataset_compares_exactly_as_its_unpacked_array(chunk_size):
    generated, training = sets_with_copies_and_ties()
    expected = compare_sets(generated, training, SMALL_SPEC, memorization_threshold=0.1)
    assert expected["memorization"]["exact_share"] == pytest.approx(2 / 23)
    options = {"memorization_threshold": 0.1, "chunk_size": chunk_size}
    for a, b in ((packed(generated), packed(training)), (generated, packed(training))):
        result = compare_sets(a, b, SMALL_SPEC, **options)
        assert json.dumps(result, sort_keys=True) == json.dumps(expected, sort_keys=True)
    arrays = memorization(generated, training, threshold=0.1)
    datasets = memorization(
        packed(generated), packed(training), threshold=0.1, chunk_size=chunk_size
    )
    assert arrays["nearest_index"][[3, 5]].tolist() == [7, 7]  # the first of the tied phrases
    for key, value in arrays.items():
        np.testing.assert_array_equal(datasets[key], value, err_msg=key)


def test_a_split_dataset_compares_as_its_parts_arrays():
    train, validation = packed(small_set(40, 12)).split(0.3, seed=0)
    expected = compare_sets(
        validation.phrases_at(slice(None)),
        train.phrases_at(slice(None)),
        SMALL_SPEC,
        memorization_threshold=0.05,
    )
    result = compare_sets(validation, train, SMALL_SPEC, memorization_threshold=0.05, chunk_size=3)
    assert result == expected


def record_unpacked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, the number of rows of every unpack of a dataset, in a list."""
    unpacked: list[int] = []
    unpack_rows = dataset.unpack_rows

    def spy(rows: np.ndarray, spec: PhraseSpec) -> np.ndarray:
        unpacked.append(len(rows))
        return unpack_rows(rows, spec)

    monkeypatch.setattr(dataset, "unpack_rows", spy)
    return unpacked


def test_datasets_are_unpacked_a_chunk_at_a_time(monkeypatch):
    unpacked = record_unpacked(monkeypatch)
    generated, training = packed(small_set(30, 13)), packed(small_set(50, 14))
    compare_sets(generated, training, SMALL_SPEC, memorization_threshold=0.05, chunk_size=4)
    assert max(unpacked) <= 4
    # Metrics read each set once; the copy search reads the reference once and the generated
    # set again for every reference chunk.
    assert sum(unpacked) == 30 + 50 + 50 + 30 * -(-50 // 4)


def test_a_dataset_of_another_shape_is_refused():
    longer = SMALL_SPEC.with_bars(3)
    other = Dataset.from_phrases(np.zeros((2, *longer.shape), bool), np.zeros(2), ["x"], longer)
    with pytest.raises(ValueError, match="set b"):
        compare_sets(small_set(3, 8), other, SMALL_SPEC)
    with pytest.raises(ValueError, match="shape"):
        memorization(small_set(3, 8)[:, :1], packed(small_set(3, 9)))
    with pytest.raises(ValueError, match="chunk_size"):
        memorization(small_set(3, 8), packed(small_set(3, 9)), chunk_size=0)


# --------------------------------------------------------------------------------------------
# Agreement with muspy on real chorale phrases
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chorale_phrases() -> tuple[np.ndarray, PhraseSpec]:
    """About 20 phrases of three Bach chorales, on the chorale spec of conf/data."""
    from pianoroll.phrases import cut_phrases
    from pianoroll.sources import BachChorales

    spec = PhraseSpec()  # the bach_chorales spec: 4 bars of 16 steps, MIDI 24-107, SATB
    source = BachChorales(limit=3)
    parts = [
        cut_phrases(source.load_song(key, spec), spec, hop_bars=2, min_notes=8).phrases
        for key in source.song_keys()
    ]
    phrases = np.concatenate(parts)[:20]
    assert len(phrases) >= 10
    return phrases, spec


@pytest.mark.filterwarnings("ignore::UserWarning")  # muspy's own import-time notices
def test_metrics_agree_with_muspy_on_chorales(chorale_phrases):
    """pianoroll.metrics against muspy 0.5, for the definitions that agree.

    Compared (one muspy Music per phrase and track, built from the track's roll):

    - used_pitches == muspy.n_pitches_used.
    - pitch_range == muspy.pitch_range where the track sounds (muspy gives 0 for no note, we
      give NaN).
    - notes_per_bar * bars == the number of muspy notes, and mean_note_length == the mean
      muspy note duration: muspy's pianoroll decoder also makes a note of every maximal run
      of one pitch.
    - used_pitch_classes (mean over non-empty bars of the pitch classes of the bar) == the mean
      of muspy.n_pitch_classes_used over one Music per non-empty bar (muspy counts the whole
      piece, so it is applied bar by bar).
    - polyphony_rate: muspy.polyphony_rate(threshold=1) counts steps with more than one pitch
      over the steps up to the end of the last note; ours divides by the active steps, so
      ours * active steps / end time == muspy's.
    - pitch_class_entropy and in_scale_rate: muspy weights pitch classes by notes, we weight
      them by active steps; on a Music with one 1-step note per active cell, the weights
      agree and muspy.pitch_class_entropy / muspy.scale_consistency (best of 24 major and
      natural minor keys, like ours) must equal ours.

    Not compared: muspy.empty_measure_rate / empty_beat_rate count a note ending exactly on a
    bar line (note.end is exclusive) as sounding in the next bar and count one bar more than
    the piece has when it ends on a bar line, so they disagree with the definition (and with
    our empty_bar_rate) on correct input; muspy has no qualified-note, onset-polyphony,
    3-gram or tonal-distance metric, and chorales have no drums for drum_in_pattern_rate.
    """
    muspy = pytest.importorskip("muspy", reason="muspy is not installed (pip install muspy)")
    phrases, spec = chorale_phrases
    values = compute_all(
        phrases,
        lowest_pitch=spec.lowest_pitch,
        steps_per_beat=spec.steps_per_beat,
        beats_per_bar=spec.beats_per_bar,
        drum_mask=spec.drum_mask,
        track_names=spec.track_names,
    )
    low, high = spec.lowest_pitch, spec.lowest_pitch + spec.n_pitches

    def music(roll: np.ndarray):
        full = np.zeros((len(roll), 128), bool)
        full[:, low:high] = roll
        return muspy.from_pianoroll_representation(
            full, resolution=spec.steps_per_beat, encode_velocity=False
        )

    def cell_music(roll: np.ndarray):
        steps, pitches = np.nonzero(roll)
        notes = [
            muspy.Note(time=int(t), pitch=int(p) + low, duration=1, velocity=64)
            for t, p in zip(steps, pitches, strict=True)
        ]
        return muspy.Music(resolution=spec.steps_per_beat, tracks=[muspy.Track(notes=notes)])

    checked = 0
    for i, phrase in enumerate(phrases):
        for k, name in enumerate(spec.track_names):
            roll = phrase[..., k].reshape(-1, spec.n_pitches)  # (time, pitches)
            if not roll.any():
                continue
            checked += 1
            m = music(roll)
            notes = m.tracks[0].notes

            def ours(metric, i=i, name=name):
                return values[f"{metric}/{name}"][i]

            assert ours("used_pitches") == muspy.n_pitches_used(m)
            assert ours("pitch_range") == muspy.pitch_range(m)
            assert ours("notes_per_bar") * spec.n_bars == len(notes)
            assert ours("mean_note_length") == pytest.approx(np.mean([n.duration for n in notes]))
            bars = phrase[..., k]  # (bars, steps, pitches)
            per_bar = [muspy.n_pitch_classes_used(music(bar)) for bar in bars if bar.any()]
            assert ours("used_pitch_classes") == pytest.approx(np.mean(per_bar))
            active_steps = roll.any(axis=1).sum()
            assert ours("polyphony_rate") * active_steps / m.get_end_time() == pytest.approx(
                muspy.polyphony_rate(m, threshold=1)
            )
            cells = cell_music(roll)
            assert ours("pitch_class_entropy") == pytest.approx(muspy.pitch_class_entropy(cells))
            assert ours("in_scale_rate") == pytest.approx(muspy.scale_consistency(cells))
    assert checked >= 40
