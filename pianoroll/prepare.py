"""Prepare a dataset: read every song of a source, cut phrases, write the cache.

Command line: ``python -m pianoroll.prepare data=<name> [data.source.path=...]``.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from pianoroll.cli import command
from pianoroll.dataset import (
    CACHE_FORMAT,
    CHUNK_PHRASES,
    Dataset,
    Splits,
    pack_channels,
    row_bytes,
    write_cache,
)
from pianoroll.errors import DataError, UserError, choice_value, number_option, number_value
from pianoroll.phrases import cut_phrases
from pianoroll.sources import LPD5_FAMILIES, Source, TrackFamilies
from pianoroll.spec import PhraseSpec
from pianoroll.targets import instantiate
from pianoroll.voices import Voices

__all__ = [
    "cache_path",
    "load_or_prepare",
    "load_splits",
    "main",
    "make_source",
    "make_spec",
    "prepare",
    "track_assigner",
]

#: Keys of the data config that change the cached phrases (the rest act at training time).
PROCESSING_KEYS = ("source", "spec", "hop_bars", "min_notes", "voices")


def make_spec(data_cfg: DictConfig) -> PhraseSpec:
    """The phrase spec of a data config: ``data.spec``, its tracks' ``monophonic`` flags
    cleared when ``data.voices`` is ``free`` (every track a free roll)."""
    voices = choice_value(
        Voices, data_cfg.get("voices", Voices.MONOPHONIC), "data.voices", error=UserError
    )
    try:
        spec = PhraseSpec.from_dict(OmegaConf.to_container(data_cfg.spec, resolve=True))
    except (TypeError, ValueError) as err:
        raise UserError(f"data.spec: {err}") from None
    return spec.free_rolls() if voices is Voices.FREE else spec


def make_source(data_cfg: DictConfig) -> Source:
    """Instantiate the data config's source (its ``_target_``, if trusted: see
    :mod:`pianoroll.targets`)."""
    return instantiate(data_cfg.source, "data.source", Source)


def track_assigner(data_cfg: DictConfig, spec: PhraseSpec) -> TrackFamilies:
    """How a data config merges MIDI instruments into its spec's tracks.

    ``data.source.families`` if the config has it; else the LPD-5 rules if the spec's tracks
    include theirs; else instruments named like a track go to it and the others by the
    tracks' own programs (the first track with that program wins).
    """
    source = data_cfg.get("source") or {}
    families = source.get("families") if hasattr(source, "get") else None
    if families is not None:
        families = OmegaConf.to_container(families, resolve=True)
    elif set(LPD5_FAMILIES) <= set(spec.track_names):
        families = LPD5_FAMILIES
    else:
        families = {t.name: [[t.program, t.program]] for t in spec.tracks if not t.is_drum}
    try:
        return TrackFamilies(spec, families)
    except DataError as err:
        raise UserError(f"data.source.families: {err}") from None


def cache_path(data_cfg: DictConfig, data_dir: str | os.PathLike[str]) -> Path:
    """Where the cache of this data config lives: ``<data_dir>/cache/<name>-<hash>.npz``.

    The hash covers the processing keys of the config, the source's content fingerprint
    (file names, sizes and times) and the cache format, so any change rebuilds the cache.
    """
    processing = OmegaConf.to_container(data_cfg, resolve=True)
    key = {k: processing.get(k) for k in PROCESSING_KEYS}
    key["fingerprint"] = make_source(data_cfg).fingerprint()
    key["format"] = CACHE_FORMAT
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return Path(data_dir) / "cache" / f"{data_cfg.name}-{digest[:12]}.npz"


#: One song to read: the source, the song's key, the spec, ``hop_bars`` and ``min_notes``.
_Job = tuple[Source, str, PhraseSpec, int, int]

#: Songs a worker reads per task: few, so that results in flight stay small however many
#: files there are.
_CHUNK_SONGS = 4


def _load_and_cut(job: _Job) -> dict[str, Any]:
    """Worker: one song to packed phrases, with what reading found, or why it was skipped."""
    source, key, spec, hop_bars, min_notes = job
    try:
        song = source.load_song(key, spec)
    except DataError as err:
        return {"key": key, "error": str(err), "reason": err.reason, "report": err.report}
    except Exception as err:  # an unforeseen failure on one file must not stop the rest
        return {"key": key, "error": f"{key}: {type(err).__name__}: {err}", "reason": "unreadable"}
    cut = cut_phrases(song, spec, hop_bars, min_notes)
    result = {
        "key": key,
        "name": song.name,
        "phrases": pack_channels(cut.phrases, spec),
        "n": len(cut.phrases),
        "out_of_range": cut.notes_out_of_range,
        "sparse": cut.phrases_too_sparse,
        "overlaps": cut.voice_overlaps,
        "report": dict(song.report),
    }
    if not cut.phrases.size:
        result.update(error=f"{key}: no phrase with enough notes in range", reason="no phrase")
    return result


def prepare(
    data_cfg: DictConfig,
    workers: int | None = None,
    progress: bool = True,
    cache: str | os.PathLike[str] | None = None,
) -> Dataset:
    """Read all songs of a data config's source, cut them into phrases and write the cache.

    Each song's packed phrases go to disk as soon as it is read (``<cache>.partial/``), so the
    memory used does not grow with the number of songs; an interrupted preparation of the same
    cache resumes after the last song written, and ends with the same cache as one that ran
    through.

    Args:
        data_cfg: a ``data`` config node (see ``conf/data/``).
        workers: processes to use; None for every core.
        progress: show a progress bar and one line per skipped song.
        cache: the cache file to write; None: a temporary one (the dataset is returned).

    Returns:
        The dataset (packed), with a summary of what was read, skipped and kept.

    Raises:
        DataError: the source has no songs, or none of them gave a phrase.
    """
    if cache is None:
        with tempfile.TemporaryDirectory() as folder:
            return prepare(data_cfg, workers, progress, Path(folder) / "dataset.npz")
    started = time.perf_counter()
    spec = make_spec(data_cfg)
    jobs = _song_jobs(make_source(data_cfg), spec, data_cfg)
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    journal = _Journal.open(Path(cache), spec, [job[1] for job in jobs])
    if progress and journal.songs:
        print(f"resuming after {len(journal.songs)} of {len(jobs)} songs", file=sys.stderr)
    bar = tqdm(
        total=len(jobs),
        initial=len(journal.songs),
        desc=f"preparing {data_cfg.name}",
        unit="song",
        disable=not progress,
        file=sys.stderr,
    )
    for result in _run_jobs(jobs[len(journal.songs) :], workers):
        bar.update()
        if progress and "error" in result:
            tqdm.write(f"skipped {result['error']}", file=sys.stderr)
        journal.add(result)
    bar.close()
    summary = _summary(journal.songs, str(data_cfg.name), spec)
    summary.update(seconds=round(time.perf_counter() - started, 2), workers=workers)
    journal.finish(summary)
    return Dataset.load(cache)


def _song_jobs(source: Source, spec: PhraseSpec, data_cfg: DictConfig) -> list[_Job]:
    """One :func:`_load_and_cut` job per song of the source, in the source's order."""
    keys = source.song_keys()
    return [(source, key, spec, int(data_cfg.hop_bars), int(data_cfg.min_notes)) for key in keys]


