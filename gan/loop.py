"""The training loop, shared by every model package.

``train(cfg, run_dir)`` builds the run (:func:`gan.builder.build_run`), runs its generator
steps with the periodic tasks after each (:func:`fit`), and writes the run's summary
(:func:`finish`). Run it twice on the same run folder and the second call resumes from the last
checkpoint: the data order and all noise are pure functions of the seed and the step, and a
checkpoint is the last thing a step does, so the resumed run redoes exactly what came after it.

Two options serve C-RNN-GAN (any model and objective that support them):

- pretraining: the first ``train.pretrain_steps`` generator steps are teacher-forced
  maximum-likelihood updates (one real batch each), then adversarial training takes over; both
  count in ``train.steps`` and in the step of checkpoints, logs and samples, so a resumed run
  knows which phase it is in.
- freezing: with ``train.freeze_ratio``, a network whose last loss is below that share of the
  other's skips its next update (:func:`gan.freezing.freeze_decision`); every change of what is
  frozen is logged. The last losses are checkpointed, so a resumed run decides as the
  uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gan.builder import Run, build_run, build_tasks, build_tracker
from gan.strategy import kept_policy
from gan.tasks import Evaluate, SaveCheckpoint, Task, WriteSamples
from gan.tracking import RunTracker
from gan.trainer import StepResult, TrainingDiverged, TrainingInterrupted
from pianoroll.io import write_json

__all__ = ["StopSignals", "finish", "fit", "train"]


def train(cfg: DictConfig, run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) a GAN as configured, leaving checkpoints, samples and logs in ``run_dir``.

    Args:
        cfg: the composed config (``data``, ``model``, ``train``, ``wandb``, ``paths``, ``seed``).
        run_dir: the run folder; if it holds a checkpoint, training resumes from it.
        progress: show a progress bar.

    Returns:
        The run's summary (see :func:`finish`).

    Raises:
        TrainingDiverged: a loss became NaN or infinite.
        TrainingInterrupted: SIGINT/SIGTERM arrived (after writing a checkpoint).
        UserError: bad config, data or checkpoint.
    """
    with kept_policy():  # the run's precision ends with it
        run = build_run(cfg, run_dir, progress)
        with contextlib.closing(build_tracker(run, progress)) as tracker:
            for note in run.notes:
                tracker.message(note)
            if run.resumed:
                tracker.message(f"resumed {run.run_dir} at step {run.start}")
            tasks = build_tasks(run, tracker)
            with StopSignals() as stop:
                last = fit(run, tasks, stop)
            return finish(run, tracker, tasks, last)


class StopSignals:
    """While entered, SIGINT and SIGTERM are recorded instead of stopping the process, so that
    the loop can finish its step, write a checkpoint and stop."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, lambda signum, _: self.received.append(signum))
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def fit(run: Run, tasks: Sequence[Task], stop: StopSignals) -> StepResult | None:
    """Run generator steps from ``run.start`` to ``run.options.steps``, each followed by the
    tasks that are due.

    Returns:
        The last step's result, or None if no step ran (a run resumed at its end).

    Raises:
        TrainingDiverged: a loss became NaN or infinite (the last good checkpoint is kept).
        TrainingInterrupted: a stop signal arrived; the step it arrived in was finished and
            checkpointed.
    """
    trainer, total, result = run.trainer, run.options.steps, None
    for step in range(run.start, total):
        result = trainer.train_step(run.batches, step)
        _check_finite(result, run.checkpointer.latest)
        trainer.step.assign(result.step)
        for task in tasks:
            if task.due(result.step, total):
                task(result)
        if stop.received and result.step < total:  # the last step finishes the run anyway
            path = _task(tasks, SaveCheckpoint).save(result.step)
            raise TrainingInterrupted(
                stop.received[0],
                f"interrupted at step {result.step}; checkpoint {path};"
                f" resume with resume={run.run_dir}",
            )
    return result


def finish(
    run: Run, tracker: RunTracker, tasks: Sequence[Task], last: StepResult | None
) -> dict[str, Any]:
    """Write the finished run's ``metrics.json``, log its artifacts and wandb summary.

    A run resumed at its last step (killed after its final checkpoint) logs nothing again: its
    final samples and evaluation were logged before that checkpoint; here they are made again
    (the same, from the same weights and seeds) without logging.

    Returns:
        The final step, the last losses (none if no step ran), the final evaluation's metric
        means, the data's, the sample files, how many times this call traced the training
        iteration, and the steps each network sat out frozen.
    """
    trainer = run.trainer
    step = int(trainer.step.numpy())
    evaluation = _task(tasks, Evaluate)
    generated = evaluation.measure(step)
    files = _task(tasks, WriteSamples).write(step)
    losses = last.values if last is not None else {}
    summary = {
        "step": step,
        "losses": losses,
        "generated": generated,
        "data": evaluation.data_means,
        "samples": {method: written.as_dict() for method, written in files.items()},
        "trace_count": trainer.trace_count,  # adversarial iteration traces: 1 unless retraced
        "frozen_steps": trainer.frozen_steps,  # steps of this call each network sat out
    }
    write_json(run.run_dir / "metrics.json", summary)
    _log_artifacts(tracker, run.run_dir, step)
    tracker.summary(
        {
            **{f"final/{k}": v for k, v in losses.items()},
            **{f"eval/{k}": v for k, v in generated.items()},
        }
    )
    return summary


def _task(tasks: Sequence[Task], kind: type) -> Any:
    return next(task for task in tasks if isinstance(task, kind))


def _check_finite(result: StepResult, latest_checkpoint: str | None) -> None:
    bad = [k for k, v in result.values.items() if not math.isfinite(v)]
    if bad:
        found = ", ".join(f"{k}={result.values[k]}" for k in bad)
        raise TrainingDiverged(
            f"training stopped at step {result.step}: {found};"
            f" the last good checkpoint is {latest_checkpoint or 'none (no checkpoint yet)'}"
        )


def _log_artifacts(tracker: RunTracker, run_dir: Path, step: int) -> None:
    """The samples folder and the final checkpoint as wandb artifacts."""
    checkpoints = run_dir / "checkpoints"
    tracker.artifact(f"{run_dir.name}-samples", "samples", [run_dir / "samples"])
    tracker.artifact(
        f"{run_dir.name}-checkpoint",
        "model",
        [
            checkpoints / "model.json",
            checkpoints / "checkpoint",
            *sorted(checkpoints.glob(f"ckpt-{step}.*")),
        ],
    )
