"""How MLflow's UI opens a sweep: the experiment's kind and its saved views (pure data)."""

from __future__ import annotations

import json

from ablate.tracking.view import experiment_tags, runs_view, view_url


def test_the_trials_view_shows_dimensions_seed_and_metric_best_first() -> None:
    view = runs_view(["neck", "head", "optimizer.lr"], "val/loss", "min")
    assert view["selectedColumns"] == [
        "params.`neck`",
        "params.`head`",
        "params.`optimizer.lr`",
        "params.`seed`",
        "metrics.`val/loss`",
        "attributes.`Duration`",
    ]
    assert view["orderByKey"] == "metrics.`val/loss`" and view["orderByAsc"] is True
    assert view["groupBy"] is None
    assert runs_view(["neck"], "val/top1", "max")["orderByAsc"] is False


def test_one_grouped_view_per_discrete_dimension() -> None:
    tags = experiment_tags({"neck": True, "neck.p": False, "optimizer.lr": True}, "val/top1", "max")
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    views = {k.removeprefix("mlflow.sharedViewState."): v for k, v in tags.items() if "View" in k}
    assert set(views) == {"trials", "by-neck", "by-optimizer-lr"}
    grouped = json.loads(views["by-optimizer-lr"])["groupBy"]
    assert grouped == {
        "aggregateFunction": "average",
        "groupByKeys": [{"mode": "param", "groupByData": "optimizer.lr"}],
    }


def test_view_url() -> None:
    assert (
        view_url("http://127.0.0.1:5000/", "3", "by-neck")
        == "http://127.0.0.1:5000/#/experiments/3/runs?viewStateShareKey=by-neck"
    )
