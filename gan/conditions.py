"""Condition phrases: where a track-conditional model's given track comes from."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gan.model import GANModel
from pianoroll.dataset import Dataset
from pianoroll.values import to_signed

__all__ = ["condition_phrases"]


def condition_phrases(
    model: GANModel, source: Dataset | Callable[[], Dataset], count: int
) -> np.ndarray | None:
    """Real phrases to take a conditional model's condition track from: the source's first
    ``count`` phrases, cycled when it has fewer.

    Args:
        model: the model; None is returned unless it is track-conditional.
        source: the phrases to draw from, or a function loading them (called only for a
            conditional model): the reference set of :class:`pianoroll.dataset.Splits` for
            samples shown to people, the training set for evaluations during training.
        count: phrases needed.

    Returns:
        ``(count, bars, steps, pitches, channels)`` ``float32`` in {-1, 1} (model tensors: the
        voices' onsets included), or None.
    """
    if model.condition_index is None:
        return None
    dataset = source if isinstance(source, Dataset) else source()
    return to_signed(dataset.channels_at(np.arange(count) % len(dataset)))
