"""Data sources: LPD-format ``.npz`` files, music21's Bach chorales, file trees, track families."""

import os

import numpy as np
import pytest
from conftest import cells, note_cells

from pianoroll.errors import DataError
from pianoroll.sources import (
    LPD5_FAMILIES,
    BachChorales,
    LPDDirectory,
    MidiDirectory,
    TrackFamilies,
)
from pianoroll.spec import PhraseSpec

DRUMS, PIANO, GUITAR, BASS, STRINGS = range(5)


# ---------------------------------------------------------------------------------------------
# LPD (.npz written with pypianoroll, 24 ticks a beat) resampled to 12 steps a beat


def test_lpd_tracks_by_name_land_on_the_grid(tmp_path, make_lpd_npz, lpd5_spec):
    path = make_lpd_npz(
        tmp_path / "song.npz",
        [
            dict(name="Drums", is_drum=True, notes=[(0, 6, 36), (48, 50, 42)]),
            dict(name="Piano", program=0, notes=[(0, 24, 60), (0, 24, 64)]),
            dict(name="Guitar", program=24, notes=[(24, 48, 64)]),
            dict(name="Bass", program=32, notes=[(48, 96, 40)]),
            dict(name="Strings", program=48, notes=[(96, 120, 67), (380, 384, 96)]),
        ],
        n_steps=384,
    )
    song = LPDDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    assert cells(song.roll) == (
        note_cells(0, 3, 36, DRUMS)
        | note_cells(24, 25, 42, DRUMS)
        | note_cells(0, 12, 60, PIANO)
        | note_cells(0, 12, 64, PIANO)
        | note_cells(12, 24, 64, GUITAR)
        | note_cells(24, 48, 40, BASS)
        | note_cells(48, 60, 67, STRINGS)
        | note_cells(190, 192, 96, STRINGS)
    )
    assert song.roll.dtype == bool
    assert song.roll.shape[1:] == (128, 5)
    assert song.first_downbeat == 0
    assert song.name == "song.npz"


def test_lpd_other_track_names_merge_by_program(tmp_path, make_lpd_npz, lpd5_spec):
    path = make_lpd_npz(
        tmp_path / "other.npz",
        [
            dict(name="Kit", is_drum=True, program=0, notes=[(0, 2, 38)]),
            dict(name="Nylon Gtr", program=24, notes=[(0, 24, 52)]),
            dict(name="Fretless", program=35, notes=[(24, 48, 33)]),
            dict(name="Lead", program=81, notes=[(48, 72, 79)]),  # synth lead: Strings
            dict(name="Horn", program=60, notes=[(72, 96, 65)]),  # brass: Strings
            dict(name="E.Piano", program=4, notes=[(96, 120, 70)]),
            dict(name="PIANO", program=40, notes=[(120, 144, 71)]),  # the name wins
        ],
        n_steps=192,
    )
    song = LPDDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    assert cells(song.roll) == (
        note_cells(0, 1, 38, DRUMS)
        | note_cells(0, 12, 52, GUITAR)
        | note_cells(12, 24, 33, BASS)
        | note_cells(24, 36, 79, STRINGS)
        | note_cells(36, 48, 65, STRINGS)
        | note_cells(48, 60, 70, PIANO)
        | note_cells(60, 72, 71, PIANO)
    )

    # Families can be narrowed: with only a piano family, the others are dropped.
    narrow = LPDDirectory(str(tmp_path), families={"Piano": [[0, 7]]})
    assert cells(narrow.load_song(str(path), lpd5_spec).roll) == (
        note_cells(0, 1, 38, DRUMS) | note_cells(48, 60, 70, PIANO) | note_cells(60, 72, 71, PIANO)
    )


