"""Generate music from a trained MuseGAN run.

::

    python -m musegan.generate run=<run dir> n=16 out=<dir>            # samples
    python -m musegan.generate run=<run dir> bars=32                   # long pieces
    python -m musegan.generate run=<run dir> mode=interpolate seeds=[0,1] steps=16 vary=chords
    python -m musegan.generate run=<run dir> mode=accompany input=melody.mid track=Soprano

Options and their defaults are in ``conf/tools/generate.yaml``; :mod:`gan.generate` does the work.
"""

from __future__ import annotations

from gan.commands import tool_main
from gan.generate import generate

__all__ = ["main"]

main = tool_main("generate", generate, "musegan")

if __name__ == "__main__":
    main()
