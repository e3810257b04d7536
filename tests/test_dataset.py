"""The prepared dataset: packed phrases, split by song, the ``.npz`` cache, and atomic writes."""

import json

import numpy as np
import pytest

from pianoroll.dataset import CACHE_FORMAT, Dataset
from pianoroll.errors import DataError
from pianoroll.io import atomic_path, write_json
from pianoroll.spec import PhraseSpec, Track

SPEC = PhraseSpec(
    n_bars=2,
    steps_per_beat=2,
    beats_per_bar=4,
    n_pitches=16,
    lowest_pitch=48,
    tracks=(Track("Lead", 80), Track("Kit", 0, True)),
)
#: Phrases per song: 10 songs, 31 phrases.
PER_SONG = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]


def make_dataset() -> Dataset:
    """Phrase ``i`` holds the bits of ``i`` in its first 8 cells, so every phrase is unique."""
    n = sum(PER_SONG)
    phrases = np.zeros((n, *SPEC.shape), bool)
    flat = phrases.reshape(n, -1)
    for i in range(n):
        flat[i, :8] = [(i >> b) & 1 for b in range(8)]
    flat[:, -1] = True
    song_ids = np.repeat(np.arange(len(PER_SONG)), PER_SONG).astype(np.int32)
    names = [f"song{k}.mid" for k in range(len(PER_SONG))]
    return Dataset.from_phrases(phrases, song_ids, names, SPEC, {"songs_read": 12, "phrases": n})


def all_phrases(dataset: Dataset) -> np.ndarray:
    return dataset.phrases_at(np.arange(len(dataset)))


def phrase_ids(dataset: Dataset) -> list[int]:
    flat = all_phrases(dataset).reshape(len(dataset), -1)[:, :8].astype(int)
    return sorted((flat * (1 << np.arange(8))).sum(axis=1).tolist())


def test_split_is_by_song_and_covers_every_phrase_once():
    data = make_dataset()
    train, val = data.split(0.3, seed=0)
    train_songs, val_songs = set(train.song_ids.tolist()), set(val.song_ids.tolist())
    assert not train_songs & val_songs
    assert train_songs | val_songs == set(range(10))
    assert len(val_songs) == 3  # round(0.3 * 10) songs
    assert len(train) + len(val) == len(data)
    assert sorted(phrase_ids(train) + phrase_ids(val)) == list(range(len(data)))
    # Each phrase keeps its song: the phrase counts per song are unchanged.
    assert len(val) == sum(PER_SONG[s] for s in val_songs)
    # Song names and spec stay; the summary describes the whole set, not a part.
    assert train.song_names == val.song_names == data.song_names
    assert train.spec == data.spec
    assert train.summary == {}


def test_split_is_deterministic_for_a_seed_and_differs_for_another():
    data = make_dataset()
    val_songs = {
        seed: sorted(set(data.split(0.3, seed=seed)[1].song_ids.tolist())) for seed in range(4)
    }
    assert val_songs[0] == sorted(set(data.split(0.3, seed=0)[1].song_ids.tolist()))
    assert len({tuple(v) for v in val_songs.values()}) > 1
    assert val_songs[1] != val_songs[0]


@pytest.mark.parametrize(("fraction", "n_val"), [(0.0, 0), (0.01, 1), (0.5, 5), (0.99, 9)])
def test_split_size(fraction, n_val):
    _, val = make_dataset().split(fraction, seed=3)
    assert len(set(val.song_ids.tolist())) == n_val


def test_split_rejects_a_fraction_outside_zero_one():
    with pytest.raises(ValueError, match="val_fraction"):
        make_dataset().split(1.0, seed=0)


def test_save_load_round_trip(tmp_path):
    data = make_dataset()
    path = tmp_path / "cache" / "set.npz"
    data.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["set.npz"]
    loaded = Dataset.load(path)
    np.testing.assert_array_equal(all_phrases(loaded), all_phrases(data))
    assert loaded.packed.dtype == np.uint8
    np.testing.assert_array_equal(loaded.song_ids, data.song_ids)
    assert loaded.song_names == data.song_names
    assert loaded.spec == data.spec
    assert loaded.summary == data.summary
    # Packed bits: about one eighth of a byte a cell.
    assert path.stat().st_size < len(data) * np.prod(SPEC.shape) // 4


def test_the_cache_holds_no_pickle(tmp_path):
    make_dataset().save(tmp_path / "set.npz")
    with np.load(tmp_path / "set.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["meta", "phrases", "song_ids"]
        assert all(data[k].dtype != object for k in data.files)


def test_dataset_checks_its_shapes():
    data = make_dataset()
    with pytest.raises(DataError, match="spec says"):
        Dataset.from_phrases(all_phrases(data)[:, :1], data.song_ids, data.song_names, SPEC)
    with pytest.raises(DataError, match="needs"):
        Dataset(data.packed[:, :-1], data.song_ids, data.song_names, SPEC)
    with pytest.raises(DataError, match="song ids"):
        Dataset(data.packed, data.song_ids[:-1], data.song_names, SPEC)


def assert_one_line_naming(err: DataError, path) -> None:
    message = str(err)
    assert str(path) in message
    assert "\n" not in message


def test_load_of_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such dataset cache") as info:
        Dataset.load(tmp_path / "absent.npz")
    assert info.value.reason == "missing"
    assert_one_line_naming(info.value, tmp_path / "absent.npz")


@pytest.mark.parametrize("content", [b"hello, world\n", b"", b"PK\x03\x04 truncated zip"])
def test_load_of_a_file_that_is_no_npz(tmp_path, content):
    path = tmp_path / "text.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a dataset cache") as info:
        Dataset.load(path)
    assert info.value.reason == "unreadable"
    assert_one_line_naming(info.value, path)


