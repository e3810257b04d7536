"""Set-level summaries of the per-sample metrics in :mod:`pianoroll.metrics`, and the policy of
their keys.

A metric key names a metric of one track (or track pair), ``"polyphony_rate/Soprano"``
(:func:`metric_key` with a track), or a whole-phrase summary over the tracks,
``"polyphony_rate"`` (:func:`metric_key` without one). :func:`split_metric_key` tells them apart
and :func:`overall_metrics` keeps only the summaries.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from pianoroll.metrics import compute_all
from pianoroll.spec import PhraseSpec

__all__ = [
    "TRACK_SEPARATOR",
    "metric_key",
    "metric_matrix",
    "metric_means",
    "metrics_by_chunks",
    "metrics_for_spec",
    "overall_metrics",
    "split_metric_key",
    "summarize_metrics",
]

#: Joins a metric's name and its track (or track pair) in a metric key.
TRACK_SEPARATOR = "/"


def metric_key(name: str, track: str | None = None) -> str:
    """The key of a metric of one track (or track pair), or of its whole-phrase summary.

    Args:
        name: the metric's name, e.g. ``"polyphony_rate"``.
        track: a track name (``"Soprano"``), a track pair (``"Soprano-Alto"``), or None for
            the summary over the tracks.

    Returns:
        ``"<name>/<track>"``, or ``name`` without a track.
    """
    return name if track is None else f"{name}{TRACK_SEPARATOR}{track}"


def split_metric_key(key: str) -> tuple[str, str | None]:
    """The metric name and the track (or track pair) of a key; the inverse of :func:`metric_key`.

    Returns:
        ``(name, track)``; ``track`` is None for a whole-phrase summary key.
    """
    name, separator, track = key.partition(TRACK_SEPARATOR)
    return name, (track if separator else None)


def overall_metrics(means: Mapping[str, Any]) -> dict[str, Any]:
    """Only the whole-phrase summaries of a set of metric values, in their order.

    Args:
        means: metric key -> value, e.g. as :func:`summarize_metrics` gives them.

    Returns:
        The entries whose key has no track (``"polyphony_rate"``, not
        ``"polyphony_rate/Soprano"``).
    """
    return {key: value for key, value in means.items() if split_metric_key(key)[1] is None}


def metrics_for_spec(
    phrases: np.ndarray, spec: PhraseSpec, only: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Every per-sample metric of :func:`pianoroll.metrics.compute_all` for phrases of a spec.

    Args:
        phrases: ``(N, bars, steps, pitches, tracks)``, binary.
        spec: the phrase spec (pitch offset, resolution, drum flags, track names).
        only: metric names to compute; None for all.

    Returns:
        Metric key (``"empty_bar_rate/Piano"``...) -> ``(N,)`` values, NaN where undefined.
    """
    return compute_all(
        np.asarray(phrases, bool),
        lowest_pitch=spec.lowest_pitch,
        steps_per_beat=spec.steps_per_beat,
        beats_per_bar=spec.beats_per_bar,
        drum_mask=spec.drum_mask,
        track_names=spec.track_names,
        only=only,
    )


def metrics_by_chunks(chunks: Iterable[np.ndarray], spec: PhraseSpec) -> dict[str, np.ndarray]:
    """:func:`metrics_for_spec` of a set of phrases given a chunk at a time, so that a large
    set is never unpacked whole (every metric is a function of one phrase).

    Args:
        chunks: ``(k, bars, steps, pitches, tracks)`` binary arrays, the set in order.
        spec: the phrase spec.

    Returns:
        Metric key -> ``(N,)`` values over all chunks, NaN where undefined.
    """
    parts = [metrics_for_spec(chunk, spec) for chunk in chunks]
    if not parts:
        return metrics_for_spec(np.zeros((0, *spec.shape), bool), spec)
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def metric_means(phrases: np.ndarray, spec: PhraseSpec) -> dict[str, float]:
    """Mean of every metric over a set of phrases (see :func:`summarize_metrics`).

    Args:
        phrases: ``(N, bars, steps, pitches, tracks)``, binary.
        spec: the phrase spec.

    Returns:
        Metric name -> mean.
    """
    return summarize_metrics(metrics_for_spec(phrases, spec))


def summarize_metrics(values: dict[str, np.ndarray]) -> dict[str, float]:
    """Means of per-sample metric values.

    Each per-track (or per-pair) key of :func:`pianoroll.metrics.compute_all` gets the mean over
    the samples where it is defined, and each metric name also gets the mean of its per-track
    means (``"empty_bar_rate"`` beside ``"empty_bar_rate/Soprano"``...). A metric defined on no
    sample is NaN.

    Args:
        values: key -> ``(N,)`` values, as :func:`metrics_for_spec` returns them.

    Returns:
        Metric name -> mean, sorted by name.
    """
    means: dict[str, float] = {}
    groups: dict[str, list[float]] = collections.defaultdict(list)
    for key, per_sample in values.items():
        defined = per_sample[~np.isnan(per_sample)]
        means[key] = float(defined.mean()) if defined.size else float("nan")
        if defined.size:
            groups[split_metric_key(key)[0]].append(means[key])
    for name in {split_metric_key(key)[0] for key in values}:
        means[metric_key(name)] = float(np.mean(groups[name])) if groups[name] else float("nan")
    return dict(sorted(means.items()))


def metric_matrix(values: dict[str, np.ndarray]) -> np.ndarray:
    """Per-sample metric vectors ``(N, keys)`` (keys in :func:`metrics_for_spec` order), the
    input of :func:`pianoroll.compare.frechet_distance`; NaN where undefined."""
    if not values:
        return np.empty((0, 0))
    return np.stack([np.asarray(v, np.float64) for v in values.values()], axis=1)
