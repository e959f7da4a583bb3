"""The ``pixrescue`` command line: parse, call the API, report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

# What `fix` adds to a name it writes beside its input (a.jpg -> a.fixed.png); folder searches skip such files.
FIXED_SUFFIX = ".fixed"


class _Commands(click.Group):
    """Lists each command with its whole first sentence (click cuts it at the terminal's width)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, command.get_short_help_str(limit=300)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        """Ctrl-C ends a command with "interrupted" and exit status 130 (128 + SIGINT), as shells
        expect; outputs are written whole or not at all (pixrescue/atomic.py), so none is left cut."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            raise SystemExit(130) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="pixrescue")
def main() -> None:
    """Rescue images that the internet has degraded."""
    if click.get_current_context().invoked_subcommand == "index" and "torch" not in sys.modules:
        # index runs its small networks between the reading threads' work: OpenMP threads that spin
        # while they wait took the reading threads' cores (100 photographs with --threads 2 on a busy
        # 2-core machine: 7.0 s spinning, 2.3 s sleeping).  Read by OpenMP when torch loads, so here.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _finish(outcome, verb: str) -> None:
    """One-line summary, then what happened to every file that was not simply
    done (left unchanged and why, skipped, failed); a non-zero exit if any failed."""
    def images(count: int) -> str:
        return f"{count} image{'s' if count != 1 else ''}"

    parts = [f"{verb} {images(len(outcome.done))}"]
    for label, entries in (("left unchanged", outcome.unchanged), ("skipped", outcome.skipped),
                           ("failed", outcome.failed)):
        if entries:
            parts.append(f"{len(entries)} {label}")
    click.echo(", ".join(parts), err=True)
    for label, entries in (("unchanged", outcome.unchanged), ("skipped", outcome.skipped),
                           ("failed", outcome.failed)):
        for source, message in entries:
            click.echo(f"  {label}: {source}: {message}", err=True)
    if outcome.failed:
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


def _output_path(ctx, param, value: str | None):
    """-o: (path, names a folder).  A folder is one that exists, or a path that ends with a
    separator or has no extension; any other extension must be an image format's (an unknown
    one such as .avif or .xyz would otherwise become a folder without a word)."""
    import os

    from .imaging.io import IMAGE_SUFFIXES

    if value is None:
        return None
    path = Path(value)
    folder = value.endswith(("/", os.sep)) or path.is_dir() or not path.suffix
    if not folder and path.suffix.lower() not in IMAGE_SUFFIXES:
        raise click.BadParameter(f"unknown image extension {path.suffix!r} (use one of "
                                 f"{', '.join(sorted(IMAGE_SUFFIXES))}); a folder name with a dot must end with /")
    return path, folder


def _size(value: str | None) -> tuple[int, int] | None:
    """--min-size WxH: (width, height), each at least 1."""
    if value is None:
        return None
    width, _, height = value.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise click.BadParameter(f"{value!r} is not WIDTHxHEIGHT in pixels (for example 1024x768)")
    return int(width), int(height)


def _threads(ctx, param, value: int | None) -> None:
    """--threads: set before the command runs (the API's set_threads)."""
    if value is not None:
        from . import set_threads

        set_threads(value)


threads_option = click.option("--threads", type=click.IntRange(min=1), default=None, expose_value=False,
                              callback=_threads, help="CPU threads for the networks (default: every core "
                              "this process may use; one for index).")


def _precision(ctx, param, value: str | None) -> None:
    """--precision: set before the command runs (the API's set_precision)."""
    if value is not None:
        from . import set_precision

        set_precision(value)


precision_option = click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default=None,
                                expose_value=False, callback=_precision,
                                help="How the networks compute. auto: the fastest runtime each model's card "
                                "allows here (OpenVINO when installed; bf16 on a CPU with bf16 instructions); "
                                "fp32: PyTorch fp32, the same pixels on every machine; bf16: PyTorch bf16.  "
                                "[default: auto]")


def _device(ctx, param, value: str | None) -> None:
    """--device: set before the command runs (the API's set_device)."""
    if value is not None:
        from . import set_device

        try:
            set_device(value)
        except ValueError as exc:
            _fail(str(exc))


device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
                             expose_value=False, callback=_device,
                             help="Where the networks run. auto: a CUDA GPU when PyTorch sees one, else the CPU. "
                             "[default: auto]")

