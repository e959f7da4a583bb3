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


def _command_line(ctx: click.Context) -> str:
    """The command as the user gave it: arguments and every option not left at its default."""
    from click.core import ParameterSource

    parts = ["pixrescue", ctx.info_name or ""]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            parts.append(str(value))
        elif ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT:
            for item in value if isinstance(value, (list, tuple)) else [value]:
                parts.extend([param.opts[0]] if param.is_flag else [param.opts[0], str(item)])
    return " ".join(parts)


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
                 help="Refuse images larger than this many pixels, read or (upscale, expand) written "
                 "(default: Pillow's 89,478,485)."),
]


def with_output_options(function):
    for option in reversed(output_options):
        function = option(function)
    return function


def _pixel_limit(max_pixels: int | None) -> int:
    """--max-pixels, or Pillow's decompression-bomb limit when not given."""
    from .imaging.io import DEFAULT_MAX_PIXELS

    return max_pixels or DEFAULT_MAX_PIXELS


def _run_images(inputs, output, recursive, extension, suffix, process, verb, **save_options) -> None:
    from . import batch
    from .imaging import ImageSaveError

    max_pixels = _pixel_limit(save_options.pop("max_pixels"))
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
@click.option("-s", "--strength", type=click.IntRange(1, 100), default=None, metavar="QUALITY",
              help="Treat the inputs as JPEG quality QUALITY instead of reading the file's tables or "
              "estimating (a lower value removes more: useful for pictures compressed harder earlier).")
@click.option("--project/--no-project", default=None,
              help="Move the result back into the quantization intervals the JPEG file proves "
              "(JPEG inputs only; default: the model's card decides).")
