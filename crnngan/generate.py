"""Generate music from a trained C-RNN-GAN run.

::

    python -m crnngan.generate run=<run dir> n=16 out=<dir>            # samples
    python -m crnngan.generate run=<run dir> bars=32                   # long pieces
    python -m crnngan.generate run=<run dir> mode=interpolate seeds=[0,1] steps=16

The recurrent generator (``model=recurrent``) makes a long piece in one pass of any length; the
dense one from consecutive phrases. Options and their defaults are in
``conf/tools/generate.yaml``; :mod:`gan.generate` does the work.
"""

from __future__ import annotations

from gan.commands import tool_main
from gan.generate import generate

__all__ = ["main"]

main = tool_main("generate", generate, "crnngan")

if __name__ == "__main__":
    main()
