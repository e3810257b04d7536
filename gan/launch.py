"""Training commands: a new run or a resumed one, trained, then a short report.

The model packages' ``train`` entry points (``python -m musegan.train``, ``python -m
crnngan.train``) are Hydra mains that call :func:`resolve_run` and :func:`train_and_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

import gan.config  # noqa: F401  (registers the config resolvers)
from gan.trainer import format_summary, train
from pianoroll.errors import UserError
from pianoroll.targets import check_targets, pop_trust

__all__ = ["resolve_run", "train_and_report"]

_ABSENT = object()


def resolve_run(cfg: DictConfig) -> tuple[DictConfig, Path, DictConfig | None]:
    """The config and run folder of a job: a new run, or the saved config of ``resume``.

    Call it from a Hydra main. Resuming, every override on the command line (but ``resume``)
    applies on top of the run's saved config.

    Returns:
        The config, the run folder, and for a resumed run the overrides applied to its saved
        config (each override's key with its value as composed), None for a new run.

    Raises:
        UserError: ``resume`` is not a run folder, or the resumed config names an untrusted
            ``_target_`` (see :mod:`pianoroll.targets`).
    """
    if not cfg.get("resume"):
        return cfg, Path(HydraConfig.get().runtime.output_dir), None
    run_dir = Path(cfg.resume)
    saved = run_dir / "config.yaml"
    if not saved.exists():
        raise UserError(f"{run_dir}: not a run folder (no config.yaml)")
    before = OmegaConf.load(saved)
    pop_trust(before)  # trust comes from this command line, never from the run folder
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
    cfg = OmegaConf.merge(before, changes)
    check_targets(cfg)
    return cfg, run_dir, changes


def _check_resolves(cfg: DictConfig) -> None:
    """Resolve every interpolation now: a resolver's :class:`UserError` becomes one line."""
    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except InterpolationResolutionError as err:
        # OmegaConf drops the explicit cause unless debugging; the context keeps it.
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise cause from None


def train_and_report(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train (see :func:`gan.trainer.train`) and print where the run went and how its samples
    compare with the data."""
    _check_resolves(cfg)
    summary = train(cfg, run_dir)
    print(f"run folder: {run_dir}")
    print(f"samples:    {summary['samples']['threshold.png']}")
    print(format_summary(summary))
    return summary
