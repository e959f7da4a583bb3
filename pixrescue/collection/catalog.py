"""A SQLite catalog of the images in a folder: fingerprints and quality facts.

``update(root)`` reads only new or changed files (by size and modification
time), forgets files that are gone, and commits after every batch of files
(``BATCH``), so an interrupted run loses at most the batch it was computing.
A file that cannot be read, or whose fingerprinting fails in any way, is
reported and skipped.

Files are read for their fingerprints as fast as they can be: a JPEG is
decoded reduced by libjpeg (``load(draft_side=...)``: the fingerprints read a
copy of at most ``WORKING_SIDE`` pixels anyway) while its true size, format
and quality are recorded; threads decode and hash the next files while the
embedding networks run on a whole batch of thumbnails.

Paths are stored relative to the indexed folder, so a folder copied or moved
together with its ``.pixrescue.db`` keeps a catalogue of its own files (never
of the original's).  The catalogue is only a cache: nothing it says is trusted
when files are moved.  ``move_copies`` moves a file only if it lies inside the
folder (symbolic links and ``..`` resolved), is a plain file and still has the
size and modification time it had when indexed; and moves nothing of a group
whose recommended copy fails that test, so the last copy of a picture never
leaves the folder.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import sqlite3
import stat as stat_module
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from ..imaging import ImageLoadError, Picture, load
from ..imaging.io import find_images
from ..training.machine import usable_cores
from .fingerprints import EMBEDDINGS, METHODS, WORKING_SIDE, embed, hashes, thumbnails, variants

DB_NAME = ".pixrescue.db"
SCHEMA_VERSION = "3"  # 2: learned embeddings; 3: paths relative to the indexed folder
# `dupes --move-to` writes this file into the folder it moves copies to; `index`
# skips every folder below the indexed one that holds it, so copies moved aside
# inside the scanned folder are not indexed again as new pictures.
MOVED_MARKER = ".pixrescue-moved"
TIMEOUT = 30.0  # seconds a connection waits for another process's lock

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS images (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT,
    jpeg_quality INTEGER,
    frames INTEGER NOT NULL,
    rotations INTEGER NOT NULL,
    {", ".join(f"{name} BLOB NOT NULL" for name in [*METHODS, *EMBEDDINGS])}
)""",
]


@dataclass(frozen=True)
class Record:
    """One indexed image.  ``hashes[method]`` holds 1 hash, or 8 with rotations.

    ``path`` is where the file is (the folder joined with ``key``, the path
    the catalogue stores); ``size`` and ``mtime_ns`` are the file's when indexed."""

    path: Path
    size: int
    width: int
    height: int
    format: str | None
    jpeg_quality: int | None
    hashes: dict[str, list[int]]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # (V, 128) float32, unit rows
    mtime_ns: int = 0
    key: str = ""

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def quality_key(self) -> tuple[int, int, int]:
        """Larger is better: resolution, then compression (lossless beats any JPEG), then file size."""
        return self.pixels, 101 if self.jpeg_quality is None else self.jpeg_quality, self.size


@dataclass
class UpdateReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    aside: Path | None = None  # where a rebuild moved a damaged catalogue


@dataclass
class MoveReport:
    moved: list[tuple[Path, Path]] = field(default_factory=list)  # (from, to)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why), one line each


def _pack(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(8, "big") for v in values)


def _unpack(blob: bytes) -> list[int]:
    return [int.from_bytes(blob[i : i + 8], "big") for i in range(0, len(blob), 8)]


def _pack_vectors(vectors: np.ndarray) -> bytes:
    return np.asarray(vectors, dtype="<f2").tobytes()


