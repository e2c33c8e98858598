"""A new SQLite store is a copy of a migrated empty one (ablate.tracking.template), against
real MLflow: the copy is a store MLflow accepts as its own, and a bad template is ignored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ablate.tracking import open_store
from ablate.tracking.template import CACHE_ENV, is_new, template_file


def rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_first_new_store_leaves_an_empty_template_and_the_next_is_its_copy(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "a" / "mlflow.db"
    first.parent.mkdir()
    open_store(f"sqlite:///{first}")
    kept = template_file()
    assert kept is not None and kept.parent == cache and kept.is_file()
    head = rows(first, "SELECT version_num FROM alembic_version")
    assert rows(kept, "SELECT version_num FROM alembic_version") == head
    assert rows(kept, "SELECT count(*) FROM experiments") == [(0,)]
    stamp = kept.stat().st_mtime_ns

    second = tmp_path / "b" / "mlflow.db"
    second.parent.mkdir()
    monkeypatch.chdir(second.parent)  # MLflow's default artifact root is ./mlruns
    store = open_store(f"sqlite:///{second}")
    assert kept.stat().st_mtime_ns == stamp  # kept once, not rewritten
    assert rows(second, "SELECT version_num FROM alembic_version") == head
    # MLflow added its Default experiment itself, with this store's artifact root.
    (default,) = store.client.search_experiments()
    assert default.name == "Default"
    assert default.artifact_location == str(tmp_path / "b" / "mlruns" / "0")
    exp = store.client.create_experiment("sweep")
    run = store.client.create_run(exp)
    store.client.log_metric(run.info.run_id, "val/top1", 0.5, step=1)
    assert store.client.get_run(run.info.run_id).data.metrics == {"val/top1": 0.5}
    assert rows(second, "PRAGMA journal_mode") == [("wal",)]


def test_a_store_with_runs_is_never_replaced(tmp_path: Path, cache: Path) -> None:
    db = tmp_path / "mlflow.db"
    store = open_store(f"sqlite:///{db}")
    store.client.create_experiment("kept")
    assert not is_new(db)
    again = open_store(f"sqlite:///{db}")
    assert "kept" in {e.name for e in again.client.search_experiments()}


@pytest.mark.parametrize(
    "template, why",
    [
        (b"not a database at all" * 100, "garbage"),
        (b"", "an empty file"),
    ],
)
def test_a_bad_template_leaves_mlflow_to_build_the_store(
    tmp_path: Path, cache: Path, template: bytes, why: str
) -> None:
    cache.mkdir()
    kept = template_file()
    assert kept is not None
    kept.write_bytes(template)
    db = tmp_path / "mlflow.db"
    store = open_store(f"sqlite:///{db}")
    assert [e.name for e in store.client.search_experiments()] == ["Default"], why
    assert rows(db, "SELECT count(*) FROM alembic_version") == [(1,)], why
    # ... and the store MLflow built replaced the bad template with a whole one.
    assert rows(kept, "SELECT count(*) FROM alembic_version") == [(1,)], why
    assert rows(kept, "SELECT count(*) FROM experiments") == [(0,)], why


def test_the_template_is_named_by_the_schema_revision(tmp_path: Path, cache: Path) -> None:
    """Another MLflow schema never gets this one's template: the file names the revision
    the store was migrated to."""
    open_store(f"sqlite:///{tmp_path / 'first.db'}")
    (head,) = rows(tmp_path / "first.db", "SELECT version_num FROM alembic_version")[0]
    kept = template_file()
    assert kept is not None and kept.name == f"mlflow-schema-{head}.db"
    assert sorted(p.name for p in cache.iterdir()) == [kept.name]


def test_a_cache_that_cannot_be_used_leaves_mlflow_to_build_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ABLATE_CACHE_DIR naming a file, not a directory: no template, and no error."""
    (tmp_path / "not-a-dir").write_text("x")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "not-a-dir"))
    db = tmp_path / "mlflow.db"
    store = open_store(f"sqlite:///{db}")
    assert [e.name for e in store.client.search_experiments()] == ["Default"]
    assert (tmp_path / "not-a-dir").read_text() == "x"


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: None, True),  # no file yet, in a directory that exists
        (lambda p: p.write_bytes(b""), True),  # an empty file (sqlite3 made it)
        (lambda p: p.write_bytes(b"x"), False),  # something is there: MLflow's to judge
    ],
)
def test_is_new(tmp_path: Path, make, expected: bool) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "mlflow.db"
    make(db)
    assert is_new(db) is expected
    assert is_new(tmp_path / "missing-dir" / "mlflow.db") is False


def test_a_symlink_or_a_write_ahead_log_is_left_to_mlflow(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"")
    link = tmp_path / "link.db"
    link.symlink_to(target)
    assert is_new(link) is False  # a copy would replace the link with a file
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"")
    (tmp_path / "mlflow.db-wal").write_bytes(b"x")
    assert is_new(db) is False  # SQLite would replay that log onto the copy


def test_an_empty_file_is_filled_in_place(tmp_path: Path, cache: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'first.db'}")
    db = tmp_path / "made-by-hand.db"
    db.write_bytes(b"")
    db.chmod(0o640)
    inode = db.stat().st_ino
    store = open_store(f"sqlite:///{db}")
    assert db.stat().st_ino == inode and (db.stat().st_mode & 0o777) == 0o640
    assert [e.name for e in store.client.search_experiments()] == ["Default"]
