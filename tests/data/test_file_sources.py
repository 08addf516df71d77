"""`folder:` and `csv:` data as users hand it in: train/test without val, empty class folders, broken CSV rows.

Small PNGs are generated in tmp_path; the CLI contract (one-line error, exit 2) is checked through `gxr data info`.
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gxr.core.errors import GxrError
from gxr.data import open_source
from tests.helpers import expect_cli_error, run_gxr


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (12, 12), value).save(path)


def _names(split) -> list[str]:
    return [split.images.name(i) for i in range(len(split))]


def _split_folders(root: Path, per_class: dict[str, int], classes: tuple[str, ...] = ("a", "b")) -> None:
    """SPLIT/CLASS/i.png with `per_class[SPLIT]` images in each class folder."""
    for split, n in per_class.items():
        for c, cls in enumerate(classes):
            for i in range(n):
                _png(root / split / cls / f"{i}.png", 50 * c + i)


def _train_test_folder(root: Path, patients: int, per_patient: int, test_patients: int) -> None:
    """train/ and test/ with two class folders and NIH-style names (PPPPPPPP_FFF.png: patient P)."""
    for p in range(patients + test_patients):
        split = "test" if p >= patients else "train"
        for f in range(per_patient):
            cls = ("normal", "effusion")[(p + f) % 2]
            _png(root / split / cls / f"{p + 1:08d}_{f:03d}.png", 10 * p + f)


def test_folder_with_train_and_test_but_no_val_carves_val_from_train_by_patient(tmp_path):
    _train_test_folder(tmp_path, patients=30, per_patient=3, test_patients=6)
    source = open_source(f"folder:{tmp_path}")
    sizes = {k: len(v) for k, v in source.splits.items()}
    assert sizes["test"] == 18 and sizes["train"] + sizes["val"] == 90
    assert sizes["val"] == 9                     # 10% of train, whole patients of 3 images each
    test_names = sorted(Path(n).name for n in _names(source.split("test")))
    assert test_names == sorted(p.name for p in (tmp_path / "test").rglob("*.png"))   # official test kept
    assert all("/train/" in n for n in _names(source.split("val")))
    val_patients = {Path(n).name[:8] for n in _names(source.split("val"))}
    train_patients = {Path(n).name[:8] for n in _names(source.split("train"))}
    assert val_patients and not val_patients & train_patients
    assert any("no val" in n and "10% of train" in n and "seed 0" in n for n in source.notes), source.notes
    again = open_source(f"folder:{tmp_path}")
    assert _names(again.split("val")) == _names(source.split("val"))
    other_seed = open_source(f"folder:{tmp_path}?seed=1")
    assert _names(other_seed.split("val")) != _names(source.split("val"))


def test_folder_with_train_and_test_without_patient_ids_holds_out_10_percent(tmp_path):
    _split_folders(tmp_path, {"train": 20, "test": 4}, ("cat", "dog"))
    source = open_source(f"folder:{tmp_path}")
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 36, "val": 4, "test": 8}
    assert len(source.split("val")) == 4      # training can now find its validation split


def test_missing_split_message_lists_only_non_empty_splits(tmp_path):
    _split_folders(tmp_path, {"train": 2, "test": 2})    # 4 train images: 10% rounds to no val at all
    source = open_source(f"folder:{tmp_path}")
    with pytest.raises(GxrError) as caught:
        source.split("val")
    message = str(caught.value)
    assert "has no 'val' split (has: train, test)" in message, message


def test_data_info_warns_about_an_empty_split(tmp_path):
    _split_folders(tmp_path, {"train": 2, "test": 2})
    result = run_gxr("data", "info", f"folder:{tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "val (0)" in result.stdout
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "'val' split is empty" in warnings[0], result.stdout


def test_empty_class_folder_is_an_error_naming_the_folder(tmp_path):
    for cls in ("covid", "normal"):
        for i in range(5):
            _png(tmp_path / cls / f"{i}.png", i)
    (tmp_path / "viral").mkdir()
    (tmp_path / "viral" / "readme.txt").write_text("images to come")
    expect_cli_error("data", "info", f"folder:{tmp_path}", names=tmp_path / "viral",
                     needles=["class folder has no images"], watch=[tmp_path])


def test_empty_class_folder_under_a_split_folder_is_an_error(tmp_path):
    _split_folders(tmp_path, {"train": 3, "val": 3, "test": 3})
    (tmp_path / "test" / "c").mkdir()
    expect_cli_error("data", "info", f"folder:{tmp_path}", names=tmp_path / "test" / "c",
                     needles=["class folder has no images"], watch=[tmp_path])


def _csv(tmp_path: Path, header: str, rows: list[str]) -> Path:
    for i in range(6):
        _png(tmp_path / "img" / f"{i}.png", 20 * i)
    path = tmp_path / "labels.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize("header, good, bad_index, bad, needles", [
    ("path,label", "img/{i}.png,{c}", 3, "img/3.png,", ("line 5", "empty label")),
    ("path,label", "img/{i}.png,{c}", 3, ",yes", ("line 5", "empty path")),
    ("path,label,patient", "img/{i}.png,{c},p{i}", 1, "img/1.png,yes", ("line 3", "2 fields", "header has 3")),
    ("path,label", "img/{i}.png,{c}", 4, "img/4.png,yes,oops", ("line 6", "3 fields", "header has 2")),
    ("path,effusion,mass", "img/{i}.png,1,0", 2, "img/2.png,1,", ("line 4", "'mass'", "0 or 1")),
    ("path,effusion,mass", "img/{i}.png,1,0", 0, "img/0.png,-1,0", ("line 2", "'effusion'", "'-1'")),
    ("path,label,split", "img/{i}.png,{c},train", 5, "img/5.png,no,tets", ("line 7", "split is 'tets'")),
])
def test_csv_bad_row_is_an_error_naming_the_csv_and_line(tmp_path, header, good, bad_index, bad, needles):
    rows = [good.format(i=i, c="yes" if i % 2 else "no") for i in range(6)]
    rows[bad_index] = bad
    path = _csv(tmp_path, header, rows)
    expect_cli_error("data", "info", f"csv:{path}", names=path, needles=needles, watch=[tmp_path])


def test_csv_with_train_and_test_split_column_carves_val_by_patient(tmp_path):
    rows = []
    for i in range(40):
        _png(tmp_path / "img" / f"{i}.png", i)
        rows.append(f"img/{i}.png,{'yes' if i % 3 else 'no'},{'test' if i >= 30 else 'train'},p{i // 2}")
    (tmp_path / "labels.csv").write_text("\n".join(["path,label,split,patient", *rows]) + "\n")
    source = open_source(f"csv:{tmp_path / 'labels.csv'}")
    # 10% of 30 train rows is 3; patients hold 2 rows each, so val gets 2 (adding a third patient overshoots)
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 28, "val": 2, "test": 10}
    assert not set(source.split("val").groups) & set(source.split("train").groups)
    assert set(source.split("test").groups) == {f"p{i}" for i in range(15, 20)}


def test_bad_seed_option_is_a_one_line_error(tmp_path):
    for cls in ("a", "b"):
        for i in range(5):
            _png(tmp_path / cls / f"{i}.png", i)
    expect_cli_error("data", "info", f"folder:{tmp_path}?seed=abc", names=tmp_path, needles=["seed", "'abc'"],
                     watch=[tmp_path])


def test_carved_val_is_deterministic_and_disjoint(tmp_path):
    _train_test_folder(tmp_path, patients=40, per_patient=2, test_patients=4)
    source = open_source(f"folder:{tmp_path}")
    all_names = sum((_names(s) for s in source.splits.values()), [])
    assert len(all_names) == len(set(all_names)) == 88
    assert np.isclose(len(source.split("val")) / 80, 0.1, atol=0.03)
