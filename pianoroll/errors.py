"""User-facing errors: one clear line naming the thing and the reason, never a traceback."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "DataError",
    "UserError",
    "config_error_line",
    "exit_on_config_error",
    "exit_on_user_error",
    "number_option",
    "number_value",
]

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """An error caused by the user's input or environment, reported as one line.

    The message names the thing (a file, a config key, a run directory) and the reason.
    """


class DataError(UserError):
    """A data file or data directory that cannot be used.

    Attributes:
        reason: a short category for skip counts (``"unreadable"``, ``"no notes"``, ...).
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or "unusable"


def exit_on_user_error(fn: F) -> F:
    """Decorate a command-line entry point: a :class:`UserError` exits with one line, status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


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


def exit_on_config_error(main: F) -> F:
    """Decorate a ``@hydra.main`` entry point (outside it): a config that cannot be composed
    (an unknown key, a missing option, an override that does not parse) exits with one
    ``error:`` line and status 2 instead of Hydra's several lines.

    Hydra prints such errors itself unless ``HYDRA_FULL_ERROR`` is set, in which case it raises
    them; the variable is set for the call, and a user who set it gets Hydra's full report.
    """

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hydra.errors import CompactHydraException

        if os.environ.get("HYDRA_FULL_ERROR"):
            return main(*args, **kwargs)
        os.environ["HYDRA_FULL_ERROR"] = "1"
        try:
            return main(*args, **kwargs)
        except CompactHydraException as err:
            print(f"error: {config_error_line(err)}", file=sys.stderr)
            sys.exit(2)
        finally:
            os.environ.pop("HYDRA_FULL_ERROR", None)

    return wrapper  # type: ignore[return-value]


def number_value(
    key: str,
    value: Any,
    kind: type = int,
    low: float = 0,
    high: float | None = None,
    positive: bool = False,
) -> Any:
    """``value`` as a number of type ``kind``, checked to lie in ``[low, high]`` (or to be
    above 0 with ``positive``); ``key`` names it in the error.

    Raises:
        UserError: one line naming the key, its value and the allowed range.
    """
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if kind is int and (isinstance(value, bool) or (isinstance(value, float) and number != value)):
        number = None  # int() would truncate 2.5 or read True as 1
    if positive:
        bad = number is None or not number > 0
        limits = "above 0"
    else:
        bad = number is None or number < low or (high is not None and number > high)
        limits = f"in [{low}, {high}]" if high is not None else f"at least {low}"
    if bad:
        raise UserError(f"{key}={value}: must be a number {limits}")
    return number


def number_option(
    cfg: Mapping[str, Any],
    key: str,
    kind: type = int,
    low: float = 0,
    high: float | None = None,
    positive: bool = False,
) -> Any:
    """The command option ``cfg[key]`` checked by :func:`number_value`."""
    return number_value(key, cfg.get(key), kind, low, high, positive)
