"""The chaos test, fast: one sweep against a real ``mlflow server`` while SIGKILLs hit a
trial process, the driver and the server, each brought back (``bench/chaos.py``); counted
from MLflow, nothing is lost, nothing runs twice, no epoch is missing or logged twice.

The wall time is held to :data:`MAX_RATIO` of the same sweep uninterrupted, not to the
issue's 1.5x: this sweep is short, so the fixed cost of a restarted driver (a new local Ray,
Tune's restore) weighs more than in a real sweep. The 1.5x bound is measured on the full run
(30 trials, 9 kills), ``bench/bench_chaos.py``, recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from chaos import (  # bench/, on sys.path by cli_runner
    Chaos,
    Server,
    damage,
    sweep_text,
    uninterrupted,
)

pytestmark = pytest.mark.integration

NECKS, SEEDS, EPOCHS = 2, 5, 8  # trials long enough that every kill lands mid-sweep
MAX_RATIO = 3.0


def _sweep(where: Path, name: str) -> Path:
    where.mkdir()
    (where / "sweep.yaml").write_text(sweep_text(name, NECKS, SEEDS, EPOCHS, limit=300))
    return where


@pytest.mark.timeout(900)
def test_chaos_loses_nothing_and_runs_nothing_twice(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.start()
    try:
        calm_s = uninterrupted(_sweep(tmp_path / "calm", "calm"), server, timeout=400)
        chaos = Chaos(
            _sweep(tmp_path / "chaos", "chaos"),
            server,
            kills=["trial", "driver", "mlflow"],
            gap_s=(0.3, 1.0),
            rng=random.Random(12),
        )
        chaos_s = chaos.run(timeout=600)
        assert [e["target"] for e in chaos.events] == ["trial", "driver", "mlflow"], chaos.events
        assert chaos.driver_runs >= 2
        counted = damage(server.uri, "chaos", NECKS * SEEDS, EPOCHS)
        assert counted == {
            "trials_lost": 0,
            "duplicate_runs": 0,
            "epoch_gaps": 0,
            "epochs_logged_twice": 0,
        }, (counted, chaos.events)
        assert damage(server.uri, "calm", NECKS * SEEDS, EPOCHS)["trials_lost"] == 0
        assert chaos_s <= MAX_RATIO * calm_s, (chaos_s, calm_s, chaos.events)
    finally:
        server.stop()
