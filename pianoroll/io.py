"""Atomic file output: write to a temporary name beside the target, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pianoroll.errors import UserError

__all__ = ["atomic_path", "output_folder", "write_json"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` only if the block succeeds.

    A crash or an exception inside the block leaves ``path`` as it was (absent or the old
    file) and removes the temporary file. The temporary name keeps the target's suffix, so
    libraries that dispatch on it (``np.savez``, matplotlib) still work.

    Raises:
        UserError: the folder cannot be created or written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    except OSError as err:
        raise UserError(f"{path.parent}: cannot write there ({err.strerror or err})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def output_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Create the folder ``path`` and check that it can be written, for the block to fill.

    Checked before any work, so that a long generation does not end in an unwritable folder.
    If the block raises, the folders this call created are removed again while empty: a
    refused command leaves nothing behind.

    Raises:
        UserError: the folder cannot be created or written.
    """
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    probe = path / ".write-test"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UserError(f"{path}: cannot write there ({err.strerror or err})") from None
    try:
        yield path
    except BaseException:
        for folder in created:
            try:
                folder.rmdir()  # only while empty
            except OSError:
                break
        raise


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")
