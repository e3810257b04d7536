"""The ``tf.data`` phrase stream: values, shuffling by epoch, resuming, seeds, transposition."""

import numpy as np
import pytest
import tensorflow as tf

from pianoroll.dataset import Dataset
from pianoroll.pipeline import batch_stream, transpose_phrase
from pianoroll.spec import PhraseSpec, Track

# (bars, steps, pitches, tracks): 2 bars of 4 steps, 12 pitches, a pitched track and a drum track.
SHAPE = (2, 4, 12, 2)
PITCHED, DRUMS = 0, 1
DRUM_MASK = [False, True]
ID_BITS = 6


def make_phrases(pitched_notes):
    """One phrase per entry of ``pitched_notes`` (a list of (bar, step, pitch) cells).

    Each phrase's drum track holds its index in binary at pitch 0 (bit ``b`` on bar ``b // 4``,
    step ``b % 4``), plus drum notes at the lowest and highest pitch on bar 1, step 3: drums
    that transposition must never move, and an id to tell the phrases apart after shuffling.
    """
    phrases = np.zeros((len(pitched_notes), *SHAPE), bool)
    for i, cells in enumerate(pitched_notes):
        for bit in range(ID_BITS):
            phrases[i, bit // 4, bit % 4, 0, DRUMS] = bool((i >> bit) & 1)
        phrases[i, 1, 3, [0, 11], DRUMS] = True
        for bar, step, pitch in cells:
            phrases[i, bar, step, pitch, PITCHED] = True
    return phrases


def phrase_id(element: np.ndarray) -> int:
    bits = [element[b // 4, b % 4, 0, DRUMS] > 0 for b in range(ID_BITS)]
    return sum(int(bit) << b for b, bit in enumerate(bits))


def take(stream, n_batches: int) -> np.ndarray:
    return np.stack(list(stream.take(n_batches).as_numpy_iterator()))


def elements(batches: np.ndarray) -> np.ndarray:
    return batches.reshape(-1, *batches.shape[2:])


@pytest.fixture(scope="module")
def ten():
    """Ten distinct phrases, a few pitched notes each in the middle of the range."""
    return make_phrases([[(0, 0, 4 + i % 3), (1, 2, 6)] for i in range(10)])


def test_batches_are_float32_in_minus_one_one_with_the_phrases(ten):
    batches = take(batch_stream(ten, batch_size=4, seed=0), 2)
    assert batches.dtype == np.float32
    assert batches.shape == (2, 4, *SHAPE)
    assert set(np.unique(batches).tolist()) == {-1.0, 1.0}
    for element in elements(batches):
        np.testing.assert_array_equal(element, ten[phrase_id(element)] * 2.0 - 1.0)


def test_an_epoch_covers_every_phrase_exactly_once(ten):
    # 10 phrases in batches of 4: epoch 0 is elements 0-9, epoch 1 elements 10-19.
    ids = [phrase_id(e) for e in elements(take(batch_stream(ten, batch_size=4, seed=5), 5))]
    assert sorted(ids[:10]) == list(range(10))
    assert sorted(ids[10:]) == list(range(10))
    assert ids[:10] != list(range(10))  # shuffled
    assert ids[:10] != ids[10:]  # reshuffled each epoch


def test_resuming_at_a_batch_reproduces_the_uninterrupted_stream(ten):
    whole = take(batch_stream(ten, 3, seed=1, max_shift=2, drum_mask=DRUM_MASK), 8)
    resumed = take(batch_stream(ten, 3, seed=1, start_batch=5, max_shift=2, drum_mask=DRUM_MASK), 3)
    np.testing.assert_array_equal(resumed, whole[5:8])


def test_the_seed_decides_the_stream(ten):
    first = take(batch_stream(ten, 5, seed=7, max_shift=1, drum_mask=DRUM_MASK), 4)
    again = take(batch_stream(ten, 5, seed=7, max_shift=1, drum_mask=DRUM_MASK), 4)
    other = take(batch_stream(ten, 5, seed=8, max_shift=1, drum_mask=DRUM_MASK), 4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def shift_of(original: np.ndarray, moved: np.ndarray) -> int:
    """The pitch shift that turns ``original``'s pitched track into ``moved``'s (no wrapping)."""
    notes = np.argwhere(original[..., PITCHED])
    found = np.argwhere(moved[..., PITCHED])
    assert len(found) == len(notes), "a note was lost or added"
    if not len(notes):
        return 0
    shifts = found[:, 2] - notes[:, 2]
    assert (shifts == shifts[0]).all(), "notes moved by different amounts (wrapped around?)"
    np.testing.assert_array_equal(found[:, :2], notes[:, :2])
    return int(shifts[0])


def test_transposition_keeps_notes_in_range_and_drums_in_place():
    top, bottom = 11, 0
    phrases = make_phrases(
        [
            [(0, 0, top), (0, 1, 7), (1, 2, top)],  # 0: may only move down
            [(0, 0, bottom), (1, 3, 3)],  # 1: may only move up
            [(0, 1, 5), (1, 0, 6)],  # 2: may move both ways
            [(0, 0, bottom), (1, 1, top)],  # 3: spans the range: may not move
            [],  # 4: no pitched note
        ]
    )
    max_shift = 3
    batches = take(batch_stream(phrases, 5, seed=2, max_shift=max_shift, drum_mask=DRUM_MASK), 24)
    shifts = {i: [] for i in range(len(phrases))}
    for element in elements(batches) > 0:
        i = phrase_id(element)
        np.testing.assert_array_equal(element[..., DRUMS], phrases[i][..., DRUMS])
        shifts[i].append(shift_of(phrases[i], element))
    assert all(len(s) == 24 for s in shifts.values())
    assert all(-max_shift <= s <= max_shift for v in shifts.values() for s in v)
    assert max(shifts[0]) == 0 and min(shifts[0]) < 0
    assert min(shifts[1]) == 0 and max(shifts[1]) > 0
    assert min(shifts[2]) < 0 < max(shifts[2])
    assert set(shifts[2]) <= set(range(-3, 4))
    assert set(shifts[3]) == {0}
    assert set(shifts[4]) == {0}


def test_shifts_are_drawn_from_every_allowed_value():
    phrases = make_phrases([[(0, 0, 5)]])  # pitch 5 of 0..11: shifts -2..2 all allowed
    batches = take(batch_stream(phrases, 8, seed=0, max_shift=2, drum_mask=DRUM_MASK), 8)
    shifts = [shift_of(phrases[0], e) for e in elements(batches) > 0]
    assert set(shifts) == {-2, -1, 0, 1, 2}


def test_transposition_changes_some_batches_only_in_pitched_tracks(ten):
    plain = take(batch_stream(ten, 5, seed=4, drum_mask=DRUM_MASK), 4)
    moved = take(batch_stream(ten, 5, seed=4, max_shift=2, drum_mask=DRUM_MASK), 4)
    assert not np.array_equal(plain, moved)
    np.testing.assert_array_equal(plain[..., DRUMS], moved[..., DRUMS])
    # The same phrases in the same order: only the pitched notes moved.
    assert [phrase_id(e) for e in elements(plain)] == [phrase_id(e) for e in elements(moved)]
    np.testing.assert_array_equal((plain > 0).sum(axis=(2, 3, 4)), (moved > 0).sum(axis=(2, 3, 4)))


def test_without_a_drum_mask_every_track_is_transposed():
    phrases = np.zeros((1, *SHAPE), bool)
    phrases[0, 0, 0, 5, :] = True
    batches = take(batch_stream(phrases, 16, seed=3, max_shift=1), 1)[0] > 0
    moved = [np.flatnonzero(b[0, 0, :, t]).tolist() for b in batches for t in range(2)]
    assert all(len(m) == 1 for m in moved)
    # Both tracks move together (one shift a phrase), and not always by zero.
    pairs = {(a[0], b[0]) for a, b in zip(moved[::2], moved[1::2], strict=True)}
    assert all(a == b for a, b in pairs)
    assert len(pairs) > 1


def test_no_phrases_is_an_error():
    with pytest.raises(ValueError, match="no phrases"):
        batch_stream(np.zeros((0, *SHAPE), bool), 4, seed=0)


def reference_stream(phrases, batch_size, seed, start_batch=0, max_shift=0, drum_mask=None):
    """The stream as it was before the phrases stayed packed: one element at a time, each
    unpacked from a constant tensor of the whole set. Kept to show the batches are unchanged."""
    n, shape = len(phrases), phrases.shape[1:]
    drum_mask = list(drum_mask) if drum_mask is not None else [False] * shape[-1]
    packed = tf.constant(np.packbits(phrases.reshape(n, -1), axis=1))
    size = int(np.prod(shape))
    bit_shifts = tf.constant(np.arange(7, -1, -1, dtype=np.uint8))
    seed = tf.constant(seed, tf.int64)

    def element(index):
        epoch, position = index // n, index % n
        order = tf.random.experimental.index_shuffle(position, tf.stack([seed, epoch]), n - 1)
        bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(packed[order][:, None], bit_shifts), 1)
        phrase = tf.reshape(tf.cast(tf.reshape(bits, [-1])[:size], tf.bool), shape)
        if max_shift > 0:
            phrase = transpose_phrase(phrase, max_shift, drum_mask, tf.stack([seed, index]))
        return tf.cast(phrase, tf.float32) * 2.0 - 1.0

    first = start_batch * batch_size
    dataset = tf.data.Dataset.range(first, np.iinfo(np.int64).max).map(element)
    return dataset.batch(batch_size, drop_remainder=True)


@pytest.mark.parametrize(("start_batch", "max_shift"), [(0, 0), (0, 2), (7, 2)])
def test_batches_equal_the_unpacked_stream_for_the_same_seed(start_batch, max_shift):
    rng = np.random.default_rng(0)
    phrases = rng.random((13, *SHAPE)) < 0.1  # 13: batches straddle the epochs
    args = dict(seed=3, start_batch=start_batch, max_shift=max_shift, drum_mask=DRUM_MASK)
    packed = take(batch_stream(phrases, 4, **args), 9)
    np.testing.assert_array_equal(packed, take(reference_stream(phrases, 4, **args), 9))


def test_a_dataset_split_streams_its_own_phrases_from_the_shared_rows():
    rng = np.random.default_rng(1)
    phrases = rng.random((12, *SHAPE)) < 0.2
    tracks = (Track("Lead"), Track("Kit", 0, True))
    spec = PhraseSpec(n_bars=2, steps_per_beat=1, n_pitches=12, lowest_pitch=60, tracks=tracks)
    dataset = Dataset.from_phrases(phrases, np.arange(12) // 2, [f"s{k}" for k in range(6)], spec)
    train, _ = dataset.split(0.3, seed=0)
    assert train.packed is dataset.packed
    streamed = take(batch_stream(train, 4, seed=2, start_batch=1, max_shift=1), 5)
    expected = take(reference_stream(phrases[train.rows], 4, 2, 1, 1, spec.drum_mask), 5)
    np.testing.assert_array_equal(streamed, expected)
