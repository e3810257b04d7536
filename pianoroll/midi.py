"""MIDI input and output: notes to pianoroll on a beat grid, and pianoroll back to notes.

Meter policy
------------
A phrase is cut on the grid of the spec's bar (``beats_per_bar`` beats of a ``1/beat_unit``
note). A file's time signatures divide it into sections, and each section is kept or dropped
by the policy ``meters`` (``data.source.meters``):

- ``exact``: only the spec's own time signature (4/4 for a 4/4 spec).
- ``same_length``: any time signature whose bar lasts as long as the spec's (2/2 and 4/4
  alike, both four quarter notes).
- ``multiples`` (the default): also bars a whole multiple of the spec's (4/2 is two 4/4 bars,
  each downbeat of the file a downbeat of the grid), and whole divisors of it (2/4 bars taken in
  pairs) where the pairing is unambiguous: the section starts on the bar grid that the file's
  first downbeat sets.

Phrases never cross from one section to another. A first section no longer than one bar of
its own, shorter than the bar of the section after it (a 1/4 bar before 4/4, the way
notation programs export a pickup), is a pickup: its notes lead into the first bar, as do notes
before the first time signature. A file without time signatures is in 4/4 (the MIDI default).
The summary counts sections by time signature and what happened to them.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import math
import os
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pretty_midi

from pianoroll.errors import DataError
from pianoroll.io import atomic_path
from pianoroll.phrases import SongRoll
from pianoroll.smf import repair_smf
from pianoroll.spec import PhraseSpec

__all__ = [
    "METER_POLICIES",
    "BeatGrid",
    "load_midi",
    "load_midi_repaired",
    "meter_sections",
    "midi_to_song",
    "notes_to_onsets",
    "notes_to_roll",
    "read_midi",
    "roll_to_instruments",
    "roll_to_midi",
    "roll_to_notes",
    "save_midi",
    "write_midi",
]

#: Maps (program, is_drum, name) of a MIDI instrument to a track index, or None to drop it.
TrackAssigner = Callable[[int, bool, str], "int | None"]

#: The meter policies, strictest first (see the module docstring).
METER_POLICIES = ("exact", "same_length", "multiples")


def notes_to_roll(
    starts: np.ndarray,
    ends: np.ndarray,
    pitches: np.ndarray,
    tracks: np.ndarray,
    n_tracks: int,
    n_steps: int | None = None,
) -> np.ndarray:
    """Draw notes into a binary roll.

    Args:
        starts: ``(notes,)`` first step of each note.
        ends: ``(notes,)`` step after the last; a note lasts at least one step.
        pitches: ``(notes,)`` MIDI pitches 0-127.
        tracks: ``(notes,)`` track indices.
        n_tracks: number of tracks.
        n_steps: length of the roll in steps; None: up to the end of the last note.

    Returns:
        ``(n_steps, 128, n_tracks)``, binary.
    """
    starts = np.asarray(starts, np.int64)
    if n_steps is None:
        n_steps = int(np.maximum(np.asarray(ends, np.int64), starts + 1).max(initial=0))
    starts = np.clip(starts, 0, n_steps)
    ends = np.clip(np.maximum(np.asarray(ends, np.int64), starts + 1), 0, n_steps)
    # A difference array makes overlapping notes add up instead of needing a Python loop.
    delta = np.zeros((n_steps + 1, 128, n_tracks), np.int32)
    np.add.at(delta, (starts, pitches, tracks), 1)
    np.add.at(delta, (ends, pitches, tracks), -1)
    return np.cumsum(delta[:-1], axis=0) > 0


def notes_to_onsets(
    starts: np.ndarray, pitches: np.ndarray, tracks: np.ndarray, n_tracks: int, n_steps: int
) -> np.ndarray:
    """Mark where notes start, on the grid of :func:`notes_to_roll`.

    Args:
        starts: ``(notes,)`` first step of each note.
        pitches: ``(notes,)`` MIDI pitches 0-127.
        tracks: ``(notes,)`` track indices.
        n_tracks: number of tracks.
        n_steps: length of the roll in steps (starts past it are dropped).

    Returns:
        ``(n_steps, 128, n_tracks)``, binary.
    """
    onsets = np.zeros((n_steps, 128, n_tracks), bool)
    starts = np.maximum(np.asarray(starts, np.int64), 0)
    inside = starts < n_steps
    onsets[starts[inside], np.asarray(pitches)[inside], np.asarray(tracks)[inside]] = True
    return onsets


@dataclasses.dataclass(frozen=True)
class BeatGrid:
    """The mapping between seconds and pianoroll steps of one MIDI file.

    Attributes:
        beats: ``(n,)`` seconds of each quarter note, ``n >= 2``; times past the last one
            continue at the last one's length.
        steps_per_beat: the pianoroll resolution, steps per quarter note
            (:attr:`PhraseSpec.steps_per_quarter`).
    """

    beats: np.ndarray
    steps_per_beat: int

    @classmethod
    def of(cls, midi: pretty_midi.PrettyMIDI, steps_per_beat: int) -> BeatGrid:
        """The grid of a MIDI file's own quarter notes (so tempo changes are followed).

        Quarter notes, not pretty_midi's beats: those follow the time signature (halves in
        2/2, dotted quarters in 6/8), and a step must last as long in every meter.
        """
        quarters = midi.time_to_tick(midi.get_end_time()) // midi.resolution + 2
        beats = [midi.tick_to_time(q * midi.resolution) for q in range(quarters)]
        return cls(np.asarray(beats, np.float64), int(steps_per_beat))

    @classmethod
    def constant(cls, tempo: float, steps_per_beat: int) -> BeatGrid:
        """A grid of ``tempo`` quarter notes per minute from time 0."""
        return cls(np.array([0.0, 60.0 / float(tempo)]), int(steps_per_beat))

    def to_step(self, times: np.ndarray) -> np.ndarray:
        """Seconds to the nearest step, ``int64``."""
        beats = self.beats
        beat = np.interp(times, beats, np.arange(len(beats)), right=np.nan)
        beat = np.where(
            np.isnan(beat), len(beats) - 1 + (times - beats[-1]) / (beats[-1] - beats[-2]), beat
        )
        return np.round(beat * self.steps_per_beat).astype(np.int64)

    def to_time(self, steps: np.ndarray) -> np.ndarray:
        """Steps (any real numbers >= 0) to seconds."""
        beats = self.beats
        beat = np.asarray(steps, np.float64) / self.steps_per_beat
        last = len(beats) - 1
        inside = np.interp(np.minimum(beat, last), np.arange(len(beats)), beats)
        return np.where(beat > last, beats[-1] + (beat - last) * (beats[-1] - beats[-2]), inside)


def _parse(source: str | io.BytesIO) -> pretty_midi.PrettyMIDI:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pretty_midi.PrettyMIDI(source)


def load_midi_repaired(
    path: str | os.PathLike[str],
) -> tuple[pretty_midi.PrettyMIDI, collections.Counter[str]]:
    """Parse a MIDI file, repairing the faults a strict reader refuses (see
    :mod:`pianoroll.smf`: out-of-range data bytes clipped, undecodable meta events ignored).

    Returns:
        The parsed file and the repairs made (empty for a file read as it is).

    Raises:
        DataError: the file cannot be read as MIDI even so (``reason`` ``"unreadable"``).
    """
    try:
        return _parse(str(path)), collections.Counter()
    except Exception as err:  # mido and pretty_midi raise many types on corrupt files
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    try:
        repaired, counts = repair_smf(Path(path).read_bytes())
        if counts:
            return _parse(io.BytesIO(repaired)), counts
    except Exception:  # the repaired file fails too: the first reason is the one to report
        pass
    raise DataError(f"{path}: not a readable MIDI file ({reason})", "unreadable")


def load_midi(path: str | os.PathLike[str]) -> pretty_midi.PrettyMIDI:
    """Parse a MIDI file, repaired where it can be (see :func:`load_midi_repaired`).

    Raises:
        DataError: the file cannot be read as MIDI (``reason`` ``"unreadable"``).
    """
    return load_midi_repaired(path)[0]


def read_midi(
    path: str | os.PathLike[str],
    spec: PhraseSpec,
    assign: TrackAssigner,
    meters: str = "multiples",
) -> SongRoll:
    """Read a MIDI file onto the spec's beat grid (see :func:`midi_to_song`); the repairs made
    while reading are counted in the song's ``report``."""
    path = Path(path)
    midi, repairs = load_midi_repaired(path)
    song = midi_to_song(midi, path, spec, assign, meters)
    song.report.update({f"repaired: {kind}": n for kind, n in repairs.items()})
    return song


