"""Noise for generation: seeded draws, truncation, spherical interpolation, long paths.

Noise is a dict of input name -> ``(N, *shape)`` ``float32`` array, as returned by
:meth:`gan.model.GANModel.sample_noise`. Every function here is a pure function of its
arguments (seeds included), so a generation command gives the same pieces every time.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from gan.model import GANModel

__all__ = [
    "Stream",
    "draw_noise",
    "interpolation_noise",
    "path_noise",
    "slerp",
    "stream_rng",
]

Noise = dict[str, np.ndarray]


class Stream(enum.IntEnum):
    """The independent random streams of a run and of the tools that read it.

    Each draw is a pure function of (seed, stream, ...): a stream's draws never depend on how
    many another stream made, so adding a kind of sample or evaluation leaves the others as
    they were, and a resumed run draws what the uninterrupted one drew.
    """

    #: Noise of ``generate``: samples, interpolation ends, long-piece anchors.
    GENERATE = 0
    #: Training noise, folded with the generator step and the critic update.
    TRAINING_NOISE = 1
    #: The gradient penalty's interpolation weights, folded like the training noise.
    PENALTY_MIX = 2
    #: The noise of the sample sets written during training.
    TRAINING_SAMPLES = 3
    #: The noise of the evaluations during training.
    TRAINING_EVALUATION = 4
    #: The noise of the ``evaluate`` command.
    EVALUATION = 5
    #: Bernoulli binarization of ``generate``'s outputs (a NumPy generator).
    GENERATE_BINARIZATION = 6
    #: Bernoulli binarization of the ``evaluate`` command's outputs (a NumPy generator).
    EVALUATION_BINARIZATION = 7
    #: Bernoulli binarization of the sample sets written during training, per step.
    SAMPLE_BINARIZATION = 8


def stream_rng(seed: int, stream: Stream, *more: int) -> np.random.Generator:
    """A NumPy generator for one stream of a seed (``more``: further keys, e.g. a step)."""
    return np.random.default_rng([int(seed), int(stream), *(int(k) for k in more)])


#: Resampling rounds for truncation; after them, stragglers are clipped to the bound.
_TRUNCATION_ROUNDS = 64


def draw_noise(
    model: GANModel,
    count: int,
    seed: int,
    stream: int = Stream.GENERATE,
    truncation: float | None = None,
) -> Noise:
    """Draw ``count`` noise samples from the model's prior.

    Args:
        model: the model (its :meth:`~gan.model.GANModel.sample_noise` defines the prior).
        count: number of samples.
        seed: the user's seed; with ``stream`` it fixes every value.
        stream: an independent sub-stream (e.g. one per interpolation end point).
        truncation: the truncation trick (Brock et al. 2018, arXiv:1809.11096): values of the
            latent inputs whose magnitude exceeds this bound are redrawn from the prior until
            they fall inside it (the model's ``draw_noise`` inputs are left whole). None draws
            from the full prior.

    Returns:
        Input name -> ``(count, *shape)`` ``float32``.
    """
    if truncation is not None and not truncation > 0:
        raise ValueError(f"truncation must be a positive bound, not {truncation}")
    base = tf.constant([int(seed), int(stream)], tf.int64)
    noise = {k: np.asarray(v, np.float32) for k, v in model.sample_noise(count, base).items()}
    if truncation is None:
        return noise
    latent = [k for k in noise if k not in model.draw_noise]
    for round_ in range(1, _TRUNCATION_ROUNDS + 1):
        outside = {k: np.abs(noise[k]) > truncation for k in latent}
        if not any(mask.any() for mask in outside.values()):
            return noise
        fresh = model.sample_noise(count, tf.random.experimental.stateless_fold_in(base, round_))
        for key, mask in outside.items():
            noise[key] = np.where(mask, np.asarray(fresh[key], np.float32), noise[key])
    return {k: np.clip(v, -truncation, truncation) if k in latent else v for k, v in noise.items()}


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical linear interpolation (Shoemake 1985; White 2016, arXiv:1609.04468).

    Each sample is treated as one vector (all axes but the first flattened): the result moves
    along the great circle from ``a`` to ``b`` with its norm interpolated linearly, so it stays
    where Gaussian noise has its mass. Nearly parallel vectors fall back to linear
    interpolation.

    Args:
        a: ``(N, ...)`` start points.
        b: ``(N, ...)`` end points, the same shape.
        t: interpolation weight(s) in [0, 1], a scalar or ``(N,)``.

    Returns:
        ``(N, ...)``: ``a`` at ``t = 0``, ``b`` at ``t = 1``.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"slerp end points differ in shape: {a.shape} and {b.shape}")
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    t = np.broadcast_to(np.asarray(t, np.float64), (len(a),))[:, None]
    norm_a = np.linalg.norm(flat_a, axis=1, keepdims=True)
    norm_b = np.linalg.norm(flat_b, axis=1, keepdims=True)
    unit_a = flat_a / np.maximum(norm_a, 1e-12)
    unit_b = flat_b / np.maximum(norm_b, 1e-12)
    omega = np.arccos(np.clip((unit_a * unit_b).sum(axis=1, keepdims=True), -1.0, 1.0))
    sin_omega = np.sin(omega)
    parallel = sin_omega < 1e-6
    safe = np.where(parallel, 1.0, sin_omega)
    direction = np.where(
        parallel,
        (1 - t) * unit_a + t * unit_b,
        (np.sin((1 - t) * omega) * unit_a + np.sin(t * omega) * unit_b) / safe,
    )
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    out = direction * ((1 - t) * norm_a + t * norm_b)
    return out.reshape(a.shape).astype(np.float32)


def interpolation_noise(
    start: Mapping[str, np.ndarray],
    end: Mapping[str, np.ndarray],
    steps: int,
    vary: str | None = None,
) -> Noise:
    """Noise for ``steps`` points from ``start`` to ``end`` (both ends included).

    Args:
        start: noise of one sample, each ``(1, *shape)``.
        end: the same inputs and shapes.
        steps: number of points, at least 2.
        vary: the one input that moves (the others stay at ``start``); None moves all. Each
            input is interpolated on its own sphere.

    Returns:
        Input name -> ``(steps, *shape)``.
    """
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, not {steps}")
    if vary is not None and vary not in start:
        raise KeyError(vary)
    t = np.linspace(0.0, 1.0, steps)
    out = {}
    for name, a in start.items():
        a_rep = np.repeat(np.asarray(a, np.float32)[:1], steps, axis=0)
        if vary is None or name == vary:
            b_rep = np.repeat(np.asarray(end[name], np.float32)[:1], steps, axis=0)
            out[name] = slerp(a_rep, b_rep, t)
        else:
            out[name] = a_rep
    return out


def path_noise(
    anchors: Mapping[str, np.ndarray],
    count: int,
    spacing: int,
    moving: frozenset[str] | set[str],
) -> Noise:
    """Noise for ``count`` consecutive phrases of one long piece.

    The inputs in ``moving`` (the time-dependent ones) travel along a path through the anchor
    points, reaching anchor ``j`` at phrase ``j * spacing`` and moving by spherical
    interpolation in between, so consecutive phrases get nearby noise and the piece evolves
    without jumps. The other inputs (time-independent: style, groove) keep anchor 0's value for
    the whole piece.

    Args:
        anchors: input name -> ``(n_anchors, *shape)`` with ``n_anchors >= count // spacing + 2``.
        count: phrases in the piece.
        spacing: phrases between anchors (1 gives independent noise per phrase).
        moving: names of the inputs that move.

    Returns:
        Input name -> ``(count, *shape)``.
    """
    if spacing < 1:
        raise ValueError(f"spacing must be at least 1 phrase, not {spacing}")
    index = np.arange(count)
    left, t = index // spacing, (index % spacing) / spacing
    out = {}
    for name, points in anchors.items():
        points = np.asarray(points, np.float32)
        if len(points) < int(left.max(initial=0)) + 2:
            raise ValueError(f"path_noise: {name} has {len(points)} anchors, too few")
        if name in moving:
            out[name] = slerp(points[left], points[left + 1], t)
        else:
            out[name] = np.repeat(points[:1], count, axis=0)
    return out
