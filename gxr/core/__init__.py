"""The torch-free base every other package builds on: errors, atomic file I/O, image decoding and
preprocessing, model descriptions, metrics (AUC, DeLong), provenance (machine info), the model repository
and its manifest, optional imports and rendering. Nothing here imports another gxr package."""
