"""Training commands: a new run or a resumed one, trained, then a short report.

The model packages' ``train`` entry points (``python -m musegan.train``, ``python -m
crnngan.train``) are Hydra mains that call :func:`resolve_run` and :func:`train_and_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.loop import train
from gan.run import read_run_config
from pianoroll.targets import check_targets

__all__ = ["format_summary", "resolve_run", "train_and_report"]

_ABSENT = object()


def resolve_run(cfg: DictConfig) -> tuple[DictConfig, Path, DictConfig | None]:
    """The config and run folder of a job: a new run, or the saved config of ``resume``.

    Call it from a Hydra main. Resuming, every override on the command line (but ``resume``)
    applies on top of the run's saved config.

    Returns:
        The config, the run folder, and for a resumed run the overrides applied to its saved
        config (each override's key with its value as composed), None for a new run.

    Raises:
        UserError: ``resume`` is not a run folder (see :func:`gan.run.read_run_config`).
    """
    if not cfg.get("resume"):
        return cfg, Path(HydraConfig.get().runtime.output_dir), None
    run_dir = Path(cfg.resume).expanduser()
    before = read_run_config(run_dir)  # its targets are checked before training builds them
    # Each override's value as composed, so that a config group (+mode=jamming) brings its
    # node, not the option's name. Deletions (~key) and keys that composed to nothing (a global
    # preset such as +experiment=...) do not apply to a saved run.
    changes = OmegaConf.create()
    for override in HydraConfig.get().overrides.task:
        key = override.lstrip("+").split("=", 1)[0]
        if key == "resume" or key.startswith("~"):
            continue
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is not _ABSENT:
            OmegaConf.update(changes, key, value, force_add=True)
    return OmegaConf.merge(before, changes), run_dir, changes


def train_and_report(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train (see :func:`gan.loop.train`) and print where the run went and how its samples
    compare with the data.

    Every interpolation is resolved and every ``_target_`` checked first (a resumed run's
    config comes from its folder), so that a resolver's error or a foreign target is one line.
    """
    check_targets(cfg)
    summary = train(cfg, run_dir)
    print(f"run folder: {run_dir}")
    print(f"samples:    {summary['samples']['threshold']['png']}")
    print(format_summary(summary))
    return summary


def format_summary(
    summary: dict[str, Any],
    keys: tuple[str, ...] = (
        "empty_bar_rate",
        "used_pitch_classes",
        "polyphony_rate",
        "qualified_note_rate",
        "in_scale_rate",
        "tonal_distance",
    ),
) -> str:
    """A small table of generated vs data metric means."""
    lines = [f"{'metric':<22}{'generated':>10}{'data':>10}"]
    for key in keys:
        if key in summary["generated"]:
            lines.append(
                f"{key:<22}{summary['generated'][key]:>10.3f}{summary['data'].get(key, float('nan')):>10.3f}"
            )
    return "\n".join(lines)
