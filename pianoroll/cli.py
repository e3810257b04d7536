"""Command-line entry points: one decorator for every command.

:func:`command` composes a command's config with Hydra and runs the command. Whatever goes
wrong in the user's hands ends in one line on standard error and an exit status, never a
traceback:

- a config Hydra cannot compose (an unknown key, a missing option, an override that does not
  parse): ``error: ...``, status 2 (``HYDRA_FULL_ERROR=1`` still gives Hydra's full report);
- bad input (a :class:`~pianoroll.errors.UserError`): ``error: ...``, status 2;
- an interruption (:class:`Interrupted`, or Ctrl-C): its message, status 128 + signal number.

It also registers the prefixes the command line trusts (``trusted_targets=[...]``, see
:mod:`pianoroll.targets`) for the command's run, and removes the key from its config.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import hydra
from hydra.errors import CompactHydraException
from omegaconf import DictConfig

from pianoroll.errors import UserError
from pianoroll.targets import pop_trust, trusting

__all__ = ["Interrupted", "command", "config_error_line"]


class Interrupted(Exception):
    """A command stopped by a signal; :func:`command` exits with status 128 + ``signum``.

    Attributes:
        signum: the signal's number.
    """

    def __init__(self, signum: int, message: str = "interrupted") -> None:
        super().__init__(message)
        self.signum = signum


#: Detail lines of OmegaConf's messages that repeat what the first line says.
_DETAILS = ("full_key:", "object_type=", "reference_type=", "Config search path")


def config_error_line(err: BaseException) -> str:
    """One line for a config Hydra could not compose: its message and its cause's, joined.

    ``train.foo=1`` gives "Could not override 'train.foo'; Key 'foo' is not in struct; To
    append to your config use +train.foo=1"; ``+mode=nonsense`` gives "In 'musegan': Could not
    find 'mode/nonsense'; choose one of composer, hybrid, jamming".
    """
    options = getattr(err, "options", None)
    text = str(err).split("\nConfig search path")[0]
    lines = [line.strip().rstrip(".") for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(_DETAILS)]
    if options:
        lines = [lines[0], f"choose one of {', '.join(options)}"]
    cause = err.__cause__
    if cause is not None:
        said = str(cause).strip()
        first = said.splitlines()[0].strip().rstrip(".") if said else ""
        if first and first not in lines:
            lines.insert(1, first)
    override = getattr(err, "override", None)  # a parse error does not name its override
    return (f"{override}: " if override else "") + "; ".join(lines)


def _exit(err: BaseException) -> NoReturn:
    """Print the one line of a refused or interrupted command and exit with its status."""
    if isinstance(err, KeyboardInterrupt):
        err = Interrupted(signal.SIGINT)
    if isinstance(err, Interrupted):
        line, status = str(err), 128 + err.signum
    elif isinstance(err, UserError):
        line, status = f"error: {err}", 2
    else:
        line, status = f"error: {config_error_line(err)}", 2
    print(line, file=sys.stderr)
    sys.exit(status)


def command(
    config_path: str, config_name: str
) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """Decorate ``work(cfg)`` into a command-line entry point on a Hydra config.

    Args:
        config_path: Hydra's config path (``pkg://conf``).
        config_name: the primary config's name (``musegan``).

    Returns:
        A decorator; the entry point it makes takes no arguments (Hydra reads ``sys.argv``)
        and exits as the module docstring says.
    """

    def decorate(work: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        # wraps: Hydra names the job and finds the calling module through __wrapped__.
        @hydra.main(config_path=config_path, config_name=config_name, version_base="1.3")
        @functools.wraps(work)
        def task(cfg: DictConfig) -> Any:
            try:
                with trusting(pop_trust(cfg)):
                    return work(cfg)
            except (UserError, Interrupted, KeyboardInterrupt) as err:
                # Here, inside Hydra's job: an exception leaving it would make Hydra log it.
                _exit(err)

        @functools.wraps(work)
        def main() -> Any:
            full_report = bool(os.environ.get("HYDRA_FULL_ERROR"))
            # Hydra prints a config error itself in several lines unless this is set; set, it
            # raises, and the error becomes one line below.
            os.environ["HYDRA_FULL_ERROR"] = "1"
            try:
                return task()
            except CompactHydraException as err:
                if full_report:
                    raise
                _exit(err)
            finally:
                if not full_report:
                    os.environ.pop("HYDRA_FULL_ERROR", None)

        return main

    return decorate