def test_load_of_an_npz_without_the_keys(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.arange(3))
    with pytest.raises(DataError, match="not a dataset cache") as info:
        Dataset.load(path)
    assert_one_line_naming(info.value, path)


def test_load_of_a_pickled_npz_does_not_unpickle(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, meta=np.array([{"format": CACHE_FORMAT}], dtype=object))
    with pytest.raises(DataError) as info:
        Dataset.load(path)
    assert_one_line_naming(info.value, path)


def test_load_of_another_cache_format(tmp_path):
    path = tmp_path / "old.npz"
    make_dataset().save(path)
    with np.load(path) as data:
        arrays = dict(data)
    meta = json.loads(arrays["meta"].tobytes())
    meta["format"] = CACHE_FORMAT + 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=f"cache format {CACHE_FORMAT + 1}") as info:
        Dataset.load(path)
    assert_one_line_naming(info.value, path)


def test_atomic_path_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="crash"), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.suffix == ".json"
        tmp.write_text("half of the new")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]

    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_atomic_path_failure_leaves_no_file_when_there_was_none(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "new" / "x.npz") as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert list((tmp_path / "new").iterdir()) == []


def test_a_failing_save_keeps_the_old_cache(tmp_path, monkeypatch):
    path = tmp_path / "set.npz"
    data = make_dataset()
    data.save(path)
    before = path.read_bytes()

    def broken_write(member, array, **kwargs):
        member.write(b"half an array")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", broken_write)
    with pytest.raises(OSError, match="No space"):
        data.subset(data.song_ids < 3).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]


def test_write_json_is_atomic_and_readable(tmp_path):
    write_json(tmp_path / "a.json", {"b": np.float32(0.5), "a": [1, 2]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"a": [1, 2], "b": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_split_shares_the_packed_phrases_and_copies_none():
    data = make_dataset()
    train, val = data.split(0.3, seed=0)
    assert train.packed is data.packed and val.packed is data.packed
    assert len(train.rows) + len(val.rows) == len(data)
    # The split's rows are its phrases, in order.
    np.testing.assert_array_equal(all_phrases(train), all_phrases(data)[train.rows])
    np.testing.assert_array_equal(val.phrases_at([1, 0]), all_phrases(data)[val.rows[[1, 0]]])
    # A split of a split still indexes the original rows.
    part = train.subset(train.song_ids == train.song_ids[0])
    assert part.packed is data.packed
    np.testing.assert_array_equal(all_phrases(part), all_phrases(data)[part.rows])


def test_chunks_cover_the_set_in_order_and_a_split_saves_only_its_phrases(tmp_path):
    data = make_dataset()
    train, _ = data.split(0.3, seed=0)
    chunks = list(train.chunks(size=4))
    assert [len(c) for c in chunks[:-1]] == [4] * (len(chunks) - 1)
    np.testing.assert_array_equal(np.concatenate(chunks), all_phrases(train))
    train.save(tmp_path / "train.npz")
    loaded = Dataset.load(tmp_path / "train.npz")
    assert loaded.rows is None and len(loaded.packed) == len(train)
    np.testing.assert_array_equal(all_phrases(loaded), all_phrases(train))


def test_loading_splitting_streaming_and_reference_metrics_never_unpack_the_whole_set(
    tmp_path, monkeypatch
):
    from pianoroll.evaluation import metric_means, metrics_by_chunks, summarize_metrics
    from pianoroll.pipeline import batch_stream

    data = make_dataset()
    data.save(tmp_path / "set.npz")
    unpacked = []  # phrases per np.unpackbits call that unpacks phrases
    real_unpackbits = np.unpackbits

    def counting_unpackbits(rows, *args, **kwargs):
        if kwargs.get("count") == np.prod(SPEC.shape):
            unpacked.append(len(rows))
        return real_unpackbits(rows, *args, **kwargs)

    monkeypatch.setattr(np, "unpackbits", counting_unpackbits)
    splits = Dataset.load(tmp_path / "set.npz").splits(0.3, seed=0)
    list(batch_stream(splits.train, 4, seed=0).take(3).as_numpy_iterator())
    means = summarize_metrics(metrics_by_chunks(splits.reference.chunks(size=2), SPEC))
    assert unpacked == [2] * (len(splits.reference) // 2) + [1] * (len(splits.reference) % 2)
    monkeypatch.undo()
    whole = metric_means(all_phrases(splits.reference), SPEC)
    assert means.keys() == whole.keys()
    np.testing.assert_allclose(list(means.values()), list(whole.values()), equal_nan=True)
