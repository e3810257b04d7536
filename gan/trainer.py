"""The adversarial training loop, shared by every model package.

``train(cfg, run_dir)`` is a plain function: it prepares or loads the data, builds the model
from ``cfg.model`` (a ``_target_``), and runs ``cfg.train.steps`` generator steps, each with
``cfg.train.critic_steps`` critic steps before it, all in one compiled ``tf.function``. Run it
twice on the same run folder and the second call resumes from the last checkpoint.

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

import math
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

import gan.config  # noqa: F401  (registers the resolvers the configs in conf/ use)
from gan.checkpoint import Checkpointer
from gan.freezing import Freeze, freeze_decision
from gan.losses import teacher_forcing_loss
from gan.model import GANModel
from gan.objectives import Objective
from gan.strategy import check_jit, make_strategy, set_precision
from gan.tracking import RunTracker, run_labels
from pianoroll.audio import fluidsynth_problem, render_wav
from pianoroll.compare import frechet_distance
from pianoroll.dataset import Dataset
from pianoroll.errors import UserError, number_value
from pianoroll.evaluation import metric_matrix, metric_means, metrics_for_spec, summarize_metrics
from pianoroll.io import atomic_path, write_json
from pianoroll.midi import load_midi
from pianoroll.output import write_sample_set
from pianoroll.pipeline import batch_stream
from pianoroll.prepare import load_or_prepare
from pianoroll.values import binarize_threshold, to_signed

__all__ = [
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "build_model",
    "build_objective",
    "train",
]

#: Samples per second of the WAV files of ``train.sample_audio``.
AUDIO_RATE = 22050

#: Independent random streams folded into the run seed.
NOISE_STREAM, EPSILON_STREAM, SAMPLE_STREAM, EVAL_STREAM = 1, 2, 3, 4


class TrainingDiverged(UserError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was written before stopping."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


def _instantiate(node: Any, what: str, kind: type, **kwargs: Any) -> Any:
    """Instantiate a config node's ``_target_`` (as a partial, called with ``kwargs``).

    Raises:
        UserError: a target that is not trusted (:mod:`pianoroll.targets`), the target cannot
            be built (one line naming ``what``), or is not a ``kind``.
    """
    # Imported here to keep this change inside the function while the module is restructured.
    from pianoroll.targets import instantiate

    return instantiate(node, what, kind, partial=True, **kwargs)


def build_model(cfg: DictConfig, spec: Any) -> GANModel:
    """Instantiate ``cfg.model`` (a partial ``_target_``) for a phrase spec."""
    return _instantiate(cfg.model, "model", GANModel, spec=spec)


def build_objective(train_cfg: DictConfig) -> Objective:
    """Instantiate ``train.objective`` (a ``_target_``)."""
    return _instantiate(train_cfg.objective, "train.objective", Objective)


class Trainer:
    """Optimizers and the compiled training iteration for one model.

    Args:
        model: the networks (built inside ``strategy.scope()``).
        objective: the losses.
        strategy: the distribution strategy the model was built under.
        train_cfg: the ``train`` config node (learning rates, betas, steps, critic steps,
            batch size, jit, and optionally ``pretrain_steps`` and ``freeze_ratio``).
        seed: the run's random seed.
    """

    def __init__(
        self,
        model: GANModel,
        objective: Objective,
        strategy: tf.distribute.Strategy,
        train_cfg: Any,
        seed: int,
    ) -> None:
        self.model = model
        self.objective = objective
        self.strategy = strategy
        self.critic_steps = int(train_cfg.critic_steps)
        self.global_batch = int(train_cfg.batch_size)
        if self.global_batch % strategy.num_replicas_in_sync:
            raise UserError(
                f"train.batch_size: {self.global_batch} does not split evenly over"
                f" {strategy.num_replicas_in_sync} replicas"
            )
        self.trace_count = 0
        self.pretrain_steps = int(train_cfg.get("pretrain_steps") or 0)
        if self.pretrain_steps and not model.supports_teacher_forcing:
            raise UserError(
                f"train.pretrain_steps: {type(model).__name__} has no teacher-forced generator to"
                " pretrain (C-RNN-GAN's model=recurrent has); set train.pretrain_steps=0"
            )
        ratio = train_cfg.get("freeze_ratio")
        self.freeze_ratio = None if ratio is None else float(ratio)
        if self.freeze_ratio is not None and not objective.freezable:
            raise UserError(
                f"train.freeze_ratio: {type(objective).__name__}'s losses are not cross-entropies"
                " that freezing can compare; set train.freeze_ratio=null"
            )
        if self.freeze_ratio is not None and not 0.0 < self.freeze_ratio < 1.0:
            raise UserError(f"train.freeze_ratio: {self.freeze_ratio} is not in (0, 1)")
        objective.validate(model)
        #: Freezing applied by this object's steps: network -> steps frozen.
        self.frozen_steps = {"critic": 0, "generator": 0}
        #: Training state checkpointed besides the step and seed.
        self.state: dict[str, tf.Variable] = {}
        with strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.seed = tf.Variable(int(seed), dtype=tf.int64, trainable=False, name="seed")
            steps = int(train_cfg.steps) - self.pretrain_steps  # adversarial generator steps
            self.generator_optimizer = self._optimizer(train_cfg.generator_lr, train_cfg, steps)
            self.critic_optimizer = self._optimizer(
                train_cfg.critic_lr, train_cfg, steps * self.critic_steps
            )
            self.generator_optimizer.build(model.generator.trainable_variables)
            self.critic_optimizer.build(model.critic.trainable_variables)
            if self.pretrain_steps:
                self.pretrain_optimizer = self._optimizer(
                    train_cfg.generator_lr, train_cfg, self.pretrain_steps
                )
                self.pretrain_optimizer.build(model.generator.trainable_variables)
            if self.freeze_ratio is not None:
                # The last step's (critic, generator) losses: the next step's freezing decision.
                self.state["balance_losses"] = tf.Variable(
                    [math.nan, math.nan], dtype=tf.float32, trainable=False, name="balance_losses"
                )
        # XLA compiles the per-replica updates; the iteration around them reads the input
        # iterator, which XLA cannot compile.
        jit = check_jit(
            bool(train_cfg.jit_compile), model.recurrent, len(tf.config.list_logical_devices("GPU"))
        )
        self.critic_update = (
            tf.function(self._critic_step, jit_compile=True) if jit else self._critic_step
        )
        self.generator_update = (
            tf.function(self._generator_step, jit_compile=True) if jit else self._generator_step
        )
        self.iteration = tf.function(self._iteration)
        if self.pretrain_steps:
            self.pretrain_update = (
                tf.function(self._pretrain_step, jit_compile=True) if jit else self._pretrain_step
            )
            self.pretrain_iteration = tf.function(self._pretrain_iteration)

    @staticmethod
    def _optimizer(lr: float, train_cfg: Any, decay_steps: int) -> keras.optimizers.Optimizer:
        rate: Any = float(lr)
        if train_cfg.lr_decay:
            # Linear decay to zero over the run, counted in this optimizer's own updates.
            rate = keras.optimizers.schedules.PolynomialDecay(
                float(lr), max(decay_steps, 1), 0.0, power=1.0
            )
        optimizer = keras.optimizers.Adam(
            rate, beta_1=float(train_cfg.beta_1), beta_2=float(train_cfg.beta_2)
        )
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """The optimizers by checkpoint name."""
        optimizers = {
            "generator_optimizer": self.generator_optimizer,
            "critic_optimizer": self.critic_optimizer,
        }
        if self.pretrain_steps:
            optimizers["pretrain_optimizer"] = self.pretrain_optimizer
        return optimizers

    def batches_before(self, step: int) -> int:
        """Real batches read before generator step ``step``: one per pretraining step, then
        ``critic_steps`` per adversarial step (frozen or not)."""
        pretrained = min(step, self.pretrain_steps)
        return pretrained + (step - pretrained) * self.critic_steps

    def _replica_slice(self, values: Any) -> Any:
        """This replica's part of a global-batch structure (replica ``i`` gets rows ``i*b:(i+1)*b``)."""
        context = tf.distribute.get_replica_context()
        per_replica = self.global_batch // self.strategy.num_replicas_in_sync
        start = tf.cast(context.replica_id_in_sync_group, tf.int32) * per_replica
        return tf.nest.map_structure(lambda v: v[start : start + per_replica], values)

    def _seed(self, stream: int, step: tf.Tensor, sub: int) -> tf.Tensor:
        base = tf.stack([self.seed, tf.constant(stream, tf.int64)])
        return tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(base, step), sub
        )

    @staticmethod
    def _scaled(optimizer: keras.optimizers.Optimizer, loss: tf.Tensor) -> tf.Tensor:
        """The loss to differentiate: scaled up under a loss-scale optimizer (float16).

        Call it inside the gradient tape, so that the scaling is recorded.
        """
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    def _critic_step(
        self, real: tf.Tensor, step: tf.Tensor, sub: int, apply: bool = True
    ) -> dict[str, tf.Tensor]:
        noise = self._replica_slice(
            self.model.sample_noise(self.global_batch, self._seed(NOISE_STREAM, step, sub))
        )
        epsilon = self._replica_slice(
            tf.random.stateless_uniform([self.global_batch], self._seed(EPSILON_STREAM, step, sub))
        )
        # Outside the tape: the critic's update needs no gradient through the generator.
        fake = self.model.generate(noise, real, training=True)
        variables = self.model.critic.trainable_variables
        if not apply:  # frozen: the loss only, for the next freezing decision
            return self.objective.critic_loss(self.model, real, fake, epsilon, self.global_batch)[1]
        with tf.GradientTape() as tape:
            loss, parts = self.objective.critic_loss(
                self.model, real, fake, epsilon, self.global_batch
            )
            scaled = self._scaled(self.critic_optimizer, loss)
        self.critic_optimizer.apply(tape.gradient(scaled, variables), variables)
        return parts

    def _generator_step(
        self, real: tf.Tensor, step: tf.Tensor, apply: bool = True
    ) -> dict[str, tf.Tensor]:
        noise = self._replica_slice(
            self.model.sample_noise(
                self.global_batch, self._seed(NOISE_STREAM, step, self.critic_steps)
            )
        )
        variables = self.model.generator.trainable_variables
        if not apply:  # frozen: the loss only, for the next freezing decision
            fake = self.model.generate(noise, real, training=True)
            return self.objective.generator_loss(self.model, real, fake, self.global_batch)[1]
        with tf.GradientTape() as tape:
            fake = self.model.generate(noise, real, training=True)
            loss, parts = self.objective.generator_loss(self.model, real, fake, self.global_batch)
            scaled = self._scaled(self.generator_optimizer, loss)
        self.generator_optimizer.apply(tape.gradient(scaled, variables), variables)
        return parts

    def _pretrain_step(self, real: tf.Tensor, step: tf.Tensor) -> dict[str, tf.Tensor]:
        noise = self._replica_slice(
            self.model.sample_noise(self.global_batch, self._seed(NOISE_STREAM, step, 0))
        )
        variables = self.model.generator.trainable_variables
        with tf.GradientTape() as tape:
            predicted = self.model.teacher_forced(noise, real, training=True)
            loss = teacher_forcing_loss(real, predicted, self.global_batch)
            scaled = self._scaled(self.pretrain_optimizer, loss)
        self.pretrain_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {"pretrain_loss": loss}

    def _sum_over_replicas(self, parts: dict[str, Any]) -> dict[str, tf.Tensor]:
        # Each replica's value is already its share of the global-batch mean: sum them.
        return {
            name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for name, value in parts.items()
        }

    def _pretrain_iteration(self, iterator: Iterator, step: tf.Tensor) -> dict[str, tf.Tensor]:
        """One teacher-forced generator update on one real batch."""
        return self._sum_over_replicas(
            self.strategy.run(self.pretrain_update, args=(next(iterator), step))
        )

    def _iteration(
        self,
        iterator: Iterator,
        step: tf.Tensor,
        train_critic: bool = True,
        train_generator: bool = True,
    ) -> dict[str, tf.Tensor]:
        """One iteration: ``critic_steps`` critic updates, then one generator update.

        A frozen network (``train_critic`` or ``train_generator`` False) computes its loss but
        is not updated; the critic still reads its ``critic_steps`` batches.
        """
        self.trace_count += 1  # runs only while tracing: counts (re)traces
        critic_parts = {}
        real = None
        for sub in range(self.critic_steps):
            real = next(iterator)
            critic_parts = self.strategy.run(
                self.critic_update, args=(real, step, sub, train_critic)
            )
        generator_parts = self.strategy.run(
            self.generator_update, args=(real, step, train_generator)
        )
        return self._sum_over_replicas({**critic_parts, **generator_parts})

    def train_step(self, iterator: Iterator, step: int) -> tuple[dict[str, float], Freeze | None]:
        """Generator step ``step + 1``: teacher-forced while pretraining, else adversarial.

        With freezing on, the last step's losses decide which network sits this step out.

        Returns:
            The step's values (losses; with freezing, also ``frozen_critic`` and
            ``frozen_generator``, 1 or 0) and the freezing applied (None when pretraining or
            freezing is off).
        """
        at = tf.constant(step, tf.int64)
        if step < self.pretrain_steps:
            return {k: float(v) for k, v in self.pretrain_iteration(iterator, at).items()}, None
        if self.freeze_ratio is None:
            return {k: float(v) for k, v in self.iteration(iterator, at).items()}, None
        balance = self.state["balance_losses"]
        critic_loss, generator_loss = (float(v) for v in balance.numpy())
        freeze = freeze_decision(critic_loss, generator_loss, self.freeze_ratio)
        out = self.iteration(iterator, at, not freeze.critic, not freeze.generator)
        values = {k: float(v) for k, v in out.items()}
        balance.assign(self.objective.balance_losses(values))
        self.frozen_steps["critic"] += freeze.critic
        self.frozen_steps["generator"] += freeze.generator
        values.update(frozen_critic=float(freeze.critic), frozen_generator=float(freeze.generator))
        return values, freeze

    def generate(
        self, count: int, stream: int, real: np.ndarray | None = None, chunk: int = 256
    ) -> np.ndarray:
        """Generate ``count`` phrases from fixed noise (a pure function of the seed and stream).

        Returns:
            ``(count, bars, steps, pitches, tracks)`` ``float32`` in (-1, 1).
        """
        noise = self.model.sample_noise(count, tf.stack([self.seed, tf.constant(stream, tf.int64)]))
        return self.model.generate_numpy(noise, real, chunk)


