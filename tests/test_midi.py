"""MIDI in and out: files on the beat grid (``MidiDirectory``/``read_midi``) and back to MIDI."""

import numpy as np
import pretty_midi
import pypianoroll
import pytest
from conftest import cells, note_cells

from pianoroll.errors import DataError
from pianoroll.midi import roll_to_midi, roll_to_notes, write_midi
from pianoroll.output import write_piece
from pianoroll.phrases import cut_phrases
from pianoroll.sources import MidiDirectory
from pianoroll.spec import PhraseSpec

DRUMS, PIANO, GUITAR, BASS, STRINGS = range(5)


def test_instruments_land_on_their_steps_pitches_and_lpd5_tracks(tmp_path, make_midi, lpd5_spec):
    make_midi(
        tmp_path / "song.mid",
        tempo=120,
        time_signature=(4, 4),
        instruments=[
            dict(program=0, notes=[(0, 1, 60)]),  # acoustic piano
            dict(program=25, notes=[(1, 2, 64), (5 + 1 / 3, 5 + 2 / 3, 65)]),  # steel guitar
            dict(program=33, notes=[(2, 4, 40)]),  # finger bass
            dict(program=0, is_drum=True, notes=[(0, 0.25, 36), (3.5, 3.75, 42)]),
            dict(program=60, notes=[(4, 5, 67)]),  # French horn: Strings under LPD-5
            dict(program=5, notes=[(4.5, 5, 72)]),  # electric piano: Piano
        ],
    )
    song = MidiDirectory(str(tmp_path)).load_song(str(tmp_path / "song.mid"), lpd5_spec)
    # 12 steps a beat: beat b is step 12 b; a triplet eighth is 4 steps.
    expected = (
        note_cells(0, 12, 60, PIANO)
        | note_cells(12, 24, 64, GUITAR)
        | note_cells(64, 68, 65, GUITAR)
        | note_cells(24, 48, 40, BASS)
        | note_cells(0, 3, 36, DRUMS)
        | note_cells(42, 45, 42, DRUMS)
        | note_cells(48, 60, 67, STRINGS)
        | note_cells(54, 60, 72, PIANO)
    )
    assert cells(song.roll) == expected
    assert song.roll.shape[1:] == (128, 5)
    assert song.roll.dtype == bool
    assert song.first_downbeat == 0
    assert song.name == "song.mid"


def test_tempo_changes_keep_beats_on_the_grid(tmp_path, make_midi, lpd5_spec):
    # 120 bpm for a bar, 60 bpm for the next, then 180 bpm: beats last 0.5 s, 1 s, 1/3 s.
    path = make_midi(
        tmp_path / "tempo.mid",
        notes=[(0, 0.5, 60), (3.5, 4, 61), (6, 6.5, 62), (9.25, 9.75, 63)],
        tempo=[(0, 120), (4, 60), (8, 180)],
    )
    midi = pretty_midi.PrettyMIDI(str(path))
    times, tempi = midi.get_tempo_changes()
    np.testing.assert_allclose(tempi, [120, 60, 180], rtol=1e-5)  # whole microseconds a beat
    np.testing.assert_allclose(times, [0, 2, 6])
    starts = [n.start for n in midi.instruments[0].notes]
    np.testing.assert_allclose(starts, [0, 1.75, 4, 6 + 1.25 / 3])

    song = MidiDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    expected = set()
    for beat, pitch in [(0, 60), (3.5, 61), (6, 62), (9.25, 63)]:
        expected |= note_cells(round(beat * 12), round(beat * 12) + 6, pitch, PIANO)
    assert cells(song.roll) == expected


def test_pickup_before_the_first_downbeat_ends_the_padded_first_bar(tmp_path, make_midi, lpd5_spec):
    # A 4/4 time signature from beat 1: beat 0 is a one-beat pickup. Then 8 bars of quarters.
    notes = [(0, 1, 55)] + [(1 + b, 2 + b, 60 + b) for b in range(32)]
    path = make_midi(tmp_path / "pickup.mid", notes, time_signature=[(1, 4, 4)])
    song = MidiDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    assert song.first_downbeat == 12

    cut = cut_phrases(song, lpd5_spec, hop_bars=4, min_notes=1)
    low = lpd5_spec.lowest_pitch
    first_bar = cut.phrases[0, 0, :, :, PIANO]  # (steps, pitches)
    # The pickup fills the last beat of the padded first bar, nothing comes before it.
    assert cells(first_bar[:, :, None]) == note_cells(36, 48, 55 - low, 0)
    # The phrase's second bar starts on the downbeat with the first note after the pickup.
    second_bar = cut.phrases[0, 1, :, :, PIANO]
    assert np.flatnonzero(second_bar[0]).tolist() == [60 - low]
    assert np.flatnonzero(second_bar[12]).tolist() == [61 - low]
    # Padded pickup bar + 8 bars = 9 bars: phrases at bars 0 and 4.
    assert len(cut.phrases) == 2
    # The second phrase starts 4 bars later, on the 13th beat after the pickup.
    assert np.flatnonzero(cut.phrases[1, 0, 0, :, PIANO]).tolist() == [72 - low]


