"""Metric components: the base class every registered metric derives from, and how a
metric list is built from ``evaluation.metrics``.

A metric is a :class:`torchmetrics.Metric`: its states are declared with ``add_state`` and a
reduction (``sum`` or ``cat``), so ``compute()`` sees every DDP rank's data (torchmetrics
gathers the states when a process group is up) and a 2-worker trial reports what one
process would on the same data.

A metric names what it reads: ``inputs`` maps each ``update()`` argument to
``inference_feat.<key>`` (the model's output) or ``batch.<key>`` (the data), so a metric
asking for a key the model does not produce is an error at ``ablate plan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from ablate.errors import AblateError, did_you_mean
from ablate.registry import METRICS, join_key
from ablate.train.deferred import torchmetrics_deferred

with torchmetrics_deferred():
    import torchmetrics

#: Where an input comes from: the model's ``inference_feat`` or the batch.
SOURCES = ("inference_feat", "batch")
Mode = Literal["max", "min"]


class BaseMetric(torchmetrics.Metric):
    """Base of every metric in ``METRICS``.

    Lifecycle: built once per trial from its config; per split and epoch the loop calls
    ``reset()``, then ``update_from(out, batch)`` per batch, then ``results()`` on every
    rank (the states are synced there).

    Subclasses:
        - pass ``inputs`` (``{update_arg: 'inference_feat.<key>' | 'batch.<key>'}``) to
          ``super().__init__``;
        - declare states with ``add_state(name, default, dist_reduce_fx='sum' | 'cat')``;
        - implement ``update(**inputs)`` and ``compute() -> {name: scalar Tensor}``;
        - list the names ``compute`` returns in ``names()`` (logged as ``val/<name>``);
        - set ``higher_is_better`` (the default ``tune.mode`` for its names), or
          override ``mode(name)`` when names differ;
        - optionally ``check(**inputs)``: raise ``ValueError`` on a wrong shape, so the
          dry build at ``ablate plan`` names the mistake.
    """

    higher_is_better: ClassVar[bool | None] = True  # type: ignore[misc]
    full_state_update: ClassVar[bool | None] = False  # type: ignore[misc]
    #: Non-scalar results (a confusion matrix), by name: kept for artifacts, not logged.
    artifacts: ClassVar[tuple[str, ...]] = ()

    def __init__(self, inputs: Mapping[str, str]) -> None:
        # sync_on_compute: compute() gathers states over ranks itself; the evaluator
        # calls it on every rank, which the collective needs.
        super().__init__(sync_on_compute=True)
        for arg, where in inputs.items():
            source, _, key = str(where).partition(".")
            if source not in SOURCES or not key:
                raise ValueError(
                    f"input {arg!r} must be 'inference_feat.<key>' or 'batch.<key>', got {where!r}"
                )
        self.inputs = dict(inputs)

    def names(self) -> list[str]:
        """The scalar names ``compute()`` returns, without the split prefix."""
        raise NotImplementedError

    def mode(self, name: str) -> Mode:
        """Whether ``name`` is better high (``max``) or low (``min``)."""
        return "min" if self.higher_is_better is False else "max"

    def check(self, **inputs: Tensor) -> None:
        """Raise ``ValueError`` when the inputs have the wrong shape (default: accept)."""

    def read(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """This metric's ``update()`` arguments, taken from a model output and its batch.

        Raises:
            KeyError: a key is missing; its message is the one-line reason.
        """
        found: dict[str, Tensor] = {}
        for arg, where in self.inputs.items():
            source, _, key = where.partition(".")
            pool = (out.get("inference_feat") or {}) if source == "inference_feat" else batch
            if key not in pool:
                what = "the model's inference_feat" if source == "inference_feat" else "the batch"
                have = sorted(k for k in pool if not str(k).startswith("_"))
                raise KeyError(
                    f"{type(self).__name__} reads {where} but {what} has no '{key}'"
                    f"{did_you_mean(key, have)}; it has: {', '.join(map(str, have)) or 'nothing'}"
                )
            value = pool[key]
            found[arg] = value.detach() if isinstance(value, Tensor) else torch.as_tensor(value)
        return found

    def update_from(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> None:
        """``update()`` on this batch's inputs, after ``check()``."""
        inputs = self.read(out, batch)
        self.check(**inputs)
        self.update(**inputs)

    def results(self) -> dict[str, Tensor]:
        """``compute()`` over every rank's states, as ``{name: Tensor}``."""
        values = self.compute()
        expected = set(self.names()) | set(self.artifacts)
        if not isinstance(values, Mapping) or set(values) != expected:
            got = sorted(values) if isinstance(values, Mapping) else type(values).__name__
            raise RuntimeError(
                f"{type(self).__name__}.compute() returned {got}, but names() and artifacts "
                f"say {sorted(expected)}"
            )
        return dict(values)


