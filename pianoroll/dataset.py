"""A prepared dataset: bit-packed phrases, their songs, the phrase spec, and its on-disk cache.

The phrases stay packed 8 cells to a byte from preparation through the cache, the split and
the input pipeline: a dataset of N phrases holds ``(N, row_bytes)`` ``uint8`` rows, and a split
is a list of row indices into the same array. Only what a caller asks for is unpacked
(:meth:`Dataset.phrases_at`, :meth:`Dataset.chunks`), never the whole set.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from pianoroll.errors import DataError
from pianoroll.io import atomic_path
from pianoroll.spec import PhraseSpec
from pianoroll.voices import to_channels

__all__ = [
    "CACHE_FORMAT",
    "CHUNK_PHRASES",
    "Dataset",
    "Splits",
    "pack_channels",
    "pack_phrases",
    "row_bytes",
    "unpack_channels",
    "unpack_rows",
    "write_cache",
]

#: Bumped whenever the cache layout or the processing changes, so old caches are rebuilt.
#: 2: meters other than the spec's own are read by the meter policy; tolerant MIDI reading.
CACHE_FORMAT = 2

#: Phrases unpacked at a time by :meth:`Dataset.chunks` (4 x 48 x 84 x 5 phrases: 80 MB).
CHUNK_PHRASES = 1024


def row_bytes(spec: PhraseSpec) -> int:
    """Bytes of one packed phrase: its model tensor's cells (the rolls', then the voices'
    onsets), 8 to a byte, the last byte zero-padded."""
    return -(-int(np.prod(spec.channel_shape)) // 8)


def pack_phrases(phrases: np.ndarray) -> np.ndarray:
    """Pack phrases 8 cells to a byte.

    Args:
        phrases: ``(N, bars, steps, pitches, tracks)``, binary.

    Returns:
        ``(N, row_bytes)`` ``uint8``; cells in C order, the first cell in the highest bit.
    """
    phrases = np.asarray(phrases, bool)
    size = int(np.prod(phrases.shape[1:]))  # not -1: there may be no phrase to infer it from
    return np.packbits(phrases.reshape(len(phrases), size), axis=1)


def pack_channels(phrases: np.ndarray, spec: PhraseSpec) -> np.ndarray:
    """Pack model tensors: every roll cell first (as :func:`pack_phrases` lays them out), then
    the voices' onset cells, so the first bits of a row are its rolls whatever the voices.

    Args:
        phrases: ``(N, bars, steps, pitches, channels)``, binary
            (:attr:`PhraseSpec.channel_shape`).
        spec: their phrase spec.

    Returns:
        ``(N, row_bytes)`` ``uint8``.
    """
    phrases = np.asarray(phrases, bool)
    if not spec.voices:
        return pack_phrases(phrases)
    n = len(phrases)
    rolls = phrases[..., : spec.n_tracks].reshape(n, -1)
    onsets = phrases[..., spec.n_tracks :].reshape(n, -1)
    return np.packbits(np.concatenate([rolls, onsets], axis=1), axis=1)


def unpack_rows(rows: np.ndarray, spec: PhraseSpec) -> np.ndarray:
    """The rolls of packed phrases (the inverse of :func:`pack_phrases`; the onsets of the
    voices that :func:`pack_channels` adds are left out).

    Args:
        rows: ``(N, row_bytes)`` ``uint8`` packed phrases.
        spec: their phrase spec.

    Returns:
        ``(N, bars, steps, pitches, tracks)``, binary.
    """
    size = int(np.prod(spec.shape))
    bits = np.unpackbits(rows, axis=1, count=size).view(bool)
    return bits.reshape(len(rows), *spec.shape)


def unpack_channels(rows: np.ndarray, spec: PhraseSpec) -> np.ndarray:
    """The inverse of :func:`pack_channels`.

    Returns:
        ``(N, bars, steps, pitches, channels)``, binary model tensors.
    """
    if not spec.voices:
        return unpack_rows(rows, spec)
    size, shape = int(np.prod(spec.shape)), spec.channel_shape
    bits = np.unpackbits(rows, axis=1, count=int(np.prod(shape))).view(bool)
    onsets = bits[:, size:].reshape(len(rows), *shape[:3], len(spec.voices))
    return np.concatenate([bits[:, :size].reshape(len(rows), *spec.shape), onsets], axis=-1)


@dataclasses.dataclass
class Dataset:
    """N bit-packed phrases plus metadata.

    Attributes:
        packed: ``(M, row_bytes)`` ``uint8``, the packed phrases (see :func:`pack_phrases`);
            the parts of a split share it.
        song_ids: ``(N,)`` ``int``: the index into ``song_names`` of each phrase's song.
        song_names: names of the songs that kept at least one phrase.
        spec: the phrase spec (resolution, pitch offset, track names/programs/drum flags).
        summary: what preparation read, skipped and kept (JSON-serializable).
        rows: ``(N,)`` ``int64``, the rows of ``packed`` that are this dataset's phrases, in
            order; None: every row, in order.
    """

    packed: np.ndarray
    song_ids: np.ndarray
    song_names: list[str]
    spec: PhraseSpec
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        width = row_bytes(self.spec)
        if self.packed.ndim != 2 or self.packed.shape[1] != width or self.packed.dtype != np.uint8:
            raise DataError(
                f"packed phrases have shape {self.packed.shape} of {self.packed.dtype}, the spec"
                f" {self.spec.shape} needs (N, {width}) uint8",
                "wrong shape",
            )
        if len(self.song_ids) != len(self):
            raise DataError(f"{len(self.song_ids)} song ids for {len(self)} phrases", "wrong shape")

    @classmethod
    def from_phrases(
        cls,
        phrases: np.ndarray,
        song_ids: np.ndarray,
        song_names: list[str],
        spec: PhraseSpec,
        summary: dict[str, Any] | None = None,
        onsets: np.ndarray | None = None,
    ) -> Dataset:
        """A dataset of unpacked phrases ``(N, bars, steps, pitches, tracks)``, binary.

        Args:
            onsets: where the voices' notes start, the phrases' shape, binary (other tracks
                are not read); None: every run of active steps is one note.

        Raises:
            DataError: the phrases do not have the spec's shape, or the song ids their count.
        """
        phrases = np.asarray(phrases, bool)
        if phrases.shape[1:] != spec.shape:
            raise DataError(
                f"phrases have shape {phrases.shape[1:]}, the spec says {spec.shape}",
                "wrong shape",
            )
        packed = pack_channels(to_channels(phrases, onsets, spec), spec)
        return cls(packed, np.asarray(song_ids), song_names, spec, summary or {})

    def __len__(self) -> int:
        return len(self.packed) if self.rows is None else len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape the phrases would have unpacked: ``(N, bars, steps, pitches, tracks)``."""
        return (len(self), *self.spec.shape)

    def row_indices(self) -> np.ndarray:
        """``(N,)`` ``int64``: the rows of :attr:`packed` holding this dataset's phrases."""
        return np.arange(len(self.packed)) if self.rows is None else self.rows

    def packed_at(self, indices: np.ndarray | slice) -> np.ndarray:
        """Packed phrases ``(k, row_bytes)`` ``uint8`` at positions of this dataset."""
        if self.rows is None:
            return self.packed[indices]
        return self.packed[self.rows[indices]]

    def phrases_at(self, indices: np.ndarray | slice) -> np.ndarray:
        """The phrases at some positions of this dataset, unpacked.

        Args:
            indices: positions in ``[0, N)``, an ``int`` array or a slice.

        Returns:
            ``(k, bars, steps, pitches, tracks)``, binary.
        """
        return unpack_rows(self.packed_at(indices), self.spec)

    def channels_at(self, indices: np.ndarray | slice) -> np.ndarray:
        """The phrases at some positions as model tensors (rolls, then the voices' onsets).

        Returns:
            ``(k, bars, steps, pitches, channels)``, binary.
        """
        return unpack_channels(self.packed_at(indices), self.spec)

    def chunks(self, size: int = CHUNK_PHRASES) -> Iterator[np.ndarray]:
        """Every phrase in order, unpacked ``size`` at a time.

        Yields:
            ``(k, bars, steps, pitches, tracks)`` binary arrays, ``k <= size``.
        """
        for start in range(0, len(self), size):
            yield self.phrases_at(slice(start, start + size))

    def subset(self, mask: np.ndarray) -> Dataset:
        """The phrases selected by a boolean ``(N,)`` mask, sharing the packed rows (songs are
        not renumbered)."""
        return dataclasses.replace(
            self, rows=self.row_indices()[mask], song_ids=self.song_ids[mask], summary={}
        )

    def split(self, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
        """Split into training and validation sets by song, never by phrase.

        The validation songs are a seeded random choice of ``round(val_fraction * songs)``
        songs (at least one when ``val_fraction > 0`` and there are two songs or more), so the
        split is the same on every machine for the same seed. Both parts index this dataset's
        packed rows: no phrase is copied.

        Returns:
            ``(train, validation)``; no song has phrases in both.
        """
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        songs = np.unique(self.song_ids)
        n_val = round(val_fraction * len(songs))
        if val_fraction > 0 and len(songs) > 1:
            n_val = min(max(n_val, 1), len(songs) - 1)
        order = np.random.default_rng(seed).permutation(songs)
        val_mask = np.isin(self.song_ids, order[:n_val])
        return self.subset(~val_mask), self.subset(val_mask)

    def splits(self, val_fraction: float, seed: int) -> Splits:
        """:meth:`split`, as a :class:`Splits`."""
        return Splits(*self.split(val_fraction, seed))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the dataset as an ``.npz`` cache atomically (no pickles: bits + JSON)."""
        starts = range(0, len(self), CHUNK_PHRASES)
        write_cache(
            path,
            self.spec,
            (self.packed_at(slice(s, s + CHUNK_PHRASES)) for s in starts),
            len(self),
            self.song_ids,
            self.song_names,
            self.summary,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Dataset:
        """Read a cache written by :meth:`save` or :func:`write_cache`; the phrases stay packed.

        Raises:
            DataError: the file is missing, not an ``.npz``, of another format version or of
                inconsistent shape.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes())
                if meta.get("format") != CACHE_FORMAT:
                    raise DataError(
                        f"{path}: cache format {meta.get('format')}, expected {CACHE_FORMAT}"
                    )
                spec = PhraseSpec.from_dict(meta["spec"])
                packed = data["phrases"]
                if packed.shape != (int(meta["n_phrases"]), row_bytes(spec)):
                    raise ValueError(f"phrases of shape {packed.shape}")
                return cls(packed, data["song_ids"], meta["song_names"], spec, meta["summary"])
        except FileNotFoundError:
            raise DataError(f"{path}: no such dataset cache", "missing") from None
        except (
            OSError,
            EOFError,
            ValueError,
            KeyError,
            zipfile.BadZipFile,
            json.JSONDecodeError,
        ) as err:  # EOFError: an empty file
            raise DataError(f"{path}: not a dataset cache ({err})", "unreadable") from None


