"""A finished (or interrupted) training run, loaded for generation, evaluation and export."""

from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import Path

import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from gan.averaging import CHECKPOINT_NAME as AVERAGE
from gan.averaging import WeightAverage
from gan.builder import build_model
from gan.checkpoint import Checkpointer
from gan.model import GANModel
from gan.options import TrainOptions
from gan.strategy import set_determinism, set_precision
from pianoroll.errors import UserError, choice_value
from pianoroll.prepare import make_spec
from pianoroll.targets import check_targets, pop_trust

__all__ = ["TrainedRun", "Weights", "load_run", "parse_weights", "read_run_config"]


class Weights(str, enum.Enum):
    """Which generator weights a loaded run samples with (the tools' ``weights`` option)."""

    AVERAGE = "average"  # the weight average where the checkpoint holds one, else the trained
    TRAINED = "trained"  # the weights the last step trained, even where an average is saved

    def __str__(self) -> str:
        return self.value


#: How reports name the weights that sampled.
_WEIGHTS_LABELS = {Weights.AVERAGE: "weight average", Weights.TRAINED: "trained weights"}


def parse_weights(value: object) -> Weights:
    """The ``weights`` option of a tool's config (or a :class:`Weights`).

    Raises:
        UserError: an unknown value; one line naming the option and the choices.
    """
    return choice_value(Weights, value, "weights", error=UserError)


@dataclasses.dataclass
class TrainedRun:
    """A run folder with its generator restored.

    Attributes:
        run_dir: the run folder.
        cfg: its saved (resolved) config.
        model: the networks; the generator holds the checkpoint's weights, or its weight
            average where it holds one (``train.ema_decay``) and ``weights`` asks for it.
        checkpoint: path prefix of the restored checkpoint.
        step: the generator step the checkpoint was written at.
        averaged: whether the generator holds the checkpoint's weight average.
    """

    run_dir: Path
    cfg: DictConfig
    model: GANModel
    checkpoint: str
    step: int
    averaged: bool = False

    @property
    def weights(self) -> Weights:
        """The weights the generator holds: :attr:`Weights.AVERAGE` only where it holds the
        checkpoint's weight average."""
        return Weights.AVERAGE if self.averaged else Weights.TRAINED

    @property
    def weights_label(self) -> str:
        """What the generator's weights are, for reports: ``weight average`` or ``trained
        weights``."""
        return _WEIGHTS_LABELS[self.weights]


def _checkpoint_path(run_dir: Path, checkpoint: str | int | None) -> str | None:
    """The prefix of a named checkpoint (``1000`` or ``ckpt-1000``), or None for the newest."""
    if checkpoint in (None, ""):
        return None
    name = str(checkpoint)
    if re.fullmatch(r"\d+", name):
        name = f"ckpt-{name}"
    prefix = run_dir / "checkpoints" / name
    if not Path(f"{prefix}.index").exists():
        found = sorted(
            (p.name.removesuffix(".index") for p in (run_dir / "checkpoints").glob("ckpt-*.index")),
            key=lambda n: int(n.split("-")[-1]),
        )
        raise UserError(f"{prefix}: no such checkpoint (this run has {', '.join(found) or 'none'})")
    return str(prefix)


def read_run_config(run_dir: Path) -> DictConfig:
    """The saved config of a run folder, without the trust a config cannot grant.

    A run folder is shared data: its config grants no trust (``trusted_targets`` is dropped),
    and what it names is checked (:func:`pianoroll.targets.check_targets`) before anything is
    built from it.

    Raises:
        UserError: no such folder, no ``config.yaml``, an unreadable one, or not a training
            config (no model, data or train section).
    """
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    saved = run_dir / "config.yaml"
    if not saved.exists():
        raise UserError(f"{run_dir}: not a run folder (no config.yaml)")
    try:
        cfg = OmegaConf.load(saved)
    except Exception as err:  # yaml and OmegaConf raise their own types
        raise UserError(f"{saved}: unreadable config ({str(err).splitlines()[0]})") from None
    if not isinstance(cfg, DictConfig) or not {"model", "data", "train"} <= set(cfg):
        raise UserError(f"{saved}: not a training config (no model, data or train section)")
    pop_trust(cfg)
    return cfg


def load_run(
    run_dir: str | Path,
    checkpoint: str | int | None = None,
    package: str | None = None,
    weights: Weights | str = Weights.AVERAGE,
) -> TrainedRun:
    """Rebuild a run's model from its saved config and restore its generator.

    The generator is built in float32 whatever precision it trained in (mixed-precision
    variables are float32), so generation is exact, under the run's determinism policy
    (:func:`gan.strategy.set_determinism`: a run trained with ``train.graph_optimizer=false``
    also generates without Grappler; the policy stays on for the rest of the process).

    Args:
        run_dir: a folder written by ``python -m <package>.train``.
        checkpoint: a step number or ``ckpt-<step>``; None for the newest.
        package: the model package the command belongs to (``musegan``, ``crnngan``); a run
            of another package is refused, naming the command to use.
        weights: :class:`Weights` (or its spelling): the checkpoint's weight average where it
            holds one (the default), or the trained weights in any case.

    Raises:
        UserError: an unknown ``weights``, not a run folder, a config naming an untrusted
            ``_target_`` (see :mod:`pianoroll.targets`), another package's run, a ``train``
            section that fails its checks, no such checkpoint, or a checkpoint of another model
            config (mode or shape).
    """
    weights = parse_weights(weights)
    run_dir = Path(run_dir).expanduser()
    cfg = read_run_config(run_dir)
    check_targets(cfg)
    target = str(cfg.model.get("_target_", ""))
    if package is not None and not target.startswith(f"{package}."):
        owner = target.split(".", 1)[0] or "unknown"
        raise UserError(
            f"{run_dir}: a {owner} run, not a {package} one; use python -m {owner}.<command>"
        )
    path = _checkpoint_path(run_dir, checkpoint)
    try:
        options = TrainOptions.from_config(cfg.train, cfg.get("seed"))
    except UserError as err:
        raise UserError(f"{run_dir / 'config.yaml'}: {err}") from None
    set_determinism(options)
    set_precision("float32")
    model = build_model(cfg, make_spec(cfg.data))
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    seed = tf.Variable(0, dtype=tf.int64, trainable=False, name="seed")
    # Whatever the saved config says (averaging can be switched on when a run is resumed): a
    # checkpoint that holds a weight average samples from it, unless ``weights`` says trained.
    average = WeightAverage(model.generator, None)
    state = {AVERAGE: average.trackable}
    checkpointer = Checkpointer(
        run_dir / "checkpoints", model, None, step, seed, state=state, optional=list(state)
    )
    checkpointer.restore(path, require=True)
    averaged = AVERAGE not in checkpointer.missing and weights is Weights.AVERAGE
    if averaged:
        average.copy_to_network()
    model.set_step(int(step.numpy()))
    latest = path or str(checkpointer.latest)
    return TrainedRun(run_dir, cfg, model, latest, int(step.numpy()), averaged)