output_options = [
    click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path)),
    click.option("-o", "--output", default=None, callback=_output_path, metavar="FILE|FOLDER",
                 help="Output file (one input; its extension picks the format) or folder (existing, ending "
                 "with /, or without extension). Default: beside each input."),
    click.option("-r", "--recursive", is_flag=True, help="Search input folders recursively."),
    click.option("--format", "extension", type=click.Choice(["png", "jpg", "webp", "tif", "bmp", "gif"]),
                 default=None, help="Output format when writing into a folder or beside the inputs "
                 "[default: png]."),
    click.option("--quality", type=click.IntRange(1, 100), default=None,
                 help="Quality of lossy outputs (JPEG, lossy WebP; default: JPEG 95, WebP lossless)."),
    click.option("--background", default=None, metavar="COLOUR",
                 help="Flatten transparency onto this colour (needed for JPEG output of images with alpha)."),
    click.option("--overwrite", is_flag=True, help="Replace existing files (and the input, if it is the output)."),
    click.option("--skip-existing", is_flag=True,
                 help="Leave outputs that already exist and report them as skipped (to continue a stopped batch)."),
    click.option("--max-pixels", type=click.IntRange(min=1), default=None,
                 help="Refuse images larger than this many pixels, read or (upscale, expand) written "
                 "(default: Pillow's 89,478,485)."),
    threads_option,
    precision_option,
    device_option,
]


def with_output_options(function):
    for option in reversed(output_options):
        function = option(function)
    return function