def write_cache(
    path: str | os.PathLike[str],
    spec: PhraseSpec,
    packed_chunks: Iterable[np.ndarray],
    n_phrases: int,
    song_ids: np.ndarray,
    song_names: list[str],
    summary: dict[str, Any],
) -> None:
    """Write a dataset cache atomically, the packed phrases streamed chunk by chunk.

    The cache is an uncompressed ``.npz`` of ``phrases`` (``(N, row_bytes)`` ``uint8``),
    ``song_ids`` (``(N,)`` ``int32``) and ``meta`` (JSON bytes: format, spec, song names,
    summary, N); ``np.load`` reads it without pickles.

    Args:
        path: the cache file.
        spec: the phrase spec.
        packed_chunks: the packed phrases in order, ``(k, row_bytes)`` ``uint8`` each.
        n_phrases: how many rows the chunks hold together.
        song_ids: ``(N,)`` ``int``.
        song_names: the songs' names.
        summary: what preparation read, skipped and kept.

    Raises:
        DataError: the chunks do not hold ``n_phrases`` rows of the spec's width.
    """
    meta = {
        "format": CACHE_FORMAT,
        "spec": spec.to_dict(),
        "song_names": list(song_names),
        "summary": summary,
        "n_phrases": int(n_phrases),
    }
    width = row_bytes(spec)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        with archive.open("phrases.npy", "w", force_zip64=True) as member:
            written = _write_npy_stream(member, packed_chunks, (int(n_phrases), width))
        if written != n_phrases:
            raise DataError(f"{path}: {written} phrases written, {n_phrases} announced")
        _write_npy(archive, "song_ids", np.asarray(song_ids, np.int32))
        _write_npy(archive, "meta", np.frombuffer(json.dumps(meta).encode(), np.uint8))


