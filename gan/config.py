"""OmegaConf resolvers used by the configs in ``conf/``; importing this module registers them."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

__all__ = ["or_default"]


def or_default(value: Any, default: Any) -> Any:
    """``${or_default:${resume},...}``: the value, or the default when the value is null."""
    return default if value is None else value


if not OmegaConf.has_resolver("or_default"):
    OmegaConf.register_new_resolver("or_default", or_default)
