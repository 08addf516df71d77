"""Evaluating trained models on a split through the runtime (the production path): `Scores` (logits at full
precision) and top-k accuracy. AUC, DeLong, ROC and calibration come from gxr.core.comparator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gxr.core.errors import GxrError
from gxr.core.scores import Scores


def split_scores(run_dir: Path | str, data_spec: str, split: str, device: str) -> Scores:
    """Scores of the model in `run_dir` on `split` of `data_spec`, decoded with the model's own preprocessing
    (a gray model sees Luma images)."""
    from gxr.runtime import load, score_data

    with load(run_dir, backend="torch", device=device) as model:
        return score_data(model, data_spec, split)


def scores_from_record(record: dict[str, Any], data_spec: str | None = None) -> Scores:
    """Scores from a per-image record (`Scores.to_json`). A record written without targets (a study's committed
    scores.json) gets them re-joined by image id from its split of the data (`data_spec`, default the spec it
    names), so every AUC stays re-computable from the logits without a copy of the labels."""
    if "targets" in record:
        return Scores.from_json(record)
    from gxr.data import open_source

    spec = data_spec or record["data"]
    split = open_source(spec).split(record["split"])
    row_of = {split.images.name(i): i for i in range(len(split))}
    missing = [name for name in record["image_ids"] if name not in row_of]
    if missing:
        raise GxrError(f"{spec}: {len(missing)} scored image(s) are not in its {record['split']!r} split "
                       f"(first: {missing[0]}); is it the data these scores were made on?")
    rows = np.asarray([row_of[name] for name in record["image_ids"]], dtype=np.int64)
    return Scores.from_json(record, targets=np.asarray(split.targets)[rows])


def top_k_accuracy(logits: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among the k largest logits."""
    top = np.argsort(-logits, axis=1)[:, :k]
    return float((top == np.asarray(targets).astype(np.int64)[:, None]).any(axis=1).mean())
