"""Two ``ablate run`` of one sweep against one tracking store, started at the same instant:
one trains every (cell, seed) once, the other exits 2 naming it, before it trains anything.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from cli_runner import end, start, write

pytestmark = pytest.mark.integration


def test_two_runs_of_one_sweep_never_train_a_trial_twice(tmp_path: Path, tiny_base: Path) -> None:
    from mlflow.tracking import MlflowClient

    sweep = write(
        tmp_path,
        "sweep.yaml",
        """
        name: twice
        _base_: base.yaml
        search:
          model.neck: [{type: GlobalAveragePooling}, {type: GeneralizedMeanPooling}]
          seeds: [0]
        train: {epochs: 1}
        """,
    )
    # Two directories: two storage roots, so only the tracking store can keep them apart.
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
        (d / "base.yaml").write_text(tiny_base.read_text())
    procs = [
        start(
            *("run", str(sweep), "--tracking-uri", uri),
            cwd=d,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for d in dirs
    ]
    t0 = time.monotonic()
    try:
        ran = [p.communicate(timeout=400) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                end(p)
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], (codes, [err[-2000:] for _, err in ran])
    loser = next(i for i, p in enumerate(procs) if p.returncode == 2)
    out, err = ran[loser]
    assert err.strip().count("\n") == 0, err  # one line
    # It names the other run: its command line (and its parent run, once it has one).
    assert "error: sweep 'twice' is being run by '" in err and str(sweep) in err, err
    # It planned nothing and trained nothing: its only output names the log file it opened.
    said = [line for line in out.splitlines() if not line.startswith("log of Ray, Tune")]
    assert said == [], (out, err)
    assert time.monotonic() - t0 < 400

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("twice")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], "tags.`ablate.role` = 'trial'")
    per_pair = Counter((r.data.tags["ablate.cell"], r.data.tags["ablate.seed"]) for r in runs)
    assert sorted(per_pair.values()) == [1, 1], per_pair  # each (cell, seed) once
    assert all(r.info.status == "FINISHED" for r in runs)
    # The lease is gone with its holder: a third run may start (and finds nothing new).
    assert client.get_experiment_by_name("ablate-lease/twice") is None
