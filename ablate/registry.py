"""Flat registries: one per component kind, plus ``MODELS``, and one per extension point
(search strategies, schedulers, report sections). No scopes, no parents.

A registry maps a name to a class (or a factory function). ``build`` turns a config dict
``{'type': name, **kwargs}`` into an object, checking every kwarg against the constructor's
signature so that a typo can never become an ablation that changes nothing.

Nested builds carry their config path: inside the build of ``model.head``,
``LOSSES.build(cfg, key='loss')`` reports errors as ``model.head.loss``.

The registry knows no plugin by name. On its first lookup a registry imports every module
of its entry-point group, and those ``ABLATE_PLUGINS`` names (comma-separated; a shipped
cluster job sets it, where no package metadata is):

- ``ablate.components`` for the component registries: the built-ins, ``ablate_components``,
  are one such plugin, and a third-party component package adds its own the same way;
- ``ablate.extensions`` for strategies, schedulers and report sections, so that a report
  (which builds no model) does not import the components, and with them torch.
"""

from __future__ import annotations

import contextvars
import importlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

from ablate.errors import AblateError, did_you_mean
from ablate.signature import check_kwargs, describe

T = TypeVar("T")

COMPONENTS_GROUP = "ablate.components"
EXTENSIONS_GROUP = "ablate.extensions"
PLUGINS_ENV = "ABLATE_PLUGINS"

_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("ablate_build_key", default=None)
_LOADED: set[str] = set()  # the modules imported as plugins so far
_GROUPS_LOADED: set[str] = set()


@dataclass(frozen=True)
class Plugin:
    """A module that registers things when imported.

    Attributes:
        module: Its import name.
        source: Where it was declared, for messages.
        dist: The distribution that declares it (``ablate`` for the built-ins), if known.
    """

    module: str
    source: str
    dist: str | None = None


def plugin_modules(groups: tuple[str, ...] = (COMPONENTS_GROUP, EXTENSIONS_GROUP)) -> list[Plugin]:
    """Every plugin of ``groups``' entry points, then those ``ABLATE_PLUGINS`` names."""
    found: dict[str, Plugin] = {}
    eps = [ep for group in groups for ep in metadata.entry_points(group=group)]
    for ep in sorted(eps, key=lambda ep: (ep.group, ep.value)):
        dist = ep.dist.name if ep.dist is not None else None
        module = ep.value.partition(":")[0].strip()
        where = f"entry point '{ep.name}' of {dist or 'an unknown package'}"
        found.setdefault(module, Plugin(module, where, dist))
    for module in os.environ.get(PLUGINS_ENV, "").split(","):
        if module.strip():
            found.setdefault(module.strip(), Plugin(module.strip(), PLUGINS_ENV))
    return list(found.values())


def load_plugins(group: str = COMPONENTS_GROUP) -> None:
    """Import every plugin module of ``group`` not imported yet (a registry's first lookup).

    Raises:
        AblateError: a declared plugin module cannot be imported (tried again next time).
    """
    if group in _GROUPS_LOADED:
        return
    for plugin in plugin_modules((group,)):
        if plugin.module in _LOADED:
            continue
        _LOADED.add(plugin.module)  # first: a plugin's own lookups must not import it again
        try:
            importlib.import_module(plugin.module)
        except ImportError as err:
            _LOADED.discard(plugin.module)
            raise AblateError(
                f"cannot import plugin '{plugin.module}' ({plugin.source}): {err}",
                hint="reinstall the package that declares it, or fix the module name",
            ) from None
    _GROUPS_LOADED.add(group)


def current_key() -> str | None:
    """The config path of the component being built right now, if any."""
    return _KEY.get()


def join_key(parent: str | None, child: str | None) -> str:
    return ".".join(p for p in (parent, child) if p)


def culprit(message: str, cfg: Mapping[str, Any]) -> str | None:
    """The config argument a constructor's error message names first, if any.

    ``depth must be one of [18, 34, 50]`` came from ``depth``; pointing at that key (and so
    at the file, or the command line, that set it) beats pointing at the whole component.
    """
    found = [
        (m.start(), name)
        for name in cfg
        if name != "type" and (m := re.search(rf"\b{re.escape(str(name))}\b", message))
    ]
    return min(found)[1] if found else None


