"""Training options: one frozen, typed object built and checked once from a run's config.

:meth:`TrainOptions.from_config` reads the ``train`` section (plus the run's ``seed``), refuses
nonsense in one line naming the key, and everything after it (the run builder, the trainer,
the periodic tasks, the experiment and benchmark scripts) reads typed fields instead of the
config node.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pianoroll.errors import UserError, number_value

__all__ = ["INTERVALS", "Intervals", "TrainOptions", "intervals"]


@dataclasses.dataclass(frozen=True)
class Intervals:
    """Generator steps between two runs of each kind of periodic work; 0: only at the end.

    The last step always logs, samples, evaluates and checkpoints.
    """

    log_every: int = 0
    checkpoint_every: int = 0
    sample_every: int = 0
    eval_every: int = 0


#: Config keys of periodic work, in generator steps; 0 (or null) means only at the end.
INTERVALS = tuple(field.name for field in dataclasses.fields(Intervals))


def intervals(train_cfg: Any) -> Intervals:
    """The periodic-work intervals of a ``train`` config node, checked.

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
    return Intervals(**result)


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """What a training run does, checked (see ``conf/train/`` for each key's meaning and unit).

    Attributes:
        seed: the run's seed; weights, noise, data order and transpositions follow from it.
        steps: generator steps, pretraining steps included.
        critic_steps: critic updates per generator update.
        batch_size: the global batch, summed over replicas.
        generator_lr, critic_lr, beta_1, beta_2: Adam's settings.
        lr_decay: linear decay to 0 over the adversarial steps.
        lr_decay_start: share of each optimizer's updates at the full rate before the decay
            starts, in [0, 1).
        ema_decay: the generator's weight average (:mod:`gan.averaging`) decays by this per
            generator step, in [0, 1); 0: no average, samples come from the raw weights.
        ema_start: generator steps done before the average starts (until then it copies the
            weights); pretraining steps are never averaged.
        pretrain_steps: first generator steps spent on teacher-forced pretraining.
        pretrain_lr: Adam's learning rate while pretraining; None: ``generator_lr``.
        freeze_ratio: freeze a network whose loss is below this share of the other's; None:
            never.
        strategy: ``auto``, ``mirrored``, ``multi_worker`` or ``one_device``.
        precision: ``auto``, ``float32``, ``mixed_bfloat16`` or ``mixed_float16`` (the run
            builder resolves ``auto``, see :mod:`gan.precision`).
        jit_compile: XLA-compile the per-replica updates.
        deterministic: TensorFlow's op determinism (a resumed run equals an uninterrupted one).
        graph_optimizer: Grappler on; off (:func:`gan.strategy.disable_graph_optimizer`), two
            processes training the same config end with the same weights.
        intervals: the periodic work's intervals.
        keep_checkpoints: checkpoints kept on disk.
        n_samples: phrases per sample set.
        sample_audio: also render the threshold samples to WAV and log them.
        eval_samples: phrases generated for each evaluation.
    """

    seed: int
    steps: int
    critic_steps: int
    batch_size: int
    generator_lr: float
    critic_lr: float
    beta_1: float
    beta_2: float
    lr_decay: bool = False
    lr_decay_start: float = 0.0
    ema_decay: float = 0.0
    ema_start: int = 0
    pretrain_steps: int = 0
    pretrain_lr: float | None = None
    freeze_ratio: float | None = None
    strategy: str = "auto"
    precision: str = "float32"
    jit_compile: bool = False
    deterministic: bool = True
    graph_optimizer: bool = True
    intervals: Intervals = Intervals()
    keep_checkpoints: int = 3
    n_samples: int = 16
    sample_audio: bool = False
    eval_samples: int = 256

    @property
    def adversarial_steps(self) -> int:
        """Generator steps after pretraining (none when the run stops while pretraining)."""
        return max(self.steps - self.pretrain_steps, 0)

    @property
    def averaging_start(self) -> int:
        """Generator steps done before the weight average starts (pretraining included)."""
        return max(self.ema_start, self.pretrain_steps)

    @classmethod
    def from_config(cls, train_cfg: Any, seed: Any) -> TrainOptions:
        """Read and check a ``train`` config node and the run's seed.

        Raises:
            UserError: one line naming the key, its value and the allowed range.
        """
        seed = number_value("seed", seed)
        get = train_cfg.get
        # More pretraining than train.steps is allowed: the run stops while pretraining and
        # can be resumed with more steps.
        pretrain = get("pretrain_steps")
        pretrain_lr = get("pretrain_lr")
        ratio = get("freeze_ratio")
        options = cls(
            seed=seed,
            steps=number_value("train.steps", get("steps"), low=1),
            critic_steps=number_value("train.critic_steps", get("critic_steps"), low=1),
            batch_size=number_value("train.batch_size", get("batch_size"), low=1),
            generator_lr=number_value(
                "train.generator_lr", get("generator_lr"), float, positive=True
            ),
            critic_lr=number_value("train.critic_lr", get("critic_lr"), float, positive=True),
            beta_1=number_value("train.beta_1", get("beta_1"), float, 0.0, 1.0),
            beta_2=number_value("train.beta_2", get("beta_2"), float, 0.0, 1.0),
            lr_decay=bool(get("lr_decay")),
            lr_decay_start=number_value(
                "train.lr_decay_start", get("lr_decay_start", 0.0), float, 0.0
            ),
            ema_decay=number_value("train.ema_decay", get("ema_decay", 0.0), float, 0.0),
            ema_start=number_value("train.ema_start", get("ema_start", 0)),
            pretrain_steps=0
            if pretrain is None
            else number_value("train.pretrain_steps", pretrain),
            pretrain_lr=None
            if pretrain_lr is None
            else number_value("train.pretrain_lr", pretrain_lr, float, positive=True),
            freeze_ratio=None
            if ratio is None
            else number_value("train.freeze_ratio", ratio, float),
            strategy=str(get("strategy")),
            precision=str(get("precision")),
            jit_compile=bool(get("jit_compile")),
            deterministic=bool(get("deterministic")),
            graph_optimizer=bool(get("graph_optimizer", True)),
            intervals=intervals(train_cfg),
            keep_checkpoints=number_value("train.keep_checkpoints", get("keep_checkpoints"), low=1),
            n_samples=number_value("train.n_samples", get("n_samples"), low=1),
            sample_audio=bool(get("sample_audio", False)),
            eval_samples=number_value("train.eval_samples", get("eval_samples"), low=1),
        )
        if options.lr_decay_start >= 1.0:
            raise UserError(f"train.lr_decay_start: {options.lr_decay_start} is not in [0, 1)")
        if options.lr_decay_start and not options.lr_decay:
            raise UserError(
                f"train.lr_decay_start: {options.lr_decay_start} does nothing without"
                " train.lr_decay=true"
            )
        if options.ema_decay >= 1.0:
            raise UserError(f"train.ema_decay: {options.ema_decay} is not in [0, 1) (0: off)")
        if options.ema_start and not options.ema_decay:
            raise UserError(
                f"train.ema_start: {options.ema_start} does nothing without train.ema_decay > 0"
            )
        if options.freeze_ratio is not None and not 0.0 < options.freeze_ratio < 1.0:
            raise UserError(f"train.freeze_ratio: {options.freeze_ratio} is not in (0, 1)")
        return options
