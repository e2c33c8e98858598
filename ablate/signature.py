"""Strict constructor arguments: unknown names and wrong value types are errors.

Config values come from YAML, so the types to check are few: bool, int, float, str,
None, lists and dicts. Annotations outside that vocabulary (a Tensor, a callable) are
not checked here; the constructor gets the value and may raise ``ValueError`` itself.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ablate.errors import AblateError, did_you_mean

_EMPTY = inspect.Parameter.empty


def _takes_nothing(target: Any) -> bool:
    """``object.__init__``, or ``torch.nn.Module.__init__`` (checked without importing torch:
    a module class exists only once torch is imported)."""
    if target is object.__init__:
        return True
    nn = sys.modules.get("torch.nn")
    return nn is not None and target is nn.Module.__init__


def params_of(obj: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    """Named keyword parameters of ``obj`` and whether it takes ``**kwargs``."""
    target = obj.__init__ if inspect.isclass(obj) else obj  # type: ignore[misc]
    if _takes_nothing(target):
        # nn.Module.__init__(*args, **kwargs) accepts anything and then raises TypeError:
        # a module that defines no __init__ takes no arguments.
        return {}, False
    sig = inspect.signature(target)
    params: dict[str, inspect.Parameter] = {}
    var_kw = False
    for name, p in sig.parameters.items():
        if name == "self":
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            params[name] = p
    return params, var_kw


def _hints(obj: Callable[..., Any]) -> dict[str, Any]:
    target = obj.__init__ if inspect.isclass(obj) else obj  # type: ignore[misc]
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward refs: check nothing rather than guess
        return {}


def ann_name(annotation: Any) -> str:
    """An annotation as Python spells it, shortest form: ``'max' | 'min'``, ``int | None``."""
    if annotation is _EMPTY:
        return ""
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(ann_name(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def describe(obj: Callable[..., Any], name: str | None = None) -> str:
    """``Name(a: int, b: float = 0.5)``, the signature as a user writes the config."""
    params, var_kw = params_of(obj)
    hints = _hints(obj)
    parts = []
    for p in params.values():
        text = p.name
        ann = hints.get(p.name, p.annotation)
        if ann is not _EMPTY:
            text += f": {ann_name(ann)}"
        if p.default is not _EMPTY:
            text += f" = {p.default!r}"
        parts.append(text)
    if var_kw:
        parts.append("**kwargs")
    return f"{name or getattr(obj, '__name__', '?')}({', '.join(parts)})"


def matches(value: Any, annotation: Any) -> bool:
    """Whether a YAML value fits an annotation. Unknown annotations always fit."""
    if annotation is _EMPTY or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if annotation is type(None) or annotation is None:
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence, typing.Sequence) or annotation in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        inner = args[0] if args else _EMPTY
        return all(matches(v, inner) for v in value)
    if origin in (dict, Mapping, typing.Mapping) or annotation in (dict,):
        return isinstance(value, Mapping)
    return True


def check_kwargs(
    obj: Callable[..., Any], kwargs: Mapping[str, Any], *, key: str, type_name: str
) -> None:
    """Raise on an unknown argument, a missing required one, or a value of the wrong type."""
    params, var_kw = params_of(obj)
    sig = describe(obj, type_name)
    if not var_kw:
        for name in kwargs:
            if name not in params:
                raise AblateError(
                    f"unknown argument '{name}' for {type_name}{did_you_mean(name, params)}; "
                    f"accepted: {sig}",
                    key=f"{key}.{name}" if key else name,
                )
    for name, p in params.items():
        if p.default is _EMPTY and name not in kwargs:
            raise AblateError(f"{type_name} needs argument '{name}'; signature: {sig}", key=key)
    hints = _hints(obj)
    for name, value in kwargs.items():
        ann = hints.get(name, _EMPTY)
        if not matches(value, ann):
            raise AblateError(
                f"expected {ann_name(ann)} for {type_name}.{name}, got {value!r} "
                f"({type(value).__name__})",
                key=f"{key}.{name}" if key else name,
            )


def accepts(obj: Callable[..., Any], name: str) -> bool:
    """Whether ``obj``'s constructor takes an argument called ``name``."""
    params, _ = params_of(obj)
    return name in params
