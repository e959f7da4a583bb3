"""A SQLite catalog of the images in a folder: fingerprints and quality facts.

``update(root)`` reads only new or changed files (by size and modification
time), forgets files that are gone, and commits after every file, so an
interrupted run loses nothing it had already written.  A file that cannot be
read is reported and skipped.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .fingerprints import EMBEDDINGS, METHODS, embeddings, perceptual_hashes
from .imaging import ImageLoadError, Picture, load
from .imaging.io import find_images

DB_NAME = ".pixrescue.db"
SCHEMA_VERSION = "2"  # 2: learned embeddings

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
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
);
"""


@dataclass(frozen=True)
class Record:
    """One indexed image.  ``hashes[method]`` holds 1 hash, or 8 with rotations."""

    path: Path
    size: int
    width: int
    height: int
    format: str | None
    jpeg_quality: int | None
    hashes: dict[str, list[int]]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # (V, 128) float32, unit rows

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


def _pack(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(8, "big") for v in values)


def _unpack(blob: bytes) -> list[int]:
    return [int.from_bytes(blob[i : i + 8], "big") for i in range(0, len(blob), 8)]


def _pack_vectors(vectors: np.ndarray) -> bytes:
    return np.asarray(vectors, dtype="<f2").tobytes()


def _unpack_vectors(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f2").astype(np.float32).reshape(-1, 128)


class CatalogVersionError(ValueError):
    pass


def connect(db_path: Path, rebuild: bool = False) -> sqlite3.Connection:
    """Open (creating if needed) the catalog.  A catalog written by another
    schema version is an error, unless ``rebuild``: the catalog is only a cache
    of what the files hold, so indexing starts it again from nothing."""
    connection = sqlite3.connect(db_path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    version = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if version is not None and version[0] != SCHEMA_VERSION:
        if not rebuild:
            connection.close()
            raise CatalogVersionError(f"{db_path} was written by another version of pixrescue: "
                                      "run `pixrescue index` again to rebuild it")
        connection.execute("DROP TABLE IF EXISTS images")
        connection.execute("DELETE FROM meta")
        version = None
    connection.executescript(_SCHEMA)
    if version is None:
        connection.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        connection.commit()
    return connection


def default_db(root: Path) -> Path:
    return root / DB_NAME


def update(
    root: Path,
    db_path: Path | None = None,
    rotations: bool = False,
    recursive: bool = True,
    on_file: Callable[[Path], None] | None = None,
    on_error: Callable[[Path, str], None] | None = None,
) -> UpdateReport:
    """Bring the catalog of ``root`` up to date with the files on disk."""
    root = root.resolve()
    db_path = db_path or default_db(root)
    report = UpdateReport()
    with connect(db_path, rebuild=True) as connection:
        known = {
            row[0]: (row[1], row[2], row[3])
            for row in connection.execute("SELECT path, size, mtime_ns, rotations FROM images")
        }
        seen: set[str] = set()
        for path in find_images([root], recursive=recursive):
            key = str(path.resolve())
            seen.add(key)
            if on_file:
                on_file(path)
            try:
                stat = path.stat()
            except OSError as exc:
                report.failed.append((path, exc.strerror or str(exc)))
                continue
            if known.get(key) == (stat.st_size, stat.st_mtime_ns, int(rotations)):
                report.unchanged += 1
                continue
            try:
                picture = load(path)
            except ImageLoadError as exc:
                report.failed.append((path, str(exc)))
                if on_error:
                    on_error(path, str(exc))
                continue
            record = record_of(picture, Path(key), stat.st_size, rotations)
            slots = ", ".join("?" * (len(METHODS) + len(EMBEDDINGS)))
            connection.execute(
                f"INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {slots})",
                (key, stat.st_size, stat.st_mtime_ns, record.width, record.height, record.format,
                 record.jpeg_quality, len(picture.frames), int(rotations),
                 *(_pack(record.hashes[name]) for name in METHODS),
                 *(_pack_vectors(record.embeddings[name]) for name in EMBEDDINGS)),
            )
            connection.commit()
            if key in known:
                report.updated += 1
            else:
                report.added += 1
        prefix = str(root) + "/"
        gone = [p for p in known if p.startswith(prefix) and p not in seen]
        connection.executemany("DELETE FROM images WHERE path = ?", [(p,) for p in gone])
        connection.commit()
        report.removed = len(gone)
    connection.close()
    return report


def record_of(picture: Picture, path: Path, size: int, rotations: bool = False) -> Record:
    """The fingerprints and quality facts of a loaded picture."""
    width, height = picture.size
    return Record(path, size, width, height, picture.format, picture.jpeg.quality if picture.jpeg else None,
                  perceptual_hashes(picture.image, rotations=rotations), embeddings(picture.image, rotations=rotations))


def records(db_path: Path) -> Iterator[Record]:
    connection = connect(db_path)
    try:
        columns = ", ".join([*METHODS, *EMBEDDINGS])
        for row in connection.execute(
            f"SELECT path, size, width, height, format, jpeg_quality, {columns} FROM images ORDER BY path"
        ):
            hashes = {name: _unpack(blob) for name, blob in zip(METHODS, row[6:])}
            vectors = {name: _unpack_vectors(blob) for name, blob in zip(EMBEDDINGS, row[6 + len(METHODS):])}
            yield Record(Path(row[0]), row[1], row[2], row[3], row[4], row[5], hashes, vectors)
    finally:
        connection.close()


def forget(db_path: Path, paths: list[Path]) -> None:
    with connect(db_path) as connection:
        connection.executemany("DELETE FROM images WHERE path = ?", [(str(p),) for p in paths])
    connection.close()
