"""Distribution strategies, numeric precision and the graph optimizer, chosen from the config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

from gan.options import TrainOptions
from gan.precision import PRECISIONS
from pianoroll.errors import UserError

__all__ = [
    "STRATEGIES",
    "check_jit",
    "disable_graph_optimizer",
    "kept_policy",
    "make_strategy",
    "precision_policy",
    "set_determinism",
    "set_precision",
]

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Build a ``tf.distribute`` strategy.

    Args:
        name: ``auto`` (MirroredStrategy over all visible GPUs when there are several, else the
            default strategy), ``mirrored`` (all visible devices of this machine: GPUs, or the
            CPU's logical devices), ``multi_worker`` (MultiWorkerMirroredStrategy configured
            by the ``TF_CONFIG`` environment variable) or ``one_device`` (the first GPU, else
            the CPU).
    """
    if name not in STRATEGIES:
        raise UserError(
            f"train.strategy: unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        )
    if name == "multi_worker":
        # Before anything that initializes TensorFlow (listing devices does): the strategy
        # configures collective ops, which is only possible at startup.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def disable_graph_optimizer() -> None:
    """Run every traced function as traced, without Grappler, for the rest of the process.

    Grappler (TensorFlow's graph optimizer) rewrites a traced function differently from one
    trace to the next (fused and reordered operations), so two processes that trace the same
    training step round its sums differently, and adversarial training grows that last-bit
    difference into another run within a few steps; op determinism alone does not prevent it.
    Without Grappler, the same config trains the same weights in any process, at a cost in
    time and memory (see the README).
    """
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def set_determinism(options: TrainOptions) -> None:
    """Apply a run's determinism policy to the rest of the process.

    TensorFlow's deterministic ops where ``train.deterministic`` (a resumed run equals an
    uninterrupted one), and no Grappler where ``train.graph_optimizer`` is false
    (:func:`disable_graph_optimizer`: any process gives the same weights). Call it before
    anything is traced. Both settings can only be switched on for a process, not off again:
    after a run that set one, a later run in the same process keeps it.

    Args:
        options: the run's checked ``train`` options.
    """
    if options.deterministic:
        tf.config.experimental.enable_op_determinism()
    if not options.graph_optimizer:
        disable_graph_optimizer()


def set_precision(name: str) -> None:
    """Set the Keras global dtype policy (before any layer is built) to one of
    :data:`gan.precision.PRECISIONS`; resolve ``auto`` with :func:`gan.precision.choose_precision`
    first."""
    if name not in PRECISIONS:
        raise UserError(
            f"train.precision: unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}"
        )
    keras.mixed_precision.set_global_policy(name)


@contextlib.contextmanager
def kept_policy() -> Iterator[None]:
    """After the block, the Keras global dtype policy is what it was before it: a run that
    sets its precision leaves the process's other models as they were built."""
    previous = keras.mixed_precision.global_policy()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Inside the block, layers are built with the dtype policy ``name``; after it, the policy
    is what it was (for tools that build models in several precisions in one process)."""
    with kept_policy():
        set_precision(name)
        yield


def check_jit(requested: bool, recurrent: bool, n_gpus: int) -> bool:
    """Whether to XLA-compile the training updates.

    XLA cannot compile cuDNN's recurrent kernel: on a GPU it would run the LSTMs of a
    recurrent model as a slow loop of small kernels instead. So a recurrent model is never
    XLA-compiled on a GPU; asking for it is refused rather than silently slowed down.

    Args:
        requested: ``train.jit_compile``.
        recurrent: the model has recurrent layers (:attr:`gan.model.GANModel.recurrent`).
        n_gpus: GPUs visible to TensorFlow.

    Raises:
        UserError: XLA was requested for a recurrent model on a GPU.
    """
    if requested and recurrent and n_gpus > 0:
        raise UserError(
            "train.jit_compile: XLA would replace the cuDNN LSTM kernel with a slow loop on the"
            " GPU; train this recurrent model with train.jit_compile=false"
        )
    return bool(requested)
