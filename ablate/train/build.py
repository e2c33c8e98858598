"""From a config to runnable parts: datasets, a model with its losses, an optimizer.

``build_model`` runs one dry forward (and loss) on a sample batch, so that incompatible
components, a loss prefix mismatch or a missing metric surface here, at build time, with the
config path of the culprit, and not hours later on a cluster.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from ablate.config import Config
from ablate.errors import AblateError, did_you_mean
from ablate.nn.model import BaseModel, Batch, LossAggregator, building_with, scalar_summaries
from ablate.nn.opengait import adopt, opengait_inputs
from ablate.registry import DATASETS, MODELS, SAMPLERS
from ablate.settings import data_settings, evaluation_settings
from ablate.train.batching import batched, collate
from ablate.train.device import eager_optimizer_methods
from ablate.train.evaluate import metric_modes
from ablate.train.metrics import BaseMetric, Mode, dry_check, metrics_for
from ablate.train.sampling import BaseSampler, default_sampler
from ablate.train.sections import batch_format, custom_modules, loss_section, model_section


def build_datasets(cfg: Config) -> tuple[Dataset, Dataset]:
    """The train and val datasets of ``data.dataset``."""
    settings = data_settings(cfg)
    try:
        train = DATASETS.build(settings.dataset, key="data.dataset", split="train")
        val_cfg = {**settings.dataset, **(settings.val_dataset or {})}
        val = DATASETS.build(val_cfg, key="data.dataset", split="val")
    except AblateError as err:
        raise cfg.locate(err) from None
    for split, ds in (("train", train), ("val", val)):
        if len(ds) == 0:  # type: ignore[arg-type]
            raise cfg.error(f"the {split} split is empty", "data.dataset")
    return train, val


def build_sampler(
    cfg: Config, dataset: Dataset, rank: int = 0, world_size: int = 1, seed: int = 0
) -> Sampler:
    """This rank's sampler of training items: ``data.sampler`` (a ``SAMPLERS`` component,
    yielding batches), else a seeded shuffle sharded across ranks. Each has ``set_epoch``."""
    spec = data_settings(cfg).sampler
    if spec is None:
        return default_sampler(dataset, rank, world_size, seed)
    try:
        sampler = SAMPLERS.build(
            spec, key="data.sampler", dataset=dataset, rank=rank, world_size=world_size, seed=seed
        )
    except AblateError as err:
        raise cfg.locate(err) from None
    if not isinstance(sampler, BaseSampler):
        raise cfg.error(
            f"{spec.get('type')} is a {type(sampler).__name__}, not an ablate BaseSampler",
            "data.sampler.type",
        )
    return sampler


def train_loader(
    cfg: Config, dataset: Dataset, sampler: Sampler, loading: dict[str, Any] | None = None
) -> DataLoader:
    """The training DataLoader over ``sampler``: its batches, or ``data.batch_size`` items.

    ``loading``: the DataLoader's process and memory options
    (:func:`ablate.train.device.loader_options`); none means one process.
    """
    # In-memory tensor datasets are fetched a batch at a time (ablate.train.batching).
    loading = {**(loading or {}), "collate_fn": collate}
    if isinstance(sampler, BaseSampler):
        return DataLoader(batched(dataset), batch_sampler=sampler, **loading)
    batch_size = data_settings(cfg).batch_size
    return DataLoader(
        batched(dataset),
        batch_size=batch_size,
        sampler=sampler,
        **loading,
        # A last batch of one sample breaks BatchNorm in train mode; drop only that one.
        drop_last=len(sampler) % batch_size == 1,  # type: ignore[arg-type]
    )


def build_test_dataset(cfg: Config) -> Dataset | None:
    """The ``split='test'`` dataset when ``evaluation.test`` asks for one, else None."""
    if not evaluation_settings(cfg).test:
        return None
    settings = data_settings(cfg)
    try:
        test = DATASETS.build(
            {**settings.dataset, **(settings.test_dataset or {})}, key="data.dataset", split="test"
        )
    except AblateError as err:
        if (err.key or "").endswith(".split"):  # the dataset has no test split
            raise cfg.error(
                f"{settings.dataset.get('type')} cannot be built with split='test' "
                f"({err.message}); set evaluation.test: false, or give it a test split",
                "evaluation.test",
            ) from None
        raise cfg.locate(err) from None
    if len(test) == 0:  # type: ignore[arg-type]
        raise cfg.error("the test split is empty", "data.dataset")
    return test


def sample_batch(dataset: Dataset, n: int = 2) -> Batch:
    """The first ``n`` items, collated: the dry-run input of every build."""
    items = [dataset[i] for i in range(min(n, len(dataset)))]  # type: ignore[arg-type]
    for item in items:
        if not isinstance(item, Mapping) or "inputs" not in item or "labels" not in item:
            raise AblateError(
                f"{type(dataset).__name__} items must be dicts with 'inputs' and 'labels', got {type(item).__name__}"
            )
    return default_collate(items)


@dataclass
class BuiltModel:
    """A built model, its losses, and what its dry run showed.

    Attributes:
        inference: The ``inference_feat`` keys of the dry run, comma-joined (``logits``).
        shapes: ``training_feat`` tensor shapes per loss prefix, from the dry run.
        logged: Per-step names the loop logs under ``train/``: each loss term and its
            info (``cls/loss``) and the scalar ``visual_summary`` entries.
        replaced: Built-ins that the config's own classes of the same name replaced, as
            ``'<name>: <module> replaces <module>'`` (the first build that adopted them).
    """

    model: BaseModel
    losses: LossAggregator
    inference: str
    shapes: dict[str, dict[str, tuple[int, ...]]]
    logged: list[str] = field(default_factory=list)
    metrics: list[BaseMetric] = field(default_factory=list)
    #: Every evaluated name (``val/top1``, ``test/mse``, ``val/loss``) with its mode.
    modes: dict[str, Mode] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)


def build_model(cfg: Config, sample: Batch) -> BuiltModel:
    """Build ``model`` and its losses, initialise weights, and dry-run one sample batch.

    Raises:
        AblateError: any build error, a loss prefix mismatch, incompatible component
            shapes, or a metric that cannot read the model's output (a missing key, a
            wrong shape), each naming its config path.
    """
    evaluation = evaluation_settings(cfg)
    section = model_section(cfg)
    fmt = batch_format(cfg)
    try:
        replaced = adopt(custom_modules(cfg))  # OpenGait-style classes, found by class name
        with building_with(sample, cfg.data):
            model = MODELS.build(section.cfg, key=section.key)
            if not isinstance(model, BaseModel):
                raise AblateError(
                    f"{section.cfg.get('type')} is a {type(model).__name__}, not an ablate BaseModel; "
                    "a model's forward must return training_feat/visual_summary/inference_feat",
                    key=section.type_key,
                )
            if fmt == "opengait":
                model.register_forward_pre_hook(opengait_inputs)
            model.init_weights()
            losses = _build_losses(cfg, model)
            out = dry_run(model, losses, sample, section.key)
            metrics = metrics_for(evaluation.metrics, out, getattr(model, "topk", None))
            dry_check(metrics, out, sample, configured=evaluation.metrics is not None)
    except AblateError as err:
        if fmt == "dict" and "values to unpack" in err.message and err.hint is None:
            err.hint = (
                "a model that unpacks OpenGait's inputs tuple needs data.batch_format: opengait"
            )
        raise cfg.locate(section.located(err)) from None
    shapes = {
        prefix: {k: tuple(v.shape) for k, v in feats.items() if isinstance(v, Tensor)}
        for prefix, feats in out["training_feat"].items()
    }
    inference = ",".join(sorted(out["inference_feat"]))
    modes = metric_modes(metrics, evaluation.test)
    return BuiltModel(
        model, losses, inference, shapes, out.pop("_logged"), metrics, modes, replaced
    )


def _build_losses(cfg: Config, model: BaseModel) -> LossAggregator:
    configured = loss_section(cfg)
    if configured is not None:
        key, items, indexed = configured
        return LossAggregator(items, key=key, indexed=indexed)
    default = model.default_losses()
    if default is None:
        raise AblateError(
            f"{type(model).__name__} has no default loss; add a losses: [{{type, log_prefix, ...}}] list",
            key="losses",
        )
    key = getattr(model, "losses_key", "model")
    if isinstance(key, Mapping):  # {log_prefix: path}: a head's loss_cls, loss_bbox, ...
        return LossAggregator(default, key="model", indexed=False, named=key, positional=True)
    # A head's single `loss:` dict is not a list: its errors name `model.head.loss.<arg>`.
    # A head's loss is called positionally, as mmpretrain's heads call theirs.
    return LossAggregator(default, key=key, indexed=len(default) > 1, positional=True)


def dry_run(
    model: BaseModel, losses: LossAggregator, sample: Batch, key: str = "model"
) -> dict[str, Any]:
    """One no-grad forward and loss in eval mode (BatchNorm statistics stay untouched)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                out = model(sample)
            except (RuntimeError, TypeError, ValueError, IndexError) as err:
                # A model that builds its own network (OpenGait's) meets its shapes here.
                raise AblateError(
                    f"{type(model).__name__}.forward fails on a sample batch of inputs "
                    f"{_shape(sample.get('inputs'))}: {str(err).splitlines()[0]}",
                    key=key,
                ) from None
            _check_output(model, out)
            losses.check(out["training_feat"], type(model).__name__)
            for prefix, loss_fn in losses.terms.items():
                try:
                    losses.call(prefix, out["training_feat"][prefix])
                except (RuntimeError, TypeError, ValueError, IndexError) as err:
                    shapes = {
                        k: tuple(v.shape)
                        for k, v in out["training_feat"][prefix].items()
                        if isinstance(v, Tensor)
                    }
                    raise AblateError(
                        f"loss '{prefix}' ({type(loss_fn).__name__}) fails on training_feat {shapes}: "
                        f"{str(err).splitlines()[0]}",
                        key=f"{losses.key}",
                    ) from None
            _, info = losses(out["training_feat"])
            out["_logged"] = [*info, *scalar_summaries(out.get("visual_summary") or {})]
    finally:
        model.train(was_training)
    return out