def with_engine_options(function):
    """--engine and --address, kept in the context's meta["engine"] (see pixrescue/cluster.py)."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, engine, address, **kwargs):
        if address is not None and engine != "ray":
            _fail("--address belongs to --engine ray")
        click.get_current_context().meta["engine"] = (engine, address)
        return function(*args, **kwargs)

    wrapper = click.option("--address", default=None, metavar="HOST:PORT",
                           help="With --engine ray: the Ray cluster to use (default: start one on this machine).")(wrapper)
    return click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                        help="ray: spread the files over a Ray cluster (pip install 'pixrescue[cluster]'; "
                        "see docs/cluster.md).")(wrapper)


def _on_ray(run):
    """``run()`` (a cluster call) with its Ray error as one line."""
    from .cluster import EngineError

    try:
        return run()
    except EngineError as exc:
        _fail(str(exc))


def _output_format(output, extension: str | None) -> str:
    """The output's extension (without the dot): -o FILE's, else --format's (png by default).
    Refuses -o FILE.ext with a --format that names another format."""
    from .imaging.io import format_for

    if output is not None and not output[1]:
        if extension is not None and format_for(f"x.{extension}") != format_for(output[0]):
            _fail(f"-o {output[0]} is {format_for(output[0])} but --format says {extension}: give one of them")
        return output[0].suffix.lower().lstrip(".")
    return extension or "png"


def _check_save_options(extension: str, quality: int | None, background: str | None) -> None:
    """Options that cannot apply, refused before any work."""
    from .imaging import ImageSaveError
    from .imaging.io import format_for, parse_colour

    fmt = format_for(f"x.{extension}")
    if quality is not None and fmt not in ("JPEG", "WEBP"):
        _fail(f"--quality applies to JPEG and WebP outputs, not {fmt}")
    if background is not None:
        try:
            parse_colour(background)
        except ImageSaveError as exc:
            _fail(f"--background: {exc}")


def _check_existing_choice(overwrite: bool, skip_existing: bool) -> None:
    if overwrite and skip_existing:
        raise click.UsageError("--overwrite and --skip-existing ask opposite things of an existing output: "
                               "choose one")


def _run_images(inputs, output, recursive, extension, suffix, process, verb, factory=None, **save_options) -> None:
    from . import _pixel_limit, batch
    from .imaging import ImageSaveError

    _check_existing_choice(save_options["overwrite"], save_options["skip_existing"])
    max_pixels = _pixel_limit(save_options.pop("max_pixels"))
    extension = _output_format(output, extension)
    _check_save_options(extension, save_options["quality"], save_options["background"])
    path, folder = output if output is not None else (None, True)
    try:
        jobs = batch.plan(list(inputs), path, recursive, suffix, "." + extension, single_file=not folder)
    except (batch.BatchError, ImageSaveError) as exc:
        _fail(str(exc))
    engine, address = click.get_current_context().meta.get("engine", ("local", None))
    if engine == "ray":
        from . import cluster

        outcome = _on_ray(lambda: cluster.run(jobs, factory, address=address, max_pixels=max_pixels, **save_options))
    else:
        outcome = batch.run(jobs, process, max_pixels=max_pixels, **save_options)
    _finish(outcome, verb)


@main.command()
@with_output_options
@click.option("-m", "--model", default=None,
              help="An artifact-removal model's name (see `pixrescue models`) or a .safetensors file that "
              "`pixrescue train` wrote (its card beside it). Default: qgunet.jpeg-blind.")
@click.option("-p", "--passes", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Feed the output through the network again this many times in all.")
@click.option("-s", "--strength", type=click.IntRange(1, 100), default=None, metavar="QUALITY",
              help="Treat the inputs as JPEG quality QUALITY instead of reading the file's tables or "
              "estimating (a lower value removes more: useful for pictures compressed harder earlier).")
@click.option("--project/--no-project", default=None,
              help="Move the result back into the quantization intervals the JPEG file proves "
              "(JPEG inputs only; default: when the model's card says so and the file shows a single compression).")
@with_engine_options
@click.option("--auto", is_flag=True,
              help="Inspect each picture and run the steps it needs: remove JPEG artifacts, then blur, then "
              "enlarge to --min-size; prints what it did for each file.")
@click.option("--min-size", default=None, callback=lambda ctx, param, value: _size(value), metavar="WxH",
              help="With --auto: enlarge pictures smaller than this 2, 3 or 4 times.")
def fix(inputs, output, recursive, extension, quality, background, overwrite, skip_existing, max_pixels, model,
        passes, strength, project, auto, min_size) -> None:
    """Remove JPEG blocking and ringing from INPUTS (files or folders)."""
    import functools

    from . import autofixer, restorer

    if min_size is not None and not auto:
        _fail("--min-size goes with --auto")
    if auto and (model is not None or passes != 1 or strength is not None or project is not None):
        _fail("--auto chooses the steps and their models itself: leave out -m, --passes, --strength and --project")
    try:
        process = autofixer(min_size, max_pixels) if auto else restorer(model, passes, strength, project)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    _run_images(inputs, output, recursive, extension, FIXED_SUFFIX, process, "fixed", overwrite=overwrite,
                factory=functools.partial(autofixer, min_size, max_pixels) if auto
                else functools.partial(restorer, model, passes, strength, project),
                skip_existing=skip_existing, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
@with_output_options
@click.option("-s", "--scale", type=click.Choice(["2", "3", "4"]), default="2", show_default=True,
              help="How many times larger the output is, on each side.")
@click.option("-m", "--model", "method", default=None, metavar="METHOD",
              help="How to enlarge: nearest, bilinear, bicubic, lanczos, a model's architecture (srcnn, fsrcnn, "
              "drcn, vdsr, edsr), full name (see `pixrescue models`) or a .safetensors file that `pixrescue "
              "train` wrote. Default: edsr.")
@click.option("--deblock/--no-deblock", default=None,
              help="Remove JPEG artifacts before enlarging (default: for JPEG inputs).")
@with_engine_options
def upscale(inputs, output, recursive, extension, quality, background, overwrite, skip_existing, max_pixels, scale,
            method, deblock) -> None:
    """Enlarge INPUTS (files or folders) SCALE times."""
    import functools

    from . import upscaler

    factor = int(scale)
    try:
        process = upscaler(factor, method, deblock, max_pixels)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    _run_images(inputs, output, recursive, extension, f".x{factor}", process, "upscaled", overwrite=overwrite,
                factory=functools.partial(upscaler, factor, method, deblock, max_pixels),
                skip_existing=skip_existing, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-q", "--quality", type=click.IntRange(1, 100), required=True,
              help="JPEG quality of the file (the IJG scale, as everywhere in pixrescue).")
@click.option("--rate", type=click.Choice(["low", "medium", "high"]), default="high", show_default=True,
              help="How many bits the side information may spend (the three trained rate points; high restores "
                   "best for about the same bits: docs/side_info.md).")
@click.option("-o", "--output", default=None, callback=_output_path, metavar="FILE|FOLDER",
              help="Output .jpg file (one input) or folder. Default: beside each input, as <stem>.si.jpg.")
@click.option("-r", "--recursive", is_flag=True, help="Search input folders recursively.")
@click.option("--overwrite", is_flag=True, help="Replace existing files (and the input, if it is the output).")
@click.option("--skip-existing", is_flag=True,
              help="Leave outputs that already exist and report them as skipped (to continue a stopped batch).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images larger than this many pixels (default: Pillow's 89,478,485).")
@threads_option
def compress(inputs, quality, rate, output, recursive, overwrite, skip_existing, max_pixels) -> None:
    """Save INPUTS (files or folders) as JPEGs at quality Q that carry learned side information:
    any viewer shows the JPEG, and `pixrescue fix` restores it better than a plain JPEG."""
    from . import _pixel_limit, batch, compressor
    from .imaging import ImageSaveError
    from .imaging.io import format_for, write_file

    _check_existing_choice(overwrite, skip_existing)
    if output is not None and not output[1] and format_for(output[0]) != "JPEG":
        _fail(f"-o {output[0]}: compress writes JPEG files (.jpg)")
    try:
        process = compressor(quality, rate)
    except (ValueError, ImportError, FileNotFoundError) as exc:
        _fail(str(exc))
    path, folder = output if output is not None else (None, True)
    try:
        jobs = batch.plan(list(inputs), path, recursive, ".si", ".jpg", single_file=not folder)
    except (batch.BatchError, ImageSaveError) as exc:
        _fail(str(exc))
    outcome = batch.run(jobs, process, overwrite=overwrite, skip_existing=skip_existing,
                        max_pixels=_pixel_limit(max_pixels),
                        writer=lambda result, target, replace: write_file(result.data, target, replace))
    _finish(outcome, "compressed")


@main.command()
@with_output_options
@click.option("-m", "--model", default=None,
              help="A deblurring model's name (see `pixrescue models`) or a .safetensors file that "
              "`pixrescue train` wrote. Default: deblurunet.blind.")
def deblur(inputs, output, recursive, extension, quality, background, overwrite, skip_existing, max_pixels,
           model) -> None:
    """Remove camera shake, defocus and soft focus from INPUTS (files or folders)."""
    from . import deblurrer

    try:
        process = deblurrer(model)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    _run_images(inputs, output, recursive, extension, ".sharp", process, "deblurred", overwrite=overwrite,
                skip_existing=skip_existing, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
@with_output_options
@click.option("-s", "--scale", type=click.Choice(["2", "4"]), default="2", show_default=True,
              help="How many times smaller the small picture is, on each side.")
@click.option("--jpeg-robust", is_flag=True,
              help="x4 only: use the model trained to survive a JPEG re-compression of the small picture "
              "(for pictures a platform will re-encode).")
@click.option("--refine", type=click.IntRange(0, 1000), default=0, show_default=True, metavar="STEPS",
              help="Tune the small picture for STEPS steps so that expand recovers more (20: about +0.6 dB, "
              "some 50 times slower; see docs/rescaling.md).")
def shrink(inputs, output, recursive, extension, quality, background, overwrite, skip_existing, max_pixels, scale,
           jpeg_robust, refine) -> None:
    """Make INPUTS SCALE times smaller so that `pixrescue expand` can recover them.

    The small picture is an ordinary PNG; its metadata names the model and
    the original size (keep it: expand needs it)."""
    from . import shrinker

    factor = int(scale)
    try:
        process = shrinker(factor, jpeg_robust, refine)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    written = _output_format(output, extension)
    if written not in ("png", "apng", "jpg", "jpeg", "jpe"):
        _fail("shrink writes PNG (or JPEG, whose comment carries the metadata): the small picture must keep its metadata")
    if refine and (jpeg_robust or written not in ("png", "apng")):
        _fail("--refine tunes the small picture for a lossless copy: write PNG, and not with --jpeg-robust")
    _run_images(inputs, output, recursive, extension, f".small{factor}", process, "shrunk", overwrite=overwrite,
                skip_existing=skip_existing, quality=quality, background=background, max_pixels=max_pixels)


@main.command()
@with_output_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latent draw (reproducible output).")
@click.option("--temperature", type=click.FloatRange(0, 2), default=None,
              help="Scale of the latent draw: 0 uses its mean (default: see docs/rescaling.md).")
@click.option("-m", "--model", default=None,
              help="Treat the inputs as made by this shrink model (for small pictures that lost their metadata).")
def expand(inputs, output, recursive, extension, quality, background, overwrite, skip_existing, max_pixels, seed,
           temperature, model) -> None:
    """Recover the full-size pictures from small ones that `pixrescue shrink` made."""
    from . import expander

    try:
        process = expander(seed, temperature, model, max_pixels)
    except ValueError as exc:  # UnknownModelError
        _fail(str(exc))
    _run_images(inputs, output, recursive, extension, ".expanded", process, "expanded", overwrite=overwrite,
                skip_existing=skip_existing, quality=quality, background=background, max_pixels=max_pixels)


def _yes_no(value) -> str:
    return "-" if value is None else ("yes" if value else "no")


# Explanations printed beside the recommended steps.
_STEPS = {"fix": "pixrescue fix: JPEG artifacts", "upscale": "pixrescue upscale: small picture",
          "deblur": "pixrescue deblur: blurred"}


def _inspection_table(found) -> str:
    """The readable report of one :class:`pixrescue.tasks.inspect.Inspection`."""
    jpeg = "-" if found.jpeg_quality is None else (
        f"quality {found.jpeg_quality}{'' if found.jpeg_quality_exact else ' (closest IJG tables)'}, "
        f"subsampling {found.subsampling}")
    history = "-" if found.recompressed is None else (
        f"compressed at about quality {found.first_quality} before" if found.recompressed else "one compression")
    shifted = "-" if found.shifted_grid is None else (
        f"blocks at {found.shifted_grid[1]},{found.shifted_grid[0]} pixels"
        + (f", quality {found.shifted_quality}" if found.shifted_quality is not None else ""))
    rows = [
        ("format", f"{found.format or '-'} {found.width}x{found.height} {found.mode}, {found.frames} frame"
                   f"{'s' if found.frames != 1 else ''}"),
        ("alpha / ICC", f"{_yes_no(found.has_alpha)} / {_yes_no(found.icc)}"),
        ("EXIF orientation", str(found.exif_orientation)),
        ("JPEG tables", jpeg),
        *([("side information", found.side_info)] if found.side_info else []),
        ("same-grid history", history),
        ("shifted grid", shifted),
        ("estimated quality", str(found.estimated_quality)),
        ("DCT quality", "-" if found.dct_quality is None else str(found.dct_quality)),
        ("blockiness", f"{found.blockiness:.3f}"),
        ("sharpness", "- (no detail)" if found.sharpness is None
         else f"{found.sharpness:.3f}" + (" (blurred)" if found.blurred else "")),
        ("noise", f"{found.noise:.2f}"),
        ("quality score", f"{found.quality_score:.0f} / 100 (predicted {found.predicted_psnr:.1f} dB "
                          "against the clean original)"),
        ("fix would", found.fix + ("" if found.fix_quality is None else f" [told quality {found.fix_quality}]")
         + (", projected" if found.fix_projects else "")),
        ("recommended", "; ".join(f"{step} ({_STEPS[step]})" for step in found.recommendations) or "nothing"),
    ]
    return "\n".join([str(found.source)] + [f"  {name:<18} {value}" for name, value in rows])


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-r", "--recursive", is_flag=True, help="Search input folders recursively.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of objects (pixrescue.inspect's fields).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images larger than this many pixels (default: Pillow's 89,478,485).")
def inspect(inputs, recursive, as_json, max_pixels) -> None:
    """Say what is wrong with INPUTS (files or folders) and what would help; writes nothing."""
    import json
    from dataclasses import asdict, replace

    from . import _pixel_limit, batch
    from . import inspect as inspect_picture

    try:
        paths = batch.sources(list(inputs), recursive, skip_suffix=FIXED_SUFFIX)
    except batch.BatchError as exc:
        _fail(str(exc))
    found, outcome = batch.each(paths, inspect_picture, max_pixels=_pixel_limit(max_pixels))
    if as_json:
        click.echo(json.dumps([asdict(entry) for entry in found], indent=2))
    else:
        click.echo("\n\n".join(_inspection_table(entry) for entry in found))
    _finish(replace(outcome, done=found), "inspected")


@main.command()
def models() -> None:
    """List the registered models with their cards' summaries."""
    from . import zoo

    for name in zoo.MODELS:
        card = zoo.load_card(name)
        default = " (default)" if name in zoo.DEFAULT_MODEL.values() else ""
        summary = card.get("summary", "no weights shipped")
        click.echo(f"{name}{default}\n    {zoo.get_spec(name).task}: {summary}")
    for name in zoo.INTERPOLATIONS:
        default = " (default)" if name == zoo.default_upscaler() else ""
        click.echo(f"{name}{default}\n    upscale: {name} interpolation (Pillow), no weights")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every network interface; anyone who can reach it can use it).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=50, show_default=True,
              help="Largest file accepted, in megabytes.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse pictures larger than this many pixels, read or written (default: Pillow's 89,478,485).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Jobs running at once (default: one per core).")
