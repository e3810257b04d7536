"""Conversions between the value ranges of the tensor contract (see :mod:`pianoroll`)."""

from __future__ import annotations

import numpy as np

__all__ = ["binarize_bernoulli", "binarize_threshold", "to_probability", "to_signed"]


def to_signed(phrases: np.ndarray) -> np.ndarray:
    """Map binary phrases to the critic's real-data range.

    Args:
        phrases: ``(..., bars, steps, pitches, tracks)``, binary.

    Returns:
        The same shape, ``float32`` in {-1, 1}.
    """
    return np.where(np.asarray(phrases, bool), np.float32(1), np.float32(-1))


def to_probability(outputs: np.ndarray) -> np.ndarray:
    """Map generator outputs in (-1, 1) to note probabilities in (0, 1).

    Args:
        outputs: any shape, ``float`` in (-1, 1) (a ``tanh``).

    Returns:
        The same shape, ``float32`` probabilities ``(outputs + 1) / 2``.
    """
    return ((np.asarray(outputs, np.float32) + 1.0) / 2.0).clip(0.0, 1.0)


def binarize_threshold(outputs: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Binarize generator outputs by a hard threshold.

    Args:
        outputs: any shape, ``float`` in (-1, 1).
        threshold: values strictly above it become ``True``.

    Returns:
        The same shape, binary.
    """
    return np.asarray(outputs) > threshold


def binarize_bernoulli(outputs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binarize generator outputs by sampling each cell from its probability.

    Args:
        outputs: any shape, ``float`` in (-1, 1); ``(outputs + 1) / 2`` is the note probability.
        rng: the random generator to draw from (seed it for reproducible samples).

    Returns:
        The same shape, binary.
    """
    probability = to_probability(outputs)
    return rng.random(probability.shape, dtype=np.float32) < probability
