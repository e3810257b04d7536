"""Data sources: where songs come from and how each becomes a :class:`SongRoll`.

Each source lists its songs (``song_keys``) and loads one (``load_song``); loading is a pure
function of the key, so :mod:`pianoroll.prepare` can spread it over worker processes. A song
that cannot be used raises :class:`DataError`, whose ``reason`` is counted in the summary.
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import numpy as np

from pianoroll.errors import DataError
from pianoroll.midi import (
    METER_POLICIES,
    notes_to_onsets,
    notes_to_roll,
    read_midi,
    roll_to_notes,
)
from pianoroll.phrases import SongRoll
from pianoroll.spec import PhraseSpec
from pianoroll.targets import buildable

__all__ = [
    "LPD5_FAMILIES",
    "BachChorales",
    "LPDDirectory",
    "MidiDirectory",
    "Source",
    "TrackFamilies",
]

#: LPD-5 merge rules (Dong et al. 2018): General MIDI programs (0-based, inclusive ranges) that
#: each track gathers; drum-channel instruments go to the drum track, and every other
#: non-drum program to Strings, the catch-all ensemble track of LPD-5.
LPD5_FAMILIES: dict[str, list[list[int]]] = {
    "Piano": [[0, 7]],
    "Guitar": [[24, 31]],
    "Bass": [[32, 39]],
    "Strings": [[0, 127]],
}


class TrackFamilies:
    """Merges MIDI instruments into the spec's tracks by name, program and drum channel.

    An instrument whose name is a track's name (case-insensitive) goes to that track, so files
    written by this project (or LPD files) map back exactly. Otherwise families are tried in
    the spec's track order, so a catch-all range (``[[0, 127]]``) should
    belong to the last melodic track. Drum-channel instruments go to the first drum track.

    Args:
        spec: the phrase spec whose tracks are the families.
        families: track name -> list of inclusive ``[low, high]`` program ranges. Tracks not
            named here gather nothing (besides drums for drum tracks).
    """

    def __init__(self, spec: PhraseSpec, families: Mapping[str, Sequence[Sequence[int]]]) -> None:
        unknown = set(families) - set(spec.track_names)
        if unknown:
            raise DataError(
                f"track families name unknown tracks {sorted(unknown)}; the tracks are"
                f" {list(spec.track_names)}",
                "config",
            )
        self._drum = next((i for i, t in enumerate(spec.tracks) if t.is_drum), None)
        table = np.full(128, -1, np.int64)
        for index in reversed(range(spec.n_tracks)):  # earlier tracks win
            for low, high in families.get(spec.tracks[index].name, ()):
                table[int(low) : int(high) + 1] = index
        self._table = table
        self._names = {track.name.lower(): i for i, track in enumerate(spec.tracks)}

    def __call__(self, program: int, is_drum: bool, name: str = "") -> int | None:
        """The track index for an instrument, or None to drop it."""
        by_name = self._names.get((name or "").strip().lower())
        if by_name is not None:
            return by_name
        if is_drum:
            return self._drum
        index = int(self._table[int(program)])
        return None if index < 0 else index


@buildable
class Source(abc.ABC):
    """A collection of songs for one phrase spec."""

    @abc.abstractmethod
    def song_keys(self) -> list[str]:
        """Every song's key (a path or corpus name), sorted.

        Raises:
            DataError: the collection does not exist or holds no candidate file.
        """

    @abc.abstractmethod
    def load_song(self, key: str, spec: PhraseSpec) -> SongRoll:
        """Load one song on the spec's grid.

        Raises:
            DataError: the song cannot be used; ``reason`` says why.
        """

    def fingerprint(self) -> list[str]:
        """What identifies the collection's content for the cache key (names, sizes, times)."""
        return self.song_keys()


class _FileTree(Source):
    """Songs are the files below a directory with one of the given suffixes."""

    suffixes: tuple[str, ...] = ()

    def __init__(self, path: str, families: Mapping[str, Sequence[Sequence[int]]] | None = None):
        self.path = Path(path).expanduser()
        self.families = dict(families) if families is not None else dict(LPD5_FAMILIES)

    def song_keys(self) -> list[str]:
        if not self.path.exists():
            raise DataError(f"{self.path}: no such directory", "config")
        if not self.path.is_dir():
            raise DataError(f"{self.path}: not a directory", "config")
        keys = sorted(
            str(p)
            for p in self.path.rglob("*")
            if p.suffix.lower() in self.suffixes and p.is_file()
        )
        if not keys:
            raise DataError(
                f"{self.path}: no {'/'.join(self.suffixes)} files in this directory tree", "config"
            )
        return keys

    def fingerprint(self) -> list[str]:
        return [f"{k}:{(s := Path(k).stat()).st_size}:{s.st_mtime_ns}" for k in self.song_keys()]


