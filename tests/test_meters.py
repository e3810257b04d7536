"""Real MIDI collections: the meter policy, tolerant reading, and streaming, resumable
preparation. Every file here is written by the test with mido."""

import mido
import numpy as np
import pytest

from pianoroll.errors import DataError
from pianoroll.midi import meter_sections, read_midi
from pianoroll.prepare import cache_path, format_summary, prepare
from pianoroll.sources import MidiDirectory, TrackFamilies
from pianoroll.spec import LPD5_TRACKS, PhraseSpec

#: 4 steps a quarter note, 2-bar phrases: small enough to count phrases by hand.
SPEC = PhraseSpec(n_bars=2, steps_per_beat=4, n_pitches=84, lowest_pitch=24, tracks=LPD5_TRACKS)
PIANO = 1


def quarters(n, pitch=60):
    """A piano quarter note on every beat, ``n`` of them, pitches rising by one per beat mod 5."""
    return [(q, q + 1, pitch + q % 5) for q in range(n)]


def read(path, spec=SPEC, meters="multiples"):
    from pianoroll.sources import LPD5_FAMILIES

    return read_midi(path, spec, TrackFamilies(spec, LPD5_FAMILIES), meters)


def phrase_count(song, spec=SPEC):
    from pianoroll.phrases import cut_phrases

    return len(cut_phrases(song, spec, hop_bars=spec.n_bars, min_notes=1).phrases)


@pytest.mark.parametrize(
    ("signature", "meters", "phrases", "fates"),
    [
        ((2, 2), "multiples", 2, {"2/2 kept": 1}),  # 16 quarters: 4 bars of four quarters
        ((2, 2), "exact", None, {"2/2 other meter": 1}),
        ((2, 2), "same_length", 2, {"2/2 kept": 1}),
        ((4, 2), "multiples", 2, {"4/2 kept": 1}),  # 2 bars of 4/2: 4 bars of 4/4
        ((4, 2), "same_length", None, {"4/2 other meter": 1}),
        ((2, 4), "multiples", 2, {"2/4 kept": 1}),  # 8 bars of 2/4 paired into 4
        ((3, 4), "multiples", None, {"3/4 other meter": 1}),
    ],
)
def test_a_meter_is_kept_or_refused_by_the_policy(
    tmp_path, make_midi, signature, meters, phrases, fates
):
    path = make_midi(tmp_path / "song.mid", quarters(16), time_signature=signature)
    if phrases is None:
        with pytest.raises(DataError, match=f"{signature[0]}/{signature[1]}") as info:
            read(path, meters=meters)
        assert info.value.reason == "other time signature"
        assert info.value.report == {f"section {k}": v for k, v in fates.items()}
        return
    song = read(path, meters=meters)
    assert phrase_count(song) == phrases
    assert song.report == {f"section {k}": v for k, v in fates.items()}


def test_a_pickup_bar_of_one_quarter_leads_into_the_first_bar(tmp_path, make_midi):
    # A 1/4 bar with the pickup note, then 16 quarters of 4/4.
    notes = [(0, 1, 55), *[(1 + s, 2 + s, p) for s, _, p in quarters(16)]]
    path = make_midi(tmp_path / "pickup.mid", notes, time_signature=[(0, 1, 4), (1, 4, 4)])
    song = read(path)
    assert song.first_downbeat == 4
    assert song.report == {"section 1/4 pickup": 1, "section 4/4 kept": 1}
    from pianoroll.phrases import cut_phrases

    cut = cut_phrases(song, SPEC, hop_bars=1, min_notes=1)
    # The first phrase starts on the padded bar holding the pickup at its last quarter.
    assert np.flatnonzero(cut.phrases[0, 0, 12, :, PIANO]).tolist() == [55 - 24]
    assert not cut.phrases[0, 0, :12].any()
    assert np.flatnonzero(cut.phrases[0, 1, 0, :, PIANO]).tolist() == [60 - 24]
    assert len(cut.phrases) == 4  # 5 bars, hop 1, 2-bar phrases


def test_a_single_two_four_bar_inside_four_four_keeps_both_sides(tmp_path, make_midi):
    # 8 quarters of 4/4, one 2/4 bar, 8 more quarters of 4/4: phrases never cross the 2/4 bar.
    signature = [(0, 4, 4), (8, 2, 4), (10, 4, 4)]
    path = make_midi(tmp_path / "mixed.mid", quarters(18), time_signature=signature)
    song = read(path)
    assert song.sections == ((0, 32), (32, 40), (40, 72))
    assert song.report == {"section 4/4 kept": 2, "section 2/4 kept": 1}
    assert phrase_count(song) == 2


