"""The trainer: optimizers and the compiled training iteration of one model.

:class:`Trainer` runs one generator step at a time (:meth:`Trainer.train_step`): while
pretraining, a teacher-forced maximum-likelihood update on one real batch; else
``train.critic_steps`` critic updates and one generator update, all in one compiled
``tf.function`` over the distribution strategy's replicas, with C-RNN-GAN's freezing deciding
which network sits a step out. A model with several adversarial phases (see
:class:`gan.model.Phase`) gets one generator optimizer and one compiled iteration per phase.
With ``train.ema_decay``, each step also updates the generator's weight average
(:mod:`gan.averaging`), which the trainer's phrases come from. The loop around it is
:mod:`gan.loop`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import gan.config  # noqa: F401  (registers the resolvers the configs in conf/ use)
from gan.averaging import CHECKPOINT_NAME as AVERAGE
from gan.averaging import WeightAverage
from gan.freezing import Freeze, freeze_decision
from gan.losses import teacher_forcing_loss
from gan.model import GENERATOR_PHASE, GANModel
from gan.noise import Stream
from gan.objectives import Objective
from gan.options import TrainOptions
from gan.strategy import check_jit
from pianoroll.cli import Interrupted
from pianoroll.errors import UserError

__all__ = [
    "LinearDecay",
    "StepResult",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "check_serves",
]


class TrainingDiverged(UserError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(Interrupted):
    """SIGINT or SIGTERM arrived; a checkpoint was written before stopping."""


class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate held, then decayed linearly: ``rate * clip((total - step) / (total - hold),
    0, 1)`` for the optimizer's update ``step`` (counted from 0, as Keras passes its iterations).

    Updates 0 to ``hold`` run at ``rate``; each later one loses ``rate / (total - hold)``, so the
    last of ``total`` updates (``total - 1``) runs at ``rate / (total - hold)`` and the rate would
    reach 0 at update ``total``. With ``hold = 0`` it decays over the whole run; the MuseGAN
    authors' current code (salu133445/musegan, ``default_config.yaml``) holds it for 45,000 of
    50,000 steps.

    Args:
        rate: the full learning rate.
        total: the optimizer's updates in the run (at least 1).
        hold: the last update at the full rate, ``0 <= hold < total``.
    """

    def __init__(self, rate: float, total: int, hold: int = 0) -> None:
        total = max(int(total), 1)
        if not 0 <= hold < total:
            raise ValueError(f"LinearDecay: hold {hold} is not in [0, {total})")
        self.rate, self.total, self.hold = float(rate), total, int(hold)

    def __call__(self, step: Any) -> Any:
        left = (self.total - ops.cast(step, "float32")) / float(self.total - self.hold)
        return self.rate * ops.clip(left, 0.0, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "total": self.total, "hold": self.hold}


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one generator step did.

    Attributes:
        step: the generator step just completed (1 for the first).
        values: its losses by name (with freezing, also ``frozen_critic`` and
            ``frozen_generator``, 1 or 0).
        freeze: the freezing applied, or None when pretraining or freezing is off.
    """

    step: int
    values: dict[str, float]
    freeze: Freeze | None = None


def check_serves(model: GANModel, objective: Objective, options: TrainOptions) -> None:
    """Refuse options that this model or objective cannot serve, naming the key.

    Raises:
        UserError: pretraining without a teacher-forced generator, or freezing with losses
            that are not cross-entropies.
    """
    if options.pretrain_steps and not model.supports_teacher_forcing:
        raise UserError(
            f"train.pretrain_steps: {type(model).__name__} has no teacher-forced generator to"
            " pretrain (C-RNN-GAN's model=recurrent has); set train.pretrain_steps=0"
        )
    if options.freeze_ratio is not None and not objective.freezable:
        raise UserError(
            f"train.freeze_ratio: {type(objective).__name__}'s losses are not cross-entropies"
            " that freezing can compare; set train.freeze_ratio=null"
        )
    objective.validate(model)


class Trainer:
    """Optimizers and the compiled training iteration for one model.

    Args:
        model: the networks (built inside ``strategy.scope()``).
        objective: the losses.
        strategy: the distribution strategy the model was built under.
        options: the run's training options (learning rates, steps, batch, jit, pretraining,
            freezing, seed).

    Raises:
        UserError: the global batch does not split over the replicas, or an option the model
            or objective cannot serve (:func:`check_serves`).
    """

    def __init__(
        self,
        model: GANModel,
        objective: Objective,
        strategy: tf.distribute.Strategy,
        options: TrainOptions,
    ) -> None:
        if options.batch_size % strategy.num_replicas_in_sync:
            raise UserError(
                f"train.batch_size: {options.batch_size} does not split evenly over"
                f" {strategy.num_replicas_in_sync} replicas"
            )
        check_serves(model, objective, options)
        self.model, self.objective = model, objective
        self.strategy, self.options = strategy, options
        self.trace_count = 0
        #: Freezing applied by this object's steps: network -> steps frozen.
        self.frozen_steps = {"critic": 0, "generator": 0}
        #: Training state checkpointed besides the step and seed (variables, or trackable
        #: objects holding them).
        self.state: dict[str, Any] = {}
        #: The generator's weight average (``train.ema_decay``), or None.
        self.average: WeightAverage | None = None
        with strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.seed = tf.Variable(options.seed, dtype=tf.int64, trainable=False, name="seed")
            self._build_optimizers()
            if self.freeze_ratio is not None:
                # The last step's (critic, generator) losses: the next step's freezing decision.
                self.state["balance_losses"] = tf.Variable(
                    [math.nan, math.nan], dtype=tf.float32, trainable=False, name="balance_losses"
                )
            if options.ema_decay:
                self.average = WeightAverage(
                    model.generator, options.ema_decay, options.averaging_start
                )
                self.state[AVERAGE] = self.average.trackable
        self._compile()

    @property
    def critic_steps(self) -> int:
        """Critic updates per generator update."""
        return self.options.critic_steps

    @property
    def global_batch(self) -> int:
        """The batch summed over replicas."""
        return self.options.batch_size

    @property
    def pretrain_steps(self) -> int:
        """Generator steps of teacher-forced pretraining."""
        return self.options.pretrain_steps

    @property
    def freeze_ratio(self) -> float | None:
        """The freezing ratio, or None without freezing."""
        return self.options.freeze_ratio

    def _build_optimizers(self) -> None:
        """One Adam per network and generator phase (and one for pretraining), built so that
        slots restore."""
        options, networks = self.options, self.model
        steps = options.adversarial_steps
        #: Phase name -> the generator optimizer of that phase.
        self.generator_optimizers = {}
        phases = networks.phases
        #: Phase name -> phase.
        self.phases = {phase.name: phase for phase in phases}
        for phase, after in zip(phases, [*phases[1:], None], strict=True):
            end = options.steps if after is None else after.start
            start = max(phase.start, options.pretrain_steps)
            optimizer = self._optimizer(options.generator_lr, max(end - start, 0))
            optimizer.build(networks.phase_variables(phase))
            self.generator_optimizers[phase.name] = optimizer
        self.generator_optimizer = self.generator_optimizers[phases[0].name]
        self.critic_optimizer = self._optimizer(options.critic_lr, steps * self.critic_steps)
        self.critic_optimizer.build(networks.critic.trainable_variables)
        if self.pretrain_steps:
            lr = options.generator_lr if options.pretrain_lr is None else options.pretrain_lr
            self.pretrain_optimizer = self._optimizer(lr, self.pretrain_steps)
            self.pretrain_optimizer.build(networks.generator.trainable_variables)

    def _compile(self) -> None:
        """Wrap the updates and iterations in ``tf.function`` (XLA for the updates if asked)."""
        # XLA compiles the per-replica updates; the iteration around them reads the input
        # iterator, which XLA cannot compile.
        n_gpus = len(tf.config.list_logical_devices("GPU"))
        jit = check_jit(self.options.jit_compile, self.model.recurrent, n_gpus)

        def compiled(update: Any) -> Any:
            return tf.function(update, jit_compile=True) if jit else update

        self.critic_update = compiled(self._critic_step)
        self.generator_update = compiled(self._generator_step)
        self.iteration = tf.function(self._iteration)
        if self.pretrain_steps:
            self.pretrain_update = compiled(self._pretrain_step)
            self.pretrain_iteration = tf.function(self._pretrain_iteration)

    def _optimizer(self, lr: float, updates: int) -> keras.optimizers.Optimizer:
        rate: Any = lr
        if self.options.lr_decay:
            # Counted in this optimizer's own updates, so that every optimizer of a run (critic,
            # generator phases, pretraining) starts its decay at the same share of its updates.
            # (A frozen network's steps are not updates: freezing delays its decay.)
            hold = min(math.floor(self.options.lr_decay_start * updates), max(updates - 1, 0))
            rate = LinearDecay(lr, updates, hold)
        optimizer = keras.optimizers.Adam(
            rate, beta_1=self.options.beta_1, beta_2=self.options.beta_2
        )
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """The optimizers by checkpoint name."""
        optimizers = {
            _optimizer_name(phase): optimizer
            for phase, optimizer in self.generator_optimizers.items()
        }
        optimizers["critic_optimizer"] = self.critic_optimizer
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

    def _seed(self, stream: Stream, step: tf.Tensor, sub: int) -> tf.Tensor:
        base = tf.stack([self.seed, tf.constant(int(stream), tf.int64)])
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
        self, real: tf.Tensor, step: tf.Tensor, sub: int, apply: bool, phase: str
    ) -> dict[str, tf.Tensor]:
        noise = self._replica_slice(
            self.model.sample_noise(self.global_batch, self._seed(Stream.TRAINING_NOISE, step, sub))
        )
        epsilon = self._replica_slice(
            tf.random.stateless_uniform(
                [self.global_batch], self._seed(Stream.PENALTY_MIX, step, sub)
            )
        )
        # Outside the tape: the critic's update needs no gradient through the generator.
        fake = self.model.generate(noise, real, training=True, phase=self.phases[phase])
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
        self, real: tf.Tensor, step: tf.Tensor, apply: bool, name: str
    ) -> dict[str, tf.Tensor]:
        noise = self._replica_slice(
            self.model.sample_noise(
                self.global_batch, self._seed(Stream.TRAINING_NOISE, step, self.critic_steps)
            )
        )
        phase = self.phases[name]
        variables = self.model.phase_variables(phase)
        optimizer = self.generator_optimizers[name]
        if not apply:  # frozen: the loss only, for the next freezing decision
            fake = self.model.generate(noise, real, training=True, phase=phase)
            return self.objective.generator_loss(self.model, real, fake, self.global_batch)[1]
        with tf.GradientTape() as tape:
            fake = self.model.generate(noise, real, training=True, phase=phase)
            loss, parts = self.objective.generator_loss(self.model, real, fake, self.global_batch)
            scaled = self._scaled(optimizer, loss)
        optimizer.apply(tape.gradient(scaled, variables), variables)
        return parts

    def _pretrain_step(self, real: tf.Tensor, step: tf.Tensor) -> dict[str, tf.Tensor]:
        noise = self._replica_slice(
            self.model.sample_noise(self.global_batch, self._seed(Stream.TRAINING_NOISE, step, 0))
        )
        variables = self.model.generator.trainable_variables
        with tf.GradientTape() as tape:
            predicted = self.model.teacher_forced(noise, real, training=True)
            spec = self.model.spec
            loss = teacher_forcing_loss(
                real, predicted, self.global_batch, spec.voices, spec.n_tracks
            )
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
        parts = self.strategy.run(self.pretrain_update, args=(next(iterator), step))
        self._update_average(step)
        return self._sum_over_replicas(parts)

    def _update_average(self, step: tf.Tensor) -> None:
        """Fold generator step ``step`` (0-based, just done) into the weight average."""
        if self.average is not None:
            self.average.update(step + 1)

    def _iteration(
        self,
        iterator: Iterator,
        step: tf.Tensor,
        phase: str = GENERATOR_PHASE,
        train_critic: bool = True,
        train_generator: bool = True,
    ) -> dict[str, tf.Tensor]:
        """One iteration of the phase named ``phase``: ``critic_steps`` critic updates, then one
        generator update (a Python string: each phase is traced once).

        A frozen network (``train_critic`` or ``train_generator`` False) computes its loss but
        is not updated; the critic still reads its ``critic_steps`` batches.
        """
        self.trace_count += 1  # runs only while tracing: counts (re)traces
        critic_parts = {}
        real = None
        for sub in range(self.critic_steps):
            real = next(iterator)
            critic_parts = self.strategy.run(
                self.critic_update, args=(real, step, sub, train_critic, phase)
            )
        generator_parts = self.strategy.run(
            self.generator_update, args=(real, step, train_generator, phase)
        )
        if train_generator:  # a frozen generator's step changed nothing to average
            self._update_average(step)
        return self._sum_over_replicas({**critic_parts, **generator_parts})

    def train_step(self, iterator: Iterator, step: int) -> StepResult:
        """Generator step ``step + 1``: teacher-forced while pretraining, else adversarial.

        With freezing on, the last step's losses decide which network sits this step out.
        Afterwards the model is told how many steps are done (:meth:`GANModel.set_step`).
        """
        result = self._train_step(iterator, step)
        self.model.set_step(step + 1)
        return result

    def _train_step(self, iterator: Iterator, step: int) -> StepResult:
        at = tf.constant(step, tf.int64)
        if step < self.pretrain_steps:
            return StepResult(step + 1, _floats(self.pretrain_iteration(iterator, at)))
        phase = self.model.phase_at(step).name
        if self.freeze_ratio is None:
            return StepResult(step + 1, _floats(self.iteration(iterator, at, phase)))
        balance = self.state["balance_losses"]
        critic_loss, generator_loss = (float(v) for v in balance.numpy())
        freeze = freeze_decision(critic_loss, generator_loss, self.freeze_ratio)
        values = _floats(
            self.iteration(iterator, at, phase, not freeze.critic, not freeze.generator)
        )
        balance.assign(self.objective.balance_losses(values))
        self.frozen_steps["critic"] += freeze.critic
        self.frozen_steps["generator"] += freeze.generator
        values.update(frozen_critic=float(freeze.critic), frozen_generator=float(freeze.generator))
        return StepResult(step + 1, values, freeze)

    def generate(
        self, count: int, stream: Stream, real: np.ndarray | None = None, chunk: int = 256
    ) -> np.ndarray:
        """Generate ``count`` phrases from fixed noise (a pure function of the seed and stream),
        with the sampling weights (:meth:`sampling_weights`).

        Args:
            count: phrases to generate.
            stream: the random stream of the noise.
            real: ``(count, bars, steps, pitches, channels)`` in {-1, 1}, the condition tracks
                of a conditional model; else None.
            chunk: phrases per generator call.

        Returns:
            ``(count, bars, steps, pitches, channels)`` ``float32`` in (-1, 1).
        """
        seed = tf.stack([self.seed, tf.constant(int(stream), tf.int64)])
        with self.sampling_weights():
            return self.model.generate_numpy(self.model.sample_noise(count, seed), real, chunk)

    def sampling_weights(self) -> contextlib.AbstractContextManager[None]:
        """Inside: the generator holds the weights that sample (the average, when there is
        one), and its training weights again after."""
        return contextlib.nullcontext() if self.average is None else self.average.applied()


def _optimizer_name(phase: str) -> str:
    """The checkpoint name of a generator phase's optimizer (the first phase's is
    ``generator_optimizer``, as in runs of one phase)."""
    return f"{phase}_optimizer"


def _floats(values: dict[str, tf.Tensor]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()}