class MidiDirectory(_FileTree):
    """Any directory tree of ``.mid``/``.midi`` files, instruments merged into track families.

    Files are read tolerantly (see :mod:`pianoroll.smf`), and their time signatures are
    followed by the meter policy (see :mod:`pianoroll.midi`).

    Args:
        path: the directory.
        families: see :class:`TrackFamilies`; the LPD-5 rules by default.
        meters: the meter policy, one of :data:`pianoroll.midi.METER_POLICIES`.

    Raises:
        DataError: an unknown meter policy.
    """

    suffixes = (".mid", ".midi")

    def __init__(
        self,
        path: str,
        families: Mapping[str, Sequence[Sequence[int]]] | None = None,
        meters: str = "multiples",
    ) -> None:
        super().__init__(path, families)
        if meters not in METER_POLICIES:
            raise DataError(
                f"data.source.meters={meters}: use one of {', '.join(METER_POLICIES)}", "config"
            )
        self.meters = meters

    def load_song(self, key: str, spec: PhraseSpec) -> SongRoll:
        return read_midi(key, spec, TrackFamilies(spec, self.families), self.meters)


class LPDDirectory(_FileTree):
    """A directory tree of Lakh Pianoroll Dataset ``.npz`` files (the pypianoroll format).

    Tracks are matched to the spec's tracks by name, and otherwise merged by program with the
    track families. The pianorolls are resampled to the spec's steps per beat.

    Args:
        path: the directory.
        families: see :class:`TrackFamilies`; the LPD-5 rules by default.
    """

    suffixes = (".npz",)

    def load_song(self, key: str, spec: PhraseSpec) -> SongRoll:
        import pypianoroll

        try:
            multitrack = pypianoroll.load(key)
        except Exception as err:  # zipfile, json, KeyError and numpy errors on broken files
            raise DataError(
                f"{key}: not a pypianoroll .npz file ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
                "unreadable",
            ) from None
        assign = TrackFamilies(spec, self.families)
        resolution = multitrack.resolution
        starts, ends, pitches, tracks = [], [], [], []
        for track in multitrack.tracks:
            roll = np.asarray(track.pianoroll)
            if roll.ndim != 2 or roll.shape[1] != 128:
                raise DataError(
                    f"{key}: track {track.name!r} has shape {roll.shape}, expected (time, 128)",
                    "wrong shape",
                )
            index = assign(track.program, track.is_drum, track.name)
            if index is None:
                continue
            s, e, p = roll_to_notes(roll > 0)
            starts.append(s)
            ends.append(e)
            pitches.append(p)
            tracks.append(np.full(len(s), index))
        if not starts or not sum(len(s) for s in starts):
            raise DataError(f"{key}: no notes in any used track", "no notes")
        factor = Fraction(spec.steps_per_quarter, int(resolution))
        start = np.round(np.concatenate(starts) * float(factor)).astype(np.int64)
        end = np.round(np.concatenate(ends) * float(factor)).astype(np.int64)
        first_downbeat = 0
        if multitrack.downbeat is not None and np.asarray(multitrack.downbeat).any():
            first_downbeat = round(np.flatnonzero(multitrack.downbeat)[0] * float(factor))
        pitch, track = np.concatenate(pitches), np.concatenate(tracks)
        roll = notes_to_roll(start, end, pitch, track, spec.n_tracks)
        onsets = notes_to_onsets(start, pitch, track, spec.n_tracks, len(roll))
        return SongRoll(Path(key).name, roll, first_downbeat, onsets=onsets)


