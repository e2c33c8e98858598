"""The task models' own logic: which cells are positive, how boxes decode, which losses a
head trains with, and that a mistake in one names its config path."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from ablate import HEADS, AblateError
from ablate.config import Config
from ablate.train.build import build_model, sample_batch
from ablate_components.datasets.clutter import ClutteredTarget
from ablate_components.datasets.digit_identities import DigitIdentities
from ablate_components.heads.dense_box_head import location_centres


def _box_head(**cfg: Any) -> Any:
    return HEADS.build({"type": "DenseBoxHead", "in_channels": 4, **cfg}, key="model.head")


class TestDenseBoxHead:
    def test_decode_inverts_distances(self) -> None:
        head = _box_head()
        distances = torch.zeros(1, 4, 2, 2)
        distances[0, :, 0, 1] = torch.tensor([0.1, 0.2, 0.3, 0.05])  # cell (row 0, col 1)
        boxes = head.decode(distances)
        centre = location_centres(2, 2, torch.device("cpu"))[1]
        assert centre.tolist() == [0.75, 0.25]
        assert boxes[0, 1].tolist() == pytest.approx([0.65, 0.05, 1.05, 0.3])
        assert boxes[0, 0].tolist() == [0.25, 0.25, 0.25, 0.25]  # zero distances: a point

    def test_positives_are_the_centre_cell_and_neighbours_inside_the_box(self) -> None:
        head = _box_head(center_radius=1)
        # A 4x4 grid (cells 0.25 wide). Box centred in cell (1, 1), covering cells 0-2 in x
        # and only row 1 in y: the neighbours in x are inside, those in y are not.
        gt = torch.tensor([[0.05, 0.26, 0.70, 0.49]])
        pos = head.positives(gt, 4, 4).view(4, 4)
        expected = torch.zeros(4, 4, dtype=torch.bool)
        expected[1, 0:3] = True
        assert torch.equal(pos, expected)
        tiny = torch.tensor([[0.30, 0.30, 0.31, 0.31]])  # no cell centre inside it
        assert head.positives(tiny, 4, 4).view(4, 4).nonzero().tolist() == [[1, 1]]
        assert _box_head(center_radius=0).positives(gt, 4, 4).sum() == 1

    def test_feature_maps_only(self) -> None:
        with pytest.raises(ValueError, match="expects a feature map"):
            _box_head()(torch.randn(2, 4))


def _build(model: dict[str, Any], dataset: Any, metrics: list[dict[str, Any]]) -> Any:
    cfg = Config(data={"model": model, "evaluation": {"metrics": metrics}}, file="task.yaml")
    return build_model(cfg, sample_batch(dataset, n=8))


LOCALIZER = {
    "type": "SingleObjectLocalizer",
    "backbone": {"type": "ConvNet", "in_channels": 1, "widths": [4, 8], "strides": [2, 2]},
    "head": {"type": "DenseBoxHead", "feat_channels": 4},
}
RETRIEVAL = {
    "type": "RetrievalNet",
    "backbone": {"type": "ConvNet", "in_channels": 1, "widths": [4]},
    "neck": {"type": "GlobalAveragePooling"},
    "head": {"type": "BNNeckHead", "num_classes": 6, "embed_dims": 4},
}


class TestSingleObjectLocalizer:
    def test_outputs_and_losses(self) -> None:
        data = ClutteredTarget("train", num_train=8, image_size=16)
        built = _build(LOCALIZER, data, [{"type": "SuccessAUC"}])
        assert built.losses.prefixes == ["cls", "bbox"]
        batch = sample_batch(data, n=8)
        out = built.model(batch)
        boxes = out["inference_feat"]["boxes"]
        assert boxes.shape == (8, 4) and (boxes >= 0).all() and (boxes <= 1).all()
        cls, bbox = out["training_feat"]["cls"], out["training_feat"]["bbox"]
        assert cls["logits"].shape == (8 * 4 * 4, 2)  # a 4x4 map at stride 4
        n_pos = int(cls["labels"].sum())
        assert 8 <= n_pos == bbox["pred"].shape[0]  # at least the centre cell per image
        # Each positive cell's box target is its own image's box.
        assert bbox["target"].unique(dim=0).shape[0] == len(batch["gt_boxes"].unique(dim=0))

    @pytest.mark.parametrize(
        ("head", "key"),
        [
            ({"loss_bbox": {"type": "GIoULoss", "eps": -1.0}}, "model.head.loss_bbox.eps"),
            ({"loss_cls": {"type": "FocalLoss", "gama": 2.0}}, "model.head.loss_cls.gama"),
            ({"loss_cls": {"type": "CrossEntropyLoss", "loss_term_weight": "x"}}, "model.head.loss_cls.loss_term_weight"),
        ],
    )  # fmt: skip
    def test_a_bad_loss_names_its_argument(self, head: dict[str, Any], key: str) -> None:
        data = ClutteredTarget("train", num_train=8, image_size=16)
        model = {**LOCALIZER, "head": {**LOCALIZER["head"], **head}}
        with pytest.raises(AblateError, match=rf"^task\.yaml: {key}: "):
            _build(model, data, [{"type": "SuccessAUC"}])


class TestRetrievalNet:
    @pytest.mark.parametrize(
        ("head", "prefixes", "classifier"),
        [
            ({}, ["triplet", "softmax"], True),
            ({"loss_softmax": None}, ["triplet"], False),
            ({"loss_triplet": None}, ["softmax"], True),
        ],
    )
    def test_each_loss_is_a_branch(
        self, head: dict[str, Any], prefixes: list[str], classifier: bool
    ) -> None:
        data = DigitIdentities("train")
        model = {**RETRIEVAL, "head": {**RETRIEVAL["head"], **head}}
        built = _build(model, data, [{"type": "Retrieval", "probe_key": "is_probe"}])
        assert built.losses.prefixes == prefixes
        assert (built.model.head.classifier is not None) is classifier
        out = built.model(sample_batch(data, n=8))
        assert list(out["training_feat"]) == prefixes
        assert out["inference_feat"]["embeddings"].shape == (8, 4)
        # OpenGait's loss_term_weight rides in each loss config.
        if "softmax" in prefixes and head == {}:
            assert built.losses.weights == {"triplet": 1.0, "softmax": 0.1}

    def test_both_losses_off_is_refused(self) -> None:
        model = {
            **RETRIEVAL,
            "head": {**RETRIEVAL["head"], "loss_triplet": None, "loss_softmax": None},
        }
        with pytest.raises(AblateError, match="both null: nothing would train"):
            _build(model, DigitIdentities("train"), [{"type": "Retrieval"}])


def test_unseen_identities_weigh_nothing_in_the_softmax_loss() -> None:
    """Val and test hold identities 6-9; a 6-way classifier cannot score them."""
    train = DigitIdentities("train")
    built = _build(RETRIEVAL, train, [{"type": "Retrieval", "probe_key": "is_probe"}])
    built.model.eval()
    val_batch = sample_batch(DigitIdentities("val"), n=8)
    assert (val_batch["labels"] >= 6).all()
    with torch.no_grad():
        out = built.model(val_batch)
        _, info = built.losses(out["training_feat"])
        assert info["softmax/loss"] == 0.0 and info["triplet/loss"] >= 0.0
        train_out = built.model(sample_batch(train, n=8))
    assert "weight" not in train_out["training_feat"]["softmax"]  # training is plain CE


def test_an_opengait_losses_list_replaces_the_heads_losses() -> None:
    """OpenGait's form: a top-level ``losses:`` list, one log_prefix and loss_term_weight each."""
    losses = [
        {"type": "TripletLoss", "log_prefix": "triplet", "margin": 0.3, "loss_term_weight": 1.0},
        {"type": "CrossEntropyLoss", "log_prefix": "softmax", "loss_term_weight": 0.25},
    ]
    data = {
        "model": RETRIEVAL,
        "losses": losses,
        "evaluation": {"metrics": [{"type": "Retrieval", "probe_key": "is_probe"}]},
    }
    built = build_model(Config(data=data, file="task.yaml"), sample_batch(DigitIdentities(), n=8))
    assert built.losses.weights == {"triplet": 1.0, "softmax": 0.25}
    assert built.losses.terms["triplet"].margin == 0.3
    only_triplet = {**data, "losses": losses[:1]}
    with pytest.raises(AblateError, match=r"training_feat \['softmax'\] with no loss configured"):
        build_model(
            Config(data=only_triplet, file="task.yaml"), sample_batch(DigitIdentities(), n=8)
        )


def test_regressor_infers_the_heads_width_through_a_neck() -> None:
    from ablate_components.datasets.diabetes import Diabetes

    model = {
        "type": "Regressor",
        "backbone": {"type": "MLP", "in_channels": 10, "widths": [7, 5]},
        "head": {"type": "RegressionHead"},
    }
    built = _build(model, Diabetes(), [{"type": "MSE"}, {"type": "R2"}])
    assert built.model.head.fc.in_features == 5
    assert built.shapes == {"reg": {"pred": (8,), "target": (8,)}}
