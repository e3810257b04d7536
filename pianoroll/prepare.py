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
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from pianoroll.cli import command
from pianoroll.dataset import CACHE_FORMAT, Dataset, Splits
from pianoroll.errors import DataError, UserError, number_option
from pianoroll.phrases import cut_phrases
from pianoroll.sources import LPD5_FAMILIES, Source, TrackFamilies
from pianoroll.spec import PhraseSpec
from pianoroll.targets import instantiate

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
PROCESSING_KEYS = ("source", "spec", "hop_bars", "min_notes")


def make_spec(data_cfg: DictConfig) -> PhraseSpec:
    """The phrase spec of a data config."""
    try:
        return PhraseSpec.from_dict(OmegaConf.to_container(data_cfg.spec, resolve=True))
    except (TypeError, ValueError) as err:
        raise UserError(f"data.spec: {err}") from None


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


def _load_and_cut(job: _Job) -> dict[str, Any]:
    """Worker: one song to phrases, or the reason it was skipped."""
    source, key, spec, hop_bars, min_notes = job
    try:
        song = source.load_song(key, spec)
    except DataError as err:
        return {"key": key, "error": str(err), "reason": err.reason}
    except Exception as err:  # an unforeseen failure on one file must not stop the rest
        return {"key": key, "error": f"{key}: {type(err).__name__}: {err}", "reason": "unreadable"}
    cut = cut_phrases(song, spec, hop_bars, min_notes)
    size = int(np.prod(spec.shape))  # not -1: a song may have no phrase left to infer it from
    result = {
        "key": key,
        "name": song.name,
        "phrases": np.packbits(cut.phrases.reshape(len(cut.phrases), size), axis=1),
        "n": len(cut.phrases),
        "out_of_range": cut.notes_out_of_range,
        "sparse": cut.phrases_too_sparse,
    }
    if not cut.phrases.size:
        result.update(error=f"{key}: no phrase with enough notes in range", reason="no phrase")
    return result


def prepare(data_cfg: DictConfig, workers: int | None = None, progress: bool = True) -> Dataset:
    """Read all songs of a data config's source and cut them into phrases.

    Args:
        data_cfg: a ``data`` config node (see ``conf/data/``).
        workers: processes to use; None for every core.
        progress: show a progress bar and one line per skipped song.

    Returns:
        The dataset, with a summary of what was read, skipped and kept.

    Raises:
        DataError: the source has no songs, or none of them gave a phrase.
    """
    started = time.perf_counter()
    spec = make_spec(data_cfg)
    jobs = _song_jobs(make_source(data_cfg), spec, data_cfg)
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    gathered = _Gathered()
    bar = tqdm(
        total=len(jobs),
        desc=f"preparing {data_cfg.name}",
        unit="song",
        disable=not progress,
        file=sys.stderr,
    )
    for result in _run_jobs(jobs, workers):
        bar.update()
        if progress and "error" in result:
            tqdm.write(f"skipped {result['error']}", file=sys.stderr)
        gathered.add(result)
    bar.close()
    dataset = gathered.dataset(str(data_cfg.name), spec, len(jobs))
    dataset.summary.update(seconds=round(time.perf_counter() - started, 2), workers=workers)
    return dataset


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
    if workers > 1:
        # spawn, not fork: the caller may already run TensorFlow threads, which fork breaks.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            yield from pool.imap(_load_and_cut, jobs, chunksize=max(1, len(jobs) // (8 * workers)))
    else:
        for job in jobs:
            yield _load_and_cut(job)