def fix(inputs, output, recursive, extension, quality, background, overwrite, max_pixels, model, passes,
        strength, project) -> None:
    """Remove JPEG blocking and ringing from INPUTS (files or folders)."""
    from . import zoo
    from .tasks.restore import default_projection, restore_picture

    model = model or zoo.DEFAULT_MODEL["jpeg"]
    try:
        zoo.get_spec(model)
        zoo.load_model(model)
    except (zoo.UnknownModelError, FileNotFoundError) as exc:
        _fail(str(exc))
    if strength is not None and not zoo.get_spec(model).trainer == "jpeg-blind":
        _fail(f"--strength needs a blind model; {model} was trained for one quality")
    project = default_projection(model) if project is None else project
    _run_images(inputs, output, recursive, extension, ".fixed",
                lambda picture: restore_picture(picture, model, passes, strength=strength, project=project),
                "fixed", overwrite=overwrite, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
@with_output_options
@click.option("-s", "--scale", type=click.Choice(["2", "3", "4"]), default="2", show_default=True)
@click.option("-m", "--model", "method", default=None, metavar="METHOD",
              help="How to enlarge: nearest, bilinear, bicubic, lanczos, a model's architecture (srcnn, fsrcnn, "
              "drcn, vdsr, edsr) or full name (see `pixrescue models`). Default: edsr.")
@click.option("--deblock/--no-deblock", default=None,
              help="Remove JPEG artifacts before enlarging (default: for JPEG inputs).")
def upscale(inputs, output, recursive, extension, quality, background, overwrite, max_pixels, scale, method,
            deblock) -> None:
    """Enlarge INPUTS (files or folders) SCALE times."""
    from . import zoo
    from .tasks.upscale import INTERPOLATIONS, resolve_method, upscale_picture

    factor = int(scale)
    try:
        method = resolve_method(method, factor)
        if method not in INTERPOLATIONS:
            zoo.load_model(method)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    _run_images(inputs, output, recursive, extension, f".x{factor}",
                lambda picture: upscale_picture(picture, factor, method, deblock, _pixel_limit(max_pixels)),
                "upscaled",
                overwrite=overwrite, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
@with_output_options
@click.option("-s", "--scale", type=click.Choice(["2", "4"]), default="2", show_default=True)
@click.option("--jpeg-robust", is_flag=True,
              help="x4 only: use the model trained to survive a JPEG re-compression of the small picture "
              "(for pictures a platform will re-encode).")
@click.option("--refine", type=click.IntRange(0, 1000), default=0, show_default=True, metavar="STEPS",
              help="Tune the small picture for STEPS steps so that expand recovers more (20: about +0.6 dB, "
              "some 50 times slower; see README).")
def shrink(inputs, output, recursive, extension, quality, background, overwrite, max_pixels, scale,
           jpeg_robust, refine) -> None:
    """Make INPUTS SCALE times smaller so that `pixrescue expand` can recover them.

    The small picture is an ordinary PNG; its metadata names the model and
    the original size (keep it: expand needs it)."""
    from . import zoo
    from .tasks.rescale import model_for, shrink_picture

    factor = int(scale)
    try:
        zoo.load_model(model_for(factor, jpeg_robust))
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    suffix = "" if output is None else output.suffix.lower()
    if extension not in ("png", "jpg") or suffix not in ("", ".png", ".jpg", ".jpeg"):
        _fail("shrink writes PNG (or JPEG, whose comment carries the metadata): the small picture must keep its metadata")
    if refine and (jpeg_robust or extension == "jpg" or suffix in (".jpg", ".jpeg")):
        _fail("--refine tunes the small picture for a lossless copy: write PNG, and not with --jpeg-robust")
    _run_images(inputs, output, recursive, extension, f".small{factor}",
                lambda picture: shrink_picture(picture, factor, jpeg_robust, refine), "shrunk",
                overwrite=overwrite, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
@with_output_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latent draw (reproducible output).")
@click.option("--temperature", type=click.FloatRange(0, 2), default=None,
              help="Scale of the latent draw: 0 uses its mean (default: see README).")
@click.option("-m", "--model", default=None,
              help="Treat the inputs as made by this shrink model (for small pictures that lost their metadata).")
def expand(inputs, output, recursive, extension, quality, background, overwrite, max_pixels, seed, temperature,
           model) -> None:
    """Recover the full-size pictures from small ones that `pixrescue shrink` made."""
    from .tasks.rescale import DEFAULT_TEMPERATURE, expand_picture

    temperature = DEFAULT_TEMPERATURE if temperature is None else temperature
    _run_images(inputs, output, recursive, extension, ".expanded",
                lambda picture: expand_picture(picture, seed, temperature, model, _pixel_limit(max_pixels)),
                "expanded",
                overwrite=overwrite, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
def models() -> None:
    """List the registered models with their cards' summaries."""
    from . import zoo
    from .tasks.upscale import INTERPOLATIONS, default_method

    for name in zoo.MODELS:
        card = zoo.load_card(name)
        default = " (default)" if name in zoo.DEFAULT_MODEL.values() else ""
        summary = card.get("summary", "no weights shipped")
        click.echo(f"{name}{default}\n    {zoo.get_spec(name).task}: {summary}")
    for name in INTERPOLATIONS:
        default = " (default)" if name == default_method() else ""
        click.echo(f"{name}{default}\n    upscale: {name} interpolation (Pillow), no weights")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Catalog file (default: FOLDER/.pixrescue.db).")
@click.option("--rotations", is_flag=True, help="Also match flipped and quarter-turned copies.")
def index(folder, db, rotations) -> None:
    """Fingerprint the images in FOLDER (recursively) into a SQLite catalog.

    Only new or changed files are read again; deleted files are forgotten."""
    import sys

    from tqdm import tqdm

    from . import catalog

    bar = tqdm(unit="file", file=sys.stderr, leave=False)
    report = catalog.update(folder, db, rotations=rotations, on_file=lambda _: bar.update(),
                            on_error=lambda path, message: bar.write(f"error: {path}: {message}", file=sys.stderr))
    bar.close()
    click.echo(f"indexed {folder}: {report.added} added, {report.updated} updated, {report.removed} removed, "
               f"{report.unchanged} unchanged" + (f", {len(report.failed)} failed" if report.failed else ""),
               err=True)
    if report.failed:
        raise SystemExit(1)


def _catalog_records(folder: Path | None, db: Path | None):
    from . import catalog

    db_path = db or (catalog.default_db(folder) if folder else None)
    if db_path is None or not db_path.exists():
        _fail(f"no catalog at {db_path}: run `pixrescue index FOLDER` first")
    try:
        return list(catalog.records(db_path)), db_path
    except catalog.CatalogVersionError as exc:
        _fail(str(exc))


METHOD_NAMES = ["combined", "phash", "ahash", "dhash", "whash", "cnn", "ae"]  # similarity.METHODS, without importing it


def _describe(record) -> str:
    quality = f"JPEG q{record.jpeg_quality}" if record.jpeg_quality else (record.format or "?")
    return f"{record.width}x{record.height} {quality} {record.size:,} bytes"


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--method", type=click.Choice(METHOD_NAMES), default="combined", show_default=True,
              help="Fingerprint compared (see README: hashes, learned embeddings, or both).")
@click.option("--threshold", type=click.FloatRange(0), default=None,
              help="Largest distance between copies (default per method: 10 bits for hashes, 1.0 for "
              "combined, 0.30 for cnn and 0.05 for ae: see README).")
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the groups as CSV.")
@click.option("--move-to", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Move every copy but the recommended one into this folder (nothing is deleted).")
def dupes(folder, db, method, threshold, as_json, as_csv, move_to) -> None:
    """Group near-duplicate images of FOLDER's catalog, the recommended copy first
    (highest resolution, then least compressed, then largest file)."""
    import csv
    import json
    import shutil
    import sys

    from . import catalog, similarity

    records, db_path = _catalog_records(folder, db)
    found = similarity.groups(records, method, threshold)
    if as_json:
        click.echo(json.dumps([
            [{"path": str(r.path), "recommended": i == 0, "distance": d, "width": r.width, "height": r.height,
              "jpeg_quality": r.jpeg_quality, "size": r.size} for i, (r, d) in enumerate(zip(g.members, g.distances))]
            for g in found], indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["group", "rank", "path", "distance", "width", "height", "jpeg_quality", "size"])
        for n, g in enumerate(found, 1):
            for rank, (r, d) in enumerate(zip(g.members, g.distances)):
                writer.writerow([n, rank, r.path, d, r.width, r.height, r.jpeg_quality or "", r.size])
    else:
        for n, g in enumerate(found, 1):
            click.echo(f"group {n} ({len(g.members)} images)")
            for i, (r, d) in enumerate(zip(g.members, g.distances)):
                click.echo(f"  {'keep' if i == 0 else f'{d:>6g}'}  {r.path}  ({_describe(r)})")
    moved = []
    if move_to is not None:
        root = folder.resolve()
        for g in found:
            for r in g.members[1:]:
                relative = r.path.relative_to(root) if r.path.is_relative_to(root) else Path(r.path.name)
                target = move_to / relative
                counter = 1
                while target.exists():
                    target = target.with_name(f"{relative.stem}-{counter}{relative.suffix}")
                    counter += 1
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(r.path), str(target))
                moved.append(r.path)
        catalog.forget(db_path, moved)
    copies = sum(len(g.members) - 1 for g in found)
    click.echo(f"{len(found)} groups, {copies} redundant copies" + (f", {len(moved)} moved to {move_to}" if moved else ""),
               err=True)


@main.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Catalog file.")
@click.option("-k", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--method", type=click.Choice(METHOD_NAMES), default="combined", show_default=True)
def similar(image, db, k, method) -> None:
    """The K images of a catalog nearest to IMAGE, with their distances
    (bits of 64 for hashes, cosine distance for embeddings, 1.0 = duplicate
    threshold for combined)."""
    from . import catalog, similarity
    from .imaging import ImageLoadError, load

    records, _ = _catalog_records(None, db)
    try:
        picture = load(image)
    except ImageLoadError as exc:
        _fail(f"{image}: {exc}")
    rotated = any(len(r.hashes["phash"]) > 1 for r in records)
    query = catalog.record_of(picture, Path(image), Path(image).stat().st_size, rotated)
    for record, distance in similarity.nearest(query, records, method, k):
        click.echo(f"{distance:>8.4g}  {record.path}")


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
@click.option("--patch", type=click.IntRange(min=12), default=64, show_default=True,
              help="Training patch side (full-size pixels); at least 12, a side every scale divides.")
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
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where the training steps run; auto: a CUDA GPU when torch sees one. Validation runs on the CPU.")
@click.option("--only", type=click.Choice(["all", "estimator"]), default="all", show_default=True,
              help="estimator: train only the blind model's quality estimator (start from --init).")
@click.option("--guide-weight", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Rescaling models: weight of the pull of the small picture towards the bicubic downscale "
                   "(default: the task's, in the model card).")
def train(model, data, out_dir, run_dir, steps, epochs, batch, patch, lr, lr_schedule, quality, target,
          max_side, val_every, seed, init, max_minutes, threads, device, only, guide_weight) -> None:
    """Train MODEL (a registered name, see `pixrescue models`) on clean images."""
    import torch

    from . import zoo
    from .training.train import TrainConfig
    from .training.train import train as run_training

    try:
        zoo.get_spec(model)
    except zoo.UnknownModelError as exc:
        raise click.UsageError(str(exc))
    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise click.UsageError("--device cuda: torch sees no CUDA GPU")
    if guide_weight is not None and zoo.get_spec(model).task != "rescale":
        raise click.UsageError(f"--guide-weight applies to the rescaling models; {model} is not one")
    config = TrainConfig(model=model, data=list(data), quality=quality, target=target, max_side=max_side,
                         patch=patch, batch=batch, epochs=epochs, steps=steps, lr=lr, lr_schedule=lr_schedule,
                         val_every=val_every, seed=seed, only=only, guide_weight=guide_weight)
    run_training(config, out_dir, run_dir or Path("runs") / model, init=init, max_minutes=max_minutes,
                 device=device, command=_command_line(click.get_current_context()))
