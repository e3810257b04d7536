"""Which ``_target_`` of a config may be built: the one gate between a config and Hydra.

A run folder is data that researchers share, yet its ``config.yaml`` names classes that Hydra
imports and calls, recursively. So every ``_target_`` of a node, nested in dicts and lists,
is checked before anything is called: it must be a class of the project's own packages
(``pianoroll``, ``gan``, ``musegan``, ``crnngan``), or anything of a module prefix the user
trusts explicitly, on the command line (``trusted_targets=[mylab.nets]``, registered by
:func:`pianoroll.cli.command` through :func:`trusting`) or in the environment
(``MUSEGAN_TRUSTED_TARGETS=mylab.nets,other``). A saved run config never grants trust:
:func:`pop_trust` removes the key from every config that is loaded.

Prefixes match on module boundaries: ``gan`` trusts ``gan.objectives.WassersteinGP`` but not
``gandalf.Wizard``. A target is also located (with Hydra's own lookup, importing only trusted
modules) and must be defined in a trusted module: ``pianoroll.prepare.os.system`` starts with
a project prefix but is ``os.system``.
"""

from __future__ import annotations

import contextlib
import os
import re
import types
from collections.abc import Iterator
from typing import Any

import hydra.utils
from hydra._internal.utils import _locate
from omegaconf import OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from pianoroll.errors import UserError

__all__ = [
    "PROJECT_PACKAGES",
    "TRUST_ENV",
    "TRUST_KEY",
    "buildable",
    "check_targets",
    "instantiate",
    "pop_trust",
    "trusting",
]

#: The packages whose classes a config may always name.
PROJECT_PACKAGES = ("pianoroll", "gan", "musegan", "crnngan")

#: The top-level config key of the prefixes trusted on the command line.
TRUST_KEY = "trusted_targets"

#: The environment variable of more trusted prefixes, separated by commas.
TRUST_ENV = "MUSEGAN_TRUSTED_TARGETS"

_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

#: Prefixes trusted by the running command's command line (see :func:`trusting`).
_command_line: tuple[str, ...] = ()


def _prefixes(values: Any, source: str) -> tuple[str, ...]:
    """Module prefixes from a list (or one string) given by ``source``, checked.

    A trailing dot is allowed (``mylab.``); an empty entry is skipped, never read as "every
    module".
    """
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    prefixes = []
    for value in values:
        name = str(value).strip().rstrip(".")
        if not name:
            continue
        if not _MODULE_NAME.fullmatch(name):
            raise UserError(f"{source}: {value!r} is not a module name (such as mylab.nets)")
        prefixes.append(name)
    return tuple(prefixes)


@contextlib.contextmanager
def trusting(values: Any) -> Iterator[None]:
    """Trust the module prefixes ``values`` (a list, one string or None) inside the block.

    The command-line entry points call this with the command line's ``trusted_targets``.

    Raises:
        UserError: a value is not a module name.
    """
    global _command_line
    before = _command_line
    _command_line = _prefixes(values, TRUST_KEY)
    try:
        yield
    finally:
        _command_line = before


def pop_trust(cfg: Any) -> Any:
    """Remove the top-level ``trusted_targets`` key from a config and return its value.

    Every loaded run config goes through this: trust comes from the person running the
    command, never from a file, and a config saved after this cannot carry it on.
    """
    if not OmegaConf.is_dict(cfg) or TRUST_KEY not in cfg:
        return None
    # A saved config's value is never used: an unresolvable one must not stop the command.
    value = OmegaConf.select(cfg, TRUST_KEY, throw_on_resolution_failure=False)
    with open_dict(cfg):
        del cfg[TRUST_KEY]
    return value


def _user_prefixes() -> tuple[str, ...]:
    return _command_line + _prefixes(os.environ.get(TRUST_ENV, "").split(","), TRUST_ENV)


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


def _refusal(key: str, target: Any, note: str = "") -> UserError:
    note = f" ({note})" if note else ""
    return UserError(
        f"{key}: refused {target}{note}: a config may name classes of"
        f" {', '.join(PROJECT_PACKAGES)} and what a module you trust holds"
        f" ({TRUST_KEY}=[<module>] on the command line, or {TRUST_ENV})"
    )


_NOT_FOUND = object()

#: The kinds of thing a config may build from the project's own packages: subclasses of these
#: bases (a model, an objective, a data source, a generator config). The modules that define
#: the bases register them with :func:`buildable`; importing a target's module imports its base.
_BUILDABLE: list[type] = []


def buildable(base: type) -> type:
    """Class decorator: the project's subclasses of ``base`` may be built from a config.

    Other project classes (a run tracker, a checkpointer) act on files when they are built, so
    a shared run folder's config must not name them.
    """
    _BUILDABLE.append(base)
    return base


