"""Real sweeps on a real local Ray, tracked in the default SQLite store and in a real
``mlflow server``; the report regenerated from MLflow alone; a server lost mid-sweep."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from tracking_helpers import MlflowServer, free_port, tiny_sweep, write

from ablate.cli import main
from ablate.layout import RESULT_TIME
from ablate.tracking import Store, open_store

pytestmark = pytest.mark.integration


def tune_results(where: Path, sweep: str, trial: str) -> int:
    """How many results Ray Tune saw for a trial (its result.json has one a line)."""
    (path,) = (where / ".ablate" / "ray" / sweep).rglob(f"{trial}/result.json")
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def runs(store: Store, sweep: str, role: str) -> list:
    exp = store.client.get_experiment_by_name(sweep)
    return store.client.search_runs([exp.experiment_id], f"tags.`ablate.role` = '{role}'")


def check_sweep(store: Store, where: Path, sweep: str, epochs: int) -> None:
    """One parent, a child per trial under it, and every result Tune saw in MLflow."""
    (parent,) = runs(store, sweep, "parent")
    assert parent.info.status == "FINISHED"
    artifacts = {f.path for f in store.client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.md", "report/report.html", "report/results.csv"} <= artifacts
    children = {r.data.tags["ablate.trial"]: r for r in runs(store, sweep, "trial")}
    assert len(children) == 2
    stamps: list[int] = []
    for name, run in children.items():
        tags, params = run.data.tags, run.data.params
        cell_run = store.client.get_run(tags["mlflow.parentRunId"])
        assert cell_run.data.tags["ablate.role"] == "cell"
        assert cell_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert cell_run.info.status == "FINISHED"
        if run.info.status == "FINISHED":  # the cell run carries its aggregates and verdict
            assert cell_run.data.metrics["val/top1/n"] == 1
            assert cell_run.data.metrics["val/top1/mean"] == run.data.metrics["val/top1"]
            assert cell_run.data.tags["ablate.verdict"]
        assert tags["ablate.sweep"] == sweep and tags["ablate.seed"] == "0"
        assert name == f"{tags['ablate.cell']}-s0"
        # Named by its choice as a person writes it (1e+06, not 1000000.0); hashes only in tags.
        lr = {"0.05": "0.05", "1000000.0": "1e+06"}[params["optimizer.lr"]]
        assert run.info.run_name == f"optimizer.lr={lr} s0"
        assert set(params) == {"optimizer.lr", "seed"}
        assert tags["ablate.version.ray"] and tags["ablate.version.mlflow"]
        hist = store.client.get_metric_history(run.info.run_id, "val/top1")
        assert len(hist) == tune_results(where, sweep, name)
        assert [m.step for m in hist] == list(range(1, len(hist) + 1))
        assert [m.timestamp for m in hist] == sorted(m.timestamp for m in hist)
        assert RESULT_TIME not in run.data.metrics  # a stamp, not a metric
        stamps += [m.timestamp for m in hist]
        files = {f.path for f in store.client.list_artifacts(run.info.run_id)}
        if params["optimizer.lr"] == "0.05":
            assert run.info.status == "FINISHED"
            assert len(hist) == epochs
            assert "config.yaml" in files
        else:
            assert run.info.status == "FAILED"
            assert "loss is nan" in tags["ablate.error"]
            assert {"config.yaml", "error.txt"} <= files
            text = Path(store.client.download_artifacts(run.info.run_id, "error.txt", str(where)))
            assert "FloatingPointError" in text.read_text()
    # Each epoch at the millisecond it was reported (Tune's own stamp is whole seconds).
    assert any(t % 1000 for t in stamps), stamps
    # Tune's JSON results only: no progress.csv or TensorBoard files (ablate.run.loggers).
    tune_dir = where / ".ablate" / "ray" / sweep
    assert len(list(tune_dir.rglob("result.json"))) >= 2
    assert not [*tune_dir.rglob("progress.csv"), *tune_dir.rglob("events.out.tfevents.*")]


def test_sweep_in_the_default_sqlite_store(
    tmp_path: Path, no_ray_leak: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tiny_sweep(tmp_path)
    assert main(["run", str(sweep)]) == 1  # the NaN trial failed
    out = capsys.readouterr().out
    assert f"mlflow: sqlite:///{tmp_path}/mlflow.db" in out
    assert (tmp_path / "mlflow.db").is_file()
    check_sweep(open_store(), tmp_path, "tiny", epochs=2)
    assert (tmp_path / "reports" / "tiny" / "report.md").is_file()

    # The report again, from MLflow alone: no Ray state, no earlier report.
    shutil.rmtree(tmp_path / ".ablate")
    shutil.rmtree(tmp_path / "reports")
    assert main(["report", "tiny", "--out", "again"]) == 0
    md = (tmp_path / "again" / "tiny" / "report.md").read_text()
    assert "loss is nan" in md
    csv = pd.read_csv(tmp_path / "again" / "tiny" / "results.csv")
    assert sorted(csv["status"]) == ["FAILED", "FINISHED"]


def test_sweep_on_an_mlflow_server_merges_invocations(
    tmp_path: Path, no_ray_leak: None, mlflow_server: MlflowServer
) -> None:

    uri = mlflow_server.uri
    sweep = tiny_sweep(tmp_path, "served")
    assert main(["run", str(sweep), "--tracking-uri", uri]) == 1
    assert not (tmp_path / "mlflow.db").exists()  # nothing went to the default store
    store = open_store(uri)
    check_sweep(store, tmp_path, "served", epochs=2)

    # A second invocation adds seed 1 and (--rerun-all) runs seed 0 of that cell again.
    again = write(
        tmp_path,
        "served_more.yaml",
        "name: served\n_base_: base.yaml\nsearch: {optimizer.lr: [0.05], seeds: [0, 1]}\n",
    )
    storage = str(tmp_path / "ray2")
    argv = ["run", str(again), "--rerun-all", "--storage", storage, "--tracking-uri", uri]
    assert main(argv) == 0
    assert len(runs(store, "served", "parent")) == 2
    assert len(runs(store, "served", "trial")) == 4

    shutil.rmtree(tmp_path / "reports")
    assert main(["report", "served", "--tracking-uri", uri]) == 0
    csv = pd.read_csv(tmp_path / "reports" / "served" / "results.csv")
    assert len(csv) == 4
    done = csv[csv["status"] == "FINISHED"]
    assert len(done) == 3 and done["counted"].sum() == 2  # (cell, seed 0) counted once
    assert "Merged from 2 sweep invocation" in (tmp_path / "reports/served/report.md").read_text()


def test_a_server_lost_mid_sweep_stops_it_with_one_line(
    tmp_path: Path,
    no_ray_leak: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ABLATE_TRACKING_RETRY_S", "2")
    server = MlflowServer(tmp_path / "server")
    server.start()
    try:
        sweep = tiny_sweep(
            tmp_path,
            "lost",
            text="name: {name}\n_base_: base.yaml\n"
            "search: {{optimizer.lr: [0.05], seeds: {seeds}}}\ntrain: {{epochs: 8}}\n",
        )

        def kill_after_first_epoch() -> None:
            db = server.where / "backend.db"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    with sqlite3.connect(db) as con:
                        if con.execute("select count(*) from metrics").fetchone()[0]:
                            server.stop()
                            return
                except sqlite3.Error:
                    pass
                time.sleep(0.05)

        killer = threading.Thread(target=kill_after_first_epoch, daemon=True)
        killer.start()
        code = main(["run", str(sweep), "--tracking-uri", server.uri])
        killer.join(5)
    finally:
        server.stop()
    err = capsys.readouterr().err
    ours = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 4, err[-3000:]
    assert len(ours) == 1
    assert f"the tracking store at {server.uri} stopped answering" in ours[0]
    assert "run the same command again to resume" in ours[0]


def test_ablate_ui_serves_the_store(tmp_path: Path) -> None:
    store = open_store()
    exp = store.client.create_experiment("tiny", tags={"ablate.sweep": "tiny"})
    run = store.client.create_run(exp, run_name="r")
    store.client.log_text(run.info.run_id, "a: 1\n", "config.yaml")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablate.cli", "ui", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        query = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny"
        with urllib.request.urlopen(query, timeout=10) as r:
            assert json.load(r)["experiment"]["experiment_id"] == exp
        artifact = f"{base}/get-artifact?path=config.yaml&run_uuid={run.info.run_id}"
        with urllib.request.urlopen(artifact, timeout=10) as r:
            assert r.read() == b"a: 1\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
