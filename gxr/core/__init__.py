"""The torch-free base every other package builds on: errors, atomic file I/O, image decoding and
preprocessing, model descriptions, `Scores` (logits of a labelled split) and the one comparator over them
(AUC, DeLong with Holm, parity, the AUC gate, bootstrap CIs; statistics in `metrics`), the paper's published
figures (`paper`), provenance (machine info), the model repository
and its manifest, optional imports and rendering. Nothing here imports another gxr package."""
