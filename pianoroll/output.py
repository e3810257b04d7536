"""Writing generated phrases: PNG grid, MIDI and ``.npz``, for each binarization."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pretty_midi
import pypianoroll

from pianoroll.audio import render_wav
from pianoroll.io import atomic_path
from pianoroll.midi import roll_to_midi, save_midi, write_midi
from pianoroll.plot import save_grid
from pianoroll.spec import PhraseSpec
from pianoroll.values import binarize_bernoulli, binarize_threshold
from pianoroll.voices import decode

__all__ = [
    "BINARIZATIONS",
    "SampleFiles",
    "binarize",
    "save_multitrack",
    "save_phrases",
    "to_multitrack",
    "write_piece",
    "write_sample_set",
]

BINARIZATIONS = ("threshold", "bernoulli")


def binarize(outputs: np.ndarray, method: str, rng: np.random.Generator) -> np.ndarray:
    """Binarize generator outputs in (-1, 1) by ``threshold`` (at 0) or ``bernoulli`` sampling.

    Returns:
        The same shape, binary.
    """
    if method == "threshold":
        return binarize_threshold(outputs)
    if method == "bernoulli":
        return binarize_bernoulli(outputs, rng)
    raise ValueError(f"unknown binarization {method!r}; choose one of {', '.join(BINARIZATIONS)}")


def save_phrases(
    path: str | os.PathLike[str],
    phrases: np.ndarray,
    spec: PhraseSpec,
    onsets: np.ndarray | None = None,
) -> None:
    """Save a batch of phrases ``(N, bars, steps, pitches, tracks)`` (binary) with its spec.

    The file has the arrays ``phrases`` and ``spec`` (the spec as JSON bytes), and ``onsets``
    (the phrases' shape, binary: where the voices' notes start) when given; load it with
    ``np.load(path)`` (no pickles) and ``PhraseSpec.from_dict(json.loads(f["spec"].tobytes()))``.
    """
    extra = {} if onsets is None else {"onsets": np.asarray(onsets, bool)}
    with atomic_path(path) as tmp:
        np.savez_compressed(
            tmp,
            phrases=np.asarray(phrases, bool),
            spec=np.frombuffer(json.dumps(spec.to_dict()).encode(), np.uint8),
            **extra,
        )


@dataclasses.dataclass(frozen=True)
class SampleFiles:
    """The files of one binarization of a sample set.

    Attributes:
        png: the grid of all phrases.
        mid: the phrases played one after the other.
        npz: the binary phrases with their spec (see :func:`save_phrases`).
    """

    png: Path
    mid: Path
    npz: Path

    @classmethod
    def at(cls, base: Path) -> SampleFiles:
        """The files of stem ``base`` (a path without suffix)."""
        return cls(base.with_suffix(".png"), base.with_suffix(".mid"), base.with_suffix(".npz"))

    def as_dict(self) -> dict[str, str]:
        """Kind (``png``, ``mid``, ``npz``) -> path, as strings (for JSON)."""
        return {field.name: str(getattr(self, field.name)) for field in dataclasses.fields(self)}


def write_sample_set(
    directory: str | os.PathLike[str],
    stem: str,
    outputs: np.ndarray,
    spec: PhraseSpec,
    rng: np.random.Generator,
    tempo: float = 100.0,
) -> dict[str, SampleFiles]:
    """Write generated phrases decoded both ways, as ``<stem>-<method>.{png,mid,npz}``.

    The MIDI file plays the phrases one after the other.

    Args:
        directory: the output folder.
        stem: the file name stem (e.g. ``step-001000``).
        outputs: ``(N, bars, steps, pitches, channels)`` generator outputs in [-1, 1] (model
            tensors, see :func:`pianoroll.voices.decode`).
        spec: the phrase spec.
        rng: random generator for the Bernoulli binarization.
        tempo: quarter notes per minute.

    Returns:
        Binarization (one of :data:`BINARIZATIONS`) -> its files.
    """
    written = {}
    for method in BINARIZATIONS:
        binary, onsets = decode(outputs, spec, method, rng)
        files = written[method] = SampleFiles.at(Path(directory) / f"{stem}-{method}")
        save_grid(files.png, binary, spec)
        flat_onsets = None if onsets is None else onsets.reshape(-1, *onsets.shape[2:])
        write_midi(files.mid, binary.reshape(-1, *binary.shape[2:]), spec, tempo, flat_onsets)
        save_phrases(files.npz, binary, spec, onsets)
    return written


def to_multitrack(
    roll: np.ndarray, spec: PhraseSpec, tempo: float = 100.0, name: str = ""
) -> pypianoroll.Multitrack:
    """A pianoroll as a :class:`pypianoroll.Multitrack` (full 128-pitch range).

    Args:
        roll: ``(bars, steps, pitches, tracks)``, binary.
        spec: the phrase spec (resolution, pitch offset, tracks).
        tempo: quarter notes per minute.
        name: the multitrack's name.
    """
    roll = np.asarray(roll, bool)
    bars, steps = roll.shape[:2]
    flat = roll.reshape(bars * steps, roll.shape[2], roll.shape[3])
    downbeat = np.zeros(bars * steps, bool)
    downbeat[::steps] = True
    tracks = []
    for k, track in enumerate(spec.tracks):
        full = np.zeros((bars * steps, 128), bool)
        full[:, spec.lowest_pitch : spec.lowest_pitch + spec.n_pitches] = flat[:, :, k]
        tracks.append(
            pypianoroll.BinaryTrack(
                name=track.name, program=track.program, is_drum=track.is_drum, pianoroll=full
            )
        )
    return pypianoroll.Multitrack(
        name=name,
        resolution=spec.steps_per_quarter,
        tempo=np.full(bars * steps, float(tempo)),
        downbeat=downbeat,
        tracks=tracks,
    )


def save_multitrack(path: str | os.PathLike[str], multitrack: pypianoroll.Multitrack) -> None:
    """Save a multitrack as a pypianoroll ``.npz`` (``pypianoroll.load`` reads it), atomically."""
    with atomic_path(path) as tmp:
        pypianoroll.save(tmp, multitrack)


def write_piece(
    directory: str | os.PathLike[str],
    name: str,
    roll: np.ndarray,
    spec: PhraseSpec,
    tempo: float = 100.0,
    audio: bool = False,
    midi: pretty_midi.PrettyMIDI | None = None,
    sample_rate: int = 22050,
    onsets: np.ndarray | None = None,
) -> dict[str, Path]:
    """Write one piece as ``<name>.mid``, ``<name>.npz`` (pypianoroll), ``<name>.png`` and,
    with ``audio``, ``<name>.wav``.

    Args:
        directory: the output folder.
        name: the file stem.
        roll: ``(bars, steps, pitches, tracks)``, binary, any number of bars.
        spec: the phrase spec (its bar count is ignored).
        tempo: quarter notes per minute.
        audio: render a WAV (check :func:`pianoroll.audio.fluidsynth_problem` first).
        midi: the MIDI to write instead of the roll's own (e.g. one that keeps a user's
            original track).
        sample_rate: WAV samples per second.
        onsets: the roll's shape, binary: where the voices' notes start, so the MIDI file
            keeps repeated notes apart (the pypianoroll ``.npz``, a binary roll, cannot).

    Returns:
        Kind (``mid``, ``npz``, ``png``, ``wav``) -> path.
    """
    roll = np.asarray(roll, bool)
    base = Path(directory) / name
    midi = midi if midi is not None else roll_to_midi(roll, spec, tempo, onsets)
    files = {kind: base.with_suffix(f".{kind}") for kind in ("mid", "npz", "png")}
    save_midi(files["mid"], midi)
    save_multitrack(files["npz"], to_multitrack(roll, spec, tempo, name))
    save_grid(files["png"], roll[None], spec.with_bars(roll.shape[0]), columns=1)
    if audio:
        files["wav"] = base.with_suffix(".wav")
        render_wav(midi, files["wav"], sample_rate)
    return files
