"""User-facing errors: one clear line naming the thing and the reason, never a traceback."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = [
    "DataError",
    "UserError",
    "choice_value",
    "number_option",
    "number_value",
]


class UserError(Exception):
    """An error caused by the user's input or environment, reported as one line.

    The message names the thing (a file, a config key, a run directory) and the reason.
    """


class DataError(UserError):
    """A data file or data directory that cannot be used.

    Attributes:
        reason: a short category for skip counts (``"unreadable"``, ``"no notes"``, ...).
        report: counts of what reading found before refusing (sections by meter...), for the
            summary.
    """

    def __init__(
        self, message: str, reason: str | None = None, report: Mapping[str, int] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason or "unusable"
        self.report = dict(report or {})


Choice = TypeVar("Choice", bound=enum.Enum)


def choice_value(
    kind: type[Choice],
    value: Any,
    key: str,
    noun: str | None = None,
    error: type[Exception] = ValueError,
) -> Choice:
    """The member of the enum ``kind`` spelled ``value`` (a member passes through): every
    option with a fixed set of spellings is read by this one function.

    Args:
        kind: an enum whose values are the spellings.
        value: a spelling, or a member of ``kind``.
        key: the option's name in the error (``model.output``).
        noun: what a value is, for a config key's error (``key: unknown noun 'value'; ...``);
            None for a command option's (``key=value: ...``).
        error: the exception class raised (:class:`UserError` where the caller reports the
            message as it is).

    Raises:
        error: one line naming ``key``, the value and the choices.
    """
    if isinstance(value, kind):
        return value
    try:
        return kind(str(value))
    except ValueError:
        said = f"{key}={value}:" if noun is None else f"{key}: unknown {noun} {value!r};"
        choices = ", ".join(str(member.value) for member in kind)
        raise error(f"{said} choose one of {choices}") from None


def number_value(
    key: str,
    value: Any,
    kind: type = int,
    low: float = 0,
    high: float | None = None,
    positive: bool = False,
) -> Any:
    """``value`` as a number of type ``kind``, checked to lie in ``[low, high]`` (or to be
    above 0 with ``positive``); ``key`` names it in the error. A boolean, NaN or an infinity
    is not a number here (YAML reads ``true``, ``nan`` and ``inf`` as such).

    Raises:
        UserError: one line naming the key, its value and the allowed range.
    """
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or (kind is int and isinstance(value, float) and number != value):
        number = None  # int() would truncate 2.5, and any kind would read True as 1
    if number is not None and not math.isfinite(number):
        number = None
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