def meter_sections(
    signatures: list[tuple[int, int, int]], n_steps: int, spec: PhraseSpec, meters: str
) -> tuple[list[tuple[int, int]], int, collections.Counter[str]]:
    """The sections of a file that the meter policy keeps (see the module docstring).

    Args:
        signatures: ``(step, numerator, denominator)`` of each time signature, by step.
        n_steps: the length of the file in steps.
        spec: the phrase spec (its bar and resolution).
        meters: the policy, one of :data:`METER_POLICIES`.

    Returns:
        ``(sections, first_downbeat, fates)``: the kept sections as ``[start, end)`` steps,
        each cut into bars from its start (the first may start before 0, where a pickup is
        padded with silence); the step of the file's first downbeat; and per section, counts
        of ``"<n>/<d> <fate>"`` (fates: ``kept``, ``pickup``, ``other meter``,
        ``ambiguous downbeat``).
    """
    if meters not in METER_POLICIES:
        raise ValueError(f"meters={meters!r}: use one of {', '.join(METER_POLICIES)}")
    merged: list[tuple[int, int, int]] = []
    for step, num, den in signatures or [(0, 4, 4)]:
        if merged and merged[-1][0] == step:
            merged.pop()  # two at one step: the later one holds
        if not merged or merged[-1][1:] != (num, den):
            merged.append((step, num, den))
    ends = [s for s, _, _ in merged[1:]] + [max(n_steps, merged[-1][0])]
    bar = spec.steps_per_bar
    quarter = spec.steps_per_quarter
    fates: collections.Counter[str] = collections.Counter()
    first = 0
    if len(merged) > 1:
        (step, num, den), (_, next_num, next_den) = merged[0], merged[1]
        own_bar, next_bar = Fraction(4 * num, den), Fraction(4 * next_num, next_den)
        length = Fraction(ends[0] - step, quarter)
        if length <= own_bar and length < next_bar:
            fates[f"{num}/{den} pickup"] += 1
            first = 1
    origin = merged[first][0]
    sections = []
    for (start, num, den), end in zip(merged[first:], ends[first:], strict=True):
        fate = _fate(Fraction(4 * num, den), (num, den), spec, meters, (start - origin) % bar)
        fates[f"{num}/{den} {fate}"] += 1
        if fate == "kept":
            sections.append((start, end))
    if sections and sections[0][0] == origin:
        sections[0] = (origin - math.ceil(origin / bar) * bar, sections[0][1])
    return sections, origin, fates


