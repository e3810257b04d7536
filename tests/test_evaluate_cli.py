"""Tests of ``python -m pianoroll.evaluate``: sets from files, MIDI and the dataset; bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import TWO_TRACK_SPEC as SPEC
from test_compare import record_unpacked

from pianoroll.dataset import Dataset
from pianoroll.errors import DataError, UserError
from pianoroll.evaluate import PhraseSet, compare_and_report, evaluate, load_set
from pianoroll.midi import write_midi
from pianoroll.output import save_phrases
from pianoroll.spec import PhraseSpec, Track


def phrases(n: int, seed: int, spec: PhraseSpec = SPEC, density: float = 0.08) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *spec.shape)) < density


def run_cli(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIANOROLL_DATA_DIR=str(cwd / "data"))
    return subprocess.run(
        [sys.executable, "-m", "pianoroll.evaluate", *overrides],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def compose(overrides: Sequence[str], data_dir: Path):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="conf", version_base="1.3"):
        return hydra_compose("evaluate", overrides=[*overrides, f"paths.data_dir={data_dir}"])


def test_cli_compares_two_npz_files(tmp_path):
    save_phrases(tmp_path / "gen.npz", phrases(12, 0, density=0.12), SPEC)
    save_phrases(tmp_path / "ref.npz", phrases(20, 1), SPEC)
    result = run_cli("a=gen.npz", "b=ref.npz", "out=report", "title=CLI test", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "gen vs ref: Fréchet distance" in result.stdout
    report = tmp_path / "report"
    data = json.loads((report / "metrics.json").read_text())
    assert data["title"] == "CLI test"
    comparison = data["comparisons"]["gen vs ref"]
    assert comparison["sets"] == {"a": {"name": "gen", "n": 12}, "b": {"name": "ref", "n": 20}}
    assert comparison["memorization"]["exact_share"] == 0.0
    assert (report / "report.md").read_text().startswith("# CLI test")
    assert (report / "samples.png").exists() and list((report / "plots").glob("*.png"))


def write_garbage(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")


def write_truncated(path: Path) -> None:
    save_phrases(path, phrases(30, 9), SPEC)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "case, overrides, message",
    [
        ("missing", ["a=nowhere.npz", "b=ref.npz", "out=o"], "nowhere.npz: no such file"),
        ("shape", ["a=other.npz", "b=ref.npz", "out=o"], "has phrases of shape"),
        ("corrupt", ["a=bad.npz", "b=ref.npz", "out=o"], "bad.npz: not a readable .npz"),
        ("truncated", ["a=cut.npz", "b=ref.npz", "out=o"], "cut.npz"),
        ("no a", ["b=ref.npz", "out=o"], "a is missing"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, case, overrides, message):
    save_phrases(tmp_path / "ref.npz", phrases(5, 1), SPEC)
    save_phrases(tmp_path / "other.npz", phrases(5, 2, SPEC.with_bars(3)), SPEC.with_bars(3))
    write_garbage(tmp_path / "bad.npz")
    write_truncated(tmp_path / "cut.npz")
    result = run_cli(*overrides, cwd=tmp_path)
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_dataset_cache_midi_directory_and_floor(tmp_path, make_song, capsys):
    """b is a dataset cache, a a directory of MIDI files (one unreadable), floor an npz."""
    spec = PhraseSpec(n_bars=2, steps_per_beat=4, tracks=(Track("Piano", 0), Track("Bass", 32)))
    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(3):
        make_song(songs / f"song{i}.mid", bars=8, pitch=60 + i)
    (songs / "broken.mid").write_bytes(b"MThd broken")
    cache = phrases(30, 4, spec)
    Dataset.from_phrases(cache, np.arange(30) // 10, ["x", "y", "z"], spec).save(
        tmp_path / "cache.npz"
    )
    save_phrases(tmp_path / "floor.npz", phrases(10, 5, spec), spec)

    overrides = [
        "data=midi_dir",
        "data.spec.n_bars=2",
        "data.spec.steps_per_beat=4",
        "data.spec.tracks=[{name: Piano, program: 0}, {name: Bass, program: 32}]",
        "data.source.families={Piano: [[0, 7]], Bass: [[32, 39]]}",
        f"a={songs}",
        f"b={tmp_path / 'cache.npz'}",
        f"floor={tmp_path / 'floor.npz'}",
        f"out={tmp_path / 'report'}",
        "samples=0",
    ]
    written = evaluate(compose(overrides, tmp_path / "data"))
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "broken.mid" in line] == [
        next(line for line in err.splitlines() if line.startswith("skipped "))
    ]
    data = json.loads(written["metrics.json"].read_text())
    main = data["comparisons"]["songs vs cache"]
    assert main["sets"]["a"]["n"] == 3 * 2  # 8-bar songs: 2-bar phrases at bars 0 and 4
    assert main["sets"]["b"]["n"] == 30
    assert "floor" in main["metrics"]["pitch_range/Piano"]
    assert "floor vs cache (noise floor)" in data["comparisons"]
    assert "samples.png" not in written


def test_packed_sets_report_as_their_arrays_a_chunk_at_a_time(tmp_path, monkeypatch):
    """A dataset cache is loaded packed; its report is that of its unpacked array, and no more
    than a chunk of a packed set is unpacked at once."""
    train = phrases(30, 10)
    Dataset.from_phrases(train, np.arange(30) // 10, ["x", "y", "z"], SPEC).save(
        tmp_path / "train.npz"
    )
    generated = phrases(12, 11, density=0.1)
    generated[0] = train[4]
    save_phrases(tmp_path / "gen.npz", generated, SPEC)
    floor = Dataset.from_phrases(phrases(9, 12), np.zeros(9, int), ["f"], SPEC)
    unpacked = record_unpacked(monkeypatch)
    cfg = compose(["a=x", "b=y", "out=z"], tmp_path / "data")
    sets = {
        "a": load_set(str(tmp_path / "gen.npz"), cfg),
        "b": load_set(str(tmp_path / "train.npz"), cfg),
        "floor": PhraseSet("floor", "a test", floor, SPEC),
    }
    assert isinstance(sets["b"].phrases, Dataset) and not unpacked
    compare_and_report(sets, tmp_path / "packed", samples=3, chunk_size=4)
    assert 0 < max(unpacked) <= 4
    arrays = {
        role: dataclasses.replace(part, phrases=part.head(len(part))) for role, part in sets.items()
    }
    compare_and_report(arrays, tmp_path / "arrays", samples=3)
    for name in ("metrics.json", "report.md"):
        assert (tmp_path / "packed" / name).read_text() == (tmp_path / "arrays" / name).read_text()
    assert json.loads((tmp_path / "packed" / "metrics.json").read_text())["comparisons"][
        "gen vs train"
    ]["memorization"]["exact_share"] == pytest.approx(1 / 12)


def test_configured_dataset_parts(tmp_path, make_song):
    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(3):
        make_song(songs / f"song{i}.mid", bars=8, pitch=60 + i)
    overrides = [
        "data=midi_dir",
        f"data.source.path={songs}",
        "a=data:validation",
        "b=data:train",
        "floor=data:all",
        f"out={tmp_path / 'report'}",
        "memorization=false",
        "samples=2",
    ]
    written = evaluate(compose(overrides, tmp_path / "data"))
    data = json.loads(written["metrics.json"].read_text())
    main = data["comparisons"]["validation vs train"]
    assert (
        main["sets"]["a"]["n"] + main["sets"]["b"]["n"]
        == (data["comparisons"]["all vs train (noise floor)"]["sets"]["a"]["n"])
    )
    assert "memorization" not in main
    assert (tmp_path / "data" / "cache").is_dir()  # prepared once, cached
    with pytest.raises(UserError, match="data:test"):
        evaluate(compose([*overrides[:2], "a=data:test", "b=data:train", "out=x"], tmp_path))


def test_midi_written_by_this_project_maps_back_to_its_tracks_by_name(tmp_path):
    # The four chorale voices share one General MIDI program: only their names tell them apart.
    spec = PhraseSpec()
    data = phrases(3, 6, spec, density=0.02)
    write_midi(tmp_path / "song.mid", data.reshape(-1, *spec.shape[1:]), spec)
    # Free rolls: the random phrases sound chords in every track.
    cfg = compose(["a=x", "b=y", "out=z", "data.hop_bars=4", "data.voices=free"], tmp_path / "data")
    loaded = load_set(str(tmp_path / "song.mid"), cfg)
    assert loaded.phrases.shape == data.shape
    np.testing.assert_array_equal(loaded.phrases, data)


def test_specs_must_match(tmp_path):
    other = PhraseSpec(**{**SPEC.to_dict(), "lowest_pitch": 50})
    save_phrases(tmp_path / "a.npz", phrases(3, 7), other)
    save_phrases(tmp_path / "b.npz", phrases(3, 8), SPEC)
    overrides = [f"a={tmp_path / 'a.npz'}", f"b={tmp_path / 'b.npz'}", "out=x"]
    with pytest.raises(DataError, match="lowest_pitch differ"):
        evaluate(compose(overrides, tmp_path / "data"))


def test_unusable_sets_and_options_are_refused(tmp_path):
    np.savez(
        tmp_path / "counts.npz",
        phrases=np.full((2, *SPEC.shape), 3, np.uint8),
        spec=np.frombuffer(json.dumps(SPEC.to_dict()).encode(), np.uint8),
    )
    save_phrases(tmp_path / "empty.npz", phrases(0, 0), SPEC)
    save_phrases(tmp_path / "ref.npz", phrases(3, 8), SPEC)
    crc = bytearray((tmp_path / "ref.npz").read_bytes())
    crc[200:400] = bytes(x ^ 0x55 for x in crc[200:400])  # inside the compressed phrases
    (tmp_path / "crc.npz").write_bytes(bytes(crc))
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "text.npz").write_text("hello")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    ref = f"b={tmp_path / 'ref.npz'}"
    for name, message in (
        ("counts.npz", "not binary"),
        ("empty.npz", "no phrases"),
        ("crc.npz", "corrupt phrases file"),
        ("array.npy", "single .npy array"),
        ("text.npz", "not a zip archive"),
        ("other.npz", "expected 'phrases' and 'spec'"),
    ):
        with pytest.raises(DataError, match=message):
            evaluate(compose([f"a={tmp_path / name}", ref, "out=x"], tmp_path / "data"))
    for option, message in (("bins=foo", "bins=foo"), ("threshold=2", "in \\[0.0, 1.0\\]")):
        with pytest.raises(UserError, match=message):
            evaluate(compose([f"a={tmp_path / 'ref.npz'}", ref, "out=x", option], tmp_path))
    assert not (tmp_path / "x").exists()
