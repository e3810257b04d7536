"""Cutting songs into phrases on downbeats.

A *song roll* is a binary array ``(time_steps, 128, tracks)`` over all 128 MIDI pitches at the
phrase spec's resolution, plus the step of its first downbeat (a pickup bar comes before it)
and the sections to cut into bars (a song whose meter changes keeps only some; phrases never
cross from one section to the next).
"""

from __future__ import annotations

import collections
import dataclasses
import math

import numpy as np

from pianoroll.spec import PhraseSpec
from pianoroll.voices import make_monophonic, run_starts

__all__ = ["PhraseCut", "SongRoll", "count_onsets", "cut_phrases"]


@dataclasses.dataclass
class SongRoll:
    """One song on the phrase spec's time grid.

    Attributes:
        name: Song identifier (file name or corpus name).
        roll: ``(time_steps, 128, tracks)``, binary; pitch index is the MIDI pitch.
        first_downbeat: Step of the first downbeat; the steps before it are a pickup.
        sections: ``[start, end)`` steps cut into bars from ``start`` (which may be negative:
            silence pads a pickup into a whole bar); None: one section from the bar that holds
            the pickup to the end.
        report: counts of what reading found, for the summary (sections by time signature and
            fate, repairs).
        onsets: ``(time_steps, 128, tracks)``, binary: where notes start (a note tied to the
            one before starts nothing); None: every run of active steps is one note.
    """

    name: str
    roll: np.ndarray
    first_downbeat: int = 0
    sections: tuple[tuple[int, int], ...] | None = None
    report: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    onsets: np.ndarray | None = None

    def bar_sections(self, bar: int) -> tuple[tuple[int, int], ...]:
        """:attr:`sections`, or the one section of a song without them, for bars of ``bar``
        steps."""
        if self.sections is not None:
            return self.sections
        start = self.first_downbeat - math.ceil(self.first_downbeat / bar) * bar
        return ((start, len(self.roll)),)


@dataclasses.dataclass
class PhraseCut:
    """The phrases of one song and what was dropped on the way.

    Attributes:
        phrases: ``(n, bars, steps, pitches, channels)``, binary model tensors: the tracks'
            rolls, then each voice's onset roll (see :mod:`pianoroll.voices`).
        notes_out_of_range: Notes whose pitch lies outside the spec's pitch range.
        phrases_too_sparse: Phrases dropped for having fewer than ``min_notes`` notes.
        voice_overlaps: Steps of the song's voices (monophonic tracks) that sounded more than
            one pitch in range, resolved by keeping the highest.
    """

    phrases: np.ndarray
    notes_out_of_range: int
    phrases_too_sparse: int
    voice_overlaps: int = 0


def count_onsets(roll: np.ndarray) -> np.ndarray:
    """Count note onsets: active cells whose previous time step is inactive.

    Args:
        roll: ``(..., time, cells)``, binary; ``cells`` is any flattened pitch/track axis.

    Returns:
        ``(...)``, ``int``: the number of onsets per leading index.
    """
    return run_starts(roll, axis=-2).sum(axis=(-2, -1))


def cut_phrases(song: SongRoll, spec: PhraseSpec, hop_bars: int, min_notes: int) -> PhraseCut:
    """Cut a song into phrases of ``spec.n_bars`` bars that start on downbeats.

    The pickup before the first downbeat is kept at the end of a padded first bar, so that the
    first phrase starts on the bar that contains the pickup. Each of the song's sections is cut
    on its own: phrases start every ``hop_bars`` bars from its start, and an incomplete phrase
    at its end is dropped.

    Args:
        song: the song; ``song.roll`` is ``(time_steps, 128, tracks)``, binary.
        spec: the phrase spec (resolution, bars, pitch range).
        hop_bars: bars between the starts of consecutive phrases (>= 1).
        min_notes: phrases with fewer note onsets (all tracks together) are dropped.

    Returns:
        The phrases ``(n, bars, steps, pitches, channels)`` (binary model tensors: the rolls,
        then each voice's onsets, its overlaps resolved by :func:`pianoroll.voices.make_monophonic`)
        and drop counts.
    """
    if hop_bars < 1:
        raise ValueError(f"hop_bars must be at least 1, got {hop_bars}")
    roll = np.asarray(song.roll, bool)
    low, high = spec.lowest_pitch, spec.lowest_pitch + spec.n_pitches
    outside = np.concatenate([roll[:, :low], roll[:, high:]], axis=1)
    notes_out_of_range = int(count_onsets(outside.reshape(len(outside), -1)))
    roll, overlaps = _with_voices(song, roll[:, low:high], spec)
    parts, sparse = [np.zeros((0, *spec.channel_shape), bool)], 0
    for start, end in song.bar_sections(spec.steps_per_bar):
        phrases, dropped = _cut_section(roll, start, end, spec, hop_bars, min_notes)
        parts.append(phrases)
        sparse += dropped
    return PhraseCut(np.concatenate(parts), notes_out_of_range, sparse, overlaps)


def _with_voices(song: SongRoll, roll: np.ndarray, spec: PhraseSpec) -> tuple[np.ndarray, int]:
    """A song's roll in the spec's pitch range ``(time, pitches, tracks)`` as channels
    ``(time, pitches, channels)``: each voice made monophonic, its onsets appended; and the
    number of steps whose overlaps that resolved."""
    if not spec.voices:
        return roll, 0
    low = spec.lowest_pitch
    if song.onsets is None:
        onsets = run_starts(roll, axis=0)
    else:
        onsets = np.asarray(song.onsets, bool)[:, low : low + spec.n_pitches]
    roll, voice_onsets, overlaps = roll.copy(), [], 0
    for k in spec.voices:
        roll[:, :, k], onset, count = make_monophonic(roll[:, :, k], onsets[:, :, k])
        voice_onsets.append(onset)
        overlaps += count
    return np.concatenate([roll, np.stack(voice_onsets, axis=-1)], axis=-1), overlaps


def _cut_section(
    roll: np.ndarray, start: int, end: int, spec: PhraseSpec, hop_bars: int, min_notes: int
) -> tuple[np.ndarray, int]:
    """The phrases of steps ``[start, end)`` of a roll ``(time_steps, pitches, channels)``, and
    how many were dropped with too few notes (counted on the tracks' rolls); silence pads the
    steps before 0."""
    section = roll[max(start, 0) : max(end, 0)]
    if start < 0:
        section = np.concatenate([np.zeros((-start, *roll.shape[1:]), bool), section], axis=0)
    bar = spec.steps_per_bar
    starts = np.arange(0, len(section) // bar - spec.n_bars + 1, hop_bars)
    length = spec.n_bars * bar
    if starts.size == 0:
        return np.zeros((0, *spec.channel_shape), bool), 0
    # A strided view: phrases share memory with the song until the copy below.
    windows = np.lib.stride_tricks.sliding_window_view(section, length, axis=0)[starts * bar]
    shape = (len(starts), spec.n_bars, bar, *roll.shape[1:])
    phrases = np.moveaxis(windows, -1, 1).reshape(shape)
    notes = count_onsets(phrases[..., : spec.n_tracks].reshape(len(starts), length, -1))
    keep = notes >= min_notes
    return np.ascontiguousarray(phrases[keep]), int((~keep).sum())