@click.option("--queue", type=click.IntRange(min=0), default=None,
              help="Jobs waiting beyond those running; more are refused (429). Default: 4 per worker.")
@click.option("--job-seconds", type=click.FloatRange(min=0, min_open=True), default=300, show_default=True,
              help="A job's time limit.")
@click.option("--keep-minutes", type=click.FloatRange(min=0, min_open=True), default=30, show_default=True,
              help="How long results are kept before they are deleted.")
def serve(host, port, max_upload_mb, max_pixels, workers, queue, job_seconds, keep_minutes) -> None:
    """Serve a web page (and its JSON API) that runs fix, upscale, shrink, expand and inspect.

    Needs the web extra: pip install 'pixrescue[web]'. Runs in the foreground until Ctrl-C."""
    from dataclasses import replace

    try:
        from .web.app import serve as run_server
        from .web.jobs import Settings
    except ImportError as exc:
        _fail(f"serve needs the web extra ({exc.name} is missing): pip install 'pixrescue[web]'")
    settings = replace(Settings(), max_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels, queue=queue,
                       job_seconds=job_seconds, keep_seconds=keep_minutes * 60)
    if workers:
        settings = replace(settings, workers=workers)
    run_server(host, port, settings, announce=lambda line: click.echo(line, err=True))


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Catalog file (default: FOLDER/.pixrescue.db).")
@click.option("--rotations", is_flag=True, help="Also match flipped and quarter-turned copies.")
@click.option("--rebuild", is_flag=True,
              help="Start the catalog from nothing (a damaged one is moved aside to NAME.damaged).")
