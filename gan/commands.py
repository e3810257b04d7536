"""Entry points of the run tools (generate, evaluate, export) for every model package.

Each model package exposes ``python -m <package>.<tool>``; the module there is one line that
calls :func:`tool_main` with its package name, and the work is done here, in :mod:`gan`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hydra
from omegaconf import DictConfig

from pianoroll.errors import exit_on_config_error, exit_on_user_error

__all__ = ["tool_main"]


def tool_main(
    config_name: str, work: Callable[[DictConfig, str], Any], package: str
) -> Callable[[], None]:
    """A Hydra entry point running ``work(cfg, package)`` on ``conf/tools/<config_name>.yaml``.

    Bad input (a :class:`~pianoroll.errors.UserError`) exits with one ``error:`` line, status 2.
    """

    @exit_on_config_error
    @hydra.main(config_path="pkg://conf.tools", config_name=config_name, version_base="1.3")
    @exit_on_user_error
    def main(cfg: DictConfig) -> None:
        work(cfg, package)

    return main
