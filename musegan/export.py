"""Export a trained MuseGAN generator: ``python -m musegan.export run=<run dir> out=<dir>``.

Writes a TensorFlow SavedModel with a ``serving_default`` signature (noise in, pianoroll out),
a ``.keras`` file and ``export.json`` describing the inputs; see :mod:`gan.export`.
"""

from __future__ import annotations

from gan.commands import tool_main
from gan.export import export

__all__ = ["main"]

main = tool_main("export", export, "musegan")

if __name__ == "__main__":
    main()