@dataclasses.dataclass
class _Gathered:
    """What the songs gave so far, one :func:`_load_and_cut` result at a time.

    Attributes:
        parts: per song that kept a phrase, its phrases as uint8 ``(n, bytes)``, each phrase's
            cells packed 8 per byte.
        song_ids: per such song, int32 ``(n,)``: its index in ``song_names``.
        song_names: the names of the songs that kept a phrase.
        skipped: skipped songs by reason.
        out_of_range: notes dropped outside the pitch range.
        sparse: phrases dropped with too few notes.
    """

    parts: list[np.ndarray] = dataclasses.field(default_factory=list)
    song_ids: list[np.ndarray] = dataclasses.field(default_factory=list)
    song_names: list[str] = dataclasses.field(default_factory=list)
    skipped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    out_of_range: int = 0
    sparse: int = 0

    def add(self, result: dict[str, Any]) -> None:
        """Count a song's result and keep its phrases."""
        if "error" in result:
            self.skipped[result["reason"]] += 1
        if result.get("n"):
            self.song_ids.append(np.full(result["n"], len(self.song_names), np.int32))
            self.song_names.append(result["name"])
            self.parts.append(result["phrases"])
        self.out_of_range += result.get("out_of_range", 0)
        self.sparse += result.get("sparse", 0)

    def dataset(self, name: str, spec: PhraseSpec, songs_read: int) -> Dataset:
        """The phrases kept, packed, and a summary of what was read, skipped and kept.

        Args:
            name: the data config's name, for the error.
            spec: the phrase spec.
            songs_read: how many songs the source has.

        Raises:
            DataError: no song kept a phrase.
        """
        if not self.parts:
            raise DataError(
                f"{name}: none of the {songs_read} songs gave a phrase"
                f" (skipped: {dict(self.skipped) or 'none'})",
                "no phrase",
            )
        packed = np.concatenate(self.parts)
        summary = {
            "songs_read": songs_read,
            "songs_used": len(self.song_names),
            "songs_skipped": dict(sorted(self.skipped.items())),
            "phrases": len(packed),
            "phrases_too_sparse": self.sparse,
            "notes_out_of_range": self.out_of_range,
            "shape": [len(packed), *spec.shape],
        }
        return Dataset(packed, np.concatenate(self.song_ids), self.song_names, spec, summary)


def load_or_prepare(
    data_cfg: DictConfig, data_dir: str | os.PathLike[str], progress: bool = True
) -> tuple[Dataset, Path]:
    """Load the cache of a data config, preparing and writing it first if there is none.

    Returns:
        The dataset and its cache path.
    """
    path = cache_path(data_cfg, data_dir)
    if path.exists():
        return Dataset.load(path), path
    if progress:
        print(f"no cache for data={data_cfg.name}; preparing it", file=sys.stderr)
    dataset = prepare(data_cfg, progress=progress)
    dataset.save(path)
    return dataset, path


def load_splits(
    data_cfg: DictConfig, data_dir: str | os.PathLike[str], progress: bool = True
) -> Splits:
    """The data config's dataset (see :func:`load_or_prepare`), split by song as the config
    says (``data.val_fraction``, ``data.split_seed``).

    Raises:
        UserError: no training phrase is left after holding out the validation songs.
    """
    dataset, path = load_or_prepare(data_cfg, data_dir, progress=progress)
    splits = dataset.splits(float(data_cfg.val_fraction), int(data_cfg.split_seed))
    if len(splits.train) == 0:
        raise UserError(f"{path}: no training phrases after holding out validation songs")
    return splits


def format_summary(dataset: Dataset, path: Path) -> str:
    """A human-readable summary of a prepared dataset."""
    s = dataset.summary
    skipped = ", ".join(f"{n} {reason}" for reason, n in s.get("songs_skipped", {}).items())
    lines = [
        f"songs read      {s.get('songs_read')}",
        f"songs skipped   {sum(s.get('songs_skipped', {}).values())}"
        + (f" ({skipped})" if skipped else ""),
        f"songs used      {s.get('songs_used')}",
        f"phrases kept    {s.get('phrases')} (dropped {s.get('phrases_too_sparse')} with too few notes)",
        f"notes dropped   {s.get('notes_out_of_range')} outside the pitch range",
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
        dataset = prepare(cfg.data, workers=workers)
        dataset.save(path)
    print(format_summary(dataset, path))


if __name__ == "__main__":
    main()
