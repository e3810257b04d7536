"""Objective metrics of binary multitrack pianoroll batches (MuseGAN and C-RNN-GAN).

Every metric takes a batch of shape ``(N, bars, steps, pitches, tracks)`` of ``bool`` (see
:mod:`pianoroll` for the tensor contract: pitch index ``p`` is MIDI pitch ``lowest_pitch + p``)
and returns one ``float64`` value per sample and per track, an array of shape
``(N, tracks)`` (``(N, pairs)`` for :func:`tonal_distance`). A value is NaN where the metric is
undefined for that sample, e.g. a ratio over the notes of a track that plays no note. An empty
batch (``N == 0``) gives an empty ``(0, tracks)`` array. Aggregating over a set of samples
(``np.nanmean`` and the like) is the caller's job.

Definitions shared by the metrics:

- **time** is the phrase's bars and steps flattened, so a note may cross a bar line.
- **active step** (of a track): a step at which the track sounds at least one pitch.
- **active cell**: one sounding ``(step, pitch)`` pair.
- **note**: a maximal run of consecutive active steps of one pitch within the phrase.
- **onset**: the first step of a note, i.e. an active step whose previous step of the same
  pitch is inactive; the phrase start counts as inactive.
- **pitch class**: ``(lowest_pitch + p) % 12`` for pitch index ``p``, with 0 = C.

The functions never modify their input. They work on chunks of samples, without a Python loop
over samples: each chunk's time axis is packed 8 steps per byte, and onsets, note lengths,
polyphony and per-beat, per-bar and per-phrase counts come from bitwise operations and popcounts
on that eighth of the memory, followed by small integer reductions and matrix products. The
chunks run on a thread pool. :func:`compute_all` computes every applicable metric from shared
intermediate arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = [
    "compute_all",
    "drum_pattern_rate",
    "empty_bar_rate",
    "in_scale_rate",
    "mean_note_length",
    "notes_per_bar",
    "onset_polyphony",
    "pitch_class_entropy",
    "pitch_range",
    "polyphony_rate",
    "qualified_note_rate",
    "repetitions_3gram",
    "tonal_distance",
    "tone_span",
    "used_pitch_classes",
    "used_pitches",
]

# Cells (bool bytes) per chunk of samples: large enough to amortize NumPy call overhead, small
# enough for the intermediate arrays of a chunk (time packed 8 steps per byte, so an eighth of
# the cells) to stay in cache-sized memory.
_CHUNK_CELLS = 1 << 24

# Major scale pitch classes relative to the tonic; natural minor is the major scale's sixth mode.
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


def _scale_matrix() -> np.ndarray:
    """Membership matrix (12, 24) of the 12 major then the 12 natural-minor keys."""
    out = np.zeros((12, 24), dtype=np.float64)
    for tonic in range(12):
        out[(tonic + _MAJOR) % 12, tonic] = 1.0
        out[(tonic + _MINOR) % 12, 12 + tonic] = 1.0
    return out


def _tonal_centroid_matrix(radii: tuple[float, float, float] = (1.0, 1.0, 0.5)) -> np.ndarray:
    """Harte et al. (2006) matrix (6, 12) projecting a normalized chroma onto the tonal centroid.

    Rows are ``r1 sin(l 7pi/6), r1 cos(l 7pi/6)`` (circle of fifths), ``r2 sin(l 3pi/2),
    r2 cos(l 3pi/2)`` (minor thirds) and ``r3 sin(l 2pi/3), r3 cos(l 2pi/3)`` (major thirds)
    for pitch class ``l``.
    """
    pitch_class = np.arange(12)
    rows = []
    for radius, angle in zip(radii, (7 * np.pi / 6, 3 * np.pi / 2, 2 * np.pi / 3), strict=True):
        rows.append(radius * np.sin(pitch_class * angle))
        rows.append(radius * np.cos(pitch_class * angle))
    return np.stack(rows)


_SCALES = _scale_matrix()
_TONAL_CENTROID = _tonal_centroid_matrix()
_CENTROID_AND_TOTAL = np.vstack([_TONAL_CENTROID, np.ones(12)])


# --------------------------------------------------------------------------------------------
# Validation and small numeric helpers
# --------------------------------------------------------------------------------------------


def _check_batch(batch: Any) -> np.ndarray:
    """The batch as an array, after checking the tensor contract."""
    batch = np.asarray(batch)
    if batch.ndim != 5:
        raise ValueError(
            "metrics expect a batch of shape (N, bars, steps, pitches, tracks), "
            f"got an array of shape {batch.shape}"
        )
    if batch.dtype != np.bool_:
        raise TypeError(
            f"metrics expect a binary (bool) batch, got dtype {batch.dtype}; binarize first"
        )
    if min(batch.shape[1:4]) < 1:
        raise ValueError(
            f"bars, steps and pitches must each be at least 1, got shape {batch.shape}"
        )
    return batch


def _check_steps_per_beat(steps_per_beat: int, n_steps: int) -> int:
    """``steps_per_beat`` as an int, checked to divide the steps of a bar."""
    steps_per_beat = int(steps_per_beat)
    if steps_per_beat < 1 or n_steps % steps_per_beat:
        raise ValueError(
            f"steps_per_beat={steps_per_beat} must be a positive divisor of the {n_steps} "
            "steps per bar"
        )
    return steps_per_beat


def _count_dtype(max_count: int) -> type[np.unsignedinteger]:
    """Smallest unsigned integer dtype holding counts up to ``max_count``."""
    for dtype, limit in ((np.uint8, 2**8), (np.uint16, 2**16), (np.uint32, 2**32)):
        if max_count < limit:
            return dtype
    return np.uint64


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` as float64, NaN where the denominator is 0 (no warning)."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _pitch_class_matrix(n_pitches: int, lowest_pitch: int) -> np.ndarray:
    """One-hot matrix (pitches, 12) mapping pitch index ``p`` to ``(lowest_pitch + p) % 12``.

    The dense statement of the mapping that :func:`_fold_pitch_classes` applies by slices.
    """
    classes = (int(lowest_pitch) + np.arange(n_pitches)) % 12
    out = np.zeros((n_pitches, 12), dtype=np.float64)
    out[np.arange(n_pitches), classes] = 1.0
    return out


def _fold_pitch_classes(
    counts: np.ndarray, lowest_pitch: int, dtype: Any = np.float64
) -> np.ndarray:
    """Sum counts ``(..., pitches, tracks)`` into pitch classes ``(..., 12, tracks)``.

    The same as a product with :func:`_pitch_class_matrix`, but one addition per octave of
    pitches (a bool ``dtype`` ORs presence instead), in integers and without a float copy of a
    large count array. ``dtype`` must hold the sums.
    """
    n_pitches = counts.shape[-2]
    out = np.zeros((*counts.shape[:-2], 12, counts.shape[-1]), dtype=dtype)
    start, pitch_class = 0, int(lowest_pitch) % 12
    while start < n_pitches:  # one octave (or its part at either end) per iteration
        stop = min(n_pitches, start + 12 - pitch_class)
        out[..., pitch_class : pitch_class + stop - start, :] += counts[..., start:stop, :]
        start, pitch_class = stop, 0
    return out


def _default_min_length(steps_per_beat: int) -> int:
    """The MuseGAN qualified-note threshold (a 32nd note) at ``steps_per_beat`` resolution.

    The paper's threshold is 3 steps at 24 steps per beat; converted: ``3 * steps_per_beat / 24``
    rounded half up, and at least 2 steps so that a 1-step note is never qualified.
    """
    return max(2, (3 * int(steps_per_beat) + 12) // 24)


# --------------------------------------------------------------------------------------------
# Time packed into bits: 8 steps per byte
# --------------------------------------------------------------------------------------------
#
# A chunk's roll ``(n, time, pitches, tracks)`` is packed into bytes ``(n, ceil(time / 8),
# pitches, tracks)``: bit ``i`` of byte ``j`` is step ``8 j + i``, and the bits after the last
# step are 0. Onsets, note lengths, polyphony and counts then run on an eighth of the memory,
# and the sums over time are popcounts. Doubling is written ``x + x``: NumPy's additions are
# SIMD loops, its shifts by a scalar much slower.


def _pack_time(roll: np.ndarray) -> np.ndarray:
    """Bool ``(n, time, ...)`` to uint8 ``(n, ceil(time / 8), ...)``, bit ``i`` = step ``8j + i``."""
    n_time = roll.shape[1]
    values = roll.view(np.uint8)
    out = np.zeros((roll.shape[0], -(-n_time // 8), *roll.shape[2:]), dtype=np.uint8)
    # Horner's scheme from the latest step of each byte down to the first.
    for bit in range(min(8, n_time) - 1, -1, -1):
        if bit < 7:
            np.add(out, out, out=out)
        rows = values[:, bit::8]
        np.bitwise_or(out[:, : rows.shape[1]], rows, out=out[:, : rows.shape[1]])
    return out


def _delayed(bits: np.ndarray) -> np.ndarray:
    """Packed bits moved one step later: step ``t`` holds step ``t - 1`` (step 0 holds 0)."""
    out = np.add(bits, bits)  # within each byte; the top bit falls out ...
    out[:, 1:] |= (bits[:, :-1] >= 128).view(np.uint8)  # ... into bit 0 of the next byte
    return out


def _count_bits(bits: np.ndarray) -> np.ndarray:
    """Set bits of packed ``(n, bytes, ...)`` summed over the bytes: counts ``(n, ...)``."""
    # The byte axis is the outer one: whole rows of cells are added at a time.
    return np.add.reduce(np.bitwise_count(bits), axis=1, dtype=_count_dtype(8 * bits.shape[1]))


def _pitch_reduce(values: np.ndarray, ufunc: np.ufunc = np.add, dtype: Any = None) -> np.ndarray:
    """Reduce ``(..., pitches, tracks)`` over the pitches (or pitch classes): ``(..., tracks)``.

    Pairwise halving of the pitch axis: every operation runs over contiguous blocks of pitches
    and tracks, far faster than a NumPy reduction over an inner axis followed by the short
    tracks axis. ``dtype`` (default: the input's) must hold the result.
    """
    n = values.shape[-2]
    if n == 1:
        return values[..., 0, :].astype(dtype or values.dtype)
    while n > 1:
        half = n // 2
        merged = ufunc(values[..., :half, :], values[..., half : 2 * half, :], dtype=dtype)
        if n % 2:  # the odd one out joins the first
            ufunc(merged[..., 0, :], values[..., 2 * half, :], out=merged[..., 0, :])
        values, n, dtype = merged, half, None
    return values[..., 0, :]


def _notes_per_track(bits: np.ndarray) -> np.ndarray:
    """Counts ``(n, tracks)``: set bits of packed ``(n, bytes, pitches, tracks)`` per track."""
    return _pitch_reduce(_count_bits(bits), dtype=_count_dtype(8 * bits.shape[1] * bits.shape[2]))


def _halve_counters(
    one: np.ndarray, two: np.ndarray | None, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """One level of the halving tree of :func:`_at_least_one_and_two` along ``axis`` (0 or -2).

    ``two`` is None before the first merge (no pitch counted twice yet).
    """

    def part(x: np.ndarray, key: int | slice) -> np.ndarray:
        return x[key] if axis == 0 else x[..., key, :]

    n = one.shape[axis]
    low, high = slice(0, n // 2), slice(n // 2, 2 * (n // 2))
    merged_two = part(one, low) & part(one, high)
    merged_one = part(one, low) | part(one, high)
    if two is not None:
        merged_two |= part(two, low)
        merged_two |= part(two, high)
    if n % 2:  # the odd one out joins the first counter
        odd = part(merged_one, 0) & part(one, -1)
        if two is not None:
            odd |= part(two, -1)
        np.bitwise_or(part(merged_two, 0), odd, out=part(merged_two, 0))
        np.bitwise_or(part(merged_one, 0), part(one, -1), out=part(merged_one, 0))
    return merged_one, merged_two


def _at_least_one_and_two(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Packed bits ``(..., pitches, tracks)``: per step, whether at least one, two are set.

    A halving tree over the pitch axis of saturating bit-sliced counters ``(one, two)``: merging
    counters ``a`` and ``b`` gives ``one = a.one | b.one``, ``two = a.two | b.two | (a.one &
    b.one)``.

    Returns:
        ``(one, two)``: uint8 packed bits ``(..., tracks)``.
    """
    one, two = bits, None
    n_tracks = bits.shape[-1]
    while one.shape[-2] > 1 and one.shape[-2] * n_tracks > 128:
        one, two = _halve_counters(one, two, axis=-2)
    # NumPy pays per contiguous row: once the (pitch, track) rows are short, the pitches go
    # outermost, ``(pitches, tracks, rows)``, and every operation runs over whole blocks.
    lead = one.shape[:-2]
    one, two = (
        None
        if x is None
        else np.ascontiguousarray(np.moveaxis(x.reshape(-1, *x.shape[-2:]), 0, -1))
        for x in (one, two)
    )
    while one.shape[0] > 1:
        one, two = _halve_counters(one, two, axis=0)
    if two is None:  # a single pitch
        two = np.zeros_like(one)
    return one[0].T.reshape(*lead, n_tracks), two[0].T.reshape(*lead, n_tracks)


# --------------------------------------------------------------------------------------------
# Shared intermediate arrays of a chunk of samples
# --------------------------------------------------------------------------------------------


class _Chunk:
    """A chunk of samples and its intermediate arrays, each computed once on first use.

    Attributes:
        roll: Read-only view ``(n, time, pitches, tracks)``, bars and steps flattened into time.
    """

    def __init__(self, batch: np.ndarray) -> None:
        batch = np.ascontiguousarray(batch).view()
        batch.flags.writeable = False  # any accidental in-place write raises
        self.batch = batch
        self.n, self.n_bars, self.n_steps, self.n_pitches, self.n_tracks = batch.shape
        self.n_time = self.n_bars * self.n_steps
        self.roll = batch.reshape(self.n, self.n_time, self.n_pitches, self.n_tracks)
        self._cache: dict[Any, Any] = {}

    def _cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            value = compute()
            for array in value if isinstance(value, tuple) else (value,):
                array.flags.writeable = False  # shared by the metrics: an in-place write raises
            self._cache[key] = value
        return self._cache[key]

    @property
    def bits(self) -> np.ndarray:
        """Uint8 ``(n, ceil(time / 8), pitches, tracks)``: the roll packed by :func:`_pack_time`."""
        return self._cached("bits", lambda: _pack_time(self.roll))

    @property
    def onset_bits(self) -> np.ndarray:
        """Packed like :attr:`bits`: set at the first step of every note."""

        def compute() -> np.ndarray:
            off_before = np.invert(_delayed(self.bits))
            off_before &= self.bits
            return off_before

        return self._cached("onset_bits", compute)

    @property
    def sounding_steps(self) -> tuple[np.ndarray, np.ndarray]:
        """Packed ``(n, bytes, tracks)``: steps where at least one, at least two pitches sound."""
        return self._cached("sounding_steps", lambda: _at_least_one_and_two(self.bits))

    @property
    def onset_steps(self) -> tuple[np.ndarray, np.ndarray]:
        """Packed ``(n, bytes, tracks)``: steps where at least one, at least two notes start."""
        return self._cached("onset_steps", lambda: _at_least_one_and_two(self.onset_bits))

    @property
    def n_notes(self) -> np.ndarray:
        """Counts ``(n, tracks)``: number of notes (onsets)."""
        return self._cached("n_notes", lambda: _notes_per_track(self.onset_bits))

    @property
    def pitch_steps(self) -> np.ndarray:
        """Counts ``(n, pitches, tracks)``: active steps of each pitch in the phrase."""
        return self._cached(
            "pitch_steps",
            lambda: np.add.reduce(self.bit_counts, axis=1, dtype=_count_dtype(self.n_time)),
        )

    @property
    def n_active_cells(self) -> np.ndarray:
        """Counts ``(n, tracks)``: number of sounding (step, pitch) cells."""
        return self._cached(
            "n_active_cells",
            lambda: _pitch_reduce(
                self.pitch_steps, dtype=_count_dtype(self.n_time * self.n_pitches)
            ),
        )

    @property
    def bit_counts(self) -> np.ndarray:
        """Uint8 ``(n, bytes, pitches, tracks)``: set bits of each byte of :attr:`bits`."""
        return self._cached("bit_counts", lambda: np.bitwise_count(self.bits))

    def span_pitch_steps(self, span: int) -> np.ndarray:
        """Counts ``(n, time // span, pitches, tracks)``: active steps of each pitch per span.

        The spans are consecutive runs of ``span`` steps (a beat, a bar), ``span`` dividing the
        time. Spans and bytes line up every ``lcm(span, 8)`` steps, a period of a few bytes: a
        span adds the popcounts of the bytes it covers whole and of its masked part of a byte
        it shares with a neighbour, for all periods at once.
        """

        def compute() -> np.ndarray:
            period = math.lcm(span, 8) // 8  # bytes
            bits, counts = self.bits, self.bit_counts
            n_periods = -(-bits.shape[1] // period)
            if n_periods * period > bits.shape[1]:  # a partial last period: pad it with zeros
                pad = [(0, 0), (0, n_periods * period - bits.shape[1]), (0, 0), (0, 0)]
                bits, counts = np.pad(bits, pad), np.pad(counts, pad)
            shape = (self.n, n_periods, period, *bits.shape[2:])
            bits, counts = bits.reshape(shape), counts.reshape(shape)
            per_period = 8 * period // span
            out = np.zeros((self.n, n_periods, per_period, *shape[3:]), _count_dtype(span))
            for k in range(per_period):
                first, last = k * span, (k + 1) * span  # steps of the period
                whole = range(-(-first // 8), last // 8)
                if whole:
                    np.add.reduce(
                        counts[:, :, whole.start : whole.stop],
                        axis=2,
                        dtype=out.dtype,
                        out=out[:, :, k],
                    )
                for byte in {first // 8, (last - 1) // 8}.difference(whole):
                    low, high = max(first - 8 * byte, 0), min(last - 8 * byte, 8)
                    mask = np.uint8((1 << high) - (1 << low))
                    out[:, :, k] += np.bitwise_count(bits[:, :, byte] & mask)
            return out.reshape(self.n, -1, *shape[3:])[:, : self.n_time // span]

        return self._cached(("span_pitch_steps", span), compute)

    def pitch_class_steps(self, lowest_pitch: int) -> np.ndarray:
        """Float ``(n, 12, tracks)``: active steps of each pitch class in the phrase."""
        return self._cached(
            ("pitch_class_steps", lowest_pitch),
            lambda: _fold_pitch_classes(self.pitch_steps, lowest_pitch),
        )

    def n_long_notes(self, min_length: int) -> np.ndarray:
        """Counts ``(n, tracks)``: number of notes at least ``min_length`` steps long.

        A note starting at ``t`` is that long if and only if steps ``t .. t + min_length - 1``
        of its pitch are all active, so no run lengths are needed: the onsets are delayed one
        step at a time and kept where the pitch is still active.
        """

        def compute() -> np.ndarray:
            held = self.onset_bits
            for _ in range(min_length - 1):
                held = _delayed(held)
                held &= self.bits
            return _notes_per_track(held)

        return self._cached(("n_long_notes", min_length), compute)

    def note_pitch_sequence(self, track: int) -> tuple[np.ndarray, np.ndarray]:
        """Notes of one track ordered by sample, onset time, then pitch ascending.

        Returns:
            ``(sample, pitch)``: two int arrays, the sample index (within the chunk) and the
            pitch index of every note.
        """

        def compute() -> tuple[np.ndarray, np.ndarray]:
            n_pitches = self.n_pitches
            onsets = np.ascontiguousarray(self.onset_bits[..., track]).reshape(-1)
            # Two sparse passes, each on a bool array (NumPy's fast nonzero): the bytes that
            # hold an onset (about a third of them at 5 % density), then their set bits.
            flat = np.flatnonzero(onsets != 0)  # byte index (sample * bytes + j) * pitches + p
            per_sample = 8 * onsets.size // self.n  # (time padded to whole bytes) * pitches
            if self.n * per_sample < 2**31:  # int32 keys sort twice as fast
                flat = flat.astype(np.int32)
            bits = np.flatnonzero(np.unpackbits(onsets[flat], bitorder="little").view(bool))
            byte_row, pitch = np.divmod(flat, n_pitches)
            # Step 8 j + i of that byte is note key (sample * time + 8 j + i) * pitches + p, its
            # row-major position in (sample, time, pitch): sorted keys are in the note order.
            base = byte_row * (8 * n_pitches) + pitch
            keys = base[bits >> 3] + (bits & 7).astype(flat.dtype) * n_pitches
            keys.sort()
            return keys // per_sample, keys % n_pitches

        return self._cached(("note_pitch_sequence", track), compute)


def _threads() -> int:
    """Threads for chunk-parallel metrics: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _chunks(batch: np.ndarray) -> Iterator[_Chunk]:
    """Yield the batch as :class:`_Chunk` objects of a few million cells each."""
    per_sample = max(1, int(np.prod(batch.shape[1:])))
    size = max(1, _CHUNK_CELLS // per_sample)
    for start in range(0, batch.shape[0], size):
        yield _Chunk(batch[start : start + size])


def _per_sample(
    batch: Any, metric: Callable[[_Chunk], np.ndarray], n_columns: int | None = None
) -> np.ndarray:
    """Apply ``metric`` chunk by chunk and stack the results ``(N, n_columns)``."""
    batch = _check_batch(batch)
    parts = [metric(chunk) for chunk in _chunks(batch)]
    if not parts:
        return np.empty((0, batch.shape[-1] if n_columns is None else n_columns))
    return np.concatenate(parts, axis=0)


# --------------------------------------------------------------------------------------------
# Metric formulas on a chunk (each written once, shared by the public functions and
# compute_all)
# --------------------------------------------------------------------------------------------


def _empty_bar_rate(chunk: _Chunk) -> np.ndarray:
    bar_active = _pitch_reduce(chunk.span_pitch_steps(chunk.n_steps), np.bitwise_or) > 0
    return 1.0 - bar_active.sum(axis=1) / chunk.n_bars


def _used_pitch_classes(chunk: _Chunk, lowest_pitch: int) -> np.ndarray:
    bar_pitches = chunk.span_pitch_steps(chunk.n_steps) > 0
    bar_classes = _fold_pitch_classes(
        bar_pitches, lowest_pitch, dtype=bool
    )  # (n, bars, 12, tracks)
    classes_per_bar = _pitch_reduce(bar_classes, dtype=np.uint8)  # (n, bars, tracks)
    return _ratio(classes_per_bar.sum(axis=1), (classes_per_bar > 0).sum(axis=1))


def _qualified_note_rate(chunk: _Chunk, min_length: int) -> np.ndarray:
    return _ratio(chunk.n_long_notes(min_length), chunk.n_notes)


def _drum_pattern_rate(chunk: _Chunk, steps_per_beat: int) -> np.ndarray:
    step = np.arange(8 * chunk.bits.shape[1])
    on_grid = (step < chunk.n_time) & (step % chunk.n_steps % (steps_per_beat // 4) == 0)
    grid = np.packbits(on_grid, bitorder="little")[:, None, None]  # packed like the bits
    in_pattern = _notes_per_track(chunk.onset_bits & grid)
    return _ratio(in_pattern, chunk.n_notes)


def _tonal_distance(
    chunk: _Chunk, lowest_pitch: int, steps_per_beat: int, pairs: Sequence[tuple[int, int]]
) -> np.ndarray:
    if not pairs:
        return np.empty((chunk.n, 0))
    first, second = np.array(pairs).T
    max_count = steps_per_beat * -(-chunk.n_pitches // 12)  # of one pitch class in a beat
    chroma = _fold_pitch_classes(
        chunk.span_pitch_steps(steps_per_beat), lowest_pitch, dtype=_count_dtype(max_count)
    )  # (n, beats, 12, tracks)
    # The centroid is linear in the chroma: one matrix product gives the centroid of the
    # unnormalized chroma (6 rows) and its total (a row of ones), then 6 values are normalized.
    # (np.matmul on the stacked small matrices; np.tensordot would call a multithreaded BLAS
    # on a tall, thin matrix, much slower under load.)
    projected = np.matmul(_CENTROID_AND_TOTAL, chroma)  # (n, beats, 7, tracks)
    total = projected[:, :, 6]
    sounding = total > 0  # (n, beats, tracks)
    centroid = projected[:, :, :6] / np.where(sounding, total, 1.0)[:, :, None]
    difference = centroid[..., first] - centroid[..., second]  # (n, beats, 6, pairs)
    distance = np.sqrt(_pitch_reduce(difference * difference))  # (n, beats, pairs)
    both = sounding[..., first] & sounding[..., second]
    return _ratio(np.where(both, distance, 0.0).sum(axis=1), both.sum(axis=1))


def _polyphony_rate(chunk: _Chunk) -> np.ndarray:
    one, two = chunk.sounding_steps
    return _ratio(_count_bits(two), _count_bits(one))


def _notes_per_bar(chunk: _Chunk) -> np.ndarray:
    return chunk.n_notes / chunk.n_bars


def _mean_note_length(chunk: _Chunk) -> np.ndarray:
    # Every note has exactly one onset, so the total note length is the number of active cells.
    return _ratio(chunk.n_active_cells, chunk.n_notes)


def _pitch_range(chunk: _Chunk) -> np.ndarray:
    present = chunk.pitch_steps > 0  # (n, pitches, tracks)
    pitch = np.arange(chunk.n_pitches, dtype=np.int16 if chunk.n_pitches < 2**15 else np.int64)[
        :, None
    ]
    lowest = _pitch_reduce(np.where(present, pitch, chunk.n_pitches), np.minimum)
    highest = _pitch_reduce(np.where(present, pitch, -1), np.maximum)
    return np.where(highest >= 0, highest - lowest, np.nan)


def _used_pitches(chunk: _Chunk) -> np.ndarray:
    return _pitch_reduce(chunk.pitch_steps > 0, dtype=_count_dtype(chunk.n_pitches)).astype(float)


def _pitch_class_entropy(chunk: _Chunk, lowest_pitch: int) -> np.ndarray:
    histogram = chunk.pitch_class_steps(lowest_pitch)  # (n, 12, tracks)
    total = _pitch_reduce(histogram)[:, None]
    probability = np.zeros_like(histogram)
    np.divide(histogram, total, out=probability, where=total > 0)
    log_probability = np.zeros_like(histogram)
    np.log2(probability, out=log_probability, where=probability > 0)
    entropy = -_pitch_reduce(probability * log_probability)
    return np.where(total[:, 0] > 0, entropy + 0.0, np.nan)  # + 0.0 turns -0.0 into 0.0


def _in_scale_rate(chunk: _Chunk, lowest_pitch: int) -> np.ndarray:
    histogram = chunk.pitch_class_steps(lowest_pitch)  # (n, 12, tracks)
    in_key = np.matmul(_SCALES.T, histogram)  # (n, 24 keys, tracks)
    return _ratio(_pitch_reduce(in_key, np.maximum), _pitch_reduce(histogram))


def _onset_polyphony(chunk: _Chunk) -> np.ndarray:
    one, two = chunk.onset_steps
    return _ratio(_count_bits(two), _count_bits(one))


def _repetitions_3gram(chunk: _Chunk, tracks: Sequence[int] | None = None) -> np.ndarray:
    tracks = range(chunk.n_tracks) if tracks is None else tracks
    n_pitches = chunk.n_pitches
    out = np.full((chunk.n, len(tracks)), np.nan)
    for column, track in enumerate(tracks):
        sample, pitch = chunk.note_pitch_sequence(track)
        # The 3-gram starting at note k belongs to one sample if notes k and k + 2 do.
        within = sample[2:] == sample[:-2]
        key_dtype = np.int32 if chunk.n * n_pitches**3 < 2**31 else np.int64
        key = sample[:-2].astype(key_dtype)
        for notes in (pitch[:-2], pitch[1:-1], pitch[2:]):
            key *= n_pitches
            key += notes
        key = np.sort(key[within])
        # After sorting, every key equal to its predecessor repeats an earlier 3-gram.
        repeated = key[1:][key[1:] == key[:-1]] // n_pitches**3
        n_repeated = np.bincount(repeated, minlength=chunk.n)
        out[:, column] = _ratio(n_repeated, chunk.n_notes[:, track])
    return out


# --------------------------------------------------------------------------------------------
# Public metrics
# --------------------------------------------------------------------------------------------


def empty_bar_rate(batch: np.ndarray) -> np.ndarray:
    """Fraction of bars in which the track sounds no pitch at any step (MuseGAN "EB").

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.

    Returns:
        Float64 array ``(N, tracks)`` in [0, 1]; defined for every sample (an all-empty track
        gives 1.0).
    """
    return _per_sample(batch, _empty_bar_rate)


def used_pitch_classes(batch: np.ndarray, *, lowest_pitch: int) -> np.ndarray:
    """Mean number of distinct pitch classes per non-empty bar (MuseGAN "UPC").

    The pitch class of pitch index ``p`` is ``(lowest_pitch + p) % 12``: C in three octaves is one
    pitch class. Bars where the track is silent are left out of the mean.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.
        lowest_pitch: MIDI pitch of pitch index 0.

    Returns:
        Float64 array ``(N, tracks)`` in [1, 12]; NaN where the track has no non-empty bar.
    """
    return _per_sample(batch, lambda chunk: _used_pitch_classes(chunk, lowest_pitch))


def qualified_note_rate(
    batch: np.ndarray, *, steps_per_beat: int, min_length: int | None = None
) -> np.ndarray:
    """Fraction of notes at least ``min_length`` steps long (MuseGAN "QN").

    A note is a maximal run of consecutive active steps of one pitch in the phrase (bars are
    flattened into time first, so a note held across a bar line is one note).

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.
        steps_per_beat: Time steps per quarter-note beat (only used for the default threshold).
        min_length: Shortest qualified note in steps. Default: the paper's 32nd note (3 steps at
            24 steps per beat) at this resolution, ``3 * steps_per_beat / 24`` rounded half up,
            and at least 2 steps (2 at 4 and 12 steps per beat, 3 at 24).

    Returns:
        Float64 array ``(N, tracks)`` in [0, 1]; NaN where the track has no note.

    Raises:
        ValueError: ``min_length`` is less than 1.
    """
    if min_length is None:
        min_length = _default_min_length(steps_per_beat)
    min_length = int(min_length)
    if min_length < 1:
        raise ValueError(f"min_length must be at least 1 step, got {min_length}")
    return _per_sample(batch, lambda chunk: _qualified_note_rate(chunk, min_length))


def _check_drum_grid(steps_per_beat: int, n_steps: int) -> int:
    steps_per_beat = _check_steps_per_beat(steps_per_beat, n_steps)
    if steps_per_beat % 4:
        raise ValueError(
            f"drum_pattern_rate needs steps_per_beat divisible by 4 so that 16th notes fall on "
            f"time steps, got steps_per_beat={steps_per_beat}"
        )
    return steps_per_beat


def drum_pattern_rate(batch: np.ndarray, *, steps_per_beat: int) -> np.ndarray:
    """Fraction of drum onsets that lie on the 16th-note grid (MuseGAN "DP").

    The paper defines DP as the "ratio of the total number of notes in 8- or 16-beat patterns".
    Read here as: a drum note (onset, so a held drum note counts once) is in pattern if it
    starts on a 16th-note position, i.e. its step index within the beat is a multiple of
    ``steps_per_beat / 4``; 8th-note positions are a subset. There is no tolerance for off-grid
    onsets (unlike ``pypianoroll.metrics.drum_in_pattern_rate``, which also counts every active
    step rather than onsets). Meant for drum tracks; computed for every track given.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.
        steps_per_beat: Time steps per quarter-note beat; must divide the steps per bar.

    Returns:
        Float64 array ``(N, tracks)`` in [0, 1]; NaN where the track has no onset.

    Raises:
        ValueError: ``steps_per_beat`` is not divisible by 4 or does not divide the bar.
    """
    batch = _check_batch(batch)
    steps_per_beat = _check_drum_grid(steps_per_beat, batch.shape[2])
    return _per_sample(batch, lambda chunk: _drum_pattern_rate(chunk, steps_per_beat))


def _track_pairs(
    n_tracks: int, drum_mask: Sequence[bool] | None, track_names: Sequence[str] | None
) -> tuple[list[tuple[int, int]], list[str]]:
    """Pairs ``(i, j)``, ``i < j``, of non-drum tracks and their names ``"A-B"``."""
    names = [str(i) for i in range(n_tracks)] if track_names is None else list(track_names)
    drums = [False] * n_tracks if drum_mask is None else [bool(d) for d in drum_mask]
    if len(names) != n_tracks or len(drums) != n_tracks:
        raise ValueError(
            f"track_names ({len(names)}) and drum_mask ({len(drums)}) must have one entry per "
            f"track ({n_tracks})"
        )
    pitched = [i for i in range(n_tracks) if not drums[i]]
    pairs = [(i, j) for k, i in enumerate(pitched) for j in pitched[k + 1 :]]
    return pairs, [f"{names[i]}-{names[j]}" for i, j in pairs]


def tonal_distance(
    batch: np.ndarray,
    *,
    lowest_pitch: int,
    steps_per_beat: int,
    drum_mask: Sequence[bool] | None = None,
    track_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Harmonic distance between every pair of non-drum tracks (MuseGAN "TD").

    Per beat and track, the chroma (active steps per pitch class, pitch class
    ``(lowest_pitch + p) % 12``) is normalized to sum 1 and projected onto the 6-D tonal
    centroid of Harte, Sandler and Gasser (2006) with radii ``r1 = r2 = 1``, ``r3 = 0.5``
    (rows ``sin/cos`` of ``l 7pi/6``, ``l 3pi/2``, ``l 2pi/3`` for pitch class ``l``). The
    distance of a pair is the Euclidean distance of the two centroids, averaged over the beats
    where both tracks sound.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.
        lowest_pitch: MIDI pitch of pitch index 0.
        steps_per_beat: Time steps per beat; must divide the steps per bar.
        drum_mask: Per track, whether it is a drum track (left out). Default: no drums.
        track_names: Track names for the pair names. Default: ``"0"``, ``"1"``, ...

    Returns:
        ``(values, pair_names)``: float64 array ``(N, pairs)`` with one column per pair ``(i, j)``,
        ``i < j``, of non-drum tracks, NaN where no beat has both tracks sounding; and the
        pair names ``"<name i>-<name j>"`` in column order.

    Raises:
        ValueError: ``steps_per_beat`` does not divide the bar, or ``drum_mask`` or
            ``track_names`` has the wrong length.
    """
    batch = _check_batch(batch)
    steps_per_beat = _check_steps_per_beat(steps_per_beat, batch.shape[2])
    pairs, names = _track_pairs(batch.shape[-1], drum_mask, track_names)
    values = _per_sample(
        batch,
        lambda chunk: _tonal_distance(chunk, lowest_pitch, steps_per_beat, pairs),
        n_columns=len(pairs),
    )
    return values, names


def polyphony_rate(batch: np.ndarray) -> np.ndarray:
    """Fraction of active steps at which at least two pitches sound.

    The denominator is the number of active steps (steps where the track sounds at least one
    pitch), not all steps: silence does not dilute the rate. (``pypianoroll``'s
    ``polyphonic_rate`` divides by all steps and by default counts steps with more than two
    pitches.)

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.

    Returns:
        Float64 array ``(N, tracks)`` in [0, 1]; NaN where the track has no active step.
    """
    return _per_sample(batch, _polyphony_rate)


def notes_per_bar(batch: np.ndarray) -> np.ndarray:
    """Number of notes (onsets, counted per pitch) divided by the number of bars.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.

    Returns:
        Float64 array ``(N, tracks)``, at least 0; defined for every sample.
    """
    return _per_sample(batch, _notes_per_bar)


def mean_note_length(batch: np.ndarray) -> np.ndarray:
    """Mean length in steps of the notes (runs of one pitch, across bar lines).

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.

    Returns:
        Float64 array ``(N, tracks)``, at least 1; NaN where the track has no note.
    """
    return _per_sample(batch, _mean_note_length)


def pitch_range(batch: np.ndarray) -> np.ndarray:
    """Highest minus lowest sounding pitch of the phrase, in semitones.

    This is also C-RNN-GAN's "tone span", exposed as :data:`tone_span`.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.

    Returns:
        Float64 array ``(N, tracks)``, at least 0; NaN where the track has no note.
    """
    return _per_sample(batch, _pitch_range)


#: C-RNN-GAN's "tone span": the same function as :func:`pitch_range`.
tone_span = pitch_range


def used_pitches(batch: np.ndarray) -> np.ndarray:
    """Number of distinct pitches sounding in the phrase.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.

    Returns:
        Float64 array ``(N, tracks)``, at least 0; defined for every sample (0 for no note).
    """
    return _per_sample(batch, _used_pitches)


def pitch_class_entropy(batch: np.ndarray, *, lowest_pitch: int) -> np.ndarray:
    """Shannon entropy in bits of the pitch-class histogram weighted by active steps.

    The histogram counts, per pitch class ``(lowest_pitch + p) % 12``, the active cells
    (sounding steps) of its pitches; normalized, ``H = -sum(q log2 q)`` over nonzero ``q``.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.
        lowest_pitch: MIDI pitch of pitch index 0.

    Returns:
        Float64 array ``(N, tracks)`` in [0, log2(12)]; NaN where the track has no note.
    """
    return _per_sample(batch, lambda chunk: _pitch_class_entropy(chunk, lowest_pitch))


def in_scale_rate(batch: np.ndarray, *, lowest_pitch: int) -> np.ndarray:
    """C-RNN-GAN's scale consistency: share of active cells in the best-fitting key.

    For each of the 24 major and natural-minor keys, the fraction of active ``(step, pitch)``
    cells whose pitch class ``(lowest_pitch + p) % 12`` is in the key's scale; the result is the
    largest fraction. A C-E-G chord gives 1.0, all 12 pitch classes equally 7/12.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.
        lowest_pitch: MIDI pitch of pitch index 0.

    Returns:
        Float64 array ``(N, tracks)`` in [7/12, 1]; NaN where the track has no note.
    """
    return _per_sample(batch, lambda chunk: _in_scale_rate(chunk, lowest_pitch))


def onset_polyphony(batch: np.ndarray) -> np.ndarray:
    """C-RNN-GAN's polyphony: share of onset steps at which at least two notes start.

    An onset step is a step where at least one note starts.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.

    Returns:
        Float64 array ``(N, tracks)`` in [0, 1]; NaN where the track has no onset.
    """
    return _per_sample(batch, _onset_polyphony)


def repetitions_3gram(batch: np.ndarray) -> np.ndarray:
    """C-RNN-GAN's repetitions: repeated pitch 3-grams per note.

    The notes of the track are ordered by onset time, ties by pitch ascending; among the
    overlapping 3-grams of their pitches, those equal to an earlier 3-gram of the same sample
    are counted, and the count is divided by the number of notes. Vectorized without a loop
    over samples: the 3-grams of all samples are encoded with their sample index and sorted.

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.

    Returns:
        Float64 array ``(N, tracks)`` in [0, 1); 0.0 with one or two notes (no repeated
        3-gram), NaN where the track has no note.
    """
    return _per_sample(batch, _repetitions_3gram)


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------

#: Metrics of every track, of non-drum tracks only, and of drum tracks only (compute_all).
_ALL_TRACK_METRICS = ("empty_bar_rate", "notes_per_bar")
_PITCHED_METRICS = (
    "used_pitch_classes",
    "qualified_note_rate",
    "polyphony_rate",
    "mean_note_length",
    "pitch_range",
    "used_pitches",
    "pitch_class_entropy",
    "in_scale_rate",
    "onset_polyphony",
    "repetitions_3gram",
)
_DRUM_METRICS = ("drum_pattern_rate",)

#: The output keys of :func:`compute_all` in order, each as ``(metric, column, key)``: the
#: column of the metric's per-chunk result ``(n, columns)`` that holds the key's values.
_KeyPlan = list[tuple[str, int, str]]


def compute_all(
    batch: np.ndarray,
    *,
    lowest_pitch: int,
    steps_per_beat: int,
    beats_per_bar: int,
    drum_mask: Sequence[bool],
    track_names: Sequence[str],
    only: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Every applicable per-sample metric of a batch, sharing the intermediate arrays.

    Which metric is computed for which track:

    - every track: ``empty_bar_rate``, ``notes_per_bar``;
    - non-drum tracks: ``used_pitch_classes``, ``qualified_note_rate`` (default threshold),
      ``polyphony_rate``, ``mean_note_length``, ``pitch_range`` (= tone span),
      ``used_pitches``, ``pitch_class_entropy``, ``in_scale_rate``, ``onset_polyphony``,
      ``repetitions_3gram``, and ``tonal_distance`` for every pair of non-drum tracks;
    - drum tracks: ``drum_pattern_rate`` (only if ``steps_per_beat`` is divisible by 4).

    Args:
        batch: Binary (bool) phrases of shape ``(N, bars, steps, pitches, tracks)``.
        lowest_pitch: MIDI pitch of pitch index 0.
        steps_per_beat: Time steps per beat.
        beats_per_bar: Beats per bar; ``steps_per_beat * beats_per_bar`` must equal ``steps``.
        drum_mask: Per track, whether it is a drum track.
        track_names: Per track, its name.
        only: Metric names to compute (a subset of the above); None for all.

    Returns:
        A dict from ``"<metric>/<track>"`` (``"tonal_distance/<track>-<track>"`` for pairs; see
        :func:`pianoroll.evaluation.metric_key`) to a float64 array ``(N,)`` of per-sample
        values, NaN where undefined (see each metric).

    Raises:
        ValueError: the batch does not have ``steps_per_beat * beats_per_bar`` steps per bar,
            or ``drum_mask`` or ``track_names`` has the wrong length.
    """
    batch = _check_batch(batch)
    steps_per_beat = _check_meter(steps_per_beat, beats_per_bar, batch.shape[2])
    pairs, pair_names = _track_pairs(batch.shape[-1], drum_mask, track_names)
    pitched = [i for i, drum in enumerate(drum_mask) if not drum]
    drums = [i for i, drum in enumerate(drum_mask) if drum]
    formulas = _formulas(lowest_pitch, steps_per_beat, pitched, pairs)
    plan = _key_plan(list(track_names), pitched, drums, pair_names, steps_per_beat)
    plan = _select(plan, only, formulas)
    return _assemble(plan, _evaluate_chunks(batch, formulas, plan))


def _check_meter(steps_per_beat: int, beats_per_bar: int, n_steps: int) -> int:
    """``steps_per_beat`` as an int, checked to make bars of ``beats_per_bar`` beats.

    Raises:
        ValueError: ``steps_per_beat * beats_per_bar`` is not ``n_steps``, the steps per bar.
    """
    if int(steps_per_beat) * int(beats_per_bar) != n_steps:
        raise ValueError(
            f"steps_per_beat * beats_per_bar = {steps_per_beat} * {beats_per_bar} does not match "
            f"the {n_steps} steps per bar of the batch"
        )
    return _check_steps_per_beat(steps_per_beat, n_steps)


def _formulas(
    lowest_pitch: int,
    steps_per_beat: int,
    pitched: Sequence[int],
    pairs: Sequence[tuple[int, int]],
) -> dict[str, Callable[[_Chunk], np.ndarray]]:
    """Every metric of :func:`compute_all` by name, as a function of a chunk.

    Args:
        lowest_pitch: MIDI pitch of pitch index 0.
        steps_per_beat: Time steps per beat.
        pitched: Indices of the non-drum tracks.
        pairs: Pairs ``(i, j)`` of non-drum tracks, the columns of ``tonal_distance``.

    Returns:
        Metric name -> function of a :class:`_Chunk` of ``n`` samples giving a float64 array
        ``(n, columns)``: one column per track, per pitched track (``repetitions_3gram``) or
        per pair (``tonal_distance``).
    """
    min_length = _default_min_length(steps_per_beat)
    return {
        "empty_bar_rate": _empty_bar_rate,
        "notes_per_bar": _notes_per_bar,
        "used_pitch_classes": lambda chunk: _used_pitch_classes(chunk, lowest_pitch),
        "qualified_note_rate": lambda chunk: _qualified_note_rate(chunk, min_length),
        "polyphony_rate": _polyphony_rate,
        "mean_note_length": _mean_note_length,
        "pitch_range": _pitch_range,
        "used_pitches": _used_pitches,
        "pitch_class_entropy": lambda chunk: _pitch_class_entropy(chunk, lowest_pitch),
        "in_scale_rate": lambda chunk: _in_scale_rate(chunk, lowest_pitch),
        "onset_polyphony": _onset_polyphony,
        # Only the pitched tracks: the ordered note sequences are the costly part.
        "repetitions_3gram": lambda chunk: _repetitions_3gram(chunk, pitched),
        "drum_pattern_rate": lambda chunk: _drum_pattern_rate(chunk, steps_per_beat),
        "tonal_distance": lambda chunk: _tonal_distance(chunk, lowest_pitch, steps_per_beat, pairs),
    }


def _key_plan(
    names: Sequence[str],
    pitched: Sequence[int],
    drums: Sequence[int],
    pair_names: Sequence[str],
    steps_per_beat: int,
) -> _KeyPlan:
    """Every output key of :func:`compute_all`, in output order, with where its values come from.

    Args:
        names: Per track, its name.
        pitched: Indices of the non-drum tracks.
        drums: Indices of the drum tracks.
        pair_names: Names of the pairs of non-drum tracks (``"A-B"``), in column order.
        steps_per_beat: Time steps per beat (drum patterns need a 16th-note grid).

    Returns:
        ``(metric, column, key)`` per key (see :data:`_KeyPlan`).
    """
    # pianoroll.evaluation owns the key policy; it imports this module, so not at the top.
    from pianoroll.evaluation import metric_key

    plan: _KeyPlan = []
    for metric in (*_ALL_TRACK_METRICS, *_PITCHED_METRICS, *_DRUM_METRICS):
        if metric in _ALL_TRACK_METRICS:
            tracks: Sequence[int] = range(len(names))
        elif metric in _PITCHED_METRICS:
            tracks = pitched
        elif steps_per_beat % 4 == 0:
            tracks = drums
        else:
            continue  # no 16th-note grid at this resolution
        for track in tracks:
            # repetitions_3gram has one column per pitched track, the others one per track.
            column = pitched.index(track) if metric == "repetitions_3gram" else track
            plan.append((metric, column, metric_key(metric, names[track])))
    plan += [
        ("tonal_distance", column, metric_key("tonal_distance", name))
        for column, name in enumerate(pair_names)
    ]
    return plan


def _select(plan: _KeyPlan, only: Sequence[str] | None, known: Iterable[str]) -> _KeyPlan:
    """The entries of a :func:`_key_plan` of the metrics named in ``only`` (all for None).

    Raises:
        ValueError: ``only`` names a metric that is not ``known``.
    """
    if only is None:
        return plan
    unknown = sorted(set(only) - set(known))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {sorted(known)}")
    return [entry for entry in plan if entry[0] in set(only)]


def _evaluate_chunks(
    batch: np.ndarray,
    formulas: dict[str, Callable[[_Chunk], np.ndarray]],
    plan: _KeyPlan,
) -> dict[str, list[np.ndarray]]:
    """Compute every metric of the plan on every chunk of the batch.

    Returns:
        Metric name -> its float64 result ``(n, columns)`` of every chunk, in batch order.
    """
    metrics = list(dict.fromkeys(metric for metric, _, _ in plan))

    def evaluate(chunk: _Chunk) -> list[np.ndarray]:
        return [formulas[metric](chunk) for metric in metrics]

    # NumPy releases the GIL in its array loops, so chunks run in parallel on threads; map
    # keeps their order, so the result does not depend on the number of threads.
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        results = list(pool.map(evaluate, _chunks(batch)))
    return {metric: [result[i] for result in results] for i, metric in enumerate(metrics)}


def _assemble(plan: _KeyPlan, parts: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """The output of :func:`compute_all`: every key's column joined over the chunks.

    Returns:
        Key -> float64 array ``(N,)``; empty where the batch had no chunk.
    """
    return {
        key: (
            np.concatenate([part[:, column] for part in parts[metric]])
            if parts[metric]
            else np.empty(0)
        )
        for metric, column, key in plan
    }
