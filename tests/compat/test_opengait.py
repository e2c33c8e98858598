"""OpenGait's conventions, each with its case (issue 9: conventions 4-7, 9, 10, 14).

The plugin (``opengait_plugin.py``) is written the way OpenGait writes models and losses;
only its imports name ablate. It is written to a temporary package and loaded through
``custom_imports``, as a user's would be.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from doc_project import forget_plugin

from ablate import LOSSES, SAMPLERS, AblateError
from ablate.nn.model import image_summaries, scalar_summaries
from ablate.train.build import (
    build_datasets,
    build_model,
    build_sampler,
    sample_batch,
    train_loader,
)
from ablate.train.images import MAX_SIDE, decoded_images, encode_images
from compat.opengait_plugin import PLUGIN, build, config, ddp_grads, write_plugin


@pytest.fixture(scope="module")
def plugin_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("og_project")
    write_plugin(root)
    sys.path.insert(0, str(root))
    forget_plugin(PLUGIN)
    yield root
    forget_plugin(PLUGIN)
    sys.path.remove(str(root))


# --- what each convention does, one case (or more) each -----------------------------------------


def _reads_through_unpacking(plugin_root: Path) -> None:  # convention 4
    built, _, _ = build()
    assert built.model.Head.fc_bin.shape == (3, 16, 8)


def _per_part_losses_are_means(plugin_root: Path) -> None:  # convention 5
    built, _, train = build()
    batch = sample_batch(train, 8)
    out = built.model(batch)
    total, info = built.losses(out["training_feat"])
    feats = out["training_feat"]
    trip, _ = built.losses.terms["triplet"](**feats["triplet"])
    soft, _ = built.losses.terms["softmax"](**feats["softmax"])
    assert trip.shape == soft.shape == (3,)  # per part
    expected = trip.detach().mean() + 0.5 * soft.detach().mean()
    assert float(total.detach()) == pytest.approx(float(expected), rel=1e-6)
    assert info["softmax/loss"] == pytest.approx(float(0.5 * soft.detach().mean()), rel=1e-6)
    # a per-part info value is logged as its mean
    mean_dist = built.losses.terms["triplet"].info["mean_dist"]
    assert info["triplet/mean_dist"] == pytest.approx(float(mean_dist.mean()), rel=1e-6)


def _base_loss_keeps_term_weight_and_info(plugin_root: Path) -> None:  # convention 6
    built, _, _ = build()
    soft = built.losses.terms["softmax"]
    assert soft.loss_term_weight == 0.5 and soft.loss_weight == 1.0
    assert list(soft.info) == ["loss", "accuracy"]  # an ordered dict, in the loss's order
    direct = LOSSES.get("PartTriplet")(margin=0.1, loss_term_weight=0.25)
    assert direct.loss_term_weight == 0.25
    assert not dist.is_initialized()  # the dry run above called the gather wrapper as is


def _samplers_are_components(plugin_root: Path) -> None:  # convention 7
    assert "TripletSampler" in SAMPLERS
    _, cfg, train = build()
    sampler = build_sampler(cfg, train, 0, 1, seed=3)
    batches = list(train_loader(cfg, train, sampler))
    assert len(batches) == len(train) // 8
    for batch in batches:
        counts = torch.bincount(batch["labels"], minlength=4)
        assert sorted(counts.tolist()) == [0, 0, 4, 4]  # P=2 identities x K=4


def _tuple_inputs(plugin_root: Path) -> None:  # convention 9
    built, _, train = build()
    built.model(sample_batch(train, 4))
    assert built.model.seen == ("tuple", 1, None, None, None)
    # an ablate-style `model:` config asks for the tuple with data.batch_format
    changes = {
        "model_cfg": None,
        "model": {
            "type": "TupleNet",
            "PartFCs": {"parts_num": 2, "in_channels": 16, "out_channels": 4},
            "class_num": 4,
        },
        "data.batch_format": "opengait",
    }
    built, _, _ = build(changes)
    assert built.model.seen[0] == "tuple"
    with pytest.raises(AblateError, match=r"needs data\.batch_format: opengait"):
        build({**changes, "data.batch_format": None})  # a `model:` config's default: the dict


def _opengait_config_keys_and_helpers(plugin_root: Path) -> None:  # convention 10
    one = {"loss_cfg": {"type": "PartTriplet", "log_prefix": "triplet", "margin": 0.2}}
    with pytest.raises(AblateError, match="training_feat"):  # softmax has no loss now
        build(one)
    backbone = {"type": "ConvNet", "in_channels": 4, "widths": [4]}
    built, cfg, _ = build({"model_cfg.backbone_cfg": backbone})
    assert type(built.model.Backbone).__name__ == "ConvNet"
    built, _, _ = build({"model_cfg.backbone_cfg": [backbone, backbone]})
    assert isinstance(built.model.Backbone, torch.nn.ModuleList)
    assert len(built.model.Backbone) == 2
    assert built.model.cls.bias.eq(0.5).all()  # its own init_parameters ran
    assert built.model.cfgs["model_cfg"]["model"] == "TupleNet"
    assert built.model.cfgs["loss_cfg"][1]["scale"] == 4
    assert built.model.cfgs is not cfg.data["model_cfg"]  # a copy the model cannot spoil


def _images_are_logged(plugin_root: Path) -> None:  # convention 14
    built, _, train = build()
    summary = built.model(sample_batch(train, 8))["visual_summary"]
    images = image_summaries(summary)
    assert set(images) == {"inputs"}  # `image/inputs`, named without OpenGait's prefix
    assert images["inputs"].shape == (2, 16) and images["inputs"].dtype == np.uint8
    assert set(scalar_summaries(summary)) == {"part_norm"}  # `scalar/`: a mean
    big = {"wide": np.full((40, 2000, 3), 7, dtype=np.uint8), **images}
    encoded = encode_images(big)
    back = decoded_images({**encoded, "val/loss": 1.0})
    assert set(back) == {"inputs", "wide"}
    assert max(back["wide"].size) <= MAX_SIDE
    assert np.asarray(back["inputs"]).tolist() == images["inputs"].tolist()


CONVENTIONS: list[tuple[str, Callable[[Path], None]]] = [
    ("4 reads through ** count", _reads_through_unpacking),
    ("5 per-part vector losses", _per_part_losses_are_means),
    (
        "6 BaseLoss loss_term_weight and info, no process group",
        _base_loss_keeps_term_weight_and_info,
    ),
    ("7 samplers are components", _samplers_are_components),
    ("9 tuple inputs", _tuple_inputs),
    ("10 model_cfg, loss_cfg, get_backbone, cfgs", _opengait_config_keys_and_helpers),
    ("14 visual_summary images", _images_are_logged),
]


@pytest.mark.parametrize(("name", "case"), CONVENTIONS, ids=[n for n, _ in CONVENTIONS])
def test_convention(name: str, case: Callable[[Path], None], plugin_root: Path) -> None:
    case(plugin_root)


def test_user_classes_replace_builtins_of_the_same_name(plugin_root: Path) -> None:
    """OpenGait's TripletLoss and CrossEntropyLoss are not ablate's: the user's win."""
    pkg = plugin_root / "og_names"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text(
        "from ablate import BaseLoss\n\n\nclass TripletLoss(BaseLoss):\n"
        "    def __init__(self, margin, loss_term_weight=1.0):\n"
        "        super().__init__(loss_term_weight)\n"
        "        self.margin = margin\n"
    )
    builtin = LOSSES.get("TripletLoss")
    try:
        import og_names  # type: ignore[import-not-found]

        from ablate.nn.opengait import adopt

        assert adopt(["og_names"]) == [f"TripletLoss: og_names replaces {builtin.__module__}"]
        assert LOSSES.get("TripletLoss") is og_names.TripletLoss
    finally:
        forget_plugin("og_names")
    assert LOSSES.get("TripletLoss") is builtin


