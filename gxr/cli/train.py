"""`gxr train finetune|pretrain`: parse the flags into a recipe, call `gxr.train.run_training`, print
through a rich reporter."""

from __future__ import annotations

from pathlib import Path

import typer

from gxr.cli.common import console, handle_errors

CPU_BF16_HELP = ("On a CPU with native bf16 (AVX512-BF16/AMX): bf16 autocast and channels-last for the training "
                 "steps (about 2x faster for ResNet-18 here); validation and test logits stay fp32")
RESUME_HELP = ("Continue an interrupted run in --out (same settings; --epochs may grow). A finished run is left "
               "unchanged: it says so and exits 0")
app = typer.Typer(help="Train and fine-tune gray (1-channel) and color (3-channel) models.", no_args_is_help=True)


@app.command()
@handle_errors
def finetune(
    data: str = typer.Option(..., help="Data spec, e.g. medmnist:PATH.npz, nih:DIR, folder:DIR, csv:FILE"),
    out: Path = typer.Option(..., help="Run directory (model.pt, metrics.json, last.pt)"),
    arch: str = typer.Option("inception_v3", help="Architecture (see `gxr nets`)"),
    channels: int = typer.Option(1, help="1 = gray stem, 3 = color stem"),
    init: Path | None = typer.Option(None, help="Start from these weights (torchvision .pth or gxr model.pt); "
                                        "the stem is converted when channel counts differ"),
    stem_mode: str = typer.Option("sum", help="Converting --init color weights to gray: sum (exact for gray "
                                  "replicated to RGB) | luma"),
    epochs: int = typer.Option(10),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-4),
    optimizer: str = typer.Option("adam", help="adam | sgd | rmsprop"),
    weight_decay: float = typer.Option(0.0),
    image_size: int = typer.Option(299, help="Input size (Inception-V3: >= 75)"),
    freeze_until: str | None = typer.Option(None, help="Freeze every layer before this one (e.g. Mixed_7a, layer4)"),
    train_fraction: float = typer.Option(1.0, help="Use this fraction of the training split"),
    patience: int = typer.Option(5, help="Early stopping: epochs without val-loss improvement"),
    hflip: bool = typer.Option(True, help="Random horizontal flip"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    amp: bool = typer.Option(True, help="bf16 autocast on CUDA"),
    cpu_bf16: bool = typer.Option(False, help=CPU_BF16_HELP),
    workers: int = typer.Option(0, help="Data-loader workers when the split does not fit in memory"),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, help=RESUME_HELP),
) -> None:
    """Fine-tune on a labelled data set; keeps the best checkpoint by validation loss."""
    from gxr.train.recipes import FinetuneRecipe

    recipe = FinetuneRecipe(arch=arch, channels=channels, epochs=epochs, batch_size=batch_size, lr=lr,
                            optimizer=optimizer, weight_decay=weight_decay, image_size=image_size,
                            hflip=hflip, freeze_until=freeze_until, train_fraction=train_fraction,
                            patience=patience, seed=seed, device=device, amp=amp, cpu_bf16=cpu_bf16,
                            workers=workers, stem_mode=stem_mode).validate()
    from gxr.train import run_training
    from gxr.train.report import ConsoleReporter

    run_training(recipe=recipe, data_spec=data, out_dir=out, init=init, resume=resume,
                 reporter=ConsoleReporter(console))


@app.command()
@handle_errors
def pretrain(
    data: str = typer.Option(..., help="ImageNet-layout data: folder:DIR or folder:FILE.zip "
                             "(train/ val/ CLASS/ images)"),
    out: Path = typer.Option(..., help="Run directory (model.pt, metrics.json, last.pt)"),
    recipe: str = typer.Option("paper", help="paper: the TF-slim RMSProp recipe of Xie & Richmond (lr 0.01 x0.94 "
                               "every 2 epochs); modern: SGD + Nesterov (Inception-V3: Adam 1e-3 and a "
                               "zero classifier), warm-up then cosine (converges in tens of epochs). The options below "
                               "override the recipe's values"),
    arch: str = typer.Option("inception_v3"),
    channels: int = typer.Option(1, help="1 = gray (Luma after augmentation), 3 = color"),
    epochs: int | None = typer.Option(None, help="Default: 90 (paper; it trained 84-100 on ImageNet), 30 (modern)"),
    batch_size: int | None = typer.Option(None, help="Default: 64"),
    optimizer: str | None = typer.Option(None, help="rmsprop | nesterov | sgd | adam. Default: rmsprop (paper), "
                                         "nesterov (modern; Inception-V3: adam, which it needs to learn)"),
    lr: float | None = typer.Option(None, help="Default: 0.01 (paper), 0.05 (modern; Inception-V3: 1e-3 with adam)"),
    zero_init_head: bool | None = typer.Option(None, "--zero-init-head/--default-head-init",
                                               help="Start the classifier at zero. Default: on for Inception-V3 in "
                                               "the modern recipe, else off"),
    lr_decay: float | None = typer.Option(None, help="step schedule: multiply lr by this every --lr-decay-epochs "
                                          "(default 0.94)"),
    lr_decay_epochs: int | None = typer.Option(None, help="Default: 2"),
    weight_decay: float | None = typer.Option(None, help="Default: 4e-5 (paper), 5e-5 (modern)"),
    label_smoothing: float | None = typer.Option(None, help="Default: 0.1"),
    image_size: int = typer.Option(299),
    train_fraction: float = typer.Option(1.0),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    amp: bool = typer.Option(True, help="bf16 autocast on CUDA"),
    cpu_bf16: bool = typer.Option(False, help=CPU_BF16_HELP),
    workers: int = typer.Option(0),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, help=RESUME_HELP),
) -> None:
    """Pre-train a gray or color model on an ImageNet-style folder; fine-tune it later with
    `gxr train finetune --init RUN/model.pt`."""
    from gxr.core.errors import GxrError
    from gxr.train.recipes import PRETRAIN_RECIPES

    if recipe not in PRETRAIN_RECIPES:
        raise GxrError(f"--recipe {recipe!r}: choose one of {', '.join(PRETRAIN_RECIPES)}")
    given = {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr,
             "zero_init_head": zero_init_head, "lr_decay": lr_decay,
             "lr_decay_epochs": lr_decay_epochs, "weight_decay": weight_decay, "label_smoothing": label_smoothing}
    chosen = PRETRAIN_RECIPES[recipe](arch=arch, channels=channels, image_size=image_size,
                                      train_fraction=train_fraction, device=device, amp=amp, cpu_bf16=cpu_bf16,
                                      workers=workers,
                                      seed=seed, **{k: v for k, v in given.items() if v is not None}).validate()
    from gxr.train import run_training
    from gxr.train.report import ConsoleReporter

    run_training(recipe=chosen, data_spec=data, out_dir=out, resume=resume, reporter=ConsoleReporter(console))
