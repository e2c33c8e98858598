"""OpenMMLab-style ``.py`` configs, read as data and never executed.

A ``.py`` config is a list of ``name = value`` assignments (``model = dict(type='ResNet',
...)``, ``_base_ = [...]``), as mmengine's are. The values are read from the syntax tree:
literals, ``dict(...)``, ``{...}``, lists, tuples (read as lists, as YAML has none),
arithmetic on numbers, and names assigned earlier in the file. A name that a later line
reads is a variable, not a config key (``num_classes = 10`` used in ``head=dict(...)``),
unless it is a top-level key of ablate's.

Anything else would need running the file (an import, a call other than ``dict``, a
comprehension) and is an error naming its line: ``custom_imports`` stays the only way a
config runs code.
"""

from __future__ import annotations

import ast
import copy
import operator
from collections.abc import Callable, Collection
from typing import Any

from ablate.errors import AblateError

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


class _Reader:
    """Evaluates one file's assignments; ``names`` holds what is assigned so far."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.names: dict[str, Any] = {}
        self.read: set[str] = set()  # names some later line reads

    def fail(self, node: ast.AST, what: str) -> AblateError:
        return AblateError(
            f"line {getattr(node, 'lineno', '?')}: {what}; a .py config is read as data "
            "(literals, dict(...), lists, tuples and names assigned above), never run",
            file=self.file,
        )

    def value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            for k, v in zip(node.keys, node.values):
                if k is None:  # {**other}
                    out.update(self._mapping(v))
                else:
                    out[self._key(k)] = self.value(v)
            return out
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise self.fail(node, f"'{node.id}' is not assigned above")
            self.read.add(node.id)
            return copy.deepcopy(self.names[node.id])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self._number(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.value(node.left), self.value(node.right)
            if not _arithmetic(left, right, node.op):
                raise self.fail(node, f"cannot compute {ast.unparse(node)!r} without running it")
            return _BINOPS[type(node.op)](left, right)
        raise self.fail(node, f"{ast.unparse(node)!r} needs running")

    def _number(self, node: ast.expr) -> int | float:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(node, f"{ast.unparse(node)!r} is not a number")
        return value

    def _key(self, node: ast.expr) -> Any:
        key = self.value(node)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise self.fail(
                node, f"a mapping key must be a string or number, got {ast.unparse(node)!r}"
            )
        return key

    def _mapping(self, node: ast.expr) -> dict[Any, Any]:
        value = self.value(node)
        if not isinstance(value, dict):
            raise self.fail(node, f"**{ast.unparse(node)} is not a dict")
        return value

    def _call(self, node: ast.Call) -> dict[str, Any]:
        if not (isinstance(node.func, ast.Name) and node.func.id == "dict"):
            raise self.fail(node, f"calling {ast.unparse(node.func)}(...) needs running")
        if len(node.args) > 1:
            raise self.fail(node, "dict(...) takes at most one mapping and keywords")
        out: dict[str, Any] = self._mapping(node.args[0]) if node.args else {}
        for kw in node.keywords:
            if kw.arg is None:
                out.update(self._mapping(kw.value))
            else:
                out[kw.arg] = self.value(kw.value)
        return out


def _arithmetic(left: Any, right: Any, op: ast.operator) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if number(left) and number(right):
        return True
    same = type(left) is type(right) and isinstance(left, str | list)
    return same and isinstance(op, ast.Add)


def read_py_config(text: str, file: str, keys: Collection[str]) -> dict[str, Any]:
    """The config a ``.py`` file's assignments define.

    Args:
        text: The file's source.
        file: Its name, for messages.
        keys: ablate's top-level keys: always config keys, even when a later line reads them.

    Raises:
        AblateError: a syntax error, or a statement or expression that needs running,
            naming its line.
    """
    try:
        tree = ast.parse(text, filename=file)
    except SyntaxError as err:
        raise AblateError(f"line {err.lineno}: invalid Python: {err.msg}", file=file) from None
    reader = _Reader(file)
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or a bare string
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            raise reader.fail(
                stmt,
                "imports are not read; name components by their registered name "
                "(type='ResNet') and load your modules with custom_imports",
            )
        target = _target(stmt)
        if target is None:
            raise reader.fail(stmt, f"'{ast.unparse(stmt).splitlines()[0]}' needs running")
        assert isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None
        reader.names[target] = reader.value(stmt.value)
    return {
        name: value
        for name, value in reader.names.items()
        if name in keys or name not in reader.read
    }


def _target(stmt: ast.stmt) -> str | None:
    """``x`` of ``x = ...`` or ``x: T = ...``; None for any other statement."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return stmt.target.id if isinstance(stmt.target, ast.Name) else None
    return None


__all__ = ["read_py_config"]