def _shape(x: Any) -> Any:
    if isinstance(x, Tensor):
        return list(x.shape)
    return [_shape(v) for v in x] if isinstance(x, list | tuple) else type(x).__name__


def _check_output(model: BaseModel, out: Any) -> None:
    name = type(model).__name__
    if not isinstance(out, Mapping) or not {"training_feat", "inference_feat"} <= set(out):
        got = sorted(out) if isinstance(out, Mapping) else type(out).__name__
        raise AblateError(
            f"{name}.forward must return a dict with training_feat, visual_summary and inference_feat; got {got}",
            key="model",
        )
    inf = out["inference_feat"]
    if not isinstance(inf, Mapping) or not inf:
        raise AblateError(
            f"{name}.forward's inference_feat must be a dict of what the metrics read (logits, "
            f"embeddings, boxes, preds, ...), got {dict(inf) if isinstance(inf, Mapping) else inf!r}",
            key="model",
        )


def check_optimizer(cfg: Config, epochs: int) -> None:
    """Build the optimizer and its schedule on one dummy parameter (no model needed), and
    without importing ``torch._dynamo`` (:func:`ablate.train.device.eager_optimizer_methods`).

    Raises:
        AblateError: the optimizer or its schedule does not build.
    """
    build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))], epochs)


def build_optimizer(cfg: Config, params: Any, epochs: int) -> tuple[torch.optim.Optimizer, Any]:
    """Any ``torch.optim`` optimizer by name, plus an optional ``lr_schedule`` (any
    ``torch.optim.lr_scheduler`` class by name, stepped once per epoch)."""
    raw = cfg.data.get("optimizer") or {"type": "SGD", "lr": 0.1}
    if not isinstance(raw, Mapping) or "type" not in raw:
        raise cfg.error("expected {type: <torch.optim class>, lr: ..., ...}", "optimizer")
    raw = dict(raw)
    schedule = raw.pop("lr_schedule", None)
    name = raw.pop("type")
    optimizers = {
        n
        for n, c in vars(torch.optim).items()
        if inspect.isclass(c)
        and issubclass(c, torch.optim.Optimizer)
        and c is not torch.optim.Optimizer
    }
    if name not in optimizers:
        raise cfg.error(
            f"unknown optimizer '{name}'{did_you_mean(str(name), optimizers)}; any torch.optim class works",
            "optimizer.type",
        )
    cls = getattr(torch.optim, name)
    eager_optimizer_methods(cls)
    optimizer = _construct(cfg, cls, name, "optimizer", raw, params)
    scheduler = None
    if schedule is not None:
        if not isinstance(schedule, Mapping) or "type" not in schedule:
            raise cfg.error(
                "expected {type: <torch.optim.lr_scheduler class>, ...}", "optimizer.lr_schedule"
            )
        schedule = dict(schedule)
        sname = schedule.pop("type")
        sched_mod = torch.optim.lr_scheduler
        names = {
            n
            for n, c in vars(sched_mod).items()
            if inspect.isclass(c)
            and issubclass(c, sched_mod.LRScheduler)
            and not n.startswith("_")
            and n != "LRScheduler"
        }
        if sname not in names:
            raise cfg.error(
                f"unknown lr_schedule '{sname}'{did_you_mean(str(sname), names)}",
                "optimizer.lr_schedule.type",
            )
        if sname == "CosineAnnealingLR":
            schedule.setdefault("T_max", epochs)
        scheduler = _construct(
            cfg, getattr(sched_mod, sname), sname, "optimizer.lr_schedule", schedule, optimizer
        )
    return optimizer, scheduler


def _construct(
    cfg: Config, cls: type, name: str, key: str, kwargs: dict[str, Any], first: Any
) -> Any:
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    accepted = [p for p in params if p not in ("self", "params", "optimizer")]
    for k in kwargs:
        if k not in params or k in ("self", "params", "optimizer"):
            raise cfg.error(
                f"unknown argument '{k}' for {name}{did_you_mean(k, accepted)}; accepted: {', '.join(accepted)}",
                f"{key}.{k}",
            )
        default = params[k].default
        number = isinstance(default, int | float) and not isinstance(default, bool)
        if number and (isinstance(kwargs[k], str | bool) or kwargs[k] is None):
            raise cfg.error(
                f"expected a number for {name}.{k}, got {kwargs[k]!r} ({type(kwargs[k]).__name__})",
                f"{key}.{k}",
            )
    try:
        return cls(first, **kwargs)
    except (TypeError, ValueError) as err:
        raise cfg.error(f"{name}: {err}", key) from None
