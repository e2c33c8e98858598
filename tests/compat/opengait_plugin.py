"""The OpenGait-style plugin of the compatibility tests, and what builds it: kept apart from
the tests so that spawned DDP workers import only this (no pytest, no report code).

The plugin is written the way OpenGait writes models and losses (no registry decorator,
``model_cfg``/``loss_cfg``, tuple inputs, per-part losses, ``self.info``,
``gather_and_scale_wrapper``); only its imports name ablate.
"""

from __future__ import annotations

import copy
import sys
import textwrap
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ablate.config import Config, import_custom
from ablate.train.build import (
    build_datasets,
    build_model,
    build_sampler,
    sample_batch,
    train_loader,
)

PLUGIN = "og_compat"

NETS = '''
"""OpenGait-style models."""

import torch
from torch import nn

from ablate import BaseModel


class PartFCs(nn.Module):
    def __init__(self, parts_num, in_channels, out_channels):
        super().__init__()
        self.fc_bin = nn.Parameter(torch.randn(parts_num, in_channels, out_channels) * 0.1)

    def forward(self, x):
        return torch.einsum("nc,pco->nop", x, self.fc_bin)  # [n, c_in] -> [n, c_out, p]


class TupleNet(BaseModel):
    def build_network(self, model_cfg):
        self.Head = PartFCs(**model_cfg["PartFCs"])
        self.cls = nn.Linear(model_cfg["PartFCs"]["out_channels"], model_cfg["class_num"])
        if "backbone_cfg" in model_cfg.keys():
            self.Backbone = self.get_backbone(model_cfg["backbone_cfg"])

    def init_parameters(self):
        nn.init.constant_(self.cls.bias, 0.5)

    def forward(self, inputs):
        ipts, labs, typs, viws, seqL = inputs
        self.seen = (type(inputs).__name__, len(ipts), typs, viws, seqL)
        embs = self.Head(ipts[0].flatten(1))  # [n, c, p]
        logits = self.cls(embs.transpose(1, 2)).transpose(1, 2)  # [n, class_num, p]
        return {
            "training_feat": {
                "triplet": {"embeddings": embs, "labels": labs},
                "softmax": {"logits": logits, "labels": labs},
            },
            "visual_summary": {
                "image/inputs": ipts[0][:, :1],
                "scalar/part_norm": embs.norm(dim=1),
            },
            "inference_feat": {"embeddings": embs},
        }
'''

LOSSES_PY = '''
"""OpenGait-style losses: per-part values [p], self.info, the gather wrapper."""

import torch.nn.functional as F

from ablate import BaseLoss, gather_and_scale_wrapper


class PartTriplet(BaseLoss):
    def __init__(self, margin, loss_term_weight=1.0):
        super().__init__(loss_term_weight)
        self.margin = margin

    @gather_and_scale_wrapper
    def forward(self, embeddings, labels):
        x = embeddings.permute(2, 0, 1)  # [p, n, c]
        d = (x.unsqueeze(2) - x.unsqueeze(1)).pow(2).sum(-1).add(1e-12).sqrt()  # [p, n, n]
        same = (labels.unsqueeze(1) == labels.unsqueeze(0)).float()
        hard_pos = (d * same).amax(-1)
        hard_neg = (d + same * 1e6).amin(-1)
        loss = F.relu(hard_pos - hard_neg + self.margin).mean(-1)  # [p]
        self.info.update({"loss": loss.detach(), "mean_dist": d.mean((1, 2)).detach()})
        return loss, self.info


class PartSoftmax(BaseLoss):
    def __init__(self, scale=16, loss_term_weight=1.0):
        super().__init__(loss_term_weight)
        self.scale = scale

    def forward(self, logits, labels):
        target = labels.unsqueeze(1).expand(-1, logits.size(2))
        loss = F.cross_entropy(logits * self.scale, target, reduction="none").mean(0)  # [p]
        accuracy = (logits.argmax(1) == labels.unsqueeze(1)).float().mean()
        self.info.update({"loss": loss.detach(), "accuracy": accuracy})
        return loss, self.info
'''

BASE: dict[str, Any] = {
    "custom_imports": [PLUGIN],
    "model_cfg": {
        "model": "TupleNet",
        "PartFCs": {"parts_num": 3, "in_channels": 16, "out_channels": 8},
        "class_num": 4,
    },
    "loss_cfg": [
        {"type": "PartTriplet", "log_prefix": "triplet", "margin": 0.2, "loss_term_weight": 1.0},
        {"type": "PartSoftmax", "log_prefix": "softmax", "scale": 4, "loss_term_weight": 0.5},
    ],
    "data": {
        "dataset": {
            "type": "SyntheticImages",
            "num_samples": 32,
            "num_classes": 4,
            "channels": 4,
            "image_size": 2,
        },
        "sampler": {"type": "TripletSampler", "batch_size": [2, 4]},
        "batch_size": 8,
    },
    "optimizer": {"type": "SGD", "lr": 0.1},
    "train": {"epochs": 1, "num_threads": 1},
}


def write_plugin(root: Path) -> None:
    pkg = root / PLUGIN
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(f"from {PLUGIN} import losses, nets  # noqa: F401\n")
    (pkg / "nets.py").write_text(textwrap.dedent(NETS))
    (pkg / "losses.py").write_text(textwrap.dedent(LOSSES_PY))


def config(changes: dict[str, Any] | None = None) -> Config:
    """BASE with ``changes`` (dotted paths; a None value deletes the key), as a Config."""
    data = copy.deepcopy(BASE)
    for path, value in (changes or {}).items():
        *parents, last = path.split(".")
        node: Any = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if value is None:
            node.pop(last, None)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    cfg = Config(data, "og.yaml")
    import_custom(cfg)
    return cfg


def build(changes: dict[str, Any] | None = None) -> Any:
    cfg = config(changes)
    train, _ = build_datasets(cfg)
    return build_model(cfg, sample_batch(train, 8)), cfg, train


def ddp_grads(rank: int, world: int, root: str, port: int, out: str) -> None:
    """One step of BASE on rank ``rank`` of ``world`` (DDP over gloo when world > 1); saves
    the loss, its info and the gradients to ``out/<world>-<rank>.pt``."""
    torch.set_num_threads(1)
    sys.path.insert(0, root)
    if world > 1:
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
        )
    try:
        torch.manual_seed(0)
        cfg = config()
        train, _ = build_datasets(cfg)
        built = build_model(cfg, sample_batch(train, 8))
        net: torch.nn.Module = built.model
        if world > 1:
            net = torch.nn.parallel.DistributedDataParallel(built.model)
        sampler = build_sampler(cfg, train, rank, world, seed=5)
        sampler.set_epoch(2)
        batch = next(iter(train_loader(cfg, train, sampler)))
        loss, info = built.losses(net(batch)["training_feat"])
        loss.backward()
        grads = [p.grad.detach().clone() for p in built.model.parameters() if p.grad is not None]
        torch.save(
            {"loss": float(loss.detach()), "info": info, "grads": grads},
            Path(out) / f"{world}-{rank}.pt",
        )
    finally:
        if world > 1:
            dist.destroy_process_group()