#: What the loop measured before metrics were components; still the default.
DEFAULT_METRICS: dict[str, list[dict[str, Any]]] = {
    "logits": [{"type": "Accuracy"}],
    "embeddings": [{"type": "Retrieval"}],
}


def default_metrics(inference_keys: list[str], topk: tuple[int, ...] | None) -> list[dict]:
    """The metrics of a model without ``evaluation.metrics``: top-k accuracy on logits
    (the head's ``topk``), else retrieval on embeddings."""
    if "logits" in inference_keys:
        return [{"type": "Accuracy", **({"topk": list(topk)} if topk else {})}]
    if "embeddings" in inference_keys:
        return [dict(m) for m in DEFAULT_METRICS["embeddings"]]
    return []


def shapes_of(feats: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in feats.items() if isinstance(v, Tensor)}


def metrics_for(
    configured: list[dict[str, Any]] | None, out: Mapping[str, Any], topk: Any
) -> list[BaseMetric]:
    """The configured metrics, or the default for what the model's dry run produced.

    Raises:
        AblateError: a bad metric config, or no metric fits a model producing neither
            logits nor embeddings.
    """
    if configured is not None:
        return build_metrics(configured)
    keys = sorted(out.get("inference_feat") or {})
    default = default_metrics(keys, tuple(topk) if topk else None)
    if not default:
        raise AblateError(
            f"no default metric for inference_feat {shapes_of(out.get('inference_feat') or {})} "
            "(logits get Accuracy, embeddings Retrieval); list evaluation.metrics: "
            "[{type: ...}] (`ablate components metrics` lists them)",
            key="evaluation.metrics",
        )
    try:
        return build_metrics(default)
    except AblateError as err:  # the head's topk is wrong, not evaluation.metrics
        raise AblateError(err.message, key="model.head.topk") from None


def dry_check(
    metrics: list[BaseMetric],
    out: Mapping[str, Any],
    batch: Mapping[str, Any],
    configured: bool = True,
) -> None:
    """Run each metric on the dry run's output and batch, so a missing key or a wrong shape
    fails at ``ablate plan`` rather than after an epoch; states are reset after.

    Raises:
        AblateError: naming ``evaluation.metrics.<i>`` (``model`` for a default metric),
            the key or the shapes.
    """
    for i, metric in enumerate(metrics):
        name, key = type(metric).__name__, f"evaluation.metrics.{i}" if configured else "model"
        try:
            metric.update_from(out, batch)
            metric.results()
        except KeyError as err:
            raise AblateError(str(err.args[0]), key=key) from None
        except (ValueError, RuntimeError, IndexError, TypeError) as err:
            raise AblateError(
                f"{name} fails on inference_feat {shapes_of(out.get('inference_feat') or {})} "
                f"and batch {shapes_of(batch)}: {str(err).strip().splitlines()[0]}",
                key=key,
            ) from None
        finally:
            metric.reset()


def build_metrics(configs: list[Any], key: str = "evaluation.metrics") -> list[BaseMetric]:
    """Each config of ``evaluation.metrics`` built through ``METRICS``.

    Raises:
        AblateError: an unknown type or argument, a non-metric class, or two metrics
            logging the same name; each naming ``evaluation.metrics.<i>``.
    """
    built: list[BaseMetric] = []
    seen: dict[str, int] = {}
    for i, cfg in enumerate(configs):
        where = join_key(key, str(i))
        metric = METRICS.build(cfg, key=where)
        if not isinstance(metric, BaseMetric):
            raise AblateError(
                f"{type(metric).__name__} is not an ablate BaseMetric (from ablate import BaseMetric)",
                key=f"{where}.type",
            )
        for name in [*metric.names(), *metric.artifacts]:
            if name in seen:
                raise AblateError(
                    f"metrics {seen[name]} and {i} both produce '{name}'; drop one or rename it",
                    key=where,
                )
            seen[name] = i
        built.append(metric)
    return built


__all__ = [
    "DEFAULT_METRICS",
    "SOURCES",
    "BaseMetric",
    "Mode",
    "build_metrics",
    "default_metrics",
    "dry_check",
    "metrics_for",
    "shapes_of",
]
