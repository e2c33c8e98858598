"""The tracker and the report source against a real SQLite store, without Ray: the Tune
callback's calls are made by hand, so retries and resumes are exact."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import yaml
from tracking_helpers import tiny_sweep

from ablate.app.sweep import write_report
from ablate.cli import main
from ablate.config import load_config
from ablate.plan import SweepPlan, TrialSpec, make_plan
from ablate.tracking import Store, SweepTracker, open_store
from ablate.tracking import tracker as tracker_module
from ablate.tracking.read import load_sweep
from ablate.tracking.tracker import FLUSH_EVERY_S


def plan_of(where: Path, name: str = "tiny", seeds: str = "[0]") -> SweepPlan:
    return make_plan(load_config(tiny_sweep(where, name, seeds)))


def started(tracker: SweepTracker, i: int, t: TrialSpec, prefix: str = "aaaaa") -> str:
    config = {"trial": {"point": t.point, "seed": t.seed}}
    return tracker.trial_started(f"{prefix}_{i:05d}", f"/tune/{t.name}", t.name, config)


def results(epochs: range, top1: float = 50.0) -> list[dict[str, Any]]:
    return [
        {
            "epoch": float(e),
            "val/top1": top1 + e,
            "train/loss": 1.0 / e,
            "training_iteration": e,
            "timestamp": time.time(),
        }
        for e in epochs
    ]


def history(store: Store, run_id: str, key: str = "val/top1") -> list[int]:
    return [m.step for m in store.client.get_metric_history(run_id, key)]


def tracker_for(plan: SweepPlan, store: Store | None = None) -> SweepTracker:
    tracker = SweepTracker(
        store or open_store(), plan, command="ablate run tiny.yaml", tune_experiment="/tune"
    )
    tracker.start()
    return tracker


def test_parent_and_child_runs(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    tracker = tracker_for(plan)
    ok, bad = plan.trials
    ok_id, bad_id = started(tracker, 0, ok), started(tracker, 1, bad)
    tracker.trial_results("aaaaa_00000", results(range(1, 3)))
    tracker.trial_ended("aaaaa_00000", "FINISHED", duration_s=3.5)
    tracker.trial_results("aaaaa_00001", results(range(1, 2)))
    tracker.trial_ended(
        "aaaaa_00001",
        "FAILED",
        error="FloatingPointError: loss is nan at epoch 1, step 4",
        traceback="Traceback (most recent call last):\n...\nFloatingPointError: loss is nan",
    )
    tracker.finish({"total": 2, "failed": 1})

    c = tracker.store.client
    assert tracker.store.uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert (tmp_path / "mlflow.db").is_file()
    with sqlite3.connect(tmp_path / "mlflow.db") as con:  # commits cheap, readers never block
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    exp = c.get_experiment_by_name("tiny")
    # MLflow's UI opens the sweep as model training, on views of its dimensions and metric.
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    trials_view = json.loads(exp.tags["mlflow.sharedViewState.trials"])
    assert trials_view["selectedColumns"][:3] == [
        "params.`optimizer.lr`",
        "params.`seed`",
        "metrics.`val/top1`",
    ]
    assert trials_view["searchFilter"] == "tags.`ablate.role` = 'trial'"
    grouped = json.loads(exp.tags["mlflow.sharedViewState.by-optimizer-lr"])
    assert grouped["groupBy"]["groupByKeys"] == [{"mode": "param", "groupByData": "optimizer.lr"}]
    parent = c.get_run(tracker.parent_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["ablate.role"] == "parent"
    assert parent.data.tags["ablate.metric"] == "val/top1"
    assert parent.data.metrics == {"trials/total": 2.0, "trials/failed": 1.0}

    run = c.get_run(ok_id)
    assert run.info.experiment_id == exp.experiment_id
    assert run.info.run_name == "optimizer.lr=0.05 s0"  # by its choices; the hash is a tag
    assert run.data.tags["ablate.trial"] == ok.name
    assert run.info.status == "FINISHED"
    assert run.data.params == {"optimizer.lr": "0.05", "seed": "0"}
    tags = run.data.tags
    # nested: sweep -> cell -> seed trial
    cell_run = c.get_run(tags["mlflow.parentRunId"])
    assert cell_run.data.tags["ablate.role"] == "cell"
    assert cell_run.data.tags["mlflow.parentRunId"] == tracker.parent_id
    assert cell_run.data.tags["ablate.cell"] == ok.cell
    assert cell_run.data.params == {"optimizer.lr": "0.05"}
    assert tags["ablate.sweep"] == "tiny"
    assert tags["ablate.cell"] == ok.cell
    assert tags["ablate.seed"] == "0"
    for pkg in ("ablate", "torch", "ray", "mlflow", "optuna"):
        assert tags[f"ablate.version.{pkg}"]
    assert "mlflow.source.git.commit" not in tags  # tmp_path is not a git repository
    assert history(tracker.store, ok_id) == [1, 2]
    assert run.data.metrics["val/top1"] == 52.0
    config = yaml.safe_load(
        Path(c.download_artifacts(ok_id, "config.yaml", str(tmp_path))).read_text()
    )
    assert config["optimizer"]["lr"] == 0.05 and config["train"]["seed"] == 0

    failed = c.get_run(bad_id)
    assert failed.info.status == "FAILED"
    assert failed.data.params["optimizer.lr"] == "1000000.0"
    assert failed.data.tags["ablate.error"] == "FloatingPointError: loss is nan at epoch 1, step 4"
    text = Path(c.download_artifacts(bad_id, "error.txt", str(tmp_path))).read_text()
    assert text.startswith("Traceback")


def test_git_commit_is_tagged_in_a_repository(tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    plan = plan_of(tmp_path)
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ],
        check=True,
    )
    tracker = tracker_for(plan)
    run_id = started(tracker, 0, plan.trials[0])
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert tracker.store.client.get_run(run_id).data.tags["mlflow.source.git.commit"] == head


def test_epochs_go_out_every_few_seconds_and_the_last_with_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]  # the tracker's monotonic clock, moved by hand
    fake = SimpleNamespace(**{**vars(time), "monotonic": lambda: clock[0]})
    monkeypatch.setattr(tracker_module, "time", fake)
    plan = make_plan(load_config(tiny_sweep(tmp_path), ("train.epochs=4",)))
    tracker = tracker_for(plan)
    run_id = started(tracker, 0, plan.trials[0])
    calls = tracker.store.calls
    clock[0] += 0.5
    tracker.trial_results("aaaaa_00000", results(range(1, 2)))
    assert history(tracker.store, run_id) == []  # held: the trial started 0.5 s ago
    clock[0] += FLUSH_EVERY_S
    tracker.trial_results("aaaaa_00000", results(range(2, 3)))
    assert history(tracker.store, run_id) == [1, 2]  # both, with the params: one call
    assert tracker.store.client.get_run(run_id).data.params["seed"] == "0"
    clock[0] += FLUSH_EVERY_S / 2
    tracker.trial_results("aaaaa_00000", results(range(3, 4)))
    assert history(tracker.store, run_id) == [1, 2]  # the last call was a second ago
    clock[0] += FLUSH_EVERY_S
    tracker.trial_results("aaaaa_00000", results(range(4, 5)))
    assert history(tracker.store, run_id) == [1, 2]  # the final epoch waits for the end
    tracker.trial_ended("aaaaa_00000", "FINISHED")
    assert history(tracker.store, run_id) == [1, 2, 3, 4]
    assert tracker.store.calls == calls + 3  # epochs 1-2; 3-4 with the end tags; the end
    other = started(tracker, 1, plan.trials[1])
    tracker.trial_results("aaaaa_00001", results(range(1, 3)))
    tracker.flush()  # what on_experiment_end does for a trial Tune never saw end
    assert history(tracker.store, other) == [1, 2]


def test_an_epoch_a_scheduler_may_pause_at_goes_out_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]  # no time passes: only the rung makes the write due
    fake = SimpleNamespace(**{**vars(time), "monotonic": lambda: clock[0]})
    monkeypatch.setattr(tracker_module, "time", fake)
    overrides = ("train.epochs=9", "tune.scheduler=asha", "tune.asha.grace_period=3")
    plan = make_plan(load_config(tiny_sweep(tmp_path), overrides))
    assert plan.scheduler.rungs(9) == [3]  # reduction factor 3: one rung, at epoch 3
    tracker = tracker_for(plan)
    run_id = started(tracker, 0, plan.trials[0])
    tracker.trial_results("aaaaa_00000", results(range(1, 3)))
    assert history(tracker.store, run_id) == []
    tracker.trial_results("aaaaa_00000", results(range(3, 4)))
    assert history(tracker.store, run_id) == [1, 2, 3]  # it may wait there, paused
    tracker.trial_results("aaaaa_00000", results(range(4, 6)))
    assert history(tracker.store, run_id) == [1, 2, 3]


def test_a_retried_trial_goes_on_in_its_run(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    tracker = tracker_for(plan)
    t = plan.trials[0]
    first = started(tracker, 0, t)
    tracker.trial_results("aaaaa_00000", results(range(1, 3)))
    # Tune restarts the trial from its epoch-1 checkpoint: epoch 2 comes again, then 3.
    assert started(tracker, 0, t) == first
    assert tracker.trial_results("aaaaa_00000", results(range(2, 4))) == 1
    tracker.trial_ended("aaaaa_00000", "FINISHED")
    assert history(tracker.store, first) == [1, 2, 3]
    runs = tracker.store.client.search_runs([tracker.experiment_id], "tags.`ablate.role` = 'trial'")
    assert len(runs) == 1


def test_a_resumed_sweep_continues_the_trials_run(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    a = tracker_for(plan)
    t = plan.trials[0]
    run_id = started(a, 0, t)
    a.trial_results("aaaaa_00000", results(range(1, 3)))
    a.abort(interrupted=True)  # Ctrl-C: the open run ends KILLED
    store = a.store
    assert store.client.get_run(run_id).info.status == "KILLED"
    assert store.client.get_run(a.parent_id).info.status == "KILLED"

    b = tracker_for(plan, store)  # `ablate run` again: a new parent, the same Tune trial
    assert b.parent_id != a.parent_id
    assert started(b, 0, t) == run_id
    run = store.client.get_run(run_id)
    assert run.info.status == "RUNNING"
    assert run.data.params == {"optimizer.lr": "0.05", "seed": "0"}
    b.trial_results("aaaaa_00000", results(range(2, 5)))  # the restored epoch is re-reported
    b.trial_ended("aaaaa_00000", "FINISHED")
    assert history(store, run_id) == [1, 2, 3, 4]
    assert store.client.get_run(run_id).info.status == "FINISHED"
    # Another Tune trial with the same name (a fresh sweep elsewhere) gets its own run.
    assert started(b, 0, t, prefix="bbbbb") != run_id


def test_a_killed_invocation_is_taken_over(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    a = tracker_for(plan)
    run_id = started(a, 0, plan.trials[0])
    a.trial_results("aaaaa_00000", results(range(1, 2)))
    # SIGKILL: nothing ends the runs. The next `ablate run` resumes the Tune experiment.
    b = tracker_for(plan, a.store)
    c = a.store.client
    assert c.get_run(a.parent_id).info.status == "KILLED"
    assert c.get_run(b.parent_id).info.status == "RUNNING"
    assert started(b, 0, plan.trials[0]) == run_id
    b.trial_results("aaaaa_00000", results(range(1, 3)))
    b.trial_ended("aaaaa_00000", "FINISHED")
    assert history(a.store, run_id) == [1, 2]


def test_a_new_tune_trial_adopts_the_unfinished_run_only_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    plan = plan_of(tmp_path)
    t = plan.trials[0]
    runs_dir = tmp_path / "ray" / "tiny" / "runs"
    a = tracker_for(plan)
    a.tune_experiment = str(runs_dir / "first")
    run_id = started(a, 0, t)
    a.trial_results("aaaaa_00000", results(range(1, 3)))
    a.abort(interrupted=True)  # Ctrl-C: KILLED; the next `ablate run` is a new Tune experiment
    b = tracker_for(plan, a.store)
    b.tune_experiment = str(runs_dir / "second")
    fresh = started(b, 0, t, prefix="bbbbb")
    assert fresh != run_id  # no checkpoint: it trains from epoch 1, in a run of its own
    # ...and the run it left is deleted (restorable): one run per trial, each epoch once.
    old = a.store.client.get_run(run_id)
    assert old.info.lifecycle_stage == "deleted"
    assert old.data.tags["ablate.status"] == "SUPERSEDED"
    active = a.store.client.search_runs([a.experiment_id], "tags.`ablate.role` = 'trial'")
    assert [r.info.run_id for r in active] == [fresh]
    b.trial_results("bbbbb_00000", results(range(1, 2)))
    b.abort(interrupted=True)

    ckpt = tmp_path / "ray" / "tiny" / "checkpoints" / t.name / "state.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    c = tracker_for(plan, a.store)
    c.tune_experiment = str(runs_dir / "third")
    # From b's checkpoint (epoch 1): the latest unfinished run of (cell, seed) goes on.
    assert started(c, 0, t, prefix="ccccc") == fresh
    c.trial_results("ccccc_00000", results(range(1, 4)))  # epoch 1 re-reported, then 2, 3
    c.trial_ended("ccccc_00000", "FINISHED")
    assert history(a.store, fresh) == [1, 2, 3]
    assert history(a.store, run_id) == [1, 2]


def test_report_source_merges_invocations_without_double_counting(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, seeds="[0]")
    a = tracker_for(plan)
    for i, t in enumerate(plan.trials):
        started(a, i, t)
        a.trial_results(f"aaaaa_{i:05d}", results(range(1, 3), top1=10.0 * i))
        a.trial_ended(f"aaaaa_{i:05d}", "FINISHED")
    a.finish({"total": 2, "failed": 0})
    plan2 = plan_of(tmp_path, seeds="[0, 1]")  # seed 1 added; seed 0 runs again
    b = tracker_for(plan2, a.store)
    for i, t in enumerate(plan2.trials):
        started(b, i, t, prefix="bbbbb")
        b.trial_results(f"bbbbb_{i:05d}", results(range(1, 3), top1=20.0 + i))
        b.trial_ended(f"bbbbb_{i:05d}", "FINISHED")
    started(b, 9, plan2.trials[0], prefix="ccccc")  # still running: not in the report
    b.finish({"total": 4, "failed": 0})

    data = load_sweep(a.store, "tiny")
    assert len(data.trials) == 6
    assert list(data.meta["runs"]) == [a.parent_id, b.parent_id]
    assert set(data.trials["status"]) == {"FINISHED"}
    assert set(data.trials["param.optimizer.lr"]) == {"0.05", "1000000.0"}
    assert len(data.curves) == 12 and set(data.curves["step"]) == {1, 2}
    paths = write_report(a.store, "tiny", tmp_path / "reports")
    assert paths["md"] == tmp_path / "reports" / "tiny" / "report.md"
    csv = pd.read_csv(paths["csv"])
    assert csv["counted"].sum() == 4  # 2 cells x 2 seeds; the older seed-0 runs superseded
    assert "Merged from 2 sweep invocation" in paths["md"].read_text()


def test_a_sweep_whose_trials_all_failed_still_reports_why(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    tracker = tracker_for(plan)
    for i, t in enumerate(plan.trials):
        started(tracker, i, t)
        tracker.trial_ended(f"aaaaa_{i:05d}", "FAILED", error="RuntimeError: out of cheese")
    tracker.finish({"total": 2, "failed": 2})
    assert main(["report", "tiny"]) == 0
    md = (tmp_path / "reports" / "tiny" / "report.md").read_text()
    assert "out of cheese" in md


def test_report_of_an_unknown_sweep_lists_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "tiny"]) == 2
    assert "sweeps there: none yet" in capsys.readouterr().err
    tracker_for(plan_of(tmp_path, "neck_vs_head")).finish({"total": 0})
    tracker_for(plan_of(tmp_path, "other")).finish({"total": 0})
    assert main(["report", "neck_vs_haed"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no sweep 'neck_vs_haed'" in err
    assert "(did you mean 'neck_vs_head'?)" in err
    assert "sweeps there: neck_vs_head, other" in err


@pytest.mark.parametrize("where", ["server", "sqlite under a file"])
def test_unreachable_tracking_uri_exits_2_before_ray(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    import ray
    from tracking_helpers import free_port

    sweep = tiny_sweep(tmp_path)
    uri = (
        f"http://127.0.0.1:{free_port()}"
        if where == "server"
        else f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}"
    )
    (tmp_path / "a-file").write_text("not a directory")
    t0 = time.monotonic()
    assert main(["run", str(sweep), "--tracking-uri", uri]) == 2
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: cannot reach the tracking store at {uri}")
    assert not ray.is_initialized()
    assert not (tmp_path / ".ablate").exists()


def test_ui_refuses_a_store_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui"]) == 2
    assert "no tracking store at" in capsys.readouterr().err
    assert main(["ui", "--tracking-uri", "http://127.0.0.1:5000"]) == 0
    assert "serves its own UI" in capsys.readouterr().out


def test_result_images_are_logged_at_their_epoch(tmp_path: Path) -> None:
    """A trial's visual_summary images come in its results as PNG text (issue 9, #14)."""
    import numpy as np

    from ablate.train.images import encode_images

    plan = plan_of(tmp_path)
    tracker = tracker_for(plan)
    started(tracker, 0, plan.trials[0])
    first, second = results(range(1, 3))
    grid = np.arange(6 * 8, dtype=np.uint8).reshape(6, 8)
    tracker.trial_results("aaaaa_00000", [{**first, **encode_images({"sils": grid})}, second])
    tracker.trial_ended("aaaaa_00000", "FINISHED")
    run_id = tracker.runs["aaaaa_00000"].run_id
    paths = [a.path for a in tracker.store.client.list_artifacts(run_id, "images")]
    pngs = [p for p in paths if p.endswith(".png")]  # MLflow adds a compressed preview
    assert len(pngs) == 1 and pngs[0].startswith("images/sils+step+1+"), paths
    assert tracker.stats.images == 1
    assert "ablate_image/sils" not in tracker.store.client.get_run(run_id).data.metrics


