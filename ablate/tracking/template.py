"""A new SQLite store starts as a copy of an empty one, already migrated.

MLflow builds a new SQLite store by creating its first tables and then running every schema
migration since (60-odd alembic scripts): 2 to 4 s on this project's 2-core machine, on
the path of every first ``ablate run`` in a new directory. The first new store this machine
opens with a schema revision is kept, emptied of its ``Default`` experiment, under
:func:`cache_dir`, named by that revision; a later new store is that file copied
(milliseconds), and MLflow, finding its schema at the head revision and no experiment, only
adds ``Default`` (with this store's own artifact location). Anything that goes wrong here
leaves MLflow to build the store as it always does.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("ablate.tracking")

#: Where ablate keeps its caches (default ``$XDG_CACHE_HOME/ablate``, ``~/.cache/ablate``).
CACHE_ENV = "ABLATE_CACHE_DIR"


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ablate"


def template_file() -> Path | None:
    """The empty store of the installed MLflow's schema, named by its head revision (None
    when MLflow does not say which that is)."""
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        head = str(_get_latest_schema_revision())  # 20 ms: alembic's script headers
    except Exception as err:  # another MLflow: no template, MLflow builds every store
        log.debug("tracking: no schema revision from MLflow: %s", err)
        return None
    return cache_dir() / f"mlflow-schema-{head}.db"


def is_new(db: Path) -> bool:
    """Whether MLflow would build ``db`` from nothing: no file yet (or an empty one) in a
    directory that exists, and no write-ahead log beside it. A symlink is left to MLflow."""
    if db.is_symlink() or db.with_name(db.name + "-wal").exists():
        return False
    try:
        return db.stat().st_size == 0
    except FileNotFoundError:
        return db.parent.is_dir()


def copy_template(db: Path) -> bool:
    """Make the new store ``db`` a copy of the template; whether there was one to copy. A
    template that is not a whole empty store (truncated, garbage) is removed, so that this
    store leaves a good one."""
    try:
        src = template_file()
        if src is None or not src.is_file():
            return False
        if not _whole(src):
            src.unlink(missing_ok=True)
            return False
        if db.exists():  # an empty file someone made: fill it, keeping its owner and mode
            _backup(src, db)
        else:
            _replace_with(db, lambda tmp: _backup(src, tmp))
    except Exception as err:  # MLflow builds the store instead
        log.debug("tracking: no copy of the store template for %s: %s", db, err)
        return False
    return True


def keep_template(db: Path) -> None:
    """Keep the store MLflow just built at ``db`` as the template, without its experiments."""
    try:
        dst = template_file()
        if dst is None or dst.is_file():
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        _replace_with(dst, lambda tmp: _emptied_copy(db, tmp))
    except Exception as err:  # only a head start for the next new store
        log.debug("tracking: no template kept from %s: %s", db, err)


def _whole(template: Path) -> bool:
    """Whether ``template`` is an SQLite file with MLflow's schema revision in it."""
    con = sqlite3.connect(f"file:{template}?mode=ro", uri=True)
    try:
        return bool(con.execute("SELECT version_num FROM alembic_version").fetchall())
    except sqlite3.Error:
        return False
    finally:
        con.close()


def _emptied_copy(db: Path, tmp: Path) -> None:
    _backup(db, tmp)
    with sqlite3.connect(tmp) as con:
        con.execute("DELETE FROM experiment_tags")
        con.execute("DELETE FROM experiments")
    con.close()
    with sqlite3.connect(tmp) as con:
        con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    con.close()


def _backup(src: Path, dst: Path) -> None:
    """A consistent copy of the SQLite file ``src`` (with what its WAL holds) at ``dst``."""
    with sqlite3.connect(src, timeout=5) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    source.close()
    target.close()


def _replace_with(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` next to ``path`` (SQLite creates it, with the usual permissions), then
    put it in place at once."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


__all__ = [
    "CACHE_ENV",
    "cache_dir",
    "copy_template",
    "is_new",
    "keep_template",
    "template_file",
]
