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
    done: list[Job] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def plan(inputs: list[Path], output: Path | None, recursive: bool, suffix: str, extension: str) -> list[Job]:
    """Pair each input image with its output path.

    * one input file and ``output`` with an image extension: that file;
    * otherwise ``output`` is a folder: ``output/<stem><extension>`` (with the
      sub-folders of a recursive search kept);
    * no ``output``: beside the input, ``<stem><suffix><extension>``.
    """
    jobs: list[Job] = []
    single_file_target = (
        output is not None
        and output.suffix.lower() in IMAGE_SUFFIXES
        and not output.is_dir()
    )
    if single_file_target:
        if len(inputs) != 1 or inputs[0].is_dir():
            raise BatchError(f"-o {output} names one file, but several inputs were given: use a folder")
    for entry in inputs:
        if entry.is_dir():
            found = find_images([entry], recursive)
            if not found:
                raise BatchError(f"{entry}: no images found" + ("" if recursive else " (try --recursive)"))
            for source in found:
                relative = source.relative_to(entry).parent
                if output is None:
                    target = source.with_name(source.stem + suffix + extension)
                else:
                    target = output / relative / (source.stem + extension)
                jobs.append(Job(source, target))
        elif single_file_target:
            jobs.append(Job(entry, output))
        elif output is None:
            jobs.append(Job(entry, entry.with_name(entry.stem + suffix + extension)))
        else:
            jobs.append(Job(entry, output / (entry.stem + extension)))
    return jobs


def run(
    jobs: list[Job],
    process: Callable[[Picture], Picture],
    *,
    overwrite: bool = False,
    quality: int | None = None,
    background: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> Outcome:
    """Load, process and save every job; failures are collected, not raised."""
    from tqdm import tqdm

    outcome = Outcome()
    say = report or (lambda message: tqdm.write(message, file=sys.stderr))
    targets_seen: set[Path] = set()
    bar = tqdm(jobs, unit="image", disable=not progress or len(jobs) < 2, file=sys.stderr)
    for job in bar:
        try:
            if job.target.resolve() == job.source.resolve() and not overwrite:
                raise ImageSaveError("output would replace the input (use --overwrite to allow it)")
            if job.target.resolve() in targets_seen:
                raise ImageSaveError(f"another input already writes {job.target}")
            if job.target.exists() and not overwrite:
                raise ImageSaveError(f"{job.target} exists (use --overwrite to replace it)")
            picture = load(job.source, max_pixels=max_pixels)
            result = process(picture)
            save(result, job.target, quality=quality, background=background, overwrite=overwrite)
            targets_seen.add(job.target.resolve())
            outcome.done.append(job)
        except (ImageLoadError, ImageSaveError) as exc:
            outcome.failed.append((job.source, str(exc)))
            say(f"error: {job.source}: {exc}")
        except MemoryError:
            outcome.failed.append((job.source, "out of memory"))
            say(f"error: {job.source}: out of memory")
        except Exception as exc:  # one bad file must not stop the batch
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
            outcome.failed.append((job.source, message))
            say(f"error: {job.source}: {message}")
    return outcome
