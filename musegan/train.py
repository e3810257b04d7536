"""Train MuseGAN: ``python -m musegan.train +mode=hybrid`` (or ``jamming``, ``composer``).

Resume a run with ``python -m musegan.train resume=<run dir>``; other overrides on that
command line (``train.steps=...``) apply on top of the run's saved config.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.trainer import format_summary, print_and_exit_on_interrupt, train
from pianoroll.errors import UserError, exit_on_user_error

__all__ = ["main", "resolve_run"]

_ABSENT = object()


def resolve_run(cfg: DictConfig) -> tuple[DictConfig, Path]:
    """The config and run folder of a job: a new run, or the saved config of ``resume``.

    Without ``+mode``, MuseGAN trains in hybrid mode and says so.
    """
    if cfg.get("resume"):
        run_dir = Path(cfg.resume)
        saved = run_dir / "config.yaml"
        if not saved.exists():
            raise UserError(f"{run_dir}: not a run folder (no config.yaml)")
        # Each override's value as composed, so that a config group (+mode=jamming) brings its
        # node, not the option's name. Deletions (~key) and keys that composed to nothing
        # (a global preset such as +experiment=...) do not apply to a saved run.
        changes = OmegaConf.create()
        for override in HydraConfig.get().overrides.task:
            key = override.lstrip("+").split("=", 1)[0]
            if key == "resume" or key.startswith("~"):
                continue
            value = OmegaConf.select(cfg, key, default=_ABSENT)
            if value is not _ABSENT:
                OmegaConf.update(changes, key, value, force_add=True)
        resumed = OmegaConf.merge(OmegaConf.load(saved), changes)
        if "mode" in changes and "model" in resumed:
            # The saved config is resolved: point the model at the (new) mode again, so that a
            # changed mode reaches the networks (and a checkpoint of another mode is refused).
            resumed.model.mode = resumed.mode
        return resumed, run_dir
    if cfg.get("mode") is None:
        print(
            "no +mode given: training hybrid (choose with +mode=jamming|composer|hybrid)",
            file=sys.stderr,
        )
        with open_dict(cfg):
            cfg.mode = OmegaConf.load(resources.files("conf") / "mode" / "hybrid.yaml")
    return cfg, Path(HydraConfig.get().runtime.output_dir)


@hydra.main(config_path="pkg://conf", config_name="musegan", version_base="1.3")
@exit_on_user_error
@print_and_exit_on_interrupt
def main(cfg: DictConfig) -> None:
    """Train and print where the run went and how its samples compare with the data."""
    cfg, run_dir = resolve_run(cfg)
    summary = train(cfg, run_dir)
    print(f"run folder: {run_dir}")
    print(f"samples:    {summary['samples']['threshold.png']}")
    print(format_summary(summary))


if __name__ == "__main__":
    main()
