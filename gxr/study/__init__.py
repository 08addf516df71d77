"""`gxr study`: the paper's experiments at laptop scale, as pipelines of cached stages.

Each study (grayscale, transfer, depth) runs stages (a pre-training, a fine-tune, an evaluation, a plot)
that each write into their own sub-folder of the study folder and are skipped when re-run with the same
settings. Layer: between the CLI and {bench, export, train}."""

STUDIES = ("grayscale", "transfer", "depth")
