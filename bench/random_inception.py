"""Random-weights Inception-V3 runs (gray and color, 14 NIH labels, 299 px) for timing: latency does not
depend on the weights. Writes OUT/gray/model.pt and OUT/color/model.pt; export them with `gxr export`.

    python bench/random_inception.py runs/random-inception   # then: gxr export runs/random-inception/gray ..."""

import sys
from pathlib import Path

from gxr.data import data_root
from gxr.data.nih import NIH_LABELS
from tests.helpers import tiny_run

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/random-inception")
    spec = f"nih:{data_root() / 'nih'}"
    for name, channels in (("gray", 1), ("color", 3)):
        tiny_run(out / name, spec, channels, list(NIH_LABELS), "multilabel", arch="inception_v3", size=299)
        print(f"wrote {out / name / 'model.pt'}")
