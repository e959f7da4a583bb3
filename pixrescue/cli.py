"""The ``pixrescue`` command line: parse, call the API, report."""

from __future__ import annotations

from pathlib import Path

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pixrescue")
def main() -> None:
    """Rescue images that the internet has degraded."""


def _finish(outcome, verb: str) -> None:
    """One-line summary, the failures again, and a non-zero exit if any failed."""
    done, failed = len(outcome.done), len(outcome.failed)
    summary = f"{verb} {done} image{'s' if done != 1 else ''}"
    if failed:
        summary += f", {failed} failed:"
    click.echo(summary, err=True)
    for source, message in outcome.failed:
        click.echo(f"  {source}: {message}", err=True)
    if failed:
        raise SystemExit(1)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


output_options = [
    click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path)),
    click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
                 help="Output file (one input) or folder. Default: beside each input."),
    click.option("-r", "--recursive", is_flag=True, help="Search input folders recursively."),
    click.option("--format", "extension", type=click.Choice(["png", "jpg", "webp", "tif", "bmp", "gif"]),
                 default="png", show_default=True, help="Output format when writing into a folder."),
    click.option("--quality", type=click.IntRange(1, 100), default=None,
                 help="Quality of lossy outputs (JPEG, lossy WebP)."),
    click.option("--background", default=None, metavar="COLOUR",
                 help="Flatten transparency onto this colour (needed for JPEG output of images with alpha)."),
    click.option("--overwrite", is_flag=True, help="Replace existing files (and the input, if it is the output)."),
    click.option("--max-pixels", type=int, default=None,
                 help="Refuse images larger than this many pixels (default: Pillow's 89,478,485)."),
]


def with_output_options(function):
    for option in reversed(output_options):
        function = option(function)
    return function


def _run_images(inputs, output, recursive, extension, suffix, process, verb, **save_options) -> None:
    from . import batch
    from .imaging import ImageSaveError
    from .imaging.io import DEFAULT_MAX_PIXELS

    max_pixels = save_options.pop("max_pixels") or DEFAULT_MAX_PIXELS
    try:
        jobs = batch.plan(list(inputs), output, recursive, suffix, "." + extension)
    except (batch.BatchError, ImageSaveError) as exc:
        _fail(str(exc))
    outcome = batch.run(jobs, process, max_pixels=max_pixels, **save_options)
    _finish(outcome, verb)


@main.command()
@with_output_options
@click.option("-m", "--model", default=None, help="Model name (see `pixrescue models`).")
@click.option("-p", "--passes", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Feed the output through the network again this many times in all.")
def fix(inputs, output, recursive, extension, quality, background, overwrite, max_pixels, model, passes) -> None:
    """Remove JPEG blocking and ringing from INPUTS (files or folders)."""
    from . import zoo
    from .tasks.restore import restore_picture

    model = model or zoo.DEFAULT_MODEL["jpeg"]
    try:
        zoo.get_spec(model)
        zoo.load_model(model)
    except (zoo.UnknownModelError, FileNotFoundError) as exc:
        _fail(str(exc))
    _run_images(inputs, output, recursive, extension, ".fixed",
                lambda picture: restore_picture(picture, model, passes), "fixed",
                overwrite=overwrite, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
def models() -> None:
    """List the registered models with their cards' summaries."""
    from . import zoo

    for name in zoo.MODELS:
        card = zoo.load_card(name)
        default = " (default)" if name in zoo.DEFAULT_MODEL.values() else ""
        summary = card.get("summary", "no weights shipped")
        click.echo(f"{name}{default}\n    {summary}")


@main.command()
@click.argument("model")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of clean training images (searched recursively; repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("trained"),
              show_default=True, help="Where the weights and the model card are written.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Checkpoint folder; training resumes from it. Default: runs/MODEL.")
@click.option("--steps", type=int, default=None, help="Optimizer steps (default: from --epochs).")
@click.option("--epochs", type=float, default=24.0, show_default=True)
@click.option("--batch", type=int, default=256, show_default=True)
@click.option("--patch", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True)
@click.option("--quality", type=int, default=10, show_default=True, help="JPEG quality of the inputs.")
@click.option("--target", type=click.Choice(["q100", "original"]), default="q100", show_default=True,
              help="Training target: the image saved at JPEG quality 100, or the clean original.")
@click.option("--max-side", type=int, default=320, show_default=True)
@click.option("--val-every", type=int, default=250, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from these .safetensors weights (for example the shipped ones).")
@click.option("--max-minutes", type=float, default=None, help="Stop (and save) after this long.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
def train(model, data, out_dir, run_dir, steps, epochs, batch, patch, lr, lr_schedule, quality, target,
          max_side, val_every, seed, init, max_minutes, threads) -> None:
    """Train MODEL (a registered name, see `pixrescue models`) on clean images."""
    import torch

    from . import zoo
    from .training.train import TrainConfig, command_line
    from .training.train import train as run_training

    try:
        zoo.get_spec(model)
    except zoo.UnknownModelError as exc:
        raise click.UsageError(str(exc))
    if threads:
        torch.set_num_threads(threads)
    config = TrainConfig(model=model, data=list(data), quality=quality, target=target, max_side=max_side,
                         patch=patch, batch=batch, epochs=epochs, steps=steps, lr=lr, lr_schedule=lr_schedule,
                         val_every=val_every, seed=seed)
    run_training(config, out_dir, run_dir or Path("runs") / model, init=init, max_minutes=max_minutes,
                 command=command_line())
