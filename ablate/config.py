"""Config files: safe YAML, ``_base_`` inheritance, ``key.path=value`` overrides, custom_imports.

A config is plain data. The only way a config runs code is ``custom_imports``, which imports
the named modules so their ``@X.register_module()`` decorators run.

Every loaded config remembers which file set each key, so an error deep in a merged config
names the file the user has to edit.
"""

from __future__ import annotations

import copy
import importlib
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ablate.errors import AblateError, did_you_mean

CLI = "<command line>"

#: Top-level keys of a training config; sweep files add the last three.
TOP_LEVEL_KEYS = (
    "name",
    "description",
    "_base_",
    "custom_imports",
    "model",
    "model_cfg",  # OpenGait's name for model
    "data",
    "optimizer",
    "losses",
    "loss_cfg",  # OpenGait's name for losses
    "train",
    "evaluation",
    "search",
    "tune",
    "scaling",
)


@dataclass
class Config:
    """A merged config and where each of its keys came from.

    Attributes:
        data: The merged mapping (``_base_`` resolved, overrides applied).
        file: The file the user named.
        origins: Dotted key -> the file (or ``<command line>``) that set it last.
        order: The files in the order they were applied (bases first, the command line last).
    """

    data: dict[str, Any]
    file: str
    origins: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def file_of(self, key: str) -> str:
        """The file that set ``key``, or the nearest parent key's file.

        For a mapping (``model.head``) whose keys were set by several files, the file applied
        last: a child that changes one argument of a head defined in a base is where the
        user's last edit, and so most likely the mistake, is.
        """
        parts = key.split(".")
        found = self.file
        while parts:
            hit = self.origins.get(".".join(parts))
            if hit is not None:
                found = hit
                break
            parts.pop()
        below = {f for k, f in self.origins.items() if k.startswith(key + ".")}
        if below - {found} and self.order:
            rank = {f: i for i, f in enumerate(self.order)}
            found = max(below | {found}, key=lambda f: rank.get(f, -1))
        return found

    def error(self, message: str, key: str, hint: str | None = None) -> AblateError:
        return AblateError(message, file=self.file_of(key), key=key, hint=hint)

    def locate(self, err: AblateError) -> AblateError:
        """Fill in the file of an error raised with only a key."""
        return err.located(file=self.file_of(err.key) if err.key else self.file)

    def get(self, key: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping.

    PyYAML keeps the last value silently; in an ablation the first one would then be an
    edit that changes nothing.
    """


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`, merged by PyYAML
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
            seen[key] = line
        except TypeError:  # an unhashable key; construct_mapping reports it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (first set on line {first})",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 reads `1e-4` (no dot) as a string; every learning rate is written that way.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """Parse YAML text as plain data: no object tags, no duplicate keys, ``1e-4`` a float."""
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: plain data only


def read_yaml(path: Path) -> dict[str, Any]:
    """Load one YAML file safely. Errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AblateError("file not found", file=_display(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise AblateError(f"cannot read file: {err}", file=_display(path)) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        if "could not determine a constructor" in str(err):
            problem = "YAML object tags are not allowed; a config is plain data"
        raise AblateError(f"invalid YAML: {problem}", file=_display(path), key=line) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AblateError(
            f"expected a mapping at the top, got {type(data).__name__}", file=_display(path)
        )
    return data


def merge(
    base: dict[str, Any],
    over: Mapping[str, Any],
    origins: dict[str, str],
    source: str | Mapping[str, str],
    prefix: str = "",
) -> dict[str, Any]:
    """Deep-merge ``over`` into a copy of ``base``; later wins. ``_delete_: true`` replaces.

    ``source`` is the file ``over`` came from, or, when ``over`` is itself a merged tree
    (a ``_base_`` with bases of its own), its key -> file map, so every key keeps the file
    that really set it.
    """
    out = dict(base)
    for key, value in over.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value.get("_delete_"):
            value = {k: v for k, v in value.items() if k != "_delete_"}
            _drop_origins(origins, path)
            out[key] = copy.deepcopy(value)
            _record(origins, path, value, source)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            origins[path] = origins.get(path, _source_of(source, path))
            out[key] = merge(out[key], value, origins, source, f"{path}.")
        else:
            _drop_origins(origins, path)
            out[key] = copy.deepcopy(value)
            _record(origins, path, value, source)
    return out


def _source_of(source: str | Mapping[str, str], path: str) -> str:
    if isinstance(source, str):
        return source
    parts = path.split(".")
    while parts:
        found = source.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return CLI


def _record(
    origins: dict[str, str], path: str, value: Any, source: str | Mapping[str, str]
) -> None:
    origins[path] = _source_of(source, path)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _record(origins, f"{path}.{k}", v, source)


def _drop_origins(origins: dict[str, str], path: str) -> None:
    for k in [k for k in origins if k == path or k.startswith(path + ".")]:
        del origins[k]


def _load_tree(
    path: Path, chain: tuple[Path, ...], order: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """One file merged over its ``_base_`` files, and the file that set each key.

    ``order`` collects the files in the order they are applied.
    """
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise AblateError(f"_base_ cycle: {cycle}", file=_display(chain[-1]), key="_base_")
    raw = read_yaml(path)
    bases = raw.pop("_base_", None)
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if bases is not None:
        if isinstance(bases, str):
            bases = [bases]
        if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
            raise AblateError(
                "expected a path or a list of paths", file=_display(path), key="_base_"
            )
        for base in bases:
            base_path = path.parent / base
            if not base_path.is_file():
                raise AblateError(
                    f"base config '{base}' not found (looked at {base_path})",
                    file=_display(path),
                    key="_base_",
                )
            base_data, base_origins = _load_tree(base_path, (*chain, path), order)
            merged = merge(merged, base_data, origins, base_origins)
    order.append(_display(path))
    return merge(merged, raw, origins, _display(path)), origins


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_override(text: str) -> tuple[str, Any]:
    """``model.head.dropout=0.1`` -> ``('model.head.dropout', 0.1)``; values are YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise AblateError(f"override '{text}' is not of the form key.path=value", file=CLI)
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_override(
    data: dict[str, Any], key: str, value: Any, origins: dict[str, str] | None = None
) -> None:
    """Set ``data[a][b][c] = value`` for ``key='a.b.c'``; a number indexes a list (``losses.0.x``)."""
    node: Any = data
    parts = key.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[: i + 1])
        step: Any = part
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise AblateError(
                    f"cannot set '{key}': '{'.'.join(parts[:i])}' is a list of {len(node)}; "
                    f"expected an index 0 to {len(node) - 1} at '{where}'",
                    file=CLI,
                    key=key,
                )
            step = int(part)
        if i == len(parts) - 1:
            node[step] = value
            break
        nxt = node[step] if isinstance(node, list) else node.get(step)
        if nxt is None:
            nxt = node[step] = {}
        if not isinstance(nxt, dict | list):
            raise AblateError(
                f"cannot set '{key}': '{where}' is {nxt!r}, not a mapping", file=CLI, key=key
            )
        node = nxt
    if origins is not None:
        _drop_origins(origins, key)
        _record(origins, key, value, CLI)


def load_config(
    path: str | Path, overrides: Iterable[str] = (), *, run_imports: bool = True
) -> Config:
    """Load, merge and override a config, then run its ``custom_imports``.

    Raises:
        AblateError: unreadable or invalid YAML, a missing or cyclic ``_base_``, a bad
            override, an unknown top-level key, or a failed custom import.
    """
    path = Path(path)
    if not path.exists():
        raise AblateError("config file not found", file=str(path))
    overrides = list(overrides)
    order: list[str] = []
    data, origins = _load_tree(path, (), order)
    for text in overrides:
        key, value = parse_override(text)
        apply_override(data, key, value, origins)
    if overrides:
        order.append(CLI)
    cfg = Config(data, _display(path.resolve()), origins, order)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise cfg.error(
                f"unknown top-level key '{key}'{did_you_mean(key, TOP_LEVEL_KEYS)}; "
                f"expected one of {', '.join(k for k in TOP_LEVEL_KEYS if k != '_base_')}",
                key,
            )
    if run_imports:
        import_custom(cfg)
    return cfg


def import_custom(cfg: Config) -> list[str]:
    """Import ``custom_imports.imports``, OpenMMLab style. Returns the modules imported."""
    spec = cfg.data.get("custom_imports")
    if spec is None:
        return []
    if isinstance(spec, list):  # the short form: custom_imports: [pkg.mod]
        spec = {"imports": spec}
    if not isinstance(spec, Mapping):
        raise cfg.error(
            "expected {imports: [module, ...], allow_failed_imports: false}", "custom_imports"
        )
    unknown = set(spec) - {"imports", "allow_failed_imports"}
    if unknown:
        name = sorted(unknown)[0]
        raise cfg.error(
            f"unknown key '{name}'{did_you_mean(name, ['imports', 'allow_failed_imports'])}",
            f"custom_imports.{name}",
        )
    imports = spec.get("imports", [])
    if isinstance(imports, str):
        imports = [imports]
    if not isinstance(imports, list) or not all(isinstance(m, str) for m in imports):
        raise cfg.error("expected a list of module names", "custom_imports.imports")
    allow_failed = bool(spec.get("allow_failed_imports", False))
    # As `python -m` would: a plugin package in the working directory is importable.
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    done = []
    for name in imports:
        try:
            importlib.import_module(name)
        except ImportError as err:
            if allow_failed:
                print(f"warning: custom_imports: skipped '{name}': {err}", file=sys.stderr)
                continue
            raise cfg.error(
                f"cannot import '{name}': {err}",
                "custom_imports.imports",
                hint=f"sys.path is {sys.path}",
            ) from None
        except AblateError as err:  # e.g. a duplicate registration while importing
            raise cfg.error(f"importing '{name}': {err}", "custom_imports.imports") from None
        done.append(name)
    return done
