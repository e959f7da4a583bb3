"""File handling shared by the commands that turn images into images.

Plans where each output goes, refuses to write over inputs or existing files
(unless asked), runs one job per file so that a bad file does not stop the
batch, and reports every failure in one line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .imaging import ImageLoadError, ImageSaveError, Picture, load, save
from .imaging.io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, find_images


class BatchError(Exception):
    """A problem with the command as a whole (nothing to do, bad output path)."""


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


@dataclass
class Outcome:
    """What happened to each file: done, written unchanged (with the reason),
    skipped (its output already existed, ``skip_existing``), failed."""

    done: list[Job] = field(default_factory=list)
    unchanged: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def add(self, job: Job, kind: str, message: str) -> None:
        """Record what ``run_job`` said of ``job``."""
        if kind == "done":
            self.done.append(job)
        else:
            getattr(self, kind).append((job.source, message))


def shows_progress(asked: bool, items: int) -> bool:
    """Whether a progress bar is drawn: when ``asked``, for more than one item, and only on a
    terminal (in a log or a pipe its redrawing would run into the error lines)."""
    return asked and items > 1 and sys.stderr.isatty()


def _is_own_output(path: Path, suffix: str) -> bool:
    """``path`` looks like what this command writes beside its inputs (``x.fixed.png``)."""
    return bool(suffix) and path.stem.endswith(suffix)


def plan(inputs: list[Path], output: Path | None, recursive: bool, suffix: str, extension: str,
         single_file: bool | None = None) -> list[Job]:
    """Pair each input image with its output path.

    * one input file and ``output`` with an image extension (or
      ``single_file``, when the caller knows): that file;
    * otherwise ``output`` is a folder: ``output/<stem><extension>`` (with the
      sub-folders of a recursive search kept);
    * no ``output``, or an output folder that is the input's own: beside the
      input, ``<stem><suffix><extension>``.

    A folder search skips what this command writes (``*<suffix>.*`` beside
    the inputs, and the output folder when it lies inside the searched one),
    so running a command twice never processes its own results.  Two inputs
    that would write one output (``a.jpg`` and ``a.png`` into one folder as
    PNG) are named apart by their full names (``a.jpg.png``, ``a.png.png``;
    beside the inputs ``a.jpg.fixed.png``, ``a.png.fixed.png``);
    a job whose output is another job's input is refused before anything is
    written.
    """
    jobs: list[Job] = []
    single_file_target = output is not None and (
        single_file if single_file is not None
        else output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir()
    )
    if single_file_target:
        if len(inputs) != 1 or inputs[0].is_dir():
            raise BatchError(f"-o {output} names one file, but several inputs were given: use a folder")
    output_root = output.resolve() if output is not None and not single_file_target else None
    for entry in inputs:
        if entry.is_dir():
            root = entry.resolve()
            # The output folder is skipped only when it lies strictly inside the searched one.
            skip = output_root is not None and output_root != root and output_root.is_relative_to(root)
            found = [
                source for source in find_images([entry], recursive)
                if not _is_own_output(source, suffix)
                and not (skip and source.resolve().is_relative_to(output_root))
            ]
            if not found:
                raise _no_images(entry, recursive)
            for source in found:
                folder = source.parent if output is None else output / source.relative_to(entry).parent
                jobs.append(Job(source, _named(source, folder, suffix, extension)))
        elif single_file_target:
            jobs.append(Job(entry, output))
        else:
            jobs.append(Job(entry, _named(entry, entry.parent if output is None else output, suffix, extension)))
    return _apart(jobs)


def _named(source: Path, folder: Path, suffix: str, extension: str) -> Path:
    """``folder/<stem><extension>``; in the source's own folder ``<stem><suffix><extension>``,
    so that what a command writes among its inputs is known as its output when it runs again."""
    own = folder.resolve() == source.parent.resolve()
    return folder / (source.stem + (suffix if own else "") + extension)


def _apart(jobs: list[Job]) -> list[Job]:
    """``jobs`` with no two outputs alike and no output on another job's input."""
    def key(path: Path) -> Path:
        return path.resolve()

    by_target: dict[Path, list[Job]] = {}
    for job in jobs:
        by_target.setdefault(key(job.target), []).append(job)
    renamed = [
        # What follows the stem in the output's name (".fixed.png", ".png") now follows the whole name.
        Job(job.source, job.target.with_name(job.source.name + job.target.name[len(job.source.stem):]))
        if len(by_target[key(job.target)]) > 1 and job.target.name.startswith(job.source.stem) else job
        for job in jobs
    ]
    targets: dict[Path, Job] = {}
    for job in renamed:
        other = targets.setdefault(key(job.target), job)
        if other is not job:
            raise BatchError(f"{other.source} and {job.source} would both be written to {job.target}: "
                             "give them separate output folders")
    sources = {key(job.source): job for job in renamed}
    for job in renamed:
        owner = sources.get(key(job.target))
        if owner is not None and owner is not job:
            raise BatchError(f"the output of {job.source} would replace {owner.source}, which this run also "
                             "reads: choose another output folder")
    return renamed