def test_an_adopted_run_is_filled_in_from_its_own_trial_dir(tmp_path: Path) -> None:
    """A driver killed with epochs still queued (the store was down): the next invocation
    is a new Tune experiment, and the adopted run gets those epochs from the old trial's
    ``result.json``, not only from the new one (the chaos benchmark's epoch gaps)."""
    import json

    from ablate.tracking.callback import Jobs, TrialView

    plan = plan_of(tmp_path)
    t = plan.trials[0]
    runs_dir = tmp_path / "ray" / "tiny" / "runs"
    old, new = runs_dir / "first" / t.name, runs_dir / "second" / t.name
    a = tracker_for(plan)
    a.tune_experiment = str(runs_dir / "first")
    config = {"trial": {"point": t.point, "seed": t.seed}}
    run_id = a.trial_started("aaaaa_00000", str(old), t.name, config)
    # Epochs 1-2 reached Tune's result.json but not MLflow (down, writes queued); SIGKILL.
    old.mkdir(parents=True)
    old.joinpath("result.json").write_text("\n".join(json.dumps(r) for r in results(range(1, 3))))

    ckpt = tmp_path / "ray" / "tiny" / "checkpoints" / t.name / "state.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")  # checkpointed at epoch 2
    b = tracker_for(plan, a.store)
    b.tune_experiment = str(runs_dir / "second")
    new.mkdir(parents=True)  # the resumed trial re-reports epoch 2, then trains epoch 3
    new.joinpath("result.json").write_text("\n".join(json.dumps(r) for r in results(range(2, 3))))
    view = TrialView("bbbbb_00000", str(new), t.name, config, "RUNNING", {}, None, None)
    Jobs(b, frozenset()).start(view)
    b.trial_results("bbbbb_00000", results(range(2, 4)))
    b.trial_ended("bbbbb_00000", "FINISHED")
    assert b.runs["bbbbb_00000"].run_id == run_id
    assert history(a.store, run_id) == [1, 2, 3]


