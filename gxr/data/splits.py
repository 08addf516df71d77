"""The split policy: how one pool of images becomes train / val / test (numpy only).

Every layout names its subsets with the same words (`SPLIT_CODES`: train, val|valid|validation, test ->
0/1/2). `assign_splits` decides, per item, which split it lands in:
- a data set's own ("given") split is kept when it is patient-disjoint; policy "auto" re-splits a leaky one,
  policy "given" refuses it, policy "random" always re-splits;
- a kept split that lacks val gets 10% of train held out for validation (whole patients together when
  patient ids are known, seeded); one that lacks test uses its val as the test split and then holds out
  val from train (the ImageNet layout); one without train is replaced;
- otherwise a seeded random 70/10/20 split, patient-disjoint when patient ids (groups) are known.
Every decision that changes the data set's own split is written to `notes`.
"""

from __future__ import annotations

import numpy as np

from gxr.core.errors import GxrError

SPLITS = ("train", "val", "test")
SPLIT_CODES = {"train": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}
SPLIT_POLICIES = ("auto", "given", "random")
VAL_FRACTION = 0.1


def split_code(name: str) -> int | None:
    """0/1/2 for a split's name in any accepted spelling (case and spaces ignored), else None."""
    return SPLIT_CODES.get(name.strip().lower())


def random_split(n: int, seed: int, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
                 groups: np.ndarray | None = None) -> np.ndarray:
    """Assign each item to 0/1/2 (train/val/test) in the given fractions of items.

    With `groups` (patient ids) whole groups move together: groups are visited in a seeded random
    order and each goes to the split furthest below its target item count."""
    rng = np.random.default_rng(seed)
    keys = np.asarray(groups) if groups is not None else np.arange(n)
    unique, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    targets = np.asarray(fractions, dtype=np.float64) * n
    filled = np.zeros(3)
    group_split = np.empty(len(unique), dtype=np.int64)
    for g in rng.permutation(len(unique)):
        k = int(np.argmax(targets - filled))
        group_split[g] = k
        filled[k] += sizes[g]
    return group_split[inverse]


def overlapping_groups(assignment: np.ndarray, groups: np.ndarray) -> int:
    """How many groups (patients) appear in more than one split."""
    pairs = np.unique(np.stack([np.asarray(groups).astype(str), assignment.astype(str)], axis=1), axis=0)
    _, counts = np.unique(pairs[:, 0], return_counts=True)
    return int((counts > 1).sum())


def hold_out(pool: np.ndarray, groups: np.ndarray | None, seed: int, fraction: float = VAL_FRACTION) -> np.ndarray:
    """The items of `pool` (indices) to hold out: whole groups, visited in a seeded random order, each taken
    when it brings the count closer to round(fraction * len(pool)). Without groups: exactly that many items."""
    keys = np.asarray(groups)[pool] if groups is not None else np.arange(len(pool))
    unique, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    wanted = int(round(fraction * len(pool)))
    taken, count = np.zeros(len(unique), dtype=bool), 0
    for g in np.random.default_rng(seed).permutation(len(unique)):
        if abs(count + sizes[g] - wanted) < abs(count - wanted):
            taken[g], count = True, count + int(sizes[g])
    return pool[taken[inverse]]


def complete_given(given: np.ndarray, groups: np.ndarray | None, seed: int, notes: list[str]) -> np.ndarray | None:
    """A given split with train, val and test: val held out of train when missing, val used as test when test
    is missing. None when there is no train subset, or only a train subset (re-split instead)."""
    present = [name for code, name in enumerate(SPLITS) if (given == code).any()]
    if "train" not in present or present == ["train"]:
        notes.append(f"its own split has only {', '.join(present) or 'no items'}: re-split instead")
        return None
    if len(present) == 3:
        return given
    how = f"{'patient-disjoint, ' if groups is not None else ''}seed {seed}"
    completed = np.asarray(given).copy()
    if "test" not in present:
        completed[completed == 1] = 2
        notes.append(f"its own split has no test subset: its val is the test split and "
                     f"{VAL_FRACTION:.0%} of train is held out for validation ({how})")
    else:
        notes.append(f"its own split has no val subset: {VAL_FRACTION:.0%} of train is held out for validation "
                     f"({how}); its test subset is kept")
    completed[hold_out(np.flatnonzero(completed == 0), groups, seed)] = 1
    return completed


def assign_splits(label: str, n: int, groups: np.ndarray | None, given: np.ndarray | None, policy: str,
                  seed: int, notes: list[str]) -> np.ndarray:
    """0/1/2 (train/val/test) for each of `n` items under `policy` (see the module docstring).

    `given` is the data set's own split (0/1/2 per item, -1 for items in none) or None; `groups` the
    patient id per item or None. `label` names the data in errors."""
    if policy not in SPLIT_POLICIES:
        raise GxrError(f"{label}: split={policy!r}; choose one of {', '.join(SPLIT_POLICIES)}")
    kept = _keep_given(label, groups, given, policy, seed, notes)
    if kept is not None:
        return kept
    if given is None:
        notes.append(f"no predefined split: {'patient-disjoint ' if groups is not None else ''}"
                     f"random 70/10/20 (seed {seed})")
    elif policy == "random":
        notes.append(f"split=random: its own split is replaced by a "
                     f"{'patient-disjoint ' if groups is not None else ''}random 70/10/20 (seed {seed})")
    return random_split(n, seed, groups=groups)


def _keep_given(label: str, groups: np.ndarray | None, given: np.ndarray | None, policy: str, seed: int,
                notes: list[str]) -> np.ndarray | None:
    """The given split (completed) when the policy keeps it, else None."""
    if given is None or policy == "random":
        return None
    if groups is not None:
        leaks = overlapping_groups(given, groups)
        if leaks and policy == "given":
            raise GxrError(f"{label}: its own split puts {leaks} patients in more than one subset; "
                           "use split=auto or split=random for a patient-disjoint split")
        if leaks:
            notes.append(f"its own split puts {leaks} patients in more than one subset: "
                         f"re-split patient-disjoint 70/10/20 (seed {seed})")
            return None
    return complete_given(given, groups, seed, notes)
