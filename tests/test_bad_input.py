"""Every user mistake is one line on stderr, exit code 2, no traceback, naming the file and
the config path, what was expected and a close match.

One table: each row writes some files into the test's empty working directory, runs
``ablate.cli.main(argv)`` in-process, and checks the single stderr line. ``where`` is the
``FILE: KEY`` the line must start with, right after ``error: ``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from ablate.cli import main
from ablate.errors import EXIT_USER_ERROR
from ablate.registry import DATASETS, REGISTRIES

#: A small, valid config; rows inherit it with ``_base_: base.yaml`` and change one thing.
BASE = """\
model:
  type: ImageClassifier
  backbone: {type: ResNet_CIFAR, depth: 18, in_channels: 1, base_channels: 8, num_stages: 2, strides: [1, 2], out_indices: [1]}
  neck: {type: GlobalAveragePooling}
  head: {type: LinearClsHead, num_classes: 10}
data:
  dataset: {type: Digits, limit: 32}
  batch_size: 16
optimizer: {type: SGD, lr: 0.05}
train: {epochs: 1, num_threads: 1}
"""

#: Plugins written by rows; every module is named bad_input_* and forgotten after the test.
PREFIX_PLUGIN = """\
from ablate import MODELS, BaseModel
from torch import nn


@MODELS.register_module()
class BadInputTwoBranchNet(BaseModel):
    def build_network(self, model_cfg):
        self.fc = nn.Linear(64, model_cfg["num_classes"])

    def forward(self, batch):
        logits = self.fc(batch["inputs"].flatten(1))
        labels = batch["labels"]
        return {
            "training_feat": {
                "triplet": {"embeddings": logits, "labels": labels},
                "softmax": {"logits": logits, "labels": labels},
            },
            "visual_summary": {},
            "inference_feat": {"logits": logits},
        }
"""

# Two classes of one plugin under one name (a built-in's name would be the plugin's to take).
DUPLICATE_PLUGIN = """\
from torch import nn
from ablate import BACKBONES


@BACKBONES.register_module(name="BadInputNet")
class First(nn.Module):
    pass


@BACKBONES.register_module(name="BadInputNet")
class Second(nn.Module):
    pass
