"""OmegaConf resolvers used by the configs in ``conf/``; importing this module registers them."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from pianoroll.errors import UserError

__all__ = ["bars_for_steps", "or_default"]


def or_default(value: Any, default: Any) -> Any:
    """``${or_default:${resume},...}``: the value, or the default when the value is null."""
    return default if value is None else value


def bars_for_steps(steps: Any, steps_per_beat: Any, beats_per_bar: Any) -> int:
    """``${bars_for_steps:${model.seq_len},...}``: the bars that hold a sequence of ``steps``.

    Raises:
        UserError: ``steps`` is not a positive whole number of bars.
    """
    steps, per_bar = int(steps), int(steps_per_beat) * int(beats_per_bar)
    if steps < 1 or steps % per_bar:
        raise UserError(
            f"model.seq_len: {steps} steps is not a positive whole number of {per_bar}-step bars"
        )
    return steps // per_bar


for _name, _resolver in (("or_default", or_default), ("bars_for_steps", bars_for_steps)):
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _resolver)