def _run_jobs(jobs: list[_Job], workers: int) -> Iterator[dict[str, Any]]:
    """The results of :func:`_load_and_cut` for every job, in job order.

    Args:
        jobs: the songs to read.
        workers: processes to read them in; 1 reads them in this process.
    """
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: the caller may already run TensorFlow threads, which fork breaks.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            yield from pool.imap(_load_and_cut, jobs, chunksize=_CHUNK_SONGS)
    else:
        for job in jobs:
            yield _load_and_cut(job)


@dataclasses.dataclass
class _Journal:
    """A preparation in progress: ``<cache>.partial/`` holds ``phrases.bin``, the packed
    phrases of the songs read so far, and ``songs.jsonl``, one line per song read (its key,
    name, phrase count and counts, never its phrases), each written after the song's phrases.

    Attributes:
        cache: the cache file it ends as.
        spec: the phrase spec.
        folder: the partial folder.
        songs: the lines of the songs read so far, in job order.
    """

    cache: Path
    spec: PhraseSpec
    folder: Path
    songs: list[dict[str, Any]]

    @classmethod
    def open(cls, cache: Path, spec: PhraseSpec, keys: list[str]) -> _Journal:
        """The journal of ``cache``: the songs an interrupted run wrote, if they are the first
        of ``keys``, else a new one. A line or phrases written half are cut off."""
        folder = cache.with_name(cache.name + ".partial")
        songs: list[dict[str, Any]] = []
        lines = folder / "songs.jsonl"
        if lines.exists():
            for line in lines.read_text().splitlines():
                try:
                    songs.append(json.loads(line))
                except json.JSONDecodeError:  # the line being written when it stopped
                    break
            if [song["key"] for song in songs] != keys[: len(songs)]:
                songs = []
        folder.mkdir(parents=True, exist_ok=True)
        rows = sum(song.get("n", 0) for song in songs)
        with open(folder / "phrases.bin", "ab") as file:
            file.truncate(rows * row_bytes(spec))
        lines.write_text("".join(json.dumps(song) + "\n" for song in songs))
        return cls(cache, spec, folder, songs)

    def add(self, result: dict[str, Any]) -> None:
        """Write one song's phrases, then its line."""
        song = {k: v for k, v in result.items() if k != "phrases"}
        if result.get("n"):
            with open(self.folder / "phrases.bin", "ab") as file:
                file.write(result["phrases"].tobytes())
        with open(self.folder / "songs.jsonl", "a") as file:
            file.write(json.dumps(song) + "\n")
        self.songs.append(song)

    def finish(self, summary: dict[str, Any]) -> None:
        """Write the cache from the partial folder (atomically), then remove the folder."""
        kept = [song for song in self.songs if song.get("n")]
        song_ids = np.repeat(np.arange(len(kept), dtype=np.int32), [s["n"] for s in kept])
        width = row_bytes(self.spec)

        def chunks() -> Iterator[np.ndarray]:
            with open(self.folder / "phrases.bin", "rb") as file:
                while block := file.read(CHUNK_PHRASES * width):
                    yield np.frombuffer(block, np.uint8).reshape(-1, width)

        names = [song["name"] for song in kept]
        write_cache(self.cache, self.spec, chunks(), len(song_ids), song_ids, names, summary)
        shutil.rmtree(self.folder)