@threads_option
@device_option
@with_engine_options
def index(folder, db, rotations, rebuild) -> None:
    """Fingerprint the images in FOLDER (recursively) into a SQLite catalog.

    The fingerprint networks run on one thread unless --threads says otherwise.
    Only new or changed files are read again; deleted files are forgotten.
    Folders holding a .pixrescue-moved marker (written by `dupes --move-to`)
    are skipped."""
    from click.core import ParameterSource

    from . import index as index_folder
    from . import set_threads
    from .collection.catalog import CatalogError

    if click.get_current_context().get_parameter_source("threads") != ParameterSource.COMMANDLINE:
        # The fingerprint networks run on a few 64x64 thumbnails at a time while threads that read
        # and hash files take the other cores: a second network thread gained nothing (100 1.5 MP
        # photographs on a busy 2-core machine: 5.2 s with one, 5.1-5.5 s with two).
        set_threads(1)
    try:
        engine, address = click.get_current_context().meta["engine"]
        if engine == "ray":
            from . import cluster

            report = _on_ray(lambda: cluster.index(folder, db, rotations, rebuild, address))
        else:
            report = index_folder(folder, db, rotations, rebuild, progress=True)
    except (CatalogError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"indexed {folder}: {report.added} added, {report.updated} updated, {report.removed} removed, "
               f"{report.unchanged} unchanged" + (f", {len(report.failed)} failed" if report.failed else ""),
               err=True)
    if report.failed:
        raise SystemExit(1)


