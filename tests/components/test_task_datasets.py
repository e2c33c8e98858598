"""The task datasets: fixed, disjoint three-way splits, and items that mean what they say."""

from __future__ import annotations

import pytest
import torch

from ablate import DATASETS, AblateError
from ablate_components.datasets.clutter import ClutteredTarget
from ablate_components.datasets.diabetes import Diabetes
from ablate_components.datasets.digit_identities import DigitIdentities

SMALL = {"num_train": 20, "num_val": 8, "num_test": 8, "image_size": 16}


class TestClutteredTarget:
    def test_splits_are_fixed_and_disjoint(self) -> None:
        splits = {s: ClutteredTarget(s, **SMALL) for s in ("train", "val", "test")}
        assert [len(d) for d in splits.values()] == [20, 8, 8]
        again = ClutteredTarget("val", **SMALL)
        assert torch.equal(again.inputs, splits["val"].inputs)
        assert torch.equal(again.gt_boxes, splits["val"].gt_boxes)
        flat = torch.cat([d.inputs.flatten(1) for d in splits.values()])
        assert torch.cdist(flat, flat).add(torch.eye(36) * 1e3).min() > 0  # no image twice
        other = ClutteredTarget("val", **{**SMALL, "seed": 1})
        assert not torch.equal(other.gt_boxes, splits["val"].gt_boxes)

    def test_boxes_frame_the_target(self) -> None:
        ds = ClutteredTarget("train", **{**SMALL, "noise": 0.0, "clutter": 0})
        for i in range(len(ds)):
            item = ds[i]
            box = item["gt_boxes"]
            assert set(item) == {"inputs", "gt_boxes", "labels"} and item["labels"] == 0
            assert item["inputs"].shape == (1, 16, 16) and box.shape == (4,)
            assert (box >= 0).all() and (box <= 1).all() and (box[2:] > box[:2]).all()
            x1, y1, x2, y2 = (box * 16).round().long().tolist()
            img = item["inputs"][0]
            # Without clutter or noise the frame is the only thing drawn: bright on the
            # box's border, dark inside it and outside it.
            assert img[y1, x1:x2].min() >= 0.7 and img[y2 - 1, x1:x2].min() >= 0.7
            assert img[y1:y2, x1].min() >= 0.7 and img[y1:y2, x2 - 1].min() >= 0.7
            assert img[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1].abs().sum() == 0
            outside = img.clone()
            outside[y1:y2, x1:x2] = 0
            assert outside.abs().sum() == 0

    @pytest.mark.parametrize(
        ("cfg", "match"),
        [
            ({"split": "dev"}, "expected 'train'.*'val'.*'test'"),
            ({"num_val": 0}, "num_val must be positive"),
            ({"min_size": 0.6, "max_size": 0.5}, "min_size <= max_size"),
            ({"noise": -1.0}, "noise must be >= 0"),
        ],
    )
    def test_bad_arguments(self, cfg: dict, match: str) -> None:
        split = cfg.pop("split", "train")
        with pytest.raises(AblateError, match=rf"^data\.dataset(\.\w+)?: .*{match}") as err:
            DATASETS.build({"type": "ClutteredTarget", **cfg}, key="data.dataset", split=split)
        assert "ClutteredTarget" in str(err.value)


class TestDiabetes:
    def test_three_way_split_covers_every_patient_once(self) -> None:
        splits = {s: Diabetes(s) for s in ("train", "val", "test")}
        ids = [set(d.labels.tolist()) for d in splits.values()]
        assert sum(map(len, ids)) == 442 and set().union(*ids) == set(range(442))
        assert [len(d) for d in splits.values()] == [266, 88, 88]
        train = splits["train"].targets
        assert train.mean().item() == pytest.approx(0.0, abs=1e-5)
        assert train.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
        assert not torch.equal(Diabetes("val", split_seed=1).labels, splits["val"].labels)

    def test_items_and_raw_target(self) -> None:
        from sklearn.datasets import load_diabetes

        _, y = load_diabetes(return_X_y=True)
        raw = Diabetes("test", standardize_target=False)
        item = raw[3]
        assert item["inputs"].shape == (10,) and item["targets"].shape == ()
        assert item["targets"].item() == pytest.approx(float(y[int(item["labels"])]))

    def test_bad_fractions(self) -> None:
        with pytest.raises(AblateError, match="sum below 1"):
            DATASETS.build(
                {"type": "Diabetes", "val_fraction": 0.5, "test_fraction": 0.5},
                key="data.dataset",
                split="train",
            )


class TestDigitIdentities:
    def test_identities_never_seen_in_training(self) -> None:
        train, val, test = (DigitIdentities(s) for s in ("train", "val", "test"))
        assert set(train.labels.tolist()) == set(range(6)) and not train.is_probe.any()
        assert set(val.labels.tolist()) == set(test.labels.tolist()) == {6, 7, 8, 9}
        # val and test are disjoint halves of the held-out images: every image once.
        assert not set(val.indices.tolist()) & set(test.indices.tolist())
        assert len(val) + len(test) == 1797 - len(train)
        for ds in (val, test):
            for identity in (6, 7, 8, 9):
                mine = ds.is_probe[ds.labels == identity]
                assert 0 < int(mine.sum()) < len(mine)  # probes and a gallery for each

    def test_train_labels_are_renumbered_for_softmax(self) -> None:
        ds = DigitIdentities("train", train_identities=[3, 7, 9])
        assert set(ds.labels.tolist()) == {0, 1, 2} and ds.num_identities == 3
        assert set(DigitIdentities("val", train_identities=[3, 7, 9]).labels.tolist()) == (
            set(range(10)) - {3, 7, 9}
        )

    def test_bad_identities(self) -> None:
        with pytest.raises(AblateError, match="train_identities must be 2 to 8 distinct digits"):
            DATASETS.build(
                {"type": "DigitIdentities", "train_identities": list(range(10))},
                key="data.dataset",
                split="train",
            )
