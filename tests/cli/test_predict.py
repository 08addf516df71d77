"""`gxr predict` as a user runs it: folders with good and bad files, --list, formats, --out, --strict,
exit codes, full names in the table, a prediction column; and `-h` / flag rendering in every --help."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.helpers import Snapshot, assert_one_line_error, run_gxr


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, nih_spec):
    """Real NIH images (their long official names) in nested folders with a truncated PNG, a text file named
    .png, an empty file and a non-image file."""
    from gxr.data import open_source

    root = tmp_path_factory.mktemp("mixed") / "scans ü"
    split = open_source(nih_spec).split("test")
    good = []
    for i in range(4):
        sub = root / ("a" if i < 2 else "b/c")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / split.images.name(i).rsplit("/", 1)[-1]
        split.images.open(i).save(path)
        good.append(path)
    (root / "truncated.png").write_bytes(good[0].read_bytes()[:80])
    (root / "b" / "text.png").write_text("hello")
    (root / "b" / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not an image, passed over")
    return root, good


def test_folder_with_bad_files_predicts_every_good_one(exported, mixed_folder, tmp_path):
    root, good = mixed_folder
    result = run_gxr("predict", str(exported["gray"]), str(root), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["image"]: r for r in json.loads(result.stdout)}
    assert len(rows) == 7
    assert all("probabilities" in rows[str(p)] for p in good)
    bad = [r for r in rows.values() if "error" in r]
    assert sorted(r["image"].rsplit("/", 1)[-1] for r in bad) == ["empty.jpg", "text.png", "truncated.png"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3 and all(r["image"] in result.stderr for r in bad)
    assert "3 of 7 images could not be read" in result.stderr and "Traceback" not in result.stderr
    assert "passed over 1 file that is not an image" in result.stderr
    strict = run_gxr("predict", str(exported["gray"]), str(root), "--strict", "--format", "jsonl")
    assert strict.returncode == 1
    assert [json.loads(line)["image"] for line in strict.stdout.splitlines()] == list(rows)


def test_nothing_readable_is_exit_2_and_one_line_per_file(exported, mixed_folder):
    root, _ = mixed_folder
    one = run_gxr("predict", str(exported["gray"]), str(root / "truncated.png"))
    assert_one_line_error(one, "cannot decode image", names=root / "truncated.png")
    two = run_gxr("predict", str(exported["gray"]), str(root / "truncated.png"), str(root / "b" / "text.png"))
    assert two.returncode == 2 and two.stdout == ""
    assert [line.split(":")[0] for line in two.stderr.splitlines()] == ["error", "error"]


def test_table_shows_full_names_and_the_predicted_class(exported, mixed_folder):
    root, good = mixed_folder
    result = run_gxr("predict", str(exported["color"]), *map(str, good))
    assert result.returncode == 0, result.stderr
    assert "prediction" in result.stdout
    for path in good:   # the full path, not the base name cut to "00000…"
        assert str(path) in result.stdout
    assert "…" not in result.stdout
    assert result.stdout.count("pneumonia (") + result.stdout.count("normal (") == len(good)


def test_list_file_csv_and_atomic_out(exported, mixed_folder, tmp_path):
    root, good = mixed_folder
    relative = tmp_path / "rel dir" / good[1].name      # list entries are relative to the list file's folder
    relative.parent.mkdir()
    relative.write_bytes(good[1].read_bytes())
    listing = tmp_path / "list.txt"
    listing.write_text(f"# scans\n{good[0]}\n\nrel dir/{good[1].name}\n")
    out = tmp_path / "results" / "preds.csv"
    result = run_gxr("predict", str(exported["gray"]), str(good[2]), "--list", str(listing), "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["image"] for r in rows] == [str(good[2]), str(good[0]), str(relative)]
    assert all(0.0 <= float(r["pneumonia"]) <= 1.0 and r["prediction"] in ("normal", "pneumonia") for r in rows)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]      # no temp file left behind
    before = Snapshot(tmp_path)
    bad_out = run_gxr("predict", str(exported["gray"]), str(good[0]), "--out", str(tmp_path / "x.txt"))
    assert_one_line_error(bad_out, "cannot tell the format", names=tmp_path / "x.txt", unchanged=before)


def test_predictions_match_the_library(exported, mixed_folder):
    import gxr

    root, good = mixed_folder
    result = run_gxr("predict", str(exported["gray"]), *map(str, good), "--format", "json")
    cli = np.array([[r["probabilities"]["pneumonia"]] for r in json.loads(result.stdout)])
    np.testing.assert_allclose(cli, gxr.load(exported["gray"]).predict([str(p) for p in good]), rtol=1e-6)
    assert json.loads(result.stdout)[0]["meta"]["width"] == Image.open(good[0]).width


@pytest.mark.parametrize("command", [[], ["predict"], ["bench", "roc"], ["bench", "latency"], ["train", "finetune"]])
def test_dash_h_is_help_and_flags_take_no_value(command):
    short, long = run_gxr(*command, "-h"), run_gxr(*command, "--help")
    assert short.returncode == 0 and short.stdout == long.stdout, short.stderr
    assert "<bool>" not in short.stdout and "Usage" in short.stdout