def test_a_file_without_time_signature_starts_on_a_downbeat(tmp_path, make_midi, lpd5_spec):
    path = make_midi(tmp_path / "plain.mid", [(1, 2, 60)], time_signature=None)
    song = MidiDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    assert song.first_downbeat == 0
    assert cells(song.roll) == note_cells(12, 24, 60, PIANO)


@pytest.mark.parametrize(
    ("signature", "text"), [((3, 4), "3/4"), ([(0, 3, 4), (6, 6, 8)], "3/4, 6/8")]
)
def test_another_meter_is_refused(tmp_path, make_midi, lpd5_spec, signature, text):
    path = make_midi(tmp_path / "waltz.mid", [(0, 12, 60)], time_signature=signature)
    with pytest.raises(DataError, match=text) as info:
        MidiDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    assert info.value.reason == "other time signature"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "unreadable"),
        (b"MThd\x00\x00\x00\x06garbage", "unreadable"),
        (b"\x00" * 64, "unreadable"),
    ],
)
def test_unreadable_bytes_are_a_data_error(tmp_path, lpd5_spec, content, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        MidiDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    assert info.value.reason == reason
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_instruments_no_track_takes_are_dropped(tmp_path, make_midi, lpd5_spec):
    # Without a drum track in the families, a drums-only file has no notes.
    spec = PhraseSpec.from_tracks(lpd5_spec.tracks[1:], steps_per_beat=12)
    path = make_midi(tmp_path / "drums.mid", [(0, 1, 36)], is_drum=True)
    with pytest.raises(DataError) as info:
        MidiDirectory(str(tmp_path)).load_song(str(path), spec)
    assert info.value.reason == "no notes"


def test_roll_to_notes_splits_runs_at_onsets():
    roll = np.zeros((8, 3), bool)
    roll[0:6, 1] = True
    roll[2:4, 2] = True
    onsets = np.zeros_like(roll)
    onsets[3, 1] = True  # a repeated note restarts at step 3
    onsets[2, 2] = True  # an onset at the start of a run changes nothing
    assert sorted(zip(*(a.tolist() for a in roll_to_notes(roll)), strict=True)) == [
        (0, 6, 1),
        (2, 4, 2),
    ]
    assert sorted(zip(*(a.tolist() for a in roll_to_notes(roll, onsets)), strict=True)) == [
        (0, 3, 1),
        (2, 4, 2),
        (3, 6, 1),
    ]


@pytest.fixture
def phrase(lpd5_spec):
    """One LPD-5 phrase ``(4, 48, 84, 5)`` with a few notes per track."""
    roll = np.zeros(lpd5_spec.shape, bool)
    low = lpd5_spec.lowest_pitch
    roll[0, 0:3, 36 - low, DRUMS] = True
    roll[1, 24:27, 42 - low, DRUMS] = True
    roll[0, 0:24, [60 - low, 64 - low, 67 - low], PIANO] = True  # a chord
    roll[2, 12:48, 52 - low, GUITAR] = True
    roll[3, 0:48, 28 - low, BASS] = True
    roll[3, 47, 107 - low, STRINGS] = True  # the top of the range, the last step
    return roll


def test_write_midi_round_trip(tmp_path, phrase, lpd5_spec):
    path = tmp_path / "out" / "phrase.mid"
    write_midi(path, phrase, lpd5_spec, tempo=90.0)
    assert [p.name for p in path.parent.iterdir()] == ["phrase.mid"]  # no temporary left
    midi = pretty_midi.PrettyMIDI(str(path))

    assert [(i.name, i.program, i.is_drum) for i in midi.instruments] == [
        ("Drums", 0, True),
        ("Piano", 0, False),
        ("Guitar", 24, False),
        ("Bass", 32, False),
        ("Strings", 48, False),
    ]
    times, tempi = midi.get_tempo_changes()
    np.testing.assert_allclose(tempi, [90.0], rtol=1e-5)
    assert times.tolist() == [0.0]
    signatures = [(t.numerator, t.denominator, t.time) for t in midi.time_signature_changes]
    assert signatures == [(4, 4, 0.0)]

    step = 60.0 / 90.0 / 12  # seconds per step
    bar = 48 * step
    low = lpd5_spec.lowest_pitch
    expected = {
        "Drums": [(0, 3 * step, 36), (bar + 24 * step, bar + 27 * step, 42)],
        "Piano": [(0, 24 * step, 60), (0, 24 * step, 64), (0, 24 * step, 67)],
        "Guitar": [(2 * bar + 12 * step, 3 * bar, 52)],
        "Bass": [(3 * bar, 4 * bar, 28)],
        "Strings": [(3 * bar + 47 * step, 4 * bar, 107)],
    }
    for instrument in midi.instruments:
        notes = sorted((n.start, n.end, n.pitch) for n in instrument.notes)
        want = sorted(expected[instrument.name])
        assert [n[2] for n in notes] == [w[2] for w in want], instrument.name
        np.testing.assert_allclose([n[:2] for n in notes], [w[:2] for w in want], atol=2e-3)
    # Every pitch written is a pianoroll pitch index plus the lowest pitch.
    n_cells = sum(len(v) for v in expected.values())
    assert sum(len(i.notes) for i in midi.instruments) == n_cells

    # And read back onto the grid, the file is the same pianoroll.
    song = MidiDirectory(str(path.parent)).load_song(str(path), lpd5_spec)
    grid = np.zeros((4 * 48, 128, 5), bool)
    n = min(len(song.roll), len(grid))
    grid[:n] = song.roll[:n]
    assert not song.roll[n:].any()
    np.testing.assert_array_equal(grid[:, low : low + 84], phrase.reshape(-1, 84, 5))


def test_onsets_split_a_repeated_note(tmp_path, lpd5_spec):
    roll = np.zeros(lpd5_spec.shape, bool)
    roll[0, 0:24, 36, PIANO] = True  # MIDI 60 held for two beats
    onsets = np.zeros_like(roll)
    onsets[0, 0, 36, PIANO] = True
    onsets[0, 12, 36, PIANO] = True  # struck again on beat 2
    piano = lpd5_spec.track_index("Piano")

    held = roll_to_midi(roll, lpd5_spec, tempo=120.0).instruments[piano].notes
    assert [(n.pitch, round(n.start, 6), round(n.end, 6)) for n in held] == [(60, 0.0, 1.0)]

    write_midi(tmp_path / "repeat.mid", roll, lpd5_spec, tempo=120.0, onsets=onsets)
    # pretty_midi reads only the instruments that have notes.
    (instrument,) = pretty_midi.PrettyMIDI(str(tmp_path / "repeat.mid")).instruments
    assert (instrument.name, instrument.program) == ("Piano", 0)
    notes = instrument.notes
    assert [(n.pitch, round(n.start, 6), round(n.end, 6)) for n in notes] == [
        (60, 0.0, 0.5),
        (60, 0.5, 1.0),
    ]


def test_roll_to_midi_accepts_a_flat_roll_and_checks_its_shape(lpd5_spec):
    flat = np.zeros((96, 84, 5), bool)
    flat[50, 0, STRINGS] = True
    midi = roll_to_midi(flat, lpd5_spec, tempo=120.0)
    assert [(n.pitch, n.start) for n in midi.instruments[STRINGS].notes] == [
        (24, pytest.approx(50 / 24))
    ]
    with pytest.raises(ValueError, match="pitches x tracks"):
        roll_to_midi(np.zeros((96, 128, 5), bool), lpd5_spec)


def test_write_piece_writes_a_pypianoroll_npz_with_drums_programs_and_the_roll(
    tmp_path, phrase, lpd5_spec
):
    files = write_piece(tmp_path, "piece", phrase, lpd5_spec, tempo=90.0)
    multitrack = pypianoroll.load(files["npz"])
    assert [(t.name, t.program, t.is_drum) for t in multitrack.tracks] == [
        (t.name, t.program, t.is_drum) for t in lpd5_spec.tracks
    ]
    assert multitrack.resolution == 12 and np.allclose(multitrack.tempo, 90.0)
    assert np.flatnonzero(multitrack.downbeat).tolist() == [0, 48, 96, 144]
    low = lpd5_spec.lowest_pitch
    for k, track in enumerate(multitrack.tracks):
        full = np.zeros((4 * 48, 128), bool)
        full[:, low : low + 84] = phrase[..., k].reshape(4 * 48, 84)
        assert np.array_equal(track.pianoroll > 0, full), track.name
    midi = pretty_midi.PrettyMIDI(str(files["mid"]))
    assert [i.is_drum for i in midi.instruments] == [True, False, False, False, False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piece.mid", "piece.npz", "piece.png"]