def test_a_restored_run_is_filled_in_from_the_killed_drivers_own_copy(tmp_path: Path) -> None:
    """Tune writes ``result.json`` at once only in the driver's own copy of the trial dir
    and copies it to storage every 10 s or more. A driver killed while the store was down
    left epochs 2-4 in its copy and only epoch 1 in storage; the next driver restores the
    same Tune experiment (same trial id and path), and the trial resumes from its epoch-4
    checkpoint: epochs 2-3 come from the killed driver's copy, or they are gaps."""
    import json

    from ablate.tracking.callback import Jobs, TrialView

    plan = plan_of(tmp_path)
    t = plan.trials[0]
    exp = tmp_path / "ray" / "tiny" / "runs" / "first"
    storage = exp / t.name
    killed, fresh = tmp_path / "session-1" / t.name, tmp_path / "session-2" / t.name
    config = {"trial": {"point": t.point, "seed": t.seed}}
    for where in (storage, killed, fresh):
        where.mkdir(parents=True)

    def write(where: Path, epochs: range) -> None:
        where.joinpath("result.json").write_text("\n".join(json.dumps(r) for r in results(epochs)))

    a = tracker_for(plan)
    a.tune_experiment = str(exp)
    view = TrialView("aaaaa_00000", str(storage), t.name, config, "RUNNING", {}, None, None)
    Jobs(a, frozenset()).start(TrialView(**{**view.__dict__, "local_path": str(killed)}))
    a.trial_results("aaaaa_00000", results(range(1, 2)))  # in MLflow; then it went down
    write(killed, range(1, 5))
    write(storage, range(1, 2))  # the last copy to storage, before epoch 2

    b = tracker_for(plan, a.store)
    b.tune_experiment = str(exp)
    write(fresh, range(1, 2))  # Tune's restore copies storage down to the new session
    Jobs(b, frozenset()).start(TrialView(**{**view.__dict__, "local_path": str(fresh)}))
    b.trial_results("aaaaa_00000", results(range(4, 6)))  # re-reports epoch 4, trains 5
    b.trial_ended("aaaaa_00000", "FINISHED")
    run_id = b.runs["aaaaa_00000"].run_id
    assert run_id == a.runs["aaaaa_00000"].run_id
    assert history(a.store, run_id) == [1, 2, 3, 4, 5]
    tag = a.store.client.get_run(run_id).data.tags["ablate.tune_local_paths"]
    assert tag.split(os.pathsep) == [str(killed), str(fresh)]
