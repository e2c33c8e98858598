"""What OpenGait code expects of its framework, in ablate's terms.

- **Classes found by name.** OpenGait looks its models and losses up by class name, with no
  registry decorator. A :class:`~ablate.nn.model.BaseModel` or
  :class:`~ablate.nn.losses.BaseLoss` subclass defined in a module the config's
  ``custom_imports`` names is registered under its class name when a model is built
  (:func:`adopt`). It replaces a built-in of the same name (OpenGait's ``TripletLoss`` and
  ``CrossEntropyLoss`` are not ablate's), so the user's class never silently loses.
- **Tuple inputs.** OpenGait models unpack ``ipts, labs, typs, viws, seqL = inputs``;
  :func:`opengait_inputs` turns ablate's batch dict into that tuple in front of such a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ablate.errors import AblateError
from ablate.registry import Registry

#: Every BaseModel/BaseLoss subclass defined so far, with the registry it belongs in.
_DEFINED: list[tuple[Registry, type]] = []
#: (registry, name) -> the entry an adopted class replaced, restored by :func:`forget`.
_SHADOWED: dict[tuple[Registry, str], Any] = {}


def remember(registry: Registry, cls: type) -> None:
    """Called by ``__init_subclass__``: ``cls`` may be adopted by :func:`adopt` later.

    A module imported again (after ``sys.modules`` forgot it) defines its classes again:
    the new class replaces the old one."""
    _DEFINED[:] = [(r, c) for r, c in _DEFINED if not (r is registry and _same(c, cls))]
    _DEFINED.append((registry, cls))


def _same(a: Any, b: type) -> bool:
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        b.__module__,
        b.__qualname__,
    )


def _within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def adopt(packages: Iterable[str]) -> list[str]:
    """Register the undecorated BaseModel and BaseLoss subclasses of ``packages`` (and their
    submodules) under their class names.

    Returns:
        ``'<name>: <new module> replaces <old module>'`` for each built-in that a class of
        ``packages`` replaces (now or in an earlier call).

    Raises:
        AblateError: two classes of ``packages`` share a name in one registry.
    """
    packages = list(packages)
    replaced = []
    for registry, cls in _DEFINED:
        if not _within(cls.__module__, packages) or cls.__name__.startswith("_"):
            continue
        name = cls.__name__
        held = registry._table.get(name)
        if held is cls or any(obj is cls for obj in registry._table.values()):
            continue  # registered already (a decorator, or an earlier build)
        if held is not None and _within(held.__module__, packages) and not _same(held, cls):
            raise AblateError(
                f"{registry.kind} '{name}' is defined twice: in {held.__module__} and "
                f"{cls.__module__}",
                hint="rename one of them",
            )
        if held is not None and not _within(held.__module__, packages):
            _SHADOWED.setdefault((registry, name), held)
        registry._table[name] = cls
    for (registry, name), old in _SHADOWED.items():
        new = registry._table.get(name)
        if new is not None and _within(new.__module__, packages):
            replaced.append(f"{name}: {new.__module__} replaces {old.__module__}")
    return replaced


def forget(package: str) -> None:
    """Undo :func:`adopt` for ``package``: its classes go, the entries they replaced return."""
    for registry, cls in list(_DEFINED):
        if _within(cls.__module__, [package]):
            _DEFINED.remove((registry, cls))
            if registry._table.get(cls.__name__) is cls:
                del registry._table[cls.__name__]
                old = _SHADOWED.pop((registry, cls.__name__), None)
                if old is not None:
                    registry._table[cls.__name__] = old


#: ``data.batch_format`` values: ablate's batch dict, or OpenGait's 5-tuple.
BATCH_FORMATS = ("dict", "opengait")


def as_opengait(batch: Mapping[str, Any]) -> tuple[Any, ...]:
    """``(ipts, labs, typs, viws, seqL)`` of a batch dict, OpenGait's ``inputs``.

    ``ipts`` is the list of input modalities: ``[inputs]`` for one tensor (N, S, H, W), or
    ``inputs`` itself when a dataset item gives a list of them. ``typs``, ``viws`` and
    ``seqL`` come from the batch's ``types``, ``views`` and ``seqL`` entries, or are None.
    """
    inputs = batch["inputs"]
    ipts = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    return ipts, batch["labels"], batch.get("types"), batch.get("views"), batch.get("seqL")


def opengait_inputs(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A forward pre-hook: a model called with a batch dict receives OpenGait's tuple."""
    if len(args) == 1 and isinstance(args[0], Mapping):
        return (as_opengait(args[0]),)
    return None


__all__ = ["BATCH_FORMATS", "adopt", "as_opengait", "forget", "opengait_inputs", "remember"]
