"""The split policy (gxr.data.splits) and the registry of data kinds, in-process on small arrays."""

import numpy as np
import pytest

from gxr.core.errors import GxrError
from gxr.data import KINDS
from gxr.data.registry import open_source
from gxr.data.splits import SPLIT_CODES, assign_splits, complete_given, hold_out, overlapping_groups


def test_hold_out_without_groups_takes_exactly_ten_percent_seeded():
    pool = np.arange(100, 300)
    held = hold_out(pool, None, seed=5)
    assert len(held) == 20 and set(held) <= set(pool)
    assert np.array_equal(held, hold_out(pool, None, seed=5))
    assert not np.array_equal(held, hold_out(pool, None, seed=6))


def test_hold_out_moves_whole_groups():
    groups = np.repeat(np.arange(40), 5)           # 40 patients x 5 images
    pool = np.arange(200)
    held = hold_out(pool, groups, seed=0)
    assert len(held) == 20                          # 4 whole patients
    kept = np.setdiff1d(pool, held)
    assert not set(groups[held]) & set(groups[kept])


def test_given_split_without_test_uses_val_as_test_and_holds_out_val():
    given = np.array([0] * 50 + [1] * 10)
    notes: list[str] = []
    completed = complete_given(given, None, seed=0, notes=notes)
    assert (completed[50:] == 2).all()             # the former val is the test split
    assert (completed[:50] == 1).sum() == 5 and (completed[:50] == 0).sum() == 45
    assert len(notes) == 1 and "no test subset" in notes[0]


def test_given_split_with_only_train_is_replaced_by_a_random_split():
    notes: list[str] = []
    assignment = assign_splits("x", 100, None, np.zeros(100, int), "auto", 0, notes)
    assert np.bincount(assignment, minlength=3).tolist() == [70, 10, 20]
    assert any("has only train" in n for n in notes), notes


def test_complete_given_split_is_kept_unchanged():
    given = np.array([0, 0, 0, 1, 2, 2])
    notes: list[str] = []
    assert np.array_equal(assign_splits("x", 6, None, given, "auto", 0, notes), given) and notes == []


def test_leaky_given_split_is_resplit_before_any_hold_out():
    groups = np.array(["a", "a", "b", "c", "d", "d"] * 5)
    given = np.array([0, 2, 0, 0, 2, 2] * 5)        # patient a in train and test
    notes: list[str] = []
    assignment = assign_splits("x", 30, groups, given, "auto", 0, notes)
    assert overlapping_groups(assignment, groups) == 0
    assert any("more than one subset" in n for n in notes)
    with pytest.raises(GxrError, match="more than one subset"):
        assign_splits("x", 30, groups, given, "given", 0, [])


def test_one_split_name_map():
    assert {name: SPLIT_CODES[name] for name in ("train", "val", "valid", "validation", "test")} == \
        {"train": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}


def test_every_kind_accepts_the_split_options_and_unknown_options_name_the_allowed_ones():
    for entry in KINDS.values():
        assert {"split", "seed"} <= set(entry.options)
    with pytest.raises(GxrError, match=r"unknown option\(s\) bogus \(allowed: split, seed\)"):
        open_source("folder:/nowhere?bogus=1")
    with pytest.raises(GxrError, match="KIND one of medmnist, npz, nih, folder, csv"):
        open_source("tiff:/nowhere")
