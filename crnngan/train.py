"""Train C-RNN-GAN: ``python -m crnngan.train model=dense`` (the default) or ``model=recurrent``.

``train=crnngan`` adds the paper's feature matching, pretraining and freezing. Resume a run
with ``python -m crnngan.train resume=<run dir>``; other overrides on that command line
(``train.steps=...``) apply on top of the run's saved config.
"""

from __future__ import annotations

from omegaconf import DictConfig

from gan.launch import resolve_run, train_and_report
from pianoroll.cli import command

__all__ = ["main"]


@command("pkg://conf", "crnngan")
def main(cfg: DictConfig) -> None:
    """Train and print where the run went and how its samples compare with the data."""
    cfg, run_dir, _ = resolve_run(cfg)
    train_and_report(cfg, run_dir)


if __name__ == "__main__":
    main()
