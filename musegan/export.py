"""Export a trained MuseGAN generator: ``python -m musegan.export run=<run dir> out=<dir>``.

Writes a TensorFlow SavedModel with a ``serving_default`` signature (noise in, pianoroll out),
a ``.keras`` file and ``export.json`` describing the inputs; see :mod:`gan.export`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from gan.export import export
from pianoroll.errors import exit_on_user_error

__all__ = ["main"]


@hydra.main(config_path="pkg://conf.tools", config_name="export", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Write the SavedModel, the ``.keras`` file and ``export.json``."""
    export(cfg, "musegan")


if __name__ == "__main__":
    main()
