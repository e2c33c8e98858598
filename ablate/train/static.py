"""The static check of a config: every mistake that needs no forward pass, found at once.

Unknown component types, unknown or misspelt arguments and values of the wrong type are
read off the config and the constructors' signatures, for every section of every cell,
before any model is built. A dry forward (:mod:`ablate.train.check`) finds the rest
(shapes that do not fit); a static mistake must never hide behind one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ablate.config import Config
from ablate.errors import AblateError, AblateErrors, problems_line
from ablate.registry import (
    BACKBONES,
    DATASETS,
    HEADS,
    LOSSES,
    MODELS,
    NECKS,
    REGISTRIES,
    Registry,
)
from ablate.search.distributions import DISTRIBUTIONS
from ablate.settings import data_settings, train_settings
from ablate.signature import kwargs_problems
from ablate.train.build import check_optimizer

#: The registry a component under this config key comes from.
SLOTS: dict[str, Registry] = {
    "backbone": BACKBONES,
    "neck": NECKS,
    "head": HEADS,
    "loss": LOSSES,
    "losses": LOSSES,
}
#: Keys a loss item carries for :class:`ablate.nn.model.LossAggregator`, not for the loss.
LOSS_KEYS = ("log_prefix", "loss_term_weight")


def config_problems(cfg: Config) -> list[AblateError]:
    """Every static mistake of one resolved config, each located (file and config path)."""
    found: list[AblateError] = []
    for check in (_settings, _model, _data, _losses, _optimizer):
        found += check(cfg)
    return [cfg.locate(err) for err in found]


def raise_problems(cfg: Config) -> None:
    """Raise with every static mistake of ``cfg``: the one, or all and a summary line.

    Raises:
        AblateError: one mistake.
        AblateErrors: several.
    """
    found = config_problems(cfg)
    if len(found) == 1:
        raise found[0]
    if found:
        raise AblateErrors(problems_line(len(found)), [str(e) for e in found], file=cfg.file)


def choice_problems(cfg: Config) -> list[AblateError]:
    """The mistakes inside ``search:``'s component choices, read off the file alone: for
    when the plan itself failed, and no cell can be resolved to check them in place."""
    raw = cfg.data.get("search")
    found: list[AblateError] = []
    for path, value in raw.items() if isinstance(raw, Mapping) else []:
        if isinstance(value, Mapping) and len(value) == 1:
            value = next(iter(value.values()))  # {choice: [...]} / {grid: [...]}
        if not isinstance(path, str) or not isinstance(value, list):
            continue
        slot = path.rsplit(".", 1)[-1]
        for i, item in enumerate(value):
            if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
                continue
            registry = _registry(slot, item["type"])
            if registry is not None:
                # A searched argument ({uniform: [...]}) is checked by the space, not here.
                fixed = {k: v for k, v in item.items() if k != "name" and not _searched(v)}
                found += component_problems(fixed, registry, f"search.{path}.{i}")
    return [cfg.locate(err) for err in found]


def _searched(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in DISTRIBUTIONS


def _settings(cfg: Config) -> list[AblateError]:
    found = []
    for read in (train_settings, data_settings):
        try:
            read(cfg)
        except AblateError as err:
            found.append(err)
    return found


def _model(cfg: Config) -> list[AblateError]:
    model = cfg.data.get("model")
    if not isinstance(model, Mapping):
        return []  # the build says what a model section needs
    return list(component_problems(model, MODELS, "model"))


def _data(cfg: Config) -> list[AblateError]:
    data = cfg.data.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("dataset"), Mapping):
        return []
    found = list(component_problems(data["dataset"], DATASETS, "data.dataset", split="train"))
    val = data.get("val_dataset")
    if isinstance(val, Mapping) and found == []:
        merged = {**data["dataset"], **val}
        found += component_problems(merged, DATASETS, "data.val_dataset", split="val")
    return found


def _losses(cfg: Config) -> list[AblateError]:
    losses = cfg.data.get("losses")
    if not isinstance(losses, list):
        return []
    found: list[AblateError] = []
    for i, item in enumerate(losses):
        if isinstance(item, Mapping):
            loss = {k: v for k, v in item.items() if k not in LOSS_KEYS}
            found += component_problems(loss, LOSSES, f"losses.{i}")
    return found


def _optimizer(cfg: Config) -> list[AblateError]:
    """The optimizer and its schedule, on one dummy parameter (no model needed)."""
    try:
        epochs = train_settings(cfg).epochs
    except AblateError:
        epochs = 1  # reported by _settings
    try:
        check_optimizer(cfg, epochs)
    except AblateError as err:
        return [err]
    return []


def component_problems(
    node: Mapping[str, Any], registry: Registry, key: str, **supplied: Any
) -> Iterator[AblateError]:
    """A component's own mistakes, then those of the components inside it.

    ``supplied`` are the arguments its builder passes (a dataset's ``split``). Missing
    required arguments are not checked: a parent may supply them (an inferred
    ``in_channels``), and the build names what is still missing.
    """
    name = node.get("type")
    if not isinstance(name, str):
        return  # the build explains a missing or non-string type
    try:
        cls = registry.get(name, key=f"{key}.type")
    except AblateError as err:
        yield err
        return
    args = {**supplied, **{k: v for k, v in node.items() if k != "type"}}
    yield from kwargs_problems(cls, args, key=key, type_name=name, required=False)
    for child, value in args.items():
        yield from _nested(value, child, f"{key}.{child}")


def _nested(value: Any, child: str, key: str) -> Iterator[AblateError]:
    """Components inside a component: a slot's (``head``, ``loss``) or any registered type."""
    items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
    for i, item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
            continue
        registry = _registry(child, item["type"])
        if registry is None:
            continue  # not a component (an init_cfg's {type: kaiming}, say)
        if registry is LOSSES:
            item = {k: v for k, v in item.items() if k not in LOSS_KEYS}
        where = key if i is None else f"{key}.{i}"
        yield from component_problems(item, registry, where)


def _registry(slot: str, type_name: str) -> Registry | None:
    """The registry of a component under config key ``slot``: the slot's own, else the one
    that holds ``type_name`` (None: not a component)."""
    if slot in SLOTS:
        return SLOTS[slot]
    return next((r for r in REGISTRIES.values() if type_name in r), None)


__all__ = ["choice_problems", "component_problems", "config_problems", "raise_problems"]
