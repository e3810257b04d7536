"""Entry points of the run tools (generate, evaluate, export) for every model package.

Each model package exposes ``python -m <package>.<tool>``; the module there is one line that
calls :func:`tool_main` with its package name, and the work is done here, in :mod:`gan`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from pianoroll.cli import command

__all__ = ["tool_main"]


def tool_main(
    config_name: str, work: Callable[[DictConfig, str], Any], package: str
) -> Callable[[], None]:
    """A Hydra entry point running ``work(cfg, package)`` on ``conf/tools/<config_name>.yaml``.

    Bad input (a :class:`~pianoroll.errors.UserError`) exits with one ``error:`` line, status 2
    (see :func:`pianoroll.cli.command`).
    """

    @command("pkg://conf.tools", config_name)
    def main(cfg: DictConfig) -> None:
        work(cfg, package)

    return main