def _fate(
    quarters: Fraction, signature: tuple[int, int], spec: PhraseSpec, meters: str, offset: int
) -> str:
    """What the policy does with a section: ``kept``, ``other meter`` or ``ambiguous downbeat``.

    Args:
        quarters: the section's bar in quarter notes.
        signature: its ``(numerator, denominator)``.
        spec: the phrase spec.
        meters: the policy.
        offset: steps from the bar grid of the file's first downbeat to the section's start.
    """
    if signature == (spec.beats_per_bar, spec.beat_unit):
        return "kept"
    if meters == "exact":
        return "other meter"
    if quarters == spec.bar_quarters:
        return "kept"
    if meters == "same_length":
        return "other meter"
    if (quarters / spec.bar_quarters).denominator == 1:
        return "kept"
    if (spec.bar_quarters / quarters).denominator == 1:
        return "kept" if offset == 0 else "ambiguous downbeat"
    return "other meter"


def midi_to_song(
    midi: pretty_midi.PrettyMIDI,
    path: str | os.PathLike[str],
    spec: PhraseSpec,
    assign: TrackAssigner,
    meters: str = "multiples",
) -> SongRoll:
    """Put a parsed MIDI file onto the spec's beat grid.

    Note times are mapped to steps through the file's own quarter notes (so tempo changes are
    followed); the sections to cut and the first downbeat come from its time signatures and the
    meter policy (see the module docstring).

    Args:
        midi: the parsed file.
        path: where it came from (for messages and the song name).
        spec: the phrase spec (resolution, bar, tracks).
        assign: maps each instrument's (program, is_drum, name) to a track index or None (dropped).
        meters: the meter policy, one of :data:`METER_POLICIES`.

    Returns:
        The song roll ``(time_steps, 128, tracks)``, binary, with its sections and a report
        counting them by time signature and fate.

    Raises:
        DataError: no section is in an accepted meter, or the file has no notes; ``reason``
            says which, for the skip counts.
    """
    path = Path(path)
    notes = [
        (note.start, note.end, note.pitch, track)
        for instrument in midi.instruments
        if (track := assign(instrument.program, instrument.is_drum, instrument.name)) is not None
        for note in instrument.notes
    ]
    if not notes:
        raise DataError(f"{path}: no notes in any used track", "no notes")
    start, end, pitch, track = (np.array(column) for column in zip(*notes, strict=True))
    grid = BeatGrid.of(midi, spec.steps_per_quarter)
    starts, ends = grid.to_step(start), grid.to_step(end)
    roll = notes_to_roll(starts, ends, pitch, track, spec.n_tracks)
    onsets = notes_to_onsets(starts, pitch, track, spec.n_tracks, len(roll))
    # The first time signature marks the first downbeat; notes before it are a pickup.
    # (pretty_midi's get_downbeats would put a downbeat at 0 s whatever the file says.)
    changes = sorted(midi.time_signature_changes, key=lambda c: c.time)
    steps = grid.to_step(np.array([c.time for c in changes], np.float64))
    signatures = [(int(s), c.numerator, c.denominator) for s, c in zip(steps, changes, strict=True)]
    sections, first_downbeat, fates = meter_sections(signatures, len(roll), spec, meters)
    report = collections.Counter({f"section {fate}": n for fate, n in fates.items()})
    if not sections:
        found = ", ".join(sorted({f"{n}/{d}" for _, n, d in signatures}))
        raise DataError(
            f"{path}: time signature {found} has no section in a meter of the"
            f" {spec.time_signature} bar (data.source.meters={meters})",
            "other time signature",
            report,
        )
    return SongRoll(path.name, roll, first_downbeat, tuple(sections), report, onsets)


