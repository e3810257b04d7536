"""Compare a set of phrases with a reference set and write an evaluation report.

Command line::

    python -m pianoroll.evaluate a=<set> b=<reference set> out=<report dir> [floor=<set>]

A set is one of:

- an ``.npz`` written by :func:`pianoroll.output.save_phrases` (arrays ``phrases`` and
  ``spec``), e.g. the generated samples of a training run;
- a dataset cache ``.npz`` written by :meth:`pianoroll.dataset.Dataset.save`;
- a directory of MIDI files (or one MIDI file), read onto the data config's spec
  (``data=<name>``) and cut into phrases with its ``hop_bars`` and ``min_notes``; instruments
  are merged into tracks with ``data.source.families`` if the config has it, else with the
  LPD-5 rules if the spec's tracks include theirs, else each track takes its own program;
  unusable files are skipped with one line each;
- ``data:train``, ``data:validation`` or ``data:all``: the configured dataset, prepared first
  if it has no cache, split as in training (:func:`pianoroll.prepare.load_splits`).

The report (see :mod:`pianoroll.report`) compares ``a`` with the reference ``b`` (and the
optional ``floor`` set with ``b``, the noise floor of two real samples). Bad input exits with
status 2 and one ``error:`` line.

Dataset caches and ``data:`` parts stay packed: their metrics and the memorization check read
them a chunk at a time (:func:`pianoroll.compare.compare_sets`), so memory follows the packed
size and the chunk, not the unpacked set.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from pianoroll.cli import command
from pianoroll.compare import compare_sets
from pianoroll.dataset import CHUNK_PHRASES, Dataset
from pianoroll.errors import DataError, UserError, number_option
from pianoroll.midi import read_midi
from pianoroll.phrases import cut_phrases
from pianoroll.prepare import load_or_prepare, load_splits, make_spec, track_assigner
from pianoroll.report import ReportParts, write_report
from pianoroll.spec import PhraseSpec

__all__ = ["PhraseSet", "compare_and_report", "evaluate", "load_set", "main"]

USAGE = "python -m pianoroll.evaluate a=<set> b=<reference set> out=<report dir>"
MIDI_SUFFIXES = (".mid", ".midi")
DATA_PARTS = ("train", "validation", "all")


@dataclasses.dataclass
class PhraseSet:
    """A set of phrases to compare.

    Attributes:
        name: Display name (file stem, directory name or dataset part).
        source: Where it came from, for messages.
        phrases: ``(N, bars, steps, pitches, tracks)``, binary; or a packed dataset of N such
            phrases, which is never unpacked whole.
        spec: The phrase spec.
    """

    name: str
    source: str
    phrases: np.ndarray | Dataset
    spec: PhraseSpec

    def __len__(self) -> int:
        return len(self.phrases)

    def head(self, count: int) -> np.ndarray:
        """The first ``count`` phrases (all of them if fewer), unpacked.

        Returns:
            ``(k, bars, steps, pitches, tracks)``, binary, ``k <= count``.
        """
        if isinstance(self.phrases, Dataset):
            return self.phrases.phrases_at(slice(0, count))
        return self.phrases[:count]


def _binary(phrases: np.ndarray | Dataset, spec: PhraseSpec, where: str) -> np.ndarray | Dataset:
    """The phrases as bool after checking their shape (0/1 numbers are accepted); a dataset,
    binary and of its spec's shape by construction, is only checked to hold a phrase."""
    if isinstance(phrases, Dataset):
        if not len(phrases):
            raise DataError(f"{where}: holds no phrases", "empty")
        return phrases
    if phrases.ndim != 5 or phrases.shape[1:] != spec.shape:
        raise DataError(
            f"{where}: phrases have shape {phrases.shape}, expected (N, "
            f"{', '.join(map(str, spec.shape))}) from its spec",
            "wrong shape",
        )
    if phrases.dtype != np.bool_:
        if not (np.issubdtype(phrases.dtype, np.number) and np.isin(phrases, (0, 1)).all()):
            raise DataError(f"{where}: phrases of dtype {phrases.dtype} are not binary", "values")
        phrases = phrases.astype(bool)
    if not len(phrases):
        raise DataError(f"{where}: holds no phrases", "empty")
    return phrases