def run(
    jobs: list[Job],
    process: Callable[[Picture], Picture],
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    quality: int | None = None,
    background: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
    writer: Callable | None = None,
) -> Outcome:
    """Load, process and save every job; failures are collected, not raised.
    ``skip_existing``: a job whose output exists is skipped (reported, not
    failed), so that a stopped batch can be run again."""
    from tqdm import tqdm

    outcome = Outcome()
    say = report or (lambda message: tqdm.write(message, file=sys.stderr))
    bar = tqdm(jobs, unit="image", disable=not shows_progress(progress, len(jobs)), file=sys.stderr)
    for job in bar:
        kind, message = run_job(job, process, overwrite=overwrite, skip_existing=skip_existing, quality=quality,
                                background=background, max_pixels=max_pixels, writer=writer)
        outcome.add(job, kind, message)
        if kind == "failed":
            say(f"error: {job.source}: {message}")
        elif kind == "done" and message:  # the steps a job chose (fix --auto)
            say(f"{job.source}: {message}")
    return outcome


def run_job(job: Job, process: Callable[[Picture], Picture], *, overwrite: bool = False, skip_existing: bool = False,
            quality: int | None = None, background: str | None = None,
            max_pixels: int | None = DEFAULT_MAX_PIXELS, writer: Callable | None = None) -> tuple[str, str]:
    """Load, process and save one job (what ``run`` does for each): its kind,
    "done", "unchanged", "skipped" or "failed", and the message that goes with it
    (for "done", the steps the job chose, when it did: ``Picture.steps``).
    ``writer(result, path, overwrite)`` writes a result that is not a Picture
    (``compress``'s encoded file); the default is ``imaging.save``."""
    try:
        if job.target.resolve() == job.source.resolve() and not overwrite:
            raise ImageSaveError("output would replace the input (use --overwrite to allow it)")
        if job.target.exists() and skip_existing:
            return "skipped", f"{job.target} exists"
        if job.target.exists() and not overwrite:
            raise ImageSaveError(f"{job.target} exists (use --overwrite to replace it, "
                                 "or --skip-existing to leave it)")
        picture = load(job.source, max_pixels=max_pixels)
        result = process(picture)
        if writer is not None:
            writer(result, job.target, overwrite)
        else:
            save(result, job.target, quality=quality, background=background, overwrite=overwrite)
        return ("unchanged", result.unchanged) if result.unchanged else ("done", result.steps or "")
    except Exception as exc:  # one bad file must not stop the batch
        return "failed", failure(exc)


def failure(exc: Exception) -> str:
    """The one-line message a batch reports for a file that failed with ``exc``."""
    if isinstance(exc, (ImageLoadError, ImageSaveError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def _no_images(folder: Path, recursive: bool) -> BatchError:
    return BatchError(f"{folder}: no images found" + ("" if recursive else " (try --recursive)"))


def sources(inputs: list[Path], recursive: bool, skip_suffix: str = "") -> list[Path]:
    """The image files named by ``inputs`` (folders searched as ``plan`` does,
    skipping what a command writing ``*<skip_suffix>.*`` beside its inputs
    wrote there); BatchError for a folder without images."""
    found = []
    for entry in inputs:
        folder = entry.is_dir()
        images = [image for image in find_images([entry], recursive)
                  if not (folder and _is_own_output(image, skip_suffix))]
        if folder and not images:
            raise _no_images(entry, recursive)
        found.extend(images)
    return found


def each(paths: list[Path], work: Callable[[Picture], object], *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
         progress: bool = True, report: Callable[[str], None] | None = None) -> tuple[list, Outcome]:
    """Load every file of ``paths`` and apply ``work`` (which writes nothing):
    its results in order, and an Outcome whose ``failed`` lists the files that
    could not be read or worked on (reported as ``run`` reports them)."""
    from tqdm import tqdm

    results, outcome = [], Outcome()
    say = report or (lambda message: tqdm.write(message, file=sys.stderr))
    for path in tqdm(paths, unit="image", disable=not shows_progress(progress, len(paths)), file=sys.stderr):
        try:
            results.append(work(load(path, max_pixels=max_pixels)))
        except Exception as exc:  # one bad file must not stop the batch
            outcome.failed.append((path, failure(exc)))
            say(f"error: {path}: {failure(exc)}")
    return results, outcome
