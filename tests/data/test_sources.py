"""Data sources on the real shared data, plus generated folders/CSVs for the file-based layouts."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gxr.core.errors import GxrError
from gxr.data import open_source
from gxr.data.nih import NIH_LABELS, patient_split, read_table
from gxr.data.splits import overlapping_groups
from tests.helpers import assert_one_line_error, expect_cli_error, run_gxr


def test_nih_full_table_split_is_patient_disjoint_70_10_20(data_root):
    table = read_table(data_root / "nih" / "Data_Entry_2017_v2020.csv.gz")
    assert len(table.names) == 112_120
    assert table.labels.shape == (112_120, 14)
    assignment = patient_split(table, seed=0)
    assert overlapping_groups(assignment, table.patients) == 0
    fractions = np.bincount(assignment, minlength=3) / len(assignment)
    np.testing.assert_allclose(fractions, [0.7, 0.1, 0.2], atol=0.005)
    # "No Finding" rows are all-zero; the label order is the paper's
    no_finding = np.array([n == "00000003_000.png" for n in table.names])   # a 'Hernia' row, for contrast
    assert table.labels[no_finding][0, NIH_LABELS.index("Hernia")] == 1
    assert (table.labels.sum(axis=1) == 0).sum() == 60_361   # published count of "No Finding" images


def test_nih_split_is_deterministic_per_seed(data_root):
    table = read_table(data_root / "nih" / "Data_Entry_2017_v2020.csv.gz")
    assert np.array_equal(patient_split(table, 0), patient_split(table, 0))
    assert not np.array_equal(patient_split(table, 0), patient_split(table, 1))


def test_nih_source_resplits_the_leaky_nih1000_tar(nih_spec):
    source = open_source(nih_spec)
    assert source.task == "multilabel" and source.labels == NIH_LABELS
    assert sum(len(s) for s in source.splits.values()) == 1000
    assert any("patients in more than one subset" in note for note in source.notes)
    groups = np.concatenate([s.groups for s in source.splits.values()])
    assignment = np.concatenate([np.full(len(s), i) for i, s in enumerate(source.splits.values())])
    assert overlapping_groups(assignment, groups) == 0
    img = source.split("test").images.open(0)
    assert img.size == (64, 64)


def test_nih_source_refuses_the_leaky_split_when_asked_to_keep_it(nih_spec):
    result = run_gxr("data", "info", nih_spec + "?split=given")
    assert_one_line_error(result, "patients in more than one subset", names=nih_spec.partition(":")[2])


def test_medmnist_pneumonia_is_binary_with_official_splits(pneumonia_spec):
    source = open_source(pneumonia_spec)
    assert source.task == "binary" and source.labels == ["pneumonia"] and source.classes == ["normal", "pneumonia"]
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 4708, "val": 524, "test": 624}
    assert source.notes == []


def test_covid_npz_is_three_class(data_root):
    source = open_source(f"npz:{data_root / 'covid' / 'covid_radiography_3class_128_balanced.npz'}")
    assert source.task == "multiclass" and source.labels == ["COVID", "Normal", "Viral Pneumonia"]
    assert len(source.split("test")) == 603


def test_npz_without_expected_keys_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 8, 8), np.uint8))
    result = run_gxr("data", "info", f"medmnist:{bad}")
    assert_one_line_error(result, "missing keys train_images/train_labels", names=bad)


def test_unknown_spec_kind_and_missing_file(tmp_path):
    assert_one_line_error(run_gxr("data", "info", "zip:foo"), "expected KIND:PATH", names="zip:foo")
    expect_cli_error("data", "info", f"medmnist:{tmp_path / 'nope.npz'}", names=tmp_path / "nope.npz",
                     needles=["npz file not found"], watch=[tmp_path])


def _png(path: Path, value: int, mode: str = "L", size: int = 20) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size, size), value if mode == "L" else (value, 0, 0)).save(path)


def test_folder_source_with_split_roots_and_class_dirs(tmp_path):
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        for c, cls in enumerate(("normal", "pneumonia")):
            for i in range(n):
                _png(tmp_path / split / cls / f"{i}.png", 40 * c + i)
    source = open_source(f"folder:{tmp_path}")
    assert source.task == "binary" and source.classes == ["normal", "pneumonia"]
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 12, "val": 4, "test": 6}


def test_folder_source_without_split_dirs_is_split_70_10_20(tmp_path):
    for cls in ("a", "b", "c"):
        for i in range(10):
            _png(tmp_path / cls / f"{i}.png", i, "RGB")
    source = open_source(f"folder:{tmp_path}")
    assert source.task == "multiclass" and source.labels == ["a", "b", "c"]
    assert [len(s) for s in source.splits.values()] == [21, 3, 6]
    assert any("random 70/10/20" in n for n in source.notes)


def test_csv_source_multilabel_with_patients(tmp_path):
    rows = ["path,effusion,mass,patient"]
    for i in range(20):
        _png(tmp_path / "img" / f"{i}.png", i * 10)
        rows.append(f"img/{i}.png,{i % 2},{int(i % 3 == 0)},p{i // 2}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    source = open_source(f"csv:{tmp_path / 'labels.csv'}")
    assert source.task == "multilabel" and source.labels == ["effusion", "mass"]
    groups = np.concatenate([s.groups for s in source.splits.values()])
    assignment = np.concatenate([np.full(len(s), i) for i, s in enumerate(source.splits.values())])
    assert overlapping_groups(assignment, groups) == 0


def test_corrupt_png_error_names_the_file(tmp_path):
    for cls in ("a", "b"):
        for i in range(10):
            _png(tmp_path / cls / f"{i}.png", i)
    bad = tmp_path / "a" / "0.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    source = open_source(f"folder:{tmp_path}")
    names = [s.images.name(i) for s in source.splits.values() for i in range(len(s))]
    split = next(s for s in source.splits.values() if any(s.images.name(i) == str(bad) for i in range(len(s))))
    index = next(i for i in range(len(split)) if split.images.name(i) == str(bad))
    with pytest.raises(GxrError, match="0.png: cannot decode image"):
        split.images.open(index)
    assert str(bad) in names


def test_nih_folder_with_loose_pngs_and_official_lists(tmp_path, data_root):
    """A tiny NIH layout built from real table rows: loose PNGs + official list files."""
    table = read_table(data_root / "nih" / "Data_Entry_2017_v2020.csv.gz")
    names = table.names[:40]
    csv_lines = ["Image Index,Finding Labels,Follow-up #,Patient ID"]
    with gzip.open(data_root / "nih" / "Data_Entry_2017_v2020.csv.gz", "rt") as fh:
        next(fh)
        for _, line in zip(range(40), fh):
            csv_lines.append(",".join(line.split(",")[:4]))
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join(csv_lines) + "\n")
    for i, name in enumerate(names):
        _png(tmp_path / "images" / "sub" / name, i)
    patients = table.patients[:40]
    is_test = np.isin(patients, np.unique(patients)[-4:])     # the official lists are patient-disjoint
    (tmp_path / "test_list.txt").write_text("\n".join(names[is_test]) + "\n")
    (tmp_path / "train_val_list.txt").write_text("\n".join(names[~is_test]) + "\n")
    source = open_source(f"nih:{tmp_path}")
    assert any("official" in n for n in source.notes)
    assert not any("more than one subset" in n for n in source.notes)
    assert sorted(source.split("test").images.name(i).rsplit("/", 1)[-1] for i in range(int(is_test.sum()))) \
        == sorted(names[is_test])
    assert len(source.split("train")) + len(source.split("val")) == int((~is_test).sum())
    # a list that puts one patient on both sides is caught
    (tmp_path / "test_list.txt").write_text("\n".join(names[30:]) + "\n")
    (tmp_path / "train_val_list.txt").write_text("\n".join(names[:30]) + "\n")
    assert any("more than one subset" in n for n in open_source(f"nih:{tmp_path}").notes)
