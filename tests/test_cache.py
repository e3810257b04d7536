"""The dataset cache key (``cache_path``) and ``load_or_prepare``."""

import os
import re

import numpy as np
import pytest

import pianoroll.prepare as prepare_module
from pianoroll.prepare import cache_path, load_or_prepare


@pytest.fixture
def songs(tmp_path, make_song):
    folder = tmp_path / "songs"
    folder.mkdir()
    make_song(folder / "a.mid", bars=8)
    make_song(folder / "b.mid", bars=4, pitch=65)
    return folder


@pytest.fixture
def data_cfg(compose_prepare, songs):
    """``data_cfg(*overrides)``: the midi_dir data config over the test's songs."""

    def make(*overrides):
        cfg = compose_prepare(["data=midi_dir", f"data.source.path={songs}", *overrides])
        return cfg.data

    return make


def test_cache_path_is_stable_and_named_after_the_data(data_cfg, tmp_path):
    path = cache_path(data_cfg(), tmp_path / "data")
    assert path.parent == tmp_path / "data" / "cache"
    assert re.fullmatch(r"midi_dir-[0-9a-f]{12}\.npz", path.name)
    assert cache_path(data_cfg(), tmp_path / "data") == path
    assert cache_path(data_cfg(), tmp_path / "data") == cache_path(data_cfg(), tmp_path / "data")


@pytest.mark.parametrize(
    "override",
    [
        "data.hop_bars=2",
        "data.min_notes=4",
        "data.spec.steps_per_beat=4",
        "data.spec.n_bars=2",
        "data.spec.lowest_pitch=21",
        "data.spec.tracks.1.program=1",
        "data.source.families={Piano: [[0, 7]]}",
    ],
)
def test_cache_path_changes_with_the_processing(data_cfg, tmp_path, override):
    assert cache_path(data_cfg(override), tmp_path) != cache_path(data_cfg(), tmp_path)


@pytest.mark.parametrize(
    "override", ["data.val_fraction=0.3", "data.transpose=5", "data.split_seed=7"]
)
def test_cache_path_ignores_training_time_settings(data_cfg, tmp_path, override):
    assert cache_path(data_cfg(override), tmp_path) == cache_path(data_cfg(), tmp_path)


def test_cache_path_changes_with_the_files(data_cfg, songs, tmp_path, make_song):
    paths = [cache_path(data_cfg(), tmp_path)]
    make_song(songs / "b.mid", bars=5, pitch=65)  # rewritten, another size
    paths.append(cache_path(data_cfg(), tmp_path))
    stat = (songs / "a.mid").stat()
    os.utime(songs / "a.mid", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched
    paths.append(cache_path(data_cfg(), tmp_path))
    (songs / "sub").mkdir()
    make_song(songs / "sub" / "c.mid")  # added, in a subfolder
    paths.append(cache_path(data_cfg(), tmp_path))
    assert len(set(paths)) == len(paths)
    # Removed again: the same files as before, the same key.
    (songs / "sub" / "c.mid").unlink()
    assert cache_path(data_cfg(), tmp_path) == paths[2]
    # A file that is not a song does not count.
    (songs / "notes.txt").write_text("x")
    assert cache_path(data_cfg(), tmp_path) == paths[2]


def test_load_or_prepare_writes_the_cache_once(data_cfg, tmp_path, monkeypatch, songs, make_song):
    calls = []
    real_prepare = prepare_module.prepare

    def counting_prepare(cfg, workers=None, progress=True, cache=None):
        calls.append(cfg.source.path)
        return real_prepare(cfg, workers=1, progress=False, cache=cache)

    monkeypatch.setattr(prepare_module, "prepare", counting_prepare)
    data_dir = tmp_path / "data"

    first, path = load_or_prepare(data_cfg(), data_dir, progress=False)
    assert len(calls) == 1
    assert path == cache_path(data_cfg(), data_dir)
    assert path.is_file()
    assert len(first) == 3  # 8 bars and 4 bars: 2 + 1 phrases
    written = path.stat().st_mtime_ns

    again, same_path = load_or_prepare(data_cfg("data.transpose=3"), data_dir, progress=False)
    assert len(calls) == 1  # loaded from the cache
    assert same_path == path
    assert path.stat().st_mtime_ns == written
    np.testing.assert_array_equal(again.packed, first.packed)
    np.testing.assert_array_equal(again.song_ids, first.song_ids)
    assert again.song_names == first.song_names
    assert again.summary == first.summary

    make_song(songs / "b.mid", bars=8, pitch=65)
    rebuilt, new_path = load_or_prepare(data_cfg(), data_dir, progress=False)
    assert len(calls) == 2
    assert new_path != path
    assert len(rebuilt) == 4
    cached = sorted(p.name for p in (data_dir / "cache").iterdir())
    assert cached == sorted([path.name, new_path.name])  # the old cache is left alone