def _find(target: str) -> Any:
    """What Hydra's lookup finds at ``target``, or ``_NOT_FOUND``."""
    try:
        return _locate(target)
    except Exception:  # an import error, a missing attribute, an invalid path
        return _NOT_FOUND


def _check_target(key: str, target: Any) -> None:
    """Refuse one ``_target_`` value unless it is trusted (see the module docstring)."""
    users = _user_prefixes()
    if not isinstance(target, str) or not _within(target, PROJECT_PACKAGES + users):
        raise _refusal(key, target)
    # Hydra's own lookup; the prefix check above means it imports trusted modules only.
    found = _find(target)
    if found is _NOT_FOUND:
        return  # Hydra fails the same way when building: "<what>: cannot be built (...)"
    if isinstance(found, types.ModuleType):
        defined_in = found.__name__
    else:
        defined_in = getattr(found, "__module__", None)
    if not isinstance(defined_in, str) or not _within(defined_in, PROJECT_PACKAGES + users):
        # An attribute path can leave the package: pianoroll.prepare.os.system is os.system.
        raise _refusal(key, target, f"defined in {defined_in}")
    if _within(defined_in, users):
        return
    if not isinstance(found, type):
        # The project's functions (write_json, ...) are helpers, not things to build: a
        # config that calls one could write any file.
        raise _refusal(key, target, "not a class")
    if not issubclass(found, tuple(_BUILDABLE)):
        raise _refusal(key, target, "not a model, objective, data source or generator config")


def _resolved(node: Any, what: str) -> Any:
    """``node`` as plain dicts and lists, its interpolations resolved.

    Raises:
        UserError: an interpolation cannot be resolved (a resolver's own error if it raised
            one).
    """
    if not OmegaConf.is_config(node):
        return node
    try:
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException as err:
        # OmegaConf drops the explicit cause unless debugging; the context keeps it.
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise UserError(f"{what or 'config'}: {str(err).splitlines()[0]}") from None


def _walk(node: Any, key: str) -> None:
    node = _resolved(node, key)  # a config inside plain values (keyword arguments)
    if isinstance(node, dict):
        for name, value in node.items():
            inner = f"{key}.{name}" if key else str(name)
            if name == "_target_":
                _check_target(inner, value)
            else:
                _walk(value, inner)
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            _walk(value, f"{key}[{index}]")


def check_targets(node: Any, what: str = "") -> Any:
    """Check every ``_target_`` of a config node, nested in dicts and lists, before any is
    built; return the node as plain dicts and lists, its interpolations resolved.

    Args:
        node: a config node (or plain dicts and lists).
        what: the node's config key (``model``), naming the refused key
            (``model.evil._target_``); empty for a whole config.

    Raises:
        UserError: one line naming the first untrusted key and its target.
    """
    plain = _resolved(node, what)
    _walk(plain, what)
    return plain


def instantiate(
    node: Any, what: str, kind: type | None = None, partial: bool = False, **kwargs: Any
) -> Any:
    """Build a config node's ``_target_`` with Hydra, after :func:`check_targets`.

    Args:
        node: the config node.
        what: its config key, naming it in errors (``model``, ``data.source``).
        kind: the type the result must have; a target class that is not a subclass is refused
            before it is called.
        partial: build the node as a partial and call it with ``kwargs`` (which then reach the
            constructor as they are, not as config values); else ``kwargs`` are Hydra's.
        **kwargs: more arguments.

    Raises:
        UserError: an untrusted target, a target that cannot be built (one line naming
            ``what``), or a result that is not a ``kind``.
    """
    plain = check_targets(node, what)
    if not partial:
        check_targets(kwargs, what)  # Hydra merges them into the node
    target = plain.get("_target_") if isinstance(plain, dict) else None
    found = _find(target) if kind is not None and isinstance(target, str) else None
    if kind is not None and isinstance(found, type) and not issubclass(found, kind):
        raise _not_a(what, found.__name__, kind)
    try:
        if partial:
            built = hydra.utils.instantiate(plain, _partial_=True)(**kwargs)
        else:
            built = hydra.utils.instantiate(plain, **kwargs)
    except UserError:
        raise
    except Exception as err:  # hydra wraps errors raised by the target's constructor
        cause = err.__cause__ or err
        if isinstance(cause, UserError):
            raise cause from None
        raise UserError(f"{what}: cannot be built ({str(cause).splitlines()[0]})") from None
    if kind is not None and not isinstance(built, kind):
        raise _not_a(what, type(built).__name__, kind)
    return built


def _not_a(what: str, name: str, kind: type) -> UserError:
    return UserError(f"{what}: {name} is not a {kind.__module__}.{kind.__name__}")