def test_a_two_four_section_off_the_bar_grid_is_ambiguous():
    # 3/4 for 12 steps shifts the grid: the 2/4 pairs after it could start on either bar.
    sections, first, fates = meter_sections([(0, 3, 4), (12, 2, 4)], 60, SPEC, "multiples")
    assert sections == [] and first == 0
    assert fates == {"3/4 other meter": 1, "2/4 ambiguous downbeat": 1}


def test_three_four_with_a_three_four_spec(tmp_path, make_midi):
    spec = PhraseSpec(n_bars=2, steps_per_beat=4, beats_per_bar=3, tracks=LPD5_TRACKS)
    path = make_midi(tmp_path / "waltz.mid", quarters(12), time_signature=(3, 4))
    song = read(path, spec)
    assert spec.steps_per_bar == 12 and phrase_count(song, spec) == 2
    with pytest.raises(DataError, match="3/4"):
        read(path)  # and refused by the 4/4 spec


def test_a_six_eight_corpus_prepared_with_a_six_eight_spec(tmp_path, make_midi, compose_prepare):
    songs = tmp_path / "jigs"
    songs.mkdir()
    for k in range(2):  # 8 bars of 6/8: eighth notes, 3 quarters a bar
        eighths = [(e / 2, e / 2 + 0.5, 60 + k + e % 6) for e in range(48)]
        make_midi(songs / f"jig{k}.mid", eighths, time_signature=(6, 8))
    make_midi(songs / "march.mid", quarters(16), time_signature=(4, 4))
    cfg = compose_prepare(
        [
            "data=midi_dir",
            f"data.source.path={songs}",
            "data.spec.beats_per_bar=6",
            "data.spec.beat_unit=8",
            "data.spec.steps_per_beat=2",  # steps per eighth: 12 steps a bar
            "data.spec.n_bars=4",
            "data.hop_bars=4",
        ]
    )
    dataset = prepare(cfg.data, workers=1, progress=False)
    assert dataset.shape == (4, 4, 12, 84, 5)
    assert dataset.song_names == ["jig0.mid", "jig1.mid"]
    assert dataset.summary["sections"] == {"4/4 other meter": 1, "6/8 kept": 2}
    first = dataset.phrases_at([0])[0, 0, :, :, PIANO]  # (steps, pitches) of bar 0
    # An eighth note every 2 steps, pitches 60..65 over the bar.
    assert [int(np.flatnonzero(first[s])[0]) + 24 for s in range(0, 12, 2)] == list(range(60, 66))


def corrupt_data_byte(path):
    """Set the velocity byte of the first note-on to 0xC8 (200): out of range."""
    data = bytearray(path.read_bytes())
    at = data.index(bytes([0x90, 60]))
    data[at + 2] = 0xC8
    path.write_bytes(bytes(data))


def add_bad_key_signature(path):
    """Insert a key signature of mode 255 at the start of the first track."""
    data = bytearray(path.read_bytes())
    at = data.index(b"MTrk")
    length = int.from_bytes(data[at + 4 : at + 8], "big")
    event = bytes([0x00, 0xFF, 0x59, 0x02, 0xFF, 0xFF])  # 1 flat, mode 255
    data[at + 4 : at + 8] = (length + len(event)).to_bytes(4, "big")
    data[at + 8 : at + 8] = event
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "repair", "strict_error"),
    [
        (corrupt_data_byte, "data bytes clipped", "data byte must be in range"),
        (add_bad_key_signature, "meta events ignored", "Could not decode key"),
    ],
)
def test_a_repairable_fault_is_repaired_and_counted(
    tmp_path, make_midi, damage, repair, strict_error
):
    path = make_midi(tmp_path / "song.mid", quarters(16), time_signature=(4, 4))
    whole = read(path)
    damage(path)
    with pytest.raises(Exception, match=strict_error):
        mido.MidiFile(str(path))
    song = read(path)
    assert song.report[f"repaired: {repair}"] == 1
    np.testing.assert_array_equal(song.roll, whole.roll)  # notes, tempo and meter are kept
    assert song.sections == whole.sections


def test_files_that_are_not_midi_are_still_refused_in_one_line(tmp_path):
    for name, content in [("text.mid", b"hello"), ("half.mid", b"MThd\x00\x00\x00\x06\x00")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError) as info:
            read(tmp_path / name)
        assert info.value.reason == "unreadable"
        assert str(tmp_path / name) in str(info.value) and "\n" not in str(info.value)


