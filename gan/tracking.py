"""Run tracking: a JSON-lines log, a progress bar and a Weights & Biases run.

Weights & Biases never needs a network or an account here: the mode comes from the config
(``wandb.mode``, which defaults to the ``WANDB_MODE`` environment variable, else ``offline``);
offline runs are written under ``<run dir>/wandb`` and can be synced later with ``wandb sync``.
"""

from __future__ import annotations

import json
import math
import secrets
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pianoroll.io import atomic_path
from pianoroll.report import read_parts

__all__ = ["RunTracker", "log_evaluation", "run_labels"]


def run_labels(cfg: Any) -> tuple[str, tuple[str, ...]]:
    """The wandb group and tags of a training config: the model package (``musegan``,
    ``crnngan``), the mode and the experiment preset; the group is the experiment's name, else
    ``<package>-<mode>``."""
    package = str((cfg.get("model") or {}).get("_target_", "")).split(".")[0] or None
    mode = cfg["mode"].get("name") if isinstance(cfg.get("mode"), Mapping) else None
    experiment = cfg.get("experiment_name")
    tags = tuple(str(t) for t in (package, mode, experiment) if t)
    group = str(experiment) if experiment else "-".join(str(t) for t in (package, mode) if t)
    return group, tags


def _drop_lines_after(path: Path, step: int) -> None:
    """Remove the lines of ``path`` (JSON lines with a ``step``) logged after ``step``.

    A run killed after its last checkpoint logged steps that its resumed run logs again; and a
    line cut short by the kill cannot be read. Both go, so that the resumed log reads like an
    uninterrupted one.
    """
    if not path.exists():
        return
    kept, dropped = [], False
    for line in path.read_text().splitlines():
        try:
            keep = json.loads(line)["step"] <= step
        except (ValueError, KeyError, TypeError):
            keep = False
        if keep:
            kept.append(line)
        else:
            dropped = True
    if dropped:
        with atomic_path(path) as tmp:
            tmp.write_text("".join(f"{line}\n" for line in kept))


class RunTracker:
    """Logs one training job.

    Args:
        run_dir: the run folder; ``metrics.jsonl`` is appended to there.
        config: the resolved config (the wandb run config).
        wandb_cfg: the ``wandb`` config node: ``mode``, ``project``, ``entity``, ``group``,
            ``tags``, ``name``.
        total_steps: the step the run ends at (for the progress bar's ETA).
        initial_step: the step the run starts (or resumes) at.
        progress: show a progress bar.
        group: the wandb group when ``wandb_cfg.group`` is null.
        tags: wandb tags added to ``wandb_cfg.tags``.
    """

    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        wandb_cfg: Any,
        total_steps: int,
        initial_step: int,
        progress: bool = True,
        group: str | None = None,
        tags: tuple[str, ...] = (),
    ) -> None:
        self.run_dir = Path(run_dir)
        _drop_lines_after(self.run_dir / "metrics.jsonl", initial_step)
        self.jsonl = (self.run_dir / "metrics.jsonl").open("a")
        self.bar = tqdm(
            total=total_steps,
            initial=initial_step,
            unit="step",
            dynamic_ncols=True,
            disable=not progress,
            file=sys.stderr,
        )
        self._last = (time.perf_counter(), initial_step)
        self.wandb = None
        mode = str(wandb_cfg.mode)
        if mode != "disabled":
            id_file = self.run_dir / "wandb_id.txt"
            run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)
            id_file.write_text(run_id + "\n")
            self.wandb = _wandb_init(
                self.run_dir,
                wandb_cfg,
                config,
                name=wandb_cfg.get("name") or self.run_dir.name,
                id=run_id,
                resume="allow",
                group=wandb_cfg.get("group") or group,
                tags=list(dict.fromkeys([*(wandb_cfg.get("tags") or []), *tags])),
            )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Append metrics of a step to the JSON-lines log and the wandb run."""
        clean = {k: (float(v) if math.isfinite(float(v)) else None) for k, v in metrics.items()}
        self.jsonl.write(json.dumps({"step": step, "time": round(time.time(), 3), **clean}) + "\n")
        self.jsonl.flush()
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in clean.items() if v is not None}, step=step)

    def throughput(self, step: int) -> float:
        """Steps per second since the previous call."""
        now = time.perf_counter()
        then, before = self._last
        self._last = (now, step)
        return (step - before) / max(now - then, 1e-9)

    def progress(self, step: int, shown: dict[str, float]) -> None:
        """Move the progress bar to ``step`` and show a few values."""
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)

    def image(self, step: int, key: str, path: Path) -> None:
        """Log a PNG file to wandb."""
        if self.wandb is not None:
            import wandb

            self.wandb.log({key: wandb.Image(str(path))}, step=step)

    def audio(self, step: int, key: str, path: Path, sample_rate: int) -> None:
        """Log a WAV file to wandb."""
        if self.wandb is not None:
            import wandb

            self.wandb.log({key: wandb.Audio(str(path), sample_rate=sample_rate)}, step=step)

    def table(self, step: int, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Log a table to wandb."""
        if self.wandb is not None:
            import wandb

            self.wandb.log({key: wandb.Table(columns=columns, data=rows)}, step=step)

    def artifact(self, name: str, kind: str, paths: list[Path]) -> None:
        """Log files and folders as a wandb artifact (kept for ``wandb sync`` when offline).

        The files are referenced, not copied (``immutable``): they must not change afterwards,
        which holds for a finished run's samples and last checkpoint.
        """
        if self.wandb is None:
            return
        import wandb

        artifact = wandb.Artifact(name, type=kind)
        for path in paths:
            if path.is_dir():
                artifact.add_dir(str(path), name=path.name, policy="immutable")
            else:
                artifact.add_file(str(path), name=path.name, policy="immutable")
        self.wandb.log_artifact(artifact)

    def summary(self, values: dict[str, Any]) -> None:
        """Set wandb summary values."""
        if self.wandb is not None:
            self.wandb.summary.update(values)

    def message(self, text: str) -> None:
        """Print a line without breaking the progress bar."""
        self.bar.write(text, file=sys.stderr)

    def close(self) -> None:
        """Close the log, the bar and the wandb run (every job of a multirun gets its own)."""
        self.bar.close()
        self.jsonl.close()
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None