def _load_npz(path: Path) -> tuple[np.ndarray | Dataset, PhraseSpec]:
    """Phrases and spec from a ``save_phrases`` file (an array) or a dataset cache (packed)."""
    try:
        with path.open("rb") as file:
            magic = file.read(6)
        if magic == b"\x93NUMPY":
            raise DataError(f"{path}: a single .npy array, not an .npz of phrases", "unreadable")
        if not magic.startswith(b"PK"):
            raise DataError(f"{path}: not an .npz file (not a zip archive)", "unreadable")
        archive = np.load(path, allow_pickle=False)
    except DataError:
        raise
    except Exception as err:  # zipfile, OS and format errors on broken files
        raise DataError(f"{path}: not a readable .npz file ({err})", "unreadable") from None
    with archive:
        files = set(archive.files)
        if "meta" in files:  # a dataset cache
            dataset = Dataset.load(path)
            return dataset, dataset.spec
        if not {"phrases", "spec"} <= files:
            raise DataError(
                f"{path}: has arrays {sorted(files)}, expected 'phrases' and 'spec' (written by "
                "pianoroll.output.save_phrases) or a dataset cache",
                "unreadable",
            )
        try:
            spec = PhraseSpec.from_dict(json.loads(archive["spec"].tobytes()))
            phrases = archive["phrases"]
        except Exception as err:  # corrupt members: zlib, CRC, JSON and spec errors
            raise DataError(f"{path}: corrupt phrases file ({err})", "unreadable") from None
    return phrases, spec


def _load_midi(path: Path, data_cfg: DictConfig) -> tuple[np.ndarray, PhraseSpec]:
    """Phrases cut from a MIDI file or every MIDI file below a directory."""
    spec = make_spec(data_cfg)
    assign = track_assigner(data_cfg, spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES)
        files = [p for p in files if p.is_file()]
    else:
        files = [path]
    if not files:
        raise DataError(f"{path}: no .mid/.midi files in this directory tree", "missing")
    parts = []
    for file in files:
        try:
            song = read_midi(file, spec, assign)
        except DataError as err:
            print(f"skipped {err}", file=sys.stderr)
            continue
        cut = cut_phrases(song, spec, int(data_cfg.hop_bars), int(data_cfg.min_notes))
        cut.phrases = cut.phrases[..., : spec.n_tracks]  # the rolls (metrics read no onsets)
        if not len(cut.phrases):
            print(f"skipped {file}: no phrase with enough notes in range", file=sys.stderr)
            continue
        parts.append(cut.phrases)
    if not parts:
        raise DataError(f"{path}: none of the {len(files)} MIDI files gave a phrase", "no phrase")
    return np.concatenate(parts), spec


def load_set(source: str, cfg: DictConfig) -> PhraseSet:
    """Load one set of phrases (see the module docstring for the accepted sources).

    Args:
        source: A path, or ``data:<train|validation|all>``.
        cfg: The ``evaluate`` config (for ``data`` and ``paths``).

    Raises:
        DataError: the source is missing, unreadable, not binary, of the wrong shape or empty.
        UserError: a bad ``data:`` part or track families.
    """
    source = str(source)
    if source.startswith("data:"):
        return _load_data_part(source, cfg)
    return _load_path(Path(source).expanduser(), cfg.data)


def _load_data_part(source: str, cfg: DictConfig) -> PhraseSet:
    """``data:<part>``: the configured dataset, whole or one part of its training split.

    Raises:
        UserError: an unknown part, or no training phrase left by the split.
    """
    part = source.split(":", 1)[1]
    if part not in DATA_PARTS:
        raise UserError(f"{source}: use one of {', '.join('data:' + p for p in DATA_PARTS)}")
    if part == "all":
        dataset, _ = load_or_prepare(cfg.data, cfg.paths.data_dir)
    else:
        splits = load_splits(cfg.data, cfg.paths.data_dir)
        dataset = splits.train if part == "train" else splits.validation
    where = f"{source} (data={cfg.data.name})"
    return PhraseSet(part, where, _binary(dataset, dataset.spec, where), dataset.spec)


def _load_path(path: Path, data_cfg: DictConfig) -> PhraseSet:
    """A phrases file, a dataset cache, a MIDI file or a directory of MIDI files."""
    if not path.exists():
        raise DataError(f"{path}: no such file or directory", "missing")
    if path.is_dir() or path.suffix.lower() in MIDI_SUFFIXES:
        phrases, spec = _load_midi(path, data_cfg)
        name = path.name if path.is_dir() else path.stem
    else:
        phrases, spec = _load_npz(path)
        name = path.stem
    return PhraseSet(name, str(path), _binary(phrases, spec, str(path)), spec)


def _check_compatible(a: PhraseSet, b: PhraseSet, label: str) -> None:
    if a.spec.shape != b.spec.shape:
        raise DataError(
            f"{label} ({a.source}) has phrases of shape {a.spec.shape}, b ({b.source}) "
            f"{b.spec.shape}; compare sets of one phrase spec",
            "wrong shape",
        )
    if a.spec != b.spec:
        ours, theirs = a.spec.to_dict(), b.spec.to_dict()
        fields = [k for k in ours if ours[k] != theirs[k]]
        raise DataError(
            f"{label} ({a.source}) and b ({b.source}) have different phrase specs "
            f"({', '.join(fields)} differ)",
            "wrong spec",
        )


def _unique_names(sets: dict[str, PhraseSet]) -> dict[str, str]:
    """Display names, with the role appended where two sets share a name."""
    names = [s.name for s in sets.values()]
    return {
        role: s.name if names.count(s.name) == 1 else f"{s.name} ({role})"
        for role, s in sets.items()
    }