def test_lpd_downbeats_give_the_pickup(tmp_path, make_lpd_npz, lpd5_spec):
    notes = [dict(name="Piano", notes=[(0, 24, 60), (24, 48, 62)])]
    with_pickup = make_lpd_npz(tmp_path / "pickup.npz", notes, n_steps=480, first_downbeat=24)
    without = make_lpd_npz(tmp_path / "none.npz", notes, n_steps=480, first_downbeat=None)
    source = LPDDirectory(str(tmp_path))
    assert source.load_song(str(with_pickup), lpd5_spec).first_downbeat == 12
    assert source.load_song(str(without), lpd5_spec).first_downbeat == 0


def test_lpd_wrong_track_shape_is_refused(tmp_path, lpd5_spec):
    import pypianoroll

    track = pypianoroll.BinaryTrack(name="Piano", pianoroll=np.ones((96, 64), bool))
    path = tmp_path / "narrow.npz"
    pypianoroll.save(str(path), pypianoroll.Multitrack(resolution=24, tracks=[track]))
    with pytest.raises(DataError, match=r"\(96, 64\)") as info:
        LPDDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    assert info.value.reason == "wrong shape"


@pytest.mark.parametrize("key", ["resolution", "name"])
def test_lpd_info_json_without_a_key_is_unreadable(
    tmp_path, make_lpd_npz, rewrite_npz_info, lpd5_spec, key
):
    path = make_lpd_npz(tmp_path / "song.npz", [dict(name="Piano", notes=[(0, 24, 60)])], 96)
    rewrite_npz_info(path, lambda info: info.pop(key))
    with pytest.raises(DataError, match=r"not a pypianoroll \.npz file") as info:
        LPDDirectory(str(tmp_path)).load_song(str(path), lpd5_spec)
    assert info.value.reason == "unreadable"
    assert "\n" not in str(info.value)


def test_lpd_pickles_are_never_loaded(tmp_path, make_pickle_npz, lpd5_spec):
    # The booby trap works: unpickling it does create the directory.
    probe = tmp_path / "probe"
    write_pickle = make_pickle_npz
    with np.load(write_pickle(tmp_path / "probe.npz", probe), allow_pickle=True) as data:
        data["pianoroll_0_csc_data"]
    assert probe.is_dir()

    songs = tmp_path / "songs"
    songs.mkdir()
    sentinel = tmp_path / "unpickled"
    write_pickle(songs / "trap.npz", sentinel)
    with pytest.raises(DataError) as info:
        LPDDirectory(str(songs)).load_song(str(songs / "trap.npz"), lpd5_spec)
    assert info.value.reason == "unreadable"
    assert not sentinel.exists()


def test_lpd_not_a_zip_and_no_notes(tmp_path, make_lpd_npz, lpd5_spec):
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(DataError) as info:
        LPDDirectory(str(tmp_path)).load_song(str(tmp_path / "text.npz"), lpd5_spec)
    assert info.value.reason == "unreadable"

    silent = make_lpd_npz(tmp_path / "silent.npz", [dict(name="Piano", notes=[])], 96)
    with pytest.raises(DataError) as info:
        LPDDirectory(str(tmp_path)).load_song(str(silent), lpd5_spec)
    assert info.value.reason == "no notes"


# ---------------------------------------------------------------------------------------------
# File trees


