"""What every study shares: output folder, device, cached stages, data specs and provenance."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from gxr.core.errors import GxrError
from gxr.study.stages import Stages

IMAGENETTE_NOTE = (
    "Imagenette is 10 easily told-apart ImageNet classes (9,469 training images, shipped at 96 px). It can stand in "
    "for ImageNet as a real natural-image pre-training on ImageNet's own photographs: the same images seen in color "
    "or through Luma, so the gray-vs-color contrast is the paper's; first-layer filters (edges, blobs, and color "
    "opponency for the color model); and a check that the whole pipeline (stems, initialization, recipes, transfer) "
    "works. It cannot stand in for ImageNet's 1000 classes and 1.28M images: its features are far less rich, so "
    "the size (and possibly the sign) of any transfer gain, the paper's top-1 figures and the paper's gray-vs-color "
    "AUC differences are not reproduced or refuted here; with 10 classes, color may also matter more (or less) for "
    "telling them apart than on ImageNet.")
SCALE_NOTE = ("Imagenette (10 classes, about 9.5k training images at 96 px) stands in for ImageNet (1000 classes, "
              "1.28M images), and the X-ray sets are small and low-resolution: whatever comes out here is evidence "
              "at this scale only, not a reproduction of the paper's numbers.")


def data_specs(root: Path) -> dict[str, str]:
    """The shipped data sets, as data specs under the data root."""
    return {"imagenette": f"folder:{root / 'imagenette' / 'imagenette_96px_q85.zip'}",
            "pneumonia": f"medmnist:{root / 'pneumoniamnist.npz'}",
            "covid": f"npz:{root / 'covid' / 'covid_radiography_3class_128_balanced.npz'}",
            "nih": f"nih:{root / 'nih'}"}


def find_data_root() -> Path:
    from gxr.data import data_root

    root = data_root()
    if root is None or not root.is_dir():
        raise GxrError("no data found: set GXR_DATA or put the shared data folder at ../shared/data")
    return root


def resolve_device(name: str) -> str:
    """auto -> cuda when torch sees a GPU, else cpu; an explicit cuda without a GPU is an error."""
    from gxr.train.pipeline import pick_device

    return pick_device(name).type


@dataclass
class StudyContext:
    name: str
    out: Path
    console: Console
    device: str
    quick: bool
    settings: dict[str, Any]
    specs: dict[str, str]
    stages: Stages = field(init=False)
    overrides: dict[str, Any] = field(default_factory=dict)   # settings changed from the defaults
    started: float = field(default_factory=time.perf_counter)
    command: str = field(default_factory=lambda: " ".join(["gxr", *sys.argv[1:]]))

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.stages = Stages(self.out, self.console)

    def step(self, text: str) -> None:
        self.console.rule(f"[bold]{self.name}[/]: {text}")

    def fingerprints(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Data spec, fingerprint and split sizes of the data sets this study used."""
        from gxr.data import open_source

        out = {}
        for key in keys:
            source = open_source(self.specs[key])
            out[key] = {"spec": self.specs[key], "fingerprint": source.fingerprint,
                        "sizes": {k: len(v) for k, v in source.splits.items()}, "notes": source.notes}
        return out
