"""Checkpoints: weights, optimizer state, step and random state; never pickled objects."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tensorflow as tf

from gan.model import GANModel
from pianoroll.errors import UserError
from pianoroll.io import write_json
from pianoroll.spec import PhraseSpec

__all__ = ["Checkpointer"]


def _unrestored_values_report(record: logging.LogRecord) -> bool:
    """False for TensorFlow's list of unrestored checkpoint values (a logging filter)."""
    message = str(record.msg)
    return not message.startswith(
        ("Detecting that an object or model", "Value in checkpoint could not be found")
    )


def _saved_objects(path: str) -> set[str]:
    """The top-level object names in a checkpoint (``generator``, ``step``, ...)."""
    return {name.split("/", 1)[0] for name, _ in tf.train.list_variables(path)}


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A model's shape config as JSON values, its spec read through :class:`PhraseSpec` so that
    a spec saved before a field existed compares equal to one with that field's default."""
    config = json.loads(json.dumps(config))
    if isinstance(config.get("spec"), dict):
        # An unknown field: the spec is compared as written.
        with contextlib.suppress(TypeError, ValueError):
            config["spec"] = PhraseSpec.from_dict(config["spec"]).to_dict()
    return config


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> str:
    """``<keys> differ: <key>=<saved value>, ...``; a spec's differing fields by name (with
    their saved value when it is a scalar)."""
    keys = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    details = []
    for key in keys:
        old, new = saved.get(key), current.get(key)
        if key == "spec" and isinstance(old, dict) and isinstance(new, dict):
            for field in sorted(f for f in set(old) | set(new) if old.get(f) != new.get(f)):
                value = old.get(field)
                scalar = not isinstance(value, list | dict)
                details.append(f"spec.{field}={value!r}" if scalar else f"spec.{field}")
        else:
            details.append(f"{key}={old!r}")
    return f"{', '.join(keys)} differ: {', '.join(details)}"


class Checkpointer:
    """Saves and restores a training state with ``tf.train.CheckpointManager``.

    A checkpoint holds the generator and critic weights (batch-norm statistics included), both
    optimizers' slots and iteration counts, the generator step and the random seed. The data
    order and every random draw are pure functions of (seed, step), so these restore the whole
    random state. ``tf.train.CheckpointManager`` writes the data files first and then replaces
    the small ``checkpoint`` index atomically, so a kill at any moment leaves the last complete
    checkpoint loadable. ``model.json`` records the model's shape config, so that restoring into
    a model of another mode or shape fails with one clear line.

    Args:
        directory: the checkpoint folder (``<run dir>/checkpoints``).
        model: the networks.
        optimizers: name -> optimizer (built before restoring, so slots restore in place);
            None for inference: then only the generator, step and seed are restored and the
            rest of the checkpoint is ignored.
        step: ``int64`` variable counting generator steps.
        seed: ``int64`` variable holding the run's random seed.
        max_to_keep: checkpoints kept on disk.
        state: more training state by name (variables the trainer keeps besides the step, or
            trackable objects holding them).
        optional: names in ``state`` that a checkpoint may lack (state an option adds, which
            a run can switch on when resumed): restored where present; :attr:`missing` lists
            those the last restored checkpoint lacked.
    """

    def __init__(
        self,
        directory: str | Path,
        model: GANModel,
        optimizers: dict[str, Any] | None,
        step: tf.Variable,
        seed: tf.Variable,
        max_to_keep: int = 3,
        state: dict[str, Any] | None = None,
        optional: Iterable[str] = (),
    ) -> None:
        self.directory = Path(directory)
        self.model = model
        self.inference = optimizers is None
        networks = (
            {"generator": model.generator}
            if self.inference
            else {"generator": model.generator, "critic": model.critic, **optimizers}
        )
        self.objects: dict[str, Any] = {"step": step, "seed": seed, **networks, **(state or {})}
        self.optional = frozenset(optional) & self.objects.keys()
        #: The top-level objects of the last restored checkpoint (``generator``, ``step``, ...).
        self.saved: frozenset[str] = frozenset()
        #: The optional state the last restored checkpoint lacked (left as it was).
        self.missing: frozenset[str] = frozenset()
        self.checkpoint = tf.train.Checkpoint(**self.objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep)

    @property
    def latest(self) -> str | None:
        """Path prefix of the newest complete checkpoint, or None."""
        return self.manager.latest_checkpoint

    def save(self, step: int) -> str:
        """Write a checkpoint for ``step``; returns its path prefix."""
        if self.inference:
            raise RuntimeError("an inference checkpointer holds no training state to save")
        model_json = self.directory / "model.json"
        if not model_json.exists():
            write_json(model_json, self.model.config())
        return self.manager.save(checkpoint_number=step)

    def restore(self, path: str | None = None, require: bool = False) -> bool:
        """Restore the newest (or the given) checkpoint.

        Args:
            path: a checkpoint prefix (``.../ckpt-1000``); None for the newest.
            require: raise when there is none (else return False).

        Returns:
            Whether a checkpoint was restored (:attr:`missing` says which optional state it
            lacked).

        Raises:
            UserError: there is none and ``require``; or it belongs to another model config.
        """
        path = path or self.latest
        if path is None:
            if require:
                raise UserError(f"{self.directory}: no checkpoint to load")
            return False
        model_json = self.directory / "model.json"
        if model_json.exists():
            saved = _comparable(json.loads(model_json.read_text()))
            current = _comparable(self.model.config())
            if saved != current:
                raise UserError(
                    f"{path}: checkpoint is of another model ({_differences(saved, current)})"
                )
        status = None
        try:
            self.saved = frozenset(_saved_objects(path))
            self.missing = self.optional - self.saved
            reader = self.checkpoint
            if self.missing:
                objects = {k: v for k, v in self.objects.items() if k not in self.missing}
                reader = tf.train.Checkpoint(**objects)
            status = reader.restore(path)
            status.assert_existing_objects_matched()
            # Checked above: everything built matches. What remains is either not wanted
            # (inference skips the critic and optimizers) or restored when first created
            # (optimizer slots, the save counter); a run that stops before creating it must
            # not print TensorFlow's list of unrestored values at exit.
            status.expect_partial()
        except (tf.errors.OpError, IndexError, AssertionError, ValueError) as err:
            # Refused. Without expect_partial, TensorFlow lists every unmatched value when the
            # half-restored objects are deleted; a raise inside restore() leaves no status to
            # call it on, so that report is filtered instead.
            if status is not None:
                status.expect_partial()
            else:
                tf.get_logger().addFilter(_unrestored_values_report)
            if isinstance(err, tf.errors.OpError | IndexError):
                # A missing, truncated or overwritten file: TensorFlow's reader raises an
                # OpError, or an IndexError on a data file shorter than its index says.
                reason = getattr(err, "message", None) or str(err)
                raise UserError(
                    f"{path}: checkpoint cannot be read ({reason.splitlines()[0]})"
                ) from None
            # A shape mismatch raises inside restore(); a missing or extra object in the
            # assertion.
            raise UserError(
                f"{path}: checkpoint does not fit this model ({str(err).splitlines()[0]})"
            ) from None
        return True