METHOD_NAMES = ["combined", "phash", "ahash", "dhash", "whash", "cnn", "ae"]  # similarity.METHODS, without importing it


def _describe(copy) -> str:
    """The details column of `dupes`: dimensions, JPEG quality or format, file size."""
    quality = f"JPEG q{copy.jpeg_quality}" if copy.jpeg_quality else (copy.format or "?")
    return f"{copy.width}x{copy.height} {quality} {copy.size:,} bytes"


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Catalog file (default: FOLDER/.pixrescue.db); its paths are taken as relative to FOLDER.")
@click.option("--method", type=click.Choice(METHOD_NAMES), default="combined", show_default=True,
              help="Fingerprint compared (see docs/duplicates.md: hashes, learned embeddings, or both).")
@click.option("--threshold", type=click.FloatRange(0), default=None,
              help="Largest distance between copies (default per method: 10 bits for hashes, 1.0 for "
              "combined, 0.30 for cnn and 0.05 for ae: see docs/duplicates.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON (not with --csv).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the groups as CSV (not with --json).")
@click.option("--move-to", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Move every copy but the recommended one into this folder, under its path relative to "
              "FOLDER (nothing is deleted or overwritten). Only files inside FOLDER and unchanged since "
              "`index` are moved, and nothing of a group whose recommended copy is missing or changed; "
              "others are reported. The folder gets a .pixrescue-moved marker, so `index` skips it even "
              "inside FOLDER.")
def dupes(folder, db, method, threshold, as_json, as_csv, move_to) -> None:
    """Group near-duplicate images of FOLDER's catalog, the recommended copy first
    (highest resolution, then least compressed, then best quality score, then largest file)."""
    import csv
    import json
    import sys
    import textwrap

    from . import move_aside
    from .collection.catalog import CatalogError
    from .collection.folder import each_dupe_group
    from .collection.similarity import distance_unit

    if as_json and as_csv:
        _fail("--json and --csv: choose one")
    # Each group is printed as soon as it is ranked (a million pictures take minutes): the
    # first output waits only for the groups to be found.
    found: list = []
    csv_header = ["group", "rank", "path", "distance", "width", "height", "jpeg_quality", "size"]
    try:
        for n, group in enumerate(each_dupe_group(folder, db, method, threshold), 1):
            found.append(group)
            if as_json:
                text = json.dumps([{"path": str(c.path), "recommended": i == 0, "distance": c.distance,
                                    "width": c.width, "height": c.height, "jpeg_quality": c.jpeg_quality,
                                    "size": c.size} for i, c in enumerate(group)], indent=2)
                click.echo(("[" if n == 1 else ",") + "\n" + textwrap.indent(text, "  "), nl=False)
            elif as_csv:
                if n == 1:
                    writer = csv.writer(sys.stdout)
                    writer.writerow(csv_header)
                for rank, c in enumerate(group):
                    writer.writerow([n, rank, c.path, c.distance, c.width, c.height, c.jpeg_quality or "",
                                     c.size])
                sys.stdout.flush()
            else:
                if n == 1:
                    click.echo(f"{'distance':>8}  path  (dimensions, format or JPEG quality, file size)   "
                               f"distance to the kept copy: {distance_unit(method)}")
                click.echo(f"group {n} ({len(group)} images)")
                for i, c in enumerate(group):
                    click.echo(f"{'keep' if i == 0 else f'{c.distance:.4g}':>8}  {c.path}  ({_describe(c)})")
    except CatalogError as exc:
        _fail(str(exc))
    if as_json:
        click.echo("\n]" if found else "[]")
    elif as_csv and not found:
        csv.writer(sys.stdout).writerow(csv_header)
    outcome = None
    if move_to is not None:
        try:
            outcome = move_aside(found, folder, move_to, db)
        except (ValueError, OSError, CatalogError) as exc:
            _fail(str(exc))
        for path, reason in outcome.skipped:
            click.echo(f"skipped {path}: {reason}", err=True)
    copies = sum(len(group) - 1 for group in found)
    groups = f"{len(found)} group" + ("s" if len(found) != 1 else "")
    summary = f"{groups}, {copies} redundant cop" + ("ies" if copies != 1 else "y")
    if outcome is not None:
        summary += f", {len(outcome.moved)} moved to {move_to}"
        summary += f", {len(outcome.skipped)} skipped" if outcome.skipped else ""
    click.echo(summary, err=True)
    if outcome is not None and outcome.skipped:
        raise SystemExit(1)


