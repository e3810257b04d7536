"""Cutting songs into phrases on downbeats.

A *song roll* is a binary array ``(time_steps, 128, tracks)`` over all 128 MIDI pitches at the
phrase spec's resolution, plus the step of its first downbeat (a pickup bar comes before it).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pianoroll.spec import PhraseSpec

__all__ = ["PhraseCut", "SongRoll", "count_onsets", "cut_phrases"]


@dataclasses.dataclass
class SongRoll:
    """One song on the phrase spec's time grid.

    Attributes:
        name: Song identifier (file name or corpus name).
        roll: ``(time_steps, 128, tracks)``, binary; pitch index is the MIDI pitch.
        first_downbeat: Step of the first downbeat; the steps before it are a pickup.
    """

    name: str
    roll: np.ndarray
    first_downbeat: int = 0


@dataclasses.dataclass
class PhraseCut:
    """The phrases of one song and what was dropped on the way.

    Attributes:
        phrases: ``(n, bars, steps, pitches, tracks)``, binary.
        notes_out_of_range: Notes whose pitch lies outside the spec's pitch range.
        phrases_too_sparse: Phrases dropped for having fewer than ``min_notes`` notes.
    """

    phrases: np.ndarray
    notes_out_of_range: int
    phrases_too_sparse: int


def count_onsets(roll: np.ndarray) -> np.ndarray:
    """Count note onsets: active cells whose previous time step is inactive.

    Args:
        roll: ``(..., time, cells)``, binary; ``cells`` is any flattened pitch/track axis.

    Returns:
        ``(...)``, ``int``: the number of onsets per leading index.
    """
    roll = np.asarray(roll, bool)
    onsets = roll.copy()
    onsets[..., 1:, :] &= ~roll[..., :-1, :]
    return onsets.sum(axis=(-2, -1))


def cut_phrases(song: SongRoll, spec: PhraseSpec, hop_bars: int, min_notes: int) -> PhraseCut:
    """Cut a song into phrases of ``spec.n_bars`` bars that start on downbeats.

    The pickup before the first downbeat is kept at the end of a padded first bar, so that the
    first phrase starts on the bar that contains the pickup. Phrases start every ``hop_bars``
    bars; an incomplete phrase at the end is dropped.

    Args:
        song: the song; ``song.roll`` is ``(time_steps, 128, tracks)``, binary.
        spec: the phrase spec (resolution, bars, pitch range).
        hop_bars: bars between the starts of consecutive phrases (>= 1).
        min_notes: phrases with fewer note onsets (all tracks together) are dropped.

    Returns:
        The phrases ``(n, bars, steps, pitches, tracks)`` (binary) and drop counts.
    """
    if hop_bars < 1:
        raise ValueError(f"hop_bars must be at least 1, got {hop_bars}")
    roll = np.asarray(song.roll, bool)
    low, high = spec.lowest_pitch, spec.lowest_pitch + spec.n_pitches
    outside = np.concatenate([roll[:, :low], roll[:, high:]], axis=1)
    notes_out_of_range = int(count_onsets(outside.reshape(len(outside), -1)))
    roll = roll[:, low:high]

    bar = spec.steps_per_bar
    pad = (-song.first_downbeat) % bar
    if pad:
        roll = np.concatenate([np.zeros((pad, *roll.shape[1:]), bool), roll], axis=0)
    n_bars_total = roll.shape[0] // bar
    starts = np.arange(0, n_bars_total - spec.n_bars + 1, hop_bars)
    length = spec.n_bars * bar
    if starts.size == 0:
        empty = np.zeros((0, *spec.shape), bool)
        return PhraseCut(empty, notes_out_of_range, 0)
    # A strided view: phrases share memory with the song until the copy below.
    windows = np.lib.stride_tricks.sliding_window_view(roll, length, axis=0)[starts * bar]
    phrases = np.moveaxis(windows, -1, 1).reshape(len(starts), spec.n_bars, bar, *roll.shape[1:])
    notes = count_onsets(phrases.reshape(len(starts), length, -1))
    keep = notes >= min_notes
    return PhraseCut(np.ascontiguousarray(phrases[keep]), notes_out_of_range, int((~keep).sum()))
