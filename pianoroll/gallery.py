"""A run gallery: ``index.html`` showing each piece's picture, audio and MIDI links.

Plain HTML and CSS with relative links, so the folder can be opened from disk, copied or
served by any static file server.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pianoroll.io import atomic_path

__all__ = ["write_gallery"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.3rem; }
p.meta { color: #555; }
div.grid { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; padding: .6rem; border: 1px solid #ddd; border-radius: 6px; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: .9rem; margin-top: .3rem; }
figcaption a { margin-right: .6rem; }
audio { display: block; width: 100%; margin-top: .3rem; }
"""


def write_gallery(
    directory: str | os.PathLike[str],
    pieces: Sequence[Mapping[str, Path]],
    title: str,
    details: Sequence[str] = (),
    overview: Path | None = None,
) -> Path:
    """Write ``index.html`` into ``directory``, atomically.

    Args:
        directory: the output folder; every file linked must lie inside it.
        pieces: per piece, file kind (``name``, ``png``, ``mid``, ``npz``, ``wav``) -> path;
            ``name`` maps to the caption string instead.
        title: the page heading.
        details: lines shown under the heading (run, checkpoint, options).
        overview: an optional picture of all pieces, shown first.

    Returns:
        The path of ``index.html``.
    """
    directory = Path(directory)

    def link(path: Path) -> str:
        return html.escape(Path(os.path.relpath(path, directory)).as_posix(), quote=True)

    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f'<p class="meta">{html.escape(line)}</p>' for line in details]
    if overview is not None:
        parts.append(f'<p><img src="{link(overview)}" alt="all pieces"></p>')
    parts.append('<div class="grid">')
    for piece in pieces:
        name = html.escape(str(piece["name"]))
        figure = ["<figure>"]
        if "png" in piece:
            figure.append(f'<img src="{link(piece["png"])}" alt="{name}">')
        if "wav" in piece:
            figure.append(f'<audio controls preload="none" src="{link(piece["wav"])}"></audio>')
        links = [
            f'<a href="{link(piece[kind])}">{label}</a>'
            for kind, label in (("mid", "MIDI"), ("npz", "npz"), ("wav", "WAV"))
            if kind in piece
        ]
        figure.append(f"<figcaption><strong>{name}</strong> {' '.join(links)}</figcaption>")
        figure.append("</figure>")
        parts.append("".join(figure))
    parts += ["</div>", "</body></html>", ""]
    path = directory / "index.html"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return path