def _conditions(trainer: Trainer, dataset: Dataset, count: int) -> np.ndarray | None:
    """Real phrases in {-1, 1} to take condition tracks from, for conditional models."""
    if trainer.model.condition_index is None:
        return None
    return to_signed(dataset.phrases[np.arange(count) % len(dataset)])


def _resolved(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]


def _save_config(cfg: DictConfig, run_dir: Path) -> None:
    with atomic_path(run_dir / "config.yaml") as tmp:
        tmp.write_text(OmegaConf.to_yaml(OmegaConf.create(_resolved(cfg))))


#: Config keys of periodic work, in generator steps; 0 (or null) means only at the end.
INTERVALS = ("log_every", "checkpoint_every", "sample_every", "eval_every")


def intervals(train_cfg: Any) -> dict[str, int]:
    """The periodic-work intervals of a ``train`` config node, checked.

    Returns:
        Key -> generator steps between two runs of that work; 0 for never before the last
        step (the last step always logs, checkpoints, samples and evaluates).

    Raises:
        UserError: an interval is not a whole number of steps, or is negative.
    """
    result = {}
    for key in INTERVALS:
        value = train_cfg.get(key)
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(
                f"train.{key}: {value!r} is not a whole number of generator steps"
                " (0 or null: only at the end)"
            )
        result[key] = value
    return result


