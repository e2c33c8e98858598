"""Datasets read from files: the real formats load, and every bad file or path is a one-line
user error that names the path and what was expected."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from data_files import write_cifar, write_cifar_batch, write_npz

from ablate import DATASETS, AblateError
from ablate_components.datasets.cifar import MEAN, STD

# The dataset's config path; the registry may point at the argument the message names.
KEY = r"data\.dataset(\.\w+)?: "


def _cifar(split: str = "train", **cfg: object) -> object:
    return DATASETS.build({"type": "CIFAR10", **cfg}, key="data.dataset", split=split)


def _npz(split: str = "train", **cfg: object) -> object:
    return DATASETS.build({"type": "NpzDataset", **cfg}, key="data.dataset", split=split)


class TestCIFAR10:
    def test_reads_both_splits_and_normalises(self, cifar_root: Path) -> None:
        train, val = (
            _cifar("train", data_root=str(cifar_root)),
            _cifar("val", data_root=str(cifar_root)),
        )
        assert (len(train), len(val)) == (15, 4)
        raw = pickle.loads((cifar_root / "data_batch_1").read_bytes(), encoding="bytes")
        item = train[0]
        assert item["inputs"].shape == (3, 32, 32) and item["labels"] == raw[b"labels"][0]
        pixel = raw[b"data"][0].reshape(3, 32, 32)[:, 0, 0] / 255.0
        expected = (torch.tensor(pixel) - torch.tensor(MEAN)) / torch.tensor(STD)
        torch.testing.assert_close(item["inputs"][:, 0, 0], expected.float())

    def test_accepts_the_extracted_subfolder_and_limit(self, tmp_path: Path) -> None:
        write_cifar(tmp_path / "cifar" / "cifar-10-batches-py")
        assert len(_cifar("train", data_root=str(tmp_path / "cifar"), limit=4)) == 4

    def test_reads_batches_pickled_by_either_numpy(self, tmp_path: Path) -> None:
        write_cifar(tmp_path)
        write_cifar_batch(tmp_path / "test_batch", 2, seed=9, legacy_numpy=False)
        assert len(_cifar("val", data_root=str(tmp_path))) == 2

    def test_missing_root(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope" / "cifar"
        with pytest.raises(AblateError) as info:
            _cifar(data_root=str(missing))
        msg = str(info.value)
        assert info.value.key in ("data.dataset", "data.dataset.data_root")
        assert f"data_root {missing} does not exist" in msg
        assert "expected data_batch_1..5 and test_batch (CIFAR-10 python version)" in msg

    def test_root_without_the_batches(self, cifar_root: Path) -> None:
        (cifar_root / "test_batch").unlink()
        with pytest.raises(
            AblateError,
            match=rf"data_root {re.escape(str(cifar_root))}: expected data_batch_1\.\.5 and test_batch .*missing \['test_batch'\]",
        ):
            _cifar(data_root=str(cifar_root))

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            (b"not a pickle at all", "not a CIFAR-10 python batch file"),
            (pickle.dumps([1, 2, 3], protocol=2), "expected a pickled dict with b'data' and b'labels', got list"),
            (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2), "expected keys b'data' and b'labels'"),
            (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2), r"expected b'data' uint8 \(N, 3072\), got uint8 \(2, 100\)"),
            (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2), "expected 2 integer b'labels'"),
            (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, protocol=2), r"labels must be in 0\.\.9"),
        ],
    )  # fmt: skip
    def test_malformed_batch_file(self, cifar_root: Path, content: bytes, expected: str) -> None:
        bad = cifar_root / "data_batch_3"
        bad.write_bytes(content)
        with pytest.raises(AblateError, match=rf"^{KEY}{re.escape(str(bad))}: {expected}"):
            _cifar(data_root=str(cifar_root))

    def test_a_pickle_that_runs_code_is_refused(self, cifar_root: Path, tmp_path: Path) -> None:
        marker = tmp_path / "pwned"

        class Exploit:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return os.system, (f"touch {marker}",)

        (cifar_root / "test_batch").write_bytes(pickle.dumps({b"data": Exploit()}, protocol=2))
        with pytest.raises(AblateError, match=r"refusing to load (posix|os|nt)\.system"):
            _cifar("val", data_root=str(cifar_root))
        assert not marker.exists()

    def test_augment_only_changes_train_items(self, cifar_root: Path) -> None:
        plain = _cifar("val", data_root=str(cifar_root))
        augmented_val = _cifar("val", data_root=str(cifar_root), augment=True)
        assert torch.equal(plain[0]["inputs"], augmented_val[0]["inputs"])
        train = _cifar("train", data_root=str(cifar_root), augment=True)
        torch.manual_seed(0)
        assert train[0]["inputs"].shape == (3, 32, 32)


class TestNpzDataset:
    def test_reads_both_splits(self, npz_path: Path) -> None:
        train, val = _npz("train", path=str(npz_path)), _npz("val", path=str(npz_path))
        assert (len(train), len(val)) == (6, 4)
        with np.load(npz_path) as npz:
            np.testing.assert_array_equal(val[1]["inputs"].numpy(), npz["x_val"][1])
            assert val[1]["labels"].item() == npz["y_val"][1]

    def test_custom_key_names(self, tmp_path: Path) -> None:
        path = tmp_path / "mine.npz"
        np.savez(path, images_train=np.zeros((3, 2), np.uint8), labels_train=np.array([0, 1, 1]))
        ds = _npz(path=str(path), x_key="images_{split}", y_key="labels_{split}", limit=2)
        assert len(ds) == 2 and ds[0]["inputs"].dtype == torch.float32

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(
            AblateError,
            match=rf"^{KEY}npz file {re.escape(str(tmp_path / 'x.npz'))} does not exist",
        ):
            _npz(path=str(tmp_path / "x.npz"))

    def test_missing_key_suggests_a_close_one(self, tmp_path: Path) -> None:
        path = tmp_path / "d.npz"
        np.savez(path, x_trian=np.zeros((2, 2)), y_train=np.zeros(2, np.int64))
        with pytest.raises(
            AblateError,
            match=rf"{re.escape(str(path))}: no array 'x_train' for the train split \(did you mean 'x_trian'\?\)",
        ):
            _npz(path=str(path))

    def test_length_mismatch(self, tmp_path: Path) -> None:
        path = write_npz(tmp_path / "d.npz", y_val=np.zeros(3, np.int64))
        with pytest.raises(
            AblateError, match=rf"{re.escape(str(path))}: 'x_val' has 4 items but 'y_val' has 3"
        ):
            _npz("val", path=str(path))

    def test_float_labels(self, tmp_path: Path) -> None:
        path = write_npz(tmp_path / "d.npz", y_train=np.zeros(6))
        with pytest.raises(
            AblateError, match=r"'y_train' must be integer class labels \(N,\), got float64"
        ):
            _npz(path=str(path))

    def test_object_arrays_and_non_npz_files(self, tmp_path: Path) -> None:
        path = tmp_path / "d.npz"
        np.savez(
            path, x_train=np.array([{"a": 1}, None], dtype=object), y_train=np.zeros(2, np.int64)
        )
        with pytest.raises(AblateError, match=r"cannot read as an \.npz of numeric arrays"):
            _npz(path=str(path))
        path.write_text("hello")
        with pytest.raises(AblateError, match=r"cannot read as an \.npz"):
            _npz(path=str(path))


class TestSyntheticImages:
    def test_deterministic_and_the_splits_differ(self) -> None:
        a = DATASETS.build({"type": "SyntheticImages", "num_samples": 8, "seed": 3}, split="train")
        b = DATASETS.build({"type": "SyntheticImages", "num_samples": 8, "seed": 3}, split="train")
        v = DATASETS.build({"type": "SyntheticImages", "num_samples": 8, "seed": 3}, split="val")
        assert torch.equal(a.inputs, b.inputs) and not torch.equal(a.inputs, v.inputs)
        assert torch.bincount(a.labels).tolist() == [2, 2, 2, 2]

    def test_bad_values(self) -> None:
        with pytest.raises(
            AblateError,
            match=r"data\.dataset\.num_classes: SyntheticImages: num_classes must be at least 2",
        ):
            DATASETS.build(
                {"type": "SyntheticImages", "num_classes": 1}, key="data.dataset", split="train"
            )