# --- bad input: one clear line naming the path ---------------------------------------------------

BAD = [
    ({"model_cfg.model": None}, "model_cfg.model", "needs model: <class name>"),
    ({"model": {"type": "TupleNet"}}, "model_cfg", "give one of model or model_cfg, not both"),
    ({"model_cfg.model": "TupleNt"}, "model_cfg.model", "did you mean 'TupleNet'"),
    ({"model_cfg.PartFCs.parts_nm": 3}, "model_cfg.PartFCs.parts_nm", "unexpected keyword"),
    ({"model_cfg.clas_num": 4}, "model_cfg.clas_num", "never read"),
    ({"loss_cfg.0.margn": 0.3}, "loss_cfg.0.margn", "unknown argument 'margn'"),
    ({"model_cfg.PartFCs.in_channels": 15}, "model_cfg", "TupleNet.forward fails on a sample"),
    (
        {"loss_cfg": {"type": "PartTriplet", "log_prefix": "trip", "margin": 0.2}},
        "loss_cfg",
        "mismatch",
    ),
    ({"data.batch_format": "tuple"}, "data.batch_format", "expected one of dict, opengait"),
    ({"data.sampler.type": "TripletSamplr"}, "data.sampler.type", "did you mean 'TripletSampler'"),
    ({"data.sampler.batch_size": [8]}, "data.sampler.batch_size", "must be [P, K]"),
    ({"data.sampler.batch_size": [9, 2]}, "data.sampler.batch_size", "the dataset has 4"),
]