@main.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Catalog file (default: FOLDER/.pixrescue.db; FOLDER may then be left out).")
@click.option("-k", type=click.IntRange(1, 1000), default=5, show_default=True, help="How many images to list.")
@click.option("--method", type=click.Choice(METHOD_NAMES), default="combined", show_default=True,
              help="Fingerprint compared (as for `dupes`).")
def similar(image, folder, db, k, method) -> None:
    """The K images of FOLDER's catalog nearest to IMAGE, with their distances
    (bits of 64 for hashes, cosine distance for embeddings, 1.0 = duplicate
    threshold for combined)."""
    from . import similar as nearest
    from .collection.catalog import CatalogError
    from .collection.folder import QueryError

    try:
        found = nearest(image, folder, db, k, method)
    except (CatalogError, QueryError) as exc:
        _fail(str(exc))
    for path, distance in found:
        click.echo(f"{distance:>8.4g}  {path}")


@main.command()
@click.argument("model", required=False)
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of clean training images (searched recursively; repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("trained"),
              show_default=True, help="Where the weights and the model card are written.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Checkpoint folder; training resumes from it. Default: runs/MODEL (with --plan: the folder "
                   "of the models' run folders, default runs/campaign).")
@click.option("--steps", type=int, default=None, help="Optimizer steps (default: from --epochs).")
@click.option("--epochs", type=float, default=24.0, show_default=True,
              help="Length of the run in epochs (as many patches as the training images hold), unless --steps.")
@click.option("--batch", type=int, default=256, show_default=True, help="Patches per optimizer step.")
@click.option("--patch", type=click.IntRange(min=12), default=64, show_default=True,
              help="Training patch side (full-size pixels); at least 12, a side every scale divides.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam's learning rate.")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True,
              help="cosine: decay the learning rate to 1% of --lr at the last step.")
@click.option("--quality", type=int, default=10, show_default=True, help="JPEG quality of the inputs.")
@click.option("--target", type=click.Choice(["q100", "original"]), default="q100", show_default=True,
              help="Training target: the image saved at JPEG quality 100, or the clean original.")
@click.option("--max-side", type=int, default=320, show_default=True,
              help="Shrink training images whose long side is larger than this (0: keep full size).")
@click.option("--val-every", type=int, default=250, show_default=True,
              help="Validate on the held-out images every this many steps.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the patches drawn and the start.")
