"""Train MuseGAN: ``python -m musegan.train +mode=hybrid`` (or ``jamming``, ``composer``).

Resume a run with ``python -m musegan.train resume=<run dir>``; other overrides on that
command line (``train.steps=...``) apply on top of the run's saved config.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from gan.launch import resolve_run as resolve_any_run
from gan.launch import train_and_report
from musegan.generator import Mode
from pianoroll.cli import command

__all__ = ["main", "resolve_run"]


def resolve_run(cfg: DictConfig) -> tuple[DictConfig, Path]:
    """The config and run folder of a job: a new run, or the saved config of ``resume``.

    Without ``+mode``, MuseGAN trains in hybrid mode and says so.
    """
    cfg, run_dir, changes = resolve_any_run(cfg)
    if changes is not None:
        if "mode" in changes and "model" in cfg:
            # The saved config is resolved: point the model at the (new) mode again, so that a
            # changed mode reaches the networks (and a checkpoint of another mode is refused).
            cfg.model.mode = cfg.mode
        return cfg, run_dir
    if cfg.get("mode") is None:
        default = Mode.HYBRID
        print(
            f"no +mode given: training {default} (choose with +mode={'|'.join(Mode)})",
            file=sys.stderr,
        )
        with open_dict(cfg):
            cfg.mode = OmegaConf.load(resources.files("conf") / "mode" / f"{default}.yaml")
    return cfg, run_dir


@command("pkg://conf", "musegan")
def main(cfg: DictConfig) -> None:
    """Train and print where the run went and how its samples compare with the data."""
    train_and_report(*resolve_run(cfg))


if __name__ == "__main__":
    main()
