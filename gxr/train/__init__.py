"""Fine-tuning (and later pre-training) loops, recipes as dataclasses, checkpoints."""
