"""Periodic work of a training run: each task owns its interval and acts after a step.

The loop (:func:`gan.loop.fit`) calls every task after every generator step, in the order the
run builder lists them; a task acts where its interval divides the step and at the run's last
step (:meth:`Task.due`). A new kind of periodic work is one :class:`Task` subclass and one line
in :func:`gan.builder.build_tasks`.

The checkpoint comes last: a checkpoint is the last thing a step does, so a run resumed from
it redoes exactly what came after it (see :class:`gan.tracking.RunTracker`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gan.checkpoint import Checkpointer
from gan.freezing import Freeze
from gan.noise import Stream, stream_rng
from gan.tracking import RunTracker
from gan.trainer import StepResult, Trainer
from pianoroll.audio import render_wav
from pianoroll.compare import frechet_distance
from pianoroll.dataset import Splits
from pianoroll.evaluation import (
    metric_matrix,
    metrics_by_chunks,
    metrics_for_spec,
    overall_metrics,
    summarize_metrics,
)
from pianoroll.midi import load_midi
from pianoroll.output import SampleFiles, write_sample_set
from pianoroll.voices import decode

__all__ = [
    "AUDIO_RATE",
    "EVAL_REFERENCE_PHRASES",
    "Evaluate",
    "LogFreezing",
    "LogLosses",
    "SaveCheckpoint",
    "ShowProgress",
    "Task",
    "WriteSamples",
]

#: Samples per second of the WAV files of ``train.sample_audio``.
AUDIO_RATE = 22050

#: Training phrases (evenly spaced) whose metric vectors are the data side of the Fréchet
#: distance of every evaluation during training.
EVAL_REFERENCE_PHRASES = 2000

#: Values shown beside the progress bar, when a step has them.
PROGRESS_KEYS = ("pretrain_loss", "critic_loss", "generator_loss")


class Task:
    """Periodic work that owns its interval.

    Args:
        every: generator steps between two runs; 0: only at the run's last step.
    """

    def __init__(self, every: int = 1) -> None:
        self.every = every

    def due(self, step: int, last: int) -> bool:
        """Whether the task acts after ``step`` in a run that ends at ``last``."""
        return step == last or (self.every > 0 and step % self.every == 0)

    def __call__(self, result: StepResult) -> None:
        """Act after a step."""
        raise NotImplementedError


class LogFreezing(Task):
    """Log every change of which network is frozen (C-RNN-GAN's freezing), when it happens."""

    def __init__(self, tracker: RunTracker) -> None:
        super().__init__(every=1)
        self.tracker = tracker
        self.frozen = Freeze()

    def __call__(self, result: StepResult) -> None:
        freeze = result.freeze
        if freeze is None or freeze == self.frozen:
            return
        self.frozen = freeze
        values = {
            "freeze/critic": float(freeze.critic),
            "freeze/generator": float(freeze.generator),
        }
        self.tracker.log(result.step, values)
        self.tracker.message(f"step {result.step}: {freeze.reason}")


class LogLosses(Task):
    """Log a step's losses and the steps per second since the previous log line."""

    def __init__(self, tracker: RunTracker, every: int) -> None:
        super().__init__(every)
        self.tracker = tracker

    def __call__(self, result: StepResult) -> None:
        throughput = self.tracker.throughput(result.step)
        self.tracker.log(result.step, {**result.values, "steps_per_second": throughput})


class ShowProgress(Task):
    """Move the progress bar and show the main losses, every step."""

    def __init__(self, tracker: RunTracker) -> None:
        super().__init__(every=1)
        self.tracker = tracker

    def __call__(self, result: StepResult) -> None:
        shown = {k: result.values[k] for k in PROGRESS_KEYS if k in result.values}
        self.tracker.progress(result.step, shown)


class WriteSamples(Task):
    """Write a sample set from fixed noise (MIDI, PNG, ``.npz``, both binarizations) and log
    its pictures (and, with audio, the threshold set's WAV).

    Args:
        trainer: generates the samples.
        tracker: logs them.
        directory: where the files go (``<run dir>/samples``).
        count: phrases per set.
        conditions: ``(count, bars, steps, pitches, channels)`` in {-1, 1} for a conditional
            model's condition track, else None.
        audio: also render and log the threshold set as WAV (FluidSynth checked first).
        every: generator steps between two sets.
    """

    def __init__(
        self,
        trainer: Trainer,
        tracker: RunTracker,
        directory: Path,
        count: int,
        conditions: np.ndarray | None,
        audio: bool,
        every: int,
    ) -> None:
        super().__init__(every)
        self.trainer, self.tracker = trainer, tracker
        self.directory, self.count, self.conditions, self.audio = (
            directory,
            count,
            conditions,
            audio,
        )
        #: The newest set written: (step, binarization -> files).
        self.latest: tuple[int, dict[str, SampleFiles]] | None = None

    def write(self, step: int) -> dict[str, SampleFiles]:
        """Write the set of ``step`` (without logging it); returns binarization -> files."""
        if self.latest is not None and self.latest[0] == step:
            return self.latest[1]
        outputs = self.trainer.generate(self.count, Stream.TRAINING_SAMPLES, self.conditions)
        rng = stream_rng(self.trainer.options.seed, Stream.SAMPLE_BINARIZATION, step)
        spec = self.trainer.model.spec
        files = write_sample_set(self.directory, f"step-{step:06d}", outputs, spec, rng)
        self.latest = (step, files)
        return files

    def __call__(self, result: StepResult) -> None:
        files = self.write(result.step)
        for method, written in files.items():
            self.tracker.image(result.step, f"samples/{method}", written.png)
        if self.audio:
            wav = files["threshold"].mid.with_suffix(".wav")
            render_wav(load_midi(files["threshold"].mid), wav, AUDIO_RATE)
            self.tracker.audio(result.step, "samples/audio", wav, AUDIO_RATE)


class Evaluate(Task):
    """Generate phrases from fixed noise, log their metric means and the Fréchet distance of
    their metric vectors to the training data's, with the data's means beside them.

    Args:
        trainer: generates the phrases.
        tracker: logs the values and a table.
        splits: the data; the reference set's means are shown beside the generated ones, and
            (up to) :data:`EVAL_REFERENCE_PHRASES` training phrases are the data side of the
            Fréchet distance. Both are computed once, here.
        count: phrases generated per evaluation.
        conditions: condition phrases in {-1, 1} for a conditional model, else None.
        every: generator steps between two evaluations.
    """

    def __init__(
        self,
        trainer: Trainer,
        tracker: RunTracker,
        splits: Splits,
        count: int,
        conditions: np.ndarray | None,
        every: int,
    ) -> None:
        super().__init__(every)
        self.trainer, self.tracker = trainer, tracker
        self.count, self.conditions = count, conditions
        self.spec = splits.spec
        reference = metrics_by_chunks(splits.reference.chunks(), self.spec)
        self.data_means = summarize_metrics(reference)
        train = splits.train
        picked = np.linspace(0, len(train) - 1, min(len(train), EVAL_REFERENCE_PHRASES))
        picked_phrases = train.phrases_at(picked.astype(int))
        self.data_matrix = metric_matrix(metrics_for_spec(picked_phrases, self.spec))
        #: The newest evaluation: (step, metric means).
        self.latest: tuple[int, dict[str, float]] | None = None

    def measure(self, step: int) -> dict[str, float]:
        """The metric means and Fréchet distance of the generator as it is at ``step``."""
        if self.latest is not None and self.latest[0] == step:
            return self.latest[1]
        outputs = self.trainer.generate(self.count, Stream.TRAINING_EVALUATION, self.conditions)
        rolls, _ = decode(outputs, self.spec, "threshold", np.random.default_rng(0))
        values = metrics_for_spec(rolls, self.spec)
        means = summarize_metrics(values)
        means["frechet_distance"] = frechet_distance(metric_matrix(values), self.data_matrix)
        self.latest = (step, means)
        return means

    def __call__(self, result: StepResult) -> None:
        means = self.measure(result.step)
        self.tracker.log(result.step, {f"eval/{k}": v for k, v in means.items()})
        rows = [[k, means[k], v] for k, v in overall_metrics(self.data_means).items()]
        self.tracker.table(result.step, "eval/metrics", ["metric", "generated", "data"], rows)


class SaveCheckpoint(Task):
    """Write a checkpoint (unless one of this step exists): the last task of a step."""

    def __init__(self, checkpointer: Checkpointer, every: int) -> None:
        super().__init__(every)
        self.checkpointer = checkpointer

    def save(self, step: int) -> str:
        """Write the checkpoint of ``step`` if it is not the newest; returns its path."""
        latest = self.checkpointer.latest
        if latest is not None and latest.endswith(f"-{step}"):
            return latest
        return self.checkpointer.save(step)

    def __call__(self, result: StepResult) -> None:
        self.save(result.step)
