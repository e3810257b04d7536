"""Preparing a dataset from a source: skip counts by reason, errors, and the command line."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hydra.errors import MissingConfigException

from pianoroll.errors import DataError, UserError
from pianoroll.prepare import prepare

LOW = 24  # lowest pitch of the LPD-5 spec
PIANO = 1


@pytest.fixture
def midi_dir(tmp_path, make_midi, make_song):
    """Three good 8-bar songs and five bad files, one of each kind."""
    songs = tmp_path / "midi"
    (songs / "sub").mkdir(parents=True)
    for k in range(3):
        make_song(songs / f"good{k}.mid", bars=8, pitch=60 + k)
    rng = np.random.default_rng(0)
    (songs / "bad_corrupt.mid").write_bytes(b"\x00" + rng.bytes(500))
    (songs / "bad_empty.mid").write_bytes(b"")
    whole = (songs / "good0.mid").read_bytes()
    (songs / "sub" / "bad_truncated.MID").write_bytes(whole[: len(whole) // 2])
    make_song(songs / "bad_waltz.mid", bars=8, time_signature=(3, 4))
    # 32 notes, all above the 84 pitches from MIDI 24 (which end at 107).
    make_midi(songs / "bad_high.mid", [(b, b + 1, 110 + b % 3) for b in range(32)])
    (songs / "readme.txt").write_text("not a song")
    return songs


def test_prepare_skips_bad_files_by_reason_and_goes_on(midi_dir, compose_prepare, capsys):
    cfg = compose_prepare(["data=midi_dir", f"data.source.path={midi_dir}"])
    dataset = prepare(cfg.data, workers=1, progress=False)

    summary = dict(dataset.summary)
    assert summary.pop("seconds") >= 0
    assert summary == {
        "songs_read": 8,
        "songs_used": 3,
        "songs_skipped": {"no phrase": 1, "other time signature": 1, "unreadable": 3},
        "songs_partly_used": 0,
        "songs_repaired": 0,
        "sections": {"3/4 other meter": 1, "4/4 kept": 4},
        "repairs": {},
        "phrases": 6,  # 8 bars, 4-bar phrases, hop 4: two a song
        "phrases_too_sparse": 2,  # the two phrases of the song with every note out of range
        "notes_out_of_range": 32,
        "shape": [6, 4, 48, 84, 5],
        "workers": 1,
    }
    assert dataset.song_names == ["good0.mid", "good1.mid", "good2.mid"]
    assert dataset.song_ids.tolist() == [0, 0, 1, 1, 2, 2]
    phrases = dataset.phrases_at(slice(None))
    # Song k starts with piano pitch 60 + k on the first step, the bass on pitch 36.
    for k in range(3):
        first = phrases[2 * k, 0, 0]
        assert np.argwhere(first).tolist() == [[36 - LOW, 3], [60 + k - LOW, PIANO]]
    # Second phrase of a song: bar 4, beat 16, piano pitch 60 + k + 16 % 5.
    assert np.flatnonzero(phrases[1, 0, 0, :, PIANO]).tolist() == [60 + 1 - LOW]
    assert capsys.readouterr().err == ""


def test_prepare_reports_each_skipped_song_with_progress(midi_dir, compose_prepare, capsys):
    cfg = compose_prepare(["data=midi_dir", f"data.source.path={midi_dir}"])
    prepare(cfg.data, workers=1, progress=True)
    skipped = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped")]
    names = ["bad_corrupt", "bad_empty", "bad_high", "bad_truncated", "bad_waltz"]
    assert len(skipped) == len(names)
    for name in names:
        assert sum(f"/{name}." in line for line in skipped) == 1, name


def test_prepare_an_lpd_directory_with_bad_files(
    tmp_path, make_lpd_npz, rewrite_npz_info, make_pickle_npz, compose_prepare
):
    import pypianoroll

    songs = tmp_path / "lpd"
    songs.mkdir()
    bars = 8
    for k in range(2):
        quarters = [(24 * b, 24 * b + 24, 60 + k + b % 4) for b in range(4 * bars)]
        make_lpd_npz(
            songs / f"good{k}.npz",
            [
                dict(name="Piano", notes=quarters),
                dict(name="Drums", is_drum=True, notes=[(0, 2, 36)]),
            ],
            n_steps=96 * bars,
        )
    wide = pypianoroll.BinaryTrack(name="Piano", pianoroll=np.ones((96 * bars, 64), bool))
    pypianoroll.save(
        str(songs / "bad_shape.npz"), pypianoroll.Multitrack(resolution=24, tracks=[wide])
    )

    make_lpd_npz(songs / "bad_info.npz", [dict(name="Piano", notes=[(0, 24, 60)])], 96 * bars)
    rewrite_npz_info(songs / "bad_info.npz", lambda info: info.pop("resolution"))
    sentinel = tmp_path / "unpickled"
    make_pickle_npz(songs / "bad_pickle.npz", sentinel)

    cfg = compose_prepare(["data=lpd5", f"data.source.path={songs}"])
    dataset = prepare(cfg.data, workers=1, progress=False)
    assert dataset.summary["songs_read"] == 5
    assert dataset.summary["songs_skipped"] == {"unreadable": 2, "wrong shape": 1}
    assert dataset.song_names == ["good0.npz", "good1.npz"]
    assert dataset.shape == (4, 4, 48, 84, 5)
    assert not sentinel.exists()


def test_a_directory_without_usable_songs_is_an_error(tmp_path, compose_prepare):
    songs = tmp_path / "bad"
    songs.mkdir()
    (songs / "a.mid").write_bytes(b"junk")
    (songs / "b.mid").write_bytes(b"")
    cfg = compose_prepare(["data=midi_dir", f"data.source.path={songs}"])
    with pytest.raises(DataError, match="none of the 2 songs gave a phrase") as info:
        prepare(cfg.data, workers=1, progress=False)
    assert "unreadable" in str(info.value)
    assert info.value.reason == "no phrase"


def test_a_directory_without_midi_files_is_an_error(tmp_path, compose_prepare):
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("x")
    cfg = compose_prepare(["data=midi_dir", f"data.source.path={tmp_path / 'txt'}"])
    with pytest.raises(DataError, match=r"no \.mid/\.midi files"):
        prepare(cfg.data, workers=1, progress=False)


def test_a_path_that_does_not_exist_is_an_error(tmp_path, compose_prepare):
    cfg = compose_prepare(["data=midi_dir", f"data.source.path={tmp_path / 'nope'}"])
    with pytest.raises(DataError, match="no such directory"):
        prepare(cfg.data, workers=1, progress=False)


def test_an_unknown_data_name_fails_to_compose(compose_prepare):
    with pytest.raises(MissingConfigException, match="data/nope"):
        compose_prepare(["data=nope"])


def test_a_bad_spec_or_source_is_a_user_error(midi_dir, compose_prepare):
    cfg = compose_prepare(["data=midi_dir", f"data.source.path={midi_dir}", "data.spec.n_bars=0"])
    with pytest.raises(UserError, match=r"data\.spec: .*n_bars"):
        prepare(cfg.data, workers=1, progress=False)
    cfg = compose_prepare(["data=midi_dir", "data.source._target_=pianoroll.sources.Nothing"])
    with pytest.raises(UserError, match=r"data\.source: cannot be built"):
        prepare(cfg.data, workers=1, progress=False)


def run_cli(args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIANOROLL_")}
    # As on CI machines, where pyfluidsynth prints to stdout on import unless quieted.
    env["CI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pianoroll.prepare", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_prepares_and_prints_the_summary(tmp_path, make_song):
    songs, data_dir, elsewhere = tmp_path / "songs", tmp_path / "data", tmp_path / "elsewhere"
    songs.mkdir()
    elsewhere.mkdir()
    make_song(songs / "one.mid", bars=8)
    make_song(songs / "two.mid", bars=4, pitch=70)
    (songs / "broken.mid").write_bytes(b"nope")
    result = run_cli(
        ["data=midi_dir", f"data.source.path={songs}", f"paths.data_dir={data_dir}"], elsewhere
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "songs read      3" in lines
    assert "songs skipped   1 (1 unreadable)" in lines
    assert "songs used      2 (0 with sections in other meters left out)" in lines
    assert "sections        2 (2 4/4 kept)" in lines
    assert "songs repaired  0" in lines
    assert "phrases kept    3 (dropped 0 with too few notes)" in lines
    assert "tensor shape    (3, 4, 48, 84, 5) bool (kept packed, 8 cells a byte)" in lines
    (cache,) = (data_dir / "cache").iterdir()
    assert cache.name.startswith("midi_dir-") and cache.suffix == ".npz"
    assert any(line.startswith("cache ") and str(cache) in line for line in lines)
    assert list(elsewhere.iterdir()) == []  # nothing written in the working directory
    assert "Traceback" not in result.stderr


def test_cli_reports_a_missing_path_in_one_line(tmp_path):
    result = run_cli(
        ["data=midi_dir", f"data.source.path={tmp_path / 'nope'}", f"paths.data_dir={tmp_path}"],
        tmp_path,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert str(tmp_path / "nope") in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_refuses_a_worker_count_below_one_in_one_line(tmp_path, make_song):
    songs = tmp_path / "songs"
    songs.mkdir()
    make_song(songs / "one.mid", bars=8)
    result = run_cli(
        ["data=midi_dir", f"data.source.path={songs}", f"paths.data_dir={tmp_path}", "workers=0"],
        tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: workers=0: must be a number at least 1"]
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("override", "line"),
    [
        (
            "data.foo=1",
            "error: Could not override 'data.foo'; Key 'foo' is not in struct;"
            " To append to your config use +data.foo=1",
        ),
        (
            "data=nonsense",
            "error: In 'prepare': Could not find 'data/nonsense';"
            " choose one of bach_chorales, lpd5, midi_dir",
        ),
        ("workers=[", "error: workers=[: no viable alternative at input '['"),
    ],
)
def test_a_config_hydra_cannot_compose_is_one_line(tmp_path, override, line):
    result = run_cli([override], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    (printed,) = result.stderr.splitlines()
    assert printed.startswith(line)
    assert list(tmp_path.iterdir()) == []  # no outputs/ folder either