@click.option("--init", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from these .safetensors weights (for example the shipped ones).")
@click.option("--max-minutes", type=float, default=None, help="Stop (and save) after this long.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for the training steps. Default: the cores this process may use, less the sample "
                   "workers. Given alone, the samples are made in-line (no workers) unless --workers says otherwise.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Processes that make the batches while the steps run (0: in-line). Default: on a GPU, the cores "
                   "less one; on a CPU, measured at the start (a worker takes a core from the steps).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto: bf16 autocast (fp32 master weights) where the CPU or GPU computes in bf16 and the first "
                   "batch's loss agrees within 2%; fp32 elsewhere.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where the training steps run; auto: a CUDA GPU when torch sees one. Validation runs on the CPU.")
@click.option("--plan", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A campaign: train each model of this JSON plan for its share of --minutes, resuming its run, "
                   "and replace its shipped weights when its validation PSNR improved (docs/training.md).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --plan: the campaign's whole time, loading and judging included.")
@click.option("--weights-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --plan: where the shipped weights live (default: the package's weights folder).")
@click.option("--only", type=click.Choice(["all", "estimator", "reshare"]), default="all", show_default=True,
              help="estimator / reshare: train only the blind model's quality estimator / re-share detector "
              "(start from --init).")
@click.option("--guide-weight", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Rescaling models: weight of the pull of the small picture towards the bicubic downscale "
                   "(default: the task's, in the model card).")
@click.option("--rate-weight", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Side-information models: lambda of L = D + lambda R (squared 8-bit levels per bit per pixel; "
                   "each shipped rate point's card records its own).")
@click.option("--diversity", type=click.FloatRange(min=0), default=None,
              help="Side-information models: weight of the pull towards using every code (default 1).")
def train(model, data, out_dir, run_dir, steps, epochs, batch, patch, lr, lr_schedule, quality, target,
          max_side, val_every, seed, init, max_minutes, threads, workers, precision, device, plan, minutes,
          weights_dir, only, guide_weight, rate_weight, diversity) -> None:
    """Train MODEL (a registered name, see `pixrescue models`) on clean images; or, with --plan and
    --minutes, run a training campaign over several models."""
    import torch

    from . import zoo
    from .training import machine
    from .training.train import TrainConfig, TrainingStopped, option_names
    from .training.train import train as run_training

    ctx = click.get_current_context()
    try:
        device = machine.resolve_device(device)
    except ValueError as exc:
        raise click.UsageError(str(exc))
    if threads:
        torch.set_num_threads(threads)
    if plan is not None:
        from click.core import ParameterSource

        from .training.campaign import PlanError, load_plan, run_campaign

        given = [p.opts[0] for p in ctx.command.params if isinstance(p, click.Option)
                 and p.name not in ("plan", "minutes", "weights_dir", "run_dir", "threads", "workers", "precision",
                                    "device")
                 and ctx.get_parameter_source(p.name) is not ParameterSource.DEFAULT]
        if model is not None or given:
            raise click.UsageError("--plan takes its models and their options from the plan; give only --minutes, "
                                   "--run-dir, --weights-dir, --device, --precision, --threads, --workers")
        if minutes is None:
            raise click.UsageError("--plan needs --minutes")
        try:
            campaign = load_plan(plan)
        except PlanError as exc:
            raise click.UsageError(str(exc))
        command = _command_line(ctx).replace("pixrescue train None", "pixrescue train", 1)
        try:
            run_campaign(campaign, minutes, weights_dir=weights_dir or zoo.WEIGHTS_DIR,
                         runs_root=run_dir or Path("runs") / "campaign", device=device, precision=precision,
                         threads=threads, workers=workers, command=command)
        except TrainingStopped as exc:
            raise SystemExit(128 + exc.signum)
        return
    if model is None:
        raise click.UsageError("name the MODEL to train (or give --plan)")
    if not data:
        raise click.UsageError("--data: give at least one folder of training images")
    if minutes is not None or weights_dir is not None:
        raise click.UsageError("--minutes and --weights-dir belong to --plan (a single run stops with --max-minutes)")
    try:
        zoo.get_spec(model)
    except zoo.UnknownModelError as exc:
        raise click.UsageError(str(exc))
    applies = option_names(model)
    if guide_weight is not None and "guide_weight" not in applies:
        raise click.UsageError(f"--guide-weight applies to the rescaling models; {model} is not one")
    if (rate_weight is not None or diversity is not None) and "rate_weight" not in applies:
        raise click.UsageError(f"--rate-weight and --diversity apply to the side-information models; "
                               f"{model} is not one")
    if only != "all" and "only" not in applies:
        raise click.UsageError(f"--only applies to the blind JPEG model; {model} is not one")
    # --quality and --target have defaults: they go to the recipes that have them.
    own = {"quality": quality, "target": target, "only": only, "guide_weight": guide_weight,
           "rate_weight": rate_weight, "diversity": diversity}
    own = {k: v for k, v in own.items() if k in applies and not (k == "diversity" and v is None)}
    config = TrainConfig.from_options(model, data=list(data), max_side=max_side, patch=patch, batch=batch,
                                      epochs=epochs, steps=steps, lr=lr, lr_schedule=lr_schedule, val_every=val_every,
                                      seed=seed, **own)
    try:
        run_training(config, out_dir, run_dir or Path("runs") / model, init=init, max_minutes=max_minutes,
                     device=device, precision=precision, threads=threads, workers=workers,
                     command=_command_line(ctx))
    except TrainingStopped as exc:
        raise SystemExit(128 + exc.signum)
