"""How MLflow's UI opens a sweep: as a model-training experiment (not MLflow 3's GenAI
view), on a saved view of its trial runs whose columns are the sweep's dimensions, the seed
and the metric, sorted by the metric; and one saved view per categorical dimension that
groups the trials by it (``by-neck``: the necks compared, averaged over everything else).

A saved view is MLflow's "share" of the runs table: an experiment tag
``mlflow.sharedViewState.<key>`` holding the table's state as JSON, opened by the URL
``#/experiments/<id>/runs?viewStateShareKey=<key>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ablate.tracking import schema as S

#: The saved view of every trial; ``by-<dimension>`` groups them.
TRIALS_VIEW, GROUP_VIEW_PREFIX = "trials", "by-"


def _column(kind: str, key: str) -> str:
    """A runs-table column as MLflow's UI names it: ``params.`neck```."""
    return f"{kind}.`{key}`"


def runs_view(
    dims: Iterable[str], metric: str, mode: str, group_by: str | None = None
) -> dict[str, Any]:
    """The state of MLflow's runs table for a sweep's trials."""
    dims = list(dims)
    metric_col = _column("metrics", metric)
    return {
        "searchFilter": f"tags.`{S.ROLE}` = '{S.TRIAL}'",
        "orderByKey": metric_col,
        "orderByAsc": mode == "min",
        "selectedColumns": [
            *(_column("params", d) for d in dims),
            _column("params", "seed"),
            metric_col,
            _column("attributes", "Duration"),
        ],
        "groupBy": (
            {
                "aggregateFunction": "average",
                "groupByKeys": [{"mode": "param", "groupByData": group_by}],
            }
            if group_by
            else None
        ),
        "groupsExpanded": {},
        "runsExpanded": {},
        "runListHidden": False,
        "viewMaximized": False,
    }


def experiment_tags(dims: Mapping[str, bool], metric: str, mode: str) -> dict[str, str]:
    """The experiment's tags: its kind and the saved views. ``dims`` maps each dimension's
    label to whether it takes a few values (a grid or choices: worth a group-by)."""
    tags = {
        S.EXPERIMENT_KIND: S.MODEL_TRAINING,
        S.VIEW_PREFIX + TRIALS_VIEW: json.dumps(runs_view(dims, metric, mode)),
    }
    for dim, discrete in dims.items():
        if discrete:
            key = S.VIEW_PREFIX + GROUP_VIEW_PREFIX + _key(dim)
            tags[key] = json.dumps(runs_view(dims, metric, mode, group_by=dim))
    return tags


def _key(dim: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in dim)


def view_url(base: str, experiment_id: str, view: str = TRIALS_VIEW) -> str:
    """The URL of a saved view on an MLflow server at ``base``."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey={_key(view)}"


__all__ = ["GROUP_VIEW_PREFIX", "TRIALS_VIEW", "experiment_tags", "runs_view", "view_url"]
