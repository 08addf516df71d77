"""Building blocks the studies share: pre-train a model, fine-tune one arm, evaluate it on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gxr.core.errors import GxrError
from gxr.study.context import StudyContext
from gxr.study.evaluation import split_scores
from gxr.study.stages import settings_hash, train_stage


def image_size(arch: str, wanted: int) -> int:
    """The study's size, or the architecture's smallest valid input size when that is larger (Inception-V3: 75)."""
    from gxr.nets import ARCHS

    return max(wanted, ARCHS[arch][1])


def pretrain(ctx: StudyContext, name: str, arch: str, channels: int, image_size: int, epochs: int,
             fraction: float, batch_size: int, recipe_name: str = "modern") -> dict[str, Any]:
    """Pre-train on Imagenette with one of `gxr train pretrain`'s recipes (modern: Nesterov SGD, for Inception-V3
    Adam with a zero classifier, warm-up then cosine; paper: RMSProp, lr 0.01 x0.94 every 2 epochs; both: Luma after
    augmentation for gray). Returns the run's metrics plus `dir`, `hash` and the `recipe` it ran."""
    from gxr.train.recipes import PRETRAIN_RECIPES

    if recipe_name not in PRETRAIN_RECIPES:
        raise GxrError(f"pre-training recipe {recipe_name!r}: choose one of {', '.join(PRETRAIN_RECIPES)}")
    recipe = PRETRAIN_RECIPES[recipe_name](arch=arch, channels=channels, epochs=epochs, batch_size=batch_size,
                                           image_size=image_size, train_fraction=fraction, device=ctx.device,
                                           cpu_bf16=ctx.settings.get("cpu_bf16", False))
    settings = {"recipe": recipe.to_dict(), "data": ctx.specs["imagenette"]}
    result = ctx.stages.run(name, settings, lambda folder, resume: train_stage(
        folder, resume, recipe, ctx.specs["imagenette"], ctx.console))
    return {**result, "dir": str(ctx.stages.folder(name)), "hash": settings_hash(settings),
            "recipe": settings["recipe"]}


def finetune(ctx: StudyContext, name: str, task: str, arch: str, channels: int, init: dict[str, Any] | None,
             image_size: int, epochs: int, lr: float, batch_size: int, fraction: float = 1.0,
             freeze_until: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Fine-tune one arm on an X-ray task (Adam, best epoch by validation loss) with fine-tuning seed `seed` (head
    initialization, batch order, augmentation), then score it on the test split through the runtime. `init` is a
    `pretrain` result (None: from scratch)."""
    from gxr.train.recipes import FinetuneRecipe

    recipe = FinetuneRecipe(arch=arch, channels=channels, epochs=epochs, batch_size=batch_size, lr=lr,
                            image_size=image_size, train_fraction=fraction, patience=epochs,
                            freeze_until=freeze_until, seed=seed, device=ctx.device,
                            cpu_bf16=ctx.settings.get("cpu_bf16", False))
    init_path = Path(init["dir"]) / "model.pt" if init else None
    settings = {"recipe": recipe.to_dict(), "data": ctx.specs[task], "init": init["hash"] if init else None}
    run = ctx.stages.run(name, settings, lambda folder, resume: train_stage(
        folder, resume, recipe, ctx.specs[task], ctx.console, init=init_path))
    folder = ctx.stages.folder(name)
    scored = ctx.stages.run(f"{name}/eval", {"of": settings_hash(settings), "scoring": SCORING},
                            lambda _folder, _resume: _score(folder, ctx.specs[task], ctx.device))
    return {"run": run, "test": scored["summary"], "scores": scored["scores"], "dir": str(folder)}


SCORING = "logits-v2"   # test scores kept as logits (earlier versions kept rounded probabilities): re-score


def _score(run_dir: Path, spec: str, device: str) -> dict[str, Any]:
    """The arm's test-split Scores (logits, exact) and their AUC summary (the min-positives rule applied)."""
    from gxr.core.comparator import auc_summary

    scores = split_scores(run_dir, spec, "test", device)
    return {"summary": auc_summary(scores).to_json(), "scores": scores.to_json()}
