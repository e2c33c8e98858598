"""Strict constructor arguments: unknown names and wrong value types are errors.

Config values come from YAML, so the types to check are few: bool, int, float, str,
None, lists and dicts. Annotations outside that vocabulary (a Tensor, a callable) are
not checked here; the constructor gets the value and may raise ``ValueError`` itself.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
import textwrap
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
        reached = forwarded_names(obj)
        passed = sorted(reached - set(params)) if reached is not None else []
        # What **kwargs reaches in the parents' constructors, where the source shows it.
        parts.append(f"**kwargs: {', '.join(passed)}" if passed else "**kwargs")
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


def _init_owner(cls: type) -> tuple[type, Any] | None:
    """The class in ``cls``'s MRO that defines ``__init__``, and that ``__init__``."""
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            return klass, vars(klass)["__init__"]
    return None


def _is_super_init(call: ast.Call) -> bool:
    """``super().__init__(...)``, ``super(X, self).__init__(...)`` or ``Base.__init__(self, ...)``."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr != "__init__":
        return False
    owner = func.value
    is_super = isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super"
    return is_super or isinstance(owner, ast.Name | ast.Attribute)


def _kwargs_use(init: Any, name: str) -> str:
    """How an ``__init__`` uses its ``**name``: ``unused`` (swallowed), ``super`` (only
    forwarded to the parent's ``__init__``) or ``other`` (anything else, or no source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return "other"
    fn = tree.body[0]
    uses = [n for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == name]
    if not uses:
        return "unused"
    forwarded = [
        kw
        for call in ast.walk(fn)
        if isinstance(call, ast.Call) and _is_super_init(call)
        for kw in call.keywords
        if kw.arg is None and isinstance(kw.value, ast.Name) and kw.value.id == name
    ]
    return "super" if len(forwarded) == len(uses) else "other"


@functools.cache
def forwarded_names(cls: Any) -> frozenset[str] | None:
    """Every argument name a class's ``**kwargs`` really reaches, or None when anything might.

    mmpretrain's heads take ``**kwargs`` and pass them to ``super().__init__``; an
    mmtracking how-to's ``__init__(self, arg1, arg2, *args, **kwargs): pass`` drops them.
    Either way a misspelt argument would vanish: it is checked against the parents' names.
    """
    if not inspect.isclass(cls):
        return None
    names: set[str] = set()
    mro = list(cls.__mro__)
    while mro:
        found = _init_owner(mro[0])
        if found is None or _takes_nothing(found[1]):
            return frozenset(names)
        owner, init = found
        sig = inspect.signature(init)
        names |= {
            n
            for n, p in sig.parameters.items()
            if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        var_kw = next((n for n, p in sig.parameters.items() if p.kind is p.VAR_KEYWORD), None)
        if var_kw is None:
            return frozenset(names)
        use = _kwargs_use(init, var_kw)
        if use == "unused":
            return frozenset(names)
        if use == "other":
            return None
        mro = mro[mro.index(owner) + 1 :]
    return frozenset(names)


def kwargs_problems(
    obj: Callable[..., Any],
    kwargs: Mapping[str, Any],
    *,
    key: str,
    type_name: str,
    required: bool = True,
) -> list[AblateError]:
    """Every unknown argument (counting what ``**kwargs`` passes on), missing required one
    (when ``required``) and value of the wrong type, in that order."""
    params, var_kw = params_of(obj)
    sig = describe(obj, type_name)
    found: list[AblateError] = []
    reached = forwarded_names(obj) if var_kw else frozenset(params)
    for name in kwargs if reached is not None else ():
        if name in reached:  # type: ignore[operator]
            continue
        if var_kw:
            message = (
                f"unknown argument '{name}' for {type_name}"
                f"{did_you_mean(name, sorted(reached))}; accepted, with what its **kwargs "  # type: ignore[arg-type]
                f"passes on: {', '.join(sorted(reached))}"  # type: ignore[arg-type]
            )
        else:
            message = (
                f"unknown argument '{name}' for {type_name}{did_you_mean(name, params)}; "
                f"accepted: {sig}"
            )
        found.append(AblateError(message, key=f"{key}.{name}" if key else name))
    if required:
        found += [
            AblateError(f"{type_name} needs argument '{name}'; signature: {sig}", key=key)
            for name, p in params.items()
            if p.default is _EMPTY and name not in kwargs
        ]
    hints = _hints(obj)
    for name, value in kwargs.items():
        ann = hints.get(name, _EMPTY)
        if not matches(value, ann):
            found.append(
                AblateError(
                    f"expected {ann_name(ann)} for {type_name}.{name}, got {value!r} "
                    f"({type(value).__name__})",
                    key=f"{key}.{name}" if key else name,
                )
            )
    return found


def check_kwargs(
    obj: Callable[..., Any], kwargs: Mapping[str, Any], *, key: str, type_name: str
) -> None:
    """Raise on an unknown argument, a missing required one, or a value of the wrong type."""
    found = kwargs_problems(obj, kwargs, key=key, type_name=type_name)
    if found:
        raise found[0]


def accepts(obj: Callable[..., Any], name: str) -> bool:
    """Whether ``obj``'s constructor takes an argument called ``name``."""
    params, var_kw = params_of(obj)
    return name in params or (var_kw and name in (forwarded_names(obj) or ()))
