"""Pianoroll pictures: every track of a phrase in its own color, with bar lines."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed (or present on servers)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb

from pianoroll.io import atomic_path
from pianoroll.spec import PhraseSpec

__all__ = ["TRACK_COLORS", "render_phrase", "save_grid"]

#: One color per track, cycled; distinct under the common forms of color blindness.
TRACK_COLORS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)


def render_phrase(phrase: np.ndarray) -> np.ndarray:
    """Draw a phrase as an RGB image, high pitches at the top.

    Args:
        phrase: ``(bars, steps, pitches, tracks)``, binary.

    Returns:
        ``(pitches, bars * steps, 3)`` ``float32`` RGB in [0, 1]: white where silent, the
        track's color where one track sounds, the mean of the colors where several do.
    """
    phrase = np.asarray(phrase, bool)
    bars, steps, pitches, tracks = phrase.shape
    roll = phrase.reshape(bars * steps, pitches, tracks).transpose(1, 0, 2)[::-1]  # (P, T, K)
    colors = np.array(
        [to_rgb(TRACK_COLORS[k % len(TRACK_COLORS)]) for k in range(tracks)], np.float32
    )
    count = roll.sum(axis=-1, keepdims=True)
    mixed = roll.astype(np.float32) @ colors / np.maximum(count, 1)
    return np.where(count > 0, mixed, 1.0).astype(np.float32)


def save_grid(
    path: str | os.PathLike[str],
    phrases: np.ndarray,
    spec: PhraseSpec,
    columns: int = 4,
    titles: list[str] | None = None,
) -> None:
    """Save phrases as one PNG grid, with bar lines and a track legend, atomically.

    Args:
        path: the PNG file.
        phrases: ``(N, bars, steps, pitches, tracks)``, binary.
        spec: the phrase spec (for the track names and the bar length).
        columns: phrases per row.
        titles: optional caption per phrase.
    """
    phrases = np.asarray(phrases, bool)
    n = max(len(phrases), 1)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    width = 2.0 + 0.09 * spec.n_bars * spec.steps_per_bar / max(spec.steps_per_beat / 4, 1)
    fig, axes = plt.subplots(
        rows, columns, figsize=(columns * width, rows * 2.2 + 0.6), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(phrases):
            ax.axis("off")
            continue
        image = render_phrase(phrases[i])
        ax.imshow(image, aspect="auto", interpolation="nearest")
        for bar in range(1, spec.n_bars):
            ax.axvline(bar * spec.steps_per_bar - 0.5, color="0.6", linewidth=0.6)
        if titles:
            ax.set_title(titles[i], fontsize=8)
    handles = [
        plt.Line2D([], [], color=TRACK_COLORS[k % len(TRACK_COLORS)], linewidth=4, label=track.name)
        for k, track in enumerate(spec.tracks)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
