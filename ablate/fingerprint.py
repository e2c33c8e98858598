"""A fingerprint of the code a trial runs: ablate, its plugins (the built-in components
among them), and the sweep's ``custom_imports``. Incremental sweeps use it to re-run
finished trials only when asked to (``--rerun-changed-code``) and the code they ran with has
changed since."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path

from ablate.registry import plugin_modules


def _sources(module: str) -> Iterator[tuple[str, Path]]:
    """``(path relative to the module's root, file)`` for every source file of ``module``."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return
    if spec.submodule_search_locations:  # a package: every .py below it
        for loc in spec.submodule_search_locations:
            for path in sorted(Path(loc).rglob("*.py")):
                yield path.relative_to(loc).as_posix(), path
    elif spec.origin.endswith(".py"):
        yield Path(spec.origin).name, Path(spec.origin)


def code_fingerprint(imports: Iterable[str] = ()) -> str:
    """12 hex digits over the source text of ablate, its plugins and ``imports``."""
    digest = hashlib.sha256()
    plugins = sorted(p.module for p in plugin_modules())  # the same order on every machine
    for module in dict.fromkeys(("ablate", *plugins, *imports)):
        for rel, path in _sources(module):
            digest.update(f"{module}/{rel}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