def _summary(songs: list[dict[str, Any]], name: str, spec: PhraseSpec) -> dict[str, Any]:
    """What the songs gave: counts of songs by what happened to them, of phrases, notes,
    sections by time signature and fate, and repairs.

    Args:
        songs: the journal lines of every song, in order.
        name: the data config's name, for the error.
        spec: the phrase spec.

    Raises:
        DataError: no song kept a phrase.
    """
    skipped = collections.Counter(song["reason"] for song in songs if "error" in song)
    report: collections.Counter[str] = collections.Counter()
    for song in songs:
        report.update(song.get("report", {}))
    used = [song for song in songs if song.get("n")]
    if not used:
        raise DataError(
            f"{name}: none of the {len(songs)} songs gave a phrase"
            f" (skipped: {dict(skipped) or 'none'})",
            "no phrase",
        )
    n = sum(song["n"] for song in used)
    dropped = ("other meter", "ambiguous downbeat")
    return {
        "songs_read": len(songs),
        "songs_used": len(used),
        "songs_skipped": dict(sorted(skipped.items())),
        "songs_partly_used": sum(
            any(k.endswith(dropped) for k in song.get("report", {})) for song in used
        ),
        "songs_repaired": sum(
            any(k.startswith("repaired") for k in song.get("report", {})) for song in songs
        ),
        "sections": {
            k.removeprefix("section "): v for k, v in sorted(report.items()) if "section" in k
        },
        "repairs": {
            k.removeprefix("repaired: "): v for k, v in sorted(report.items()) if "repaired" in k
        },
        "phrases": n,
        "phrases_too_sparse": sum(song.get("sparse", 0) for song in songs),
        "notes_out_of_range": sum(song.get("out_of_range", 0) for song in songs),
        "shape": [n, *spec.shape],
        **(
            {
                "voices": [spec.tracks[k].name for k in spec.voices],
                # Steps where a voice sounded two pitches or more: the highest was kept.
                "voice_overlaps_resolved": sum(song.get("overlaps", 0) for song in songs),
            }
            if spec.voices
            else {}
        ),
    }


