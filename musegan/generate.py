"""Generate music from a trained MuseGAN run.

::

    python -m musegan.generate run=<run dir> n=16 out=<dir>            # samples
    python -m musegan.generate run=<run dir> bars=32                   # long pieces
    python -m musegan.generate run=<run dir> mode=interpolate seeds=[0,1] steps=16 vary=chords
    python -m musegan.generate run=<run dir> mode=accompany input=melody.mid track=soprano

Options and their defaults are in ``conf/generate.yaml``; :mod:`gan.generate` does the work.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from gan.generate import generate
from pianoroll.errors import exit_on_user_error

__all__ = ["main"]


@hydra.main(config_path="pkg://conf.tools", config_name="generate", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Write the pieces, a grid picture and an ``index.html`` gallery."""
    generate(cfg, "musegan")


if __name__ == "__main__":
    main()