"""

TWO_BRANCH = """\
_base_: base.yaml
custom_imports: {imports: [bad_input_prefix]}
model: {_delete_: true, type: BadInputTwoBranchNet, num_classes: 10}
"""


def child(extra: str, **more: str | bytes) -> dict[str, str | bytes]:
    """``base.yaml`` plus ``cfg.yaml`` that inherits it and adds ``extra``."""
    return {"base.yaml": BASE, "cfg.yaml": "_base_: base.yaml\n" + extra, **more}


class Row(NamedTuple):
    files: dict[str, str | bytes]
    argv: list[str]
    where: str
    expected: list[str]
    code: int = EXIT_USER_ERROR


def train(*args: str) -> list[str]:
    return ["train", *args]


ROWS: dict[str, Row] = {
    # -- files and YAML ---------------------------------------------------------------------
    "missing-file": Row({}, train("nope.yaml"), "nope.yaml", ["config file not found"]),
    "not-utf8": Row(
        {"cfg.yaml": b"model: \xff\xfe\n"},
        train("cfg.yaml"),
        "cfg.yaml",
        ["cannot read file", "utf-8"],
    ),
    "directory": Row(
        {"cfg.yaml/x": ""}, train("cfg.yaml"), "cfg.yaml", ["cannot read file", "Is a directory"]
    ),
    "invalid-yaml": Row(
        {
            "cfg.yaml": "model:\n  type: ImageClassifier\n  backbone: {type: ResNet, depth: 18\ndata: {}\n"
        },
        train("cfg.yaml"),
        "cfg.yaml: line 4",
        ["invalid YAML", "expected ',' or '}'"],
    ),
    "yaml-tab": Row(
        {"cfg.yaml": "model:\n\ttype: x\n"},
        train("cfg.yaml"),
        "cfg.yaml: line 2",
        ["invalid YAML", "'\\t'"],
    ),
    "yaml-object-tag": Row(
        {"cfg.yaml": "model: !!python/object/apply:os.system ['echo pwned']\n"},
        train("cfg.yaml"),
        "cfg.yaml: line 1",
        ["YAML object tags are not allowed"],
    ),
    "yaml-duplicate-key": Row(
        {"cfg.yaml": "model:\n  head: {type: LinearClsHead}\n  head: {type: LinearClsHead}\n"},
        train("cfg.yaml"),
        "cfg.yaml: line 3",
        ["duplicate key 'head' (first set on line 2)"],
    ),
    "yaml-not-a-mapping": Row(
        {"cfg.yaml": "- model\n- data\n"},
        train("cfg.yaml"),
        "cfg.yaml",
        ["expected a mapping at the top, got list"],
    ),
    # -- _base_ --------------------------------------------------------------------------------
    "base-cycle": Row(
        {"a.yaml": "_base_: b.yaml\n", "b.yaml": "_base_: a.yaml\n"},
        train("a.yaml"),
        "b.yaml: _base_",
        ["_base_ cycle: a.yaml -> b.yaml -> a.yaml"],
    ),
    "base-missing": Row(
        {"cfg.yaml": "_base_: [base.yaml]\n"},
        train("cfg.yaml"),
        "cfg.yaml: _base_",
        ["base config 'base.yaml' not found"],
    ),
    "base-not-a-path": Row(
        {"cfg.yaml": "_base_: {a: 1}\n"},
        train("cfg.yaml"),
        "cfg.yaml: _base_",
        ["expected a path or a list of paths"],
    ),
    # An error set in a base file names the base file, not the child that inherits it...
    "error-in-base-names-base": Row(
        {
            "base.yaml": BASE.replace("num_classes: 10", "num_clases: 10"),
            "cfg.yaml": "_base_: base.yaml\ntrain: {epochs: 1}\n",
        },
        train("cfg.yaml"),
        "base.yaml: model.head.num_clases",
        ["unknown argument 'num_clases' for LinearClsHead", "(did you mean 'num_classes'?)"],
    ),
    # ... also two levels up ...
    "error-in-grandparent-names-it": Row(
        {
            "grand.yaml": BASE.replace("momentum", "x").replace(
                "lr: 0.05", "lr: 0.05, momentom: 0.9"
            ),
            "mid.yaml": "_base_: grand.yaml\ntrain: {epochs: 1}\n",
            "cfg.yaml": "_base_: mid.yaml\ndata: {batch_size: 8}\n",
        },
        train("cfg.yaml"),
        "grand.yaml: optimizer.momentom",
        ["unknown argument 'momentom' for SGD", "(did you mean 'momentum'?)"],
    ),
    # ... and invalid YAML in a base file names it with its line.
    "invalid-yaml-in-base": Row(
        {"base.yaml": "model: [1, 2\n", "cfg.yaml": "_base_: base.yaml\n"},
        train("cfg.yaml"),
        "base.yaml: line 2",
        ["invalid YAML"],
    ),
    # -- keys, types and values -----------------------------------------------------------------
    "unknown-top-level-key": Row(
        child("modle: {type: ImageClassifier}\n"),
        train("cfg.yaml"),
        "cfg.yaml: modle",
        ["unknown top-level key 'modle'", "(did you mean 'model'?)"],
    ),
    "unknown-section-key": Row(
        child("train: {epoch: 3}\n"),
        train("cfg.yaml"),
        "cfg.yaml: train.epoch",
        ["unknown argument 'epoch'", "(did you mean 'epochs'?)"],
    ),
    "unknown-component-type": Row(
        child("model: {backbone: {type: ResNet_CIFR}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: model.backbone.type",
        ["unknown backbone type 'ResNet_CIFR'", "(did you mean 'ResNet_CIFAR'?)", "custom_imports"],
    ),
    "unknown-argument": Row(
        child("model: {head: {num_clases: 10}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: model.head.num_clases",
        [
            "unknown argument 'num_clases' for LinearClsHead",
            "(did you mean 'num_classes'?)",
            "accepted: LinearClsHead(num_classes: int",
        ],
    ),
    "unknown-argument-override": Row(
        child(""),
        train("cfg.yaml", "model.head.num_clases=10"),
        "<command line>: model.head.num_clases",
        ["(did you mean 'num_classes'?)"],
    ),
    "argument-to-module-without-init": Row(
        child("model: {neck: {type: Flatten, dim: 1}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: model.neck.dim",
        ["unknown argument 'dim' for Flatten", "accepted: Flatten()"],
    ),
    "missing-required-argument": Row(
        child("model: {head: {_delete_: true, type: LinearClsHead}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: model.head",
        ["LinearClsHead needs argument 'num_classes'"],
    ),
    "wrong-type-int-from-str": Row(
        child(""),
        train("cfg.yaml", "train.epochs=ten"),
        "<command line>: train.epochs",
        ["expected int", "got 'ten' (str)"],
    ),
    "wrong-type-int-from-list": Row(
        child(""),
        train("cfg.yaml", "model.head.num_classes=[1]"),
        "<command line>: model.head.num_classes",
        ["expected int for LinearClsHead.num_classes", "got [1] (list)"],
    ),
    "wrong-type-in-file": Row(
        child("model: {backbone: {strides: 2}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: model.backbone.strides",
        ["expected Sequence[int] for ResNet_CIFAR.strides", "got 2 (int)"],
    ),
    "constructor-rejects-value": Row(
        child(""),
        train("cfg.yaml", "model.backbone.depth=19"),
        "<command line>: model.backbone.depth",
        ["ResNet_CIFAR: depth must be one of [18, 34, 50, 101, 152], got 19"],
    ),
    "constructor-rejects-value-in-file": Row(
        child("model: {head: {topk: [0]}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: model.head.topk",
        ["LinearClsHead: topk must be positive"],
    ),
    "negative-setting": Row(
        child("data: {batch_size: 0}\n"),
        train("cfg.yaml"),
        "cfg.yaml: data.batch_size",
        ["expected at least 1"],
    ),
    # -- overrides --------------------------------------------------------------------------------
    "override-no-equals": Row(
        child(""),
        train("cfg.yaml", "model.head"),
        "<command line>",
        ["override 'model.head' is not of the form key.path=value"],
    ),
    "override-empty-part": Row(
        child(""),
        train("cfg.yaml", "model..head=1"),
        "<command line>",
        ["override 'model..head=1' is not of the form key.path=value"],
    ),
    "override-through-a-leaf": Row(
        child(""),
        train("cfg.yaml", "train.epochs.max=3"),
        "<command line>: train.epochs.max",
        ["'train.epochs' is 1, not a mapping"],
    ),
    "override-list-index-out-of-range": Row(
        {
            "base.yaml": BASE,
            "bad_input_prefix.py": PREFIX_PLUGIN,
            "cfg.yaml": TWO_BRANCH + "losses: [{type: CrossEntropyLoss, log_prefix: softmax}]\n",
        },
        train("cfg.yaml", "losses.3.loss_term_weight=0.5"),
        "<command line>: losses.3.loss_term_weight",
        ["'losses' is a list of 1; expected an index 0 to 0"],
    ),
    # -- custom_imports ---------------------------------------------------------------------------
    "custom-import-missing-module": Row(
        child("custom_imports: {imports: [bad_input_no_such_module]}\n"),
        train("cfg.yaml"),
        "cfg.yaml: custom_imports.imports",
        [
            "cannot import 'bad_input_no_such_module'",
            "No module named 'bad_input_no_such_module'",
            "sys.path is ['",
        ],
    ),
    "custom-import-bad-key": Row(
        child("custom_imports: {imports: [x], allow_failed: true}\n"),
        train("cfg.yaml"),
        "cfg.yaml: custom_imports.allow_failed",
        ["unknown key 'allow_failed'", "(did you mean 'allow_failed_imports'?)"],
    ),
    "custom-import-duplicate-name": Row(
        child(
            "custom_imports: {imports: [bad_input_duplicate]}\n",
            **{"bad_input_duplicate.py": DUPLICATE_PLUGIN},
        ),
        train("cfg.yaml"),
        "cfg.yaml: custom_imports.imports",
        [
            "importing 'bad_input_duplicate'",
            "backbone 'BadInputNet' is already registered by bad_input_duplicate.First",
            "force=True",
        ],
    ),
    # -- the model contract -------------------------------------------------------------------------
    "loss-prefix-mismatch": Row(
        {
            "base.yaml": BASE,
            "bad_input_prefix.py": PREFIX_PLUGIN,
            "cfg.yaml": TWO_BRANCH + "losses: [{type: CrossEntropyLoss, log_prefix: softmax}]\n",
        },
        train("cfg.yaml"),
        "cfg.yaml: losses",
        [
            "loss prefix mismatch",
            "BadInputTwoBranchNet.forward returns training_feat ['triplet'] with no loss configured",
        ],
    ),
    "loss-prefix-typo": Row(
        {
            "base.yaml": BASE,
            "bad_input_prefix.py": PREFIX_PLUGIN,
            "cfg.yaml": TWO_BRANCH
            + "losses:\n  - {type: TripletLoss, log_prefix: triplt}\n  - {type: CrossEntropyLoss, log_prefix: softmax}\n",
        },
        train("cfg.yaml"),
        "cfg.yaml: losses.0.log_prefix",
        ["losses ['triplt'] have no training_feat entry (did you mean 'triplet'?)"],
    ),
    "loss-argument-typo": Row(
        {
            "base.yaml": BASE,
            "bad_input_prefix.py": PREFIX_PLUGIN,
            "cfg.yaml": TWO_BRANCH
            + "losses:\n  - {type: TripletLoss, log_prefix: triplet, margn: 0.2}\n  - {type: CrossEntropyLoss, log_prefix: softmax}\n",
        },
        train("cfg.yaml"),
        "cfg.yaml: losses.0.margn",
        ["unknown argument 'margn' for TripletLoss", "(did you mean 'margin'?)"],
    ),
    "opengait-unread-key": Row(
        {
            "base.yaml": BASE,
            "bad_input_prefix.py": PREFIX_PLUGIN,
            "cfg.yaml": TWO_BRANCH + "losses: [{type: CrossEntropyLoss, log_prefix: softmax}]\n",
        },
        train("cfg.yaml", "model.num_clases=3"),
        "<command line>: model.num_clases",
        [
            "config key 'num_clases' was never read by BadInputTwoBranchNet.build_network",
            "(did you mean 'num_classes'?)",
        ],
    ),
    "head-loss-argument-typo": Row(
        child("model: {head: {loss: {type: CrossEntropyLoss, label_smoothng: 0.1}}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: model.head.loss.label_smoothng",
        [
            "unknown argument 'label_smoothng' for CrossEntropyLoss",
            "(did you mean 'label_smoothing'?)",
        ],
    ),
    # -- shapes between components ------------------------------------------------------------------
    "incompatible-shapes-explicit-in-channels": Row(
        child("model: {neck: {type: Flatten}, head: {in_channels: 7}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: model.head",
        [
            "incompatible shapes",
            "model.neck (Flatten) outputs",
            "(2, 256)",
            "model.head (LinearClsHead) cannot take it",
            "2x256 and 7x10",
        ],
    ),
    "head-fed-unpooled-maps": Row(
        {"cfg.yaml": BASE.replace("  neck: {type: GlobalAveragePooling}\n", "")},
        train("cfg.yaml"),
        "cfg.yaml: model.head",
        [
            "incompatible shapes",
            "model.backbone (ResNet_CIFAR) outputs",
            "(2, 16, 4, 4)",
            "add a pooling neck",
        ],
    ),
    # -- data --------------------------------------------------------------------------------------
    "unknown-dataset-argument": Row(
        child("data: {dataset: {limt: 10}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: data.dataset.limt",
        ["unknown argument 'limt' for Digits", "(did you mean 'limit'?)"],
    ),
    "missing-dataset-root": Row(
        child("data: {dataset: {_delete_: true, type: CIFAR10, data_root: does/not/exist}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: data.dataset.data_root",
        ["does/not/exist does not exist", "CIFAR-10"],
    ),
    "missing-npz-file": Row(
        child("data: {dataset: {_delete_: true, type: NpzDataset, path: nowhere.npz}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: data.dataset",
        ["nowhere.npz does not exist"],
    ),
    # -- optimizer --------------------------------------------------------------------------------
    "unknown-optimizer": Row(
        child(""),
        train("cfg.yaml", "optimizer.type=SDG"),
        "<command line>: optimizer.type",
        ["unknown optimizer 'SDG'", "(did you mean 'SGD'?)"],
    ),
    "unknown-optimizer-argument": Row(
        child("optimizer: {momentom: 0.9}\n"),
        train("cfg.yaml"),
        "cfg.yaml: optimizer.momentom",
        ["unknown argument 'momentom' for SGD", "(did you mean 'momentum'?)"],
    ),
    "optimizer-rejects-value": Row(
        child("optimizer: {lr: -1.0}\n"),
        train("cfg.yaml"),
        "cfg.yaml: optimizer",
        ["SGD: Invalid learning rate: -1.0"],
    ),
    "optimizer-wrong-type": Row(
        child(""),
        train("cfg.yaml", "optimizer.lr=fast"),
        "<command line>: optimizer.lr",
        ["expected a number for SGD.lr, got 'fast' (str)"],
    ),
    # `1e-4` is a float here (YAML 1.1 alone would make it a string), so torch sees -0.0001.
    "optimizer-rejects-exponent-float": Row(
        child("optimizer: {lr: 1e-4, weight_decay: -1e-4}\n"),
        train("cfg.yaml"),
        "cfg.yaml: optimizer",
        ["SGD: Invalid weight_decay value: -0.0001"],
    ),
    "unknown-lr-schedule": Row(
        child("optimizer: {lr_schedule: {type: CosineAnealingLR}}\n"),
        train("cfg.yaml"),
        "cfg.yaml: optimizer.lr_schedule.type",
        ["unknown lr_schedule 'CosineAnealingLR'", "(did you mean 'CosineAnnealingLR'?)"],
    ),
}

NEEDS = {
    "missing-dataset-root": "CIFAR10",
    "missing-npz-file": "NpzDataset",
}


def _params() -> list[object]:
    params = []
    for case, row in ROWS.items():
        marks = []
        if case in NEEDS and NEEDS[case] not in DATASETS:
            marks.append(pytest.mark.skip(reason=f"built-in {NEEDS[case]} is not registered yet"))
        params.append(pytest.param(row, id=case, marks=marks))
    return params


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> object:
    """sys.path restored and bad_input_* plugins unregistered after each row."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    importlib.invalidate_caches()
    yield
    for registry in REGISTRIES.values():
        for name, obj in list(registry._table.items()):
            if getattr(obj, "__module__", "").startswith("bad_input_"):
                del registry._table[name]
    for mod in [m for m in sys.modules if m.startswith("bad_input_")]:
        del sys.modules[mod]


@pytest.mark.parametrize("row", _params())
def test_bad_input(
    row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_imports: object
) -> None:
    for rel, content in row.files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    code = main(row.argv)
    out, err = capsys.readouterr()

    assert code == row.code, f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got:\n{err}"
    line = lines[0]
    assert line.startswith(f"error: {row.where}: "), (
        f"expected 'error: {row.where}: ...', got:\n{line}"
    )
    for text in row.expected:
        assert text in line, f"{text!r} not in:\n{line}"