def load_or_prepare(
    data_cfg: DictConfig, data_dir: str | os.PathLike[str], progress: bool = True
) -> tuple[Dataset, Path]:
    """Load the cache of a data config, preparing and writing it first if there is none (or
    resuming an interrupted preparation).

    Returns:
        The dataset and its cache path.
    """
    path = cache_path(data_cfg, data_dir)
    if path.exists():
        return Dataset.load(path), path
    if progress:
        print(f"no cache for data={data_cfg.name}; preparing it", file=sys.stderr)
    return prepare(data_cfg, progress=progress, cache=path), path


def load_splits(
    data_cfg: DictConfig, data_dir: str | os.PathLike[str], progress: bool = True
) -> Splits:
    """The data config's dataset (see :func:`load_or_prepare`), split by song as the config
    says (``data.val_fraction``, ``data.split_seed``).

    Raises:
        UserError: no training phrase is left after holding out the validation songs.
    """
    fraction = number_value("data.val_fraction", data_cfg.val_fraction, float, 0.0, 1.0)
    if fraction == 1.0:
        raise UserError(
            "data.val_fraction=1.0: must be below 1 (no song would be left to train on)"
        )
    dataset, path = load_or_prepare(data_cfg, data_dir, progress=progress)
    splits = dataset.splits(fraction, int(data_cfg.split_seed))
    if len(splits.train) == 0:
        raise UserError(f"{path}: no training phrases after holding out validation songs")
    return splits


def _counts(counts: dict[str, int]) -> str:
    """``{"a": 1, "b": 2}`` as ``" (1 a, 2 b)"``, or nothing when empty."""
    listed = ", ".join(f"{n} {what}" for what, n in counts.items())
    return f" ({listed})" if listed else ""


def format_summary(dataset: Dataset, path: Path) -> str:
    """A human-readable summary of a prepared dataset."""
    s = dataset.summary
    skipped, sections = s.get("songs_skipped", {}), s.get("sections", {})
    repairs = s.get("repairs", {})
    lines = [
        f"songs read      {s.get('songs_read')}",
        f"songs skipped   {sum(skipped.values())}{_counts(skipped)}",
        f"songs used      {s.get('songs_used')}"
        f" ({s.get('songs_partly_used', 0)} with sections in other meters left out)",
        f"sections        {sum(sections.values())}{_counts(sections)}",
        f"songs repaired  {s.get('songs_repaired', 0)}{_counts(repairs)}",
        f"phrases kept    {s.get('phrases')} (dropped {s.get('phrases_too_sparse')} with too few notes)",
        f"notes dropped   {s.get('notes_out_of_range')} outside the pitch range",
        *(
            [
                f"voices          {', '.join(s['voices'])}: one pitch a step, notes' starts kept"
                f" ({s.get('voice_overlaps_resolved', 0)} steps sounding more, highest pitch kept)"
            ]
            if s.get("voices")
            else []
        ),
        f"tensor shape    {dataset.shape} bool (kept packed, 8 cells a byte)",
        f"cache           {path} ({path.stat().st_size / 2**20:.1f} MiB)",
        f"time            {s.get('seconds')} s with {s.get('workers')} workers",
    ]
    return "\n".join(lines)


@command("pkg://conf", "prepare")
def main(cfg: DictConfig) -> None:
    """Prepare the configured dataset and print its summary (rebuilds with ``force=true``)."""
    path = cache_path(cfg.data, cfg.paths.data_dir)
    if path.exists() and not cfg.force:
        dataset = Dataset.load(path)
        print(f"cache is up to date: {path}")
    else:
        workers = None if cfg.workers is None else number_option(cfg, "workers", int, 1)
        dataset = prepare(cfg.data, workers=workers, cache=path)
    print(format_summary(dataset, path))


if __name__ == "__main__":
    main()
