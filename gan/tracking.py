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
from pathlib import Path
from typing import Any

from tqdm import tqdm

__all__ = ["RunTracker"]


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
    """

    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        wandb_cfg: Any,
        total_steps: int,
        initial_step: int,
        progress: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
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
            import wandb

            id_file = self.run_dir / "wandb_id.txt"
            run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)
            id_file.write_text(run_id + "\n")
            self.wandb = wandb.init(
                mode=mode,
                dir=str(self.run_dir),
                project=wandb_cfg.project,
                entity=wandb_cfg.get("entity"),
                group=wandb_cfg.get("group"),
                name=wandb_cfg.get("name") or self.run_dir.name,
                tags=list(wandb_cfg.get("tags") or []),
                config=config,
                id=run_id,
                resume="allow",
                reinit="finish_previous",
                settings=wandb.Settings(silent=True, console="off"),
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
