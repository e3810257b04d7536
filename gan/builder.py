"""The run builder: from a composed config to everything a training run needs.

:func:`build_run` checks the options, sets up devices, precision and seeds, loads the data,
builds the model, the trainer and the checkpointer, and restores the last checkpoint;
:func:`build_tasks` lists the periodic work of the run (:mod:`gan.tasks`) in the order it
happens after a step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from gan.averaging import CHECKPOINT_NAME as AVERAGE
from gan.averaging import check_unaveraged
from gan.checkpoint import Checkpointer
from gan.conditions import condition_phrases
from gan.model import GANModel
from gan.objectives import Objective
from gan.options import TrainOptions
from gan.precision import AUTO, Hardware, choose_precision
from gan.strategy import make_strategy, set_determinism, set_precision
from gan.tasks import (
    Evaluate,
    LogFreezing,
    LogLosses,
    SaveCheckpoint,
    ShowProgress,
    Task,
    WriteSamples,
)
from gan.tracking import RunTracker, run_labels
from gan.trainer import Trainer
from pianoroll.audio import audio_usable
from pianoroll.dataset import Splits
from pianoroll.errors import UserError, number_value
from pianoroll.io import atomic_path
from pianoroll.pipeline import batch_stream
from pianoroll.prepare import load_splits
from pianoroll.spec import PhraseSpec
from pianoroll.targets import TRUST_KEY, instantiate

__all__ = [
    "Run",
    "build_model",
    "build_objective",
    "build_run",
    "build_tasks",
    "build_tracker",
    "resolved",
]


@dataclasses.dataclass
class Run:
    """What a training run needs, built and restored.

    Attributes:
        cfg: the composed config.
        run_dir: the run folder (a worker's own folder in a multi-worker run).
        options: the checked training options.
        splits: the data, split by song.
        trainer: the model, objective, optimizers and compiled steps.
        checkpointer: saves and restores the training state.
        start: the generator step the run starts at (0, or a resumed checkpoint's).
        resumed: whether a checkpoint was restored.
        batches: the distributed iterator of real batches, positioned at ``start``.
        notes: lines for the run to print (the precision ``auto`` chose, a slow choice).
    """

    cfg: DictConfig
    run_dir: Path
    options: TrainOptions
    splits: Splits
    trainer: Trainer
    checkpointer: Checkpointer
    start: int
    resumed: bool
    batches: Iterator
    notes: tuple[str, ...] = ()


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain containers with every interpolation resolved."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]


def build_model(cfg: DictConfig, spec: PhraseSpec) -> GANModel:
    """Instantiate ``cfg.model`` (a partial ``_target_``, checked by :mod:`pianoroll.targets`)
    for a phrase spec.

    Raises:
        UserError: an untrusted target, a model that cannot be built, or not a GANModel.
    """
    return instantiate(cfg.model, "model", GANModel, partial=True, spec=spec)


def build_objective(train_cfg: DictConfig) -> Objective:
    """Instantiate ``train.objective`` (a ``_target_``, checked by :mod:`pianoroll.targets`).

    Raises:
        UserError: an untrusted target, an objective that cannot be built, or not an Objective.
    """
    return instantiate(train_cfg.objective, "train.objective", Objective, partial=True)


def build_run(cfg: DictConfig, run_dir: str | Path, progress: bool = True) -> Run:
    """Build (or restore) a training run from its config.

    Nothing is written before the options are checked. The run folder's config.yaml is the
    config the run trains with: written at the start, and again at every resume once the
    checkpoint has accepted it, so that a resume's overrides (a longer ``train.steps``,
    averaging switched on) hold for later resumes, ``generate`` and ``evaluate`` too.

    Raises:
        UserError: bad options, data, model config or checkpoint.
    """
    options = TrainOptions.from_config(cfg.train, cfg.seed)
    number_value("data.val_fraction", cfg.data.val_fraction, float, high=1.0)
    # First: MultiWorkerMirroredStrategy configures collective ops, which must happen before
    # TensorFlow runs anything (seeding included).
    strategy = make_strategy(options.strategy)
    precision = choose_precision(options.precision, Hardware.detect())
    notes = [precision.reason] if options.precision == AUTO else []
    notes += [precision.warning] if precision.warning else []
    options = dataclasses.replace(options, precision=precision.precision)
    cfg.train.precision = precision.precision  # the run's config records the choice
    run_dir = _own_folder(Path(run_dir), strategy)
    keras.utils.set_random_seed(options.seed)
    set_determinism(options)
    splits = load_splits(cfg.data, cfg.paths.data_dir, progress=progress)
    set_precision(options.precision)
    with strategy.scope():
        model = build_model(cfg, splits.spec)
        objective = build_objective(cfg.train)
    trainer = Trainer(model, objective, strategy, options)
    checkpointer = Checkpointer(
        run_dir / "checkpoints",
        model,
        trainer.optimizers,
        trainer.step,
        trainer.seed,
        options.keep_checkpoints,
        state=trainer.state,
        optional=[AVERAGE],
    )
    saved = _saved_train(run_dir) if checkpointer.latest else None
    if saved is not None:  # before restoring: a switched decay does not fit the checkpoint
        _check_decay(saved, options)
    resumed = checkpointer.restore()
    start = int(trainer.step.numpy())
    model.set_step(start)
    if resumed:
        if saved is not None:
            _check_resumable(saved, start, options)
        _resume_averaging(saved, checkpointer, trainer, start)
    _save_config(cfg, run_dir)
    stream = batch_stream(
        splits.train,
        options.batch_size,
        options.seed,
        start_batch=trainer.batches_before(start),
        max_shift=int(cfg.data.transpose),
        drum_mask=splits.spec.drum_mask,
    )
    batches = iter(strategy.experimental_distribute_dataset(stream))
    return Run(
        cfg, run_dir, options, splits, trainer, checkpointer, start, resumed, batches, tuple(notes)
    )


def build_tracker(run: Run, progress: bool) -> RunTracker:
    """The run's log, progress bar and wandb run, starting at the run's first step."""
    group, tags = run_labels(run.cfg)
    return RunTracker(
        run.run_dir,
        resolved(run.cfg),
        run.cfg.wandb,
        run.options.steps,
        run.start,
        progress,
        group=group,
        tags=tags,
    )


def build_tasks(run: Run, tracker: RunTracker) -> list[Task]:
    """The run's periodic work, in the order it happens after a step; the checkpoint last."""
    options, trainer, every = run.options, run.trainer, run.options.intervals
    model, splits = trainer.model, run.splits
    audio = audio_usable(options.sample_audio, tracker.message)
    return [
        LogFreezing(tracker),
        LogLosses(tracker, every.log_every),
        ShowProgress(tracker),
        WriteSamples(
            trainer,
            tracker,
            run.run_dir / "samples",
            options.n_samples,
            condition_phrases(model, splits.reference, options.n_samples),
            audio,
            every.sample_every,
        ),
        Evaluate(
            trainer,
            tracker,
            splits,
            options.eval_samples,
            condition_phrases(model, splits.train, options.eval_samples),
            every.eval_every,
        ),
        SaveCheckpoint(run.checkpointer, every.checkpoint_every),
    ]


def _own_folder(run_dir: Path, strategy: tf.distribute.Strategy) -> Path:
    """The folder this process writes to, created: the run folder, or for a worker of a
    multi-worker run other than the chief, a folder of its own under it, so that workers
    sharing a run folder never write the same files (and each can resume from its own
    checkpoints)."""
    if not strategy.extended.should_checkpoint:
        task = strategy.cluster_resolver
        run_dir = run_dir / "workers" / f"{task.task_type}-{task.task_id}"
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _save_config(cfg: DictConfig, run_dir: Path) -> None:
    """Save the resolved config, without the command line's trust (never read from a run)."""
    saved = {k: v for k, v in resolved(cfg).items() if k != TRUST_KEY}
    with atomic_path(run_dir / "config.yaml") as tmp:
        tmp.write_text(OmegaConf.to_yaml(OmegaConf.create(saved)))


def _resume_averaging(train: Any, checkpointer: Checkpointer, trainer: Trainer, step: int) -> None:
    """Resume the generator's weight average as the run was saved: a checkpoint that holds one
    is resumed with the saved ``train.ema_decay`` and ``train.ema_start`` only (another decay
    or start, or none, would give an average no uninterrupted run has); one without it can
    switch averaging on where the average would still be a copy of the weights.

    Args:
        train: the run's saved ``train`` options (None: no saved config to compare with).
        checkpointer: the restored run's checkpointer.
        trainer: the trainer it restored into.
        step: the restored step.

    Raises:
        UserError: another averaging than the checkpoint's, or averaging that should have
            started before ``step``.
    """
    options = trainer.options
    now = (options.ema_decay, options.ema_start)
    if AVERAGE in checkpointer.saved:
        if train is None:
            return
        before = (float(train.get("ema_decay", 0.0)), int(train.get("ema_start", 0)))
        if before != now:
            raise UserError(
                f"train.ema_decay, train.ema_start: this run averages its generator with"
                f" {before[0]}, {before[1]}; resume with train.ema_decay={before[0]}"
                f" train.ema_start={before[1]}"
            )
    elif trainer.average is not None:
        check_unaveraged(str(checkpointer.latest), step, options.averaging_start)
        trainer.average.reset()


def _saved_train(run_dir: Path) -> Any:
    """The ``train`` options of the run's saved config.yaml, or None without one."""
    saved = run_dir / "config.yaml"
    return OmegaConf.load(saved).train if saved.exists() else None


def _check_decay(train: Any, options: TrainOptions) -> None:
    """Refuse to switch the learning-rate decay on or off at a resume: a constant rate is an
    Adam variable in the checkpoint and a decay is not, so the checkpoint would not fit.

    Args:
        train: the run's saved ``train`` options.
        options: the options it resumes with.

    Raises:
        UserError: ``train.lr_decay`` differs from the saved one (naming the value to resume
            with).
    """
    decayed = bool(train.get("lr_decay", False))
    if decayed != options.lr_decay:
        before = str(decayed).lower()
        raise UserError(
            f"train.lr_decay: this run was trained with train.lr_decay={before}; a constant"
            " learning rate is saved with Adam's state in the checkpoint and a decay is not,"
            f" so a run cannot switch between them (resume with train.lr_decay={before})"
        )


def _check_resumable(train: Any, step: int, options: TrainOptions) -> None:
    """Refuse to resume at ``step`` with options that the run's checkpoint contradicts: another
    pretraining length, where the change would redo or skip pretraining steps (the step count
    says which phase a run is in), or another constant learning rate for an optimizer still to
    be used (Adam saves a constant rate with its slots and restores it, so the new one would be
    silently ignored; a decaying rate is a schedule the config rebuilds, and may change).

    Args:
        train: the run's saved ``train`` options.
        step: the restored step.
        options: the options it resumes with.
    """
    before = int(train.get("pretrain_steps") or 0)
    pretrain_steps = options.pretrain_steps
    if before != pretrain_steps and step > min(before, pretrain_steps):
        raise UserError(
            f"train.pretrain_steps: this run at step {step} was set to pretrain for {before}"
            f" steps; {pretrain_steps} would redo or skip pretraining"
            f" (resume with train.pretrain_steps={before})"
        )
    if options.lr_decay:
        return
    rates = [
        ("generator_lr", train.get("generator_lr"), options.generator_lr),
        ("critic_lr", train.get("critic_lr"), options.critic_lr),
    ]
    if step < pretrain_steps:  # null: the generator's rate
        rates.append(
            (
                "pretrain_lr",
                train.get("pretrain_lr") or train.get("generator_lr"),
                options.pretrain_lr or options.generator_lr,
            )
        )
    for key, rate, now in rates:
        if rate is not None and float(rate) == float(now):
            continue
        raise UserError(
            f"train.{key}: this run was trained with {rate}; its checkpoint restores that"
            f" learning rate, so {now} would be ignored (resume with train.{key}={rate})"
        )
