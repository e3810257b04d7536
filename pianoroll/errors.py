"""User-facing errors: one clear line naming the thing and the reason, never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["DataError", "UserError", "exit_on_user_error", "number_option"]

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


def number_option(
    cfg: Mapping[str, Any],
    key: str,
    kind: type = int,
    low: float = 0,
    high: float | None = None,
    positive: bool = False,
) -> Any:
    """A numeric command option of type ``kind``, checked to lie in ``[low, high]`` (or to be
    above 0 with ``positive``).

    Raises:
        UserError: one line naming the key, its value and the allowed range.
    """
    value = cfg.get(key)
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