def _write_npy(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    """One small array as ``<name>.npy`` in an open zip archive."""
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, array, allow_pickle=False)


def _write_npy_stream(
    member: BinaryIO, chunks: Iterable[np.ndarray], shape: tuple[int, int]
) -> int:
    """Write a ``uint8`` ``.npy`` of ``shape`` from row chunks; returns the rows written.

    Raises:
        DataError: a chunk is not ``(k, shape[1])`` ``uint8``.
    """
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False}
    np.lib.format.write_array_header_2_0(member, {**header, "shape": shape})
    rows = 0
    for chunk in chunks:
        if chunk.dtype != np.uint8 or chunk.ndim != 2 or chunk.shape[1] != shape[1]:
            raise DataError(
                f"packed phrases of shape {chunk.shape} {chunk.dtype}, not (k, {shape[1]}) uint8"
            )
        member.write(np.ascontiguousarray(chunk).tobytes())
        rows += len(chunk)
    return rows


@dataclasses.dataclass(frozen=True)
class Splits:
    """A dataset split by song (see :meth:`Dataset.split`).

    Attributes:
        train: the training phrases.
        validation: the held-out songs' phrases (may be empty).
    """

    train: Dataset
    validation: Dataset

    @property
    def reference(self) -> Dataset:
        """The phrases generated music is shown beside and conditioned on: the validation
        phrases, or the training phrases when no song was held out."""
        return self.validation if len(self.validation) else self.train

    @property
    def spec(self) -> PhraseSpec:
        """The phrase spec of both parts."""
        return self.train.spec