def evaluate(cfg: DictConfig) -> dict[str, Path]:
    """Load the sets of an ``evaluate`` config, compare them and write the report.

    Returns:
        The files written (see :func:`pianoroll.report.write_report`).

    Raises:
        UserError: missing keys or bad values; DataError for unusable sets.
    """
    for key in ("a", "b", "out"):
        if cfg.get(key) in (None, ""):
            raise UserError(f"{key} is missing; usage: {USAGE}")
    threshold = number_option(cfg, "threshold", float, 0.0, 1.0)
    bins = number_option(cfg, "bins", int, 16)
    n_samples = number_option(cfg, "samples", int, 0)

    sets = {"a": load_set(cfg.a, cfg), "b": load_set(cfg.b, cfg)}
    if cfg.get("floor"):
        sets["floor"] = load_set(cfg.floor, cfg)
    for role, phrase_set in sets.items():
        if role != "b":
            _check_compatible(phrase_set, sets["b"], role)
    for role, phrase_set in sets.items():
        print(f"{role}: {len(phrase_set)} phrases from {phrase_set.source}")

    return compare_and_report(
        sets,
        cfg.out,
        title=str(cfg.title) if cfg.get("title") else None,
        samples=n_samples,
        bins=bins,
        memorization_threshold=threshold if cfg.memorization else None,
    )


def compare_and_report(
    sets: dict[str, PhraseSet],
    out: str | Path,
    title: str | None = None,
    samples: int = 16,
    bins: int = 512,
    memorization_threshold: float | None = 0.05,
    chunk_size: int = CHUNK_PHRASES,
) -> dict[str, Path]:
    """Compare set ``a`` with the reference ``b`` (and ``floor`` with ``b``), write the report
    and print one line per comparison.

    Args:
        sets: role (``a``, ``b``, optional ``floor``) -> set, all of one phrase spec.
        out: the report folder.
        title: the report title; None: ``"<a> vs <b>"``.
        samples: phrases of ``a`` drawn in ``samples.png``; 0 for none.
        bins: grid points of the kernel density estimates.
        memorization_threshold: near-copy threshold of the memorization check; None skips it.
        chunk_size: phrases of a packed set unpacked at a time (the ``samples`` drawn are
            unpacked together).

    Returns:
        The files written (see :func:`pianoroll.report.write_report`).
    """
    parts = _compare(sets, bins, memorization_threshold, chunk_size)
    shown = sets["a"].head(samples) if samples > 0 else None
    labelled = parts.labelled()
    written = write_report(out, labelled, sets["b"].spec, shown, title or parts.main_label)
    for label, comparison in labelled.items():
        print(_distance_line(label, comparison))
    print(f"report: {written['report.md']}")
    return written


def _compare(
    sets: dict[str, PhraseSet],
    bins: int,
    memorization_threshold: float | None,
    chunk_size: int = CHUNK_PHRASES,
) -> ReportParts:
    """Set ``a`` against the reference ``b``, and ``floor`` against ``b`` if given.

    Args:
        sets: role (``a``, ``b``, optional ``floor``) -> set, all of one phrase spec.
        bins: grid points of the kernel density estimates.
        memorization_threshold: near-copy threshold of the memorization check; None skips it.
        chunk_size: phrases of a packed set unpacked at a time.

    Returns:
        The comparisons, named by set, with the noise floor's numbers beside the main ones.
    """
    names = _unique_names(sets)
    spec = sets["b"].spec
    options: dict[str, Any] = {
        "bins": bins,
        "memorization_threshold": memorization_threshold,
        "chunk_size": chunk_size,
    }
    floor = None
    if "floor" in sets:
        floor = compare_sets(
            sets["floor"].phrases,
            sets["b"].phrases,
            spec,
            names=(names["floor"], names["b"]),
            **options,
        )
    main = compare_sets(
        sets["a"].phrases, sets["b"].phrases, spec, floor, names=(names["a"], names["b"]), **options
    )
    return ReportParts(main, floor)


def _distance_line(label: str, comparison: Mapping[str, Any]) -> str:
    """One line for a comparison: its Fréchet distance and, if checked, its share of copies."""
    distance = comparison["frechet_distance"]
    line = f"{label}: Fréchet distance {'n/a' if distance is None else f'{distance:.4g}'}"
    if "memorization" in comparison:
        memo = comparison["memorization"]
        line += (
            f", exact copies {100 * memo['exact_share']:.1f} %, near copies"
            f" {100 * memo['near_share']:.1f} %"
        )
    return line


@command("pkg://conf", "evaluate")
def main(cfg: DictConfig) -> None:
    """Compare ``a`` with the reference ``b`` and write the report to ``out``."""
    evaluate(cfg)


if __name__ == "__main__":
    main()