def check_options(cfg: DictConfig) -> dict[str, int]:
    """Refuse nonsense numbers in a training config before anything is built or written.

    Checks the seed, the step counts, the batch size, the learning rates, the validation
    share and the intervals.

    Returns:
        The intervals, as :func:`intervals` returns them.

    Raises:
        UserError: one line naming the key, its value and the allowed range.
    """
    train_cfg = cfg.train
    number_value("seed", cfg.seed)
    number_value("train.steps", train_cfg.steps, low=1)
    number_value("train.batch_size", train_cfg.batch_size, low=1)
    number_value("train.critic_steps", train_cfg.critic_steps, low=1)
    number_value("train.generator_lr", train_cfg.generator_lr, float, positive=True)
    number_value("train.critic_lr", train_cfg.critic_lr, float, positive=True)
    if train_cfg.get("pretrain_steps") is not None:
        # More than train.steps is allowed: the run stops while pretraining and can be resumed
        # with more steps.
        number_value("train.pretrain_steps", train_cfg.pretrain_steps)
    number_value("data.val_fraction", cfg.data.val_fraction, float, high=1.0)
    return intervals(train_cfg)


def _due(step: int, every: int) -> bool:
    return every > 0 and step % every == 0


def train(cfg: DictConfig, run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) a GAN as configured, leaving checkpoints, samples and logs in ``run_dir``.

    Args:
        cfg: the composed config (``data``, ``model``, ``train``, ``wandb``, ``paths``, ``seed``).
        run_dir: the run folder; if it holds a checkpoint, training resumes from it.
        progress: show a progress bar.

    Returns:
        A summary: the final step, the last losses, the sample files, the metric means and how
        many times this call traced the training iteration.

    Raises:
        TrainingDiverged: a loss became NaN or infinite.
        TrainingInterrupted: SIGINT/SIGTERM arrived (after writing a checkpoint).
        UserError: bad config, data or checkpoint.
    """
    train_cfg = cfg.train
    every = check_options(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # First: MultiWorkerMirroredStrategy configures collective ops, which must happen before
    # TensorFlow runs anything (seeding included).
    strategy = make_strategy(str(train_cfg.strategy))
    if not strategy.extended.should_checkpoint:
        # A worker of a multi-worker run other than the chief: its checkpoints, samples and logs
        # go to a folder of its own, so that workers sharing a run folder never write the same
        # files (and each can resume from its own checkpoints).
        task = strategy.cluster_resolver
        run_dir = run_dir / "workers" / f"{task.task_type}-{task.task_id}"
        run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(int(cfg.seed))
    if train_cfg.deterministic:
        tf.config.experimental.enable_op_determinism()

    dataset, cache = load_or_prepare(cfg.data, cfg.paths.data_dir, progress=progress)
    train_set, val_set = dataset.split(float(cfg.data.val_fraction), int(cfg.data.split_seed))
    if len(train_set) == 0:
        raise UserError(f"{cache}: no training phrases after holding out validation songs")

    set_precision(str(train_cfg.precision))
    with strategy.scope():
        model = build_model(cfg, dataset.spec)
        objective = build_objective(train_cfg)
    trainer = Trainer(model, objective, strategy, train_cfg, int(cfg.seed))
    checkpointer = Checkpointer(
        run_dir / "checkpoints",
        model,
        trainer.optimizers,
        trainer.step,
        trainer.seed,
        int(train_cfg.keep_checkpoints),
        state=trainer.state,
    )
    resumed = checkpointer.restore()
    if not (run_dir / "config.yaml").exists():
        _save_config(cfg, run_dir)

    start = int(trainer.step.numpy())
    total = int(train_cfg.steps)
    if resumed:
        _check_pretraining_kept(run_dir, start, trainer.pretrain_steps)
    stream = batch_stream(
        train_set.phrases,
        trainer.global_batch,
        int(cfg.seed),
        start_batch=trainer.batches_before(start),
        max_shift=int(cfg.data.transpose),
        drum_mask=dataset.spec.drum_mask,
    )
    iterator = iter(strategy.experimental_distribute_dataset(stream))
    group, tags = run_labels(cfg)
    tracker = RunTracker(
        run_dir, _resolved(cfg), cfg.wandb, total, start, progress, group=group, tags=tags
    )
    if resumed:
        tracker.message(f"resumed {run_dir} at step {start}")
    audio = bool(train_cfg.get("sample_audio", False))
    if audio and (problem := fluidsynth_problem()):
        tracker.message(problem)
        audio = False
    reference_set = val_set if len(val_set) else train_set
    sample_conditions = _conditions(trainer, reference_set, int(train_cfg.n_samples))
    eval_conditions = _conditions(trainer, train_set, int(train_cfg.eval_samples))

    def write_samples(step: int) -> dict[str, Path]:
        outputs = trainer.generate(int(train_cfg.n_samples), SAMPLE_STREAM, sample_conditions)
        files = write_sample_set(
            run_dir / "samples",
            f"step-{step:06d}",
            outputs,
            dataset.spec,
            np.random.default_rng([int(cfg.seed), step]),
        )
        tracker.image(step, "samples/threshold", files["threshold.png"])
        tracker.image(step, "samples/bernoulli", files["bernoulli.png"])
        if audio:
            wav = files["threshold.mid"].with_suffix(".wav")
            render_wav(load_midi(files["threshold.mid"]), wav, AUDIO_RATE)
            tracker.audio(step, "samples/audio", wav, AUDIO_RATE)
        return files

    # The data side of every evaluation, computed once: the reference set's metric means, and
    # the per-sample metric vectors of (up to) 2,000 training phrases for the Frechet distance.
    reference_means = metric_means(reference_set.phrases, dataset.spec)
    picked = np.linspace(0, len(train_set) - 1, min(len(train_set), 2000)).astype(int)
    reference_matrix = metric_matrix(metrics_for_spec(train_set.phrases[picked], dataset.spec))

    def evaluate(step: int) -> dict[str, float]:
        outputs = trainer.generate(int(train_cfg.eval_samples), EVAL_STREAM, eval_conditions)
        values = metrics_for_spec(binarize_threshold(outputs), dataset.spec)
        means = summarize_metrics(values)
        means["frechet_distance"] = frechet_distance(metric_matrix(values), reference_matrix)
        tracker.log(step, {f"eval/{k}": v for k, v in means.items()})
        rows = [[k, means[k], reference_means.get(k)] for k in reference_means if "/" not in k]
        tracker.table(step, "eval/metrics", ["metric", "generated", "data"], rows)
        return means

    stop: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: stop.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    values: dict[str, float] = {}
    frozen = Freeze()
    step = start
    try:
        while step < total and not stop:
            values, freeze = trainer.train_step(iterator, step)
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                raise TrainingDiverged(
                    f"training stopped at step {step + 1}: {', '.join(f'{k}={values[k]}' for k in bad)};"
                    f" the last good checkpoint is {checkpointer.latest or 'none (no checkpoint yet)'}"
                )
            step += 1
            trainer.step.assign(step)
            if freeze is not None and freeze != frozen:
                frozen = freeze
                tracker.log(
                    step,
                    {
                        "freeze/critic": float(freeze.critic),
                        "freeze/generator": float(freeze.generator),
                    },
                )
                tracker.message(f"step {step}: {freeze.reason}")
            if _due(step, every["log_every"]) or step == total:
                tracker.log(step, {**values, "steps_per_second": tracker.throughput(step)})
            tracker.progress(
                step,
                {
                    k: values[k]
                    for k in ("pretrain_loss", "critic_loss", "generator_loss")
                    if k in values
                },
            )
            if _due(step, every["checkpoint_every"]):
                checkpointer.save(step)
            if _due(step, every["sample_every"]) and step < total:
                write_samples(step)
            if _due(step, every["eval_every"]) and step < total:
                evaluate(step)
        if stop:
            path = checkpointer.save(step)
            raise TrainingInterrupted(
                stop[0],
                f"interrupted at step {step}; checkpoint {path}; resume with resume={run_dir}",
            )
        if checkpointer.latest is None or not checkpointer.latest.endswith(f"-{step}"):
            checkpointer.save(step)
        files = write_samples(step)
        generated = evaluate(step)
        summary = {
            "step": step,
            "losses": values,
            "generated": generated,
            "data": reference_means,
            "samples": {k: str(v) for k, v in files.items()},
            "trace_count": trainer.trace_count,  # traces of the training iteration: 1 unless retraced
            "frozen_steps": trainer.frozen_steps,  # steps of this call each network sat out
        }
        write_json(run_dir / "metrics.json", summary)
        name = run_dir.name
        tracker.artifact(f"{name}-samples", "samples", [run_dir / "samples"])
        tracker.artifact(
            f"{name}-checkpoint",
            "model",
            [
                run_dir / "checkpoints" / "model.json",
                run_dir / "checkpoints" / "checkpoint",
                *sorted((run_dir / "checkpoints").glob(f"ckpt-{step}.*")),
            ],
        )
        tracker.summary(
            {
                **{f"final/{k}": v for k, v in values.items()},
                **{f"eval/{k}": v for k, v in generated.items()},
            }
        )
        return summary
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        tracker.close()


def _check_pretraining_kept(run_dir: Path, step: int, pretrain_steps: int) -> None:
    """Refuse to resume at ``step`` with another pretraining length than the run's, where the
    change would redo or skip pretraining steps (the step count says which phase a run is in)."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        return
    before = int(OmegaConf.load(saved).train.get("pretrain_steps") or 0)
    if before != pretrain_steps and step > min(before, pretrain_steps):
        raise UserError(
            f"train.pretrain_steps: this run at step {step} was set to pretrain for {before}"
            f" steps; {pretrain_steps} would redo or skip pretraining"
            f" (resume with train.pretrain_steps={before})"
        )


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


def print_and_exit_on_interrupt(fn):
    """Wrap a training entry point: an interrupt exits with status 128 + signal number."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TrainingInterrupted as err:
            print(str(err), file=sys.stderr)
            sys.exit(128 + err.signum)

    return wrapper
