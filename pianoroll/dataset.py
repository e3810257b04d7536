"""A prepared dataset: phrases, their songs, the phrase spec, and its on-disk cache."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from pianoroll.errors import DataError
from pianoroll.io import atomic_path
from pianoroll.spec import PhraseSpec

__all__ = ["CACHE_FORMAT", "Dataset", "Splits"]

#: Bumped whenever the cache layout or the processing changes, so old caches are rebuilt.
CACHE_FORMAT = 1


@dataclasses.dataclass
class Dataset:
    """N phrases plus metadata.

    Attributes:
        phrases: ``(N, bars, steps, pitches, tracks)``, binary.
        song_ids: ``(N,)`` ``int``: the index into ``song_names`` of each phrase's song.
        song_names: names of the songs that kept at least one phrase.
        spec: the phrase spec (resolution, pitch offset, track names/programs/drum flags).
        summary: what preparation read, skipped and kept (JSON-serializable).
    """

    phrases: np.ndarray
    song_ids: np.ndarray
    song_names: list[str]
    spec: PhraseSpec
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.phrases.shape[1:] != self.spec.shape:
            raise DataError(
                f"phrases have shape {self.phrases.shape[1:]}, the spec says {self.spec.shape}",
                "wrong shape",
            )
        if len(self.song_ids) != len(self.phrases):
            raise DataError(
                f"{len(self.song_ids)} song ids for {len(self.phrases)} phrases", "wrong shape"
            )

    def __len__(self) -> int:
        return len(self.phrases)

    def subset(self, mask: np.ndarray) -> Dataset:
        """The phrases selected by a boolean ``(N,)`` mask (songs renumbered are not)."""
        return dataclasses.replace(
            self, phrases=self.phrases[mask], song_ids=self.song_ids[mask], summary={}
        )

    def split(self, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
        """Split into training and validation sets by song, never by phrase.

        The validation songs are a seeded random choice of ``round(val_fraction * songs)``
        songs (at least one when ``val_fraction > 0`` and there are two songs or more), so the
        split is the same on every machine for the same seed.

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
        meta = {
            "format": CACHE_FORMAT,
            "spec": self.spec.to_dict(),
            "song_names": self.song_names,
            "summary": self.summary,
            "n_phrases": len(self.phrases),
        }
        with atomic_path(path) as tmp:
            np.savez(
                tmp,
                phrases=np.packbits(
                    self.phrases.reshape(len(self.phrases), int(np.prod(self.spec.shape))), axis=1
                ),
                song_ids=self.song_ids.astype(np.int32),
                meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Dataset:
        """Read a cache written by :meth:`save`.

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
                n = int(meta["n_phrases"])
                size = int(np.prod(spec.shape))
                bits = np.unpackbits(data["phrases"], axis=1, count=size).view(bool)
                return cls(
                    bits.reshape(n, *spec.shape),
                    data["song_ids"],
                    meta["song_names"],
                    spec,
                    meta["summary"],
                )
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
