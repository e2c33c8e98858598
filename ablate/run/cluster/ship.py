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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Shipped:
    """What a cluster needs of this machine's code.

    Attributes:
        packages: ``import name -> directory``, for ``py_modules``: ``ablate`` and its own
            plugins (the built-in components), then each other plugin's and
            ``custom_imports`` module's top-level package that is not an installed package.
        files: Single-file plugin modules; the Jobs API ships only directories as
            ``py_modules``, so these go into the staged ``working_dir``, which is on the
            cluster's ``PYTHONPATH`` too.
        plugins: The plugin modules the cluster is to import (those that ship).
    """

    packages: dict[str, str]
    files: list[str]
    plugins: list[str]


def shipped_code(imports: Iterable[str]) -> Shipped:
    """What of this machine's code a sweep with these ``custom_imports`` needs on a cluster.

    Raises:
        AblateError: a plugin is a namespace package spread over several directories.
    """
    packages: dict[str, str] = {}
    files: list[str] = []
    plugins: list[str] = []
    for name in ["ablate", *(p.module for p in plugin_modules() if p.dist == "ablate")]:
        top = name.split(".")[0]
        packages.setdefault(top, str(_module_path(importlib.import_module(top))))
        if name != "ablate":
            plugins.append(name)
    others = [p.module for p in plugin_modules() if p.dist != "ablate"]
    for name in [*others, *imports]:
        top = name.split(".")[0]
        if top in packages:
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
            continue  # the cluster installs its own; a plugin it lacks fails there, named
        if hasattr(mod, "__path__"):
            packages[top] = path
        else:
            files.append(path)
        if name in others:
            plugins.append(name)
    return Shipped(packages, list(dict.fromkeys(files)), plugins)


def staged_config(data: dict[str, Any], name: str) -> str:
    """The fully merged sweep as YAML: no ``_base_`` left to resolve on the cluster."""
    import yaml

    body = {k: v for k, v in data.items() if k != "_base_"}
    return yaml.safe_dump({"name": name, **{k: v for k, v in body.items() if k != "name"}})


def stage(plan: SweepPlan) -> tuple[Path, dict[str, Any]]:
    """A fresh staging directory and the runtime env that ships it: nothing of this
    machine's environment.

    ``<stage>/work/`` is the ``working_dir`` (the sweep as ``<name>.yaml``, single-file
    plugins). A package whose directory is not named as it is imported (``components/``,
    which installs as ``ablate_components``) is copied to ``<stage>/py/<import name>``: Ray
    ships a ``py_modules`` directory under its own name. The cluster may have no package
    metadata for what ships, so the env names the plugins to import
    (:data:`ablate.registry.PLUGINS_ENV`).
    """
    shipped = shipped_code(plan.imports)
    where = Path(tempfile.mkdtemp(prefix="ablate-stage-"))
    work = where / "work"
    work.mkdir()
    (work / f"{plan.name}.yaml").write_text(staged_config(plan.cfg.data, plan.name))
    for f in shipped.files:
        shutil.copy2(f, work / Path(f).name)
    modules = []
    for name, path in shipped.packages.items():
        if Path(path).name != name:
            copy = where / "py" / name
            shutil.copytree(path, copy, ignore=shutil.ignore_patterns(*EXCLUDES))
            path = str(copy)
        modules.append(path)
    env = {
        "working_dir": str(work),
        "py_modules": modules,
        "excludes": list(EXCLUDES),
        "env_vars": {**SHIPPED_ENV, PLUGINS_ENV: ",".join(shipped.plugins)},
    }
    return where, env


__all__ = ["EXCLUDES", "SHIPPED_ENV", "Shipped", "shipped_code", "stage", "staged_config"]
