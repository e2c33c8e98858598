"""Pure tracking logic: batch limits, param names and values, result filtering, retries."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from ablate.tracking import store as st
from ablate.tracking.store import (
    MAX_PARAM_VALUE,
    Retry,
    Store,
    TrackingError,
    batches,
    param_value,
    result_metrics,
    result_step,
    shown,
    tag_value,
    tracking_uri,
    transient,
    trial_params,
)


def E(key: str, value: str = "v") -> SimpleNamespace:
    return SimpleNamespace(key=key, value=value)


def test_batches_respect_every_limit() -> None:
    metrics = [E(f"m{i}", "1.0") for i in range(2500)]
    params = [E(f"p{i}") for i in range(250)]
    tags = [E(f"t{i}") for i in range(120)]
    out = list(batches(metrics, params, tags))
    for m, p, t in out:
        assert len(m) <= 1000 and len(p) <= 100 and len(t) <= 100
        assert len(m) + len(p) + len(t) <= 1000
    assert sum(len(m) for m, _, _ in out) == 2500
    assert sum(len(p) for _, p, _ in out) == 250
    assert sum(len(t) for _, _, t in out) == 120
    # Nothing is reordered within a kind.
    assert [e.key for m, _, _ in out for e in m] == [f"m{i}" for i in range(2500)]


def test_batches_stay_under_the_request_size() -> None:
    params = [E(f"p{i}", "x" * MAX_PARAM_VALUE) for i in range(100)]
    tags = [E(f"t{i}", "y" * 8000) for i in range(100)]
    out = list(batches((), params, tags))
    assert len(out) > 1
    for m, p, t in out:
        assert sum(len(e.key) + len(e.value) for e in [*m, *p, *t]) < 1_000_000


def test_batches_of_nothing_is_no_call() -> None:
    assert list(batches()) == []
    assert list(batches([E("a")])) == [([E("a")], [], [])]


def test_param_values_are_readable_and_truncated() -> None:
    assert param_value("GeneralizedMeanPooling") == "GeneralizedMeanPooling"
    assert param_value(3.1) == "3.1"
    assert param_value(1e-4) == "0.0001"
    assert param_value(7) == "7"
    assert param_value(True) == "True"
    assert param_value([64, 128]) == "[64, 128]"
    assert param_value({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    long = param_value("z" * 10_000)
    assert len(long) == MAX_PARAM_VALUE and long.endswith("…")
    assert len(tag_value("q" * 9000)) == 8000


def test_trial_params_use_the_point_labels_and_seed() -> None:
    point = {"neck": "GeneralizedMeanPooling", "neck.p": 3.1, "head": "LinearClsHead"}
    assert trial_params(point, 1) == {
        "neck": "GeneralizedMeanPooling",
        "neck.p": "3.1",
        "head": "LinearClsHead",
        "seed": "1",
    }


def test_result_metrics_keep_the_trials_own_numbers() -> None:
    result = {
        "epoch": 3.0,
        "val/top1": 91.5,
        "train/loss": 0.25,
        "lr": 0.01,
        "training_iteration": 3,
        "time_total_s": 12.0,
        "done": False,
        "trial_id": "abc_00000",
        "config": {"x": 1},
        "ablate_cell": "c0ffee",
    }
    ignore = {"training_iteration", "time_total_s", "done", "trial_id", "config", "ablate_cell"}
    assert result_metrics(result, ignore) == {"val/top1": 91.5, "train/loss": 0.25, "lr": 0.01}
    assert result_step(result) == 3
    assert result_step({"training_iteration": 2}) == 2


def test_tracking_uri_precedence_and_absolute_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example.org:5000")
    assert tracking_uri() == "http://example.org:5000"
    assert tracking_uri("sqlite:///x/y.db?timeout=9") == f"sqlite:///{tmp_path}/x/y.db?timeout=9"
    assert tracking_uri("sqlite:////abs/z.db") == "sqlite:////abs/z.db"
    assert shown("https://me:secret@host/x") == "https://***@host/x"


def _mlflow_error(code: str) -> Exception:
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    return MlflowException("boom", error_code=getattr(databricks_pb2, code))


def test_transient_errors() -> None:
    assert transient(_mlflow_error("TEMPORARILY_UNAVAILABLE"))
    assert transient(_mlflow_error("INTERNAL_ERROR"))  # also what a refused connection raises
    assert transient(ConnectionError("refused"))
    assert not transient(_mlflow_error("INVALID_PARAMETER_VALUE"))
    assert not transient(ValueError("a bug"))


def test_retry_delays_back_off_within_the_budget() -> None:
    delays = list(Retry(budget_s=10, first_s=0.5, max_s=4).delays())
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert sum(delays) == pytest.approx(10)
    assert max(delays) <= 4


def test_retry_budget_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABLATE_TRACKING_RETRY_S", "3")
    assert Retry.from_env().budget_s == 3


class Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_store_retries_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(st.time, "sleep", slept.append)
    store = Store("http://h:1", client=None, retry=Retry(budget_s=30, first_s=1, max_s=8))
    fn = Flaky(3, _mlflow_error("TEMPORARILY_UNAVAILABLE"))
    assert store.call("log_batch", fn) == "ok"
    assert fn.calls == 4 and slept == [1, 2, 4]


def test_store_gives_up_with_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st.time, "sleep", lambda s: None)
    store = Store("http://me:pw@h:1", client=None, retry=Retry(budget_s=3, first_s=1, max_s=8))
    fn = Flaky(100, ConnectionError("Connection refused\nmore detail"))
    with pytest.raises(TrackingError) as err:
        store.call("log_batch", fn)
    text = str(err.value)
    assert "\n" not in text
    assert "http://***@h:1 stopped answering: log_batch failed 3 times" in text
    assert "Connection refused" in text and "resume" in text


def test_store_does_not_retry_a_bad_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st.time, "sleep", lambda s: pytest.fail("slept"))
    store = Store("sqlite:///x.db", client=None, retry=Retry(budget_s=30))
    fn = Flaky(1, _mlflow_error("INVALID_PARAMETER_VALUE"))
    with pytest.raises(Exception, match="boom"):
        store.call("log_batch", fn)
    assert fn.calls == 1


def test_importing_tracking_does_not_import_mlflow() -> None:
    import subprocess
    import sys

    code = "import ablate.tracking, ablate.cli, sys; print('mlflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.stdout.strip() == "False", out.stderr
