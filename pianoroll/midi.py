"""MIDI input and output: notes to pianoroll on a beat grid, and pianoroll back to notes."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pretty_midi

from pianoroll.errors import DataError
from pianoroll.io import atomic_path
from pianoroll.phrases import SongRoll
from pianoroll.spec import PhraseSpec

__all__ = [
    "BeatGrid",
    "load_midi",
    "midi_to_song",
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


@dataclasses.dataclass(frozen=True)
class BeatGrid:
    """The mapping between seconds and pianoroll steps of one MIDI file.

    Attributes:
        beats: ``(n,)`` seconds of each beat, ``n >= 2``; times past the last beat continue at
            the last beat's length.
        steps_per_beat: the pianoroll resolution.
    """

    beats: np.ndarray
    steps_per_beat: int

    @classmethod
    def of(cls, midi: pretty_midi.PrettyMIDI, steps_per_beat: int) -> BeatGrid:
        """The grid of a MIDI file's own beats (so tempo changes are followed).

        Raises:
            ValueError: the file is too short to have two beats.
        """
        beats = midi.get_beats()
        if len(beats) < 2:
            raise ValueError("too short to have a beat grid")
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


def load_midi(path: str | os.PathLike[str]) -> pretty_midi.PrettyMIDI:
    """Parse a MIDI file.

    Raises:
        DataError: the file cannot be read as MIDI (``reason`` ``"unreadable"``).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pretty_midi.PrettyMIDI(str(path))
    except Exception as err:  # mido and pretty_midi raise many types on corrupt files
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: not a readable MIDI file ({reason})", "unreadable") from None


def read_midi(path: str | os.PathLike[str], spec: PhraseSpec, assign: TrackAssigner) -> SongRoll:
    """Read a MIDI file onto the spec's beat grid (see :func:`midi_to_song`)."""
    path = Path(path)
    return midi_to_song(load_midi(path), path, spec, assign)


def midi_to_song(
    midi: pretty_midi.PrettyMIDI,
    path: str | os.PathLike[str],
    spec: PhraseSpec,
    assign: TrackAssigner,
) -> SongRoll:
    """Put a parsed MIDI file onto the spec's beat grid.

    Note times are mapped to steps through the file's own beat times (so tempo changes are
    followed); the first downbeat comes from its time signatures.

    Args:
        midi: the parsed file.
        path: where it came from (for messages and the song name).
        spec: the phrase spec (steps per beat, beats per bar, tracks).
        assign: maps each instrument's (program, is_drum, name) to a track index or None (dropped).

    Returns:
        The song roll ``(time_steps, 128, tracks)``, binary.

    Raises:
        DataError: the file has another meter or no notes; ``reason`` says which, for the
            skip counts.
    """
    path = Path(path)
    for change in midi.time_signature_changes:
        if (change.numerator, change.denominator) != (spec.beats_per_bar, 4):
            raise DataError(
                f"{path}: time signature {change.numerator}/{change.denominator} is not"
                f" {spec.beats_per_bar}/4",
                "other time signature",
            )
    notes = [
        (note.start, note.end, note.pitch, track)
        for instrument in midi.instruments
        if (track := assign(instrument.program, instrument.is_drum, instrument.name)) is not None
        for note in instrument.notes
    ]
    if not notes:
        raise DataError(f"{path}: no notes in any used track", "no notes")
    start, end, pitch, track = (np.array(column) for column in zip(*notes, strict=True))
    try:
        grid = BeatGrid.of(midi, spec.steps_per_beat)
    except ValueError as err:
        raise DataError(f"{path}: {err}", "no notes") from None
    starts, ends = grid.to_step(start), grid.to_step(end)
    # The first time signature marks the first downbeat; notes before it are a pickup.
    # (pretty_midi's get_downbeats would put a downbeat at 0 s whatever the file says.)
    changes = midi.time_signature_changes
    first_downbeat = 0
    if changes:
        first_downbeat = int(grid.to_step(np.array([min(c.time for c in changes)]))[0])
    roll = notes_to_roll(starts, ends, pitch, track, spec.n_tracks)
    return SongRoll(path.name, roll, first_downbeat)


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
        channel, the tempo and a ``beats_per_bar``/4 time signature.
    """
    midi = pretty_midi.PrettyMIDI(
        initial_tempo=tempo, resolution=max(220, spec.steps_per_beat * 24)
    )
    midi.time_signature_changes.append(pretty_midi.TimeSignature(spec.beats_per_bar, 4, 0.0))
    midi.instruments.extend(
        roll_to_instruments(roll, spec, BeatGrid.constant(tempo, spec.steps_per_beat), onsets)
    )
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
