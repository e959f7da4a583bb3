"""The folder verbs over a catalogue: index a folder, group its duplicates,
list the images nearest to one, move redundant copies aside.  Results are
plain data: paths, distances and the file facts the catalogue holds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator, NamedTuple

from ..batch import shows_progress
from ..imaging import Picture, load
from . import catalog, similarity
from .fingerprints import WORKING_SIDE


class Copy(NamedTuple):
    """One image of a duplicate group: its path, its distance to the group's
    first (kept) copy, and the file as the catalogue saw it when indexed."""

    path: Path
    distance: float
    width: int
    height: int
    format: str | None
    jpeg_quality: int | None
    size: int
    mtime_ns: int


class QueryError(Exception):
    """The query image could not be read or fingerprinted; one line naming it."""


def index(folder: Path, db: Path | None, rotations: bool, rebuild: bool,
          progress: bool) -> catalog.UpdateReport:
    """Bring ``folder``'s catalogue (``db``, default FOLDER/.pixrescue.db) up to
    date; ``rebuild`` starts it from nothing (a damaged one is moved aside,
    ``report.aside``).  ``progress``: a bar on stderr, and a line there for
    each file that failed.  Raises ``CatalogError`` or OSError."""
    from tqdm import tqdm

    db_path = db or catalog.default_db(folder)
    files = catalog.scan(folder)
    bar = tqdm(total=len(files), unit="file", file=sys.stderr, leave=False,
               disable=not shows_progress(progress, len(files)))

    def say(message: str) -> None:
        if progress:
            bar.write(message, file=sys.stderr)

    try:
        aside = catalog.rebuild(db_path) if rebuild else None
        if aside is not None:
            say(f"moved the damaged catalog aside to {aside}")
        report = catalog.update(folder, db_path, rotations=rotations, files=files, on_file=lambda _: bar.update(),
                                on_error=lambda path, message: say(f"error: {path}: {message}"))
    finally:
        bar.close()
    report.aside = aside
    return report


def records(folder: Path | None, db: Path | None) -> tuple[list[catalog.Record], Path]:
    """The records of ``db`` or FOLDER/.pixrescue.db (their paths in ``folder``),
    and the catalogue's path; a missing or unusable catalogue is a ``CatalogError``."""
    if folder is None and db is None:
        raise catalog.CatalogError("give the FOLDER whose catalog to search (FOLDER/.pixrescue.db), or --db")
    db_path = db or catalog.default_db(folder)
    if not db_path.is_file():
        raise catalog.CatalogError(f"no catalog at {db_path}: run `pixrescue index FOLDER` first")
    return list(catalog.records(db_path, folder)), db_path


def dupes(folder: Path, db: Path | None, method: str | None, threshold: float | None) -> list[list[Copy]]:
    """Groups of near-duplicates, largest first, each with its recommended copy
    first: highest resolution, then least compressed file, then (among the
    copies that tie on both) the best quality score, then the largest file."""
    return list(each_dupe_group(folder, db, method, threshold))


def each_dupe_group(folder: Path, db: Path | None, method: str | None,
                    threshold: float | None) -> Iterator[list[Copy]]:
    """``dupes``, one group at a time (what `pixrescue dupes` prints as it goes): the
    catalogue is read and the groups found when the first is asked for, each group's
    copies ranked (reading their files for the quality score) when it is."""
    found = similarity.each_group(records(folder, db)[0], method or similarity.DEFAULT_METHOD, threshold,
                                  tie_break=quality_score_of)
    for g in found:
        yield [Copy(r.path, d, r.width, r.height, r.format, r.jpeg_quality, r.size, r.mtime_ns)
               for r, d in zip(g.members, g.distances)]


def quality_score_of(record: catalog.Record) -> float:
    """The quality score of a catalogued file as it is now (-1 when it cannot be read:
    never the recommended copy for that reason alone)."""
    from ..tasks.quality import quality_score
    from .. import zoo

    try:
        return quality_score(zoo.DEFAULT_MODEL["quality"], load(record.path).image)[0]
    except Exception:  # a file gone or damaged since indexing
        return -1.0


def move_aside(groups: list[list[Copy]], folder: Path, move_to: Path, db: Path | None) -> catalog.MoveReport:
    """Move every copy but the first of each group into ``move_to`` and forget it
    in the catalogue, with the checks of ``catalog.move_copies``."""
    return catalog.move_copies(groups, folder, move_to, db or catalog.default_db(folder))


def similar(image: Path | Picture, folder: Path | None, db: Path | None, k: int,
            method: str | None) -> list[tuple[Path, float]]:
    """The ``k`` catalogued images nearest to ``image`` (a path or a Picture),
    nearest first, with their distances.  Raises ``CatalogError`` for the
    catalogue and ``QueryError`` for the image."""
    found, _ = records(folder, db)
    rotated = any(len(r.hashes["phash"]) > 1 for r in found)
    try:
        if isinstance(image, Picture):
            query = catalog.record_of(image, Path(), 0, rotated)
        else:
            picture = load(image, history=False, draft_side=WORKING_SIDE)  # read as index reads it
            query = catalog.record_of(picture, Path(image), Path(image).stat().st_size, rotated)
    except Exception as exc:  # ImageLoadError, or anything fingerprinting raises: one line
        raise QueryError(f"{image}: {exc}") from exc
    return [(r.path, d) for r, d in similarity.nearest(query, found, method or similarity.DEFAULT_METHOD, k)]
