"""The ``tf.data`` input pipeline: an endless, seeded, resumable stream of phrase batches.

Element ``i`` of the stream is a pure function of ``(seed, i)``: epoch ``i // N`` is a seeded
permutation of the N phrases (a stateless index shuffle) and the transposition of element ``i``
is drawn from a stateless generator seeded by ``(seed, i)``. So a run that resumes at batch
``b`` sees exactly the batches an uninterrupted run sees, with no iterator state to save.

The phrases stay bit-packed in memory; each batch gathers and unpacks only its own rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from pianoroll.dataset import Dataset, pack_phrases

__all__ = ["batch_stream", "transpose_phrase"]


def transpose_phrase(
    phrase: tf.Tensor, max_shift: int, drum_mask: Sequence[bool], seed: tf.Tensor
) -> tf.Tensor:
    """Shift the pitched tracks of a phrase by a random number of semitones.

    The shift is drawn uniformly from the shifts in ``[-max_shift, max_shift]`` that keep every
    note inside the pitch range, so no note is ever moved out of range or wrapped around.
    Drum tracks stay where they are (their pitches name instruments, not notes).

    Args:
        phrase: ``(bars, steps, pitches, tracks)``, binary (``bool``).
        max_shift: the largest shift in semitones.
        drum_mask: per track, whether it is a drum track.
        seed: ``(2,)`` ``int`` stateless seed.

    Returns:
        ``(bars, steps, pitches, tracks)``, binary.
    """
    pitched = tf.constant([not d for d in drum_mask])
    n_pitches = tf.shape(phrase)[2]
    active = tf.reduce_any(tf.boolean_mask(phrase, pitched, axis=3), axis=(0, 1, 3))
    where = tf.cast(tf.where(active)[:, 0], tf.int32)
    lowest = tf.reduce_min(tf.concat([where, [n_pitches]], 0))
    highest = tf.reduce_max(tf.concat([where, [-1]], 0))
    down = tf.minimum(max_shift, lowest)  # an empty phrase allows every shift
    up = tf.minimum(max_shift, n_pitches - 1 - highest)
    shift = tf.random.stateless_uniform([], seed, -down, up + 1, dtype=tf.int32)
    shifted = tf.roll(phrase, shift, axis=2)
    return tf.where(pitched, shifted, phrase)


def batch_stream(
    data: Dataset | np.ndarray,
    batch_size: int,
    seed: int,
    start_batch: int = 0,
    max_shift: int = 0,
    drum_mask: Sequence[bool] | None = None,
) -> tf.data.Dataset:
    """An endless stream of shuffled phrase batches for the critic.

    The phrases stay packed: each batch gathers its packed rows from ``data`` and unpacks only
    them, so the stream holds no copy of the dataset.

    Args:
        data: the phrases: a :class:`pianoroll.dataset.Dataset` (packed; its model tensors,
            the voices' onsets included, are streamed), or an array
            ``(N, bars, steps, pitches, channels)``, binary (packed here).
        batch_size: the global batch size (every batch has exactly this many phrases).
        seed: the shuffle and transposition seed.
        start_batch: the index of the first batch (to resume a run where it stopped).
        max_shift: largest random transposition in semitones (0 for none).
        drum_mask: per track, whether it is a drum track (never transposed); None: the
            dataset's spec's, or no drums for an array.

    Returns:
        A dataset of ``(batch_size, bars, steps, pitches, channels)`` ``float32`` batches in
        {-1, 1} (model tensors: see :mod:`pianoroll`), prefetched.
    """
    voices = 0
    if isinstance(data, Dataset):
        packed, rows, shape = data.packed, data.row_indices(), data.spec.channel_shape
        voices = len(data.spec.voices)
        if drum_mask is None:
            drum_mask = data.spec.drum_mask
        drum_mask = [*drum_mask, *[False] * voices]  # onsets move with their voice
    else:
        phrases = np.asarray(data, bool)
        packed, rows, shape = pack_phrases(phrases), np.arange(len(phrases)), phrases.shape[1:]
    n = len(rows)
    if n == 0:
        raise ValueError("no phrases to stream")
    drum_mask = list(drum_mask) if drum_mask is not None else [False] * shape[-1]
    size, width = int(np.prod(shape)), packed.shape[1]
    bit_shifts = tf.constant(np.arange(7, -1, -1, dtype=np.uint8))
    seed = tf.constant(seed, tf.int64)

    def position(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        epoch, place = index // n, index % n
        return index, tf.random.experimental.index_shuffle(place, tf.stack([seed, epoch]), n - 1)

    def gather(order: np.ndarray) -> np.ndarray:
        return packed[rows[order]]

    def transpose(args: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        phrase, index = args
        return transpose_phrase(phrase, max_shift, drum_mask, tf.stack([seed, index]))

    def batch(index: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
        bytes_ = tf.numpy_function(gather, [order], tf.uint8, stateful=False)
        bytes_ = tf.ensure_shape(bytes_, [batch_size, width])
        bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bytes_[:, :, None], bit_shifts), 1)
        flat = tf.reshape(bits, [batch_size, width * 8])[:, :size]
        phrases = tf.cast(_model_tensors(flat, shape, voices), tf.bool)
        if max_shift > 0:
            phrases = tf.map_fn(transpose, (phrases, index), fn_output_signature=tf.bool)
        return tf.cast(phrases, tf.float32) * 2.0 - 1.0

    first = int(start_batch) * int(batch_size)
    dataset = tf.data.Dataset.range(first, np.iinfo(np.int64).max).map(position)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _model_tensors(flat: tf.Tensor, shape: tuple[int, ...], voices: int) -> tf.Tensor:
    """Unpacked rows ``(batch, cells)`` laid out as :func:`pianoroll.dataset.pack_channels`
    does (every roll cell, then the voices' onset cells) as ``(batch, *shape)`` model tensors."""
    batch = tf.shape(flat)[0]
    if not voices:
        return tf.reshape(flat, [batch, *shape])
    tracks = shape[-1] - voices
    size = int(np.prod(shape[:3])) * tracks
    rolls = tf.reshape(flat[:, :size], [batch, *shape[:3], tracks])
    onsets = tf.reshape(flat[:, size:], [batch, *shape[:3], voices])
    return tf.concat([rolls, onsets], axis=-1)