def test_song_keys_walk_the_tree_and_keep_only_the_suffixes(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ["z.mid", "a/y.MIDI", "a/b/x.Mid", "a/notes.txt", "a/b/song.npz"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "dir.mid").mkdir()  # a directory named like a song is no song
    assert MidiDirectory(str(tmp_path)).song_keys() == sorted(
        str(tmp_path / n) for n in ["z.mid", "a/y.MIDI", "a/b/x.Mid"]
    )
    assert LPDDirectory(str(tmp_path)).song_keys() == [str(tmp_path / "a/b/song.npz")]


def test_song_keys_of_a_missing_or_empty_directory(tmp_path):
    with pytest.raises(DataError, match="no such directory") as info:
        MidiDirectory(str(tmp_path / "nope")).song_keys()
    assert info.value.reason == "config"
    (tmp_path / "file.mid").write_bytes(b"")
    with pytest.raises(DataError, match="not a directory"):
        MidiDirectory(str(tmp_path / "file.mid")).song_keys()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.mid/\.midi files"):
        MidiDirectory(str(tmp_path / "empty")).song_keys()


# ---------------------------------------------------------------------------------------------
# Track families


def test_track_families_follow_the_lpd5_rules(lpd5_spec):
    assign = TrackFamilies(lpd5_spec, LPD5_FAMILIES)
    assert [assign(p, False) for p in (0, 7, 8, 24, 31, 32, 39, 40, 48, 60, 127)] == [
        PIANO,
        PIANO,
        STRINGS,
        GUITAR,
        GUITAR,
        BASS,
        BASS,
        STRINGS,
        STRINGS,
        STRINGS,
        STRINGS,
    ]
    assert assign(0, True) == assign(100, True) == DRUMS


def test_track_families_drop_what_no_track_takes(lpd5_spec):
    no_drums = PhraseSpec.from_tracks(lpd5_spec.tracks[1:], steps_per_beat=12)
    assign = TrackFamilies(no_drums, {"Piano": [[0, 7]]})
    assert assign(3, False) == 0
    assert assign(40, False) is None
    assert assign(0, True) is None


def test_track_families_naming_an_unknown_track_is_a_config_error(lpd5_spec):
    with pytest.raises(DataError, match="Organ") as info:
        TrackFamilies(lpd5_spec, {"Organ": [[16, 23]]})
    assert info.value.reason == "config"


# ---------------------------------------------------------------------------------------------
# Bach chorales (music21's bundled corpus; a handful of files only)


@pytest.fixture(scope="module")
def chorale_keys():
    return {os.path.basename(k): k for k in BachChorales().song_keys()}


def test_chorales_load_in_satb_order():
    spec = PhraseSpec()  # the chorale spec: 4 steps a beat, Soprano, Alto, Tenor, Bass
    source = BachChorales(limit=5)
    keys = source.song_keys()
    assert [os.path.basename(k) for k in keys] == [
        "bwv1.6.mxl",
        "bwv10.7.mxl",
        "bwv101.7.mxl",
        "bwv102.7.mxl",
        "bwv103.6.mxl",
    ]
    for key in keys:
        song = source.load_song(key, spec)
        assert song.roll.shape[1:] == (128, 4)
        assert song.name == os.path.basename(key)[: -len(".mxl")]
        means = [np.nonzero(song.roll[:, :, t])[1].mean() for t in range(4)]
        assert means == sorted(means, reverse=True), (key, means)
        assert all(song.roll[:, :, t].any() for t in range(4))
    # bwv1.6 starts with a one-beat pickup: its first downbeat is beat 1 (step 4).
    assert source.load_song(keys[0], spec).first_downbeat == 4


def test_a_chorale_in_three_four_is_refused(chorale_keys):
    with pytest.raises(DataError, match="3/4") as info:
        BachChorales().load_song(chorale_keys["bwv11.6.mxl"], PhraseSpec())
    assert info.value.reason == "other time signature"


def test_a_piece_with_unmappable_parts_is_refused(chorale_keys):
    with pytest.raises(DataError, match="cannot be mapped") as info:
        BachChorales().load_song(chorale_keys["bwv846.mxl"], PhraseSpec())
    assert info.value.reason == "parts not mappable"


def test_track_families_match_instrument_names_before_programs(lpd5_spec):
    assign = TrackFamilies(lpd5_spec, LPD5_FAMILIES)
    # Named like a track: that track, whatever the program or drum flag says.
    assert assign(0, False, "bass") == lpd5_spec.track_index("Bass")
    assert assign(33, True, " Guitar ") == lpd5_spec.track_index("Guitar")
    # Any other name falls back to the program rules.
    assert assign(33, False, "Fretless") == lpd5_spec.track_index("Bass")
    assert assign(0, True, "Kit") == lpd5_spec.track_index("Drums")
