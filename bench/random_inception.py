"""Random-weights Inception-V3 runs (gray and color, 14 NIH labels, 299 px) for timing: latency does not
depend on the weights. Writes OUT/gray/model.pt and OUT/color/model.pt; export them with `gxr export`.

    python bench/random_inception.py runs/random-inception   # then: gxr export runs/random-inception/gray ..."""

from __future__ import annotations

import sys
from pathlib import Path

from gxr.data import data_root
from gxr.data.nih import NIH_LABELS
from gxr.train.untrained import save_untrained_run


def random_run(out: Path, data_spec: str, channels: int, arch: str = "inception_v3", size: int = 299,
               seed: int = 0) -> Path:
    """A randomly initialised `arch` for the 14 NIH labels saved as a gxr run (model.pt with its data record)."""
    return save_untrained_run(out, data_spec, channels, list(NIH_LABELS), "multilabel", arch, size, seed)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/random-inception")
    spec = f"nih:{data_root() / 'nih'}"
    for name, channels in (("gray", 1), ("color", 3)):
        random_run(out / name, spec, channels)
        print(f"wrote {out / name / 'model.pt'}")
