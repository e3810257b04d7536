"""Cutting songs into phrases on downbeats (``pianoroll.phrases``)."""

import numpy as np
import pytest

from pianoroll.phrases import SongRoll, count_onsets, cut_phrases
from pianoroll.spec import PhraseSpec, Track

# 2 bars of 4 steps (1 step a beat), 12 pitches from MIDI 60, 2 tracks: tiny on purpose.
SPEC = PhraseSpec(
    n_bars=2,
    steps_per_beat=1,
    beats_per_bar=4,
    n_pitches=12,
    lowest_pitch=60,
    tracks=(Track("A"), Track("B")),
)


def marked_song(n_bars: int, notes_per_bar=None, first_downbeat: int = 0) -> SongRoll:
    """Bar ``b`` (from the first downbeat) starts with pitch index ``b`` in track 0, and holds
    ``notes_per_bar[b]`` notes in all (one-step notes on track 1 after the marker)."""
    steps = first_downbeat + n_bars * SPEC.steps_per_bar
    roll = np.zeros((steps, 128, 2), bool)
    for b in range(n_bars):
        start = first_downbeat + b * SPEC.steps_per_bar
        roll[start, SPEC.lowest_pitch + b, 0] = True
        extra = (notes_per_bar[b] if notes_per_bar is not None else 1) - 1
        for k in range(extra):  # one-step notes on steps 1..3 of the bar, each its own pitch
            roll[start + 1 + k % 3, SPEC.lowest_pitch + k, 1] = True
    return SongRoll("song", roll, first_downbeat)


def first_markers(phrases: np.ndarray) -> list[int]:
    """Pitch index of the marker at the first step of each phrase's first bar."""
    return [int(np.flatnonzero(p[0, 0, :, 0])[0]) for p in phrases]


@pytest.mark.parametrize(
    ("hop", "starts"), [(1, [0, 1, 2, 3, 4, 5, 6, 7, 8]), (2, [0, 2, 4, 6, 8]), (3, [0, 3, 6])]
)
def test_phrases_start_on_downbeats_every_hop_bars(hop, starts):
    cut = cut_phrases(marked_song(10), SPEC, hop_bars=hop, min_notes=0)
    assert cut.phrases.shape == (len(starts), *SPEC.shape)
    assert cut.phrases.dtype == bool
    assert first_markers(cut.phrases) == starts
    # The second bar of each phrase is the next bar of the song.
    assert [int(np.flatnonzero(p[1, 0, :, 0])[0]) for p in cut.phrases] == [s + 1 for s in starts]
    assert cut.phrases_too_sparse == 0
    assert cut.notes_out_of_range == 0


def test_incomplete_last_phrase_is_dropped():
    # 5 bars and 2-bar phrases with hop 2: bars 0-1 and 2-3; bar 4 alone is no phrase.
    roll = marked_song(5).roll
    song = SongRoll("song", np.concatenate([roll, np.ones((3, 128, 2), bool)]), 0)
    cut = cut_phrases(song, SPEC, hop_bars=2, min_notes=0)
    assert first_markers(cut.phrases) == [0, 2]


def test_song_shorter_than_a_phrase_gives_no_phrase():
    cut = cut_phrases(marked_song(1), SPEC, hop_bars=1, min_notes=0)
    assert cut.phrases.shape == (0, *SPEC.shape)
    assert cut.phrases_too_sparse == 0


def test_sparse_phrases_are_dropped_and_counted():
    # Notes per bar; phrases (hop 1) hold bars (0,1) (1,2) (2,3) (3,4) (4,5).
    per_bar = [1, 1, 5, 1, 0, 3]
    song = marked_song(6, per_bar)
    song.roll[4 * SPEC.steps_per_bar] = False  # bar 4 really empty (no marker)
    per_phrase = [2, 6, 6, 1, 3]
    cut = cut_phrases(song, SPEC, hop_bars=1, min_notes=3)
    assert len(cut.phrases) == 3
    assert first_markers(cut.phrases[:2]) == [1, 2]
    assert not cut.phrases[2, 0].any()  # the third kept phrase starts on the empty bar 4
    assert cut.phrases_too_sparse == sum(n < 3 for n in per_phrase) == 2
    kept = count_onsets(cut.phrases.reshape(len(cut.phrases), -1, 24))
    assert kept.tolist() == [6, 6, 3]


def test_notes_outside_the_pitch_range_are_counted_and_cut_off():
    song = marked_song(2)
    song.roll[0:3, SPEC.lowest_pitch - 1, 0] = True  # one held note below the range
    song.roll[5, SPEC.lowest_pitch + SPEC.n_pitches, 1] = True  # one above
    song.roll[7, 0, 1] = True  # and one at MIDI 0
    cut = cut_phrases(song, SPEC, hop_bars=1, min_notes=0)
    assert cut.notes_out_of_range == 3
    assert len(cut.phrases) == 1
    # Only the two markers are left, at pitch indices 0 and 1.
    assert np.argwhere(cut.phrases[0]).tolist() == [[0, 0, 0, 0], [1, 0, 1, 0]]


def test_pickup_sits_at_the_end_of_a_padded_first_bar():
    # A one-beat pickup (step 0), then bars whose first downbeat is step 1.
    song = marked_song(4, first_downbeat=1)
    song.roll[0, SPEC.lowest_pitch + 11, 1] = True
    cut = cut_phrases(song, SPEC, hop_bars=1, min_notes=0)
    first = cut.phrases[0]
    # The first phrase is the padded pickup bar, then song bar 0.
    assert np.argwhere(first[0]).tolist() == [[3, 11, 1]]
    assert int(np.flatnonzero(first[1, 0, :, 0])[0]) == 0
    # Later phrases start on the song's downbeats: bars 0, 1, 2.
    assert first_markers(cut.phrases[1:]) == [0, 1, 2]
    assert len(cut.phrases) == 4


def test_hop_bars_below_one_is_rejected():
    with pytest.raises(ValueError, match="hop_bars"):
        cut_phrases(marked_song(4), SPEC, hop_bars=0, min_notes=0)


def test_count_onsets_counts_note_starts_not_held_steps():
    roll = np.array([[1, 0], [1, 1], [0, 1], [1, 1]], bool)  # (time, cells)
    # Cell 0: onsets at steps 0 and 3; cell 1: one held note from step 1.
    assert int(count_onsets(roll)) == 3
    batch = np.stack([roll, np.zeros_like(roll), np.ones_like(roll)])
    assert count_onsets(batch).tolist() == [3, 0, 2]