class BachChorales(Source):
    """The Bach chorales bundled with music21 (no download needed).

    Parts are mapped to the spec's tracks by name (``Soprano`` also matches ``Sopran``,
    ``Canto``...), and failing that, when the number of parts equals the number of tracks, by
    mean pitch from high to low. Pieces in another meter are skipped.

    Args:
        limit: read only the first ``limit`` chorales (for quick runs); None for all.
    """

    #: Alternative part names, lower-case prefixes, for the four voices.
    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {
        "soprano": ("soprano", "sopran", "canto", "cantus", "discant", "s."),
        "alto": ("alto", "altus", "a."),
        "tenor": ("tenor", "t."),
        "bass": ("bass", "basso", "bassus", "b."),
    }
    SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit

    def song_keys(self) -> list[str]:
        from music21 import corpus

        keys = sorted(str(p) for p in corpus.getComposer("bach") if p.suffix in self.SUFFIXES)
        if not keys:
            raise DataError("music21 has no bundled Bach chorales in this installation", "config")
        return keys[: self.limit] if self.limit else keys

    def fingerprint(self) -> list[str]:
        import music21

        return [f"music21 {music21.__version__}", *self.song_keys()]

    def _map_parts(self, key: str, parts: list, spec: PhraseSpec) -> list:
        by_name: dict[int, object] = {}
        for part in parts:
            label = (part.partName or part.id or "").strip().lower()
            for index, track in enumerate(spec.tracks):
                aliases = self.ALIASES.get(track.name.lower(), (track.name.lower(),))
                if index not in by_name and label.startswith(aliases):
                    by_name[index] = part
                    break
        if len(by_name) == spec.n_tracks:
            return [by_name[i] for i in range(spec.n_tracks)]
        sounding = [p for p in parts if p.recurse().notes]
        if len(sounding) == spec.n_tracks:
            mean = [
                np.mean([q.midi for n in p.recurse().notes for q in n.pitches]) for p in sounding
            ]
            return [sounding[i] for i in np.argsort(mean)[::-1]]
        raise DataError(
            f"{Path(key).name}: {len(sounding)} sounding parts"
            f" ({', '.join(str(p.partName) for p in parts)}) cannot be mapped to"
            f" {', '.join(spec.track_names)}",
            "parts not mappable",
        )

    def load_song(self, key: str, spec: PhraseSpec) -> SongRoll:
        from music21 import converter, meter

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = converter.parse(key)
        except Exception as err:  # music21 raises many types on malformed scores
            raise DataError(f"{Path(key).name}: cannot be parsed ({err})", "unreadable") from None
        for sig in score.recurse().getElementsByClass(meter.TimeSignature):
            if (sig.numerator, sig.denominator) != (spec.beats_per_bar, spec.beat_unit):
                raise DataError(
                    f"{Path(key).name}: time signature {sig.ratioString} is not"
                    f" {spec.time_signature}",
                    "other time signature",
                )
        parts = self._map_parts(key, list(score.parts), spec)
        starts, ends, pitches, tracks, tied = [], [], [], [], []
        spb = spec.steps_per_quarter
        for index, part in enumerate(parts):
            for note in part.flatten().notes:
                length = Fraction(note.duration.quarterLength)
                if length <= 0:  # grace notes take no time on the grid
                    continue
                offset = Fraction(note.offset)
                # A note tied from the one before continues it: no new onset.
                continues = note.tie is not None and note.tie.type in ("stop", "continue")
                for pitch in note.pitches:
                    starts.append(round(offset * spb))
                    ends.append(round((offset + length) * spb))
                    pitches.append(pitch.midi)
                    tracks.append(index)
                    tied.append(continues)
        if not starts:
            raise DataError(f"{Path(key).name}: no notes", "no notes")
        measures = list(parts[0].getElementsByClass("Measure"))
        first_downbeat = 0
        if len(measures) > 1:
            bar = measures[0].barDuration.quarterLength
            if measures[0].duration.quarterLength < bar:  # a pickup bar
                first_downbeat = round(Fraction(measures[1].offset) * spb)
        starts, pitches, tracks = np.array(starts), np.array(pitches), np.array(tracks)
        roll = notes_to_roll(starts, np.array(ends), pitches, tracks, spec.n_tracks)
        struck = ~np.array(tied, bool)
        onsets = notes_to_onsets(
            starts[struck], pitches[struck], tracks[struck], spec.n_tracks, len(roll)
        )
        return SongRoll(Path(key).stem, roll, first_downbeat, onsets=onsets)