def roll_to_notes(
    roll: np.ndarray, onsets: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn one track's roll into notes.

    Args:
        roll: ``(time_steps, pitches)``, binary.
        onsets: optional ``(time_steps, pitches)`` binary; an onset inside a run of active
            steps starts a new note there (repeated notes stay separate).

    Returns:
        ``(starts, ends, pitch_indices)``, each ``(notes,)`` ``int``, in steps and pitch indices.
    """
    roll = np.asarray(roll, bool)
    n_steps = roll.shape[0]
    padded = np.zeros((n_steps + 2, roll.shape[1]), bool)
    padded[1:-1] = roll
    begin = padded[1:] & ~padded[:-1]  # begin[t]: a note starts at step t
    stop = padded[:-1] & ~padded[1:]  # stop[t]: a note ends before step t
    if onsets is not None:
        restart = np.asarray(onsets, bool) & roll & padded[:-2]
        begin[:n_steps] |= restart
        stop[:n_steps] |= restart
    # nonzero over the transposed arrays orders by pitch, then time, so starts and stops pair up.
    start_pitch, start_step = np.nonzero(begin.T)
    _, stop_step = np.nonzero(stop.T)
    return start_step, stop_step, start_pitch


def roll_to_instruments(
    roll: np.ndarray,
    spec: PhraseSpec,
    grid: BeatGrid,
    onsets: np.ndarray | None = None,
    first_step: int = 0,
    velocity: int = 100,
) -> list[pretty_midi.Instrument]:
    """Turn a pianoroll into one MIDI instrument per track.

    Args:
        roll: ``(bars, steps, pitches, tracks)`` or ``(time_steps, pitches, tracks)``, binary.
        spec: the phrase spec (resolution, pitch offset, tracks).
        grid: where each step falls in seconds.
        onsets: optional, the same shape as ``roll``, binary: where repeated notes restart.
        first_step: the grid step of the roll's first step.
        velocity: the notes' velocity.

    Returns:
        One instrument per track with its name and General MIDI program, drums flagged.
    """
    roll = np.asarray(roll, bool)
    roll = roll.reshape(-1, roll.shape[-2], roll.shape[-1])
    if onsets is not None:
        onsets = np.asarray(onsets, bool).reshape(roll.shape)
    if roll.shape[1:] != (spec.n_pitches, spec.n_tracks):
        raise ValueError(
            f"pianoroll has pitches x tracks {roll.shape[1:]}, the spec"
            f" {(spec.n_pitches, spec.n_tracks)}"
        )
    instruments = []
    for k, track in enumerate(spec.tracks):
        instrument = pretty_midi.Instrument(track.program, is_drum=track.is_drum, name=track.name)
        starts, ends, pitches = roll_to_notes(
            roll[:, :, k], None if onsets is None else onsets[:, :, k]
        )
        start_times = grid.to_time(starts + first_step)
        end_times = grid.to_time(ends + first_step)
        for s, e, p in zip(start_times, end_times, pitches, strict=True):
            instrument.notes.append(
                pretty_midi.Note(velocity, int(p) + spec.lowest_pitch, float(s), float(e))
            )
        instruments.append(instrument)
    return instruments


def roll_to_midi(
    roll: np.ndarray, spec: PhraseSpec, tempo: float = 100.0, onsets: np.ndarray | None = None
) -> pretty_midi.PrettyMIDI:
    """Build a MIDI object from a pianoroll.

    Args:
        roll: ``(bars, steps, pitches, tracks)`` or ``(time_steps, pitches, tracks)``, binary.
        spec: the phrase spec (resolution, pitch offset, tracks).
        tempo: quarter notes per minute.
        onsets: optional, the same shape as ``roll``, binary: where repeated notes restart.

    Returns:
        One instrument per track with its name and General MIDI program, drums on the drum
        channel, the tempo and the spec's time signature.
    """
    midi = pretty_midi.PrettyMIDI(
        initial_tempo=tempo, resolution=max(220, spec.steps_per_quarter * 24)
    )
    signature = pretty_midi.TimeSignature(spec.beats_per_bar, spec.beat_unit, 0.0)
    midi.time_signature_changes.append(signature)
    grid = BeatGrid.constant(tempo, spec.steps_per_quarter)
    midi.instruments.extend(roll_to_instruments(roll, spec, grid, onsets))
    return midi


def save_midi(path: str | os.PathLike[str], midi: pretty_midi.PrettyMIDI) -> None:
    """Write a MIDI object to a file, atomically."""
    with atomic_path(path) as tmp:
        midi.write(str(tmp))


def write_midi(
    path: str | os.PathLike[str],
    roll: np.ndarray,
    spec: PhraseSpec,
    tempo: float = 100.0,
    onsets: np.ndarray | None = None,
) -> None:
    """Write a pianoroll as a MIDI file, atomically (see :func:`roll_to_midi` for the layout)."""
    save_midi(path, roll_to_midi(roll, spec, tempo, onsets))