class Registry:
    """A flat name -> class table for one component kind.

    Args:
        kind: Human name of the kind, used in messages (``'backbone'``).
        fallback: A registry consulted when a name is missing here (``MODELS``),
            so a class registered in ``MODELS`` fits every slot.
        ordered: List names in registration order (extension points, whose built-ins
            come in a meaningful order), else alphabetically.
        group: The entry-point group whose plugins fill it (:func:`load_plugins`).
    """

    def __init__(
        self,
        kind: str,
        fallback: Registry | None = None,
        ordered: bool = False,
        group: str = COMPONENTS_GROUP,
    ) -> None:
        self.kind = kind
        self.fallback = fallback
        self.ordered = ordered
        self.group = group
        self._table: dict[str, Callable[..., Any]] = {}

    def _sorted(self, names: Any) -> list[str]:
        return list(names) if self.ordered else sorted(names)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._table)} entries)"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not None

    def __iter__(self) -> Iterator[str]:
        load_plugins(self.group)
        return iter(self._sorted(self._table))

    def __len__(self) -> int:
        load_plugins(self.group)
        return len(self._table)

    def items(self) -> list[tuple[str, Callable[..., Any]]]:
        load_plugins(self.group)
        return [(name, self._table[name]) for name in self._sorted(self._table)]

    def register_module(
        self,
        name: str | None = None,
        force: bool = False,
        module: Callable[..., Any] | None = None,
    ) -> Any:
        """Register a class, as a decorator (``@BACKBONES.register_module()``) or directly.

        Raises:
            AblateError: the name is taken and ``force`` is False. The message names the
                module that already holds it.
        """

        def _register(obj: T) -> T:
            key = name or obj.__name__  # type: ignore[attr-defined]
            held = self._table.get(key)
            if held is not None and held is not obj and not force:
                raise AblateError(
                    f"{self.kind} '{key}' is already registered by {held.__module__}."
                    f"{held.__qualname__}",
                    hint="pick another name, or pass force=True to replace it",
                )
            self._table[key] = obj  # type: ignore[assignment]
            return obj

        if module is not None:
            return _register(module)
        if name is not None and not isinstance(name, str):
            raise TypeError("register_module(name=...) takes a string; use @X.register_module()")
        return _register

    def _lookup(self, name: str) -> Callable[..., Any] | None:
        found = self._table.get(name)
        if found is None:
            load_plugins(self.group)
            found = self._table.get(name)
        if found is None and self.fallback is not None:
            found = self.fallback._lookup(name)
        return found

    def names(self) -> list[str]:
        """Every name usable in this slot, fallback included."""
        load_plugins(self.group)
        names = dict.fromkeys(self._table)
        if self.fallback is not None:
            names.update(dict.fromkeys(self.fallback.names()))
        return self._sorted(names)

    def get(self, name: str, *, key: str | None = None) -> Callable[..., Any]:
        """The registered class for ``name``.

        Raises:
            AblateError: unknown name, with a close match and the ``custom_imports`` hint.
        """
        found = self._lookup(name)
        if found is None:
            raise AblateError(
                f"unknown {self.kind} type '{name}'{did_you_mean(name, self.names())}",
                key=key,
                hint=(
                    "if it lives in your own module, add that module to "
                    "custom_imports: {imports: [...]}; `ablate components` lists what is registered"
                ),
            )
        return found

    def build(
        self, cfg: Mapping[str, Any] | Any, key: str | None = None, **default_args: Any
    ) -> Any:
        """Build one component from ``{'type': name, **kwargs}``.

        Args:
            cfg: The config dict. A non-dict (an already built module) is returned as is.
            key: Config path for messages; relative to the enclosing build, if any.
            **default_args: Arguments the caller supplies (a dataset's ``split``); a
                config value for the same argument wins.

        Raises:
            AblateError: unknown type, unknown or mistyped argument, or a ``ValueError``
                from the constructor (a bad value), all naming the full config path.
        """
        full_key = join_key(current_key(), key)
        if not isinstance(cfg, Mapping):
            if cfg is None or isinstance(cfg, str | int | float | list | bool):
                raise AblateError(
                    f"expected a {self.kind} config dict with a 'type' key, got {cfg!r}",
                    key=full_key,
                )
            return cfg
        if "type" not in cfg:
            raise AblateError(
                f"a {self.kind} config needs a 'type' key, got keys {sorted(cfg)}",
                key=full_key,
            )
        type_name = cfg["type"]
        if not isinstance(type_name, str):
            raise AblateError(f"'type' must be a string, got {type_name!r}", key=f"{full_key}.type")
        obj = self.get(type_name, key=f"{full_key}.type" if full_key else "type")
        kwargs = {**default_args, **{k: v for k, v in cfg.items() if k != "type"}}
        check_kwargs(obj, kwargs, key=full_key, type_name=type_name)
        token = _KEY.set(full_key)
        try:
            return obj(**kwargs)
        except AblateError as err:
            culprit_key = culprit(err.message, cfg) if err.key is None else None
            raise err.located(key=join_key(full_key, culprit_key)) from None
        except ValueError as err:
            raise AblateError(
                f"{type_name}: {err}", key=join_key(full_key, culprit(str(err), cfg))
            ) from err
        except Exception as err:
            err.add_note(f"while building {full_key or self.kind} (type={type_name})")
            raise
        finally:
            _KEY.reset(token)

    def describe(self, name: str) -> str:
        """``Name(arg: type = default, ...)`` for ``ablate components`` and messages."""
        return describe(self.get(name), name)


MODELS = Registry("model")
BACKBONES = Registry("backbone", fallback=MODELS)
NECKS = Registry("neck", fallback=MODELS)
HEADS = Registry("head", fallback=MODELS)
LOSSES = Registry("loss", fallback=MODELS)
DATASETS = Registry("dataset", fallback=MODELS)
#: Metrics are components too (``evaluation.metrics``), but no model class fits their slot.
METRICS = Registry("metric")
SAMPLERS = Registry("sampler")  # batches of training items (``data.sampler``)

REGISTRIES: dict[str, Registry] = {
    "backbones": BACKBONES,
    "necks": NECKS,
    "heads": HEADS,
    "losses": LOSSES,
    "datasets": DATASETS,
    "models": MODELS,
    "metrics": METRICS,
    "samplers": SAMPLERS,
}


def find_component(type_name: str) -> Callable[..., Any] | None:
    """The class registered as ``type_name`` in any component registry, or None."""
    for registry in REGISTRIES.values():
        if type_name in registry:
            return registry.get(type_name)
    return None