def _wandb_init(run_dir: Path, wandb_cfg: Any, config: dict[str, Any], **kwargs: Any) -> Any:
    """Start a wandb run in ``run_dir/wandb`` (offline unless the config says otherwise)."""
    import wandb

    options = {
        "group": wandb_cfg.get("group"),
        "tags": list(wandb_cfg.get("tags") or []),
        **kwargs,
    }
    return wandb.init(
        mode=str(wandb_cfg.mode),
        dir=str(run_dir),
        project=wandb_cfg.project,
        entity=wandb_cfg.get("entity"),
        config=config,
        reinit="finish_previous",
        settings=wandb.Settings(silent=True, console="off"),
        **options,
    )


def log_evaluation(
    run_dir: Path,
    wandb_cfg: Any,
    config: dict[str, Any],
    files: dict[str, Path],
    step: int,
    weights: str,
) -> Path | None:
    """Log an evaluation report to its own wandb run (job type ``evaluation``) in the run's
    group: a table of every metric (generated, training and validation means, overlapping area
    and KL divergence with their noise floor), summary values, the plots and the samples.

    Args:
        run_dir: the training run folder (the wandb files go to its ``wandb/``).
        wandb_cfg: ``mode``, ``project``, ``entity``, ``group``, ``tags``, ``name``.
        config: the training run's config (the wandb run config).
        files: the report files (:func:`pianoroll.report.write_report`).
        step: the checkpoint's generator step.
        weights: which generator weights sampled (``gan.run.Weights``' spelling: ``average``
            or ``trained``), in the summary and the tags.

    Returns:
        The wandb run's folder, or None when ``wandb_cfg.mode`` is ``disabled``.
    """
    if str(wandb_cfg.mode) == "disabled":
        return None
    import wandb

    parts = read_parts(files["metrics.json"])
    main, floor = parts.main, parts.floor
    columns = ["metric", "generated", "train", "validation", "overlapping_area", "kl_divergence"]
    columns += ["floor_overlapping_area", "floor_kl_divergence"]
    table = wandb.Table(columns=columns)
    summary: dict[str, Any] = {
        "step": step,
        "weights": weights,
        "frechet_distance": main["frechet_distance"],
    }
    for key, entry in main["metrics"].items():
        other = (floor or {}).get("metrics", {}).get(key, {})
        table.add_data(
            key,
            entry["a"]["mean"],
            entry["b"]["mean"],
            other.get("a", {}).get("mean"),
            entry["overlapping_area"],
            entry["kl_divergence"],
            other.get("overlapping_area"),
            other.get("kl_divergence"),
        )
        summary[f"{key}/generated"] = entry["a"]["mean"]
        summary[f"{key}/train"] = entry["b"]["mean"]
        summary[f"{key}/overlapping_area"] = entry["overlapping_area"]
    if floor is not None:
        summary["floor_frechet_distance"] = floor["frechet_distance"]
    if "memorization" in main:
        summary["exact_copies"] = main["memorization"]["exact_share"]
        summary["near_copies"] = main["memorization"]["near_share"]
    name = wandb_cfg.get("name") or Path(run_dir).name
    group, tags = run_labels(config)
    run = _wandb_init(
        run_dir,
        wandb_cfg,
        config,
        name=f"{name}-evaluation",
        job_type="evaluation",
        group=wandb_cfg.get("group") or group,
        tags=list(
            dict.fromkeys(
                [*(wandb_cfg.get("tags") or []), *tags, "evaluation", f"weights={weights}"]
            )
        ),
    )
    images = {
        f"evaluation/{Path(key).stem}": wandb.Image(str(path))
        for key, path in files.items()
        if str(path).endswith(".png")
    }
    run.log({"evaluation/metrics": table, **images})
    run.summary.update({f"evaluation/{k}": v for k, v in summary.items() if v is not None})
    folder = Path(run.dir).parent
    run.finish()
    return folder