#: The collection's data config: 2-bar phrases every 2 bars.
COLLECTION = ["data=midi_dir", "data.spec.n_bars=2", "data.hop_bars=2"]


@pytest.fixture
def collection(tmp_path, make_midi):
    """One file per case of the issue, 16 quarters of music each (4 bars of 4/4)."""
    songs = tmp_path / "collection"
    songs.mkdir()
    cases = {
        "cut_time": (2, 2),
        "double": (4, 2),
        "two_four": (2, 4),
        "waltz": (3, 4),
        "mixed": [(0, 4, 4), (8, 2, 4), (10, 4, 4)],
        "common": (4, 4),
    }
    for name, signature in cases.items():
        make_midi(songs / f"{name}.mid", quarters(18), time_signature=signature)
    pickup = [(0, 1, 55), *[(1 + s, 2 + s, p) for s, _, p in quarters(16)]]
    make_midi(songs / "pickup.mid", pickup, time_signature=[(0, 1, 4), (1, 4, 4)])
    make_midi(songs / "clipped.mid", quarters(16), time_signature=(4, 4))
    corrupt_data_byte(songs / "clipped.mid")
    make_midi(songs / "keyed.mid", quarters(16), time_signature=(4, 4))
    add_bad_key_signature(songs / "keyed.mid")
    (songs / "junk.mid").write_bytes(b"not midi at all")
    return songs


def test_a_collection_keeps_every_four_four_compatible_file_and_says_what_happened(
    collection, compose_prepare, tmp_path
):
    cfg = compose_prepare([f"data.source.path={collection}", *COLLECTION])
    path = cache_path(cfg.data, tmp_path / "data")
    dataset = prepare(cfg.data, workers=1, progress=False, cache=path)
    s = dataset.summary
    assert dataset.song_names == [
        "clipped.mid", "common.mid", "cut_time.mid", "double.mid", "keyed.mid", "mixed.mid",
        "pickup.mid", "two_four.mid",
    ]  # fmt: skip
    assert s["songs_skipped"] == {"other time signature": 1, "unreadable": 1}
    assert s["songs_repaired"] == 2
    assert s["repairs"] == {"data bytes clipped": 1, "meta events ignored": 1}
    assert s["sections"] == {
        "1/4 pickup": 1, "2/2 kept": 1, "2/4 kept": 2, "3/4 other meter": 1, "4/2 kept": 1,
        "4/4 kept": 6,
    }  # fmt: skip
    lines = format_summary(dataset, path).splitlines()
    assert "songs skipped   2 (1 other time signature, 1 unreadable)" in lines
    assert "songs repaired  2 (1 data bytes clipped, 1 meta events ignored)" in lines
    assert "songs used      8 (0 with sections in other meters left out)" in lines
    assert any(line.startswith("sections        12 (1 1/4 pickup, ") for line in lines)


def test_an_interrupted_preparation_resumes_and_ends_with_the_same_cache(
    collection, compose_prepare, tmp_path, monkeypatch
):
    cfg = compose_prepare([f"data.source.path={collection}", *COLLECTION])
    whole = prepare(cfg.data, workers=1, progress=False, cache=tmp_path / "whole.npz")

    read_keys = []
    real_load = MidiDirectory.load_song

    def interrupted_after_four(self, key, spec):
        if len(read_keys) == 4:
            raise KeyboardInterrupt
        read_keys.append(key)
        return real_load(self, key, spec)

    monkeypatch.setattr(MidiDirectory, "load_song", interrupted_after_four)
    path = tmp_path / "resumed.npz"
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg.data, workers=1, progress=False, cache=path)
    assert not path.exists()
    assert path.with_name(path.name + ".partial").is_dir()

    def counting(self, key, spec):
        read_keys.append(key)
        return real_load(self, key, spec)

    monkeypatch.setattr(MidiDirectory, "load_song", counting)
    resumed = prepare(cfg.data, workers=1, progress=False, cache=path)
    assert len(read_keys) == len(set(read_keys)) == 10  # no song read twice
    assert not path.with_name(path.name + ".partial").exists()
    np.testing.assert_array_equal(resumed.packed, whole.packed)
    np.testing.assert_array_equal(resumed.song_ids, whole.song_ids)
    assert resumed.song_names == whole.song_names
    without_time = {k: v for k, v in resumed.summary.items() if k != "seconds"}
    assert without_time == {k: v for k, v in whole.summary.items() if k != "seconds"}