@pytest.mark.parametrize(("changes", "key", "text"), BAD, ids=[b[1] for b in BAD])
def test_bad_input_names_its_path(
    changes: dict[str, Any], key: str, text: str, plugin_root: Path
) -> None:
    with pytest.raises(AblateError) as err:
        cfg = config(changes)
        train, _ = build_datasets(cfg)
        build_sampler(cfg, train)
        build_model(cfg, sample_batch(train, 8))
    assert err.value.key == key, str(err.value)
    assert text in str(err.value)
    assert len(str(err.value).splitlines()) == 1


# --- the P×K sampler under DDP: shares, epochs, seeds ---------------------------------------------

SAMPLER_CASES = [  # (P, K, world_size)
    (2, 4, 1),
    (2, 4, 2),
    (4, 2, 2),
    (3, 2, 3),
]


@pytest.mark.parametrize(("p", "k", "world"), SAMPLER_CASES)
def test_pk_sampler_shares_are_disjoint_and_seeded(
    p: int, k: int, world: int, plugin_root: Path
) -> None:
    cfg = config({"data.sampler.batch_size": [p, k]})
    train, _ = build_datasets(cfg)

    def epoch(seed: int, e: int) -> list[list[list[int]]]:
        ranks = [build_sampler(cfg, train, r, world, seed) for r in range(world)]
        for s in ranks:
            s.set_epoch(e)
        return [list(s) for s in ranks]  # [rank][batch] -> indices

    shares = epoch(0, 0)
    whole = list(build_sampler(cfg, train, 0, 1, 0))  # epoch 0 of one process
    assert shares == epoch(0, 0)  # the same seed and epoch: the same order
    assert shares != epoch(0, 1) and shares != epoch(1, 0)
    labels = train.labels
    for b, batch in enumerate(whole):
        parts = [shares[r][b] for r in range(world)]
        assert all(len(part) == p * k // world for part in parts)
        assert sorted(i for part in parts for i in part) == sorted(batch)  # disjoint, complete
        ids = torch.unique(labels[batch], return_counts=True)
        assert len(ids[0]) == p and set(ids[1].tolist()) == {k}


# --- 2 DDP workers: triplet + softmax on P×K batches equal one process ------------------------------

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)  # ~12 s of CPU; a loaded machine stretches the spawns
def test_two_ddp_workers_match_one_process(plugin_root: Path, tmp_path: Path) -> None:
    """The P×K batch split over 2 gloo workers, PartTriplet gathered and scaled, PartSoftmax
    per rank: DDP's averaged gradient equals one process's on the whole batch."""
    ddp_grads(0, 1, str(plugin_root), 0, str(tmp_path))
    mp.spawn(
        ddp_grads,
        args=(WORLD, str(plugin_root), _free_port(), str(tmp_path)),
        nprocs=WORLD,
        join=True,
    )
    one = torch.load(tmp_path / "1-0.pt")
    ranks = [torch.load(tmp_path / f"{WORLD}-{r}.pt") for r in range(WORLD)]
    assert ranks[0]["grads"] and len(ranks[0]["grads"]) == len(one["grads"])
    for r in ranks:  # DDP left every rank with the same, averaged gradient
        for g, ref in zip(r["grads"], one["grads"]):
            torch.testing.assert_close(g, ref, rtol=1e-4, atol=1e-6)
    # the gathered triplet term is the whole batch's on every rank
    for r in ranks:
        assert r["info"]["triplet/loss"] == pytest.approx(one["info"]["triplet/loss"], rel=1e-5)


# --- both runtimes hand the images on (the driver's writer logs them) ------------------------------


@pytest.mark.parametrize("rank", [0, 1])
def test_runtimes_report_images(rank: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray.train
    from ray import tune

    from ablate.run.training import Cadence, RayTrainRuntime, TuneRuntime
    from ablate.train.images import IMAGE_PREFIX

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(ray.train, "report", sent.append)
    monkeypatch.setattr(tune, "report", sent.append)
    images = {"sils": np.zeros((4, 8), dtype=np.uint8)}
    state = dict  # an empty checkpoint
    train_rt = RayTrainRuntime.__new__(RayTrainRuntime)  # as a Ray Train worker of this rank
    train_rt.rank, train_rt.extra, train_rt.checkpoint = rank, {}, tmp_path / "ckpt.pt"
    train_rt.cadence = Cadence(epochs=1)
    train_rt.report({"epoch": 1.0}, images, state)
    TuneRuntime({}, tmp_path / "inline.pt", epochs=1).report({"epoch": 1.0}, images, state)
    ray_train, inline = sent
    # Tune takes rank 0's report: only rank 0 sends the images.
    assert (IMAGE_PREFIX + "sils" in ray_train) == (rank == 0)
    assert set(decoded_images(inline)) == {"sils"}