def _unpack_vectors(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f2").astype(np.float32).reshape(-1, 128)


class CatalogError(Exception):
    """A catalogue that cannot be used; the message is one line for the user."""


class CatalogVersionError(CatalogError, ValueError):
    pass


class CatalogDamagedError(CatalogError):
    def __init__(self, db_path: Path, detail: str) -> None:
        super().__init__(f"{db_path}: the catalogue is damaged ({detail}): "
                         "rebuild it with `pixrescue index --rebuild FOLDER`")


def _busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


@contextmanager
def _guard(db_path: Path):
    """Turn SQLite's errors into one-line ``CatalogError``s: a file that is not
    a catalogue, or a malformed one, is damaged; a lock held too long, or a
    file that cannot be opened, is said as it is."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if _busy(exc) or "unable to open" in message or "readonly" in message or "disk I/O" in message:
            raise CatalogError(f"{db_path}: {message}") from None
        raise CatalogDamagedError(db_path, message) from None
    except sqlite3.DatabaseError as exc:
        raise CatalogDamagedError(db_path, str(exc)) from None
    except UnicodeDecodeError:  # SQLite's message about a damaged file was not even text
        raise CatalogDamagedError(db_path, "unreadable error from SQLite") from None


def _retry(action: Callable[[], object], deadline: float) -> None:
    """Run ``action``, again while another connection holds the lock it needs
    (SQLite answers some of these, like switching to WAL, without waiting)."""
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def _schema_of(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else row[0]


def _initialise(connection: sqlite3.Connection, db_path: Path, rebuild: bool) -> None:
    """Create the tables (or, with ``rebuild``, replace another version's) in
    one write transaction, so that connections racing on a new file agree."""
    if _schema_of(connection) == SCHEMA_VERSION:
        return  # the common case: no write, no lock
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(_SCHEMA[0])
        version = _schema_of(connection)
        if version is not None and version != SCHEMA_VERSION:
            if not rebuild:
                raise CatalogVersionError(f"{db_path} was written by another version of pixrescue: "
                                          "run `pixrescue index` again to rebuild it")
            connection.execute("DROP TABLE IF EXISTS images")
            connection.execute("DELETE FROM meta")
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def connect(db_path: Path, rebuild: bool = False) -> sqlite3.Connection:
    """Open (creating if needed) the catalog.  A catalog written by another
    schema version is an error, unless ``rebuild``: the catalog is only a cache
    of what the files hold, so indexing starts it again from nothing.  Many
    processes may open (and create) the same catalogue at once."""
    deadline = time.monotonic() + TIMEOUT
    with _guard(db_path):
        connection = sqlite3.connect(db_path, timeout=TIMEOUT)
        try:
            _retry(lambda: connection.execute("PRAGMA journal_mode=WAL"), deadline)
            _retry(lambda: _initialise(connection, db_path, rebuild), deadline)
        except BaseException:
            connection.close()
            raise
    return connection


def rebuild(db_path: Path) -> Path | None:
    """Start the catalogue at ``db_path`` from nothing.  A sound catalogue is
    emptied; anything else there (a damaged catalogue, another file) is moved
    aside to ``NAME.damaged`` (its WAL files with it), whose path is returned."""
    if not db_path.exists():
        return None
    try:
        with _guard(db_path):
            connection = sqlite3.connect(db_path, timeout=TIMEOUT)
            try:
                sound = connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
                if sound and _schema_of(connection) is not None:
                    connection.execute("BEGIN IMMEDIATE")
                    connection.execute("DROP TABLE IF EXISTS images")
                    connection.execute("DELETE FROM meta")
                    connection.execute("COMMIT")
                    return None
            finally:
                connection.close()
    except CatalogDamagedError:
        pass
    aside = db_path.with_name(db_path.name + ".damaged")
    for suffix in ("", "-wal", "-shm"):
        source = db_path.with_name(db_path.name + suffix)
        if source.exists():
            os.replace(source, aside.with_name(aside.name + suffix))
    return aside


def default_db(root: Path) -> Path:
    return root / DB_NAME


def scan(root: Path, recursive: bool = True) -> list[Path]:
    """The image files ``update`` considers: those below ``root`` (resolved),
    except in folders under it that hold ``MOVED_MARKER``."""
    root = root.resolve()
    marked: dict[Path, bool] = {}

    def moved_aside(path: Path) -> bool:
        for folder in path.parents:
            if folder == root or not folder.is_relative_to(root):
                return False
            if folder not in marked:
                marked[folder] = (folder / MOVED_MARKER).exists()
            if marked[folder]:
                return True
        return False

    return [path for path in find_images([root], recursive=recursive) if not moved_aside(path)]


def update(
    root: Path,
    db_path: Path | None = None,
    rotations: bool = False,
    recursive: bool = True,
    on_file: Callable[[Path], None] | None = None,
    on_error: Callable[[Path, str], None] | None = None,
    files: list[Path] | None = None,
) -> UpdateReport:
    """Bring the catalog of ``root`` up to date with the files on disk
    (``files``: what ``scan(root)`` found, if the caller has it already).
    Raises ``CatalogError`` for a catalogue that cannot be used."""
    root = root.resolve()
    db_path = db_path or default_db(root)
    files = scan(root, recursive) if files is None else files
    report = UpdateReport()

    def failed(path: Path, message: str) -> None:
        report.failed.append((path, message))
        if on_error:
            on_error(path, message)

    with _guard(db_path):
        connection = connect(db_path, rebuild=True)
        try:
            known = known_files(connection)
            connection.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (str(root),))
            connection.commit()
            seen: set[str] = set()
            todo: list[tuple[Path, str, os.stat_result]] = []
            for path in files:
                key = path.relative_to(root).as_posix()
                seen.add(key)
                try:
                    stat = path.stat()
                except OSError as exc:
                    if on_file:
                        on_file(path)
                    failed(path, exc.strerror or str(exc))
                    continue
                if known.get(key) == (stat.st_size, stat.st_mtime_ns, int(rotations)):
                    report.unchanged += 1
                    if on_file:
                        on_file(path)
                    continue
                todo.append((path, key, stat))
            for outcomes in fingerprint_files(todo, rotations):
                for outcome in outcomes:
                    if outcome.row is not None:
                        connection.execute(INSERT, outcome.row)
                connection.commit()
                for outcome in outcomes:
                    if on_file:
                        on_file(outcome.path)
                    if outcome.row is None:
                        failed(outcome.path, outcome.error or "")
                    elif outcome.key in known:
                        report.updated += 1
                    else:
                        report.added += 1
            gone = [key for key in known if key not in seen]  # deleted files, and rows not of this folder
            connection.executemany("DELETE FROM images WHERE path = ?", [(key,) for key in gone])
            connection.commit()
            report.removed = len(gone)
        finally:
            connection.close()
    return report


INSERT = f"INSERT OR REPLACE INTO images VALUES ({', '.join('?' * (9 + len(METHODS) + len(EMBEDDINGS)))})"
# Files whose thumbnails go through the embedding networks together, and whose rows are committed together.
BATCH = 32


def row_of(key: str, stat: os.stat_result, frames: int, record: Record, rotations: bool) -> tuple:
    """The catalogue's row of one file (``INSERT`` writes it): ``key`` its
    path relative to the folder, ``stat`` the file's when it was read,
    ``frames`` how many the file holds."""
    return (key, stat.st_size, stat.st_mtime_ns, record.width, record.height, record.format,
            record.jpeg_quality, frames, int(rotations),
            *(_pack(record.hashes[name]) for name in METHODS),
            *(_pack_vectors(record.embeddings[name]) for name in EMBEDDINGS))


@dataclass
class Outcome:
    """What fingerprinting one file gave: its row, or why it failed (one line)."""

    path: Path
    key: str
    row: tuple | None = None
    error: str | None = None


@dataclass
class _Read:
    """A file read and hashed, its embeddings still to compute."""

    stat: os.stat_result
    frames: int
    record: Record
    thumbnails: torch.Tensor


def _read(path: Path, stat: os.stat_result | None, rotations: bool) -> _Read:
    stat = path.stat() if stat is None else stat
    # Fingerprints need no compression history, and at most WORKING_SIDE pixels: a JPEG is decoded reduced.
    picture = load(path, history=False, draft_side=WORKING_SIDE)
    record, small = partial_record(picture, path, stat.st_size, rotations)
    return _Read(stat, len(picture.frames), record, small)


def fingerprint_files(items: Iterable[tuple[Path, str, os.stat_result | None]], rotations: bool,
                      batch: int | None = None, threads: int | None = None) -> Iterator[list[Outcome]]:
    """Fingerprint files (path, catalogue key, the file's stat or None to take
    it now), yielding their outcomes a batch at a time, in the order given.
    ``threads`` threads (default: one per usable core) read, decode and hash
    up to two batches ahead while the calling thread runs the embedding
    networks on each batch's thumbnails at once (``batch`` files, default
    ``BATCH``).  A file's row does not depend on ``batch`` or on the other files."""
    batch = batch or BATCH
    pending: deque[tuple[Path, str, Future]] = deque()
    waiting = iter(items)
    pool = ThreadPoolExecutor(threads or usable_cores(), thread_name_prefix="pixrescue-index")

    def fill() -> None:
        while len(pending) < 2 * batch:
            item = next(waiting, None)
            if item is None:
                return
            path, key, stat = item
            pending.append((path, key, pool.submit(_read, path, stat, rotations)))

    try:
        fill()
        while pending:
            group: list[tuple[Path, str, _Read | str]] = []
            while pending and len(group) < batch:
                path, key, future = pending.popleft()
                fill()
                try:
                    group.append((path, key, future.result()))
                except Exception as exc:  # one file's failure, whatever it is, is not the run's
                    group.append((path, key, failure(exc)))
            yield _finish(group, rotations)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _finish(group: list[tuple[Path, str, _Read | str]], rotations: bool) -> list[Outcome]:
    """The outcomes of a batch of files read: the networks run on all their thumbnails at once
    (should that fail, on each file's alone, so that only the file at fault fails)."""
    reads = [read for _, _, read in group if isinstance(read, _Read)]
    records: list[Record | str]
    try:
        records = list(with_embeddings([(read.record, read.thumbnails) for read in reads]))
    except Exception:
        records = []
        for read in reads:
            try:
                records.append(with_embeddings([(read.record, read.thumbnails)])[0])
            except Exception as exc:
                records.append(failure(exc))
    finished = iter(records)
    outcomes = []
    for path, key, read in group:
        result = read if isinstance(read, str) else next(finished)
        if isinstance(result, str):
            outcomes.append(Outcome(path, key, error=result))
        else:
            assert isinstance(read, _Read)
            outcomes.append(Outcome(path, key, row=row_of(key, read.stat, read.frames, result, rotations)))
    return outcomes


def fingerprint_file(path: Path, key: str, rotations: bool) -> tuple:
    """Read ``path`` and return its row; raises ``ImageLoadError``, OSError or
    whatever fingerprinting raises."""
    read = _read(path, None, rotations)
    return row_of(key, read.stat, read.frames, with_embeddings([(read.record, read.thumbnails)])[0], rotations)


def failure(exc: Exception) -> str:
    """The one-line message for a file whose reading or fingerprinting raised ``exc``."""
    if isinstance(exc, ImageLoadError):
        return str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"fingerprinting failed ({type(exc).__name__}: {exc})"


def known_files(connection: sqlite3.Connection) -> dict[str, tuple[int, int, int]]:
    """path -> (size, mtime_ns, rotations) of every row: what ``update`` need not read again."""
    return {row[0]: (row[1], row[2], row[3])
            for row in connection.execute("SELECT path, size, mtime_ns, rotations FROM images")}


def partial_record(picture: Picture, path: Path, size: int, rotations: bool = False) -> tuple[Record, torch.Tensor]:
    """The hashes and quality facts of a loaded picture (its true size, even
    when it was decoded reduced), and the thumbnails its embeddings are
    computed from (``with_embeddings``)."""
    images = variants(picture.image, rotations)
    width, height = picture.true_size
    record = Record(path, size, width, height, picture.format, picture.jpeg.quality if picture.jpeg else None,
                    hashes(images))
    return record, thumbnails(images)


def with_embeddings(partials: list[tuple[Record, torch.Tensor]]) -> list[Record]:
    """``partial_record``'s records completed with their embeddings, the networks run on all the thumbnails at once."""
    if not partials:
        return []
    vectors = embed(torch.cat([small for _, small in partials]))
    records, start = [], 0
    for record, small in partials:
        stop = start + len(small)
        records.append(replace(record, embeddings={name: found[start:stop] for name, found in vectors.items()}))
        start = stop
    return records


def record_of(picture: Picture, path: Path, size: int, rotations: bool = False) -> Record:
    """The fingerprints and quality facts of a loaded picture."""
    return with_embeddings([partial_record(picture, path, size, rotations)])[0]


def _folder_of(connection: sqlite3.Connection, db_path: Path) -> Path:
    """The folder a catalogue's paths are relative to, when the caller does not
    say: the one that holds it under its usual name, else the one last indexed."""
    if db_path.name != DB_NAME:
        row = connection.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
        if row is not None:
            return Path(row[0])
    return db_path.resolve().parent


def records(db_path: Path, root: Path | None = None) -> Iterator[Record]:
    """The catalogue's records, their paths joined to ``root`` (default: see
    ``_folder_of``).  Raises ``CatalogError`` for a catalogue that cannot be used."""
    with _guard(db_path):
        connection = connect(db_path)
        try:
            folder = root.resolve() if root is not None else _folder_of(connection, db_path)
            columns = ", ".join([*METHODS, *EMBEDDINGS])
            for row in connection.execute(
                f"SELECT path, size, mtime_ns, width, height, format, jpeg_quality, {columns} FROM images ORDER BY path"
            ):
                hashes = {name: _unpack(blob) for name, blob in zip(METHODS, row[7:])}
                vectors = {name: _unpack_vectors(blob) for name, blob in zip(EMBEDDINGS, row[7 + len(METHODS):])}
                yield Record(folder / row[0], row[1], row[3], row[4], row[5], row[6], hashes, vectors,
                             mtime_ns=row[2], key=row[0])
        finally:
            connection.close()


def forget(db_path: Path, keys: list[str]) -> None:
    """Remove these rows (``Record.key``) from the catalogue."""
    with _guard(db_path):
        connection = connect(db_path)
        try:
            connection.executemany("DELETE FROM images WHERE path = ?", [(key,) for key in keys])
            connection.commit()
        finally:
            connection.close()


def why_not_movable(record: Record, root: Path) -> str | None:
    """None when ``record``'s file is inside ``root`` (resolved; reached without
    symbolic links or ``..``), a plain file, and has the size and modification
    time the catalogue stored; else why not, to finish a line naming the file."""
    root = root.resolve()
    path = record.path
    try:
        real = path.resolve(strict=True)
        stat = real.stat()
    except (OSError, RuntimeError):
        return "is missing"
    if not real.is_relative_to(root):
        return f"is outside {root}"
    if real != path:
        return "is reached through a symbolic link or '..'"
    if not stat_module.S_ISREG(stat.st_mode):
        return "is not a plain file"
    if (stat.st_size, stat.st_mtime_ns) != (record.size, record.mtime_ns):
        return "has changed since it was indexed (run `pixrescue index` again)"
    return None


_NO_HARD_LINK = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


def _move_new(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, never replacing a file there (FileExistsError)."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINK:
            raise
        # another file system, or one without hard links: copy into a new file
        try:
            with open(source, "rb") as reader, open(target, "xb") as writer:
                shutil.copyfileobj(reader, writer)
        except FileExistsError:
            raise
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        shutil.copystat(source, target)
    os.unlink(source)


def safe_move(source: Path, relative: Path, destination: Path) -> Path:
    """Move ``source`` to ``destination / relative`` (or ``stem-1.ext``, ``stem-2.ext``...
    where that is taken) and return where it went; refuses (ValueError) a place
    that resolves outside ``destination``."""
    target = destination / relative

    def check() -> None:  # a folder on the way may be a link out of destination
        if not target.parent.resolve().is_relative_to(destination):
            raise ValueError(f"{target} would leave {destination}")

    check()
    target.parent.mkdir(parents=True, exist_ok=True)
    check()
    counter = 1
    while True:
        try:
            _move_new(source, target)
            return target
        except FileExistsError:
            target = target.with_name(f"{relative.stem}-{counter}{relative.suffix}")
            counter += 1


def move_copies(groups: list[list[Record]], root: Path, move_to: Path, db_path: Path | None = None) -> MoveReport:
    """Move every member but the first (the recommended copy) of each group from
    ``root`` into ``move_to``, keeping its path relative to ``root``, and forget
    it in the catalogue ``db_path``.  A member is a ``Record``, or anything with
    its ``path``, ``size`` and ``mtime_ns``.  Only files ``why_not_movable`` accepts are
    moved, and nothing of a group whose recommended copy it refuses.  Raises
    ValueError when ``move_to`` is ``root`` or a folder above it."""
    root = root.resolve()
    destination = move_to.resolve()
    if root.is_relative_to(destination):
        raise ValueError(f"--move-to {move_to} must not be {root} or a folder above it")
    destination.mkdir(parents=True, exist_ok=True)
    (destination / MOVED_MARKER).touch()
    report = MoveReport()
    for keep, *copies in groups:
        problem = why_not_movable(keep, root)
        if problem:
            report.skipped.append((keep.path, f"the recommended copy {problem}: "
                                   f"none of its {len(copies)} other copies moved"))
            continue
        for record in copies:
            if record.path == keep.path:
                problem = "is the recommended copy itself"
            elif record.path.is_relative_to(destination):
                problem = "is in the move-to folder already"
            else:
                problem = why_not_movable(record, root)
            if problem:
                report.skipped.append((record.path, problem))
                continue
            relative = record.path.relative_to(root)
            try:
                target = safe_move(record.path, relative, destination)
            except (OSError, ValueError) as exc:
                report.skipped.append((record.path, f"not moved: {getattr(exc, 'strerror', None) or exc}"))
                continue
            report.moved.append((record.path, target))
            if db_path is not None:
                forget(db_path, [relative.as_posix()])
    return report
