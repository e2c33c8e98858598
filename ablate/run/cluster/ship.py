"""What a cluster needs of this machine to run a sweep: its code and the fully merged sweep.

The runtime env carries no environment of this machine: the cluster's Ray token is the
cluster's, and secrets never ship.
"""

from __future__ import annotations

import importlib
import shutil
import site
import sys
import sysconfig
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from ablate.errors import AblateError
from ablate.plan import SweepPlan
from ablate.registry import PLUGINS_ENV, plugin_modules

EXCLUDES = ["__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache", ".ruff_cache"]
#: What every process of a shipped sweep needs; nothing of this machine's environment.
SHIPPED_ENV = {"RAY_CHDIR_TO_TRIAL_DIR": "0", "PYTHONUNBUFFERED": "1"}


def _module_path(mod: ModuleType) -> str | None:
    paths = list(getattr(mod, "__path__", []) or [])
    if paths:
        return str(paths[0]) if len(paths) == 1 else None
    return getattr(mod, "__file__", None)


def _installed(path: str) -> bool:
    """In site-packages or the standard library: the cluster installs its own."""
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    roots |= set(site.getsitepackages()) | {site.getusersitepackages()}
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(r).resolve()) for r in roots if r)


def shipped_code(imports: Iterable[str]) -> tuple[list[str], list[str]]:
    """What a cluster needs of this machine's code: ``(packages, files)``.

    ``packages`` are directories for ``py_modules``: ``ablate`` and its own plugins (the
    built-in components), then each other plugin's and ``custom_imports`` module's top-level
    package that is not an installed package. ``files`` are single-file plugin modules; the
    Jobs API ships only directories as ``py_modules``, so these go into the staged
    ``working_dir``, which is on the cluster's ``PYTHONPATH`` too.

    Raises:
        AblateError: a plugin is a namespace package spread over several directories.
    """
    plugins = plugin_modules()
    own = [p.module.split(".")[0] for p in plugins if p.dist == "ablate"]
    packages = [_module_path(importlib.import_module("ablate"))]
    packages += [_module_path(importlib.import_module(top)) for top in own]
    others = [p.module for p in plugins if p.dist != "ablate"]
    files: list[str] = []
    for name in [*others, *imports]:
        top = name.split(".")[0]
        if top == "ablate" or top in own:
            continue
        mod = sys.modules.get(top) or importlib.import_module(top)
        path = _module_path(mod)
        if path is None:
            raise AblateError(
                f"cannot ship the plugin package '{top}': it spans several directories "
                f"({', '.join(map(str, mod.__path__))})",
                key="custom_imports",
                hint="give it an __init__.py, or install it on the cluster",
            )
        if _installed(path):
            continue
        (packages if hasattr(mod, "__path__") else files).append(path)
    return list(dict.fromkeys(str(p) for p in packages if p)), list(dict.fromkeys(files))


def staged_config(data: dict[str, Any], name: str) -> str:
    """The fully merged sweep as YAML: no ``_base_`` left to resolve on the cluster."""
    import yaml

    body = {k: v for k, v in data.items() if k != "_base_"}
    return yaml.safe_dump({"name": name, **{k: v for k, v in body.items() if k != "name"}})


def stage(plan: SweepPlan) -> tuple[Path, dict[str, Any]]:
    """A fresh staging directory (the sweep as ``<name>.yaml``, single-file plugins) and the
    runtime env that ships it with the code: nothing of this machine's environment.

    The cluster may have no package metadata for what ships, so the env names the plugins
    to import (:data:`ablate.registry.PLUGINS_ENV`).
    """
    packages, files = shipped_code(plan.imports)
    where = Path(tempfile.mkdtemp(prefix="ablate-stage-"))
    (where / f"{plan.name}.yaml").write_text(staged_config(plan.cfg.data, plan.name))
    for f in files:
        shutil.copy2(f, where / Path(f).name)
    env = {
        "working_dir": str(where),
        "py_modules": packages,
        "excludes": list(EXCLUDES),
        "env_vars": {
            **SHIPPED_ENV,
            PLUGINS_ENV: ",".join(p.module for p in plugin_modules()),
        },
    }
    return where, env


__all__ = ["EXCLUDES", "SHIPPED_ENV", "shipped_code", "stage", "staged_config"]
