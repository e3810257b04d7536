"""Writing generated phrases: PNG grid, MIDI and ``.npz``, for each binarization."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pianoroll.io import atomic_path
from pianoroll.midi import write_midi
from pianoroll.plot import save_grid
from pianoroll.spec import PhraseSpec
from pianoroll.values import binarize_bernoulli, binarize_threshold

__all__ = ["BINARIZATIONS", "binarize", "save_phrases", "write_sample_set"]

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


def save_phrases(path: str | os.PathLike[str], phrases: np.ndarray, spec: PhraseSpec) -> None:
    """Save a batch of phrases ``(N, bars, steps, pitches, tracks)`` (binary) with its spec.

    The file has two arrays: ``phrases`` and ``spec`` (the spec as JSON bytes); load it with
    ``np.load(path)`` (no pickles) and ``PhraseSpec.from_dict(json.loads(f["spec"].tobytes()))``.
    """
    with atomic_path(path) as tmp:
        np.savez_compressed(
            tmp,
            phrases=np.asarray(phrases, bool),
            spec=np.frombuffer(json.dumps(spec.to_dict()).encode(), np.uint8),
        )


def write_sample_set(
    directory: str | os.PathLike[str],
    stem: str,
    outputs: np.ndarray,
    spec: PhraseSpec,
    rng: np.random.Generator,
    tempo: float = 100.0,
) -> dict[str, Path]:
    """Write generated phrases binarized both ways, as ``<stem>-<method>.{png,mid,npz}``.

    The MIDI file plays the phrases one after the other.

    Args:
        directory: the output folder.
        stem: the file name stem (e.g. ``step-001000``).
        outputs: ``(N, bars, steps, pitches, tracks)`` generator outputs in (-1, 1).
        spec: the phrase spec.
        rng: random generator for the Bernoulli binarization.
        tempo: quarter notes per minute.

    Returns:
        ``"<method>.png"`` etc. -> path of each written file.
    """
    directory = Path(directory)
    written = {}
    for method in BINARIZATIONS:
        binary = binarize(outputs, method, rng)
        base = directory / f"{stem}-{method}"
        save_grid(base.with_suffix(".png"), binary, spec)
        write_midi(base.with_suffix(".mid"), binary.reshape(-1, *binary.shape[2:]), spec, tempo)
        save_phrases(base.with_suffix(".npz"), binary, spec)
        written.update(
            {f"{method}{suffix}": base.with_suffix(suffix) for suffix in (".png", ".mid", ".npz")}
        )
    return written
